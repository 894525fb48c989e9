"""Replay of one transcript segment, and the inclusion test's losses on it (issue 17 §3).

:func:`replay_segment` is a pure function of the transcript's files (safe to run in a Ray
worker): it loads checkpoint ``i * every`` (its digest checked against the manifest), trains
``every`` steps on the seed's batches with the manifest's hyper-parameters, and measures the
relative L2 distance to the committed checkpoint at the segment's end. It also measures, for the
data-inclusion test, the loss drop from the segment's first committed checkpoint to its last on
the segment's own training batches and on as many held-out records
(:func:`~pausewatch.transcript._data.heldout_indices`, one held-out batch per step).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pausewatch.transcript._data import batch_indices, heldout_indices
from pausewatch.transcript._format import (
    Manifest,
    TranscriptError,
    cached_manifest,
    checkpoint_path,
)
from pausewatch.transcript._inclusion import FORWARDS_PER_STEP
from pausewatch.transcript._tolerance import relative_l2, tolerance_for
from pausewatch.transcript._train import (
    Encoded,
    Weights,
    deterministic,
    encoded_records,
    recipe_named,
    resolve_hyperparameters,
    run_steps,
    weights_from_bytes,
)

if TYPE_CHECKING:
    import torch

    from pausewatch.transcript._recipes import Recipe

UNREPLAYED_DISTANCE = 1e300
"""The distance of a segment that could not be replayed, or whose replay diverged: finite, so
that a result stays JSON-safe, the largest a ``transcript.replay/v1`` accepts, and beyond every
tolerance."""


@dataclass(frozen=True, slots=True)
class SegmentTask:
    """One segment of one transcript to replay (picklable: it crosses to Ray workers)."""

    directory: str
    """The transcript directory."""
    run_id: str | None
    """The run it belongs to, or None for a stand-alone transcript."""
    segment: int
    """Segment number: from checkpoint ``segment * every`` to ``min((segment + 1) * every,
    steps)``."""
    threads: int | None = None
    """Intra-op threads of the replay; None: the manifest's."""
    manifest_digest: str | None = None
    """The digest of the manifest the plan checked; the replay refuses another (None: not
    pinned, for a task made by hand)."""
    start_digest: str | None = None
    """The checked digest of the segment's start checkpoint (None: the manifest's)."""
    end_digest: str | None = None
    """The checked digest of the segment's end checkpoint (None: the manifest's). In an audit
    these two are the log's commitments, so files swapped after the checks are refused."""

    @property
    def key(self) -> tuple[str, int]:
        """``(run_id or the manifest digest, segment)``: what makes a replay idempotent."""
        if self.run_id is not None:
            return (self.run_id, self.segment)
        if self.manifest_digest is not None:  # the checked manifest's, without re-reading it
            return (self.manifest_digest, self.segment)
        return (cached_manifest(self.directory).digest(), self.segment)


@dataclass(frozen=True, slots=True)
class SegmentResult:
    """What a replay of one segment found."""

    segment: int
    """The segment number."""
    start_step: int
    """The checkpoint it started from."""
    end_step: int
    """The checkpoint it is compared with."""
    distance: float
    """Relative L2 distance between the replayed and the committed end checkpoint."""
    tolerance: float
    """The recipe's calibrated tolerance."""
    passed: bool
    """``distance <= tolerance``."""
    train_loss_drop: float
    """Mean loss drop, start to end checkpoint, on the segment's training batches."""
    heldout_loss_drop: float
    """Mean loss drop, start to end checkpoint, on as many held-out records."""
    steps_replayed: int
    """Optimiser steps the replay ran."""
    error: str | None = None
    """Why the segment could not be replayed (a checkpoint unreadable, of another shape or
    unlike the checked digest; the manifest changed since the plan), or None. With an error
    ``passed`` is false and ``distance`` is :data:`UNREPLAYED_DISTANCE`."""

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object (the fields, by name)."""
        return {
            "segment": self.segment,
            "start_step": self.start_step,
            "end_step": self.end_step,
            "distance": self.distance,
            "tolerance": self.tolerance,
            "passed": self.passed,
            "train_loss_drop": self.train_loss_drop,
            "heldout_loss_drop": self.heldout_loss_drop,
            "steps_replayed": self.steps_replayed,
            "error": self.error,
        }


def segment_bounds(manifest: Manifest, segment: int) -> tuple[int, int]:
    """The start and end step of ``segment``."""
    start = segment * manifest.every
    if segment < 0 or start >= manifest.steps:
        raise TranscriptError(f"segment {segment} is outside a run of {manifest.steps} steps")
    return start, min(start + manifest.every, manifest.steps)


def checked_weights(
    directory: Path, manifest: Manifest, step: int, expected: str | None = None
) -> Weights:
    """The checkpoint at ``step``, refused unless its digest is ``expected`` (default: the
    manifest's). The file is read once: the bytes hashed are the bytes loaded."""
    path = directory / checkpoint_path(step)
    committed = manifest.digest_at(step) if expected is None else expected
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(
            f"cannot read checkpoint at step {step} ({path}): {exc.strerror or exc}"
        ) from exc
    actual = hashlib.sha256(content).hexdigest()
    if actual != committed:
        by = "the manifest commits to" if expected is None else "the audit checked"
        raise TranscriptError(f"checkpoint at step {step} has digest {actual}, {by} {committed}")
    try:
        return weights_from_bytes(content)
    except TranscriptError as exc:
        raise TranscriptError(f"checkpoint at step {step}: {exc}") from exc


def _load(model: torch.nn.Module, weights: Weights, step: int) -> None:
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise TranscriptError(
            f"checkpoint at step {step} does not fit the recipe: {first}"
        ) from exc


def _mean_losses(
    recipe: Recipe, model: torch.nn.Module, data: Encoded, batches: Sequence[Sequence[int]]
) -> list[float]:
    import torch

    model.eval()
    with torch.no_grad():
        return [float(recipe.loss(model, *data.batch(b))) for b in batches]


def replay_segment(task: SegmentTask) -> SegmentResult:
    """Replay ``task``'s segment and measure it (see the module docstring).

    Never raises for a hostile transcript: whatever keeps the segment from being replayed (the
    manifest changed since the plan, a checkpoint unreadable, unlike the checked digest or of
    another shape, hyper-parameters no replay can use) is a failed result whose ``error`` says
    why."""
    directory = Path(task.directory)
    # Per process, the manifest's parse (keyed on its text, re-read every call) and the encoded
    # dataset are shared between replays; the checkpoints' digests are checked every time.
    try:
        manifest = cached_manifest(directory)
        start, end = segment_bounds(manifest, task.segment)
    except TranscriptError as exc:
        return _unreplayed(task, 0, 0, str(exc))
    try:
        if task.manifest_digest is not None and manifest.digest() != task.manifest_digest:
            raise TranscriptError(
                f"the manifest on disk has digest {manifest.digest()}, the audit checked "
                f"{task.manifest_digest}"
            )
        return _replay(task, directory, manifest, start, end)
    except (TranscriptError, ValueError, RuntimeError) as exc:
        # ValueError and RuntimeError come from torch on inputs the checks did not foresee: a
        # hostile transcript fails its segment rather than stopping the audit. A fault of the
        # inspector's own machine (torch out of memory) is no finding about the transcript: it
        # stops the replay, which a rescan of the log runs again.
        if isinstance(exc, RuntimeError) and _out_of_memory(exc):
            raise
        return _unreplayed(task, start, end, " ".join(str(exc).split())[:1000])


def _out_of_memory(exc: RuntimeError) -> bool:
    """Whether torch raised ``exc`` because this machine ran out of memory."""
    text = str(exc).lower()
    return "can't allocate memory" in text or "out of memory" in text


def _unreplayed(task: SegmentTask, start: int, end: int, error: str) -> SegmentResult:
    recipe = _recipe_name(task.directory)
    return SegmentResult(
        segment=task.segment,
        start_step=start,
        end_step=end,
        distance=UNREPLAYED_DISTANCE,
        tolerance=tolerance_for(recipe) if recipe is not None else 0.0,
        passed=False,
        train_loss_drop=0.0,
        heldout_loss_drop=0.0,
        steps_replayed=0,
        error=error,
    )


def _recipe_name(directory: str) -> str | None:
    try:
        return recipe_named(cached_manifest(directory).recipe).name
    except TranscriptError:
        return None


def _replay(
    task: SegmentTask, directory: Path, manifest: Manifest, start: int, end: int
) -> SegmentResult:
    recipe = recipe_named(manifest.recipe)
    seed = manifest.seed_bytes()
    if seed is None:
        raise TranscriptError("the transcript's seed is not revealed: a replay needs it")
    hp = resolve_hyperparameters(recipe, manifest.hyperparameters)
    batch_size = int(hp["batch_size"])
    train_data, heldout_data = encoded_records(recipe)
    train_records, heldout_records = len(train_data.inputs), len(heldout_data.inputs)
    steps = range(start, end)
    train_batches = [batch_indices(seed, s, train_records, batch_size) for s in steps]
    heldout_batches = [heldout_indices(seed, s, heldout_records, batch_size) for s in steps]
    first = checked_weights(directory, manifest, start, task.start_digest)
    last = checked_weights(directory, manifest, end, task.end_digest)
    with deterministic(task.threads or manifest.threads):
        model = recipe.build(hp)
        # Weights of another shape cannot be the replay's outcome: the segment fails.
        _load(model, last, end)
        train_after = _mean_losses(recipe, model, train_data, train_batches)
        heldout_after = _mean_losses(recipe, model, heldout_data, heldout_batches)
        _load(model, first, start)
        train_before = _mean_losses(recipe, model, train_data, train_batches)
        heldout_before = _mean_losses(recipe, model, heldout_data, heldout_batches)
        run_steps(recipe, model, train_data, hp, seed, start, end)
        replayed = {k: v.detach() for k, v in model.state_dict().items()}
    distance = relative_l2(replayed, last)
    if not math.isfinite(distance):  # a diverged replay: keep the JSON finite, and failing
        distance = UNREPLAYED_DISTANCE
    tolerance = tolerance_for(recipe.name)
    return SegmentResult(
        segment=task.segment,
        start_step=start,
        end_step=end,
        distance=distance,
        tolerance=tolerance,
        passed=distance <= tolerance,
        train_loss_drop=_mean_drop(train_before, train_after),
        heldout_loss_drop=_mean_drop(heldout_before, heldout_after),
        steps_replayed=end - start,
    )


def _mean_drop(before: Sequence[float], after: Sequence[float]) -> float:
    drops = [b - a for b, a in zip(before, after, strict=True)]
    value = sum(drops) / len(drops)
    # A non-finite loss (a diverged forgery) must not become NaN in a JSON result.
    return value if math.isfinite(value) else -1e300


__all__ = [
    "FORWARDS_PER_STEP",
    "UNREPLAYED_DISTANCE",
    "SegmentResult",
    "SegmentTask",
    "checked_weights",
    "replay_segment",
    "segment_bounds",
]
