"""Confidence intervals for the detection figures (docs/adr/0030-detection-measured.md).

* a proportion (detections of ``n`` runs): Wilson's score interval (Wilson 1927), which keeps
  its coverage near the nominal level for small ``n`` and proportions near 0 or 1, and the exact
  Clopper-Pearson interval (1934) from the beta quantiles, never shorter than its nominal cover;
* a rate of rare events over an exposure (false alarms per facility-year): Garwood's exact
  Poisson interval (1936), from the chi-squared quantiles;
* a median (days to detection): the distribution-free interval between two order statistics
  whose ranks come from the binomial law with p = 1/2.

scipy is imported where a quantile is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    """An estimate with its two-sided interval at ``confidence``."""

    estimate: float
    low: float
    high: float
    confidence: float = 0.95

    def to_json(self) -> dict[str, float]:
        """A JSON-ready mapping."""
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def _check(successes: int, trials: int) -> None:
    if trials < 1 or successes < 0 or successes > trials:
        raise ValueError(f"need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}")


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """Wilson's score interval for a proportion ``successes / trials``."""
    _check(successes, trials)
    z = _z(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), confidence)


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """The exact (Clopper-Pearson) interval for a proportion ``successes / trials``."""
    from scipy.stats import beta

    _check(successes, trials)
    alpha = 1 - confidence
    k, n = successes, trials
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return Interval(k / n, low, high, confidence)


def garwood(events: int, exposure: float, confidence: float = 0.95) -> Interval:
    """Garwood's exact interval for a Poisson rate: ``events`` over ``exposure`` (e.g.
    facility-years)."""
    from scipy.stats import chi2

    if events < 0 or exposure <= 0:
        raise ValueError(f"need events >= 0 and exposure > 0, got {events} over {exposure}")
    alpha = 1 - confidence
    low = 0.0 if events == 0 else float(chi2.ppf(alpha / 2, 2 * events)) / 2
    high = float(chi2.ppf(1 - alpha / 2, 2 * events + 2)) / 2
    return Interval(events / exposure, low / exposure, high / exposure, confidence)


def median_interval(values: list[float], confidence: float = 0.95) -> Interval | None:
    """The sample median with the distribution-free interval between the order statistics of
    ranks ``l`` and ``n - l + 1``, ``l`` the largest rank with P(Binomial(n, 1/2) < l) <=
    (1 - confidence) / 2; the whole range where ``n`` is too small for that. None for no values."""
    from scipy.stats import binom

    if not values:
        return None
    xs = sorted(values)
    n = len(xs)
    mid = n // 2
    median = xs[mid] if n % 2 else (xs[mid - 1] + xs[mid]) / 2
    alpha = 1 - confidence
    rank = int(binom.ppf(alpha / 2, n, 0.5))  # P(X <= rank) >= alpha/2
    if rank >= 1 and float(binom.cdf(rank - 1, n, 0.5)) <= alpha / 2:
        low, high = xs[rank - 1], xs[n - rank]
    else:
        low, high = xs[0], xs[-1]
    return Interval(median, low, high, confidence)


__all__ = ["Interval", "clopper_pearson", "garwood", "median_interval", "wilson"]
