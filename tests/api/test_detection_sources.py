"""Detection's independent sources over HTTP (issue 16, item 1; docs/adr/0025): a meter's
chain of readings is taken in order, a conflicting or broken reading is refused with a 409
problem document that gives the reason and appends nothing, a gap is recorded, and the views
answer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import (  # type: ignore[import-not-found]
    Clock,
    World,
    build_world,
    meter_reading,
    open_world,
)
from fastapi.testclient import TestClient

from pausewatch.detect import reading_digest
from pausewatch.service import LogService
from pausewatch.statements import sign_statement

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    world: World = build_world(tmp_path_factory.mktemp("sources") / "world")
    return world


@pytest.fixture
def opened(world: World, tmp_path: Path) -> Iterator[tuple[LogService, TestClient, Clock]]:
    with open_world(world, tmp_path / "copy") as value:
        yield value


def post(world: World, client: TestClient, body: dict[str, Any]) -> Any:
    statement = sign_statement("meter.reading/v1", body, world.keys["meter"])
    return client.post("/v1/statements", json=statement.to_json())


def size(client: TestClient) -> int:
    return int(client.get("/v1/log").json()["size"])


def later(body: dict[str, Any], seq: int, energy: float, prev: str) -> dict[str, Any]:
    return {
        **body,
        "seq": seq,
        "prev": prev,
        "window_start": f"2027-01-01T{seq:02d}:00:00Z",
        "window_end": f"2027-01-01T{seq:02d}:59:59Z",
        "energy_j": energy,
    }


def test_a_conflicting_reading_is_refused_with_409_and_its_reason(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """A second reading with the seq of one on the log is a 409 problem naming the head, and
    the log does not grow."""
    _, client, _ = opened
    first = meter_reading()
    assert post(world, client, first).status_code == 201
    before = size(client)
    resp = post(world, client, {**first, "energy_j": 9e9})
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert "not past the meter's head" in resp.json()["detail"]
    assert size(client) == before


def test_a_broken_chain_is_refused_with_409_naming_the_digest_expected(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """A reading one past the head whose prev is not the head's digest is a 409 that names the
    digest expected; the right prev is then taken."""
    _, client, _ = opened
    first = meter_reading()
    assert post(world, client, first).status_code == 201
    forged = later(first, 1, 7.2e9, hashlib.sha256(b"forged").hexdigest())
    resp = post(world, client, forged)
    assert resp.status_code == 409, resp.text
    assert reading_digest(first) in resp.json()["detail"]
    resp = post(world, client, later(first, 1, 7.2e9, reading_digest(first)))
    assert resp.status_code == 201, resp.text
    meter = client.get("/v1/views/meters").json()["rows"][0]
    assert (meter["head_seq"], meter["head_energy_j"]) == (1, 7.2e9)


def test_a_gap_is_taken_and_listed(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """A reading past missing ones is accepted, and the gap is in the ``meter_gaps`` view."""
    _, client, _ = opened
    first = meter_reading()
    assert post(world, client, first).status_code == 201
    resp = post(world, client, later(first, 5, 2e10, hashlib.sha256(b"4").hexdigest()))
    assert resp.status_code == 201, resp.text
    gaps = client.get("/v1/views/meter_gaps").json()["rows"]
    assert [(g["meter_id"], g["from_seq"], g["to_seq"]) for g in gaps] == [("meter-1", 1, 4)]


def test_every_source_is_kept_in_its_views_and_rebuilds_identically(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """Readings, a shipment, an export, an inspection and a workload, taken over HTTP, are in
    their views, and refolding the log from nothing gives the very rows the store kept."""
    service, client, _ = opened

    def submit(kind: str, body: dict[str, Any], role: str) -> None:
        resp = client.post(
            "/v1/statements", json=sign_statement(kind, body, world.keys[role]).to_json()
        )
        assert resp.status_code == 201, resp.text

    first = meter_reading()
    submit("meter.reading/v1", first, "meter")
    submit("meter.reading/v1", later(first, 1, 7.2e9, reading_digest(first)), "meter")
    ship = {
        "shipment_id": "ship-1",
        "maker_id": "nv",
        "chip_ids": ["chip-2"],
        "to_operator": "lab",
        "receiving_party": "us",
        "shipped_at": "2027-01-02T00:00:00Z",
    }
    submit("chip.ship/v1", ship, "chip_maker")
    export = {
        "export_id": "exp-1",
        "chip_ids": ["chip-2"],
        "destination_country": "ZZ",
        "destination_entity": "Elsewhere Ltd",
    }
    submit("chip.export/v1", export, "operator")
    report = {
        "plan_id": "plan-1",
        "inspected_at": "2027-06-01T00:00:00Z",
        "sample": ["chip-1"],
        "chips_missing": ["chip-1"],
        "seals": [{"seal_id": "rack-1", "intact": False, "note": "cut"}],
        "meter_readings": [
            {"meter_id": "meter-1", "energy_j": 7.3e9, "read_at": "2027-06-01T00:00:00Z"}
        ],
        "activity": "idle",
    }
    submit("inspection.report/v1", report, "inspector")
    workload = {
        "workload_id": "w-1",
        "operator_id": "lab",
        "cluster_id": "c1",
        "kind": "serving",
        "starts_at": "2027-01-01T00:00:00Z",
        "ends_at": "2027-02-01T00:00:00Z",
        "chips": 16,
        "flop_max": 1e21,
    }
    submit("workload.declare/v1", workload, "operator")
    views = {
        name: client.get(f"/v1/views/{name}").json()["rows"]
        for name in ("meter_readings", "chip_movements", "exports", "inspection_reports")
    }
    assert [r["seq"] for r in views["meter_readings"]] == [0, 1]
    assert [r["kind"] for r in views["chip_movements"]] == ["ship", "export"]
    assert views["exports"][0]["destination_country"] == "ZZ"
    (got,) = views["inspection_reports"]
    plan_idx = client.get("/v1/views/inspection_plans").json()["rows"][0]["idx"]
    assert got["seed_root"] == service.log.root_at(plan_idx + 1).hex()
    assert got["seals_broken"] == 1
    assert service.state.rebuild(service.log).identical
