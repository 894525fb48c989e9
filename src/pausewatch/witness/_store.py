"""Witness state stores: SQL (the ``witness_logs`` table) and in memory.

c2sp.org/tlog-witness requires that checking the old size and persisting the new checkpoint be
one atomic step, or two racing requests could roll the recorded tree back. Both stores provide
that step as :meth:`compare_and_set`: the SQL store with a single conditional ``UPDATE`` (or an
``INSERT`` for a log's first checkpoint, where the primary key settles a race), the memory store
under a lock.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from pausewatch.ledger import to_micros
from pausewatch.store import witness_logs
from pausewatch.witness._core import WitnessState


class SqlWitnessStore:
    """The latest cosigned checkpoint per origin, in the ``witness_logs`` table.

    The schema is created by the store migrations (:func:`pausewatch.store.upgrade`).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, origin: str) -> WitnessState | None:
        """The latest cosigned checkpoint for ``origin``, or None."""
        t = witness_logs.c
        with self._engine.connect() as conn:
            row = conn.execute(
                select(t.size, t.root, t.note).where(t.origin == origin)
            ).one_or_none()
        if row is None:
            return None
        return WitnessState(int(row.size), bytes(row.root), str(row.note))

    def compare_and_set(
        self,
        origin: str,
        expected_old_size: int,
        new_size: int,
        root: bytes,
        note: str,
        now: datetime,
    ) -> bool:
        """Record ``(new_size, root, note)`` if the recorded size is ``expected_old_size``.

        One ``UPDATE ... WHERE origin = ? AND size = ?``; when it matches no row and the expected
        size is 0, an ``INSERT`` for the origin's first record, whose primary key makes the
        loser of two racing first inserts fail (and return False).
        """
        t = witness_logs.c
        values = {"size": new_size, "root": root, "note": note, "updated_us": to_micros(now)}
        with self._engine.begin() as conn:
            result = conn.execute(
                update(witness_logs)
                .where(t.origin == origin, t.size == expected_old_size)
                .values(**values)
            )
            if result.rowcount == 1:
                return True
        if expected_old_size != 0:
            return False
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(witness_logs).values(origin=origin, **values))
        except IntegrityError:
            return False
        return True


class MemoryWitnessStore:
    """The latest cosigned checkpoint per origin, in a dict guarded by a lock (tests, embedding)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, WitnessState] = {}

    def get(self, origin: str) -> WitnessState | None:
        """The latest cosigned checkpoint for ``origin``, or None."""
        with self._lock:
            return self._states.get(origin)

    def compare_and_set(
        self,
        origin: str,
        expected_old_size: int,
        new_size: int,
        root: bytes,
        note: str,
        now: datetime,
    ) -> bool:
        """Record ``(new_size, root, note)`` if the recorded size (0 if none) is as expected."""
        with self._lock:
            current = self._states.get(origin)
            if (0 if current is None else current.size) != expected_old_size:
                return False
            self._states[origin] = WitnessState(new_size, bytes(root), note)
            return True
