"""The data-inclusion test and the compute an audit spends: pure functions of the replays'
figures, which the engine (:func:`~pausewatch.transcript._verify.conclude`) and the fold
(:mod:`pausewatch.transcript._fold`) both call, so that the fold recomputes a verdict's figures
from the replays on the log and gets the very floats the inspector's engine stated (issue 17 §3;
docs/adr/0041-transcript-audit-rules.md).

The test (Choi, Shavit and Duvenaud): in each replayed segment the committed end checkpoint's
loss on the segment's own training batches should have dropped more than on as many held-out
records. The differences ``train_loss_drop - heldout_loss_drop`` go to a one-sided Wilcoxon
signed-rank test (alternative: greater than zero) at :data:`ALPHA`, from :data:`MIN_PAIRS`
segments on; below that it is inconclusive and passes. scipy is imported only when the test
runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

ALPHA = 0.05
"""Significance level of the data-inclusion test."""

MIN_PAIRS = 8
"""The fewest segments the Wilcoxon test decides for. It can reach ``ALPHA`` from five on, but
at five a single honest segment with a slightly negative difference fails it (W+ = 14, p =
0.0625); from eight on such a segment no longer sinks an honest run."""

FORWARDS_PER_STEP = 4
"""Batch forward passes the inclusion test makes per replayed step: the step's training batch
and its held-out batch, each at the segment's first and last checkpoint."""

FORWARD_COST = 1 / 3
"""A batch forward pass costs a third of an optimiser step (forward + backward ~ 3 forwards)."""


class LossDrops(Protocol):
    """What the inclusion test reads of one replayed segment (an engine ``SegmentResult``, a
    ``transcript.replay/v1`` body, :class:`Drops`)."""

    @property
    def train_loss_drop(self) -> float:
        """How much the segment's training lowered the loss on its own batches."""
        ...

    @property
    def heldout_loss_drop(self) -> float:
        """How much it lowered the loss on as many held-out records."""
        ...


@dataclass(frozen=True, slots=True)
class Drops:
    """One segment's loss drops, as a replay on the log states them."""

    train_loss_drop: float
    heldout_loss_drop: float


@dataclass(frozen=True, slots=True)
class Inclusion:
    """The data-inclusion test across the replayed segments."""

    statistic: float
    """Wilcoxon's W+ (sum of the ranks of the positive differences)."""
    p_value: float
    """One-sided p-value (alternative: training batches' loss drops more)."""
    passed: bool
    """``p_value <= ALPHA`` where the test is conclusive; true where it is not."""
    conclusive: bool = True
    """Whether the test had ``MIN_PAIRS`` segments or more to decide on."""

    def to_json(self) -> dict[str, Any]:
        """``{"statistic", "p_value", "passed", "conclusive"}``."""
        return {
            "statistic": self.statistic,
            "p_value": self.p_value,
            "passed": self.passed,
            "conclusive": self.conclusive,
        }


def inclusion_test(results: Sequence[LossDrops]) -> Inclusion:
    """The one-sided data-inclusion test over the replayed segments (module docstring)."""
    differences = [r.train_loss_drop - r.heldout_loss_drop for r in results]
    conclusive = len(differences) >= MIN_PAIRS
    nonzero = [d for d in differences if d != 0]
    if not nonzero:
        return Inclusion(0.0, 1.0, not conclusive, conclusive=conclusive)
    from scipy.stats import wilcoxon

    test = wilcoxon(nonzero, alternative="greater", zero_method="wilcox")
    statistic, p_value = float(test.statistic), float(test.pvalue)
    return Inclusion(statistic, p_value, p_value <= ALPHA or not conclusive, conclusive=conclusive)


def compute_fraction(steps_replayed: int, steps: int) -> float:
    """The compute an audit spent as a fraction of the run's ``steps``: its replayed steps and
    the inclusion test's :data:`FORWARDS_PER_STEP` forward passes per replayed step, each
    :data:`FORWARD_COST` of a step (docs/adr/0041, decision 5)."""
    return steps_replayed * (1 + FORWARDS_PER_STEP * FORWARD_COST) / steps


__all__ = [
    "ALPHA",
    "FORWARDS_PER_STEP",
    "FORWARD_COST",
    "MIN_PAIRS",
    "Drops",
    "Inclusion",
    "LossDrops",
    "compute_fraction",
    "inclusion_test",
]
