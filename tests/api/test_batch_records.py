"""`GET /v1/telemetry/batches/{index}/records`: the stored records behind a batch, paginated,
each as the exact line its chip signed (docs/adr/0019)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from api_world import World, build_world, fmt, open_world  # type: ignore[import-not-found]
from fastapi.testclient import TestClient

from pausewatch.client import PausewatchClient
from pausewatch.statements import sign_statement
from pausewatch.telemetry import record_hash, sign_record

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("records") / "world")
    return built


@pytest.fixture(scope="module")
def served(world: World) -> Iterator[tuple[TestClient, int, list[bytes]]]:
    """The world with one batch of five chained records of ``chip-1`` and a line the service
    rejects; yields the client, the batch's index and the accepted lines."""
    with open_world(world) as (_service, client, clock):
        start = clock.now.replace(microsecond=0) - timedelta(hours=1)
        lines: list[bytes] = []
        prev = None
        for seq in range(5):
            begin = start + timedelta(minutes=seq)
            record = {
                "chip_id": "chip-1",
                "seq": seq,
                "prev": prev,
                "window_start": fmt(begin),
                "window_end": fmt(begin + timedelta(minutes=1)),
                "energy_j": 30_000,
                "power_w_avg": 500.0,
                "power_w_peak": 600.0,
                "tensor_active": 0.01,
                "sm_active": 0.02,
                "flop": {},
                "nvlink_tx_bytes": 0,
                "nvlink_rx_bytes": 0,
                "net_tx_bytes": 0,
                "net_rx_bytes": 0,
                "mem_used_bytes": 0,
                "run_id": None,
                "firmware_digest": hashlib.sha256(b"fw").hexdigest(),
            }
            line = sign_record(record, world.keys["chip"])
            prev = record_hash(line)
            lines.append(line)
        data = b"\n".join([*lines[:2], b"{}", *lines[2:]]) + b"\n"
        body = {
            "operator_id": "lab",
            "batch_digest": hashlib.sha256(data).hexdigest(),
            "records": 6,
        }
        submission = sign_statement("telemetry.submission/v1", body, world.keys["operator"])
        header = base64.b64encode(json.dumps(submission.to_json()).encode()).decode()
        resp = client.post(
            "/v1/telemetry/batches", content=data, headers={"Pausewatch-Submission": header}
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["accepted"] == 5
        yield client, resp.json()["index"], lines


def _path(index: int) -> str:
    return f"/v1/telemetry/batches/{index}/records"


def test_pages_walk_the_accepted_records_in_root_order(
    served: tuple[TestClient, int, list[bytes]],
) -> None:
    """Pages of two, followed by ``next``, give every accepted record once, in position order,
    each with its hash, chip, seq and the exact signed line."""
    client, index, lines = served
    walked: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(_path(index), params={"offset": offset, "limit": 2}).json()
        assert page["index"] == index
        assert page["total"] == 5
        assert len(page["records"]) <= 2
        walked += page["records"]
        offset = page["next"]
    assert [r["position"] for r in walked] == list(range(5))
    assert [r["line"].encode() for r in walked] == lines
    assert [r["hash"] for r in walked] == [record_hash(line) for line in lines]
    assert [(r["chip_id"], r["seq"]) for r in walked] == [("chip-1", s) for s in range(5)]
    assert all(json.loads(r["line"])["sig"] for r in walked)


def test_the_client_reads_every_record(served: tuple[TestClient, int, list[bytes]]) -> None:
    """``PausewatchClient.batch_records`` follows the pages to the end."""
    client, index, lines = served
    with PausewatchClient("http://testserver", transport=client._transport) as pw:
        records = list(pw.batch_records(index, page_size=2))
    assert [r["line"].encode() for r in records] == lines


@pytest.mark.parametrize("index", [0, 10**9])
def test_an_index_that_is_no_batch_is_a_404_problem(
    served: tuple[TestClient, int, list[bytes]], index: int
) -> None:
    """An entry that is not a telemetry batch, or none at all: a 404 problem document."""
    client, _, _ = served
    resp = client.get(_path(index))
    assert resp.status_code == 404
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["detail"] == f"entry {index} is no telemetry batch the log accepted"


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}, {"offset": 2**53}]
)
def test_out_of_bounds_pages_are_refused(
    served: tuple[TestClient, int, list[bytes]], params: dict[str, int]
) -> None:
    """A limit of 0 or over 1000, a negative or enormous offset: a 422 problem."""
    client, index, _ = served
    resp = client.get(_path(index), params=params)
    assert resp.status_code == 422
    assert resp.headers["content-type"] == PROBLEM


def test_the_route_is_described_in_openapi(served: tuple[TestClient, int, list[bytes]]) -> None:
    """The OpenAPI document describes the route and each record field."""
    client, _, _ = served
    doc = client.get("/openapi.json").json()
    route = doc["paths"]["/v1/telemetry/batches/{index}/records"]["get"]
    assert "records_root" in route["description"]
    fields = doc["components"]["schemas"]["BatchRecordPublic"]["properties"]
    assert all(fields[f].get("description") for f in ("position", "hash", "seq", "line"))
