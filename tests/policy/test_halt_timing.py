"""Halts in time: a halt is proposed now when a running job's projection crosses the
prohibition before a halt proposed now could bind (docs/adr/0020)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pausewatch.policy import load_preset
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._facts import Facts
from pausewatch.policy._findings import Finding, FindingKind, Severity
from pausewatch.policy._model import Action, Bound, HaltTiming, Policy, Tier

AT = datetime(2026, 11, 26, tzinfo=UTC)
MIRI = load_preset("miri-2025")


def timed(policy: Policy, *, days: float, notice: float = 24, bound: Bound = Bound.UPPER) -> Policy:
    assert policy.governance is not None
    halts = HaltTiming(notice_hours=notice, bound=bound, source="pausewatch-defaults")
    governance = policy.governance.model_copy(update={"vote_window_days": days, "halts": halts})
    return policy.model_copy(update={"governance": governance})


def running(value: float, rate: float, spread: float = 0.1, **fields: Any) -> Facts:
    """One running pre-training job at ``value`` FLOP (±``spread``) growing at ``rate``."""
    run: dict[str, Any] = {
        "id": "r1",
        "operator": "lab-a",
        "model": "m1",
        "phase": "pretraining",
        "declared": {"value": 9e23},
        "declared_at": "2026-10-01T00:00:00Z",
        "measured": {
            "value": value,
            "low": value * (1 - spread),
            "high": value * (1 + spread),
            "method": "telemetry",
        },
        "rate": {"value": rate, "low": rate * 0.9, "high": rate * 1.1, "method": "telemetry"},
        "status": "running",
        "started": True,
        "starts_at": "2026-11-01T00:00:00Z",
        "approval": "approved",
        "decided_at": "2026-10-20T00:00:00Z",
    }
    run.update(fields)
    return Facts.model_validate({"runs": [run]})


def projected(policy: Policy, facts: Facts) -> list[Finding]:
    return [
        f
        for f in evaluate(policy, facts, AT).findings
        if f.kind is FindingKind.PROHIBITION_PROJECTED
    ]


# 8e23 FLOP (high 8.8e23) at 1e17 FLOP/s (high 1.1e17): the earliest crossing of the 1e24
# prohibition is 1.2e23 / 1.1e17 s ≈ 12.6 days away, the expected one 23.1 days, the latest 37.
FACTS = running(8e23, 1e17)


def test_halt_proposed_when_the_projection_crosses_before_a_halt_binds() -> None:
    """Under miri-2025 (14 days' vote, 24 hours' notice) a run whose earliest crossing comes in
    12.6 days gets a prohibition_projected finding that proposes the halt now, quoting the
    projection, its interval and the crossing."""
    [f] = projected(MIRI, FACTS)
    assert f.action is Action.HALT_PROPOSAL
    assert f.subject == "run:r1"
    assert f.tier is Tier.PROHIBITED
    assert f.severity is Severity.SERIOUS
    figures = dict(f.figures)
    earliest = AT + timedelta(seconds=(1e24 - 8.8e23) / 1.1e17)
    assert figures["crossing"] == figures["earliest"] == earliest.isoformat()
    assert figures["binds_at"] == (AT + timedelta(days=15)).isoformat()
    assert (figures["low"], figures["high"], figures["threshold"]) == (7.2e23, 8.8e23, 1e24)
    assert "crosses the 1e+24 FLOP prohibition on 2026-12-19" in f.explanation
    assert "earliest 2026-12-08" in f.explanation
    assert "before a halt proposed now binds on 2026-12-11" in f.explanation


def test_no_early_halt_when_a_halt_binds_before_the_crossing() -> None:
    """With a 1-day vote and 24 hours' notice, a halt proposed later still binds in time: the
    same run gets no early halt."""
    assert projected(timed(MIRI, days=1), FACTS) == []


def test_the_policy_chooses_the_bound_compared() -> None:
    """With a 20-day lead the upper bound (12.6 days) and the point projection (23.1 days)
    disagree: the policy's ``bound`` decides."""
    assert projected(timed(MIRI, days=19, bound=Bound.UPPER), FACTS)
    assert projected(timed(MIRI, days=19, bound=Bound.POINT), FACTS) == []
    assert projected(timed(MIRI, days=24, bound=Bound.POINT), FACTS)
    assert projected(timed(MIRI, days=24, bound=Bound.LOWER), FACTS) == []


def test_no_early_halt_once_crossed() -> None:
    """A run already above the prohibition is a prohibited_compute finding, not a projection."""
    result = evaluate(MIRI, running(1.1e24, 1e17), AT)
    assert FindingKind.PROHIBITION_PROJECTED not in {f.kind for f in result.findings}
    assert FindingKind.PROHIBITED_COMPUTE in {f.kind for f in result.findings}


def test_no_early_halt_for_a_run_that_ends_first() -> None:
    """A run whose declared end comes before its crossing stops on its own."""
    assert projected(MIRI, running(8e23, 1e17, ends_at="2026-12-01T00:00:00Z")) == []


def test_no_early_halt_without_a_body_to_decide() -> None:
    """A policy with no governance files no early halt: no body would decide it."""
    assert projected(MIRI.model_copy(update={"governance": None}), FACTS) == []


def test_default_timing_without_a_halts_section() -> None:
    """A governance section without ``halts`` takes the stated default: 24 hours' notice, the
    upper bound."""
    assert MIRI.governance is not None
    governance = MIRI.governance.model_copy(update={"halts": None})
    assert governance.halt_notice == timedelta(hours=24)
    assert governance.halt_bound is Bound.UPPER
    assert projected(MIRI.model_copy(update={"governance": governance}), FACTS)


def test_the_explanation_names_the_vote_and_the_notice() -> None:
    """The explanation says how the bind time was reached: the body's vote and the notice."""
    [f] = projected(MIRI, FACTS)
    assert "(a 14-day vote and 24 hours' notice): a halt is proposed now" in f.explanation
