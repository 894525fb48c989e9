"""Telling a full disk (or a full database) apart from other storage failures.

SQLite reports ``SQLITE_FULL`` ("database or disk is full"), PostgreSQL SQLSTATE 53100
(``disk_full``), and a write to a file system without room ``ENOSPC`` (or ``EDQUOT``). The
driver's error arrives wrapped by SQLAlchemy, and often chained under others: the whole chain is
searched.
"""

from __future__ import annotations

import errno
import sqlite3

_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [item.__cause__, item.__context__, getattr(item, "orig", None)]
    return seen


def storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or anything it wraps or was raised from) says the storage is full."""
    for item in _chain(exc):
        if isinstance(item, sqlite3.Error):
            if getattr(item, "sqlite_errorcode", None) == _SQLITE_FULL:
                return True
            if "database or disk is full" in str(item):
                return True
        if getattr(item, "sqlstate", None) == _PG_DISK_FULL:
            return True
        if isinstance(item, OSError) and item.errno in _NO_SPACE:
            return True
    return False


__all__ = ["storage_full"]
