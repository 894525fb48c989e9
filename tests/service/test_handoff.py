"""The hand-off table between replicas (ADR 0047): a row one sequencer's pump has taken is
neither taken by another pump nor withdrawn under it."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine, text

from pausewatch.ledger import (
    Appended,
    Handoff,
    NoSequencerError,
    PendingEntry,
    PersistentLog,
    Signer,
)

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
WAIT_S = 2.0
"""How long a follower's submission waits for its answer in the withdrawal test: long enough
that the test takes its row first on a slow machine, as the pump would."""


def entry(n: int) -> PendingEntry:
    return PendingEntry(b'{"n":%d}' % n, dedup_key=n.to_bytes(32, "big"))


def test_a_row_a_pump_has_taken_is_not_taken_by_another(pg_engine: Engine) -> None:
    """While one sequencer's pump holds a row (it is appending it), another pump does not
    take it too."""
    handoff = Handoff(pg_engine, "f", lambda: 0)
    # The submitter waits long enough that its row is surely taken before it would withdraw
    # it, however slow the machine; the row is answered once checked, so it returns then.
    submitted = threading.Thread(target=lambda: _submit_quietly(handoff, entry(0), 30.0))
    submitted.start()
    try:
        with pg_engine.connect() as conn, conn.begin():
            (row_id,) = _wait_rows(lambda: _take(conn))  # as the first pump does
            assert handoff.pending(10) == []
            conn.execute(  # answered as a failed append: the submitter returns at once
                text(
                    "UPDATE log_handoff SET error = 'LogError: test', resolved_us = 1 WHERE id = :i"
                ),
                {"i": row_id},
            )
    finally:
        submitted.join(60)
    assert not submitted.is_alive()


def test_a_follower_does_not_withdraw_a_row_being_appended(
    pg_engine: Engine, log_signer: Signer
) -> None:
    """A follower whose wait runs out while the sequencer's pump holds its row does not
    withdraw it: it waits for the answer, and answers with the entry the pump appended."""
    log = PersistentLog(pg_engine, log_signer)
    handoff = Handoff(pg_engine, "f", lambda: 0)
    answers: list[Appended | BaseException] = []

    def submit() -> None:
        try:
            answers.append(handoff.submit(entry(0), timeout=WAIT_S))
        except Exception as exc:
            answers.append(exc)

    follower = threading.Thread(target=submit)
    follower.start()
    with pg_engine.connect() as conn, conn.begin():
        (row_id,) = _wait_rows(lambda: _take(conn))  # as the sequencer's pump does
        # The append outlasts the follower's wait: its deadline, counted from before the row
        # could be taken, has passed once WAIT_S have gone by since.
        threading.Event().wait(WAIT_S + 0.5)
        appended = log.append_batch([entry(0)], NOW)
        _answer(conn, row_id)
    follower.join(30)
    assert answers == [appended[0]]
    with pg_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM log_handoff")).scalar() == 0


def _answer(conn: Connection, row_id: int) -> None:
    """Resolve a taken row as integrated at index 0, as the sequencer's pump does."""
    conn.execute(
        text("UPDATE log_handoff SET idx = 0, duplicate = false, resolved_us = 1 WHERE id = :i"),
        {"i": row_id},
    )


def _take(conn: Connection) -> list[int]:
    return list(
        conn.execute(
            text("SELECT id FROM log_handoff WHERE resolved_us IS NULL FOR UPDATE SKIP LOCKED")
        ).scalars()
    )


def _submit_quietly(handoff: Handoff, pending: PendingEntry, timeout: float) -> None:
    with contextlib.suppress(NoSequencerError):
        handoff.submit(pending, timeout=timeout)


def _wait_rows(take):  # type: ignore[no-untyped-def]
    for _ in range(3000):
        rows = take()
        if rows:
            return rows
        threading.Event().wait(0.01)
    raise AssertionError("no hand-off row appeared")
