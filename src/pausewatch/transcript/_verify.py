"""Audit of a transcript directory: integrity checks, the drawn replays, the inclusion test, a
verdict (issue 17 §3; docs/transcripts.md, ADR 0037).

:func:`plan_audit` runs every integrity check before any replay (the manifest, each checkpoint's
digest, the interpolation screen over every checkpoint (:mod:`~pausewatch.transcript._screen`),
the hyper-parameters' digest, the dataset's Merkle root, the revealed seed against its
commitment, the initial weights against the seed, the checkpoint schedule); if all pass it draws
the segments to replay from the beacon alone (:func:`~pausewatch.transcript._draw.draw_segments`,
never from anything the prover logged). A runner replays them (in process by default; Ray through
``ray_runner``), and :func:`conclude` turns the plan and the results into a :class:`Verdict`.

The data-inclusion test (Choi, Shavit and Duvenaud): in each replayed segment the committed end
checkpoint's loss on the segment's own training batches should have dropped more than on as many
held-out records. Across the ``n`` replayed segments, the differences ``train_loss_drop -
heldout_loss_drop`` go to a one-sided Wilcoxon signed-rank test (alternative: greater than zero)
at ``ALPHA = 0.05``, from ``MIN_PAIRS = 8`` segments on. Below that the exact test cannot reach
``ALPHA`` (under five segments its smallest p-value, ``2**-n``, exceeds it) or is sunk by one
honest segment with a slightly negative difference (about one segment in 200 has one), so there
it is inconclusive (``conclusive`` false) and does not decide the verdict; W+ and the p-value
are reported all the same. An inconclusive test loses nothing: a replay within tolerance already
shows that its segment trained on the committed batches, and the test only corroborates it. (A
first rule, asking every replayed segment for a positive difference, rejected 13 of 300 honest
audits in ``benchmarks/transcripts.py``, every one on fewer than five segments; a second, asking
for a positive mean, still misjudges a lone segment about once in 200.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pausewatch.transcript._data import dataset
from pausewatch.transcript._draw import (
    MAX_DRAWN,
    draw_segments,
    segment_count,
    segments_for_budget,
)
from pausewatch.transcript._format import (
    FORMAT,
    Manifest,
    TranscriptError,
    checkpoint_path,
    checkpoint_steps,
    hyperparameters_digest,
    read_manifest,
)
from pausewatch.transcript._inclusion import (
    ALPHA,
    FORWARD_COST,
    MIN_PAIRS,
    Inclusion,
    inclusion_test,
)
from pausewatch.transcript._replay import (
    FORWARDS_PER_STEP,
    SegmentResult,
    SegmentTask,
    replay_segment,
)
from pausewatch.transcript._screen import Screen, screen_floor
from pausewatch.transcript._train import (
    initial_model,
    load_weights,
    recipe_named,
    resolve_hyperparameters,
    weights_from_bytes,
    weights_of,
)

Runner = Callable[[Sequence[SegmentTask]], Iterable[SegmentResult]]
"""Replays tasks and yields their results, in any order."""


def replay_in_process(tasks: Sequence[SegmentTask]) -> Iterator[SegmentResult]:
    """The default runner: each task replayed in turn in this process."""
    for task in tasks:
        yield replay_segment(task)


@dataclass(frozen=True, slots=True)
class Check:
    """One integrity check of :func:`plan_audit`."""

    check: str
    """What was checked (``manifest``, ``checkpoint_digests``, ``initial_weights``...)."""
    passed: bool
    """Whether it held."""
    detail: str
    """What was found, with the expected and actual values where it failed."""

    def to_json(self) -> dict[str, Any]:
        """``{"check", "passed", "detail"}``."""
        return {"check": self.check, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class AuditPlan:
    """What :func:`plan_audit` found and what it asks a runner to replay."""

    directory: str
    """The transcript directory."""
    manifest: Manifest | None
    """The manifest, or None when it could not be read."""
    budget: float
    """The replay budget, a fraction of the run's steps."""
    beacon: bytes
    """The public beacon the draw is made from."""
    checks: tuple[Check, ...]
    """Every integrity check, in the order run."""
    segments_total: int
    """Segments in the transcript (0 when the manifest could not be read)."""
    tasks: tuple[SegmentTask, ...]
    """The segments to replay (drawn, and targeted by the screen); empty when an integrity
    check failed."""
    targeted: tuple[int, ...] = ()
    """Segments replayed, beyond the draw, because the interpolation screen flagged the
    checkpoint each ends at (at most ``MAX_DRAWN``)."""

    @property
    def passed(self) -> bool:
        """Whether every integrity check held."""
        return all(c.passed for c in self.checks)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of an audit (contract T2)."""

    verdict: str
    """``pass`` or ``fail``."""
    run_id: str | None
    """The manifest's run, or None (stand-alone, or the manifest could not be read)."""
    recipe: str | None
    """The manifest's recipe, or None when the manifest could not be read."""
    budget: float
    """The replay budget, a fraction of the run's steps."""
    beacon: bytes
    """The public beacon the segments were drawn from."""
    segments_total: int
    """Segments in the transcript (0 when the manifest could not be read)."""
    segments: tuple[SegmentResult, ...]
    """The replays' results, segment ascending (a segment that could not be replayed has a
    failed result with its ``error``)."""
    inclusion: Inclusion
    """The data-inclusion test over the replayed segments."""
    checks: tuple[Check, ...]
    """Every integrity check, in the order run."""
    reasons: tuple[str, ...]
    """Why it failed (empty on ``pass``)."""
    compute_fraction: float
    """(Replayed steps + the inclusion test's forward passes / 3) / the run's steps."""
    manifest_digest: str | None
    """The manifest's digest (without its seed), or None when it could not be read."""
    final_digest: str | None
    """The committed digest of the final checkpoint, if the manifest names one."""
    steps: int | None
    """The run's optimiser steps, or None when the manifest could not be read."""
    every: int | None
    """Steps between checkpoints, or None when the manifest could not be read."""
    targeted: tuple[int, ...] = ()
    """Segments replayed beyond the draw because the interpolation screen flagged them."""

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``pass``."""
        return self.verdict == "pass"

    def to_json(self) -> dict[str, Any]:
        """The verdict as the JSON object ``pausewatch transcript verify --json`` prints."""
        return {
            "verdict": self.verdict,
            "run_id": self.run_id,
            "recipe": self.recipe,
            "budget": self.budget,
            "beacon": self.beacon.hex(),
            "segments_total": self.segments_total,
            "segments": [s.to_json() for s in self.segments],
            "inclusion": self.inclusion.to_json(),
            "checks": [c.to_json() for c in self.checks],
            "reasons": list(self.reasons),
            "compute_fraction": self.compute_fraction,
            "manifest_digest": self.manifest_digest,
            "final_digest": self.final_digest,
            "steps": self.steps,
            "every": self.every,
            "targeted": list(self.targeted),
        }


def _validate(budget: float, beacon: bytes) -> None:
    if not 0 < budget <= 1:
        raise TranscriptError(f"budget must be in (0, 1], got {budget}")
    if not beacon:
        raise TranscriptError("the beacon is empty")


def _integrity(directory: Path, manifest: Manifest, targets: list[int]) -> list[Check]:
    """Every integrity check, in order; ``targets`` receives the segments the interpolation
    screen asks to replay whatever the draw (each ending at a flagged checkpoint)."""
    checks: list[Check] = []

    def add(name: str, passed: bool, detail: str) -> bool:
        checks.append(Check(name, passed, detail))
        return passed

    try:
        recipe = recipe_named(manifest.recipe)
    except TranscriptError as exc:
        add("recipe", False, str(exc))
        return checks
    add("recipe", True, f"recipe {recipe.name}")

    expected_steps = checkpoint_steps(manifest.steps, manifest.every)
    actual_steps = tuple(c.step for c in manifest.checkpoints)
    schedule = add(
        "checkpoint_schedule",
        actual_steps == expected_steps,
        f"{len(actual_steps)} checkpoints at 0, every {manifest.every} and {manifest.steps}"
        if actual_steps == expected_steps
        else f"expected checkpoints at {_steps(expected_steps)}, the manifest has "
        f"{_steps(actual_steps)}",
    )

    bad: list[str] = []
    # The screen rides on the digest pass: each file is read once, hashed, and (while every
    # digest so far holds) loaded for the screen, which keeps three checkpoints at a time.
    screen = Screen(screen_floor()) if schedule else None
    unreadable: str | None = None
    for ref in manifest.checkpoints:
        path = directory / checkpoint_path(ref.step)
        if not path.is_file():
            bad.append(f"step {ref.step}: {checkpoint_path(ref.step)} is missing")
            continue
        data = path.read_bytes()
        if (actual := hashlib.sha256(data).hexdigest()) != ref.digest:
            bad.append(f"step {ref.step}: digest {actual}, manifest {ref.digest}")
        elif screen is not None and not bad and unreadable is None:
            try:
                screen.add(ref.step, weights_from_bytes(data))
            except TranscriptError as exc:
                unreadable = f"step {ref.step}: {exc}"
        del data
    digests = add(
        "checkpoint_digests",
        not bad,
        "; ".join(bad[:3]) + (f" (and {len(bad) - 3} more)" if len(bad) > 3 else "")
        if bad
        else f"{len(manifest.checkpoints)} files match their SHA-256",
    )

    if screen is None or bad:
        add("interpolation_screen", False, "not checked: needs the schedule and the digests")
    elif unreadable is not None:
        add("interpolation_screen", False, f"cannot read checkpoint {unreadable}")
    else:
        add("interpolation_screen", screen.passed, screen.detail())
        index = {ref.step: i for i, ref in enumerate(manifest.checkpoints)}
        targets.extend(index[step] - 1 for step in screen.flagged)

    recomputed = hyperparameters_digest(manifest.hyperparameters)
    add(
        "hyperparameters_digest",
        recomputed == manifest.hyperparameters_digest,
        f"SHA-256 of the RFC 8785 bytes is {recomputed}"
        + (
            ""
            if recomputed == manifest.hyperparameters_digest
            else f", the manifest says {manifest.hyperparameters_digest}"
        ),
    )
    try:
        hp = resolve_hyperparameters(recipe, manifest.hyperparameters)
        usable = add(
            "hyperparameters",
            set(hp) == set(manifest.hyperparameters),
            "every hyper-parameter the recipe reads is committed"
            if set(hp) == set(manifest.hyperparameters)
            else f"not committed: {', '.join(sorted(set(hp) - set(manifest.hyperparameters)))}",
        )
    except TranscriptError as exc:
        usable = add("hyperparameters", False, str(exc))

    records = dataset(recipe.dataset_name)
    root, count = records.merkle_root(), len(records.train)
    same = (manifest.dataset.name, manifest.dataset.records, manifest.dataset.merkle_root) == (
        records.name,
        count,
        root,
    )
    add(
        "dataset",
        same,
        f"{records.name}: {count} records, Merkle root {root}"
        + (
            ""
            if same
            else f"; the manifest says {manifest.dataset.name}: {manifest.dataset.records} "
            f"records, root {manifest.dataset.merkle_root}"
        ),
    )

    seed = manifest.seed_bytes()
    if seed is None:
        seeded = add("seed", False, "the seed is not revealed")
    else:
        hashed = hashlib.sha256(seed).hexdigest()
        seeded = add(
            "seed",
            hashed == manifest.seed_commitment,
            f"SHA-256 of the revealed seed is {hashed}"
            + (
                ""
                if hashed == manifest.seed_commitment
                else f", committed {manifest.seed_commitment}"
            ),
        )

    add(
        "deterministic",
        manifest.deterministic,
        f"trained with deterministic algorithms on {manifest.threads} thread(s), "
        f"torch {manifest.versions.get('torch', '?')}"
        if manifest.deterministic
        else "the manifest says the run did not use deterministic algorithms",
    )

    if seed is not None and seeded and digests and schedule and usable:
        derived = weights_of(initial_model(recipe, manifest.hyperparameters, seed))
        stored = load_weights(directory / checkpoint_path(0))
        equal = stored.keys() == derived.keys() and all(
            stored[k].shape == derived[k].shape and bool(stored[k].equal(derived[k]))
            for k in derived
        )
        add(
            "initial_weights",
            equal,
            "step 0 equals the weights derived from the seed"
            if equal
            else "step 0 differs from the weights derived from the seed",
        )
    else:
        add("initial_weights", False, "not checked: needs the seed, the digests and the schedule")
    return checks


def _steps(steps: Sequence[int]) -> str:
    shown = ", ".join(str(s) for s in steps[:6])
    return shown + (f", ... ({len(steps)} in all)" if len(steps) > 6 else "")


def plan_audit(directory: Path | str, *, budget: float, beacon: bytes) -> AuditPlan:
    """Run the integrity checks and, if all hold, draw the segments to replay."""
    _validate(budget, beacon)
    directory = Path(directory)
    try:
        manifest = read_manifest(directory)
    except TranscriptError as exc:
        return AuditPlan(
            str(directory), None, budget, beacon, (Check("manifest", False, str(exc)),), 0, ()
        )
    checks = [Check("manifest", True, f"{FORMAT}, digest {manifest.digest()}")]
    targets: list[int] = []
    try:
        checks.extend(_integrity(directory, manifest, targets))
    except (TranscriptError, ValueError, RuntimeError, OSError) as exc:
        # A hostile transcript the checks did not foresee (torch refusing a model or weights,
        # a file vanishing mid-check) is a failed check: an audit always reaches a verdict.
        detail = " ".join(str(exc).split())[:1000] or type(exc).__name__
        checks.append(Check("integrity", False, f"the checks stopped: {detail}"))
    total = segment_count(manifest.steps, manifest.every)
    tasks: tuple[SegmentTask, ...] = ()
    targeted: tuple[int, ...] = ()
    if all(c.passed for c in checks):
        count = segments_for_budget(budget, manifest.steps, manifest.every)
        drawn = draw_segments(beacon, total, count)
        targeted = tuple(sorted(set(targets) - set(drawn)))[:MAX_DRAWN]
        digest = manifest.digest()
        tasks = tuple(
            SegmentTask(
                str(directory),
                manifest.run_id,
                s,
                manifest_digest=digest,
                start_digest=manifest.digest_at(s * manifest.every),
                end_digest=manifest.digest_at(min((s + 1) * manifest.every, manifest.steps)),
            )
            for s in sorted({*drawn, *targeted})
        )
    return AuditPlan(
        str(directory), manifest, budget, beacon, tuple(checks), total, tasks, targeted
    )


def conclude(plan: AuditPlan, results: Iterable[SegmentResult]) -> Verdict:
    """The verdict of ``plan`` given the replays' ``results`` (extra results are ignored)."""
    manifest = plan.manifest
    drawn = {t.segment for t in plan.tasks}
    by_segment = {r.segment: r for r in results if r.segment in drawn}
    segments = tuple(by_segment[s] for s in sorted(by_segment))
    reasons = [f"{c.check}: {c.detail}" for c in plan.checks if not c.passed]
    reasons.extend(f"segment {s}: no replay result" for s in sorted(drawn - set(by_segment)))
    for r in segments:
        if r.error is not None:
            reasons.append(
                f"segment {r.segment} (steps {r.start_step}-{r.end_step}): not replayed: {r.error}"
            )
        elif not r.passed:
            why = " (flagged by the interpolation screen)" if r.segment in plan.targeted else ""
            reasons.append(
                f"segment {r.segment} (steps {r.start_step}-{r.end_step}){why}: replay distance "
                f"{r.distance:.3g} exceeds tolerance {r.tolerance:.3g}"
            )
    inclusion = inclusion_test(segments) if plan.passed else Inclusion(0.0, 1.0, False)
    if plan.passed and segments and not inclusion.passed:
        reasons.append(
            f"data inclusion: the training batches' loss did not drop more than held-out "
            f"records' (W+ {inclusion.statistic:.3g}, one-sided p {inclusion.p_value:.3g})"
        )
    replayed = sum(r.steps_replayed for r in segments)
    compute = replayed * (1 + FORWARDS_PER_STEP * FORWARD_COST)
    return Verdict(
        verdict="fail" if reasons or not plan.passed else "pass",
        run_id=manifest.run_id if manifest else None,
        recipe=manifest.recipe if manifest else None,
        budget=plan.budget,
        beacon=plan.beacon,
        segments_total=plan.segments_total,
        segments=segments,
        inclusion=inclusion,
        checks=plan.checks,
        reasons=tuple(reasons),
        compute_fraction=compute / manifest.steps if manifest else 0.0,
        manifest_digest=manifest.digest() if manifest else None,
        final_digest=manifest.final_digest if manifest else None,
        steps=manifest.steps if manifest else None,
        every=manifest.every if manifest else None,
        targeted=plan.targeted,
    )


def verify(
    directory: Path | str, *, budget: float, beacon: bytes, runner: Runner | None = None
) -> Verdict:
    """Audit a transcript directory on its own: plan, replay the drawn segments, conclude."""
    plan = plan_audit(directory, budget=budget, beacon=beacon)
    results = list((runner or replay_in_process)(plan.tasks)) if plan.tasks else []
    return conclude(plan, results)


__all__ = [
    "ALPHA",
    "FORWARD_COST",
    "MIN_PAIRS",
    "AuditPlan",
    "Check",
    "Inclusion",
    "Runner",
    "Verdict",
    "conclude",
    "inclusion_test",
    "plan_audit",
    "replay_in_process",
    "verify",
]
