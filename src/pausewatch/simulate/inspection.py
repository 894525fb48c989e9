"""Inspection games: the closed forms that say whether a regime deters (DESIGN, "Detection and
deterrence: the standard mathematics").

Inspector leadership with false alarms (Avenhaus, von Stengel and Zamir, "Inspection Games",
Handbook of Game Theory vol. 3, 2002; Avenhaus and Canty, *Compliance Quantified*, 1996): an
inspectee who gains ``d`` from an undetected violation, loses ``b`` when caught, and bears a cost
``h`` of a false alarm raised with probability ``alpha`` complies as its best response when the
probability of detection is at least ``(d + h*alpha) / (d + b)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


class GameError(ValueError):
    """Parameters outside a game's domain (one line naming the parameter)."""


def _check(name: str, value: float, *, low: float = 0.0, high: float = math.inf) -> None:
    if not math.isfinite(value) and high != math.inf:
        raise GameError(f"{name} must be a finite number, got {value}")
    if math.isnan(value) or value < low or value > high:
        bound = f"between {low:g} and {high:g}" if high != math.inf else f"at least {low:g}"
        raise GameError(f"{name} must be {bound}, got {value}")


def required_detection(
    gain: float, penalty: float, false_alarm_cost: float = 0.0, false_alarm_rate: float = 0.0
) -> float:
    """The probability of detection at and above which complying is the inspectee's best
    response under inspector leadership: ``(d + h*alpha) / (d + b)``.

    A value above 1 means no detector can deter at these stakes."""
    _check("gain", gain)
    _check("penalty", penalty)
    _check("false_alarm_cost", false_alarm_cost)
    _check("false_alarm_rate", false_alarm_rate, high=1.0)
    if gain + penalty <= 0:
        raise GameError("gain + penalty must be positive")
    return (gain + false_alarm_cost * false_alarm_rate) / (gain + penalty)


def timely_detection(per_period: float, periods: float) -> float:
    """The probability that a run needing ``periods`` periods is detected before it completes,
    with an independent chance ``per_period`` of detection in each: ``1 - (1 - p)^T``."""
    _check("per_period", per_period, high=1.0)
    _check("periods", periods)
    return float(1.0 - (1.0 - per_period) ** periods)


def balance_detection(loss: float, sigma: float, false_alarm_rate: float) -> float:
    """The power of a balance test (Neyman-Pearson for a Gaussian balance): the probability that
    a loss ``loss`` is detected by a balance with standard deviation ``sigma`` alarming at
    false-alarm probability ``false_alarm_rate``: ``1 - beta = Phi(M/sigma - z(1 - alpha))``."""
    from scipy.stats import norm

    _check("loss", loss)
    _check("sigma", sigma)
    _check("false_alarm_rate", false_alarm_rate, high=1.0)
    if sigma == 0:
        raise GameError("sigma must be positive")
    if false_alarm_rate in (0.0, 1.0):
        return false_alarm_rate
    return float(norm.cdf(loss / sigma - norm.ppf(1.0 - false_alarm_rate)))


def inspections_needed(per_inspection: float, required: float) -> float:
    """The number of independent inspections, each detecting with ``per_inspection``, that
    together detect with at least ``required`` (``inf`` when none can: ``per_inspection`` is 0
    or ``required`` is above 1; 0 when ``required`` is 0 or below)."""
    _check("per_inspection", per_inspection, high=1.0)
    if math.isnan(required):
        raise GameError("required must be a number")
    if required <= 0:
        return 0.0
    if required > 1 or per_inspection == 0:
        return math.inf
    if per_inspection == 1:
        return 1.0
    if required == 1:
        return math.inf
    return float(math.ceil(math.log1p(-required) / math.log1p(-per_inspection) - 1e-12))


@dataclass(frozen=True)
class Assessment:
    """Whether an inspectee with the given stakes is deterred by a detection probability.

    ``margin`` is ``detection - required_detection`` (deterred when it is at least 0);
    ``needed_penalty`` the loss when caught at which ``detection`` would just deter (``inf`` when
    no penalty can: ``detection`` is 0)."""

    gain: float
    penalty: float
    false_alarm_cost: float
    false_alarm_rate: float
    detection: float
    required_detection: float
    deterred: bool
    margin: float
    needed_penalty: float

    def to_json(self) -> dict[str, Any]:
        """The assessment as JSON (an infinite figure is ``null``)."""
        return {
            k: (None if isinstance(v, float) and math.isinf(v) else v)
            for k, v in asdict(self).items()
        }


def assess(
    gain: float,
    penalty: float,
    false_alarm_cost: float,
    false_alarm_rate: float,
    detection: float,
) -> Assessment:
    """Assess a detection probability against the inspector-leadership threshold."""
    _check("detection", detection, high=1.0)
    required = required_detection(gain, penalty, false_alarm_cost, false_alarm_rate)
    needed = (
        math.inf
        if detection == 0
        else max(0.0, (gain + false_alarm_cost * false_alarm_rate) / detection - gain)
    )
    return Assessment(
        gain=gain,
        penalty=penalty,
        false_alarm_cost=false_alarm_cost,
        false_alarm_rate=false_alarm_rate,
        detection=detection,
        required_detection=required,
        deterred=detection >= required,
        margin=detection - required,
        needed_penalty=needed,
    )


__all__ = [
    "Assessment",
    "GameError",
    "assess",
    "balance_detection",
    "inspections_needed",
    "required_detection",
    "timely_detection",
]
