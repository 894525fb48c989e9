"""`LogStore`: an auditor's read-only view of a log's tables, in pages (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from pausewatch.ledger import (
    LogStore,
    MerkleTree,
    Node,
    Note,
    PendingEntry,
    PersistentLog,
    Signer,
    encode_entry,
)
from pausewatch.ledger._log import _completed_between

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def all_nodes(n: int) -> set[Node]:
    """Every complete subtree of a tree of ``n`` leaves."""
    return {Node(level, i) for level in range(n.bit_length()) for i in range(n >> level)}


def completed(start: int, end: int | None, n: int) -> set[Node]:
    """The nodes of a tree of ``n`` leaves that ``_completed_between(start, end)`` selects."""
    out = set()
    for level, first, last in _completed_between(start, end):
        stop = (n >> level) - 1 if last is None else min(last, (n >> level) - 1)
        out |= {Node(level, i) for i in range(first, stop + 1)}
    return out


@given(st.integers(1, 3000), st.lists(st.integers(0, 3000), max_size=6))
def test_pages_select_each_complete_subtree_exactly_once(n: int, cuts: list[int]) -> None:
    """Cutting [0, n) into pages, the subtrees completed in each page are disjoint and together
    are every complete subtree of the tree; none is completed at or after n."""
    bounds = sorted({0, n, *(c for c in cuts if c < n)})
    seen: set[Node] = set()
    for start, end in itertools.pairwise(bounds):
        page = completed(start, end, n)
        assert not page & seen
        assert all(start <= ((x.index + 1) << x.level) - 1 < end for x in page)
        seen |= page
    assert seen == all_nodes(n)
    assert not completed(n, None, n)


def test_log_store_reads_what_the_log_wrote(engine: Engine, log_signer: Signer) -> None:
    """Entries, checkpoint notes with their cosignatures, the identity and every subtree hash
    read back in pages equal what the log wrote."""
    log = PersistentLog(engine, log_signer)
    store = LogStore(engine)
    assert store.identity() == (log.origin, log.verifier.to_string())
    store.PAGE = 4  # type: ignore[misc]
    data = []
    for count in (3, 5, 1, 4):
        pending = [PendingEntry(b'{"n":%d}' % (len(data) + i)) for i in range(count)]
        log.append_batch(pending, T0)
        data += [encode_entry(p.payload, T0) for p in pending]
    witness = Signer.generate("w.example")
    text = Note.from_text(log.checkpoint_note(8)).text
    log.add_cosignature(
        8, witness.verifier(), log.checkpoint_note(8) + witness.cosignature_line(text, 7)
    )
    assert list(store.entries()) == list(enumerate(data))
    notes = list(store.checkpoint_notes())
    assert notes == [log.checkpoint_note(s) for s in (3, 8, 9, 13)]
    assert "w.example" in notes[1]
    tree = MerkleTree(data)
    stored = {**store.nodes_completed(0, 5), **store.nodes_completed(5, 13)}
    assert stored == {node: tree.node(node) for node in all_nodes(13)}
    assert store.nodes_completed(13) == {}
