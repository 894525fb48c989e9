"""The witness HTTP service (c2sp.org/tlog-witness) as a FastAPI application.

``POST /add-checkpoint`` takes the raw request body and answers exactly what
:meth:`Witness.add_checkpoint` decides (status, ``Content-Type`` and body, unaltered);
``GET /`` describes the witness (name, cosignature verifier key, trusted logs) and
``GET /healthz`` tells a load balancer the process is up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from pausewatch.witness._config import load_witness
from pausewatch.witness._core import CONTENT_TYPE_SIZE, CONTENT_TYPE_TEXT, Witness
from pausewatch.witness._store import SqlWitnessStore

MAX_BODY_BYTES = 1 << 20
"""The largest ``add-checkpoint`` body accepted (1 MiB); larger ones get 413."""

log = logging.getLogger("pausewatch.witness")

_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_ADD_CHECKPOINT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The witness's tlog-cosignature/v1 signature line(s).", "content": _TEXT},
    400: {
        "description": "Malformed body, or an old size greater than the checkpoint size.",
        "content": _TEXT,
    },
    403: {"description": "No valid signature by a trusted key for the origin.", "content": _TEXT},
    404: {
        "description": "The checkpoint's origin is not a log this witness trusts.",
        "content": _TEXT,
    },
    409: {
        "description": (
            "The old size is not the latest cosigned size (body: that size and a newline, "
            "Content-Type text/x.tlog.size)."
        ),
        "content": {CONTENT_TYPE_SIZE: {"schema": {"type": "string"}}, **_TEXT},
    },
    413: {"description": f"The body is larger than {MAX_BODY_BYTES} bytes.", "content": _TEXT},
    422: {
        "description": (
            "The consistency proof does not verify, or the old size equals the checkpoint's "
            "and its root hash differs from the one cosigned at that size."
        ),
        "content": _TEXT,
    },
}


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            return None
    return bytes(chunks)


def _plain(status: int, content_type: str, body: str) -> Response:
    # Set the header ourselves: Starlette would append "; charset=utf-8" to text/x.tlog.size.
    return Response(content=body, status_code=status, headers={"Content-Type": content_type})


def create_witness_app(witness: Witness, clock: Callable[[], datetime]) -> FastAPI:
    """The witness's HTTP API; ``clock`` gives the (timezone-aware) time of each cosignature."""
    app = FastAPI(
        title="pausewatch witness",
        description=(
            "A transparency log witness (https://c2sp.org/tlog-witness): it cosigns checkpoints "
            "of trusted logs that are consistent with the latest one it cosigned."
        ),
        version="1",
    )

    @app.post(
        "/add-checkpoint",
        summary="Submit a checkpoint and a consistency proof; get a cosignature",
        description=(
            "c2sp.org/tlog-witness add-checkpoint. The body is `old <size>`, up to 63 base64 "
            "consistency proof lines (RFC 6962 §2.1.2, from the old size to the checkpoint "
            "size), an empty line, then the checkpoint as a signed note. On success the answer "
            "is the witness's tlog-cosignature/v1 line(s); the checkpoint is recorded first."
        ),
        response_class=Response,
        responses=_ADD_CHECKPOINT_RESPONSES,
        openapi_extra={"requestBody": {"required": True, "content": _TEXT}},
    )
    async def add_checkpoint(request: Request) -> Response:
        body = await _read_body(request, MAX_BODY_BYTES)
        if body is None:
            return _plain(413, CONTENT_TYPE_TEXT, f"body larger than {MAX_BODY_BYTES} bytes\n")
        result = await run_in_threadpool(witness.add_checkpoint, body, clock())
        if result.status in (409, 422) and result.content_type == CONTENT_TYPE_TEXT:
            # Signed by a trusted log yet inconsistent: possible evidence of log misbehaviour.
            log.warning(
                "refused checkpoint (%d): %s; request body: %r",
                result.status,
                result.body.strip(),
                body,
            )
        return _plain(result.status, result.content_type, result.body)

    @app.get(
        "/",
        summary="Describe the witness",
        description=(
            "The witness name, its tlog-cosignature/v1 (type 0x04) verifier key string and the "
            "origins of the logs it trusts."
        ),
    )
    def describe() -> dict[str, Any]:
        return {
            "name": witness.name,
            "verifier_key": witness.verifier.to_string(),
            "logs": witness.origins,
        }

    @app.get(
        "/healthz", summary="Liveness check", description="Answers 200 while the process runs."
    )
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_witness(
    key_file: Path,
    logs_file: Path,
    db_url: str,
    host: str = "127.0.0.1",
    port: int = 8080,
) -> None:
    """Run the witness over HTTP until interrupted: migrate the database, load keys, serve.

    The state lives in the ``witness_logs`` table at ``db_url`` (SQLite or PostgreSQL); losing
    it would let the witness cosign a fork, so a witness whose database is lost must be given a
    new key rather than restarted empty.
    """
    import uvicorn

    from pausewatch.store import make_engine, upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine)
        witness = load_witness(key_file, logs_file, SqlWitnessStore(engine))
        app = create_witness_app(witness, lambda: datetime.now(UTC))
        uvicorn.run(app, host=host, port=port)
    finally:
        engine.dispose()
