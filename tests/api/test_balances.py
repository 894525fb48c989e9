"""Daily balances over HTTP (issue 16 item 2; docs/adr/0029; contract C4): a meter's signed
readings taken over HTTP while the facility's chips report nothing are an energy balance in
``GET /v1/detect/balances``, an ``energy_unaccounted`` finding and the ``/metrics`` gauges."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from api_world import Clock, World, build_world, open_world  # type: ignore[import-not-found]
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pausewatch.detect import next_reading
from pausewatch.service import LogService
from pausewatch.statements import sign_statement

POINT = {
    "start",
    "end",
    "value",
    "sigma",
    "standardised",
    "cusum",
    "one_shot_limit",
    "cusum_limit",
    "alarm",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("balances") / "world")
    return built


@pytest.fixture
def opened(world: World, tmp_path: Path) -> Iterator[tuple[LogService, TestClient, Clock]]:
    with open_world(world, tmp_path / "copy") as value:
        yield value


def readings(world: World, client: TestClient, days: int) -> None:
    """Daily readings of meter-1 (1 kW, far beyond the chips' silence) for ``days`` days
    ending the day before the world's clock."""
    end = datetime.combine(world.now.date(), datetime.min.time(), tzinfo=world.now.tzinfo)
    start = end - timedelta(days=days)
    previous: dict[str, Any] | None = None
    for d in range(days + 1):
        body = next_reading(
            "meter-1",
            previous,
            start + timedelta(days=d - 1),
            start + timedelta(days=d),
            8.64e7 * d,
        )
        statement = sign_statement("meter.reading/v1", body, world.keys["meter"])
        resp = client.post("/v1/statements", json=statement.to_json())
        assert resp.status_code == 201, resp.text
        previous = body


def test_a_meter_drawing_beyond_silent_chips_is_an_energy_balance_alarm_everywhere(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """Readings of a meter on cluster c1 with no chip reporting: every closed day is in
    GET /v1/detect/balances with contract C4's keys, the first alarms the one-shot test, the
    policy finds energy_unaccounted on facility f1 with contract C3's figures, and /metrics
    shows the facility's gauges."""
    _, client, clock = opened
    readings(world, client, 5)
    clock.advance(timedelta(hours=12))
    got = client.get("/v1/detect/balances").json()
    assert (got["period"], got["false_alarms_per_facility_year"]) == ("P1D", 0.03)
    (fac,) = [f for f in got["facilities"] if f["facility_id"] == "f1"]
    assert (fac["operator_id"], fac["meters"]) == ("lab", ["meter-1"])
    assert set(fac["balances"]) == {"energy", "compute_energy", "compute_counters"}
    energy = fac["balances"]["energy"]
    assert len(energy) == 5
    assert all(set(p) >= POINT for p in energy)
    assert energy[0]["alarm"] == "one_shot"
    assert energy[0]["value"] == pytest.approx(8.64e7)

    resp = client.get("/v1/findings", params={"limit": 1000})
    (finding,) = [
        f
        for f in resp.json()["findings"]
        if f["kind"] == "energy_unaccounted" and f["figures"]["test"] == "one_shot"
    ]
    assert finding["subject"] == "facility:f1"
    assert finding["action"] == "inspection"
    assert finding["figures"]["period_start"] == energy[0]["start"][:10]
    assert {"value", "sigma", "statistic", "limit", "alpha", "basis"} <= set(finding["figures"])

    families = {m.name: m for m in text_string_to_metric_families(client.get("/metrics").text)}
    samples = {
        (s.labels["facility"], s.labels["balance"]): s.value
        for s in families["pausewatch_balance_alarms"].samples
    }
    assert samples[("f1", "energy")] >= 1
    assert any(
        s.labels == {"facility": "f1", "balance": "energy"}
        for s in families["pausewatch_balance_standardised"].samples
    )


def test_one_facility_and_an_unknown_one(opened: tuple[LogService, TestClient, Clock]) -> None:
    """``?facility=ID`` narrows the answer to that facility; an unknown one is a 404 problem
    document naming it."""
    _, client, _ = opened
    got = client.get("/v1/detect/balances", params={"facility": "f1"}).json()
    assert [f["facility_id"] for f in got["facilities"]] == ["f1"]
    resp = client.get("/v1/detect/balances", params={"facility": "nowhere"})
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "nowhere" in resp.json()["detail"]


def test_the_openapi_document_describes_the_balances(
    opened: tuple[LogService, TestClient, Clock],
) -> None:
    """The OpenAPI document describes GET /v1/detect/balances and its facility parameter."""
    _, client, _ = opened
    path = client.get("/openapi.json").json()["paths"]["/v1/detect/balances"]["get"]
    assert "SITMUF" in path["description"]
    assert {p["name"] for p in path["parameters"]} >= {"facility", "at"}


def test_the_audit_recomputes_the_balances_from_the_log_alone(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """An audit that folds the log itself recomputes every closed day's balances and their
    alarms, and the log passes."""
    from pausewatch.audit import audit_log
    from pausewatch.ledger import LogStore

    service, client, clock = opened
    readings(world, client, 5)
    clock.advance(timedelta(hours=12))
    report, _ = audit_log(
        LogStore(service.engine).entries(),
        [],
        service.log.verifier,
        secretariat=world.keys["secretariat"].signer_id,
    )
    assert report.ok, report.problems
    assert report.balances_recomputed >= 4
    assert report.balance_alarms >= 1
    assert report.to_json()["balances_recomputed"] == report.balances_recomputed
