"""Daily balances over HTTP (issue 16 item 2; docs/adr/0029; contract C4): a meter's signed
readings taken over HTTP while the facility's chips report nothing are an energy balance in
``GET /v1/detect/balances``, an ``energy_unaccounted`` finding and the ``/metrics`` gauges."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
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


ROLLUP_FACILITIES = {"f2": "operator", "f3": "operator", "f4": "operator-b"}
"""Facilities the roll-up test registers, with the role whose key registers them: f2 and f3
of operator lab, f4 of operator lab-b, all of party us."""


def thin_shortfall(
    world: World,
    client: TestClient,
    days: int = 2,
    facilities: Mapping[str, str] = MappingProxyType(ROLLUP_FACILITIES),
) -> None:
    """Facilities f2, f3 (lab) and f4 (lab-b), or those of ``facilities`` (id to the role
    that registers it), each metered by a meter stated at 30% random error reading 1 kW with
    no chip reporting for ``days`` days: each day is 3.3 sigma short at each facility (under
    its limits), more at the operator's and party's sums."""
    from pausewatch.statements import KeyPair

    def submit(kind: str, body: dict[str, Any], key: Any) -> None:
        statement = sign_statement(kind, body, key)
        resp = client.post("/v1/statements", json=statement.to_json())
        assert resp.status_code == 201, resp.text

    end = datetime.combine(world.now.date(), datetime.min.time(), tzinfo=world.now.tzinfo)
    start = end - timedelta(days=days)
    for fid, role in facilities.items():
        operator = "lab" if role == "operator" else "lab-b"
        meter, meter_key = f"m-{fid}", KeyPair.generate(f"m-{fid}")
        submit(
            "facility.register/v1",
            {
                "facility_id": fid,
                "operator_id": operator,
                "name": fid.upper(),
                "location": {"country": "US"},
                "power_capacity_mw": 1.0,
            },
            world.keys[role],
        )
        submit(
            "meter.certify/v1",
            {
                "meter_id": meter,
                "model": "Acme 9000",
                "serial": f"SN-{meter}",
                "key": meter_key.signer_id,
                "random_sigma": 0.3,
                "systematic_sigma": 0.0,
            },
            world.keys["secretariat"],
        )
        submit("meter.install/v1", {"meter_id": meter, "facility_id": fid}, world.keys[role])
        previous: dict[str, Any] | None = None
        for d in range(days + 1):
            previous = next_reading(
                meter,
                previous,
                start + timedelta(days=d - 1),
                start + timedelta(days=d),
                8.64e7 * d,
            )
            submit("meter.reading/v1", previous, meter_key)


def test_a_thin_shortfall_alarms_the_operator_roll_up_not_again_its_party_over_http(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """Three facilities each short under its own limits: GET /v1/detect/balances lists the
    operators and parties with contract C8's keys, lab's sum (f2, f3) alarms the one-shot test
    on the first day, no facility alarms, party us leaves lab's alarming facilities out and
    has one operator's (f4) left, so it repeats no test; the policy files energy_unaccounted
    on operator:lab with figure scope and not on party:us, and /metrics has the roll-up
    gauges beside the facility ones."""
    _, client, clock = opened
    thin_shortfall(world, client)
    clock.advance(timedelta(hours=12))
    got = client.get("/v1/detect/balances").json()
    assert got["false_alarms_per_operator_year"] == got["false_alarms_per_party_year"] == 0.03
    for fac in got["facilities"]:
        assert all(p["alarm"] is None for days in fac["balances"].values() for p in days)
    operators = {o["operator_id"]: o for o in got["operators"]}
    lab = operators["lab"]
    assert {"operator_id", "party_id", "facilities", "balances"} <= set(lab)
    assert lab["party_id"] == "us"
    assert set(lab["facilities"]) == {"f1", "f2", "f3"}
    assert lab["included"]["energy"] == ["f2", "f3"]
    energy = lab["balances"]["energy"]
    assert len(energy) == 2
    assert all(set(p) >= POINT for p in energy)
    assert energy[0]["alarm"] == "one_shot"
    assert energy[0]["value"] == pytest.approx(2 * 8.64e7)
    assert energy[0]["sigma"] == pytest.approx(8.64e7 * 0.3 * 2**0.5)
    assert operators["lab-b"]["balances"]["energy"] == []
    (party,) = got["parties"]
    assert party["party_id"] == "us"
    assert party["included"]["energy"] == ["f4"]
    assert party["excluded"]["energy"] == ["f2", "f3"]
    assert party["balances"]["energy"] == []

    narrowed = client.get("/v1/detect/balances", params={"facility": "f4"}).json()
    assert [o["operator_id"] for o in narrowed["operators"]] == ["lab-b"]
    assert [p["party_id"] for p in narrowed["parties"]] == ["us"]

    findings = client.get("/v1/findings", params={"limit": 1000}).json()["findings"]
    energy_findings = [f for f in findings if f["kind"] == "energy_unaccounted"]
    subjects = {f["subject"]: f for f in energy_findings}
    assert "operator:lab" in subjects
    assert "party:us" not in subjects
    assert not any(s.startswith("facility:") for s in subjects)
    assert subjects["operator:lab"]["figures"]["scope"] == "operator"
    assert subjects["operator:lab"]["action"] == "inspection"

    families = {m.name: m for m in text_string_to_metric_families(client.get("/metrics").text)}
    rolled = {
        (s.labels["scope"], s.labels["subject"], s.labels["balance"]): s.value
        for s in families["pausewatch_rollup_balance_alarms"].samples
    }
    assert rolled[("operator", "lab", "energy")] >= 1
    assert rolled.get(("party", "us", "energy"), 0) == 0
    assert "pausewatch_balance_alarms" in families


def test_a_shortfall_spread_over_two_operators_alarms_the_party_over_http(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """One facility of lab (f2) and one of lab-b (f4) each short under its own limits: no
    operator sums two facilities, party us sums both operators' and alarms the one-shot test
    on the first day; the policy files energy_unaccounted on party:us with figure scope party
    and on no operator or facility, and /metrics has the party's roll-up gauge."""
    _, client, clock = opened
    thin_shortfall(world, client, facilities={"f2": "operator", "f4": "operator-b"})
    clock.advance(timedelta(hours=12))
    got = client.get("/v1/detect/balances").json()
    assert all(o["balances"]["energy"] == [] for o in got["operators"])
    (party,) = got["parties"]
    assert party["included"]["energy"] == ["f2", "f4"]
    assert party["excluded"]["energy"] == []
    assert party["balances"]["energy"][0]["alarm"] == "one_shot"

    findings = client.get("/v1/findings", params={"limit": 1000}).json()["findings"]
    subjects = {f["subject"]: f for f in findings if f["kind"] == "energy_unaccounted"}
    assert set(subjects) == {"party:us"}
    assert subjects["party:us"]["figures"]["scope"] == "party"
    assert subjects["party:us"]["action"] == "inspection"

    families = {m.name: m for m in text_string_to_metric_families(client.get("/metrics").text)}
    rolled = {
        (s.labels["scope"], s.labels["subject"], s.labels["balance"]): s.value
        for s in families["pausewatch_rollup_balance_alarms"].samples
    }
    assert rolled[("party", "us", "energy")] >= 1


def test_the_audit_recomputes_the_roll_ups(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """An audit that folds the log itself recomputes the operators' and parties' summed days
    and their alarms beside the facilities' (two facilities of each of two operators short,
    so that both operators' roll-ups are tested and alarm)."""
    from pausewatch.audit import audit_log
    from pausewatch.ledger import LogStore

    service, client, clock = opened
    thin_shortfall(
        world,
        client,
        facilities={"f2": "operator", "f3": "operator", "f4": "operator-b", "f5": "operator-b"},
    )
    clock.advance(timedelta(hours=12))
    report, _ = audit_log(
        LogStore(service.engine).entries(),
        [],
        service.log.verifier,
        secretariat=world.keys["secretariat"].signer_id,
    )
    assert report.ok, report.problems
    assert report.rollups_recomputed >= 2
    assert report.rollup_alarms >= 2
    assert report.to_json()["rollup_alarms"] == report.rollup_alarms


def test_the_openapi_document_describes_the_roll_ups(
    opened: tuple[LogService, TestClient, Clock],
) -> None:
    """The OpenAPI description of GET /v1/detect/balances names the operators' and parties'
    roll-ups and their false-alarm rates (contract C8)."""
    _, client, _ = opened
    path = client.get("/openapi.json").json()["paths"]["/v1/detect/balances"]["get"]
    for word in ("`operators`", "`parties`", "`false_alarms_per_operator_year`", "`excluded`"):
        assert word in path["description"]
