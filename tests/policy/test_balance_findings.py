"""Findings from the daily balances (issue 16 item 2; docs/adr/0029): ``energy_unaccounted`` and
``compute_unaccounted`` (contract C3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pausewatch.policy import load_preset
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._facts import Facts
from pausewatch.policy._findings import Finding, FindingKind, Severity
from pausewatch.policy._model import Action

AT = datetime(2027, 3, 1, tzinfo=UTC)
MIRI = load_preset("miri-2025")


def found(kind: FindingKind, *alarms: dict[str, Any]) -> list[Finding]:
    facts = Facts.model_validate({"balance_alarms": list(alarms)})
    return [f for f in evaluate(MIRI, facts, AT).findings if f.kind is kind]


def alarm(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "facility": "f1",
        "operator": "lab",
        "party": "us",
        "balance": "energy",
        "test": "one_shot",
        "period_start": "2027-02-10T00:00:00Z",
        "value": 8.5e10,
        "sigma": 6.1e9,
        "unit": "J",
        "statistic": 11.2,
        "limit": 4.19,
        "alpha": 0.005,
        "alarms": 4,
        "last_period_start": "2027-02-13T00:00:00Z",
        "evidence": ["log:40", "log:41"],
    }
    base.update(over)
    return base


def test_an_energy_alarm_is_a_serious_finding_that_asks_for_an_inspection() -> None:
    """An energy balance alarm is energy_unaccounted on the facility, serious, asking for an
    inspection, with contract C3's figures and an explanation naming the day, the figures,
    the test, its false-alarm rate and the evidence entries."""
    (f,) = found(FindingKind.ENERGY_UNACCOUNTED, alarm())
    assert (f.subject, f.severity, f.action) == ("facility:f1", Severity.SERIOUS, Action.INSPECTION)
    figures = dict(f.figures)
    assert {k: figures[k] for k in ("test", "period_start", "basis", "alpha")} == {
        "test": "one_shot",
        "period_start": "2027-02-10",
        "basis": "meter",
        "alpha": 0.005,
    }
    assert (figures["value"], figures["sigma"], figures["statistic"], figures["limit"]) == (
        8.5e10,
        6.1e9,
        11.2,
        4.19,
    )
    for part in (
        "on 2027-02-10",
        "8.5e+10 J",
        "one-shot test",
        "11.20 > 4.19",
        "0.005 per facility-year",
        "log entries 40, 41",
        "4 day(s) up to 2027-02-13",
    ):
        assert part in f.explanation
    assert f.evidence == ("log:40", "log:41")


def test_compute_alarms_name_their_basis() -> None:
    """A compute balance from the meter and one from the counters are both compute_unaccounted,
    told apart by their basis figure; neither is an energy finding."""
    fs = found(
        FindingKind.COMPUTE_UNACCOUNTED,
        alarm(balance="compute_energy", test="cusum", unit="FLOP", limit=9.34),
        alarm(balance="compute_counters", unit="FLOP"),
    )
    assert sorted(dict(f.figures)["basis"] for f in fs) == ["counters", "meter"]
    assert any("Page's CUSUM" in f.explanation for f in fs)
    assert not found(FindingKind.ENERGY_UNACCOUNTED, alarm(balance="compute_counters", unit="FLOP"))


def test_a_facility_alarm_has_scope_facility() -> None:
    """A facility's balance alarm states scope "facility" among its figures (contract C8)."""
    (f,) = found(FindingKind.ENERGY_UNACCOUNTED, alarm())
    assert dict(f.figures)["scope"] == "facility"


def test_operator_and_party_roll_up_alarms_name_their_subject_and_scope() -> None:
    """A roll-up's alarm is a finding on operator:<id> or party:<id> with figure scope, an
    explanation naming the facilities it sums and its false-alarm rate per operator- or
    party-year (contract C8, docs/adr/0035)."""
    fs = found(
        FindingKind.COMPUTE_UNACCOUNTED,
        alarm(
            scope="operator",
            facility=None,
            facilities=["f1", "f2"],
            balance="compute_energy",
            unit="FLOP",
        ),
        alarm(
            scope="party",
            facility=None,
            operator=None,
            facilities=["f1", "f3"],
            unit="FLOP",
            balance="compute_counters",
        ),
    )
    by_subject = {f.subject: f for f in fs}
    assert set(by_subject) == {"operator:lab", "party:us"}
    op = by_subject["operator:lab"]
    assert dict(op.figures)["scope"] == "operator"
    assert (op.severity, op.action) == (Severity.SERIOUS, Action.INSPECTION)
    assert "f1, f2" in op.explanation
    assert "0.005 per operator-year" in op.explanation
    party = by_subject["party:us"]
    assert dict(party.figures)["scope"] == "party"
    assert "0.005 per party-year" in party.explanation


def test_a_roll_up_alarm_without_its_subject_is_refused() -> None:
    """A balance alarm of scope operator that names no operator is not a valid fact."""
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must name its operator"):
        Facts.model_validate({"balance_alarms": [alarm(scope="operator", operator=None)]})
