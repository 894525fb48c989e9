"""Dependencies shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pausewatch.service import LogService


def _service(request: Request) -> LogService:
    service: LogService = request.app.state.service
    return service


ServiceDep = Annotated[LogService, Depends(_service)]
"""The running :class:`LogService`."""
