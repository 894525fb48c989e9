"""The API's documentation page (``/docs``, Swagger UI) served from the package, and the
security headers every response carries.

FastAPI's own ``/docs`` and ``/redoc`` load their scripts from a CDN, without subresource
integrity, and start them with an inline script: the page needs the network, and trusts
whatever the CDN serves. Here the page loads Swagger UI from ``/docs/static/`` (the files of the
``swagger-ui-dist`` package, shipped in ``pausewatch/api/static``), starts it from a file of our
own, and forbids every other source with its Content-Security-Policy.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pausewatch.api.problems import problem

DOCS_PATH = "/docs"
STATIC_PATH = f"{DOCS_PATH}/static"

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""The documentation page's policy: its scripts and the OpenAPI document from this origin only
(Swagger UI sets inline styles, not inline scripts)."""

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""The policy of every other response that sets none: JSON and problem documents load nothing."""

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": API_CSP,
    "Cache-Control": "no-store",
}
"""Headers added to every response that does not set its own."""

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@functools.cache
def _assets() -> dict[str, tuple[bytes, str]]:
    """The static files of the page, with a digest each (their ``?v=``)."""
    root = resources.files("pausewatch.api").joinpath("static")
    found: dict[str, tuple[bytes, str]] = {}
    for item in root.iterdir():
        suffix = item.name[item.name.rfind(".") :]
        if item.is_file() and suffix in _TYPES:
            body = item.read_bytes()
            found[item.name] = (body, hashlib.sha256(body).hexdigest()[:12])
    return found


def asset_url(name: str) -> str:
    """The versioned URL of one of the page's files."""
    return f"{STATIC_PATH}/{name}?v={_assets()[name][1]}"


@functools.cache
def _page(openapi_url: str, title: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{asset_url("swagger-ui.css")}">
</head>
<body data-openapi="{openapi_url}">
<div id="swagger-ui"></div>
<script src="{asset_url("swagger-ui-bundle.js")}"></script>
<script src="{asset_url("docs.js")}"></script>
</body>
</html>
"""


@router.get(DOCS_PATH)
def docs(request: Request) -> HTMLResponse:
    """Swagger UI over this service's OpenAPI document, with nothing loaded from elsewhere."""
    openapi_url = request.app.openapi_url or "/openapi.json"
    html = _page(openapi_url, request.app.title)
    headers = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"}
    return HTMLResponse(html, headers=headers)


@router.get(STATIC_PATH + "/{name}")
def docs_static(name: str, request: Request) -> Response:
    """One of the page's files, cached for a year (its URL carries its digest)."""
    found = _assets().get(name)
    if found is None:
        return problem(404, "not-found", "Not found", f"no file {name!r}", request.url.path)
    body, digest = found
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{digest}"'}
    if request.headers.get("if-none-match") == f'"{digest}"':
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=_TYPES[name[name.rfind(".") :]], headers=headers)


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every response that lacks them (the
    dashboard's pages and the docs page set their own policy, which is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self._headers if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


__all__ = ["API_CSP", "DOCS_CSP", "SECURITY_HEADERS", "SecurityHeaders", "asset_url", "router"]
