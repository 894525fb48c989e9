"""A published evaluation of the detectors over HTTP (``detect.evaluation/v1``; issue 16, item
7; docs/adr/0031): the secretariat files it, ``GET /v1/detect/evaluation`` answers the latest,
and a body the statement refuses is a problem document that appends nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from api_world import Clock, World, build_world, open_world  # type: ignore[import-not-found]
from fastapi.testclient import TestClient
from readback import sign_unchecked  # type: ignore[import-not-found]

from pausewatch.detect import evaluation_body
from pausewatch.detect._published import REPORT_BYTES
from pausewatch.service import LogService

PROBLEM = "application/problem+json"

REPORT: dict[str, Any] = {
    "overall": {"detection_before_completion": 0.97, "false_alarms_per_facility_year": 0.02},
    "per_kind": {
        "undeclared_training": {"detection_before_completion": 1.0},
        "diversion": {"detection_before_completion": 0.9, "median_days": 14},
    },
    "fit_seeds": [0, 99],
    "evaluation_seeds": [5000, 5099],
    "corpus": {"digest": "0f" * 32, "facility_years": 412.5},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("evaluation") / "world")
    return built


@pytest.fixture
def opened(world: World, tmp_path: Path) -> Iterator[tuple[LogService, TestClient, Clock]]:
    with open_world(world, tmp_path / "copy") as value:
        yield value


def post(world: World, client: TestClient, body: dict[str, Any], role: str = "secretariat") -> Any:
    # Unchecked: the service, not the client's models, must refuse what is out of bounds.
    envelope = sign_unchecked("detect.evaluation/v1", body, world.keys[role])
    return client.post("/v1/statements", json=envelope)


def test_the_latest_published_evaluation_is_answered(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """Before any is published the route is a 404 problem; after two, it answers the later
    one's overall figures, per-kind table, seeds, corpus digest and the rest of its report."""
    _, client, _ = opened
    none = client.get("/v1/detect/evaluation")
    assert none.status_code == 404
    assert none.headers["content-type"] == PROBLEM
    assert post(world, client, evaluation_body(REPORT, "eval-a")).status_code == 201
    later = {**REPORT, "overall": {**REPORT["overall"], "detection_before_completion": 0.99}}
    accepted = post(world, client, evaluation_body(later, "eval-b"))
    assert accepted.status_code == 201, accepted.text
    got = client.get("/v1/detect/evaluation").json()
    assert (got["evaluation_id"], got["idx"], got["published"]) == (
        "eval-b",
        accepted.json()["index"],
        2,
    )
    assert got["detection_before_completion"] == 0.99
    assert got["false_alarms_per_facility_year"] == 0.02
    assert got["kinds"] == [
        {"kind": "undeclared_training", "figures": {"detection_before_completion": 1.0}},
        {"kind": "diversion", "figures": {"detection_before_completion": 0.9, "median_days": 14}},
    ]
    assert (got["fit_seeds"], got["evaluation_seeds"], got["corpus_digest"]) == (
        "0-99",
        "5000-5099",
        "0f" * 32,
    )
    assert got["report"]["corpus"] == {"digest": "0f" * 32, "facility_years": 412.5}


def test_an_evaluation_id_is_published_once(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """A second evaluation under an id already on the log is a 409 problem and appends
    nothing."""
    _, client, _ = opened
    assert post(world, client, evaluation_body(REPORT, "eval-a")).status_code == 201
    size = client.get("/v1/log").json()["size"]
    again = dict(evaluation_body(REPORT, "eval-a"), detection_before_completion=0.5)
    refused = post(world, client, again)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert "already on the log" in refused.json()["detail"]
    assert client.get("/v1/log").json()["size"] == size


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"detection_before_completion": 1.5}, "less than or equal to 1"),
        ({"false_alarms_per_facility_year": -0.1}, "greater than or equal to 0"),
        ({"report": {"blob": "x" * REPORT_BYTES}}, f"more than {REPORT_BYTES}"),
        (
            {"kinds": [{"kind": "a", "figures": {}}, {"kind": "a", "figures": {}}]},
            "names a defection kind twice",
        ),
        ({"kinds": [{"kind": "a", "figures": {"f": "y" * 5000}}]}, "more than 4096"),
    ],
)
def test_a_body_out_of_bounds_is_refused_and_appends_nothing(
    world: World,
    opened: tuple[LogService, TestClient, Clock],
    change: dict[str, Any],
    why: str,
) -> None:
    """A probability above 1, a negative rate, an oversized report or kind row, or a kind
    named twice: a 422 problem that says why, and the log does not grow."""
    _, client, _ = opened
    size = client.get("/v1/log").json()["size"]
    refused = post(world, client, {**evaluation_body(REPORT, "eval-x"), **change})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert why in refused.text
    assert client.get("/v1/log").json()["size"] == size


def test_the_route_is_described_in_openapi(opened: tuple[LogService, TestClient, Clock]) -> None:
    """The OpenAPI document describes GET /v1/detect/evaluation."""
    _, client, _ = opened
    path = client.get("/openapi.json").json()["paths"]["/v1/detect/evaluation"]["get"]
    assert "detection_before_completion" in path["description"]


def test_a_published_evaluation_survives_a_restart(world: World, tmp_path: Path) -> None:
    """The folded evaluation is kept in the state store: a service opened again on the same
    data directory answers the same evaluation, figures and report included."""
    data_dir = tmp_path / "copy"
    with open_world(world, data_dir) as (_, client, _clock):
        assert post(world, client, evaluation_body(REPORT, "eval-kept")).status_code == 201
        before = client.get("/v1/detect/evaluation").json()
    with open_world(replace(world, data_dir=data_dir)) as (_, client, _clock):
        assert client.get("/v1/detect/evaluation").json() == before
