"""RFC 9457 problem documents for every error the API returns."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pausewatch.errors import (
    AuthorizationError,
    ConsistencyError,
    Error,
    IngestWorkerError,
    LogError,
    NotFoundError,
    ProofError,
    SignatureError,
    StatementError,
    StorageFullError,
    UnknownFieldError,
    UnknownKindError,
    UploadBusyError,
)
from pausewatch.ledger import QueueFullError
from pausewatch.service import (
    MalformedJSONError,
    NoticeQuotaError,
    NoticeTooLargeError,
    RegistryConflictError,
)
from pausewatch.store import storage_full

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://pausewatch.dev/problems/"


def problem(
    status: int, slug: str, title: str, detail: str, instance: str | None = None, **extra: Any
) -> JSONResponse:
    """A problem document response."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_logger = logging.getLogger("pausewatch.api")

# Most specific first.
_MAP: list[tuple[type[Error], int, str, str]] = [
    (MalformedJSONError, 400, "malformed-json", "Malformed JSON"),
    (NoticeTooLargeError, 413, "notice-too-large", "Notice too large"),
    (NoticeQuotaError, 429, "notice-quota", "Notice quota reached"),
    (UnknownKindError, 422, "unknown-kind", "Unknown statement kind"),
    (UnknownFieldError, 422, "unknown-field", "Unknown field"),
    (SignatureError, 422, "bad-signature", "Signature does not verify"),
    (AuthorizationError, 403, "forbidden-signer", "Signer may not make this statement"),
    (RegistryConflictError, 409, "registry-conflict", "The registry refuses this statement"),
    (StatementError, 422, "invalid-statement", "Invalid statement"),
    (QueueFullError, 503, "busy", "Log busy"),
    (StorageFullError, 503, "storage-full", "Storage full"),
    (IngestWorkerError, 503, "ingest-interrupted", "Telemetry verification interrupted"),
    (UploadBusyError, 503, "upload-busy", "Upload being ingested elsewhere"),
    (NotFoundError, 404, "not-found", "Not found"),
    (ConsistencyError, 500, "inconsistent-log", "Log inconsistency"),
    (ProofError, 400, "bad-proof-request", "Bad proof request"),
    (LogError, 400, "log-error", "Log refused the request"),
]


def _for_error(request: Request, exc: Exception) -> JSONResponse:
    for cls, status, slug, title in _MAP:
        if isinstance(exc, cls):
            resp = problem(status, slug, title, str(exc), request.url.path)
            retry_after = getattr(exc, "retry_after_s", None)
            if retry_after is not None:
                resp.headers["Retry-After"] = str(retry_after)
            return resp
    return problem(400, "error", "Request refused", str(exc), request.url.path)


def slug_of(exc: BaseException) -> str:
    """The problem type (the last part of its URI) the API answers ``exc`` with: one of a
    closed set, so that it can label a metric."""
    if isinstance(exc, RequestValidationError):
        return "invalid-request"
    if isinstance(exc, StarletteHTTPException):
        return f"http-{exc.status_code}"
    for cls, _status, slug, _title in _MAP:
        if isinstance(exc, cls):
            return slug
    if storage_full(exc):
        return "storage-full"
    return "error" if isinstance(exc, Error) else "internal-error"


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "description": f"URI of the problem type, under {TYPE_BASE}.",
        },
        "title": {"type": "string", "description": "The problem type in words."},
        "status": {"type": "integer", "description": "The HTTP status."},
        "detail": {"type": "string", "description": "This occurrence, in words."},
        "instance": {"type": "string", "description": "The path asked for."},
    },
}
"""The JSON Schema of a problem document (extension members may follow)."""

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response whose body is a problem document."""
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (an OpenAPI document) with every error answer documented as what it is: a
    problem document. FastAPI's generated 422 (``application/json``, its own validation
    error shape) becomes a problem; every operation gets a ``default`` problem response for
    the other errors (400, 404, 413, 500, 503, ...)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if "422" in responses:
                responses["422"] = problem_response(
                    "Invalid request (a parameter or the body), or an invalid statement."
                )
            for code, response in responses.items():
                content = response.get("content", {})
                if code[0] in "45" and PROBLEM_JSON not in content:
                    response["content"] = {PROBLEM_JSON: {"schema": _PROBLEM_REF}}
            responses.setdefault("default", problem_response("An error: a problem document."))
    schemas = schema["components"]["schemas"]
    if not any("HTTPValidationError" in json.dumps(p) for p in schema.get("paths", {}).values()):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return schema


def _install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Register handlers so that every error is a problem document, and document them so in
    the OpenAPI document."""
    _install_openapi(app)

    @app.exception_handler(Error)
    async def _pausewatch_error(request: Request, exc: Error) -> JSONResponse:
        return _for_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errs[:5]
        )
        return problem(422, "invalid-request", "Invalid request", detail, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A defect or an outage (the database, say): still a problem document, without
        # internals in the detail; the traceback goes to the service's log.
        if storage_full(exc):
            # A full disk met outside the log's writer (telemetry records, the views): the
            # write was rolled back; the client retries once space is freed.
            _logger.error("storage full on %s", request.url.path, exc_info=exc)
            full = StorageFullError("the service's storage is full; retry once space is freed")
            return _for_error(request, full)
        _logger.error("unhandled error on %s", request.url.path, exc_info=exc)
        return problem(
            500,
            "internal-error",
            "Internal error",
            f"the service failed to answer ({type(exc).__name__}); see its log",
            request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        resp = problem(
            exc.status_code,
            "http-" + str(exc.status_code),
            str(exc.detail),
            str(exc.detail),
            request.url.path,
        )
        # Headers the exception carries are part of the answer (Allow on a 405).
        resp.headers.update(exc.headers or {})
        return resp


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with a 413 problem."""

    def __init__(self, app: ASGIApp, max_bytes: int, paths: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths or {}
        """Paths with a limit of their own (telemetry batches are larger than statements)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope.get("path", ""), self.max_bytes)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        seen = 0
        refused = False

        async def limited() -> Message:
            nonlocal seen, refused
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    refused = True
                    raise _TooLargeError
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLargeError:
            await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        resp = problem(
            413,
            "too-large",
            "Request body too large",
            f"request body exceeds {limit} bytes",
            scope.get("path"),
        )
        await resp(scope, _noop_receive, send)


class _TooLargeError(Exception):
    pass


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}
