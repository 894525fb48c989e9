"""Verifying an upload of any size in bounded memory, and summarising what was refused.

:func:`verify_stream` reads the lines of an upload one at a time (from :func:`read_lines`, which
never holds a line longer than :data:`~pausewatch.telemetry.MAX_LINE_BYTES`) and verifies them
in *segments* of at most :data:`SEGMENT_RECORDS` lines and :data:`SEGMENT_BYTES` bytes, each with
the rules of :func:`~pausewatch.telemetry.verify_batch`, the chain heads carried from one segment
to the next. What a segment accepted goes to a callback (to be stored) and into running totals:
the RFC 9162 root over the accepted lines in upload order (a compact range, at most log2(n) + 1
hashes), the aggregate, the chain heads. What it refused goes into a
:class:`RejectionSummary`: counts per rule and the first :data:`LISTED_REJECTIONS` with their
line numbers. So memory is bounded by a constant per upload (one segment, the summary, and one
chain head and one total per chip the upload names) whatever the upload's size.

A segment is a batch for the rules: a chip's records may come in any order within one (they are
checked in seq order); across segments they are checked in upload order, as if the upload had
been cut into batches there (a record that comes after a higher seq of its chip, one segment
later, is a ``replay``). Chips' agents write their records in seq order, so this only matters
for uploads reshuffled on purpose, which a segment of 8 MiB still allows.

A segment can be verified in another process (docs/adr/0048-ingest-workers.md): give
:func:`verify_stream` a ``verifier`` that runs :func:`verify_segment` elsewhere (a process pool).
The segment then travels as a :class:`SegmentJob` with the registry entries and chain heads of
the chips and runs its lines name (found by a scan of the bytes, not a parse); a chip or run the
scan missed comes back as :class:`MissingContext` and the job is sent again with it. What comes
back is a :class:`SegmentVerdict`, the same one the in-process path builds from its own
verification, merged by the same code: so the two paths give the same summary.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, NamedTuple

from pausewatch.compute import HardwareCatalogue, load_catalogue
from pausewatch.ledger import EMPTY_ROOT
from pausewatch.telemetry._aggregate import (
    UNDECLARED_TENSOR_ACTIVE,
    Aggregate,
    aggregate,
    merge_aggregates,
)
from pausewatch.telemetry._verify import (
    FLOP_TOLERANCE,
    MAX_LINE_BYTES,
    BatchResult,
    ChainState,
    ChipInfo,
    Gap,
    RegistryView,
    Rejected,
    Rule,
    _blank,
    _gc_paused,
    _require_utc,
    _too_long,
    _verify,
)

SEGMENT_RECORDS = 16_384
"""Most lines verified together (a chip's records may be shuffled within them)."""

SEGMENT_BYTES = 8 * 2**20
"""Most bytes of lines verified together: with :data:`SEGMENT_RECORDS`, what bounds memory. A
record in a segment costs about 4 KB while it is verified and stored (its line, canonical bytes,
parsed fields, hash, accepted entry and stored row), so 8 MiB of lines (about 12,000 records of
700 bytes) cost about 50 MiB. Ten one-minute windows of a thousand chips (7 MB) are one segment:
one signature check a chip per upload (docs/adr/0007)."""

LISTED_REJECTIONS = 20
"""Rejections listed one by one, with their line numbers, in an answer and a batch entry; the
rest are counted per rule."""

_BLOCK = 256 * 1024
_sha256 = hashlib.sha256


class OverlongLine(NamedTuple):
    """A line longer than the limit: only its length was kept."""

    size: int
    """Its length in bytes, without the newline."""


def read_lines(
    stream: IO[bytes], *, max_line: int = MAX_LINE_BYTES, block: int = _BLOCK
) -> Iterator[bytes | OverlongLine]:
    """The lines of a JSONL upload read from ``stream``, as :func:`split_lines` cuts them.

    The stream is read ``block`` bytes at a time and cut in C (``bytes.split``), so no more
    than a block and a line of ``max_line`` bytes are held at once. A line longer than
    ``max_line`` comes as an :class:`OverlongLine` with its length: read past, never held whole.
    """
    rest = b""
    skipped = 0  # length so far of an overlong line being read past; 0: none
    read = stream.read
    while chunk := read(block):
        if skipped:
            end = chunk.find(b"\n")
            if end < 0:
                skipped += len(chunk)
                continue
            yield OverlongLine(skipped + end)
            skipped = 0
            chunk = chunk[end + 1 :]
        lines = (rest + chunk if rest else chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if len(line) > max_line:
                yield OverlongLine(len(line))
            elif line[-1:] == b"\r":
                yield line[:-1]
            else:
                yield line
        if len(rest) > max_line:
            skipped, rest = len(rest), b""
    if skipped:
        yield OverlongLine(skipped)
    elif rest:
        if len(rest) > max_line:
            yield OverlongLine(len(rest))
        else:
            yield rest[:-1] if rest[-1:] == b"\r" else rest


@dataclass
class RejectionSummary:
    """What was refused in an upload, in constant space: counts per rule and the first few."""

    listed: int = LISTED_REJECTIONS
    """How many rejections to keep one by one (those with the lowest line numbers)."""
    total: int = 0
    """Rejections in all."""
    by_rule: dict[str, int] = field(default_factory=dict)
    """Rejections per rule."""
    first: list[Rejected] = field(default_factory=list)
    """The first :attr:`listed` rejections by line number, in that order."""

    def add(self, rejection: Rejected) -> None:
        """Count one rejection (in any order of line numbers)."""
        self.total += 1
        rule = rejection.rule.value
        self.by_rule[rule] = self.by_rule.get(rule, 0) + 1
        first = self.first
        if len(first) < self.listed or rejection.index < first[-1].index:
            bisect.insort(first, rejection, key=_index_of)
            if len(first) > self.listed:
                first.pop()

    def add_blank(self, index: int) -> None:
        """Count a blank line at ``index``: malformed, and made into a :class:`Rejected` only
        if it is to be listed (an upload of newlines costs a count a line, not an object)."""
        first = self.first
        if len(first) < self.listed or index < first[-1].index:
            self.add(_blank(index))
            return
        self.total += 1
        self.by_rule[_MALFORMED] = self.by_rule.get(_MALFORMED, 0) + 1

    def to_json(self) -> dict[str, Any]:
        """``rejected`` (the first few), ``rejected_total`` and ``rejected_by_rule``."""
        return {
            "rejected": [r.to_json() for r in self.first],
            "rejected_total": self.total,
            "rejected_by_rule": dict(sorted(self.by_rule.items())),
        }


def _index_of(rejection: Rejected) -> int:
    return rejection.index


_MALFORMED = Rule.MALFORMED.value


@dataclass
class BatchSummary:
    """The verdict on a whole upload, in space bounded by a constant and the chips it names."""

    accepted: int
    """Records accepted."""
    duplicates: int
    """Records already accepted (in this upload or an earlier one): counted once."""
    rejections: RejectionSummary
    """What was refused: counts per rule and the first few."""
    gaps: list[Gap]
    """Missing windows found, in upload order of the record after each gap."""
    chains: dict[str, ChainState]
    """New chain heads of the chips the upload advanced."""
    heads_read: dict[str, ChainState | None]
    """The chain heads the verification started from, per chip it looked up (``None``: the
    chip had none). The upload's verdicts hold as long as these are still the heads."""
    root: bytes
    """RFC 9162 root over the accepted lines, in upload order."""
    aggregate: Aggregate
    """Totals of the accepted records per chip, run and cluster."""
    lines: int
    """Lines read."""

    @property
    def root_hex(self) -> str:
        """:attr:`root` in lowercase hex."""
        return self.root.hex()


class _RootBuilder:
    """RFC 9162 root over leaves appended one by one, in O(log n) memory: the hashes of the
    maximal complete subtrees of the right edge (as the log's compact range, without its
    bookkeeping of the subtrees each append completes: 1 µs a leaf, not 20)."""

    __slots__ = ("size", "stack")

    def __init__(self) -> None:
        self.size = 0
        self.stack: list[bytes] = []

    def extend(self, entries: Iterable[bytes]) -> None:
        """Append each entry's leaf ``SHA-256(0x00 || entry)``."""
        stack = self.stack
        size = self.size
        for entry in entries:
            node = _sha256(b"\x00" + entry).digest()
            merged = size
            while merged & 1:
                node = _sha256(b"\x01" + stack.pop() + node).digest()
                merged >>= 1
            stack.append(node)
            size += 1
        self.size = size

    def root(self) -> bytes:
        """The tree head of the leaves so far."""
        if not self.stack:
            return EMPTY_ROOT
        node = self.stack[-1]
        for left in reversed(self.stack[:-1]):
            node = _sha256(b"\x01" + left + node).digest()
        return node


class _CarriedHeads(Mapping[str, ChainState]):
    """The chain heads as the next segment sees them: those the upload advanced so far, else
    the stored ones (each read once, and remembered in ``read``)."""

    def __init__(self, stored: Mapping[str, ChainState], carried: Mapping[str, ChainState]):
        self.stored = stored
        self.carried = carried
        self.read: dict[str, ChainState | None] = {}

    def __getitem__(self, chip_id: str) -> ChainState:
        state = self.carried.get(chip_id)
        if state is None:
            if chip_id in self.read:
                state = self.read[chip_id]
            else:
                state = self.read[chip_id] = self.stored.get(chip_id)
        if state is None:
            raise KeyError(chip_id)
        return state

    def peek(self, chip_id: str) -> ChainState | None:
        """The head the next segment would see for ``chip_id``, without remembering a read
        (a job sent to a worker names heads the verification may not look up)."""
        if chip_id in self.carried:
            return self.carried[chip_id]
        if chip_id in self.read:
            return self.read[chip_id]
        return self.stored.get(chip_id)

    def __iter__(self) -> Iterator[str]:  # pragma: no cover - the verifier only looks up
        return iter({**self.read, **self.carried})

    def __len__(self) -> int:  # pragma: no cover
        return len({**self.read, **self.carried})


class StoredRecord(NamedTuple):
    """An accepted record as it is stored: what the callback of :func:`verify_stream` gets."""

    hash: str
    """Its hash: lowercase hex SHA-256 of :attr:`line`."""
    chip_id: str
    """Its chip."""
    seq: int
    """Its seq."""
    line: bytes
    """Its exact signed line: what is stored and what the batch's root commits to."""


@dataclass(frozen=True)
class SegmentJob:
    """One segment to verify in another process, with all the registry and chain heads its
    verification reads (plain data: it is pickled)."""

    lines: list[tuple[int, bytes | str]]
    """``(line number, line)`` pairs, line numbers increasing."""
    operator_id: str
    now: datetime
    chips: dict[str, ChipInfo | None]
    """The registry's answer for each chip the lines name (``None``: no such chip)."""
    runs: dict[tuple[str, str], bool]
    """Whether run ``r`` is declared on cluster ``c``, for the pairs the lines may ask about."""
    heads: dict[str, ChainState | None]
    """The chain head each chip in :attr:`chips` has before this segment (``None``: none)."""
    catalogue: HardwareCatalogue | None
    """``None``: the packaged catalogue (loaded by the worker, not sent)."""
    flop_tolerance: float
    every_signature: bool
    undeclared_tensor_active: float


@dataclass(frozen=True)
class MissingContext:
    """A job's snapshot lacked these chips or run pairs: send it again with them."""

    chips: tuple[str, ...]
    runs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SegmentVerdict:
    """What one segment's verification gives the merge: compact, to cross a process boundary
    (the accepted records as stored, not parsed)."""

    accepted: list[StoredRecord]
    """Accepted records, in upload order."""
    aggregate: Aggregate | None
    """Their totals (``None`` when none was accepted)."""
    rejected: tuple[Rejected, ...]
    duplicates: int
    gaps: tuple[Gap, ...]
    chains: dict[str, ChainState]
    """New heads of the chips the segment advanced."""
    looked_up: tuple[str, ...]
    """Chips whose chain head the verification read."""


SegmentVerifier = Callable[[SegmentJob], "SegmentVerdict | MissingContext"]
"""Runs :func:`verify_segment` on a job, where it likes (a process pool), and returns its answer."""


def _segment_verdict(
    result: BatchResult, undeclared_tensor_active: float, looked_up: Iterable[str] = ()
) -> SegmentVerdict:
    accepted = result.accepted
    return SegmentVerdict(
        accepted=[StoredRecord(a.hash, a.record.chip_id, a.record.seq, a.line) for a in accepted],
        aggregate=(
            aggregate(accepted, undeclared_tensor_active=undeclared_tensor_active)
            if accepted
            else None
        ),
        rejected=result.rejected,
        duplicates=len(result.duplicates),
        gaps=result.gaps,
        chains=dict(result.chains),
        looked_up=tuple(looked_up),
    )


class _SnapshotRegistry:
    """A :class:`RegistryView` over a job's snapshot that notes what it lacks."""

    def __init__(self, job: SegmentJob) -> None:
        self.job = job
        self.missing_chips: set[str] = set()
        self.missing_runs: set[tuple[str, str]] = set()

    def chip(self, chip_id: str) -> ChipInfo | None:
        if chip_id not in self.job.chips:
            self.missing_chips.add(chip_id)
            return None
        return self.job.chips[chip_id]

    def run_declared_on(self, run_id: str, cluster_id: str) -> bool:
        declared = self.job.runs.get((run_id, cluster_id))
        if declared is None:
            self.missing_runs.add((run_id, cluster_id))
            return False
        return declared


class _SnapshotHeads(Mapping[str, ChainState]):
    """A job's chain heads, noting which the verification read and which it lacked."""

    def __init__(self, heads: Mapping[str, ChainState | None], missing: set[str]) -> None:
        self.heads = heads
        self.missing = missing
        self.looked_up: list[str] = []

    def __getitem__(self, chip_id: str) -> ChainState:
        if chip_id not in self.heads:
            self.missing.add(chip_id)
            raise KeyError(chip_id)
        self.looked_up.append(chip_id)
        state = self.heads[chip_id]
        if state is None:
            raise KeyError(chip_id)
        return state

    def __iter__(self) -> Iterator[str]:  # pragma: no cover - the verifier only looks up
        return iter(self.heads)

    def __len__(self) -> int:  # pragma: no cover
        return len(self.heads)


def verify_segment(job: SegmentJob) -> SegmentVerdict | MissingContext:
    """Verify one segment against the snapshot it carries: the work a worker process does.

    Pure and self-contained (module level, so that a process pool can run it). Answers
    :class:`MissingContext` when the lines name a chip or run pair the snapshot lacks.
    """
    registry = _SnapshotRegistry(job)
    heads = _SnapshotHeads(job.heads, registry.missing_chips)
    cat = job.catalogue if job.catalogue is not None else load_catalogue()
    with _gc_paused():
        result = _verify(
            job.lines,
            job.operator_id,
            job.now,
            registry,
            heads,
            cat,
            job.flop_tolerance,
            job.every_signature,
        )
        if registry.missing_chips or registry.missing_runs:
            return MissingContext(
                tuple(sorted(registry.missing_chips)), tuple(sorted(registry.missing_runs))
            )
        return _segment_verdict(result, job.undeclared_tensor_active, heads.looked_up)


_CHIP_ID = re.compile(rb'"chip_id"\s*:\s*"([^"\\]*)"')
_RUN_ID = re.compile(rb'"run_id"\s*:\s*"([^"\\]*)"')


def _named(pattern: re.Pattern[bytes], lines: Sequence[tuple[int, bytes | str]]) -> set[str]:
    """The values of a string field the lines seem to name, by a scan of their bytes (a hint:
    what it misses, the worker asks for)."""
    found: set[str] = set()
    for _, line in lines:
        raw = line.encode() if isinstance(line, str) else line
        for value in pattern.findall(raw):
            try:
                found.add(value.decode())
            except UnicodeDecodeError:
                continue
    return found


def _verify_elsewhere(
    verifier: SegmentVerifier,
    segment: list[tuple[int, bytes | str]],
    operator_id: str,
    now: datetime,
    registry: RegistryView,
    heads: _CarriedHeads,
    catalogue: HardwareCatalogue | None,
    flop_tolerance: float,
    every_signature: bool,
    undeclared_tensor_active: float,
) -> SegmentVerdict:
    """One segment through ``verifier``, with the snapshot its lines need."""
    chips = {c: registry.chip(c) for c in _named(_CHIP_ID, segment)}
    clusters = {info.cluster_id for info in chips.values() if info and info.cluster_id}
    runs = {
        (r, c): registry.run_declared_on(r, c) for r in _named(_RUN_ID, segment) for c in clusters
    }
    snapshot = {c: heads.peek(c) for c in chips}
    while True:
        answer = verifier(
            SegmentJob(
                lines=list(segment),
                operator_id=operator_id,
                now=now,
                chips=chips,
                runs=runs,
                heads=snapshot,
                catalogue=catalogue,
                flop_tolerance=flop_tolerance,
                every_signature=every_signature,
                undeclared_tensor_active=undeclared_tensor_active,
            )
        )
        if isinstance(answer, SegmentVerdict):
            break
        for chip_id in answer.chips:
            chips[chip_id] = registry.chip(chip_id)
            snapshot[chip_id] = heads.peek(chip_id)
        for run_id, cluster_id in answer.runs:
            runs[run_id, cluster_id] = registry.run_declared_on(run_id, cluster_id)
    for chip_id in answer.looked_up:
        if chip_id not in heads.carried and chip_id not in heads.read:
            heads.read[chip_id] = snapshot[chip_id]
    return answer


def verify_stream(
    lines: Iterable[bytes | str | OverlongLine],
    *,
    operator_id: str,
    now: datetime,
    registry: RegistryView,
    chains: Mapping[str, ChainState],
    catalogue: HardwareCatalogue | None = None,
    flop_tolerance: float = FLOP_TOLERANCE,
    every_signature: bool = False,
    undeclared_tensor_active: float = UNDECLARED_TENSOR_ACTIVE,
    on_accepted: Callable[[int, Sequence[StoredRecord]], None] | None = None,
    segment_records: int = SEGMENT_RECORDS,
    segment_bytes: int = SEGMENT_BYTES,
    listed: int = LISTED_REJECTIONS,
    verifier: SegmentVerifier | None = None,
) -> BatchSummary:
    """Verify an upload line by line in bounded memory (see the module docstring).

    ``on_accepted(position, records)`` receives each segment's accepted records, in upload
    order, with the position of the first among all the upload's accepted records (what the
    root commits to). The verdicts are :func:`~pausewatch.telemetry.verify_batch`'s for an
    upload of one segment. ``verifier``: verify each segment through it (in another process)
    instead of here; the summary is the same.
    """
    _require_utc(now)
    if segment_records < 1 or segment_bytes < 1:
        raise ValueError("segments must hold at least one line and one byte")
    cat = catalogue if catalogue is not None else load_catalogue()
    rejections = RejectionSummary(listed=listed)
    gaps: list[Gap] = []
    carried: dict[str, ChainState] = {}
    heads = _CarriedHeads(chains, carried)
    tree = _RootBuilder()
    totals: Aggregate | None = None
    accepted = duplicates = 0
    segment: list[tuple[int, bytes | str]] = []
    size = 0
    index = -1

    def flush() -> None:
        nonlocal totals, accepted, duplicates, size
        if verifier is None:
            verdict = _segment_verdict(
                _verify(
                    segment, operator_id, now, registry, heads, cat, flop_tolerance, every_signature
                ),
                undeclared_tensor_active,
            )
        else:
            verdict = _verify_elsewhere(
                verifier,
                segment,
                operator_id,
                now,
                registry,
                heads,
                catalogue,
                flop_tolerance,
                every_signature,
                undeclared_tensor_active,
            )
        segment.clear()
        size = 0
        if verdict.accepted:
            if on_accepted is not None:
                on_accepted(accepted, verdict.accepted)
            tree.extend([record.line for record in verdict.accepted])
            part = verdict.aggregate
            assert part is not None
            totals = part if totals is None else merge_aggregates(totals, part)
            accepted += len(verdict.accepted)
        for rejection in verdict.rejected:
            rejections.add(rejection)
        duplicates += verdict.duplicates
        gaps.extend(verdict.gaps)
        carried.update(verdict.chains)

    # The collector is paused for the whole upload (see verify_batch): a segment's lines and
    # records make no cycles, and with a segment alive its passes cost more than the parsing.
    with _gc_paused():
        for index, line in enumerate(lines):
            if isinstance(line, OverlongLine):
                rejections.add(_too_long(index, line.size))
                continue
            if not line or line.isspace():
                rejections.add_blank(index)
                continue
            if len(line) > MAX_LINE_BYTES:
                rejections.add(_too_long(index, len(line)))
                continue
            segment.append((index, line))
            size += len(line)
            if len(segment) >= segment_records or size >= segment_bytes:
                flush()
        if segment:
            flush()
    return BatchSummary(
        accepted=accepted,
        duplicates=duplicates,
        rejections=rejections,
        gaps=gaps,
        chains=carried,
        heads_read=heads.read,
        root=tree.root(),
        aggregate=(
            totals
            if totals is not None
            else Aggregate(undeclared_tensor_active=undeclared_tensor_active)
        ),
        lines=index + 1,
    )
