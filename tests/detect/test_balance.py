"""Balances: values, error loadings and their covariance, and energy converted to FLOP."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.compute import COUNTER_TOLERANCE, PLAUSIBLE_EFFICIENCY, load_catalogue
from pausewatch.detect._balance import (
    Balance,
    BalanceError,
    BalanceKind,
    Efficiency,
    Level,
    Measurement,
    Period,
    Quantity,
    chips_unaccounted,
    compute_unaccounted,
    counter_reading,
    covariance_of,
    energy_unaccounted,
    fleet_flop_per_joule,
    flop_from_energy,
    roll_up,
)
from pausewatch.detect._sitmuf import covariance

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONTH = timedelta(days=30)


def _period(i: int) -> Period:
    return Period(T0 + i * MONTH, T0 + (i + 1) * MONTH)


def test_two_period_covariance_with_a_shared_meter_bias() -> None:
    """Two periods read by one meter covary by the product of their systematic sigmas only."""
    meter = "meter:M-1"
    b1 = compute_unaccounted(
        Level.FACILITY,
        "F-1",
        _period(0),
        measured=[Measurement(110.0, 3.0, 4.0, meter)],
        declared=[100.0],
    )
    b2 = compute_unaccounted(
        Level.FACILITY,
        "F-1",
        _period(1),
        measured=[Measurement(95.0, 5.0, 2.0, meter)],
        declared=[100.0],
    )
    # By hand: var_1 = 3² + 4² = 25, var_2 = 5² + 2² = 29, cov = 4 · 2 = 8.
    assert covariance([b1, b2]) == ((25.0, 8.0), (8.0, 29.0))
    assert (b1.value, b2.value) == (10.0, -5.0)


def test_two_meters_do_not_share_a_bias() -> None:
    """Readings of different sources have independent systematic errors: no covariance."""
    a = Measurement(1.0, 1.0, 2.0, "meter:A").quantity()
    b = Measurement(1.0, 1.0, 2.0, "meter:B").quantity()
    assert covariance_of(a, b) == 0.0


def test_an_inventory_that_closes_one_period_and_opens_the_next_correlates_them() -> None:
    """MUF_1 = I_0 + R_1 - I_1 and MUF_2 = I_1 + R_2 - I_2 covary by -var(I_1) (Jaech, ch. 3)."""
    i0 = Measurement(50.0, 1.0, 0.0, "scale", reading="I0")
    i1 = Measurement(52.0, 2.0, 0.0, "scale", reading="I1")
    i2 = Measurement(49.0, 1.5, 0.0, "scale", reading="I2")
    r1 = Measurement(10.0, 0.5, 0.0, "flow", reading="R1")
    r2 = Measurement(10.0, 0.5, 0.0, "flow", reading="R2")
    muf1 = i0.quantity() + r1.quantity() - i1.quantity()
    muf2 = i1.quantity() + r2.quantity() - i2.quantity()
    assert covariance([muf1, muf2]) == ((1.0 + 0.25 + 4.0, -4.0), (-4.0, 4.0 + 0.25 + 2.25))


def test_a_reading_without_an_id_is_its_own_draw_each_time() -> None:
    """The same reading used twice without an id counts its random error as two draws."""
    m = Measurement(10.0, 3.0, 0.0, "meter:A")
    assert covariance_of(m.quantity(), m.quantity()) == 0.0


_sigmas = st.floats(0.0, 1e3, allow_nan=False)
_values = st.floats(-1e6, 1e6, allow_nan=False)


@given(_values, _sigmas, _sigmas, st.sampled_from(["meter:A", "meter:B"]))
def test_subtracting_the_same_reading_cancels_its_whole_error(
    value: float, random_sigma: float, systematic_sigma: float, source: str
) -> None:
    """A reading less itself has value zero and variance zero, its random and systematic parts
    both cancelled."""
    q = Measurement(value, random_sigma, systematic_sigma, source, reading="r").quantity()
    diff = q - q
    assert diff.value == 0.0
    assert diff.variance == 0.0


@given(_values, _sigmas, _sigmas, _values, _sigmas, _sigmas)
def test_independent_errors_add_in_variance(
    v1: float, r1: float, s1: float, v2: float, r2: float, s2: float
) -> None:
    """Two readings of different sources: the variance of their difference is the sum of theirs."""
    a = Measurement(v1, r1, s1, "meter:A").quantity()
    b = Measurement(v2, r2, s2, "meter:B").quantity()
    expected = r1**2 + s1**2 + r2**2 + s2**2
    assert math.isclose((a - b).variance, expected, rel_tol=1e-9, abs_tol=1e-9)


@given(_values, _sigmas, _sigmas, st.floats(0.1, 10.0))
def test_a_shared_bias_adds_linearly_not_in_quadrature(
    value: float, random_sigma: float, systematic_sigma: float, c: float
) -> None:
    """The sum of two readings of one source holds the source's bias twice: (s + s)², not 2s²."""
    a = Measurement(value, random_sigma, systematic_sigma, "meter:A").quantity()
    b = Measurement(value, random_sigma, systematic_sigma, "meter:A").quantity()
    total = a * c + b * c
    expected = c**2 * (2 * random_sigma**2 + 4 * systematic_sigma**2)
    assert math.isclose(total.variance, expected, rel_tol=1e-9, abs_tol=1e-9)


def test_compute_unaccounted_is_measured_minus_declared() -> None:
    """CUF sums every counter reading and every declared workload, and subtracts."""
    b = compute_unaccounted(
        Level.CLUSTER,
        "C-1",
        _period(0),
        measured=[Measurement(6e23, 1e21, 2e21, "counters:C-1"), 1e23],
        declared=[4e23, 2e23],
        evidence=["17", "18"],
    )
    assert b.kind is BalanceKind.COMPUTE_COUNTERS
    assert b.value == pytest.approx(1e23)
    assert b.sigma == pytest.approx(math.hypot(1e21, 2e21))
    assert b.unit == "FLOP"
    assert b.evidence == ("17", "18")


def test_energy_unaccounted_is_the_meter_less_the_chips_and_the_overheads() -> None:
    """EUF = meter - (sum of chips' reported energy + overheads), with every error carried."""
    b = energy_unaccounted(
        Level.FACILITY,
        "F-1",
        _period(0),
        meter=[Measurement(1.0e12, 1e9, 5e9, "meter:M-1")],
        chips_reported=[Measurement(4e11, 4e8, 0.0, "chips:F-1"), 3e11],
        overheads=Measurement(2e11, 0.0, 1e10, "overheads:F-1"),
    )
    assert b.kind is BalanceKind.ENERGY
    assert b.value == pytest.approx(1e11)
    assert b.sigma == pytest.approx(math.sqrt(1e18 + 25e18 + 16e16 + 1e20))
    assert b.unit == "J"


def test_chips_unaccounted_is_shipped_less_installed_retired_and_reporting() -> None:
    """Exact counts give an exact balance: 3 chips shipped are nowhere, with sigma 0."""
    b = chips_unaccounted(
        Level.OPERATOR,
        "op-1",
        _period(0),
        shipped=1000,
        installed=120,
        retired=5,
        reporting=872,
    )
    assert (b.value, b.sigma, b.unit) == (3.0, 0.0, "chips")


def test_efficiency_from_an_interval_is_uniform_on_it() -> None:
    """The plausible efficiency interval becomes its midpoint with sigma = width / sqrt(12)."""
    e = Efficiency.from_interval("efficiency:F-1")
    lo, hi = PLAUSIBLE_EFFICIENCY
    assert e.mean == pytest.approx((lo + hi) / 2)
    assert e.sigma == pytest.approx((hi - lo) / math.sqrt(12))


def test_energy_converts_to_flop_with_the_catalogue_and_its_uncertainty() -> None:
    """FLOP = (meter - overheads)·eta·peak/TDP; the meter's and eta's errors carry through."""
    h100 = load_catalogue().get("H100")
    assert h100.tdp_w is not None
    per_joule = h100.peak("bf16") / h100.tdp_w
    meter = Measurement(1.0e10, 1e8, 2e8, "meter:M-1")
    flop = flop_from_energy(meter, 2.0e9, {h100: 8}, "bf16", Efficiency(0.5, 0.1, "efficiency:F-1"))
    assert flop.value == pytest.approx(8.0e9 * 0.5 * per_joule)
    # Delta method by hand: the meter scaled by eta·peak/TDP, eta's sigma by net·peak/TDP.
    assert flop.systematic["meter:M-1"] == pytest.approx(2e8 * 0.5 * per_joule)
    assert flop.systematic["efficiency:F-1"] == pytest.approx(8.0e9 * 0.1 * per_joule)
    assert flop.random_variance == pytest.approx((1e8 * 0.5 * per_joule) ** 2)


def test_a_mixed_fleet_converts_at_its_tdp_weighted_flop_per_joule() -> None:
    """Energy shared by TDP: a fleet converts at sum(n·peak) / sum(n·TDP)."""
    cat = load_catalogue()
    a100, h100 = cat.get("A100"), cat.get("H100")
    assert a100.tdp_w is not None
    assert h100.tdp_w is not None
    expected = (4 * a100.peak("bf16") + 2 * h100.peak("bf16")) / (4 * a100.tdp_w + 2 * h100.tdp_w)
    assert fleet_flop_per_joule({a100: 4, h100: 2}, "bf16") == pytest.approx(expected)


def test_a_chip_without_a_published_tdp_cannot_convert_energy() -> None:
    """A fleet with a chip whose TDP is unknown is refused with the chip named."""
    cat = load_catalogue()
    no_tdp = [c for c in cat if c.tdp_w is None]
    if not no_tdp:
        pytest.skip("the catalogue publishes a TDP for every chip")
    with pytest.raises(BalanceError, match=no_tdp[0].name):
        fleet_flop_per_joule({no_tdp[0]: 1}, no_tdp[0].precisions[0])


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (T0, T0),
        (T0 + MONTH, T0),
        (T0.replace(tzinfo=None), T0 + MONTH),
        (T0.astimezone(timezone(timedelta(hours=2))), T0 + MONTH),
    ],
)
def test_a_period_is_a_nonempty_utc_interval(start: datetime, end: datetime) -> None:
    """A period that is empty, reversed, naive or not in UTC is refused."""
    with pytest.raises(BalanceError):
        Period(start, end)


@pytest.mark.parametrize(("r", "s"), [(-1.0, 0.0), (0.0, -1.0), (math.nan, 0.0), (0.0, math.inf)])
def test_a_measurement_refuses_a_sigma_that_is_not_a_finite_nonnegative_number(
    r: float, s: float
) -> None:
    """A negative, infinite or NaN sigma is refused."""
    with pytest.raises(BalanceError):
        Measurement(1.0, r, s, "meter:A")


def test_an_exact_quantity_has_no_error() -> None:
    """A declared figure carries no error."""
    assert Quantity.exact(5.0).variance == 0.0


def test_an_operator_balance_sums_its_facilities_with_shared_sources_counted_once() -> None:
    """Two facilities with one shared calibration source roll up to their sum; the shared
    systematic sigmas add linearly (2 + 3)², the independent random ones in quadrature."""
    f1 = compute_unaccounted(
        Level.FACILITY,
        "F-1",
        _period(0),
        measured=[Measurement(10.0, 1.0, 2.0, "lab:L-1")],
        declared=[8.0],
        evidence=["1"],
    )
    f2 = compute_unaccounted(
        Level.FACILITY,
        "F-2",
        _period(0),
        measured=[Measurement(20.0, 1.0, 3.0, "lab:L-1")],
        declared=[21.0],
        evidence=["2", "1"],
    )
    op = roll_up(Level.OPERATOR, "op-1", [f1, f2])
    assert (op.level, op.subject, op.value) == (Level.OPERATOR, "op-1", 1.0)
    assert op.sigma == pytest.approx(math.sqrt(1 + 1 + 25))
    assert op.evidence == ("1", "2")


def test_balances_of_different_periods_do_not_roll_up() -> None:
    """A roll-up refuses balances of different periods."""
    a = compute_unaccounted(Level.FACILITY, "F-1", _period(0), measured=[1.0], declared=[])
    b = compute_unaccounted(Level.FACILITY, "F-2", _period(1), measured=[1.0], declared=[])
    with pytest.raises(BalanceError, match="one kind and period"):
        roll_up(Level.OPERATOR, "op-1", [a, b])


def test_a_counter_reading_carries_the_counters_tolerance_as_a_random_error() -> None:
    """Counted FLOP is read to within ±COUNTER_TOLERANCE, uniform: sigma = value·tol/sqrt(3)."""
    m = counter_reading(1e24, "C-1", reading="7")
    assert m.random_sigma == pytest.approx(1e24 * COUNTER_TOLERANCE / math.sqrt(3))
    assert (m.systematic_sigma, m.source, m.reading) == (0.0, "counters:C-1", "7")


def _facility_euf(hidden_chips: int) -> Balance:
    month_s = 30 * 86400.0
    hidden = hidden_chips * 700.0 * 0.8 * month_s
    reported, overheads = 8.0e12, 1.2e12
    return energy_unaccounted(
        Level.FACILITY,
        "F-1",
        _period(0),
        meter=[Measurement.relative(reported + overheads + hidden, 0.005, 0.01, "meter:M-1")],
        chips_reported=[reported],
        overheads=Measurement.relative(overheads, 0.0, 0.02, "overheads:F-1"),
    )


def test_a_hidden_cluster_shows_in_its_facilitys_energy_balance() -> None:
    """640 unreported H100 drawing 80% of 700 W for 30 days add 9.3e11 J to a meter good to 0.5%
    random and 1% systematic on about 1e13 J: the EUF stands near 8 sigma. 64 such chips stay
    within 1 sigma: the meter's accuracy bounds the hidden cluster it can see."""
    big = _facility_euf(640)
    assert big.value == pytest.approx(640 * 700.0 * 0.8 * 30 * 86400.0)
    assert 7.0 < big.value / big.sigma < 9.0
    small = _facility_euf(64)
    assert small.value / small.sigma < 1.0
