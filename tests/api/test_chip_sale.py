"""The operator a chip is sold to, over HTTP (docs/adr/0016-chip-buyer.md): the maker's
certification names it, a ``chip.transfer/v1`` passes the right on, and any other operator's
install is refused with a 403 problem naming the rightful one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import World, build_world, open_world  # type: ignore[import-not-found]
from fastapi.testclient import TestClient

from pausewatch.ledger import PendingEntry
from pausewatch.service import LogService
from pausewatch.statements import KeyPair, sign_statement

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("sale") / "world")
    return built


@pytest.fixture
def opened(world: World, tmp_path: Path) -> Iterator[tuple[LogService, TestClient]]:
    """A copy of the world where ``lab-b`` has a cluster ``cb`` of its own."""
    with open_world(world, tmp_path / "copy") as (service, client, _clock):
        post(client, world, "operator-b", "facility.register/v1", FACILITY_B)
        post(client, world, "operator-b", "cluster.register/v1", CLUSTER_B)
        yield service, client


FACILITY_B = {
    "facility_id": "fb",
    "operator_id": "lab-b",
    "name": "FB",
    "location": {"country": "US"},
    "power_capacity_mw": 20.0,
}
CLUSTER_B = {"cluster_id": "cb", "facility_id": "fb", "name": "CB", "network_gbps": 100.0}


def post(
    client: TestClient, world: World, role: str, kind: str, body: dict[str, Any], status: int = 201
) -> dict[str, Any]:
    resp = client.post(
        "/v1/statements", json=sign_statement(kind, body, world.keys[role]).to_json()
    )
    assert resp.status_code == status, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def install(cluster: str, chip: str = "chip-2") -> dict[str, Any]:
    return {"chip_id": chip, "action": "install", "cluster_id": cluster}


def size(client: TestClient) -> int:
    return int(client.get("/v1/log").json()["size"])


def test_another_operator_cannot_install_a_chip_sold_to_lab(
    world: World, opened: tuple[LogService, TestClient]
) -> None:
    """The reported race: ``lab-b`` installs ``lab``'s chip first. It gets a 403 problem that
    names ``lab``, nothing is appended, and ``lab`` then installs its chip."""
    _service, client = opened
    before = size(client)
    problem = post(client, world, "operator-b", "chip.custody/v1", install("cb"), 403)
    assert problem["type"].endswith("/forbidden-signer")
    assert "only 'lab' may install it" in problem["detail"]
    assert size(client) == before
    post(client, world, "operator", "chip.custody/v1", install("c1"))
    chip = client.get("/v1/views/chips", params={"limit": 10}).json()
    rows = {row["chip_id"]: row for row in chip["rows"]}
    assert (rows["chip-2"]["status"], rows["chip-2"]["cluster_id"]) == ("installed", "c1")


def test_a_new_certification_must_name_its_buyer(
    world: World, opened: tuple[LogService, TestClient]
) -> None:
    """A chip.certify/v1 without ``operator_id`` is refused (422 problem), nothing appended."""
    _service, client = opened
    before = size(client)
    body = {
        "chip_id": "chip-9",
        "maker_id": "nv",
        "model": "H100 SXM",
        "serial": "SN-9",
        "key": KeyPair.generate("chip-9").signer_id,
    }
    problem = post(client, world, "chip_maker", "chip.certify/v1", body, 422)
    assert "must name operator_id" in problem["detail"]
    assert size(client) == before


def test_a_sale_passes_the_right_to_install(
    world: World, opened: tuple[LogService, TestClient]
) -> None:
    """``lab`` sells chip-2 to ``lab-b``: ``lab`` may no longer install it (403 naming
    ``lab-b``), ``lab-b`` may."""
    _service, client = opened
    post(
        client, world, "operator", "chip.transfer/v1", {"chip_id": "chip-2", "to_operator": "lab-b"}
    )
    problem = post(client, world, "operator", "chip.custody/v1", install("c1"), 403)
    assert "only 'lab-b' may install it" in problem["detail"]
    post(client, world, "operator-b", "chip.custody/v1", install("cb"))


def test_a_certification_without_a_buyer_already_on_the_log_folds_as_before(
    world: World, opened: tuple[LogService, TestClient]
) -> None:
    """A certification naming no buyer, put on the log by a service from before buyers were
    named, still folds: its chip goes to the first operator that installs it."""
    service, client = opened
    body = {
        "chip_id": "chip-old",
        "maker_id": "nv",
        "model": "H100 SXM",
        "serial": "SN-old",
        "key": KeyPair.generate("chip-old").signer_id,
    }
    old = sign_statement("chip.certify/v1", body, world.keys["chip_maker"])
    service.sequencer.submit(PendingEntry(old.canonical_bytes(), dedup_key=old.digest)).result(10)
    service.fold()
    post(client, world, "operator-b", "chip.custody/v1", install("cb", "chip-old"))
