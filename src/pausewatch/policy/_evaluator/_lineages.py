"""Lineages: a model's cumulative compute, its ancestors' included, against the tiers.

Lineage thresholds compare a model's cumulative compute (its runs and its ancestors') with the
pre-training tiers, and its cumulative post-training compute with the post-training tiers. The
run that took the model over a declaration or approval tier, and every later run, carries that
tier's duties; a model whose own compute is a large enough share of its base's is a new model;
a pause binds a model above its limit however its runs are split.
"""

from __future__ import annotations

import math
from datetime import datetime

from pausewatch.errors import PolicyError
from pausewatch.policy._evaluator._base import (
    _LATEST,
    _NONE,
    _TIER_SEVERITY,
    _TIER_WORDS,
    Compute,
    _new,
    _Tiers,
)
from pausewatch.policy._evaluator._duties import DutyRules
from pausewatch.policy._evaluator._tiers import TierRules
from pausewatch.policy._facts import RunFact, RunStatus
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import POST_TRAINING_PHASES, Action, Basis, Event, Threshold, Tier


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


class LineageRules(DutyRules, TierRules):
    """The lineage pass: one model at a time, in name order, after the run pass."""

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
                f"model {lin.model}'s {what} is {c.describe()}"
                f"{c.straddle_words(prohibition.flop, 'prohibition')}",
                lin.evidence(),
                tier=Tier.PROHIBITED,
                figures=(
                    ("flop", c.value),
                    ("high", c.high),
                    ("threshold", prohibition.flop),
                    ("low", c.low),
                    ("straddles", c.straddles(prohibition.flop)),
                ),
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
            f"{_TIER_WORDS[tier]}{c.straddle_words(t.flop, _TIER_WORDS[tier])}",
            lin.evidence(),
            action=Action.HALT_PROPOSAL if prohibited else Action.FINDING,
            tier=tier,
            figures=(("flop", c.value), ("threshold", t.flop), *c.bounds(t.flop)),
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
        if c.high <= limit:
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
        # Only the interval above the limit: not ruled out, as a run's (docs/adr/0022).
        below = c.value <= limit
        self.finding(
            FindingKind.PROHIBITED_NOT_RULED_OUT if below else FindingKind.PAUSE_VIOLATION,
            Severity.SERIOUS if below else Severity.CRITICAL,
            lin.subject,
            f"model {lin.model} is at {c.describe()} with {len(active)} planned or running "
            f"job(s) ({', '.join(r.id for r in active)}) while a pause prohibits training "
            f"above {limit:.3g} FLOP{c.straddle_words(limit, 'pause limit')}",
            lin.evidence(),
            action=(Action.HALT_PROPOSAL if pause.automatic_halt and not below else Action.FINDING),
            figures=(("flop", c.value), ("threshold", limit), *c.bounds(limit)),
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
        # The compared figure is the share of the base; its interval pairs the model's own
        # bounds with the base's opposite ones.
        share = Compute(
            own[0] / base_total.value,
            own[1] / base_total.high if base_total.high > 0 else 0.0,
            own[2] / base_total.low if base_total.low > 0 else math.inf,
            "share",
        )
        straddle = ""
        if share.straddles(rule.fraction):
            high = "unbounded" if math.isinf(share.high) else f"{share.high:.3g}"
            straddle = (
                f"; its share {share.low:.3g} to {high} of the base straddles {rule.fraction:.3g}"
            )
        self.finding(
            FindingKind.NEW_MODEL,
            Severity.NOTICE,
            subject,
            f"model {model} used {own[0]:.3g} FLOP on top of {base_model} "
            f"({base_total.value:.3g} FLOP), more than {rule.fraction:.3g} of it: it counts as "
            f"a new model{straddle}",
            lin.evidence(),
            figures=(
                ("own", own[0]),
                ("base", base_total.value),
                ("fraction", rule.fraction),
                ("share", share.value),
                ("low", share.low),
                # A base whose low bound is 0 leaves the share without a high bound.
                ("high", share.high if math.isfinite(share.high) else "unbounded"),
                ("straddles", share.straddles(rule.fraction)),
            ),
        )
        self.clock(
            Event.NEW_MODEL,
            None,
            about=f"model {model}",
            subject=subject,
            start=lin.first_start(),
            done_at=None,
        )


__all__ = ["LineageRules"]
