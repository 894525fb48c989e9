"""The transcript statement kinds (issue 17, §1; contract T4): their fields, in order, and the
consistency their models check before any fold sees them."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pydantic import ValidationError

from pausewatch.statements import body_model, canonical, kinds
from pausewatch.transcript import TRANSCRIPT_KINDS
from pausewatch.transcript._statements import MAX_SEGMENTS

D = hashlib.sha256(b"x").hexdigest()


def commit(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": "r1",
        "recipe": "mlp",
        "hyperparameters_digest": D,
        "seed_commitment": D,
        "dataset_root": D,
        "dataset_records": 100,
        "every": 10,
        "steps": 40,
    }
    return {**body, **over}


def replay(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "audit_id": "a1",
        "run_id": "r1",
        "inspector_id": "i1",
        "segment": 1,
        "start_step": 10,
        "end_step": 20,
        "distance": 0.01,
        "tolerance": 0.05,
        "passed": True,
        "train_loss_drop": 0.3,
        "heldout_loss_drop": 0.1,
        "steps_replayed": 10,
    }
    return {**body, **over}


def verdict(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "audit_id": "a1",
        "run_id": "r1",
        "inspector_id": "i1",
        "budget": 0.5,
        "beacon_size": 12,
        "beacon": D,
        "segments": [1, 3],
        "verdict": "pass",
        "inclusion_statistic": 2.5,
        "inclusion_p_value": 0.01,
        "inclusion_passed": True,
        "compute_fraction": 0.5,
        "reasons": [],
        "manifest_digest": D,
    }
    return {**body, **over}


def parse(kind: str, body: dict[str, Any]) -> Any:
    return body_model(kind).model_validate_json(canonical(body))


def test_the_four_kinds_are_registered_with_their_contract_fields_in_order() -> None:
    """T4's kinds are statement kinds, each with exactly its fields in the contract's order."""
    assert set(TRANSCRIPT_KINDS) <= set(kinds())
    assert list(body_model("transcript.commit/v1").model_fields) == [*commit(), "framework"]
    assert list(body_model("transcript.checkpoint/v1").model_fields) == [
        "run_id",
        "checkpoints",
        "final",
    ]
    assert list(body_model("transcript.replay/v1").model_fields) == list(replay())
    assert list(body_model("transcript.verdict/v1").model_fields) == list(verdict())


def test_signers_are_the_operator_and_the_inspector() -> None:
    """Commitments are the operator's; replays and verdicts an inspector's."""
    roles = {kind: body_model(kind).signed_by for kind in TRANSCRIPT_KINDS}
    assert roles == {
        "transcript.commit/v1": "operator",
        "transcript.checkpoint/v1": "operator",
        "transcript.replay/v1": "inspector",
        "transcript.verdict/v1": "inspector",
    }


def test_valid_bodies_parse() -> None:
    """The bodies the other tests mutate are valid as they stand."""
    parse("transcript.commit/v1", commit())
    parse("transcript.replay/v1", replay())
    parse("transcript.verdict/v1", verdict())
    parse("transcript.checkpoint/v1", {"run_id": "r1", "checkpoints": [{"step": 0, "digest": D}]})


def test_a_commitment_with_too_many_segments_is_refused() -> None:
    """A transcript of more than a million segments could not be drawn from in memory."""
    parse("transcript.commit/v1", commit(steps=MAX_SEGMENTS, every=1))
    with pytest.raises(ValidationError, match="segments; at most"):
        parse("transcript.commit/v1", commit(steps=MAX_SEGMENTS + 1, every=1))


@pytest.mark.parametrize(
    "checkpoints",
    [
        [],
        [{"step": 0, "digest": D}, {"step": 0, "digest": D}],
        [{"step": 20, "digest": D}, {"step": 10, "digest": D}],
    ],
)
def test_checkpoints_are_one_or_more_with_strictly_increasing_steps(
    checkpoints: list[dict[str, Any]],
) -> None:
    """An empty commitment, a repeated step or a step going back is refused."""
    with pytest.raises(ValidationError):
        parse("transcript.checkpoint/v1", {"run_id": "r1", "checkpoints": checkpoints})


def test_a_replay_ends_after_it_starts() -> None:
    """A segment replays at least one step."""
    with pytest.raises(ValidationError, match="must be after start_step"):
        parse("transcript.replay/v1", replay(end_step=10))


@pytest.mark.parametrize(("distance", "passed"), [(0.06, True), (0.01, False)])
def test_a_replays_passed_is_its_distance_within_its_tolerance(
    distance: float, passed: bool
) -> None:
    """``passed`` says exactly whether the distance is within the tolerance."""
    with pytest.raises(ValidationError, match="tolerance"):
        parse("transcript.replay/v1", replay(distance=distance, passed=passed))


def test_a_replay_at_its_tolerance_passes() -> None:
    """Within is inclusive: a distance equal to the tolerance passes."""
    parse("transcript.replay/v1", replay(distance=0.05, tolerance=0.05, passed=True))


@pytest.mark.parametrize("segments", [[], [3, 1], [1, 1]])
def test_a_verdicts_segments_are_strictly_ascending(segments: list[int]) -> None:
    """The drawn segments come ascending, each once, at least one."""
    with pytest.raises(ValidationError):
        parse("transcript.verdict/v1", verdict(segments=segments))


def test_a_pass_needs_the_inclusion_test_passed() -> None:
    """A verdict of pass with a failed inclusion test contradicts itself."""
    with pytest.raises(ValidationError, match="inclusion test"):
        parse("transcript.verdict/v1", verdict(inclusion_passed=False))


def test_a_pass_gives_no_reasons() -> None:
    """A verdict of pass with a reason to fail contradicts itself."""
    with pytest.raises(ValidationError, match="no reasons"):
        parse("transcript.verdict/v1", verdict(reasons=["final digest differs"]))


@pytest.mark.parametrize("budget", [0, 1.5])
def test_a_budget_is_a_fraction_above_zero(budget: float) -> None:
    """An audit replays something, and at most the whole run."""
    with pytest.raises(ValidationError):
        parse("transcript.verdict/v1", verdict(budget=budget))


def test_an_eval_result_without_weights_reads_as_before() -> None:
    """``weights_digest`` is optional: a result signed before it existed parses, naming none."""
    body = {
        "result_id": "res-old",
        "evaluator_id": "aisi",
        "model": "m1",
        "inspect_model": "pausewatch/scripted",
        "domain": "cyber_offence",
        "probe_id": "pausewatch/recover_flag",
        "task": "recover_flag",
        "task_version": 1,
        "status": "success",
        "samples": 10,
        "completed_samples": 10,
        "epochs": 1,
        "metrics": [
            {"name": "accuracy", "value": 0.1, "ci_low": 0.0, "ci_high": 0.4, "method": "wilson"}
        ],
        "elicitation": {"solver": "generate", "agent": False},
        "log_digest": D,
    }
    assert "weights_digest" not in body
    assert parse("eval.result/v1", body).weights_digest is None
    assert parse("eval.result/v1", {**body, "weights_digest": D}).weights_digest == D
