"""Page's CUSUM on SITMUF residuals, and the alarms the balance tests file.

The Monte Carlo bounds are several standard errors wide (stated beside each) and the seeds fixed.
The CUSUM is set with k = 0.5 and h = 5, whose one-sided in-control average run length is about
930 periods (Siegmund's approximation gives 938; Montgomery, "Introduction to Statistical Quality
Control", Table 9.3 gives 465 for the two-sided scheme, half the one-sided figure).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.detect._alarm import (
    AlarmTest,
    FalseAlarmRate,
    balance_alarms,
    cumulative_alarms,
    cusum_alarms,
    one_shot_alarms,
)
from pausewatch.detect._balance import (
    Balance,
    BalanceError,
    Level,
    Measurement,
    Period,
    chips_unaccounted,
    compute_unaccounted,
    energy_unaccounted,
)
from pausewatch.detect._cusum import page_cusum

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTH = timedelta(days=30)
K, H, ARL0 = 0.5, 5.0, 930.0
PERIODS = 24


def _period(i: int) -> Period:
    return Period(T0 + i * MONTH, T0 + (i + 1) * MONTH)


def _balance(i: int, measured: float, random_sigma: float, systematic_sigma: float) -> Balance:
    return compute_unaccounted(
        Level.FACILITY,
        "F-1",
        _period(i),
        measured=[Measurement(measured, random_sigma, systematic_sigma, "meter:M-1")],
        declared=[0.0],
        evidence=[f"entry-{i}"],
    )


def test_page_cusum_by_hand() -> None:
    """S_i = max(0, S_(i-1) + y_i - k): with k = 0.5, h = 2 the path below alarms at the fourth
    residual and restarts from zero."""
    path = page_cusum([1.0, -2.0, 1.5, 2.0, 1.0, 0.5], 0.5, 2.0)
    # 0.5; max(0, 0.5 - 2.5) = 0; 1.0; 2.5 > 2 alarm, restart; 0.5; 0.5.
    assert path.path == (0.5, 0.0, 1.0, 2.5, 0.5, 0.5)
    assert path.alarms == (3,)
    assert path.since == (2,)


def test_without_restart_the_cusum_keeps_climbing() -> None:
    """With restart off, every period above h alarms, each from the same excursion."""
    path = page_cusum([3.0, 3.0, 3.0], 0.5, 2.0, restart=False)
    assert path.path == (2.5, 5.0, 7.5)
    assert path.alarms == (0, 1, 2)
    assert path.since == (0, 0, 0)


@given(
    st.lists(st.floats(-5.0, 5.0), max_size=50),
    st.floats(0.0, 2.0),
    st.floats(0.1, 10.0),
)
def test_the_cusum_is_nonnegative_and_alarms_exactly_above_h(
    residuals: list[float], k: float, h: float
) -> None:
    """The path never goes below zero, alarms exactly where it exceeds h, and each step is
    max(0, previous + y - k) from zero after an alarm."""
    c = page_cusum(residuals, k, h)
    assert all(s >= 0 for s in c.path)
    assert c.alarms == tuple(i for i, s in enumerate(c.path) if s > h)
    previous = 0.0
    for i, (y, s) in enumerate(zip(residuals, c.path, strict=True)):
        assert s == max(0.0, previous + y - k)
        previous = 0.0 if i in c.alarms else s


@pytest.mark.parametrize(("k", "h"), [(-0.1, 5.0), (0.5, 0.0), (math.nan, 5.0), (0.5, math.inf)])
def test_a_cusum_refuses_parameters_out_of_range(k: float, h: float) -> None:
    """k must be >= 0 and h > 0, both finite."""
    with pytest.raises(BalanceError):
        page_cusum([0.0], k, h)


def test_a_persistent_bias_below_the_one_shot_threshold_alarms_the_cusum_by_hand() -> None:
    """A facility one sigma short every period: the one-shot test set for the CUSUM's false-alarm
    rate (alpha = 1/930, z = 3.07) never alarms; the CUSUM reaches 5.5 > 5 at period 11."""
    series = [_balance(i, 1.0, 1.0, 0.0) for i in range(PERIODS)]
    assert one_shot_alarms(series, 1 / ARL0) == ()
    alarms = cusum_alarms(series, k=K, h=H, arl0=ARL0)
    assert [a.period for a in alarms] == [_period(10), _period(21)]
    first = alarms[0]
    assert first.statistic == pytest.approx(5.5)
    assert first.since == _period(0)
    assert first.evidence == tuple(f"entry-{i}" for i in range(11))


def _world(
    rng: random.Random, loss: float, random_sigma: float, systematic_sigma: float
) -> list[Balance]:
    bias = rng.gauss(0.0, systematic_sigma)
    return [
        _balance(i, loss + bias + rng.gauss(0.0, random_sigma), random_sigma, systematic_sigma)
        for i in range(PERIODS)
    ]


def test_a_persistent_small_loss_the_one_shot_test_misses_the_cusum_catches() -> None:
    """A loss of one sigma per period over 24 periods, 1,000 worlds: the one-shot test at the
    CUSUM's false-alarm rate (alpha = 1/930, z = 3.07) alarms in about 37% of them (by hand:
    1 - (1 - P(Z > 2.07))^24; bound 50%), the CUSUM in about 97% (bound 85%); standard errors
    under 1.6 points."""
    rng = random.Random(1954)
    one_shot_hits = cusum_hits = 0
    for _ in range(1000):
        series = _world(rng, 1.0, 1.0, 0.0)
        one_shot_hits += bool(one_shot_alarms(series, 1 / ARL0))
        cusum_hits += bool(cusum_alarms(series, k=K, h=H, arl0=ARL0))
    assert one_shot_hits / 1000 < 0.50
    assert cusum_hits / 1000 > 0.85


def test_a_meter_bias_taken_as_persistent_does_not_alarm_the_cusum_but_taken_as_random_does() -> (
    None
):
    """Honest facilities whose meter bias (sigma 2) dwarfs its noise (sigma 1), 1,000 worlds of
    24 periods. Standardised as the persistent error it is (SITMUF), the CUSUM alarms in about
    2.5% of them, as its in-control run length of 930 periods says (bound 6%; standard error 0.5
    point). Standardised as if the bias were random, the residuals keep the bias's sign every
    period and the CUSUM alarms in about 20-25% of them (bound 12%; standard error 1.3 points)."""
    rng = random.Random(1972)
    as_systematic = as_random = 0
    for _ in range(1000):
        series = _world(rng, 0.0, 1.0, 2.0)
        as_systematic += bool(cusum_alarms(series, k=K, h=H, arl0=ARL0))
        misread = [_balance(i, b.value, math.hypot(1.0, 2.0), 0.0) for i, b in enumerate(series)]
        as_random += bool(cusum_alarms(misread, k=K, h=H, arl0=ARL0))
    assert as_systematic / 1000 < 0.06
    assert as_random / 1000 > 0.12


def test_an_alarm_carries_its_balance_threshold_rate_explanation_and_evidence() -> None:
    """A one-shot alarm names its balance and period, its statistic and z(1-alpha)·sigma, the
    alpha it was set for, a readable explanation and the balance's log entries."""
    balance = energy_unaccounted(
        Level.FACILITY,
        "F-9",
        _period(3),
        meter=[Measurement(1.0e12, 1e9, 2e9, "meter:M-9")],
        chips_reported=[8.0e11],
        overheads=1.5e11,
        evidence=["41", "42"],
    )
    (alarm,) = one_shot_alarms([balance], 0.01)
    assert alarm.test is AlarmTest.ONE_SHOT
    assert (alarm.level, alarm.subject, alarm.kind) == (Level.FACILITY, "F-9", "energy")
    assert alarm.period == _period(3)
    assert alarm.statistic == pytest.approx(5.0e10)
    assert alarm.threshold == pytest.approx(2.3263 * math.hypot(1e9, 2e9), rel=1e-4)
    assert alarm.false_alarm == FalseAlarmRate(alpha=0.01)
    assert alarm.evidence == ("41", "42")
    assert "energy unaccounted for at facility F-9" in alarm.explanation
    assert "alpha = 0.01" in alarm.explanation
    doc = alarm.to_json()
    assert doc["false_alarm"] == {"alpha": 0.01}
    assert doc["period"]["start"] == _period(3).start.isoformat()


def test_a_cusum_alarm_states_its_in_control_run_length() -> None:
    """The CUSUM's false-alarm rate is its in-control ARL, carried into the alarm and its JSON."""
    series = [_balance(i, 3.0, 1.0, 0.0) for i in range(3)]
    (alarm, *_) = cusum_alarms(series, k=K, h=H, arl0=ARL0)
    assert alarm.test is AlarmTest.CUSUM
    assert alarm.to_json()["false_alarm"] == {"arl0": ARL0}
    assert "average run length of 930 periods" in alarm.explanation


def test_the_cumulative_test_alarms_on_the_running_sum() -> None:
    """Three balances of 2 sigma each: each is under z(0.99)·sigma, their sum is not."""
    series = [_balance(i, 2.0, 1.0, 0.0) for i in range(3)]
    assert one_shot_alarms(series, 0.01) == ()
    alarms = cumulative_alarms(series, 0.01)
    assert [a.period for a in alarms] == [_period(1), _period(2)]
    assert alarms[-1].since == _period(0)
    assert alarms[-1].evidence == ("entry-0", "entry-1", "entry-2")


def test_balances_of_two_subjects_are_not_one_series() -> None:
    """A test refuses a sequence that mixes subjects."""
    other = compute_unaccounted(
        Level.FACILITY, "F-2", _period(1), measured=[Measurement(1.0, 1.0, 0.0, "m")], declared=[]
    )
    with pytest.raises(BalanceError, match="one series"):
        one_shot_alarms([_balance(0, 1.0, 1.0, 0.0), other], 0.05)


def test_overlapping_periods_are_not_a_series() -> None:
    """A test refuses periods out of order or overlapping."""
    with pytest.raises(BalanceError, match="in order"):
        cusum_alarms([_balance(1, 1.0, 1.0, 0.0), _balance(0, 1.0, 1.0, 0.0)], k=K, h=H, arl0=ARL0)


@pytest.mark.parametrize(("alpha", "arl0"), [(None, None), (0.05, 100.0), (None, 0.5), (1.5, None)])
def test_a_false_alarm_rate_is_one_valid_alpha_or_one_valid_arl(
    alpha: float | None, arl0: float | None
) -> None:
    """Exactly one of alpha in (0, 1) or an ARL of at least one period."""
    with pytest.raises(BalanceError):
        FalseAlarmRate(alpha=alpha, arl0=arl0)


def test_a_constant_loss_under_a_large_meter_bias_is_absorbed_as_bias() -> None:
    """A known limit (ADR 0024): 1 sigma_r lost every period from period 13, read by a meter
    whose bias sigma is 2 sigma_r, looks like bias. Its SITMUF residuals decay below k, so neither
    the CUSUM nor the cumulative test alarms, while the same loss with an exact meter alarms the
    CUSUM within 11 periods."""
    biased = [_balance(i, 1.0 if i >= 12 else 0.0, 1.0, 2.0) for i in range(36)]
    assert cusum_alarms(biased, k=K, h=H, arl0=ARL0) == ()
    assert cumulative_alarms(biased, 0.05) == ()
    exact = [_balance(i, 1.0 if i >= 12 else 0.0, 1.0, 0.0) for i in range(36)]
    assert cusum_alarms(exact, k=K, h=H, arl0=ARL0)[0].period == _period(22)


def test_every_test_runs_on_one_series_and_its_alarms_come_in_period_order() -> None:
    """balance_alarms runs the one-shot, cumulative and CUSUM tests and orders their alarms by
    period, then test."""
    series = [_balance(i, 4.0, 1.0, 0.0) for i in range(3)]
    alarms = balance_alarms(series, alpha=0.01, k=K, h=H, arl0=ARL0)
    assert [(a.period, a.test) for a in alarms] == [
        (_period(0), AlarmTest.ONE_SHOT),
        (_period(0), AlarmTest.CUMULATIVE),
        (_period(1), AlarmTest.ONE_SHOT),
        (_period(1), AlarmTest.CUMULATIVE),
        (_period(1), AlarmTest.CUSUM),
        (_period(2), AlarmTest.ONE_SHOT),
        (_period(2), AlarmTest.CUMULATIVE),
    ]


def test_exact_chip_balances_get_the_one_shot_test_and_no_cusum() -> None:
    """Chips counted from records (sigma 0): any chip missing alarms the one-shot test, and the
    series, having nothing to standardise, runs no CUSUM."""
    series = [
        chips_unaccounted(
            Level.PARTY, "P-1", _period(i), shipped=100, installed=0, retired=0, reporting=100 - i
        )
        for i in range(3)
    ]
    alarms = balance_alarms(series, alpha=0.01, k=K, h=H, arl0=ARL0)
    one_shot = [a for a in alarms if a.test is AlarmTest.ONE_SHOT]
    assert [a.period for a in one_shot] == [_period(1), _period(2)]
    assert "with no error to explain it" in one_shot[0].explanation
    assert all(a.test is not AlarmTest.CUSUM for a in alarms)
