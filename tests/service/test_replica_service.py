"""Replicas of one log on one PostgreSQL (ADR 0047): the election, the hand-off, following."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import OperationalError

from pausewatch.api import create_app
from pausewatch.demo._witnesses import DemoWitnesses
from pausewatch.errors import ConfigurationError, ConsistencyError
from pausewatch.ledger import (
    Checkpoint,
    NoSequencerError,
    PendingEntry,
    PersistentLog,
    SignedCheckpoint,
    sign_checkpoint,
    verify_consistency,
)
from pausewatch.service import LogService
from pausewatch.service._notices import NoticeQuotaError
from pausewatch.service._witnessing import add_checkpoint_body
from pausewatch.settings import Settings
from pausewatch.statements import KeyPair, Statement, load_key, sign_statement
from pausewatch.store import CheckpointFile, log_handoff, make_engine

pytestmark = pytest.mark.postgres

Replica = Callable[..., LogService]


@pytest.fixture
def replica(tmp_path: Path, pg_url: str) -> Iterator[Replica]:
    """Start a replica named NAME on the test's database, in a data directory of its own that
    holds the first replica's keys (as a deployment copies them)."""
    started: list[LogService] = []

    def start(
        name: str,
        checkpoint_from: LogService | None = None,
        stale_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        **extra: Any,
    ) -> LogService:
        data_dir = tmp_path / name
        if started:
            shutil.copytree(started[0].settings.keys_dir, data_dir / "keys")
        if checkpoint_from is not None:
            shutil.copy(checkpoint_from.settings.kept_checkpoint_file, data_dir / "checkpoint")
        settings = Settings(
            data_dir=data_dir,
            database_url=pg_url,
            replica_id=name,
            clerk_interval_s=0,
            replica_poll_s=0.05,
            replica_stale_s=stale_s,
            **extra,
        )
        service = LogService(settings, witness_transport=transport).start()
        started.append(service)
        return service

    yield start
    for s in started:
        s.close()


def notice(service: LogService, title: str) -> Statement:
    return sign_statement("notice/v1", {"title": title}, service.secretariat_key)


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


def test_one_replica_sequences_the_others_follow(replica: Replica) -> None:
    """The first replica to start takes the sequencer's lock; those that start after it follow."""
    a, b, c = replica("a"), replica("b"), replica("c")
    assert [s.role for s in (a, b, c)] == ["sequencer", "follower", "follower"]


def test_a_follower_hands_its_submission_to_the_sequencer(replica: Replica) -> None:
    """A follower's submission is appended by the sequencer and answered with its entry once
    durable; the follower then serves it, folded, from its own views."""
    a, b = replica("a"), replica("b")
    first = a.submit(notice(a, "on the sequencer")).result(10)
    handed = b.submit(notice(b, "on the follower")).result(10)
    assert (first.index, handed.index) == (0, 1)
    assert not handed.duplicate
    assert a.log.entry(1).leaf_hash == handed.leaf_hash
    assert b.log.size >= 2
    assert b.log.entry(1).leaf_hash == handed.leaf_hash
    assert b.state.registry.applied >= 2
    again = b.submit(notice(b, "on the follower")).result(10)
    assert (again.index, again.duplicate) == (1, True)
    with a.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(log_handoff)).scalar() == 0


def test_followers_refresh_to_the_sequencers_checkpoints(replica: Replica) -> None:
    """A follower's size and checkpoint follow the sequencer's, and it writes no views."""
    a, b = replica("a"), replica("b")
    for i in range(5):
        a.submit(notice(a, f"n{i}")).result(10)
    wait_for(lambda: b.log.size == 5)
    assert b.log.latest_note() == a.log.latest_note()
    wait_for(lambda: b.state.registry.applied == 5)
    assert not b.state.persist
    assert b.info().root == a.info().root


def test_another_replica_takes_over_and_keeps_the_log_consistent(replica: Replica) -> None:
    """When the sequencer goes, a follower takes the lock, reloads the log as the database has
    it, and signs checkpoints consistent with the old sequencer's."""
    a, b = replica("a"), replica("b")
    for i in range(3):
        a.submit(notice(a, f"before {i}")).result(10)
    old_note = a.log.latest_note()
    assert old_note is not None
    a.close()
    wait_for(lambda: b.role == "sequencer")
    after = b.submit(notice(b, "after")).result(10)
    assert after.index == 3
    old = SignedCheckpoint.open(old_note, b.log.verifier).checkpoint
    new_note = b.log.latest_note()
    assert new_note is not None
    new = SignedCheckpoint.open(new_note, b.log.verifier).checkpoint
    assert new.size == 4
    verify_consistency(
        old.size, new.size, b.log.consistency_proof(old.size), old.root_hash, new.root_hash
    )
    # The views the new sequencer writes continue those of the old one.
    assert b.state.persist
    wait_for(lambda: b.state.registry.applied == 4)


def test_a_sequencer_whose_session_ends_steps_down_and_follows(replica: Replica) -> None:
    """When the sequencer's database session ends under it (the server restarted, the network
    dropped), it stops sequencing, another replica takes over, and the old one follows and
    hands its submissions off like any follower."""
    a, b = replica("a"), replica("b")
    a.submit(notice(a, "before")).result(10)
    with a.engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
            )
        )
    wait_for(lambda: a.stepdowns == 1 and [a.role, b.role].count("sequencer") == 1)
    # Usually b wins the free lock; a busy machine may let a win it back, which is as correct.
    follower, sequencer = (a, b) if b.role == "sequencer" else (b, a)
    assert not follower.state.persist
    handed = follower.submit(notice(follower, "after, through the follower")).result(10)
    own = sequencer.submit(notice(sequencer, "after, through the sequencer")).result(10)
    assert sorted([handed.index, own.index]) == [1, 2]
    wait_for(lambda: follower.log.size == 3)
    assert a.log.root() == b.log.root()


def test_a_stale_sequencer_cannot_commit_after_a_takeover(replica: Replica) -> None:
    """A sequencer whose lock session ended without its noticing cannot commit its in-flight
    batch once another replica took over, and the new sequencer keeps appending."""
    a, b = replica("a"), replica("b")
    a.submit(notice(a, "before")).result(10)
    a._replica_stop.set()  # a no longer looks at its lock: it cannot notice losing it
    assert a._replica_thread is not None
    a._replica_thread.join(10)
    _end_lock_session(a)
    wait_for(lambda: b.role == "sequencer")
    stale = notice(a, "stale in-flight")
    with pytest.raises(ConsistencyError):
        a.log.append_batch([PendingEntry(stale.canonical_bytes(), stale.digest)], a.clock())
    after = b.submit(notice(b, "after")).result(10)
    assert after.index == 1
    assert b.log.index_of_dedup(stale.digest) is None


def test_a_sequencer_overtaken_by_another_writer_recovers(replica: Replica) -> None:
    """A sequencer whose append is refused because another writer took the log over (it
    holds the lock no longer, or never held it) does not refuse every append from then on:
    it steps down, and a sequencer (itself again if the lock is free) appends after the
    other writer's entries."""
    a = replica("a")
    a.submit(notice(a, "before")).result(10)
    key = load_key(a.settings.keys_dir, a.settings.log_origin)
    other = PersistentLog(a.engine, key.signer)
    other.take_over()
    intruder = notice(a, "the other writer's")
    other.append_batch([PendingEntry(intruder.canonical_bytes(), intruder.digest)], a.clock())
    deadline = time.monotonic() + 20
    while True:
        try:
            appended = a.submit(notice(a, f"after {time.monotonic()}")).result(10)
            break
        except Exception:
            assert time.monotonic() < deadline, "the sequencer never recovered"
            time.sleep(0.1)
    assert appended.index == 2
    assert a.stepdowns >= 1


def test_a_paused_sequencer_is_replaced_and_cannot_commit_when_it_resumes(
    replica: Replica,
) -> None:
    """A sequencer that stops answering (paused, hung) while its sessions stay open, one of
    them in the middle of an append, is replaced once its heartbeat is stale: a follower ends
    its sessions and takes over. When it resumes it cannot commit and steps down."""
    # Stale after 5 s: long enough that a loaded machine does not stall a heartbeat that long
    # before the test pauses it, and b takes over before the append below is in flight.
    a, b = replica("a", stale_s=5.0), replica("b", stale_s=5.0)
    a.submit(notice(a, "before")).result(10)
    assert a._replica_thread is not None
    a._replica_stop.set()  # paused: no heartbeat, no look at its lock
    a._replica_thread.join(10)
    a._replica_thread = None
    in_flight = a.engine.connect()
    in_flight.begin()
    in_flight.execute(text("SELECT value FROM log_meta WHERE key = 'sequencer_epoch' FOR SHARE"))
    wait_for(lambda: b.role == "sequencer", timeout=30)
    after = b.submit(notice(b, "after")).result(10)
    assert after.index == 1
    with pytest.raises(OperationalError):  # its session was ended under it
        in_flight.execute(text("SELECT 1"))
    in_flight.invalidate()
    in_flight.close()
    a.start()  # resumes
    wait_for(lambda: a.role == "follower" and a.stepdowns == 1)
    stale = notice(a, "stale")
    with pytest.raises(ConsistencyError):
        a.log.append_batch([PendingEntry(stale.canonical_bytes(), stale.digest)], a.clock())
    wait_for(lambda: a.log.size == 2)
    assert a.log.root() == b.log.root()


def test_a_follower_serves_the_checkpoint_it_verified(replica: Replica) -> None:
    """A follower behind the database serves the checkpoint it verified, which its own proofs
    cover, not the newer one the sequencer just wrote."""
    a, b = replica("a"), replica("b")
    a.submit(notice(a, "n0")).result(10)
    wait_for(lambda: b.log.size == 1)
    b._replica_stop.set()  # b's refresh is slow this time
    assert b._replica_thread is not None
    b._replica_thread.join(10)
    a.submit(notice(a, "n1")).result(10)
    served = SignedCheckpoint.open(b.checkpoint(), b.log.verifier).checkpoint
    assert (served.size, served.root_hash) == (b.log.size, b.log.root()) == (1, b.log.root())
    b.log.inclusion_proof(0, served.size)


def test_healthz_reports_a_stuck_sequencer_and_a_follower_that_cannot_refresh(
    replica: Replica,
) -> None:
    """/healthz answers 503 for a sequencer whose append has hung beyond the bound and for a
    follower that has not refreshed within it, and says how far behind the database it is."""
    a, b = replica("a", stale_s=1.0), replica("b", stale_s=60.0)
    a_api, b_api = TestClient(create_app(a, manage=False)), TestClient(create_app(b, manage=False))
    a.submit(notice(a, "n0")).result(10)
    wait_for(lambda: b.log.size == 1)
    assert a_api.get("/healthz").status_code == 200
    health = b_api.get("/healthz")
    assert health.status_code == 200
    assert health.json()["lag"] == 0
    b.settings.replica_stale_s = 1.0
    assert b._replica_thread is not None
    b._replica_stop.set()  # b refreshes no more
    b._replica_thread.join(10)
    with a.engine.connect() as blocker:
        blocker.begin()
        # Another session holds the row every append reads: a's next append hangs.
        blocker.execute(text("SELECT value FROM log_meta WHERE key = 'sequencer_epoch' FOR UPDATE"))
        hung = a.submit(notice(a, "n1"))
        wait_for(lambda: a_api.get("/healthz").status_code == 503)
        assert a_api.get("/healthz").json()["status"] == "stuck"
        blocker.rollback()
    hung.result(10)
    wait_for(lambda: b_api.get("/healthz").status_code == 503)
    assert b_api.get("/healthz").json()["lag"] == 1
    wait_for(lambda: a_api.get("/healthz").status_code == 200)


def test_the_sequencer_counts_notices_handed_off_by_followers(replica: Replica) -> None:
    """The sequencer holds a signer to the notice quota with the notices other replicas
    handed off counted too, not only those it admitted itself."""
    a = replica("a", notice_quota_count=2, notice_window_s=3600)
    b = replica("b", notice_quota_count=2, notice_window_s=3600)
    signer = KeyPair.generate("delegate")
    assert b.handoff is not None
    for n in range(2):  # admitted by b, appended by a
        handed = sign_statement("notice/v1", {"title": f"via b {n}"}, signer)
        b.handoff.submit(PendingEntry(handed.canonical_bytes(), handed.digest))
    third = sign_statement("notice/v1", {"title": "third"}, signer)

    def refused() -> bool:
        try:
            a.notices.admit(third, a.clock()).cancel()
        except NoticeQuotaError:
            return True
        return False

    wait_for(refused)


def _end_lock_session(service: LogService) -> None:
    with service.engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
            )
        )


def test_a_replica_that_kept_a_newer_checkpoint_refuses_to_sequence(replica: Replica) -> None:
    """A replica whose data directory keeps a checkpoint the database lacks (the database was
    restored from an older copy) wins the lock but refuses to sequence: it gives the lock up,
    keeps following, writes no views, and another replica sequences instead."""
    a, b = replica("a"), replica("b")
    for i in range(3):
        a.submit(notice(a, f"n{i}")).result(10)
    wait_for(lambda: b.log.size == 3)
    key = load_key(b.settings.keys_dir, b.settings.log_origin)
    ahead = sign_checkpoint(Checkpoint(b.log.origin, 10, b"\x01" * 32), key.signer)
    CheckpointFile(b.settings.kept_checkpoint_file).write(ahead)
    c = replica("c", checkpoint_from=a)
    a.close()
    b._elect()
    assert (b.role, b.takeovers, b.state.persist) == ("follower", 0, False)
    wait_for(lambda: c.role == "sequencer")
    assert c.submit(notice(c, "after")).result(10).index == 3
    assert b.role == "follower"
    # Nor does it follow the database past the checkpoint it keeps, or overwrite that one.
    with pytest.raises(ConsistencyError, match="rolled back"):
        b.log.refresh()
    assert CheckpointFile(b.settings.kept_checkpoint_file).read() == ahead


def _witnesses_of(service: LogService, tmp_path: Path) -> tuple[DemoWitnesses, Path]:
    """Three real tlog-witnesses of ``service``'s log, answering in process, and their roster."""
    witnesses = DemoWitnesses(2026, lambda: datetime.now(UTC))
    witnesses.trust(service.log.verifier)
    roster = tmp_path / "witnesses.txt"
    roster.write_text(witnesses.roster())
    return witnesses, roster


def test_a_replica_takes_over_once_the_witnesses_agree_with_the_database(
    replica: Replica, tmp_path: Path
) -> None:
    """A replica that wins the lock asks the witnesses where they stand before it sequences
    (ADR 0063): at the dead sequencer's last checkpoint, they let it take over."""
    first = replica("first")
    witnesses, roster = _witnesses_of(first, tmp_path)
    first.close()
    a = replica("a", witnesses_file=roster, transport=witnesses.transport())
    b = replica("b", witnesses_file=roster, transport=witnesses.transport())
    wait_for(lambda: a.role == "sequencer" or b.role == "sequencer")
    seq, other = (a, b) if a.role == "sequencer" else (b, a)
    for i in range(3):
        seq.submit(notice(seq, f"n{i}")).result(10)
    names = [w.verifier.name for w in seq.witnesses]
    wait_for(lambda: all(seq.log.cosigned_sizes(n) == 3 for n in names))
    seq.close()
    wait_for(lambda: other.role == "sequencer")
    assert [(p.size, p.conflict) for p in other.witness_positions] == [(3, None)] * 3
    assert other.submit(notice(other, "after")).result(10).index == 3


def test_a_replica_refuses_to_sequence_a_database_behind_what_the_witnesses_cosigned(
    replica: Replica, tmp_path: Path
) -> None:
    """The database lost entries the log had signed and the witnesses cosigned, and no
    replica's kept checkpoint holds them (each lagged, or was restored with the database): a
    replica that wins the lock asks the witnesses, refuses to sequence, gives the lock up and
    keeps following, rather than sign a second checkpoint of a size already signed. A replica
    with no witnesses to ask cannot tell, and takes over."""
    a = replica("a")
    for i in range(3):
        a.submit(notice(a, f"n{i}")).result(10)
    witnesses, roster = _witnesses_of(a, tmp_path)
    # The log once signed a checkpoint of size 10, which every witness cosigned.
    key = load_key(a.settings.keys_dir, a.settings.log_origin)
    note = sign_checkpoint(Checkpoint(a.log.origin, 10, b"\x01" * 32), key.signer)
    with httpx.Client(transport=witnesses.transport()) as client:
        for line in witnesses.roster().splitlines():
            body = add_checkpoint_body(0, [], note)
            assert client.post(f"{line.split()[0]}/add-checkpoint", content=body).status_code == 200
    asked = _Counting(witnesses.transport())
    b = replica("b", checkpoint_from=a, witnesses_file=roster, transport=asked)
    wait_for(lambda: b.log.size == 3)
    a.close()
    b._elect()
    assert (b.role, b.takeovers, b.state.persist) == ("follower", 0, False)
    assert b.log.size == 3
    # Refused, it waits before it tries again (TAKEOVER_RETRY_S), rather than ask the witnesses
    # on every round of its election (every 0.05 s here).
    assert asked.requests == 3
    time.sleep(1.0)
    assert asked.requests == 3
    c = replica("c", checkpoint_from=b)
    wait_for(lambda: c.role == "sequencer")
    assert b.role == "follower"


class _Counting(httpx.BaseTransport):
    """A transport that counts the requests it passes on."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return self.inner.handle_request(request)


def test_a_new_sequencer_takes_what_a_dead_one_left_pending(replica: Replica) -> None:
    """A handed-off submission that no sequencer answered (it died first) stays pending, and the
    next sequencer appends it; one whose entry did reach the log is answered as a duplicate."""
    a = replica("a")
    on_log = notice(a, "appended before the crash")
    a.submit(on_log).result(10)
    pending = notice(a, "pending at the crash")
    with a.engine.begin() as conn:
        for statement in (on_log, pending):
            conn.execute(
                insert(log_handoff).values(
                    payload=statement.canonical_bytes(),
                    dedup_key=statement.digest,
                    submitted_us=0,
                    replica="gone",
                )
            )
    wait_for(lambda: a._pump is not None and a._pump.integrated >= 2)
    with a.engine.connect() as conn:
        rows = conn.execute(
            select(log_handoff.c.idx, log_handoff.c.duplicate).order_by(log_handoff.c.id)
        ).all()
    assert [(r.idx, r.duplicate) for r in rows] == [(0, True), (1, False)]
    assert a.log.size == 2


def test_a_handoff_nobody_answers_is_refused_not_acknowledged(replica: Replica) -> None:
    """A handed-off submission that no sequencer takes up times out as retryable (503) and is
    withdrawn from the table."""
    a, b = replica("a"), replica("b")
    assert a._pump is not None
    a._pump.stop()  # a still holds the lock, so no one else sequences
    assert b.handoff is not None
    statement = notice(b, "nobody sequences")
    with pytest.raises(NoSequencerError):
        b.handoff.submit(PendingEntry(statement.canonical_bytes(), statement.digest), timeout=0.2)
    with b.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(log_handoff)).scalar() == 0
    assert a.log.index_of_dedup(statement.digest) is None


def test_a_failed_append_is_answered_as_retryable(replica: Replica) -> None:
    """When the sequencer's append of a handed-off submission fails (its transaction rolled
    back), the follower answers with a retryable refusal (503), never as accepted."""
    a, b = replica("a"), replica("b")
    assert a._pump is not None
    a._pump.stop()
    sequencing, following = a.handoff, b.handoff
    assert sequencing is not None
    assert following is not None
    statement = notice(b, "its append fails")
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            following.submit, PendingEntry(statement.canonical_bytes(), statement.digest), 10.0
        )
        wait_for(lambda: len(sequencing.pending(10)) == 1)
        [row] = sequencing.pending(10)
        sequencing.resolve([(row.id, ConsistencyError("another process is writing it"))])
        with pytest.raises(NoSequencerError, match="nothing was acknowledged"):
            answer.result(10)


def test_a_follower_refuses_telemetry_batches_as_retryable(replica: Replica) -> None:
    """A follower answers a telemetry upload with a retryable refusal (503), not an error."""
    _a, b = replica("a"), replica("b")
    with pytest.raises(NoSequencerError, match="does not sequence"):
        b.ingest_telemetry(b"", notice(b, "not a submission"))


def test_a_new_replica_joins_a_running_log_with_a_running_replicas_checkpoint(
    replica: Replica, tmp_path: Path
) -> None:
    """A replica whose data directory keeps no checkpoint is refused on a log that holds
    entries (ADR 0014); given a running replica's kept checkpoint it joins as a follower."""
    a = replica("a")
    for i in range(2):
        a.submit(notice(a, f"n{i}")).result(10)
    url = a.settings.database_url
    data_dir = tmp_path / "late"
    shutil.copytree(a.settings.keys_dir, data_dir / "keys")
    settings = Settings(data_dir=data_dir, database_url=url, replica_id="late", clerk_interval_s=0)
    with pytest.raises(ConsistencyError, match="no checkpoint is kept"):
        LogService(settings)
    shutil.copy(a.settings.kept_checkpoint_file, settings.kept_checkpoint_file)
    late = LogService(settings).start()
    try:
        assert (late.role, late.log.size) == ("follower", 2)
        assert late.submit(notice(late, "from the late one")).result(10).index == 2
    finally:
        late.close()


def test_replicas_need_postgresql(tmp_path: Path) -> None:
    """A replica id on SQLite is refused with one clear line: replicas share PostgreSQL."""
    with pytest.raises(ConfigurationError, match="PostgreSQL"):
        LogService(Settings(data_dir=tmp_path, replica_id="a"))


def test_the_handoff_table_is_empty_after_a_single_process(tmp_path: Path) -> None:
    """Without replicas nothing goes through the hand-off table (today's single process)."""
    service = LogService(Settings(data_dir=tmp_path, clerk_interval_s=0)).start()
    try:
        service.submit(notice(service, "single")).result(10)
        assert service.role == "single"
    finally:
        service.close()
    engine = make_engine(Settings(data_dir=tmp_path).resolved_database_url())
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(log_handoff)).scalar() == 0
    engine.dispose()


def test_a_replica_with_ingest_workers_fits_the_classifier_aside_at_start(
    replica: Replica, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica whose heavy work runs in worker processes has the workload classifier fitted
    in a process apart as it starts (a follower takes no uploads, and its first read would fit
    it under the state's lock); one that verifies in process does not start that process."""
    from pausewatch.service import _ingest_pool

    asked: list[object] = []
    monkeypatch.setattr(_ingest_pool, "_fit_classifier_aside", asked.append)
    replica("r0", ingest_workers=0)
    assert asked == []
    follower = replica("r1", ingest_workers=1)
    assert follower.role == "follower"
    assert len(asked) == 1
