"""Attribute sampling for inspections: how many items to verify, under the exact hypergeometric law.

A falsification that needs at least ``M`` of ``N`` items (chips reported but absent, seals
replaced, counters altered) escapes an inspection of ``n`` items drawn without replacement only
when every item drawn is a good one. The probability of that is hypergeometric::

    miss(n) = C(N - M, n) / C(N, n) = C(N - n, M) / C(N, M)

and the inspection detects it with probability ``1 - miss(n)``. The plan is the smallest ``n``
with ``1 - miss(n) >= 1 - beta``. The IAEA's approximation ``n = N (1 - beta^(1/M))`` (IAEA
Safeguards Glossary, 2022 edition, attribute sampling; ../shared/DESIGN.md) is an upper bound of
the exact plan, because ``miss(n) = prod_j (N - n - j) / (N - j) <= (1 - n/N)^M``: it never
samples too few, only sometimes one or two too many.

The decisive comparison ``miss(n) <= beta`` is made in exact integer arithmetic while the smaller
of ``M`` and ``n`` is at most 20,000, and beyond that from the product of its factors summed as
logarithms (relative error about 1e-12; populations are at most 10^9 items) (the target
detection probability is taken as the decimal it was written as, its shortest round-trip form:
0.1 means 1/10, not the binary fraction just above it), so that a plan is never
one item short because of rounding; floating point (log-gamma) only guides the search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from pausewatch.errors import DetectionError

MAX_POPULATION = 10**9
"""The largest population a plan is made for: more items than any inspection counts, and the
bound up to which the floating-point guide of the search stays accurate to a few items."""

_EXACT_TERMS = 20_000
"""While the smaller of ``M`` and ``n`` is at most this, ``miss(n)`` is compared and reported
from exact integers (numbers of up to about 200,000 digits, milliseconds). Beyond, it is the
product of its ``min(M, n)`` factors summed as logarithms in double precision (relative error
about 1e-12), which is where exact integers would take seconds to minutes."""

_UNDERFLOW = 745.0
"""``exp(-745)`` is below the smallest double: a miss bounded by it is 0 to the last digit."""


@dataclass(frozen=True)
class SamplingPlan:
    """An attribute sampling plan: how many of ``population`` items to verify so that a
    falsification of at least ``defects`` of them is found with probability ``detection_target``."""

    population: int
    """N: the number of items the falsification could hide among (chips of a facility)."""
    defects: int
    """M: the fewest items a falsification worth making needs (the goal quantity, in items)."""
    detection_target: float
    """1 - beta: the probability of detection asked for."""
    sample_size: int
    """n: the smallest sample, drawn without replacement, that reaches ``detection_target``."""
    detection: float
    """The exact probability that a sample of ``sample_size`` items holds at least one of the
    ``defects`` (hypergeometric); at least ``detection_target``."""
    approximate_sample_size: int
    """``ceil(N (1 - beta^(1/M)))``: the IAEA's approximation, never below ``sample_size``."""

    @property
    def miss(self) -> float:
        """beta achieved: the probability that the falsification escapes the sample."""
        return 1.0 - self.detection


def _check(population: int, defects: int) -> None:
    if isinstance(population, bool) or not isinstance(population, int) or population < 1:
        raise DetectionError(f"population: expected an integer >= 1, got {population!r}")
    if population > MAX_POPULATION:
        raise DetectionError(
            f"population: expected at most {MAX_POPULATION:,} items, got {population:,}"
        )
    if isinstance(defects, bool) or not isinstance(defects, int) or defects < 1:
        raise DetectionError(f"defects: expected an integer >= 1, got {defects!r}")
    if defects > population:
        raise DetectionError(
            f"defects: expected at most the population ({population}), got {defects}"
        )


def _check_target(detection: float) -> None:
    if not (isinstance(detection, int | float) and 0.0 < detection < 1.0):
        raise DetectionError(
            f"detection: expected a probability strictly between 0 and 1, got {detection!r}"
        )


def _miss_ratio(population: int, defects: int, sample_size: int) -> tuple[int, int]:
    """``miss(n)`` as exact integers ``(numerator, denominator)``, unreduced, through whichever
    of ``C(N-n, M) / C(N, M)`` and ``C(N-M, n) / C(N, n)`` has fewer factors."""
    n, m, size = population, defects, sample_size
    if m <= size:
        return math.comb(n - size, m), math.comb(n, m)
    return math.comb(n - m, size), math.comb(n, size)


def _log_miss_sum(population: int, defects: int, sample_size: int) -> float:
    """``log miss(n) = sum_(j < min) log(1 - max / (N - j))`` with ``min, max`` the smaller and
    larger of ``M`` and ``n``: each factor exact to a rounding, summed exactly (fsum)."""
    few, many = sorted((defects, sample_size))
    j = np.arange(few, dtype=np.float64)
    return math.fsum(np.log1p(-many / (population - j)).tolist())


def _log_miss_guide(population: int, defects: int, sample_size: int) -> float:
    """``log miss(n)`` from log-gamma, O(1): accurate to about 1e-6 for ``N <= 1e9``, enough to
    guide the search; ``-inf`` when no sample of that size can miss."""
    n, m, size = population, defects, sample_size
    if size > n - m:
        return -math.inf
    return (
        math.lgamma(n - m + 1)
        - math.lgamma(n - m - size + 1)
        - math.lgamma(n + 1)
        + math.lgamma(n - size + 1)
    )


def detection_probability(*, population: int, defects: int, sample_size: int) -> float:
    """The probability that ``sample_size`` items drawn without replacement from ``population``
    include at least one of ``defects`` falsified ones (hypergeometric: from exact integers,
    rounded once, while ``min(M, n) <= 20,000``; beyond, from the product of its factors)."""
    _check(population, defects)
    if isinstance(sample_size, bool) or not isinstance(sample_size, int) or sample_size < 0:
        raise DetectionError(f"sample size: expected an integer >= 0, got {sample_size!r}")
    if sample_size > population:
        raise DetectionError(
            f"sample size: expected at most the population ({population}), got {sample_size}"
        )
    if sample_size > population - defects:
        return 1.0
    if min(defects, sample_size) <= _EXACT_TERMS:
        num, den = _miss_ratio(population, defects, sample_size)
        # int / int is correctly rounded in Python, however many digits.
        return (den - num) / den
    if sample_size * defects > _UNDERFLOW * population:
        return 1.0  # miss <= exp(-n M / N) < exp(-745)
    return -math.expm1(_log_miss_sum(population, defects, sample_size))


def approximate_sample_size(*, population: int, defects: int, detection: float) -> int:
    """``ceil(N (1 - beta^(1/M)))``, the IAEA's attribute-sampling approximation."""
    _check(population, defects)
    _check_target(detection)
    beta = 1.0 - detection
    # -expm1(log(beta)/M) is 1 - beta^(1/M) without cancellation when M is large.
    n = population * -math.expm1(math.log(beta) / defects)
    # Rounded to 9 digits first so that 58.000000000004 is 58, not 59.
    return min(population, math.ceil(round(n, 9)))


def sample_size(*, population: int, defects: int, detection: float) -> int:
    """The smallest number of items to verify so that a falsification of at least ``defects``
    of ``population`` items is found with probability at least ``detection``."""
    _check(population, defects)
    _check_target(detection)
    # The decimal the caller wrote (repr round-trips), not the binary fraction: 0.1 is 1/10.
    beta = 1 - Fraction(repr(float(detection)))
    log_beta = math.log(float(beta))
    surely = population - defects + 1  # a sample this large cannot miss

    def enough(size: int) -> bool:
        if size >= surely:
            return True
        if min(defects, size) <= _EXACT_TERMS:
            num, den = _miss_ratio(population, defects, size)
            return num * beta.denominator <= den * beta.numerator
        return _log_miss_sum(population, defects, size) <= log_beta

    # log miss(n) decreases in n: a float bisection guesses the boundary, bounded above by the
    # IAEA approximation (an upper bound, see the module docstring).
    lo = 0
    hi = min(
        surely,
        approximate_sample_size(population=population, defects=defects, detection=detection),
    )
    while lo < hi:
        mid = (lo + hi) // 2
        if _log_miss_guide(population, defects, mid) <= log_beta:
            hi = mid
        else:
            lo = mid + 1
    # The decisive comparisons: gallop from the guess to a bracket (not_enough, enough), then
    # bisect it, a few evaluations of enough() however far rounding moved the guess.
    guess, step = lo, 1
    if enough(guess):
        low, high = guess - 1, guess
        while low >= 0 and enough(low):
            high, low, step = low, guess - 2 * step, 2 * step
    else:
        low, high = guess, guess + 1
        while not enough(high):
            low, high, step = high, min(surely, guess + 2 * step), 2 * step
    low = max(low, -1)
    while high - low > 1:
        mid = (low + high) // 2
        if enough(mid):
            high = mid
        else:
            low = mid
    return high


def plan(*, population: int, defects: int, detection: float) -> SamplingPlan:
    """The attribute sampling plan for ``defects`` of ``population`` items at ``detection``."""
    size = sample_size(population=population, defects=defects, detection=detection)
    return SamplingPlan(
        population=population,
        defects=defects,
        detection_target=float(detection),
        sample_size=size,
        detection=detection_probability(population=population, defects=defects, sample_size=size),
        approximate_sample_size=approximate_sample_size(
            population=population, defects=defects, detection=detection
        ),
    )
