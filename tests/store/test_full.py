"""Telling a full disk or database apart from other storage failures, on each backend's own
error (what the service answers 503 for, rather than 500)."""

from __future__ import annotations

import errno
import sqlite3

import psycopg.errors
import pytest
from sqlalchemy.exc import OperationalError

from pausewatch.store import storage_full


def _wrapped(orig: BaseException) -> OperationalError:
    return OperationalError("INSERT INTO log_entries ...", {}, orig)


@pytest.mark.parametrize(
    "exc",
    [
        _wrapped(sqlite3.OperationalError("database or disk is full")),
        _wrapped(psycopg.errors.DiskFull("could not extend file: No space left on device")),
        OSError(errno.ENOSPC, "No space left on device"),
    ],
    ids=["sqlite", "postgresql", "enospc"],
)
def test_a_full_disk_is_recognised(exc: BaseException) -> None:
    """SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100) and ENOSPC are a full disk."""
    assert storage_full(exc)


def test_a_full_disk_is_recognised_down_a_chain() -> None:
    """The full disk may be the cause of the error that reaches the service."""
    outer = RuntimeError("commit failed")
    outer.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert storage_full(outer)


@pytest.mark.parametrize(
    "exc",
    [
        _wrapped(sqlite3.OperationalError("database is locked")),
        _wrapped(psycopg.errors.UniqueViolation("duplicate key")),
        OSError(errno.EACCES, "Permission denied"),
        ValueError("no"),
    ],
)
def test_other_failures_are_not_a_full_disk(exc: BaseException) -> None:
    """A locked database, a constraint, a permission error are something else."""
    assert not storage_full(exc)
