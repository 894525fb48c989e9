"""The dashboard's routes: HTML pages under ``/ui``, their static files, and ``/`` -> ``/ui/``.

Pages are rendered on the server with Jinja2 (autoescaping on), so every table works without
JavaScript; charts are drawn by plotly.js, which the Python ``plotly`` package ships and
``/ui/static/plotly.min.js`` serves (no CDN, no network). Pages reload themselves every
:data:`REFRESH_S` seconds (``?refresh=N`` changes it, ``?refresh=0`` stops it). The routes are
left out of the OpenAPI schema: they are HTML for people, and the JSON API has every figure.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import plotly
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from plotly.offline import get_plotlyjs

from pausewatch import __version__
from pausewatch.errors import NotFoundError
from pausewatch.ledger import format_time
from pausewatch.service import DeterrenceError, LogService, assumptions_from_query
from pausewatch.web import _pages
from pausewatch.web._charts import parse_time

PREFIX = "/ui"
REFRESH_S = 10
"""Default seconds between a page's reloads (a demo world moves)."""
MIN_REFRESH_S = 5
"""Shortest reload interval a ``?refresh=`` may ask for."""
LONG_CACHE = "public, max-age=31536000, immutable"

NAV: tuple[tuple[str, str, str], ...] = (
    ("overview", f"{PREFIX}/", "Overview"),
    ("runs", f"{PREFIX}/runs", "Runs"),
    ("facilities", f"{PREFIX}/facilities", "Facilities & chips"),
    ("governance", f"{PREFIX}/governance", "Governance"),
    ("evaluations", f"{PREFIX}/evaluations", "Evaluations"),
    ("detection", f"{PREFIX}/detection", "Detection"),
    ("deterrence", f"{PREFIX}/deterrence", "Deterrence"),
    ("log", f"{PREFIX}/log", "Log"),
)

HEADERS = {
    # Scripts only from this origin (plotly.js and ours); plotly.js adds <style> elements.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


# -- formatting -------------------------------------------------------------------------------


def fmt_flop(value: float | None) -> str:
    """A FLOP figure to three significant digits (``2e+24``), or an em dash."""
    return "—" if value is None else f"{value:.3g}"


def fmt_duration(seconds: float | None) -> str:
    """Seconds as ``N d HH:MM:SS`` (what the countdown script writes too)."""
    if seconds is None:
        return "—"
    if seconds <= 0:
        return "0 d 00:00:00"
    whole = int(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days} d {hours:02d}:{minutes:02d}:{secs:02d}"


def fmt_time(value: str | None) -> str:
    """An RFC 3339 time to the second, for reading (``2027-03-01 12:00:00Z``)."""
    if not value:
        return "—"
    try:
        return parse_time(value).strftime("%Y-%m-%d %H:%M:%SZ")
    except ValueError:
        return value


def fmt_pct(value: float | None) -> str:
    """A fraction as a percentage."""
    return "—" if value is None else f"{100 * value:.1f}%"


def fmt_unix(value: int | None) -> str:
    """Unix seconds (a cosignature's timestamp) as UTC."""
    if value is None:
        return "—"
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("pausewatch.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # The templates ship in the package and do not change while it runs: each is loaded
        # once, not checked against its file on every render (two stat calls a template, a
        # tenth of a page's time under ingest; docs/adr/0056).
        auto_reload=False,
    )
    env.filters.update(
        flop=fmt_flop,
        duration=fmt_duration,
        ts=fmt_time,
        pct=fmt_pct,
        unix=fmt_unix,
        short=lambda h, n=12: (h or "")[:n],
    )
    env.globals.update(nav=NAV, prefix=PREFIX, version=__version__, static=static_url)
    return env


# -- static files -----------------------------------------------------------------------------


def _static_files() -> dict[str, bytes]:
    root = resources.files("pausewatch.web").joinpath("static")
    return {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}


@functools.cache
def _static() -> dict[str, tuple[bytes, str]]:
    """Our static files with a digest each (the ``?v=`` that lets browsers cache them)."""
    return {n: (b, hashlib.sha256(b).hexdigest()[:12]) for n, b in _static_files().items()}


@functools.cache
def _plotly() -> tuple[bytes, bytes, str]:
    """plotly.js as shipped by the ``plotly`` package, gzipped once, and its digest."""
    raw = get_plotlyjs().encode()
    return raw, gzip.compress(raw, 6, mtime=0), hashlib.sha256(raw).hexdigest()[:16]


def static_url(name: str) -> str:
    """The versioned URL of a static file (``plotly.min.js`` or one of ours)."""
    if name == "plotly.min.js":
        return f"{PREFIX}/static/plotly.min.js?v={plotly.__version__}"
    return f"{PREFIX}/static/{name}?v={_static()[name][1]}"


_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@router.get(f"{PREFIX}/static/plotly.min.js")
def plotly_js(request: Request) -> Response:
    """plotly.js, cached for a year (its URL carries plotly's version), gzipped if accepted."""
    raw, packed, digest = _plotly()
    headers = {
        "Cache-Control": LONG_CACHE,
        "ETag": f'"{digest}"',
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == f'"{digest}"':
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type=_TYPES[".js"], headers=headers)
    return Response(raw, media_type=_TYPES[".js"], headers=headers)


@router.get(PREFIX + "/static/{name}")
def static_file(name: str, request: Request) -> Response:
    """One of the dashboard's own static files."""
    found = _static().get(name)
    suffix = name[name.rfind(".") :] if "." in name else ""
    if found is None or suffix not in _TYPES:
        return _not_found(request, f"no static file {name!r}")
    body, digest = found
    headers = {
        "Cache-Control": LONG_CACHE,
        "ETag": f'"{digest}"',
        "X-Content-Type-Options": "nosniff",
    }
    return Response(body, media_type=_TYPES[suffix], headers=headers)


# -- rendering --------------------------------------------------------------------------------


def _service(request: Request) -> LogService:
    service: LogService = request.app.state.service
    return service


_DIGITS = re.compile(r"[0-9]{1,18}")
"""A query or path number: ASCII digits only (``str.isdigit`` admits '²'), bounded in length."""


def _int(request: Request, name: str, default: int | None, low: int = 0) -> int | None:
    """A non-negative integer query parameter; junk is the default (a page, not an API)."""
    raw = request.query_params.get(name)
    if raw is None or not _DIGITS.fullmatch(raw):
        return default
    return max(low, min(int(raw), 2**62))


def _refresh(request: Request, default: int = REFRESH_S) -> int:
    value = _int(request, "refresh", default)
    if not value:
        return 0
    return max(MIN_REFRESH_S, min(value, 3600))


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    active: str,
    status: int = 200,
    refresh: int = REFRESH_S,
) -> HTMLResponse:
    """A page: the template with the navigation, refresh (``refresh`` seconds unless the query
    says otherwise; 0: none) and time of the reading."""
    service = _service(request)
    html = (
        _environment()
        .get_template(template)
        .render(
            **context,
            active=active,
            refresh=_refresh(request, refresh),
            path=request.url.path,
            now=format_time(service.clock()),
            log_size=service.log.size,
        )
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "error.html", {"message": message, "status": 404}, active="", status=404)


def _page(
    request: Request,
    template: str,
    active: str,
    build: Callable[[], dict[str, Any]],
    *,
    refresh: int = REFRESH_S,
) -> HTMLResponse:
    """Render ``build()``'s context, or the 404 page when what it reads does not exist."""
    try:
        context = build()
    except NotFoundError as exc:
        return _not_found(request, str(exc))
    return render(request, template, context, active=active, refresh=refresh)


# -- pages ------------------------------------------------------------------------------------


@router.get("/")
def root() -> RedirectResponse:
    """The dashboard is the service's home page."""
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(PREFIX)
def ui_root() -> RedirectResponse:
    """``/ui`` -> ``/ui/``."""
    return RedirectResponse(f"{PREFIX}/", status_code=307)


@router.get(f"{PREFIX}/", response_class=HTMLResponse)
def overview_page(request: Request) -> HTMLResponse:
    """The pause, the policy, parties and positions, findings by severity."""
    service = _service(request)
    return _page(
        request, "overview.html", "overview", lambda: _pages.overview(service, service.clock())
    )


@router.get(f"{PREFIX}/runs", response_class=HTMLResponse)
def runs_page(request: Request) -> HTMLResponse:
    """Declared runs, measured against their plans."""
    service = _service(request)
    offset = _int(request, "offset", 0) or 0
    return _page(
        request, "runs.html", "runs", lambda: _pages.runs(service, service.clock(), offset)
    )


@router.get(PREFIX + "/runs/{run_id:path}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request) -> HTMLResponse:
    """One run: plan, measured compute, projection, tiers, findings."""
    service = _service(request)
    return _page(
        request, "run.html", "runs", lambda: _pages.run_detail(service, run_id, service.clock())
    )


@router.get(f"{PREFIX}/facilities", response_class=HTMLResponse)
def facilities_page(request: Request) -> HTMLResponse:
    """Facilities, clusters and their chips: size, coverage, dark chips, undeclared compute."""
    service = _service(request)
    return _page(
        request,
        "facilities.html",
        "facilities",
        lambda: _pages.facilities(service, service.clock()),
    )


@router.get(f"{PREFIX}/governance", response_class=HTMLResponse)
def governance_page(request: Request) -> HTMLResponse:
    """Proposals, ballots and outcomes; the pause's history."""
    service = _service(request)
    offset = _int(request, "offset", 0) or 0
    return _page(
        request,
        "governance.html",
        "governance",
        lambda: _pages.governance(service, service.clock(), offset),
    )


@router.get(PREFIX + "/governance/{proposal_id:path}", response_class=HTMLResponse)
def proposal_page(proposal_id: str, request: Request) -> HTMLResponse:
    """One proposal: ballots, tally, reasons, lift conditions with their figures."""
    service = _service(request)
    return _page(
        request,
        "proposal.html",
        "governance",
        lambda: _pages.proposal(service, proposal_id, service.clock()),
    )


@router.get(f"{PREFIX}/evaluations", response_class=HTMLResponse)
def evaluations_page(request: Request) -> HTMLResponse:
    """Signed capability evaluations against the policy's levels; adopted suites."""
    service = _service(request)
    return _page(
        request,
        "evaluations.html",
        "evaluations",
        lambda: _pages.evaluations(service, service.clock()),
    )


@router.get(f"{PREFIX}/detection", response_class=HTMLResponse)
def detection_page(request: Request) -> HTMLResponse:
    """Chips unaccounted for, exports, inspections, balances with their tests, and the latest
    published evaluation of the detectors."""
    service = _service(request)
    return _page(
        request,
        "detection.html",
        "detection",
        lambda: _pages.detection(service, service.clock()),
    )


@router.get(f"{PREFIX}/detection/non-parties", response_class=HTMLResponse)
def non_parties_page(request: Request) -> HTMLResponse:
    """What is known of chips that reached non-parties and of facilities outside the
    registry."""
    service = _service(request)
    return _page(
        request,
        "non_parties.html",
        "detection",
        lambda: _pages.non_parties(service, service.clock()),
    )


@router.get(f"{PREFIX}/deterrence", response_class=HTMLResponse)
def deterrence_page(request: Request) -> HTMLResponse:
    """Which defection kinds the regime deters, by what margin, and what would close each gap,
    at the assumptions the query string holds (the page's form is a GET)."""
    service = _service(request)
    params = {name: request.query_params.getlist(name) for name in request.query_params}
    try:
        assumptions = assumptions_from_query(params)
    except DeterrenceError as exc:
        # The analysis at the defaults, with what was wrong said above the form.
        context = _pages.deterrence_page(service, service.clock())
        context["error"] = str(exc)
        return render(
            request, "deterrence.html", context, active="deterrence", status=422, refresh=0
        )
    # Not reloading unless asked (?refresh=N): a reload would wipe a form being edited.
    return _page(
        request,
        "deterrence.html",
        "deterrence",
        lambda: _pages.deterrence_page(service, service.clock(), assumptions),
        refresh=0,
    )


@router.get(f"{PREFIX}/log", response_class=HTMLResponse)
def log_page(request: Request) -> HTMLResponse:
    """The latest checkpoint, its cosignatures, and the newest entries."""
    service = _service(request)
    start = _int(request, "start", None)
    return _page(request, "log.html", "log", lambda: _pages.log_index(service, start))


@router.get(PREFIX + "/log/{index}", response_class=HTMLResponse)
def entry_page(index: str, request: Request) -> HTMLResponse:
    """One entry with its inclusion proof, verified here."""
    service = _service(request)
    if not _DIGITS.fullmatch(index):
        return _not_found(request, f"entry index: expected a number, got {index!r}")
    return _page(request, "entry.html", "log", lambda: _pages.log_entry(service, int(index)))


@router.get(PREFIX + "/{rest:path}", response_class=HTMLResponse)
def unknown_page(rest: str, request: Request) -> HTMLResponse:
    """Any other path under the dashboard."""
    return _not_found(request, f"no page {PREFIX}/{rest}")


__all__ = ["HEADERS", "NAV", "PREFIX", "REFRESH_S", "render", "router", "static_url"]
