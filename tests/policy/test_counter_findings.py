"""Findings from the counters' plausibility (docs/adr/0033): ``counters_implausible``
(contract C6), worded by the evaluator from the facts the state builds."""

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


def found(*alarms: dict[str, Any]) -> list[Finding]:
    facts = Facts.model_validate({"counter_alarms": list(alarms)})
    return [
        f for f in evaluate(MIRI, facts, AT).findings if f.kind is FindingKind.COUNTERS_IMPLAUSIBLE
    ]


def alarm(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cluster": "c1",
        "facility": "f1",
        "operator": "lab",
        "party": "us",
        "period_start": "2027-02-10T00:00:00Z",
        "ratio": 0.148,
        "limit": 0.521,
        "alpha": 0.005,
        "flop": 2.1e21,
        "expected_flop": 7.4e21,
        "tensor_s": 1.6e7,
        "chip_windows": 512,
        "alarms": 4,
        "last_period_start": "2027-02-13T00:00:00Z",
        "evidence": ["log:40"],
    }
    base.update(over)
    return base


def test_an_implausible_day_is_a_serious_finding_on_the_cluster_asking_for_an_inspection() -> None:
    """A counter alarm is counters_implausible on its cluster, serious, asking for an
    inspection, with the day, ratio, limit, alpha and chip windows as figures, and an
    explanation that names them, the days it alarmed on and the evidence."""
    (f,) = found(alarm())
    assert (f.subject, f.severity, f.action) == ("cluster:c1", Severity.SERIOUS, Action.INSPECTION)
    figures = dict(f.figures)
    assert {k: figures[k] for k in ("period_start", "ratio", "limit", "alpha", "chip_windows")} == {
        "period_start": "2027-02-10",
        "ratio": 0.148,
        "limit": 0.521,
        "alpha": 0.005,
        "chip_windows": 512,
    }
    assert f.evidence == ("log:40",)
    for part in ("2027-02-10", "0.148", "0.521", "0.005", "4 day(s) up to 2027-02-13", "40"):
        assert part in f.explanation


def test_no_counter_alarm_files_no_finding() -> None:
    """Without counter alarms among the facts the policy files no counters_implausible."""
    assert found() == []
