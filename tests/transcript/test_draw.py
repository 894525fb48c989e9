"""The draw of the segments an audit replays (pausewatch.transcript._draw)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.transcript import (
    draw_segments,
    miss_probability,
    segment_count,
    segments_for_budget,
)


@given(
    beacon=st.binary(min_size=1, max_size=64),
    segments=st.integers(1, 500),
    count=st.integers(1, 600),
)
def test_a_draw_holds_the_last_segment_and_distinct_others(
    beacon: bytes, segments: int, count: int
) -> None:
    """Every draw replays the final segment and min(count, N) distinct segments in range."""
    drawn = draw_segments(beacon, segments, count)
    assert drawn[-1] == segments - 1
    assert len(drawn) == len(set(drawn)) == min(count, segments)
    assert list(drawn) == sorted(drawn)
    assert all(0 <= s < segments for s in drawn)


def test_a_draw_is_a_function_of_the_beacon() -> None:
    """The same beacon draws the same segments; another beacon draws others."""
    assert draw_segments(b"\x01" * 32, 200, 10) == draw_segments(b"\x01" * 32, 200, 10)
    assert draw_segments(b"\x01" * 32, 200, 10) != draw_segments(b"\x02" * 32, 200, 10)


def test_the_draw_is_uniform_over_the_other_segments() -> None:
    """Over many beacons each non-final segment is drawn about equally often (chi-square)."""
    segments, count, trials = 11, 3, 6000
    seen: Counter[int] = Counter()
    for t in range(trials):
        seen.update(draw_segments(t.to_bytes(4, "big"), segments, count)[:-1])
    expected = trials * (count - 1) / (segments - 1)
    chi2 = sum((seen[s] - expected) ** 2 / expected for s in range(segments - 1))
    assert chi2 < 27.9  # chi-square, 9 degrees of freedom, p = 0.001


def test_miss_probability_is_the_hypergeometric_zero_term() -> None:
    """C(N-1-F, Q-1) / C(N-1, Q-1), and an empirical draw agrees with it."""
    assert miss_probability(101, 10, 6) == pytest.approx(math.comb(90, 5) / math.comb(100, 5))
    missed = sum(
        not set(draw_segments(t.to_bytes(4, "big"), 21, 4)) & {0, 1, 2, 3, 4} for t in range(4000)
    )
    assert missed / 4000 == pytest.approx(miss_probability(21, 5, 4), abs=0.03)


def test_budgets_buy_whole_segments() -> None:
    """A budget pays for floor(budget * steps / every) segments, at least one, at most all."""
    assert segment_count(1000, 10) == 100
    assert segment_count(1001, 10) == 101
    assert segments_for_budget(0.05, 1000, 10) == 5
    assert segments_for_budget(0.001, 1000, 10) == 1
    assert segments_for_budget(1.0, 1000, 10) == 100
    with pytest.raises(ValueError, match="budget"):
        segments_for_budget(0, 1000, 10)
