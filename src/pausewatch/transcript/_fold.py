"""Training transcripts in the fold (issue 17, §1; docs/adr/0038-transcript-beacon.md).

Like the registry's handlers, each checks who signs (a refusal of the signer is ``forbidden``:
403 at the edge) and what must already be on the log (else a conflict: 409, with the reason).

A commitment binds the run's declaration: the same hyper-parameters' digest, the seed's
commitment equal to the declaration's ``data_order_seed_digest``, the same checkpoint interval;
one per run. Checkpoint commitments continue the run's last (step 0 first, steps strictly
increasing, each a multiple of ``every`` or the final ``steps``, none skipped), and nothing
follows the final one. A verdict's beacon is the root of the log's tree that ends with the
final commitment (its index + 1), computed here from the log itself; the fold draws the
segments again from it and requires them, and a replay of the audit for each, whose figures
decide the verdict.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from pausewatch.registry._fold import (
    Handler,
    RejectedError,
    Row,
    _Context,
)
from pausewatch.registry._kinds import SubjectKind
from pausewatch.statements import Body
from pausewatch.transcript._draw import draw_segments, segment_count, segments_for_budget
from pausewatch.transcript._inclusion import Drops, compute_fraction, inclusion_test
from pausewatch.transcript._statements import (
    Outcome,
    TranscriptCheckpoint,
    TranscriptCommit,
    TranscriptReplay,
    TranscriptVerdict,
)

MAX_BEACON_LAG = 1_000_000
"""A verdict is folded at most this many entries after the final commitment whose root is its
beacon, so that an audit computes the beacon from the window of recent roots it keeps for
witness cosignatures (the same figure as ``MAX_COSIGNATURE_LAG`` and an inspection plan's
``MAX_SEED_LAG``)."""


def segment_bounds(segment: int, every: int, steps: int) -> tuple[int, int]:
    """The steps segment ``segment`` starts and ends at: from checkpoint ``segment * every``
    to checkpoint ``min((segment + 1) * every, steps)``."""
    return segment * every, min((segment + 1) * every, steps)


def _transcript(ctx: _Context, run_id: str) -> Row:
    row = ctx.get("transcripts", run_id)
    if row is None:
        raise RejectedError(f"run {run_id!r} has no transcript commitment on the log")
    return row


def _inspector(ctx: _Context, inspector_id: str) -> None:
    ctx.must_exist("inspectors", "inspector", inspector_id)
    ctx.require(SubjectKind.INSPECTOR, inspector_id)


def _final(ctx: _Context, transcript: Row) -> None:
    if transcript["final_idx"] is None:
        raise RejectedError(
            f"run {transcript['run_id']!r} has no final checkpoint commitment yet: its audit's "
            "beacon does not exist"
        )


def _audit_of(ctx: _Context, audit_id: str, inspector_id: str, run_id: str) -> None:
    """An audit id is the inspector's and the run's that first used it (``transcript_audits``):
    another inspector's replay or verdict under it, or one of another run, is refused."""
    first = ctx.get("transcript_audits", audit_id)
    if first is None:
        return
    if first["inspector_id"] != inspector_id:
        raise RejectedError(
            f"audit {audit_id!r} is another inspector's: its first statement (entry "
            f"{first['first_idx']}) is by {first['inspector_id']!r}, not {inspector_id!r}; "
            "choose another audit id"
        )
    if first["run_id"] != run_id:
        raise RejectedError(
            f"audit {audit_id!r} is of run {first['run_id']!r}: its first statement (entry "
            f"{first['first_idx']}) is of that run, not of run {run_id!r}; choose another audit id"
        )


def _claim(ctx: _Context, audit_id: str, inspector_id: str, run_id: str) -> None:
    """Record whose ``audit_id`` is, at its first replay or verdict."""
    if ctx.get("transcript_audits", audit_id) is None:
        owner = {"audit_id": audit_id, "run_id": run_id, "inspector_id": inspector_id}
        ctx.set("transcript_audits", {**owner, "first_idx": ctx.index})


def _verdict_of(ctx: _Context, audit_id: str) -> None:
    earlier = ctx.get("transcript_verdicts", audit_id)
    if earlier is not None:
        raise RejectedError(
            f"audit {audit_id!r} already has its verdict on the log (entry {earlier['idx']})"
        )


# -- commitments ---------------------------------------------------------------------------------


def _commit(ctx: _Context, body: Body) -> None:
    assert isinstance(body, TranscriptCommit)
    run = ctx.must_exist("runs", "run", body.run_id)
    ctx.require(SubjectKind.OPERATOR, run["operator_id"])
    earlier = ctx.get("transcripts", body.run_id)
    if earlier is not None:
        raise RejectedError(
            f"run {body.run_id!r} already has its transcript commitment on the log "
            f"(entry {earlier['committed_idx']})"
        )
    pairs = (
        ("hyperparameters_digest", body.hyperparameters_digest, run["hyperparameters_digest"]),
        ("seed_commitment", body.seed_commitment, run["data_order_seed_digest"]),
        ("every", body.every, run["checkpoint_interval_steps"]),
    )
    for name, actual, expected in pairs:
        if actual != expected:
            raise RejectedError(
                f"{name} is {actual}, but run {body.run_id!r}'s declaration commits to {expected}"
            )
    ctx.set(
        "transcripts",
        {
            "run_id": body.run_id,
            "operator_id": run["operator_id"],
            "recipe": body.recipe,
            "hyperparameters_digest": body.hyperparameters_digest,
            "seed_commitment": body.seed_commitment,
            "dataset_root": body.dataset_root,
            "dataset_records": body.dataset_records,
            "every": body.every,
            "steps": body.steps,
            "framework": body.framework,
            "committed_idx": ctx.index,
            "committed_at": ctx.when,
            "checkpoints": 0,
            "last_step": None,
            "last_checkpoint_at": None,
            "final_digest": None,
            "final_idx": None,
            "final_at": None,
        },
    )


def _checkpoint(ctx: _Context, body: Body) -> None:
    assert isinstance(body, TranscriptCheckpoint)
    run = ctx.must_exist("runs", "run", body.run_id)
    ctx.require(SubjectKind.OPERATOR, run["operator_id"])
    transcript = _transcript(ctx, body.run_id)
    if transcript["final_idx"] is not None:
        raise RejectedError(
            f"run {body.run_id!r}'s final checkpoint is already committed (entry "
            f"{transcript['final_idx']}): nothing may follow it"
        )
    every, steps, last = transcript["every"], transcript["steps"], transcript["last_step"]
    first = body.checkpoints[0].step
    if last is None and first != 0:
        raise RejectedError(
            f"the run's first checkpoint is the initial weights, at step 0; got step {first}"
        )
    if last is not None and first <= last:
        raise RejectedError(
            f"checkpoint step {first} does not continue the run's last, step {last}"
        )
    previous = last
    for checkpoint in body.checkpoints:
        step = checkpoint.step
        if step > steps:
            raise RejectedError(f"checkpoint step {step} is past the transcript's {steps} steps")
        if step % every and step != steps:
            raise RejectedError(
                f"checkpoint step {step} is neither a multiple of every ({every}) nor the "
                f"final step ({steps})"
            )
        # Every checkpoint is committed in turn: a skipped one would leave its segments with
        # no committed start or end to replay against.
        expected = 0 if previous is None else min(previous + every, steps)
        if step != expected:
            raise RejectedError(
                f"checkpoint step {step} skips step {expected}: every checkpoint is committed "
                "in turn"
            )
        previous = step
    final_step = body.checkpoints[-1].step
    if body.final and final_step != steps:
        raise RejectedError(
            f"a final commitment ends at the final weights, step {steps}; its last checkpoint "
            f"is step {final_step}"
        )
    if not body.final and final_step == steps:
        raise RejectedError(f"step {steps} is the final weights: commit it with final true")
    for checkpoint in body.checkpoints:
        ctx.set(
            "transcript_checkpoints",
            {
                "run_id": body.run_id,
                "step": checkpoint.step,
                "digest": checkpoint.digest,
                "idx": ctx.index,
                "integrated_at": ctx.when,
            },
        )
    final = body.checkpoints[-1] if body.final else None
    ctx.update(
        "transcripts",
        transcript,
        checkpoints=transcript["checkpoints"] + len(body.checkpoints),
        last_step=final_step,
        last_checkpoint_at=ctx.when,
        final_digest=None if final is None else final.digest,
        final_idx=None if final is None else ctx.index,
        final_at=None if final is None else ctx.when,
    )


# -- audits --------------------------------------------------------------------------------------


def _replay(ctx: _Context, body: Body) -> None:
    assert isinstance(body, TranscriptReplay)
    _inspector(ctx, body.inspector_id)
    transcript = _transcript(ctx, body.run_id)
    _final(ctx, transcript)
    _verdict_of(ctx, body.audit_id)
    _audit_of(ctx, body.audit_id, body.inspector_id, body.run_id)
    earlier = ctx.get("transcript_replays", body.audit_id, body.segment)
    if earlier is not None:
        raise RejectedError(
            f"segment {body.segment} of audit {body.audit_id!r} is already on the log "
            f"(entry {earlier['idx']})"
        )
    every, steps = transcript["every"], transcript["steps"]
    total = segment_count(steps, every)
    if body.segment >= total:
        raise RejectedError(
            f"run {body.run_id!r}'s transcript has {total} segments; there is no segment "
            f"{body.segment}"
        )
    start, end = segment_bounds(body.segment, every, steps)
    if (body.start_step, body.end_step) != (start, end):
        raise RejectedError(
            f"segment {body.segment} runs from step {start} to {end}, not from "
            f"{body.start_step} to {body.end_step}"
        )
    row = {**body.model_dump(mode="json"), "idx": ctx.index, "integrated_at": ctx.when}
    ctx.set("transcript_replays", row)
    _claim(ctx, body.audit_id, body.inspector_id, body.run_id)


_LISTED = 20
"""Segments a refusal names one by one; the rest are counted."""


def _listed(segments: tuple[int, ...]) -> str:
    shown = ", ".join(str(s) for s in segments[:_LISTED])
    more = len(segments) - _LISTED
    return f"[{shown}{f' and {more} more' if more > 0 else ''}]"


def _beacon(ctx: _Context, size: int) -> str:
    """The root (hex) of the log's tree at ``size``."""
    return ctx.log_root(size, lag=MAX_BEACON_LAG, what="transcript verdict's beacon")


def _verdict(ctx: _Context, body: Body) -> None:
    assert isinstance(body, TranscriptVerdict)
    _inspector(ctx, body.inspector_id)
    transcript = _transcript(ctx, body.run_id)
    _final(ctx, transcript)
    _verdict_of(ctx, body.audit_id)
    _audit_of(ctx, body.audit_id, body.inspector_id, body.run_id)
    size = int(transcript["final_idx"]) + 1
    if body.beacon_size != size:
        raise RejectedError(
            f"beacon_size is {body.beacon_size}, expected {size}: the tree that ends with run "
            f"{body.run_id!r}'s final checkpoint commitment (entry {size - 1})"
        )
    root = _beacon(ctx, size)
    if body.beacon != root:
        raise RejectedError(
            f"beacon is {body.beacon}, expected {root}: the log's root at size {size}"
        )
    every, steps = transcript["every"], transcript["steps"]
    drawn = draw_segments(
        bytes.fromhex(root),
        segment_count(steps, every),
        segments_for_budget(body.budget, steps, every),
    )
    if body.segments != drawn:
        raise RejectedError(
            f"segments are {_listed(body.segments)}, expected {_listed(drawn)}: the draw from "
            f"the beacon at a budget of {body.budget!r}"
        )
    failed: list[int] = []
    replays: list[Row] = []
    for segment in drawn:
        replay = ctx.get("transcript_replays", body.audit_id, segment)
        if replay is None:
            # An audit that stopped at an integrity check (a checkpoint unlike its commitment,
            # initial weights not from the seed) fails with its reasons and replays nothing
            # more: only a pass must rest on a replay of every drawn segment.
            if body.verdict is Outcome.FAIL and body.reasons:
                continue
            raise RejectedError(
                f"audit {body.audit_id!r} has no replay of segment {segment} on the log"
            )
        if replay["run_id"] != body.run_id or replay["inspector_id"] != body.inspector_id:
            raise RejectedError(
                f"audit {body.audit_id!r}'s replay of segment {segment} is of run "
                f"{replay['run_id']!r} by {replay['inspector_id']!r}, not of run "
                f"{body.run_id!r} by {body.inspector_id!r}"
            )
        replays.append(replay)
        if not replay["passed"]:
            failed.append(segment)
    complete = len(replays) == len(drawn)
    # Segments the audit replayed beyond the draw (those the interpolation screen targeted)
    # count as much as drawn ones: a pass must have every replay of the audit passed.
    drawn_set = set(drawn)
    for (audit_id, segment), replay in sorted(ctx.registry.views["transcript_replays"].items()):
        if audit_id == body.audit_id and segment not in drawn_set:
            replays.append(replay)
            if not replay["passed"]:
                failed.append(int(segment))
    _figures(body, replays, complete=complete, steps=steps)
    passes = not failed and body.inclusion_passed and not body.reasons
    expected = Outcome.PASS if passes else Outcome.FAIL
    if body.verdict is not expected:
        why = (
            "every replay passed, the inclusion test passed and no reason is given"
            if passes
            else f"failed segments {failed}, inclusion passed {body.inclusion_passed}, "
            f"{len(body.reasons)} reasons"
        )
        raise RejectedError(f"verdict is {body.verdict.value}, expected {expected.value}: {why}")
    row = body.model_dump(mode="json")
    ctx.set(
        "transcript_verdicts",
        {
            **row,
            "segments": json.dumps(row["segments"]),
            "reasons": json.dumps(row["reasons"]),
            "idx": ctx.index,
            "integrated_at": ctx.when,
        },
    )
    _claim(ctx, body.audit_id, body.inspector_id, body.run_id)


def _agrees(actual: object, expected: object) -> bool:
    """Equal; floats to 1e-9 relative (a p-value may move in its last digits between scipy
    releases, and a refold after an upgrade must not refuse what it took before)."""
    if isinstance(actual, float) and isinstance(expected, float):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-12)
    return actual == expected


def _figures(body: TranscriptVerdict, replays: list[Row], *, complete: bool, steps: int) -> None:
    """The verdict's inclusion figures (where every drawn segment has its replay) and the
    compute it spent are recomputed from its replays with the engine's own functions: the same
    floats in, the same floats out (the log's JSON keeps every float as it was)."""
    stated: list[tuple[str, object, object]] = []
    if complete:
        inclusion = inclusion_test(
            [Drops(float(r["train_loss_drop"]), float(r["heldout_loss_drop"])) for r in replays]
        )
        stated += [
            ("inclusion_statistic", body.inclusion_statistic, inclusion.statistic),
            ("inclusion_p_value", body.inclusion_p_value, inclusion.p_value),
            ("inclusion_passed", body.inclusion_passed, inclusion.passed),
        ]
    replayed = sum(int(r["steps_replayed"]) for r in replays)
    stated.append(("compute_fraction", body.compute_fraction, compute_fraction(replayed, steps)))
    for name, actual, expected in stated:
        if not _agrees(actual, expected):
            raise RejectedError(
                f"{name} is {actual!r}, the replays give {expected!r} (recomputed from the "
                f"audit's {len(replays)} replays on the log)"
            )


HANDLERS: Mapping[str, Handler] = {
    "transcript.commit/v1": _commit,
    "transcript.checkpoint/v1": _checkpoint,
    "transcript.replay/v1": _replay,
    "transcript.verdict/v1": _verdict,
}
"""How transcripts fold; composed with the other domains' in :mod:`pausewatch.state`."""

__all__ = ["HANDLERS", "MAX_BEACON_LAG", "segment_bounds"]
