"""Transcripts in the fold (issue 17, §1; contract T4): commitments bound to the run's
declaration, checkpoint commitments as the run goes, replays and verdicts whose beacon is the
log's own root after the final commitment. Real Ed25519 keys, a real log tree."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.registry import Outcome
from pausewatch.state import new_registry
from pausewatch.transcript import (
    compute_fraction,
    draw_segments,
    inclusion_test,
    segment_count,
    segments_for_budget,
)
from pausewatch.transcript._inclusion import Drops
from registry.world import DIGEST, World, declaration, key  # type: ignore[import-not-found]

STEPS, EVERY = 4000, 1000
OTHER = hashlib.sha256(b"something else").hexdigest()


def digest(step: int) -> str:
    return hashlib.sha256(f"weights at {step}".encode()).hexdigest()


def commit_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": "r1",
        "recipe": "mlp",
        "hyperparameters_digest": DIGEST,
        "seed_commitment": DIGEST,
        "dataset_root": OTHER,
        "dataset_records": 1000,
        "every": EVERY,
        "steps": STEPS,
        "framework": "torch",
    }
    return {**body, **over}


def checkpoints(*steps: int, final: bool = False, run_id: str = "r1") -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": run_id,
        "checkpoints": [{"step": s, "digest": digest(s)} for s in steps],
    }
    if final:
        body["final"] = True
    return body


def inspector(w: World, inspector_id: str = "iaea-1") -> None:
    w.keys[inspector_id] = key(inspector_id)
    body = {
        "inspector_id": inspector_id,
        "name": "Inspector",
        "body": "International Compute Agency",
        "key": w.keys[inspector_id].signer_id,
    }
    w.ok("inspector.register/v1", body, w.secretariat)


@pytest.fixture
def world() -> World:
    w = World()
    w.basic()
    w.party("uk")
    w.operator("lab-uk", "uk")
    w.ok("run.declaration/v1", declaration("r1"), "lab")
    inspector(w)
    inspector(w, "iaea-2")
    return w


def refused(out: Outcome) -> str:
    assert not out.accepted
    assert out.reason
    return out.reason


def committed(w: World, final: bool = True) -> int:
    """Commit r1's transcript and its checkpoints; the final commitment's index (or -1)."""
    w.ok("transcript.commit/v1", commit_body(), "lab")
    w.ok("transcript.checkpoint/v1", checkpoints(0, 1000), "lab")
    w.ok("transcript.checkpoint/v1", checkpoints(2000, 3000), "lab")
    if not final:
        return -1
    return w.ok("transcript.checkpoint/v1", checkpoints(4000, final=True), "lab").index


def replay_body(
    segment: int, audit: str = "a1", passed: bool = True, **over: Any
) -> dict[str, Any]:
    start = segment * EVERY
    body: dict[str, Any] = {
        "audit_id": audit,
        "run_id": "r1",
        "inspector_id": "iaea-1",
        "segment": segment,
        "start_step": start,
        "end_step": min(start + EVERY, STEPS),
        "distance": 0.01 if passed else 0.5,
        "tolerance": 0.05,
        "passed": passed,
        "train_loss_drop": 0.3,
        "heldout_loss_drop": 0.1,
        "steps_replayed": EVERY,
    }
    return {**body, **over}


def figures(
    segments: list[int], steps: int = STEPS, train: float = 0.3, heldout: float = 0.1
) -> dict[str, Any]:
    """The inclusion test's and the compute's figures of replays of ``segments`` whose loss
    drops are ``train`` and ``heldout`` (the engine's functions: the fold recomputes them)."""
    inclusion = inclusion_test([Drops(train, heldout) for _ in segments])
    replayed = sum(min((s + 1) * EVERY, steps) - s * EVERY for s in segments)
    return {
        "inclusion_statistic": inclusion.statistic,
        "inclusion_p_value": inclusion.p_value,
        "inclusion_passed": inclusion.passed,
        "compute_fraction": compute_fraction(replayed, steps),
    }


def verdict_body(w: World, final_idx: int, budget: float = 0.5, **over: Any) -> dict[str, Any]:
    size = final_idx + 1
    beacon = w.tree.root(size)
    drawn = draw_segments(
        beacon, segment_count(STEPS, EVERY), segments_for_budget(budget, STEPS, EVERY)
    )
    body: dict[str, Any] = {
        "audit_id": "a1",
        "run_id": "r1",
        "inspector_id": "iaea-1",
        "budget": budget,
        "beacon_size": size,
        "beacon": beacon.hex(),
        "segments": list(drawn),
        "verdict": "pass",
        **figures(list(drawn)),
        "reasons": [],
        "manifest_digest": OTHER,
    }
    return {**body, **over}


def replayed(w: World, body: dict[str, Any], failing: frozenset[int] = frozenset()) -> None:
    for segment in body["segments"]:
        w.ok("transcript.replay/v1", replay_body(segment, passed=segment not in failing), "iaea-1")


# -- commitments ---------------------------------------------------------------------------------


def test_a_commitment_binds_the_runs_declaration(world: World) -> None:
    """The run's operator commits its transcript; the view keeps it with no checkpoint yet."""
    out = world.ok("transcript.commit/v1", commit_body(), "lab")
    row = world.registry.get("transcripts", "r1")
    assert row is not None
    assert (row["operator_id"], row["recipe"], row["every"], row["steps"]) == (
        "lab",
        "mlp",
        EVERY,
        STEPS,
    )
    assert (row["committed_idx"], row["checkpoints"], row["final_digest"]) == (out.index, 0, None)


def test_only_the_runs_operator_commits_its_transcript(world: World) -> None:
    """Another operator's key is forbidden, with the run's operator named."""
    reason = refused(world.submit("transcript.commit/v1", commit_body(), "lab-uk"))
    assert "operator 'lab'" in reason


def test_a_commitment_names_a_declared_run(world: World) -> None:
    """A run the registry does not hold cannot be committed to."""
    assert "not registered" in refused(
        world.submit("transcript.commit/v1", commit_body(run_id="ghost"), "lab")
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("hyperparameters_digest", OTHER), ("seed_commitment", OTHER), ("every", 500)],
)
def test_a_commitment_that_contradicts_the_declaration_is_refused(
    world: World, field: str, value: Any
) -> None:
    """The hyper-parameters, the seed and the interval are the ones the declaration committed
    to; the refusal names the figure, the declaration's and the commitment's."""
    reason = refused(world.submit("transcript.commit/v1", commit_body(**{field: value}), "lab"))
    assert field in reason
    assert str(value) in reason
    assert str(DIGEST if field != "every" else EVERY) in reason


def test_a_run_has_one_commitment(world: World) -> None:
    """A second commitment for the run is refused as already on the log."""
    world.ok("transcript.commit/v1", commit_body(), "lab")
    assert "already has its transcript commitment" in refused(
        world.submit("transcript.commit/v1", commit_body(recipe="tinylm"), "lab")
    )


# -- checkpoints ---------------------------------------------------------------------------------


def test_checkpoints_continue_to_the_final_weights(world: World) -> None:
    """Checkpoints from step 0 to the final one are kept, and the final digest with them."""
    final_idx = committed(world)
    row = world.registry.get("transcripts", "r1")
    assert row is not None
    assert (row["checkpoints"], row["last_step"], row["final_idx"]) == (5, STEPS, final_idx)
    assert row["final_digest"] == digest(STEPS)
    stored = world.registry.get("transcript_checkpoints", "r1", 2000)
    assert stored is not None
    assert stored["digest"] == digest(2000)


def test_checkpoints_need_the_commitment_first(world: World) -> None:
    """Without the run's commitment, its checkpoints have no transcript to belong to."""
    assert "no transcript commitment" in refused(
        world.submit("transcript.checkpoint/v1", checkpoints(0), "lab")
    )


def test_only_the_runs_operator_commits_checkpoints(world: World) -> None:
    """Another operator's key is forbidden."""
    world.ok("transcript.commit/v1", commit_body(), "lab")
    assert "operator 'lab'" in refused(
        world.submit("transcript.checkpoint/v1", checkpoints(0), "lab-uk")
    )


def test_the_first_checkpoint_is_the_initial_weights(world: World) -> None:
    """The first checkpoint ever committed is step 0."""
    world.ok("transcript.commit/v1", commit_body(), "lab")
    assert "at step 0" in refused(
        world.submit("transcript.checkpoint/v1", checkpoints(1000), "lab")
    )


def test_checkpoints_continue_the_runs_last(world: World) -> None:
    """A commitment cannot go back to, or repeat, a step already committed."""
    world.ok("transcript.commit/v1", commit_body(), "lab")
    world.ok("transcript.checkpoint/v1", checkpoints(0, 1000), "lab")
    reason = refused(world.submit("transcript.checkpoint/v1", checkpoints(1000, 2000), "lab"))
    assert "does not continue the run's last, step 1000" in reason


def test_a_checkpoint_falls_on_the_interval(world: World) -> None:
    """A step that is neither a multiple of ``every`` nor the final step is refused."""
    world.ok("transcript.commit/v1", commit_body(), "lab")
    assert "neither a multiple" in refused(
        world.submit("transcript.checkpoint/v1", checkpoints(0, 1500), "lab")
    )


def test_no_checkpoint_is_skipped(world: World) -> None:
    """Each checkpoint follows the one before by ``every``: a skipped one would leave its
    segments without a committed start to replay from."""
    world.ok("transcript.commit/v1", commit_body(), "lab")
    world.ok("transcript.checkpoint/v1", checkpoints(0), "lab")
    assert "checkpoint step 2000 skips step 1000" in refused(
        world.submit("transcript.checkpoint/v1", checkpoints(2000), "lab")
    )
    assert "checkpoint step 3000 skips step 2000" in refused(
        world.submit("transcript.checkpoint/v1", checkpoints(1000, 3000), "lab")
    )


def test_a_checkpoint_past_the_steps_is_refused(world: World) -> None:
    """No checkpoint lies beyond the transcript's committed steps."""
    world.ok("transcript.commit/v1", commit_body(), "lab")
    assert "past the transcript's 4000 steps" in refused(
        world.submit("transcript.checkpoint/v1", checkpoints(0, 5000), "lab")
    )


def test_a_final_commitment_ends_at_the_final_step(world: World) -> None:
    """``final`` marks the final weights, at ``steps``."""
    world.ok("transcript.commit/v1", commit_body(), "lab")
    assert "ends at the final weights, step 4000" in refused(
        world.submit("transcript.checkpoint/v1", checkpoints(0, 1000, final=True), "lab")
    )


def test_the_final_weights_are_committed_as_final(world: World) -> None:
    """A checkpoint at ``steps`` without ``final`` would leave the transcript unclosed."""
    world.ok("transcript.commit/v1", commit_body(), "lab")
    assert "with final true" in refused(
        world.submit("transcript.checkpoint/v1", checkpoints(0, 1000, 2000, 3000, 4000), "lab")
    )


def test_the_final_steps_need_not_be_a_multiple_of_the_interval() -> None:
    """A run whose steps are not a multiple of ``every`` ends with a shorter segment."""
    w = World()
    w.basic()
    w.ok("run.declaration/v1", declaration("r1"), "lab")
    w.ok("transcript.commit/v1", commit_body(steps=2500), "lab")
    w.ok("transcript.checkpoint/v1", checkpoints(0, 1000, 2000, 2500, final=True), "lab")
    row = w.registry.get("transcripts", "r1")
    assert row is not None
    assert row["final_digest"] == digest(2500)


def test_nothing_follows_the_final_commitment(world: World) -> None:
    """After the final weights, no checkpoint may be committed."""
    final_idx = committed(world)
    reason = refused(world.submit("transcript.checkpoint/v1", checkpoints(5000), "lab"))
    assert f"already committed (entry {final_idx})" in reason


# -- replays -------------------------------------------------------------------------------------


def test_a_replay_is_kept_per_audit_and_segment(world: World) -> None:
    """An inspector's replay of a segment is kept with its figures."""
    committed(world)
    out = world.ok("transcript.replay/v1", replay_body(1), "iaea-1")
    row = world.registry.get("transcript_replays", "a1", 1)
    assert row is not None
    assert (row["start_step"], row["end_step"], row["passed"], row["idx"]) == (
        1000,
        2000,
        True,
        out.index,
    )


def test_only_the_named_inspector_replays(world: World) -> None:
    """The replay's inspector signs it: an operator, or another inspector, is forbidden."""
    committed(world)
    assert "inspector 'iaea-1'" in refused(
        world.submit("transcript.replay/v1", replay_body(1), "lab")
    )
    assert "inspector 'iaea-1'" in refused(
        world.submit("transcript.replay/v1", replay_body(1), "iaea-2")
    )


def test_a_replay_names_a_registered_inspector(world: World) -> None:
    """An inspector the registry does not hold cannot replay."""
    committed(world)
    body = replay_body(1, inspector_id="nobody")
    assert "inspector 'nobody' is not registered" in refused(
        world.submit("transcript.replay/v1", body, "iaea-1")
    )


def test_a_replay_waits_for_the_final_commitment(world: World) -> None:
    """Before the final commitment there is no beacon, hence no audit."""
    committed(world, final=False)
    assert "no final checkpoint commitment" in refused(
        world.submit("transcript.replay/v1", replay_body(1), "iaea-1")
    )


def test_a_replay_of_a_run_without_a_transcript_is_refused(world: World) -> None:
    """A run that committed nothing has nothing to replay."""
    assert "no transcript commitment" in refused(
        world.submit("transcript.replay/v1", replay_body(1), "iaea-1")
    )


def test_a_replay_of_a_segment_beyond_the_last_is_refused(world: World) -> None:
    """The transcript has ``ceil(steps / every)`` segments."""
    committed(world)
    body = replay_body(4, start_step=4000, end_step=5000)
    assert "has 4 segments" in refused(world.submit("transcript.replay/v1", body, "iaea-1"))


def test_a_replays_steps_are_its_segments(world: World) -> None:
    """A segment runs from checkpoint ``segment * every`` to the next; other steps are
    refused with both spans named."""
    committed(world)
    body = replay_body(1, start_step=1000, end_step=3000)
    reason = refused(world.submit("transcript.replay/v1", body, "iaea-1"))
    assert "runs from step 1000 to 2000, not from 1000 to 3000" in reason


def test_a_second_replay_of_a_segment_is_already_on_the_log(world: World) -> None:
    """One replay per (audit, segment)."""
    committed(world)
    first = world.ok("transcript.replay/v1", replay_body(1), "iaea-1")
    reason = refused(world.submit("transcript.replay/v1", replay_body(1), "iaea-1"))
    assert f"already on the log (entry {first.index})" in reason


# -- verdicts ------------------------------------------------------------------------------------


def test_a_passing_verdict_with_its_beacon_and_replays_is_kept(world: World) -> None:
    """The beacon is the root of the tree that ends with the final commitment; the drawn
    segments, each replayed and passed, make a pass."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body)
    world.ok("transcript.verdict/v1", body, "iaea-1")
    row = world.registry.get("transcript_verdicts", "a1")
    assert row is not None
    assert row["verdict"] == "pass"
    assert row["beacon"] == world.tree.root(final_idx + 1).hex() != world.tree.root().hex()
    assert json.loads(row["segments"]) == body["segments"]
    assert body["segments"][-1] == 3  # the final segment is always replayed
    assert json.loads(row["reasons"]) == []


def test_a_failed_replay_makes_a_fail(world: World) -> None:
    """A verdict of fail is kept when a drawn segment's replay failed."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx, verdict="fail")
    replayed(world, body, failing=frozenset({3}))
    world.ok("transcript.verdict/v1", body, "iaea-1")
    row = world.registry.get("transcript_verdicts", "a1")
    assert row is not None
    assert row["verdict"] == "fail"


def test_a_pass_over_a_failed_replay_is_refused(world: World) -> None:
    """``pass`` iff every replay passed: a pass over a failed replay names it."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body, failing=frozenset({3}))
    reason = refused(world.submit("transcript.verdict/v1", body, "iaea-1"))
    assert "verdict is pass, expected fail" in reason
    assert "[3]" in reason


@pytest.mark.parametrize("over", [{}, {"reasons": ["the manifest's final digest differs"]}])
def test_a_fail_must_have_a_cause(world: World, over: dict[str, Any]) -> None:
    """A fail with every replay passed and the inclusion test passed needs a reason: without
    one it is refused, with one it is kept (a failed inclusion test as the cause:
    test_a_failed_inclusion_test_makes_a_fail)."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx, verdict="fail", **over)
    replayed(world, body)
    out = world.submit("transcript.verdict/v1", body, "iaea-1")
    if over:
        assert out.accepted, out.reason
    else:
        assert "verdict is fail, expected pass" in refused(out)


def test_a_beacon_size_other_than_after_the_final_commitment_is_refused(world: World) -> None:
    """The beacon's tree ends with the final commitment: a later tree (which the prover
    might grind for) is refused, with the expected size named."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body)
    body["beacon_size"] = final_idx + 2
    body["beacon"] = world.tree.root(final_idx + 2).hex()
    reason = refused(world.submit("transcript.verdict/v1", body, "iaea-1"))
    assert f"beacon_size is {final_idx + 2}, expected {final_idx + 1}" in reason


def test_a_beacon_other_than_the_logs_root_is_refused(world: World) -> None:
    """The beacon is the log's own root at that size: any other is refused with both named."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body)
    body["beacon"] = OTHER
    reason = refused(world.submit("transcript.verdict/v1", body, "iaea-1"))
    assert f"beacon is {OTHER}, expected {world.tree.root(final_idx + 1).hex()}" in reason


def test_segments_other_than_the_draw_are_refused(world: World) -> None:
    """The fold draws the segments again from the beacon: an inspector's own choice (one
    that avoids a forged segment) is refused, with the expected draw named."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    expected = body["segments"]
    other = [*[s for s in range(3) if s not in expected][:1], 3]
    body["segments"] = other
    replayed(world, body)
    reason = refused(world.submit("transcript.verdict/v1", body, "iaea-1"))
    assert f"expected {expected}" in reason


def test_an_audit_stopped_by_an_integrity_check_fails_without_replays(world: World) -> None:
    """A fail whose reasons say why the audit stopped (a checkpoint unlike its commitment)
    names the drawn segments and is kept without replaying them; without reasons it is
    refused, since nothing on the log would then show why it failed."""
    final_idx = committed(world)
    stopped = {
        **verdict_body(world, final_idx),
        "compute_fraction": 0.0,
        "verdict": "fail",
        "reasons": ["checkpoint_digests: step 2 differs from its commitment"],
    }
    reason = refused(world.submit("transcript.verdict/v1", {**stopped, "reasons": []}, "iaea-1"))
    assert "no replay of segment" in reason
    world.ok("transcript.verdict/v1", stopped, "iaea-1")
    row = world.registry.get("transcript_verdicts", "a1")
    assert row is not None
    assert row["verdict"] == "fail"


def test_a_verdict_needs_a_replay_of_every_drawn_segment(world: World) -> None:
    """A drawn segment with no replay of this audit on the log is named."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    world.ok("transcript.replay/v1", replay_body(3), "iaea-1")
    missing = body["segments"][0]
    reason = refused(world.submit("transcript.verdict/v1", body, "iaea-1"))
    assert f"no replay of segment {missing}" in reason


def test_replays_of_another_inspector_do_not_count(world: World) -> None:
    """The audit's replays are its own inspector's."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    for segment in body["segments"]:
        world.ok("transcript.replay/v1", replay_body(segment, inspector_id="iaea-2"), "iaea-2")
    reason = refused(world.submit("transcript.verdict/v1", body, "iaea-1"))
    assert "by 'iaea-2'" in reason


def test_only_the_named_inspector_signs_the_verdict(world: World) -> None:
    """An operator cannot sign a verdict on its own run."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body)
    assert "inspector 'iaea-1'" in refused(world.submit("transcript.verdict/v1", body, "lab"))


def test_a_verdict_waits_for_the_final_commitment(world: World) -> None:
    """No final commitment, no beacon, no verdict."""
    committed(world, final=False)
    body = verdict_body(world, world.registry.applied - 1)
    assert "no final checkpoint commitment" in refused(
        world.submit("transcript.verdict/v1", body, "iaea-1")
    )


def test_an_audit_has_one_verdict_and_no_replay_after_it(world: World) -> None:
    """A second verdict, or a replay after the verdict, is refused."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body)
    first = world.ok("transcript.verdict/v1", body, "iaea-1")
    again = f"already has its verdict on the log (entry {first.index})"
    assert again in refused(world.submit("transcript.verdict/v1", body, "iaea-1"))
    assert again in refused(world.submit("transcript.replay/v1", replay_body(0), "iaea-1"))


def test_a_fold_without_the_logs_tree_cannot_take_a_verdict(world: World) -> None:
    """A fold that cannot read the log's tree refuses a verdict rather than keep it
    unchecked."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body)
    world.registry.roots = None
    assert "no view of the log's tree" in refused(
        world.submit("transcript.verdict/v1", body, "iaea-1")
    )


def test_the_views_rebuild_from_the_log(world: World) -> None:
    """Folding the same entries again from nothing gives the same transcript views."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body)
    world.ok("transcript.verdict/v1", body, "iaea-1")
    again = new_registry({world.secretariat.signer_id}, roots=world.tree.root)
    for i, (at, statement) in enumerate(world.log):
        again.apply(i, at, statement)
    for view in (
        "transcripts",
        "transcript_checkpoints",
        "transcript_replays",
        "transcript_audits",
        "transcript_verdicts",
    ):
        assert again.views[view] == world.registry.views[view]


def test_a_verdict_too_long_after_its_beacon_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verdict more than MAX_BEACON_LAG entries after the final commitment is refused: an
    audit keeps only that window of roots to recompute the beacon from."""
    from pausewatch.transcript import _fold

    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body)
    monkeypatch.setattr(_fold, "MAX_BEACON_LAG", 1)
    assert "entries old" in refused(world.submit("transcript.verdict/v1", body, "iaea-1"))


# -- audit ids -----------------------------------------------------------------------------------


def test_an_audit_id_belongs_to_the_inspector_that_first_used_it(world: World) -> None:
    """Another inspector that takes an audit id first keeps it: the inspector that comes
    second can neither replay nor conclude under it, and is told whose it is and to choose
    another id; the first goes on under it."""
    final_idx = committed(world)
    taken = world.ok("transcript.replay/v1", replay_body(1, inspector_id="iaea-2"), "iaea-2")
    reason = refused(world.submit("transcript.replay/v1", replay_body(0), "iaea-1"))
    assert f"its first statement (entry {taken.index}) is by 'iaea-2', not 'iaea-1'" in reason
    assert "choose another audit id" in reason
    stopped = {
        **verdict_body(world, final_idx),
        "compute_fraction": 0.0,
        "verdict": "fail",
        "reasons": ["checkpoint_digests: step 2 differs from its commitment"],
    }
    reason = refused(world.submit("transcript.verdict/v1", stopped, "iaea-1"))
    assert "audit 'a1' is another inspector's" in reason
    world.ok("transcript.replay/v1", replay_body(0, inspector_id="iaea-2"), "iaea-2")


def test_an_audit_id_belongs_to_one_run(world: World) -> None:
    """An audit's replays are of one run: a replay of another run under its id is refused."""
    world.ok("run.declaration/v1", declaration("r2"), "lab")
    committed(world)
    world.ok("transcript.commit/v1", commit_body(run_id="r2"), "lab")
    world.ok("transcript.checkpoint/v1", checkpoints(0, 1000, 2000, 3000, run_id="r2"), "lab")
    world.ok("transcript.checkpoint/v1", checkpoints(4000, final=True, run_id="r2"), "lab")
    world.ok("transcript.replay/v1", replay_body(1), "iaea-1")
    reason = refused(world.submit("transcript.replay/v1", replay_body(0, run_id="r2"), "iaea-1"))
    assert "audit 'a1' is of run 'r1'" in reason


def test_audit_owners_survive_a_fold_from_the_views(world: World) -> None:
    """Whose an audit id is follows from the views alone (``transcript_audits``): a registry
    loaded from them (as the service loads its database) refuses another inspector's replay
    just the same."""
    committed(world)
    world.ok("transcript.replay/v1", replay_body(1, inspector_id="iaea-2"), "iaea-2")
    again = new_registry({world.secretariat.signer_id}, roots=world.tree.root)
    again.views = {view: dict(rows) for view, rows in world.registry.views.items()}
    again.applied = world.registry.applied
    world.registry = again
    assert "is by 'iaea-2', not 'iaea-1'" in refused(
        world.submit("transcript.replay/v1", replay_body(0), "iaea-1")
    )


# -- the verdict's figures -----------------------------------------------------------------------


def test_a_failed_inclusion_test_makes_a_fail() -> None:
    """From MIN_PAIRS segments on, replays whose own batches lost less than held-out records
    fail the inclusion test the fold recomputes: a fail with those figures is kept without a
    reason, and a pass that claims the test passed is refused."""
    w = World()
    w.basic()
    w.ok("run.declaration/v1", declaration("r1"), "lab")
    inspector(w)
    steps = 10 * EVERY
    w.ok("transcript.commit/v1", commit_body(steps=steps), "lab")
    w.ok("transcript.checkpoint/v1", checkpoints(*range(0, steps, EVERY)), "lab")
    final_idx = w.ok("transcript.checkpoint/v1", checkpoints(steps, final=True), "lab").index
    drawn = list(range(10))
    for segment in drawn:
        body = replay_body(segment, train_loss_drop=0.1, heldout_loss_drop=0.3)
        w.ok("transcript.replay/v1", {**body, "end_step": (segment + 1) * EVERY}, "iaea-1")
    size = final_idx + 1
    body = {
        **verdict_body(w, final_idx),
        "budget": 1.0,
        "beacon": w.tree.root(size).hex(),
        "segments": drawn,
        **figures(drawn, steps, train=0.1, heldout=0.3),
    }
    assert body["inclusion_passed"] is False
    claimed = {**body, "inclusion_passed": True}
    reason = refused(w.submit("transcript.verdict/v1", claimed, "iaea-1"))
    assert "inclusion_passed is True, the replays give False" in reason
    w.ok("transcript.verdict/v1", {**body, "verdict": "fail"}, "iaea-1")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("inclusion_statistic", 99.0),
        ("inclusion_p_value", 0.001),
        ("inclusion_passed", False),
        ("compute_fraction", 0.5),
    ],
)
def test_a_verdicts_figures_are_recomputed_from_its_replays(
    world: World, field: str, value: Any
) -> None:
    """The inclusion test's statistic, p-value and outcome and the compute the audit spent
    are recomputed from the replays on the log: a verdict that states others (an inclusion
    test failed over replays that pass it, to turn them into a fail) is refused, with both
    figures named."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx)
    replayed(world, body)
    wrong = {**body, field: value, "verdict": "fail" if field == "inclusion_passed" else "pass"}
    reason = refused(world.submit("transcript.verdict/v1", wrong, "iaea-1"))
    assert f"{field} is {value!r}, the replays give {body[field]!r}" in reason
    world.ok("transcript.verdict/v1", body, "iaea-1")


def test_a_stopped_audits_compute_is_what_it_replayed(world: World) -> None:
    """An audit stopped before replaying spent no replay compute: a fail without replays that
    states some is refused."""
    final_idx = committed(world)
    stopped = {
        **verdict_body(world, final_idx),
        "verdict": "fail",
        "reasons": ["checkpoint_digests: step 2 differs from its commitment"],
    }
    reason = refused(world.submit("transcript.verdict/v1", stopped, "iaea-1"))
    assert "compute_fraction is" in reason
    world.ok("transcript.verdict/v1", {**stopped, "compute_fraction": 0.0}, "iaea-1")


@given(
    drops=st.lists(
        st.tuples(
            st.floats(-10, 10, allow_nan=False, allow_infinity=False),
            st.floats(-10, 10, allow_nan=False, allow_infinity=False),
        ),
        min_size=1,
        max_size=12,
    ),
    replayed=st.integers(0, 10**9),
    steps=st.integers(1, 10**9),
)
@settings(deadline=None, max_examples=60)
def test_the_figures_survive_the_logs_json(
    drops: list[tuple[float, float]], replayed: int, steps: int
) -> None:
    """The log keeps statements as RFC 8785 JSON: the replays' loss drops and the verdict's
    figures read back from it are the same floats, so the fold's recomputation from them
    equals the engine's exactly."""
    from pausewatch.statements import canonical

    engine = inclusion_test([Drops(t, h) for t, h in drops])
    stated = {
        "drops": [list(d) for d in drops],
        "figures": [engine.statistic, engine.p_value, compute_fraction(replayed, steps)],
    }
    read = json.loads(canonical(stated))
    again = inclusion_test([Drops(t, h) for t, h in read["drops"]])
    assert [again.statistic, again.p_value, compute_fraction(replayed, steps)] == read["figures"]
    assert read["figures"] == stated["figures"]


def test_a_replay_only_checked_takes_no_audit_id(world: World) -> None:
    """A replay the service only checks (the fold's dry run before it appends) is not on the
    log: it takes no audit id, and the inspector whose replay is folded first owns it."""
    committed(world)
    checked = world.sign("transcript.replay/v1", replay_body(1, inspector_id="iaea-2"), "iaea-2")
    assert world.registry.check(checked, world.now) is None
    assert world.registry.views["transcript_audits"] == {}
    world.ok("transcript.replay/v1", replay_body(0), "iaea-1")
    assert "is by 'iaea-1', not 'iaea-2'" in refused(
        world.submit("transcript.replay/v1", replay_body(1, inspector_id="iaea-2"), "iaea-2")
    )


def test_a_replay_beyond_the_draw_counts_like_a_drawn_one(world: World) -> None:
    """Segments an audit replayed beyond the draw (those the interpolation screen targets)
    count in the verdict: a pass over a failed one is refused, a fail is kept, and they count
    in the figures the fold recomputes."""
    final_idx = committed(world)
    body = verdict_body(world, final_idx, budget=0.25)
    replayed(world, body)
    extra = next(s for s in range(segment_count(STEPS, EVERY)) if s not in body["segments"])
    world.ok("transcript.replay/v1", replay_body(extra, passed=False), "iaea-1")
    every = sorted([*body["segments"], extra])
    stated = {**body, **figures(every)}
    reason = refused(world.submit("transcript.verdict/v1", stated, "iaea-1"))
    assert "verdict is pass, expected fail" in reason
    short = {**body, "verdict": "fail", "reasons": ["segment replayed beyond the draw failed"]}
    # Figures of the drawn replays alone leave the extra one out: refused.
    assert "from the audit's 3 replays" in refused(
        world.submit("transcript.verdict/v1", short, "iaea-1")
    )
    world.ok(
        "transcript.verdict/v1",
        {**stated, "verdict": "fail", "reasons": ["segment replayed beyond the draw failed"]},
        "iaea-1",
    )
