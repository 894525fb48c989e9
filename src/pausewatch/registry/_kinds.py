"""Registry statement kinds: who holds which chips, who intends to train what, who backs the pause.

Each kind names the role whose key signs it (``signed_by``); what must already be on the log is
checked by the fold (:mod:`pausewatch.registry._fold`), which is the one authority on whether a
statement takes effect. Identifiers are short printable strings chosen by their registrant and
unique within their kind; keys are statement signer ids (``ed25519:<base64 public key>``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from pausewatch.compute import Phase
from pausewatch.fields import (
    ONE_LINE,
    Digest,
    Flop,
    Gbps,
    Id,
    KeyId,
    Label,
    Megawatts,
    Name,
    PositiveCount,
    Text,
    Usd,
)
from pausewatch.statements import Body, UtcDatetime, statement_kind

ChipCount = Annotated[int, Field(ge=1, le=10_000_000)]
"""How many chips a run uses."""


# -- parties, operators, places ---------------------------------------------------------------


@statement_kind("party.register/v1")
class PartyRegister(Body):
    """A signatory state or organisation joins the registry; its key signs for it from then on."""

    signed_by: ClassVar[str] = "secretariat"

    party_id: Id
    """The party's identifier, for example ``us`` or ``eu``."""
    name: Name
    """Its name, for example "United States"."""
    key: KeyId
    """The key that signs the party's statements (operator registrations, positions)."""


@statement_kind("operator.register/v1")
class OperatorRegister(Body):
    """A lab or data-centre operator under a party's jurisdiction, registered by that party."""

    signed_by: ClassVar[str] = "party"

    operator_id: Id
    """The operator's identifier."""
    party_id: Id
    """The party that registers it (and must sign this statement)."""
    name: Name
    """Its legal or trading name."""
    key: KeyId
    """The key that signs the operator's statements."""
    annual_revenue_usd: Usd | None = None
    """Annual revenue, where a policy's threshold depends on it (omit when unknown)."""


class Location(Body):
    """Where a facility is."""

    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    """ISO 3166-1 alpha-2 country code."""
    region: Annotated[str, Field(max_length=200), ONE_LINE] | None = None
    """State, province or region."""
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None


@statement_kind("facility.register/v1")
class FacilityRegister(Body):
    """A data centre of an operator."""

    signed_by: ClassVar[str] = "operator"

    facility_id: Id
    operator_id: Id
    """The operator that runs it (and must sign this statement)."""
    name: Name
    location: Location
    power_capacity_mw: Megawatts
    """Power the facility can draw, in megawatts."""


@statement_kind("cluster.register/v1")
class ClusterRegister(Body):
    """A cluster of chips inside a facility, with its network."""

    signed_by: ClassVar[str] = "operator"

    cluster_id: Id
    facility_id: Id
    """The facility that houses it; its operator must sign this statement."""
    name: Name
    network_gbps: Gbps
    """Bandwidth between its nodes, Gbit/s per node (the figure reporting rules name)."""
    commissioned_at: UtcDatetime | None = None
    """When it entered service (starts the clock of cluster reporting duties)."""


# -- chips --------------------------------------------------------------------------------------


@statement_kind("chip_maker.register/v1")
class ChipMakerRegister(Body):
    """A chip maker whose key certifies chip keys."""

    signed_by: ClassVar[str] = "secretariat"

    maker_id: Id
    name: Name
    key: KeyId
    """The key that signs chip certifications."""


@statement_kind("chip.certify/v1")
class ChipCertify(Body):
    """A maker vouches that a chip of a catalogue model holds the private half of ``key``."""

    signed_by: ClassVar[str] = "chip_maker"

    chip_id: Id
    maker_id: Id
    """The certifying maker (must sign this statement)."""
    model: Name
    """The chip model, as the hardware catalogue names it (``pausewatch compute hardware``)."""
    serial: Annotated[str, Field(min_length=1, max_length=128), ONE_LINE]
    key: KeyId
    """The chip's own key: it signs the chip's telemetry."""
    firmware_digest: Digest | None = None
    """Digest of the attested firmware, if the maker pins one."""
    operator_id: Id | None = None
    """The operator the chip is sold to: the one operator that may install it (until it, or
    the maker of a chip sold to no one, passes that right on with ``chip.transfer/v1``). The
    service takes no new certification without it; one already on a log without it is folded
    as it always was: its chip goes to the first operator that installs it
    (docs/adr/0016-chip-buyer.md)."""


class CustodyAction(StrEnum):
    """What happens to a chip."""

    INSTALL = "install"
    """Into a cluster of the signing operator (a new chip, or one transferred to it)."""
    TRANSFER = "transfer"
    """Out of the signer's cluster, to another operator (who then installs it)."""
    RETIRE = "retire"
    """Out of service for good."""


@statement_kind("chip.custody/v1")
class ChipCustody(Body):
    """A change in who holds a chip and where."""

    signed_by: ClassVar[str] = "operator"

    chip_id: Id
    action: CustodyAction
    cluster_id: Id | None = None
    """For ``install``: the cluster it goes into."""
    to_operator: Id | None = None
    """For ``transfer``: the operator that receives it."""
    at: UtcDatetime | None = None
    """When it happened, if the signer says (the log records its integration time)."""

    @model_validator(mode="after")
    def _fields_for_action(self) -> ChipCustody:
        if self.action is CustodyAction.INSTALL and self.cluster_id is None:
            raise ValueError("install needs cluster_id")
        if self.action is CustodyAction.TRANSFER and self.to_operator is None:
            raise ValueError("transfer needs to_operator")
        if self.action is not CustodyAction.INSTALL and self.cluster_id is not None:
            raise ValueError(f"{self.action.value} takes no cluster_id")
        if self.action is not CustodyAction.TRANSFER and self.to_operator is not None:
            raise ValueError(f"{self.action.value} takes no to_operator")
        return self


@statement_kind("chip.transfer/v1")
class ChipTransfer(Body):
    """A sale: whoever holds the right to install a chip passes it to another operator. That is
    the operator the chip is certified to, is in transit to or is installed with (an installed
    chip leaves its cluster); for a chip certified to no one, its maker. From this entry on,
    only ``to_operator`` may install the chip."""

    signed_by: ClassVar[str] = "chip_maker_or_operator"

    chip_id: Id
    to_operator: Id
    """The operator that buys it, and alone may install it next."""
    at: UtcDatetime | None = None
    """When the sale took effect, if the signer says (the log records its integration time)."""
    receiving_party: Id | None = None
    """The party ``to_operator`` is registered under, when the signer names it (a sale across
    borders names the party the chip goes to; the fold checks it, docs/adr/0025)."""


# -- keys ---------------------------------------------------------------------------------------


class SubjectKind(StrEnum):
    """Actors that hold keys in the registry."""

    PARTY = "party"
    OPERATOR = "operator"
    CHIP_MAKER = "chip_maker"
    CHIP = "chip"
    DELEGATE = "delegate"
    """A key that votes for a party (its subject id is the party's)."""
    EVALUATOR = "evaluator"
    """A safety institute whose key signs evaluation results."""
    INSPECTOR = "inspector"
    """An inspector whose key signs inspection plans and reports (docs/adr/0025)."""
    METER = "meter"
    """A facility meter whose key signs its readings (docs/adr/0025)."""


@statement_kind("key.rotate/v1")
class KeyRotate(Body):
    """An actor replaces its key; the old key signs nothing from this entry on."""

    signed_by: ClassVar[str] = "subject"

    subject_kind: SubjectKind
    subject_id: Id
    new_key: KeyId
    """The replacement; the statement is signed with the current key."""


@statement_kind("key.revoke/v1")
class KeyRevoke(Body):
    """A key is revoked: statements it signs after this entry do not count. Signed by the
    actor itself, or by whoever vouched for it (the secretariat for parties, chip makers and
    inspectors, the party for its operators, the maker for its chips, the certifier for a
    meter)."""

    signed_by: ClassVar[str] = "subject_or_voucher"

    subject_kind: SubjectKind
    subject_id: Id
    reason: Text
    replacement: KeyId | None = None
    """A new key, when the voucher issues one (a chip's key cannot be replaced)."""


# -- runs ---------------------------------------------------------------------------------------


class EstimateMethod(StrEnum):
    """How a planned FLOP figure was estimated (``pausewatch compute estimate``)."""

    ARCHITECTURE = "architecture"
    HARDWARE = "hardware"
    OTHER = "other"


@statement_kind("run.declaration/v1")
class RunDeclaration(Body):
    """What an operator intends to train, filed before it starts (DESIGN, "Run declaration")."""

    signed_by: ClassVar[str] = "operator"

    run_id: Id
    operator_id: Id
    """The declaring operator (must sign this statement)."""
    cluster_id: Id
    """Where it runs (the facility is the cluster's)."""
    model: Id
    """The model (lineage) it trains."""
    base_model: Id | None = None
    """The model it starts from, if any: its compute counts toward this lineage."""
    phase: Phase
    planned_flop: Flop
    """Planned compute, counted under the declared method."""
    planned_flop_low: Flop | None = None
    planned_flop_high: Flop | None = None
    estimate_method: EstimateMethod
    chips: ChipCount
    """How many chips it uses."""
    chip_model: Name | None = None
    """Their catalogue model."""
    chip_ids: Annotated[tuple[Id, ...], Field(max_length=1_000)] | None = None
    """The chips it runs on, one id each (as many as ``chips``, installed in its cluster): a
    halt order for the run is confirmed on these, whatever run their records name; a run that
    names none is confirmed on every chip of its cluster (docs/adr/0020)."""
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    hyperparameters_digest: Digest
    """Digest of the pre-committed hyper-parameters (the document stays with the operator)."""
    data_order_seed_digest: Digest
    """Digest of the pre-committed data-order seed."""
    checkpoint_interval_steps: PositiveCount
    """A checkpoint commitment every this many optimiser steps (for transcript spot checks)."""
    primary_data: Label | None = None
    """The primary kind of data, where a policy sets special thresholds: a label in lower case
    (``biological``), compared exactly with the policy's."""
    compute_cost_usd: Annotated[Usd, Field(le=1e13)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RunDeclaration:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        low = self.planned_flop_low
        high = self.planned_flop_high
        if low is not None and low > self.planned_flop:
            raise ValueError("planned_flop_low is above planned_flop")
        if high is not None and high < self.planned_flop:
            raise ValueError("planned_flop_high is below planned_flop")
        ids = self.chip_ids
        if ids is not None:
            if len(set(ids)) != len(ids):
                raise ValueError("chip_ids names a chip twice")
            if len(ids) != self.chips:
                raise ValueError(f"chip_ids names {len(ids)} chips, chips says {self.chips}")
        return self


@statement_kind("run.start/v1")
class RunStart(Body):
    """A declared run has started."""

    signed_by: ClassVar[str] = "operator"

    run_id: Id
    at: UtcDatetime


class RunOutcome(StrEnum):
    """How a run ended."""

    FINISHED = "finished"
    HALTED = "halted"
    ABANDONED = "abandoned"
    """Ended without starting."""


@statement_kind("run.end/v1")
class RunEnd(Body):
    """A run has ended."""

    signed_by: ClassVar[str] = "operator"

    run_id: Id
    at: UtcDatetime
    outcome: RunOutcome
    final_flop: Flop | None = None
    """The operator's own count of what it used, if it gives one."""


@statement_kind("run.change/v1")
class RunChange(Body):
    """A change to a declared run that has not ended: plan, end or chips."""

    signed_by: ClassVar[str] = "operator"

    run_id: Id
    reason: Text
    planned_flop: Flop | None = None
    planned_flop_low: Flop | None = None
    planned_flop_high: Flop | None = None
    ends_at: UtcDatetime | None = None
    chips: ChipCount | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> RunChange:
        fields = (self.planned_flop, self.planned_flop_low, self.planned_flop_high)
        if all(v is None for v in (*fields, self.ends_at, self.chips)):
            raise ValueError("a change must change something")
        return self


# -- positions ----------------------------------------------------------------------------------


class Stance(StrEnum):
    """Where an actor stands on the moratorium."""

    BACKS = "backs"
    OPPOSES = "opposes"
    UNDECLARED = "undeclared"
    """Has not said."""


@statement_kind("position/v1")
class Position(Body):
    """A party or operator records where it stands on the moratorium, with a source and date."""

    signed_by: ClassVar[str] = "party_or_operator"

    stance: Stance
    source: Annotated[str, Field(min_length=1, max_length=2_000), ONE_LINE]
    """Where the stance is stated: a URL or a citation."""
    as_of: UtcDatetime
    """When the stance was taken."""
    note: Text | None = None


REGISTRY_KINDS: tuple[str, ...] = (
    "party.register/v1",
    "operator.register/v1",
    "facility.register/v1",
    "cluster.register/v1",
    "chip_maker.register/v1",
    "chip.certify/v1",
    "chip.custody/v1",
    "chip.transfer/v1",
    "key.rotate/v1",
    "key.revoke/v1",
    "run.declaration/v1",
    "run.start/v1",
    "run.end/v1",
    "run.change/v1",
    "position/v1",
)
"""Every kind this module registers, in the order a registry is usually built."""
