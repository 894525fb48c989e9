"""Page's one-sided CUSUM on standardised residuals.

``S_0 = 0``, ``S_i = max(0, S_(i-1) + y_i - k)``; an alarm when ``S_i > h`` (Page, "Continuous
inspection schemes", Biometrika 41, 1954; Montgomery, "Introduction to Statistical Quality
Control", §9.1). ``k`` (the reference value) is usually half the shift to be detected, in sigma;
``h`` (the decision interval) sets the in-control average run length, i.e. the false-alarm rate
(Brook and Evans, Biometrika 59, 1972, compute it; :mod:`pausewatch.detect` takes it as an
input). After an alarm the sum restarts from zero, so that a loss that goes on alarms again.

The residuals must be independent N(0, 1) under no loss for the tabled run lengths to hold:
feed it SITMUF (:mod:`pausewatch.detect._sitmuf`), not raw balances, whose systematic errors
persist and would walk the sum up without any loss (DESIGN: "raw series false-alarm").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pausewatch.detect._balance import BalanceError


@dataclass(frozen=True, slots=True)
class CusumPath:
    """The CUSUM over a sequence of residuals: its path, where it alarmed and restarted."""

    k: float
    """Reference value (sigma units)."""
    h: float
    """Decision interval (sigma units)."""
    path: tuple[float, ...]
    """``S_i`` after each residual (the value compared with ``h``, before any restart)."""
    alarms: tuple[int, ...]
    """Indices ``i`` where ``S_i > h``."""
    since: tuple[int, ...]
    """For each alarm, the index where its excursion began (the first step after ``S`` was last
    zero): the residuals that built the alarm are ``since..alarm``."""
    restart: bool
    """Whether the sum restarted from zero after each alarm."""


def page_cusum(
    residuals: Sequence[float], k: float, h: float, *, restart: bool = True
) -> CusumPath:
    """Page's one-sided (upper) CUSUM of ``residuals`` with reference ``k`` and interval ``h``."""
    if not (math.isfinite(k) and k >= 0):
        raise BalanceError(f"CUSUM reference value k must be a finite number >= 0, got {k!r}")
    if not (math.isfinite(h) and h > 0):
        raise BalanceError(f"CUSUM decision interval h must be a finite number > 0, got {h!r}")
    s = 0.0
    start = 0
    path: list[float] = []
    alarms: list[int] = []
    since: list[int] = []
    for i, y in enumerate(residuals):
        if not math.isfinite(y):
            raise BalanceError(f"residual {i} must be a finite number, got {y!r}")
        if s == 0.0:
            start = i
        s = max(0.0, s + y - k)
        path.append(s)
        if s > h:
            alarms.append(i)
            since.append(start)
            if restart:
                s = 0.0
    return CusumPath(k, h, tuple(path), tuple(alarms), tuple(since), restart)
