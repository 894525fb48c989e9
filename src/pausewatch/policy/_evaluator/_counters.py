"""Counters against sensors: a cluster whose FLOP counters report less than its own chips'
tensor activity makes plausible (docs/adr/0033).

The test itself is the detector's (``pausewatch.detect``, above the policy); it reaches the
evaluator as :class:`~pausewatch.policy._facts.CounterAlarmFact` values built above it, and the
evaluator only words the finding.
"""

from __future__ import annotations

from pausewatch.policy._evaluator._base import State, _entries
from pausewatch.policy._facts import CounterAlarmFact
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import Action

_SHOWN = 8
"""How many evidence entries an explanation names before "and N more"."""


def _key(a: CounterAlarmFact) -> str:
    return a.cluster


class CounterRules(State):
    """Implausible counters, one finding per cluster, in cluster order."""

    def counters(self) -> None:
        for a in sorted(self.facts.counter_alarms, key=_key):
            day = f"{a.period_start:%Y-%m-%d}"
            again = (
                f"; the test alarmed on {a.alarms} day(s) up to {a.last_period_start:%Y-%m-%d}"
                if a.alarms > 1 and a.last_period_start is not None
                else ""
            )
            where = f" in facility {a.facility}" if a.facility else ""
            operator = f" of operator {a.operator}" if a.operator else ""
            self.finding(
                FindingKind.COUNTERS_IMPLAUSIBLE,
                Severity.SERIOUS,
                f"cluster:{a.cluster}",
                f"cluster {a.cluster}{where}{operator}: on {day} (UTC) its chips' FLOP counters "
                f"reported {a.flop:.4g} FLOP over {a.tensor_s:.4g} s of busy tensor pipes, "
                f"{a.ratio:.3f} of their dense peak, below the floor of honest work "
                f"({a.limit:.3f}, set for a false-alarm probability of {a.alpha:g} per "
                f"cluster-year): their own activity sensors make at least "
                f"{a.expected_flop:.4g} FLOP plausible{again}. Evidence: log entries "
                f"{_entries(a.evidence, _SHOWN)} (telemetry batches); an inspection of the "
                "chips and their firmware is asked for",
                a.evidence,
                action=Action.INSPECTION,
                figures=(
                    ("test", "one_shot"),
                    ("period_start", day),
                    ("ratio", a.ratio),
                    ("limit", a.limit),
                    ("alpha", a.alpha),
                    ("flop", a.flop),
                    ("expected_flop", a.expected_flop),
                    ("tensor_s", a.tensor_s),
                    ("chip_windows", a.chip_windows),
                    ("alarms", a.alarms),
                ),
            )
