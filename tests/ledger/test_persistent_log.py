"""The persistent log and its sequencer, on SQLite and PostgreSQL, against the in-memory tree.

:class:`MerkleTree` over the same entry bytes is the reference for every root and proof.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, func, select, text, update
from sqlalchemy.exc import DBAPIError

from pausewatch.errors import (
    ConfigurationError,
    ConsistencyError,
    LogError,
    NotFoundError,
    ProofError,
    VerificationError,
)
from pausewatch.ledger import (
    EMPTY_ROOT,
    Appended,
    Checkpoint,
    MerkleTree,
    Node,
    Note,
    PendingEntry,
    PersistentLog,
    Sequencer,
    SignedCheckpoint,
    Signer,
    consistency_ranges,
    encode_entry,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from pausewatch.ledger._merkle import nodes_for
from pausewatch.store import log_entries, log_nodes, make_engine, sqlite_url, upgrade

T0 = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """A fixed time ``seconds`` after T0."""
    return T0 + timedelta(seconds=seconds)


def payload(n: int) -> bytes:
    """A small canonical JSON payload."""
    return b'{"n":%d}' % n


def key(n: int) -> bytes:
    """A 32-byte dedup key."""
    return n.to_bytes(32, "big")


class Mirror:
    """A log and a MerkleTree fed the same entry bytes."""

    def __init__(self, log: PersistentLog) -> None:
        self.log = log
        self.tree = MerkleTree()
        self.data: list[bytes] = []
        self.checkpoints: list[int] = []
        self._next = 0
        self._batches = 0

    def append(self, count: int) -> list[Appended]:
        """Append ``count`` fresh payloads in one batch; check indices and sizes."""
        now = at(self._batches)
        self._batches += 1
        pending = [PendingEntry(payload(self._next + i)) for i in range(count)]
        self._next += count
        start = self.log.size
        got = self.log.append_batch(pending, now)
        assert [a.index for a in got] == list(range(start, start + count))
        for p, a in zip(pending, got, strict=True):
            data = encode_entry(p.payload, now)
            assert a.leaf_hash == leaf_hash(data)
            assert a.integrated_at == now
            assert not a.duplicate
            self.tree.append(data)
            self.data.append(data)
        assert self.log.size == self.tree.size
        self.checkpoints.append(self.log.size)
        return got


def stored_size(engine: Engine) -> int:
    """Number of rows in log_entries, read on a fresh connection."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(log_entries)).scalar_one())


def stored_rows(engine: Engine) -> dict[int, bytes]:
    """Every stored entry's bytes by index, read on a fresh connection."""
    with engine.connect() as conn:
        rows = conn.execute(select(log_entries.c.idx, log_entries.c.data))
        return {int(r.idx): bytes(r.data) for r in rows}


def node_count(engine: Engine) -> int:
    """Number of rows in log_nodes."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(log_nodes)).scalar_one())


def opened(log: PersistentLog, size: int | None = None) -> SignedCheckpoint:
    """The checkpoint note of ``size`` (default: newest), opened with the log's key."""
    return SignedCheckpoint.open(log.checkpoint_note(size), log.verifier)


@pytest.fixture
def log(engine: Engine, log_signer: Signer) -> PersistentLog:
    """A new, empty persistent log on both backends."""
    return PersistentLog(engine, log_signer)


# -- appending, roots and proofs ----------------------------------------------------------------


def test_append_batch_returns_consecutive_indices(log: PersistentLog, engine: Engine) -> None:
    """Batches get consecutive indices from the durable size, which grows by the batch."""
    assert log.size == 0
    assert log.root() == EMPTY_ROOT
    m = Mirror(log)
    m.append(3)
    m.append(1)
    m.append(5)
    assert log.size == 9
    assert stored_size(engine) == 9
    assert log.root() == m.tree.root()


def test_empty_batch_appends_nothing(log: PersistentLog) -> None:
    """An empty batch returns no results, appends nothing and signs no checkpoint."""
    assert log.append_batch([], at(0)) == []
    assert log.size == 0
    assert log.checkpoint_sizes() == []
    assert log.latest_note() is None


def test_proofs_match_merkle_tree(log: PersistentLog) -> None:
    """Roots, inclusion and consistency proofs equal MerkleTree's for many sizes, and verify."""
    m = Mirror(log)
    for count in (1, 1, 1, 2, 3, 5, 8, 13, 1, 7, 16, 9):
        m.append(count)
    n = log.size
    assert n == 67
    for size in range(n + 1):
        assert log.root_at(size) == m.tree.root(size)
    sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 66, 67]
    for size in sizes:
        root = m.tree.root(size)
        for index in range(size):
            proof = log.inclusion_proof(index, size)
            assert proof == m.tree.inclusion_proof(index, size)
            verify_inclusion(m.data[index], index, size, proof, root)
        for old in range(size + 1):
            proof = log.consistency_proof(old, size)
            assert proof == m.tree.consistency_proof(old, size)
            verify_consistency(old, size, proof, m.tree.root(old), root)
    # Defaults: the whole durable tree.
    assert log.inclusion_proof(10) == m.tree.inclusion_proof(10)
    assert log.consistency_proof(10) == m.tree.consistency_proof(10)


def test_proofs_reject_out_of_range_sizes(log: PersistentLog) -> None:
    """Proofs and roots for sizes beyond the durable tree, or bad indices, raise ProofError."""
    Mirror(log).append(5)
    with pytest.raises(ProofError):
        log.root_at(6)
    with pytest.raises(ProofError):
        log.root_at(-1)
    with pytest.raises(ProofError):
        log.inclusion_proof(0, 6)
    with pytest.raises(ProofError):
        log.inclusion_proof(5, 5)
    with pytest.raises(ProofError):
        log.consistency_proof(3, 6)
    with pytest.raises(ProofError):
        log.consistency_proof(4, 3)


def test_proofs_send_one_fixed_statement_to_the_driver(log: PersistentLog, engine: Engine) -> None:
    """Each proof and root is one statement sent as fixed text (no SQLAlchemy query compiled
    per call), the same text for the same number of stored hashes (ADR 0049)."""
    Mirror(log).append(100)
    sent: list[tuple[str, bool]] = []

    def seen(_c: Any, _cur: Any, statement: str, _p: Any, context: Any, _many: bool) -> None:
        sent.append((statement, context.compiled is not None))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        log.inclusion_proof(5, 64)
        log.inclusion_proof(9, 64)
        log.consistency_proof(3, 100)
        log.root_at(77)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(sent) == 4
    assert [compiled for _, compiled in sent] == [False] * 4
    assert sent[0][0] == sent[1][0]


def _explained(engine: Engine, statement: str, params: Any) -> str:
    """The plan each engine chooses for ``statement``, as one string. PostgreSQL is told not to
    scan the table, which on a table this small it would prefer: what is checked is that the
    index matches the query, not the planner's choice at this size."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            return " ".join(str(r[-1]) for r in rows)
        conn.exec_driver_sql("SET enable_seqscan = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
        return " ".join(str(r[0]) for r in rows)


def test_leaf_hash_lookup_reads_an_index_partitioned_by_block(
    log: PersistentLog, engine: Engine
) -> None:
    """No index on log_entries keys on the leaf hash alone (each append would write it into a
    random page of an index that grows with the log, ADR 0049 and 0053); the lookup finds
    entries through the (block, 8-byte prefix) index, and two entries sharing a prefix are told
    apart by the whole hash."""
    got = Mirror(log).append(30)
    sql = (
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log_entries' "
        "AND sql IS NOT NULL"
        if engine.dialect.name == "sqlite"
        else "SELECT indexdef FROM pg_indexes WHERE tablename = 'log_entries'"
    )
    with engine.connect() as conn:
        definitions = [str(d) for d in conn.execute(text(sql)).scalars()]
    leaf = [d for d in definitions if "leaf_hash" in d]
    assert len(leaf) == 1, definitions
    assert "idx >> 18" in leaf[0], leaf
    assert "substr(leaf_hash, 1, 8)" in leaf[0], leaf
    sent: list[tuple[str, Any]] = []

    def seen(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        sent.append((statement, params))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert [log.index_of(a.leaf_hash) for a in got] == list(range(30))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # A hash sharing the first 8 bytes of a logged one is not that entry.
    with pytest.raises(NotFoundError):
        log.index_of(got[3].leaf_hash[:8] + bytes(24))
    statement, params = sent[3]
    assert "ix_log_entries_leaf_block" in _explained(engine, statement, params)


def test_leaf_hash_lookup_finds_the_lowest_index_in_any_block(
    log: PersistentLog, engine: Engine
) -> None:
    """index_of() probes every block of 2**18 entries below the log's size and returns the
    lowest index with the whole hash: entries in different blocks, a hash stored in two blocks,
    and one stored only at or past the size (not found). The rows are inserted directly and the
    size set on the log (white box): appending three blocks would take minutes."""
    block = 1 << 18
    h = [leaf_hash(b"%d" % n) for n in range(6)]
    twin = h[0][:8] + bytes(24)  # same prefix as h[0], another hash
    rows = [
        (0, h[1]),
        (5, twin),
        (block - 1, h[2]),
        (block, h[0]),
        (block + 7, h[3]),
        (2 * block + 1, h[0]),
        (2 * block + 2, h[3]),
        (2 * block + 3, h[4]),
        (3 * block, h[5]),
    ]
    with engine.begin() as conn:
        conn.execute(
            log_entries.insert(),
            [
                {"idx": i, "leaf_hash": lh, "dedup_key": None, "integrated_us": 0, "data": b"{}"}
                for i, lh in rows
            ],
        )
    log._head = (3 * block, *log._head[1:])  # the size only: index_of reads no more
    assert log.index_of(h[1]) == 0
    assert log.index_of(twin) == 5
    assert log.index_of(h[2]) == block - 1
    assert log.index_of(h[0]) == block
    assert log.index_of(h[3]) == block + 7
    assert log.index_of(h[4]) == 2 * block + 3
    with pytest.raises(NotFoundError):
        log.index_of(h[5])  # at the size: not yet in the log
    log._head = (2 * block + 3, *log._head[1:])
    with pytest.raises(NotFoundError):
        log.index_of(h[4])


def test_root_at_historical_sizes(log: PersistentLog) -> None:
    """root_at(size) gives the root each earlier checkpoint signed, and the empty root at 0."""
    m = Mirror(log)
    for count in (2, 3, 1, 10, 4):
        m.append(count)
    assert log.root_at(0) == EMPTY_ROOT
    assert log.root_at(log.size) == log.root()
    for size in m.checkpoints:
        assert log.root_at(size) == opened(log, size).checkpoint.root_hash == m.tree.root(size)


# -- reading entries ----------------------------------------------------------------------------


def test_entries_and_lookups(log: PersistentLog) -> None:
    """entries()/entry()/index_of() return the stored bytes; unknown or out of range is NotFound."""
    m = Mirror(log)
    m.append(4)
    m.append(3)
    all_entries = log.entries(0, 100)
    assert [e.index for e in all_entries] == list(range(7))
    assert [e.data for e in all_entries] == m.data
    assert [e.leaf_hash for e in all_entries] == [leaf_hash(d) for d in m.data]
    assert [e.integrated_at for e in all_entries] == [at(0)] * 4 + [at(1)] * 3
    assert [e.index for e in log.entries(2, 3)] == [2, 3, 4]
    assert log.entries(7, 10) == []
    assert log.entries(3, 0) == []
    assert list(log.entries_since(5)) == all_entries[5:]
    for e in all_entries:
        assert log.entry(e.index) == e
        assert log.index_of(e.leaf_hash) == e.index
    for bad in (-1, 7, 100):
        with pytest.raises(NotFoundError):
            log.entry(bad)
    with pytest.raises(NotFoundError):
        log.entries(-1, 5)
    with pytest.raises(NotFoundError):
        log.index_of(leaf_hash(b"never logged"))


def test_entry_heads_are_the_entries_without_their_bytes(log: PersistentLog) -> None:
    """entry_heads() gives each entry's index, leaf hash and time, as entries() does, for the
    same ranges; a negative start is NotFound."""
    m = Mirror(log)
    m.append(4)
    m.append(3)
    for start, limit in ((0, 100), (2, 3), (6, 1), (7, 10), (3, 0)):
        assert log.entry_heads(start, limit) == [
            (e.index, e.leaf_hash, e.integrated_at) for e in log.entries(start, limit)
        ]
    with pytest.raises(NotFoundError):
        log.entry_heads(-1, 5)


def test_index_of_returns_first_of_equal_entries(log: PersistentLog) -> None:
    """index_of() of a leaf logged twice (same bytes, no dedup key) is the first index."""
    got = log.append_batch([PendingEntry(payload(1)), PendingEntry(payload(1))], at(0))
    assert [a.index for a in got] == [0, 1]
    assert got[0].leaf_hash == got[1].leaf_hash
    assert log.index_of(got[0].leaf_hash) == 0


# -- dedup keys ---------------------------------------------------------------------------------


def test_dedup_key_across_batches(log: PersistentLog) -> None:
    """Resubmitting a logged dedup key appends nothing and returns the first index, duplicate."""
    first = log.append_batch(
        [PendingEntry(payload(1), key(1)), PendingEntry(payload(2), key(2))], at(0)
    )
    again = log.append_batch(
        [PendingEntry(payload(3), key(3)), PendingEntry(payload(99), key(1))], at(1)
    )
    assert [(a.index, a.duplicate) for a in again] == [(2, False), (0, True)]
    assert again[1].leaf_hash == first[0].leaf_hash
    assert again[1].integrated_at == at(0)
    assert log.size == 3
    assert log.index_of_dedup(key(1)) == 0
    assert log.index_of_dedup(key(3)) == 2
    assert log.index_of_dedup(key(42)) is None


def test_dedup_key_twice_in_one_batch(log: PersistentLog) -> None:
    """A dedup key repeated within one batch is appended once; the repeat gets its index."""
    got = log.append_batch(
        [
            PendingEntry(payload(1), key(7)),
            PendingEntry(payload(2)),
            PendingEntry(payload(3), key(7)),
        ],
        at(0),
    )
    assert [(a.index, a.duplicate) for a in got] == [(0, False), (1, False), (0, True)]
    assert got[2].leaf_hash == got[0].leaf_hash
    assert log.size == 2
    assert [e.data for e in log.entries(0, 10)] == [
        encode_entry(payload(1), at(0)),
        encode_entry(payload(2), at(0)),
    ]


def test_batch_of_only_duplicates_signs_nothing(log: PersistentLog) -> None:
    """A batch whose entries are all duplicates appends nothing and signs no new checkpoint."""
    log.append_batch([PendingEntry(payload(1), key(1))], at(0))
    note = log.latest_note()
    got = log.append_batch([PendingEntry(payload(1), key(1))] * 2, at(1))
    assert [(a.index, a.duplicate) for a in got] == [(0, True), (0, True)]
    assert log.size == 1
    assert log.checkpoint_sizes() == [1]
    assert log.latest_note() == note


# -- reopening ----------------------------------------------------------------------------------


def test_reopen_restores_state_and_continues(engine: Engine, log_signer: Signer) -> None:
    """A new PersistentLog on the same store restores size and root and appends consistently."""
    m = Mirror(PersistentLog(engine, log_signer))
    m.append(5)
    m.append(6)
    reopened = PersistentLog(engine, log_signer)
    assert reopened.size == 11
    assert reopened.root() == m.tree.root()
    assert reopened.latest_note() == m.log.latest_note()
    m.log = reopened
    m.append(7)
    m.append(1)
    third = PersistentLog(engine, log_signer)
    assert third.size == 19
    assert third.root() == m.tree.root()
    for size in m.checkpoints:
        assert third.root_at(size) == m.tree.root(size)
        proof = third.consistency_proof(size)
        verify_consistency(size, 19, proof, m.tree.root(size), third.root())
    for i, data in enumerate(m.data):
        assert third.entry(i).data == data
        verify_inclusion(data, i, 19, third.inclusion_proof(i), third.root())


def test_reopen_with_another_key_is_refused(engine: Engine, log_signer: Signer) -> None:
    """Opening a store with a different log key (or the same key under another name) fails."""
    PersistentLog(engine, log_signer).append_batch([PendingEntry(payload(1))], at(0))
    with pytest.raises(ConfigurationError):
        PersistentLog(engine, Signer.generate("test.example/log"))
    with pytest.raises(ConfigurationError):
        PersistentLog(engine, Signer("test.example/other", log_signer.private_key))
    assert PersistentLog(engine, log_signer).size == 1


def test_reopen_empty_store_with_another_key_is_refused(engine: Engine, log_signer: Signer) -> None:
    """The store's identity is fixed when the log is created, even before the first entry."""
    PersistentLog(engine, log_signer)
    with pytest.raises(ConfigurationError):
        PersistentLog(engine, Signer.generate("test.example/log"))


# -- checkpoints --------------------------------------------------------------------------------


def test_every_batch_signs_a_checkpoint(log: PersistentLog) -> None:
    """Each batch yields a signed checkpoint whose size and root match, consistent with the last."""
    with pytest.raises(NotFoundError):
        log.checkpoint_note()
    m = Mirror(log)
    for count in (1, 2, 5, 3, 8, 1):
        m.append(count)
        latest = SignedCheckpoint.open(log.latest_note() or "", log.verifier)
        assert latest.checkpoint == Checkpoint("test.example/log", log.size, log.root())
        assert log.checkpoint_note() == log.latest_note()
    assert log.checkpoint_sizes() == m.checkpoints == [1, 3, 8, 11, 19, 20]
    assert log.checkpoint_sizes(2, 2) == [8, 11]
    previous: Checkpoint | None = None
    for size in m.checkpoints:
        cp = opened(log, size).checkpoint
        assert cp.origin == log.origin
        assert (cp.size, cp.root_hash) == (size, m.tree.root(size))
        if previous is not None:
            proof = log.consistency_proof(previous.size, cp.size)
            verify_consistency(previous.size, cp.size, proof, previous.root_hash, cp.root_hash)
        previous = cp
    with pytest.raises(NotFoundError):
        log.checkpoint_note(4)


def test_checkpoint_does_not_open_with_another_key(log: PersistentLog) -> None:
    """A checkpoint note does not open with a verifier of another key under the same name."""
    Mirror(log).append(2)
    other = Signer.generate("test.example/log").verifier()
    with pytest.raises(VerificationError):
        SignedCheckpoint.open(log.checkpoint_note(), other)


def test_refuses_to_sign_inconsistent_checkpoint(
    engine: Engine, log: PersistentLog, log_signer: Signer
) -> None:
    """A tampered stored subtree hash makes the next append fail and roll back entirely."""
    m = Mirror(log)
    m.append(5)
    old_size, new_size = 5, 8
    # The new root comes from the log's in-memory right edge, the proof from the stored hashes:
    # tamper with a node that the consistency proof 5 -> 8 reads and that was stored before
    # this append (so the append does not write it afresh).
    needed = nodes_for(consistency_ranges(old_size, new_size))
    before = [n for n in needed if (n.index + 1) << n.level <= old_size]
    target = max(before, key=lambda n: n.level)
    assert target == Node(2, 0)
    nodes_before = node_count(engine)
    with engine.begin() as conn:
        original = conn.execute(
            select(log_nodes.c.hash).where(
                log_nodes.c.level == target.level, log_nodes.c.idx == target.index
            )
        ).scalar_one()
        conn.execute(
            update(log_nodes)
            .where(log_nodes.c.level == target.level, log_nodes.c.idx == target.index)
            .values(hash=b"\xee" * 32)
        )
    note = log.latest_note()
    with pytest.raises(ConsistencyError, match="refusing to sign checkpoint 8"):
        log.append_batch([PendingEntry(payload(100 + i)) for i in range(3)], at(1))
    assert log.size == 5
    assert log.latest_note() == note
    assert stored_size(engine) == 5
    assert log.checkpoint_sizes() == [5]
    assert node_count(engine) == nodes_before
    # A fresh instance notices the tampered store too.
    with pytest.raises(ConsistencyError):
        PersistentLog(engine, log_signer)
    # Once repaired, the same instance appends as if nothing had happened.
    with engine.begin() as conn:
        conn.execute(
            update(log_nodes)
            .where(log_nodes.c.level == target.level, log_nodes.c.idx == target.index)
            .values(hash=original)
        )
    m.append(3)
    assert log.root() == m.tree.root(8)
    assert PersistentLog(engine, log_signer).root() == m.tree.root(8)


# -- cosignatures -------------------------------------------------------------------------------


def cosign(log: PersistentLog, witness: Signer, size: int, timestamp: int) -> str:
    """The checkpoint note of ``size`` with ``witness``'s cosignature line appended."""
    note = log.checkpoint_note(size, with_cosignatures=False)
    checkpoint_text = Note.from_text(note).text
    return note + witness.cosignature_line(checkpoint_text, timestamp)


def test_add_cosignature_stores_valid_cosignature(log: PersistentLog) -> None:
    """A valid witness cosignature is stored and served with the checkpoint note."""
    Mirror(log).append(3)
    witness = Signer.generate("witness.example/w1")
    ts = int(at(5).timestamp())
    log.add_cosignature(3, witness.verifier(), cosign(log, witness, 3, ts))
    note = log.checkpoint_note(3)
    assert note.startswith(log.checkpoint_note(3, with_cosignatures=False))
    signed = SignedCheckpoint.open(note, log.verifier, [witness.verifier()])
    assert [(c.name, c.timestamp) for c in signed.cosignatures] == [("witness.example/w1", ts)]
    assert signed.witnessed(1)
    assert log.cosigned_sizes("witness.example/w1") == 3
    # Storing it again is harmless.
    log.add_cosignature(3, witness.verifier(), cosign(log, witness, 3, ts + 1))
    assert log.checkpoint_note(3) == note


def test_add_cosignature_refuses_invalid(log: PersistentLog) -> None:
    """Forged, misdirected or missing cosignatures are refused and nothing is stored."""
    m = Mirror(log)
    m.append(2)
    m.append(2)
    witness = Signer.generate("witness.example/w1")
    impostor = Signer("witness.example/w1", Signer.generate("x").private_key)
    ts = int(at(5).timestamp())
    plain4 = log.checkpoint_note(4, with_cosignatures=False)
    text2 = Note.from_text(log.checkpoint_note(2, with_cosignatures=False)).text
    bad_notes = {
        "another key under the witness's name": cosign(log, impostor, 4, ts),
        "a cosignature over another checkpoint": plain4 + witness.cosignature_line(text2, ts),
        "the log's own signature only": plain4,
        "a plain signature instead of a cosignature": plain4
        + witness.signature_line(Note.from_text(plain4).text),
    }
    for why, bad in bad_notes.items():
        try:
            log.add_cosignature(4, witness.verifier(), bad)
        except VerificationError:
            continue
        pytest.fail(f"add_cosignature accepted {why}")
    # A valid cosignature presented for the wrong size.
    with pytest.raises(VerificationError):
        log.add_cosignature(2, witness.verifier(), cosign(log, witness, 4, ts))
    # A note not signed by the log at all.
    forged_log = Signer("test.example/log", Signer.generate("x").private_key)
    forged_text = Checkpoint("test.example/log", 4, b"\x11" * 32).to_text()
    forged = forged_text + "\n" + forged_log.signature_line(forged_text)
    with pytest.raises(VerificationError):
        log.add_cosignature(
            4, witness.verifier(), forged + witness.cosignature_line(forged_text, ts)
        )
    assert log.cosigned_sizes("witness.example/w1") is None
    assert log.checkpoint_note(4) == plain4


def test_latest_witnessed(log: PersistentLog) -> None:
    """latest_witnessed() is the newest checkpoint with at least `threshold` known cosigners."""
    m = Mirror(log)
    witnesses = [Signer.generate(f"witness.example/w{i}") for i in (1, 2, 3)]
    w1, w2, w3 = witnesses
    verifiers = [w.verifier() for w in witnesses]
    cosigners = {2: [w1, w2], 5: [w1, w2, w3], 7: [w1]}
    for count in (2, 3, 2):
        m.append(count)
    assert log.latest_witnessed(verifiers, 1) is None
    for size, signers in cosigners.items():
        for w in signers:
            log.add_cosignature(size, w.verifier(), cosign(log, w, size, 1_700_000_000 + size))

    def witnessed_size(ws: list[Signer], threshold: int) -> int | None:
        note = log.latest_witnessed([w.verifier() for w in ws], threshold)
        if note is None:
            return None
        signed = SignedCheckpoint.open(note, log.verifier, [w.verifier() for w in ws])
        assert signed.witnessed(threshold)
        return signed.checkpoint.size

    assert witnessed_size(witnesses, 0) == 7
    assert witnessed_size(witnesses, 1) == 7
    assert witnessed_size(witnesses, 2) == 5
    assert witnessed_size(witnesses, 3) == 5
    assert witnessed_size(witnesses, 4) is None
    assert witnessed_size([w3], 1) == 5
    assert witnessed_size([w2, w3], 2) == 5
    assert witnessed_size([w1], 2) is None
    # Cosigners outside the given set do not count.
    assert witnessed_size([Signer.generate("witness.example/w9")], 1) is None


# -- property: any sequence of batches ----------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), min_size=0, max_size=20), min_size=1, max_size=8))
def test_random_batches_match_merkle_tree(batches: list[list[int]]) -> None:
    """Any sequence of batches (with repeated dedup keys) matches MerkleTree at every checkpoint."""
    signer = Signer.generate("test.example/log")
    with tempfile.TemporaryDirectory(prefix="pausewatch-prop-") as tmp:
        engine = make_engine(sqlite_url(Path(tmp) / "log.db"))
        try:
            upgrade(engine)
            log = PersistentLog(engine, signer)
            tree = MerkleTree()
            seen: dict[int, int] = {}
            checkpoints: list[int] = []
            for b, keys in enumerate(batches):
                now = at(b)
                got = log.append_batch([PendingEntry(payload(k), key(k)) for k in keys], now)
                for k, a in zip(keys, got, strict=True):
                    if k in seen:
                        assert (a.index, a.duplicate) == (seen[k], True)
                    else:
                        seen[k] = tree.append(encode_entry(payload(k), now))
                        assert (a.index, a.duplicate) == (seen[k], False)
                assert log.size == tree.size
                assert log.root() == tree.root()
                if log.size and (not checkpoints or checkpoints[-1] != log.size):
                    checkpoints.append(log.size)
                    cp = opened(log).checkpoint
                    assert (cp.size, cp.root_hash) == (tree.size, tree.root())
            assert log.checkpoint_sizes() == checkpoints
            for size in checkpoints:
                assert log.root_at(size) == tree.root(size)
                assert log.consistency_proof(size) == tree.consistency_proof(size)
            reopened = PersistentLog(engine, signer)
            assert (reopened.size, reopened.root()) == (tree.size, tree.root())
        finally:
            engine.dispose()


# -- the sequencer ------------------------------------------------------------------------------


def tick_clock() -> Callable[[], datetime]:
    """A deterministic clock: T0, then one millisecond later on each call."""
    lock = threading.Lock()
    calls = [0]

    def clock() -> datetime:
        with lock:
            calls[0] += 1
            return at(calls[0] / 1000)

    return clock


@pytest.fixture
def sqlite_engine(sqlite_db_url: str) -> Iterator[Engine]:
    """A migrated engine on a fresh SQLite file (sequencer tests that need one backend only)."""
    eng = make_engine(sqlite_db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def sequencers() -> Iterator[Callable[..., Sequencer]]:
    """Start sequencers on a log; every one is stopped at teardown."""
    started: list[Sequencer] = []

    def start(log: PersistentLog, **kwargs: Any) -> Sequencer:
        seq = Sequencer(log, tick_clock(), **kwargs).start()
        started.append(seq)
        return seq

    yield start
    for seq in started:
        seq.stop(timeout=10)


def test_concurrent_submitters_get_distinct_indices(
    engine: Engine, log_signer: Signer, sequencers: Callable[..., Sequencer]
) -> None:
    """Many threads submitting at once all get distinct, durable, consecutive indices."""
    log = PersistentLog(engine, log_signer)
    seq = sequencers(log, batch_size=16, max_latency=0.005)
    threads, per_thread = 8, 25
    results: dict[int, Appended] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def submitter(t: int) -> None:
        try:
            futures = [seq.submit(PendingEntry(payload(t * 1000 + i))) for i in range(per_thread)]
            for i, fut in enumerate(futures):
                a = fut.result(timeout=30)
                with lock:
                    results[t * 1000 + i] = a
        except Exception as exc:  # reported in the main thread
            errors.append(exc)

    workers = [threading.Thread(target=submitter, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert errors == []
    total = threads * per_thread
    assert sorted(a.index for a in results.values()) == list(range(total))
    assert log.size == total
    assert stored_size(engine) == total
    for n, a in results.items():
        entry = log.entry(a.index)
        assert entry.data == encode_entry(payload(n), a.integrated_at)
        assert entry.leaf_hash == a.leaf_hash
    assert seq.stats.entries == total
    assert seq.stats.batches == len(log.checkpoint_sizes())
    tree = MerkleTree(e.data for e in log.entries(0, total))
    assert log.root() == tree.root()


def test_future_resolves_only_after_commit(
    sqlite_db_url: str,
    sqlite_engine: Engine,
    log_signer: Signer,
    sequencers: Callable[..., Sequencer],
) -> None:
    """When a future resolves, a separate engine already sees the entry (it is committed)."""
    log = PersistentLog(sqlite_engine, log_signer)
    seq = sequencers(log, batch_size=4, max_latency=0.005)
    observer = make_engine(sqlite_db_url)
    seen_at_resolution: list[bytes | None] = []
    all_seen = threading.Event()

    def look(fut: Future[Appended]) -> None:
        # Runs on the sequencer thread as the future is resolved (or at once if it already was).
        with observer.connect() as conn:
            seen_at_resolution.append(
                conn.execute(
                    select(log_entries.c.data).where(log_entries.c.idx == fut.result().index)
                ).scalar()
            )
        if len(seen_at_resolution) == 10:
            all_seen.set()

    try:
        futures = [seq.submit(PendingEntry(payload(i))) for i in range(10)]
        for fut in futures:
            fut.add_done_callback(look)
        appended = [fut.result(timeout=30) for fut in futures]
        rows = stored_rows(observer)
        assert sorted(rows) == list(range(10))
        # Callbacks run just after the waiters wake up: wait for the last one.
        assert all_seen.wait(10)
        assert all(data is not None for data in seen_at_resolution)
        for i, a in enumerate(appended):
            assert rows[a.index] == encode_entry(payload(i), a.integrated_at)
    finally:
        observer.dispose()


@pytest.mark.postgres
def test_future_resolves_only_after_commit_postgresql(
    pg_url: str, log_signer: Signer, sequencers: Callable[..., Sequencer]
) -> None:
    """On PostgreSQL too, an entry whose future resolved is visible to another engine."""
    engine = make_engine(pg_url)
    observer = make_engine(pg_url)
    try:
        upgrade(engine)
        seq = sequencers(PersistentLog(engine, log_signer), batch_size=8, max_latency=0.005)
        futures = [seq.submit(PendingEntry(payload(i), key(i))) for i in range(20)]
        appended = [fut.result(timeout=30) for fut in futures]
        rows = stored_rows(observer)
        assert sorted(rows) == sorted(a.index for a in appended) == list(range(20))
    finally:
        observer.dispose()
        engine.dispose()


def test_batch_size_is_respected(
    sqlite_engine: Engine, log_signer: Signer, sequencers: Callable[..., Sequencer]
) -> None:
    """With batch_size=10, 35 submissions take at least 4 batches of at most 10 each."""
    log = PersistentLog(sqlite_engine, log_signer)
    seq = sequencers(log, batch_size=10, max_latency=0.2)
    futures = [seq.submit(PendingEntry(payload(i))) for i in range(35)]
    assert sorted(f.result(timeout=30).index for f in futures) == list(range(35))
    sizes = log.checkpoint_sizes()
    steps = [b - a for a, b in zip([0, *sizes], sizes, strict=False)]
    assert len(steps) >= 4
    assert all(1 <= s <= 10 for s in steps)
    assert sum(steps) == 35
    assert (seq.stats.batches, seq.stats.entries) == (len(steps), 35)
    assert (seq.stats.duplicates, seq.stats.failures) == (0, 0)
    assert seq.depth == 0


def test_max_latency_closes_a_partial_batch(
    sqlite_engine: Engine, log_signer: Signer, sequencers: Callable[..., Sequencer]
) -> None:
    """A lone submission is integrated once max_latency has passed, without a full batch."""
    log = PersistentLog(sqlite_engine, log_signer)
    seq = sequencers(log, batch_size=1000, max_latency=0.15)
    started = time.monotonic()
    fut = seq.submit(PendingEntry(payload(1)))
    assert fut.result(timeout=10).index == 0
    assert time.monotonic() - started >= 0.15  # it waited for max_latency, not a full batch
    assert seq.stats.batches == 1


def test_sequencer_counts_duplicates(
    sqlite_engine: Engine, log_signer: Signer, sequencers: Callable[..., Sequencer]
) -> None:
    """Duplicate dedup keys through the sequencer resolve to the first index and are counted."""
    log = PersistentLog(sqlite_engine, log_signer)
    seq = sequencers(log, batch_size=3, max_latency=0.005)
    futures = [seq.submit(PendingEntry(payload(i), key(i % 2))) for i in range(6)]
    got = [f.result(timeout=30) for f in futures]
    assert [a.index for a in got] == [0, 1, 0, 1, 0, 1]
    assert [a.duplicate for a in got] == [False, False, True, True, True, True]
    assert (seq.stats.entries, seq.stats.duplicates) == (2, 4)
    assert log.size == 2


def test_stop_drains_the_queue(
    sqlite_engine: Engine, log_signer: Signer, sequencers: Callable[..., Sequencer]
) -> None:
    """stop() integrates everything already queued before it returns, then refuses submissions."""
    log = PersistentLog(sqlite_engine, log_signer)
    seq = sequencers(log, batch_size=5, max_latency=30)
    futures = [seq.submit(PendingEntry(payload(i))) for i in range(12)]
    seq.stop(timeout=20)
    assert all(f.done() for f in futures)  # the last 2 were not left to wait out max_latency
    assert sorted(f.result().index for f in futures) == list(range(12))
    assert log.size == 12
    assert stored_size(sqlite_engine) == 12
    with pytest.raises(LogError):
        seq.submit(PendingEntry(payload(99)))


def test_submit_before_start_is_refused(sqlite_engine: Engine, log_signer: Signer) -> None:
    """A sequencer that was never started refuses submissions with LogError."""
    seq = Sequencer(PersistentLog(sqlite_engine, log_signer), tick_clock())
    with pytest.raises(LogError):
        seq.submit(PendingEntry(payload(1)))


def test_a_failing_thread_set_up_does_not_stop_the_sequencer(
    sqlite_engine: Engine, log_signer: Signer
) -> None:
    """``thread_start`` runs first on the writer thread; if it raises, the writer still
    appends (its failure is logged), rather than dying and leaving every writer waiting."""
    ran: list[str] = []

    def broken() -> None:
        ran.append(threading.current_thread().name)
        raise RuntimeError("no priority for you")

    seq = Sequencer(
        PersistentLog(sqlite_engine, log_signer), tick_clock(), thread_start=broken
    ).start()
    try:
        assert seq.submit(PendingEntry(payload(1))).result(timeout=30).index == 0
    finally:
        seq.stop()
    assert ran == ["pausewatch-sequencer"]


def test_bad_sequencer_settings_are_refused(sqlite_engine: Engine, log_signer: Signer) -> None:
    """batch_size < 1 or a negative max_latency raises LogError."""
    log = PersistentLog(sqlite_engine, log_signer)
    with pytest.raises(LogError):
        Sequencer(log, tick_clock(), batch_size=0)
    with pytest.raises(LogError):
        Sequencer(log, tick_clock(), max_latency=-1)


def test_failing_append_fails_every_future(
    sqlite_engine: Engine, log_signer: Signer, sequencers: Callable[..., Sequencer]
) -> None:
    """When the append fails, every future of the batch gets the exception instead of hanging."""
    log = PersistentLog(sqlite_engine, log_signer)
    # Batches close when full, never by time: however slowly the five submissions below are
    # made, they are one batch and share one failure.
    seq = sequencers(log, batch_size=5, max_latency=60)
    first = [seq.submit(PendingEntry(payload(i))) for i in range(5)]
    assert sorted(f.result(timeout=30).index for f in first) == list(range(5))
    root = log.root()
    with sqlite_engine.begin() as conn:
        conn.execute(text("DROP TABLE log_entries"))
    futures = [seq.submit(PendingEntry(payload(i))) for i in range(5, 10)]
    errors = []
    for fut in futures:
        with pytest.raises(DBAPIError):
            fut.result(timeout=30)
        errors.append(fut.exception())
    assert all(e is errors[0] for e in errors)
    assert seq.stats.failures >= 1
    assert log.size == 5
    # The sequencer survives the failure: the next batch fails too, but does not hang.
    more = [seq.submit(PendingEntry(payload(i))) for i in range(10, 15)]
    with pytest.raises(DBAPIError):
        more[0].result(timeout=30)
    assert (log.size, log.root()) == (5, root)


def test_submit_many_integrates_a_group_in_one_transaction(
    sqlite_engine: Engine, log_signer: Signer, sequencers: Callable[..., Sequencer]
) -> None:
    """A group gets one future with every entry's result, contiguous, never split, and a
    duplicate inside it resolves to its first copy."""
    log = PersistentLog(sqlite_engine, log_signer)
    seq = sequencers(log, batch_size=4, max_latency=0.005)
    single = seq.submit(PendingEntry(payload(0), key(0)))
    group = seq.submit_many([PendingEntry(payload(i), key(i)) for i in (1, 2, 3, 4, 5, 1)])
    got = group.result(timeout=30)
    assert single.result(timeout=30).index == 0
    assert [a.index for a in got] == [1, 2, 3, 4, 5, 1]
    assert [a.duplicate for a in got] == [False] * 5 + [True]
    assert log.size == 6
    # The group of six exceeded batch_size 4 but was not split: one checkpoint covers it whole.
    assert log.first_checkpoint_covering(1) == log.first_checkpoint_covering(5)
    assert seq.submit_many([]).result(timeout=1) == []


def test_the_current_note_is_the_newest_checkpoint_or_the_empty_trees(
    engine: Engine, log_signer: Signer
) -> None:
    """What a witness is shown to say where it stands (ADR 0063): an empty log's is a
    checkpoint of the empty tree, signed by the log and not stored; afterwards the newest
    signed checkpoint. A store with entries that no checkpoint covers has none to show."""
    log = PersistentLog(engine, log_signer)
    size, note = log.current_note()
    empty = SignedCheckpoint.open(note, log.verifier).checkpoint
    assert (size, empty.origin, empty.size, empty.root_hash) == (0, log.origin, 0, EMPTY_ROOT)
    assert log.latest() == (0, None)
    log.append_batch([PendingEntry(b'{"n":0}'), PendingEntry(b'{"n":1}')], T0)
    assert log.current_note() == log.latest() == (2, log.checkpoint_note(2))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM log_checkpoints"))
    with pytest.raises(ConsistencyError, match="2 entries and no checkpoint covers them"):
        PersistentLog(engine, log_signer).current_note()
