"""The facts a policy is evaluated over: runs, models, clusters, evaluation results, incidents.

Facts are what the state (the fold over the log) knows at a moment: declared and measured compute
with intervals, lineage, clusters, capability evidence. ``pausewatch policy check POLICY FACTS``
reads them from a YAML file; the service builds them from its views. Every fact may name the
``evidence`` it rests on (log entries such as ``log:1234``) so that findings can cite them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from pausewatch.compute import Estimate, Method, Phase, Precision
from pausewatch.fields import (
    Count,
    Digest,
    Flop,
    Fraction,
    Id,
    Label,
    Line,
    Name,
    PositiveCount,
    Time,
)
from pausewatch.policy._load import read_text, read_yaml, validate_document
from pausewatch.policy._model import Domain, Fact, Model

NonNegative = Annotated[float, Field(ge=0, le=1e300, allow_inf_nan=False)]
Utc = Time
"""A fact's time: :data:`pausewatch.fields.Time`, the same as a statement's."""


def _evidence(value: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(value))) if len(value) > 1 else value


Evidence = Annotated[tuple[str, ...], AfterValidator(_evidence)]
"""References a fact rests on (log entries such as ``log:1234``), kept sorted and unique."""


class Figure(Model):
    """A compute figure (FLOP, or FLOP/s for a rate) with its interval."""

    value: Flop
    """Central value."""
    low: Flop | None = None
    """Low bound (default: the value)."""
    high: Flop | None = None
    """High bound (default: the value)."""
    method: Method | None = None
    """How it was obtained (default: ``declared`` for a plan, ``telemetry`` for a measurement)."""

    @model_validator(mode="after")
    def _interval(self) -> Figure:
        low = self.value if self.low is None else self.low
        high = self.value if self.high is None else self.high
        if not low <= self.value <= high:
            raise ValueError(f"interval must hold the value: {low} <= {self.value} <= {high}")
        return self

    def estimate(self) -> Estimate:
        """As a :class:`~pausewatch.compute.Estimate`."""
        low = self.value if self.low is None else self.low
        high = self.value if self.high is None else self.high
        return Estimate(self.value, low, high, self.method or Method.DECLARED)


class RunStatus(StrEnum):
    """Where a run stands."""

    PLANNED = "planned"
    RUNNING = "running"
    FINISHED = "finished"
    HALTED = "halted"


class Approval(StrEnum):
    """Where a declared run's approval stands."""

    NONE = "none"
    PENDING = "pending"
    EXTENDED = "extended"
    APPROVED = "approved"
    REJECTED = "rejected"


_UNDER_WAY = frozenset({RunStatus.RUNNING, RunStatus.FINISHED, RunStatus.HALTED})


class RunFact(Model):
    """One training run."""

    id: Id
    """Run id."""
    operator: Id
    """Operator running it."""
    cluster: Id | None = None
    """Cluster it runs on."""
    model: Id
    """The model this run trains (its lineage node)."""
    base_model: Id | None = None
    """The model it starts from (none: trained from scratch)."""
    phase: Phase
    """Pre-training, fine-tuning, RL or a hyper-parameter search."""
    declared: Figure | None = None
    """Planned compute as declared (none: not declared)."""
    measured: Figure | None = None
    """Compute measured so far (telemetry), already counted under the policy's rule."""
    measured_by_precision: dict[Precision, Flop] | None = None
    """Operations measured per precision (``fp8``, ``bf16``, ...), counted here under the
    policy's rule."""
    rate: Figure | None = None
    """Current compute rate in FLOP/s (for the projection)."""
    status: RunStatus = RunStatus.PLANNED
    """Planned, running, finished or halted."""
    declared_at: Utc | None = None
    """When the declaration reached the log."""
    starts_at: Utc | None = None
    """Declared or actual start."""
    started: bool | None = None
    """Whether it has started (default: inferred from ``status``; a running, finished or
    halted run has started)."""
    ends_at: Utc | None = None
    """Declared or actual end."""
    approval: Approval = Approval.NONE
    """Approval state of the declaration."""
    decided_at: Utc | None = None
    """When approval was decided."""
    review_extended_days: Annotated[float, Field(ge=0, le=36_500)] = 0
    """Days by which review was extended (counted up to the policy's ``extension_days``)."""
    primary_data: Label | None = None
    """The main kind of training data (e.g. ``biological_sequences``)."""
    compute_cost_usd: NonNegative | None = None
    """What the run's compute cost (unknown: none)."""
    exempt_until: Utc | None = None
    """An exemption the parties granted covers the run until then: the pause does not bind it."""
    evidence: Evidence = ()
    """Log entries the facts about this run rest on."""
    party: Id | None = None
    """The operator's party (runs of one party are weighed together for splitting)."""
    facility: Id | None = None
    """The facility of the declared cluster."""
    declared_chips: tuple[Id, ...] | None = None
    """The chips the declaration names (none: it names only the cluster)."""
    chips: tuple[Id, ...] = ()
    """The chips whose accepted records named the run (docs/adr/0028)."""
    clusters: tuple[Id, ...] = ()
    """The clusters those chips were installed in."""
    hyperparameters_digest: Digest | None = None
    """The declared hyper-parameters' digest."""
    data_order_seed_digest: Digest | None = None
    """The declared data-order seed's digest."""

    @model_validator(mode="after")
    def _consistent(self) -> RunFact:
        # A run may end (finished, halted) without having started: abandoned, or halted
        # before its start. Only a running one has started for certain.
        if self.started is False and self.status is RunStatus.RUNNING:
            raise ValueError(
                f"a {self.status.value} run has started; started: false contradicts it"
            )
        if self.approval is Approval.APPROVED and self.decided_at is None:
            raise ValueError("an approved run needs decided_at, the time of the approval")
        return self

    @property
    def has_started(self) -> bool:
        """Whether the run has started: as given, or inferred from its status."""
        return self.started if self.started is not None else self.status in _UNDER_WAY


class ClusterFact(Model):
    """A computing cluster."""

    id: Id
    """Cluster id."""
    operator: Id
    """Who operates it."""
    facility: Id | None = None
    """The facility it stands in."""
    h100e: Annotated[float, Field(ge=0, le=1e12)]
    """Size in H100-equivalents (at most a trillion)."""
    peak_flops_per_s: Flop | None = None
    """Theoretical peak throughput (FLOP/s); default: h100e * 9.894e14."""
    network_gbps: NonNegative = 0
    """Data-centre networking (Gbit/s)."""
    monitored: bool = False
    """Whether its chips report signed telemetry."""
    commissioned_at: Utc | None = None
    """When it started operating."""
    reported_at: Utc | None = None
    """When it was reported (none: not reported)."""
    undeclared_flop: Flop = 0
    """Operations its chips reported in windows tagged to no declared run while their tensor
    pipes were busy (training-like): undeclared compute, counted under the policy's rule."""
    undeclared_windows: Annotated[int, Field(ge=0)] = 0
    """How many chip-windows that compute spans."""
    dark_chips: tuple[Id, ...] = ()
    """Installed chips silent past the policy's telemetry limit."""
    dark_power_w: NonNegative | None = None
    """Mean power the facility's meters measured over the silence beyond the stated overheads
    and the chips still reporting (none: no meter covers it; docs/adr/0029)."""
    dark_tdp_w: NonNegative | None = None
    """The silent chips' combined TDP, what they would draw at full load."""
    going_dark: bool | None = None
    """From the meter: the facility kept drawing the silent chips' power (going dark) or not
    (an outage); none without a meter."""
    evidence: Evidence = ()
    """Log entries the facts about this cluster rest on."""


class EvalStatus(StrEnum):
    """How an evaluation ended (Inspect's log status)."""

    SUCCESS = "success"
    INCOMPLETE = "incomplete"
    """Fewer samples were scored than the task holds."""
    ERROR = "error"
    CANCELLED = "cancelled"
    STARTED = "started"


class ElicitationFact(Model):
    """How hard an evaluation pushed its model, as its signed result reports it."""

    epochs: PositiveCount | None = None
    """Epochs run."""
    samples: Count | None = None
    """Samples scored (times epochs)."""
    agent: bool | None = None
    """Whether the model acted through tools."""
    tools: tuple[Name, ...] = ()
    """The tools it was given."""
    attempts: PositiveCount | None = None
    """Attempts allowed per sample (none: one)."""


class PinFact(Model):
    """The least elicitation an adopted suite asks of a probe's results (each part optional)."""

    min_epochs: PositiveCount | None = None
    """Epochs at least."""
    min_samples: PositiveCount | None = None
    """Samples scored at least (times epochs)."""
    agent: bool | None = None
    """The model must (true) or must not (false) act through tools."""
    tools: tuple[Name, ...] = ()
    """Tools the model must have been given, every one of them."""
    min_attempts: PositiveCount | None = None
    """Attempts per sample at least."""


class SuiteProbeFact(Model):
    """One probe of an adopted suite: its id, its task's version, the elicitation it pins."""

    probe: Name
    """The probe's id, as results name it."""
    version: Count
    """The task version adopted."""
    elicitation: PinFact | None = None
    """The least elicitation a result must show (none: any)."""


class SuiteFact(Model):
    """The suite adopted for a capability domain: the only evidence that can rule the
    capability out there (docs/adr/0021)."""

    domain: Domain
    """The capability domain."""
    probes: tuple[SuiteProbeFact, ...] = ()
    """Its probes (empty: withdrawn)."""
    evidence: Evidence = ()
    """Log entries it rests on."""


class EvalFact(Model):
    """A capability evaluation result."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,327}$")]
    """Evidence id (its log entry, or its Inspect log digest)."""
    model: Id
    """The model evaluated."""
    domain: Domain
    """The capability domain."""
    metric: Annotated[str, Field(min_length=1)]
    """The metric reported."""
    value: float | None = None
    """Point estimate (none when the evaluation failed)."""
    ci_low: float | None = None
    """Lower confidence bound."""
    ci_high: float | None = None
    """Upper confidence bound."""
    status: EvalStatus = EvalStatus.SUCCESS
    """Success, or how it failed (a failed evaluation never counts as a pass)."""
    completed_at: Utc | None = None
    """When it finished."""
    evidence: Evidence = ()
    """Log entries it rests on."""
    probe: Name | None = None
    """The probe (or Inspect task) that produced it; none: unknown, so it counts for no
    adopted suite (docs/adr/0021)."""
    task_version: Count | None = None
    """The version of that probe's task."""
    elicitation: ElicitationFact | None = None
    """How hard the model was pushed, as the result reports it."""

    @model_validator(mode="after")
    def _complete(self) -> EvalFact:
        if self.status is EvalStatus.SUCCESS and self.value is None:
            raise ValueError("a successful evaluation must report a value")
        lo = self.value if self.ci_low is None else self.ci_low
        hi = self.value if self.ci_high is None else self.ci_high
        if (
            self.value is not None
            and lo is not None
            and hi is not None
            and not lo <= self.value <= hi
        ):
            raise ValueError(f"interval must hold the value: {lo} <= {self.value} <= {hi}")
        return self


class OperatorFact(Model):
    """An operator (a lab, a data-centre owner)."""

    id: Id
    """Operator id."""
    annual_revenue_usd: NonNegative | None = None
    """Annual revenue (unknown: none)."""


class IncidentFact(Model):
    """A safety incident."""

    id: Id
    """Incident id."""
    operator: Id
    """Operator concerned."""
    occurred_at: Utc
    """When it happened (or was discovered)."""
    reported_at: Utc | None = None
    """When it was reported (none: not yet)."""
    summary: Annotated[str, Field(max_length=2_000)] = ""
    """What happened."""


class PauseFact(Model):
    """The pause as the governance fold sees it."""

    active: bool = False
    """Whether a pause has been decided and not lifted."""
    started_at: Utc | None = None
    """When it started (none: in force since before any fact)."""
    expires_at: Utc | None = None
    """When it expires without renewal (none: no expiry known)."""

    @model_validator(mode="after")
    def _window(self) -> PauseFact:
        if self.started_at and self.expires_at and self.expires_at <= self.started_at:
            raise ValueError("a pause must expire after it starts")
        return self

    def in_force(self, at: datetime) -> bool:
        """Whether the pause binds at ``at``: active, started and not expired."""
        return (
            self.active
            and (self.started_at is None or self.started_at <= at)
            and (self.expires_at is None or at < self.expires_at)
        )


class OrderStatus(StrEnum):
    """Where a halt order stands, as the telemetry shows it."""

    PENDING = "pending"
    """Its deadline has not passed."""
    CONFIRMED = "confirmed"
    """Acknowledged by the deadline, and every chip it covers reported after the deadline, none
    of them busy."""
    VIOLATED = "violated"
    """A chip it covers reported busy windows after the deadline, whatever run they named, or
    records named a run it covers then."""
    SILENT = "silent"
    """Past the deadline and the telemetry silence limit, some of its chips have not reported."""
    UNACKNOWLEDGED = "unacknowledged"
    """Past the deadline, its operator had not acknowledged it on the log by then (and no chip
    shows it violated)."""


class OrderFact(Model):
    """A halt order the parties decided."""

    id: Id
    """The proposal that decided it."""
    subject: Annotated[str, Field(max_length=200)]
    """``run:<id>`` or ``cluster:<id>``."""
    deadline: Utc
    status: OrderStatus
    acknowledged_at: Utc | None = None
    """When the operator acknowledged it on the log (none: not yet)."""
    detail: Annotated[str, Field(max_length=2_000)] = ""
    """What the telemetry showed, in words."""
    evidence: Evidence = ()


class UnreadableFact(Model):
    """A log entry set aside because the fold or the policy cannot read it (ADR 0017)."""

    entry: Annotated[str, Field(pattern=r"^log:[0-9]{1,16}$")]
    """The entry, as ``log:<index>``."""
    kind: Annotated[str, Field(min_length=1, max_length=200)]
    """The statement kind it holds, or what the policy could not read of it (``run``)."""
    reason: Annotated[str, Field(max_length=2_000)]
    """Why it cannot be read."""


class AccountScope(StrEnum):
    """Whose chip balance: one operator's, or a party's (all its operators together)."""

    OPERATOR = "operator"
    PARTY = "party"


class ChipAccountFact(Model):
    """The chip balance of an operator or a party (docs/adr/0026): chips shipped to it, less
    those transferred out, installed, retired, exported and seen reporting."""

    scope: AccountScope
    """An operator's balance or a party's."""
    id: Id
    """The operator's or the party's id."""
    party: Id | None = None
    """The operator's party."""
    shipped: Count = 0
    transferred_out: Count = 0
    installed: Count = 0
    retired: Count = 0
    exported: Count = 0
    reporting: Count = 0
    dark: Count = 0
    """Installed and never reported (the ``dark_chips`` finding's business, not unaccounted)."""
    unaccounted: Count = 0
    """Shipped less transferred out, installed, retired, exported and reporting."""
    unaccounted_chips: tuple[Id, ...] = ()
    """The first of the chips unaccounted for."""
    evidence: Evidence = ()
    """Log entries of their arrival."""

    @model_validator(mode="after")
    def _balanced(self) -> ChipAccountFact:
        if len(self.unaccounted_chips) > self.unaccounted:
            raise ValueError("more chips listed than unaccounted for")
        return self


class ChipExportFact(Model):
    """Chips exported to a non-party."""

    id: Id
    """The export's id."""
    party: Id | None = None
    """The party whose operator held them (none: their maker did)."""
    operator: Id | None = None
    """The operator that held them."""
    chips: Count
    """How many chips."""
    chip_ids: tuple[Id, ...] = ()
    """The first of them."""
    destination_country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    destination_entity: Name
    licence: Line | None = None
    """The export licence it states (none: none stated)."""
    at: Utc | None = None
    evidence: Evidence = ()


class InspectionFact(Model):
    """What an inspection report found at a facility that the registry does not say."""

    id: Id
    """The inspection plan's id."""
    facility: Id
    operator: Id | None = None
    inspected_at: Utc
    missing: tuple[Id, ...] = ()
    """Chips the inspectors looked for and did not find."""
    discrepancies: tuple[Line, ...] = ()
    """Chips or meters seen otherwise than the registry says (``id: problem``)."""
    seals_broken: tuple[Id, ...] = ()
    evidence: Evidence = ()


class ClassifiedClusterFact(Model):
    """What the workload classifier made of a cluster's chip traces that claim no training:
    windows that name no run, or run under a declared inference or serving workload
    (docs/adr/0032)."""

    id: Id
    """The cluster's id."""
    operator: Id
    facility: Id | None = None
    traces: Count
    """Chip traces classified: each one chip's sustained stretch of such windows."""
    windows: Count
    """The chip-windows those traces span."""
    training_traces: Count
    """Traces the classifier called training with at least its required confidence."""
    recall: Fraction
    """The classifier's recall of training on held-out simulated traces (its fit's seeds
    excluded), at that confidence."""
    false_positive_rate: Fraction
    """The share of held-out inference and idle traces it called training, at that
    confidence."""
    first_window: Utc | None = None
    last_window: Utc | None = None
    workloads: tuple[Id, ...] = ()
    """Declared workloads the classified windows ran under (none: they named no run)."""
    evidence: Evidence = ()

    @model_validator(mode="after")
    def _consistent(self) -> ClassifiedClusterFact:
        if self.training_traces > self.traces:
            raise ValueError("training_traces cannot exceed traces")
        return self


class RunPatternFact(Model):
    """What a declared run's sampled windows show against its declared phase: for a
    hyper-parameter search, whether its chips move as one synchronous job (docs/adr/0036)."""

    id: Id
    """The run's id."""
    operator: Id
    cluster: Id | None = None
    phase: Phase
    """The phase the run was declared in."""
    chips: Count
    """Sampled chips that reported windows of the run."""
    windows: Count
    """Their windows of the run."""
    pairs: Count
    """Chip pairs with enough windows in common to compare."""
    synchronous_pairs: Count
    """Pairs whose network traffic rises and falls together."""
    correlation: Fraction
    """The correlation of two chips' log traffic from which they move together."""
    share_limit: Fraction
    """The share of synchronous pairs from which the run is one job."""
    one_job: bool
    """Whether the detector found one synchronous job where the phase claims independent
    trials."""
    first_window: Utc | None = None
    last_window: Utc | None = None
    evidence: Evidence = ()

    @model_validator(mode="after")
    def _consistent(self) -> RunPatternFact:
        if self.synchronous_pairs > self.pairs:
            raise ValueError("synchronous_pairs cannot exceed pairs")
        return self


class BalanceName(StrEnum):
    """Which daily balance of a facility (docs/adr/0029)."""

    ENERGY = "energy"
    """Energy unaccounted for: the meters against the chips' reported energy and overheads."""
    COMPUTE_ENERGY = "compute_energy"
    """Compute unaccounted for, measured from the meters' energy."""
    COMPUTE_COUNTERS = "compute_counters"
    """Compute unaccounted for, measured by the counters (untagged beyond declared work)."""


class BalanceTestName(StrEnum):
    """Which test alarmed on a balance series."""

    ONE_SHOT = "one_shot"
    CUSUM = "cusum"


Finite = Annotated[float, Field(ge=-1e300, le=1e300, allow_inf_nan=False)]
"""A finite figure of either sign."""


class BalanceAlarmFact(Model):
    """The first alarm of one test on one daily balance series of a facility, or of an
    operator's or a party's facilities summed, up to the evaluation time (docs/adr/0029,
    docs/adr/0035)."""

    scope: Literal["facility", "operator", "party"] = "facility"
    """Whose balance: a facility's, or its operator's or party's roll-up."""
    facility: Id | None = None
    """The facility (scope ``facility``)."""
    operator: Id | None = None
    """The facility's operator, or the operator rolled up (scope ``operator``)."""
    party: Id | None = None
    """The operator's party, or the party rolled up (scope ``party``)."""
    facilities: tuple[Id, ...] = ()
    """Of a roll-up: the facilities it sums (those whose own series does not alarm)."""
    balance: BalanceName
    test: BalanceTestName
    period_start: Utc
    """Start of the day (UTC) the test first alarmed on."""
    value: Finite
    """That day's balance (J or FLOP), positive when more was measured than accounted for."""
    sigma: NonNegative
    """Its standard deviation under the error model."""
    unit: Literal["J", "FLOP"]
    """Joules (energy) or FLOP (compute)."""
    statistic: Finite
    """The standardised residual (one-shot) or the CUSUM."""
    limit: Finite
    """What the statistic exceeded."""
    alpha: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
    """The test's false-alarm probability per facility-year."""
    alarms: PositiveCount = 1
    """Days the test alarmed on up to the evaluation time."""
    last_period_start: Utc | None = None
    """Start of the last day it alarmed on."""
    evidence: Evidence = ()
    """The meter readings and telemetry batches (and workloads) the day rests on."""

    @model_validator(mode="after")
    def _names_its_subject(self) -> BalanceAlarmFact:
        if getattr(self, self.scope) is None:
            raise ValueError(f"a balance alarm of scope {self.scope!r} must name its {self.scope}")
        return self

    @property
    def subject(self) -> str:
        """``facility:<id>``, ``operator:<id>`` or ``party:<id>``."""
        return f"{self.scope}:{getattr(self, self.scope)}"


class CounterAlarmFact(Model):
    """The first UTC day on which a cluster's FLOP counters reported less than its chips'
    tensor activity makes plausible, up to the evaluation time (docs/adr/0033)."""

    cluster: Id
    facility: Id | None = None
    operator: Id | None = None
    party: Id | None = None
    period_start: Utc
    """Start of the day (UTC)."""
    ratio: NonNegative
    """The counter ratio that day: FLOP counted in busy windows over dense peak over
    tensor-active seconds."""
    limit: Annotated[float, Field(gt=0, le=1e300, allow_inf_nan=False)]
    """The plausibility limit the ratio fell below."""
    alpha: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
    """The test's false-alarm probability per cluster-year."""
    flop: NonNegative
    """FLOP the busy windows counted that day."""
    expected_flop: NonNegative
    """The least FLOP their tensor activity makes plausible (the counted FLOP scaled up to the
    limit)."""
    tensor_s: NonNegative
    """Tensor-active seconds of the busy windows."""
    chip_windows: Count
    """The cluster's records that day."""
    alarms: PositiveCount = 1
    """Days the test alarmed on up to the evaluation time."""
    last_period_start: Utc | None = None
    """Start of the last day it alarmed on."""
    evidence: Evidence = ()
    """The telemetry batches the day rests on."""


class CheckpointCommitmentFact(Model):
    """One checkpoint commitment (``transcript.checkpoint/v1``): however many checkpoints the
    statement carries, all of them were committed when it reached the log."""

    at: Utc
    """When it reached the log."""
    entry: Count
    """Its log entry."""
    last_step: Count
    """The last step it commits."""


class TranscriptFact(Model):
    """A run's training transcript, as its commitments stand on the log (issue 17): when it
    was committed, its checkpoint commitments so far, and the final weights' digest."""

    run: Id
    """The run it is the transcript of."""
    committed_at: Utc
    """When its commitment (``transcript.commit/v1``) reached the log."""
    checkpoints: Count = 0
    """Checkpoints committed so far."""
    last_checkpoint_at: Utc | None = None
    """When the last checkpoint commitment reached the log (none: no checkpoint yet)."""
    final_digest: Digest | None = None
    """SHA-256 of the final weights' file (none: not committed yet)."""
    final_at: Utc | None = None
    """When the final checkpoint commitment reached the log."""
    commitments: tuple[CheckpointCommitmentFact, ...] = ()
    """Each checkpoint commitment, in log order (the fold lists them all; facts written
    without them are judged on ``last_checkpoint_at`` alone)."""
    evidence: Evidence = ()
    """The commitment's and the latest checkpoint commitment's entries."""


class TranscriptVerdictFact(Model):
    """An audit's verdict on a run's transcript (``transcript.verdict/v1``)."""

    audit: Id
    """The audit's id."""
    run: Id
    """The run audited."""
    inspector: Id
    """The inspector that audited it."""
    verdict: Literal["pass", "fail"]
    """The verdict."""
    segments: tuple[Count, ...] = ()
    """The segments drawn and replayed."""
    failed_segments: tuple[Count, ...] = ()
    """Those whose replay ended beyond its tolerance."""
    inclusion_passed: bool = True
    """Whether the data-inclusion test passed."""
    reasons: tuple[Line, ...] = ()
    """Why it failed beyond the replays (integrity checks of the transcript)."""
    at: Utc
    """When the verdict reached the log."""
    evidence: Evidence = ()
    """The verdict's entry."""


class EvaluatedWeightsFact(Model):
    """The weights an evaluation result says it evaluated (``eval.result/v1``
    ``weights_digest``)."""

    result: Id
    """The result's id."""
    model: Id
    """The model it evaluated."""
    weights_digest: Digest
    """SHA-256 of the weights file evaluated."""
    evidence: Evidence = ()
    """The result's entry."""


class Facts(Model):
    """Everything a policy evaluation reads."""

    runs: tuple[RunFact, ...] = ()
    """Training runs."""
    clusters: tuple[ClusterFact, ...] = ()
    """Computing clusters."""
    evaluations: tuple[EvalFact, ...] = ()
    """Capability evaluation results."""
    suites: tuple[SuiteFact, ...] = ()
    """The evaluation suite adopted per capability domain (one per domain)."""
    operators: tuple[OperatorFact, ...] = ()
    """Operators (revenue, for thresholds that depend on it)."""
    incidents: tuple[IncidentFact, ...] = ()
    """Safety incidents."""
    pause: PauseFact = PauseFact()
    """The pause's state, as the governance decisions make it."""
    orders: tuple[OrderFact, ...] = ()
    """Halt orders the parties decided, with what the telemetry showed."""
    state: dict[Fact, float] = Field(default_factory=dict)
    """State figures for lift conditions (coverage, witnesses, ...)."""
    unreadable: tuple[UnreadableFact, ...] = ()
    """Log entries set aside because they cannot be read; each is a finding."""
    chip_accounts: tuple[ChipAccountFact, ...] = ()
    """Chip balances per operator and party (docs/adr/0026)."""
    chip_exports: tuple[ChipExportFact, ...] = ()
    """Chips exported to non-parties."""
    inspections: tuple[InspectionFact, ...] = ()
    """Inspection reports, with what they found amiss."""
    classified_clusters: tuple[ClassifiedClusterFact, ...] = ()
    """The workload classifier's verdicts on windows that claim no training (ADR 0032)."""
    balance_alarms: tuple[BalanceAlarmFact, ...] = ()
    """Alarms of the facilities' daily balances (docs/adr/0029)."""
    run_patterns: tuple[RunPatternFact, ...] = ()
    """Declared runs' window patterns against their phase (docs/adr/0036)."""
    counter_alarms: tuple[CounterAlarmFact, ...] = ()
    """Clusters whose counters reported less than their chips' activity makes plausible
    (docs/adr/0033)."""
    transcripts: tuple[TranscriptFact, ...] = ()
    """Runs' training transcripts as their commitments stand (issue 17)."""
    transcript_verdicts: tuple[TranscriptVerdictFact, ...] = ()
    """Audits' verdicts on transcripts."""
    evaluated_weights: tuple[EvaluatedWeightsFact, ...] = ()
    """The weights evaluation results name."""

    @field_validator("runs", "clusters", "evaluations", "operators", "incidents")
    @classmethod
    def _unique_ids(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        seen: set[str] = set()
        dup = sorted({x.id for x in value if x.id in seen or seen.add(x.id)})  # type: ignore[func-returns-value]
        if dup:
            raise ValueError(f"duplicate ids: {', '.join(dup)}")
        return value

    @field_validator("suites")
    @classmethod
    def _one_suite_per_domain(cls, value: tuple[SuiteFact, ...]) -> tuple[SuiteFact, ...]:
        domains = [s.domain.value for s in value]
        dup = sorted({d for d in domains if domains.count(d) > 1})
        if dup:
            raise ValueError(f"more than one suite for: {', '.join(dup)}")
        return value

    @model_validator(mode="after")
    def _one_base_per_model(self) -> Facts:
        base: dict[str, str | None] = {}
        clashes: set[str] = set()
        for run in self.runs:
            if run.model in base and base[run.model] != run.base_model:
                clashes.add(run.model)
            base.setdefault(run.model, run.base_model)
        if clashes:
            raise ValueError(
                f"runs of one model name different base models: {', '.join(sorted(clashes))}"
            )
        for model in base:
            seen = {model}
            parent = base.get(model)
            while parent is not None:
                if parent in seen:
                    raise ValueError(f"model lineage has a cycle through {parent!r}")
                seen.add(parent)
                parent = base.get(parent)
        return self


def parse_facts(text: str, filename: str = "<facts>") -> Facts:
    """:class:`Facts` from YAML (or JSON) text, every problem listed at once."""
    data, positions = read_yaml(text, filename)
    return validate_document(Facts, data, filename=filename, positions=positions, what="facts file")


def load_facts(path: str) -> Facts:
    """:class:`Facts` from a YAML file."""
    return parse_facts(read_text(path, "facts file"), path)
