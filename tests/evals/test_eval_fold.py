"""Evaluations in the fold: who may register evaluators, adopt suites and sign results; failed
results stand until a success supersedes them; the facts the policy reads from the views."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from pydantic import ValidationError

from pausewatch.evals import EvalSuite
from pausewatch.policy import FindingKind, evaluate, load_preset, policy_digest, policy_to_json
from pausewatch.policy._model import Fact
from pausewatch.state import facts_from_registry
from registry.world import World, declaration, key  # type: ignore[import-not-found]

DIGEST = hashlib.sha256(b"an inspect log").hexdigest()


def result(result_id: str, **over: Any) -> dict[str, Any]:
    """A valid eval.result/v1 body of evaluator ``aisi`` on model ``m1``."""
    body: dict[str, Any] = {
        "result_id": result_id,
        "evaluator_id": "aisi",
        "model": "m1",
        "inspect_model": "pausewatch/scripted",
        "domain": "ai_rnd_automation",
        "probe_id": "pausewatch/fix_training_config",
        "task": "fix_training_config",
        "task_version": 1,
        "status": "success",
        "samples": 10,
        "completed_samples": 10,
        "epochs": 1,
        "metrics": [
            {"name": "accuracy", "value": 0.3, "ci_low": 0.1, "ci_high": 0.4, "method": "wilson"}
        ],
        "elicitation": {"solver": "basic_agent", "agent": True, "tools": ["bash"]},
        "log_digest": DIGEST,
    }
    body.update(over)
    return body


@pytest.fixture
def world() -> World:
    w = World()
    policy = load_preset("miri-2025")
    w.ok(
        "policy.adopt/v1",
        {
            "policy": policy_to_json(policy),
            "digest": policy_digest(policy),
            "effective_at": "2026-01-01T00:00:00Z",
        },
        w.secretariat,
    )
    w.party("uk")
    w.party("us")
    w.keys["aisi"] = key("aisi")
    w.ok(
        "evaluator.register/v1",
        {"evaluator_id": "aisi", "party_id": "uk", "name": "AISI", "key": w.keys["aisi"].signer_id},
        "uk",
    )
    # The results below count (docs/adr/0021): their probe is the adopted suite's, and a
    # declared run (too small to require evaluation) trains their model.
    suite = [{"probe_id": "pausewatch/fix_training_config", "version": 1}]
    w.ok("eval.suite/v1", {"domain": "ai_rnd_automation", "probes": suite}, w.secretariat)
    w.operator("lab", "us")
    w.facility("f1", "lab")
    w.cluster("c1", "f1", "lab")
    w.ok("run.declaration/v1", declaration("run-0", planned_flop=1e20), "lab")
    return w


def findings(w: World) -> dict[str, set[FindingKind]]:
    policy = w.registry.policy_at(w.now)
    facts = facts_from_registry(w.registry, w.now, policy)
    out: dict[str, set[FindingKind]] = {}
    for f in evaluate(policy, facts, w.now).findings:  # type: ignore[arg-type]
        out.setdefault(f.subject, set()).add(f.kind)
    return out


def test_only_the_party_or_the_secretariat_registers_an_evaluator(world: World) -> None:
    w = world
    other = key("other")
    body = {"evaluator_id": "x", "party_id": "uk", "name": "X", "key": other.signer_id}
    refused = w.submit("evaluator.register/v1", body, "us")
    assert not refused.accepted
    assert "must be signed by a live key of party 'uk'" in (refused.reason or "")
    international = {"evaluator_id": "intl", "name": "International", "key": other.signer_id}
    assert not w.submit("evaluator.register/v1", international, "us").accepted
    assert w.submit("evaluator.register/v1", international, w.secretariat).accepted


def test_only_the_evaluator_signs_its_results(world: World) -> None:
    w = world
    for signer in ("uk", "us", w.secretariat):
        refused = w.submit("eval.result/v1", result("r1"), signer)
        assert not refused.accepted
        assert "evaluator 'aisi'" in (refused.reason or "")
    assert w.submit("eval.result/v1", result("r1"), "aisi").accepted
    again = w.submit("eval.result/v1", result("r1"), "aisi")
    assert not again.accepted
    assert "already on the log" in (again.reason or "")


def test_a_revoked_evaluator_key_signs_nothing(world: World) -> None:
    w = world
    revoke = {"subject_kind": "evaluator", "subject_id": "aisi", "reason": "key leaked"}
    assert w.submit("key.revoke/v1", revoke, "uk").accepted
    assert not w.submit("eval.result/v1", result("r1"), "aisi").accepted


def test_a_failed_result_stands_until_a_success_supersedes_it(world: World) -> None:
    w = world
    failed = result("r1", status="error", metrics=[], error="sandbox crashed")
    assert w.submit("eval.result/v1", failed, "aisi").accepted
    assert findings(w)["eval:r1"] == {FindingKind.CAPABILITY_ALERT}
    # Another probe's success does not supersede it.
    other = result("r2", probe_id="pausewatch/other")
    assert w.submit("eval.result/v1", other, "aisi").accepted
    assert "eval:r1" in findings(w)
    assert w.submit("eval.result/v1", result("r3"), "aisi").accepted
    row = w.registry.get("eval_results", "r1")
    assert row is not None
    assert row["superseded_by"] == "r3"
    assert "eval:r1" not in findings(w)


def test_a_success_is_never_superseded(world: World) -> None:
    """A lower score later does not erase a critical one."""
    w = world
    high = [{"name": "accuracy", "value": 0.95, "ci_low": 0.9, "ci_high": 1.0, "method": "wilson"}]
    assert w.submit("eval.result/v1", result("r1", metrics=high), "aisi").accepted
    assert w.submit("eval.result/v1", result("r2"), "aisi").accepted
    found = findings(w)
    assert found["eval:r1"] == {FindingKind.CAPABILITY_CRITICAL}
    assert "eval:r2" not in found  # upper bound 0.4 under the 0.45 alert level (buffer 0.05)


def test_incomplete_results_are_not_a_pass(world: World) -> None:
    w = world
    partial = result("r1", status="incomplete", completed_samples=4)
    assert w.submit("eval.result/v1", partial, "aisi").accepted
    assert findings(w)["eval:r1"] == {FindingKind.CAPABILITY_ALERT}


def test_suites_adopted_count_domains_and_mark_results(world: World) -> None:
    w = world
    suite = {
        "domain": "ai_rnd_automation",
        "probes": [{"probe_id": "pausewatch/fix_training_config", "version": 1}],
    }
    assert not w.submit("eval.suite/v1", suite, "uk").accepted
    assert w.submit("eval.suite/v1", suite, w.secretariat).accepted
    cyber = {"domain": "cyber_offence", "probes": [{"probe_id": "pausewatch/x", "version": 2}]}
    assert w.submit("eval.suite/v1", cyber, w.secretariat).accepted
    facts = facts_from_registry(w.registry, w.now, w.registry.policy_at(w.now))
    assert facts.state[Fact.EVAL_DOMAINS_ADOPTED] == 2.0
    assert w.submit("eval.result/v1", result("r1"), "aisi").accepted
    assert w.submit("eval.result/v1", result("r2", task_version=2), "aisi").accepted
    pinned = w.registry.get("eval_results", "r1")
    other_version = w.registry.get("eval_results", "r2")
    assert pinned is not None
    assert other_version is not None
    assert (pinned["in_suite"], other_version["in_suite"]) == (True, False)
    withdrawn = {"domain": "cyber_offence", "probes": []}
    assert w.submit("eval.suite/v1", withdrawn, w.secretariat).accepted
    facts = facts_from_registry(w.registry, w.now, w.registry.policy_at(w.now))
    assert facts.state[Fact.EVAL_DOMAINS_ADOPTED] == 1.0


def test_an_elicitation_pin_is_kept_with_its_probe(world: World) -> None:
    """An adoption may pin the least elicitation per probe; the view keeps the pin with its
    probe, and a probe adopted without one reads exactly as before the pin existed."""
    w = world
    probes = [
        {"probe_id": "pausewatch/a", "version": 1, "elicitation": {"min_epochs": 5}},
        {"probe_id": "pausewatch/b", "version": 2},
    ]
    w.ok("eval.suite/v1", {"domain": "cyber_offence", "probes": probes}, w.secretariat)
    row = w.registry.get("eval_suites", "cyber_offence")
    assert row is not None
    assert json.loads(row["probes"]) == [
        {"probe_id": "pausewatch/a", "version": 1, "elicitation": {"min_epochs": 5}},
        {"probe_id": "pausewatch/b", "version": 2},
    ]
    bad = [{"probe_id": "pausewatch/a", "version": 1, "elicitation": {"min_epochs": 0}}]
    EvalSuite.model_validate_json(json.dumps({"domain": "cyber_offence", "probes": probes}))
    with pytest.raises(ValidationError, match=r"probes\.0\.elicitation\.min_epochs"):
        EvalSuite.model_validate_json(json.dumps({"domain": "cyber_offence", "probes": bad}))


def test_the_evaluation_requirement_is_met_by_a_result(world: World) -> None:
    """A model above the policy's evaluation floor with no result is not ruled out; a result
    of the adopted suite in each required domain clears the finding."""
    w = world
    suite = [{"probe_id": "pausewatch/fix_training_config", "version": 1}]
    w.ok("eval.suite/v1", {"domain": "self_improvement", "probes": suite}, w.secretariat)
    w.ok("run.declaration/v1", declaration("run-1"), "lab")
    assert FindingKind.CAPABILITY_UNEVALUATED in findings(w)["model:m1"]
    for rid, domain in (("r1", "ai_rnd_automation"), ("r2", "self_improvement")):
        assert w.submit("eval.result/v1", result(rid, domain=domain), "aisi").accepted
    assert FindingKind.CAPABILITY_UNEVALUATED not in findings(w).get("model:m1", set())


def test_a_success_without_the_triggers_metric_does_not_clear_a_failure(world: World) -> None:
    """A failed result is superseded only by a success that reports what the policy reads."""
    w = world
    failed = result("r1", status="error", metrics=[], error="crashed")
    assert w.submit("eval.result/v1", failed, "aisi").accepted
    mean_only = [{"name": "mean", "value": 0.1, "ci_low": 0.0, "ci_high": 0.2, "method": "normal"}]
    assert w.submit("eval.result/v1", result("r2", metrics=mean_only), "aisi").accepted
    assert findings(w)["eval:r1"] == {FindingKind.CAPABILITY_ALERT}
    other_domain = result("r3", domain="cyber_offence")
    assert w.submit("eval.result/v1", other_domain, "aisi").accepted
    row = w.registry.get("eval_results", "r1")
    assert row is not None
    assert row["superseded_by"] == "r2"  # the view records the later success of its probe...
    assert "eval:r1" in findings(w)  # ...but the policy reads accuracy, which r2 lacks


def test_two_metrics_of_one_domain_name_their_facts_apart() -> None:
    """A policy reading two metrics in one domain gives each result two facts, named
    ``<result>/<metric>``; result ids cannot hold ``/``, so no two facts share a name."""
    from pausewatch.evals._judge import eval_facts
    from pausewatch.evals._statements import EvalResult

    metrics = [
        {"name": "accuracy", "value": 0.5, "ci_low": 0.4, "ci_high": 0.6},
        {"name": "horizon_minutes", "value": 30.0, "ci_low": 20.0, "ci_high": 40.0},
    ]
    wanted = {"ai_rnd_automation": {"accuracy", "horizon_minutes"}}
    facts = eval_facts(
        result_id="x",
        model="m",
        domain="ai_rnd_automation",
        status="success",
        metrics=metrics,
        completed_at=None,
        evidence=(),
        wanted=wanted,
    )
    assert [f["id"] for f in facts] == ["x/accuracy", "x/horizon_minutes"]
    with pytest.raises(ValueError, match="result_id"):
        EvalResult.model_validate(result("x/accuracy"))
    with pytest.raises(ValueError, match="confidence"):
        EvalResult.model_validate(result("r9", confidence=0.5))
