"""Errors of the service layer, and the answers for an entry the fold did not take."""

from __future__ import annotations

from pausewatch.errors import StatementError, StorageFullError
from pausewatch.registry import Registry
from pausewatch.store import storage_full


class RegistryConflictError(StatementError):
    """The registry would reject the statement, or did: something it names is missing or
    conflicts (answered 409)."""


def entry_refusal(registry: Registry, index: int) -> StatementError | None:
    """The error to answer with when the fold rejected log entry ``index`` (409) or set it
    aside as unreadable (422); none when it took effect."""
    row = registry.get("rejected", index)
    if row is not None:
        return RegistryConflictError(
            f"entry {index} is on the log, but the registry rejected it: {row['reason']}"
        )
    row = registry.get("unreadable", index)
    if row is not None:
        return StatementError(
            f"entry {index} is on the log, but the fold could not read it: {row['reason']}"
        )
    return None


def unfolded(index: int, failure: Exception) -> Exception:
    """The error to answer with when entry ``index`` is on the log but the fold failed."""
    if storage_full(failure):
        error: Exception = StorageFullError(
            f"entry {index} is on the log, but the storage is too full to fold it into the "
            "registry's views; retry once space is freed (the retry is answered with the entry)"
        )
        error.__cause__ = failure
        return error
    return failure


__all__ = ["RegistryConflictError", "entry_refusal", "unfolded"]
