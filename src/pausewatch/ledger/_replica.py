"""Replicas of one log on one PostgreSQL database: who sequences, and how the others hand their
submissions to it (docs/adr/0047-replicas.md).

:class:`SequencerLock` elects the sequencing replica: a session-level advisory lock held on one
dedicated connection. PostgreSQL releases it when that connection ends, so the lock of a killed
process is free at once (the server notices the closed socket), and a replica that lost its
connection knows it may no longer sequence.

:class:`Handoff` is the table ``log_handoff``: a replica that does not sequence inserts its
submission (committed) and waits for the sequencer to write the entry's index back; the
sequencer's :class:`HandoffPump` takes pending rows, integrates them through its
:class:`~pausewatch.ledger.Sequencer` and writes the indices back once they are durable. An
answer therefore always follows the entry's commit. A row whose sequencer died before writing
back stays pending and the next sequencer takes it: the dedup key makes the second append of an
entry that did reach the log answer with its first index.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from pausewatch.errors import LogError, StorageFullError
from pausewatch.ledger._log import Appended, PendingEntry, from_micros
from pausewatch.ledger._sequencer import QueueFullError, Sequencer, SequencerStoppedError
from pausewatch.store import log_entries, log_handoff

_logger = logging.getLogger("pausewatch.ledger")

SEQUENCER_LOCK_KEY = 0x7061_7573_6577_0001
"""The advisory lock key the sequencing replica holds (advisory locks are per database)."""

HEARTBEAT_KEY = "sequencer_heartbeat"
"""The ``log_meta`` row the sequencer rewrites on its lock's session: ``<epoch> <seconds>``, the
time the database's clock read (so that replicas' clocks need not agree)."""

SESSION_SETTINGS = (
    # A peer that vanished (host down, network cut) is noticed by the server in ~15 s, not the
    # two hours of TCP's defaults; a statement never waits forever on a wedged server.
    "SET statement_timeout = '5s'",
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 10000",
)

CLIENT_SETTINGS = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10000,
}
"""libpq connection options of a replica's sessions: a dead server or path is noticed in
seconds (they do nothing on a Unix socket)."""


def application_name(replica: str) -> str:
    """The ``application_name`` of every session of ``replica``, by which a replica that takes
    over a paused sequencer finds and ends that sequencer's sessions."""
    return f"pausewatch:{replica}"[:63]


class NoSequencerError(QueueFullError):
    """No replica integrated a handed-off submission in time (none holds the sequencer's lock,
    or it is overloaded); nothing was acknowledged and the client should retry (answered 503).
    """


class SequencerLock:
    """The sequencer's election: ``pg_try_advisory_lock`` on a connection of its own."""

    def __init__(self, engine: Engine, key: int = SEQUENCER_LOCK_KEY) -> None:
        if engine.dialect.name != "postgresql":
            raise LogError("replicas elect their sequencer through PostgreSQL only")
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None
        # The lock's connection is used by the election and by the heartbeat's thread.
        self._use = threading.RLock()

    @property
    def held(self) -> bool:
        """Whether this process holds the lock, as far as it last saw."""
        return self._conn is not None

    def try_acquire(self) -> bool:
        """Take the lock if no other session holds it; return whether this process holds it."""
        with self._use:
            return self._try_acquire()

    def _try_acquire(self) -> bool:
        if self._conn is not None:
            return self.check()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar()
            )
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        try:
            for statement in SESSION_SETTINGS:
                conn.execute(text(statement))
        except Exception:
            self._drop(conn)
            raise
        self._conn = conn
        return True

    def beat(self, epoch: int) -> bool:
        """Write the heartbeat on the lock's session (so a beat proves the lock alive); return
        whether it was written (False: the session failed and the lock is no longer held)."""
        with self._use:
            return self._beat(epoch)

    def _beat(self, epoch: int) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            conn.execute(
                text(
                    "INSERT INTO log_meta (key, value) VALUES (:k, :v || ' ' || "
                    "extract(epoch FROM clock_timestamp())::text) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ),
                {"k": HEARTBEAT_KEY, "v": str(epoch)},
            )
        except Exception:
            _logger.warning("the sequencer's lock connection failed", exc_info=True)
            self._drop(conn)
            return False
        return True

    def silent_for(self) -> float | None:
        """Seconds since the sequencer's last heartbeat, by the database's clock (None: none
        was written, or no session holds the lock)."""
        with self._engine.connect() as conn:
            held = conn.execute(self._holder_query()).first()
            if held is None:
                return None
            age = conn.execute(
                text(
                    "SELECT extract(epoch FROM clock_timestamp()) - "
                    "split_part(value, ' ', 2)::float8 FROM log_meta WHERE key = :k"
                ),
                {"k": HEARTBEAT_KEY},
            ).scalar()
        return None if age is None else float(age)

    def evict(self) -> int:
        """End the sessions of the replica that holds the lock (its lock's session, and every
        session of the same ``application_name``, in which it may hold an append open): its
        lock is then free. Safe only because an append checks the log's epoch
        (:meth:`~pausewatch.ledger.PersistentLog.take_over`): a holder that was merely slow
        cannot commit once another took over. Return how many sessions were ended."""
        with self._engine.connect() as conn:
            held = conn.execute(self._holder_query()).first()
            if held is None:
                return 0
            mine = conn.execute(text("SELECT current_setting('application_name')")).scalar()
            name = str(held.application_name or "")
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND datname = current_database() AND "
                    "(pid = :pid OR (application_name = :name AND :name <> '' "
                    "AND application_name <> :mine))"
                ),
                {"pid": int(held.pid), "name": name, "mine": str(mine or "")},
            ).scalar()
            conn.commit()
        return int(ended or 0)

    def _holder_query(self) -> Any:
        return text(
            "SELECT l.pid, a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = :hi AND l.objid::bigint = :lo "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).bindparams(hi=self._key >> 32, lo=self._key & 0xFFFF_FFFF)

    def check(self) -> bool:
        """Whether the lock is still held: its session must be alive and hold it."""
        with self._use:
            return self._check()

    def _check(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            # The lock lives as long as its session, and this process never unlocks it but by
            # ending the session: a live session still holds it.
            alive = conn.execute(text("SELECT 1")).scalar()
        except Exception:
            _logger.warning("the sequencer's lock connection failed", exc_info=True)
            alive = 0
        if not alive:
            self._drop(conn)
            return False
        return True

    def release(self) -> None:
        """Give the lock up: unlocked on its session, then the session ended, so the lock is
        free when this returns (the server's backend ends a moment after its client hangs up,
        and a replica trying in that moment would find the lock held)."""
        with self._use:
            conn = self._conn
            if conn is not None:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                except Exception:  # the session is gone already: so is its lock
                    _logger.debug("unlocking the sequencer's lock failed", exc_info=True)
                self._drop(conn)

    def _drop(self, conn: Connection) -> None:
        self._conn = None
        # Closed for good, not returned to the pool: a pooled session would keep the lock.
        try:
            conn.invalidate()
        finally:
            conn.close()


@dataclass(frozen=True)
class _Row:
    id: int
    entry: PendingEntry


class Handoff:
    """The ``log_handoff`` table, from both sides."""

    def __init__(self, engine: Engine, replica: str, clock_us: Callable[[], int]) -> None:
        self._engine = engine
        self.engine = engine
        """The database the table is in."""
        self.replica = replica
        self._clock_us = clock_us

    # -- a replica that does not sequence -------------------------------------------------------

    def submit(self, entry: PendingEntry, timeout: float = 30.0) -> Appended:
        """Hand ``entry`` to the sequencing replica; return it as integrated once durable.

        Raises :class:`NoSequencerError` after ``timeout`` seconds without an answer (the row
        is withdrawn; a retry is safe, the dedup key answers it with the first index if the
        entry did reach the log meanwhile)."""
        if entry.dedup_key is None:
            raise LogError("a handed-off entry needs a dedup key")
        with self._engine.begin() as conn:
            row_id = conn.execute(
                insert(log_handoff)
                .values(
                    payload=entry.payload,
                    dedup_key=entry.dedup_key,
                    submitted_us=self._clock_us(),
                    replica=self.replica,
                )
                .returning(log_handoff.c.id)
            ).scalar_one()
        deadline = time.monotonic() + timeout
        wait = 0.002
        while True:
            with self._engine.connect() as conn:
                row = conn.execute(
                    select(log_handoff.c.idx, log_handoff.c.duplicate, log_handoff.c.error).where(
                        log_handoff.c.id == row_id
                    )
                ).first()
            if row is not None and (row.idx is not None or row.error is not None):
                break
            if time.monotonic() >= deadline:
                if self._withdraw_unclaimed(row_id):
                    raise NoSequencerError(
                        f"no replica sequenced this submission within {timeout:g} s (the log's "
                        "sequencer is changing or overloaded); nothing was acknowledged: retry"
                    )
                # A sequencer's pump holds the row: it is being appended, and may be on the
                # log already. Wait for the answer; a pump whose replica is replaced lets the
                # row go (its session ends), and it is withdrawn or taken again then.
                deadline = time.monotonic() + timeout
            time.sleep(wait)
            wait = min(wait * 2, 0.05)
        self._withdraw(row_id)
        if row.error is not None:
            kind, _, message = str(row.error).partition(": ")
            if kind == "StorageFullError":
                raise StorageFullError(message)
            # The append failed as a whole (its transaction rolled back): nothing of it is on
            # the log, and a retry, here or on another replica, is safe.
            raise NoSequencerError(
                f"the sequencing replica could not append it ({message}); nothing was "
                "acknowledged: retry"
            )
        with self._engine.connect() as conn:
            entry_row = conn.execute(
                select(log_entries.c.leaf_hash, log_entries.c.integrated_us).where(
                    log_entries.c.idx == row.idx
                )
            ).one()
        return Appended(
            int(row.idx),
            bytes(entry_row.leaf_hash),
            from_micros(int(entry_row.integrated_us)),
            duplicate=bool(row.duplicate),
        )

    def _withdraw(self, row_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(log_handoff).where(log_handoff.c.id == row_id))

    def _withdraw_unclaimed(self, row_id: int) -> bool:
        """Delete the row unless a pump holds it or answered it; return whether it was."""
        taken = (
            select(log_handoff.c.id)
            .where(log_handoff.c.id == row_id, log_handoff.c.resolved_us.is_(None))
            .with_for_update(skip_locked=True)
        )
        with self._engine.begin() as conn:
            gone = conn.execute(
                delete(log_handoff)
                .where(log_handoff.c.id.in_(taken.scalar_subquery()))
                .returning(log_handoff.c.id)
            ).first()
        return gone is not None

    # -- the sequencing replica ------------------------------------------------------------------

    def pending(self, limit: int, conn: Connection | None = None) -> list[_Row]:
        """The oldest submissions not answered yet that no other pump holds. In ``conn``'s
        transaction they are held (``FOR UPDATE SKIP LOCKED``) until it ends, so that no other
        pump takes them and their replica does not withdraw them meanwhile."""
        query = (
            select(log_handoff.c.id, log_handoff.c.payload, log_handoff.c.dedup_key)
            .where(log_handoff.c.resolved_us.is_(None))
            .order_by(log_handoff.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        if conn is None:
            with self._engine.begin() as own:
                rows = own.execute(query).all()
        else:
            rows = conn.execute(query).all()
        return [_Row(int(r.id), PendingEntry(bytes(r.payload), bytes(r.dedup_key))) for r in rows]

    def resolve(
        self, answers: list[tuple[int, Appended | BaseException]], conn: Connection | None = None
    ) -> None:
        """Write the answers back: each row's entry index, or why it was not appended (in
        ``conn``'s transaction, the one that holds the rows, if given)."""
        if not answers:
            return
        if conn is None:
            with self._engine.begin() as own:
                self._resolve(own, answers)
        else:
            self._resolve(conn, answers)

    def _resolve(
        self, conn: Connection, answers: list[tuple[int, Appended | BaseException]]
    ) -> None:
        now = self._clock_us()
        for row_id, answer in answers:
            values: dict[str, object] = {"resolved_us": now}
            if isinstance(answer, Appended):
                values |= {"idx": answer.index, "duplicate": answer.duplicate}
            else:
                values["error"] = f"{type(answer).__name__}: {answer}"[:2000]
            conn.execute(update(log_handoff).where(log_handoff.c.id == row_id).values(values))

    def prune(self, older_than_us: int) -> int:
        """Delete answered rows older than ``older_than_us`` whose replica never came back for
        them (it was killed while waiting)."""
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(log_handoff).where(
                    log_handoff.c.resolved_us.is_not(None),
                    log_handoff.c.resolved_us < older_than_us,
                )
            )
        return int(result.rowcount or 0)


class HandoffPump:
    """On the sequencing replica: integrates handed-off submissions through its sequencer."""

    def __init__(
        self, handoff: Handoff, sequencer: Sequencer, *, interval: float = 0.01, limit: int = 1000
    ) -> None:
        self.handoff = handoff
        self.sequencer = sequencer
        self.interval = interval
        self.limit = limit
        self.integrated = 0
        """Submissions answered since the pump started."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> HandoffPump:
        """Start the pump's thread."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="pausewatch-handoff", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the round in progress (its rows are answered, or left pending)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        last_prune = 0.0
        while not self._stop.is_set():
            try:
                did = self.round()
                if time.monotonic() - last_prune > 60:
                    last_prune = time.monotonic()
                    self.handoff.prune(self.handoff._clock_us() - 3_600_000_000)
            except Exception:
                _logger.exception("handing submissions to the sequencer failed; will retry")
                did = 0
            if not did:
                self._stop.wait(self.interval)

    def round(self) -> int:
        """Integrate the pending rows once; return how many were answered. The rows are held
        from the moment they are taken until their answers are written, in one transaction: if
        this replica's session ends meanwhile they are left to the next sequencer."""
        with self.handoff.engine.begin() as conn:
            return self._round(conn)

    def _round(self, conn: Connection) -> int:
        rows = self.handoff.pending(self.limit, conn)
        if not rows:
            return 0
        futures: list[tuple[int, Future[Appended]]] = []
        for row in rows:
            try:
                futures.append((row.id, self.sequencer.submit(row.entry)))
            except QueueFullError:
                break  # the rest stay pending for the next round
        answers: list[tuple[int, Appended | BaseException]] = []
        for row_id, fut in futures:
            try:
                answers.append((row_id, fut.result()))
            except SequencerStoppedError:
                pass  # this replica stopped sequencing: the row stays for the next sequencer
            except Exception as exc:
                answers.append((row_id, exc))
        self.handoff.resolve(answers, conn)
        self.integrated += len(answers)
        return len(answers)
