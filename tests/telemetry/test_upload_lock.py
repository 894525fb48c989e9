"""An upload's PostgreSQL advisory lock (``_across_processes``) is waited for a bounded time
(``upload_lock_timeout_s``): an upload whose lock another session holds (a stuck replica, a
process paused by the OS, a leaked session) is refused with a retryable 503, not left hanging
with its client."""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from pausewatch.api import create_app
from pausewatch.errors import UploadBusyError
from pausewatch.registry import VIEWS
from pausewatch.service import LogService
from pausewatch.service._telemetry import _upload_lock_key
from pausewatch.settings import Settings
from pausewatch.simulate import Fleet, simulate_fleet
from pausewatch.state import dump_view

from .test_ingest import CLUSTERS, register, submission, ticking

pytestmark = pytest.mark.postgres

LOCK_TIMEOUT_S = 0.5
HANG = 60
"""Seconds after which a test gives up on an upload: only an upload that waits without bound
takes that long (the test then fails instead of hanging)."""


@pytest.fixture
def fleet() -> Fleet:
    return simulate_fleet(CLUSTERS, windows=2, seed=7)


@pytest.fixture
def service(tmp_path: Path, pg_url: str, fleet: Fleet) -> Iterator[LogService]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=pg_url,
        batch_latency_ms=1,
        ingest_workers=0,
        upload_lock_timeout_s=LOCK_TIMEOUT_S,
    )
    svc = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        yield svc
    finally:
        svc.close()


@contextmanager
def held_elsewhere(engine: Engine, operator_id: str, digest: str) -> Iterator[None]:
    """Another session holds the upload's advisory lock (as a stuck replica's would) until the
    block ends."""
    key = {"k": _upload_lock_key(operator_id, digest)}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        assert conn.execute(text("SELECT pg_try_advisory_lock(:k)"), key).scalar() is True
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)


def waiting_for_locks(engine: Engine) -> int:
    """Sessions waiting for an advisory lock another holds."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
        )


def stored_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM telemetry_records")).scalar_one())


def snapshot(service: LogService) -> tuple[dict[str, Any], int, int]:
    """What an upload could change: the views, the stored records, the log's size."""
    views = {view: dump_view(service.engine, view) for view in VIEWS}
    return views, stored_rows(service.engine), service.log.size


def test_an_upload_whose_lock_another_session_holds_is_a_503_problem_and_stores_nothing(
    service: LogService, fleet: Fleet
) -> None:
    """Over HTTP: while another session holds the upload's advisory lock, the upload is
    answered 503 (a problem document with ``Retry-After`` saying another process is ingesting
    the same upload: send it again) once ``upload_lock_timeout_s`` has passed, and nothing of
    it is stored or logged; its session no longer waits for the lock."""
    operator = register(service, fleet)
    data = b"".join(line + b"\n" for line in fleet.windows[0])
    statement = submission(data, operator)
    header = base64.b64encode(json.dumps(statement.to_json()).encode()).decode()
    before = snapshot(service)
    with (
        TestClient(create_app(service, manage=False)) as client,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        with held_elsewhere(service.engine, "lab", hashlib.sha256(data).hexdigest()):
            answer = pool.submit(
                client.post,
                "/v1/telemetry/batches",
                content=data,
                headers={"Pausewatch-Submission": header},
            )
            resp = answer.result(HANG)
            assert waiting_for_locks(service.engine) == 0
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert int(resp.headers["Retry-After"]) >= 1
        problem = resp.json()
        assert problem["type"].endswith("/upload-busy")
        assert problem["status"] == 503
        assert "\n" not in problem["detail"]
        assert "another process is ingesting the same upload" in problem["detail"]
        assert "send it again" in problem["detail"]
    assert snapshot(service) == before


def test_an_upload_refused_for_its_lock_is_integrated_whole_once_the_lock_is_free(
    service: LogService, fleet: Fleet
) -> None:
    """The service refuses the upload (``UploadBusyError``) while another session holds its
    lock; sent again once that session lets go, it is integrated with every record accepted."""
    operator = register(service, fleet)
    data = b"".join(line + b"\n" for line in fleet.windows[0])
    statement = submission(data, operator)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with held_elsewhere(service.engine, "lab", hashlib.sha256(data).hexdigest()):
            refused = pool.submit(service.ingest_telemetry, data, statement)
            assert isinstance(refused.exception(HANG), UploadBusyError)
        receipt = pool.submit(service.ingest_telemetry, data, statement).result(HANG)
    assert not receipt.duplicate
    assert receipt.accepted == data.count(b"\n")
    assert receipt.rejected_total == 0
    assert stored_rows(service.engine) == receipt.accepted
    assert dump_view(service.engine, "tel_batches")[0]["accepted"] == receipt.accepted


def test_the_lock_timeout_leaves_the_lock_session_with_no_timeout_for_its_writes(
    service: LogService, fleet: Fleet
) -> None:
    """The bound is on the wait for the upload's lock only: the session that holds it, through
    which the attempt stores its records, has the database's own ``lock_timeout`` again."""
    operator = register(service, fleet)
    data = b"".join(line + b"\n" for line in fleet.windows[0])
    ingest = service.telemetry
    real = ingest._store
    seen: list[str] = []

    def store(accepted: Any, operator_id: str, batch_digest: str, first: int = 0) -> None:
        session = ingest._lock_sessions[(operator_id, batch_digest)]
        seen.append(str(session.execute(text("SHOW lock_timeout")).scalar_one()))
        real(accepted, operator_id, batch_digest, first)

    ingest._store = store  # type: ignore[method-assign]
    ingest.ingest(data, submission(data, operator))
    assert seen
    assert set(seen) == {"0"}
