"""From the report of ``pausewatch detect evaluate`` to a ``detect.evaluation/v1`` body
(docs/adr/0031): the overall figures are required numbers, the per-kind table keeps its rows and
figures in order whichever way the report holds it, and every other key travels as one object."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.detect import DetectionEvaluation, evaluation_body, report_digest

OVERALL = {"detection_before_completion": 0.96, "false_alarms_per_facility_year": 0.04}


def validated(body: dict[str, Any]) -> DetectionEvaluation:
    """The body as the log would parse it (from JSON, strictly)."""
    return DetectionEvaluation.model_validate_json(json.dumps(body))


def test_a_list_table_and_seed_pairs_are_lifted_out_of_the_report() -> None:
    """Rows naming their kind become the per-kind table, seed pairs become ranges, the corpus
    digest is lifted, and the rest (overall included, with its intervals) is the report."""
    report = {
        "overall": {**OVERALL, "interval": [0.9, 0.99]},
        "kinds": [{"kind": "b", "x": 1}, {"kind": "a", "x": 2}],
        "seeds": {"fit": [0, 9], "evaluation": [100, 109]},
        "corpus_digest": "12" * 32,
        "cannot_detect": ["throttled"],
    }
    body = validated(evaluation_body(report, "e1"))
    assert [(k.kind, k.figures) for k in body.kinds] == [("b", {"x": 1}), ("a", {"x": 2})]
    assert (body.fit_seeds, body.evaluation_seeds, body.corpus_digest) == (
        "0-9",
        "100-109",
        "12" * 32,
    )
    assert body.report == {
        "overall": {**OVERALL, "interval": [0.9, 0.99]},
        "seeds": {"fit": [0, 9], "evaluation": [100, 109]},
        "cannot_detect": ["throttled"],
    }


def test_the_default_id_follows_the_reports_digest() -> None:
    """Without an id, the same report gives the same evaluation id and another report another."""
    report = {"overall": OVERALL}
    first = evaluation_body(report)["evaluation_id"]
    assert first == f"detect-eval-{report_digest(report)[:16]}"
    assert evaluation_body({"overall": {**OVERALL, "x": 1}})["evaluation_id"] != first


@pytest.mark.parametrize(
    ("report", "why"),
    [
        ({}, "no 'overall' object"),
        ({"overall": {"detection_before_completion": 0.9}}, "false_alarms_per_facility_year"),
        ({"overall": {**OVERALL, "detection_before_completion": "high"}}, "expected a number"),
        ({"overall": {**OVERALL, "false_alarms_per_facility_year": True}}, "expected a number"),
        ({"overall": OVERALL, "kinds": [{"name": "a"}]}, "per-kind row 0"),
        ({"overall": OVERALL, "kinds": "a table"}, "the per-kind table"),
    ],
)
def test_a_report_without_its_figures_is_refused_in_one_line(
    report: dict[str, Any], why: str
) -> None:
    """A report lacking the overall numbers, or whose per-kind table has no kinds, is a
    ValueError of one line that names what is wrong."""
    with pytest.raises(ValueError, match=why) as info:
        evaluation_body(report)
    assert "\n" not in str(info.value)


_FIGURES = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.one_of(st.floats(0, 1e6), st.integers(0, 10**6), st.none(), st.text(max_size=12)),
    max_size=4,
)


@settings(max_examples=60, deadline=None, database=None)
@given(
    detection=st.floats(0, 1),
    rate=st.floats(0, 1e6),
    table=st.dictionaries(
        st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True), _FIGURES, max_size=8
    ),
    as_list=st.booleans(),
)
def test_any_report_with_its_figures_gives_a_valid_body_that_keeps_them(
    detection: float, rate: float, table: dict[str, dict[str, Any]], as_list: bool
) -> None:
    """For any report with the two overall numbers and a per-kind table (as a mapping or a
    list of rows), the body is one the statement accepts, with the same figures and the rows
    in the report's order."""
    rows: Any = (
        [{"kind": k, **{n: v for n, v in f.items() if n != "kind"}} for k, f in table.items()]
        if as_list
        else table
    )
    report = {
        "overall": {
            "detection_before_completion": detection,
            "false_alarms_per_facility_year": rate,
        },
        "by_kind": rows,
    }
    body = validated(evaluation_body(report))
    assert body.detection_before_completion == detection
    assert body.false_alarms_per_facility_year == rate
    assert [k.kind for k in body.kinds] == list(table)
    for row, (kind, figures) in zip(body.kinds, table.items(), strict=True):
        expected = {n: v for n, v in figures.items() if not (as_list and n == "kind")}
        assert row.figures == expected, kind


def test_the_shape_detect_evaluate_writes_is_read_whole() -> None:
    """A report as `pausewatch detect evaluate --json` writes it (kinds as a mapping of nested
    proportions, seeds.fit and seeds.evaluated, target, cost) gives its rows in order with their
    nested figures, both seed ranges, and keeps the other keys in the report."""
    proportion = {"detected": 9, "runs": 10, "estimate": 0.9, "wilson": [0.6, 0.98]}
    report = {
        "overall": {**OVERALL, "meets_target": False},
        "kinds": {
            "undeclared_training": {"runs": 10, "detection_before_completion": proportion},
            "going_dark": {"runs": 0, "detection_before_completion": None},
        },
        "cannot_detect": [{"kind": "going_dark", "detection_before_completion": 0.0}],
        "target": {"detection_before_completion": 0.95, "false_alarms_per_facility_year": 0.05},
        "seeds": {"fit": [0, 999], "evaluated": [100_000, 100_199]},
        "cost": {"records": 12, "seconds": 1.5},
    }
    body = validated(evaluation_body(report))
    assert [k.kind for k in body.kinds] == ["undeclared_training", "going_dark"]
    assert body.kinds[0].figures["detection_before_completion"] == proportion
    assert (body.fit_seeds, body.evaluation_seeds) == ("0-999", "100000-100199")
    assert set(body.report) == {"overall", "cannot_detect", "target", "seeds", "cost"}
