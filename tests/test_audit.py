"""`pausewatch.audit.audit_log`: recomputing a log from its entries alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from pausewatch.audit import audit_log
from pausewatch.ledger import Checkpoint, MerkleTree, Signer, encode_entry, sign_checkpoint
from pausewatch.statements import KeyPair, canonical, sign_statement

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
