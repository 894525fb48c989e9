"""The FastAPI application of the log service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from pausewatch import __version__
from pausewatch.api import docs, problems
from pausewatch.api.metrics import Metrics, RequestMetrics
from pausewatch.api.routes import (
    deterrence,
    governance,
    log,
    metrics,
    state,
    statements,
    telemetry,
    tiles,
    transcripts,
)
from pausewatch.service import LogService
from pausewatch.web import router as web_router

DESCRIPTION = """
pausewatch's transparency log. Every fact enters as a signed statement, is appended to one
RFC 9162 log and is acknowledged only once durable. Checkpoints are C2SP signed notes signed by
the log key and cosigned by witnesses (C2SP tlog-witness). Hashes in JSON are lowercase hex;
errors are RFC 9457 problem documents (`application/problem+json`).
"""


def create_app(service: LogService, *, manage: bool = True) -> FastAPI:
    """The API over ``service``; with ``manage`` the app starts and closes it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage:
            service.start()
        try:
            yield
        finally:
            if manage:
                service.close()

    app = FastAPI(
        title="pausewatch",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's pages load their scripts from a CDN: /docs is served from the package.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.state.metrics = Metrics(service)
    problems.install(app)
    app.include_router(statements.router)
    app.include_router(log.router)
    app.include_router(tiles.router)
    app.include_router(telemetry.router)
    # Before the state's /v1/runs/{run_id:path}, which would take '<run>/transcript' as an id.
    app.include_router(transcripts.router)
    app.include_router(state.router)
    app.include_router(deterrence.router)
    app.include_router(governance.router)
    app.include_router(metrics.router)
    app.include_router(web_router)  # the dashboard: /ui, / -> /ui/ (HTML, not in OpenAPI)
    app.include_router(docs.router)  # /docs: Swagger UI from the package, no CDN

    @app.get("/healthz", tags=["service"], summary="Liveness")
    def healthz() -> Any:
        # Among replicas: which answered, its role, and 503 when it is stuck (ADR 0047).
        ok, health = service.health()
        return health if ok else JSONResponse(health, status_code=503)

    app.add_middleware(
        problems.BodyLimit,
        max_bytes=service.settings.max_body_bytes,
        paths={telemetry.BATCHES_PATH: service.settings.max_batch_bytes},
    )
    app.add_middleware(docs.SecurityHeaders)
    # Outermost: requests the body limit refuses are timed too.
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    return app
