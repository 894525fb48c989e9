"""CUSUM average run lengths against published tables (issue 16, item 5).

Published figures, each cited where it is used:

- Brook, D. and Evans, D. A. (1972), "An approach to the probability distribution of cusum run
  length", Biometrika 59, 539-548, subsection 4.3: one-sided, k = 0.5, h = 3: ARL 117.59 in
  control and 3.75 at a shift of 1.5 (their Markov chain, a little less accurate).
- Vance, L. C. (1986), "Average run lengths of cumulative sum control charts for controlling
  normal means", Journal of Quality Technology 18, 189-193, Table 1 (with Goel and Wu's 1971
  figures): one-sided, k = 0, h = 10.
- Waldmann, K.-H. (1986), "Bounds for the distribution of the run length of one-sided and
  two-sided CUSUM quality control schemes", Technometrics 28, 61-67, Tables 1, 3 and 5:
  one-sided, k = 0.5, h = 3.
- SAS/QC User's Guide (1999), CUSUM ARL example: one-sided, k = 0.25, h = 8, shift 2.5:
  4.1500836225, and 4.1061588131 with a head start of 0.1 (ten digits).
- Lucas, J. M. and Crosier, R. B. (1982), "Fast initial response for CUSUM quality-control
  schemes: give your CUSUM a head start", Technometrics 24, 199-205, Table 1: the two-sided
  tabular CUSUM with k = 0.5, h = 4 (168 in control, 8.38 at a shift of 1), the table
  Montgomery reprints in Introduction to Statistical Quality Control (chapter on the CUSUM,
  "ARL performance of the tabular CUSUM with k = 1/2 and h = 4 or h = 5"), whose h = 5 column
  gives 465 in control and 10.4 at a shift of 1. These are two-sided figures: the one-sided
  scheme's in-control ARL is twice as long (336 and 931).

These figures were taken as reprinted in the examples of Knoth's R package ``spc``
(``xcusum.arl``), which cites each source with its table.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.detect import (
    cusum_arl,
    cusum_arl_markov,
    cusum_run_length,
    decision_interval,
    two_sided_arl,
)
from pausewatch.errors import DetectionError

ONE_PERCENT = 0.01


@pytest.mark.parametrize(
    ("shift", "published"),
    [
        (-0.25, 2071.51),
        (-0.125, 400.28),
        (0.0, 124.66),
        (0.125, 59.30),
        (0.25, 36.71),
        (0.5, 20.37),
        (0.75, 14.06),
        (1.0, 10.75),
    ],
)
def test_vance_table_one(shift: float, published: float) -> None:
    """One-sided, k = 0, h = 10: Vance (1986) Table 1, to 1% (in fact to 0.05%)."""
    assert cusum_arl(k=0.0, h=10.0, shift=shift) == pytest.approx(published, rel=5e-4)


@pytest.mark.parametrize(("shift", "published"), [(0.0, 117.59), (1.5, 3.75)])
def test_brook_and_evans(shift: float, published: float) -> None:
    """One-sided, k = 0.5, h = 3: Brook and Evans (1972), subsection 4.3, to 1%."""
    assert cusum_arl(k=0.5, h=3.0, shift=shift) == pytest.approx(published, rel=ONE_PERCENT)


@pytest.mark.parametrize(("shift", "published"), [(-0.5, 1963.0), (0.0, 117.4), (0.5, 17.35)])
def test_waldmann(shift: float, published: float) -> None:
    """One-sided, k = 0.5, h = 3: Waldmann (1986) Tables 3, 1 and 5, to 1%."""
    assert cusum_arl(k=0.5, h=3.0, shift=shift) == pytest.approx(published, rel=ONE_PERCENT)


def test_sas_ten_digits() -> None:
    """One-sided, k = 0.25, h = 8, shift 2.5: the SAS/QC figures to eight significant digits,
    from zero and from a head start of 0.1."""
    assert cusum_arl(k=0.25, h=8.0, shift=2.5) == pytest.approx(4.1500836225, rel=1e-7)
    assert cusum_arl(k=0.25, h=8.0, shift=2.5, start=0.1) == pytest.approx(4.1061588131, rel=1e-7)


@pytest.mark.parametrize(
    ("shift", "published"),
    [
        (0.0, 168.0),
        (0.25, 74.2),
        (0.5, 26.6),
        (0.75, 13.3),
        (1.0, 8.38),
        (1.5, 4.75),
        (2.0, 3.34),
        (2.5, 2.62),
        (3.0, 2.19),
        (4.0, 1.71),
        (5.0, 1.31),
    ],
)
def test_lucas_crosier_two_sided_h4(shift: float, published: float) -> None:
    """Two-sided, k = 0.5, h = 4: Lucas and Crosier (1982) Table 1 (Montgomery's table), to 1%."""
    assert two_sided_arl(k=0.5, h=4.0, shift=shift) == pytest.approx(published, rel=ONE_PERCENT)


@pytest.mark.parametrize(("shift", "published"), [(0.0, 465.0), (1.0, 10.4)])
def test_montgomery_two_sided_h5(shift: float, published: float) -> None:
    """Two-sided, k = 0.5, h = 5: Montgomery's table, to 1%."""
    assert two_sided_arl(k=0.5, h=5.0, shift=shift) == pytest.approx(published, rel=ONE_PERCENT)


def test_one_sided_in_control_is_twice_the_two_sided() -> None:
    """The one-sided scheme's in-control ARL is twice the two-sided one (336 for h = 4, 931 for
    h = 5): Montgomery's 168 and 465 are two-sided figures; out of control they coincide."""
    for h, two in ((4.0, 168.0), (5.0, 465.0)):
        assert cusum_arl(k=0.5, h=h) == pytest.approx(2 * two, rel=ONE_PERCENT)
    assert cusum_arl(k=0.5, h=4.0, shift=1.0) == pytest.approx(8.38, rel=ONE_PERCENT)


def _siegmund(k: float, h: float, shift: float) -> float:
    """Siegmund's (1985) approximation of the one-sided ARL, b = h + 1.166."""
    delta, b = shift - k, h + 1.166
    if delta == 0:
        return b * b
    return (math.exp(-2 * delta * b) + 2 * delta * b - 1) / (2 * delta * delta)


@pytest.mark.parametrize("h", [3.0, 4.0, 5.0, 8.0, 10.0])
@pytest.mark.parametrize("shift", [0.0, 0.25, 0.5, 0.75, 1.0, 1.5])
def test_siegmund_approximation_agrees(h: float, shift: float) -> None:
    """Siegmund's closed-form approximation, an independent formula, agrees to 3% over the
    usual designs (k = 0.5, h from 3 to 10, shifts up to 1.5)."""
    assert cusum_arl(k=0.5, h=h, shift=shift) == pytest.approx(_siegmund(0.5, h, shift), rel=0.03)


@pytest.mark.parametrize(
    ("k", "h", "shift"),
    [(0.5, 4.0, 0.0), (0.5, 5.0, 1.0), (0.0, 10.0, -0.25), (1.0, 2.5, 0.5), (0.25, 8.0, 2.5)],
)
def test_markov_chain_agrees_with_the_integral_equation(k: float, h: float, shift: float) -> None:
    """Brook and Evans's Markov chain (400 states), an independent method, agrees to 0.05%."""
    assert cusum_arl_markov(k=k, h=h, shift=shift) == pytest.approx(
        cusum_arl(k=k, h=h, shift=shift), rel=5e-4
    )


def test_accuracy_estimate_is_small() -> None:
    """The quadrature's own accuracy estimate (n against 2n nodes) is far below 1e-6."""
    run = cusum_run_length(k=0.5, h=5.0, shift=0.0)
    assert run.accuracy < 1e-6
    assert run.nodes >= 48


@settings(max_examples=40, deadline=None)
@given(
    k=st.floats(0.0, 1.0),
    h=st.floats(0.5, 6.0),
    shift=st.floats(-0.25, 3.0),
    step=st.floats(0.05, 1.0),
)
def test_arl_falls_with_the_shift_and_rises_with_h(
    k: float, h: float, shift: float, step: float
) -> None:
    """A larger shift is detected sooner; a wider decision interval alarms later."""
    base = cusum_arl(k=k, h=h, shift=shift)
    assert cusum_arl(k=k, h=h, shift=shift + step) < base
    assert cusum_arl(k=k, h=h + step, shift=shift) > base


def test_decision_interval_hits_the_target() -> None:
    """decision_interval gives the h whose in-control ARL is the target: 740 one-sided periods
    at k = 0.5 is h = 4.77, Montgomery's h for a two-sided ARL of 370."""
    h = decision_interval(k=0.5, in_control_arl=740.0)
    assert cusum_arl(k=0.5, h=h) == pytest.approx(740.0, rel=1e-8)
    assert h == pytest.approx(4.77, abs=0.01)
    assert two_sided_arl(k=0.5, h=h) == pytest.approx(370.0, rel=ONE_PERCENT)


def test_decision_interval_refuses_a_target_below_h_zero() -> None:
    """No h gives an in-control ARL below that of h = 0 (1 / P(X > k)): refused."""
    with pytest.raises(DetectionError, match="in-control ARL"):
        decision_interval(k=0.5, in_control_arl=2.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0.5, "h": 0.0}, "decision interval"),
        ({"k": 0.5, "h": -1.0}, "decision interval"),
        ({"k": float("nan"), "h": 4.0}, "k: expected a finite number"),
        ({"k": 0.5, "h": 4.0, "shift": float("inf")}, "shift"),
        ({"k": 0.5, "h": 4.0, "start": 5.0}, "head start"),
        ({"k": 0.5, "h": 10.0, "shift": -3.0}, "beyond what double precision"),
    ],
)
def test_bad_schemes_are_refused(kwargs: dict[str, float], message: str) -> None:
    """Non-positive h, non-finite k or shift, a head start outside [0, h], or a run length too
    long to compute reliably raise DetectionError."""
    with pytest.raises(DetectionError, match=message):
        cusum_arl(**kwargs)
