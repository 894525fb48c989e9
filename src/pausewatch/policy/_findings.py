"""What a policy evaluation returns: findings, obligations and lift-condition results.

These are plain frozen values. :meth:`Evaluation.to_json` and :meth:`Evaluation.canonical_bytes`
give the same bytes for the same inputs (RFC 8785), so that anyone who recomputes an evaluation
from the log can compare it byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any, NamedTuple

from pausewatch.policy._model import Action, Condition, Tier
from pausewatch.statements import canonical


class Severity(StrEnum):
    """How serious a finding is, from informational to critical."""

    INFO = "info"
    NOTICE = "notice"
    WARNING = "warning"
    SERIOUS = "serious"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (info) .. 4 (critical), for ordering."""
        return _RANK[self]


_RANK = {s: i for i, s in enumerate(Severity)}


class FindingKind(StrEnum):
    """What a finding is about."""

    TIER_REACHED = "tier_reached"
    """A run or a model's lineage reached a compute tier."""
    THRESHOLD_APPROACHING = "threshold_approaching"
    """A running job will cross a stricter tier's threshold soon, at its current rate."""
    PROHIBITED_NOT_RULED_OUT = "prohibited_not_ruled_out"
    """The interval of a run's compute reaches the prohibition, its central value does not."""
    PROHIBITED_COMPUTE = "prohibited_compute"
    """A run or lineage is above the prohibited threshold (planned or measured)."""
    PROHIBITION_PROJECTED = "prohibition_projected"
    """A running job's projection crosses the prohibition before a halt proposed now could
    bind (the policy's halt timing): the halt is proposed now."""
    UNDECLARED_RUN = "undeclared_run"
    """A run that had to be declared before it started was not."""
    STARTED_WITHOUT_APPROVAL = "started_without_approval"
    """A run that needed approval started before approval or deemed approval."""
    EXCEEDS_DECLARATION = "exceeds_declaration"
    """Measured compute is above the declared plan's high bound."""
    NEW_MODEL = "new_model"
    """A derivative counts as a new model under the modification rule."""
    UNMONITORED_CLUSTER = "unmonitored_cluster"
    """A cluster above the monitoring threshold is not monitored."""
    UNDECLARED_COMPUTE = "undeclared_compute"
    """A cluster's chips trained (tensor pipes busy) in windows tagged to no declared run."""
    ORDER_NOT_OBEYED = "order_not_obeyed"
    """A halt order's subject trained after its deadline, or its chips fell silent."""
    DARK_CHIPS = "dark_chips"
    """Installed chips sent no accepted telemetry for longer than the policy allows."""
    CLUSTER_NOT_REPORTED = "cluster_not_reported"
    """A cluster with a reporting duty was not reported in time."""
    CAPABILITY_ALERT = "capability_alert"
    """An evaluation cannot rule out a capability (alert level, or a failed evaluation)."""
    CAPABILITY_CRITICAL = "capability_critical"
    """An evaluation establishes a capability at the critical level."""
    CAPABILITY_UNEVALUATED = "capability_unevaluated"
    """A model that must be evaluated in a domain has no result there that counts."""
    CAPABILITY_ADVISORY = "capability_advisory"
    """A result does not count (not of the domain's adopted suite, short of the elicitation it
    pins, or of a model no run declares): it can alert, it rules nothing out."""
    PAUSE_VIOLATION = "pause_violation"
    """A run the active pause prohibits is planned or running."""
    NOTIFICATION_OVERDUE = "notification_overdue"
    """A reporting clock ran out without the report."""
    CHIPS_UNACCOUNTED = "chips_unaccounted"
    """Chips shipped to an operator or party are neither installed, retired, exported nor seen
    reporting (docs/adr/0026)."""
    CHIPS_EXPORTED = "chips_exported"
    """Chips left the regime for a non-party."""
    INSPECTION_DISCREPANCY = "inspection_discrepancy"
    """An inspection found chips missing, seals broken or chips otherwise than registered."""
    TAG_MISMATCH = "tag_mismatch"
    """Compute was tagged to a declared run from chips or clusters its declaration does not
    name (docs/adr/0028)."""
    SPLIT_RUN_SUSPECTED = "split_run_suspected"
    """Runs of one operator or party, overlapping in time on different clusters with the same
    declared hyper-parameters or data order, together cross a tier none crosses alone
    (docs/adr/0028); or, sharing no recipe, started together and each just under the
    prohibition, together cross it (structuring, docs/adr/0034)."""
    ENERGY_UNACCOUNTED = "energy_unaccounted"
    """A facility's meters measured more energy than its reporting chips and stated overheads
    account for, beyond the errors' reach (docs/adr/0029)."""
    COMPUTE_UNACCOUNTED = "compute_unaccounted"
    """A facility did more compute than it declared: by its meters' energy, or by its counters
    beyond its declared workloads (docs/adr/0029)."""
    COUNTERS_IMPLAUSIBLE = "counters_implausible"
    """A cluster's FLOP counters reported fewer operations than its own chips' tensor activity
    makes plausible, beyond the floor honest work keeps (docs/adr/0033)."""
    TRAINING_SUSPECTED = "training_suspected"
    """Windows of a cluster that name no run, or run under a declared inference workload,
    look like training to the workload classifier over a sustained stretch (docs/adr/0032)."""
    PHASE_MISMATCH = "phase_mismatch"
    """Compute tagged to a declared run in a pattern that does not match its declared phase: a
    hyper-parameter search whose chips move as one synchronous job (docs/adr/0036)."""
    TRANSCRIPT_MISSING = "transcript_missing"
    """A run the policy requires a training transcript of started without its commitment on
    the log (issue 17; docs/adr/0039)."""
    TRANSCRIPT_LATE = "transcript_late"
    """A required transcript's checkpoint commitments were not made as the run went: a running
    run went longer than the policy allows without one, or an ended run's final commitment came
    later than the grace after its end, or has not come."""
    TRANSCRIPT_FAILED = "transcript_failed"
    """An audit's verdict on a run's transcript is ``fail``: what was trained is not what the
    transcript says (docs/adr/0038)."""
    EVALUATED_WEIGHTS_MISMATCH = "evaluated_weights_mismatch"
    """An evaluation result names weights other than the final weights its model's run
    committed: the model evaluated is not the model trained."""
    ENTRY_UNREADABLE = "entry_unreadable"
    """A log entry the fold or the policy cannot read was set aside; the secretariat must look
    at it (it changes nothing and stops nothing else from being read or decided)."""


class ObligationStatus(StrEnum):
    """Where a duty stands at the evaluation time."""

    OPEN = "open"
    MET = "met"
    OVERDUE = "overdue"


_NEVER = datetime.max.replace(tzinfo=UTC)
# C-level sort keys (the same order as the sort_key methods, much cheaper on large results).
_BY_SUBJECT = attrgetter("subject", "kind", "explanation")
_BY_DEADLINE = attrgetter("deadline", "subject", "duty")
_BY_DUTY = attrgetter("subject", "duty")


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


class Finding(NamedTuple):
    """A conclusion of the policy evaluation, with the evidence it rests on.

    A named tuple rather than a dataclass: an evaluation builds one per finding, often hundreds
    of thousands, and a tuple is the cheapest immutable record Python builds.
    """

    kind: FindingKind
    """What it is about."""
    severity: Severity
    """How serious it is."""
    subject: str
    """What it concerns: ``run:<id>``, ``model:<id>``, ``cluster:<id>``, ``eval:<id>``..."""
    explanation: str
    """One or two sentences a delegate can read."""
    evidence: tuple[str, ...] = ()
    """Log entries and facts it rests on."""
    action: Action = Action.FINDING
    """What it sets in motion under the policy."""
    tier: Tier | None = None
    """The compute tier concerned, if any."""
    figures: tuple[tuple[str, float | str | bool], ...] = ()
    """Figures it quotes, as (name, value) pairs in a fixed order per kind of finding; a
    threshold finding adds the ``low`` and ``high`` of the figure it compares and whether that
    interval ``straddles`` the threshold (docs/adr/0022)."""

    def sort_key(self) -> tuple[int, str, str, str]:
        """Most severe first, then by subject and kind."""
        return (-_RANK[self.severity], self.subject, self.kind, self.explanation)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "subject": self.subject,
            "explanation": self.explanation,
            "evidence": list(self.evidence),
            "action": self.action.value,
            "tier": None if self.tier is None else self.tier.value,
            "figures": dict(self.figures),
        }


class Obligation(NamedTuple):
    """A duty the policy places on someone, with its deadline (a named tuple, like
    :class:`Finding`)."""

    duty: str
    """What must be done."""
    subject: str
    """Whom or what it concerns."""
    deadline: datetime | None
    """By when (none: at once, or no fixed date)."""
    status: ObligationStatus
    """Open, met or overdue at the evaluation time."""
    basis: str
    """The policy clause it comes from (``compute.pretraining.report_before_start``...)."""
    source: str
    """The source id of that clause."""

    def sort_key(self) -> tuple[bool, datetime, str, str]:
        """Earliest deadline first (undated last), then subject and duty."""
        deadline = self.deadline
        return (deadline is None, deadline or _NEVER, self.subject, self.duty)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "duty": self.duty,
            "subject": self.subject,
            "deadline": _ts(self.deadline),
            "status": self.status.value,
            "basis": self.basis,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """Whether one lift condition holds on the state."""

    condition: Condition
    """The condition."""
    actual: float | None
    """The state's figure (none: the state does not know it, and the condition fails)."""
    held: bool
    """Whether it holds."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "fact": self.condition.fact.value,
            "op": self.condition.op.value,
            "value": self.condition.value,
            "description": self.condition.description,
            "actual": self.actual,
            "held": self.held,
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The result of evaluating one policy over one set of facts at one time."""

    policy_id: str
    """Id of the policy evaluated."""
    policy_version: str
    """Its version."""
    policy_digest: str
    """SHA-256 of its canonical bytes."""
    at: datetime
    """The evaluation time (never the wall clock: a parameter)."""
    findings: tuple[Finding, ...]
    """Findings in canonical order: by subject as the evaluation meets them (runs by id, then
    models, clusters, evaluations and incidents by id); :meth:`by_severity` for reading."""
    obligations: tuple[Obligation, ...]
    """Obligations in canonical order, as the findings; :meth:`by_deadline` for reading."""
    lift_conditions: tuple[ConditionResult, ...] = ()
    """The pause's lift conditions on this state (empty when the policy has no pause)."""

    def by_severity(self) -> tuple[Finding, ...]:
        """Findings most severe first, then by subject, kind and explanation
        (:meth:`Finding.sort_key`)."""
        buckets: dict[Severity, list[Finding]] = {s: [] for s in Severity}
        for f in self.findings:
            buckets[f.severity].append(f)
        ordered: list[Finding] = []
        for severity in reversed(Severity):
            ordered.extend(sorted(buckets[severity], key=_BY_SUBJECT))
        return tuple(ordered)

    def by_deadline(self) -> tuple[Obligation, ...]:
        """Obligations earliest deadline first, undated last (:meth:`Obligation.sort_key`)."""
        dated = [o for o in self.obligations if o.deadline is not None]
        undated = [o for o in self.obligations if o.deadline is None]
        return (*sorted(dated, key=_BY_DEADLINE), *sorted(undated, key=_BY_DUTY))

    def max_severity(self, subject: str | None = None) -> Severity | None:
        """The highest severity overall, or for one subject (none when there is no finding)."""
        ranks = [f.severity for f in self.findings if subject is None or f.subject == subject]
        return max(ranks, key=lambda s: s.rank) if ranks else None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "policy": {
                "id": self.policy_id,
                "version": self.policy_version,
                "digest": self.policy_digest,
            },
            "at": _ts(self.at),
            "findings": [f.to_json() for f in self.findings],
            "obligations": [o.to_json() for o in self.obligations],
            "lift_conditions": [c.to_json() for c in self.lift_conditions],
            "summary": self.summary(),
        }

    def summary(self) -> dict[str, int]:
        """Number of findings per severity (every severity named) and of open obligations."""
        counts = {s.value: 0 for s in Severity}
        for f in self.findings:
            counts[f.severity.value] += 1
        counts["obligations_overdue"] = sum(
            o.status is ObligationStatus.OVERDUE for o in self.obligations
        )
        counts["obligations_open"] = sum(
            o.status is ObligationStatus.OPEN for o in self.obligations
        )
        return counts

    def canonical_bytes(self) -> bytes:
        """RFC 8785 bytes of :meth:`to_json`: equal inputs give equal bytes."""
        return canonical(self.to_json())
