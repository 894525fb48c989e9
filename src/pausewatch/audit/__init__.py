"""Audit a log from its entries alone: recompute every leaf and root, check every signature.

An auditor trusts nothing the server says without a proof. :func:`audit_log` takes the raw entry
bytes (downloaded or from an export) and the checkpoint notes it was given, and recomputes:
each leaf hash; that each entry is canonical JSON holding a valid signed statement; that
integration times never go backwards; the tree; that every checkpoint is signed by the pinned log
key, counts its valid witness cosignatures, and commits to exactly the root of the recomputed
tree at its size (which makes all checkpoints consistent with each other). Problems are collected
as values, not raised, so one report says everything that is wrong.

Checkpoints are checked as the recomputed tree reaches their size, and read only then: a log
signs one per append, so there may be as many as entries. The report counts every one and lists
the pinned ones and the newest :data:`MAX_CHECKPOINTS_LISTED` (docs/adr/0059).

Checkpoints signed by the log key prove only that the log's key signed them: a log rolled back
to an older copy of its store, or one that forked, signs a consistent-looking history too. An
audit is therefore *anchored* only by something outside the log: a checkpoint the auditor held
before (pinned), or a checkpoint cosigned by ``threshold`` of the witness keys the auditor trusts.
Without one the report says ``unanchored``; without witness keys nothing counts as witnessed.

Given the store's subtree hashes (``stored_nodes``, an auditor holding the database), the audit
also recomputes every stored complete-subtree hash from the entries, a page at a time, and names
each one that differs. Memory stays bounded: the tree is a compact range (ADR 0014).

With the secretariat key and the stored records behind each telemetry batch (``records``), the
audit also recomputes what the secretariat's own entries assert (docs/adr/0019): it verifies
every batch's records again as the service did, against its own fold, and compares the root,
the count, the chain heads, the gaps and the aggregates with the entry; it evaluates the policy
again for each finding a policy-filed proposal carries; and given the store's views
(``stored_views``) it compares every view it folded with the stored rows. Records stream: at
most one segment of a batch is held at a time.
"""

from __future__ import annotations

import heapq
import json
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pausewatch.audit._recompute import (
    BatchRecords,
    StoredViews,
    compare_views,
    recheck_finding,
    reverify_batch,
)
from pausewatch.errors import ConfigurationError, Error
from pausewatch.fields import EARLIEST, parse_time
from pausewatch.governance._statements import Proposal
from pausewatch.governance._witnesses import MAX_COSIGNATURE_LAG
from pausewatch.ledger import (
    EMPTY_ROOT,
    CompactRange,
    Node,
    SignedCheckpoint,
    Verifier,
    leaf_hash,
)
from pausewatch.registry import Registry
from pausewatch.state import isolate_unreadable, new_registry
from pausewatch.statements import Statement, canonical, parse_json, parse_statement
from pausewatch.telemetry._statements import BATCH_KIND, TelemetryBatch
from pausewatch.transcript._statements import (
    TranscriptCheckpoint,
    TranscriptCommit,
    TranscriptVerdict,
)

MAX_PROBLEMS = 100
_MORE = "... more problems not shown"
MAX_CHECKPOINTS_LISTED = 1000
"""Checkpoints the report lists besides the pinned ones: the newest (all are verified)."""
PAGE = 4096
"""Leaves between two comparisons with the stored subtree hashes."""

UNANCHORED = "unanchored"
PINNED = "pinned checkpoint"
WITNESSED = "witnesses"

BeforeFold = Callable[[int, datetime, Statement], None]
"""Called with each entry's index, integration time and statement before it is folded."""

StoredNodes = Callable[[int, int | None], Mapping[Node, bytes]]
"""The stored hashes of the complete subtrees whose last leaf lies in ``[start, end)``
(``end`` None: from ``start`` on), e.g. :meth:`pausewatch.ledger.LogStore.nodes_completed`."""


@dataclass
class CheckpointResult:
    """What the audit found for one checkpoint."""

    size: int
    root_hash: str
    cosigners: list[str]
    """Witnesses, among the keys the auditor gave, whose cosignature verified."""
    witnessed: bool
    """Cosigned by at least the threshold of the auditor's witness keys (never without keys)."""
    pinned: bool = False
    """A checkpoint the auditor held (``--checkpoint``)."""


@dataclass
class AuditReport:
    """The outcome of an audit."""

    origin: str
    entries: int = 0
    root_hash: str = ""
    kinds: dict[str, int] = field(default_factory=dict)
    checkpoints: list[CheckpointResult] = field(default_factory=list)
    """The checkpoints verified: every pinned one and the newest
    :data:`MAX_CHECKPOINTS_LISTED` of the others, in order of size."""
    checkpoints_verified: int = 0
    """Every checkpoint verified (signed by the log key, its root the recomputed tree's)."""
    checkpoints_not_listed: int = 0
    """Checkpoints verified but not in :attr:`checkpoints` (older ones beyond the bound)."""
    witnessed_checkpoints: int = 0
    """Checkpoints verified and cosigned by the threshold of the witness keys given."""
    problems: list[str] = field(default_factory=list)
    server_proofs_checked: int = 0
    decisions: list[dict[str, object]] = field(default_factory=list)
    """Every proposal's outcome, recomputed by folding the entries (with a secretariat key)."""
    rejected_entries: int = 0
    """Entries the fold rejected (on the log, without effect)."""
    anchor: str = UNANCHORED
    """What ties the audited log to something outside it: :data:`PINNED`, :data:`WITNESSED`,
    or :data:`UNANCHORED` (nothing: a rolled-back or forked log would pass as well)."""
    anchored_size: int = 0
    """Entries covered by the newest anchoring checkpoint (0 when unanchored)."""
    witness_threshold: int = 0
    """Cosignatures a checkpoint needed to count as witnessed (0: no witness keys given)."""
    stored_hashes_checked: int = 0
    """Stored complete-subtree hashes recomputed from the entries (an audit of the store)."""
    batches_reverified: int = 0
    """Telemetry batches whose stored records were verified again and their figures compared."""
    records_reverified: int = 0
    """Stored records read and verified again."""
    batches_not_reverified: int = 0
    """Telemetry batches taken on the secretariat's word: no records to verify them from (an
    export written without them, or no secretariat key to fold with)."""
    findings_rechecked: int = 0
    """Findings filed with the policy's proposals that the audit evaluated the policy again
    for."""
    view_rows_compared: int = 0
    """Stored view rows compared with the fold's (an audit of the store)."""
    balances_recomputed: int = 0
    """Daily facility balances recomputed and tested from the fold alone, at the last entry's
    time (docs/adr/0029)."""
    balance_alarms: int = 0
    """Days among them on which a test alarmed."""
    counter_days_recomputed: int = 0
    """Cluster-days whose counters were tested against their chips' tensor activity from the
    fold alone, at the last entry's time (docs/adr/0033)."""
    counter_alarms: int = 0
    """Cluster-days among them whose counters were implausible."""
    rollups_recomputed: int = 0
    """Daily balances of operators and parties (their facilities' summed) recomputed and
    tested from the same fold (docs/adr/0035)."""
    rollup_alarms: int = 0
    """Days among them on which a test alarmed."""
    transcript_commitments_checked: int = 0
    """Transcript and checkpoint commitments the audit's fold checked and took (issue 17):
    bound to their run's declaration, continuing its checkpoints."""
    transcript_verdicts_checked: int = 0
    """Audits' verdicts whose beacon (the root after the final commitment) and drawn segments
    the audit recomputed from the entries and found equal, with a replay of every segment."""

    @property
    def anchored(self) -> bool:
        """True when a pinned or witnessed checkpoint anchors the log."""
        return self.anchor != UNANCHORED

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def problem(self, message: str) -> None:
        """Record a problem (the first :data:`MAX_PROBLEMS` are kept verbatim)."""
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append(_MORE)

    def lead(self, messages: list[str]) -> None:
        """Record problems ahead of those already recorded, within the same cap: the cause
        first (a tile server's altered bundle, say), then what it caused (every entry of it
        unreadable), so that the cap never hides the cause behind its consequences."""
        shown = [p for p in self.problems if p != _MORE]
        self.problems = []
        for message in [*messages, *shown]:
            self.problem(message)

    def to_json(self) -> dict[str, object]:
        """The report as JSON."""
        return {
            "ok": self.ok,
            "origin": self.origin,
            "entries": self.entries,
            "root_hash": self.root_hash,
            "kinds": self.kinds,
            "checkpoints": [c.__dict__ for c in self.checkpoints],
            "checkpoints_verified": self.checkpoints_verified,
            "checkpoints_not_listed": self.checkpoints_not_listed,
            "witnessed_checkpoints": self.witnessed_checkpoints,
            "witness_threshold": self.witness_threshold,
            "anchored": self.anchored,
            "anchor": self.anchor,
            "anchored_size": self.anchored_size,
            "stored_hashes_checked": self.stored_hashes_checked,
            "batches_reverified": self.batches_reverified,
            "records_reverified": self.records_reverified,
            "batches_not_reverified": self.batches_not_reverified,
            "findings_rechecked": self.findings_rechecked,
            "view_rows_compared": self.view_rows_compared,
            "balances_recomputed": self.balances_recomputed,
            "balance_alarms": self.balance_alarms,
            "counter_days_recomputed": self.counter_days_recomputed,
            "counter_alarms": self.counter_alarms,
            "rollups_recomputed": self.rollups_recomputed,
            "rollup_alarms": self.rollup_alarms,
            "transcript_commitments_checked": self.transcript_commitments_checked,
            "transcript_verdicts_checked": self.transcript_verdicts_checked,
            "server_proofs_checked": self.server_proofs_checked,
            "decisions": self.decisions,
            "rejected_entries": self.rejected_entries,
            "problems": self.problems,
        }


def _recompute_balances(report: AuditReport, fold: Registry, at: datetime) -> None:
    """Every facility's daily balances and their tests, and their roll-ups per operator and
    party, from the audit's own fold."""
    from pausewatch.detect import facility_balances, rolled_up

    try:
        found = facility_balances(fold, at)
        rollups = rolled_up(found)
    except Error as exc:
        report.problem(f"daily balances: {exc}")
        return
    for facility in found:
        for points in facility.series.values():
            report.balances_recomputed += len(points)
            report.balance_alarms += sum(1 for p in points if p.alarm is not None)
    for rollup in (*rollups.operators, *rollups.parties):
        for points in rollup.series.values():
            report.rollups_recomputed += len(points)
            report.rollup_alarms += sum(1 for p in points if p.alarm is not None)


def _recompute_counters(report: AuditReport, fold: Registry, at: datetime) -> None:
    """Every closed cluster-day's counters against its chips' tensor activity, from the
    audit's own fold."""
    from pausewatch.detect import counter_days

    try:
        days = counter_days(fold, at)
    except Error as exc:
        report.problem(f"counter plausibility: {exc}")
        return
    report.counter_days_recomputed += len(days)
    report.counter_alarms += sum(1 for d in days if d.alarm)


def check_entry(
    index: int,
    data: bytes,
    report: AuditReport,
    last_time: str,
    fold: Registry | None = None,
    before_fold: BeforeFold | None = None,
) -> str:
    """Check one entry's bytes; return its integration time (for ordering). With ``fold``,
    fold the entry's statement into it (a registry recomputed from the entries alone); an entry
    that holds no readable statement is set aside there as the service's fold sets it aside.
    ``before_fold(index, integrated_at, statement)`` sees each statement just before it is
    folded (what the fold held before it is what its figures rest on)."""

    def unreadable(reason: str, when: object = None) -> None:
        report.problem(f"entry {index}: {reason}")
        if fold is not None:
            isolate_unreadable(fold, index, _time_or(when, last_time), data, reason)

    try:
        obj = parse_json(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        unreadable("not JSON")
        return last_time
    if not isinstance(obj, dict) or set(obj) != {"integrated_at", "statement"}:
        unreadable("expected keys integrated_at and statement")
        return last_time
    if canonical(obj) != data:
        report.problem(f"entry {index}: bytes are not RFC 8785 canonical")
    t = obj["integrated_at"]
    if not isinstance(t, str):
        unreadable("integrated_at is not a string")
        return last_time
    if t < last_time:
        report.problem(
            f"entry {index}: integrated_at {t} is before the previous entry's {last_time}"
        )
    try:
        statement = parse_statement(obj["statement"])
        report.kinds[statement.kind] = report.kinds.get(statement.kind, 0) + 1
    except Error as exc:
        unreadable(f"the statement cannot be read: {type(exc).__name__}: {exc}", t)
        return max(t, last_time)
    if fold is not None:
        when = _time_or(t, last_time)
        if before_fold is not None:
            before_fold(index, when, statement)
        outcome = fold.apply(index, when, statement)
        report.rejected_entries += not outcome.accepted
        if fold.get("unreadable", index) is not None:
            report.problem(f"entry {index}: {outcome.reason}")
    return max(t, last_time)


def _time_or(text: object, fallback: str) -> datetime:
    """``text`` as a time; else the previous entry's time, else the earliest time."""
    for candidate in (text, fallback):
        if isinstance(candidate, str):
            try:
                return parse_time(candidate)
            except ValueError:
                continue
    return EARLIEST


def witness_threshold(witnesses: list[Verifier] | None, threshold: int | None) -> int:
    """The cosignatures a checkpoint needs: ``threshold``, by default all of ``witnesses``;
    0 without witness keys (then nothing is witnessed)."""
    n = len(witnesses or [])
    if n == 0:
        if threshold:
            raise ConfigurationError(
                f"a witness threshold of {threshold} needs witness keys (--witness), got none"
            )
        return 0
    k = n if threshold is None else threshold
    if not 1 <= k <= n:
        raise ConfigurationError(f"witness threshold: expected 1..{n}, got {k}")
    return k


class _RecentRoots:
    """The tree's root at each of the last ``keep`` sizes, in a ring of 32-byte slots: what
    the fold needs to check recorded witness cosignatures, which cover recent checkpoints only
    (:data:`~pausewatch.governance._witnesses.MAX_COSIGNATURE_LAG`), in bounded memory."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.size = 0
        self._ring = bytearray()

    def record(self, size: int, root: bytes) -> None:
        """Remember ``root`` as the root at ``size`` (sizes come one after another)."""
        at = (size % self.keep) * 32
        if len(self._ring) < at + 32:
            self._ring.extend(bytes(at + 32 - len(self._ring)))
        self._ring[at : at + 32] = root
        self.size = size

    def __call__(self, size: int) -> bytes:
        if size == 0:
            return EMPTY_ROOT
        if not self.size - self.keep < size <= self.size:
            raise ConfigurationError(f"the audit holds no root at size {size}")
        at = (size % self.keep) * 32
        return bytes(self._ring[at : at + 32])


def audit_log(
    entries: Iterable[tuple[int, bytes]],
    checkpoint_notes: Iterable[str],
    log_verifier: Verifier,
    witnesses: list[Verifier] | None = None,
    threshold: int | None = None,
    secretariat: str | None = None,
    *,
    pinned: Iterable[str] = (),
    unordered: Iterable[str] = (),
    stored_nodes: StoredNodes | None = None,
    records: BatchRecords | None = None,
    stored_views: StoredViews | None = None,
) -> tuple[AuditReport, CompactRange]:
    """Audit ``entries`` (``(index, bytes)`` in order) against ``checkpoint_notes`` (in order
    of size, read as the tree reaches them; one listed after a larger one is a problem), the
    ``pinned`` checkpoints the auditor held and a few ``unordered`` notes (both held from the
    start, in any order). A checkpoint is witnessed when ``threshold``
    (default: all) of ``witnesses`` cosigned it. With the ``secretariat`` key (a signer id),
    also fold the entries and recompute every proposal's outcome from them alone
    (:attr:`AuditReport.decisions`), re-evaluate the policy for each finding a policy-filed
    proposal carries, and, given the ``records`` behind each telemetry batch, verify them again
    and compare every figure of the batch's entry; with ``stored_views`` too, compare every
    view with the stored rows. With ``stored_nodes``, recompute every stored subtree hash.
    Returns the report and the recomputed tree's right edge."""
    k = witness_threshold(witnesses, threshold)
    report = AuditReport(origin=log_verifier.name, witness_threshold=k)
    checks = _Checkpoints(report, checkpoint_notes, log_verifier, witnesses or [], k)
    checks.hold(pinned, pinned=True)
    checks.hold(unordered, pinned=False)
    tree = CompactRange()
    checks.reach(0, EMPTY_ROOT)
    created: list[tuple[Node, bytes]] = []
    page_start = 0
    last_time = ""
    # The fold checks recorded witness cosignatures against the tree recomputed here, which
    # holds every entry up to the one being folded.
    # While entry i is folded the ring holds sizes up to i + 1; a cosignature may reach back
    # to size i - MAX_COSIGNATURE_LAG.
    recent = _RecentRoots(MAX_COSIGNATURE_LAG + 2)
    fold = new_registry({secretariat}, roots=recent) if secretariat else None
    before_fold = _recomputer(report, fold, records) if fold is not None else None
    for index, data in entries:
        if index != tree.size:
            report.problem(
                f"entry index {index}: expected {tree.size} (entries must be contiguous)"
            )
            break
        created += tree.append(leaf_hash(data))
        due = checks.wanted(tree.size)
        if fold is not None or due:
            root = tree.root()
            if fold is not None:
                recent.record(tree.size, root)
            if due:
                checks.reach(tree.size, root)
        if stored_nodes is not None and tree.size - page_start >= PAGE:
            _compare_stored(report, created, stored_nodes(page_start, tree.size))
            created, page_start = [], tree.size
        if stored_nodes is None:
            created = []
        last_time = check_entry(index, data, report, last_time, fold, before_fold)
    if stored_nodes is not None:
        _compare_stored(report, created, stored_nodes(page_start, tree.size))
        for node in sorted(stored_nodes(tree.size, None)):
            report.problem(
                f"stored subtree hash (level {node.level}, index {node.index}) covers leaves "
                f"beyond the {tree.size} entries"
            )
    report.entries = tree.size
    if fold is not None and last_time:
        _recompute_balances(report, fold, datetime.fromisoformat(last_time))
        _recompute_counters(report, fold, datetime.fromisoformat(last_time))
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
        if stored_views is not None:
            compared, problems = compare_views(fold, stored_views)
            report.view_rows_compared = compared
            for problem in problems:
                report.problem(problem)
    else:
        report.batches_not_reverified = report.kinds.get(BATCH_KIND, 0)
    report.root_hash = tree.root().hex()
    checks.finish(tree.size)
    return report, tree


class _Checkpoints:
    """The checkpoints, each checked when the recomputed tree reaches its size: the notes in
    order of size are read only as the tree grows, and only the listed results
    (:data:`MAX_CHECKPOINTS_LISTED`) are kept, so memory does not grow with their number."""

    def __init__(
        self,
        report: AuditReport,
        ordered: Iterable[str],
        verifier: Verifier,
        witnesses: list[Verifier],
        threshold: int,
    ) -> None:
        self.report = report
        self.verifier = verifier
        self.witnesses = witnesses
        self.threshold = threshold
        self._ordered: Iterator[str] | None = iter(ordered)
        self._last_read = -1
        """The size of the latest note read from the ordered ones."""
        self._waiting: list[tuple[int, int, SignedCheckpoint, bool]] = []
        """A heap of opened checkpoints not reached yet: size, order read, note, pinned."""
        self._read = 0
        self._pinned: list[CheckpointResult] = []
        self._newest: deque[CheckpointResult] = deque(maxlen=MAX_CHECKPOINTS_LISTED)

    def hold(self, notes: Iterable[str], *, pinned: bool) -> None:
        """Open ``notes`` (a few, in any order) now, to check each when the tree reaches it."""
        for note in notes:
            signed = self._open(note, pinned)
            if signed is not None:
                self._wait(signed, pinned)

    def _open(self, note: str, pinned: bool) -> SignedCheckpoint | None:
        try:
            return SignedCheckpoint.open(note, self.verifier, self.witnesses)
        except Error as exc:
            self.report.problem(f"checkpoint{' (pinned)' if pinned else ''}: {exc}")
            return None

    def _wait(self, signed: SignedCheckpoint, pinned: bool) -> None:
        self._read += 1
        heapq.heappush(self._waiting, (signed.checkpoint.size, self._read, signed, pinned))

    def _read_up_to(self, size: int) -> None:
        """Read the ordered notes until one lies beyond ``size`` (or none is left). The tree
        has passed the size of any note of fewer entries: it came after a larger one and is
        named now, not held."""
        while self._ordered is not None and self._last_read <= size:
            note = next(self._ordered, None)
            if note is None:
                self._ordered, self._last_read = None, sys.maxsize
                return
            signed = self._open(note, False)
            if signed is None:
                continue
            if signed.checkpoint.size < size:
                self._listed_late(f"checkpoint {signed.checkpoint.size}")
                continue
            self._wait(signed, False)
            self._last_read = signed.checkpoint.size

    def wanted(self, size: int) -> bool:
        """Whether a checkpoint may be due at ``size``: the tree's root is needed there."""
        return self._last_read <= size or bool(self._waiting and self._waiting[0][0] <= size)

    def reach(self, size: int, root: bytes) -> None:
        """The recomputed tree has ``size`` entries and ``root``: check what is due."""
        self._read_up_to(size)
        while self._waiting and self._waiting[0][0] <= size:
            at, _, signed, pinned = heapq.heappop(self._waiting)
            what = f"checkpoint {at}{' (pinned)' if pinned else ''}"
            if at < size:
                self._listed_late(what)
            elif signed.checkpoint.root_hash != root:
                self.report.problem(
                    f"{what}: root {signed.checkpoint.root_hash.hex()} differs from the "
                    f"recomputed {root.hex()}: the log is inconsistent with this checkpoint"
                )
            else:
                self._verified(signed, pinned)

    def _unreached(self, size: int, upto: int) -> None:
        """Name the waiting checkpoints of at most ``upto`` entries, beyond the tree's end at
        ``size``, in order of size."""
        while self._waiting and self._waiting[0][0] <= upto:
            at, _, _, pinned = heapq.heappop(self._waiting)
            what = f"checkpoint {at}{' (pinned)' if pinned else ''}"
            if at <= size:
                self._listed_late(what)
            else:
                self.report.problem(f"{what}: covers more entries than the {size} audited")

    def _listed_late(self, what: str) -> None:
        self.report.problem(
            f"{what}: listed after a checkpoint of more entries (checkpoints are checked in "
            "order of size)"
        )

    def _verified(self, signed: SignedCheckpoint, pinned: bool) -> None:
        report, cp = self.report, signed.checkpoint
        witnessed = self.threshold > 0 and signed.witnessed(self.threshold)
        result = CheckpointResult(
            cp.size,
            cp.root_hash.hex(),
            sorted({c.name for c in signed.cosignatures}),
            witnessed,
            pinned,
        )
        (self._pinned if pinned else self._newest).append(result)
        report.checkpoints_verified += 1
        report.witnessed_checkpoints += witnessed
        anchor = PINNED if pinned else WITNESSED if witnessed else None
        if anchor is not None and (not report.anchored or cp.size > report.anchored_size):
            report.anchor, report.anchored_size = anchor, cp.size

    def finish(self, size: int) -> None:
        """The tree ends at ``size``: whatever lies beyond it is a problem; list the results.
        The rest of the ordered notes are read one at a time and named, none held."""
        report = self.report
        while self._ordered is not None:
            note = next(self._ordered, None)
            if note is None:
                break
            signed = self._open(note, False)
            if signed is None:
                continue
            at = signed.checkpoint.size
            if at <= size:
                # Read only now, after the tree passed its size: it came after a larger one.
                self._listed_late(f"checkpoint {at}")
                continue
            self._unreached(size, at)
            report.problem(f"checkpoint {at}: covers more entries than the {size} audited")
        self._ordered, self._last_read = None, sys.maxsize
        self._unreached(size, sys.maxsize)
        report.checkpoints = sorted(
            [*self._pinned, *self._newest], key=lambda c: (c.size, not c.pinned)
        )
        report.checkpoints_not_listed = report.checkpoints_verified - len(report.checkpoints)
        if self.threshold and report.checkpoints_verified and not report.witnessed_checkpoints:
            report.problem(f"no checkpoint carries {self.threshold} valid witness cosignatures")


def _recomputer(report: AuditReport, fold: Registry, records: BatchRecords | None) -> BeforeFold:
    """What the audit recomputes from an entry before folding it: a batch's verdicts from its
    records, a filed finding from the policy (only for entries the fold accepts: a rejected
    entry changes nothing)."""

    def before_fold(index: int, at: datetime, statement: Statement) -> None:
        body = statement.body
        if isinstance(body, TelemetryBatch):
            if fold.check(statement, at) is not None:
                return
            lines = None if records is None else records(index, body)
            if lines is None:
                report.batches_not_reverified += 1
                return
            read, problems = reverify_batch(index, body, lines, fold)
            report.batches_reverified += 1
            report.records_reverified += read
        elif isinstance(body, Proposal) and body.finding is not None:
            if statement.signer not in fold.secretariat or fold.check(statement, at) is not None:
                return
            problems = recheck_finding(index, body.proposal_id, body.finding, fold, at)
            if body.subject is not None and body.subject != body.finding.subject:
                # A halt or an enforcement step is about what its finding is about.
                problems.append(
                    f"entry {index} (proposal {body.proposal_id}): subject {body.subject} is "
                    f"not its finding's {body.finding.subject}"
                )
            report.findings_rechecked += 1
        elif isinstance(body, TranscriptCommit | TranscriptCheckpoint):
            report.transcript_commitments_checked += fold.check(statement, at) is None
            return
        elif isinstance(body, TranscriptVerdict):
            # The service checks a verdict before it appends it: one the entries' own fold
            # refuses (a beacon or a draw that differs) is the log's word against the entries.
            refused = fold.check(statement, at)
            if refused is None:
                report.transcript_verdicts_checked += 1
                return
            problems = [f"entry {index} (transcript.verdict/v1 {body.audit_id}): {refused}"]
        else:
            return
        for problem in problems:
            report.problem(problem)

    return before_fold


def _compare_stored(
    report: AuditReport, created: list[tuple[Node, bytes]], stored: Mapping[Node, bytes]
) -> None:
    """Compare the subtree hashes recomputed from a page of entries with the stored ones."""
    for node, expected in created:
        got = stored.get(node)
        where = f"stored subtree hash (level {node.level}, index {node.index})"
        if got is None:
            report.problem(f"{where} is missing")
        elif got != expected:
            report.problem(f"{where} is {got.hex()}, the entries give {expected.hex()}")
        else:
            report.stored_hashes_checked += 1
