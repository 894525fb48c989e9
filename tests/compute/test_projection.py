"""Crossing projections and rates from measured series."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.compute import (
    Estimate,
    Method,
    project_crossing,
    rate_from_series,
    t_quantile,
)
from pausewatch.errors import ComputeError

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def est(value: float, rel: float = 0.0) -> Estimate:
    return Estimate.relative(value, rel, Method.TELEMETRY)


def test_expected_crossing_from_central_figures() -> None:
    """Remaining FLOP over the rate gives the expected time."""
    c = project_crossing(measured=est(5e24), rate=est(1e19), threshold=1e25, now=NOW)
    assert not c.already
    assert c.expected == NOW + timedelta(seconds=5e5)


def test_earliest_uses_high_bounds_and_latest_low_bounds() -> None:
    """Earliest pairs the high total with the high rate; latest the low ones."""
    c = project_crossing(measured=est(5e24, 0.1), rate=est(1e19, 0.5), threshold=1e25, now=NOW)
    assert c.earliest == NOW + timedelta(seconds=(1e25 - 5.5e24) / 1.5e19)
    assert c.latest == NOW + timedelta(seconds=(1e25 - 4.5e24) / 0.5e19)


def test_already_crossed() -> None:
    """A total whose low bound is at the threshold has crossed: every time is now."""
    c = project_crossing(measured=est(1.2e25, 0.1), rate=est(0.0), threshold=1e25, now=NOW)
    assert c.already
    assert c.earliest == c.expected == c.latest == NOW


def test_possibly_crossed_is_not_already() -> None:
    """When only the high bound is past the threshold, earliest is now but it is not 'already'."""
    c = project_crossing(measured=est(9.5e24, 0.1), rate=est(1e18), threshold=1e25, now=NOW)
    assert not c.already
    assert c.earliest == NOW
    assert c.expected is not None
    assert c.expected > NOW


def test_zero_rate_never_crosses() -> None:
    """A zero rate bound gives no crossing time for that bound."""
    rate = Estimate(1e18, 0.0, 2e18, Method.TELEMETRY)
    c = project_crossing(measured=est(1e24), rate=rate, threshold=1e25, now=NOW)
    assert c.latest is None
    assert c.expected is not None
    none = project_crossing(measured=est(1e24), rate=est(0.0), threshold=1e25, now=NOW)
    assert none.earliest is none.expected is none.latest is None


def test_beyond_representable_time_is_none() -> None:
    """A crossing past year 9999 is reported as None, not an overflow."""
    c = project_crossing(measured=est(0.0), rate=est(1e-3), threshold=1e25, now=NOW)
    assert c.expected is None


def test_naive_now_refused() -> None:
    """A naive ``now`` is refused."""
    with pytest.raises(ComputeError, match="timezone-aware UTC"):
        project_crossing(
            measured=est(1.0),
            rate=est(1.0),
            threshold=10.0,
            now=datetime(2026, 3, 1),  # noqa: DTZ001 - the point of the test
        )


def test_non_utc_now_refused() -> None:
    """An aware ``now`` in another offset is refused."""
    with pytest.raises(ComputeError, match="must be UTC"):
        project_crossing(
            measured=est(1.0),
            rate=est(1.0),
            threshold=10.0,
            now=datetime(2026, 3, 1, tzinfo=timezone(timedelta(hours=2))),
        )


def test_non_positive_threshold_refused() -> None:
    """A threshold <= 0 is refused."""
    with pytest.raises(ComputeError, match="threshold"):
        project_crossing(measured=est(1.0), rate=est(1.0), threshold=0.0, now=NOW)


@given(
    value=st.floats(0.0, 1e26),
    rel=st.floats(0.0, 0.9),
    rate=st.floats(1e15, 1e21),
    rate_rel=st.floats(0.0, 0.9),
)
def test_times_are_ordered(value: float, rel: float, rate: float, rate_rel: float) -> None:
    """Earliest <= expected <= latest whenever all three exist."""
    c = project_crossing(
        measured=est(value, rel), rate=est(rate, rate_rel), threshold=1e26, now=NOW
    )
    times = [t for t in (c.earliest, c.expected, c.latest) if t is not None]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706), (2, 4.303), (3, 3.182), (5, 2.571), (10, 2.228), (30, 2.042), (100, 1.984)],
)
def test_t_quantile_matches_tables(df: int, expected: float) -> None:
    """The two-sided 95% Student-t quantile matches published tables."""
    assert t_quantile(0.95, df) == pytest.approx(expected, abs=1e-3)


def test_t_quantile_at_99_percent() -> None:
    """The 99% quantile for 4 degrees of freedom is 4.604 (tables)."""
    assert t_quantile(0.99, 4) == pytest.approx(4.604, abs=1e-3)


def series(rate: float, n: int, noise: float = 0.0, seed: int = 1) -> list[tuple[datetime, float]]:
    rng = random.Random(seed)
    return [
        (NOW + timedelta(hours=i), max(0.0, rate * 3600 * i + 1e20 + rng.gauss(0, noise)))
        for i in range(n)
    ]


def test_exact_line_gives_its_slope() -> None:
    """Points on a straight line give its slope with a zero-width interval."""
    r = rate_from_series(series(1e18, 10))
    assert r.value == pytest.approx(1e18)
    assert r.high - r.low == pytest.approx(0.0, abs=1e18 * 1e-6)


def test_noisy_series_interval_holds_true_rate() -> None:
    """With noise, the 95% interval holds the true rate and has a width."""
    r = rate_from_series(series(1e18, 48, noise=1e20, seed=7))
    assert r.low < 1e18 < r.high
    assert r.low < r.value < r.high


def test_order_of_points_does_not_matter() -> None:
    """Points are sorted by time before fitting."""
    pts = series(1e18, 12, noise=1e20)
    assert rate_from_series(list(reversed(pts))).value == pytest.approx(rate_from_series(pts).value)


def test_falling_series_clips_to_zero() -> None:
    """A shrinking cumulative series gives a zero rate, and a note says bounds were clipped."""
    pts = [(NOW + timedelta(hours=i), 1e22 - 1e20 * i) for i in range(5)]
    r = rate_from_series(pts)
    assert r.value == 0.0
    assert any("clipped" in n for n in r.notes)


@pytest.mark.parametrize(
    "points",
    [
        [(NOW, 1.0), (NOW + timedelta(hours=1), 2.0)],
        [(NOW, 1.0), (NOW, 2.0), (NOW, 3.0)],
        [(NOW, 1.0), (NOW + timedelta(hours=1), -2.0), (NOW + timedelta(hours=2), 3.0)],
        [(datetime(2026, 1, 1), 1.0), (NOW, 2.0), (NOW + timedelta(hours=1), 3.0)],  # noqa: DTZ001
    ],
)
def test_rate_refuses_bad_series(points: list[tuple[datetime, float]]) -> None:
    """Fewer than 3 points, one time only, a negative total or a naive time is refused."""
    with pytest.raises(ComputeError):
        rate_from_series(points)


def test_crossing_json() -> None:
    """A crossing's JSON form gives ISO 8601 times and nulls."""
    data = project_crossing(measured=est(1e24), rate=est(0.0), threshold=1e25, now=NOW).to_json()
    assert data["now"] == "2026-03-01T00:00:00+00:00"
    assert data["expected"] is None
