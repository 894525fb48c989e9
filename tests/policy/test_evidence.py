"""Evidence from the adopted suites (docs/adr/0021): any result can raise an alert, but only a
result of the domain's adopted suite (its task, task version and pinned elicitation), on a
model a declared run trains, rules a capability out; any other is advisory, and says why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from pausewatch.policy import load_preset
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._evaluator._capabilities import ruled_out
from pausewatch.policy._facts import Facts
from pausewatch.policy._findings import Evaluation, Finding, FindingKind, Severity
from pausewatch.policy._model import Domain

AT = datetime(2026, 11, 26, tzinfo=UTC)
MIRI = load_preset("miri-2025")
"""AI R&D automation alerts at an upper bound of 0.45 (0.5 less a buffer of 0.05) and must be
evaluated above 1e22 FLOP."""
ADOPTED = "pausewatch/repair_training_run"


def suite(**pin: Any) -> dict[str, Any]:
    """The ai_rnd_automation suite: the one probe ``ADOPTED`` at version 1, with ``pin``."""
    probe: dict[str, Any] = {"probe": ADOPTED, "version": 1}
    if pin:
        probe["elicitation"] = pin
    return {"domain": "ai_rnd_automation", "probes": [probe], "evidence": ["log:3"]}


def result(**over: Any) -> dict[str, Any]:
    """A successful ai_rnd_automation result of model ``m``: 0.2, upper bound 0.28."""
    body: dict[str, Any] = {
        "id": "e1",
        "model": "m",
        "domain": "ai_rnd_automation",
        "metric": "accuracy",
        "value": 0.2,
        "ci_low": 0.12,
        "ci_high": 0.28,
        "probe": ADOPTED,
        "task_version": 1,
        "elicitation": {"epochs": 5, "samples": 60, "agent": True, "tools": ["bash"]},
        "evidence": ["log:9"],
    }
    body.update(over)
    return body


def world(*results: dict[str, Any], **pin: Any) -> Facts:
    """Run ``r1`` declares model ``m`` at 5e22 FLOP, above the floor that requires it to be
    evaluated; the suite is adopted with ``pin``."""
    run = {
        "id": "r1",
        "operator": "lab",
        "model": "m",
        "phase": "pretraining",
        "declared": {"value": 5e22},
    }
    return Facts.model_validate({"runs": [run], "evaluations": results, "suites": [suite(**pin)]})


def unevaluated(e: Evaluation, model: str = "m") -> str:
    [f] = [
        f
        for f in e.findings
        if f.kind is FindingKind.CAPABILITY_UNEVALUATED and f.subject == f"model:{model}"
    ]
    return f.explanation


def advisories(e: Evaluation) -> list[Finding]:
    return [f for f in e.findings if f.kind is FindingKind.CAPABILITY_ADVISORY]


def raised(e: Evaluation) -> set[FindingKind]:
    return {
        f.kind
        for f in e.findings
        if f.kind in (FindingKind.CAPABILITY_ALERT, FindingKind.CAPABILITY_CRITICAL)
    }


def test_an_arithmetic_task_under_ai_rnd_does_not_rule_it_out() -> None:
    """The issue's example: an arithmetic task imported under ai_rnd_automation, upper bound
    0.28 below the alert level 0.45, leaves the model unevaluated there, and says why."""
    e = evaluate(MIRI, world(result(probe="arithmetic", task_version=1)), AT)
    assert "ai_rnd_automation (accuracy)" in unevaluated(e)
    assert raised(e) == set()
    [f] = advisories(e)
    assert (f.subject, f.severity) == ("eval:e1", Severity.INFO)
    assert "task arithmetic/v1 is not in the adopted ai_rnd_automation suite" in f.explanation
    assert "log:9" in f.evidence
    assert ruled_out(MIRI, world(result(probe="arithmetic")), e.findings, e.obligations) == ()


def test_the_same_figure_from_the_adopted_suite_rules_it_out() -> None:
    """The same 0.28 upper bound from the adopted probe at its version rules AI R&D
    automation out: the model is no longer unevaluated there, and nothing is advisory."""
    facts = world(result())
    e = evaluate(MIRI, facts, AT)
    assert "ai_rnd_automation" not in unevaluated(e)
    assert "self_improvement (accuracy)" in unevaluated(e)
    assert advisories(e) == []
    assert ruled_out(MIRI, facts, e.findings, e.obligations) == (Domain.AI_RND_AUTOMATION,)


def test_another_version_of_the_adopted_task_is_advisory() -> None:
    """The adopted probe at a task version the suite does not pin is advisory, and the reason
    names the version the suite pins."""
    e = evaluate(MIRI, world(result(task_version=2)), AT)
    assert "ai_rnd_automation (accuracy)" in unevaluated(e)
    [f] = advisories(e)
    assert f"task {ADOPTED}/v2 is not in the adopted ai_rnd_automation suite, which pins v1" in (
        f.explanation
    )


@pytest.mark.parametrize(
    ("value", "low", "high", "kind"),
    [
        (0.4, 0.3, 0.5, FindingKind.CAPABILITY_ALERT),
        (0.9, 0.85, 0.95, FindingKind.CAPABILITY_CRITICAL),
    ],
)
def test_an_advisory_result_at_a_level_still_raises_it(
    value: float, low: float, high: float, kind: FindingKind
) -> None:
    """A warning is a warning: an advisory result whose bound reaches the alert (critical)
    level files the same alert (critical) finding a counting one would, with its action."""
    facts = world(result(probe="arithmetic", value=value, ci_low=low, ci_high=high))
    e = evaluate(MIRI, facts, AT)
    assert raised(e) == {kind}
    if kind is FindingKind.CAPABILITY_CRITICAL:
        [f] = [f for f in e.findings if f.kind is kind]
        assert f.action.value == "pause_proposal"
    assert len(advisories(e)) == 1
    assert "ai_rnd_automation (accuracy)" in unevaluated(e)


def test_an_advisory_failure_is_still_not_a_pass() -> None:
    """A failed evaluation of a task outside the suite still files its alert."""
    facts = world(result(probe="arithmetic", status="error", value=None, ci_low=None, ci_high=None))
    e = evaluate(MIRI, facts, AT)
    assert raised(e) == {FindingKind.CAPABILITY_ALERT}
    assert ruled_out(MIRI, facts, e.findings, e.obligations) == ()


@pytest.mark.parametrize(
    ("pin", "elicitation", "reason"),
    [
        ({"min_epochs": 5}, {"epochs": 1}, "elicitation: 1 epoch, the adoption pins 5"),
        (
            {"min_samples": 50},
            {"epochs": 1, "samples": 10},
            "elicitation: 10 samples scored, the adoption pins 50",
        ),
        (
            {"agent": True},
            {"epochs": 5, "agent": False},
            "elicitation: the model did not act through tools, the adoption pins an agent",
        ),
        (
            {"tools": ["bash", "python"]},
            {"epochs": 5, "agent": True, "tools": ["bash"]},
            "elicitation: without python, which the adoption pins",
        ),
        (
            {"agent": False},
            {"epochs": 5, "agent": True},
            "elicitation: the model acted through tools, the adoption pins no agent",
        ),
        ({"min_attempts": 3}, {"epochs": 5}, "elicitation: 1 attempt, the adoption pins 3"),
        ({"min_epochs": 5}, None, "elicitation: not reported, and the adoption pins one"),
    ],
)
def test_elicitation_below_the_pin_is_advisory(
    pin: dict[str, Any], elicitation: dict[str, Any] | None, reason: str
) -> None:
    """A result of the adopted probe and version whose elicitation falls short of what the
    adoption pins is advisory: it rules nothing out, and the finding says what fell short."""
    facts = world(result(elicitation=elicitation), **pin)
    e = evaluate(MIRI, facts, AT)
    assert "ai_rnd_automation (accuracy)" in unevaluated(e)
    [f] = advisories(e)
    assert reason in f.explanation
    assert ruled_out(MIRI, facts, e.findings, e.obligations) == ()


def test_elicitation_that_meets_the_pin_counts() -> None:
    """A result that meets every part of the pin counts."""
    pin = {"min_epochs": 5, "min_samples": 60, "agent": True, "tools": ["bash"]}
    e = evaluate(MIRI, world(result(), **pin), AT)
    assert advisories(e) == []
    assert "ai_rnd_automation" not in unevaluated(e)


def test_a_model_no_run_declares_is_advisory() -> None:
    """A result of a model no declared run trains is advisory, with the reason; it cannot
    stand in for the declared model's evaluation."""
    facts = world(result(model="elsewhere"))
    e = evaluate(MIRI, facts, AT)
    [f] = advisories(e)
    assert "model elsewhere is not declared by any run" in f.explanation
    assert "ai_rnd_automation (accuracy)" in unevaluated(e)
    assert ruled_out(MIRI, facts, e.findings, e.obligations) == ()


def test_every_reason_is_given() -> None:
    """A result wrong on several counts names each of them."""
    e = evaluate(MIRI, world(result(probe="arithmetic", model="elsewhere")), AT)
    [f] = advisories(e)
    assert "task arithmetic/v1 is not in the adopted ai_rnd_automation suite" in f.explanation
    assert "model elsewhere is not declared by any run" in f.explanation


def test_no_suite_adopted_means_nothing_counts() -> None:
    """With no suite adopted in the domain (or an empty one: withdrawn), no result counts."""
    base = world(result())
    for suites in ([], [{"domain": "ai_rnd_automation", "probes": []}]):
        facts = base.model_copy(update={"suites": Facts.model_validate({"suites": suites}).suites})
        e = evaluate(MIRI, facts, AT)
        [f] = advisories(e)
        assert "no suite is adopted for ai_rnd_automation" in f.explanation
        assert "ai_rnd_automation (accuracy)" in unevaluated(e)


def test_an_advisory_result_next_to_a_counting_one_does_not_undo_it() -> None:
    """A counting result below the alert level rules the domain out even beside an advisory
    one below it: advisory evidence adds a note, it takes nothing away."""
    facts = world(result(), result(id="e2", probe="arithmetic"))
    e = evaluate(MIRI, facts, AT)
    assert [f.subject for f in advisories(e)] == ["eval:e2"]
    assert ruled_out(MIRI, facts, e.findings, e.obligations) == (Domain.AI_RND_AUTOMATION,)


def test_an_advisory_alert_keeps_the_domain_from_being_ruled_out() -> None:
    """An advisory result reaching the alert level keeps the domain from being ruled out,
    even beside a counting result below it."""
    facts = world(result(), result(id="e2", probe="arithmetic", value=0.5, ci_high=0.6))
    e = evaluate(MIRI, facts, AT)
    assert raised(e) == {FindingKind.CAPABILITY_ALERT}
    assert ruled_out(MIRI, facts, e.findings, e.obligations) == ()


def test_one_suite_per_domain() -> None:
    """Facts hold at most one adopted suite per domain."""
    with pytest.raises(ValidationError, match="more than one suite for: ai_rnd_automation"):
        Facts.model_validate({"suites": [suite(), suite()]})
