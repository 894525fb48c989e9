"""Regressions for defects found by probing the service over HTTP: each answer is now a problem
document of the right status (never a 500 with a reset connection), with nothing lost."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import World, build_world, open_world, telemetry_line  # type: ignore[import-not-found]
from fastapi.testclient import TestClient
from sqlalchemy import event

from pausewatch.api import create_app
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import MAX_JSON_DEPTH, canonical, sign_statement

PROBLEM = "application/problem+json"


@pytest.fixture
def service(tmp_path: Path) -> LogService:
    return LogService(Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0))


@pytest.fixture
def client(service: LogService) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        yield c


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("hardening") / "world")
    return built


def nested(depth: int) -> bytes:
    """A statement-shaped JSON object whose ``body`` nests ``depth`` arrays."""
    return b'{"kind":"notice/v1","body":' + b"[" * depth + b"]" * depth + b"}"


# -- deeply nested JSON --------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 5_000, 100_000])
def test_a_statement_nested_too_deeply_is_a_400(client: TestClient, depth: int) -> None:
    """A statement nested past MAX_JSON_DEPTH is refused as malformed JSON (400 problem), not
    a RecursionError answered 500."""
    resp = client.post(
        "/v1/statements", content=nested(depth), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["type"].endswith("/malformed-json")
    assert "nested deeper" in resp.json()["detail"]
    assert client.get("/v1/log").json()["size"] == 0


def test_a_statement_at_the_depth_limit_is_judged_on_its_merits(client: TestClient) -> None:
    """Nesting up to the limit is parsed: the statement is then refused for what it is (a body
    that is no object), with a 422, not as malformed JSON."""
    resp = client.post(
        "/v1/statements",
        content=nested(MAX_JSON_DEPTH - 1),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 422, resp.text


def test_a_submission_header_nested_too_deeply_is_a_400(client: TestClient) -> None:
    """The telemetry upload's submission header is JSON too: nested too deeply, 400."""
    header = base64.b64encode(nested(50_000)).decode()
    resp = client.post(
        "/v1/telemetry/batches",
        content=b"",
        headers={"Pausewatch-Submission": header, "Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == PROBLEM


def test_a_telemetry_line_nested_too_deeply_is_a_rejected_line(
    world: World, tmp_path: Path
) -> None:
    """A JSONL line nested 20,000 deep (far past Python's recursion limit, within the line
    length limit) is one malformed line of its batch: the batch is integrated with that line
    rejected and the good line accepted, not answered 500."""
    with open_world(world, tmp_path / "copy") as (_service, client, clock):
        data = telemetry_line(world, clock.now) + b"[" * 20_000 + b"]" * 20_000 + b"\n"
        body = {
            "operator_id": "lab",
            "batch_digest": hashlib.sha256(data).hexdigest(),
            "records": 2,
        }
        submission = sign_statement("telemetry.submission/v1", body, world.keys["operator"])
        header = base64.b64encode(canonical(submission.to_json())).decode()
        resp = client.post(
            "/v1/telemetry/batches",
            content=data,
            headers={"Pausewatch-Submission": header, "Content-Type": "application/x-ndjson"},
        )
        assert resp.status_code == 201, resp.text
        answer = resp.json()
        assert answer["accepted"] == 1
        assert [r["rule"] for r in answer["rejected"]] == ["malformed"]


# -- a full disk ---------------------------------------------------------------------------------


def _cap_pages(service: LogService, pages: int | None) -> None:
    """Hold every connection of the service's SQLite database to ``pages`` pages (SQLite's own
    ``max_page_count``: past it a write fails with SQLITE_FULL, as on a full disk)."""
    engine = service.engine
    for listener in list(getattr(engine, "_full_listeners", [])):
        event.remove(engine, "connect", listener)

    def cap(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA max_page_count = {pages if pages is not None else 2**31 - 2}")
        cur.close()

    event.listen(engine, "connect", cap)
    engine._full_listeners = [cap]  # type: ignore[attr-defined]
    engine.dispose()  # pooled connections reconnect under the new cap


def test_a_full_database_is_a_503_and_loses_nothing(
    client: TestClient, service: LogService
) -> None:
    """When the database cannot grow, a submission gets 503 with Retry-After (not a 500 with a
    reset connection); every entry acknowledged before is intact, and once there is room again
    the same statement is appended and the views rebuild identical."""
    key = service.secretariat_key
    acked = []
    for i in range(5):
        resp = client.post(
            "/v1/statements", json=sign_statement("notice/v1", {"title": f"n{i}"}, key).to_json()
        )
        assert resp.status_code == 201, resp.text
        acked.append(resp.json())
    with service.engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
    _cap_pages(service, pages)
    refused = None
    for i in range(40):
        big = sign_statement("notice/v1", {"title": f"big{i}", "text": "z" * 20_000}, key)
        resp = client.post("/v1/statements", json=big.to_json())
        if resp.status_code == 201:
            acked.append(resp.json())
            continue
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"] == PROBLEM
        assert resp.json()["type"].endswith("/storage-full")
        assert int(resp.headers["Retry-After"]) >= 1
        refused = big
        break
    assert refused is not None, "the capped database should have filled up"
    assert client.get("/healthz").status_code == 200
    _cap_pages(service, None)
    for answer in acked:
        entry = client.get(f"/v1/entries/{answer['index']}").json()
        assert entry["leaf_hash"] == answer["leaf_hash"]
    retried = client.post("/v1/statements", json=refused.to_json())
    assert retried.status_code == 201, retried.text
    assert retried.json()["index"] == len(acked)
    after = sign_statement("notice/v1", {"title": "after"}, key)
    assert client.post("/v1/statements", json=after.to_json()).status_code == 201
    assert client.get("/v1/log").json()["size"] == len(acked) + 2
    assert service.state.rebuild(service.log).identical
