"""When will a run's compute cross a threshold? Rates from measured series, and crossing times.

``rate_from_series`` fits cumulative FLOP against time by ordinary least squares; its interval is
the slope ± t(1 - (1 - confidence)/2, n - 2) · standard error, the textbook interval for a
regression slope. The Student-t quantile is computed here from the closed-form t distribution
function for integer degrees of freedom (Abramowitz & Stegun 26.7.3 and 26.7.4) by bisection,
so that the core needs no scipy.

``project_crossing`` turns a measured total and a rate into the earliest, expected and latest
crossing times: earliest from the high total and the high rate, latest from the low ones.

Time is data: ``now`` is a parameter, and every datetime must be timezone-aware UTC.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pausewatch.compute._estimate import Estimate, Method
from pausewatch.compute._symbols import TIMES
from pausewatch.errors import ComputeError


def require_utc(name: str, value: datetime) -> datetime:
    """``value`` if it is timezone-aware UTC; a naive or non-UTC datetime is a ComputeError."""
    if not isinstance(value, datetime):
        raise ComputeError(f"{name} must be a datetime, got {value!r}")
    offset = value.utcoffset()
    if offset is None:
        raise ComputeError(f"{name} must be timezone-aware UTC, got naive {value.isoformat()}")
    if offset != timedelta(0):
        raise ComputeError(f"{name} must be UTC (offset +00:00), got {value.isoformat()}")
    return value


@dataclass(frozen=True, slots=True)
class Crossing:
    """When a compute total crosses ``threshold``: earliest, expected and latest times.

    A time is ``None`` when that bound of the rate is zero (the total never grows) or the time
    lies beyond what a datetime can hold (year 9999).
    """

    threshold: float
    """The FLOP threshold."""
    now: datetime
    """The time the measured total refers to."""
    already: bool
    """True when even the low bound of the measured total is at or above the threshold."""
    earliest: datetime | None
    """Crossing time from the high measured total and the high rate."""
    expected: datetime | None
    """Crossing time from the central figures."""
    latest: datetime | None
    """Crossing time from the low measured total and the low rate."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (times in ISO 8601)."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "threshold": self.threshold,
            "now": self.now.isoformat(),
            "already": self.already,
            "earliest": iso(self.earliest),
            "expected": iso(self.expected),
            "latest": iso(self.latest),
        }


def _crossing_time(
    now: datetime, measured: float, rate: float, threshold: float
) -> datetime | None:
    remaining = threshold - measured
    if remaining <= 0:
        return now
    if rate <= 0:
        return None
    try:
        return now + timedelta(seconds=remaining / rate)
    except OverflowError:
        return None


def project_crossing(
    *, measured: Estimate, rate: Estimate, threshold: float, now: datetime
) -> Crossing:
    """Earliest, expected and latest times ``measured`` growing at ``rate`` reaches ``threshold``.

    ``rate`` is in FLOP/s. The earliest time pairs the high bounds, the latest the low bounds;
    a bound already at the threshold gives ``now``; a zero rate bound gives ``None``.
    """
    require_utc("now", now)
    if not math.isfinite(threshold) or threshold <= 0:
        raise ComputeError(f"threshold must be a finite figure > 0, got {threshold!r}")
    already = measured.low >= threshold
    return Crossing(
        threshold=threshold,
        now=now,
        already=already,
        earliest=_crossing_time(now, measured.high, rate.high, threshold),
        expected=_crossing_time(now, measured.value, rate.value, threshold),
        latest=_crossing_time(now, measured.low, rate.low, threshold),
    )


def _t_two_sided_mass(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with ``df`` degrees of freedom (A&S 26.7.3/26.7.4)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    s = math.sin(theta)
    if df % 2 == 1:
        # 2/π · (θ + sinθ·cosθ · (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + ... up to cos^(df-3)θ))
        acc, term = 0.0, 1.0
        if df > 1:
            acc = 1.0
            for k in range(1, (df - 1) // 2):
                term *= (2 * k) / (2 * k + 1) * c2
                acc += term
        return (2 / math.pi) * (theta + s * math.cos(theta) * acc)
    # sinθ · (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + ... up to cos^(df-2)θ)
    acc, term = 1.0, 1.0
    for k in range(1, df // 2):
        term *= (2 * k - 1) / (2 * k) * c2
        acc += term
    return s * acc


def t_quantile(confidence: float, df: int) -> float:
    """The t such that P(|T| <= t) = ``confidence`` for Student's t with ``df`` degrees of freedom.

    >>> round(t_quantile(0.95, 10), 3)
    2.228
    """
    if not 0 < confidence < 1:
        raise ComputeError(f"confidence must be in (0, 1), got {confidence!r}")
    if df < 1:
        raise ComputeError(f"degrees of freedom must be >= 1, got {df!r}")
    if df > 2000:  # the normal limit is within 1e-3 here and the series gets long
        return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    lo, hi = 0.0, 1.0
    while _t_two_sided_mass(hi, df) < confidence:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if _t_two_sided_mass(mid, df) < confidence:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return (lo + hi) / 2


def rate_from_series(
    points: Sequence[tuple[datetime, float]],
    *,
    confidence: float = 0.95,
    method: Method = Method.TELEMETRY,
) -> Estimate:
    """The rate (FLOP/s) at which a cumulative FLOP series grows: least-squares slope ± t·SE.

    Needs at least three points at two or more distinct times (two points fit exactly and leave
    no residual to estimate an interval from). Bounds below zero are clipped to zero (a shrinking
    cumulative count is noise, not negative compute), and a note says so.
    """
    if len(points) < 3:
        raise ComputeError(f"a rate needs at least 3 points, got {len(points)}")
    for i, (t, y) in enumerate(points):
        require_utc(f"point {i} time", t)
        if not math.isfinite(y) or y < 0:
            raise ComputeError(
                f"point {i}: cumulative FLOP must be a finite figure >= 0, got {y!r}"
            )
    ordered = sorted(points, key=lambda p: p[0])
    t0 = ordered[0][0]
    xs = [(t - t0).total_seconds() for t, _ in ordered]
    ys = [float(y) for _, y in ordered]
    n = len(xs)
    x_mean = math.fsum(xs) / n
    y_mean = math.fsum(ys) / n
    sxx = math.fsum((x - x_mean) ** 2 for x in xs)
    if sxx == 0:
        raise ComputeError("a rate needs points at two or more distinct times, got one time")
    slope = math.fsum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = y_mean - slope * x_mean
    ssr = math.fsum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    se = math.sqrt(ssr / (n - 2) / sxx)
    t_value = t_quantile(confidence, n - 2)
    low, high = slope - t_value * se, slope + t_value * se
    notes = [
        f"least-squares slope of cumulative FLOP over {n} points from {t0.isoformat()} "
        f"to {ordered[-1][0].isoformat()}",
        f"{confidence:.0%} interval: slope ± t({n - 2} df) {t_value:.3g} "
        f"{TIMES} standard error {se:.3g}",
    ]
    if low < 0 or slope < 0:
        notes.append("bounds below zero clipped to zero")
    return Estimate(max(0.0, slope), max(0.0, low), max(0.0, high), method, tuple(notes))
