"""In-memory RFC 9162 trees: a full tree for tools and benchmarks, and a compact range.

:class:`MerkleTree` keeps the hash of every complete subtree, level by level, in flat byte
arrays (32 bytes a node, no per-node objects), and serves proofs with O(log n) lookups.
:class:`CompactRange` keeps only the right edge of a tree (at most log2(n) + 1 hashes); the log's
sequencer uses it to compute each new root and the new complete-subtree hashes to store, so its
memory stays bounded however long the log grows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pausewatch.errors import ProofError
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
)

_sha256 = hashlib.sha256


class MerkleTree:
    """An append-only RFC 9162 tree held in memory."""

    __slots__ = ("_levels", "_size")

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        for data in leaves:
            self.append(data)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    def append(self, data: bytes) -> int:
        """Append raw entry ``data``; return its index."""
        return self.append_leaf_hash(_sha256(b"\x00" + data).digest())

    def append_leaf_hash(self, h: bytes) -> int:
        """Append a leaf by its leaf hash; return its index."""
        levels = self._levels
        index = self._size
        n = index + 1
        self._size = n
        levels[0] += h
        level = 0
        while not n & 1:
            buf = levels[level]
            h = _sha256(b"\x01" + buf[-64:]).digest()
            level += 1
            if level == len(levels):
                levels.append(bytearray())
            levels[level] += h
            n >>= 1
        return index

    def node(self, node: Node) -> bytes:
        """The hash of a complete subtree."""
        off = node.index * HASH_SIZE
        buf = self._levels[node.level] if node.level < len(self._levels) else b""
        if off + HASH_SIZE > len(buf):
            raise ProofError(f"no complete subtree {node} in a tree of size {self._size}")
        return bytes(buf[off : off + HASH_SIZE])

    def _fetch(self, nodes: Iterable[Node]) -> dict[Node, bytes]:
        return {n: self.node(n) for n in nodes}

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if not 0 <= size <= self._size:
            raise ProofError(f"tree size out of range: expected 0..{self._size}, got {size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all of them by default)."""
        size = self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        r = Range(0, size)
        return range_hash(r, self._fetch(complete_subtrees(0, size)))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of leaf ``index`` in the tree of the first ``size`` leaves."""
        size = self._check_size(size)
        ranges = inclusion_ranges(index, size)
        return assemble(ranges, self._fetch(nodes_for(ranges)))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof from the tree of ``old_size`` leaves to that of ``new_size``."""
        new_size = self._check_size(new_size)
        ranges = consistency_ranges(old_size, new_size)
        return assemble(ranges, self._fetch(nodes_for(ranges)))


class CompactRange:
    """The right edge of a tree of ``size`` leaves: the hashes of its maximal complete subtrees.

    Appending a leaf returns every complete subtree it completes, so that a store can persist the
    hash of each complete subtree exactly once.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self._size = size
        self._hashes = list(hashes)
        expected = len(self.nodes(size))
        if len(self._hashes) != expected:
            raise ProofError(
                f"compact range of size {size}: expected {expected} hashes, got {len(self._hashes)}"
            )

    @staticmethod
    def nodes(size: int) -> list[Node]:
        """The complete subtrees whose hashes make up the compact range of ``size`` leaves."""
        return complete_subtrees(0, size) if size else []

    def copy(self) -> CompactRange:
        """An independent copy (to extend without touching this one)."""
        return CompactRange(self._size, self._hashes)

    @property
    def size(self) -> int:
        """Number of leaves covered."""
        return self._size

    def append(self, leaf_hash_: bytes) -> list[tuple[Node, bytes]]:
        """Append one leaf hash; return the complete subtrees (level 0 first) it completes."""
        index = self._size
        created = [(Node(0, index), leaf_hash_)]
        hashes = self._hashes
        h = leaf_hash_
        n = index + 1
        level = 0
        while not n & 1:
            h = _sha256(b"\x01" + hashes.pop() + h).digest()
            level += 1
            n >>= 1
            created.append((Node(level, n - 1), h))
        hashes.append(h)
        self._size = index + 1
        return created

    def root(self) -> bytes:
        """MTH of the covered leaves."""
        if not self._hashes:
            return EMPTY_ROOT
        acc = self._hashes[-1]
        for h in reversed(self._hashes[:-1]):
            acc = node_hash(h, acc)
        return acc
