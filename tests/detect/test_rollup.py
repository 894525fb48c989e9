"""Daily balances rolled up per operator and per party (issue 16 item 2; docs/adr/0035): the
facilities' tested days summed with their error loadings, standardised and tested. Seeded
series of facilities drawn from a stated error model (a random error per day, a systematic
one per meter); the honest twin draws the same errors without the shortfall."""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from types import MappingProxyType

import pytest

from pausewatch.detect import rolled_up
from pausewatch.detect._balance import Balance, BalanceKind, Level, Quantity
from pausewatch.detect._daily import FacilityBalances, day_period, series_and_days
from pausewatch.detect._rollup import summed_days

DAY0 = date(2027, 1, 1)
DAYS = 60
RANDOM = 1.0e9
"""The random sigma of a facility's day (J)."""
SYSTEMATIC = 0.5e9
"""The sigma of each facility's meter bias (J a day)."""
ENERGY = BalanceKind.ENERGY


def _day(
    fid: str, d: int, value: float, random_sigma: float, systematic: dict[str, float]
) -> Balance:
    return Balance(
        Level.FACILITY,
        fid,
        ENERGY,
        day_period(DAY0 + timedelta(days=d)),
        Quantity(value, {("reading", fid, d): random_sigma}, systematic),
        Quantity.exact(0.0),
        (f"log:{d}",),
    )


def facility(fid: str, operator: str, party: str, days: list[Balance]) -> FacilityBalances:
    """A facility's energy series, tested as the daily balances test it."""
    points, nets = series_and_days(days)
    return FacilityBalances(
        fid,
        operator,
        party,
        (f"m-{fid}",),
        MappingProxyType({ENERGY: points}),
        MappingProxyType({ENERGY: nets}),
    )


def fleet(
    seed: int,
    n: int = 20,
    *,
    short: float = 0.0,
    short_from: int = 40,
    short_days: int = 8,
    operator: str = "op",
    party: str = "p",
    prefix: str = "f",
) -> list[FacilityBalances]:
    """``n`` facilities of one operator, each with its own meter bias; from ``short_from`` for
    ``short_days`` days each one is short by ``short`` sigma of its day."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        fid = f"{prefix}{i:02d}"
        bias = rng.gauss(0, SYSTEMATIC)
        days = []
        for d in range(DAYS):
            value = bias + rng.gauss(0, RANDOM)
            if short_from <= d < short_from + short_days:
                value += short * RANDOM
            days.append(_day(fid, d, value, RANDOM, {f"meter:m-{fid}": SYSTEMATIC}))
        out.append(facility(fid, operator, party, days))
    return out


def test_a_shortfall_spread_thin_alarms_the_operator_and_no_facility() -> None:
    """0.6 sigma short at each of 20 facilities of one operator for eight days: no facility's
    test alarms, the operator's roll-up does, within those days (and the party, whose only
    operator it is, repeats no test)."""
    facilities = fleet(seed=8, short=0.6)
    assert not any(f.alarms() for f in facilities)
    rollups = rolled_up(facilities)
    (op,) = rollups.operators
    alarms = op.alarms()
    assert alarms
    first = min(a.point.start.date() for a in alarms)
    assert DAY0 + timedelta(days=40) <= first < DAY0 + timedelta(days=48)
    assert all(a.facilities == tuple(f.facility_id for f in facilities) for a in alarms)
    (party,) = rollups.parties
    assert party.series == {}
    assert party.alarms() == ()


def test_an_honest_twin_raises_no_roll_up_alarm() -> None:
    """The same 20 facilities and errors without the shortfall: no alarm at any scope."""
    facilities = fleet(seed=8)
    rollups = rolled_up(facilities)
    (op,) = rollups.operators
    assert len(op.series[ENERGY]) == DAYS
    assert rollups.alarms() == ()
    assert not any(f.alarms() for f in facilities)


def test_a_party_of_two_operators_is_tested_over_both() -> None:
    """A party whose facilities belong to two operators, each short 0.55 sigma at ten
    facilities for six days, under each operator's limits: no operator's roll-up alarms, the
    party's sums all twenty and alarms; its series has every day."""
    facilities = [
        *fleet(seed=9, n=10, short=0.55, short_days=6, operator="a", prefix="a"),
        *fleet(seed=109, n=10, short=0.55, short_days=6, operator="b", prefix="b"),
    ]
    rollups = rolled_up(facilities)
    assert [o.subject for o in rollups.operators] == ["a", "b"]
    assert not any(o.alarms() for o in rollups.operators)
    (party,) = rollups.parties
    assert len(party.included[ENERGY]) == 20
    assert party.excluded[ENERGY] == ()
    assert len(party.series[ENERGY]) == DAYS
    assert party.alarms()


def test_an_operator_whose_roll_up_alarms_is_left_out_of_its_party() -> None:
    """A shortfall thin at each of one operator's 20 facilities alarms that operator's
    roll-up; its party (three operators) leaves that operator's facilities out of its sum,
    tests the other two operators' and raises nothing: one cause, one finding."""
    facilities = [
        *fleet(seed=8, short=0.6, operator="a", prefix="a"),
        *fleet(seed=11, n=5, operator="b", prefix="b"),
        *fleet(seed=12, n=5, operator="c", prefix="c"),
    ]
    assert not any(f.alarms() for f in facilities)
    rollups = rolled_up(facilities)
    a, b, c = rollups.operators
    assert a.alarms()
    assert b.alarms() == c.alarms() == ()
    (party,) = rollups.parties
    assert party.alarms() == ()
    assert party.excluded[ENERGY] == a.facilities
    assert party.included[ENERGY] == (*b.facilities, *c.facilities)
    assert len(party.series[ENERGY]) == DAYS
    assert party.to_json()["excluded"]["energy"] == list(a.facilities)


def test_a_facility_that_alarms_alone_is_left_out_of_its_roll_ups() -> None:
    """A facility far short on its own alarms and its finding stands; the operator's roll-up
    sums the others only, and raises nothing from that facility's shortfall."""
    facilities = fleet(seed=7, n=5)
    rng = random.Random(1)
    days = [
        _day("loud", d, rng.gauss(0, RANDOM) + (30 * RANDOM if d >= 40 else 0.0), RANDOM, {})
        for d in range(DAYS)
    ]
    facilities.append(facility("loud", "op", "p", days))
    assert facilities[-1].alarms()
    (op,) = rolled_up(facilities).operators
    assert op.excluded[ENERGY] == ("loud",)
    assert "loud" not in op.included[ENERGY]
    assert "loud" in op.facilities
    assert op.alarms() == ()


def test_a_shared_systematic_source_is_counted_once() -> None:
    """Two facilities whose days load on one shared source (an efficiency figure) sum to a
    day whose sigma adds those loadings linearly, not in quadrature; their own sources add
    in quadrature."""
    a = _day("a", 0, 1.0, 3.0, {"efficiency:shared": 2.0, "meter:a": 1.0})
    b = _day("b", 0, 2.0, 4.0, {"efficiency:shared": 2.0, "meter:b": 1.0})
    (day,) = summed_days(Level.OPERATOR, "op", [[a], [b]])
    assert day.value == 3.0
    assert day.sigma == pytest.approx(math.sqrt(3**2 + 4**2 + (2 + 2) ** 2 + 1 + 1))
    assert day.quantity.systematic["efficiency:shared"] == 4.0


def test_a_shared_source_persists_in_the_roll_up_series() -> None:
    """Twenty facilities whose balances all carry one shared bias (one source, drawn once at
    three of its sigma) raise no roll-up alarm: the source is one systematic error of the
    sum, which the standardisation learns, not twenty independent ones."""
    rng = random.Random(4)
    shared = 3 * SYSTEMATIC
    facilities = []
    for i in range(20):
        fid = f"s{i:02d}"
        days = [
            _day(fid, d, shared + rng.gauss(0, RANDOM), RANDOM, {"efficiency:op": SYSTEMATIC})
            for d in range(DAYS)
        ]
        facilities.append(facility(fid, "op", "p", days))
    (op,) = rolled_up(facilities).operators
    assert len(op.series[ENERGY]) == DAYS
    assert op.alarms() == ()


def test_folding_unshared_random_errors_leaves_the_residuals_unchanged() -> None:
    """Summing days with the random errors only one day carries folded into one loading gives
    the same SITMUF residuals and sigmas as roll_up of the full balances, readings that
    straddle midnight (one key on two days) and shared sources included."""
    from pausewatch.detect._balance import roll_up
    from pausewatch.detect._sitmuf import standardised

    rng = random.Random(12)
    series = []
    for f in range(4):
        days = []
        for d in range(15):
            loads = {("reading", f, d, r): rng.uniform(0.1, 1.0) for r in range(5)}
            loads[("straddle", f, d)] = 0.4
            if d:
                loads[("straddle", f, d - 1)] = 0.3
            days.append(
                Balance(
                    Level.FACILITY,
                    f"f{f}",
                    ENERGY,
                    day_period(DAY0 + timedelta(days=d)),
                    Quantity(rng.gauss(0, 2), loads, {f"meter:{f}": 0.5, "lab": 0.2}),
                    Quantity.exact(0.0),
                )
            )
        series.append(days)
    shared = frozenset(
        k for days in series for b in days for k in b.measured.random if k[0] == "straddle"
    )
    folded = summed_days(Level.OPERATOR, "op", series, shared)
    full = [roll_up(Level.OPERATOR, "op", [s[d] for s in series]) for d in range(15)]
    assert max(len(b.quantity.random) for b in folded) < min(len(b.quantity.random) for b in full)
    got, want = standardised(folded), standardised(full)
    assert got[0] == pytest.approx(want[0], rel=1e-9)
    assert got[1] == pytest.approx(want[1], rel=1e-9)
