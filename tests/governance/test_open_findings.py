"""When a critical finding stops being open (docs/adr/0012): a capability established is open
until a pause is decided after it; a run above the prohibition until it has stopped, as a
confirmed halt order or its end with no order pending says; the figure is the state's."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pausewatch.policy import Facts, evaluate, load_preset, policy_digest, policy_to_json
from pausewatch.policy._findings import Finding, FindingKind, Severity
from pausewatch.policy._model import Action, Fact
from pausewatch.state import evaluated, facts_from_registry
from pausewatch.state._resolution import resolution
from registry.world import World, key  # type: ignore[import-not-found]


@pytest.fixture
def world() -> World:
    w = World()
    policy = load_preset("miri-2025")
    body = {
        "policy": policy_to_json(policy),
        "digest": policy_digest(policy),
        "effective_at": "2026-01-01T00:00:00Z",
    }
    w.ok("policy.adopt/v1", body, w.secretariat)
    w.party("us")
    w.keys["us-delegate"] = key("us-delegate")
    w.ok("delegate.register/v1", {"party_id": "us", "key": w.keys["us-delegate"].signer_id}, "us")
    w.keys["aisi"] = key("aisi")
    evaluator = {
        "evaluator_id": "aisi",
        "party_id": "us",
        "name": "AISI",
        "key": w.keys["aisi"].signer_id,
    }
    w.ok("evaluator.register/v1", evaluator, "us")
    probes = [{"probe_id": "pausewatch/repair_training_run", "version": 1}]
    w.ok("eval.suite/v1", {"domain": "ai_rnd_automation", "probes": probes}, w.secretariat)
    return w


def critical_result(w: World, result_id: str) -> None:
    body: dict[str, Any] = {
        "result_id": result_id,
        "evaluator_id": "aisi",
        "model": "m1",
        "inspect_model": "pausewatch/scripted",
        "domain": "ai_rnd_automation",
        "probe_id": "pausewatch/repair_training_run",
        "task": "repair_training_run",
        "task_version": 1,
        "status": "success",
        "samples": 40,
        "completed_samples": 40,
        "epochs": 1,
        "metrics": [
            {"name": "accuracy", "value": 0.95, "ci_low": 0.9, "ci_high": 0.99, "method": "wilson"}
        ],
        "elicitation": {"solver": "generate", "agent": False},
        "log_digest": hashlib.sha256(result_id.encode()).hexdigest(),
    }
    w.ok("eval.result/v1", body, "aisi")


def open_critical(w: World) -> float:
    facts = facts_from_registry(w.registry, w.now, w.registry.policy_at(w.now))
    return facts.state[Fact.OPEN_CRITICAL_FINDINGS]


def pause_step(w: World, pid: str, kind: str) -> None:
    w.ok("gov.proposal/v1", {"proposal_id": pid, "kind": kind}, "us-delegate")
    w.ok("gov.vote/v1", {"proposal_id": pid, "choice": "yes"}, "us-delegate")
    closes = datetime.fromisoformat(w.registry.get("proposals", pid)["closes_at"])
    w.now = closes + timedelta(minutes=1)
    decision = {"proposal_id": pid, "passed": True, "yes": 1, "no": 0, "abstain": 0}
    w.ok("gov.decision/v1", decision, w.secretariat)


def test_a_critical_capability_is_open_until_a_pause_is_decided_after_it(world: World) -> None:
    """A capability established is open; a pause decided after it answers it; a second one
    established during the pause is open again until the pause is renewed."""
    w = world
    assert open_critical(w) == 0
    critical_result(w, "res-1")
    assert open_critical(w) == 1
    pause_step(w, "pause-1", "pause_start")
    assert open_critical(w) == 0
    critical_result(w, "res-2")
    assert open_critical(w) == 1
    pause_step(w, "renew-1", "pause_renew")
    assert open_critical(w) == 0


AT = datetime(2027, 3, 1, tzinfo=UTC)


def facts(status: str, *orders: str) -> Facts:
    return Facts.model_validate(
        {
            "runs": [
                {
                    "id": "r1",
                    "operator": "lab",
                    "cluster": "c1",
                    "model": "m1",
                    "phase": "pretraining",
                    "declared": {"value": 2e24},
                    "status": status,
                }
            ],
            "orders": [
                {
                    "id": f"halt-{n}",
                    "subject": subject,
                    "deadline": "2027-02-01T00:00:00Z",
                    "status": state,
                }
                for n, (subject, state) in enumerate(o.split("=") for o in orders)
            ],
        }
    )


PROHIBITED = Finding(
    FindingKind.PROHIBITED_COMPUTE,
    Severity.CRITICAL,
    "run:r1",
    "run r1 is above the prohibition",
    action=Action.HALT_PROPOSAL,
)


@pytest.mark.parametrize(
    ("status", "orders", "resolved"),
    [
        ("running", (), False),
        ("running", ("run:r1=pending",), False),
        ("running", ("run:r1=confirmed",), True),
        ("running", ("cluster:c1=confirmed",), True),
        ("running", ("cluster:c2=confirmed",), False),
        ("halted", (), True),
        ("halted", ("run:r1=pending",), False),
        ("halted", ("run:r1=silent",), False),
        ("halted", ("run:r1=violated",), True),
        ("halted", ("run:r1=unacknowledged",), True),
        ("running", ("run:r1=unacknowledged",), False),
        ("planned", (), False),
        ("finished", ("run:r1=confirmed",), True),
    ],
)
def test_a_run_above_the_prohibition_is_resolved_once_it_has_stopped(
    world: World, status: str, orders: tuple[str, ...], resolved: bool
) -> None:
    """A halt-proposal finding is resolved when a halt order covering the run (or its
    cluster) is confirmed, or the run is no longer planned or running with no order covering
    it pending or silent (a violated or unacknowledged order is its own finding)."""
    got = resolution(world.registry, facts(status, *orders), AT, PROHIBITED)
    assert (got is not None) is resolved, got


def test_a_model_finding_is_resolved_when_every_run_of_the_model_stopped(world: World) -> None:
    """A model's lineage above the prohibition is resolved once all its runs have stopped."""
    finding = PROHIBITED._replace(subject="model:m1")
    assert resolution(world.registry, facts("running"), AT, finding) is None
    assert resolution(world.registry, facts("halted"), AT, finding) is not None
    other = finding._replace(subject="model:m-unknown")
    assert resolution(world.registry, facts("halted"), AT, other) is None


def test_one_evaluation_gives_what_evaluating_the_full_facts_gives(world: World) -> None:
    """The evaluation that counts the open critical findings, with its lift conditions checked
    again on the full state, is byte for byte the evaluation of the full facts."""
    w = world
    critical_result(w, "res-1")
    policy = w.registry.policy_at(w.now)
    facts, result = evaluated(w.registry, w.now, policy)
    assert facts.state[Fact.OPEN_CRITICAL_FINDINGS] == 1
    assert result.canonical_bytes() == evaluate(policy, facts, w.now).canonical_bytes()
    assert facts == facts_from_registry(w.registry, w.now, policy)
