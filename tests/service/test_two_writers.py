"""Two writers on one store, as a replica that lost the sequencer's lock without knowing it
and the one that took over (ADR 0047): the second to write is refused, never forks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from pausewatch.errors import ConsistencyError
from pausewatch.ledger import PendingEntry, PersistentLog, Signer
from pausewatch.state import StateStore
from pausewatch.statements import KeyPair, sign_statement

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
