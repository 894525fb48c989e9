"""The log as C2SP tlog-tiles: tile paths, which tiles a tree has, entry bundles, and proofs
computed from tiles alone (c2sp.org/tlog-tiles; ADR 0046).

A hash tile at tile level ``L``, index ``N``, holds up to 256 consecutive hashes of the complete
subtrees at Merkle level ``8 * L``: its ``i``-th hash is the subtree ``(8 * L, N * 256 + i)``,
exactly what the log stores in ``log_nodes``. The Merkle levels between two tile levels are
recomputed by hashing a tile's hashes. A tree of size ``s`` has, at each tile level ``L``,
``s // 256**(L + 1)`` full tiles and one partial tile of width ``(s // 256**L) % 256`` when that
is not zero.

An entry bundle holds the entries of one level-0 tile, each prefixed by its length as a
big-endian uint16, so it holds entries of at most 65,535 bytes (:data:`MAX_BUNDLE_ENTRY`).
The log refuses no entry for being longer (statements and telemetry batches may be): a bundle
that holds a longer entry is served only in a pausewatch extension,
:data:`WIDE_BUNDLE_PREFIX` (uint32 lengths), at a different URL, as the spec allows (every
bundle is served there too).

:class:`TileClient` verifies a checkpoint and then inclusion and consistency proofs from the
tiles a checkpoint of that size requires, fetching each tile at most once while it stays in
its bounded cache, through a ``fetch(path) -> bytes`` callable (any transport: HTTP, files, a
dict). :class:`TileRebuilder` rebuilds every hash tile from the entries' leaf hashes, a bundle
at a time, and :class:`TileChecker` compares a log's served tiles with them.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pausewatch.errors import (
    ConsistencyError,
    EncodingError,
    Error,
    NotFoundError,
    ProofError,
    VerificationError,
)
from pausewatch.ledger._checkpoint import Checkpoint, SignedCheckpoint
from pausewatch.ledger._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Node,
    Range,
    assemble,
    complete_subtrees,
    consistency_ranges,
    inclusion_ranges,
    node_hash,
    nodes_for,
    range_hash,
    verify_consistency,
    verify_inclusion_hash,
)
from pausewatch.ledger._note import Verifier

TILE_HEIGHT = 8
"""Merkle levels a tile spans."""
TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes (or entries) in a full tile."""
FULL_TILE_BYTES = TILE_WIDTH * HASH_SIZE
MAX_TILE_LEVEL = 63
MAX_BUNDLE_ENTRY = 0xFFFF
"""The longest entry an entry bundle can hold (its uint16 length prefix)."""
ENTRY_OVERHEAD = len('{"integrated_at":"2026-01-01T00:00:00.000000Z","statement":}')
"""Bytes a log entry adds to its statement's canonical bytes (fixed: the time has a fixed
width)."""
MAX_BUNDLE_STATEMENT = MAX_BUNDLE_ENTRY - ENTRY_OVERHEAD
"""The longest canonical statement whose entry fits an entry bundle."""
ENTRIES_PREFIX = "tile/entries/"
WIDE_BUNDLE_PREFIX = "tile/pausewatch-entries32/"
"""pausewatch's extension: the same bundles with big-endian uint32 length prefixes, for a
bundle that holds an entry longer than :data:`MAX_BUNDLE_ENTRY` (ADR 0046)."""

ENTRIES = -1
"""The ``level`` of an entry bundle in a :class:`Tile`."""
WIDE_ENTRIES = -2
"""The ``level`` of a bundle in the uint32 extension."""


@dataclass(frozen=True, order=True, slots=True)
class Tile:
    """One tile: ``level`` (a tile level 0..63, or :data:`ENTRIES`), ``index`` and ``width``
    (256 for a full tile, 1..255 for a partial one)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not (ENTRIES >= self.level >= WIDE_ENTRIES or 0 <= self.level <= MAX_TILE_LEVEL):
            raise EncodingError(f"tile level: expected 0..{MAX_TILE_LEVEL}, got {self.level}")
        if self.index < 0:
            raise EncodingError(f"tile index: expected >= 0, got {self.index}")
        if not 1 <= self.width <= TILE_WIDTH:
            raise EncodingError(f"tile width: expected 1..{TILE_WIDTH}, got {self.width}")

    @property
    def full(self) -> bool:
        """Whether the tile holds all 256 hashes (or entries)."""
        return self.width == TILE_WIDTH

    @property
    def is_bundle(self) -> bool:
        """Whether this is an entry bundle (standard or extension) rather than a hash tile."""
        return self.level < 0

    @property
    def start(self) -> int:
        """The first entry the tile spans (the spec's start index)."""
        return self.index << (TILE_HEIGHT * (max(self.level, 0) + 1))

    @property
    def path(self) -> str:
        """The tile's path under the log's prefix, e.g. ``tile/1/x001/234.p/17``."""
        if self.level == ENTRIES:
            head = ENTRIES_PREFIX
        elif self.level == WIDE_ENTRIES:
            head = WIDE_BUNDLE_PREFIX
        else:
            head = f"tile/{self.level}/"
        return head + encode_index(self.index) + ("" if self.full else f".p/{self.width}")


def encode_index(n: int) -> str:
    """``n`` as zero-padded 3-digit path elements, all but the last prefixed ``x``
    (1234067 -> ``x001/x234/067``)."""
    if n < 0:
        raise EncodingError(f"tile index: expected >= 0, got {n}")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


_INDEX = r"(?P<index>(?:x[0-9]{3}/){0,6}[0-9]{3})"
_WIDTH = r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
_TILE_PATH = re.compile(
    r"tile/(?:(?P<level>0|[1-9][0-9]?)|(?P<kind>entries|pausewatch-entries32))/" + _INDEX + _WIDTH
)


def parse_tile_path(path: str) -> Tile:
    """The tile at ``path`` (``tile/<L>/<N>[.p/<W>]``, ``tile/entries/<N>[.p/<W>]`` or the
    extension's), refusing every non-canonical spelling: a leading zero in ``L`` or ``W``, a
    level above 63, a width of 0 or above 255, an index element that is not three digits, a
    first element ``x000``, a missing ``x``."""
    m = _TILE_PATH.fullmatch(path)
    if m is None:
        raise EncodingError(f"not a tile path: {path!r}")
    elements = m["index"].split("/")
    if len(elements) > 1 and elements[0] == "x000":
        raise EncodingError(f"tile path {path!r}: the index has a leading zero element")
    index = int("".join(e.lstrip("x") for e in elements))
    width = TILE_WIDTH if m["width"] is None else int(m["width"])
    if m["width"] is not None and width >= TILE_WIDTH:
        raise EncodingError(f"tile path {path!r}: a partial width is 1..{TILE_WIDTH - 1}")
    if m["kind"] is not None:
        level = ENTRIES if m["kind"] == "entries" else WIDE_ENTRIES
    else:
        level = int(m["level"])
        if level > MAX_TILE_LEVEL:
            raise EncodingError(f"tile path {path!r}: level above {MAX_TILE_LEVEL}")
    return Tile(level, index, width)


def tile_widths(size: int) -> list[tuple[int, int, int]]:
    """Per tile level ``L`` that a tree of ``size`` has: ``(L, full tiles, partial width)``
    (width 0: no partial tile at that level)."""
    if size < 0:
        raise ProofError(f"tree size: expected >= 0, got {size}")
    out: list[tuple[int, int, int]] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        below = size >> (TILE_HEIGHT * level)
        out.append((level, below >> TILE_HEIGHT, below & (TILE_WIDTH - 1)))
        level += 1
    return out


def partial_tiles(size: int) -> list[Tile]:
    """The partial hash tiles of a tree of ``size``, lowest level first."""
    return [Tile(level, full, width) for level, full, width in tile_widths(size) if width]


def tiles(size: int, *, start: int = 0) -> Iterator[Tile]:
    """Every hash tile of a tree of ``size``, level by level, full ones first; with ``start``,
    only the tiles that hold a hash of an entry at or after ``start`` (what grew since a tree
    of size ``start``, full tiles already written left out)."""
    for level, full, width in tile_widths(size):
        first = start >> (TILE_HEIGHT * (level + 1))
        for n in range(first, full):
            yield Tile(level, n)
        if width:
            yield Tile(level, full, width)


def bundles(size: int, *, start: int = 0) -> Iterator[Tile]:
    """The entry bundles of a tree of ``size`` (from the one holding entry ``start``)."""
    full, width = size >> TILE_HEIGHT, size & (TILE_WIDTH - 1)
    for n in range(start >> TILE_HEIGHT, full):
        yield Tile(ENTRIES, n)
    if width:
        yield Tile(ENTRIES, full, width)


def tile_in_tree(tile: Tile, size: int) -> bool:
    """Whether a tree of ``size`` has ``tile`` (a full tile it completed, or its partial tile
    of exactly that width)."""
    level = max(tile.level, 0)
    below = size >> (TILE_HEIGHT * level)
    if tile.full:
        return (tile.index + 1) << TILE_HEIGHT <= below
    return tile.index == below >> TILE_HEIGHT and tile.width == below & (TILE_WIDTH - 1)


def tile_for_node(node: Node, size: int) -> tuple[Tile, int, int]:
    """The hash tile of a tree of ``size`` that yields the complete subtree ``node``, with the
    subtree's first position in the tile and the Merkle levels to hash above the tile."""
    level, k = divmod(node.level, TILE_HEIGHT)
    first = node.index << k
    n, pos = divmod(first, TILE_WIDTH)
    end_leaf = (node.index + 1) << node.level
    if end_leaf > size:
        raise ProofError(f"subtree {node} is not complete in a tree of size {size}")
    if (n + 1) << (TILE_HEIGHT * (level + 1)) <= size:
        width = TILE_WIDTH
    else:
        width = (size >> (TILE_HEIGHT * level)) & (TILE_WIDTH - 1)
    return Tile(level, n, width), pos, k


def tiles_for_nodes(nodes: Iterable[Node], size: int) -> list[Tile]:
    """The distinct tiles a tree of ``size`` needs to yield ``nodes``."""
    return sorted({tile_for_node(n, size)[0] for n in nodes})


def tiles_for_inclusion(index: int, size: int) -> list[Tile]:
    """The tiles an inclusion proof of entry ``index`` in a tree of ``size`` needs."""
    return tiles_for_nodes(nodes_for(inclusion_ranges(index, size)), size)


def tiles_for_consistency(old_size: int, new_size: int) -> list[Tile]:
    """The tiles a consistency proof from ``old_size`` to ``new_size`` needs."""
    return tiles_for_nodes(nodes_for(consistency_ranges(old_size, new_size)), new_size)


def tile_hashes(data: bytes, width: int) -> list[bytes]:
    """The ``width`` hashes of a tile's bytes."""
    if len(data) != width * HASH_SIZE:
        raise ProofError(
            f"tile: expected {width} hashes ({width * HASH_SIZE} bytes), got {len(data)} bytes"
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def encode_bundle(entries: Sequence[bytes], *, wide: bool = False) -> bytes:
    """Entries as a bundle: each prefixed by its length, a big-endian uint16 (uint32 with
    ``wide``, the extension)."""
    size = 4 if wide else 2
    limit = (1 << (8 * size)) - 1
    out = bytearray()
    for i, data in enumerate(entries):
        if len(data) > limit:
            raise EncodingError(
                f"entry {i} of the bundle is {len(data)} bytes; a bundle holds at most {limit}"
            )
        out += len(data).to_bytes(size, "big")
        out += data
    return bytes(out)


def decode_bundle(data: bytes, width: int | None = None, *, wide: bool = False) -> list[bytes]:
    """The entries of a bundle (exactly ``width`` of them when given)."""
    size = 4 if wide else 2
    entries: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + size > len(data):
            raise EncodingError(f"entry bundle: truncated length at byte {pos}")
        n = int.from_bytes(data[pos : pos + size], "big")
        pos += size
        if pos + n > len(data):
            raise EncodingError(f"entry bundle: entry {len(entries)} runs past the end")
        entries.append(data[pos : pos + n])
        pos += n
    if width is not None and len(entries) != width:
        raise EncodingError(f"entry bundle: expected {width} entries, got {len(entries)}")
    return entries


def _subtree(hashes: Sequence[bytes], pos: int, k: int) -> bytes:
    """The hash of the complete subtree over ``hashes[pos : pos + 2**k]``."""
    level = list(hashes[pos : pos + (1 << k)])
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _tile_levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every Merkle level inside a tile: the tile's hashes, then each complete pair hashed,
    up to the tile's top (at most 255 hashes computed)."""
    levels = [list(hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def full_tile_hash(hashes: Sequence[bytes]) -> bytes:
    """The hash a full tile contributes to the tile level above: the Merkle Tree Hash of its
    256 hashes."""
    if len(hashes) != TILE_WIDTH:
        raise ProofError(f"tile: expected {TILE_WIDTH} hashes, got {len(hashes)}")
    return _subtree(hashes, 0, TILE_HEIGHT)


_T = TypeVar("_T")

Fetch = Callable[[str], bytes]
"""Fetch the resource at a path under the log's prefix; raise :class:`NotFoundError` when
there is none."""


DEFAULT_CACHE_TILES = 1024
"""Tiles a :class:`TileClient` keeps by default: each a tile's hashes and the Merkle levels
inside it, about 16 KiB, so about 16 MiB in all."""


class TileRebuilder:
    """Every hash tile of a tree of ``size`` rebuilt from its entries' leaf hashes, given one
    entry bundle's worth at a time in order (:meth:`add`): each level-0 tile is its bundle's
    leaf hashes, each tile above holds the hashes of the full tiles below it. A full tile is
    answered as soon as it is complete, the partial tiles (the right edge) by :meth:`finish`.
    Memory is bounded: at most one tile's hashes per tile level are held."""

    def __init__(self, size: int) -> None:
        self.size = size
        # The bundles' count and widths follow from the size (not listed: a signed size may
        # be near 2^64, and nothing is held before the first bundle arrives).
        self._full = size >> TILE_HEIGHT
        self._bundles = self._full + (1 if size & (TILE_WIDTH - 1) else 0)
        self._seen = 0
        levels = len(tile_widths(size))
        self._next = [0] * levels
        self._gathered: list[list[bytes]] = [[] for _ in range(levels)]

    def add(self, leaf_hashes: Sequence[bytes]) -> list[tuple[Tile, list[bytes]]]:
        """Take the leaf hashes of the next bundle; return the full tiles they complete."""
        if self._seen >= self._bundles:
            raise ProofError(f"a tree of size {self.size} has {self._bundles} bundles")
        width = TILE_WIDTH if self._seen < self._full else self.size & (TILE_WIDTH - 1)
        if len(leaf_hashes) != width:
            raise ProofError(
                f"bundle {self._seen}: expected {width} leaf hashes, got {len(leaf_hashes)}"
            )
        self._seen += 1
        done: list[tuple[Tile, list[bytes]]] = []
        self._gathered[0] = list(leaf_hashes)
        level = 0
        while level < len(self._gathered) and len(self._gathered[level]) == TILE_WIDTH:
            hashes = self._gathered[level]
            done.append((Tile(level, self._next[level]), hashes))
            self._next[level] += 1
            self._gathered[level] = []
            level += 1
            if level < len(self._gathered):
                self._gathered[level].append(full_tile_hash(hashes))
        return done

    def finish(self) -> list[tuple[Tile, list[bytes]]]:
        """The partial tiles, lowest level first, once every bundle was added."""
        if self._seen != self._bundles:
            raise ProofError(
                f"a tree of size {self.size} has {self._bundles} bundles, got {self._seen}"
            )
        return [
            (Tile(level, self._next[level], len(hashes)), hashes)
            for level, hashes in enumerate(self._gathered)
            if hashes
        ]


class TileChecker:
    """Checks every hash tile a tiled log serves (through ``fetch``) against the tile rebuilt
    from its entries (:class:`TileRebuilder`), fed one bundle's leaf hashes at a time, in
    order: the level-0 tile must hold its bundle's leaf hashes, each tile above the hashes of
    the full tiles below it. Streaming: one tile is fetched at a time, and only the right edge
    is held. A tile that differs, is missing or malformed is recorded in :attr:`problems`,
    naming it; :attr:`checked` counts the tiles compared."""

    def __init__(self, fetch: Fetch, size: int) -> None:
        self._fetch = fetch
        self._rebuilder = TileRebuilder(size)
        self.problems: list[str] = []
        self.checked = 0

    def add(self, leaf_hashes: Sequence[bytes]) -> None:
        """Take the leaf hashes of the next bundle and check the full tiles they complete."""
        for tile, expected in self._rebuilder.add(leaf_hashes):
            self._check(tile, expected)

    def finish(self) -> None:
        """Check the partial tiles, once every bundle was added."""
        for tile, expected in self._rebuilder.finish():
            self._check(tile, expected)

    def _check(self, tile: Tile, expected: list[bytes]) -> None:
        self.checked += 1
        try:
            try:
                got = tile_hashes(self._fetch(tile.path), tile.width)
            except NotFoundError:
                if tile.full:
                    raise
                # The log may drop a partial tile once the full one exists.
                got = tile_hashes(self._fetch(Tile(tile.level, tile.index).path), TILE_WIDTH)
                got = got[: tile.width]
        except (Error, OSError) as exc:
            self.problems.append(f"hash tile {tile.path}: {exc}")
            return
        if got != expected:
            first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
            self.problems.append(
                f"hash tile {tile.path}: hash {first} is not the one rebuilt from the entries"
            )


class TileClient:
    """Verifies a log from its tiles alone: checkpoints signed by the log key, then inclusion
    and consistency proofs computed from the hash tiles those checkpoints require.

    Only sizes of verified checkpoints are read, so partial tiles are fetched only at the
    widths such a size implies (the spec forbids arbitrary partial tiles); when one is gone
    (the log completed the tile) the full tile is fetched instead. Everything a public method
    answers is verified against a checkpoint's root: a proof before it is returned, a leaf
    hash through its inclusion proof. Two checkpoints of one size with different roots are a
    fork (:class:`ConsistencyError`).

    Tiles are cached (the widest seen per position, with the Merkle levels inside hashed once)
    in a least-recently-used cache of ``cache_tiles`` tiles, so repeated proofs neither fetch
    nor hash again; every tile a failed verification used is dropped from it, so a bad tile
    is fetched afresh next time. :attr:`fetched_tiles` and :attr:`fetched_bytes` count what
    was fetched.
    """

    def __init__(
        self,
        fetch: Fetch,
        verifier: Verifier,
        witnesses: Sequence[Verifier] = (),
        *,
        cache_tiles: int = DEFAULT_CACHE_TILES,
    ) -> None:
        if cache_tiles < 1:
            raise ValueError(f"cache_tiles: expected >= 1, got {cache_tiles}")
        self._fetch = fetch
        self.verifier = verifier
        self.witnesses = list(witnesses)
        self.checkpoints: dict[int, Checkpoint] = {}
        """Every checkpoint verified so far, by size."""
        self.fetched_tiles = 0
        self.fetched_bytes = 0
        self._cache_tiles = cache_tiles
        self._cache: OrderedDict[tuple[int, int], list[list[bytes]]] = OrderedDict()
        self._used: set[tuple[int, int]] = set()

    # -- checkpoints ---------------------------------------------------------------------------

    def open_checkpoint(self, note: str | bytes) -> SignedCheckpoint:
        """Verify a checkpoint note with the log key and remember it; a checkpoint of a size
        already verified with another root is a fork (:class:`ConsistencyError`)."""
        signed = SignedCheckpoint.open(note, self.verifier, self.witnesses)
        cp = signed.checkpoint
        known = self.checkpoints.get(cp.size)
        if known is not None and known.root_hash != cp.root_hash:
            raise ConsistencyError(
                f"fork: two checkpoints of size {cp.size} signed by the log key, with roots "
                f"{known.root_hash.hex()} and {cp.root_hash.hex()}"
            )
        self.checkpoints[cp.size] = cp
        return signed

    def latest(self) -> SignedCheckpoint:
        """Fetch the log's ``checkpoint`` and verify it."""
        data = self._fetch("checkpoint")
        self.fetched_bytes += len(data)
        try:
            return self.open_checkpoint(data)
        except UnicodeDecodeError as exc:
            raise ProofError(f"checkpoint: not UTF-8 ({exc})") from exc

    def _verified(self, size: int) -> Checkpoint:
        cp = self.checkpoints.get(size)
        if cp is None:
            raise ProofError(f"no verified checkpoint of size {size}: verify one first")
        return cp

    # -- tiles (unverified until a proof through them checks against a root) ------------------

    def _levels(self, tile: Tile) -> list[list[bytes]]:
        """The Merkle levels inside ``tile`` (from the cache, or fetched and cached)."""
        key = (tile.level, tile.index)
        self._used.add(key)
        cached = self._cache.get(key)
        if cached is not None and len(cached[0]) >= tile.width:
            self._cache.move_to_end(key)
            return cached
        try:
            data = self._fetch(tile.path)
            hashes = tile_hashes(data, tile.width)
        except NotFoundError:
            if tile.full:
                raise
            # The log may drop a partial tile once the full one exists.
            full = Tile(tile.level, tile.index)
            data = self._fetch(full.path)
            hashes = tile_hashes(data, TILE_WIDTH)
        self.fetched_tiles += 1
        self.fetched_bytes += len(data)
        # The Merkle levels of a wider tile hold those of every narrower one at its position.
        levels = self._cache[key] = _tile_levels(hashes)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_tiles:
            self._cache.popitem(last=False)
        return levels

    def _node(self, node: Node, size: int) -> bytes:
        """The hash of the complete subtree ``node``, from the tiles of a tree of ``size``."""
        tile, pos, k = tile_for_node(node, size)
        return self._levels(tile)[k][pos >> k]

    def _hashes(self, nodes: Iterable[Node], size: int) -> dict[Node, bytes]:
        return {n: self._node(n, size) for n in nodes}

    def _checked(self, check: Callable[[], _T]) -> _T:
        """Run ``check``; when it fails verification, drop every tile it used from the cache."""
        self._used = set()
        try:
            return check()
        except VerificationError:
            for key in self._used:
                self._cache.pop(key, None)
            raise
        finally:
            self._used = set()

    # -- proofs --------------------------------------------------------------------------------

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of entry ``index`` in the verified checkpoint of ``size``,
        checked against its root with the leaf hash its level-0 tile holds."""
        cp = self._verified(size)
        if not 0 <= index < size:
            raise ProofError(f"entry index: expected 0..{size - 1}, got {index}")

        def check() -> list[bytes]:
            ranges = inclusion_ranges(index, size)
            proof = assemble(ranges, self._hashes(nodes_for(ranges), size))
            leaf = self._node(Node(0, index), size)
            verify_inclusion_hash(leaf, index, size, proof, cp.root_hash)
            return proof

        return self._checked(check)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The consistency proof between the verified checkpoints of ``old_size`` and
        ``new_size``, checked against both roots."""
        old, new = self._verified(old_size), self._verified(new_size)

        def check() -> list[bytes]:
            ranges = consistency_ranges(old_size, new_size)
            proof = assemble(ranges, self._hashes(nodes_for(ranges), new_size))
            verify_consistency(old_size, new_size, proof, old.root_hash, new.root_hash)
            return proof

        return self._checked(check)

    def _root(self, size: int) -> bytes:
        """The root of the tree of ``size`` computed from the hash tiles of that size."""
        if size == 0:
            return EMPTY_ROOT
        return range_hash(Range(0, size), self._hashes(complete_subtrees(0, size), size))

    def verify_root(self, size: int) -> None:
        """Check that the hash tiles of the verified checkpoint of ``size`` give its root."""
        cp = self._verified(size)

        def check() -> None:
            got = self._root(size)
            if got != cp.root_hash:
                raise ProofError(
                    f"the tiles of size {size} give root {got.hex()}, the checkpoint says "
                    f"{cp.root_hash.hex()}"
                )

        self._checked(check)

    def leaf_hash(self, index: int, size: int) -> bytes:
        """The leaf hash of entry ``index`` from the level-0 tile of the verified checkpoint of
        ``size``, once its inclusion proof checks against that checkpoint's root."""
        self.inclusion_proof(index, size)
        return self._node(Node(0, index), size)

    def verify_inclusion(self, leaf_hash_: bytes, index: int, size: int) -> None:
        """Check that the leaf with ``leaf_hash_`` sits at ``index`` in the verified checkpoint
        of ``size``, from tiles alone."""
        cp = self._verified(size)

        def check() -> None:
            ranges = inclusion_ranges(index, size)
            proof = assemble(ranges, self._hashes(nodes_for(ranges), size))
            verify_inclusion_hash(leaf_hash_, index, size, proof, cp.root_hash)

        self._checked(check)

    def verify_consistency(self, old_size: int, new_size: int) -> None:
        """Check that the verified checkpoint of ``new_size`` extends that of ``old_size``."""
        self.consistency_proof(old_size, new_size)

    # -- entries -------------------------------------------------------------------------------

    def bundle(self, bundle: Tile) -> list[bytes]:
        """The entries of one bundle; the uint32 extension when the standard one is not
        there. A partial bundle that is gone (the log completed it) is read from the full
        bundle, as a partial hash tile is."""
        for level in (ENTRIES, WIDE_ENTRIES):
            wide = level == WIDE_ENTRIES
            try:
                data = self._fetch(Tile(level, bundle.index, bundle.width).path)
                width = bundle.width
            except NotFoundError:
                if bundle.full:
                    continue
                try:
                    data = self._fetch(Tile(level, bundle.index).path)
                except NotFoundError:
                    continue
                width = TILE_WIDTH
            self.fetched_tiles += 1
            self.fetched_bytes += len(data)
            return decode_bundle(data, width, wide=wide)[: bundle.width]
        raise NotFoundError(
            f"entry bundle {bundle.path}: not found (nor in the uint32 extension"
            + ("" if bundle.full else ", nor as a full bundle")
            + ")"
        )

    def entries(self, size: int, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """Every entry ``(index, bytes)`` of the verified checkpoint of ``size`` from
        ``start``, a bundle at a time (they prove nothing until hashed into the tree)."""
        self._verified(size)
        for b in bundles(size, start=start):
            for i, data in enumerate(self.bundle(b)):
                if b.start + i >= start:
                    yield b.start + i, data
