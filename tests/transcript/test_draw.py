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
def test_a_draw_holds_the_first_and_last_segments_and_distinct_others(
    beacon: bytes, segments: int, count: int
) -> None:
    """Every draw replays the first and the final segment and min(max(count, 2), N) distinct
    segments in range."""
    drawn = draw_segments(beacon, segments, count)
    assert drawn[0] == 0
    assert drawn[-1] == segments - 1
    assert len(drawn) == len(set(drawn)) == min(max(count, 2), segments)
    assert list(drawn) == sorted(drawn)
    assert all(0 <= s < segments for s in drawn)


def test_a_draw_is_a_function_of_the_beacon() -> None:
    """The same beacon draws the same segments; another beacon draws others."""
    assert draw_segments(b"\x01" * 32, 200, 10) == draw_segments(b"\x01" * 32, 200, 10)
    assert draw_segments(b"\x01" * 32, 200, 10) != draw_segments(b"\x02" * 32, 200, 10)


def test_the_draw_is_uniform_over_the_other_segments() -> None:
    """Over many beacons each segment between the first and the last is drawn about equally
    often (chi-square)."""
    segments, count, trials = 12, 4, 6000
    seen: Counter[int] = Counter()
    for t in range(trials):
        seen.update(draw_segments(t.to_bytes(4, "big"), segments, count)[1:-1])
    expected = trials * (count - 2) / (segments - 2)
    chi2 = sum((seen[s] - expected) ** 2 / expected for s in range(1, segments - 1))
    assert chi2 < 27.9  # chi-square, 9 degrees of freedom, p = 0.001


def test_miss_probability_is_the_hypergeometric_zero_term() -> None:
    """C(N-2-F, Q-2) / C(N-2, Q-2), and an empirical draw agrees with it."""
    assert miss_probability(102, 10, 7) == pytest.approx(math.comb(90, 5) / math.comb(100, 5))
    missed = sum(
        not set(draw_segments(t.to_bytes(4, "big"), 22, 5)) & {1, 2, 3, 4, 5} for t in range(4000)
    )
    assert missed / 4000 == pytest.approx(miss_probability(22, 5, 5), abs=0.03)


def test_the_first_segment_is_replayed_at_any_budget() -> None:
    """A forger who commits the seed's initial weights and then jumps to weights trained from
    elsewhere forges segment 0 alone: every draw replays it, and the theory says so."""
    assert all(draw_segments(t.to_bytes(4, "big"), 500, 2)[0] == 0 for t in range(200))
    assert miss_probability(500, 0, 2) == 1.0


def test_budgets_buy_whole_segments() -> None:
    """A budget pays for floor(budget * steps / every) segments, at least two, at most all."""
    assert segment_count(1000, 10) == 100
    assert segment_count(1001, 10) == 101
    assert segments_for_budget(0.05, 1000, 10) == 5
    assert segments_for_budget(0.001, 1000, 10) == 2
    assert segments_for_budget(0.001, 10, 10) == 1
    assert segments_for_budget(1.0, 1000, 10) == 100
    with pytest.raises(ValueError, match="budget"):
        segments_for_budget(0, 1000, 10)


def test_a_budget_never_draws_more_segments_than_a_verdict_may_name() -> None:
    """A budget is capped at MAX_DRAWN segments, the most one verdict statement may list, so
    that an audit never replays segments it could then not file a verdict for; the fold draws
    with the same function, so it asks for the same capped draw."""
    from pausewatch.transcript._draw import MAX_DRAWN
    from pausewatch.transcript._statements import MAX_DRAWN as STATEMENT_MAX_DRAWN
    from pausewatch.transcript._statements import MAX_SEGMENTS

    assert STATEMENT_MAX_DRAWN == MAX_DRAWN == 10_000
    steps = MAX_SEGMENTS
    assert segments_for_budget(1.0, steps, 1) == MAX_DRAWN
    assert segments_for_budget(0.5, steps, 1) == MAX_DRAWN
    assert segments_for_budget(0.01, steps, 1) == MAX_DRAWN
    assert segments_for_budget(0.005, steps, 1) == 5_000
    drawn = draw_segments(b"beacon", segment_count(steps, 1), segments_for_budget(1.0, steps, 1))
    assert len(drawn) == MAX_DRAWN
