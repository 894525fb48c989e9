"""The log as C2SP tlog-tiles: hash tiles and entry bundles (ADR 0046).

The checkpoint is ``/checkpoint`` (:mod:`pausewatch.api.routes.log`). Full tiles never change and
are cached for a year; a partial tile is cached briefly, since the log may stop serving it once
the full tile exists. Entry bundles are gzip-compressed for a client that accepts gzip.
"""

from __future__ import annotations

import gzip
from typing import Annotated, Any

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


def _parsed(path: str, request: Request) -> Tile | JSONResponse:
    try:
        return parse_tile_path(path)
    except EncodingError as exc:
        return problem(400, "bad-tile-path", "Not a tile path", str(exc), request.url.path)


def _answer(data: bytes, tile: Tile, request: Request, *, compress: bool) -> Response:
    headers = {"Cache-Control": IMMUTABLE if tile.full else PARTIAL}
    if compress:
        headers["Vary"] = "Accept-Encoding"
        accepted = request.headers.get("accept-encoding", "")
        if "gzip" in {part.split(";")[0].strip() for part in accepted.split(",")}:
            data = gzip.compress(data, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "gzip"
    return Response(data, media_type=OCTETS, headers=headers)


@router.get(
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
@router.get(
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
    return _answer(service.log.entry_bundle(parsed), parsed, request, compress=True)


@router.get(
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
