"""The moratorium policy: a versioned document of thresholds, duties and decision rules.

A policy is data. It is written in YAML (see ``presets/``), validated by these pydantic models,
signed on the log by a ``policy.adopt/v1`` statement, and read by the pure evaluation in
:mod:`pausewatch.policy._evaluate`. Every figure carries ``source``: the id of an entry in the
policy's ``sources``, so that a delegate can see what each number rests on. ``pausewatch policy
schema`` prints the JSON Schema generated from these models, field docstrings included.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pausewatch.compute import CountingRule, Phase
from pausewatch.fields import Label

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")

Figure = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A positive, finite figure."""
Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
"""A fraction in (0, 1]."""
Days = Annotated[float, Field(gt=0, le=36_500, allow_inf_nan=False)]
"""A positive number of days, at most a century."""
Hours = Annotated[float, Field(gt=0, le=876_000, allow_inf_nan=False)]
"""A positive number of hours, at most a century."""
Text = Annotated[str, Field(min_length=1, max_length=4_000)]
"""A non-empty piece of prose."""


class Model(BaseModel):
    """Base of every policy model: frozen, unknown fields refused, docstrings as descriptions."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=False,
        allow_inf_nan=False,
    )


POST_TRAINING_PHASES = frozenset({Phase.FINE_TUNING, Phase.RL})
"""Phases counted against the post-training tiers; the others count against pre-training."""


class Tier(StrEnum):
    """Compute tiers, from the mildest to the strictest duty."""

    MONITOR = "monitor"
    REPORT_BEFORE_START = "report_before_start"
    APPROVAL_REQUIRED = "approval_required"
    PROHIBITED = "prohibited"


TIER_ORDER: tuple[Tier, ...] = tuple(Tier)
"""Tiers in increasing strictness; their thresholds may not decrease along this order."""


class Basis(StrEnum):
    """What a compute threshold is compared with."""

    RUN = "run"
    """The compute of one training run."""
    LINEAGE = "lineage"
    """The cumulative compute of a model: its own runs plus every ancestor it derives from."""


class Sourced(Model):
    """A part of the policy whose figures rest on a cited source."""

    source: Annotated[str, Field(min_length=1)]
    """Id of the entry in the policy's ``sources`` that this figure rests on."""
    note: Text | None = None
    """How the source's wording was turned into this figure, where that needed a choice."""

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get("sources")
        if known is not None and value not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise ValueError(f"unknown source {value!r}; the policy's sources are: {listed}")
        return value


class Source(Model):
    """A document a figure rests on."""

    title: Text
    """Title of the document."""
    publisher: Text | None = None
    """Who published it (a legislature, an institute, a company)."""
    url: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    """Where to read it."""
    date: Annotated[str, Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")] | None = None
    """Publication date, ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``."""
    status: Text | None = None
    """Legal status where it matters (draft, in force, rescinded on ...)."""

    @field_validator("date", mode="before")
    @classmethod
    def _year(cls, value: object) -> object:
        # YAML reads a bare year as an integer.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Counting(Sourced):
    """How FLOP are counted."""

    rule: CountingRule
    """``fp16_equivalent_or_actual``: each operation counts the higher of its actual and its
    FP16-equivalent count; ``precision_agnostic``: every operation counts once."""
    includes: tuple[Phase, ...] = tuple(Phase)
    """Activities that count as training (the others are not counted at all)."""

    @field_validator("includes")
    @classmethod
    def _not_empty(cls, value: tuple[Phase, ...]) -> tuple[Phase, ...]:
        if not value:
            raise ValueError("at least one phase must count as training")
        if len(set(value)) != len(value):
            raise ValueError("a phase is listed twice")
        return value


class Threshold(Sourced):
    """One compute threshold: above ``flop`` (strictly, as the legal texts say "exceeds"), the
    tier's duty applies."""

    flop: Figure
    """The threshold in FLOP, counted under the policy's counting rule."""
    basis: tuple[Basis, ...] = (Basis.RUN, Basis.LINEAGE)
    """Compared with each run, with each model's cumulative lineage compute, or both."""
    min_cost_usd: Annotated[float, Field(ge=0)] | None = None
    """Applies only when the compute also cost more than this (unknown cost: it applies)."""
    min_developer_revenue_usd: Annotated[float, Field(ge=0)] | None = None
    """Applies only to developers with annual revenue above this (unknown revenue: it applies)."""

    @field_validator("basis")
    @classmethod
    def _basis(cls, value: tuple[Basis, ...]) -> tuple[Basis, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError("basis must name 'run', 'lineage' or both, each once")
        return value


class TierSet(Model):
    """The four tiers for one class of training; a missing tier does not apply."""

    monitor: Threshold | None = None
    """Compute at which a run is monitored (telemetry, registry)."""
    report_before_start: Threshold | None = None
    """Compute at which a run must be declared before it starts."""
    approval_required: Threshold | None = None
    """Compute at which a run needs approval (or deemed approval) before it starts."""
    prohibited: Threshold | None = None
    """Compute above which training is prohibited."""

    def items(self) -> list[tuple[Tier, Threshold]]:
        """The tiers present, mildest first."""
        out: list[tuple[Tier, Threshold]] = []
        for tier in TIER_ORDER:
            t = getattr(self, tier.value)
            if t is not None:
                out.append((tier, t))
        return out

    @model_validator(mode="after")
    def _ordered(self) -> TierSet:
        problem = tier_order_problem([(tier, t.flop) for tier, t in self.items()])
        if problem:
            raise ValueError(problem)
        return self


def tier_order_problem(figures: list[tuple[Tier, float]]) -> str | None:
    """Why tiers given mildest first are out of order (none when they are in order)."""
    for (lo_tier, lo), (hi_tier, hi) in itertools.pairwise(figures):
        if hi < lo:
            return (
                f"inverted tier order: {hi_tier.value} ({hi:.3g} FLOP) is below "
                f"{lo_tier.value} ({lo:.3g} FLOP); stricter tiers need higher or equal thresholds"
            )
    return None


def raw_tier_problems(raw: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Tier-order problems in a raw policy mapping."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    compute = raw.get("compute") if isinstance(raw, dict) else None
    if not isinstance(compute, dict):
        return problems
    for cls in ("pretraining", "post_training"):
        tiers = compute.get(cls)
        if not isinstance(tiers, dict):
            continue
        figures: list[tuple[Tier, float]] = []
        for tier in TIER_ORDER:
            t = tiers.get(tier.value)
            flop = t.get("flop") if isinstance(t, dict) else None
            try:
                figures.append((tier, float(flop)))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue
        problem = tier_order_problem(figures)
        if problem:
            problems.append((("compute", cls), problem))
    return problems


_THRESHOLD_EVENTS = ("threshold_met", "threshold_expected")


def document_problems(raw: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Checks across parts of a policy, on the raw mapping, each with its location.

    They run on the raw document so that they are reported together with every other problem:
    pydantic skips a model's own checks when one of its fields fails. :class:`Policy` runs the
    same function on itself, so a policy built any other way is held to the same rules.
    """
    if not isinstance(raw, dict):
        return []
    problems = raw_tier_problems(raw)

    def section(name: str) -> dict[str, Any]:
        value = raw.get(name)
        return value if isinstance(value, dict) else {}

    compute = section("compute")
    present: set[str] = set()
    for cls in ("pretraining", "post_training"):
        tiers = compute.get(cls)
        if isinstance(tiers, dict):
            present.update(k for k, v in tiers.items() if isinstance(v, dict))
    special = compute.get("special")
    if isinstance(special, list):
        present.update(str(s.get("tier")) for s in special if isinstance(s, dict))
    tiers_named = section("approvals").get("tiers")
    if isinstance(tiers_named, list):
        for i, tier in enumerate(tiers_named):
            if isinstance(tier, str) and tier in {t.value for t in Tier} and tier not in present:
                problems.append(
                    (("approvals", "tiers", i), f"names tier {tier!r}, which has no threshold")
                )
    pause, governance = section("pause"), raw.get("governance")
    bodies = governance.get("bodies") if isinstance(governance, dict) else None
    if pause and isinstance(bodies, dict):
        for step in ("start", "renewal", "lift"):
            part = pause.get(step)
            body = part.get("body") if isinstance(part, dict) else None
            if isinstance(body, str) and body not in bodies:
                defined = ", ".join(sorted(bodies)) or "none"
                problems.append(
                    (
                        ("pause", step, "body"),
                        f"names body {body!r}, which is not defined; defined: {defined}",
                    )
                )
    notifications = raw.get("notifications")
    if isinstance(notifications, list):
        for i, n in enumerate(notifications):
            if not isinstance(n, dict):
                continue
            threshold_event = n.get("event") in _THRESHOLD_EVENTS
            if threshold_event and n.get("tier") is None:
                problems.append(
                    (("notifications", i), f"a {n.get('event')} notification must name a tier")
                )
            elif not threshold_event and n.get("tier") is not None:
                problems.append(
                    (
                        ("notifications", i, "tier"),
                        f"only {' and '.join(_THRESHOLD_EVENTS)} notifications name a tier",
                    )
                )
    return problems


class SpecialThreshold(Threshold):
    """A threshold for a narrower class of training (for example biological sequence data)."""

    tier: Tier
    """Which tier this threshold triggers."""
    phases: tuple[Phase, ...] = tuple(Phase)
    """Training phases it applies to."""
    data: Label
    """The kind of training data it applies to, matched exactly against a run's
    ``primary_data`` (the same :data:`~pausewatch.fields.Label` type)."""


class Modification(Sourced):
    """When a derivative of a model counts as a new model."""

    fraction: Fraction
    """A derivative is a new model when its own compute exceeds this fraction of its base's
    cumulative compute."""


class ComputeTiers(Model):
    """Compute thresholds, separately for pre-training and post-training."""

    pretraining: TierSet = TierSet()
    """Tiers for pre-training and hyper-parameter searches (and cumulative lineage totals)."""
    post_training: TierSet = TierSet()
    """Tiers for fine-tuning and reinforcement learning on an existing model."""
    special: tuple[SpecialThreshold, ...] = ()
    """Narrower thresholds (for a kind of data) that apply in addition."""
    modification: Modification | None = None
    """When a derivative counts as a new model."""


class Approvals(Sourced):
    """Which tiers need approval, and when silence counts as approval."""

    tiers: tuple[Tier, ...] = (Tier.APPROVAL_REQUIRED,)
    """Tiers whose runs need approval before they start."""
    deemed_after_days: Days | None = None
    """A declaration is deemed approved this many days after it was filed, unless extended."""
    extension_days: Days | None = None
    """How much longer review may be extended, once, by decision."""


class ClusterMonitoring(Sourced):
    """The largest cluster that may run without monitoring."""

    max_unmonitored_h100e: Figure
    """Largest cluster, in H100-equivalents, that may operate unregistered and unmonitored."""


class ClusterReporting(Sourced):
    """Reporting duties for large clusters."""

    min_flops_per_s: Figure
    """Theoretical peak throughput (FLOP/s) above which a cluster must be reported."""
    min_network_gbps: Annotated[float, Field(ge=0)] = 0.0
    """...and whose data-centre networking is faster than this (Gbit/s)."""
    within_days: Days = 30
    """Days from commissioning within which the cluster must be reported."""


class TelemetryRules(Sourced):
    """What chip-signed telemetry must show."""

    max_silence_minutes: Annotated[float, Field(gt=0, le=525_600)]
    """An installed chip with no accepted record for longer than this is dark."""


class Clusters(Model):
    """Rules for computing clusters."""

    monitoring: ClusterMonitoring | None = None
    """The monitoring threshold (none: clusters are not limited)."""
    reporting: ClusterReporting | None = None
    """The reporting duty (none: no duty)."""
    telemetry: TelemetryRules | None = None
    """Telemetry duties of monitored chips (none: silence is not judged)."""


Gap = Annotated[timedelta, Field(gt=timedelta(0), le=timedelta(days=36_500))]
"""A positive duration, at most a century: ISO 8601 in a policy document (``P1D``, ``PT6H``)."""


class Transcripts(Sourced):
    """Which runs must keep a training transcript on the log, and how promptly its
    commitments must be made (issue 17; docs/adr/0039-transcript-policy.md)."""

    required_from_flop: Figure | None = None
    """Runs whose planned compute is at or above this (FLOP) must commit a transcript before
    they start and checkpoint commitments as they train; none: no run must."""
    max_checkpoint_gap: Gap = timedelta(days=1)
    """How long a running run that must keep a transcript may go without a new checkpoint
    commitment (from its commitment or its start, whichever is later, before the first)."""
    commit_grace: Gap = timedelta(days=1)
    """How long after a run's end its final checkpoint commitment may come."""


class Domain(StrEnum):
    """Capability domains a pause is drawn against."""

    AI_RND_AUTOMATION = "ai_rnd_automation"
    SELF_IMPROVEMENT = "self_improvement"
    AUTONOMOUS_REPLICATION = "autonomous_replication"
    CYBER_OFFENCE = "cyber_offence"
    STEALTH_SITUATIONAL_AWARENESS = "stealth_situational_awareness"


class Bound(StrEnum):
    """Which end of an evaluation's confidence interval is compared with a level."""

    LOWER = "lower"
    POINT = "point"
    UPPER = "upper"


class Action(StrEnum):
    """What a finding sets in motion."""

    FINDING = "finding"
    """Recorded and shown; no proposal."""
    HALT_PROPOSAL = "halt_proposal"
    """The secretariat files a halt order proposal for the subject."""
    PAUSE_PROPOSAL = "pause_proposal"
    """The secretariat files a proposal to start a pause."""
    ENFORCEMENT_PROPOSAL = "enforcement_proposal"
    """The secretariat files the next enforcement step (an order was not obeyed)."""
    INSPECTION = "inspection"
    """An inspection of the subject is asked for (chips unaccounted for, an inspection that
    found chips missing or seals broken)."""


class CapabilityTrigger(Sourced):
    """A capability threshold in one domain, checked against evaluation results."""

    domain: Domain
    """The capability domain."""
    indicator: Text
    """What the trigger is about, in the source's words (e.g. 'fully automate the work of an
    entry-level, remote-only researcher')."""
    metric: Annotated[str, Field(min_length=1, max_length=200)]
    """The metric of the evaluation results it reads (e.g. 'accuracy', 'horizon_minutes')."""
    alert_level: float
    """Level at which the capability can no longer be ruled out."""
    critical_level: float
    """Level at which the capability is taken as present."""
    alert_bound: Bound = Bound.UPPER
    """Bound compared with ``alert_level`` (upper: alert when it cannot be ruled out)."""
    critical_bound: Bound = Bound.LOWER
    """Bound compared with ``critical_level`` (lower: critical when it is established)."""
    buffer: Annotated[float, Field(ge=0)] = 0.0
    """Safety buffer: both levels are lowered by this much before comparing."""
    on_alert: Action = Action.FINDING
    """What an alert sets in motion."""
    on_critical: Action = Action.PAUSE_PROPOSAL
    """What a critical result sets in motion."""
    required_above_flop: Figure | None = None
    """Models whose lineage compute reaches this must have a result in this domain."""

    @model_validator(mode="after")
    def _levels(self) -> CapabilityTrigger:
        if self.critical_level < self.alert_level:
            raise ValueError(
                f"critical_level ({self.critical_level}) is below alert_level "
                f"({self.alert_level}); the critical level must be at or above the alert level"
            )
        return self


class Fact(StrEnum):
    """State figures a lift condition can test."""

    MONITORING_COVERAGE = "monitoring_coverage"
    """Fraction of known H100-equivalents under chip-signed telemetry."""
    EVAL_DOMAINS_ADOPTED = "eval_domains_adopted"
    """Number of capability domains with an adopted evaluation suite."""
    EVAL_DOMAINS_RULED_OUT = "eval_domains_ruled_out"
    """Number of capability domains the adopted suites' results rule out: a counting result
    for every trigger there, none reaching an alert, every model that must be evaluated there
    evaluated by its suite (docs/adr/0021)."""
    WITNESSES = "witnesses"
    """Number of independent witnesses cosigning the log's checkpoints."""
    OPEN_CRITICAL_FINDINGS = "open_critical_findings"
    """Critical findings not yet resolved."""
    UNDECLARED_COMPUTE_FLOP = "undeclared_compute_flop"
    """Compute tagged to no declared run in the last accounting period."""
    DARK_CHIPS = "dark_chips"
    """Registered chips silent past the telemetry limit."""
    PARTIES = "parties"
    """Number of parties to the agreement."""


class Comparison(StrEnum):
    """How a condition compares a fact with its value."""

    GE = ">="
    GT = ">"
    LE = "<="
    LT = "<"
    EQ = "=="


class Condition(Model):
    """A checkable predicate over the state: ``<fact> <op> <value>``."""

    fact: Fact
    """The state figure tested."""
    op: Comparison
    """The comparison."""
    value: float
    """The figure compared with."""
    description: Text
    """What the condition means, for the people voting."""


class VoteRule(StrEnum):
    """How votes become a decision."""

    SIMPLE_MAJORITY = "simple_majority"
    TWO_THIRDS = "two_thirds"
    UNANIMITY = "unanimity"


class PauseScope(Model):
    """What a pause prohibits."""

    training_above_flop: Figure
    """Training runs whose compute exceeds this are prohibited while a pause is active."""
    phases: tuple[Phase, ...] = tuple(Phase)
    """Training phases the prohibition covers."""
    description: Text
    """The prohibition in words."""


class PauseDecision(Model):
    """Who decides a pause step and by which rule."""

    body: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    """The governance body that votes."""
    rule: VoteRule
    """The voting rule."""


class Lift(PauseDecision):
    """How a pause is lifted."""

    conditions: tuple[Condition, ...] = ()
    """Predicates that must all hold at the close of the vote for a lift to pass."""


class Pause(Sourced):
    """The time-limited pause: what it prohibits, how long it lasts, how it ends."""

    prohibits: PauseScope
    """What is prohibited while it is active."""
    default_duration_days: Days
    """How long a pause lasts when started, unless the decision says otherwise."""
    minimum_duration_days: Days | None = None
    """A pause may not be lifted before this many days."""
    start: PauseDecision
    """Who starts a pause."""
    renewal: PauseDecision
    """Who renews it; without a renewal it expires."""
    renewal_duration_days: Days
    """How long each renewal lasts."""
    lift: Lift
    """Who lifts it early, and the conditions that must hold."""
    automatic_halt: bool = True
    """File halt proposals for runs that violate an active pause."""


class Event(StrEnum):
    """Events that start a notification clock."""

    THRESHOLD_MET = "threshold_met"
    """A run or lineage reached a tier's threshold."""
    THRESHOLD_EXPECTED = "threshold_expected"
    """It became known (a declaration) that a tier's threshold will be met."""
    CRITICAL_INCIDENT = "critical_incident"
    """A critical safety incident occurred."""
    NEW_MODEL = "new_model"
    """A derivative became a new model under the modification rule."""
    CAPABILITY_ALERT = "capability_alert"
    """An evaluation reached a capability trigger's alert level."""


class Notification(Sourced):
    """A reporting clock: what must be reported within how long."""

    event: Event
    """The event that starts the clock."""
    tier: Tier | None = None
    """For threshold events: the tier whose threshold starts the clock."""
    within_hours: Hours
    """Hours from the event to the deadline."""
    duty: Text
    """What must be reported, and to whom."""


class Withdrawal(Sourced):
    """Leaving the agreement."""

    notice_days: Days
    """Notice period before a withdrawal takes effect."""
    consequences: Text
    """What happens to the withdrawing party's assets."""


class Body(Model):
    """A governance body."""

    title: Text
    """Its name (Conference of the Parties, Executive Council, ...)."""
    members: Literal["all_parties"] | Annotated[int, Field(ge=1)]
    """``all_parties`` (one vote each) or a number of seats."""
    permanent_seats: tuple[str, ...] = ()
    """Parties holding a permanent seat."""
    term_days: Days | None = None
    """Term of an elected seat."""
    quorum: Fraction = 0.5
    """Fraction of members who must vote for a decision to count (met at or above it)."""
    default_rule: VoteRule = VoteRule.SIMPLE_MAJORITY
    """Rule for decisions that name no other."""
    veto_holders: tuple[str, ...] = ()
    """Parties whose 'no' blocks a decision of this body."""


class Decision(StrEnum):
    """Kinds of decision a policy assigns to a body."""

    ADOPT_POLICY = "adopt_policy"
    APPROVE_DECLARATION = "approve_declaration"
    HALT_ORDER = "halt_order"
    CHALLENGE_INSPECTION = "challenge_inspection"
    EXEMPTION = "exemption"
    ENFORCEMENT = "enforcement"
    APPOINT_DIRECTOR_GENERAL = "appoint_director_general"


class DecisionRule(Model):
    """Which body takes a kind of decision, by which rule."""

    body: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    """The body."""
    rule: VoteRule
    """The voting rule."""


DEFAULT_HALT_NOTICE_HOURS = 24.0
"""The notice a decided halt order gives where the policy sets none (a pausewatch default)."""


class HaltTiming(Sourced):
    """When the policy proposes a halt for a run that has not yet crossed the prohibition.

    A halt proposed now binds once its vote closes and its notice runs out: after the body's
    ``vote_window_days`` plus ``notice_hours``. A running job whose projection (the ``bound``
    of its interval) crosses the prohibition before then gets its halt proposed now, as one
    that has crossed does (docs/adr/0020)."""

    notice_hours: Hours = DEFAULT_HALT_NOTICE_HOURS
    """Time a decided halt order gives the run to stop: its deadline is the close of the vote
    plus this."""
    bound: Bound = Bound.UPPER
    """Which end of the projection's interval is compared: ``upper`` (the earliest crossing,
    the precautionary reading), ``point`` or ``lower``."""


class Governance(Sourced):
    """The bodies that decide, and who decides what."""

    bodies: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], Body]
    """Bodies by id (e.g. ``conference``, ``council``)."""
    decisions: dict[Decision, DecisionRule] = Field(default_factory=dict)
    """Which body takes which decision."""
    vote_window_days: Days = 14
    """How long a proposal stays open for votes."""
    halts: HaltTiming | None = None
    """When a halt is proposed ahead of a projected crossing and the notice a decided order
    gives; none: the pausewatch default (24 hours' notice, the interval's upper bound)."""

    @property
    def halt_notice(self) -> timedelta:
        """The time a decided halt order gives the run: ``halts.notice_hours``, else
        :data:`DEFAULT_HALT_NOTICE_HOURS`."""
        hours = DEFAULT_HALT_NOTICE_HOURS if self.halts is None else self.halts.notice_hours
        return timedelta(hours=hours)

    @property
    def halt_lead(self) -> timedelta:
        """How long a halt proposed now takes to bind: the vote window plus the notice."""
        return timedelta(days=self.vote_window_days) + self.halt_notice

    @property
    def halt_bound(self) -> Bound:
        """Which end of a projection's interval the halt timing compares."""
        return Bound.UPPER if self.halts is None else self.halts.bound

    @model_validator(mode="after")
    def _bodies_exist(self) -> Governance:
        missing = sorted(
            {
                f"{d.value} -> {r.body}"
                for d, r in self.decisions.items()
                if r.body not in self.bodies
            }
        )
        if missing:
            raise ValueError(
                f"decisions name bodies that are not defined: {', '.join(missing)}; "
                f"defined: {', '.join(sorted(self.bodies)) or 'none'}"
            )
        return self


class Policy(Model):
    """A moratorium policy: thresholds, duties, triggers and decision rules, with sources."""

    id: Annotated[str, Field(pattern=_ID.pattern, max_length=64)]
    """Stable identifier (``miri-2025``)."""
    version: Annotated[str, Field(pattern=_SEMVER.pattern)]
    """Semantic version of this document (``1.0.0``)."""
    title: Text
    """Human title."""
    summary: Text | None = None
    """What the policy is, in a paragraph."""
    sources: dict[Annotated[str, Field(pattern=_ID.pattern)], Source]
    """Documents the figures rest on, by id; every ``source`` field names one of them."""
    counting: Counting
    """The counting rule every compute figure in this policy is measured under."""
    compute: ComputeTiers = ComputeTiers()
    """Compute tiers for pre- and post-training."""
    approvals: Approvals | None = None
    """Approval of declared runs (none: no tier needs approval)."""
    clusters: Clusters = Clusters()
    """Cluster monitoring and reporting."""
    capabilities: tuple[CapabilityTrigger, ...] = ()
    """Capability triggers per domain."""
    pause: Pause | None = None
    """The pause: scope, duration, renewal and lift (none: the policy defines no pause)."""
    notifications: tuple[Notification, ...] = ()
    """Reporting clocks."""
    withdrawal: Withdrawal | None = None
    """Withdrawal from the agreement."""
    governance: Governance | None = None
    """Bodies and decision rules."""
    transcripts: Transcripts | None = None
    """Training transcripts the policy requires (none: it requires none)."""

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        problems = [
            f"{'.'.join(str(p) for p in loc)}: {msg}"
            for loc, msg in document_problems(self.model_dump(mode="json", exclude_none=True))
        ]
        known = set(self.sources)
        for path, source in _source_refs(self):
            if source not in known:
                problems.append(f"{path}: unknown source {source!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _source_refs(model: BaseModel, path: str = "") -> list[tuple[str, str]]:
    """Every ``source`` reference in a model tree, with its dotted path."""
    refs: list[tuple[str, str]] = []
    if isinstance(model, Sourced):
        refs.append((path or "<root>", model.source))
    for name in type(model).model_fields:
        value = getattr(model, name)
        items: list[tuple[str, Any]]
        if isinstance(value, BaseModel):
            items = [(name, value)]
        elif isinstance(value, tuple):
            items = [(f"{name}[{i}]", v) for i, v in enumerate(value)]
        elif isinstance(value, dict):
            items = [(f"{name}.{k}", v) for k, v in value.items()]
        else:
            continue
        for sub, v in items:
            if isinstance(v, BaseModel):
                refs.extend(_source_refs(v, f"{path}.{sub}" if path else sub))
    return refs


def policy_context(raw: Any) -> dict[str, Any]:
    """Validation context for a raw policy mapping: the source ids it declares."""
    sources = raw.get("sources") if isinstance(raw, dict) else None
    return {"sources": frozenset(sources) if isinstance(sources, dict) else frozenset()}
