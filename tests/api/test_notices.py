"""Who may write ``notice/v1`` to the log, and how much (docs/adr/0015-notice-admission.md),
over HTTP: registered signers only, each notice at most ``notice_max_bytes``, each signer within
a count and a byte quota over a trailing window of the log's integration times."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api_world import T0, Clock, World, build_world  # type: ignore[import-not-found]
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import KeyPair, sign_statement

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("notices") / "world")
    return built


@contextmanager
def serve(
    world: World, data_dir: Path, clock: Clock | None = None, **limits: Any
) -> Iterator[tuple[LogService, TestClient, Clock]]:
    """A service on a copy of ``world`` in ``data_dir`` (copied once), with notice limits."""
    if not data_dir.exists():
        shutil.copytree(world.data_dir, data_dir)
    clock = clock or Clock(world.now)
    settings = Settings(data_dir=data_dir, batch_latency_ms=1, clerk_interval_s=0, **limits)
    service = LogService(settings, clock=clock)
    with TestClient(create_app(service)) as client:
        yield service, client, clock


def notice(key: KeyPair, title: str, **body: Any) -> dict[str, Any]:
    return sign_statement("notice/v1", {"title": title, **body}, key).to_json()


def size(client: TestClient) -> int:
    return int(client.get("/v1/log").json()["size"])


def test_a_stranger_cannot_write_300_large_notices(world: World, tmp_path: Path) -> None:
    """The reported flood: 300 notices of about 130 KB from a key the registry does not hold.
    Each is refused with a 403 problem and the log does not grow by a byte."""
    stranger = KeyPair.generate("stranger")
    refs = ["x" * 1_990] * 64  # about 130 KB of references
    with serve(world, tmp_path / "d", max_body_bytes=1024 * 1024) as (_s, client, _c):
        before = size(client)
        for i in range(300):
            resp = client.post("/v1/statements", json=notice(stranger, f"n{i}", references=refs))
            assert resp.status_code == 403, resp.text
            assert resp.headers["content-type"] == PROBLEM
            assert resp.json()["type"].endswith("/forbidden-signer")
        assert size(client) == before


@pytest.mark.parametrize("role", ["chip", "witness"])
def test_a_key_without_a_voice_is_refused(world: World, tmp_path: Path, role: str) -> None:
    """A chip's key (it speaks through telemetry) and a key the registry never bound (a
    witness's) may not file a notice: 403, nothing appended."""
    with serve(world, tmp_path / "d") as (_s, client, _c):
        before = size(client)
        resp = client.post("/v1/statements", json=notice(world.keys[role], "hello"))
        assert resp.status_code == 403, resp.text
        assert size(client) == before


def test_a_notice_over_the_size_limit_is_a_413(world: World, tmp_path: Path) -> None:
    """A registered signer's notice longer than ``notice_max_bytes`` is refused with a 413
    problem naming the limit; nothing is appended."""
    refs = ["x" * 1_990] * 20  # about 40 KB, over the default 32 KiB
    with serve(world, tmp_path / "d") as (_s, client, _c):
        before = size(client)
        resp = client.post(
            "/v1/statements", json=notice(world.keys["operator"], "t", references=refs)
        )
        assert resp.status_code == 413, resp.text
        assert resp.json()["type"].endswith("/notice-too-large")
        assert str(32 * 1024) in resp.json()["detail"]
        assert size(client) == before


def test_a_signer_is_held_to_its_count_quota(world: World, tmp_path: Path) -> None:
    """Past ``notice_quota_count`` notices in the window a signer gets 429 with a Retry-After
    that says when its oldest counted notice leaves the window; once it has, it may write
    again. Another signer is not affected."""
    with serve(world, tmp_path / "d", notice_quota_count=3, notice_window_s=600) as (
        _s,
        client,
        clock,
    ):
        key = world.keys["operator"]
        for i in range(3):
            resp = client.post("/v1/statements", json=notice(key, f"n{i}"))
            assert resp.status_code == 201, resp.text
        before = size(client)
        resp = client.post("/v1/statements", json=notice(key, "one too many"))
        assert resp.status_code == 429, resp.text
        assert resp.headers["content-type"] == PROBLEM
        assert resp.json()["type"].endswith("/notice-quota")
        assert 590 <= int(resp.headers["Retry-After"]) <= 600
        assert size(client) == before
        other = client.post("/v1/statements", json=notice(world.keys["party"], "mine"))
        assert other.status_code == 201, other.text
        clock.advance(timedelta(seconds=601))
        again = client.post("/v1/statements", json=notice(key, "one too many"))
        assert again.status_code == 201, again.text


def test_a_signer_is_held_to_its_byte_quota(world: World, tmp_path: Path) -> None:
    """Notices whose bytes together pass ``notice_quota_bytes`` are refused (429), however
    few they are."""
    text = "y" * 15_000
    with serve(world, tmp_path / "d", notice_quota_bytes=40_000) as (_s, client, _c):
        key = world.keys["evaluator"]
        assert client.post("/v1/statements", json=notice(key, "a", text=text)).status_code == 201
        assert client.post("/v1/statements", json=notice(key, "b", text=text)).status_code == 201
        resp = client.post("/v1/statements", json=notice(key, "c", text=text))
        assert resp.status_code == 429, resp.text


def test_the_quota_is_counted_from_the_log_across_a_restart(world: World, tmp_path: Path) -> None:
    """The quota is counted on the log's integration times: a service restarted on the same
    log still refuses the signer that used its quota, and a re-sent notice (a duplicate) is
    answered with its entry, not refused."""
    data_dir = tmp_path / "d"
    key = world.keys["delegate"]
    limits = {"notice_quota_count": 2, "notice_window_s": 3600}
    with serve(world, data_dir, **limits) as (_s, client, clock):
        first = notice(key, "one")
        for body in (first, notice(key, "two")):
            assert client.post("/v1/statements", json=body).status_code == 201
    clock.advance(timedelta(minutes=30))
    with serve(world, data_dir, clock, **limits) as (_s, client, clock):
        resp = client.post("/v1/statements", json=notice(key, "three"))
        assert resp.status_code == 429, resp.text
        assert client.post("/v1/statements", json=first).status_code == 200
        clock.advance(timedelta(minutes=31))
        assert client.post("/v1/statements", json=notice(key, "three")).status_code == 201


def test_the_secretariat_is_held_to_the_size_not_the_quota(world: World, tmp_path: Path) -> None:
    """The service's own secretariat key may file past the quota (it runs the log), but not a
    notice over the size limit."""
    key = world.keys["secretariat"]
    with serve(world, tmp_path / "d", notice_quota_count=1) as (_s, client, _c):
        for i in range(3):
            assert client.post("/v1/statements", json=notice(key, f"s{i}")).status_code == 201
        refs = ["x" * 1_990] * 20
        resp = client.post("/v1/statements", json=notice(key, "big", references=refs))
        assert resp.status_code == 413, resp.text


def test_the_quota_is_read_back_from_either_database(tmp_path: Path, db_url: str) -> None:
    """On SQLite and PostgreSQL alike, a restarted service counts the notices its log holds
    in the window, and only those: an older one no longer counts."""
    settings = Settings(
        data_dir=tmp_path,
        database_url=db_url,
        batch_latency_ms=1,
        clerk_interval_s=0,
        notice_quota_count=2,
        notice_window_s=3600,
    )
    clock = Clock(T0)
    party = KeyPair.generate("us")
    service = LogService(settings, clock=clock)
    with TestClient(create_app(service)) as client:
        body = {"party_id": "us", "name": "US", "key": party.signer_id}
        registration = sign_statement("party.register/v1", body, service.secretariat_key)
        assert client.post("/v1/statements", json=registration.to_json()).status_code == 201
        assert client.post("/v1/statements", json=notice(party, "old")).status_code == 201
        clock.advance(timedelta(minutes=50))
        assert client.post("/v1/statements", json=notice(party, "new")).status_code == 201
    clock.advance(timedelta(minutes=20))  # "old" has left the window, "new" has not
    service = LogService(settings, clock=clock)
    with TestClient(create_app(service)) as client:
        assert client.post("/v1/statements", json=notice(party, "a")).status_code == 201
        resp = client.post("/v1/statements", json=notice(party, "b"))
        assert resp.status_code == 429, resp.text
