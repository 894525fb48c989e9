"""Phases: compute tagged to a declared run in a pattern that does not match its declared phase
(docs/adr/0036).

The pattern is the detector's (``pausewatch.detect``): a declared hyper-parameter search whose
sampled chips move as one synchronous job. It reaches the evaluator as
:class:`~pausewatch.policy._facts.RunPatternFact` values built above it; the evaluator words
the finding and weighs it by what the declared phase buys the run under this policy.
"""

from __future__ import annotations

from pausewatch.policy._evaluator._base import _BY_ID, State, _fmt_time
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import Action


class PhaseRules(State):
    """Phase mismatches, one finding per run, in run order."""

    def phases(self) -> None:
        for p in sorted(self.facts.run_patterns, key=_BY_ID):
            if not p.one_job:
                continue
            share = p.synchronous_pairs / p.pairs if p.pairs else 0.0
            # A phase the policy does not count takes the run's compute out of every tier: the
            # mislabel then hides compute and an inspection is asked for. Where the phase is
            # counted as the others are, it changes no tier and is only inconsistent.
            uncounted = p.phase not in self.counted
            span = (
                f" from {_fmt_time(p.first_window)} to {_fmt_time(p.last_window)}"
                if p.first_window is not None and p.last_window is not None
                else ""
            )
            where = f" on cluster {p.cluster}" if p.cluster else ""
            weight = (
                f"this policy does not count {p.phase.value} as training, so the run's compute "
                f"escapes its tiers; an inspection is asked for"
                if uncounted
                else f"this policy counts {p.phase.value} as training, so no tier changes"
            )
            self.finding(
                FindingKind.PHASE_MISMATCH,
                Severity.SERIOUS if uncounted else Severity.WARNING,
                f"run:{p.id}",
                f"run {p.id} of {p.operator}{where} is declared {p.phase.value}, but "
                f"{p.synchronous_pairs} of the {p.pairs} pairs of its {p.chips} sampled chips "
                f"({share:.0%}, {p.windows} chip-windows{span}) move their network traffic "
                f"together (correlation at least {p.correlation:g}): one synchronous job, not "
                f"independent trials; {weight}",
                p.evidence,
                action=Action.INSPECTION if uncounted else Action.FINDING,
                figures=(
                    ("phase", p.phase.value),
                    ("chips", p.chips),
                    ("windows", p.windows),
                    ("pairs", p.pairs),
                    ("synchronous_pairs", p.synchronous_pairs),
                    ("share_synchronous", round(share, 6)),
                    ("share_limit", p.share_limit),
                    ("counted", not uncounted),
                ),
            )


__all__ = ["PhaseRules"]
