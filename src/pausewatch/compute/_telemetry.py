"""Compute measured by chip FLOP counters, cross-checked against energy and physics.

The counters (one mapping ``{precision: operations}`` per telemetry record, DESIGN "Telemetry
record") are added up under the policy's :class:`~pausewatch.compute.CountingRule`. Two checks
say whether the counters are believable:

* **Physical bound.** No chip performs more operations than its highest dense peak allows:
  ``operations <= chip_count · best_peak · seconds``. Exceeding it is impossible, whatever else
  is true, so it needs no tolerance beyond the counters' own.
* **Energy.** At peak throughput a chip draws at most its TDP, so ``peak / TDP`` FLOP per joule
  is what the energy it consumed pays for at full efficiency. The *implied efficiency*
  ``Σ_p (operations_p / peak_p) · TDP / energy_j`` says which fraction of that the counters
  report. A training run at 32-52% utilisation drawing 60-100% of TDP gives 0.32-0.87; the
  default plausible range :data:`PLAUSIBLE_EFFICIENCY` widens that to 0.15 below (stalls,
  checkpointing, evaluation inside the window) and 1.25 above (power-capped chips do more work
  per joule than at TDP). Below the range, energy paid for work the counters do not show
  (under-reported compute); above it, the counters claim more than the energy can pay for.

Assumptions: the window is one of sustained work (idle chips draw 10-15% of TDP with no FLOP
and fail the lower bound); the TDP in the catalogue is the chip's real limit; energy is metered
per chip (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION), not at the wall. See
docs/adr/0004-flop-counting-and-hardware.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pausewatch.compute._counting import CountingRule, Precision, parse_precision, weight
from pausewatch.compute._estimate import Estimate, Method
from pausewatch.compute._hardware import Chip
from pausewatch.compute._symbols import DASH, TIMES
from pausewatch.errors import ComputeError

COUNTER_TOLERANCE = 0.02
"""Stated accuracy of hardware FLOP counters (±2%): instruction counts are exact, but sampled
profiling metrics and records cut at window boundaries are not."""


def counter_interval(
    value: float, low: float | None = None, high: float | None = None
) -> tuple[float, float]:
    """The low and high of a figure measured by FLOP counters (a total, or a pace over windows
    whose signed times are exact): the bounds given, widened to at least
    ±:data:`COUNTER_TOLERANCE` of ``value``, since no figure counted by the chips is known more
    closely than the counters themselves (docs/adr/0022).

    >>> counter_interval(100.0)
    (98.0, 102.0)
    """
    lo = value * (1 - COUNTER_TOLERANCE)
    hi = value * (1 + COUNTER_TOLERANCE)
    return (lo if low is None or low > lo else low, hi if high is None or high < hi else high)


PLAUSIBLE_EFFICIENCY = (0.15, 1.25)
"""Default plausible range of the implied efficiency (fraction of peak FLOP per joule)."""


@dataclass(frozen=True, slots=True)
class TelemetryResult:
    """Counted compute and whether energy and physics agree with the counters.

    ``consistent`` is False when a check that could be made contradicts the counters; checks that
    lack their inputs are skipped (their field is ``None``) and ``reason`` says so.
    """

    estimate: Estimate
    """The counted FLOP under the counting rule, ± the counter tolerance."""
    operations: Mapping[Precision, float]
    """Operations as performed (no counting rule), per number format."""
    rule: CountingRule
    """The counting rule the estimate applies."""
    implied_efficiency: float | None
    """Reported operations as a fraction of what the energy pays for at peak and TDP."""
    plausible_efficiency: tuple[float, float]
    """The range of implied efficiency taken as believable."""
    physical_bound: float | None
    """The most operations the chips could have performed in the window."""
    consistent: bool
    """False when a check contradicts the counters."""
    reason: str
    """One readable sentence per check: passed, failed (with figures) or skipped (why)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "estimate": self.estimate.to_json(),
            "operations": {p.value: v for p, v in self.operations.items()},
            "rule": str(self.rule),
            "implied_efficiency": self.implied_efficiency,
            "plausible_efficiency": list(self.plausible_efficiency),
            "physical_bound": self.physical_bound,
            "consistent": self.consistent,
            "reason": self.reason,
        }


def _operations(
    flop_counters: Sequence[Mapping[str, float] | Mapping[Precision, float]],
) -> dict[Precision, float]:
    ops: dict[Precision, float] = {}
    for i, record in enumerate(flop_counters):
        for name, count in record.items():
            p = parse_precision(name)
            if isinstance(count, bool) or not math.isfinite(count) or count < 0:
                raise ComputeError(
                    f"counter record {i}: {p.value} operations must be a finite figure >= 0, "
                    f"got {count!r}"
                )
            ops[p] = ops.get(p, 0.0) + float(count)
    return {p: ops[p] for p in Precision if p in ops}


def estimate_telemetry(
    *,
    flop_counters: Sequence[Mapping[str, float] | Mapping[Precision, float]],
    rule: CountingRule,
    energy_j: float | None = None,
    chip: Chip | None = None,
    seconds: float | None = None,
    chip_count: int | None = None,
    tolerance: float = COUNTER_TOLERANCE,
    plausible_efficiency: tuple[float, float] = PLAUSIBLE_EFFICIENCY,
) -> TelemetryResult:
    """Add up FLOP counters under ``rule`` and cross-check them against energy and physics.

    The energy check needs ``energy_j`` and a ``chip`` with a published TDP; the physical bound
    needs ``chip``, ``seconds`` and ``chip_count``. Both are described in the module docstring.
    """
    if not math.isfinite(tolerance) or not 0 <= tolerance < 1:
        raise ComputeError(f"counter tolerance must be in [0, 1), got {tolerance!r}")
    eff_lo, eff_hi = plausible_efficiency
    if not (math.isfinite(eff_lo) and math.isfinite(eff_hi) and 0 <= eff_lo <= eff_hi):
        raise ComputeError(
            f"plausible efficiency must satisfy 0 <= low <= high, got ({eff_lo!r}, {eff_hi!r})"
        )
    if energy_j is not None and (not math.isfinite(energy_j) or energy_j < 0):
        raise ComputeError(f"energy_j must be a finite figure >= 0, got {energy_j!r}")
    if seconds is not None and (not math.isfinite(seconds) or seconds <= 0):
        raise ComputeError(f"seconds must be a finite figure > 0, got {seconds!r}")
    if chip_count is not None and (
        isinstance(chip_count, bool) or not isinstance(chip_count, int) or chip_count <= 0
    ):
        raise ComputeError(f"chip_count must be an integer > 0, got {chip_count!r}")

    ops = _operations(flop_counters)
    raw = sum(ops.values())
    counted = sum(n * weight(p, rule) for p, n in ops.items())
    estimate = Estimate.relative(
        counted,
        tolerance,
        Method.TELEMETRY,
        f"sum of {len(flop_counters)} counter records under {rule}",
        f"±{tolerance:.0%}: stated accuracy of hardware FLOP counters",
    )

    problems: list[str] = []
    passed: list[str] = []
    skipped: list[str] = []

    if chip is not None:
        foreign = [p for p, n in ops.items() if n > 0 and p not in chip.peak_flops]
        if foreign:
            names = ", ".join(p.value for p in foreign)
            problems.append(f"counters report {names} operations, which {chip.name} cannot do")

    bound: float | None = None
    if chip is not None and seconds is not None and chip_count is not None:
        bound = chip_count * chip.best_peak * seconds
        if raw * (1 - tolerance) > bound:
            problems.append(
                f"counters report {raw:.3g} operations, above the physical bound {bound:.3g} "
                f"({chip_count} {TIMES} {chip.name} at {chip.best_peak:.3g} FLOP/s "
                f"{TIMES} {seconds:.4g} s)"
            )
        else:
            passed.append(f"{raw:.3g} operations are within the physical bound {bound:.3g}")
    else:
        skipped.append("physical bound not checked: it needs chip, seconds and chip_count")

    efficiency: float | None = None
    if energy_j is not None and chip is not None and chip.tdp_w is not None:
        at_peak_j = sum(n / chip.flop_per_joule(p) for p, n in ops.items() if p in chip.peak_flops)
        if energy_j == 0:
            if at_peak_j > 0:
                problems.append(f"counters report {raw:.3g} operations but the energy is 0 J")
            else:
                skipped.append("energy cross-check not made: no energy and no operations")
        else:
            efficiency = at_peak_j / energy_j
            span = f"{eff_lo:.2f}{DASH}{eff_hi:.2f}"
            if efficiency < eff_lo:
                problems.append(
                    f"implied efficiency {efficiency:.3g} is below the plausible range {span}: "
                    f"{energy_j:.3g} J pays for more compute than the counters report"
                )
            elif efficiency > eff_hi:
                problems.append(
                    f"implied efficiency {efficiency:.3g} is above the plausible range {span}: "
                    f"the counters report more compute than {energy_j:.3g} J can pay for"
                )
            else:
                passed.append(
                    f"implied efficiency {efficiency:.3g} is within the plausible range {span}"
                )
    elif energy_j is None:
        skipped.append("energy cross-check not made: no energy figure")
    elif chip is None:
        skipped.append("energy cross-check not made: no chip")
    else:
        skipped.append(f"energy cross-check not made: {chip.name} has no published TDP")

    reason = "; ".join(problems + skipped if problems else passed + skipped)
    return TelemetryResult(
        estimate=estimate,
        operations=MappingProxyType(ops),
        rule=rule,
        implied_efficiency=efficiency,
        plausible_efficiency=(eff_lo, eff_hi),
        physical_bound=bound,
        consistent=not problems,
        reason=reason,
    )
