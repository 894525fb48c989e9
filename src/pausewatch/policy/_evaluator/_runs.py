"""Runs: each run's counted compute, the tier it reaches, its projection, the pause.

A run's compute is the higher of its declared plan and its measured compute, bound by bound,
counted under the policy's counting rule; phases the policy does not count are skipped. Run
thresholds use the pre-training tiers for pre-training and hyper-parameter searches and the
post-training tiers for fine-tuning and RL. The run pass also sums each model's compute and
running rates for the lineage pass.
"""

from __future__ import annotations

import math

from pausewatch.compute import Method, count_flop, counter_interval
from pausewatch.policy._evaluator._base import (
    _NONE,
    _TIER_SEVERITY,
    _TIER_WORDS,
    Compute,
    _hi,
    _lo,
    _new,
    rate_of,
)
from pausewatch.policy._evaluator._duties import DutyRules
from pausewatch.policy._evaluator._halts import HaltRules
from pausewatch.policy._evaluator._tiers import TierRules
from pausewatch.policy._facts import RunFact, RunStatus
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import POST_TRAINING_PHASES, Action, Basis, Threshold, Tier


class RunRules(DutyRules, TierRules, HaltRules):
    """The run pass: one run at a time, in id order."""

    def compute_of(self, run: RunFact) -> tuple[Compute, Compute | None]:
        """The higher of the declared plan and the measured compute, bound by bound; and the
        measured compute alone (none when nothing was measured)."""
        d = run.declared
        m = run.measured
        used: Compute | None = None
        if run.measured_by_precision is not None:
            # Counters are counted here, under this policy's rule, and trusted to within their
            # stated accuracy; a measured figure given alongside lends its relative interval
            # where it is wider (docs/adr/0022).
            value = count_flop(run.measured_by_precision, self.rule)
            low, high = counter_interval(value)
            if m is not None and m.value > 0:
                rel = value / m.value
                low, high = counter_interval(
                    value, _lo(m.value, m.low) * rel, _hi(m.value, m.high) * rel
                )
            used = _new(Compute, (value, low, high, "telemetry"))
        elif m is not None:
            method = m.method or Method.TELEMETRY
            low, high = _lo(m.value, m.low), _hi(m.value, m.high)
            if method == Method.TELEMETRY:
                # A telemetry figure comes from counters: never closer than their accuracy.
                low, high = counter_interval(m.value, m.low, m.high)
            used = _new(Compute, (m.value, low, high, method))
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
                    f"run {run.id} is at {c.describe()}"
                    f"{c.straddle_words(prohibition.flop, 'prohibition')}",
                    run.evidence,
                    tier=Tier.PROHIBITED,
                    figures=(
                        ("flop", value),
                        ("high", high),
                        ("threshold", prohibition.flop),
                        ("low", low),
                        ("straddles", c.straddles(prohibition.flop)),
                    ),
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
            if (
                prohibition is not None
                and used is not None
                and run.status is running
                and not (crossed and crossed[-1][0] is Tier.PROHIBITED)
            ):
                self.halt_in_time(run, used, subject, prohibition)
            if declared is not None and used is not None:
                d_high = _hi(declared.value, declared.high)
                if used.value > d_high:
                    # The central value decides, as for a tier: counters trusted to ±2% must not
                    # excuse a run measured above its plan; the words say when the interval
                    # straddles the plan (docs/adr/0022).
                    self.finding(
                        FindingKind.EXCEEDS_DECLARATION,
                        Severity.WARNING,
                        subject,
                        f"run {run.id} has used {used.describe()}, above its declared plan of "
                        f"at most {d_high:.3g} FLOP{used.straddle_words(d_high, 'plan')}",
                        run.evidence,
                        figures=(
                            ("measured_low", used.low),
                            ("declared_high", d_high),
                            ("flop", used.value),
                            *used.bounds(d_high),
                        ),
                    )
            if pause is not None:
                self.pause_check(run, c, subject, pause.prohibits.training_above_flop)

    def add_rate(self, run: RunFact) -> None:
        """Add a running job's rate to its model's sums, for the model-level projection."""
        value, low, high = rate_of(run)
        m = self.rates.get(run.model)
        if m is None:
            self.rates[run.model] = m = [0.0, 0.0, 0.0]
        m[0] += value
        m[1] += low
        m[2] += high
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
                f"{c.describe()}, above the {t.flop:.3g} FLOP prohibition"
                f"{c.straddle_words(t.flop, 'prohibition')}",
                run.evidence,
                action=Action.HALT_PROPOSAL,
                tier=tier,
                figures=(("flop", c.value), ("threshold", t.flop), *c.bounds(t.flop)),
            )
            return
        desc = c.describe()
        self.finding(
            FindingKind.TIER_REACHED,
            _TIER_SEVERITY[tier],
            subject,
            f"run {run.id} ({run.phase}) is at {desc}, above the {t.flop:.3g} FLOP "
            f"{_TIER_WORDS[tier]}{c.straddle_words(t.flop, _TIER_WORDS[tier])}",
            run.evidence,
            tier=tier,
            figures=(("flop", c.value), ("threshold", t.flop), *c.bounds(t.flop)),
        )
        self.run_duties(run, subject, tier, t, basis, f"at {desc}")

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
        value, low, high = rate_of(run)
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
            (value, low, high),
            run.ends_at,
            tier,
            t,
            run.evidence,
        )

    def pause_check(self, run: RunFact, c: Compute, subject: str, limit: float) -> None:
        pause = self.pause
        assert pause is not None
        if run.phase not in pause.prohibits.phases or c.high <= limit:
            return
        if run.exempt_until is not None and self.at < run.exempt_until:
            return
        if run.status not in (RunStatus.RUNNING, RunStatus.PLANNED):
            return
        if c.value <= limit:
            # Only the interval reaches the pause's limit: not ruled out, as for a prohibition
            # (docs/adr/0022); nothing is proposed on the strength of a high bound alone.
            self.finding(
                FindingKind.PROHIBITED_NOT_RULED_OUT,
                Severity.SERIOUS,
                subject,
                f"run {run.id} is {run.status.value} at {c.describe()} while a pause prohibits "
                f"training above {limit:.3g} FLOP{c.straddle_words(limit, 'pause limit')}",
                run.evidence,
                figures=(("flop", c.value), ("threshold", limit), *c.bounds(limit)),
            )
            return
        self.finding(
            FindingKind.PAUSE_VIOLATION,
            Severity.CRITICAL,
            subject,
            f"run {run.id} is {run.status.value} at {c.describe()} while a pause prohibits "
            f"training above {limit:.3g} FLOP{c.straddle_words(limit, 'pause limit')}",
            run.evidence,
            action=Action.HALT_PROPOSAL if pause.automatic_halt else Action.FINDING,
            figures=(("flop", c.value), ("threshold", limit), *c.bounds(limit)),
        )


__all__ = ["RunRules"]
