"""The sequencer's election lock on PostgreSQL (ADR 0047): given up, it is free at once."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from pausewatch.ledger import SequencerLock

pytestmark = pytest.mark.postgres


def test_a_released_lock_is_free_when_release_returns(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``release()`` frees the lock before it returns, whenever the server ends the lock's
    session, so another replica that tries right after takes it. Here the session outlives the
    release, as it does for the moment a loaded server's backend takes to exit once its client
    hung up. (The release was left to that exit: a replica trying in that moment found the lock
    held and waited an election round; a fresh-clone CI run failed a takeover test on it.)"""
    first, second = SequencerLock(pg_engine), SequencerLock(pg_engine)
    assert first.try_acquire()
    conn = first._conn
    assert conn is not None
    monkeypatch.setattr(conn, "invalidate", lambda *args, **kwargs: None)
    monkeypatch.setattr(conn, "close", lambda *args, **kwargs: None)
    first.release()
    monkeypatch.undo()
    try:
        assert not first.held
        assert second.try_acquire()
        second.release()
    finally:
        conn.invalidate()  # the session ends now
        conn.close()
    for _ in range(20):  # and as it runs, with sessions that end
        assert first.try_acquire()
        first.release()
        assert second.try_acquire()
        second.release()
