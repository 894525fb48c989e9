"""The inspector-leadership threshold with a detector's ROC, a balance's best threshold, and
timeliness from measured times to detection (pausewatch.simulate.inspection)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pausewatch.simulate.inspection import (
    GameError,
    RocPoint,
    assess,
    balance_detection,
    best_balance_threshold,
    best_on_roc,
    required_detection,
    roc_detection,
    roc_hull,
    timely_detection_from,
    wilson_interval,
)

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
stake = st.floats(min_value=0.01, max_value=100.0, allow_nan=False)
roc_points = st.lists(st.tuples(unit, unit), min_size=1, max_size=8)


def test_hull_drops_points_under_the_chord() -> None:
    """A point under the segment joining its neighbours is dominated by randomising between
    them and leaves the envelope; (0, 0) (never alarming) starts it."""
    hull = roc_hull([(0.1, 0.5), (0.2, 0.55), (0.3, 0.9)])
    assert hull == (RocPoint(0.0, 0.0), RocPoint(0.1, 0.5), RocPoint(0.3, 0.9))


def test_detection_between_vertices_is_linear() -> None:
    """Between two vertices detection is the mixture's: linear in the false-alarm rate."""
    assert roc_detection([(0.1, 0.5), (0.3, 0.9)], 0.2) == pytest.approx(0.7)
    assert roc_detection([(0.1, 0.5), (0.3, 0.9)], 0.05) == pytest.approx(0.25)


def test_detection_beyond_the_last_point_is_refused() -> None:
    """The ROC is not extrapolated past its largest false-alarm rate."""
    with pytest.raises(GameError, match=r"beyond the ROC.s largest false-alarm rate 0\.3"):
        roc_detection([(0.1, 0.5), (0.3, 0.9)], 0.5)


def test_best_on_roc_hand_worked() -> None:
    """d=1, b=4, h=2: the margins at (0.01, 0.3), (0.05, 0.6), (0.1, 0.7), (0.2, 0.72) are
    0.3-0.204, 0.6-0.22, 0.7-0.24, 0.72-0.28: the third (0.46) is chosen."""
    a = best_on_roc(1, 4, 2, [(0.01, 0.3), (0.05, 0.6), (0.1, 0.7), (0.2, 0.72)])
    assert a.false_alarm_rate == 0.1
    assert a.detection == 0.7
    assert a.required_detection == pytest.approx(0.24)
    assert a.margin == pytest.approx(0.46)
    assert a.deterred


def test_best_on_roc_may_choose_never_to_alarm() -> None:
    """When every point's false alarms cost more than its detection gains, (0, 0) wins."""
    a = best_on_roc(1, 1, 10, [(0.5, 0.6)])
    assert (a.false_alarm_rate, a.detection) == (0.0, 0.0)
    assert a.margin == pytest.approx(-0.5)


def test_empty_or_bad_roc_is_refused() -> None:
    """An empty ROC, or a point outside [0, 1], is one GameError naming it."""
    with pytest.raises(GameError, match="at least one point"):
        best_on_roc(1, 1, 0, [])
    with pytest.raises(GameError, match=r"roc\[1\].detection must be between 0 and 1"):
        best_on_roc(1, 1, 0, [(0.1, 0.2), (0.2, 1.5)])


@given(stake, stake, st.floats(0, 50), roc_points)
@settings(max_examples=200, deadline=None)
def test_roc_choice_never_worse_than_any_point(
    gain: float, penalty: float, cost: float, points: list[tuple[float, float]]
) -> None:
    """The chosen operating point's margin is at least that of every given point and of every
    point of the envelope between them."""
    best = best_on_roc(gain, penalty, cost, points)
    for alpha, detection in points:
        assert best.margin >= assess(gain, penalty, cost, alpha, detection).margin - 1e-12
    top = max(a for a, _ in points)
    for i in range(21):
        alpha = min(top, top * i / 20)
        d = roc_detection(points, alpha)
        assert best.margin >= assess(gain, penalty, cost, alpha, d).margin - 1e-12


@given(
    st.floats(0.01, 10),
    st.floats(0.01, 10),
    st.floats(0.0, 10),
    st.floats(0.0, 5),
    st.floats(0.5, 3),
)
@settings(max_examples=60, deadline=None)
def test_balance_threshold_beats_a_grid(
    gain: float, penalty: float, cost: float, loss: float, sigma: float
) -> None:
    """The balance's chosen false-alarm rate has a margin no worse than any on a fine grid
    (losses up to 10 sigma, where 1 - alpha is still distinct from 1)."""
    best = best_balance_threshold(gain, penalty, cost, loss, sigma)
    assert best.detection == pytest.approx(balance_detection(loss, sigma, best.false_alarm_rate))
    for i in range(0, 401):
        alpha = i / 400
        d = balance_detection(loss, sigma, alpha)
        assert best.margin >= assess(gain, penalty, cost, alpha, d).margin - 1e-9


def test_balance_threshold_answers_the_question() -> None:
    """A balance of sigma 1 and a diversion of 3 sigma, at d=1, b=4, h=2: alpha* solves
    z(1-alpha) = 3/2 + ln(2/5)/3, and the diversion is deterred there."""
    a = best_balance_threshold(1, 4, 2, 3, 1)
    z = 1.5 + math.log(0.4) / 3
    assert a.false_alarm_rate == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
    assert a.deterred
    assert a.detection == pytest.approx(0.9644963, abs=1e-6)


def test_balance_threshold_with_a_negligible_false_alarm_cost() -> None:
    """A false-alarm cost so small beside the stakes that h/(d+b) underflows is treated as
    free, not a math domain error (found by hypothesis)."""
    a = best_balance_threshold(1, 1, 5e-324, 1, 1, max_false_alarm_rate=0.05)
    assert a.false_alarm_rate == 0.05


def test_balance_threshold_respects_the_cap() -> None:
    """False alarms free (h=0): the margin grows with alpha, so the cap is chosen."""
    a = best_balance_threshold(1, 4, 0, 1, 1, max_false_alarm_rate=0.05)
    assert a.false_alarm_rate == 0.05


@given(stake, stake, stake)
def test_threshold_falls_as_the_penalty_rises(gain: float, penalty: float, cost: float) -> None:
    """A larger penalty never raises the detection needed."""
    low = required_detection(gain, penalty, cost, 0.1)
    high = required_detection(gain, penalty * 2, cost, 0.1)
    assert high <= low


def test_timely_detection_from_measured_times() -> None:
    """Of 5 runs of 5 days, detected on days 1, 2, 3 (and 10, never): 3 before completion;
    Wilson's 95% interval for 3/5 is (0.2307, 0.8824)."""
    t = timely_detection_from([1, 2, None, 10, 3], 5)
    assert (t.detected, t.runs, t.probability) == (3, 5, 0.6)
    assert t.low == pytest.approx(0.230724, abs=1e-6)
    assert t.high == pytest.approx(0.882379, abs=1e-6)


def test_detection_on_the_last_day_is_too_late() -> None:
    """A detection on the day the run completes does not count."""
    assert timely_detection_from([5.0], 5).detected == 0
    assert timely_detection_from([4.999], 5).detected == 1


def test_timely_detection_from_refuses_bad_times() -> None:
    """No runs, or a negative time, is one GameError."""
    with pytest.raises(GameError, match="at least one measured run"):
        timely_detection_from([], 5)
    with pytest.raises(GameError, match=r"days_to_detection\[1\] must be at least 0"):
        timely_detection_from([1, -2], 5)


@given(st.integers(1, 200), st.data())
def test_wilson_interval_holds_the_estimate(trials: int, data: st.DataObject) -> None:
    """Wilson's interval lies in [0, 1] and contains the observed proportion."""
    k = data.draw(st.integers(0, trials))
    low, high = wilson_interval(k, trials)
    assert 0 <= low <= k / trials + 1e-12
    assert k / trials - 1e-12 <= high <= 1


def test_infinite_stakes_are_refused() -> None:
    """An infinite gain would make the threshold inf/inf = nan: one GameError instead."""
    with pytest.raises(GameError, match="gain must be a finite number"):
        best_on_roc(math.inf, 1, 0, [(0.1, 0.5)])
    with pytest.raises(GameError, match="penalty must be a finite number"):
        best_balance_threshold(1, math.inf, 0, 1, 1)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ((math.inf, 1.0), "gain"),
        ((1.0, math.inf), "penalty"),
        ((1.0, 1.0, math.inf, 0.1), "false_alarm_cost"),
    ],
)
def test_the_threshold_refuses_infinite_stakes(args: tuple[float, ...], name: str) -> None:
    """The shared threshold refuses an infinite figure in one line rather than answering nan
    (inf/inf), as every function built on it does."""
    with pytest.raises(GameError, match=f"{name} must be a finite number"):
        required_detection(*args)


# --- Overflow: every finite stake gives the exact threshold or one GameError ----------------

finite = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)


def _beyond(exact: Fraction) -> bool:
    try:
        float(exact)
    except OverflowError:
        return True
    return False


def _exact_threshold(d: float, b: float, h: float, a: float) -> Fraction:
    return (Fraction(d) + Fraction(h) * Fraction(a)) / (Fraction(d) + Fraction(b))


def _close(value: float, exact: Fraction) -> bool:
    # Within a few units in the last place, or a few of the smallest subnormal when tiny.
    return math.isfinite(value) and abs(Fraction(value) - exact) <= (
        exact * Fraction(1, 2**50) + Fraction(2, 2**1074)
    )


@given(finite, finite, finite, unit)
@settings(max_examples=500, deadline=None)
@example(1e308, 1e308, 0.0, 0.0)
@example(1e308, 1e308, 1e308, 1.0)
@example(1e-300, 1e-300, 1e308, 0.5)
def test_threshold_equals_the_exact_rational(d: float, b: float, h: float, a: float) -> None:
    """Over the whole float range the threshold is the exact rational (d + h*alpha)/(d + b)
    rounded, never 0 or nan by overflow; when that rational is beyond the float range the
    stakes are refused in one GameError."""
    if d + b == 0:
        with pytest.raises(GameError, match="gain \\+ penalty must be positive"):
            required_detection(d, b, h, a)
        return
    exact = _exact_threshold(d, b, h, a)
    if _beyond(exact):
        with pytest.raises(GameError, match="beyond the float range"):
            required_detection(d, b, h, a)
        return
    assert _close(required_detection(d, b, h, a), exact)


@given(finite, finite, finite, unit, unit)
@settings(max_examples=500, deadline=None)
@example(1e308, 1e308, 0.0, 0.0, 0.01)
@example(1.0, 1.0, 0.0, 0.0, 1e-310)
def test_needed_penalty_equals_the_exact_rational(
    d: float, b: float, h: float, a: float, p: float
) -> None:
    """The penalty that would just deter, (d + h*alpha)/p - d, is the exact rational rounded;
    ``inf`` only when detection is 0 or that penalty is beyond the float range."""
    if d + b == 0 or _beyond(_exact_threshold(d, b, h, a)):
        return
    result = assess(d, b, h, a, p)
    assert _close(result.required_detection, _exact_threshold(d, b, h, a))
    if p == 0:
        assert result.needed_penalty == math.inf
        return
    exact = (Fraction(d) + Fraction(h) * Fraction(a)) / Fraction(p) - Fraction(d)
    if _beyond(exact):
        assert result.needed_penalty == math.inf
    else:
        assert _close(result.needed_penalty, exact)


@given(finite, finite, finite, roc_points)
@settings(max_examples=200, deadline=None)
@example(1e308, 1e308, 0.0, [(0.0, 0.6)])
def test_roc_choice_is_exact_over_the_float_range(
    d: float, b: float, h: float, points: list[tuple[float, float]]
) -> None:
    """At any finite stakes the chosen point's threshold is the exact rational, and its margin
    is never below a given point's (by more than rounding)."""
    if d + b == 0 or any(_beyond(_exact_threshold(d, b, h, a)) for a, _ in points):
        return
    best = best_on_roc(d, b, h, points)
    assert _close(best.required_detection, _exact_threshold(d, b, h, best.false_alarm_rate))
    for a, p in points:
        assert best.margin >= float(Fraction(p) - _exact_threshold(d, b, h, a)) - 1e-12


@pytest.mark.parametrize("scale", [1e-300, 1e300, 1e308])
def test_balance_threshold_is_scale_free(scale: float) -> None:
    """Multiplying every stake by one factor leaves the balance's best threshold unchanged,
    even where the sum of the stakes overflows."""
    base = best_balance_threshold(1.0, 1.0, 1.0, 1.0, 1.0)
    scaled = best_balance_threshold(scale, scale, scale, 1.0, 1.0)
    assert scaled.false_alarm_rate == pytest.approx(base.false_alarm_rate, rel=1e-9)
    assert scaled.required_detection == pytest.approx(base.required_detection, rel=1e-9)
    assert scaled.detection == pytest.approx(base.detection, rel=1e-9)


def test_balance_threshold_refuses_an_unrepresentable_ratio() -> None:
    """A loss so large beside sigma that loss/sigma overflows is one GameError, not nan."""
    with pytest.raises(GameError, match="loss / sigma"):
        best_balance_threshold(1.0, 1.0, 1.0, 1e308, 1e-308)
