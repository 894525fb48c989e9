"""One record's inclusion in the log, in two levels: record -> batch root -> log entry -> root.

A ``telemetry.batch/v1`` entry carries ``records_root``, the RFC 9162 root (§2.1.1) over the
accepted records' exact lines in the order they were stored (``position`` from 0), and
``accepted``, the number of those lines. So a single record is shown to be on the log by two
RFC 9162 inclusion proofs (§2.1.3) chained through that field:

1. the record's line is leaf ``position`` of the batch tree of ``accepted`` leaves whose root is
   the entry's ``records_root`` (:func:`record_path` builds the path from the batch's lines);
2. the entry's bytes are leaf ``entry_index`` of the log tree of ``tree_size`` leaves whose root
   a signed checkpoint states (the log's own inclusion proof).

:func:`verify_record_inclusion` checks both and that the entry is a batch the secretariat
signed; the checkpoint's signature is the caller's to check (:func:`pausewatch.ledger.open_note`),
as for any inclusion proof. Pure: bytes in, an exception or the batch out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pausewatch.errors import Error, ProofError
from pausewatch.ledger import HASH_SIZE, inclusion_proof, root, verify_inclusion
from pausewatch.statements import parse_statement
from pausewatch.telemetry._statements import BATCH_KIND, TelemetryBatch


def batch_root(lines: Sequence[bytes]) -> bytes:
    """The RFC 9162 root over a batch's accepted record lines (no newline), in position order:
    what its entry's ``records_root`` states."""
    return root(lines)


def record_path(lines: Sequence[bytes], position: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of the record at ``position`` among a batch's accepted lines
    (``ceil(log2(len(lines)))`` hashes at most)."""
    if not 0 <= position < len(lines):
        raise ProofError(
            f"record position out of range: expected 0 <= position < {len(lines)}, got {position}"
        )
    return inclusion_proof(lines, position)


@dataclass(frozen=True)
class RecordInclusion:
    """What a client needs to show one chip-signed record is on the log (see module doc)."""

    line: bytes
    """The record's exact signed line, without its newline."""
    position: int
    """Its position among the batch's accepted records."""
    record_path: tuple[bytes, ...]
    """Inclusion proof of the line in the batch tree (size: the entry's ``accepted``)."""
    entry: bytes
    """The log entry's exact bytes (``{"integrated_at":...,"statement":...}``)."""
    entry_index: int
    """The entry's index in the log."""
    tree_size: int
    """The size of the log tree the entry path leads to (a checkpoint's size)."""
    entry_path: tuple[bytes, ...]
    """Inclusion proof of the entry in the log tree of ``tree_size``."""

    @property
    def proof_bytes(self) -> int:
        """Bytes of the two paths (32 a hash), without the line and the entry."""
        return HASH_SIZE * (len(self.record_path) + len(self.entry_path))

    @property
    def size(self) -> int:
        """Bytes a client fetches for the proof: the line, the entry and both paths."""
        return len(self.line) + len(self.entry) + self.proof_bytes


def _batch_of(entry: bytes) -> TelemetryBatch:
    """The ``telemetry.batch/v1`` body in a log entry, its secretariat signature verified."""
    try:
        obj = json.loads(entry)
        statement = parse_statement(obj["statement"] if isinstance(obj, dict) else None)
    except (ValueError, KeyError, Error) as exc:
        raise ProofError(
            f"log entry: expected a signed statement, got an unreadable one ({exc})"
        ) from exc
    if statement.kind != BATCH_KIND:
        raise ProofError(f"log entry: expected a {BATCH_KIND} statement, got {statement.kind}")
    body = statement.body
    assert isinstance(body, TelemetryBatch)
    return body


def verify_record_inclusion(proof: RecordInclusion, log_root: bytes) -> TelemetryBatch:
    """Check that ``proof.line`` is a record of the batch entry ``proof.entry`` and that the
    entry is at ``proof.entry_index`` in the log tree of ``proof.tree_size`` with root
    ``log_root``; the batch's body when both hold. Raises :class:`ProofError` otherwise."""
    batch = _batch_of(proof.entry)
    verify_inclusion(
        proof.line,
        proof.position,
        batch.accepted,
        proof.record_path,
        bytes.fromhex(batch.records_root),
    )
    verify_inclusion(proof.entry, proof.entry_index, proof.tree_size, proof.entry_path, log_root)
    return batch
