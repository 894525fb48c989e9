"""Audit a log from its entries alone: recompute every leaf and root, check every signature.

An auditor trusts nothing the server says without a proof. :func:`audit_log` takes the raw entry
bytes (downloaded or from an export) and the checkpoint notes it was given, and recomputes:
each leaf hash; that each entry is canonical JSON holding a valid signed statement; that
integration times never go backwards; the tree; that every checkpoint is signed by the pinned log
key, counts its valid witness cosignatures, and commits to exactly the root of the recomputed
tree at its size (which makes all checkpoints consistent with each other). Problems are collected
as values, not raised, so one report says everything that is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pausewatch.errors import Error
from pausewatch.ledger import MerkleTree, SignedCheckpoint, Verifier, leaf_hash
from pausewatch.registry import Registry
from pausewatch.statements import canonical, parse_json, parse_statement

MAX_PROBLEMS = 100


@dataclass
class CheckpointResult:
    """What the audit found for one checkpoint."""

    size: int
    root_hash: str
    cosigners: list[str]
    witnessed: bool


@dataclass
class AuditReport:
    """The outcome of an audit."""

    origin: str
    entries: int = 0
    root_hash: str = ""
    kinds: dict[str, int] = field(default_factory=dict)
    checkpoints: list[CheckpointResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    server_proofs_checked: int = 0
    decisions: list[dict[str, object]] = field(default_factory=list)
    """Every proposal's outcome, recomputed by folding the entries (with a secretariat key)."""
    rejected_entries: int = 0
    """Entries the fold rejected (on the log, without effect)."""

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def problem(self, message: str) -> None:
        """Record a problem (the first :data:`MAX_PROBLEMS` are kept verbatim)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("... more problems not shown")

    def to_json(self) -> dict[str, object]:
        """The report as JSON."""
        return {
            "ok": self.ok,
            "origin": self.origin,
            "entries": self.entries,
            "root_hash": self.root_hash,
            "kinds": self.kinds,
            "checkpoints": [c.__dict__ for c in self.checkpoints],
            "witnessed_checkpoints": sum(c.witnessed for c in self.checkpoints),
            "server_proofs_checked": self.server_proofs_checked,
            "decisions": self.decisions,
            "rejected_entries": self.rejected_entries,
            "problems": self.problems,
        }


def check_entry(
    index: int,
    data: bytes,
    report: AuditReport,
    last_time: str,
    fold: Registry | None = None,
) -> str:
    """Check one entry's bytes; return its integration time (for ordering). With ``fold``,
    fold the entry's statement into it (a registry recomputed from the entries alone)."""
    try:
        obj = parse_json(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        report.problem(f"entry {index}: not JSON")
        return last_time
    if not isinstance(obj, dict) or set(obj) != {"integrated_at", "statement"}:
        report.problem(f"entry {index}: expected keys integrated_at and statement")
        return last_time
    if canonical(obj) != data:
        report.problem(f"entry {index}: bytes are not RFC 8785 canonical")
    t = obj["integrated_at"]
    if not isinstance(t, str):
        report.problem(f"entry {index}: integrated_at is not a string")
        return last_time
    if t < last_time:
        report.problem(
            f"entry {index}: integrated_at {t} is before the previous entry's {last_time}"
        )
    try:
        statement = parse_statement(obj["statement"])
        report.kinds[statement.kind] = report.kinds.get(statement.kind, 0) + 1
    except Error as exc:
        report.problem(f"entry {index}: {exc}")
        if fold is not None:
            fold.applied = index + 1  # an entry that is not a statement changes nothing
        return max(t, last_time)
    if fold is not None:
        try:
            outcome = fold.apply(index, datetime.fromisoformat(t), statement)
        except Exception as exc:  # any failure of the fold is a finding of the audit
            report.problem(f"entry {index}: cannot be folded: {type(exc).__name__}: {exc}")
            fold.applied = index + 1
        else:
            report.rejected_entries += not outcome.accepted
    return max(t, last_time)


def audit_log(
    entries: Iterable[tuple[int, bytes]],
    checkpoint_notes: Iterable[str],
    log_verifier: Verifier,
    witnesses: list[Verifier] | None = None,
    threshold: int = 0,
    secretariat: str | None = None,
) -> tuple[AuditReport, MerkleTree]:
    """Audit ``entries`` (``(index, bytes)`` in order) against ``checkpoint_notes``. With the
    ``secretariat`` key (a signer id), also fold the entries and recompute every proposal's
    outcome from them alone (:attr:`AuditReport.decisions`)."""
    report = AuditReport(origin=log_verifier.name)
    tree = MerkleTree()
    last_time = ""
    # The fold checks recorded witness cosignatures against the tree recomputed here, which
    # holds every entry up to the one being folded.
    fold = Registry(frozenset({secretariat}), roots=tree.root) if secretariat else None
    for index, data in entries:
        if index != tree.size:
            report.problem(
                f"entry index {index}: expected {tree.size} (entries must be contiguous)"
            )
            break
        tree.append_leaf_hash(leaf_hash(data))
        last_time = check_entry(index, data, report, last_time, fold)
    report.entries = tree.size
    if fold is not None:
        report.decisions = [
            {
                "proposal_id": row["proposal_id"],
                "kind": row["kind"],
                "status": row["status"],
                "passed": row["passed"],
                "reason": json.loads(row["outcome"])["reason"] if row["outcome"] else None,
            }
            for _, row in sorted(fold.views["proposals"].items())
        ]
    report.root_hash = tree.root().hex()
    for note in checkpoint_notes:
        try:
            signed = SignedCheckpoint.open(note, log_verifier, witnesses or [])
        except Error as exc:
            report.problem(f"checkpoint: {exc}")
            continue
        cp = signed.checkpoint
        if cp.size > tree.size:
            report.problem(
                f"checkpoint {cp.size}: covers more entries than the {tree.size} audited"
            )
            continue
        if tree.root(cp.size) != cp.root_hash:
            report.problem(
                f"checkpoint {cp.size}: root {cp.root_hash.hex()} differs from the recomputed "
                f"{tree.root(cp.size).hex()}: the log is inconsistent with this checkpoint"
            )
            continue
        report.checkpoints.append(
            CheckpointResult(
                cp.size,
                cp.root_hash.hex(),
                sorted({c.name for c in signed.cosignatures}),
                signed.witnessed(threshold) if threshold else True,
            )
        )
    if threshold and report.checkpoints and not any(c.witnessed for c in report.checkpoints):
        report.problem(f"no checkpoint carries {threshold} valid witness cosignatures")
    return report, tree
