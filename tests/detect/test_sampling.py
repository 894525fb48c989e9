"""Attribute sampling plans under the exact hypergeometric law (issue 16, item 4)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pausewatch.detect import (
    approximate_sample_size,
    detection_probability,
    plan,
    sample_size,
)
from pausewatch.errors import DetectionError


def _exact_detection(population: int, defects: int, size: int) -> Fraction:
    """1 - C(N-M, n)/C(N, n), straight from the definition, in exact arithmetic."""
    return 1 - Fraction(math.comb(population - defects, size), math.comb(population, size))


@pytest.mark.parametrize(
    ("population", "defects", "size"),
    [(100, 5, 45), (100, 5, 10), (1000, 10, 258), (1000, 10, 257), (50, 3, 27), (7, 7, 1)],
)
def test_detection_agrees_with_scipy_hypergeometric(
    population: int, defects: int, size: int
) -> None:
    """The detection probability is 1 - P(no defect drawn) of scipy's hypergeometric law, an
    implementation independent of ours, to 1e-12."""
    expected = 1.0 - stats.hypergeom(population, defects, size).pmf(0)
    got = detection_probability(population=population, defects=defects, sample_size=size)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_detection_is_the_exact_fraction_rounded_once() -> None:
    """For a small case the figure is the exact fraction 1 - C(95,45)/C(100,45), rounded once."""
    got = detection_probability(population=100, defects=5, sample_size=45)
    assert got == float(_exact_detection(100, 5, 45))


def test_one_defect_needs_the_fraction_asked_for() -> None:
    """With one falsified item of N, a sample of n finds it with probability n/N exactly, so
    the plan is ceil(N P) with P the decimal written (950 of 1000 for 95%, 1 of 10 for 0.1,
    although the binary float 0.1 is a hair above 1/10)."""
    assert sample_size(population=1000, defects=1, detection=0.95) == 950
    assert sample_size(population=10, defects=1, detection=0.1) == 1
    assert sample_size(population=10, defects=1, detection=0.11) == 2
    assert sample_size(population=10**9, defects=1, detection=0.95) == 950_000_000


@pytest.mark.parametrize(
    ("population", "defects", "detection"),
    [(100, 5, 0.95), (1000, 10, 0.95), (20, 20, 0.5), (10_000, 3, 0.999), (10**9, 1000, 0.999)],
)
def test_plan_is_the_smallest_sample_reaching_the_target(
    population: int, defects: int, detection: float
) -> None:
    """The plan's sample reaches the target and one item fewer does not, in exact arithmetic."""
    p = plan(population=population, defects=defects, detection=detection)
    target = Fraction(repr(detection))
    assert p.detection >= detection
    if p.sample_size <= 10_000 or defects <= 10_000:
        n, m = population, defects
        miss_at = Fraction(math.comb(n - p.sample_size, m), math.comb(n, m))
        miss_before = Fraction(math.comb(n - p.sample_size + 1, m), math.comb(n, m))
        assert 1 - miss_at >= target
        assert 1 - miss_before < target


def test_known_plan_one_hundred_items() -> None:
    """5 falsified items among 100 are found with 95% by verifying 45 (detection 0.9538), the
    IAEA approximation asking for 46."""
    p = plan(population=100, defects=5, detection=0.95)
    assert (p.sample_size, p.approximate_sample_size) == (45, 46)
    assert p.detection == pytest.approx(0.953793656637913, rel=1e-12)
    assert p.miss == pytest.approx(1 - p.detection)


@settings(max_examples=150, deadline=None)
@given(
    population=st.integers(1, 3000),
    defects_fraction=st.floats(0.0, 1.0),
    detection=st.floats(0.01, 0.9999),
)
def test_exact_plan_never_exceeds_the_approximation(
    population: int, defects_fraction: float, detection: float
) -> None:
    """N (1 - beta^(1/M)) is an upper bound: the exact plan is never larger, always minimal,
    and always reaches the target (hypergeometric monotone in n)."""
    defects = max(1, min(population, round(defects_fraction * population)))
    p = plan(population=population, defects=defects, detection=detection)
    assert p.sample_size <= p.approximate_sample_size
    target = Fraction(repr(detection))
    assert _exact_detection(population, defects, p.sample_size) >= target
    assert p.detection >= detection
    if p.sample_size > 0:
        assert _exact_detection(population, defects, p.sample_size - 1) < target


def test_approximation_is_the_design_formula() -> None:
    """approximate_sample_size is ceil(N (1 - beta^(1/M))) of ../shared/DESIGN.md."""
    n = 1000 * (1 - 0.05 ** (1 / 10))
    assert approximate_sample_size(population=1000, defects=10, detection=0.95) == math.ceil(n)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"population": 10, "defects": 11, "detection": 0.9}, "at most the population"),
        ({"population": 0, "defects": 1, "detection": 0.9}, "population"),
        ({"population": 10, "defects": 0, "detection": 0.9}, "defects"),
        ({"population": 10, "defects": 1, "detection": 1.0}, "strictly between 0 and 1"),
        ({"population": 10, "defects": 1, "detection": 0.0}, "strictly between 0 and 1"),
        ({"population": 10, "defects": 1, "detection": float("nan")}, "strictly between"),
    ],
)
def test_bad_plans_are_refused(kwargs: dict[str, float], message: str) -> None:
    """A plan with M > N, N < 1, M < 1 or a detection outside (0, 1) raises DetectionError."""
    with pytest.raises(DetectionError, match=message):
        plan(**kwargs)  # type: ignore[arg-type]


def test_sample_larger_than_population_is_refused() -> None:
    """The detection of a sample larger than the population is refused, not extrapolated."""
    with pytest.raises(DetectionError, match="at most the population"):
        detection_probability(population=10, defects=2, sample_size=11)


def test_sample_that_cannot_miss_detects_surely() -> None:
    """A sample of more than N - M items must contain a falsified one: detection 1."""
    assert detection_probability(population=10, defects=3, sample_size=8) == 1.0
    assert detection_probability(population=10, defects=3, sample_size=0) == 0.0


def _log_miss_products(population: int, defects: int, size: int) -> float:
    """log miss(n) as the sum of log(1 - n/(N - j)) over j < M, in extended care (fsum)."""
    m, o = sorted((defects, size))
    return math.fsum(math.log1p(-o / (population - j)) for j in range(m))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("population", "defects"),
    [(10**9, 100_000), (10**9, 55_000), (10**9, 30_000), (10**8, 2_000_000)],
)
def test_plans_with_many_defects_on_large_populations(population: int, defects: int) -> None:
    """Where both M and n are large (tens of thousands of factors), the plan is still the
    smallest sample reaching the target, found in a few steps rather than by walking or by
    million-digit fractions (a guard timeout, not a timing)."""
    p = plan(population=population, defects=defects, detection=0.95)
    log_beta = math.log(0.05)
    assert _log_miss_products(population, defects, p.sample_size) <= log_beta
    assert _log_miss_products(population, defects, p.sample_size - 1) > log_beta
    assert p.detection >= 0.95


def test_population_beyond_a_billion_is_refused() -> None:
    """Populations above 10^9 items are refused: no inspection counts more, and the floating
    point guide of the search would no longer be accurate."""
    with pytest.raises(DetectionError, match="population"):
        plan(population=10**9 + 1, defects=5, detection=0.9)
