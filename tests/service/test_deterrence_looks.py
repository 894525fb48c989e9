"""What the Deterrence analysis says would close a gap with more looks: looking more often also
raises more false alarms, which raises the detection the inspection game requires, so the looks
needed are the fixed point of both, not the count at today's false-alarm probability."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.service._deterrence import Assumptions, assess_figure, looks_needed
from pausewatch.simulate.inspection import required_detection


def _row(detection: float, alpha: float, assumptions: Assumptions) -> dict[str, object]:
    return assess_figure(
        kind="k",
        detection=detection,
        interval=None,
        false_alarm_probability=alpha,
        assumptions=assumptions,
        source="query",
        looks=30.0,
    )


def test_the_looks_needed_meet_the_threshold_at_the_false_alarms_they_raise() -> None:
    """With a costly false alarm and a high rate, the looks needed reach the threshold that
    holds at the false alarms those looks raise (the rate scales with the looks), and one look
    fewer does not."""
    a = Assumptions(gain=1.0, penalty=1.0, false_alarm_cost=0.5)
    alpha = 1.0 - math.exp(-5.0 * 30 / 365)  # five false alarms a facility-year, over 30 days
    row = _row(0.3, alpha, a)
    needed = row["needed"]
    assert isinstance(needed, dict)
    looks = needed["inspections"]
    per_look = needed["per_look"]
    rate = -math.log1p(-alpha)  # false alarms expected over today's 30 looks

    def meets(n: float) -> bool:
        alpha_n = -math.expm1(-rate * n / 30.0)
        return 1.0 - (1.0 - per_look) ** n >= required_detection(1.0, 1.0, 0.5, alpha_n)

    assert looks is not None
    assert meets(looks)
    assert not meets(looks - 1)
    assert needed["inspection_factor"] == looks / 30.0


def test_looks_cannot_close_a_gap_that_their_false_alarms_keep_open() -> None:
    """When a false alarm costs more than the sanction, the threshold tends to
    (d + h)/(d + b) > 1 as looks multiply: no number of looks is given."""
    a = Assumptions(gain=1.0, penalty=1.0, false_alarm_cost=2.0)
    row = _row(0.3, 1.0 - math.exp(-5.0 * 30 / 365), a)
    needed = row["needed"]
    assert isinstance(needed, dict)
    assert needed["inspections"] is None
    assert needed["inspection_factor"] is None


def _meets(n: int, per_look: float, alpha: float, looks: float, a: Assumptions) -> bool:
    """Written out afresh: n looks reach the threshold at the false alarms n looks raise."""
    alpha_n = 1.0 - (1.0 - alpha) ** (n / looks)
    detection_n = 1.0 - (1.0 - per_look) ** n
    return detection_n >= required_detection(a.gain, a.penalty, a.false_alarm_cost, alpha_n)


def test_the_looks_needed_are_the_fewest_even_below_todays() -> None:
    """A kind deterred with room to spare needs fewer looks than today's: the answer is the
    fewest that meet the threshold at their own (lower) false alarms, not a count found from
    today's higher threshold."""
    a = Assumptions(gain=1.0, penalty=1.0, false_alarm_cost=1.0)
    row = _row(0.95, 0.5, a)
    needed = row["needed"]
    assert isinstance(needed, dict)
    per_look = needed["per_look"]
    fewest = next(n for n in range(1, 31) if _meets(n, per_look, 0.5, 30.0, a))
    assert needed["inspections"] == fewest


@settings(max_examples=200, deadline=None)
@given(
    detection=st.floats(0.001, 0.999),
    alpha=st.floats(0.0, 0.999),
    gain=st.floats(0.01, 10.0),
    penalty=st.floats(0.0, 10.0),
    cost=st.floats(0.0, 10.0),
    looks=st.integers(1, 30),
)
def test_the_looks_needed_are_the_fewest_that_meet_the_threshold(
    detection: float, alpha: float, gain: float, penalty: float, cost: float, looks: int
) -> None:
    """Against a brute-force count: the looks given meet the threshold at their own false
    alarms, and no fewer do; none is given only when no count up to 20,000 does. Margins within
    1e-9 of zero are rounding's to decide (where the detection and the threshold both tend to
    the same limit), so the comparison leaves them out."""
    a = Assumptions(gain=gain, penalty=penalty, false_alarm_cost=cost)
    row = assess_figure(
        kind="k",
        detection=detection,
        interval=None,
        false_alarm_probability=alpha,
        assumptions=a,
        source="query",
        looks=float(looks),
    )
    needed = row["needed"]
    assert isinstance(needed, dict)
    per_look = needed["per_look"]
    given_looks = needed["inspections"]

    def margin(n: int) -> float:
        alpha_n = 1.0 - (1.0 - alpha) ** (n / looks)
        detection_n = 1.0 - (1.0 - per_look) ** n
        return detection_n - required_detection(gain, penalty, cost, alpha_n)

    if given_looks is None:
        assert all(margin(n) < 1e-9 for n in range(1, 20_001))
        return
    n = int(given_looks)
    assert margin(n) >= -1e-9
    assert all(margin(k) < 1e-9 for k in range(1, min(n, 20_001)))


def test_the_looks_needed_are_found_without_counting_one_by_one() -> None:
    """A gap that takes millions of looks to close at the longest horizon is answered by a
    search, not by adding one look at a time (the answer comes back within the test's timeout,
    and it meets the threshold where one look fewer does not)."""
    a = Assumptions(gain=1e-6, penalty=1.0, false_alarm_cost=1.0, run_days=3650)
    row = assess_figure(
        kind="k",
        detection=0.001,
        interval=None,
        false_alarm_probability=0.001,
        assumptions=a,
        source="query",
        looks=3650.0,
    )
    needed = row["needed"]
    assert isinstance(needed, dict)
    n = needed["inspections"]
    assert n is not None
    assert n > 1_000_000
    assert _meets(int(n), needed["per_look"], 0.001, 3650.0, a)
    assert not _meets(int(n) - 1, needed["per_look"], 0.001, 3650.0, a)


@pytest.mark.parametrize(
    ("gain", "cost", "alpha", "per_look"),
    [
        # cost / (gain + penalty) underflows to 0, times alarms certain from the first look
        (2.0, 5e-324, 1.0, 0.5),
        # the slope of the alarms over a look's detection underflows to 0 (log of 0)
        (2.0, 1e-323, 1.0 - math.exp(-1.0), 1.0 - 1e-16),
        # ... and overflows (a turn at infinity, then rounded)
        (1e-300, 1e6, 1.0 - 1e-16, 1e-300),
    ],
)
def test_looks_at_the_ends_of_the_float_range_are_answered(
    gain: float, cost: float, alpha: float, per_look: float
) -> None:
    """Found by the property below: a false alarm cost so small that its ratio to the stakes
    underflows to 0, with false alarms certain from the first look, made the slope of the
    alarms 0 x inf = nan, and the turn of the margin nan. A ratio of the slopes past the float
    range put the turn at log(0) or at an infinity rounded to an integer. The looks needed
    are a number or inf, never an exception."""
    a = Assumptions(gain=gain, penalty=0.0, false_alarm_cost=cost)
    n = looks_needed(per_look, alpha, 1.0, a)
    assert n == math.inf or (n >= 1 and float(n).is_integer())
    if n != math.inf:
        assert _meets(int(n), per_look, alpha, 1.0, a)


@settings(max_examples=300, deadline=None)
@given(
    detection=st.floats(0.0, 1.0),
    alpha=st.floats(0.0, 1.0),
    gain=st.floats(5e-324, 1e6),
    penalty=st.floats(0.0, 1e6),
    cost=st.floats(0.0, 1e6),
    looks=st.floats(1.0, 3650.0),
)
def test_every_row_within_the_parameters_ranges_is_answered(
    detection: float, alpha: float, gain: float, penalty: float, cost: float, looks: float
) -> None:
    """Whatever stakes the API's ranges allow, a row is answered with finite numbers or
    nulls (never an exception, never nan): the vanishing gains and huge costs at the ends of
    the ranges included."""
    row = assess_figure(
        kind="k",
        detection=detection,
        interval=(detection / 2, detection),
        false_alarm_probability=alpha,
        assumptions=Assumptions(gain=gain, penalty=penalty, false_alarm_cost=cost),
        source="query",
        looks=looks,
    )
    needed = row["needed"]
    assert isinstance(needed, dict)
    for value in (row["required_detection"], row["margin"], *needed.values()):
        assert value is None or (isinstance(value, float) and not math.isnan(value))
