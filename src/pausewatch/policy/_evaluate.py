"""Policy evaluation: a pure function of (policy, facts, time) to findings and obligations.

The rules, in the order they are applied (docs/adr/0005-policy-document-and-evaluation.md
explains each):

* A run's compute is the higher of its declared plan and its measured compute, bound by bound,
  counted under the policy's counting rule. Phases the policy does not count are skipped.
* A threshold applies when compute is *above* it (the legal texts say "exceeds" / "greater
  than"). The central value decides whether a tier is reached; for the prohibited tier a high
  bound above it is a finding of its own ("cannot be ruled out").
* Run thresholds use the pre-training tiers for pre-training and hyper-parameter searches and the
  post-training tiers for fine-tuning and RL. Lineage thresholds compare a model's cumulative
  compute (its runs and its ancestors') with the pre-training tiers, and its cumulative
  post-training compute with the post-training tiers.
* A running job with a rate is projected to its next stricter tier; it is "approaching" when it
  is expected to cross before its declared end or within the horizon.

Nothing here reads the clock, the disk or the network; ``at`` is a parameter.
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import NamedTuple

from pausewatch.compute import (
    H100E_FLOPS,
    CountingRule,
    Estimate,
    Method,
    Phase,
    count_flop,
    project_crossing,
)
from pausewatch.errors import PolicyError
from pausewatch.policy._facts import (
    Approval,
    ClusterFact,
    EvalFact,
    EvalStatus,
    Facts,
    OrderStatus,
    RunFact,
    RunStatus,
)
from pausewatch.policy._findings import (
    ConditionResult,
    Evaluation,
    Finding,
    FindingKind,
    Obligation,
    ObligationStatus,
    Severity,
)
from pausewatch.policy._load import policy_digest
from pausewatch.policy._model import (
    POST_TRAINING_PHASES,
    TIER_ORDER,
    Action,
    Basis,
    Bound,
    CapabilityTrigger,
    Comparison,
    Condition,
    Event,
    Fact,
    Policy,
    Threshold,
    Tier,
    TierSet,
)

DEFAULT_HORIZON = timedelta(days=30)
"""How far ahead a running job's projection looks for an "approaching" finding."""

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


class _Lineage:
    """One model in the lineage pass: its runs (in id order), read lazily, because most models
    need none of these details."""

    __slots__ = (
        "_evidence",
        "_from",
        "_ordered",
        "counted",
        "model",
        "run_subjects",
        "runs",
        "subject",
    )

    def __init__(
        self,
        model: str,
        runs: list[RunFact],
        run_subjects: list[str],
        counted: dict[str, float],
    ) -> None:
        self.model = model
        self.subject = f"model:{model}"
        self.runs = runs
        self.run_subjects = run_subjects
        """``run:<id>`` of each run, as the run pass wrote them."""
        self.counted = counted
        self._evidence: tuple[str, ...] | None = None
        self._ordered: dict[bool, list[RunFact]] = {}
        self._from: dict[tuple[bool, float, float], int] = {}

    def evidence(self) -> tuple[str, ...]:
        """What a finding about the model rests on: its runs (``run:<id>``, in id order), each
        of which cites its own log entries."""
        if self._evidence is None:
            self._evidence = tuple(self.run_subjects)
        return self._evidence

    def operator(self) -> str:
        return self.runs[-1].operator

    def data(self) -> str | None:
        for r in reversed(self.runs):
            if r.primary_data is not None:
                return r.primary_data
        return None

    def first_start(self) -> datetime | None:
        return min((r.starts_at for r in self.runs if r.starts_at is not None), default=None)

    def in_start_order(self, post_only: bool) -> list[RunFact]:
        """The model's runs (or its post-training runs) in order of start, undated last."""
        cached = self._ordered.get(post_only)
        if cached is None:
            runs = self.runs
            if post_only:
                runs = [r for r in runs if r.phase in POST_TRAINING_PHASES]
            cached = sorted(runs, key=_start_order) if len(runs) > 1 else runs
            self._ordered[post_only] = cached
        return cached

    def crossing_index(self, prior: float, threshold: float, *, post_only: bool = False) -> int:
        """Where, in :meth:`in_start_order`, the run whose compute took the lineage above
        ``threshold`` stands (0 when the ancestors' compute ``prior`` alone is above it; the
        number of runs when no run did). It and every later run are "from the crossing".
        ``post_only``: only post-training runs count (for the post-training lineage)."""
        key = (post_only, prior, threshold)
        cached = self._from.get(key)
        if cached is not None:
            return cached
        ordered = self.in_start_order(post_only)
        counted = self.counted
        total = prior
        index = len(ordered)
        for i, run in enumerate(ordered):
            total += counted.get(run.id, 0.0)
            if total > threshold:
                index = i
                break
        self._from[key] = index
        return index

    def crossing_run(
        self, prior: float, threshold: float, *, post_only: bool = False
    ) -> tuple[RunFact | None, float]:
        """The run whose compute took the lineage above ``threshold`` (none when the ancestors
        alone are above it, or no run did), and the declared plans up to and including it
        plus ``prior``: whether the crossing was known from declarations."""
        if prior > threshold:
            return None, prior
        ordered = self.in_start_order(post_only)
        index = self.crossing_index(prior, threshold, post_only=post_only)
        if index == len(ordered):
            return None, prior
        crossing = ordered[index]
        declared = prior
        for run in self.in_start_order(post_only):
            if run.declared is not None:
                declared += run.declared.value
            if run is crossing:
                break
        return crossing, declared

    def first_declared(self) -> datetime | None:
        return min((r.declared_at for r in self.runs if r.declared_at is not None), default=None)


def _start_order(run: RunFact) -> datetime:
    """Sort key: start (or declaration) time, undated last; a stable sort keeps id order."""
    return run.starts_at or run.declared_at or _LATEST


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


class _Evaluator:
    """One evaluation's working state; :func:`evaluate` is its only user."""

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

    # -- helpers -----------------------------------------------------------------------------

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
        figures: tuple[tuple[str, float | str], ...] = (),
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

    def applies(self, t: Threshold, cost: float | None, operator: str | None) -> bool:
        if t.min_cost_usd is not None and cost is not None and cost <= t.min_cost_usd:
            return False
        if t.min_developer_revenue_usd is not None and operator is not None:
            revenue = self.revenue.get(operator)
            if revenue is not None and revenue <= t.min_developer_revenue_usd:
                return False
        return True

    def compute_of(self, run: RunFact) -> tuple[Compute, Compute | None]:
        """The higher of the declared plan and the measured compute, bound by bound; and the
        measured compute alone (none when nothing was measured)."""
        d = run.declared
        m = run.measured
        used: Compute | None = None
        if run.measured_by_precision is not None:
            # Counters are counted here, under this policy's rule; a measured figure given
            # alongside lends its relative interval.
            value = count_flop(run.measured_by_precision, self.rule)
            rel_lo = rel_hi = 1.0
            if m is not None and m.value > 0:
                rel_lo, rel_hi = _lo(m.value, m.low) / m.value, _hi(m.value, m.high) / m.value
            used = _new(Compute, (value, value * rel_lo, value * rel_hi, "telemetry"))
        elif m is not None:
            method = m.method or Method.TELEMETRY
            used = _new(Compute, (m.value, _lo(m.value, m.low), _hi(m.value, m.high), method))
        if d is None:
            return (used if used is not None else _NONE), used
        d_value = d.value
        d_low = d_value if d.low is None else d.low
        d_high = d_value if d.high is None else d.high
        d_method = d.method or Method.DECLARED
        if used is None:
            return _new(Compute, (d_value, d_low, d_high, d_method)), None
        # The measured figure leads the name once it passes the plan.
        u_value, u_low, u_high, u_method = used
        combined = _new(
            Compute,
            (
                d_value if d_value > u_value else u_value,
                d_low if d_low > u_low else u_low,
                d_high if d_high > u_high else u_high,
                f"{u_method}+{d_method}" if u_value > d_value else f"{d_method}+{u_method}",
            ),
        )
        return combined, used

    # -- runs --------------------------------------------------------------------------------

    def runs(self) -> None:
        """Evaluate each run, and add its counted compute to its model's sums (own, and
        post-training) for the lineage pass. Runs go in id order, so that the same facts in any
        order give the same floating-point sums. A cost sum is NaN where any part is unknown."""
        # Locals for the hot loop: it runs once per run, often hundreds of thousands of times.
        pause = self.pause
        own, own_post, base, runs_of = self.own, self.own_post, self.base, self.runs_of
        subjects_of = self.subjects_of
        run_flop, counted, special = self.run_flop, self.counted, self.special
        pre, post_tiers, clocked = self.pre, self.post, self.clocked_tiers
        running = RunStatus.RUNNING
        compute_of, run_tier, nan = self.compute_of, self.run_tier, math.nan
        run_used = self.run_used
        for run in self.ordered_runs:
            model = run.model
            if run.base_model is not None:
                base[model] = run.base_model  # every run names the lineage, counted or not
            phase = run.phase
            if phase not in counted:
                continue
            c, used = compute_of(run)
            value, low, high, _ = c
            run_flop[run.id] = value
            # The model's projection starts from what its runs used, or planned where nothing
            # was measured (as its ancestors' compute is counted).
            run_used[run.id] = used if used is not None else c
            if run.status is running and run.rate is not None and run.rate.value > 0:
                self.add_rate(run)
            run_cost = nan if run.compute_cost_usd is None else run.compute_cost_usd
            subject = f"run:{run.id}"
            acc = own.get(model)
            if acc is None:
                own[model] = acc = [0.0, 0.0, 0.0, 0.0]
                runs_of[model] = [run]
                subjects_of[model] = [subject]
            else:
                runs_of[model].append(run)
                subjects_of[model].append(subject)
            acc[0] += value
            acc[1] += low
            acc[2] += high
            acc[3] += run_cost
            post = phase in POST_TRAINING_PHASES
            if post:
                acc = own_post.get(model)
                if acc is None:
                    own_post[model] = acc = [0.0, 0.0, 0.0, 0.0]
                acc[0] += value
                acc[1] += low
                acc[2] += high
                acc[3] += run_cost
            tiers = post_tiers if post else pre
            if tiers.run_plain and (run.primary_data is None or not special):
                # The common case, inline: no cost, revenue or data conditions to weigh.
                crossed = []
                next_up = None
                for item in tiers.run:
                    if value > item[1].flop:
                        crossed.append(item)
                    elif next_up is None:
                        next_up = item
            else:
                crossed, next_up = self.crossed(
                    tiers.run,
                    Basis.RUN,
                    c,
                    phase,
                    run.primary_data,
                    run.compute_cost_usd,
                    run.operator,
                )
            if crossed:
                run_tier(run, c, subject, *crossed[-1])
            prohibition = tiers.run_prohibition
            if (
                prohibition is not None
                and value <= prohibition.flop < high
                and (not crossed or crossed[-1][0] is not Tier.PROHIBITED)
            ):
                self.finding(
                    FindingKind.PROHIBITED_NOT_RULED_OUT,
                    Severity.SERIOUS,
                    subject,
                    f"run {run.id} is at {c.describe()}; its high bound {high:.3g} FLOP is "
                    f"above the {prohibition.flop:.3g} FLOP prohibition",
                    run.evidence,
                    tier=Tier.PROHIBITED,
                    figures=(("flop", value), ("high", high), ("threshold", prohibition.flop)),
                )
            declared = run.declared
            if clocked:
                for tier, t, _ in crossed:
                    if tier not in clocked:
                        continue
                    self.clocks_for(
                        tier,
                        t,
                        what=f"run {run.id}",
                        subject=subject,
                        declared_above=declared is not None and declared.value > t.flop,
                        known_at=run.declared_at or run.starts_at,
                        met_at=self.crossing_time(run, used, t.flop),
                        filed_at=run.declared_at,
                    )
            if (
                next_up is not None
                and used is not None
                and run.status is running
                and run.rate is not None
            ):
                self.run_next(run, used, subject, *next_up)
            if declared is not None and used is not None:
                d_high = _hi(declared.value, declared.high)
                if used.low > d_high:
                    self.finding(
                        FindingKind.EXCEEDS_DECLARATION,
                        Severity.WARNING,
                        subject,
                        f"run {run.id} has used {used.describe()}, above its declared plan of "
                        f"at most {d_high:.3g} FLOP",
                        run.evidence,
                        figures=(("measured_low", used.low), ("declared_high", d_high)),
                    )
            if pause is not None:
                self.pause_check(run, c, subject, pause.prohibits.training_above_flop)

    def add_rate(self, run: RunFact) -> None:
        """Add a running job's rate to its model's sums, for the model-level projection."""
        rate = run.rate
        assert rate is not None
        m = self.rates.get(run.model)
        if m is None:
            self.rates[run.model] = m = [0.0, 0.0, 0.0]
        m[0] += rate.value
        m[1] += _lo(rate.value, rate.low)
        m[2] += _hi(rate.value, rate.high)
        if run.ends_at is not None:
            end = self.ends.get(run.model)
            if end is None or run.ends_at > end:
                self.ends[run.model] = run.ends_at

    def run_tier(
        self, run: RunFact, c: Compute, subject: str, tier: Tier, t: Threshold, basis: str
    ) -> None:
        """The finding for the strictest tier a run reached on its own, and its duties."""
        if tier is Tier.PROHIBITED:
            self.prohibited_runs.add(run.id)
            self.finding(
                FindingKind.PROHIBITED_COMPUTE,
                Severity.CRITICAL,
                subject,
                f"run {run.id} ({run.phase}) "
                f"{'has used' if run.measured or run.measured_by_precision else 'plans'} "
                f"{c.describe()}, above the {t.flop:.3g} FLOP prohibition",
                run.evidence,
                action=Action.HALT_PROPOSAL,
                tier=tier,
                figures=(("flop", c.value), ("threshold", t.flop)),
            )
            return
        desc = c.describe()
        self.finding(
            FindingKind.TIER_REACHED,
            _TIER_SEVERITY[tier],
            subject,
            f"run {run.id} ({run.phase}) is at {desc}, above the {t.flop:.3g} FLOP "
            f"{_TIER_WORDS[tier]}",
            run.evidence,
            tier=tier,
            figures=(("flop", c.value), ("threshold", t.flop)),
        )
        self.run_duties(run, subject, tier, t, basis, f"at {desc}")

    def run_duties(
        self, run: RunFact, subject: str, tier: Tier, t: Threshold, basis: str, why: str
    ) -> None:
        """Declaration before start and approval, for a run in ``tier`` (on its own, or
        because its model's lineage is); ``why`` says how it got there, for the finding.

        Where the tier needs approval, the one obligation is "declare and obtain approval
        before it starts": approval presupposes the declaration, so a second obligation for
        the declaration alone would only repeat it."""
        if tier not in (Tier.REPORT_BEFORE_START, Tier.APPROVAL_REQUIRED):
            return
        needs_approval = tier in self.approval_tiers
        if needs_approval and run.id not in self.approvals_done:
            self.approvals_done.add(run.id)
            self.approval(run, subject, t)
        if run.id in self.declarations_done:
            return
        self.declarations_done.add(run.id)
        start = run.starts_at
        declared_at = run.declared_at
        if not needs_approval:
            self.obligation(
                f"declare run {run.id} on the log before it starts",
                subject,
                start,
                declared_at,
                basis,
                t.source,
            )
        on_time = declared_at is not None and (start is None or declared_at <= start)
        if run.has_started and not on_time:
            self.finding(
                FindingKind.UNDECLARED_RUN,
                Severity.SERIOUS,
                subject,
                f"run {run.id} started"
                + (f" on {_fmt_time(start)}" if start else "")
                + f" {why} without a declaration filed before its start, though it is above "
                f"the {t.flop:.3g} FLOP {_TIER_WORDS[tier]}",
                run.evidence,
                tier=tier,
                figures=(("threshold", t.flop),),
            )

    def crossed(
        self,
        tiers: tuple[tuple[Tier, Threshold, str], ...],
        basis: Basis,
        c: Compute,
        phase: Phase | None,
        data: str | None,
        cost: float | None,
        operator: str | None,
    ) -> tuple[list[tuple[Tier, Threshold, str]], tuple[Tier, Threshold, str] | None]:
        """The tiers whose threshold ``c`` is above (mildest first; special thresholds for the
        data kind included), and the next stricter tier not yet reached."""
        crossed: list[tuple[Tier, Threshold, str]] = []
        next_up: tuple[Tier, Threshold, str] | None = None
        value = c.value
        for item in tiers:
            t = item[1]
            if (
                t.min_cost_usd is not None or t.min_developer_revenue_usd is not None
            ) and not self.applies(t, cost, operator):
                continue
            if value > t.flop:
                crossed.append(item)
            elif next_up is None:
                next_up = item
        if data is not None and self.special:
            added = False
            for i, sp in enumerate(self.special):
                if (
                    sp.data == data
                    and (phase is None or phase in sp.phases)
                    and basis in sp.basis
                    and value > sp.flop
                    and self.applies(sp, cost, operator)
                ):
                    crossed.append((sp.tier, sp, f"compute.special[{i}]"))
                    added = True
            if added:
                crossed.sort(key=lambda item: (TIER_ORDER.index(item[0]), item[1].flop))
        return crossed, next_up

    def approval(self, run: RunFact, subject: str, t: Threshold) -> None:
        approvals = self.policy.approvals
        assert approvals is not None
        deemed: datetime | None = None
        if self.deemed_after is not None and run.declared_at is not None:
            deemed = _plus(run.declared_at, self.deemed_after)
            extended = run.review_extended_days
            if self.max_extension is not None and extended > self.max_extension:
                extended = self.max_extension  # review cannot be extended beyond the policy
            if extended:
                deemed = _plus(deemed, timedelta(days=extended))
        if run.approval is Approval.APPROVED:
            approved_at = run.decided_at
        elif run.approval is Approval.REJECTED:
            approved_at = None
        else:
            approved_at = deemed if deemed is not None and deemed <= self.at else None
        deemed_text = _fmt_time(deemed) if deemed is not None else ""
        self.obligation(
            f"declare run {run.id} and obtain approval before it starts"
            + (f" (deemed approved on {deemed_text})" if deemed_text else ""),
            subject,
            run.starts_at,
            approved_at,
            "approvals",
            approvals.source,
        )
        if not run.has_started:
            return
        ok = approved_at is not None and (run.starts_at is None or approved_at <= run.starts_at)
        if not ok:
            why = (
                "its approval was rejected"
                if run.approval is Approval.REJECTED
                else "before approval or deemed approval"
                + (f" (deemed on {deemed_text})" if deemed_text else "")
            )
            self.finding(
                FindingKind.STARTED_WITHOUT_APPROVAL,
                Severity.SERIOUS,
                subject,
                f"run {run.id} started {why}; runs above {t.flop:.3g} FLOP need approval",
                run.evidence,
                tier=Tier.APPROVAL_REQUIRED,
                figures=(("threshold", t.flop),),
            )

    def clocks_for(
        self,
        tier: Tier,
        t: Threshold,
        *,
        what: str,
        subject: str,
        declared_above: bool,
        known_at: datetime | None,
        met_at: datetime | None,
        filed_at: datetime | None,
    ) -> None:
        """Notification clocks a crossed threshold starts; a declaration on the log is the
        notification, so ``filed_at`` (the declaration's time) meets them. A clock whose start is
        unknown has no deadline."""
        if declared_above:
            self.clock(
                Event.THRESHOLD_EXPECTED,
                tier,
                about=f"{what} is declared above {t.flop:.3g} FLOP",
                subject=subject,
                start=known_at,
                done_at=filed_at,
            )
        self.clock(
            Event.THRESHOLD_MET,
            tier,
            about=f"{what} passed {t.flop:.3g} FLOP",
            subject=subject,
            start=met_at,
            done_at=filed_at,
        )

    def crossing_time(
        self, run: RunFact, used: Compute | None, threshold: float
    ) -> datetime | None:
        """When the run passed ``threshold``: back-projected from its measured compute at its
        current rate, never before its start; its start (or declaration) when that is unknown,
        and none when no time is known at all."""
        t = run.starts_at or run.declared_at
        rate = run.rate
        if used is None or rate is None or rate.value <= 0 or run.status is not RunStatus.RUNNING:
            return t
        seconds = max(0.0, used.value - threshold) / rate.value
        if t is None or seconds < (self.at - t).total_seconds():
            with contextlib.suppress(OverflowError):  # a start before year 1 is no start
                t = self.at - timedelta(seconds=seconds)
        return t

    def run_next(
        self,
        run: RunFact,
        used: Compute | None,
        subject: str,
        tier: Tier,
        t: Threshold,
        basis: str,
    ) -> None:
        """An "approaching" finding when a running job will cross its next tier soon."""
        # The projection runs from what was used (measured), not from the plan.
        rate = run.rate
        if used is None or run.status is not RunStatus.RUNNING or rate is None or rate.value <= 0:
            return
        # Most running jobs are far from their next tier: the same test as ``approaching``
        # makes, over a window never shorter than its, rules them out before any text is built.
        high = _hi(rate.value, rate.high)
        window = self.horizon_seconds
        if run.ends_at is not None:
            window = max(window, (run.ends_at - self.at).total_seconds())
        if (t.flop - used.high) / high > window:
            return
        self.approaching(
            subject,
            f"run {run.id} has used",
            "at its current rate",
            used,
            (rate.value, _lo(rate.value, rate.low), high),
            run.ends_at,
            tier,
            t,
            run.evidence,
        )

    def approaching(
        self,
        subject: str,
        lead: str,
        pace: str,
        used: Compute,
        rate: tuple[float, float, float],
        end: datetime | None,
        tier: Tier,
        t: Threshold,
        evidence: tuple[str, ...],
    ) -> None:
        """A "threshold approaching" finding when ``used`` compute growing at ``rate``
        (value, low, high FLOP/s) is expected to cross ``t`` before ``end`` or within the
        horizon. ``lead`` and ``pace`` word the explanation for a run or a model."""
        limit = _plus(self.at, self.horizon)
        if end is not None and end > limit:
            limit = end
        # Most jobs are far from their next tier: rule them out before projecting.
        if (t.flop - used.high) / rate[2] > (limit - self.at).total_seconds():
            return
        crossing = project_crossing(
            measured=Estimate(used.value, used.low, used.high, Method.SUM),
            rate=Estimate(rate[0], rate[1], rate[2], Method.TELEMETRY),
            threshold=t.flop,
            now=self.at,
        )
        earliest, expected, latest = crossing.earliest, crossing.expected, crossing.latest
        if earliest is None or expected is None or earliest > limit or crossing.already:
            return
        # Never above the severity of reaching the tier: more compute must not lower severity.
        severity = min(
            Severity.SERIOUS if tier is Tier.PROHIBITED else Severity.NOTICE,
            _TIER_SEVERITY[tier],
            key=lambda s: s.rank,
        )
        between = f"between {_fmt_time(earliest)} and " + (
            _fmt_time(latest) if latest is not None else "never"
        )
        self.finding(
            FindingKind.THRESHOLD_APPROACHING,
            severity,
            subject,
            f"{lead} {used.describe()}; {pace} it crosses the {t.flop:.3g} FLOP "
            f"{_TIER_WORDS[tier]} on {_fmt_time(expected)} ({between})",
            evidence,
            tier=tier,
            figures=(
                ("flop", used.value),
                ("threshold", t.flop),
                ("expected", expected.isoformat()),
                ("earliest", earliest.isoformat()),
                ("latest", "never" if latest is None else latest.isoformat()),
            ),
        )

    def pause_check(self, run: RunFact, c: Compute, subject: str, limit: float) -> None:
        pause = self.pause
        assert pause is not None
        if run.phase not in pause.prohibits.phases or c.value <= limit:
            return
        if run.exempt_until is not None and self.at < run.exempt_until:
            return
        if run.status not in (RunStatus.RUNNING, RunStatus.PLANNED):
            return
        self.finding(
            FindingKind.PAUSE_VIOLATION,
            Severity.CRITICAL,
            subject,
            f"run {run.id} is {run.status.value} at {c.describe()} while a pause prohibits "
            f"training above {limit:.3g} FLOP",
            run.evidence,
            action=Action.HALT_PROPOSAL if pause.automatic_halt else Action.FINDING,
            figures=(("flop", c.value), ("threshold", limit)),
        )

    # -- lineage -----------------------------------------------------------------------------

    def lineages(self) -> dict[str, Compute]:
        """Cumulative compute per model (own runs plus ancestors); findings per model."""
        own, own_post, base, runs_of = self.own, self.own_post, self.base, self.runs_of
        cumulative: dict[str, Compute] = {}
        cumulative_post: dict[str, Compute] = {}
        costs: dict[str, float] = {}
        costs_post: dict[str, float] = {}

        def total(
            model: str,
            table: dict[str, list[float]],
            memo: dict[str, Compute],
            memo_cost: dict[str, float],
        ) -> tuple[Compute, float | None]:
            if model not in base:
                # No ancestors (the common case): the model's own sums.
                o = table[model]
                acc = _new(Compute, (o[0], o[1], o[2], "lineage"))
                memo[model] = acc
                memo_cost[model] = o[3]
                return acc, None if o[3] != o[3] else o[3]  # NaN: a cost unknown
            chain: list[str] = []
            seen: set[str] = set()
            m: str | None = model
            while m is not None and m not in memo:
                if m in seen:
                    raise PolicyError(f"model lineage has a cycle through {m!r}")
                seen.add(m)
                chain.append(m)
                m = base.get(m)
            acc = memo[m] if m is not None else _NONE
            acc_cost = memo_cost[m] if m is not None else 0.0
            for name in reversed(chain):
                o = table.get(name, [0.0, 0.0, 0.0, 0.0])
                acc = Compute(acc.value + o[0], acc.low + o[1], acc.high + o[2], "lineage")
                acc_cost += o[3]
                memo[name] = acc
                memo_cost[name] = acc_cost
            return acc, None if math.isnan(acc_cost) else acc_cost

        for model in sorted(own):
            c, cost = total(model, own, cumulative, costs)
            lineage = _Lineage(model, runs_of[model], self.subjects_of[model], self.run_flop)
            self.lineage_tiers(
                lineage, c, own[model][0], cost, self.pre, "cumulative training compute"
            )
            if model in own_post:
                # Only a model with post-training runs of its own reaches a post-training tier
                # it had not reached through its base.
                cp, cost_post = total(model, own_post, cumulative_post, costs_post)
                self.lineage_tiers(
                    lineage,
                    cp,
                    own_post[model][0],
                    cost_post,
                    self.post,
                    "cumulative post-training compute",
                    post_training=True,
                )
            if self.pause is not None:
                self.lineage_pause(lineage, c, self.pause.prohibits.training_above_flop)
            self.modification(lineage, own[model], base.get(model), cumulative)
        return cumulative

    def lineage_tiers(
        self,
        lin: _Lineage,
        c: Compute,
        own_value: float,
        cost: float | None,
        tiers: _Tiers,
        what: str,
        *,
        post_training: bool = False,
    ) -> None:
        """Findings, duties and clocks of a model's cumulative compute ``c`` (of which
        ``own_value`` is its own runs'; the rest its ancestors'). ``post_training``: ``c`` is
        the post-training lineage, counted over post-training runs only; it is not projected
        (the running sums cover every phase)."""
        prohibition = tiers.lineage_prohibition
        if prohibition is not None and c.value <= prohibition.flop < c.high:
            self.finding(
                FindingKind.PROHIBITED_NOT_RULED_OUT,
                Severity.SERIOUS,
                lin.subject,
                f"model {lin.model}'s {what} is {c.describe()}; its high bound {c.high:.3g} "
                f"FLOP is above the {prohibition.flop:.3g} FLOP prohibition",
                lin.evidence(),
                tier=Tier.PROHIBITED,
                figures=(("flop", c.value), ("high", c.high), ("threshold", prohibition.flop)),
            )
        rate = None if post_training else self.rates.get(lin.model)
        below = not self.special and (not tiers.lineage or c.value <= tiers.lineage[0][1].flop)
        if below and rate is None:
            return  # below the mildest lineage threshold (tiers never decrease), not moving
        if tiers.lineage_plain and not self.special:
            # The common case, inline: no cost, revenue or data conditions to weigh.
            crossed = []
            next_up = None
            value = c.value
            for item in tiers.lineage:
                if value > item[1].flop:
                    crossed.append(item)
                elif next_up is None:
                    next_up = item
        else:
            crossed, next_up = self.crossed(
                tiers.lineage,
                Basis.LINEAGE,
                c,
                None,
                lin.data() if self.special else None,
                cost,
                lin.operator() if self.revenue else None,
            )
        if rate is not None and next_up is not None:
            self.lineage_next(lin, c, own_value, tiers, what, rate, next_up)
        if not crossed:
            return
        tier, t, _ = crossed[-1]
        prohibited = tier is Tier.PROHIBITED
        desc = c.describe()
        self.finding(
            FindingKind.PROHIBITED_COMPUTE if prohibited else FindingKind.TIER_REACHED,
            _TIER_SEVERITY[tier],
            lin.subject,
            f"model {lin.model}'s {what} is {desc}, above the {t.flop:.3g} FLOP "
            f"{_TIER_WORDS[tier]}",
            lin.evidence(),
            action=Action.HALT_PROPOSAL if prohibited else Action.FINDING,
            tier=tier,
            figures=(("flop", c.value), ("threshold", t.flop)),
        )
        # Above a declaration or approval tier through its lineage, the run that took the model
        # over the threshold and every later one carry the strictest such tier's duties:
        # splitting a run cannot shed them.
        prior = c.value - own_value
        # Each crossed declaration or approval tier hands its duties to the run that took the
        # model over it and every later run. Runs from the one that crossed the prohibition on
        # get the prohibited finding instead: nobody could grant them approval.
        post_only = post_training
        ordered = lin.in_start_order(post_only)
        # Strictest tier first: the runs from a tier's crossing on take its duties, except those
        # a stricter tier (or the prohibition) already took, which all stand from ``stop`` on.
        stop = len(ordered)
        prohibition = tiers.lineage_prohibition
        if prohibited and prohibition is not None:
            stop = lin.crossing_index(prior, prohibition.flop, post_only=post_only)
        prohibited_runs = self.prohibited_runs
        for d_tier, d_t, d_basis in reversed(crossed):
            if d_tier not in (Tier.REPORT_BEFORE_START, Tier.APPROVAL_REQUIRED):
                continue
            start = lin.crossing_index(prior, d_t.flop, post_only=post_only)
            for i in range(start, stop):
                run = ordered[i]
                if run.id in prohibited_runs:
                    continue
                self.run_duties(
                    run,
                    f"run:{run.id}",
                    d_tier,
                    d_t,
                    d_basis,
                    f"as part of model {lin.model} ({what} {desc})",
                )
            # The runs from here on took this tier's (or a stricter one's) duties.
            stop = min(stop, start)
        for tier, t, _ in crossed:
            if tier not in self.clocked_tiers:
                continue
            crossing, declared = lin.crossing_run(prior, t.flop, post_only=post_only)
            self.clocks_for(
                tier,
                t,
                what=f"model {lin.model}",
                subject=lin.subject,
                declared_above=crossing is not None and declared > t.flop,
                known_at=None if crossing is None else crossing.declared_at,
                met_at=None if crossing is None else crossing.starts_at or crossing.declared_at,
                filed_at=(
                    crossing.declared_at if crossing is not None and declared > t.flop else None
                ),
            )

    def lineage_next(
        self,
        lin: _Lineage,
        c: Compute,
        own_value: float,
        tiers: _Tiers,
        what: str,
        rate: list[float],
        next_up: tuple[Tier, Threshold, str],
    ) -> None:
        """An "approaching" finding when a model's running jobs together will take it over its
        next lineage tier soon: the projection runs from what its runs used (measured, else
        planned) plus its ancestors' compute, at the sum of its running jobs' rates."""
        prior = c.value - own_value
        if len(lin.runs) == 1 and prior == 0 and tiers.run:
            return  # a lone run without ancestors is projected as the run itself
        tier, t, _ = next_up
        # Most models are far from their next tier: rule them out before summing (their
        # cumulative compute bounds what their runs used).
        horizon = max(self.horizon_seconds, self.end_seconds(lin.model))
        if (t.flop - c.high) / rate[2] > horizon:
            return
        run_used = self.run_used
        motion = [0.0, 0.0, 0.0]
        for r in lin.runs:
            u = run_used[r.id]
            motion[0] += u.value
            motion[1] += u.low
            motion[2] += u.high
        used = Compute(prior + motion[0], prior + motion[1], prior + motion[2], "lineage")
        self.approaching(
            lin.subject,
            f"model {lin.model}'s {what} has reached",
            "at the current rate of its running jobs",
            used,
            (rate[0], rate[1], rate[2]),
            self.ends.get(lin.model),
            tier,
            t,
            lin.evidence(),
        )

    def end_seconds(self, model: str) -> float:
        """Seconds from now to the latest declared end of the model's running jobs (0: none)."""
        end = self.ends.get(model)
        return 0.0 if end is None else (end - self.at).total_seconds()

    def lineage_pause(self, lin: _Lineage, c: Compute, limit: float) -> None:
        """A model whose cumulative compute is above an active pause's limit, with a planned or
        running job in the phases the pause covers: splitting runs cannot escape a pause."""
        pause = self.pause
        assert pause is not None
        if c.value <= limit:
            return
        active = [
            r
            for r in lin.runs
            if r.phase in pause.prohibits.phases
            and r.status in (RunStatus.RUNNING, RunStatus.PLANNED)
            and not (r.exempt_until is not None and self.at < r.exempt_until)
        ]
        if not active:
            return
        self.finding(
            FindingKind.PAUSE_VIOLATION,
            Severity.CRITICAL,
            lin.subject,
            f"model {lin.model} is at {c.describe()} with {len(active)} planned or running "
            f"job(s) ({', '.join(r.id for r in active)}) while a pause prohibits training "
            f"above {limit:.3g} FLOP",
            lin.evidence(),
            action=Action.HALT_PROPOSAL if pause.automatic_halt else Action.FINDING,
            figures=(("flop", c.value), ("threshold", limit)),
        )

    def modification(
        self,
        lin: _Lineage,
        own: list[float],
        base_model: str | None,
        cumulative: dict[str, Compute],
    ) -> None:
        model, subject = lin.model, lin.subject
        rule = self.policy.compute.modification
        if rule is None or base_model is None:
            return
        base_total = cumulative.get(base_model)
        if base_total is None or base_total.value <= 0:
            return
        if own[0] <= rule.fraction * base_total.value:
            return
        self.finding(
            FindingKind.NEW_MODEL,
            Severity.NOTICE,
            subject,
            f"model {model} used {own[0]:.3g} FLOP on top of {base_model} "
            f"({base_total.value:.3g} FLOP), more than {rule.fraction:.3g} of it: it counts as "
            f"a new model",
            lin.evidence(),
            figures=(("own", own[0]), ("base", base_total.value), ("fraction", rule.fraction)),
        )
        self.clock(
            Event.NEW_MODEL,
            None,
            about=f"model {model}",
            subject=subject,
            start=lin.first_start(),
            done_at=None,
        )

    # -- clusters ----------------------------------------------------------------------------

    def clusters(self) -> None:
        rules = self.policy.clusters
        mon, rep = rules.monitoring, rules.reporting
        for cl in sorted(self.facts.clusters, key=_BY_ID):
            subject = f"cluster:{cl.id}"
            if mon is not None and not cl.monitored and cl.h100e > mon.max_unmonitored_h100e:
                self.finding(
                    FindingKind.UNMONITORED_CLUSTER,
                    Severity.SERIOUS,
                    subject,
                    f"cluster {cl.id} of {cl.operator} holds {cl.h100e:,.0f} H100-equivalents "
                    f"without monitoring; the limit is {mon.max_unmonitored_h100e:,.0f}",
                    cl.evidence,
                    figures=(("h100e", cl.h100e), ("limit", mon.max_unmonitored_h100e)),
                )
                self.obligation(
                    f"place cluster {cl.id} under chip-signed monitoring",
                    subject,
                    None,
                    None,
                    "clusters.monitoring",
                    mon.source,
                )
            if rep is not None:
                self.cluster_report(cl, subject, rep.min_flops_per_s, rep.min_network_gbps)
            if cl.undeclared_flop > 0:
                self.finding(
                    FindingKind.UNDECLARED_COMPUTE,
                    Severity.SERIOUS,
                    subject,
                    f"cluster {cl.id} of {cl.operator} ran {cl.undeclared_flop:.3g} FLOP of "
                    f"training-like work over {cl.undeclared_windows:,} chip-windows tagged to "
                    f"no declared run",
                    cl.evidence,
                    figures=(("flop", cl.undeclared_flop), ("windows", cl.undeclared_windows)),
                )
            if cl.dark_chips and rules.telemetry is not None:
                shown = ", ".join(cl.dark_chips[:5])
                more = f" and {len(cl.dark_chips) - 5} more" if len(cl.dark_chips) > 5 else ""
                self.finding(
                    FindingKind.DARK_CHIPS,
                    Severity.WARNING,
                    subject,
                    f"{len(cl.dark_chips)} chip(s) installed in cluster {cl.id} of {cl.operator} "
                    f"sent no accepted telemetry for more than "
                    f"{rules.telemetry.max_silence_minutes:g} minutes: {shown}{more}",
                    cl.evidence,
                    figures=(
                        ("dark_chips", len(cl.dark_chips)),
                        ("max_silence_minutes", rules.telemetry.max_silence_minutes),
                    ),
                )

    def cluster_report(
        self, cl: ClusterFact, subject: str, min_flops: float, min_gbps: float
    ) -> None:
        rep = self.policy.clusters.reporting
        assert rep is not None
        peak = cl.peak_flops_per_s if cl.peak_flops_per_s is not None else cl.h100e * H100E_FLOPS
        # A network condition of 0 means "no network condition", not "faster than 0 Gbit/s".
        if peak <= min_flops or (min_gbps > 0 and cl.network_gbps <= min_gbps):
            return
        deadline = (
            _plus(cl.commissioned_at, timedelta(days=rep.within_days))
            if cl.commissioned_at
            else None
        )
        status = self.obligation(
            f"report cluster {cl.id} ({peak:.3g} FLOP/s, {cl.network_gbps:g} Gbit/s)",
            subject,
            deadline,
            cl.reported_at,
            "clusters.reporting",
            rep.source,
        )
        if status is ObligationStatus.OVERDUE:
            self.finding(
                FindingKind.CLUSTER_NOT_REPORTED,
                Severity.WARNING,
                subject,
                f"cluster {cl.id} ({peak:.3g} FLOP/s, {cl.network_gbps:g} Gbit/s) was due to "
                f"be reported by {_fmt_time(deadline) if deadline else 'its deadline'} and was "
                f"not",
                cl.evidence,
                figures=(("peak_flops_per_s", peak),),
            )

    # -- capabilities ------------------------------------------------------------------------

    def capabilities(self, cumulative: dict[str, Compute]) -> None:
        required: list[tuple[CapabilityTrigger, float, set[str]]] = []
        evaluations = sorted(self.facts.evaluations, key=_BY_ID)
        for trig in self.policy.capabilities:
            evaluated: set[str] = set()
            for ev in evaluations:
                if ev.domain is not trig.domain or ev.metric != trig.metric:
                    continue
                evaluated.add(ev.model)
                self.capability(trig, ev)
            if trig.required_above_flop is not None:
                required.append((trig, trig.required_above_flop, evaluated))
        if not required:
            return
        # One finding per model names every domain it lacks; one obligation per domain. The
        # few combinations of missing domains are worded once each.
        worded: dict[tuple[int, ...], tuple[str, str, Action, list[tuple[str, str, str]]]] = {}
        for model, c in cumulative.items():
            value = c.value
            missing = tuple(
                i
                for i, (_, floor, evaluated) in enumerate(required)
                if value > floor and model not in evaluated
            )
            if not missing:
                continue
            words = worded.get(missing)
            if words is None:
                trigs = [(required[i][0], required[i][1]) for i in missing]
                names = [f"{trig.domain.value} ({trig.metric})" for trig, _ in trigs]
                words = worded[missing] = (
                    ", ".join(names),
                    f"{min(floor for _, floor in trigs):.3g}",
                    max((trig.on_alert for trig, _ in trigs), key=_ACTION_RANK.__getitem__),
                    [
                        (name, f"capabilities.{trig.domain.value}", trig.source)
                        for name, (trig, _) in zip(names, trigs, strict=True)
                    ],
                )
            names_text, floor_text, action, duties = words
            subject = f"model:{model}"
            self.finding(
                FindingKind.CAPABILITY_UNEVALUATED,
                Severity.WARNING,
                subject,
                f"model {model} ({c.describe()}) has no result in {names_text}, required above "
                f"{floor_text} FLOP; the capability is not ruled out",
                (),
                action=action,
            )
            for name, basis, source in duties:
                self.obligation(
                    f"evaluate model {model} for {name}", subject, None, None, basis, source
                )

    def capability(self, trig: CapabilityTrigger, ev: EvalFact) -> None:
        subject = f"eval:{ev.id}"
        evidence = tuple(sorted({*ev.evidence, f"eval:{ev.id}"}))
        alert = trig.alert_level - trig.buffer
        critical = trig.critical_level - trig.buffer
        buffer = f" (levels lowered by a buffer of {trig.buffer:g})" if trig.buffer else ""
        if ev.status is not EvalStatus.SUCCESS or ev.value is None:
            self.finding(
                FindingKind.CAPABILITY_ALERT,
                Severity.WARNING,
                subject,
                f"the {trig.domain.value} evaluation of {ev.model} ended with status "
                f"{ev.status.value}: a failed evaluation does not rule the capability out",
                evidence,
                action=trig.on_alert,
            )
            self.alert_clock(ev, subject)
            return
        lo = ev.value if ev.ci_low is None else ev.ci_low
        hi = ev.value if ev.ci_high is None else ev.ci_high
        pick = {Bound.LOWER: lo, Bound.POINT: ev.value, Bound.UPPER: hi}
        shown = f"{trig.metric} {ev.value:g} (CI {lo:g} to {hi:g})"
        if pick[trig.critical_bound] >= critical:
            self.finding(
                FindingKind.CAPABILITY_CRITICAL,
                Severity.CRITICAL,
                subject,
                f"{ev.model} scores {shown} in {trig.domain.value}; its "
                f"{trig.critical_bound.value} bound reaches the critical level "
                f"{critical:g}{buffer}: {trig.indicator}",
                evidence,
                action=trig.on_critical,
                figures=(("value", ev.value), ("level", critical)),
            )
        elif pick[trig.alert_bound] >= alert:
            self.finding(
                FindingKind.CAPABILITY_ALERT,
                Severity.WARNING,
                subject,
                f"{ev.model} scores {shown} in {trig.domain.value}; its "
                f"{trig.alert_bound.value} bound reaches the alert level {alert:g}{buffer}: "
                f"the capability cannot be ruled out",
                evidence,
                action=trig.on_alert,
                figures=(("value", ev.value), ("level", alert)),
            )
            self.alert_clock(ev, subject)

    def alert_clock(self, ev: EvalFact, subject: str) -> None:
        self.clock(
            Event.CAPABILITY_ALERT,
            None,
            about=f"model {ev.model}, {ev.domain.value}",
            subject=subject,
            start=ev.completed_at or self.at,
            done_at=None,
        )

    # -- incidents ---------------------------------------------------------------------------

    def orders(self) -> None:
        """A halt order not obeyed (training after its deadline, or its chips silent) is a
        finding that files the policy's next enforcement step."""
        for order in sorted(self.facts.orders, key=_BY_ID):
            if order.status not in (OrderStatus.VIOLATED, OrderStatus.SILENT):
                continue
            violated = order.status is OrderStatus.VIOLATED
            self.finding(
                FindingKind.ORDER_NOT_OBEYED,
                Severity.CRITICAL if violated else Severity.SERIOUS,
                order.subject,
                f"halt order {order.id} (deadline {_fmt_time(order.deadline)}) "
                + ("was not obeyed" if violated else "cannot be confirmed")
                + (f": {order.detail}" if order.detail else ""),
                order.evidence,
                action=Action.ENFORCEMENT_PROPOSAL,
            )

    def unreadable(self) -> None:
        for u in sorted(self.facts.unreadable, key=lambda u: (u.entry, u.kind)):
            self.finding(
                FindingKind.ENTRY_UNREADABLE,
                Severity.SERIOUS,
                u.entry,
                f"log entry {u.entry.removeprefix('log:')} ({u.kind}) was set aside because it "
                f"cannot be read: {u.reason}",
                (u.entry,),
            )

    def incidents(self) -> None:
        for inc in sorted(self.facts.incidents, key=_BY_ID):
            subject = f"incident:{inc.id}"
            clocks = self.clock(
                Event.CRITICAL_INCIDENT,
                None,
                about=f"incident {inc.id} of {inc.operator}",
                subject=subject,
                start=inc.occurred_at,
                done_at=inc.reported_at,
            )
            for status, within, deadline in clocks:
                if status is ObligationStatus.OVERDUE and deadline is not None:
                    self.finding(
                        FindingKind.NOTIFICATION_OVERDUE,
                        Severity.WARNING,
                        subject,
                        f"incident {inc.id} of {inc.operator} occurred on "
                        f"{_fmt_time(inc.occurred_at)}; its report was due within {within:g} "
                        f"hours, by {_fmt_time(deadline)}",
                        (),
                    )


_BY_ID = attrgetter("id")


def check_conditions(
    conditions: Iterable[Condition], state: dict[Fact, float]
) -> tuple[ConditionResult, ...]:
    """Each condition tested on ``state``; an unknown figure fails its condition."""
    results: list[ConditionResult] = []
    for cond in conditions:
        actual = state.get(cond.fact)
        if actual is None:
            held = False
        elif cond.op is Comparison.GE:
            held = actual >= cond.value
        elif cond.op is Comparison.GT:
            held = actual > cond.value
        elif cond.op is Comparison.LE:
            held = actual <= cond.value
        elif cond.op is Comparison.LT:
            held = actual < cond.value
        else:
            held = actual == cond.value
        results.append(ConditionResult(cond, actual, held))
    return tuple(results)


def evaluate(
    policy: Policy,
    facts: Facts,
    at: datetime,
    *,
    horizon: timedelta = DEFAULT_HORIZON,
    digest: str | None = None,
) -> Evaluation:
    """Evaluate ``policy`` over ``facts`` at time ``at``.

    Pure and deterministic: equal arguments give equal :meth:`Evaluation.canonical_bytes`.
    ``digest`` may pass the policy's precomputed digest (it is computed otherwise).
    """
    # The evaluation allocates hundreds of thousands of small acyclic records (findings,
    # obligations, intermediate tuples); reference counting frees all of its garbage. The cyclic
    # collector, left on, would repeatedly walk every live object -- the facts included -- for
    # nothing. It is paused for the evaluation and restored as it was (docs/adr/0005).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(policy, facts, at, horizon, digest)
    finally:
        if collecting:
            gc.enable()


def _evaluate(
    policy: Policy, facts: Facts, at: datetime, horizon: timedelta, digest: str | None
) -> Evaluation:
    ev = _Evaluator(policy, facts, at, horizon)
    ev.runs()
    cumulative = ev.lineages()
    ev.clusters()
    ev.capabilities(cumulative)
    ev.orders()
    ev.incidents()
    ev.unreadable()
    lift = (
        check_conditions(policy.pause.lift.conditions, dict(facts.state))
        if policy.pause is not None
        else ()
    )
    return Evaluation(
        policy_id=policy.id,
        policy_version=policy.version,
        policy_digest=digest if digest is not None else policy_digest(policy),
        at=at,
        findings=tuple(ev.findings),
        obligations=tuple(ev.obligations),
        lift_conditions=lift,
    )


__all__ = ["DEFAULT_HORIZON", "Compute", "check_conditions", "evaluate"]
