"""Telemetry ingest on replicas of one log on one PostgreSQL (ADR 0047, docs/adr/0051): an
attempt at an upload in one replica never deletes nor mixes into the stored records of a batch
another replica integrated from the same upload."""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from pausewatch.errors import IngestWorkerError
from pausewatch.service import LogService, _telemetry, iter_stored_records
from pausewatch.service._log_service import NotSequencingError
from pausewatch.settings import Settings
from pausewatch.simulate import Fleet, simulate_fleet
from service.test_replica_service import (  # type: ignore[import-not-found]
    _end_lock_session as end_lock_sessions,  # every session holding an advisory lock
)
from service.test_replica_service import (
    wait_for,
)

from .test_ingest import (
    CLUSTERS,
    evidence_of,
    hold_first_store,
    recomputed,
    records_of,
    register,
    stated,
    submission,
    ticking,
)

pytestmark = pytest.mark.postgres

Replica = Callable[[str], LogService]


@pytest.fixture
def fleet() -> Fleet:
    return simulate_fleet(CLUSTERS, windows=4, seed=7)


@pytest.fixture
def replica(tmp_path: Path, pg_url: str, fleet: Fleet) -> Iterator[Replica]:
    """Start a replica named NAME on the test's database, with the first replica's keys."""
    started: list[LogService] = []

    def start(name: str) -> LogService:
        data_dir = tmp_path / name
        if started:
            shutil.copytree(started[0].settings.keys_dir, data_dir / "keys")
        settings = Settings(
            data_dir=data_dir,
            database_url=pg_url,
            replica_id=name,
            clerk_interval_s=0,
            replica_poll_s=0.05,
            batch_latency_ms=1,
            ingest_workers=0,
        )
        service = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
        started.append(service)
        return service

    yield start
    for s in started:
        s.close()


def waits_on_a_lock(service: LogService) -> bool:
    """Whether some session waits for an advisory lock another holds."""
    with service.engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar()
        )


@pytest.mark.parametrize("fail", [True, False], ids=["fails", "goes-on"])
def test_a_stale_sequencers_attempt_never_touches_the_rows_of_a_batch_the_new_one_integrated(
    replica: Replica, fleet: Fleet, fail: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica a lost the sequencer's lock without knowing it (its views stale); b sequences.
    a's attempt at upload U stores its first segment's records and is held; b integrates V
    (moving U's chains) and the client's retry of U at b; then a's attempt fails and drops what
    it stored, or goes on storing its next segments (verified against the heads of before V)
    and is refused at its append. The retry waits for a's attempt (one attempt at an upload at
    a time, across replicas), and every batch's stored records recompute the root its entry
    states: a deleted none of b's rows of U, nor left its own among them."""
    segments = functools.partial(_telemetry.verify_stream, segment_records=3)
    monkeypatch.setattr(_telemetry, "verify_stream", segments)
    a, b = replica("a"), replica("b")
    operator = register(a, fleet)
    assert a._replica_thread is not None
    a._replica_stop.set()  # a no longer looks at its lock: it cannot notice losing it
    a._replica_thread.join(10)
    end_lock_sessions(a)
    wait_for(lambda: b.role == "sequencer")
    assert a.role == "sequencer"  # as far as a knows
    u = records_of(fleet, "serve-1", slice(0, 2))
    v = records_of(fleet, "serve-1", slice(0, 1))
    assert u.count(b"\n") > 3  # more than one segment
    stored, release = hold_first_store(a, hashlib.sha256(u).hexdigest(), fail=fail)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        stale = pool.submit(a.ingest_telemetry, u, submission(u, operator))
        try:
            assert stored.wait(60)
            b.ingest_telemetry(v, submission(v, operator))
            retry = pool.submit(b.ingest_telemetry, u, submission(u, operator))
            wait_for(lambda: retry.done() or waits_on_a_lock(b))
        finally:
            release.set()
        refused = stale.exception(60)
        assert isinstance(refused, IngestWorkerError) if fail else refused is not None
        retried = retry.result(60)
    assert (retried.duplicate, retried.accepted) == (False, u.count(b"\n") - v.count(b"\n"))
    stored_u = list(iter_stored_records(b.engine, "lab", hashlib.sha256(u).hexdigest()))
    assert len(stored_u) == retried.accepted
    after = evidence_of(b)
    assert len(after) == 2
    assert recomputed(after) == stated(after)


def test_an_attempt_that_waited_while_its_replica_stepped_down_is_refused_as_retryable(
    replica: Replica, fleet: Fleet
) -> None:
    """An attempt at upload U waits for another attempt at U in the same replica, which steps
    down meanwhile: once its turn comes it is refused as a follower's is (503: retry at the
    sequencer), and stores nothing. The first attempt's rows stay (its session, through which
    it would drop them, ended with the replica's) until the retry at the new sequencer drops
    them as a dead attempt's, and the batch it integrates keeps only its own."""
    a, b = replica("a"), replica("b")
    operator = register(a, fleet)
    u = records_of(fleet, "serve-1", slice(0, 2))
    digest = hashlib.sha256(u).hexdigest()
    stored, release = hold_first_store(a, digest, fail=True)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(a.ingest_telemetry, u, submission(u, operator))
        try:
            assert stored.wait(60)
            leftovers = list(iter_stored_records(b.engine, "lab", digest))
            assert leftovers
            second = pool.submit(a.ingest_telemetry, u, submission(u, operator))
            # The second waits behind the first before the replica steps down: its refusal
            # comes from the check made once it holds the upload, not from the one before.
            wait_for(lambda: a.telemetry._attempts.get(("lab", digest), (None, 0))[1] == 2)
            end_lock_sessions(a)
            wait_for(lambda: b.role == "sequencer" and a.role == "follower")
        finally:
            release.set()
        assert isinstance(first.exception(60), IngestWorkerError)
        with pytest.raises(NotSequencingError, match="does not sequence"):
            second.result(60)
    assert list(iter_stored_records(b.engine, "lab", digest)) == leftovers
    receipt = b.ingest_telemetry(u, submission(u, operator))
    assert len(list(iter_stored_records(b.engine, "lab", digest))) == receipt.accepted
    after = evidence_of(b)
    assert recomputed(after) == stated(after)


def test_a_replica_with_stale_views_cannot_drop_the_records_of_an_integrated_upload(
    replica: Replica, fleet: Fleet
) -> None:
    """Replica a lost the sequencer's lock without knowing it, and its views lack the batch b
    integrated from upload U: a's views say U is not integrated, yet a's drop of U's records
    deletes none of them (the database has the batch)."""
    a, b = replica("a"), replica("b")
    operator = register(a, fleet)
    assert a._replica_thread is not None
    a._replica_stop.set()
    a._replica_thread.join(10)
    end_lock_sessions(a)
    wait_for(lambda: b.role == "sequencer")
    u = records_of(fleet, "serve-1", slice(0, 2))
    signed = submission(u, operator)
    integrated = b.ingest_telemetry(u, signed)
    body = a.telemetry.check_submission(u, signed)
    assert a.telemetry._seen(body) is None  # a's views lag
    digest = hashlib.sha256(u).hexdigest()
    rows = list(iter_stored_records(b.engine, "lab", digest))
    assert len(rows) == integrated.accepted > 0
    a.telemetry._forget_records(body)
    assert list(iter_stored_records(b.engine, "lab", digest)) == rows
    after = evidence_of(b)
    assert recomputed(after) == stated(after)


@pytest.mark.parametrize("fail", [True, False], ids=["fails", "goes-on"])
def test_an_evicted_sequencers_attempt_writes_nothing_once_its_upload_lock_is_gone(
    replica: Replica, fleet: Fleet, monkeypatch: pytest.MonkeyPatch, fail: bool
) -> None:
    """A paused sequencer a is evicted while its attempt at upload U holds U's advisory lock:
    its sessions are ended (as ADR 0047's eviction does), which releases the lock, b takes
    over and the client's retry of U runs at b. When a resumes, its attempt can neither store
    rows checked against its stale heads nor delete b's: every write of an attempt goes through
    the session that holds the upload's lock. b's stored records recompute its root."""
    from pausewatch.ledger._replica import application_name

    monkeypatch.setattr(
        _telemetry, "verify_stream", functools.partial(_telemetry.verify_stream, segment_records=3)
    )
    a, b = replica("a"), replica("b")
    operator = register(a, fleet)
    a._replica_stop.set()  # a is paused: it never notices it lost the lock
    assert a._replica_thread is not None
    a._replica_thread.join(10)
    upload = records_of(fleet, "serve-1", slice(0, 2))
    digest = hashlib.sha256(upload).hexdigest()
    a_stored, a_release = hold_first_store(a, digest, fail=fail)
    b_stored, b_release = hold_first_store(b, digest, fail=False)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        stale = pool.submit(a.ingest_telemetry, upload, submission(upload, operator))
        assert a_stored.wait(60)
        with b.engine.connect() as conn:  # what b's eviction of a does
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :n AND pid <> pg_backend_pid()"
                ),
                {"n": application_name("a")},
            )
        wait_for(lambda: b.role == "sequencer")
        retry = pool.submit(b.ingest_telemetry, upload, submission(upload, operator))
        assert b_stored.wait(60), "b's retry did not get the upload once a's lock was gone"
        a_release.set()  # a resumes: it stores its next segment, or fails and forgets
        assert stale.exception(60) is not None
        b_release.set()
        receipt = retry.result(60)
    rows = list(iter_stored_records(b.engine, "lab", digest))
    after = evidence_of(b)
    assert len(rows) == receipt.accepted
    assert recomputed(after) == stated(after)
