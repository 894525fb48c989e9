"""Statement kinds of the independent sources of truth that detection compares (issue 16,
item 1; docs/adr/0025-independent-sources.md).

Facility meters
    ``meter.certify/v1`` (the secretariat, or a registered inspector for its inspectorate),
    ``meter.install/v1`` (the facility's operator) and ``meter.reading/v1``: signed by the
    meter's own key, hash-chained like a chip's telemetry (``seq`` one past the last, ``prev``
    the SHA-256 of the canonical body of the reading before, cumulative energy that never falls).
Supply chain
    ``chip.ship/v1`` (the chip's maker or the secretariat: chips from maker to the operator that
    bought them, with the receiving party) and ``chip.export/v1`` (chips leaving the regime for a
    non-party). A sale between operators, across borders or not, stays ``chip.transfer/v1``
    (docs/adr/0016), which now may name its receiving party; a retirement stays
    ``chip.custody/v1`` ``retire``.
Inspectors and inspections
    ``inspector.register/v1`` (the secretariat), ``inspection.plan/v1`` and
    ``inspection.report/v1`` (the inspector).
Declared non-training work
    ``workload.declare/v1`` (the operator): inference, serving or other work on a cluster, with
    its expected chips and bounds of power and compute.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from pausewatch.fields import (
    ONE_LINE,
    Digest,
    Flop,
    Id,
    KeyId,
    Name,
    PositiveCount,
    Text,
    Watts,
    format_time,
)
from pausewatch.statements import Body, UtcDatetime, canonical, statement_kind

Joules = Annotated[float, Field(ge=0, le=1e30, allow_inf_nan=False)]
"""An energy in joules: a meter's cumulative count (1e30 J is far beyond any facility's life)."""
Sigma = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
"""A relative standard deviation (0.01 is 1% of the figure measured)."""
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2 country code."""
Serial = Annotated[str, Field(min_length=1, max_length=128), ONE_LINE]
"""A serial number as printed on the device."""
ChipIds = Annotated[tuple[Id, ...], Field(min_length=1, max_length=1_000)]
"""The chips a statement names, one id each (at most 1,000 per statement)."""


def _distinct(ids: tuple[str, ...], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise ValueError(f"{what} names a chip twice")


# -- facility meters ---------------------------------------------------------------------------


@statement_kind("meter.certify/v1")
class MeterCertify(Body):
    """A revenue-grade energy meter is certified: its key signs its readings, and its stated
    accuracy is what the energy balance's error model takes for it."""

    signed_by: ClassVar[str] = "secretariat_or_inspector"

    meter_id: Id
    inspector_id: Id | None = None
    """The inspector that certifies it for its inspectorate (and signs this statement); none:
    the secretariat does."""
    model: Name
    """The meter's make and model."""
    serial: Serial
    key: KeyId
    """The meter's own key: it signs the meter's readings."""
    random_sigma: Sigma
    """Relative standard deviation of one reading's random error (independent per period)."""
    systematic_sigma: Sigma
    """Relative standard deviation of its calibration bias (the same in every period)."""


@statement_kind("meter.install/v1")
class MeterInstall(Body):
    """A certified meter is installed at a facility, on its whole supply or on one cluster's."""

    signed_by: ClassVar[str] = "operator"

    meter_id: Id
    facility_id: Id
    """The facility; its operator signs this statement."""
    cluster_id: Id | None = None
    """The cluster whose supply it measures; none: the whole facility's."""
    at: UtcDatetime | None = None
    """When it was installed, if the signer says (the log records its integration time)."""
    overhead_w: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] = 0.0
    """The stated constant draw the meter sees beside the chips (hosts, network, cooling where
    metered at the intake), in watts."""
    overhead_ratio: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 0.0
    """The stated extra energy per joule of chip energy (power conversion, cooling that scales
    with load)."""
    overhead_sigma: Sigma = 0.05
    """Relative systematic uncertainty of the stated overhead (both parts)."""


@statement_kind("meter.reading/v1")
class MeterReading(Body):
    """One reading of a meter, signed by the meter's key, chained to the one before."""

    signed_by: ClassVar[str] = "meter"

    meter_id: Id
    seq: Annotated[int, Field(ge=0, le=2**53 - 1)]
    """The reading's number: one past the meter's previous reading."""
    prev: Digest | None = None
    """:func:`reading_digest` of the previous reading (none for ``seq`` 0)."""
    window_start: UtcDatetime
    window_end: UtcDatetime
    """The period this reading closes; periods of one meter do not overlap."""
    energy_j: Joules
    """Cumulative energy through the meter at ``window_end``, in joules (never falls)."""

    @model_validator(mode="after")
    def _consistent(self) -> MeterReading:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        if self.seq == 0 and self.prev is not None:
            raise ValueError("the first reading (seq 0) has no prev")
        if self.seq > 0 and self.prev is None:
            raise ValueError("a reading after the first (seq > 0) names its prev")
        return self


def reading_digest(body: dict[str, Any]) -> str:
    """The hex SHA-256 of a reading's body, exactly as the meter signed it (the JSON object,
    not a parsed model: a time may be spelled several ways), in canonical JSON (RFC 8785): what
    the next reading names as ``prev``. The meter computes it offline from its own last body."""
    return hashlib.sha256(canonical(body)).hexdigest()


def next_reading(
    meter_id: str,
    previous: dict[str, Any] | None,
    window_start: datetime,
    window_end: datetime,
    energy_j: float,
) -> dict[str, Any]:
    """The body of the reading that follows ``previous`` (the body the meter signed last; none
    for its first), as a meter would sign it: ``seq`` one past, ``prev`` its digest."""
    body: dict[str, Any] = {
        "meter_id": meter_id,
        "seq": 0 if previous is None else int(previous["seq"]) + 1,
        "window_start": format_time(window_start),
        "window_end": format_time(window_end),
        "energy_j": energy_j,
    }
    if previous is not None:
        body["prev"] = reading_digest(previous)
    return body


# -- supply chain ------------------------------------------------------------------------------


@statement_kind("chip.ship/v1")
class ChipShip(Body):
    """Chips leave their maker for the operator that bought them (the buyer their certification
    or a later sale names), under the jurisdiction of the receiving party."""

    signed_by: ClassVar[str] = "chip_maker_or_secretariat"

    shipment_id: Id
    maker_id: Id
    """The maker of every chip shipped (signs this statement, or the secretariat does)."""
    chip_ids: ChipIds
    to_operator: Id
    """The operator that receives them: each chip's buyer."""
    receiving_party: Id
    """The party the receiving operator is registered under."""
    from_country: Country | None = None
    """Where the shipment leaves from."""
    to_country: Country | None = None
    """Where it is delivered."""
    shipped_at: UtcDatetime

    @model_validator(mode="after")
    def _consistent(self) -> ChipShip:
        _distinct(self.chip_ids, "chip_ids")
        return self


@statement_kind("chip.export/v1")
class ChipExport(Body):
    """Chips leave the regime for a non-party: signed by whoever holds the right to them (the
    operator that bought or holds them; the maker of a chip sold to no one). They leave their
    cluster, their key signs nothing more, and the export stays on record."""

    signed_by: ClassVar[str] = "chip_maker_or_operator"

    export_id: Id
    chip_ids: ChipIds
    destination_country: Country
    destination_entity: Name
    """Who receives them."""
    licence: Annotated[str, Field(max_length=200), ONE_LINE] | None = None
    """The export licence or authorisation, if any."""
    at: UtcDatetime | None = None
    """When they left, if the signer says."""

    @model_validator(mode="after")
    def _consistent(self) -> ChipExport:
        _distinct(self.chip_ids, "chip_ids")
        return self


# -- inspectors and inspections ----------------------------------------------------------------


@statement_kind("inspector.register/v1")
class InspectorRegister(Body):
    """An inspector, of an inspectorate, whose key signs inspection plans and reports (and may
    certify meters)."""

    signed_by: ClassVar[str] = "secretariat"

    inspector_id: Id
    name: Name
    body: Name
    """The inspectorate the inspector serves (an inspector body)."""
    key: KeyId


class SeedRule(StrEnum):
    """Where the draw of an inspection's sample takes its randomness from."""

    NEXT_CHECKPOINT_ROOT = "next_checkpoint_root"
    """The root hash of the log's first tree head after the plan's entry (the tree of size
    ``plan index + 1``, which every later checkpoint proves consistent with): neither the
    inspector nor the inspected can know it when the plan is committed. The fold computes it
    and keeps it with the report (``seed_root``)."""


@statement_kind("inspection.plan/v1")
class InspectionPlan(Body):
    """What an inspection will verify and how its sample is drawn, committed before the draw."""

    signed_by: ClassVar[str] = "inspector"

    plan_id: Id
    inspector_id: Id
    facility_id: Id
    cluster_id: Id | None = None
    """The cluster whose chips are drawn; none: the whole facility's."""
    chips_drawn: PositiveCount
    """How many chips are drawn for verification (``pausewatch detect plan``)."""
    seed_rule: SeedRule = SeedRule.NEXT_CHECKPOINT_ROOT
    commitment: Digest
    """SHA-256 of the sampling procedure (population order and draw), published before the
    seed exists."""
    read_meters: bool = True
    """Whether the inspectors read the facility's meters on site."""
    scheduled_at: UtcDatetime | None = None
    note: Text | None = None


class ChipSeen(Body):
    """A chip the inspectors found present, as its plate and its key answered."""

    chip_id: Id
    serial: Serial
    key: KeyId
    """The key the chip proved it holds (a challenge signed on site)."""


class SealState(Body):
    """A tamper seal the inspectors checked."""

    seal_id: Id
    intact: bool
    note: Annotated[str, Field(max_length=500), ONE_LINE] | None = None


class OnSiteReading(Body):
    """A meter's register as the inspectors read it on site."""

    meter_id: Id
    energy_j: Joules
    read_at: UtcDatetime


class Activity(StrEnum):
    """What the inspectors saw running."""

    TRAINING = "training"
    INFERENCE = "inference"
    IDLE = "idle"
    OTHER = "other"
    NOT_OBSERVED = "not_observed"


@statement_kind("inspection.report/v1")
class InspectionReport(Body):
    """What an inspection found, against its plan."""

    signed_by: ClassVar[str] = "inspector"

    plan_id: Id
    inspected_at: UtcDatetime
    sample: Annotated[tuple[Id, ...], Field(max_length=1_000)] = ()
    """The chips drawn, in the order drawn (from the plan's seed, by its committed procedure)."""
    chips_present: Annotated[tuple[ChipSeen, ...], Field(max_length=1_000)] = ()
    chips_missing: Annotated[tuple[Id, ...], Field(max_length=1_000)] = ()
    """Chips of the sample the inspectors did not find."""
    seals: Annotated[tuple[SealState, ...], Field(max_length=200)] = ()
    meter_readings: Annotated[tuple[OnSiteReading, ...], Field(max_length=100)] = ()
    activity: Activity = Activity.NOT_OBSERVED
    note: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> InspectionReport:
        present = [c.chip_id for c in self.chips_present]
        _distinct(self.sample, "sample")
        _distinct(tuple(present), "chips_present")
        _distinct(self.chips_missing, "chips_missing")
        both = sorted(set(present) & set(self.chips_missing))
        if both:
            raise ValueError(f"chips both present and missing: {', '.join(both)}")
        return self


# -- declared non-training work ----------------------------------------------------------------


class WorkloadKind(StrEnum):
    """Work that is not training, declared so that the balance has a side for it."""

    INFERENCE = "inference"
    SERVING = "serving"
    OTHER = "other"


@statement_kind("workload.declare/v1")
class WorkloadDeclare(Body):
    """An operator declares non-training work on a cluster, with what it expects it to use."""

    signed_by: ClassVar[str] = "operator"

    workload_id: Id
    operator_id: Id
    """The declaring operator (signs this statement; the cluster must be its)."""
    cluster_id: Id
    kind: WorkloadKind
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    chips: PositiveCount
    """How many chips it is expected to hold."""
    power_w_max: Watts | None = None
    """The most power it is expected to draw, in watts."""
    flop_max: Flop | None = None
    """The most compute it is expected to use over its span, in FLOP."""
    description: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> WorkloadDeclare:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


DETECT_KINDS: tuple[str, ...] = (
    "meter.certify/v1",
    "meter.install/v1",
    "meter.reading/v1",
    "chip.ship/v1",
    "chip.export/v1",
    "inspector.register/v1",
    "inspection.plan/v1",
    "inspection.report/v1",
    "workload.declare/v1",
)
"""Every kind this module registers."""
