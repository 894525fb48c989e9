"""`pausewatch.audit.audit_log`: recomputing a log from its entries alone."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from pausewatch import audit
from pausewatch.audit import audit_log
from pausewatch.audit._recompute import compare_views
from pausewatch.errors import ConfigurationError
from pausewatch.ledger import (
    Checkpoint,
    CompactRange,
    LogStore,
    MerkleTree,
    Node,
    PendingEntry,
    PersistentLog,
    Signer,
    Verifier,
    encode_entry,
    leaf_hash,
    sign_checkpoint,
)
from pausewatch.registry import Registry
from pausewatch.state import new_registry
from pausewatch.statements import KeyPair, canonical, sign_statement
from pausewatch.store import log_nodes

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ORIGIN = "audit.example/log"


def make_log(n: int) -> tuple[list[bytes], Signer]:
    key = KeyPair.generate("secretariat")
    entries = [
        encode_entry(
            sign_statement("notice/v1", {"title": f"n{i}"}, key).canonical_bytes(),
            T0 + timedelta(seconds=i),
        )
        for i in range(n)
    ]
    return entries, Signer.generate(ORIGIN)


def checkpoint(entries: list[bytes], size: int, signer: Signer) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, MerkleTree(entries[:size]).root()), signer)


def test_honest_log_passes() -> None:
    """Entries and checkpoints from an honest log give a clean report."""
    entries, log = make_log(9)
    notes = [checkpoint(entries, s, log) for s in (3, 7, 9)]
    report, tree = audit_log(enumerate(entries), notes, log.verifier())
    assert report.ok, report.problems
    assert report.entries == 9
    assert report.kinds == {"notice/v1": 9}
    assert [c.size for c in report.checkpoints] == [3, 7, 9]
    assert report.root_hash == tree.root().hex()


def test_altered_entry_breaks_its_signature_and_the_checkpoint() -> None:
    """One changed byte is reported at its entry and as a root mismatch."""
    entries, log = make_log(5)
    notes = [checkpoint(entries, 5, log)]
    altered = entries[2].replace(b'"n2"', b'"N2"')
    report, _ = audit_log(enumerate([*entries[:2], altered, *entries[3:]]), notes, log.verifier())
    assert not report.ok
    assert any(p.startswith("entry 2:") for p in report.problems)
    assert any("differs from the recomputed" in p for p in report.problems)


def test_gap_in_indices_is_reported() -> None:
    """Entries must be contiguous from 0."""
    entries, log = make_log(4)
    report, _ = audit_log([(0, entries[0]), (2, entries[2])], [], log.verifier())
    assert any("expected 1" in p for p in report.problems)


def test_non_canonical_entry_is_reported() -> None:
    """Entry bytes that are valid JSON but not RFC 8785 are a problem."""
    entries, log = make_log(1)
    spaced = json.dumps(json.loads(entries[0]), indent=1).encode()
    assert canonical(json.loads(spaced)) == entries[0]
    report, _ = audit_log([(0, spaced)], [], log.verifier())
    assert any("not RFC 8785 canonical" in p for p in report.problems)


def test_time_going_backwards_is_reported() -> None:
    """Integration times never decrease along the log."""
    key = KeyPair.generate("s")
    payload = sign_statement("notice/v1", {"title": "t"}, key).canonical_bytes()
    entries = [encode_entry(payload, T0), encode_entry(payload, T0 - timedelta(seconds=1))]
    report, _ = audit_log(enumerate(entries), [], Signer.generate(ORIGIN).verifier())
    assert any("before the previous entry" in p for p in report.problems)


@pytest.mark.parametrize("fault", ["other key", "beyond size", "malformed"])
def test_bad_checkpoints_are_reported(fault: str) -> None:
    """Checkpoints signed by another key, covering unseen entries or malformed are problems."""
    entries, log = make_log(4)
    if fault == "other key":
        note = checkpoint(entries, 4, Signer.generate(ORIGIN))
    elif fault == "beyond size":
        note = checkpoint([*entries, b"unseen"], 5, log)
    else:
        note = "not a note"
    report, _ = audit_log(enumerate(entries), [note], log.verifier())
    assert len(report.problems) == 1
    assert report.problems[0].startswith("checkpoint")


def test_witness_threshold_is_enforced() -> None:
    """With a threshold, some checkpoint must carry that many valid cosignatures."""
    entries, log = make_log(3)
    note = checkpoint(entries, 3, log)
    w1, w2 = Signer.generate("w1.example"), Signer.generate("w2.example")
    text = note.split("\n\n")[0] + "\n"
    once = note + w1.cosignature_line(text, 1_790_000_000)
    report, _ = audit_log(
        enumerate(entries), [once], log.verifier(), [w1.verifier(), w2.verifier()], 2
    )
    assert any("2 valid witness cosignatures" in p for p in report.problems)
    twice = once + w2.cosignature_line(text, 1_790_000_001)
    report, _ = audit_log(
        enumerate(entries), [twice], log.verifier(), [w1.verifier(), w2.verifier()], 2
    )
    assert report.ok, report.problems
    assert report.checkpoints[0].cosigners == ["w1.example", "w2.example"]


# -- anchors (ADR 0014) --------------------------------------------------------------------------


def cosigned(note: str, *witnesses: Signer) -> str:
    """``note`` with a cosignature line from each of ``witnesses``."""
    text = note.split("\n\n")[0] + "\n"
    return note + "".join(
        w.cosignature_line(text, 1_790_000_000 + i) for i, w in enumerate(witnesses)
    )


def test_without_witness_keys_nothing_is_witnessed() -> None:
    """With no witness keys given, no checkpoint counts as witnessed, even one that carries
    cosignatures, and the log is reported unanchored."""
    entries, log = make_log(4)
    w = Signer.generate("w.example")
    notes = [checkpoint(entries, 2, log), cosigned(checkpoint(entries, 4, log), w)]
    report, _ = audit_log(enumerate(entries), notes, log.verifier())
    assert report.ok, report.problems
    assert [c.witnessed for c in report.checkpoints] == [False, False]
    as_json = report.to_json()
    assert as_json["witnessed_checkpoints"] == 0
    assert as_json["anchored"] is False
    assert as_json["anchor"] == "unanchored"
    assert "witness" not in str(as_json["anchor"])


def test_pinned_checkpoint_anchors_the_log_up_to_its_size() -> None:
    """A checkpoint the auditor held, found in the recomputed tree, anchors the log at its size."""
    entries, log = make_log(6)
    held = checkpoint(entries, 4, log)
    report, _ = audit_log(
        enumerate(entries), [checkpoint(entries, 6, log)], log.verifier(), pinned=[held]
    )
    assert report.ok, report.problems
    assert (report.anchor, report.anchored_size, report.anchored) == ("pinned checkpoint", 4, True)
    assert [c.pinned for c in report.checkpoints] == [True, False]


def test_pinned_checkpoint_beyond_a_rolled_back_log_is_a_problem() -> None:
    """A log rolled back behind a checkpoint the auditor holds fails the audit, naming it."""
    entries, log = make_log(6)
    held = checkpoint(entries, 6, log)
    older = entries[:4]
    report, _ = audit_log(
        enumerate(older), [checkpoint(older, 4, log)], log.verifier(), pinned=[held]
    )
    assert report.problems == ["checkpoint 6 (pinned): covers more entries than the 4 audited"]
    assert not report.anchored


def test_witnessed_anchor_is_the_newest_checkpoint_with_k_cosignatures() -> None:
    """With witness keys, the anchor is the newest checkpoint cosigned by the threshold of them;
    a checkpoint cosigned by fewer, or by keys not given, does not count."""
    entries, log = make_log(8)
    w1, w2, stranger = (Signer.generate(f"w{i}.example") for i in (1, 2, 3))
    notes = [
        cosigned(checkpoint(entries, 3, log), w1, w2),
        cosigned(checkpoint(entries, 5, log), w1, stranger),
        checkpoint(entries, 8, log),
    ]
    report, _ = audit_log(enumerate(entries), notes, log.verifier(), [w1.verifier(), w2.verifier()])
    assert report.ok, report.problems
    assert report.witness_threshold == 2
    assert [c.witnessed for c in report.checkpoints] == [True, False, False]
    assert (report.anchor, report.anchored_size) == ("witnesses", 3)


@pytest.mark.parametrize(("keys", "threshold"), [(0, 1), (2, 0), (2, 3)])
def test_impossible_witness_thresholds_are_refused(keys: int, threshold: int) -> None:
    """A threshold without witness keys, of zero, or above the keys given is a usage error."""
    entries, log = make_log(1)
    witnesses = [Signer.generate(f"w{i}.example").verifier() for i in range(keys)]
    with pytest.raises(ConfigurationError, match="witness"):
        audit_log(enumerate(entries), [], log.verifier(), witnesses, threshold)


# -- stored subtree hashes -------------------------------------------------------------------------


class StoredNodes:
    """Stored subtree hashes held in a dict, recording each page asked for."""

    def __init__(self, entries: list[bytes]) -> None:
        tree = MerkleTree(entries)
        n = len(entries)
        self.nodes = {
            Node(level, i): tree.node(Node(level, i))
            for level in range(n.bit_length())
            for i in range(n >> level)
        }
        self.calls: list[tuple[int, int | None]] = []

    def __call__(self, start: int, end: int | None) -> dict[Node, bytes]:
        self.calls.append((start, end))
        return {
            node: h
            for node, h in self.nodes.items()
            if start < (node.index + 1) << node.level
            and (end is None or (node.index + 1) << node.level <= end)
        }


def test_stored_subtree_hashes_are_recomputed_page_by_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stored subtree hash is compared with the one recomputed from the entries, asking
    the store one bounded page at a time."""
    monkeypatch.setattr(audit, "PAGE", 8)
    entries, log = make_log(37)
    stored = StoredNodes(entries)
    report, _ = audit_log(enumerate(entries), [], log.verifier(), stored_nodes=stored)
    assert report.ok, report.problems
    assert report.stored_hashes_checked == len(stored.nodes) == 2 * 37 - bin(37).count("1")
    pages = [c for c in stored.calls if c[1] is not None]
    assert all(end - start <= 8 for start, end in pages)
    assert pages[0][0] == 0
    assert pages[-1][1] == 37


def test_tampered_missing_and_extra_stored_hashes_are_named() -> None:
    """A stored subtree hash that differs is named by level and index (the first one first); a
    missing one and one beyond the entries are problems too."""
    entries, log = make_log(12)
    stored = StoredNodes(entries)
    stored.nodes[Node(1, 2)] = b"\x00" * 32
    stored.nodes[Node(2, 2)] = b"\x00" * 32
    del stored.nodes[Node(0, 9)]
    stored.nodes[Node(2, 3)] = b"\x11" * 32
    report, _ = audit_log(
        enumerate(entries), [checkpoint(entries, 12, log)], log.verifier(), stored_nodes=stored
    )
    assert report.problems[0].startswith("stored subtree hash (level 1, index 2) is 0000")
    assert report.problems[1:] == [
        "stored subtree hash (level 0, index 9) is missing",
        f"stored subtree hash (level 2, index 2) is {'00' * 32}, the entries give "
        f"{MerkleTree(entries).node(Node(2, 2)).hex()}",
        "stored subtree hash (level 2, index 3) covers leaves beyond the 12 entries",
    ]


def test_audit_of_a_store_names_a_tampered_subtree_hash(engine: Engine, log_signer: Signer) -> None:
    """On a real store (SQLite and PostgreSQL), an altered hash inside the tree, which the
    checkpoints alone do not reveal, is named by the audit of the store."""
    log = PersistentLog(engine, log_signer)
    key = KeyPair.generate("secretariat")
    for batch in range(3):
        pending = [
            PendingEntry(
                sign_statement("notice/v1", {"title": f"{batch}-{i}"}, key).canonical_bytes()
            )
            for i in range(3)
        ]
        log.append_batch(pending, T0 + timedelta(seconds=batch))
    store = LogStore(engine)

    def run() -> audit.AuditReport:
        report, _ = audit_log(
            store.entries(),
            list(store.checkpoint_notes()),
            log.verifier,
            stored_nodes=store.nodes_completed,
        )
        return report

    honest = run()
    assert honest.ok, honest.problems
    assert honest.stored_hashes_checked == 9 + 4 + 2 + 1
    with engine.begin() as conn:
        conn.execute(
            update(log_nodes)
            .where(log_nodes.c.level == 1, log_nodes.c.idx == 0)
            .values(hash=b"\x07" * 32)
        )
    assert LogStore(engine).nodes_completed(0, 2)[Node(1, 0)] == b"\x07" * 32
    report = run()
    assert report.problems == [
        f"stored subtree hash (level 1, index 0) is {'07' * 32}, the entries give "
        f"{MerkleTree(store_entry_bytes(store)).node(Node(1, 0)).hex()}"
    ]


def store_entry_bytes(store: LogStore) -> list[bytes]:
    """Every entry's bytes, from the store."""
    return [data for _, data in store.entries()]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b"not json", id="not JSON"),
        pytest.param(canonical({"statement": {}}), id="missing integrated_at"),
        pytest.param(canonical({"integrated_at": 7, "statement": {}}), id="time not a string"),
        pytest.param(
            canonical({"integrated_at": "2026-11-26T12:00:00.000000Z", "statement": {}}),
            id="no statement",
        ),
    ],
)
def test_an_entry_holding_no_statement_is_reported_and_the_fold_goes_on(bad: bytes) -> None:
    """An entry that holds no readable statement is a problem of the audit, set aside in the
    recomputed views as the service sets it aside; the entries after it are folded (before,
    the recomputing audit stopped with 'expected log entry 0, got 1')."""
    entries, log = make_log(3)
    key = KeyPair.generate("secretariat")
    entries[1] = bad
    report, _ = audit_log(enumerate(entries), [], log.verifier(), secretariat=key.signer_id)
    assert report.entries == 3
    assert any(p.startswith("entry 1:") for p in report.problems), report.problems
    assert not any(p.startswith("entry 2:") for p in report.problems), report.problems


def _one_party() -> tuple[Registry, KeyPair]:
    secretariat = KeyPair.generate("secretariat")
    fold = new_registry({secretariat.signer_id})
    party = KeyPair.generate("party")
    body = {"party_id": "us", "name": "US", "key": party.signer_id}
    fold.apply(0, T0, sign_statement("party.register/v1", body, secretariat))
    return fold, secretariat


def test_compare_views_names_table_key_and_column() -> None:
    """A stored view row that differs from the fold's is named by table, key and column; a
    missing and an extra row by table and key; equal rows are counted."""
    fold, _ = _one_party()
    stored = {view: [dict(r) for r in rows.values()] for view, rows in fold.views.items()}
    assert compare_views(fold, lambda view: stored[view]) == (
        sum(len(rows) for rows in stored.values()),
        [],
    )
    stored["parties"][0]["name"] = "Not US"
    stored["parties"].append({**stored["parties"][0], "party_id": "extra"})
    (key_row,) = stored["keys"]
    stored["keys"] = []
    compared, problems = compare_views(fold, lambda view: stored[view])
    assert compared == sum(len(rows) for rows in fold.views.values()) - 1  # all but the missing
    assert problems == [
        "view table reg_parties key ('extra',): stored, but the entries give no such row",
        "view table reg_parties key ('us',) column name: stored 'Not US', the entries give 'US'",
        f"view table reg_keys key ({key_row['key']!r},): missing from the store, the entries "
        "give it",
    ]


# -- checkpoints, streamed (issue 19 section 5) ---------------------------------------------------


def test_checkpoints_are_read_as_the_tree_reaches_them() -> None:
    """Notes in order of size are read only when the recomputed tree reaches them: the audit
    never holds the whole list (a log signs a checkpoint for every append)."""
    entries, log = make_log(12)
    consumed = 0

    def counted_entries() -> Iterator[tuple[int, bytes]]:
        nonlocal consumed
        for pair in enumerate(entries):
            consumed += 1
            yield pair

    read_at: dict[int, int] = {}

    def notes() -> Iterator[str]:
        for size in range(1, 13):
            read_at[size] = consumed
            yield checkpoint(entries, size, log)

    report, _ = audit_log(counted_entries(), notes(), log.verifier())
    assert report.ok, report.problems
    assert report.checkpoints_verified == 12
    # The note of size s is read once the tree holds s - 1 entries, not before.
    assert all(read_at[s] >= s - 1 for s in read_at), read_at


def test_the_report_lists_the_newest_checkpoints_and_counts_them_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond the bound, the report lists every pinned checkpoint and the newest others; the
    counts (verified, witnessed, not listed) and the anchor cover them all."""
    monkeypatch.setattr(audit, "MAX_CHECKPOINTS_LISTED", 3)
    entries, log = make_log(9)
    w = Signer.generate("w.example")
    notes = [checkpoint(entries, s, log) for s in range(1, 10)]
    notes[1] = cosigned(notes[1], w)  # size 2: the only witnessed one, not among the newest
    held = checkpoint(entries, 1, log)
    report, _ = audit_log(enumerate(entries), notes, log.verifier(), [w.verifier()], pinned=[held])
    assert report.ok, report.problems
    assert [(c.size, c.pinned) for c in report.checkpoints] == [
        (1, True),
        (7, False),
        (8, False),
        (9, False),
    ]
    assert (report.checkpoints_verified, report.checkpoints_not_listed) == (10, 6)
    assert (report.anchor, report.anchored_size) == ("witnesses", 2)
    as_json = report.to_json()
    assert as_json["witnessed_checkpoints"] == 1
    assert as_json["checkpoints_verified"] == 10
    assert as_json["checkpoints_not_listed"] == 6


def test_a_checkpoint_listed_after_a_larger_one_is_named() -> None:
    """The ordered notes must come in order of size: one that comes after a larger one can no
    longer be checked and is a problem, naming it; notes given as ``unordered`` may come in any
    order."""
    entries, log = make_log(6)
    five, three = checkpoint(entries, 5, log), checkpoint(entries, 3, log)
    report, _ = audit_log(enumerate(entries), [five, three], log.verifier())
    assert report.problems == [
        "checkpoint 3: listed after a checkpoint of more entries (checkpoints are checked in "
        "order of size)"
    ]
    report, _ = audit_log(enumerate(entries), [], log.verifier(), unordered=[five, three])
    assert report.ok, report.problems
    assert [c.size for c in report.checkpoints] == [3, 5]


def test_a_checkpoint_at_size_zero_and_beyond_the_entries() -> None:
    """The empty tree's checkpoint is checked before any entry; the ordered notes beyond the
    entries are each named once, after the last entry."""
    entries, log = make_log(3)
    notes = [
        sign_checkpoint(Checkpoint(ORIGIN, 0, MerkleTree([]).root()), log),
        checkpoint(entries, 3, log),
        checkpoint([*entries, b"x"], 4, log),
        checkpoint([*entries, b"x", b"y"], 5, log),
    ]
    report, _ = audit_log(enumerate(entries), notes, log.verifier())
    assert [c.size for c in report.checkpoints] == [0, 3]
    assert report.problems == [
        "checkpoint 4: covers more entries than the 3 audited",
        "checkpoint 5: covers more entries than the 3 audited",
    ]


def traced_audit(
    entries: list[bytes], notes: Iterator[str], verifier: Verifier
) -> tuple[audit.AuditReport, int]:
    """The audit of ``entries`` against ``notes``, and the peak memory it allocated."""
    tracemalloc.start()
    try:
        report, _ = audit_log(enumerate(entries), notes, verifier)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_audits_memory_does_not_grow_with_the_checkpoints() -> None:
    """A checkpoint for every entry: the audit's peak memory with ten times the checkpoints
    stays within a small margin of the smaller run's (it grew by about 2.3 KB a checkpoint
    when every note, opened checkpoint and result was held)."""
    entries, log = make_log(12_000)
    tree = CompactRange()
    roots = []
    for e in entries:
        tree.append(leaf_hash(e))
        roots.append(tree.root())

    def peak(every: int) -> int:
        def notes() -> Iterator[str]:
            for size in range(every, len(entries) + 1, every):
                yield sign_checkpoint(Checkpoint(ORIGIN, size, roots[size - 1]), log)

        report, held = traced_audit(entries, notes(), log.verifier())
        assert report.ok, report.problems
        assert report.checkpoints_verified == len(entries) // every
        return held

    few, many = peak(10), peak(1)  # 1,200 and 12,000 checkpoints
    assert many - few < 2 * 1024 * 1024, (few, many)


def test_a_checkpoint_listed_late_within_entries_that_end_first_is_named_as_such() -> None:
    """A note listed after a larger one that the entries end before is named for what it is
    (listed late), not as covering more entries than were audited: it covers fewer."""
    entries, log = make_log(4)
    five = checkpoint([*entries, b"x"], 5, log)
    report, _ = audit_log(enumerate(entries), [five, checkpoint(entries, 3, log)], log.verifier())
    assert report.problems == [
        "checkpoint 3: listed after a checkpoint of more entries (checkpoints are checked in "
        "order of size)",
        "checkpoint 5: covers more entries than the 4 audited",
    ]


def test_notes_the_tree_cannot_reach_are_not_held() -> None:
    """Notes beyond entries that end early, and notes listed after a larger one, are each
    named as they are read and then dropped: the audit's peak memory does not grow with them
    (it held every one, opened, until the end: about 900 bytes a note)."""
    entries, log = make_log(10)
    ten = checkpoint(entries, 10, log)

    def note(size: int) -> str:
        return sign_checkpoint(Checkpoint(ORIGIN, size, bytes(32)), log)

    def peak(n: int, late: bool) -> int:
        def notes() -> Iterator[str]:
            yield ten
            for i in range(n):
                # after the last entry: each beyond the entries; or each listed after size 10
                yield note(5) if late else note(11 + i)

        report, held = traced_audit(entries, notes(), log.verifier())
        assert len(report.problems) == audit.MAX_PROBLEMS + 1
        return held

    for late in (False, True):
        few, many = peak(300, late), peak(3_000, late)
        assert many - few < 512 * 1024, (late, few, many)
