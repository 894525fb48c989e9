"""Two writers on one store, as a replica that lost the sequencer's lock without knowing it
and the one that took over (ADR 0047): the second to write is refused, never forks."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, insert

from pausewatch.errors import ConsistencyError, NotFoundError
from pausewatch.ledger import (
    Checkpoint,
    FencedError,
    Node,
    Note,
    PendingEntry,
    PersistentLog,
    QueueFullError,
    Sequencer,
    Signer,
)
from pausewatch.state import StateStore
from pausewatch.statements import KeyPair, sign_statement
from pausewatch.store import log_cosignatures, make_engine, upgrade

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def entry(n: int) -> PendingEntry:
    payload = b'{"n":%d}' % n
    return PendingEntry(payload, dedup_key=n.to_bytes(32, "big"))


def test_a_log_overtaken_by_another_writer_refuses_to_sign(
    engine: Engine, log_signer: Signer
) -> None:
    """A log whose store got a checkpoint from another writer refuses to sign its own batch,
    and the store keeps the other writer's entries and checkpoint as they were."""
    old = PersistentLog(engine, log_signer)
    old.append_batch([entry(0)], NOW)
    new = PersistentLog(engine, log_signer)
    new.append_batch([entry(1)], NOW)
    note = new.latest_note()
    with pytest.raises(ConsistencyError, match="another process"):
        old.append_batch([entry(2)], NOW)
    assert PersistentLog(engine, log_signer).latest_note() == note
    assert old.size == 1


def test_a_refreshed_log_appends_after_the_other_writer(engine: Engine, log_signer: Signer) -> None:
    """A log that refreshed to the other writer's checkpoint appends after it consistently."""
    follower = PersistentLog(engine, log_signer)
    writer = PersistentLog(engine, log_signer)
    writer.append_batch([entry(0), entry(1), entry(2)], NOW)
    assert follower.refresh()
    assert (follower.size, follower.root()) == (writer.size, writer.root())
    assert not follower.refresh()
    appended = follower.append_batch([entry(3)], NOW)
    assert appended[0].index == 3


def test_an_older_fold_does_not_write_over_newer_views(engine: Engine) -> None:
    """Views folded further by another process are not overwritten by a fold that started
    from an older position: the stale fold is refused and reloads what the database holds."""
    key = KeyPair.generate("secretariat")
    signer = Signer.generate("test.example/log")
    log = PersistentLog(engine, signer)
    stale = StateStore(engine, [key.signer_id])
    current = StateStore(engine, [key.signer_id])
    for i in range(3):
        statement = sign_statement("notice/v1", {"title": f"n{i}"}, key)
        log.append_batch([PendingEntry(statement.canonical_bytes(), statement.digest)], NOW)
    current.catch_up(log)
    with pytest.raises(ConsistencyError, match="another process writes them"):
        stale.catch_up(log)
    assert stale.registry.applied == 3
    assert stale.catch_up(log) == []


def test_a_writer_overtaken_by_a_new_sequencer_cannot_commit(
    engine: Engine, log_signer: Signer
) -> None:
    """Once a new sequencer took the log over (a new epoch, in the transaction before it
    reloads), the old one's next batch is refused even though its size still matches the
    store's, and the new sequencer appends after it as if it never came."""
    old = PersistentLog(engine, log_signer)
    old.take_over()
    old.append_batch([entry(0)], NOW)
    new = PersistentLog(engine, log_signer)
    new.take_over()
    with pytest.raises(FencedError):
        old.append_batch([entry(1)], NOW)
    assert new.append_batch([entry(2)], NOW)[0].index == 1
    assert PersistentLog(engine, log_signer).size == 2


def test_a_log_that_never_took_over_cannot_write_a_store_a_sequencer_holds(
    engine: Engine, log_signer: Signer
) -> None:
    """A writer that never claimed the log (a tool, an old process) cannot append to a store
    a sequencer took over."""
    seq = PersistentLog(engine, log_signer)
    seq.take_over()
    stranger = PersistentLog(engine, log_signer)
    with pytest.raises(FencedError):
        stranger.append_batch([entry(0)], NOW)
    assert seq.append_batch([entry(1)], NOW)[0].index == 0


def test_a_sequencer_that_steps_down_refuses_what_it_still_holds(
    engine: Engine, log_signer: Signer
) -> None:
    """A sequencer that stops sequencing (it lost the lock) appends nothing it still holds:
    each waiter hears a retryable refusal and the log stays as it was."""
    log = PersistentLog(engine, log_signer)
    seq = Sequencer(log, lambda: NOW, batch_size=1000, max_latency=30.0).start()
    held = [seq.submit(entry(n)) for n in range(3)]
    seq.abandon()
    for fut in held:
        with pytest.raises(QueueFullError, match="retry"):
            fut.result(10)
    assert log.size == 0
    assert PersistentLog(engine, log_signer).size == 0


def test_a_refresh_that_races_an_older_one_still_reaches_its_checkpoint(
    engine: Engine, log_signer: Signer
) -> None:
    """Two refreshes at once: when the one that read the older checkpoint applies it first,
    the other still brings the log to the newer checkpoint it read before it returns True."""
    writer = PersistentLog(engine, log_signer)
    follower = PersistentLog(engine, log_signer)
    writer.append_batch([entry(0)], NOW)
    gates = {"older": threading.Event(), "newer": threading.Event()}
    entered = {"older": threading.Event(), "newer": threading.Event()}
    fetch = follower._fetch

    def gated_fetch(conn: Connection, nodes: Iterable[Node]) -> dict[Node, bytes]:
        name = threading.current_thread().name
        if name in gates and not entered[name].is_set():
            entered[name].set()
            gates[name].wait(10)
        return fetch(conn, nodes)

    follower._fetch = gated_fetch  # type: ignore[method-assign]
    results: dict[str, bool] = {}

    def refresh() -> None:
        results[threading.current_thread().name] = follower.refresh()

    older = threading.Thread(target=refresh, name="older")
    older.start()
    assert entered["older"].wait(10)
    writer.append_batch([entry(1)], NOW)
    newer = threading.Thread(target=refresh, name="newer")
    newer.start()
    assert entered["newer"].wait(10)
    gates["older"].set()
    older.join(10)
    gates["newer"].set()
    newer.join(10)
    assert results == {"older": True, "newer": True}
    assert (follower.size, follower.root()) == (writer.size, writer.root())


def test_a_refresh_overtaken_by_another_does_not_take_the_log_for_inconsistent(
    engine: Engine, log_signer: Signer
) -> None:
    """Two refreshes of a follower that already holds a checkpoint: when the other applies the
    newer checkpoint while this one checks it, this one checks consistency from the checkpoint
    it started from, not from the one the log moved to meanwhile (it once compared the old size
    with the new root and raised 'inconsistent', a false alarm of a fork)."""
    writer = PersistentLog(engine, log_signer)
    follower = PersistentLog(engine, log_signer)
    writer.append_batch([entry(0)], NOW)
    assert follower.refresh()
    writer.append_batch([entry(1)], NOW)
    gate, entered = threading.Event(), threading.Event()
    fetch = follower._fetch

    def gated_fetch(conn: Connection, nodes: Iterable[Node]) -> dict[Node, bytes]:
        if threading.current_thread().name == "slow" and not entered.is_set():
            entered.set()
            gate.wait(10)
        return fetch(conn, nodes)

    follower._fetch = gated_fetch  # type: ignore[method-assign]
    results: dict[str, bool | BaseException] = {}

    def refresh() -> None:
        try:
            results[threading.current_thread().name] = follower.refresh()
        except BaseException as exc:  # the assertion below names it
            results[threading.current_thread().name] = exc

    slow = threading.Thread(target=refresh, name="slow")
    slow.start()
    assert entered.wait(10)  # it read the log at size 1 and is checking the store's 2
    refresh()  # this thread brings the log to 2 meanwhile
    gate.set()
    slow.join(10)
    assert results == {"MainThread": True, "slow": True}
    assert (follower.size, follower.root()) == (writer.size, writer.root())


def test_a_log_serves_only_checkpoints_within_its_own_size(
    engine: Engine, log_signer: Signer
) -> None:
    """A log behind its store (a follower that has not refreshed yet) serves its own newest
    checkpoint and lists, covers and cosigns only checkpoints it can prove, not the store's
    newer ones."""
    follower = PersistentLog(engine, log_signer)
    writer = PersistentLog(engine, log_signer)
    writer.append_batch([entry(0)], NOW)
    assert follower.refresh()
    writer.append_batch([entry(1)], NOW)
    served = Checkpoint.from_text(follower.checkpoint_note().split("\n\n", 1)[0] + "\n")
    assert (served.size, served.root_hash) == (1, follower.root())
    assert follower.checkpoint_sizes() == [1]
    with pytest.raises(NotFoundError):
        follower.first_checkpoint_covering(1)
    with pytest.raises(NotFoundError):
        follower.checkpoint_note(2)
    assert follower.latest_witnessed([], 0) == follower.checkpoint_note()


@pytest.mark.postgres
def test_two_distributors_storing_one_cosignature_at_once_both_succeed(
    pg_url: str, log_signer: Signer
) -> None:
    """Two processes that store the same witness's cosignature at once (two distributors
    during a change of sequencer) both succeed: the second finds it stored."""
    engine = make_engine(pg_url)
    try:
        upgrade(engine)
        log = PersistentLog(engine, log_signer)
        log.append_batch([entry(0)], NOW)
        witness = Signer.generate("witness.example")
        note = log.checkpoint_note(with_cosignatures=False)
        line = witness.cosignature_line(Note.from_text(note).text, 1_800_000_000)
        failures: list[BaseException] = []
        with engine.connect() as other, other.begin():
            # The other process has inserted it but not yet committed.
            other.execute(
                insert(log_cosignatures).values(
                    size=1, witness=witness.name, timestamp=1_800_000_000, line=line
                )
            )

            def store() -> None:
                try:
                    log.add_cosignature(1, witness.verifier(), note + line)
                except BaseException as exc:
                    failures.append(exc)

            racing = threading.Thread(target=store)
            racing.start()
            racing.join(1.0)  # it waits on the other's uncommitted row
        racing.join(10)
        assert failures == []
        assert log.checkpoint_note().endswith(line)
    finally:
        engine.dispose()
