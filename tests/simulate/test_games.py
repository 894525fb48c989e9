"""Dresher's sequential game, the simultaneous game and the sweep (pausewatch.simulate.games),
against values computed independently: by hand, and with nashpy."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pausewatch.simulate.games import (
    MAX_PERIODS,
    MAX_SWEEP_POINTS,
    _nashpy_agrees,
    _penalty,
    dresher,
    dresher_table,
    dresher_value,
    simultaneous,
    solve_stage,
    sweep,
)
from pausewatch.simulate.inspection import GameError, assess

F = Fraction


@pytest.mark.parametrize("b", [F(0), F(1), F(1, 3), F(7, 2), F(10)])
def test_dresher_by_hand(b: Fraction) -> None:
    """Worked by hand from the stage game [[-b, v(n-1,m-1)], [1, v(n-1,m)]]:
    v(2,1) = 1/(2+b); v(3,1) = 2/(3+b); v(3,2) = 1/(b^2+3b+3); the first period of (n, 1) is
    inspected and violated with probability 1/(n+b); v(n, 0) = 1 and v(n, m >= n) = 0."""
    assert dresher_value(2, 1, b) == 1 / (2 + b)
    assert dresher_value(3, 1, b) == 2 / (3 + b)
    assert dresher_value(3, 2, b) == 1 / (b * b + 3 * b + 3)
    for n in (2, 3, 4, 7):
        r = dresher(n, 1, b)
        assert r.value == F(n - 1) / (n + b)
        assert r.inspect_probability == 1 / (n + b)
        assert r.violate_probability == 1 / (n + b)
        assert r.agree
    assert dresher(5, 0, b).value == 1
    assert dresher(5, 5, b).value == 0
    assert dresher(5, 7, b).value == 0


def test_dresher_with_unit_penalty() -> None:
    """With b = 1: v(3,2) = 1/7 and v(4,2) = 3/11 (C(3,2) / (1 + 4 + 6))."""
    assert dresher(3, 2, 1).value == F(1, 7)
    assert dresher(4, 2, 1).value == F(3, 11)
    assert dresher(4, 2, "1").value_closed_form == F(3, 11)


def _nashpy_values(n_max: int, b: float) -> dict[tuple[int, int], tuple[float, float, float]]:
    """The game solved stage by stage with nashpy alone: value and first-period strategies."""
    nashpy = pytest.importorskip("nashpy")
    v: dict[tuple[int, int], tuple[float, float, float]] = {}
    for n in range(0, n_max + 1):
        for m in range(0, n_max + 1):
            if m >= n:
                v[n, m] = (0.0, 1.0, 0.0)
                continue
            if m == 0:
                v[n, m] = (1.0, 0.0, 1.0)
                continue
            a = np.array([[-b, v[n - 1, m - 1][0]], [1.0, v[n - 1, m][0]]])
            # nashpy takes both players as maximisers: the inspector's payoff is -a.
            (rows, cols) = next(iter(nashpy.Game(-a, a).support_enumeration()))
            v[n, m] = (float(rows @ a @ cols), float(rows[0]), float(cols[0]))
    return v


@pytest.mark.parametrize("b", [0.5, 1.0, 3.0])
def test_dresher_against_nashpy(b: float) -> None:
    """Every stage solved with nashpy's support enumeration gives the same value and
    first-period probabilities as both of our computations, for n <= 8."""
    reference = _nashpy_values(8, b)
    for n in range(1, 9):
        for m in range(0, n + 1):
            r = dresher(n, m, b)
            value, inspect, violate = reference[n, m]
            assert float(r.value) == pytest.approx(value, abs=1e-12)
            assert float(r.value_closed_form) == pytest.approx(value, abs=1e-12)
            assert float(r.inspect_probability) == pytest.approx(inspect, abs=1e-12)
            assert float(r.violate_probability) == pytest.approx(violate, abs=1e-12)


@given(
    st.integers(1, 25),
    st.integers(0, 27),
    st.fractions(min_value=0, max_value=20, max_denominator=12),
)
@settings(max_examples=150, deadline=None)
def test_backward_induction_equals_closed_form(n: int, m: int, b: Fraction) -> None:
    """Backward induction and von Stengel's closed form agree exactly, value and first-period
    strategies."""
    r = dresher(n, m, b)
    assert r.value == r.value_closed_form
    assert r.agree


@given(st.integers(2, 20), st.fractions(min_value=0, max_value=20, max_denominator=12))
@settings(max_examples=60, deadline=None)
def test_value_falls_with_inspections_and_penalty(n: int, b: Fraction) -> None:
    """One more inspection, or a larger penalty, never raises the inspectee's value."""
    table = dresher_table(n, n, b)
    for m in range(n):
        assert table[n][m + 1] <= table[n][m]
        assert dresher_value(n, m, b + 1) <= table[n][m]


def test_stage_with_saddle_point_is_pure() -> None:
    """A stage with a saddle point is solved in pure strategies: in [[-1, 2], [1, 3]] the
    inspector inspects (its worst case 2 against 3) and the inspectee waits (2 against -1)."""
    s = solve_stage(F(-1), F(1), F(2), F(3))
    assert (s.value, s.inspect_probability, s.violate_probability) == (F(2), F(1), F(0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1, 1), "periods must be a whole number at least 1"),
        ((3, -1, 1), "inspections must be a whole number at least 0"),
        ((3, 1, -1), "penalty must be at least 0"),
        ((3, 1, "x"), "penalty must be a number or a fraction"),
        ((501, 1, 1), "periods must be at most 500"),
    ],
)
def test_dresher_refuses_bad_input(args: tuple[int, int, object], message: str) -> None:
    """Each bad parameter is one GameError naming it."""
    with pytest.raises(GameError, match=message):
        dresher(*args)  # type: ignore[arg-type]


STAKES = {
    "detection": 0.9,
    "false_alarm_rate": 0.05,
    "false_alarm_cost": 1.0,
    "inspection_cost": 0.1,
    "damage": 5.0,
    "detected_loss": 1.0,
}


def test_simultaneous_mixed_equilibrium_by_hand() -> None:
    """d=1, b=2, 1-beta=0.9, alpha=0.05, h=1, e=0.1, c=5, a=1: p* = 1/(0.9*3 - 0.05) = 1/2.65,
    q* = 0.1/(0.9*4) = 1/36; nashpy finds the same equilibrium."""
    g = simultaneous(1, 2, **STAKES)
    assert g.kind == "mixed"
    assert g.inspect_probability == pytest.approx(1 / 2.65)
    assert g.violate_probability == pytest.approx(1 / 36)
    assert g.inspector_payoff == pytest.approx(-5 / 36)
    assert g.inspectee_payoff == pytest.approx(-0.05 / 2.65)
    assert g.nashpy_agrees is True


@pytest.mark.parametrize("b", [0.5, 2.0, 8.0, 50.0])
def test_simultaneous_against_nashpy(b: float) -> None:
    """nashpy's support enumeration, run here on the payoffs written out afresh, finds the
    closed-form equilibrium as its only one."""
    nashpy = pytest.importorskip("nashpy")
    p, c, e, a, h, alpha, d = 0.9, 5.0, 0.1, 1.0, 1.0, 0.05, 1.0
    inspector = np.array([[-e - p * a - (1 - p) * c, -e], [-c, 0.0]])
    inspectee = np.array([[(1 - p) * d - p * b, -alpha * h], [d, 0.0]])
    found = list(nashpy.Game(inspector, inspectee).support_enumeration())
    assert len(found) == 1
    rows, cols = found[0]
    g = simultaneous(d, b, **STAKES)
    assert g.inspect_probability == pytest.approx(rows[0])
    assert g.violate_probability == pytest.approx(cols[0])


def test_the_paradox() -> None:
    """A larger penalty lowers the equilibrium inspection rate and leaves the violation rate
    where it was; under leadership violation is 0 whatever the penalty."""
    games = [simultaneous(1, b, **STAKES) for b in (2, 4, 8, 16)]
    inspect = [g.inspect_probability for g in games]
    assert inspect == sorted(inspect, reverse=True)
    assert len(set(inspect)) == 4
    assert {g.violate_probability for g in games} == {games[0].violate_probability}
    assert all(g.leader_violate_probability == 0 for g in games)
    assert all(g.leader_inspector_payoff > g.inspector_payoff for g in games)


def test_weak_detection_leaves_a_pure_violation() -> None:
    """When even certain inspection cannot deter, the inspectee violates; the inspector
    inspects only if that pays, and leadership changes nothing."""
    g = simultaneous(1, 0.5, detection=0.5, inspection_cost=0.1, damage=5)
    assert (g.kind, g.inspect_probability, g.violate_probability) == ("violate, inspect", 1, 1)
    assert g.leader_violate_probability == 1
    assert g.nashpy_agrees is True
    g = simultaneous(1, 0.5, detection=0.5, inspection_cost=10, damage=5)
    assert (g.kind, g.inspect_probability) == ("violate, no inspection", 0)
    assert g.nashpy_agrees is True


@given(
    st.floats(0.1, 10),
    st.one_of(st.just(0.0), st.floats(1e-3, 50)),
    st.floats(0.05, 1.0),
    st.floats(0.01, 1),
    st.floats(0.5, 20),
)
@settings(max_examples=100, deadline=None)
def test_simultaneous_always_agrees_with_nashpy(
    d: float, b: float, detection: float, e: float, c: float
) -> None:
    """Wherever the game lands (mixed or pure), nashpy finds the closed form's equilibrium
    (penalties of 0 or from 1e-3 times the gain: a penalty of 1e-38 is below any solver's
    tolerance, the game degenerate in floating point)."""
    pytest.importorskip("nashpy")
    g = simultaneous(d, b, detection=detection, inspection_cost=e, damage=c)
    assert g.nashpy_agrees is True


def test_simultaneous_refuses_bad_input() -> None:
    """A detected violation costing the inspector more than an undetected one is refused."""
    with pytest.raises(GameError, match="detected_loss must be at most damage"):
        simultaneous(1, 1, inspection_cost=1, damage=1, detected_loss=2)
    with pytest.raises(GameError, match="inspection_cost must be positive"):
        simultaneous(1, 1, inspection_cost=0, damage=1)
    with pytest.raises(GameError, match="damage must be a finite number"):
        simultaneous(1, 1, inspection_cost=1, damage=float("inf"))


def test_sweep_default_grid_and_progress() -> None:
    """The default grid holds at least 10,000 points; progress reaches the total."""
    seen: list[tuple[int, int]] = []
    s = sweep(progress=lambda done, total: seen.append((done, total)))
    assert s.points >= 10_000
    assert seen[-1] == (s.points, s.points)
    assert s.margin.shape == s.deterred.shape == s.required_detection.shape


@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=4),
    st.lists(st.floats(0, 50), min_size=1, max_size=4),
    st.lists(st.floats(0, 1), min_size=1, max_size=3),
    st.lists(st.floats(0, 5), min_size=1, max_size=3),
)
@settings(max_examples=50, deadline=None)
def test_sweep_equals_assess_point_by_point(
    det: list[float], ratio: list[float], alpha: list[float], eta: list[float]
) -> None:
    """Each point of the sweep is what assess says with the penalty as the unit."""
    s = sweep(det, [r + 0.01 for r in ratio], alpha, eta)
    for i, dd in enumerate(s.detection):
        for j, r in enumerate(s.gain_ratio):
            for k, a in enumerate(s.false_alarm_rate):
                for m, h in enumerate(s.false_alarm_cost_ratio):
                    ref = assess(float(r), 1.0, float(h), float(a), float(dd))
                    assert s.required_detection[i, j, k, m] == pytest.approx(ref.required_detection)
                    assert s.margin[i, j, k, m] == pytest.approx(ref.margin, abs=1e-12)


def test_sweep_refuses_bad_axes() -> None:
    """A detection outside [0, 1] or an empty axis is one GameError."""
    with pytest.raises(GameError, match="detection must be between 0 and 1"):
        sweep([1.5])
    with pytest.raises(GameError, match="non-empty"):
        sweep(gain_ratio=[])


# --- Extreme inputs: exact answers or one GameError, never a crash -------------------------


def test_simultaneous_at_stakes_whose_sums_overflow() -> None:
    """Payoffs near the float range (d + b overflows) give the same equilibrium as the same
    game in a smaller unit, and the nashpy check runs on it rather than crashing."""
    big = simultaneous(1e308, 1e308, inspection_cost=0.1, damage=5, detection=0.9)
    small = simultaneous(1.0, 1.0, inspection_cost=0.1, damage=5, detection=0.9)
    assert big.kind == small.kind == "mixed"
    assert big.inspect_probability == pytest.approx(small.inspect_probability, rel=1e-12)
    assert big.violate_probability == pytest.approx(small.violate_probability, rel=1e-12)
    assert big.leader_inspect_probability == pytest.approx(small.leader_inspect_probability)
    assert big.nashpy_agrees in (True, None)


def test_the_nashpy_check_never_raises() -> None:
    """A bimatrix nashpy's linear programs cannot take gives ``None`` with the reason, not an
    exception out of the game."""
    pytest.importorskip("nashpy")
    inspector = np.array([[-5.0, -0.1], [-5.0, 0.0]])
    inspectee = np.array([[-1.6e308, -0.0], [1e308, 0.0]])
    agrees, reason = _nashpy_agrees(inspector, inspectee, 0.5, 0.5)
    assert agrees is None
    assert reason is not None
    assert "nashpy" in reason


def test_simultaneous_without_detection_is_silent() -> None:
    """A detection of 0 (no mixed equilibrium) computes no 0/0 and warns of nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = simultaneous(1.0, 1.0, inspection_cost=0.1, damage=5, detection=0.0)
    assert g.kind == "violate, no inspection"


@given(
    st.lists(st.floats(0, 1), min_size=1, max_size=3),
    st.lists(st.floats(min_value=0, allow_nan=False, allow_infinity=False), min_size=1, max_size=3),
    st.lists(st.floats(0, 1), min_size=1, max_size=3),
    st.lists(st.floats(min_value=0, allow_nan=False, allow_infinity=False), min_size=1, max_size=3),
)
@settings(max_examples=200, deadline=None)
@example([0.5], [1e308], [1.0], [1e308])
def test_sweep_is_exact_over_the_float_range(
    det: list[float], ratio: list[float], alpha: list[float], eta: list[float]
) -> None:
    """Each threshold of the sweep is (r + eta*alpha)/(r + 1) in exact rationals, rounded:
    never inf or nan where the sums overflow."""
    s = sweep(det, ratio, alpha, eta)
    for j, r in enumerate(ratio):
        for k, a in enumerate(alpha):
            for m, h in enumerate(eta):
                exact = (F(r) + F(h) * F(a)) / (F(r) + 1)
                got = F(float(s.required_detection[0, j, k, m]))
                assert abs(got - exact) <= exact * F(1, 2**48) + F(1, 2**1070)


def test_sweep_caps_its_points() -> None:
    """A grid of more than MAX_SWEEP_POINTS points is refused before anything is allocated."""
    with pytest.raises(GameError, match=f"at most {MAX_SWEEP_POINTS:,} points"):
        sweep(list(np.linspace(0, 1, 2000)), list(np.geomspace(0.1, 10, 2000)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 2, "1e5000"), "penalty must be at most"),
        ((5, 2, "1e-5000"), "penalty"),
        ((5, 2, "1e1000000"), "penalty"),
        ((5, 2, "1e999999999999"), "penalty"),
        ((5, 2, 10**5000), "penalty must be at most"),
        ((500, 499, "1e300"), "too large to solve exactly"),
        ((500, 250, 1), "too large to solve exactly"),
    ],
)
def test_dresher_refuses_what_it_cannot_answer_at_once(
    args: tuple[int, int, object], message: str
) -> None:
    """A penalty past the float range or too finely given, and a game whose exact solution
    would take long, are each one GameError saying what to reduce."""
    with pytest.raises(GameError, match=message):
        dresher(*args)  # type: ignore[arg-type]


def test_the_largest_accepted_games_still_print() -> None:
    """At the bounds the exact value's digits stay printable (str of a Fraction)."""
    for n, m, b in ((MAX_PERIODS, 1, "1e300"), (12, 6, "1e300"), (40, 20, "1/3")):
        result = dresher(n, m, b)
        assert result.agree
        assert str(result.value)
        assert result.to_json()["exact"]["inspect_probability"]


@given(
    st.one_of(
        st.text(max_size=40),
        st.from_regex(r"\A[-+]?\d{0,3}(\.\d{0,3})?(e[-+]?\d{1,12})?(/\d{0,5})?\Z"),
    )
)
@settings(max_examples=400, deadline=None)
@example("1e999999999999")
@example("1" * 5000)
@example("\u0967e\u0967\u0966\u0966\u0966\u0966\u0966\u0966\u0966\u0966\u0966")
@example("1/0")
def test_penalty_garbage_is_one_game_error(text: str) -> None:
    """Any text is a penalty or one GameError at once: never another exception, nor a hang
    building a huge integer (an exponent in any script's digits included)."""
    try:
        value: Fraction | str = _penalty(text)
    except GameError as exc:
        value = str(exc)
    if isinstance(value, str):
        assert "\n" not in value
    else:
        assert value >= 0


@given(
    st.one_of(
        st.fractions(min_value=0, max_value=10**30, max_denominator=10**30),
        st.integers(0, 10**300),
    )
)
def test_penalty_round_trips(value: Fraction | int) -> None:
    """A penalty given as a fraction's text, or as the number itself, is read exactly."""
    assert _penalty(str(value)) == value
    assert _penalty(value) == value


@given(st.floats(min_value=0, allow_nan=False, allow_infinity=False))
def test_float_penalty_reads_its_repr(value: float) -> None:
    """A float penalty is read as its shortest decimal repr."""
    assert _penalty(value) == Fraction(repr(value))
