"""Roll-up power and false alarms measured (docs/adr/0035): operators of simulated facilities
whose daily energy balances are drawn from a stated error model, with and without a shortfall
spread thin over them.

No target in the issue: figures to read, each beside the reference it is compared with,
measured in the same run.

The error model is that of ``tests/detect/test_rollup.py``: each facility-day a random error
of ``RANDOM`` (J) and a meter bias of sigma ``SYSTEMATIC`` drawn once per facility (a
systematic error that SITMUF learns). Each facility's series is tested as the daily balances
test it (:func:`pausewatch.detect._daily.series_and_days`: SITMUF, the one-shot test and
Page's CUSUM, each at 0.005 false alarms per year) and rolled up with
:func:`pausewatch.detect.rolled_up`.

1. Power, per seed: ``--facilities`` facilities of one operator, each short ``--short`` sigma
   of its day from day 40 for 8 and for 6 days (60 days in all). The figure: the seeds in
   which the operator's roll-up alarms within the shortfall's days; the reference: the seeds
   in which any facility alarms (on any day), on the same series. The honest twins (the same
   errors without the shortfall) give the roll-up's false alarms over those 60 days.
2. A party of two operators, each of half the facilities, each short ``--party-short`` sigma
   for 6 days: the seeds in which the party alarms within those days and no operator alarms
   (the party then sums both, docs/adr/0035), against those in which an operator alarms (the
   party then leaves it out).
3. False alarms: ``--years`` honest operator-years (365 days) of ``--facilities`` facilities;
   the energy series' two tests at 0.005 each, so 0.01 stated per operator-year and per
   facility-year. The figure: operator-years with a roll-up alarm; the reference: the
   facility-years with an alarm, in the same run.

Run ``.venv/bin/python benchmarks/rollup_power.py`` (30 power seeds and 50 operator-years:
under a minute on one core); ``--years 200`` for the ADR's 4,000 facility-years (about 2.5
minutes). ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any

from _common import write_json
from pausewatch.detect import rolled_up
from pausewatch.detect._balance import Balance, BalanceKind, Level, Quantity
from pausewatch.detect._daily import (
    ALPHA_PER_TEST,
    DAYS_PER_YEAR,
    FacilityBalances,
    day_period,
    series_and_days,
)
from pausewatch.trial import wilson

DAY0 = date(2027, 1, 1)
RANDOM = 1.0e9
"""The random sigma of a facility's day (J)."""
SYSTEMATIC = 0.5e9
"""The sigma of each facility's meter bias (J a day)."""
ENERGY = BalanceKind.ENERGY
POWER_DAYS = 60
SHORT_FROM = 40


def facility(
    fid: str, operator: str, rng: random.Random, days: int, short: float, short_days: int
) -> FacilityBalances:
    """One facility's energy series, tested: ``short`` sigma short from SHORT_FROM for
    ``short_days`` days."""
    bias = rng.gauss(0, SYSTEMATIC)
    balances = []
    for d in range(days):
        value = bias + rng.gauss(0, RANDOM)
        if SHORT_FROM <= d < SHORT_FROM + short_days:
            value += short * RANDOM
        balances.append(
            Balance(
                Level.FACILITY,
                fid,
                ENERGY,
                day_period(DAY0 + timedelta(days=d)),
                Quantity(value, {("reading", fid, d): RANDOM}, {f"meter:m-{fid}": SYSTEMATIC}),
                Quantity.exact(0.0),
            )
        )
    points, nets = series_and_days(balances)
    return FacilityBalances(
        fid,
        operator,
        "p",
        (f"m-{fid}",),
        MappingProxyType({ENERGY: points}),
        MappingProxyType({ENERGY: nets}),
    )


def operator(
    seed: int, name: str, n: int, days: int, short: float = 0.0, short_days: int = 0
) -> list[FacilityBalances]:
    """``n`` facilities of operator ``name``, drawn from ``seed`` (the same errors whatever
    the shortfall, so a shortfall's twin is the honest series)."""
    rng = random.Random(seed)
    return [facility(f"{name}{i:02d}", name, rng, days, short, short_days) for i in range(n)]


def alarm_days(points: Any) -> list[int]:
    """The day numbers of a tested series' alarms."""
    return [(p.start.date() - DAY0).days for p in points if p.alarm is not None]


def within(days: list[int], short_days: int) -> bool:
    """Whether the first alarm falls in the shortfall's days."""
    return bool(days) and SHORT_FROM <= days[0] < SHORT_FROM + short_days


def power(seeds: range, n: int, short: float, short_days: int) -> dict[str, int]:
    """Seeds in which the operator's roll-up alarms within the shortfall, in which any
    facility alarms, and in which the honest twin's roll-up alarms."""
    rollup = facility_hit = honest = 0
    for seed in seeds:
        facilities = operator(seed, "f", n, POWER_DAYS, short, short_days)
        (op,) = rolled_up(facilities).operators
        rollup += within(alarm_days(op.series.get(ENERGY, ())), short_days)
        facility_hit += any(f.alarmed(ENERGY) for f in facilities)
        (twin,) = rolled_up(operator(seed, "f", n, POWER_DAYS)).operators
        honest += twin.alarmed(ENERGY)
    return {"seeds": len(seeds), "rollup": rollup, "facility": facility_hit, "honest": honest}


def party_power(seeds: range, n: int, short: float, short_days: int) -> dict[str, int]:
    """A party of two operators of ``n // 2`` facilities each, all short: seeds in which the
    party alarms within the shortfall with no operator alarming, and in which an operator
    alarms."""
    party_hit = operator_hit = 0
    for seed in seeds:
        facilities = [
            *operator(seed, "a", n // 2, POWER_DAYS, short, short_days),
            *operator(seed + 1_000_000, "b", n // 2, POWER_DAYS, short, short_days),
        ]
        rollups = rolled_up(facilities)
        ops = any(o.alarmed(ENERGY) for o in rollups.operators)
        (party,) = rollups.parties
        operator_hit += ops
        party_hit += not ops and within(alarm_days(party.series.get(ENERGY, ())), short_days)
    return {"seeds": len(seeds), "party": party_hit, "operator": operator_hit}


def false_alarms(seeds: range, n: int) -> dict[str, int]:
    """Honest operator-years: those whose roll-up alarms, and facility-years that alarm."""
    rollup = facility_years = 0
    for seed in seeds:
        facilities = operator(seed, "f", n, DAYS_PER_YEAR)
        (op,) = rolled_up(facilities).operators
        rollup += op.alarmed(ENERGY)
        facility_years += sum(f.alarmed(ENERGY) for f in facilities)
    return {
        "operator_years": len(seeds),
        "rollup": rollup,
        "facility_years": n * len(seeds),
        "facility": facility_years,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start", type=int, default=0, help="first seed")
    parser.add_argument("--seeds", type=int, default=30, help="power seeds per case")
    parser.add_argument("--years", type=int, default=50, help="honest operator-years")
    parser.add_argument("--facilities", type=int, default=20, help="facilities per operator")
    parser.add_argument("--short", type=float, default=0.6, help="sigma short per facility")
    parser.add_argument("--party-short", type=float, default=0.55)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    n = args.facilities
    seeds = range(args.start, args.start + args.seeds)
    figures: dict[str, Any] = {"facilities": n, "short_sigma": args.short}
    began = time.perf_counter()
    for short_days in (8, 6):
        got = power(seeds, n, args.short, short_days)
        figures[f"power_{short_days}_days"] = got
        print(
            f"{n} facilities of one operator, {args.short} sigma short for {short_days} days "
            f"(seeds {seeds.start}..{seeds.stop - 1}): operator's roll-up alarms within them in "
            f"{got['rollup']}/{got['seeds']}; reference, any facility alarms: "
            f"{got['facility']}/{got['seeds']}; honest twins' roll-up alarms: "
            f"{got['honest']}/{got['seeds']}"
        )
    got = party_power(seeds, n, args.party_short, 6)
    figures["party_two_operators_6_days"] = got
    print(
        f"party of two operators of {n // 2} facilities, {args.party_short} sigma short for 6 "
        f"days: party alarms within them, no operator alarming, in {got['party']}/{got['seeds']}; "
        f"an operator alarms (its facilities then leave the party's sum) in "
        f"{got['operator']}/{got['seeds']}"
    )
    years = range(args.start, args.start + args.years)
    got = false_alarms(years, n)
    figures["false_alarms"] = got
    stated = 2 * ALPHA_PER_TEST
    rollup_ci = wilson(got["rollup"], got["operator_years"])
    facility_ci = wilson(got["facility"], got["facility_years"])
    low, high = rollup_ci.low, rollup_ci.high
    flow, fhigh = facility_ci.low, facility_ci.high
    print(
        f"false alarms over {got['operator_years']} honest operator-years of {n} facilities "
        f"(energy series, two tests): roll-up {got['rollup']}/{got['operator_years']} = "
        f"{got['rollup'] / got['operator_years']:.4f} per operator-year (95% {low:.4f}-"
        f"{high:.4f}; {stated:g} stated, {stated * got['operator_years']:.2f} expected); "
        f"reference, facilities {got['facility']}/{got['facility_years']} = "
        f"{got['facility'] / got['facility_years']:.4f} per facility-year (95% {flow:.4f}-"
        f"{fhigh:.4f}; {stated:g} stated)"
    )
    figures["stated_per_year"] = stated
    figures["seconds"] = round(time.perf_counter() - began, 1)
    print(f"took {figures['seconds']} s")
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
