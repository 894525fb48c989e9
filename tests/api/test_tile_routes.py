"""The log's tiles over HTTP (C2SP tlog-tiles): the checkpoint, hash tiles and entry bundles
with their caching headers, problems for bad paths, and proofs from the served tiles alone."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.client import TileFetcher
from pausewatch.errors import NotFoundError
from pausewatch.ledger import (
    MerkleTree,
    TileClient,
    Verifier,
    decode_bundle,
    encode_bundle,
    leaf_hash,
)
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import sign_statement

PROBLEM = "application/problem+json"


@pytest.fixture
def service(tmp_path: Path, sqlite_db_url: str) -> LogService:
    """A service on SQLite (tests/ledger/test_tiles.py reads tiles from both backends)."""
    return LogService(Settings(data_dir=tmp_path, database_url=sqlite_db_url, batch_latency_ms=5))


@pytest.fixture
def client(service: LogService) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        futures = [
            service.submit(sign_statement("notice/v1", {"title": f"n{i}"}, service.secretariat_key))
            for i in range(300)
        ]
        for f in futures:
            f.result(timeout=60)
        yield c


def verifier(client: TestClient) -> Verifier:
    return Verifier.from_string(client.get("/v1/log").json()["verifier_key"])


def test_checkpoint_is_text_and_not_cached(client: TestClient) -> None:
    """/checkpoint is text/plain UTF-8 that caches may not keep."""
    r = client.get("/checkpoint")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"


def test_full_and_partial_tiles(client: TestClient, service: LogService) -> None:
    """A full tile is 8,192 immutable bytes; the partial tile of the newest size is cached
    briefly; both are the log's stored subtree hashes."""
    size = service.log.size
    assert size >= 300
    full = client.get("/tile/0/000")
    assert full.status_code == 200
    assert full.headers["content-type"] == "application/octet-stream"
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    entries = [e.data for e in service.log.entries(0, size)]
    tree = MerkleTree(entries)
    assert full.content == b"".join(leaf_hash(d) for d in entries[:256])
    width = size % 256
    partial = client.get(f"/tile/0/001.p/{width}")
    assert partial.status_code == 200
    assert partial.headers["cache-control"] == "public, max-age=60"
    assert partial.content == b"".join(leaf_hash(d) for d in entries[256:size])
    assert client.get("/tile/1/000.p/1").content == tree.root(256)


NOT_PUBLISHED = [
    "/tile/0/002",
    "/tile/0/001",
    "/tile/1/000",
    "/tile/entries/002",
    "/tile/0/001.p/255",
    "/tile/63/000.p/1",
    "/tile/63/000",
    "/tile/0/x999/x999/x999/x999/x999/x999/999",
    "/tile/entries/x999/x999/x999/x999/x999/x999/999.p/7",
    "/tile/40/x999/x999/x999/x999/x999/x999/999.p/7",
]


def test_tiles_the_log_does_not_publish_are_not_found(client: TestClient) -> None:
    """Tiles beyond the newest checkpoint, partial widths no checkpoint implies, and indices
    far beyond any tree are 404 problems."""
    for path in NOT_PUBLISHED:
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == PROBLEM


BAD_PATHS = [
    "/tile/00/000",
    "/tile/64/000",
    "/tile/0/x000/001",
    "/tile/0/000.p/256",
    "/tile/0/000.p/0",
    "/tile/0/1",
    "/tile/entries/0000",
    "/tile/x/000",
]


def test_bad_tile_paths_are_problems(client: TestClient) -> None:
    """A path that is not a canonical tile path is a 400 problem naming it."""
    for path in BAD_PATHS:
        r = client.get(path)
        assert r.status_code == 400, path
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["type"].endswith("/bad-tile-path")


def test_entry_bundles_gzip_on_request(client: TestClient, service: LogService) -> None:
    """An entry bundle is the entries with uint16 lengths, gzip-compressed for a client that
    accepts gzip and plain for one that does not."""
    expected = encode_bundle([e.data for e in service.log.entries(0, 256)])
    plain = client.get("/tile/entries/000", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    assert plain.content == expected
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    raw = client.get("/tile/entries/000", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.content == expected  # decoded by the HTTP client
    with client.stream("GET", "/tile/entries/000", headers={"Accept-Encoding": "gzip"}) as s:
        assert gzip.decompress(b"".join(s.iter_raw())) == expected
    width = service.log.size % 256
    assert len(decode_bundle(client.get(f"/tile/entries/001.p/{width}").content, width)) == width


def test_proofs_from_served_tiles(client: TestClient, service: LogService) -> None:
    """A client holding only the log key verifies the checkpoint, every entry's inclusion and
    consistency with an older checkpoint from the served tiles, and they match the API's
    proofs."""
    fetch = TileFetcher("http://testserver", transport=client._transport)
    tiles = TileClient(fetch, verifier(client))
    cp = tiles.latest().checkpoint
    entries = dict(tiles.entries(cp.size))
    for index in (0, 255, 256, cp.size - 1):
        tiles.verify_inclusion(leaf_hash(entries[index]), index, cp.size)
        served = client.get("/v1/proofs/inclusion", params={"index": index, "size": cp.size})
        assert [h.hex() for h in tiles.inclusion_proof(index, cp.size)] == served.json()["proof"]
    old = service.log.checkpoint_sizes()[3]
    tiles.open_checkpoint(client.get(f"/v1/checkpoints/{old}").text)
    tiles.verify_consistency(old, cp.size)
    with pytest.raises(NotFoundError):
        fetch("tile/9/000")


def test_an_entry_too_long_for_a_bundle(tmp_path: Path) -> None:
    """A bundle holding an entry over 65,535 bytes is a 404 problem at the standard path that
    names the extension, and is served there with uint32 lengths; a tile client reads it."""
    service = LogService(Settings(data_dir=tmp_path, batch_latency_ms=5, notice_max_bytes=200_000))
    with TestClient(create_app(service)) as client:
        key = service.secretariat_key
        body = {"title": "long", "text": "x" * 20_000, "references": ["r" * 2_000] * 30}
        long = sign_statement("notice/v1", body, key)
        assert len(long.canonical_bytes()) > 65_535
        service.submit(sign_statement("notice/v1", {"title": "short"}, key)).result(60)
        service.submit(long).result(60)
        size = service.log.size
        standard = client.get(f"/tile/entries/000.p/{size}")
        assert standard.status_code == 404
        assert "tile/pausewatch-entries32/000.p/" in standard.json()["detail"]
        wide = client.get(f"/tile/pausewatch-entries32/000.p/{size}")
        assert wide.status_code == 200
        entries = decode_bundle(wide.content, size, wide=True)
        assert long.canonical_bytes() in entries[-1]
        fetch = TileFetcher("http://testserver", transport=client._transport)
        tiles = TileClient(fetch, verifier(client))
        tiles.latest()
        assert [d for _, d in tiles.entries(size)] == entries
