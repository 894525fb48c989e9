"""Inspection games: the closed forms that say whether a regime deters (DESIGN, "Detection and
deterrence: the standard mathematics").

Inspector leadership with false alarms (Avenhaus, von Stengel and Zamir, "Inspection Games",
Handbook of Game Theory vol. 3, 2002; Avenhaus and Canty, *Compliance Quantified*, 1996): an
inspectee who gains ``d`` from an undetected violation, loses ``b`` when caught, and bears a cost
``h`` of a false alarm raised with probability ``alpha`` complies as its best response when the
probability of detection is at least ``(d + h*alpha) / (d + b)``.

A detector is rarely one point: its ROC trades false alarms against detection. Given the ROC
(:func:`best_on_roc`) or a Gaussian balance (:func:`best_balance_threshold`), the inspector
picks the false-alarm rate that maximises the margin ``detection(alpha) - (d + h*alpha)/(d + b)``
(docs/adr/0045-inspection-games.md). :func:`timely_detection_from` turns measured times to
detection into the probability of detection before a run completes, with a Wilson interval.
The sequential and simultaneous games are in :mod:`pausewatch.simulate.games`.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import Any


class GameError(ValueError):
    """Parameters outside a game's domain (one line naming the parameter)."""


def _check(name: str, value: float, *, low: float = 0.0, high: float = math.inf) -> None:
    # Every figure of a game is finite: an infinite stake makes a threshold inf/inf (nan). An
    # int past the float range (a JSON file's 1 followed by 400 zeros) is not one either.
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite:
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
    return _threshold(gain, penalty, false_alarm_cost, false_alarm_rate)


FLOAT_MAX = sys.float_info.max


def _plain(*values: float) -> bool:
    # Between 2^-300 and 2^300 (or 0) no sum, product or quotient below can overflow or
    # underflow, and the plain float expression is within a few units in the last place.
    return all(v == 0 or 2.0**-300 <= v <= 2.0**300 for v in values)


def _threshold(d: float, b: float, h: float, alpha: float) -> float:
    if _plain(d, b, h, alpha):
        return (d + h * alpha) / (d + b)
    # Elsewhere in exact rationals, rounded once: in floats d + b overflows to inf at large
    # stakes (the threshold turns 0) and h*alpha with d + b to inf/inf (nan), and a rescaling
    # only trades that for underflow. A threshold past the float range is refused.
    exact = (Fraction(d) + Fraction(h) * Fraction(alpha)) / (Fraction(d) + Fraction(b))
    try:
        return float(exact)
    except OverflowError:
        raise GameError(
            f"the threshold (d + h*alpha)/(d + b) is beyond the float range ({FLOAT_MAX:.4g}): "
            "false_alarm_cost * false_alarm_rate dwarfs gain + penalty, and no detector can "
            "deter at these stakes"
        ) from None


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
    no float penalty can: ``detection`` is 0, or the penalty needed is beyond the float range)."""

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
    return Assessment(
        gain=gain,
        penalty=penalty,
        false_alarm_cost=false_alarm_cost,
        false_alarm_rate=false_alarm_rate,
        detection=detection,
        required_detection=required,
        deterred=detection >= required,
        margin=detection - required,
        needed_penalty=_needed_penalty(gain, false_alarm_cost, false_alarm_rate, detection),
    )


def _needed_penalty(d: float, h: float, alpha: float, p: float) -> float:
    # (d + h*alpha)/p - d in exact rationals: in floats d + h*alpha overflows at large stakes
    # and the difference cancels. Past the float range no float penalty deters: inf, as at p 0.
    if p == 0:
        return math.inf
    if _plain(d, h, alpha, p):
        # Two terms of one sign: no cancellation as in (d + h*alpha)/p - d with p near 1.
        return d * ((1.0 - p) / p) + (h * alpha) / p
    exact = (Fraction(d) + Fraction(h) * Fraction(alpha)) / Fraction(p) - Fraction(d)
    try:
        return float(exact)
    except OverflowError:
        return math.inf


@dataclass(frozen=True)
class RocPoint:
    """One operating point of a detector: alarming at ``false_alarm_rate`` (alpha) it detects a
    violation with probability ``detection`` (1 - beta)."""

    false_alarm_rate: float
    detection: float


def _roc_points(points: Iterable[RocPoint | tuple[float, float]]) -> list[RocPoint]:
    checked: dict[float, float] = {}
    for i, raw in enumerate(points):
        point = raw if isinstance(raw, RocPoint) else RocPoint(float(raw[0]), float(raw[1]))
        _check(f"roc[{i}].false_alarm_rate", point.false_alarm_rate, high=1.0)
        _check(f"roc[{i}].detection", point.detection, high=1.0)
        # Two points at one alpha: the better one dominates (the inspector uses that threshold).
        checked[point.false_alarm_rate] = max(
            point.detection, checked.get(point.false_alarm_rate, 0.0)
        )
    if not checked:
        raise GameError("roc must hold at least one point")
    return [RocPoint(a, d) for a, d in sorted(checked.items())]


def roc_hull(points: Iterable[RocPoint | tuple[float, float]]) -> tuple[RocPoint, ...]:
    """The operating points an inspector can reach with the detector: the upper concave envelope
    of the given points and of ``(0, 0)`` (never alarming), from alpha 0 to the largest alpha
    given.

    A point on a segment between two vertices is reached by randomising between their two
    thresholds (each decision drawn afresh), so detection there is the linear interpolation; a
    given point under the envelope is dominated by such a mixture. Nothing is extrapolated past
    the largest false-alarm rate given."""
    given = _roc_points(points)
    candidates = [RocPoint(0.0, 0.0), *(p for p in given if p.false_alarm_rate > 0)]
    if given[0].false_alarm_rate == 0.0:
        candidates[0] = RocPoint(0.0, given[0].detection)
    hull: list[RocPoint] = []
    for p in candidates:
        # Monotone chain: drop the last vertex while it lies on or under the chord to p.
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            cross = (a.false_alarm_rate - o.false_alarm_rate) * (p.detection - o.detection) - (
                a.detection - o.detection
            ) * (p.false_alarm_rate - o.false_alarm_rate)
            if cross < 0:
                break
            hull.pop()
        hull.append(p)
    return tuple(hull)


def roc_detection(
    points: Iterable[RocPoint | tuple[float, float]], false_alarm_rate: float
) -> float:
    """The detection reached at ``false_alarm_rate`` on the detector's :func:`roc_hull` (linear
    between vertices: randomising between two thresholds)."""
    _check("false_alarm_rate", false_alarm_rate, high=1.0)
    hull = roc_hull(points)
    last = hull[-1].false_alarm_rate
    if false_alarm_rate > last:
        raise GameError(
            f"false_alarm_rate {false_alarm_rate:g} is beyond the ROC's largest false-alarm "
            f"rate {last:g}"
        )
    for lo, hi in itertools.pairwise(hull):
        if lo.false_alarm_rate <= false_alarm_rate <= hi.false_alarm_rate:
            share = (false_alarm_rate - lo.false_alarm_rate) / (
                hi.false_alarm_rate - lo.false_alarm_rate
            )
            return lo.detection + share * (hi.detection - lo.detection)
    return hull[0].detection


def best_on_roc(
    gain: float,
    penalty: float,
    false_alarm_cost: float,
    roc: Iterable[RocPoint | tuple[float, float]],
) -> Assessment:
    """The assessment at the false-alarm rate that maximises the margin
    ``detection(alpha) - (d + h*alpha)/(d + b)`` over the detector's :func:`roc_hull`.

    The envelope is concave and piecewise linear and the threshold linear in alpha, so the
    margin is concave and piecewise linear: its maximum lies at a vertex of the envelope (a
    given point, or ``(0, 0)`` when every point costs more in false alarms than it detects).
    Ties go to the smaller false-alarm rate. The margin is never below that of any given point."""
    required_detection(gain, penalty, false_alarm_cost)
    best: Assessment | None = None
    for vertex in roc_hull(roc):
        candidate = assess(
            gain, penalty, false_alarm_cost, vertex.false_alarm_rate, vertex.detection
        )
        if best is None or candidate.margin > best.margin:
            best = candidate
    assert best is not None
    return best


def best_balance_threshold(
    gain: float,
    penalty: float,
    false_alarm_cost: float,
    loss: float,
    sigma: float,
    max_false_alarm_rate: float = 1.0,
) -> Assessment:
    """The assessment at the false-alarm rate of a Gaussian balance test (:func:`balance_detection`,
    loss ``loss``, standard deviation ``sigma``) that maximises the margin, alpha at most
    ``max_false_alarm_rate``.

    With ``k = M/sigma`` the balance's ROC ``Phi(k - z(1-alpha))`` is concave with slope
    ``exp(k*z(1-alpha) - k^2/2)``; setting it to the threshold's slope ``h/(d+b)`` gives
    ``z(1-alpha*) = k/2 + ln(h/(d+b))/k``. When false alarms cost the inspectee nothing
    (``h = 0``) the margin only grows with alpha and the cap is chosen; with ``k = 0`` the ROC is
    the diagonal and the optimum is an end point."""
    required_detection(gain, penalty, false_alarm_cost)
    _check("loss", loss)
    _check("sigma", sigma)
    _check("max_false_alarm_rate", max_false_alarm_rate, high=1.0)
    if sigma == 0:
        raise GameError("sigma must be positive")
    k = loss / sigma
    if math.isinf(k):
        raise GameError(
            f"loss / sigma is beyond the float range ({loss:g} / {sigma:g}): the balance "
            "detects any loss; give loss and sigma in one unit nearer their size"
        )
    # ln(h/(d+b)) with the larger of d and b as the unit: d + b and h/(d+b) may overflow or
    # underflow at extreme stakes where the logarithm is an ordinary number.
    s = max(gain, penalty)
    log_slope = (
        -math.inf
        if false_alarm_cost == 0
        else math.log(false_alarm_cost) - math.log(s) - math.log(gain / s + penalty / s)
    )
    if k == 0:
        alpha = max_false_alarm_rate if log_slope < 0 else 0.0
    elif false_alarm_cost == 0:
        # False alarms free: the margin only grows with alpha and the cap is chosen.
        alpha = max_false_alarm_rate
    else:
        z = k / 2 + log_slope / k
        # Phi(-z) rather than 1 - Phi(z), and detection from z itself: far in the tail alpha is
        # tiny and 1 - alpha rounds to 1, where z(1 - alpha) can no longer be recovered.
        alpha = NormalDist().cdf(-z)
        if alpha <= max_false_alarm_rate:
            return assess(gain, penalty, false_alarm_cost, alpha, NormalDist().cdf(k - z))
        alpha = max_false_alarm_rate
    detection = balance_detection(loss, sigma, alpha)
    return assess(gain, penalty, false_alarm_cost, alpha, detection)


@dataclass(frozen=True)
class TimelyDetection:
    """The share of runs detected before they completed, from measured times to detection, with
    its Wilson score interval at ``confidence``."""

    probability: float
    low: float
    high: float
    detected: int
    runs: int
    run_days: float
    confidence: float

    def to_json(self) -> dict[str, Any]:
        """The figure as JSON."""
        return asdict(self)


def wilson_bounds(successes: int, trials: int, z: float) -> tuple[float, float]:
    """Wilson's score interval (Wilson 1927) for ``successes`` of ``trials`` (at least one) at
    ``z`` standard errors. At 0 or all successes the bound on that side is exactly the
    estimate, not a rounding of it."""
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return low, high


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion at ``confidence``."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise GameError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    _check("confidence", confidence, high=1.0)
    if not 0 < confidence < 1:
        raise GameError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    return wilson_bounds(successes, trials, NormalDist().inv_cdf(0.5 + confidence / 2))


def timely_detection_from(
    days_to_detection: Sequence[float | None], run_days: float, confidence: float = 0.95
) -> TimelyDetection:
    """The empirical probability that detection came before a run of ``run_days`` days
    completed, from measured times to detection (``None``: never detected).

    A detection counts only when strictly earlier than ``run_days``: one on the day the run
    completes comes too late to stop it."""
    _check("run_days", run_days)
    if not days_to_detection:
        raise GameError("days_to_detection must hold at least one measured run")
    detected = 0
    for i, t in enumerate(days_to_detection):
        if t is None:
            continue
        _check(f"days_to_detection[{i}]", t)
        if t < run_days:
            detected += 1
    runs = len(days_to_detection)
    low, high = wilson_interval(detected, runs, confidence)
    return TimelyDetection(detected / runs, low, high, detected, runs, run_days, confidence)


__all__ = [
    "Assessment",
    "GameError",
    "RocPoint",
    "TimelyDetection",
    "assess",
    "balance_detection",
    "best_balance_threshold",
    "best_on_roc",
    "inspections_needed",
    "required_detection",
    "roc_detection",
    "roc_hull",
    "timely_detection",
    "timely_detection_from",
    "wilson_bounds",
    "wilson_interval",
]
