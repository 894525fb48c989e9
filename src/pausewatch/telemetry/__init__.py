"""Chip telemetry: signed records, their verification, and the totals they add up to.

Pure: no database, network or clock (``now`` and the registry are passed in). Public API::

    parse_line(line) -> ParsedLine              check a JSONL line (raises RecordError)
    parse_record(wire) -> TelemetryRecord       check a record's wire form
    canonical_record_bytes(value) -> bytes      RFC 8785 bytes, json.dumps fast path
    signing_input(record) -> bytes              DOMAIN + canonical bytes: what a chip signs
    sign_record(record, key) -> bytes           a signed, canonical line (no newline)
    line_bytes(record_bytes, sig), record_hash(line) -> str
    split_lines(data) -> list[bytes]            the lines of a JSONL upload
    read_lines(stream) -> Iterator[bytes | OverlongLine]   the same, read from a file
    verify_batch(lines, *, operator_id, now, registry, chains, catalogue=None,
                 flop_tolerance=FLOP_TOLERANCE) -> BatchResult
    verify_stream(lines, *, ..., on_accepted=None, verifier=None) -> BatchSummary
                                                any size, bounded memory
    verify_segment(job) -> SegmentVerdict | MissingContext   one segment, in a worker process
    key_problem(raw) -> str | None              why a chip key cannot be used (RFC 8032)
    aggregate(accepted, *, undeclared_tensor_active=0.3) -> Aggregate
    batch_root(lines), record_path(lines, position)   a batch's records_root and one record's path
    verify_record_inclusion(proof, log_root) -> TelemetryBatch   record -> batch -> log, two levels
    merge_aggregates(first, *rest) -> Aggregate

Types: :class:`TelemetryRecord`, :class:`ChipInfo`, :class:`ChipStatus`, :class:`RegistryView`
(a Protocol), :class:`StaticRegistry`, :class:`ChainState`, :class:`Rule`, :class:`Rejected`,
:class:`Duplicate`, :class:`Gap`, :class:`AcceptedRecord`, :class:`BatchResult`,
:class:`BatchSummary`, :class:`RejectionSummary`, :class:`OverlongLine`, :class:`RecordInclusion`,
:class:`StoredRecord`, :class:`SegmentJob`, :class:`SegmentVerdict`, :class:`MissingContext`,
:class:`ChipTotals`, :class:`RunTotals`, :class:`ClusterTotals`, :class:`Aggregate`; errors
:class:`TelemetryError` and :class:`RecordError`. The record format is in DESIGN.md, "Domain
vocabulary and formats"; the rules are listed in :mod:`pausewatch.telemetry._verify`.
"""

from __future__ import annotations

from pausewatch.fields import ed25519_key_problem as key_problem
from pausewatch.telemetry._aggregate import (
    SIGNAL_CHIPS,
    SIGNAL_WINDOWS,
    SIGNALS_TEXT,
    UNDECLARED_TENSOR_ACTIVE,
    Aggregate,
    ChipTotals,
    ClusterTotals,
    DayTotals,
    RunTotals,
    Signal,
    SignalsText,
    aggregate,
    merge_aggregates,
    merge_signals,
    signal_chip_rank,
    signal_values,
    signals_from_json,
    signals_json,
)
from pausewatch.telemetry._canonical import (
    canonical_record_bytes,
    line_bytes,
    record_hash,
    signing_input,
)
from pausewatch.telemetry._parse import ParsedLine, parse_line, parse_record
from pausewatch.telemetry._proof import (
    RecordInclusion,
    batch_root,
    record_path,
    verify_record_inclusion,
)
from pausewatch.telemetry._record import (
    DOMAIN,
    MAX_SAFE_INTEGER,
    MAX_WINDOW_S,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    RecordError,
    SigningKey,
    TelemetryError,
    TelemetryRecord,
    format_time,
)
from pausewatch.telemetry._sign import sign_record
from pausewatch.telemetry._stream import (
    LISTED_REJECTIONS,
    SEGMENT_BYTES,
    SEGMENT_RECORDS,
    BatchSummary,
    MissingContext,
    OverlongLine,
    RejectionSummary,
    SegmentJob,
    SegmentVerdict,
    SegmentVerifier,
    StoredRecord,
    read_lines,
    verify_segment,
    verify_stream,
)
from pausewatch.telemetry._verify import (
    ENERGY_HEADROOM,
    FLOP_TOLERANCE,
    MAX_LINE_BYTES,
    AcceptedRecord,
    BatchResult,
    ChainState,
    ChipInfo,
    ChipStatus,
    Duplicate,
    Gap,
    RegistryView,
    Rejected,
    Rule,
    StaticRegistry,
    split_lines,
    verify_batch,
)

__all__ = [
    "DOMAIN",
    "ENERGY_HEADROOM",
    "FLOP_TOLERANCE",
    "LISTED_REJECTIONS",
    "MAX_LINE_BYTES",
    "MAX_SAFE_INTEGER",
    "MAX_WINDOW_S",
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "SEGMENT_BYTES",
    "SEGMENT_RECORDS",
    "SIGNALS_TEXT",
    "SIGNAL_CHIPS",
    "SIGNAL_WINDOWS",
    "UNDECLARED_TENSOR_ACTIVE",
    "AcceptedRecord",
    "Aggregate",
    "BatchResult",
    "BatchSummary",
    "ChainState",
    "ChipInfo",
    "ChipStatus",
    "ChipTotals",
    "ClusterTotals",
    "DayTotals",
    "Duplicate",
    "Gap",
    "MissingContext",
    "OverlongLine",
    "ParsedLine",
    "RecordError",
    "RecordInclusion",
    "RegistryView",
    "Rejected",
    "RejectionSummary",
    "Rule",
    "RunTotals",
    "SegmentJob",
    "SegmentVerdict",
    "SegmentVerifier",
    "Signal",
    "SignalsText",
    "SigningKey",
    "StaticRegistry",
    "StoredRecord",
    "TelemetryError",
    "TelemetryRecord",
    "aggregate",
    "batch_root",
    "canonical_record_bytes",
    "format_time",
    "key_problem",
    "line_bytes",
    "merge_aggregates",
    "merge_signals",
    "parse_line",
    "parse_record",
    "read_lines",
    "record_hash",
    "record_path",
    "sign_record",
    "signal_chip_rank",
    "signal_values",
    "signals_from_json",
    "signals_json",
    "signing_input",
    "split_lines",
    "verify_batch",
    "verify_record_inclusion",
    "verify_segment",
    "verify_stream",
]
