"""Errors of the service layer."""

from __future__ import annotations

from pausewatch.errors import StatementError


class RegistryConflictError(StatementError):
    """The registry would reject the statement, or did: something it names is missing or
    conflicts (answered 409)."""


__all__ = ["RegistryConflictError"]
