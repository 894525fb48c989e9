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


__all__ = ["GameError", "required_detection"]
