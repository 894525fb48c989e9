"""Dependencies shared by the routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request

from pausewatch.errors import StatementError
from pausewatch.service import LogService


def _service(request: Request) -> LogService:
    service: LogService = request.app.state.service
    return service


ServiceDep = Annotated[LogService, Depends(_service)]
"""The running :class:`LogService`."""


AtQuery = Annotated[
    datetime | None, Query(description="At this time (RFC 3339 UTC); default: now.")
]
"""The ``at`` query parameter of the read endpoints."""


def resolve_at(service: LogService, at: datetime | None) -> datetime:
    """``at`` as UTC, or the service's clock when it is not given."""
    if at is None:
        return service.clock()
    if at.tzinfo is None or at.utcoffset() is None:
        raise StatementError("at: expected a UTC time ending in 'Z'")
    return at.astimezone(UTC)
