"""RFC 9162 Merkle tree hashing, proofs and their verification, as pure functions over bytes.

Implements RFC 9162 §2.1.1 (tree head: SHA-256 with leaf prefix 0x00 and node prefix 0x01),
§2.1.3 (inclusion proofs, generation and the verification algorithm of §2.1.3.2) and §2.1.4
(consistency proofs, generation and the verification algorithm of §2.1.4.2).

Proof generation is split in two steps so that it can run over any hash store:
:func:`inclusion_ranges` / :func:`consistency_ranges` say which subtree ranges a proof consists
of, :func:`complete_subtrees` decomposes a range into complete (power-of-two, aligned) subtrees,
and :func:`assemble` folds those subtree hashes into proof elements. A store that keeps the hash
of every complete subtree therefore serves any proof with O(log n) reads and never rebuilds the
tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pausewatch.errors import ProofError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || data)`` of one entry's raw bytes."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``."""
    return _sha256(NODE_PREFIX + left + right).digest()


@dataclass(frozen=True, slots=True, order=True)
class Node:
    """A complete subtree: the ``2**level`` leaves starting at leaf ``index * 2**level``."""

    level: int
    index: int


class Range(NamedTuple):
    """A half-open range of leaf indices ``[begin, end)``, whose MTH is one proof element."""

    begin: int
    end: int


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n > 1``), RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def complete_subtrees(begin: int, end: int) -> list[Node]:
    """Decompose ``[begin, end)`` into complete subtrees, left to right.

    The ranges produced by the proof planners start at a boundary aligned to a power of two at
    least as large as the range, so the decomposition follows the binary digits of its length and
    has at most ``log2(end - begin) + 1`` parts.
    """
    if not 0 <= begin < end:
        raise ProofError(
            f"empty or negative range: expected 0 <= begin < end, got [{begin}, {end})"
        )
    nodes: list[Node] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        nodes.append(Node(level, begin >> level))
        begin += 1 << level
    return nodes


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes make up PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index out of range: expected 0 <= index < {size}, got {index}")
    ranges: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append(Range(lo + k, hi))
            hi = lo + k
        else:
            ranges.append(Range(lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The ranges whose hashes make up PROOF(old_size, D[new_size]) (RFC 9162 §2.1.4.1).

    The proof is empty when ``old_size`` is 0 or equal to ``new_size``.
    """
    if not 0 <= old_size <= new_size:
        raise ProofError(
            f"sizes out of order: expected 0 <= old_size <= new_size, got {old_size}, {new_size}"
        )
    if old_size in (0, new_size):
        return []
    ranges: list[Range] = []
    lo, hi, m, whole = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append(Range(lo + k, hi))
            hi = lo + k
        else:
            ranges.append(Range(lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        ranges.append(Range(lo, hi))
    ranges.reverse()
    return ranges


def nodes_for(ranges: Iterable[Range]) -> list[Node]:
    """Every complete subtree that :func:`assemble` needs for ``ranges``."""
    out: list[Node] = []
    for r in ranges:
        out.extend(complete_subtrees(r.begin, r.end))
    return out


def range_hash(r: Range, hashes: Mapping[Node, bytes]) -> bytes:
    """MTH of the leaves in ``r`` from the hashes of its complete subtrees."""
    parts = complete_subtrees(r.begin, r.end)
    acc = hashes[parts[-1]]
    for node in reversed(parts[:-1]):
        acc = node_hash(hashes[node], acc)
    return acc


def assemble(ranges: Sequence[Range], hashes: Mapping[Node, bytes]) -> list[bytes]:
    """Fold complete-subtree hashes into proof elements, one per range."""
    return [range_hash(r, hashes) for r in ranges]


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    level = [leaf_hash(d) for d in leaves]
    levels = [level]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        levels.append(level)
    return levels


def _from_leaves(leaves: Sequence[bytes]) -> Callable[[Iterable[Node]], dict[Node, bytes]]:
    levels = _levels(leaves)

    def fetch(nodes: Iterable[Node]) -> dict[Node, bytes]:
        return {n: levels[n.level][n.index] for n in nodes}

    return fetch


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of raw entries ``leaves`` (RFC 9162 §2.1.1); empty: SHA-256 of nothing."""
    if not leaves:
        return EMPTY_ROOT
    r = Range(0, len(leaves))
    return range_hash(r, _from_leaves(leaves)(complete_subtrees(0, len(leaves))))


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The inclusion proof of raw entry ``leaves[index]`` in the tree of all ``leaves``."""
    ranges = inclusion_ranges(index, len(leaves))
    return assemble(ranges, _from_leaves(leaves)(nodes_for(ranges)))


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """The consistency proof from the tree of ``leaves[:old_size]`` to that of all ``leaves``."""
    ranges = consistency_ranges(old_size, len(leaves))
    return assemble(ranges, _from_leaves(leaves)(nodes_for(ranges)))


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name}: expected {HASH_SIZE} bytes, got {len(value)}")


def root_from_inclusion_proof(
    leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-5)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index out of range: expected 0 <= index < {size}, got {index}")
    _check_hash("leaf hash", leaf_hash_)
    fn, sn, r = index, size - 1, leaf_hash_
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
        if sn == 0:
            raise ProofError(
                f"inclusion proof too long: expected at most {i} hashes, got {len(proof)}"
            )
        if fn & 1 or fn == sn:
            r = _sha256(NODE_PREFIX + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof too short for size {size}: got {len(proof)} hashes")
    return r


def verify_inclusion_hash(
    leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes], root_: bytes
) -> None:
    """Check that the leaf with hash ``leaf_hash_`` sits at ``index`` in the tree with ``root_``."""
    _check_hash("root", root_)
    got = root_from_inclusion_proof(leaf_hash_, index, size, proof)
    if got != root_:
        raise ProofError(
            f"inclusion proof does not match the root: expected {root_.hex()}, computed {got.hex()}"
        )


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that raw entry ``leaf`` sits at ``index`` in the tree of ``size`` with ``root``.

    Raises :class:`pausewatch.ledger.VerificationError` (a :class:`ProofError`) on any mismatch.
    """
    verify_inclusion_hash(leaf_hash(leaf), index, size, proof, root)


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Check that the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``.

    RFC 9162 §2.1.4.2. A proof from size 0 is empty and always consistent (as C2SP tlog-witness
    uses it); equal sizes need an empty proof and equal roots.
    """
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    if not 0 <= old_size <= new_size:
        raise ProofError(
            f"sizes out of order: expected 0 <= old_size <= new_size, got {old_size}, {new_size}"
        )
    if old_size == new_size or old_size == 0:
        if proof:
            raise ProofError(
                f"consistency proof from {old_size} to {new_size}: expected no hashes, "
                f"got {len(proof)}"
            )
        if old_size == new_size and old_root != new_root:
            raise ProofError(
                f"equal sizes {old_size} with different roots: {old_root.hex()} != {new_root.hex()}"
            )
        return
    if not proof:
        raise ProofError(f"consistency proof from {old_size} to {new_size} is empty")
    for i, p in enumerate(proof):
        _check_hash(f"proof[{i}]", p)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(
                f"consistency proof from {old_size} to {new_size} too long: got {len(proof)} hashes"
            )
        if fn & 1 or fn == sn:
            fr = _sha256(NODE_PREFIX + c + fr).digest()
            sr = _sha256(NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(NODE_PREFIX + sr + c).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(
            f"consistency proof from {old_size} to {new_size} too short: got {len(proof)} hashes"
        )
    if fr != old_root:
        raise ProofError(
            f"consistency proof does not match the old root: expected {old_root.hex()}, "
            f"computed {fr.hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"consistency proof does not match the new root: expected {new_root.hex()}, "
            f"computed {sr.hex()}"
        )
