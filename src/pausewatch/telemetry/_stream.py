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
"""

from __future__ import annotations

import bisect
import hashlib
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
    AcceptedRecord,
    ChainState,
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

    def __iter__(self) -> Iterator[str]:  # pragma: no cover - the verifier only looks up
        return iter({**self.read, **self.carried})

    def __len__(self) -> int:  # pragma: no cover
        return len({**self.read, **self.carried})


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
    on_accepted: Callable[[int, Sequence[AcceptedRecord]], None] | None = None,
    segment_records: int = SEGMENT_RECORDS,
    segment_bytes: int = SEGMENT_BYTES,
    listed: int = LISTED_REJECTIONS,
) -> BatchSummary:
    """Verify an upload line by line in bounded memory (see the module docstring).

    ``on_accepted(position, records)`` receives each segment's accepted records, in upload
    order, with the position of the first among all the upload's accepted records (what the
    root commits to). The verdicts are :func:`~pausewatch.telemetry.verify_batch`'s for an
    upload of one segment.
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
        result = _verify(
            segment, operator_id, now, registry, heads, cat, flop_tolerance, every_signature
        )
        segment.clear()
        size = 0
        if result.accepted:
            if on_accepted is not None:
                on_accepted(accepted, result.accepted)
            tree.extend([record.line for record in result.accepted])
            part = aggregate(result.accepted, undeclared_tensor_active=undeclared_tensor_active)
            totals = part if totals is None else merge_aggregates(totals, part)
            accepted += len(result.accepted)
        for rejection in result.rejected:
            rejections.add(rejection)
        duplicates += len(result.duplicates)
        gaps.extend(result.gaps)
        carried.update(result.chains)

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
