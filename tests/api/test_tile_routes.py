"""The log's tiles over HTTP (C2SP tlog-tiles): the checkpoint, hash tiles and entry bundles
with their caching headers, problems for bad paths, and proofs from the served tiles alone."""

from __future__ import annotations

import gzip
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.client import ClientError, TileFetcher
from pausewatch.errors import NotFoundError
from pausewatch.ledger import (
    MerkleTree,
    Node,
    Tile,
    TileClient,
    Verifier,
    decode_bundle,
    encode_bundle,
    leaf_hash,
    tiles,
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
        # Six waves, each integrated before the next is sent: at least six checkpoints, however
        # the sequencer happens to batch a wave.
        for wave in range(6):
            futures = [
                service.submit(
                    sign_statement("notice/v1", {"title": f"n{i}"}, service.secretariat_key)
                )
                for i in range(wave * 50, wave * 50 + 50)
            ]
            for f in futures:
                f.result(timeout=60)
        assert len(service.log.checkpoint_sizes()) >= 6
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
    """Every hash tile of the newest size, whatever it is, holds the log's subtree hashes: a
    full tile 8,192 immutable bytes, a partial tile cached briefly."""
    size = service.log.size
    assert size >= 300
    tree = MerkleTree([e.data for e in service.log.entries(0, size)])
    assert any(t.full for t in tiles(size))
    for t in tiles(size):
        r = client.get("/" + t.path)
        assert r.status_code == 200, t.path
        assert r.headers["content-type"] == "application/octet-stream"
        cache = "public, max-age=31536000, immutable" if t.full else "public, max-age=60"
        assert r.headers["cache-control"] == cache, t.path
        first = t.index * 256
        expected = b"".join(tree.node(Node(8 * t.level, first + i)) for i in range(t.width))
        assert r.content == expected, t.path


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


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [
        ("gzip", True),
        ("gzip;q=0.5, identity", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("*;q=0, identity", False),
        ("identity", False),
        ("br", False),
        ("*", True),
    ],
)
def test_bundle_gzip_honours_q_values(client: TestClient, accept: str, gzipped: bool) -> None:
    """A bundle is gzipped only when the client's Accept-Encoding gives gzip a q-value above
    zero (by name or by ``*``)."""
    r = client.get("/tile/entries/000", headers={"Accept-Encoding": accept})
    assert r.status_code == 200
    assert (r.headers.get("content-encoding") == "gzip") is gzipped


def test_head_on_tiles_is_served(client: TestClient, service: LogService) -> None:
    """HEAD on a tile or a bundle answers like GET without the body, as a static server
    does."""
    for path in ("/tile/0/000", "/tile/entries/000", f"/tile/0/001.p/{service.log.size % 256}"):
        got = client.get(path, headers={"Accept-Encoding": "identity"})
        head = client.head(path, headers={"Accept-Encoding": "identity"})
        assert head.status_code == 200, path
        assert head.content == b""
        assert head.headers["content-length"] == str(len(got.content)), path
        assert head.headers["cache-control"] == got.headers["cache-control"]


def test_percent_encoded_tile_paths_are_refused(client: TestClient) -> None:
    """A tile path spelt with percent-escapes is not canonical: a 400 problem, even when it
    decodes to a canonical one."""
    for path in ("/tile/0/000%2Ep/1", "/tile/0/%30%30%30", "/tile/entries/00%30"):
        r = client.get(path)
        assert r.status_code == 400, path
        assert r.headers["content-type"] == PROBLEM


def test_full_bundles_are_encoded_once(client: TestClient, service: LogService) -> None:
    """A full bundle is read from the store once and then served from a cache, gzipped or
    not; a partial bundle is read each time."""
    reads: list[str] = []
    read = service.log.entry_bundle

    def counting(tile: Tile) -> bytes:
        reads.append(tile.path)
        return read(tile)

    service.log.entry_bundle = counting  # type: ignore[method-assign]
    width = service.log.size % 256
    for _ in range(3):
        for accept in ("gzip", "identity"):
            assert client.get("/tile/entries/000", headers={"Accept-Encoding": accept}).is_success
            assert client.get(f"/tile/entries/001.p/{width}").is_success
    assert reads.count("tile/entries/000") == 1
    assert reads.count(f"tile/entries/001.p/{width}") == 6


def test_tile_fetcher_follows_redirects_and_refuses_other_answers() -> None:
    """The tile fetcher follows a redirect (a few at most) and refuses any answer but 200,
    rather than taking a redirect's or an empty answer's body for the tile."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/moved/tile/0/000":
            return httpx.Response(302, headers={"Location": "/tile/0/000"}, content=b"moved")
        if path == "/tile/0/000":
            return httpx.Response(200, content=b"x" * 8192)
        if path.startswith("/loop"):
            return httpx.Response(302, headers={"Location": path + "x"}, content=b"loop")
        if path == "/nothing/tile/0/000":
            return httpx.Response(204)
        return httpx.Response(304, content=b"not modified")

    transport = httpx.MockTransport(handler)
    with TileFetcher("http://x/moved", transport=transport) as fetch:
        assert fetch("tile/0/000") == b"x" * 8192
    for prefix, why in [
        ("http://x/loop", "too many redirects"),
        ("http://x/nothing", "204"),
        ("http://x/other", "304"),
    ]:
        with (
            TileFetcher(prefix, transport=transport) as fetch,
            pytest.raises(ClientError, match=why),
        ):
            fetch("tile/0/000")


class _Trickle(httpx.SyncByteStream):
    """A body sent a few bytes at a time, slowly: each read is quick, the whole never ends."""

    def __iter__(self) -> Iterator[bytes]:
        while True:
            time.sleep(0.02)
            yield b"xx"


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("checkpoint", TileFetcher.MAX_CHECKPOINT_BYTES),
        ("tile/0/000", 8192),
        ("tile/3/x001/234.p/5", 5 * 32),
        ("tile/entries/000", 256 * 65_537),
        ("tile/entries/000.p/2", 2 * 65_537),
        ("tile/pausewatch-entries32/000", 3_000_000),
    ],
)
def test_a_server_cannot_send_more_than_the_resource_holds(path: str, limit: int) -> None:
    """An untrusted tile server's answer is refused once it passes, unpacked, what the resource
    can hold: a gzip body of a few kilobytes that unpacks to megabytes (a gzip bomb) included.
    (The fetcher read every body whole, asking for gzip: 65 kB unpacked to 64 MiB.)"""
    bomb = gzip.compress(b"\0" * (limit + 1))
    exact = gzip.compress(b"\0" * limit)

    def handler(request: httpx.Request) -> httpx.Response:
        body = bomb if request.url.path.startswith("/bomb/") else exact
        return httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(body)
        )

    transport = httpx.MockTransport(handler)
    with TileFetcher("http://x/exact", transport=transport, max_bundle_bytes=3_000_000) as fetch:
        assert len(fetch(path)) == limit
    with (
        TileFetcher("http://x/bomb", transport=transport, max_bundle_bytes=3_000_000) as fetch,
        pytest.raises(ClientError, match=f"more than the {limit:,} bytes"),
    ):
        fetch(path)


def _serving(body: bytes, encoding: str | None = "gzip") -> httpx.MockTransport:
    """A server answering every GET with ``body`` as it is, in one chunk, marked with the
    ``Content-Encoding`` ``encoding`` (none for None)."""
    headers = {} if encoding is None else {"Content-Encoding": encoding}
    return httpx.MockTransport(
        lambda request: httpx.Response(200, headers=headers, stream=httpx.ByteStream(body))
    )


def test_one_chunk_of_a_gzip_bomb_is_not_unpacked_past_the_limit() -> None:
    """A gzip body that arrives as one network chunk is unpacked no further than the resource
    can hold. (The fetcher refused the body after httpx had unpacked the whole chunk: 64 MiB in
    memory for a partial bundle of 128 kB.)"""
    bomb = gzip.compress(b"\0" * (64 << 20))
    assert len(bomb) < 131_074  # within what such a bundle may take on the wire
    with TileFetcher("http://x", transport=_serving(bomb)) as fetch:
        tracemalloc.start()
        try:
            with pytest.raises(
                ClientError, match="more than the 131,074 bytes this resource can h"
            ):
                fetch("tile/entries/000.p/2")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 2 << 20, f"{peak:,} bytes at the peak"


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("deflate", zlib.compress(b"x" * 100)),
        ("br", b"\x0b\x02\x80xx\x03"),
        ("gzip, gzip", gzip.compress(gzip.compress(b"x" * 100))),
        ("compress", b"x"),
    ],
    ids=["deflate", "br", "gzip-twice", "compress"],
)
def test_a_coding_the_fetch_did_not_ask_for_is_refused(encoding: str, body: bytes) -> None:
    """The fetch asks for gzip or nothing; a body in any other coding is refused by name, not
    unpacked by whatever decoder the HTTP library has for it."""
    with (
        TileFetcher("http://x", transport=_serving(body, encoding)) as fetch,
        pytest.raises(ClientError, match="a coding it was not asked for"),
    ):
        fetch("tile/0/000")


def test_a_gzip_body_is_whole_gzip_members() -> None:
    """A gzip body may hold several members (RFC 1952 §2.2), read one after the other, and
    ``identity`` alongside is no coding; a cut-off stream, junk, or junk after a member is
    refused. A gzip header's name field unpacks to nothing, so the bytes on the wire are bounded
    as well as those unpacked."""
    tile = b"h" * 4096 + b"i" * 4096
    members = gzip.compress(tile[:100]) + gzip.compress(tile[100:])
    for body, encoding in [(members, "gzip"), (gzip.compress(tile), "identity, x-gzip")]:
        with TileFetcher("http://x", transport=_serving(body, encoding)) as fetch:
            assert fetch("tile/0/000") == tile
    named = b"\x1f\x8b\x08\x08" + bytes(6) + b"a" * 30_000
    for body, why in [
        (gzip.compress(tile)[:-5], "ends inside its gzip stream"),
        (b"not gzip at all", "not the gzip it says it is"),
        (gzip.compress(tile[:10]) + b"junk", "not the gzip it says it is"),
        (named, "more than the 12,416 bytes this resource can take on the wire"),
    ]:
        with (
            TileFetcher("http://x", transport=_serving(body)) as fetch,
            pytest.raises(ClientError, match=why),
        ):
            fetch("tile/0/000")


class _TrickleNothing(httpx.SyncByteStream):
    """A gzip body that unpacks to nothing, sent a byte at a time, slowly: a member header whose
    name field never ends. Each read is quick; nothing ever comes out."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"\x1f\x8b\x08\x08" + bytes(6)
        while True:
            time.sleep(0.02)
            yield b"a"


def test_a_gzip_body_that_unpacks_to_nothing_is_given_up_at_the_deadline() -> None:
    """The fetch's deadline holds whatever the bytes unpack to. (It was checked only when the
    body grew, so a gzip header's name field sent a byte at a time went on until the bytes on
    the wire reached their bound: 100 hours at the per-read timeout.)"""
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            200, headers={"Content-Encoding": "gzip"}, stream=_TrickleNothing()
        )
    )
    with (
        TileFetcher("http://x", transport=transport, deadline=0.3) as fetch,
        pytest.raises(ClientError, match=r"tile/0/000: not received within 0.3 s"),
    ):
        fetch("tile/0/000")


def test_a_gzip_body_holds_a_few_members_at_most() -> None:
    """A body of sixteen gzip members is read; one of seventeen is refused (thousands of empty
    members in one read cost time in the square of the read, for nothing unpacked)."""
    tile = bytes(range(256)) * 32
    sixteen = b"".join(gzip.compress(tile[n * 512 : (n + 1) * 512]) for n in range(16))
    with TileFetcher("http://x", transport=_serving(sixteen)) as fetch:
        assert fetch("tile/0/000") == tile
    for body in (sixteen + gzip.compress(b""), gzip.compress(b"") * 100):
        with (
            TileFetcher("http://x", transport=_serving(body)) as fetch,
            pytest.raises(ClientError, match="more than 16 gzip members"),
        ):
            fetch("tile/0/000")


def test_a_server_that_never_finishes_its_answer_is_given_up() -> None:
    """A server sending a body a byte at a time never trips the per-read timeout; the fetch's
    own deadline ends it. (The fetch waited as long as the server went on.)"""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=_Trickle()))
    with (
        TileFetcher("http://x", transport=transport, deadline=0.3) as fetch,
        pytest.raises(ClientError, match=r"tile/entries/000: not received within 0.3 s"),
    ):
        fetch("tile/entries/000")
