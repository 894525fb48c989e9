"""Tiers: which thresholds a figure is above, and when a growing figure will cross the next.

A threshold applies when compute is *above* it; one that depends on the run's cost or its
developer's revenue applies only above those too; special thresholds for a kind of training
data add to the tier set (docs/adr/0005-policy-document-and-evaluation.md). A figure growing
at a rate is "approaching" its next tier when it is expected to cross it before its end or
within the horizon.
"""

from __future__ import annotations

from datetime import datetime

from pausewatch.compute import Estimate, Method, Phase, project_crossing
from pausewatch.policy._evaluator._base import (
    _TIER_SEVERITY,
    _TIER_WORDS,
    Compute,
    State,
    _fmt_time,
    _plus,
)
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import TIER_ORDER, Basis, Threshold, Tier


class TierRules(State):
    """Thresholds crossed and thresholds approached, for runs and for lineages alike."""

    def applies(self, t: Threshold, cost: float | None, operator: str | None) -> bool:
        if t.min_cost_usd is not None and cost is not None and cost <= t.min_cost_usd:
            return False
        if t.min_developer_revenue_usd is not None and operator is not None:
            revenue = self.revenue.get(operator)
            if revenue is not None and revenue <= t.min_developer_revenue_usd:
                return False
        return True

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
        # The crossing times span the interval of the compute and of the rate: both quoted.
        self.finding(
            FindingKind.THRESHOLD_APPROACHING,
            severity,
            subject,
            f"{lead} {used.describe()}; {pace} it crosses the {t.flop:.3g} FLOP "
            f"{_TIER_WORDS[tier]} on {_fmt_time(expected)} ({between}, at {rate[1]:.3g} to "
            f"{rate[2]:.3g} FLOP/s){used.straddle_words(t.flop, _TIER_WORDS[tier])}",
            evidence,
            tier=tier,
            figures=(
                ("flop", used.value),
                ("threshold", t.flop),
                ("expected", expected.isoformat()),
                ("earliest", earliest.isoformat()),
                ("latest", "never" if latest is None else latest.isoformat()),
                *used.bounds(t.flop),
                ("rate", rate[0]),
                ("rate_low", rate[1]),
                ("rate_high", rate[2]),
            ),
        )


__all__ = ["TierRules"]
