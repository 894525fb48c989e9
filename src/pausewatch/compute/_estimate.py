"""A compute figure with its interval and the method that produced it.

Every estimator in :mod:`pausewatch.compute` returns an :class:`Estimate`: a central value, a
low and a high bound, and the method named, so that a finding can say "8.1e23 FLOP (measured,
±12%)" and a policy can choose which bound it compares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pausewatch.errors import ComputeError


class Method(StrEnum):
    """How a compute figure was obtained."""

    ARCHITECTURE = "architecture"
    """From the model: 6·N·D for dense transformers, active parameters for mixture-of-experts."""
    HARDWARE = "hardware"
    """From the hardware: chips · time · peak FLOP/s · utilisation."""
    TELEMETRY = "telemetry"
    """From chip-signed FLOP counters, cross-checked against energy."""
    DECLARED = "declared"
    """As declared by the operator, not yet measured."""
    SUM = "sum"
    """A total of several estimates (a lineage, a cluster, a facility)."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """A non-negative compute figure in FLOP (or FLOP/s for a rate) with its interval.

    ``low <= value <= high`` always holds; the constructor refuses anything else.
    """

    value: float
    low: float
    high: float
    method: Method
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("value", "low", "high"):
            x = getattr(self, name)
            if not math.isfinite(x) or x < 0:
                raise ComputeError(f"estimate {name} must be a finite figure >= 0, got {x!r}")
        if not self.low <= self.value <= self.high:
            raise ComputeError(
                f"estimate interval must hold its value: expected low <= value <= high, "
                f"got {self.low!r} <= {self.value!r} <= {self.high!r}"
            )

    @classmethod
    def exact(cls, value: float, method: Method, *notes: str) -> Estimate:
        """A figure known without uncertainty (a counter, a declared plan)."""
        return cls(value, value, value, method, tuple(notes))

    @classmethod
    def relative(cls, value: float, rel: float, method: Method, *notes: str) -> Estimate:
        """``value`` ± ``rel`` (a fraction), the low bound clipped at zero."""
        if rel < 0:
            raise ComputeError(f"relative uncertainty must be >= 0, got {rel!r}")
        return cls(value, max(0.0, value * (1 - rel)), value * (1 + rel), method, tuple(notes))

    @property
    def relative_uncertainty(self) -> float:
        """The larger side of the interval as a fraction of the value (0 when the value is 0)."""
        if self.value == 0:
            return 0.0
        return max(self.value - self.low, self.high - self.value) / self.value

    def scaled(self, factor: float) -> Estimate:
        """This estimate multiplied by a non-negative factor."""
        return Estimate(
            self.value * factor, self.low * factor, self.high * factor, self.method, self.notes
        )

    def __add__(self, other: Estimate) -> Estimate:
        """The sum of two estimates; bounds add (a conservative, not a statistical, interval)."""
        method = self.method if self.method == other.method else Method.SUM
        return Estimate(
            self.value + other.value,
            self.low + other.low,
            self.high + other.high,
            method,
            self.notes + tuple(n for n in other.notes if n not in self.notes),
        )

    def describe(self) -> str:
        """``8.1e+23 FLOP (telemetry, ±12%)``: the form findings quote."""
        return f"{self.value:.3g} FLOP ({self.method}, ±{self.relative_uncertainty:.0%})"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (figures as floats, method as its name)."""
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "method": str(self.method),
            "notes": list(self.notes),
        }


ZERO = Estimate(0.0, 0.0, 0.0, Method.SUM)
"""The empty sum."""


def total(estimates: list[Estimate] | tuple[Estimate, ...]) -> Estimate:
    """The sum of several estimates (``ZERO`` for none)."""
    acc = ZERO
    for e in estimates:
        acc = acc + e
    return acc
