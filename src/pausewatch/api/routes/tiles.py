"""The log as C2SP tlog-tiles: hash tiles and entry bundles (ADR 0046).

The checkpoint is ``/checkpoint`` (:mod:`pausewatch.api.routes.log`). Full tiles never change and
are cached for a year; a partial tile is cached briefly, since the log may stop serving it once
the full tile exists. Entry bundles are gzip-compressed for a client whose Accept-Encoding
gives gzip a q-value above zero; a full bundle's bytes, plain and gzipped, are kept in a
bounded cache (:data:`BUNDLE_CACHE` bundles), since they never change. HEAD is answered like
GET without the body, as static servers do. A path spelt with percent-escapes is not
canonical (400), even when it decodes to a canonical one.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from pausewatch.api.deps import ServiceDep
from pausewatch.api.problems import problem
from pausewatch.errors import EncodingError
from pausewatch.ledger import Tile, parse_tile_path

router = APIRouter(tags=["log"])

OCTETS = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=60"
"""A partial tile's bytes never change either, but the log may stop serving it."""

# Documented, not enforced by the framework: a path outside them is a bad-tile-path problem
# from the one strict parser.
_REST = {"pattern": r"^(x[0-9]{3}/){0,6}[0-9]{3}(\.p/[1-9][0-9]{0,2})?$"}
_LEVEL = {"pattern": r"^(0|[1-9][0-9]?)$"}
RestPath = Annotated[str, Path(description="`<N>[.p/<W>]`", json_schema_extra=_REST)]

_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}}},
}


BUNDLE_CACHE = 256
"""Full entry bundles kept encoded (plain and gzipped) per app, least recently used dropped:
at most about 256 * 2 * 64 KiB for typical statements."""


class _BundleCache:
    """A bounded LRU of full bundles' bytes, plain and gzipped (they never change)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()

    def get(self, path: str) -> tuple[bytes, bytes] | None:
        with self._lock:
            item = self._items.get(path)
            if item is not None:
                self._items.move_to_end(path)
            return item

    def put(self, path: str, item: tuple[bytes, bytes]) -> None:
        with self._lock:
            self._items[path] = item
            self._items.move_to_end(path)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def _parsed(path: str, request: Request) -> Tile | JSONResponse:
    raw = request.scope.get("raw_path") or b""
    if b"%" in raw:
        # The router decodes escapes; a tile path has one spelling, so refuse any escape.
        return problem(
            400,
            "bad-tile-path",
            "Not a tile path",
            "percent-escapes in a tile path",
            request.url.path,
        )
    try:
        return parse_tile_path(path)
    except EncodingError as exc:
        return problem(400, "bad-tile-path", "Not a tile path", str(exc), request.url.path)


def _accepts_gzip(accepted: str) -> bool:
    """Whether an Accept-Encoding value gives gzip a q-value above zero (by name, else by
    ``*``); a malformed q-value counts as zero."""
    q: dict[str, float] = {}
    for part in accepted.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        if name:
            q[name.lower()] = weight
    return q.get("gzip", q.get("*", 0.0)) > 0


def _answer(
    data: bytes, tile: Tile, request: Request, *, compress: bool, gzipped: bytes | None = None
) -> Response:
    headers = {"Cache-Control": IMMUTABLE if tile.full else PARTIAL}
    if compress:
        headers["Vary"] = "Accept-Encoding"
        if _accepts_gzip(request.headers.get("accept-encoding", "")):
            data = gzipped if gzipped is not None else _gzip(data)
            headers["Content-Encoding"] = "gzip"
    response = Response(data, media_type=OCTETS, headers=headers)
    if request.method == "HEAD":
        # Content-Length stays that of the body a GET gets, as a static server answers.
        response.body = b""
    return response


_Route = TypeVar("_Route", bound=Callable[..., Response])


def _get_and_head(path: str, **options: Any) -> Callable[[_Route], _Route]:
    """Register a route for GET and, apart, for HEAD: one route for both methods gives both
    operations one ``operationId`` in the OpenAPI document, which client generators refuse."""

    def register(func: _Route) -> _Route:
        router.add_api_route(path, func, methods=["GET"], **options)
        router.add_api_route(path, func, methods=["HEAD"], **options)
        return func

    return register


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


@_get_and_head(
    "/tile/entries/{rest:path}",
    response_class=Response,
    summary="An entry bundle (C2SP tlog-tiles)",
    description=(
        "The entries of one level-0 tile, each prefixed by its length as a big-endian uint16: "
        "`/tile/entries/<N>[.p/<W>]`, `N` in 3-digit elements (`x001/x234/067`). gzip for a "
        "client that accepts it. 404 for a bundle beyond the newest checkpoint, a partial width "
        "no checkpoint's size implies, or a bundle holding an entry over 65,535 bytes (then "
        "served with uint32 lengths at `/tile/pausewatch-entries32/...`, ADR 0046); 400 for a "
        "path that is not canonical."
    ),
    responses=_TILE_RESPONSES,
)
@_get_and_head(
    "/tile/pausewatch-entries32/{rest:path}",
    response_class=Response,
    summary="An entry bundle with uint32 lengths (pausewatch extension)",
    description=(
        "The bundle of `/tile/entries/...` with big-endian uint32 length prefixes, for bundles "
        "holding an entry longer than 65,535 bytes (ADR 0046)."
    ),
    responses=_TILE_RESPONSES,
)
def entry_bundle(
    rest: RestPath,
    request: Request,
    service: ServiceDep,
) -> Response:
    """One entry bundle."""
    head = "tile/pausewatch-entries32/" if "/pausewatch-entries32/" in request.url.path else ""
    parsed = _parsed((head or "tile/entries/") + rest, request)
    if isinstance(parsed, JSONResponse):
        return parsed
    if not parsed.full:
        return _answer(service.log.entry_bundle(parsed), parsed, request, compress=True)
    cache = getattr(request.app.state, "tile_bundles", None)
    if cache is None:
        cache = request.app.state.tile_bundles = _BundleCache(BUNDLE_CACHE)
    item = cache.get(parsed.path)
    if item is None:
        data = service.log.entry_bundle(parsed)
        item = (data, _gzip(data))
        cache.put(parsed.path, item)
    return _answer(item[0], parsed, request, compress=True, gzipped=item[1])


@_get_and_head(
    "/tile/{level}/{rest:path}",
    response_class=Response,
    summary="A hash tile (C2SP tlog-tiles)",
    description=(
        "Up to 256 consecutive subtree hashes at Merkle level `8 * level`: "
        "`/tile/<L>/<N>[.p/<W>]`, `N` in 3-digit elements (`x001/x234/067`), `.p/<W>` for a "
        "partial tile of width `W`. Full tiles are immutable (cached a year). 404 for a tile "
        "beyond the newest checkpoint or a partial width no checkpoint's size implies; 400 for a "
        "path that is not canonical."
    ),
    responses=_TILE_RESPONSES,
)
def hash_tile(
    level: Annotated[str, Path(description="The tile level, 0..63.", json_schema_extra=_LEVEL)],
    rest: RestPath,
    request: Request,
    service: ServiceDep,
) -> Response:
    """One hash tile."""
    parsed = _parsed(f"tile/{level}/{rest}", request)
    if isinstance(parsed, JSONResponse):
        return parsed
    if parsed.is_bundle:
        return problem(400, "bad-tile-path", "Not a tile path", "not a hash tile", request.url.path)
    return _answer(service.log.tile(parsed), parsed, request, compress=False)
