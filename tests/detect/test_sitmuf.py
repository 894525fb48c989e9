"""SITMUF and the one-shot and cumulative tests: exact cases by hand, and false-alarm and
detection rates measured on simulated balances at fixed seeds.

The Monte Carlo bounds are several standard errors wide (stated beside each), so that the tests
do not depend on the seed; the seeds are fixed so that they do not flake either.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.detect._balance import (
    Balance,
    BalanceError,
    Level,
    Measurement,
    Period,
    Quantity,
    compute_unaccounted,
)
from pausewatch.detect._sitmuf import (
    cholesky,
    covariance,
    cumulative,
    detectable_loss,
    one_shot,
    sitmuf,
    z_quantile,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTH = timedelta(days=30)
METER = "meter:M-1"


def _period(i: int) -> Period:
    return Period(T0 + i * MONTH, T0 + (i + 1) * MONTH)


def _series(
    rng: random.Random,
    random_sigmas: list[float],
    systematic_sigma: float,
    *,
    loss: float = 0.0,
    source: str = METER,
) -> list[Balance]:
    """One honest world (plus ``loss`` undeclared per period): a meter whose calibration bias is
    drawn once and persists, and random errors drawn afresh each period."""
    bias = rng.gauss(0.0, 1.0)
    declared = 1000.0
    out = []
    for i, r in enumerate(random_sigmas):
        value = declared + loss + bias * systematic_sigma + rng.gauss(0.0, r)
        out.append(
            compute_unaccounted(
                Level.FACILITY,
                "F-1",
                _period(i),
                measured=[Measurement(value, r, systematic_sigma, source)],
                declared=[declared],
            )
        )
    return out


def _sample_covariance(rows: list[tuple[float, ...]]) -> list[list[float]]:
    n, m = len(rows), len(rows[0])
    means = [math.fsum(r[j] for r in rows) / n for j in range(m)]
    return [
        [math.fsum((r[i] - means[i]) * (r[j] - means[j]) for r in rows) / (n - 1) for j in range(m)]
        for i in range(m)
    ]


def test_sitmuf_of_two_periods_by_hand() -> None:
    """With var 25, 29 and cov 8: L = [[5, 0], [1.6, sqrt(26.44)]], y_1 = B_1/5 and
    y_2 = (B_2 - 1.6·y_1)/sqrt(26.44)."""
    meter = "meter:M-1"
    b1 = Measurement(10.0, 3.0, 4.0, meter).quantity()
    b2 = Measurement(-5.0, 5.0, 2.0, meter).quantity()
    s = sitmuf([b1, b2])
    l22 = math.sqrt(29 - 1.6**2)
    assert s.factor[0] == (5.0, 0.0)
    assert s.factor[1][0] == pytest.approx(1.6)
    assert s.factor[1][1] == pytest.approx(l22)
    assert s.residuals[0] == pytest.approx(2.0)
    assert s.residuals[1] == pytest.approx((-5.0 - 1.6 * 2.0) / l22)
    assert s.sigmas == (5.0, math.sqrt(29.0))


def _balances_strategy() -> st.SearchStrategy[list[Quantity]]:
    reading = st.builds(
        Measurement,
        st.floats(-100.0, 100.0),
        st.floats(0.1, 10.0),
        st.floats(0.0, 10.0),
        st.sampled_from(["meter:A", "meter:B", "counters:C"]),
    )
    return st.lists(
        st.lists(reading, min_size=1, max_size=3).map(
            lambda ms: sum((m.quantity() for m in ms), Quantity.exact(0.0))
        ),
        min_size=1,
        max_size=8,
    )


@given(_balances_strategy())
def test_the_factor_reproduces_the_covariance(balances: list[Quantity]) -> None:
    """L·Lᵀ equals the covariance the balances were standardised with."""
    s = sitmuf(balances)
    n = len(balances)
    for i in range(n):
        for j in range(n):
            product = math.fsum(s.factor[i][k] * s.factor[j][k] for k in range(n))
            assert math.isclose(product, s.covariance[i][j], rel_tol=1e-9, abs_tol=1e-9)


@given(_balances_strategy())
def test_sitmuf_of_a_period_does_not_depend_on_later_periods(balances: list[Quantity]) -> None:
    """SITMUF is sequential: the residuals of the first m balances are the first m residuals of
    the whole sequence (no look-ahead; a period's alarm stands once it is raised)."""
    whole = sitmuf(balances).residuals
    for m in range(1, len(balances) + 1):
        prefix = sitmuf(balances[:m]).residuals
        for a, b in zip(prefix, whole[:m], strict=True):
            assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_sitmuf_residuals_are_independent_standard_normal_under_no_loss() -> None:
    """On 4,000 honest worlds of 6 periods sharing a meter bias, the SITMUF residuals have unit
    variance (within 0.1; standard error 0.022) and no correlation (within 0.08; standard error
    0.016), while the balances divided by their own sigma are correlated by the bias."""
    rng = random.Random(20261)
    random_sigmas = [1.0, 2.0, 1.5, 0.5, 1.0, 3.0]
    systematic = 2.0
    worlds = [_series(rng, random_sigmas, systematic) for _ in range(4000)]
    standard = sitmuf(worlds[0])
    residuals = [standard.standardise([b.value for b in w]) for w in worlds]
    cov = _sample_covariance(residuals)
    for i in range(6):
        assert cov[i][i] == pytest.approx(1.0, abs=0.1)
        for j in range(i):
            assert abs(cov[i][j]) < 0.08
    naive = [tuple(b.value / b.sigma for b in w) for w in worlds]
    naive_cov = _sample_covariance(naive)
    # By hand: corr(B_1, B_2) = 4 / (sqrt(1 + 4)·sqrt(4 + 4)) = 0.632.
    assert naive_cov[0][1] == pytest.approx(4 / math.sqrt(5 * 8), abs=0.05)


def test_the_one_shot_false_alarm_rate_is_alpha_on_honest_balances() -> None:
    """On 20,000 honest balances the one-shot test at alpha = 0.05 alarms on 5% of them (within
    one point; standard error 0.15 point)."""
    rng = random.Random(16)
    balances = [
        _series(rng, [rng.uniform(0.5, 3.0)], rng.uniform(0.0, 2.0), source=f"meter:{i}")[0]
        for i in range(20000)
    ]
    rate = sum(t.alarm for t in one_shot(balances, 0.05)) / len(balances)
    assert rate == pytest.approx(0.05, abs=0.01)


def test_a_loss_of_z_alpha_plus_z_beta_sigma_is_detected_with_probability_one_minus_beta() -> None:
    """A loss of (z(1-alpha) + z(1-beta))·sigma, alpha = 0.05 and beta = 0.1, alarms the one-shot
    test 90% of the time (within 2.5 points over 5,000 balances; standard error 0.42 point)."""
    rng = random.Random(17)
    sigma_r, sigma_s = 1.2, 1.6
    sigma = math.hypot(sigma_r, sigma_s)
    loss = detectable_loss(sigma, 0.05, 0.1)
    assert loss == pytest.approx((1.6449 + 1.2816) * sigma, rel=1e-4)
    balances = [
        _series(rng, [sigma_r], sigma_s, loss=loss, source=f"meter:{i}")[0] for i in range(5000)
    ]
    rate = sum(t.alarm for t in one_shot(balances, 0.05)) / len(balances)
    assert rate == pytest.approx(0.9, abs=0.025)


def test_the_cumulative_test_counts_a_shared_bias_once_per_source() -> None:
    """The running sum of two balances read by one meter has variance r1² + r2² + (s1 + s2)²."""
    b1 = Measurement(3.0, 1.0, 2.0, METER).quantity()
    b2 = Measurement(4.0, 2.0, 1.0, METER).quantity()
    second = cumulative([b1, b2], 0.05)[1]
    assert second.statistic == 7.0
    assert second.sigma == pytest.approx(math.sqrt(1 + 4 + 9))
    assert second.threshold == pytest.approx(z_quantile(0.05) * math.sqrt(14))


def test_an_exact_balance_alarms_the_one_shot_test_on_any_shortfall() -> None:
    """A balance with sigma 0 (exact counts) alarms above zero and not at zero."""
    tests = one_shot([Quantity.exact(1.0), Quantity.exact(0.0)], 0.01)
    assert [t.alarm for t in tests] == [True, False]


def test_a_balance_without_error_cannot_be_standardised() -> None:
    """SITMUF of a singular covariance (an exact balance) is refused with the period named."""
    with pytest.raises(BalanceError, match="period 2"):
        sitmuf([Measurement(1.0, 1.0, 0.0, METER).quantity(), Quantity.exact(3.0)])


def test_a_matrix_that_is_not_square_is_refused() -> None:
    """The factorisation refuses rows of unequal length."""
    with pytest.raises(BalanceError, match="square"):
        cholesky(((1.0, 0.0), (0.0,)))


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, math.nan])
def test_a_false_alarm_rate_must_lie_strictly_between_zero_and_one(alpha: float) -> None:
    """alpha outside (0, 1) is refused."""
    with pytest.raises(BalanceError):
        z_quantile(alpha)


def test_covariance_of_balances_is_symmetric() -> None:
    """The covariance matrix of balances sharing two sources is symmetric."""
    qs = [
        Measurement(1.0, 1.0, 1.0, "a").quantity() + Measurement(0.0, 0.0, 2.0, "b").quantity(),
        Measurement(1.0, 2.0, 0.5, "a").quantity(),
        Measurement(1.0, 1.0, 3.0, "b").quantity(),
    ]
    cov = covariance(qs)
    assert all(cov[i][j] == cov[j][i] for i in range(3) for j in range(3))
