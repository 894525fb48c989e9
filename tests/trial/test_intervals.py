"""The intervals of the detection figures against published values (docs/adr/0030)."""

from __future__ import annotations

import pytest

from pausewatch.trial import clopper_pearson, garwood, median_interval, wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombes_table(k: int, n: int, low: float, high: float) -> None:
    """Wilson's score interval agrees with Newcombe's published values to 4 decimals."""
    got = wilson(k, n)
    assert (round(got.low, 4), round(got.high, 4)) == (low, high)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Newcombe (1998), Table I, method 5 (exact, Clopper-Pearson).
        (81, 263, 0.2527, 0.3676),
        (15, 148, 0.0578, 0.1617),
        (0, 20, 0.0, 0.1684),
        (1, 29, 0.0009, 0.1776),
    ],
)
def test_clopper_pearson_matches_newcombes_table(k: int, n: int, low: float, high: float) -> None:
    """The exact interval agrees with Newcombe's published values to 4 decimals."""
    got = clopper_pearson(k, n)
    assert (round(got.low, 4), round(got.high, 4)) == (low, high)


@pytest.mark.parametrize(
    ("events", "low", "high"),
    [
        # Garwood (1936) / the exact Poisson limits tabulated e.g. in Ulm (1990).
        (0, 0.0, 3.689),
        (1, 0.0253, 5.572),
        (5, 1.623, 11.668),
        (10, 4.795, 18.390),
    ],
)
def test_garwood_matches_the_exact_poisson_limits(events: int, low: float, high: float) -> None:
    """Garwood's interval for a count over an exposure of 1 matches the tabulated limits, and
    scales inversely with the exposure."""
    got = garwood(events, 1.0)
    assert got.low == pytest.approx(low, abs=6e-4)
    assert got.high == pytest.approx(high, abs=6e-4)
    per_ten = garwood(events, 10.0)
    assert per_ten.high == pytest.approx(got.high / 10)


def test_the_median_interval_takes_the_order_statistics_of_the_binomial_ranks() -> None:
    """For n = 10 the 95% interval of the median is (x(2), x(9)) (coverage 97.9%); for n = 5
    no pair of order statistics covers 95%, so the whole range is given."""
    values = [float(v) for v in range(1, 11)]
    got = median_interval(values)
    assert got is not None
    assert (got.estimate, got.low, got.high) == (5.5, 2.0, 9.0)
    small = median_interval([3.0, 1.0, 2.0, 5.0, 4.0])
    assert small is not None
    assert (small.estimate, small.low, small.high) == (3.0, 1.0, 5.0)
    assert median_interval([]) is None


def test_bad_counts_are_refused() -> None:
    """A proportion of more successes than trials, or a rate over no exposure, is refused."""
    with pytest.raises(ValueError, match="successes <= trials"):
        wilson(3, 2)
    with pytest.raises(ValueError, match="exposure > 0"):
        garwood(1, 0.0)
