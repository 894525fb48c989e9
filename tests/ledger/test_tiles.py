"""The log as C2SP tlog-tiles: paths, widths and bundles against the spec's own examples and a
hand-written reading of it; tiles from the store against the in-memory tree; proofs from tiles
alone against :class:`MerkleTree`'s."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from pausewatch.errors import (
    ConsistencyError,
    EncodingError,
    NotFoundError,
    ProofError,
    VerificationError,
)
from pausewatch.ledger import (
    ENTRY_OVERHEAD,
    FULL_TILE_BYTES,
    MAX_BUNDLE_STATEMENT,
    LogStore,
    MerkleTree,
    Node,
    Note,
    PendingEntry,
    PersistentLog,
    Signer,
    Tile,
    TileChecker,
    TileClient,
    TileRebuilder,
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


def test_published_log_reads_what_the_log_serves(engine: Engine, log_signer: Signer) -> None:
    """The store read without the log's key (``LogStore.published``) answers every path as
    the log serves it: the cosigned checkpoint, every tile and bundle, the partial tiles of
    older checkpoints; a tile the log refuses, or a path that is not a tile's, is not found."""
    log, _ = filled_log(engine, log_signer, [100, 200, 300])
    witness = Signer.generate("witness.example/w1")
    plain = log.checkpoint_note(600, with_cosignatures=False)
    line = witness.cosignature_line(Note.from_text(plain).text, int(T0.timestamp()))
    log.add_cosignature(600, witness.verifier(), plain + line)
    published = LogStore(engine).published()
    assert published is not None
    assert published.size == 600
    assert published.read("checkpoint") == log.checkpoint_note().encode()
    assert published.read("checkpoint").decode().endswith(line)
    served = log_fetch(log)
    older = ["tile/0/001.p/44", "tile/0/000.p/100", "tile/1/000.p/1", "tile/entries/001.p/44"]
    for path in [*(t.path for t in [*tiles(600), *bundles(600)]), *older]:
        assert published.read(path) == served(path), path
    for path in ["tile/0/002.p/89", "tile/0/003", "tile/entries/003.p/1", "tile/0/1", "x"]:
        with pytest.raises(NotFoundError):
            published.read(path)


def test_published_log_keeps_its_size_while_the_log_grows(
    engine: Engine, log_signer: Signer
) -> None:
    """Read once, the published log stays at the checkpoint it read while the log appends
    (its partial tiles stay published); the store read again has the new one."""
    log, _ = filled_log(engine, log_signer, [300])
    published = LogStore(engine).published()
    assert published is not None
    note = published.read("checkpoint")
    log.append_batch([PendingEntry(b'{"n":%d}' % i) for i in range(300, 520)], T0)
    assert published.read("checkpoint") == note
    assert len(published.read("tile/0/001.p/44")) == 44 * 32
    with pytest.raises(NotFoundError):
        published.read("tile/0/001")
    again = LogStore(engine).published()
    assert again is not None
    assert again.size == 520
    assert len(again.read("tile/0/001")) == FULL_TILE_BYTES


def test_a_store_without_a_checkpoint_publishes_nothing(engine: Engine) -> None:
    """A store whose log has signed no checkpoint yet has no published log."""
    assert LogStore(engine).published() is None


# -- the review of issue 19: hand-written tile lists, a malicious fetch ---------------------------


@pytest.mark.parametrize(
    ("kind", "old", "size", "expected"),
    [
        # 12345 = 48*256 + 57; 70000 = 65536 + 4096 + 256 + 112 (65536: tile/1/000's span).
        (
            "inclusion",
            12_345,
            70_000,
            ["tile/0/048", "tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17"],
        ),
        # 300 = 256 + 44: the nodes left of 512 sit in tile/0/001, the right edge as above.
        (
            "consistency",
            300,
            70_000,
            ["tile/0/001", "tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17"],
        ),
        # 10,000,000 = 0x98_96_80 (widths 152, 150, 128); 5,000,000 = 0x4C_4B_40.
        (
            "inclusion",
            5_000_000,
            10_000_000,
            [
                "tile/0/x019/531",
                "tile/0/x039/062.p/128",
                "tile/1/076",
                "tile/1/152.p/150",
                "tile/2/000.p/152",
            ],
        ),
    ],
)
def test_proof_tiles_by_hand(kind: str, old: int, size: int, expected: list[str]) -> None:
    """The tiles a proof needs are the ones worked out by hand from RFC 9162 and the spec."""
    planned = tiles_for_inclusion(old, size) if kind == "inclusion" else None
    if planned is None:
        planned = tiles_for_consistency(old, size)
    assert [t.path for t in planned] == expected


@pytest.mark.parametrize("size", [1, 255, 256, 300, 511, 512, 600, 65_536, 70_000])
def test_full_and_partial_tiles_general(size: int) -> None:
    """Each tile level of a tree has ``size >> 8(L+1)`` full tiles and a partial tile of width
    ``(size >> 8L) % 256`` when that is not zero, whatever the size."""
    got = list(tiles(size))
    for level, full, width in tile_widths(size):
        at = [t for t in got if t.level == level]
        assert [t.index for t in at if t.full] == list(range(full))
        assert [(t.index, t.width) for t in at if not t.full] == ([(full, width)] if width else [])


@pytest.mark.parametrize("size", [1, 255, 256, 257, 600, 65_536, 70_000])
def test_rebuilt_tiles_are_the_tree_tiles(size: int) -> None:
    """Tiles rebuilt a bundle at a time from the leaf hashes are every tile of the tree, each
    with the tree's hashes, and nothing else."""
    tree, data = tree_of(size)
    reference = tree_fetch(tree, "")
    rebuilder = TileRebuilder(size)
    got: list[Tile] = []
    for b in bundles(size):
        batch = [leaf_hash(d) for d in data[b.start : b.start + b.width]]
        for tile, hashes in rebuilder.add(batch):
            assert b"".join(hashes) == reference(tile.path), tile.path
            got.append(tile)
    for tile, hashes in rebuilder.finish():
        assert b"".join(hashes) == reference(tile.path), tile.path
        got.append(tile)
    assert sorted(got) == sorted(tiles(size))


def test_rebuilder_refuses_a_bundle_of_the_wrong_width() -> None:
    """A bundle's worth of leaf hashes that is not the width the tree's size implies is
    refused, and so is finishing before every bundle arrived."""
    rebuilder = TileRebuilder(300)
    with pytest.raises(ProofError):
        rebuilder.add([b"\0" * 32] * 255)
    rebuilder = TileRebuilder(300)
    rebuilder.add([b"\0" * 32] * 256)
    with pytest.raises(ProofError):
        rebuilder.finish()


def test_rebuilder_holds_nothing_per_bundle_before_the_bundles_arrive() -> None:
    """A signed size near 2^64 (a log's key may sign anything) costs nothing to start from:
    the bundles' widths follow from the size as each arrives. (They were listed up front: at
    2^32 entries, 53 s and 143 MB before the first bundle was looked at; at 2^40, no end.)"""
    tracemalloc.start()
    try:
        rebuilder = TileRebuilder(2**30 + 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
    assert rebuilder.add([b"\0" * 32] * 256) == [(Tile(0, 0), [b"\0" * 32] * 256)]
    with pytest.raises(ProofError, match=f"has {2**22 + 1} bundles, got 1"):
        rebuilder.finish()
    last = TileRebuilder(259)
    last.add([b"\1" * 32] * 256)
    with pytest.raises(ProofError, match="bundle 1: expected 3 leaf hashes, got 256"):
        last.add([b"\1" * 32] * 256)
    last.add([b"\1" * 32] * 3)
    with pytest.raises(ProofError, match="has 2 bundles"):
        last.add([b"\1" * 32])


def test_a_partial_bundle_gone_is_read_from_the_full_one(log_signer: Signer) -> None:
    """The log completed bundle 1 after the checkpoint of 300 was signed and dropped its
    partial bundle: the 44 entries are read from the full bundle, as a partial hash tile is
    from the full tile. A bundle in neither form is not found, naming it. (The partial
    bundle was looked for only in the uint32 extension.)"""
    tree, data = tree_of(512)
    serve = tree_fetch(tree, signed(tree, log_signer, 300), data)

    def fetch(path: str) -> bytes:
        if path in ("tile/entries/001.p/44", "tile/pausewatch-entries32/001.p/44"):
            raise NotFoundError(path)
        return serve(path)

    client = TileClient(fetch, log_signer.verifier())
    client.latest()
    assert list(client.entries(300, start=250)) == [(i, data[i]) for i in range(250, 300)]

    def gone(path: str) -> bytes:
        if path.startswith("tile/entries/001") or path.startswith("tile/pausewatch-entries32/"):
            raise NotFoundError(path)
        return serve(path)

    client = TileClient(gone, log_signer.verifier())
    client.latest()
    with pytest.raises(NotFoundError, match=r"entry bundle tile/entries/001\.p/44: not found"):
        list(client.entries(300, start=256))


def test_client_refuses_a_fork(log_signer: Signer) -> None:
    """Two signed checkpoints of the same size with different roots are a fork: refused,
    naming both roots."""
    tree, _ = tree_of(300)
    other, _ = tree_of(301)
    client = TileClient(tree_fetch(tree, signed(tree, log_signer)), log_signer.verifier())
    client.latest()
    forked = sign_checkpoint(Checkpoint(log_signer.name, 300, other.root(299)), log_signer)
    with pytest.raises(ConsistencyError, match="fork") as caught:
        client.open_checkpoint(forked)
    assert tree.root(300).hex() in str(caught.value)
    assert other.root(299).hex() in str(caught.value)
    client.verify_consistency(300, 300)


def malicious(honest: Callable[[str], bytes], path: str, body: bytes) -> Callable[[str], bytes]:
    """``honest``, except that ``path`` answers ``body`` (missing: ``b"404"``)."""

    def fetch(p: str) -> bytes:
        if p == path:
            if body == b"404":
                raise NotFoundError(p)
            return body
        return honest(p)

    return fetch


def test_client_refuses_a_tile_of_the_wrong_length(log_signer: Signer) -> None:
    """A tile one byte short, or a partial tile of another width, is refused."""
    tree, data = tree_of(1000)
    honest = tree_fetch(tree, signed(tree, log_signer))
    for path, body in [
        ("tile/0/001", honest("tile/0/001")[:-1]),
        ("tile/0/003.p/232", honest("tile/0/003.p/232")[:-32]),
    ]:
        client = TileClient(malicious(honest, path, body), log_signer.verifier())
        client.latest()
        index = 300 if path == "tile/0/001" else 999
        with pytest.raises(ProofError, match="expected"):
            client.verify_inclusion(leaf_hash(data[index]), index, 1000)


def test_client_refuses_a_bundle_of_the_wrong_count(log_signer: Signer) -> None:
    """A bundle holding one entry fewer than its width is refused."""
    tree, data = tree_of(300)
    honest = tree_fetch(tree, signed(tree, log_signer), data)
    short = encode_bundle(data[256:299])
    client = TileClient(malicious(honest, "tile/entries/001.p/44", short), log_signer.verifier())
    client.latest()
    with pytest.raises(EncodingError, match="expected 44 entries"):
        list(client.entries(300))


def test_client_refuses_a_bogus_full_tile_on_the_partial_fallback(log_signer: Signer) -> None:
    """When the partial tile is gone and the full tile that replaces it is bogus, the proof
    fails."""
    tree, data = tree_of(1000)
    honest = tree_fetch(tree, signed(tree, log_signer, 300))

    def fetch(path: str) -> bytes:
        if path == "tile/0/001.p/44":
            raise NotFoundError(path)
        if path == "tile/0/001":
            return bytes(FULL_TILE_BYTES)
        return honest(path)

    client = TileClient(fetch, log_signer.verifier())
    client.latest()
    with pytest.raises(ProofError):
        client.verify_inclusion(leaf_hash(data[299]), 299, 300)


def test_client_drops_a_tile_that_failed_a_proof(log_signer: Signer) -> None:
    """A tile that made a proof fail is not kept: once the server is honest again, the proof
    fetches it afresh and verifies."""
    tree, data = tree_of(1000)
    honest = tree_fetch(tree, signed(tree, log_signer))
    bad = {"on": True}

    def fetch(path: str) -> bytes:
        if bad["on"] and path == "tile/0/001":
            return bytes(FULL_TILE_BYTES)
        return honest(path)

    client = TileClient(fetch, log_signer.verifier())
    client.latest()
    with pytest.raises(ProofError):
        client.verify_inclusion(leaf_hash(data[300]), 300, 1000)
    bad["on"] = False
    client.verify_inclusion(leaf_hash(data[300]), 300, 1000)
    assert client.leaf_hash(300, 1000) == leaf_hash(data[300])


def test_client_cache_is_bounded(log_signer: Signer) -> None:
    """The tile cache holds at most the tiles it was given room for (least recently used
    dropped first)."""
    tree, data = tree_of(70_000)
    client = TileClient(
        tree_fetch(tree, signed(tree, log_signer)), log_signer.verifier(), cache_tiles=3
    )
    client.latest()
    for index in range(0, 70_000, 997):
        client.verify_inclusion(leaf_hash(data[index]), index, 70_000)
    assert len(client._cache) <= 3


def test_client_leaf_hash_is_verified(log_signer: Signer) -> None:
    """``leaf_hash`` answers only what a verified checkpoint's root proves: a zeroed level-0
    tile is refused, not returned; the raw tile, node and root reads are private."""
    tree, _ = tree_of(1000)
    honest = tree_fetch(tree, signed(tree, log_signer))
    client = TileClient(
        malicious(honest, "tile/0/000", bytes(FULL_TILE_BYTES)), log_signer.verifier()
    )
    client.latest()
    with pytest.raises(ProofError):
        client.leaf_hash(5, 1000)
    for name in ("tile", "node", "root"):
        assert not hasattr(client, name), name


def test_tile_checker_names_every_bad_full_tile(log_signer: Signer) -> None:
    """The checker compares every hash tile served with the one rebuilt from the entries:
    zeroed full tiles at levels 0 and 1 of a 70,000-entry tree are each named; the honest
    tiles give no problem."""
    tree, data = tree_of(70_000)
    honest = tree_fetch(tree, "")
    zeroed = {"tile/0/010", "tile/1/000"}

    def fetch(path: str) -> bytes:
        return bytes(FULL_TILE_BYTES) if path in zeroed else honest(path)

    for source, expected in ((honest, set()), (fetch, zeroed)):
        checker = TileChecker(source, 70_000)
        for b in bundles(70_000):
            checker.add([leaf_hash(d) for d in data[b.start : b.start + b.width]])
        checker.finish()
        assert checker.checked == len(list(tiles(70_000)))
        assert {p.split(":")[0].split()[-1] for p in checker.problems} == expected


def test_tile_checker_reports_a_missing_tile(log_signer: Signer) -> None:
    """A hash tile the source does not serve is a problem naming it, not an abort."""
    tree, data = tree_of(300)
    checker = TileChecker(malicious(tree_fetch(tree, ""), "tile/1/000.p/1", b"404"), 300)
    for b in bundles(300):
        checker.add([leaf_hash(d) for d in data[b.start : b.start + b.width]])
    checker.finish()
    assert len(checker.problems) == 1
    assert "tile/1/000.p/1" in checker.problems[0]
