"""Inspection games beyond the one-shot threshold (docs/adr/0045-inspection-games.md).

- Dresher's sequential game (Dresher, "A sampling inspection problem in arms control
  agreements", RAND RM-2972, 1962) in the form of von Stengel ("Recursive inspection games",
  Mathematics of Operations Research 41(3), 2016): ``n`` periods, ``m`` inspections, at most one
  violation; zero-sum, the inspectee scores ``+1`` for an undetected violation, ``-b`` for a
  caught one and ``0`` for none. Solved both by backward induction over the 2x2 stage games and
  by the closed form ``v(n, m) = C(n-1, m) / sum_{i=0..m} C(n, i) b^(m-i)``, in exact rationals.
- The simultaneous game without commitment (Avenhaus, von Stengel and Zamir, "Inspection
  Games", Handbook of Game Theory vol. 3, 2002, section 3), whose mixed equilibrium shows the
  paradox that a larger penalty lowers the inspection rate and leaves the violation rate
  unchanged, against inspector leadership, where the committed inspector deters outright.
- A vectorised sweep of the inspector-leadership threshold over a grid of parameters.

nashpy, where installed, checks each simultaneous equilibrium (imported inside the function).
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from pausewatch.simulate.inspection import GameError, _check

MAX_PERIODS = 500
"""The largest number of periods solved exactly (the table is O(n*m) exact rationals)."""

MAX_PENALTY_BITS = 1080
"""The most bits in the exact penalty's numerator and in its denominator (about 325 digits:
enough for the decimal repr of every float)."""

MAX_EXACT_BITS = 6_000
"""The most bits a value of Dresher's game may need, estimated as ``m * bits(b) + n``: its exact
strategies (twice that) must still print as decimal digits (Python's limit is 4,300)."""

MAX_DRESHER_WORK = 30_000_000
"""The most work the backward induction may take, estimated as ``n * m * (size + 200)`` with
``size`` the estimate above: about a second on one core (benchmarks/deterrence.py)."""

MAX_SWEEP_POINTS = 1_000_000
"""The most points a sweep's grid may hold (three arrays of that size are kept)."""

Rational = Fraction | int | str

_EXPONENT = re.compile(r"[eE]\s*([-+]?[0-9_]+)")
_FLOAT_MAX = Fraction(sys.float_info.max)


def _penalty(penalty: Rational | float) -> Fraction:
    shown = _shown(penalty)
    if isinstance(penalty, str):
        if not penalty.isascii():
            # Fraction reads any script's digits, past the exponent check below.
            raise GameError(f"penalty must be a number or a fraction such as 1/3, got {shown}")
        # Fraction("1e999999999") would build a billion-digit integer before any check ran.
        exponent = _EXPONENT.search(penalty)
        if len(penalty) > 400 or (
            exponent is not None and abs(int(exponent.group(1).replace("_", "") or 0)) > 400
        ):
            raise GameError(_penalty_range(shown))
    try:
        value = Fraction(repr(penalty)) if isinstance(penalty, float) else Fraction(penalty)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError) as exc:
        raise GameError(f"penalty must be a number or a fraction such as 1/3, got {shown}") from exc
    if value < 0:
        raise GameError(f"penalty must be at least 0, got {shown}")
    if (
        value > _FLOAT_MAX
        or value.numerator.bit_length() > MAX_PENALTY_BITS
        or value.denominator.bit_length() > MAX_PENALTY_BITS
    ):
        raise GameError(_penalty_range(shown))
    return value


def _shown(penalty: object) -> str:
    # A huge int or Fraction cannot even be printed (past 4,300 digits str raises).
    if isinstance(penalty, int | Fraction):
        value = Fraction(penalty)
        bits = max(value.numerator.bit_length(), value.denominator.bit_length())
        if bits > 64:
            return f"a number of {bits} bits"
        return str(value)
    text = penalty if isinstance(penalty, str) else repr(penalty)
    return (
        repr(text[:40] + "...")
        if len(text) > 40
        else repr(text)
        if isinstance(penalty, str)
        else text
    )


def _penalty_range(shown: str) -> str:
    return (
        f"penalty must be at most {sys.float_info.max:.4g}, with a numerator and a denominator "
        f"of at most {MAX_PENALTY_BITS} bits (about 325 digits), got {shown}"
    )


def _periods(periods: int, inspections: int) -> None:
    if isinstance(periods, bool) or not isinstance(periods, int) or periods < 1:
        raise GameError(f"periods must be a whole number at least 1, got {periods!r}")
    if periods > MAX_PERIODS:
        raise GameError(f"periods must be at most {MAX_PERIODS}, got {periods}")
    if isinstance(inspections, bool) or not isinstance(inspections, int) or inspections < 0:
        raise GameError(f"inspections must be a whole number at least 0, got {inspections!r}")


def _bound(periods: int, inspections: int, b: Fraction) -> None:
    # Exact rationals grow with m*bits(b) and every stage's arithmetic with them: bound both
    # so that an accepted game answers at once and its digits can still be printed.
    m = min(inspections, periods - 1)
    bits = max(b.numerator.bit_length(), b.denominator.bit_length(), 1)
    size = m * bits + periods
    if size > MAX_EXACT_BITS or periods * m * (size + 200) > MAX_DRESHER_WORK:
        raise GameError(
            f"Dresher's game with {periods} periods, {inspections} inspections and a penalty of "
            f"{bits} bits is too large to solve exactly at once: reduce the periods, the "
            "inspections or the penalty's digits (docs/deterrence.md gives the bound)"
        )


@dataclass(frozen=True)
class StageSolution:
    """The equilibrium of one 2x2 zero-sum stage game (the inspectee maximises)."""

    value: Fraction
    inspect_probability: Fraction
    violate_probability: Fraction


def solve_stage(
    caught: Fraction, missed: Fraction, after_inspection: Fraction, after_none: Fraction
) -> StageSolution:
    """Solve the stage game whose rows are the inspector's (inspect, not) and columns the
    inspectee's (violate now, wait): ``[[caught, after_inspection], [missed, after_none]]``.

    A saddle point gives pure strategies; otherwise both mix so as to make the other
    indifferent."""
    rows = ((caught, after_inspection), (missed, after_none))
    # The inspector minimises over rows the inspectee's best column; the inspectee maximises
    # over columns the inspector's best row.
    upper = min(max(r) for r in rows)
    lower = max(min(rows[0][j], rows[1][j]) for j in (0, 1))
    if upper == lower:
        i = 0 if max(rows[0]) == upper else 1
        j = 0 if min(rows[0][0], rows[1][0]) == lower else 1
        return StageSolution(upper, Fraction(1 - i), Fraction(1 - j))
    denominator = caught + after_none - after_inspection - missed
    return StageSolution(
        value=(caught * after_none - after_inspection * missed) / denominator,
        inspect_probability=(after_none - missed) / denominator,
        violate_probability=(after_none - after_inspection) / denominator,
    )


def dresher_table(
    periods: int, inspections: int, penalty: Rational | float
) -> list[list[Fraction]]:
    """Backward induction: ``table[k][j]`` is the value of the game with ``k`` periods and
    ``j`` inspections left, each stage solved by :func:`solve_stage` on the values of the
    games that follow it."""
    _periods(periods, inspections)
    b = _penalty(penalty)
    _bound(periods, inspections, b)
    table = [[Fraction(0)] * (inspections + 1) for _ in range(periods + 1)]
    for k in range(1, periods + 1):
        for j in range(inspections + 1):
            if j >= k:
                table[k][j] = Fraction(0)
            elif j == 0:
                table[k][j] = Fraction(1)
            else:
                table[k][j] = solve_stage(
                    -b, Fraction(1), table[k - 1][j - 1], table[k - 1][j]
                ).value
    return table


def dresher_value(periods: int, inspections: int, penalty: Rational | float) -> Fraction:
    """von Stengel's closed form: ``v(n, m) = C(n-1, m) / sum_{i=0..m} C(n, i) b^(m-i)``
    (0 when ``m >= n``: every period is inspected)."""
    _periods(periods, inspections)
    b = _penalty(penalty)
    _bound(periods, inspections, b)
    if inspections >= periods:
        return Fraction(0)
    denominator = sum(
        math.comb(periods, i) * b ** (inspections - i) for i in range(inspections + 1)
    )
    return Fraction(math.comb(periods - 1, inspections)) / denominator


@dataclass(frozen=True)
class SequentialInspection:
    """Dresher's game solved twice: by backward induction (``value``, ``inspect_probability``,
    ``violate_probability``: the first period's equilibrium) and with the closed form's values
    in the first stage (``*_closed_form``). ``agree`` is whether the two are equal exactly."""

    periods: int
    inspections: int
    penalty: Fraction
    value: Fraction
    inspect_probability: Fraction
    violate_probability: Fraction
    value_closed_form: Fraction
    inspect_probability_closed_form: Fraction
    violate_probability_closed_form: Fraction

    @property
    def agree(self) -> bool:
        """Whether both computations give the same value and first-period strategies."""
        return (
            self.value == self.value_closed_form
            and self.inspect_probability == self.inspect_probability_closed_form
            and self.violate_probability == self.violate_probability_closed_form
        )

    def to_json(self) -> dict[str, Any]:
        """Floats for reading, and the exact rationals as strings (``"exact"``)."""
        figures = (
            "value",
            "inspect_probability",
            "violate_probability",
            "value_closed_form",
            "inspect_probability_closed_form",
            "violate_probability_closed_form",
        )
        return {
            "game": "dresher",
            "periods": self.periods,
            "inspections": self.inspections,
            "penalty": float(self.penalty),
            **{name: float(getattr(self, name)) for name in figures},
            "value_backward_induction": float(self.value),
            "agree": self.agree,
            "exact": {"penalty": str(self.penalty), **{n: str(getattr(self, n)) for n in figures}},
        }


def _first_stage(
    periods: int, inspections: int, b: Fraction, value: Callable[[int, int], Fraction]
) -> StageSolution:
    if inspections >= periods:
        # Every period can be inspected: the inspector does, the inspectee never violates.
        return StageSolution(Fraction(0), Fraction(1), Fraction(0))
    if inspections == 0:
        # Nothing can catch it: the inspectee violates at once (any period would do).
        return StageSolution(Fraction(1), Fraction(0), Fraction(1))
    return solve_stage(
        -b, Fraction(1), value(periods - 1, inspections - 1), value(periods - 1, inspections)
    )


def dresher(periods: int, inspections: int, penalty: Rational | float) -> SequentialInspection:
    """Solve Dresher's game with ``periods`` periods, ``inspections`` inspections and a caught
    violation scoring ``-penalty`` (exact when the penalty is rational: pass a Fraction, an int
    or a string such as ``"1/3"``; a float is read as its decimal repr)."""
    b = _penalty(penalty)
    table = dresher_table(periods, inspections, b)
    induced = _first_stage(periods, inspections, b, lambda k, j: table[k][j])
    closed = _first_stage(
        periods, inspections, b, lambda k, j: dresher_value(k, j, b) if k else Fraction(0)
    )
    return SequentialInspection(
        periods=periods,
        inspections=inspections,
        penalty=b,
        value=table[periods][inspections],
        inspect_probability=induced.inspect_probability,
        violate_probability=induced.violate_probability,
        value_closed_form=dresher_value(periods, inspections, b),
        inspect_probability_closed_form=closed.inspect_probability,
        violate_probability_closed_form=closed.violate_probability,
    )


# --- The simultaneous game ------------------------------------------------------------------


@dataclass(frozen=True)
class SimultaneousInspection:
    """The simultaneous inspection game's equilibrium, and inspector leadership beside it.

    Rows are the inspector's (inspect, not), columns the inspectee's (violate, comply).
    ``inspect_probability`` and ``violate_probability`` are the simultaneous equilibrium's;
    ``kind`` says which: ``"mixed"``, ``"violate, inspect"`` (detection too weak to deter even
    under certain inspection, inspecting worth its cost) or ``"violate, no inspection"``
    (inspecting not worth its cost). ``leader_*`` are inspector leadership's: the inspector
    announces and commits to the least inspection probability at which complying is the
    inspectee's best response (ties go to compliance), or, when none deters, to its best
    response to a sure violator (or to none, when deterring costs more than the damage).
    ``nashpy_agrees`` is None where nashpy did not check, ``nashpy_note`` then saying why (not
    installed, or its solvers refused the game)."""

    gain: float
    penalty: float
    detection: float
    false_alarm_rate: float
    false_alarm_cost: float
    inspection_cost: float
    damage: float
    detected_loss: float
    kind: str
    inspect_probability: float
    violate_probability: float
    inspector_payoff: float
    inspectee_payoff: float
    leader_inspect_probability: float
    leader_violate_probability: float
    leader_inspector_payoff: float
    leader_inspectee_payoff: float
    nashpy_agrees: bool | None
    nashpy_note: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The equilibria as JSON."""
        return {"game": "simultaneous", **{k: getattr(self, k) for k in self.__dataclass_fields__}}


def simultaneous_payoffs(
    gain: float,
    penalty: float,
    *,
    detection: float,
    false_alarm_rate: float,
    false_alarm_cost: float,
    inspection_cost: float,
    damage: float,
    detected_loss: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The bimatrix (inspector's payoffs, inspectee's): rows (inspect, not), columns
    (violate, comply).

    Inspectee: an undetected violation gains ``d``, a detected one loses ``b``; an inspection of
    a complying inspectee raises a false alarm with probability alpha, costing it ``h``.
    Inspector: each inspection costs ``e``; an undetected violation costs it ``c`` (the damage),
    a detected one ``a`` (``detected_loss``: the violation still happened)."""
    p = detection
    inspector = np.array(
        [
            [-inspection_cost - p * detected_loss - (1 - p) * damage, -inspection_cost],
            [-damage, 0.0],
        ]
    )
    inspectee = np.array(
        [[(1 - p) * gain - p * penalty, -false_alarm_rate * false_alarm_cost], [gain, 0.0]]
    )
    return inspector, inspectee


def _nashpy_agrees(
    inspector: npt.NDArray[np.float64], inspectee: npt.NDArray[np.float64], p: float, q: float
) -> tuple[bool | None, str | None]:
    try:
        import nashpy
    except ImportError:
        return None, "nashpy not installed"
    game = nashpy.Game(inspector, inspectee)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            # Degenerate games (a pure equilibrium on a tie) make nashpy warn; we only look for
            # ours.
            warnings.simplefilter("ignore")
            found = list(game.support_enumeration()) + list(game.vertex_enumeration())
    except Exception as exc:  # a check that cannot run must not sink the game it checks
        return None, f"nashpy could not check this game ({type(exc).__name__})"
    agrees = any(
        abs(float(rows[0]) - p) < 1e-9 and abs(float(cols[0]) - q) < 1e-9 for rows, cols in found
    )
    return agrees, None


def simultaneous(
    gain: float,
    penalty: float,
    *,
    detection: float = 1.0,
    false_alarm_rate: float = 0.0,
    false_alarm_cost: float = 0.0,
    inspection_cost: float,
    damage: float,
    detected_loss: float = 0.0,
    check: bool = True,
) -> SimultaneousInspection:
    """The simultaneous inspection game in closed form, with inspector leadership beside it.

    Mixed equilibrium (when detection can deter and inspecting pays against a sure violator):
    the inspector inspects with ``p* = d / ((1-beta)(d+b) - h*alpha)``, which makes the
    inspectee indifferent, and the inspectee violates with ``q* = e / ((1-beta)(c-a))``, which
    makes the inspector indifferent. ``q*`` holds no inspectee parameter: a larger penalty lowers
    ``p*`` only (the paradox). Under leadership the inspector commits to ``p*`` and the
    inspectee complies: violation 0, the inspector's payoff ``-e*p*`` instead of ``-c*q*``.
    With ``check`` and nashpy installed, nashpy's support and vertex enumeration must find the
    same equilibrium."""
    _check("gain", gain)
    _check("penalty", penalty)
    _check("detection", detection, high=1.0)
    _check("false_alarm_rate", false_alarm_rate, high=1.0)
    _check("false_alarm_cost", false_alarm_cost)
    _check("inspection_cost", inspection_cost)
    _check("damage", damage)
    _check("detected_loss", detected_loss)
    if gain <= 0:
        raise GameError(f"gain must be positive (else nothing tempts a violation), got {gain}")
    if inspection_cost <= 0:
        raise GameError(f"inspection_cost must be positive, got {inspection_cost}")
    if detected_loss > damage:
        raise GameError(
            f"detected_loss must be at most damage (a detected violation hurts the inspector "
            f"no more than an undetected one), got {detected_loss} > {damage}"
        )
    inspector, inspectee = simultaneous_payoffs(
        gain,
        penalty,
        detection=detection,
        false_alarm_rate=false_alarm_rate,
        false_alarm_cost=false_alarm_cost,
        inspection_cost=inspection_cost,
        damage=damage,
        detected_loss=detected_loss,
    )
    if not (np.isfinite(inspector).all() and np.isfinite(inspectee).all()):
        raise GameError(
            "the inspector's payoffs are beyond the float range: give inspection_cost, damage "
            "and detected_loss in a larger unit"
        )
    # The equilibrium is read off each player's payoffs in units of its largest stake: a
    # positive scale changes no best response, and the sums below (d + b at 1e308) would
    # otherwise overflow, as would nashpy's linear programs.
    ue, ur = max(gain, penalty, false_alarm_cost), max(inspection_cost, damage, detected_loss)
    er, ee = simultaneous_payoffs(
        gain / ue,
        penalty / ue,
        detection=detection,
        false_alarm_rate=false_alarm_rate,
        false_alarm_cost=false_alarm_cost / ue,
        inspection_cost=inspection_cost / ur,
        damage=damage / ur,
        detected_loss=detected_loss / ur,
    )
    # Both conditions and both probabilities are read off the payoffs as the bimatrix holds
    # them, so that rounding can never make the closed form and the matrix disagree on a case.
    # p* = d / ((1-beta)(d+b) - h*alpha) and q* = e / ((1-beta)(c-a)), each as the ratio that
    # makes the other player indifferent; each only where its denominator is nonzero (where
    # the inspectee can be deterred, and where inspecting pays).
    deterrable = bool(ee[0, 0] < ee[0, 1])
    worthwhile = bool(er[0, 0] > er[1, 0])
    p_star = (
        float((ee[1, 1] - ee[1, 0]) / (ee[0, 0] - ee[1, 0] - ee[0, 1] + ee[1, 1]))
        if deterrable
        else math.nan
    )
    if deterrable and worthwhile:
        q_star = float((er[1, 1] - er[0, 1]) / (er[0, 0] - er[1, 0] - er[0, 1] + er[1, 1]))
        kind, p, q = "mixed", p_star, q_star
    elif worthwhile:
        kind, p, q = "violate, inspect", 1.0, 1.0
    else:
        kind, p, q = "violate, no inspection", 0.0, 1.0
    rows, cols = np.array([p, 1 - p]), np.array([q, 1 - q])
    # The leader commits to the least deterring probability unless even that costs more than
    # letting a violation through uninspected (it never does when inspecting is worthwhile).
    if deterrable and inspection_cost * p_star <= damage:
        lp, lq = p_star, 0.0
    elif deterrable:
        lp, lq = 0.0, 1.0
    else:
        lp, lq = p, q
    lrows, lcols = np.array([lp, 1 - lp]), np.array([lq, 1 - lq])
    agrees, note = _nashpy_agrees(er, ee, p, q) if check else (None, "not checked")
    return SimultaneousInspection(
        gain=gain,
        penalty=penalty,
        detection=detection,
        false_alarm_rate=false_alarm_rate,
        false_alarm_cost=false_alarm_cost,
        inspection_cost=inspection_cost,
        damage=damage,
        detected_loss=detected_loss,
        kind=kind,
        inspect_probability=p,
        violate_probability=q,
        # In the mixed equilibrium each player is indifferent: read its payoff off the pure
        # strategy with no rounding noise (not inspecting; complying).
        inspector_payoff=float(inspector[1] @ cols if kind == "mixed" else rows @ inspector @ cols),
        inspectee_payoff=float(
            rows @ inspectee[:, 1] if kind == "mixed" else rows @ inspectee @ cols
        ),
        leader_inspect_probability=lp,
        leader_violate_probability=lq,
        leader_inspector_payoff=float(lrows @ inspector @ lcols),
        leader_inspectee_payoff=float(lrows @ inspectee @ lcols),
        nashpy_agrees=agrees,
        nashpy_note=note,
    )


# --- The sweep --------------------------------------------------------------------------------

DEFAULT_DETECTION = tuple(float(x) for x in np.linspace(0.0, 1.0, 51))
DEFAULT_GAIN_RATIO = tuple(float(x) for x in np.logspace(-2, 2, 41))
DEFAULT_FALSE_ALARM_RATE = (0.0, 0.01, 0.05, 0.1, 0.2)
DEFAULT_FALSE_ALARM_COST_RATIO = (0.0, 1.0)

Progress = Callable[[int, int], None]
"""Called as ``progress(points_done, points_total)`` as the sweep advances."""


@dataclass(frozen=True)
class Sweep:
    """The inspector-leadership threshold over a grid, with the penalty as the unit:
    ``gain_ratio`` is ``d/b`` and ``false_alarm_cost_ratio`` is ``h/b``, so that
    ``required = (r + eta*alpha) / (r + 1)``. The arrays ``required_detection``, ``margin``
    and ``deterred`` have the shape (detection, gain_ratio, false_alarm_rate,
    false_alarm_cost_ratio)."""

    detection: npt.NDArray[np.float64]
    gain_ratio: npt.NDArray[np.float64]
    false_alarm_rate: npt.NDArray[np.float64]
    false_alarm_cost_ratio: npt.NDArray[np.float64]
    required_detection: npt.NDArray[np.float64]
    margin: npt.NDArray[np.float64]
    deterred: npt.NDArray[np.bool_]

    @property
    def points(self) -> int:
        """The number of parameter points."""
        return int(self.margin.size)

    def to_json(self) -> dict[str, Any]:
        """The grid's axes, the share deterred, and the threshold curve for each false-alarm
        rate and cost (the threshold does not depend on the detection)."""
        curves = [
            {
                "false_alarm_rate": float(a),
                "false_alarm_cost_ratio": float(h),
                "required_detection": [float(x) for x in self.required_detection[0, :, i, j]],
            }
            for i, a in enumerate(self.false_alarm_rate)
            for j, h in enumerate(self.false_alarm_cost_ratio)
        ]
        return {
            "points": self.points,
            "deterred": int(self.deterred.sum()),
            "share_deterred": float(self.deterred.mean()),
            "detection": [float(x) for x in self.detection],
            "gain_ratio": [float(x) for x in self.gain_ratio],
            "false_alarm_rate": [float(x) for x in self.false_alarm_rate],
            "false_alarm_cost_ratio": [float(x) for x in self.false_alarm_cost_ratio],
            "curves": curves,
        }


def _axis(
    name: str, values: Sequence[float] | None, default: Sequence[float], high: float
) -> npt.NDArray[np.float64]:
    axis = np.asarray(default if values is None else values, dtype=np.float64)
    if axis.ndim != 1 or axis.size == 0:
        raise GameError(f"{name} must be a non-empty list of numbers")
    for v in axis:
        _check(name, float(v), high=high)
    return axis


def sweep(
    detection: Sequence[float] | None = None,
    gain_ratio: Sequence[float] | None = None,
    false_alarm_rate: Sequence[float] | None = None,
    false_alarm_cost_ratio: Sequence[float] | None = None,
    *,
    progress: Progress | None = None,
) -> Sweep:
    """Evaluate the inspector-leadership threshold over the grid of every combination of the
    axes (defaults: 51 x 41 x 5 x 2 = 20,910 points; at most :data:`MAX_SWEEP_POINTS`),
    vectorised one (alpha, h/b) slice at a
    time, calling ``progress`` after each slice."""
    d = _axis("detection", detection, DEFAULT_DETECTION, 1.0)
    r = _axis("gain_ratio", gain_ratio, DEFAULT_GAIN_RATIO, math.inf)
    a = _axis("false_alarm_rate", false_alarm_rate, DEFAULT_FALSE_ALARM_RATE, 1.0)
    h = _axis(
        "false_alarm_cost_ratio", false_alarm_cost_ratio, DEFAULT_FALSE_ALARM_COST_RATIO, math.inf
    )
    if not np.isfinite(r).all() or not np.isfinite(h).all():
        raise GameError("gain_ratio and false_alarm_cost_ratio must be finite")
    shape = (d.size, r.size, a.size, h.size)
    total, done = math.prod(shape), 0
    if total > MAX_SWEEP_POINTS:
        raise GameError(
            f"the grid must hold at most {MAX_SWEEP_POINTS:,} points, got {total:,} "
            f"({' x '.join(str(n) for n in shape)}): use fewer values on an axis"
        )
    required = np.empty(shape)
    margin = np.empty(shape)
    slice_points = d.size * r.size
    # (r + eta*alpha)/(r + 1) as written overflows to inf where r + eta*alpha passes the float
    # range; there the larger of r and 1 is the unit, which bounds the denominator in [1, 2]
    # and the numerator by the float range.
    unit = np.maximum(r, 1.0)
    for i, alpha in enumerate(a):
        for j, eta in enumerate(h):
            with np.errstate(over="ignore"):
                threshold = (r + eta * alpha) / (r + 1.0)
            over = ~np.isfinite(threshold)
            if over.any():
                u = unit[over]
                threshold[over] = (r[over] / u + (eta / u) * alpha) / (r[over] / u + 1.0 / u)
            required[:, :, i, j] = threshold[np.newaxis, :]
            margin[:, :, i, j] = d[:, np.newaxis] - threshold[np.newaxis, :]
            done += slice_points
            if progress is not None:
                progress(done, total)
    return Sweep(d, r, a, h, required, margin, margin >= 0)


__all__ = [
    "MAX_DRESHER_WORK",
    "MAX_EXACT_BITS",
    "MAX_PENALTY_BITS",
    "MAX_PERIODS",
    "MAX_SWEEP_POINTS",
    "Progress",
    "SequentialInspection",
    "SimultaneousInspection",
    "StageSolution",
    "Sweep",
    "dresher",
    "dresher_table",
    "dresher_value",
    "simultaneous",
    "simultaneous_payoffs",
    "solve_stage",
    "sweep",
]
