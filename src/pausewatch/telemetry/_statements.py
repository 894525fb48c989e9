"""Statement kinds for telemetry on the log.

An operator uploads a JSONL batch of chip-signed records together with a
``telemetry.submission/v1`` statement: its own signature over the batch's digest and size. The
service verifies every record and appends one ``telemetry.batch/v1`` entry, signed by the
secretariat's key, that carries the operator's submission, the Merkle root of the accepted
records, what was rejected and why, the gaps, each chip's chain head and the batch's
aggregates. The records themselves are kept by upload and position; anyone holding them can
verify the root and recompute every figure in the entry.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator

from pausewatch.errors import Error
from pausewatch.statements import Body, UtcDatetime, parse_statement, statement_kind
from pausewatch.statements._types import Digest, Id
from pausewatch.telemetry._aggregate import Aggregate
from pausewatch.telemetry._verify import ChainState

SUBMISSION_KIND = "telemetry.submission/v1"
BATCH_KIND = "telemetry.batch/v1"

Hex64 = Digest


class _Checked(dict[str, Any]):
    """A body's JSON object, as validation read it, that also holds what validation parsed it
    into (``parsed``), so that the fold does not parse it again (docs/adr/0054). It is the
    same mapping to everything else: it compares, pickles and encodes to the same bytes as the
    plain dict (a copy or an unpickled one holds nothing parsed, and is parsed again when
    asked; :func:`~pausewatch.statements.canonical` takes its slower exact path for a dict
    subclass, and nothing encodes these fields: a statement keeps its signed bytes)."""

    __slots__ = ("parsed",)

    def __init__(self, value: dict[str, Any], parsed: Any) -> None:
        super().__init__(value)
        self.parsed = parsed

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))


def _parsed(value: object) -> Any:
    """What validation parsed ``value`` into, or None when it was not validated here."""
    return value.parsed if isinstance(value, _Checked) else None


@statement_kind(SUBMISSION_KIND)
class TelemetrySubmission(Body):
    """An operator submits a batch: the SHA-256 of the exact uploaded bytes and their lines."""

    signed_by: ClassVar[str] = "operator"

    operator_id: Id
    """The submitting operator (must sign this statement)."""
    batch_digest: Hex64
    """SHA-256 (hex) of the uploaded JSONL bytes."""
    records: Annotated[int, Field(ge=0, le=10_000_000)]
    """How many lines the upload holds."""


class BatchRejection(Body):
    """A record the service refused, and why."""

    index: Annotated[int, Field(ge=0)]
    """Its line in the upload, from 0."""
    chip_id: str | None = None
    seq: int | None = None
    rule: str
    """The rule it failed (``signature``, ``chain_broken``, ...; see pausewatch.telemetry)."""
    reason: Annotated[str, Field(max_length=2_000)]


class BatchGap(Body):
    """Windows a chip's chain skipped: recorded as missed, never papered over."""

    chip_id: str
    from_seq: Annotated[int, Field(ge=0)]
    """The first missing seq."""
    to_seq: Annotated[int, Field(ge=0)]
    """The last missing seq."""


@statement_kind(BATCH_KIND)
class TelemetryBatch(Body):
    """One verified batch of telemetry, as the service integrated it."""

    signed_by: ClassVar[str] = "secretariat"

    operator_id: Id
    submission: dict[str, Any]
    """The operator's ``telemetry.submission/v1`` statement, as it signed it."""
    verified_at: UtcDatetime
    """The time the records were checked against (no window may end after it)."""
    records_root: Hex64
    """RFC 9162 Merkle root over the accepted records' lines, in upload order."""
    accepted: Annotated[int, Field(ge=0)]
    duplicates: Annotated[int, Field(ge=0)]
    """Records already accepted (in this batch or an earlier one): counted once."""
    rejected: tuple[BatchRejection, ...] = ()
    """The first rejected records by line number, one by one (at most
    :data:`~pausewatch.telemetry.LISTED_REJECTIONS`; earlier entries listed up to a thousand)."""
    rejected_total: Annotated[int, Field(ge=0)] = 0
    """How many records were rejected in all."""
    rejected_by_rule: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    """How many records each rule rejected (empty in entries written before it was kept)."""
    gaps: tuple[BatchGap, ...] = ()
    chains: dict[str, dict[str, Any]]
    """Each chip's chain head after this batch (chips it advanced only)."""
    aggregate: dict[str, Any]
    """Totals per chip, run and cluster (``pausewatch.telemetry.Aggregate`` as JSON)."""

    @field_validator("submission")
    @classmethod
    def _submission(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            statement = parse_statement(value)
        except Error as exc:
            raise ValueError(f"submission: {exc}") from exc
        if statement.kind != SUBMISSION_KIND:
            raise ValueError(f"submission: expected {SUBMISSION_KIND}, got {statement.kind}")
        return _Checked(value, statement)

    @field_validator("chains")
    @classmethod
    def _chains(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        states: dict[str, ChainState] = {}
        for chip, state in value.items():
            try:
                states[chip] = ChainState.from_json(state)
            except Error as exc:
                raise ValueError(f"chains.{chip}: {exc}") from exc
        return _Checked(value, states)

    @field_validator("aggregate")
    @classmethod
    def _aggregate(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            return _Checked(value, Aggregate.from_json(value))
        except Error as exc:
            raise ValueError(str(exc)) from exc

    def submission_body(self) -> TelemetrySubmission:
        """The operator's submission, verified (when this body was validated, then)."""
        statement = _parsed(self.submission)
        if statement is None:
            statement = parse_statement(self.submission)
        body = statement.body
        assert isinstance(body, TelemetrySubmission)
        return body

    def chain_states(self) -> dict[str, ChainState]:
        """Each chip's chain head, as :attr:`chains` holds it (parsed once, by validation)."""
        states = _parsed(self.chains)
        if states is None:
            return {chip: ChainState.from_json(state) for chip, state in self.chains.items()}
        return dict(states)

    def aggregate_totals(self) -> Aggregate:
        """:attr:`aggregate` read (parsed once, by validation)."""
        agg = _parsed(self.aggregate)
        return agg if agg is not None else Aggregate.from_json(self.aggregate)

    def submission_signer(self) -> str:
        """The key that signed the submission."""
        return str(self.submission["signer"])
