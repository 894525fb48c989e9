"""The deterrence analysis over HTTP (``GET /v1/deterrence``; issue 18, section 4;
docs/adr/0044): each defection kind of the latest published evaluation judged against the
inspection game's threshold at the stated assumptions, on its estimate and on its interval's
lower bound, with what would close each gap; the transcript row from the draw's theory; no row
invented without an evaluation; a parameter out of range is a problem document."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import Clock, World, build_world, open_world  # type: ignore[import-not-found]
from fastapi.testclient import TestClient
from readback import sign_unchecked  # type: ignore[import-not-found]

from pausewatch.detect import FALSE_ALARMS_PER_FACILITY_YEAR, evaluation_body
from pausewatch.service import LogService

PROBLEM = "application/problem+json"

REPORT: dict[str, Any] = {
    "overall": {
        "detection_before_completion": 0.89,
        "false_alarms_per_facility_year": 0.0097,
        "detection_before_completion_interval": [0.69, 0.97],
        "detection_population": "prohibited_runs",
    },
    "kinds": {
        # Deterred on the estimate and at the interval's lower bound.
        "undeclared_training": {
            "detection_before_completion": {
                "detected": 2,
                "runs": 2,
                "estimate": 1.0,
                "wilson": [0.342, 1.0],
            },
        },
        # Deterred on the estimate only.
        "split_run": {
            "detection_before_completion": {
                "detected": 3,
                "runs": 4,
                "estimate": 0.75,
                "wilson": [0.30, 0.954],
            },
        },
        # Not deterred: no prohibited run found.
        "hidden_facility": {
            "detection_before_completion": {
                "detected": 0,
                "runs": 2,
                "estimate": 0.0,
                "wilson": [0.0, 0.658],
            },
        },
        # No prohibited run: judged on every size, as the report does.
        "going_dark": {
            "detection_before_completion": None,
            "detection_before_completion_all_sizes": {
                "detected": 6,
                "runs": 6,
                "estimate": 1.0,
                "wilson": [0.61, 1.0],
            },
        },
        "no_figure": {"runs": 0},
    },
}
ALPHA = -math.expm1(-0.0097 * 30 / 365)
"""The false-alarm probability over the default 30 days at the evaluation's rate."""
REQUIRED = (1 + 0.5 * ALPHA) / (1 + 1)
"""(d + h*alpha) / (d + b) at the defaults d = 1, b = 1, h = 0.5."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("deterrence") / "world")
    return built


@pytest.fixture
def opened(world: World, tmp_path: Path) -> Iterator[tuple[LogService, TestClient, Clock]]:
    with open_world(world, tmp_path / "copy") as value:
        yield value


def publish(world: World, client: TestClient, report: dict[str, Any], name: str) -> None:
    envelope = sign_unchecked(
        "detect.evaluation/v1", evaluation_body(report, name), world.keys["secretariat"]
    )
    accepted = client.post("/v1/statements", json=envelope)
    assert accepted.status_code == 201, accepted.text


def rows(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["kind"]: row for row in answer["rows"]}


def test_without_an_evaluation_no_kind_is_invented(
    opened: tuple[LogService, TestClient, Clock],
) -> None:
    """Before any evaluation is published there is no per-kind row unless a detection figure
    is given as a parameter; false alarms are the balances' stated rate, said so; the
    transcript row (theory, not a measurement) is there."""
    _, client, _ = opened
    answer = client.get("/v1/deterrence").json()
    assert answer["evaluation"] is None
    assert answer["rows"] == []
    assert answer["overall"] is None
    assert answer["false_alarms"]["source"] == "stated"
    assert answer["false_alarms"]["per_facility_year"] == FALSE_ALARMS_PER_FACILITY_YEAR
    assert answer["policy"]["id"] == "roles"
    assert answer["transcript"]["source"] == "theory"
    given = client.get("/v1/deterrence", params={"detection": "hidden_facility:0.3"}).json()
    [row] = given["rows"]
    assert (row["kind"], row["source"], row["detection"], row["interval"]) == (
        "hidden_facility",
        "query",
        0.3,
        None,
    )
    assert row["deterred"] is False


def test_each_kind_is_judged_on_its_estimate_and_its_lower_bound(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """Each kind of the latest evaluation gets its detection (prohibited runs, else every
    size) with its interval, the threshold (d + h*alpha)/(d + b) with alpha from the measured
    false alarms over the run's days, its margin and verdict on the estimate and on the lower
    bound, and the detection, daily looks and sanction that would close a gap."""
    _, client, _ = opened
    publish(world, client, REPORT, "eval-1")
    answer = client.get("/v1/deterrence").json()
    assert answer["evaluation"]["evaluation_id"] == "eval-1"
    assert answer["false_alarms"]["source"] == "evaluation"
    assert answer["false_alarms"]["probability"] == pytest.approx(ALPHA)
    got = rows(answer)
    assert list(got) == list(REPORT["kinds"])
    for kind, deterred, deterred_low in (
        ("undeclared_training", True, False),
        ("split_run", True, False),
        ("hidden_facility", False, False),
        ("going_dark", True, True),
    ):
        row = got[kind]
        assert row["required_detection"] == pytest.approx(REQUIRED)
        assert row["margin"] == pytest.approx(row["detection"] - REQUIRED)
        assert row["margin_low"] == pytest.approx(row["interval"][0] - REQUIRED)
        assert (row["deterred"], row["deterred_low"]) == (deterred, deterred_low), kind
    assert got["going_dark"]["judged_on"] == "all_sizes"
    assert got["split_run"]["judged_on"] == "prohibited_runs"
    assert got["split_run"]["interval"] == [0.30, 0.954]
    # What would close each gap, computed here independently of the closed forms' module.
    split = got["split_run"]["needed"]
    per_look = 1 - 0.25 ** (1 / 30)
    assert split["inspections"] == math.ceil(math.log(1 - REQUIRED) / math.log(1 - per_look))
    assert split["penalty"] == pytest.approx((1 + 0.5 * ALPHA) / 0.75 - 1)
    assert split["penalty_low"] == pytest.approx((1 + 0.5 * ALPHA) / 0.30 - 1)
    hidden = got["hidden_facility"]["needed"]
    assert hidden["detection"] == pytest.approx(REQUIRED)
    assert (hidden["inspections"], hidden["penalty"]) == (None, None)  # no look, no sanction
    assert got["no_figure"]["deterred"] is None
    assert answer["summary"]["not_deterred"] == ["hidden_facility"]
    assert answer["summary"]["without_figure"] == ["no_figure"]
    assert answer["overall"]["detection"] == 0.89
    assert answer["overall"]["interval"] == [0.69, 0.97]


def test_the_assumptions_are_parameters(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """A larger sanction lowers the threshold, a given false-alarm rate and horizon replace the
    measured one, and a per-kind override replaces the evaluation's figure (and its interval);
    the answer states the assumptions it used beside the defaults."""
    _, client, _ = opened
    publish(world, client, REPORT, "eval-1")
    params = {
        "penalty": 9,
        "false_alarm_cost": 2,
        "false_alarms": 0.5,
        "run_days": 73,
        "detection": ["hidden_facility:0.2", "new_kind:0.05"],
    }
    answer = client.get("/v1/deterrence", params=params).json()
    alpha = -math.expm1(-0.5 * 73 / 365)
    required = (1 + 2 * alpha) / (1 + 9)
    got = rows(answer)
    assert got["hidden_facility"]["required_detection"] == pytest.approx(required)
    assert (got["hidden_facility"]["detection"], got["hidden_facility"]["source"]) == (0.2, "query")
    assert got["hidden_facility"]["interval"] is None
    assert got["hidden_facility"]["deterred"] is True
    assert got["new_kind"]["deterred"] is False
    assert list(got)[-1] == "new_kind"
    assert answer["assumptions"]["penalty"] == 9
    assert answer["assumptions"]["detection"] == {"hidden_facility": 0.2, "new_kind": 0.05}
    assert answer["defaults"]["penalty"] == 1.0
    assert answer["false_alarms"]["source"] == "query"


def test_the_transcript_row_is_the_draws_theory(
    opened: tuple[LogService, TestClient, Clock],
) -> None:
    """At a 5% budget of 200 segments, 20 of them fabricated, one audit catches the forgery
    with 1 - C(178, 8)/C(198, 8) (the first and last always replayed); the budget needed is the
    smallest whose draw reaches the threshold."""
    _, client, _ = opened
    row = client.get("/v1/deterrence").json()["transcript"]
    catch = 1 - math.comb(178, 8) / math.comb(198, 8)
    assert row["detection"] == pytest.approx(catch)
    assert row["theory"] == {
        "segments": 200,
        "forged_segments": 20,
        "drawn_segments": 10,
        "catch": pytest.approx(catch),
    }
    assert row["required_detection"] == pytest.approx(0.5)  # no false alarm from a replay
    needed = min(
        q for q in range(2, 201) if 1 - math.comb(178, q - 2) / math.comb(198, q - 2) >= 0.5
    )
    assert row["needed"]["budget"] == pytest.approx(needed / 200)
    stricter = client.get("/v1/deterrence", params={"penalty": 0.1}).json()["transcript"]
    assert stricter["deterred"] is False
    # Independent audits, each with a fresh draw, that together reach the threshold.
    required = 1 / 1.1
    assert stricter["needed"]["inspections"] == math.ceil(
        math.log(1 - required) / math.log(1 - catch)
    )


def test_stakes_at_the_ends_of_their_ranges_are_answered(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """A vanishing gain against no sanction overflows the threshold: the answer says no
    detection suffices (null), never a server error or a non-JSON number; the widest ranges of
    the horizon and the transcript are answered too."""
    _, client, _ = opened
    publish(world, client, REPORT, "eval-1")
    tiny = client.get("/v1/deterrence", params={"gain": 5e-324, "penalty": 0})
    assert tiny.status_code == 200, tiny.text
    row = rows(tiny.json())["split_run"]
    assert row["deterred"] is False
    assert row["needed"]["detection"] is None
    wide = client.get(
        "/v1/deterrence",
        params={
            "run_days": 3650,
            "false_alarms": 1e6,
            "transcript_segments": 100_000,
            "transcript_budget": 1,
            "forged_fraction": 1,
        },
    )
    assert wide.status_code == 200, wide.text
    assert wide.json()["false_alarms"]["probability"] == 1.0
    assert wide.json()["transcript"]["detection"] == 1.0


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"gain": 0}, "gain"),
        ({"penalty": -1}, "penalty"),
        ({"run_days": "soon"}, "run_days"),
        ({"transcript_segments": 2}, "transcript_segments"),
        ({"transcript_budget": 1.5}, "transcript_budget"),
        ({"forged_fraction": "nan"}, "forged_fraction"),
        ({"detection": "undeclared_training"}, "detection"),
        ({"detection": "undeclared_training:1.5"}, "detection"),
        ({"detection": "a:0.5,a:0.6"}, "detection"),
    ],
)
def test_a_bad_parameter_is_a_problem_document(
    opened: tuple[LogService, TestClient, Clock], params: dict[str, Any], names: str
) -> None:
    """An assumption out of range or unreadable is a 422 problem naming the parameter."""
    _, client, _ = opened
    refused = client.get("/v1/deterrence", params=params)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert names in refused.json()["detail"]


def test_the_parameters_are_documented(opened: tuple[LogService, TestClient, Clock]) -> None:
    """The OpenAPI document describes every assumption the route takes."""
    _, client, _ = opened
    operation = client.get("/openapi.json").json()["paths"]["/v1/deterrence"]["get"]
    described = {p["name"]: p.get("description", "") for p in operation["parameters"]}
    assert {
        "gain",
        "penalty",
        "false_alarm_cost",
        "run_days",
        "false_alarms",
        "forged_fraction",
        "transcript_budget",
        "transcript_segments",
        "detection",
        "at",
    } <= set(described)
    assert all(described.values())


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", ["gain", "penalty", "run_days", "false_alarms"])
def test_a_number_that_is_not_finite_is_said_so(
    opened: tuple[LogService, TestClient, Clock], name: str, value: str
) -> None:
    """A stake or horizon given as nan or an infinity is refused as not a finite number, not
    as out of range."""
    _, client, _ = opened
    refused = client.get("/v1/deterrence", params={name: value})
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    assert name in detail
    assert "finite" in detail, detail


@pytest.mark.parametrize("name", ["gain", "penalty", "run_days", "transcript_segments"])
def test_a_parameter_given_twice_is_a_problem_document(
    opened: tuple[LogService, TestClient, Clock], name: str
) -> None:
    """One assumption given twice (gain=1&gain=2) is a 422 problem naming it, as on the page:
    the API never picks one of two values silently."""
    _, client, _ = opened
    refused = client.get(f"/v1/deterrence?{name}=10&{name}=20")
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert name in refused.json()["detail"]
    assert "given twice" in refused.json()["detail"]
