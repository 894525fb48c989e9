"""The log as C2SP tlog-tiles: paths, widths and bundles against the spec's own examples and a
hand-written reading of it; tiles from the store against the in-memory tree; proofs from tiles
alone against :class:`MerkleTree`'s."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from pausewatch.errors import EncodingError, NotFoundError, ProofError, VerificationError
from pausewatch.ledger import (
    ENTRY_OVERHEAD,
    MAX_BUNDLE_STATEMENT,
    MerkleTree,
    Node,
    PendingEntry,
    PersistentLog,
    Signer,
    Tile,
    TileClient,
    bundles,
    decode_bundle,
    encode_bundle,
    encode_entry,
    encode_index,
    leaf_hash,
    parse_tile_path,
    sign_checkpoint,
    tile_widths,
    tiles,
    tiles_for_consistency,
    tiles_for_inclusion,
    verify_consistency,
    verify_inclusion_hash,
)
from pausewatch.ledger._checkpoint import Checkpoint

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def paths(size: int) -> list[str]:
    """Every hash tile path of a tree of ``size``."""
    return [t.path for t in tiles(size)]


# -- the spec's own examples -------------------------------------------------------------------


def test_spec_example_index_path() -> None:
    """Index 1234067 is encoded as x001/x234/067, as the spec says."""
    assert encode_index(1234067) == "x001/x234/067"
    assert parse_tile_path("tile/0/x001/x234/067") == Tile(0, 1234067)


def test_spec_example_size_70000() -> None:
    """A tree of 70,000 has 273 full level-0 tiles, a partial level-0 tile of width 112, one
    full level-1 tile, a partial level-1 tile of width 17 and a partial level-2 tile of width 1."""
    assert tile_widths(70_000) == [(0, 273, 112), (1, 1, 17), (2, 0, 1)]
    all_paths = paths(70_000)
    assert len(all_paths) == 273 + 1 + 1 + 1 + 1
    assert all_paths[-4:] == ["tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"]


def test_spec_example_size_256() -> None:
    """A tree of 256 is a full level-0 tile and a partial level-1 tile of width 1."""
    assert paths(256) == ["tile/0/000", "tile/1/000.p/1"]


# -- an independent reading: written out by hand ------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1, ["tile/0/000.p/1"]),
        (2, ["tile/0/000.p/2"]),
        (255, ["tile/0/000.p/255"]),
        (256, ["tile/0/000", "tile/1/000.p/1"]),
        (257, ["tile/0/000", "tile/0/001.p/1", "tile/1/000.p/1"]),
        (512, ["tile/0/000", "tile/0/001", "tile/1/000.p/2"]),
        (513, ["tile/0/000", "tile/0/001", "tile/0/002.p/1", "tile/1/000.p/2"]),
    ],
)
def test_small_trees_by_hand(size: int, expected: list[str]) -> None:
    """The hash tiles of small trees are the ones written out by hand from the spec."""
    assert paths(size) == expected


def test_size_65536_by_hand() -> None:
    """65,536 entries: 256 full level-0 tiles (000..255), one full level-1 tile, and a partial
    level-2 tile of width 1; no partial tile at levels 0 or 1."""
    got = paths(65_536)
    assert got[:3] == ["tile/0/000", "tile/0/001", "tile/0/002"]
    assert got[255] == "tile/0/255"
    assert got[256:] == ["tile/1/000", "tile/2/000.p/1"]


def test_size_65537_by_hand() -> None:
    """65,537 entries add a partial level-0 tile of width 1 at index 256."""
    got = paths(65_537)
    assert got[256:] == ["tile/0/256.p/1", "tile/1/000", "tile/2/000.p/1"]


def test_bundles_by_hand() -> None:
    """Entry bundles follow level 0: 257 entries are one full bundle and one of width 1."""
    assert [b.path for b in bundles(257)] == ["tile/entries/000", "tile/entries/001.p/1"]
    assert [b.path for b in bundles(256)] == ["tile/entries/000"]
    assert list(bundles(0)) == []


@pytest.mark.parametrize(
    ("index", "path"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1001, "x001/001"),
        (1_000_000, "x001/x000/000"),
        (999_999, "x999/999"),
    ],
)
def test_index_elements_by_hand(index: int, path: str) -> None:
    """Indices are 3-digit elements, all but the last prefixed x."""
    assert encode_index(index) == path
    assert parse_tile_path(f"tile/3/{path}") == Tile(3, index)


@pytest.mark.parametrize(
    "path",
    [
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/0/0",
        "tile/0/0000",
        "tile/0/x000/001",
        "tile/0/001/x002",
        "tile/0/x1/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/010",
        "tile/0/000.p/",
        "tile/0/000.p/1/",
        "tile/entries/000.p/256",
        "tile/entries/x000/000",
        "/tile/0/000",
        "tile/0/000/",
        "tile/-1/000",
        "tile/0/-01",
    ],
)
def test_parse_refuses_non_canonical(path: str) -> None:
    """Every non-canonical spelling of a tile path is refused."""
    with pytest.raises(EncodingError):
        parse_tile_path(path)


@pytest.mark.parametrize(
    "path",
    ["tile/0/000", "tile/63/x001/x234/067.p/255", "tile/entries/x012/345.p/1", "tile/9/001.p/9"],
)
def test_parse_round_trips(path: str) -> None:
    """A canonical path parses to a tile whose path is the same string."""
    assert parse_tile_path(path).path == path


# -- entry bundles -----------------------------------------------------------------------------


def test_bundle_encoding_by_hand() -> None:
    """A bundle is big-endian uint16 lengths, each followed by its entry."""
    assert encode_bundle([b"ab", b"", b"c"]) == b"\x00\x02ab\x00\x00\x00\x01c"
    assert decode_bundle(b"\x00\x02ab\x00\x00\x00\x01c", 3) == [b"ab", b"", b"c"]
    assert encode_bundle([b"ab"], wide=True) == b"\x00\x00\x00\x02ab"


def test_bundle_refuses_an_entry_too_long() -> None:
    """An entry of 65,536 bytes does not fit a uint16 prefix; the uint32 extension holds it."""
    long = b"x" * 65_536
    with pytest.raises(EncodingError):
        encode_bundle([long])
    assert decode_bundle(encode_bundle([long], wide=True), 1, wide=True) == [long]
    assert decode_bundle(encode_bundle([b"x" * 65_535]), 1) == [b"x" * 65_535]


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x05ab", b"\x00\x01a\x00"])
def test_bundle_refuses_truncation(data: bytes) -> None:
    """A truncated bundle is refused, not read short."""
    with pytest.raises(EncodingError):
        decode_bundle(data)


def test_bundle_width_checked() -> None:
    """A bundle with another count of entries than its width is refused."""
    with pytest.raises(EncodingError):
        decode_bundle(encode_bundle([b"a", b"b"]), 3)


def test_entry_overhead_is_exact() -> None:
    """The overhead constant is exactly what a log entry adds to a statement's bytes."""
    assert len(encode_entry(b"{}", T0)) == ENTRY_OVERHEAD + 2
    assert len(encode_entry(b"x" * MAX_BUNDLE_STATEMENT, T0)) == 65_535


# -- tiles from an in-memory tree, and proofs from tiles alone ----------------------------------


def tree_fetch(
    tree: MerkleTree, note: str, entries: list[bytes] | None = None
) -> Callable[[str], bytes]:
    """A fetch that serves ``note`` and the tiles of ``tree`` computed from its nodes (the
    reference), recording every path asked for."""

    def fetch(path: str) -> bytes:
        fetch.asked.append(path)  # type: ignore[attr-defined]
        if path == "checkpoint":
            return note.encode()
        t = parse_tile_path(path)
        if t.is_bundle:
            assert entries is not None
            return encode_bundle(entries[t.start : t.start + t.width])
        first = t.index * 256
        return b"".join(tree.node(Node(8 * t.level, first + i)) for i in range(t.width))

    fetch.asked = []  # type: ignore[attr-defined]
    return fetch


def tree_of(n: int) -> tuple[MerkleTree, list[bytes]]:
    """A tree of ``n`` small entries."""
    data = [b"entry %d" % i for i in range(n)]
    return MerkleTree(data), data


def signed(tree: MerkleTree, signer: Signer, size: int | None = None) -> str:
    """A checkpoint note of ``tree`` at ``size``."""
    size = tree.size if size is None else size
    return sign_checkpoint(Checkpoint(signer.name, size, tree.root(size)), signer)


def test_client_proofs_equal_tree_proofs(log_signer: Signer) -> None:
    """Inclusion and consistency proofs from tiles are the tree's proofs, and verify."""
    tree, data = tree_of(70_000)
    fetch = tree_fetch(tree, signed(tree, log_signer))
    client = TileClient(fetch, log_signer.verifier())
    cp = client.latest().checkpoint
    assert cp.size == 70_000
    client.open_checkpoint(signed(tree, log_signer, 1000))
    client.open_checkpoint(signed(tree, log_signer, 65_537))
    for index in (0, 1, 255, 256, 1000, 65_535, 65_536, 69_999):
        proof = client.inclusion_proof(index, 70_000)
        assert proof == tree.inclusion_proof(index, 70_000)
        verify_inclusion_hash(leaf_hash(data[index]), index, 70_000, proof, cp.root_hash)
        client.verify_inclusion(leaf_hash(data[index]), index, 70_000)
    for old in (1000, 65_537):
        proof = client.consistency_proof(old, 70_000)
        assert proof == tree.consistency_proof(old, 70_000)
        verify_consistency(old, 70_000, proof, tree.root(old), cp.root_hash)
        client.verify_consistency(old, 70_000)
    # A smaller verified checkpoint is proved from its own (partial) tiles.
    assert client.inclusion_proof(999, 1000) == tree.inclusion_proof(999, 1000)
    client.verify_consistency(1000, 65_537)


def test_client_fetches_only_the_planned_tiles_once(log_signer: Signer) -> None:
    """A proof fetches exactly the tiles planned for it; repeating it fetches nothing."""
    tree, _ = tree_of(70_000)
    fetch = tree_fetch(tree, signed(tree, log_signer))
    client = TileClient(fetch, log_signer.verifier())
    client.latest()
    fetch.asked.clear()  # type: ignore[attr-defined]
    client.inclusion_proof(12_345, 70_000)
    planned = [t.path for t in tiles_for_inclusion(12_345, 70_000)]
    assert sorted(fetch.asked) == sorted(planned)  # type: ignore[attr-defined]
    assert client.fetched_tiles == len(planned)
    before = (client.fetched_tiles, client.fetched_bytes)
    client.inclusion_proof(12_345, 70_000)
    client.inclusion_proof(12_346, 70_000)
    assert (client.fetched_tiles, client.fetched_bytes) == before


def test_consistency_tiles_planned(log_signer: Signer) -> None:
    """A consistency proof fetches exactly the tiles planned for it, at the new size's widths."""
    tree, _ = tree_of(70_000)
    fetch = tree_fetch(tree, signed(tree, log_signer))
    client = TileClient(fetch, log_signer.verifier())
    client.latest()
    client.open_checkpoint(signed(tree, log_signer, 300))
    fetch.asked.clear()  # type: ignore[attr-defined]
    client.verify_consistency(300, 70_000)
    assert sorted(fetch.asked) == sorted(  # type: ignore[attr-defined]
        t.path for t in tiles_for_consistency(300, 70_000)
    )


def test_client_needs_a_verified_checkpoint(log_signer: Signer) -> None:
    """No proof is computed for a size no verified checkpoint has (no arbitrary partial tile)."""
    tree, _ = tree_of(300)
    client = TileClient(tree_fetch(tree, signed(tree, log_signer)), log_signer.verifier())
    with pytest.raises(ProofError, match="no verified checkpoint"):
        client.inclusion_proof(3, 300)


def test_client_refuses_a_checkpoint_by_another_key(log_signer: Signer) -> None:
    """A checkpoint not signed by the pinned log key is refused."""
    tree, _ = tree_of(10)
    other = Signer.generate(log_signer.name)
    client = TileClient(tree_fetch(tree, signed(tree, other)), log_signer.verifier())
    with pytest.raises(VerificationError):
        client.latest()


def test_tampered_tile_fails_verification(log_signer: Signer) -> None:
    """One flipped bit in a tile makes the proof it feeds fail against the checkpoint."""
    tree, data = tree_of(1000)
    honest = tree_fetch(tree, signed(tree, log_signer))

    def fetch(path: str) -> bytes:
        body = honest(path)
        if path == "tile/0/001":
            return body[:40] + bytes([body[40] ^ 1]) + body[41:]
        return body

    client = TileClient(fetch, log_signer.verifier())
    client.latest()
    with pytest.raises(ProofError):
        client.verify_inclusion(leaf_hash(data[300]), 300, 1000)


def test_partial_tile_falls_back_to_full(log_signer: Signer) -> None:
    """When the log dropped a partial tile its full tile completed, the full one serves."""
    tree, data = tree_of(65_536)
    honest = tree_fetch(tree, signed(tree, log_signer))
    client_fetch_note = signed(tree, log_signer, 300)

    def fetch(path: str) -> bytes:
        if path == "checkpoint":
            return client_fetch_note.encode()
        if ".p/" in path:
            raise NotFoundError(path)
        return honest(path)

    client = TileClient(fetch, log_signer.verifier())
    client.latest()
    client.verify_inclusion(leaf_hash(data[299]), 299, 300)


def test_client_entries_from_bundles(log_signer: Signer) -> None:
    """Entries read from bundles are the entries, in order, partial bundle included."""
    tree, data = tree_of(600)
    client = TileClient(tree_fetch(tree, signed(tree, log_signer), data), log_signer.verifier())
    client.latest()
    assert [d for _, d in client.entries(600)] == data
    assert [i for i, _ in client.entries(600, start=300)] == list(range(300, 600))


# -- tiles from the store ------------------------------------------------------------------------


def filled_log(
    engine: Engine, signer: Signer, batches: list[int]
) -> tuple[PersistentLog, list[bytes]]:
    """A log of ``batches`` (a checkpoint after each) and its entries."""
    log = PersistentLog(engine, signer)
    data: list[bytes] = []
    n = 0
    for b, count in enumerate(batches):
        now = T0 + timedelta(seconds=b)
        log.append_batch([PendingEntry(b'{"n":%d}' % (n + i)) for i in range(count)], now)
        data += [encode_entry(b'{"n":%d}' % (n + i), now) for i in range(count)]
        n += count
    return log, data


def log_fetch(log: PersistentLog) -> Callable[[str], bytes]:
    """A fetch served by the log's own tile reads."""

    def fetch(path: str) -> bytes:
        if path == "checkpoint":
            note = log.latest_note()
            assert note is not None
            return note.encode()
        t = parse_tile_path(path)
        return log.entry_bundle(t) if t.is_bundle else log.tile(t)

    return fetch


def test_store_tiles_equal_tree_tiles(engine: Engine, log_signer: Signer) -> None:
    """Every tile and bundle the store serves equals the one computed from the in-memory tree,
    and proofs from the store's tiles equal the tree's."""
    log, data = filled_log(engine, log_signer, [100, 200, 300, 17])
    tree = MerkleTree(data)
    reference = tree_fetch(tree, "", data)
    for t in [*tiles(log.size), *bundles(log.size)]:
        got = log.entry_bundle(t) if t.is_bundle else log.tile(t)
        assert got == reference(t.path), t.path
    client = TileClient(log_fetch(log), log_signer.verifier())
    client.latest()
    client.open_checkpoint(log.checkpoint_note(300))
    assert client.inclusion_proof(5, 617) == tree.inclusion_proof(5, 617)
    assert client.consistency_proof(300, 617) == tree.consistency_proof(300, 617)
    assert [d for _, d in client.entries(617)] == data


def test_store_refuses_tiles_no_checkpoint_has(engine: Engine, log_signer: Signer) -> None:
    """Tiles beyond the tree and partial widths that no checkpoint's size implies are not
    found; the partial tiles of older checkpoints are."""
    log, _ = filled_log(engine, log_signer, [100, 200, 300])
    for path in [
        "tile/0/002.p/89",
        "tile/0/003",
        "tile/0/002.p/90",
        "tile/1/000.p/3",
        "tile/entries/003.p/1",
        "tile/0/001.p/5",
        "tile/1/000",
    ]:
        t = parse_tile_path(path)
        with pytest.raises(NotFoundError):
            log.entry_bundle(t) if t.is_bundle else log.tile(t)
    # Sizes 100, 300 and 600 were signed: 600 = 2*256 + 88; 300 = 256 + 44.
    assert len(log.tile(parse_tile_path("tile/0/002.p/88"))) == 88 * 32
    assert len(log.tile(parse_tile_path("tile/0/001.p/44"))) == 44 * 32
    assert len(log.tile(parse_tile_path("tile/0/000.p/100"))) == 100 * 32
    assert len(log.tile(parse_tile_path("tile/1/000.p/2"))) == 2 * 32
    assert len(log.tile(parse_tile_path("tile/1/000.p/1"))) == 32


def test_store_serves_a_long_entry_in_the_extension(engine: Engine, log_signer: Signer) -> None:
    """A bundle holding an entry longer than 65,535 bytes is refused in the standard format
    and served with uint32 lengths at the extension's path."""
    log = PersistentLog(engine, log_signer)
    long = b'"' + b"x" * 70_000 + b'"'
    log.append_batch([PendingEntry(b"1"), PendingEntry(long)], T0)
    with pytest.raises(NotFoundError, match="pausewatch-entries32"):
        log.entry_bundle(parse_tile_path("tile/entries/000.p/2"))
    wide = log.entry_bundle(parse_tile_path("tile/pausewatch-entries32/000.p/2"))
    assert decode_bundle(wide, 2, wide=True)[1] == encode_entry(long, T0)
    client = TileClient(log_fetch(log), log_signer.verifier())
    client.latest()
    assert [d for _, d in client.entries(2)][1] == encode_entry(long, T0)
