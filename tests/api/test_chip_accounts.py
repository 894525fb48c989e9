"""Chips unaccounted for over HTTP (issue 16; docs/adr/0026): a shipment, a sale, an export and
an inspection taken over HTTP are in ``GET /v1/detect/chips``, the findings of the policy in
force and the ``pausewatch_chips_unaccounted`` gauge."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import Clock, World, build_world, open_world  # type: ignore[import-not-found]
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from pausewatch.service import LogService
from pausewatch.statements import sign_statement


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("chips") / "world")
    return built


@pytest.fixture
def opened(world: World, tmp_path: Path) -> Iterator[tuple[LogService, TestClient, Clock]]:
    with open_world(world, tmp_path / "copy") as value:
        yield value


def submit(world: World, client: TestClient, kind: str, body: dict[str, Any], role: str) -> int:
    resp = client.post(
        "/v1/statements", json=sign_statement(kind, body, world.keys[role]).to_json()
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["index"])


def findings(client: TestClient, kind: str) -> list[dict[str, Any]]:
    resp = client.get("/v1/findings", params={"limit": 1000})
    assert resp.status_code == 200, resp.text
    return [f for f in resp.json()["findings"] if f["kind"] == kind]


def test_a_shipment_not_put_to_use_is_unaccounted_for_in_the_api_findings_and_metrics(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """A chip shipped to lab and neither installed nor seen is unaccounted for in lab's and
    party us's balance, with the shipment's log index; the policy files chips_unaccounted on
    both asking for an inspection, and /metrics shows the party's gauge at 1."""
    _, client, _ = opened
    before = client.get("/v1/detect/chips").json()
    assert before["certified_only"]["chips"] == ["chip-2"]
    assert findings(client, "chips_unaccounted") == []
    ship = {
        "shipment_id": "ship-1",
        "maker_id": "nv",
        "chip_ids": ["chip-2"],
        "to_operator": "lab",
        "receiving_party": "us",
        "shipped_at": "2027-01-02T00:00:00Z",
    }
    index = submit(world, client, "chip.ship/v1", ship, "chip_maker")
    got = client.get("/v1/detect/chips").json()
    (lab,) = [a for a in got["operators"] if a["id"] == "lab"]
    (us,) = [a for a in got["parties"] if a["id"] == "us"]
    for acc in (lab, us):
        assert acc["shipped"]["count"] == 2
        assert acc["installed"]["chips"] == ["chip-1"]
        assert acc["unaccounted"] == {"count": 1, "chips": ["chip-2"]}
        assert acc["evidence"] == [index]
    subjects = {
        (f["subject"], f["severity"], f["action"], tuple(f["evidence"]))
        for f in findings(client, "chips_unaccounted")
    }
    assert subjects == {
        ("operator:lab", "serious", "inspection", (f"log:{index}",)),
        ("party:us", "serious", "inspection", (f"log:{index}",)),
    }
    scrape = client.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape)
        for s in family.samples
    }
    assert samples[("pausewatch_chips_unaccounted", (("party", "us"),))] == 1


def test_an_export_and_an_inspection_are_listed_and_found(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """An export lists its destination and date and files chips_exported on the party; an
    inspection that found a chip missing and a seal broken is listed for its facility and
    files a serious inspection_discrepancy there."""
    _, client, _ = opened
    export = {
        "export_id": "exp-1",
        "chip_ids": ["chip-2"],
        "destination_country": "ZZ",
        "destination_entity": "Elsewhere Ltd",
        "at": "2027-01-03T00:00:00Z",
    }
    exported = submit(world, client, "chip.export/v1", export, "operator")
    report = {
        "plan_id": "plan-1",
        "inspected_at": "2027-06-01T00:00:00Z",
        "sample": ["chip-1"],
        "chips_missing": ["chip-1"],
        "seals": [{"seal_id": "rack-1", "intact": False}],
    }
    reported = submit(world, client, "inspection.report/v1", report, "inspector")
    got = client.get("/v1/detect/chips").json()
    (ex,) = got["exports"]
    assert (ex["from_party"], ex["destination_country"], ex["destination_entity"], ex["idx"]) == (
        "us",
        "ZZ",
        "Elsewhere Ltd",
        exported,
    )
    assert ex["at"].startswith("2027-01-03T00:00:00")
    (ins,) = got["inspections"]
    assert (ins["facility_id"], ins["missing"], ins["seals_broken"], ins["idx"]) == (
        "f1",
        ["chip-1"],
        ["rack-1"],
        reported,
    )
    (f,) = findings(client, "chips_exported")
    assert f["subject"] == "party:us"
    assert "Elsewhere Ltd (ZZ)" in f["explanation"]
    (g,) = findings(client, "inspection_discrepancy")
    assert (g["subject"], g["severity"], g["evidence"]) == (
        "facility:f1",
        "serious",
        [f"log:{reported}"],
    )


def test_the_chip_accounts_are_described_in_openapi(
    opened: tuple[LogService, TestClient, Clock],
) -> None:
    """The OpenAPI document describes GET /v1/detect/chips."""
    _, client, _ = opened
    path = client.get("/openapi.json").json()["paths"]["/v1/detect/chips"]["get"]
    assert "unaccounted" in path["description"]


def test_the_dashboard_shows_the_balances_and_their_findings(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """The facilities page shows each balance with its chips unaccounted for and the
    chips_unaccounted finding on it, and the inspection's finding under its facility."""
    _, client, _ = opened
    ship = {
        "shipment_id": "ship-1",
        "maker_id": "nv",
        "chip_ids": ["chip-2"],
        "to_operator": "lab",
        "receiving_party": "us",
        "shipped_at": "2027-01-02T00:00:00Z",
    }
    submit(world, client, "chip.ship/v1", ship, "chip_maker")
    report = {
        "plan_id": "plan-1",
        "inspected_at": "2027-06-01T00:00:00Z",
        "sample": ["chip-1"],
        "seals": [{"seal_id": "rack-1", "intact": False}],
    }
    submit(world, client, "inspection.report/v1", report, "inspector")
    html = client.get("/ui/facilities").text
    for account in ("operator:lab", "party:us"):
        row = re.search(rf'<tr data-account="{account}">(.*?)</tr>', html, re.S)
        assert row is not None, account
        cell = re.search(
            r'data-field="account-unaccounted">(\d+)<details><summary>ids</summary>([^<]*)', row[1]
        )
        assert cell is not None
        assert (cell[1], cell[2].strip()) == ("1", "chip-2")
        assert ">chips_unaccounted</span>" in row[1]
    facility = re.search(r'data-facility="f1">(.*?)</section>', html, re.S)
    assert facility is not None
    assert ">inspection_discrepancy</span>" in facility[1]
    assert "1 seal(s) broken (rack-1)" in facility[1]
