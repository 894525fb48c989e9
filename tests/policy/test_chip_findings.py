"""Findings from the chip balances, exports and inspections (issue 16; docs/adr/0026):
``chips_unaccounted``, ``chips_exported`` and ``inspection_discrepancy``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from pausewatch.policy import load_preset
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._facts import Facts
from pausewatch.policy._findings import Finding, FindingKind, Severity
from pausewatch.policy._model import Action

AT = datetime(2026, 12, 10, tzinfo=UTC)
MIRI = load_preset("miri-2025")


def found(kind: FindingKind, **parts: Any) -> list[Finding]:
    result = evaluate(MIRI, Facts.model_validate(parts), AT)
    return [f for f in result.findings if f.kind is kind]


def account(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scope": "operator",
        "id": "lab",
        "party": "us",
        "shipped": 10,
        "transferred_out": 1,
        "installed": 5,
        "retired": 1,
        "exported": 1,
        "reporting": 0,
        "unaccounted": 2,
        "unaccounted_chips": ["g9", "g10"],
        "evidence": ["log:12"],
    }
    base.update(over)
    return base


def test_chips_unaccounted_for_ask_for_an_inspection_of_the_operator() -> None:
    """An operator's balance with chips unaccounted for is a serious finding on the operator
    that asks for an inspection and names the figures, the chips and the log entries."""
    (f,) = found(FindingKind.CHIPS_UNACCOUNTED, chip_accounts=[account()])
    assert (f.subject, f.severity, f.action) == (
        "operator:lab",
        Severity.SERIOUS,
        Action.INSPECTION,
    )
    assert "2 chip(s) shipped to operator lab are unaccounted for" in f.explanation
    assert "10 shipped, less 1 transferred out, 5 installed, 1 retired, 1 exported" in f.explanation
    assert "g9, g10" in f.explanation
    assert "log entries 12" in f.explanation
    assert f.evidence == ("log:12",)
    assert dict(f.figures)["unaccounted"] == 2


def test_a_partys_balance_is_a_finding_on_the_party_and_a_balanced_one_none() -> None:
    """A party's balance with chips unaccounted for is filed on the party; a balance with none
    unaccounted for files nothing."""
    (f,) = found(
        FindingKind.CHIPS_UNACCOUNTED,
        chip_accounts=[
            account(scope="party", id="us"),
            account(id="lab-2", unaccounted=0, unaccounted_chips=[]),
        ],
    )
    assert f.subject == "party:us"
    assert "shipped to party us" in f.explanation


def test_a_balance_cannot_list_more_chips_than_it_counts() -> None:
    """A balance listing more chips unaccounted for than its figure is refused."""
    with pytest.raises(ValidationError, match="more chips listed"):
        Facts.model_validate({"chip_accounts": [account(unaccounted=1)]})


def export(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "x1",
        "party": "us",
        "operator": "lab",
        "chips": 3,
        "chip_ids": ["g1", "g2", "g3"],
        "destination_country": "ZZ",
        "destination_entity": "Elsewhere Compute Ltd",
        "at": "2026-12-04T00:00:00Z",
        "evidence": ["log:40"],
    }
    base.update(over)
    return base


def test_chips_exported_to_a_non_party_name_the_destination() -> None:
    """An export from a party's operator is a finding on the party that states where the chips
    went and when: a warning without a licence, information with one; a maker's export none."""
    (f,) = found(
        FindingKind.CHIPS_EXPORTED,
        chip_exports=[export(), export(id="x2", party=None, operator=None)],
    )
    assert (f.subject, f.severity) == ("party:us", Severity.WARNING)
    assert "left party us for Elsewhere Compute Ltd (ZZ) on 2026-12-04" in f.explanation
    assert "log entries 40" in f.explanation
    (g,) = found(FindingKind.CHIPS_EXPORTED, chip_exports=[export(licence="EAR-123")])
    assert g.severity is Severity.INFO
    assert "under licence EAR-123" in g.explanation


def inspection(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "p1",
        "facility": "f1",
        "operator": "lab",
        "inspected_at": "2026-12-05T00:00:00Z",
        "evidence": ["log:77"],
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("parts", "words"),
    [
        ({"missing": ["g2"]}, "1 chip(s) missing (g2)"),
        ({"seals_broken": ["rack-1"]}, "1 seal(s) broken (rack-1)"),
    ],
)
def test_an_inspection_that_found_chips_missing_or_seals_broken_is_serious(
    parts: dict[str, Any], words: str
) -> None:
    """Chips missing or a seal broken at an inspection is a serious finding on the facility
    that asks for an inspection, naming what was found and the report's log entry."""
    (f,) = found(FindingKind.INSPECTION_DISCREPANCY, inspections=[inspection(**parts)])
    assert (f.subject, f.severity, f.action) == (
        "facility:f1",
        Severity.SERIOUS,
        Action.INSPECTION,
    )
    assert words in f.explanation
    assert "log entries 77" in f.explanation
    assert "inspection p1 of facility f1 of operator lab" in f.explanation


def test_other_discrepancies_are_a_warning_and_a_clean_inspection_nothing() -> None:
    """A chip seen with another serial is a warning; an inspection that found nothing amiss
    files no finding."""
    (f,) = found(
        FindingKind.INSPECTION_DISCREPANCY,
        inspections=[
            inspection(discrepancies=["g1: serial differs"]),
            inspection(id="p2", facility="f2"),
        ],
    )
    assert (f.subject, f.severity, f.action) == ("facility:f1", Severity.WARNING, Action.FINDING)
    assert "g1: serial differs" in f.explanation


def test_facts_without_these_lists_still_load() -> None:
    """Facts that carry no chip balances, exports or inspections load as before."""
    assert Facts.model_validate({}).chip_accounts == ()
