"""Dependencies shared by the routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator

from pausewatch.api.metrics import Metrics
from pausewatch.errors import StatementError
from pausewatch.fields import check_time, parse_time
from pausewatch.service import LogService


def _service(request: Request) -> LogService:
    service: LogService = request.app.state.service
    return service


ServiceDep = Annotated[LogService, Depends(_service)]
"""The running :class:`LogService`."""


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(_metrics)]
"""The app's :class:`~pausewatch.api.metrics.Metrics`."""


MAX_INDEX = 2**53 - 1
"""The largest index, size or offset a request may name (any log is far smaller; beyond, the
database's integers would overflow)."""

Offset = Annotated[int, Query(ge=0, le=MAX_INDEX, description="Rows to skip.")]
"""The ``offset`` query parameter of a paginated list."""

Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
"""The ``limit`` query parameter of a paginated list."""


def next_offset(offset: int, limit: int, total: int) -> int | None:
    """The ``next`` of a page: the offset of the following page, or none after the last."""
    return offset + limit if offset + limit < total else None


def _rfc3339(value: object) -> object:
    """Only an RFC 3339 date-time with its offset, within the range every time has
    (:mod:`pausewatch.fields`); pydantic alone takes numbers as Unix times and dates without a
    time."""
    if isinstance(value, str):
        return parse_time(value, utc_only=False)
    return value


AtQuery = Annotated[
    datetime | None,
    BeforeValidator(_rfc3339),
    Query(description="At this time (RFC 3339, e.g. `2027-01-01T00:00:00Z`); default: now."),
]
"""The ``at`` query parameter of the read endpoints."""


def resolve_at(service: LogService, at: datetime | None) -> datetime:
    """``at`` as UTC, or the service's clock when it is not given."""
    if at is None:
        return service.clock()
    try:
        return check_time(at.astimezone(UTC))
    except (ValueError, OverflowError) as exc:
        raise StatementError(f"at: {exc}") from exc
