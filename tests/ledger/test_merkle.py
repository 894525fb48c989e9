"""RFC 9162 hashing, proof generation and proof verification: the pure functions over bytes.

The fixed vectors come from transparency-dev/merkle (see tests/vectors/rfc9162.json); the probes
that must fail mirror its ``corruptInclusionProof`` / ``corruptConsistencyProof``. An independent
recursive implementation of the RFC's PATH and SUBPROOF definitions serves as a second oracle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.ledger import (
    EMPTY_ROOT,
    MerkleTree,
    Node,
    ProofError,
    VerificationError,
    complete_subtrees,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_hash,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "rfc9162.json").read_text()
)
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]
INCLUSION = [
    (case["index"], case["size"], [bytes.fromhex(p) for p in case["proof"]])
    for case in VECTORS["inclusion"]
]
CONSISTENCY = [
    (case["old_size"], case["new_size"], [bytes.fromhex(p) for p in case["proof"]])
    for case in VECTORS["consistency"]
]
WRONG_ROOT = hashlib.sha256(b"WrongRoot").digest()
GARBAGE = hashlib.sha256(b"garbage").digest()


# ---------------------------------------------------------------------------------------------
# An independent reference: the recursive definitions of RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1.


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(hashes: Sequence[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _k(len(hashes))
    return node_hash(ref_mth(hashes[:k]), ref_mth(hashes[k:]))


def ref_path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = _k(len(hashes))
    if m < k:
        return [*ref_path(m, hashes[:k]), ref_mth(hashes[k:])]
    return [*ref_path(m - k, hashes[k:]), ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [ref_mth(hashes)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, hashes[:k], whole), ref_mth(hashes[k:])]
    return [*ref_subproof(m - k, hashes[k:], False), ref_mth(hashes[:k])]


# ---------------------------------------------------------------------------------------------
# Corrupted probes, as in transparency-dev/merkle proof/verify_test.go.


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def inclusion_probes(
    leaf: bytes, index: int, size: int, proof: list[bytes], root_: bytes
) -> Iterator[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    yield "index - 1", (leaf, index - 1, size, proof, root_)
    yield "index + 1", (leaf, index + 1, size, proof, root_)
    yield "index ^ 2", (leaf, index ^ 2, size, proof, root_)
    yield "size * 2", (leaf, index, size * 2, proof, root_)
    yield "size // 2", (leaf, index, size // 2, proof, root_)
    yield "wrong leaf", (b"WrongLeaf", index, size, proof, root_)
    yield "empty root", (leaf, index, size, proof, b"")
    yield "root of the empty tree", (leaf, index, size, proof, EMPTY_ROOT)
    yield "wrong root", (leaf, index, size, proof, WRONG_ROOT)
    yield "trailing empty garbage", (leaf, index, size, [*proof, b""], root_)
    yield "trailing garbage", (leaf, index, size, [*proof, GARBAGE], root_)
    yield "trailing root", (leaf, index, size, [*proof, root_], root_)
    yield "preceding empty garbage", (leaf, index, size, [b"", *proof], root_)
    yield "preceding garbage", (leaf, index, size, [GARBAGE, *proof], root_)
    yield "preceding root", (leaf, index, size, [root_, *proof], root_)
    for i, element in enumerate(proof):
        for bit in range(len(element) * 8):
            wrong = list(proof)
            wrong[i] = _flip(element, bit)
            yield f"proof[{i}] bit {bit} flipped", (leaf, index, size, wrong, root_)
    if proof:
        yield "removed component", (leaf, index, size, proof[:-1], root_)
        yield "inserted component", (leaf, index, size, [proof[0], *proof], root_)
    else:
        yield "inserted component", (leaf, index, size, [GARBAGE], root_)


def consistency_probes(
    old: int, new: int, proof: list[bytes], old_root: bytes, new_root: bytes
) -> Iterator[tuple[str, tuple[int, int, list[bytes], bytes, bytes]]]:
    yield "old - 1", (old - 1, new, proof, old_root, new_root)
    yield "old + 1", (old + 1, new, proof, old_root, new_root)
    yield "old ^ 2", (old ^ 2, new, proof, old_root, new_root)
    yield "new * 2", (old, new * 2, proof, old_root, new_root)
    yield "new // 2", (old, new // 2, proof, old_root, new_root)
    yield "wrong old root", (old, new, proof, WRONG_ROOT, new_root)
    yield "wrong new root", (old, new, proof, old_root, WRONG_ROOT)
    yield "empty old root", (old, new, proof, b"", new_root)
    yield "empty new root", (old, new, proof, old_root, b"")
    yield "old root is the empty tree", (old, new, proof, EMPTY_ROOT, new_root)
    yield "swapped roots", (old, new, proof, new_root, old_root)
    yield "empty proof", (old, new, [], old_root, new_root)
    yield "truncated proof", (old, new, proof[:-1], old_root, new_root)
    yield "trailing empty garbage", (old, new, [*proof, b""], old_root, new_root)
    yield "trailing garbage", (old, new, [*proof, GARBAGE], old_root, new_root)
    yield "trailing old root", (old, new, [*proof, old_root], old_root, new_root)
    yield "trailing new root", (old, new, [*proof, new_root], old_root, new_root)
    yield "preceding empty garbage", (old, new, [b"", *proof], old_root, new_root)
    yield "preceding garbage", (old, new, [GARBAGE, *proof], old_root, new_root)
    yield "preceding old root", (old, new, [old_root, *proof], old_root, new_root)
    yield "preceding new root", (old, new, [new_root, *proof], old_root, new_root)
    for i, element in enumerate(proof):
        for bit in range(len(element) * 8):
            wrong = list(proof)
            wrong[i] = _flip(element, bit)
            yield f"proof[{i}] bit {bit} flipped", (old, new, wrong, old_root, new_root)


def _ids(cases: Sequence[tuple[int, int, list[bytes]]]) -> list[str]:
    return [f"{a}-{b}" for a, b, _ in cases]


# ---------------------------------------------------------------------------------------------
# Fixed vectors.


def test_vectors_name_their_source() -> None:
    """The vector file names the upstream files it was copied from."""
    assert "transparency-dev/merkle" in VECTORS["source"]
    assert "proof/verify_test.go" in VECTORS["source"]
    assert "testonly/constants.go" in VECTORS["source"]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_root_matches_vector(size: int) -> None:
    """root() of the first `size` vector leaves equals the published root."""
    assert root(LEAVES[:size]) == ROOTS[size]


def test_empty_root_is_sha256_of_nothing() -> None:
    """The empty tree hashes to SHA-256 of the empty string."""
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == root([])


def test_leaf_and_node_hash_use_domain_prefixes() -> None:
    """leaf_hash prefixes 0x00 and node_hash prefixes 0x01 before SHA-256."""
    assert leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION, ids=_ids(INCLUSION))
def test_inclusion_proof_matches_vector(index: int, size: int, proof: list[bytes]) -> None:
    """inclusion_proof() reproduces the published inclusion proof exactly."""
    assert inclusion_proof(LEAVES[:size], index) == proof


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION, ids=_ids(INCLUSION))
def test_inclusion_vector_verifies(index: int, size: int, proof: list[bytes]) -> None:
    """verify_inclusion() accepts the published inclusion proof against the published root."""
    verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])
    assert root_from_inclusion_proof(leaf_hash(LEAVES[index]), index, size, proof) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION, ids=_ids(INCLUSION))
def test_corrupted_inclusion_probes_fail(index: int, size: int, proof: list[bytes]) -> None:
    """Every corrupted variant of a published inclusion proof raises VerificationError."""
    accepted = []
    for desc, args in inclusion_probes(LEAVES[index], index, size, proof, ROOTS[size]):
        try:
            verify_inclusion(*args)
        except VerificationError:
            continue
        accepted.append(desc)
    assert accepted == []


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY, ids=_ids(CONSISTENCY))
def test_consistency_proof_matches_vector(old: int, new: int, proof: list[bytes]) -> None:
    """consistency_proof() reproduces the published consistency proof exactly."""
    assert consistency_proof(LEAVES[:new], old) == proof


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY, ids=_ids(CONSISTENCY))
def test_consistency_vector_verifies(old: int, new: int, proof: list[bytes]) -> None:
    """verify_consistency() accepts the published consistency proof against the published roots."""
    verify_consistency(old, new, proof, ROOTS[old], ROOTS[new])


NONTRIVIAL_CONSISTENCY = [c for c in CONSISTENCY if c[2]]


@pytest.mark.parametrize(
    ("old", "new", "proof"), NONTRIVIAL_CONSISTENCY, ids=_ids(NONTRIVIAL_CONSISTENCY)
)
def test_corrupted_consistency_probes_fail(old: int, new: int, proof: list[bytes]) -> None:
    """Every corrupted variant of a published consistency proof raises VerificationError."""
    accepted = []
    for desc, args in consistency_probes(old, new, proof, ROOTS[old], ROOTS[new]):
        try:
            verify_consistency(*args)
        except VerificationError:
            continue
        accepted.append(desc)
    assert accepted == []


def test_proof_error_is_a_verification_error() -> None:
    """ProofError is a VerificationError, so callers can catch one type for every failure."""
    assert issubclass(ProofError, VerificationError)
    with pytest.raises(VerificationError):
        verify_inclusion(LEAVES[0], 0, 1, [], WRONG_ROOT)


# ---------------------------------------------------------------------------------------------
# Edge cases of consistency.


def test_consistency_from_zero_to_zero_with_equal_roots() -> None:
    """0 -> 0 with an empty proof and equal roots is consistent."""
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


def test_consistency_from_zero_to_zero_with_different_roots_fails() -> None:
    """0 -> 0 with different roots is refused."""
    with pytest.raises(VerificationError):
        verify_consistency(0, 0, [], EMPTY_ROOT, WRONG_ROOT)


def test_consistency_from_zero_is_always_consistent() -> None:
    """0 -> 1 with an empty proof is consistent whatever the old root (tlog-witness usage)."""
    verify_consistency(0, 1, [], EMPTY_ROOT, ROOTS[1])
    verify_consistency(0, 1, [], WRONG_ROOT, ROOTS[1])


def test_consistency_from_zero_with_a_proof_fails() -> None:
    """0 -> n with a non-empty proof is refused."""
    with pytest.raises(VerificationError):
        verify_consistency(0, 8, [ROOTS[8]], EMPTY_ROOT, ROOTS[8])


def test_consistency_equal_sizes_equal_roots() -> None:
    """1 -> 1 with an empty proof and equal roots is consistent."""
    verify_consistency(1, 1, [], ROOTS[1], ROOTS[1])


def test_consistency_equal_sizes_different_roots_fails() -> None:
    """n -> n with different roots is refused."""
    with pytest.raises(VerificationError):
        verify_consistency(1, 1, [], ROOTS[1], ROOTS[2])


def test_consistency_equal_roots_but_non_empty_proof_fails() -> None:
    """n -> n with equal roots but a non-empty proof is refused."""
    with pytest.raises(VerificationError):
        verify_consistency(4, 4, [ROOTS[4]], ROOTS[4], ROOTS[4])


def test_consistency_old_larger_than_new_fails() -> None:
    """old_size > new_size is refused, even with an empty proof and equal roots."""
    with pytest.raises(VerificationError):
        verify_consistency(2, 1, [], ROOTS[1], ROOTS[1])


def test_consistency_nontrivial_empty_proof_fails() -> None:
    """0 < old < new with an empty proof is refused."""
    with pytest.raises(VerificationError):
        verify_consistency(4, 8, [], ROOTS[4], ROOTS[8])


def test_consistency_proof_from_zero_or_same_size_is_empty() -> None:
    """consistency_proof() is empty from size 0 and from the full size."""
    assert consistency_proof(LEAVES, 0) == []
    assert consistency_proof(LEAVES, len(LEAVES)) == []


def test_consistency_generation_refuses_old_beyond_new() -> None:
    """consistency_proof() refuses an old size larger than the tree."""
    with pytest.raises(ProofError):
        consistency_proof(LEAVES[:3], 4)
    with pytest.raises(ProofError):
        consistency_ranges(-1, 3)


@pytest.mark.parametrize("index", [-1, 8, 9])
def test_inclusion_generation_refuses_out_of_range_index(index: int) -> None:
    """inclusion_proof() refuses an index outside [0, size)."""
    with pytest.raises(ProofError):
        inclusion_proof(LEAVES, index)


def test_inclusion_generation_refuses_empty_tree() -> None:
    """There is no inclusion proof in the empty tree."""
    with pytest.raises(ProofError):
        inclusion_ranges(0, 0)


def test_inclusion_verification_refuses_short_leaf_hash() -> None:
    """verify_inclusion_hash() refuses a leaf hash that is not 32 bytes."""
    with pytest.raises(ProofError):
        verify_inclusion_hash(leaf_hash(LEAVES[0])[:31], 0, 1, [], ROOTS[1])


def test_inclusion_in_size_zero_fails() -> None:
    """verify_inclusion() with size 0 is refused."""
    with pytest.raises(VerificationError):
        verify_inclusion(b"", 0, 0, [], EMPTY_ROOT)


# ---------------------------------------------------------------------------------------------
# Exhaustive comparison with the recursive RFC definitions for small trees.


SMALL = [b"leaf %d" % i for i in range(33)]
SMALL_HASHES = [leaf_hash(x) for x in SMALL]


@pytest.mark.parametrize("size", range(1, len(SMALL) + 1))
def test_small_trees_match_rfc_definitions(size: int) -> None:
    """root, every inclusion and every consistency proof equal the RFC's recursive definitions."""
    leaves, hashes = SMALL[:size], SMALL_HASHES[:size]
    assert root(leaves) == ref_mth(hashes)
    for index in range(size):
        assert inclusion_proof(leaves, index) == ref_path(index, hashes)
    for old in range(1, size + 1):
        assert consistency_proof(leaves, old) == ref_subproof(old, hashes, True)


# ---------------------------------------------------------------------------------------------
# Properties over random trees.

# Unique leaves: with two equal leaves, the proof for one legitimately proves the other's index.
leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=300, unique=True)


@settings(max_examples=40, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_every_inclusion_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    """For any size <= n, the inclusion proof of every index verifies (tree and pure functions)."""
    tree = MerkleTree(leaves)
    size = data.draw(st.integers(1, len(leaves)), label="size")
    root_ = tree.root(size)
    for index in range(size):
        verify_inclusion(leaves[index], index, size, tree.inclusion_proof(index, size), root_)
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(leaves[:size], index)
    assert proof == tree.inclusion_proof(index, size)
    verify_inclusion(leaves[index], index, size, proof, root(leaves[:size]))


@settings(max_examples=40, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_every_consistency_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    """For any m <= n, the consistency proof from m to n verifies (tree and pure functions)."""
    tree = MerkleTree(leaves)
    new = data.draw(st.integers(1, len(leaves)), label="new")
    new_root = tree.root(new)
    for old in range(new + 1):
        verify_consistency(old, new, tree.consistency_proof(old, new), tree.root(old), new_root)
    old = data.draw(st.integers(0, new), label="old")
    proof = consistency_proof(leaves[:new], old)
    assert proof == tree.consistency_proof(old, new)
    verify_consistency(old, new, proof, root(leaves[:old]), root(leaves[:new]))


@st.composite
def inclusion_cases(draw: st.DrawFn) -> tuple[list[bytes], int, int, list[bytes], bytes]:
    leaves = draw(leaf_lists)
    size = draw(st.integers(1, len(leaves)))
    index = draw(st.integers(0, size - 1))
    tree = MerkleTree(leaves[:size])
    return leaves, index, size, tree.inclusion_proof(index), tree.root()


@settings(max_examples=150, deadline=None)
@given(case=inclusion_cases(), data=st.data())
def test_changing_a_leaf_byte_breaks_inclusion(
    case: tuple[list[bytes], int, int, list[bytes], bytes], data: st.DataObject
) -> None:
    """Changing any byte of the leaf (or extending an empty leaf) makes inclusion fail."""
    leaves, index, size, proof, root_ = case
    leaf = bytearray(leaves[index])
    if leaf:
        pos = data.draw(st.integers(0, len(leaf) - 1))
        leaf[pos] ^= data.draw(st.integers(1, 255))
    else:
        leaf.append(data.draw(st.integers(0, 255)))
    with pytest.raises(VerificationError):
        verify_inclusion(bytes(leaf), index, size, proof, root_)


@settings(max_examples=150, deadline=None)
@given(case=inclusion_cases(), data=st.data())
def test_changing_a_proof_byte_breaks_inclusion(
    case: tuple[list[bytes], int, int, list[bytes], bytes], data: st.DataObject
) -> None:
    """Changing any byte of any proof element makes inclusion fail."""
    leaves, index, size, proof, root_ = case
    if not proof:  # a single-leaf tree has no proof elements to change
        return
    i = data.draw(st.integers(0, len(proof) - 1))
    element = bytearray(proof[i])
    element[data.draw(st.integers(0, 31))] ^= data.draw(st.integers(1, 255))
    wrong = [*proof[:i], bytes(element), *proof[i + 1 :]]
    with pytest.raises(VerificationError):
        verify_inclusion(leaves[index], index, size, wrong, root_)


@settings(max_examples=150, deadline=None)
@given(case=inclusion_cases(), data=st.data())
def test_changing_the_index_breaks_inclusion(
    case: tuple[list[bytes], int, int, list[bytes], bytes], data: st.DataObject
) -> None:
    """Claiming any other index (in range or not) makes inclusion fail."""
    leaves, index, size, proof, root_ = case
    other = data.draw(st.integers(-2, size + 2).filter(lambda j: j != index))
    with pytest.raises(VerificationError):
        verify_inclusion(leaves[index], other, size, proof, root_)


@settings(max_examples=150, deadline=None)
@given(case=inclusion_cases(), data=st.data())
def test_changing_the_size_breaks_inclusion(
    case: tuple[list[bytes], int, int, list[bytes], bytes], data: st.DataObject
) -> None:
    """Claiming twice or half the size makes inclusion fail.

    RFC 9162 §2.1.3.2 binds the size only through the shape of the path: some other sizes
    (e.g. the proof of leaf 1 in a tree of 5 checked as size 6) do verify, which is why a size
    is only meaningful together with a signed checkpoint. So only the upstream probes are used.
    """
    leaves, index, size, proof, root_ = case
    other = data.draw(st.sampled_from([size * 2, size // 2, size * 2 + 1, 0, -size]))
    with pytest.raises(VerificationError):
        verify_inclusion(leaves[index], index, other, proof, root_)


@settings(max_examples=150, deadline=None)
@given(case=inclusion_cases(), data=st.data())
def test_changing_the_root_breaks_inclusion(
    case: tuple[list[bytes], int, int, list[bytes], bytes], data: st.DataObject
) -> None:
    """Changing any byte of the root makes inclusion fail."""
    leaves, index, size, proof, root_ = case
    wrong = bytearray(root_)
    wrong[data.draw(st.integers(0, 31))] ^= data.draw(st.integers(1, 255))
    with pytest.raises(VerificationError):
        verify_inclusion(leaves[index], index, size, proof, bytes(wrong))


@st.composite
def consistency_cases(draw: st.DrawFn) -> tuple[int, int, list[bytes], bytes, bytes]:
    leaves = draw(st.lists(st.binary(max_size=12), min_size=2, max_size=300))
    new = draw(st.integers(2, len(leaves)))
    old = draw(st.integers(1, new - 1))
    tree = MerkleTree(leaves[:new])
    return old, new, tree.consistency_proof(old), tree.root(old), tree.root()


@settings(max_examples=150, deadline=None)
@given(case=consistency_cases(), data=st.data())
def test_changing_a_proof_byte_breaks_consistency(
    case: tuple[int, int, list[bytes], bytes, bytes], data: st.DataObject
) -> None:
    """Changing any byte of any consistency proof element makes verification fail."""
    old, new, proof, old_root, new_root = case
    i = data.draw(st.integers(0, len(proof) - 1))
    element = bytearray(proof[i])
    element[data.draw(st.integers(0, 31))] ^= data.draw(st.integers(1, 255))
    wrong = [*proof[:i], bytes(element), *proof[i + 1 :]]
    with pytest.raises(VerificationError):
        verify_consistency(old, new, wrong, old_root, new_root)


@settings(max_examples=150, deadline=None)
@given(case=consistency_cases(), data=st.data(), which=st.sampled_from(["old", "new"]))
def test_changing_a_root_breaks_consistency(
    case: tuple[int, int, list[bytes], bytes, bytes], data: st.DataObject, which: str
) -> None:
    """Changing any byte of the old or the new root makes consistency verification fail."""
    old, new, proof, old_root, new_root = case
    wrong = bytearray(old_root if which == "old" else new_root)
    wrong[data.draw(st.integers(0, 31))] ^= data.draw(st.integers(1, 255))
    roots = (bytes(wrong), new_root) if which == "old" else (old_root, bytes(wrong))
    with pytest.raises(VerificationError):
        verify_consistency(old, new, proof, *roots)


# ---------------------------------------------------------------------------------------------
# complete_subtrees.


@settings(max_examples=300, deadline=None)
@given(begin=st.integers(0, 1 << 40), length=st.integers(1, 1 << 20))
def test_complete_subtrees_cover_the_range_exactly(begin: int, length: int) -> None:
    """complete_subtrees tiles [begin, end) left to right with aligned power-of-two subtrees."""
    end = begin + length
    nodes = complete_subtrees(begin, end)
    at = begin
    for node in nodes:
        width = 1 << node.level
        assert node.index * width == at  # starts where the previous one ended, so aligned
        at += width
    assert at == end
    levels = [n.level for n in nodes]
    # Sizes rise then fall (greedy tiling): at most two nodes per level.
    assert all(levels.count(level) <= 2 for level in set(levels))


@settings(max_examples=300, deadline=None)
@given(size=st.integers(1, 1 << 40))
def test_complete_subtrees_of_a_prefix_follow_the_binary_digits(size: int) -> None:
    """[0, size) decomposes into one subtree per set bit of size, largest first."""
    nodes = complete_subtrees(0, size)
    assert [n.level for n in nodes] == [
        b for b in reversed(range(size.bit_length())) if size >> b & 1
    ]


def test_complete_subtrees_example() -> None:
    """[4, 11) is the subtrees [4, 8), [8, 10) and [10, 11)."""
    assert complete_subtrees(4, 11) == [Node(2, 1), Node(1, 4), Node(0, 10)]


@pytest.mark.parametrize(("begin", "end"), [(3, 3), (5, 2), (-1, 4)])
def test_complete_subtrees_refuses_empty_ranges(begin: int, end: int) -> None:
    """An empty or negative range is refused with ProofError."""
    with pytest.raises(ProofError):
        complete_subtrees(begin, end)
