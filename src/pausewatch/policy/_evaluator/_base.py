"""What every rule family of the evaluation shares: its working state and how it records.

:class:`State` holds one evaluation's inputs, the tables the run pass fills for the lineage
pass, and the findings and obligations recorded so far (:meth:`State.finding`,
:meth:`State.obligation`, :meth:`State.clock`). The records and helpers here (:class:`Compute`,
the flattened tier sets, saturating time arithmetic) are used by every family's module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import NamedTuple

from pausewatch.compute import CountingRule, Method, counter_interval
from pausewatch.errors import PolicyError
from pausewatch.policy._facts import Facts, RunFact
from pausewatch.policy._findings import Finding, FindingKind, Obligation, ObligationStatus, Severity
from pausewatch.policy._model import Action, Basis, Event, Policy, Threshold, Tier, TierSet

_TIER_SEVERITY = {
    Tier.MONITOR: Severity.INFO,
    Tier.REPORT_BEFORE_START: Severity.INFO,
    Tier.APPROVAL_REQUIRED: Severity.NOTICE,
    Tier.PROHIBITED: Severity.CRITICAL,
}
_ACTION_RANK = {
    Action.FINDING: 0,
    Action.ENFORCEMENT_PROPOSAL: 1,
    Action.HALT_PROPOSAL: 1,
    Action.PAUSE_PROPOSAL: 2,
}

_TIER_WORDS = {
    Tier.MONITOR: "monitoring threshold",
    Tier.REPORT_BEFORE_START: "declaration threshold",
    Tier.APPROVAL_REQUIRED: "approval threshold",
    Tier.PROHIBITED: "prohibition",
}


class Compute(NamedTuple):
    """Counted compute of a run or a lineage: central value and interval, in FLOP."""

    value: float
    low: float
    high: float
    method: str

    def describe(self) -> str:
        """``8.1e+23 FLOP (telemetry, ±12%)``."""
        value = self.value
        if value <= 0:
            return f"0 FLOP ({self.method})"
        spread = self.high - value
        below = value - self.low
        rel = (below if below > spread else spread) / value
        return f"{value:.3g} FLOP ({self.method}, ±{rel:.0%})"

    def straddles(self, threshold: float) -> bool:
        """Whether the interval holds figures both at or below ``threshold`` and above it: the
        compute may or may not be above it (a threshold applies *above* its figure)."""
        return self.low <= threshold < self.high

    def bounds(self, threshold: float) -> tuple[tuple[str, float | str | bool], ...]:
        """The figures every threshold finding adds to its own: ``low``, ``high`` and
        ``straddles`` (docs/adr/0022)."""
        return (("low", self.low), ("high", self.high), ("straddles", self.straddles(threshold)))

    def straddle_words(self, threshold: float, what: str) -> str:
        """``; its interval 9.8e+25 to 1.02e+26 FLOP straddles the 1e+26 FLOP prohibition``
        where it does (``what`` names the threshold), else nothing."""
        if not self.straddles(threshold):
            return ""
        return (
            f"; its interval {self.low:.3g} to {self.high:.3g} FLOP straddles the "
            f"{threshold:.3g} FLOP {what}"
        )


_NONE = Compute(0.0, 0.0, 0.0, "none")

# The hot loops build hundreds of thousands of these records. A NamedTuple's generated
# ``__new__`` is a Python function; ``tuple.__new__(cls, (fields...))`` builds the same object
# from C, at half the cost. Only for call sites that pass every field, in order.
_new = tuple.__new__


@dataclass(frozen=True, slots=True)
class _Tiers:
    """A tier set flattened for the hot loop: (tier, threshold, basis path) mildest first."""

    run: tuple[tuple[Tier, Threshold, str], ...]
    lineage: tuple[tuple[Tier, Threshold, str], ...]
    run_prohibition: Threshold | None
    lineage_prohibition: Threshold | None
    run_plain: bool
    """No run threshold depends on cost or revenue."""
    lineage_plain: bool
    """No lineage threshold depends on cost or revenue."""


def _flatten(ts: TierSet, path: str) -> _Tiers:
    items = [(tier, t, f"{path}.{tier.value}") for tier, t in ts.items()]
    prohibited = ts.prohibited
    return _Tiers(
        run=tuple(i for i in items if Basis.RUN in i[1].basis),
        lineage=tuple(i for i in items if Basis.LINEAGE in i[1].basis),
        run_prohibition=prohibited if prohibited and Basis.RUN in prohibited.basis else None,
        lineage_prohibition=(
            prohibited if prohibited and Basis.LINEAGE in prohibited.basis else None
        ),
        run_plain=all(
            t.min_cost_usd is None and t.min_developer_revenue_usd is None
            for _, t, _ in items
            if Basis.RUN in t.basis
        ),
        lineage_plain=all(
            t.min_cost_usd is None and t.min_developer_revenue_usd is None
            for _, t, _ in items
            if Basis.LINEAGE in t.basis
        ),
    )


def _lo(value: float, low: float | None) -> float:
    return value if low is None else low


def _hi(value: float, high: float | None) -> float:
    return value if high is None else high


_LATEST = datetime.max.replace(tzinfo=UTC)


def _plus(t: datetime, delta: timedelta) -> datetime:
    """``t + delta``, saturating at the latest representable time instead of overflowing."""
    try:
        return t + delta
    except OverflowError:
        return _LATEST


def _fmt_time(t: datetime) -> str:
    """``2026-12-03`` at midnight, ``2026-12-03 00:04 UTC`` otherwise (isoformat is cheaper
    than strftime, and this runs once per obligation)."""
    text = t.isoformat()
    return text[:10] if not (t.hour or t.minute) else f"{text[:10]} {text[11:16]} UTC"


def _entries(evidence: tuple[str, ...], most: int | None = None) -> str:
    """Log entries as an explanation names them (``log:`` dropped, ``none`` for none); with
    ``most``, the first ``most`` of them and "and N more"."""
    shown = ", ".join(e.removeprefix("log:") for e in evidence[:most]) or "none"
    more = len(evidence) - most if most is not None else 0
    return f"{shown} and {more} more" if more > 0 else shown


_BY_ID = attrgetter("id")


class State:
    """One evaluation's working state, and the recording every rule family uses. The rule
    families are mixins over it; :class:`pausewatch.policy._evaluate._Evaluator` composes them."""

    def __init__(self, policy: Policy, facts: Facts, at: datetime, horizon: timedelta) -> None:
        if at.tzinfo is None or at.utcoffset() != timedelta(0):
            raise PolicyError(f"evaluation time must be timezone-aware UTC, got {at!r}")
        self.policy = policy
        self.facts = facts
        self.at = at
        self.horizon = horizon
        self.horizon_seconds = horizon.total_seconds()
        self.rule: CountingRule = policy.counting.rule
        self.counted = frozenset(policy.counting.includes)
        self.pre = _flatten(policy.compute.pretraining, "compute.pretraining")
        self.post = _flatten(policy.compute.post_training, "compute.post_training")
        self.ordered_runs = sorted(facts.runs, key=attrgetter("id"))
        # Per model, filled by the run pass: [value, low, high, cost] sums, base, runs.
        self.own: dict[str, list[float]] = {}
        self.own_post: dict[str, list[float]] = {}
        self.base: dict[str, str | None] = {}
        self.runs_of: dict[str, list[RunFact]] = {}
        self.subjects_of: dict[str, list[str]] = {}
        self.run_flop: dict[str, float] = {}
        # For the model-level projection: each run's measured (else planned) compute, each
        # model's running rate [value, low, high] sums, and its running jobs' latest end.
        self.run_used: dict[str, Compute] = {}
        self.rates: dict[str, list[float]] = {}
        self.ends: dict[str, datetime] = {}
        self.findings: list[Finding] = []
        self.obligations: list[Obligation] = []
        self.revenue = {o.id: o.annual_revenue_usd for o in facts.operators}
        self.clocks: dict[tuple[Event, Tier | None], list[tuple[float, str, str]]] = {}
        for n in policy.notifications:
            self.clocks.setdefault((n.event, n.tier), []).append((n.within_hours, n.duty, n.source))
        # Tiers that start a threshold clock: the others skip that work entirely.
        self.clocked_tiers = frozenset(
            tier
            for event, tier in self.clocks
            if event in (Event.THRESHOLD_MET, Event.THRESHOLD_EXPECTED)
        )
        approvals = policy.approvals
        self.approval_tiers = frozenset(approvals.tiers) if approvals else frozenset()
        self.deemed_after = (
            timedelta(days=approvals.deemed_after_days)
            if approvals is not None and approvals.deemed_after_days is not None
            else None
        )
        self.special = policy.compute.special
        self.pause = policy.pause if facts.pause.in_force(at) else None
        # Runs whose declaration and approval duties are already recorded, so that a run that
        # reaches a tier both alone and through its lineage gets each duty once.
        self.declarations_done: set[str] = set()
        self.approvals_done: set[str] = set()
        self.prohibited_runs: set[str] = set()
        extension = approvals.extension_days if approvals is not None else None
        self.max_extension = extension

    def finding(
        self,
        kind: FindingKind,
        severity: Severity,
        subject: str,
        explanation: str,
        evidence: tuple[str, ...] = (),
        *,
        action: Action = Action.FINDING,
        tier: Tier | None = None,
        figures: tuple[tuple[str, float | str | bool], ...] = (),
    ) -> None:
        # Figures keep the order each call site gives them in: fixed, hence deterministic.
        self.findings.append(
            _new(
                Finding,
                (
                    kind,
                    severity,
                    subject,
                    explanation,
                    evidence,
                    action,
                    tier,
                    figures,
                ),
            )
        )

    def obligation(
        self,
        duty: str,
        subject: str,
        deadline: datetime | None,
        done_at: datetime | None,
        basis: str,
        source: str,
    ) -> ObligationStatus:
        if done_at is not None and (deadline is None or done_at <= deadline):
            status = ObligationStatus.MET
        elif deadline is not None and self.at > deadline:
            status = ObligationStatus.OVERDUE
        else:
            status = ObligationStatus.OPEN
        self.obligations.append(_new(Obligation, (duty, subject, deadline, status, basis, source)))
        return status

    def clock(
        self,
        event: Event,
        tier: Tier | None,
        *,
        about: str,
        subject: str,
        start: datetime | None,
        done_at: datetime | None,
    ) -> list[tuple[ObligationStatus, float, datetime | None]]:
        """Obligations for every notification clock the policy sets on ``event`` (and
        ``tier``), started at ``start`` (unknown: the obligation has no date and cannot be
        overdue); each is met by ``done_at``. Returns each clock's status, hours and deadline."""
        started: list[tuple[ObligationStatus, float, datetime | None]] = []
        for within, duty, source in self.clocks.get((event, tier), ()):
            deadline = None if start is None else _plus(start, timedelta(hours=within))
            status = self.obligation(
                f"{duty} ({about})",
                subject,
                deadline,
                done_at,
                f"notifications.{event.value}",
                source,
            )
            started.append((status, within, deadline))
        return started


def rate_of(run: RunFact) -> tuple[float, float, float]:
    """A run's rate (FLOP/s) as (value, low, high); a rate measured by counters (method
    ``telemetry``, the default) carries at least their tolerance, as the compute it paces."""
    rate = run.rate
    assert rate is not None
    value = rate.value
    if rate.method is None or rate.method == Method.TELEMETRY:
        return (value, *counter_interval(value, rate.low, rate.high))
    return value, _lo(value, rate.low), _hi(value, rate.high)
