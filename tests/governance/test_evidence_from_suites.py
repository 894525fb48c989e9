"""Evidence from the adopted suites, through the log (docs/adr/0021): the facts folded from
signed statements carry each result's probe, version and elicitation and the adopted suites
with their elicitation pins; a lift condition on ``eval_domains_ruled_out`` is met only by
results that count, never by advisory ones."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from pausewatch.policy import check_conditions, evaluate, load_preset, policy_digest, policy_to_json
from pausewatch.policy._findings import Evaluation, FindingKind
from pausewatch.policy._model import Condition, Fact
from pausewatch.state import evaluated, facts_from_registry
from registry.world import World, declaration, key  # type: ignore[import-not-found]

ADOPTED = "pausewatch/repair_training_run"
RULED_OUT = Condition.model_validate(
    {
        "fact": "eval_domains_ruled_out",
        "op": ">=",
        "value": 1,
        "description": "the adopted suite rules out at least one capability",
    }
)


def adopted(**pin: Any) -> World:
    """MIRI's policy with a pause section; run ``r1`` declares model ``m1`` at 5e22 FLOP
    (above the floor that requires evaluation); evaluator ``aisi``; the ai_rnd_automation
    suite adopts ``ADOPTED`` version 1 with the elicitation ``pin``."""
    w = World()
    policy = load_preset("miri-2025")
    body = {
        "policy": policy_to_json(policy),
        "digest": policy_digest(policy),
        "effective_at": "2026-01-01T00:00:00Z",
    }
    w.ok("policy.adopt/v1", body, w.secretariat)
    w.basic()
    w.ok("run.declaration/v1", declaration("r1", model="m1"), "lab")
    w.keys["aisi"] = key("aisi")
    evaluator = {"evaluator_id": "aisi", "party_id": "us", "name": "AISI"}
    w.ok("evaluator.register/v1", {**evaluator, "key": w.keys["aisi"].signer_id}, "us")
    probe: dict[str, Any] = {"probe_id": ADOPTED, "version": 1}
    if pin:
        probe["elicitation"] = pin
    w.ok("eval.suite/v1", {"domain": "ai_rnd_automation", "probes": [probe]}, w.secretariat)
    return w


def submit_result(w: World, result_id: str, **over: Any) -> None:
    """A successful ai_rnd_automation result signed by ``aisi``: accuracy 0.2, upper bound
    0.28, below MIRI's alert level of 0.45; one epoch unless ``over`` says otherwise."""
    body: dict[str, Any] = {
        "result_id": result_id,
        "evaluator_id": "aisi",
        "model": "m1",
        "inspect_model": "pausewatch/scripted",
        "domain": "ai_rnd_automation",
        "probe_id": ADOPTED,
        "task": "repair_training_run",
        "task_version": 1,
        "status": "success",
        "samples": 60,
        "completed_samples": 60,
        "epochs": 1,
        "metrics": [
            {"name": "accuracy", "value": 0.2, "ci_low": 0.12, "ci_high": 0.28, "method": "wilson"}
        ],
        "elicitation": {"solver": "basic_agent", "agent": True, "tools": ["bash"]},
        "log_digest": hashlib.sha256(result_id.encode()).hexdigest(),
    }
    body.update(over)
    w.ok("eval.result/v1", body, "aisi")


def judged(w: World) -> tuple[float, Evaluation]:
    """The state's ``eval_domains_ruled_out`` and the evaluation, both at ``w.now``."""
    policy = w.registry.policy_at(w.now)
    assert policy is not None
    facts, evaluation = evaluated(w.registry, w.now, policy)
    return facts.state[Fact.EVAL_DOMAINS_RULED_OUT], evaluation


def unevaluated(e: Evaluation) -> str:
    [f] = [
        f
        for f in e.findings
        if f.kind is FindingKind.CAPABILITY_UNEVALUATED and f.subject == "model:m1"
    ]
    return f.explanation


def advisory(e: Evaluation) -> dict[str, str]:
    return {
        f.subject: f.explanation for f in e.findings if f.kind is FindingKind.CAPABILITY_ADVISORY
    }


def lift(w: World) -> bool:
    policy = w.registry.policy_at(w.now)
    facts = facts_from_registry(w.registry, w.now, policy)
    [held] = check_conditions([RULED_OUT], dict(facts.state))
    return held.held


def test_an_arithmetic_task_on_the_log_rules_nothing_out() -> None:
    """The issue's example folded from the log: an arithmetic task signed under
    ai_rnd_automation, upper bound 0.28 below 0.45, leaves the declared model unevaluated
    there and files an advisory finding that says why."""
    w = adopted()
    submit_result(w, "arith", probe_id="inspect_evals/arithmetic", task="arithmetic")
    policy = w.registry.policy_at(w.now)
    assert policy is not None
    e = evaluate(policy, facts_from_registry(w.registry, w.now, policy), w.now)
    assert "ai_rnd_automation (accuracy)" in unevaluated(e)
    assert (
        "task inspect_evals/arithmetic/v1 is not in the adopted ai_rnd_automation suite"
        in (advisory(e)["eval:arith"])
    )


def test_a_lift_condition_on_evaluations_is_not_met_by_advisory_results() -> None:
    """Advisory results only (a task outside the suite, a model no run declares) leave
    ``eval_domains_ruled_out`` at 0 and the lift condition unmet; a result of the adopted
    suite on the declared model then meets it."""
    w = adopted()
    submit_result(w, "arith", probe_id="inspect_evals/arithmetic", task="arithmetic")
    submit_result(w, "other-model", model="m9")
    figure, e = judged(w)
    assert figure == 0.0
    assert set(advisory(e)) == {"eval:arith", "eval:other-model"}
    assert "model m9 is not declared by any run" in advisory(e)["eval:other-model"]
    assert lift(w) is False
    submit_result(w, "adopted")
    figure, e = judged(w)
    assert figure == 1.0
    assert "ai_rnd_automation" not in unevaluated(e)
    assert lift(w) is True


@pytest.mark.parametrize(("epochs", "counts"), [(1, False), (5, True)])
def test_the_adoption_pins_the_elicitation(epochs: int, counts: bool) -> None:
    """An adoption that pins at least five epochs: a one-epoch result of the adopted probe is
    advisory ("1 epoch, the adoption pins 5") and meets no lift condition; five epochs count."""
    w = adopted(min_epochs=5, agent=True)
    submit_result(w, "r", epochs=epochs, samples=60 * epochs, completed_samples=60 * epochs)
    figure, e = judged(w)
    assert figure == (1.0 if counts else 0.0)
    if counts:
        assert advisory(e) == {}
    else:
        assert "elicitation: 1 epoch, the adoption pins 5" in advisory(e)["eval:r"]
    assert lift(w) is counts


def test_the_suite_as_it_stands_decides() -> None:
    """A result counts by the suite adopted when the facts are read: adopting version 2 in
    place of version 1 turns a version-1 result advisory; a result filed before its probe was
    adopted counts once it is."""
    w = adopted()
    submit_result(w, "v1")
    assert judged(w)[0] == 1.0
    probes = [{"probe_id": ADOPTED, "version": 2}]
    w.ok("eval.suite/v1", {"domain": "ai_rnd_automation", "probes": probes}, w.secretariat)
    figure, e = judged(w)
    assert figure == 0.0
    assert "which pins v2" in advisory(e)["eval:v1"]
    probes = [{"probe_id": ADOPTED, "version": 1}]
    w.ok("eval.suite/v1", {"domain": "ai_rnd_automation", "probes": probes}, w.secretariat)
    assert judged(w)[0] == 1.0


def test_the_facts_carry_suites_and_pins() -> None:
    """The facts folded from the log hold the adopted suite with its pin, and each result's
    probe, task version and elicitation."""
    w = adopted(min_epochs=5, tools=["bash"])
    submit_result(w, "r")
    facts = facts_from_registry(w.registry, w.now, w.registry.policy_at(w.now))
    [suite] = facts.suites
    [probe] = suite.probes
    assert (probe.probe, probe.version) == (ADOPTED, 1)
    assert probe.elicitation is not None
    assert (probe.elicitation.min_epochs, probe.elicitation.tools) == (5, ("bash",))
    [ev] = facts.evaluations
    assert (ev.probe, ev.task_version) == (ADOPTED, 1)
    assert ev.elicitation is not None
    assert (ev.elicitation.epochs, ev.elicitation.samples, ev.elicitation.tools) == (
        1,
        60,
        ("bash",),
    )
