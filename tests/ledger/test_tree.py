"""The in-memory trees: MerkleTree (every complete subtree) and CompactRange (the right edge)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.ledger import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    Node,
    ProofError,
    complete_subtrees,
    leaf_hash,
    root,
)

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "rfc9162.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]

leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=300)


def test_tree_reproduces_vector_roots_and_proofs() -> None:
    """MerkleTree serves the published roots and proofs for every prefix size."""
    tree = MerkleTree(LEAVES)
    assert [tree.root(n) for n in range(len(ROOTS))] == ROOTS
    for case in VECTORS["inclusion"]:
        proof = tree.inclusion_proof(case["index"], case["size"])
        assert [p.hex() for p in proof] == case["proof"]
    for case in VECTORS["consistency"]:
        proof = tree.consistency_proof(case["old_size"], case["new_size"])
        assert [p.hex() for p in proof] == case["proof"]


def test_empty_tree() -> None:
    """A tree without leaves has size 0 and the empty root."""
    tree = MerkleTree()
    assert tree.size == 0
    assert tree.root() == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def test_append_returns_consecutive_indices() -> None:
    """MerkleTree.append returns the index of each new leaf and grows size by one."""
    tree = MerkleTree()
    assert [tree.append(x) for x in LEAVES] == list(range(len(LEAVES)))
    assert tree.size == len(LEAVES)


def test_append_leaf_hash_equals_append() -> None:
    """Appending leaf hashes builds the same tree as appending raw entries."""
    by_hash = MerkleTree()
    for x in LEAVES:
        by_hash.append_leaf_hash(leaf_hash(x))
    assert by_hash.root() == MerkleTree(LEAVES).root() == ROOTS[-1]


@pytest.mark.parametrize("size", [-1, 9])
def test_root_refuses_size_out_of_range(size: int) -> None:
    """root(size) refuses a size below 0 or above the number of leaves."""
    with pytest.raises(ProofError):
        MerkleTree(LEAVES).root(size)


def test_proofs_refuse_size_beyond_tree() -> None:
    """Proofs for a size larger than the tree are refused."""
    tree = MerkleTree(LEAVES)
    with pytest.raises(ProofError):
        tree.inclusion_proof(0, 9)
    with pytest.raises(ProofError):
        tree.consistency_proof(1, 9)
    with pytest.raises(ProofError):
        tree.inclusion_proof(8)


def test_node_refuses_incomplete_subtree() -> None:
    """node() refuses a subtree that is not complete yet, at an existing or a missing level."""
    tree = MerkleTree(LEAVES[:5])
    assert tree.node(Node(2, 0)) == root(LEAVES[:4])
    with pytest.raises(ProofError):
        tree.node(Node(2, 1))
    with pytest.raises(ProofError):
        tree.node(Node(5, 0))


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists)
def test_tree_compact_range_and_root_agree(leaves: list[bytes]) -> None:
    """MerkleTree, CompactRange and the pure root() agree on the root of every prefix."""
    tree = MerkleTree(leaves)
    compact = CompactRange()
    for n, data in enumerate(leaves, start=1):
        compact.append(leaf_hash(data))
        assert compact.size == n
        assert compact.root() == tree.root(n)
    assert tree.root() == root(leaves) == compact.root()


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists)
def test_compact_range_reports_every_complete_subtree_once(leaves: list[bytes]) -> None:
    """CompactRange.append reports each complete subtree exactly once, with its true hash."""
    tree = MerkleTree(leaves)
    compact = CompactRange()
    seen: list[Node] = []
    for data in leaves:
        created = compact.append(leaf_hash(data))
        assert created[0] == (Node(0, compact.size - 1), leaf_hash(data))
        assert [node.level for node, _ in created] == list(range(len(created)))
        for node, h in created:
            assert tree.node(node) == h
            seen.append(node)
    n = len(leaves)
    expected = {Node(level, i) for level in range(n.bit_length()) for i in range(n >> level)}
    assert len(seen) == len(expected)
    assert set(seen) == expected


@settings(max_examples=60, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_compact_range_resumes_from_stored_hashes(leaves: list[bytes], data: st.DataObject) -> None:
    """A CompactRange rebuilt from stored subtree hashes continues to the same roots."""
    tree = MerkleTree(leaves)
    cut = data.draw(st.integers(0, len(leaves)))
    hashes = [tree.node(node) for node in CompactRange.nodes(cut)]
    resumed = CompactRange(cut, hashes)
    assert resumed.root() == tree.root(cut)
    for n in range(cut, len(leaves)):
        resumed.append(leaf_hash(leaves[n]))
        assert resumed.root() == tree.root(n + 1)


def test_compact_range_nodes_are_the_prefix_decomposition() -> None:
    """CompactRange.nodes(size) is complete_subtrees(0, size), and empty for size 0."""
    assert CompactRange.nodes(0) == []
    assert (
        CompactRange.nodes(13)
        == complete_subtrees(0, 13)
        == [
            Node(3, 0),
            Node(2, 2),
            Node(0, 12),
        ]
    )


@pytest.mark.parametrize(("size", "count"), [(0, 1), (1, 0), (3, 1), (3, 3), (8, 2)])
def test_compact_range_refuses_wrong_number_of_hashes(size: int, count: int) -> None:
    """CompactRange(size, hashes) needs exactly one hash per subtree of the decomposition."""
    with pytest.raises(ProofError):
        CompactRange(size, [EMPTY_ROOT] * count)
