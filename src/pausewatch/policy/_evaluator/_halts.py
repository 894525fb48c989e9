"""Halts in time: a halt proposed before a running job crosses the prohibition.

A halt order binds once its vote closes and its notice runs out (the policy's
``governance.halts``; docs/adr/0020). A running job whose projection crosses the prohibition
before a halt proposed now could bind would cross it unanswered, training on through the vote:
the policy proposes the halt now, quoting the projection and its interval. Which end of the
interval is compared is the policy's ``governance.halts.bound`` (the upper one, the earliest
crossing, by default: precaution).
"""

from __future__ import annotations

from pausewatch.compute import Estimate, Method, project_crossing
from pausewatch.policy._evaluator._base import Compute, State, _fmt_time, _plus, rate_of
from pausewatch.policy._facts import RunFact
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import Action, Bound, Threshold, Tier

_BOUND_WORDS = {
    Bound.UPPER: "earliest",
    Bound.POINT: "expected",
    Bound.LOWER: "latest",
}


class HaltRules(State):
    """The early halt proposal, for one running job at a time."""

    def halt_in_time(self, run: RunFact, used: Compute, subject: str, t: Threshold) -> None:
        """A ``prohibition_projected`` finding that proposes a halt now when ``run``, at its
        current rate, crosses the prohibition ``t`` before a halt proposed now would bind."""
        governance = self.policy.governance
        rate = run.rate
        if governance is None or rate is None or rate.value <= 0:
            return  # no body would decide a halt, or nothing to project
        lead = governance.halt_lead
        binds_at = _plus(self.at, lead)
        rate_value, rate_low, rate_high = rate_of(run)
        # Most running jobs are far from the prohibition: even the earliest crossing is later.
        if (t.flop - used.high) / rate_high > lead.total_seconds():
            return
        crossing = project_crossing(
            measured=Estimate(used.value, used.low, used.high, Method.SUM),
            rate=Estimate(rate_value, rate_low, rate_high, Method.TELEMETRY),
            threshold=t.flop,
            now=self.at,
        )
        bound = governance.halt_bound
        when = {
            Bound.UPPER: crossing.earliest,
            Bound.POINT: crossing.expected,
            Bound.LOWER: crossing.latest,
        }[bound]
        if when is None or when > binds_at:
            return
        # A job that ends by its declaration before the crossing stops on its own; one already
        # past its declared end is not bounded by it.
        if run.ends_at is not None and self.at < run.ends_at < when:
            return
        earliest, expected, latest = crossing.earliest, crossing.expected, crossing.latest
        between = (
            f"between {_fmt_time(earliest) if earliest is not None else 'never'} and "
            f"{_fmt_time(latest) if latest is not None else 'never'}"
        )
        self.finding(
            FindingKind.PROHIBITION_PROJECTED,
            Severity.SERIOUS,
            subject,
            f"run {run.id} has used {used.describe()}; at its current rate it crosses the "
            f"{t.flop:.3g} FLOP prohibition on "
            f"{_fmt_time(expected) if expected is not None else 'no date'} ({between}), "
            f"{_BOUND_WORDS[bound]} {_fmt_time(when)}, before a halt proposed now binds on "
            f"{_fmt_time(binds_at)} (a {governance.vote_window_days:g}-day vote and "
            f"{governance.halt_notice.total_seconds() / 3600:g} hours' notice): a halt is "
            "proposed now",
            run.evidence,
            action=Action.HALT_PROPOSAL,
            tier=Tier.PROHIBITED,
            figures=(
                ("flop", used.value),
                ("low", used.low),
                ("high", used.high),
                ("threshold", t.flop),
                ("bound", bound.value),
                ("crossing", when.isoformat()),
                ("expected", "never" if expected is None else expected.isoformat()),
                ("earliest", "never" if earliest is None else earliest.isoformat()),
                ("latest", "never" if latest is None else latest.isoformat()),
                ("binds_at", binds_at.isoformat()),
            ),
        )


__all__ = ["HaltRules"]
