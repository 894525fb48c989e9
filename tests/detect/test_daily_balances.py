"""Daily balances per facility over the log (docs/adr/0029): a meter's signed readings folded
by the real fold, the chips' days as the telemetry fold leaves them in ``cluster_days``, and the
balances, SITMUF, one-shot and CUSUM tests computed from the views. Seeded simulations of one
facility with a stated error model; the honest twin draws its errors from the same model."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from pausewatch.detect import facility_balances, next_reading
from pausewatch.detect._arl import cusum_arl
from pausewatch.detect._balance import BalanceKind, Quantity
from pausewatch.detect._daily import (
    ALPHA_PER_TEST,
    CUSUM_K,
    DAY_CLOSES_AFTER,
    DAYS_PER_YEAR,
    FALSE_ALARMS_PER_FACILITY_YEAR,
    ChipDay,
    MeterDay,
    _meter_days,
    counters_balance,
    energy_balance,
    in_control_arl,
    limits,
    per_day_alpha,
    series_tested,
)
from pausewatch.detect._sitmuf import sitmuf, standardised
from pausewatch.state._facts import balance_facts
from registry.world import World, key  # type: ignore[import-not-found]

DAY0 = date(2027, 1, 1)
CHIPS = 8
TDP = 700.0
PEAK = 9.894e14
SECONDS = 86_400.0


@dataclass
class Facility:
    """The truth of one simulated facility and what its instruments say of it."""

    seed: int
    days: int
    random_sigma: float = 0.01
    systematic_sigma: float = 0.02
    overhead_w: float = 20_000.0
    overhead_ratio: float = 0.2
    overhead_sigma: float = 0.05
    hidden_from: int | None = None
    hidden_w: float = 0.0
    under_from: int | None = None
    under_factor: float = 1.0
    untagged_flop: float = 0.0
    recalibrate_at: int | None = None
    silent_from: int | None = None
    """From this day the chips send no telemetry."""
    outage: bool = False
    """With ``silent_from``: the chips lost power too (else they kept working, going dark)."""
    meter_biases: dict[str, float] = field(default_factory=dict)
    """A meter's calibration bias if the test fixes it (else drawn from its sigma)."""
    serve_from: int | None = None
    """From this day the chips serve (half their TDP, little compute, tensor pipes below the
    busy threshold) instead of training."""


def _day(n: int) -> datetime:
    return datetime.combine(DAY0 + timedelta(days=n), datetime.min.time(), tzinfo=UTC)


def _meter(w: World, meter_id: str, f: Facility) -> None:
    w.keys[meter_id] = key(meter_id)
    w.ok(
        "meter.certify/v1",
        {
            "meter_id": meter_id,
            "model": "Acme 9000",
            "serial": f"SN-{meter_id}",
            "key": w.keys[meter_id].signer_id,
            "random_sigma": f.random_sigma,
            "systematic_sigma": f.systematic_sigma,
        },
        w.secretariat,
    )
    w.ok(
        "meter.install/v1",
        {
            "meter_id": meter_id,
            "facility_id": "f1",
            "overhead_w": f.overhead_w,
            "overhead_ratio": f.overhead_ratio,
            "overhead_sigma": f.overhead_sigma,
        },
        "lab",
    )


def build(f: Facility) -> World:
    """Fold the facility's registry, chips and signed daily meter readings; set its chips'
    days as a telemetry batch's aggregate would."""
    rng = random.Random(f.seed)
    w = World()
    w.basic()
    for i in range(CHIPS):
        w.chip(f"g{i}", "nv", buyer="lab")
        w.ok(
            "chip.custody/v1", {"chip_id": f"g{i}", "action": "install", "cluster_id": "c1"}, "lab"
        )
    overhead_error = rng.gauss(0, f.overhead_sigma)
    efficiency = 0.5
    meters = ["m1"] if f.recalibrate_at is None else ["m1", "m2"]
    bias = {m: f.meter_biases.get(m, rng.gauss(0, f.systematic_sigma)) for m in meters}
    _meter(w, "m1", f)
    previous: dict[str, Any] | None = None
    cumulative = 0.0
    meter = "m1"
    body = next_reading(meter, None, _day(-1), _day(0), 0.0)
    w.ok("meter.reading/v1", body, meter)
    previous = body
    for d in range(f.days):
        if d == f.recalibrate_at:
            _meter(w, "m2", f)
            meter, cumulative = "m2", 0.0
            previous = next_reading(meter, None, _day(d - 1), _day(d), 0.0)
            w.ok("meter.reading/v1", previous, meter)
        chips_true = CHIPS * 0.9 * TDP * SECONDS * (1 + rng.gauss(0, 0.03))
        serving = f.serve_from is not None and d >= f.serve_from
        if serving:
            chips_true = CHIPS * 0.5 * TDP * SECONDS * (1 + rng.gauss(0, 0.03))
        silent = f.silent_from is not None and d >= f.silent_from
        if silent and f.outage:
            chips_true = 0.0
        reported = chips_true * (1 + rng.uniform(-0.02, 0.02))
        overhead = (f.overhead_ratio * chips_true + f.overhead_w * SECONDS) * (1 + overhead_error)
        hidden = 0.0
        if f.hidden_from is not None and d >= f.hidden_from:
            hidden = f.hidden_w * SECONDS * (1 + f.overhead_ratio)
        truth = chips_true + overhead + hidden
        read = truth * (1 + bias[meter]) * (1 + rng.gauss(0, f.random_sigma))
        cumulative += read
        body = next_reading(meter, previous, _day(d), _day(d + 1), cumulative)
        w.ok("meter.reading/v1", body, meter)
        previous = body
        flop = chips_true * (0.03 if serving else efficiency) * (1 + rng.gauss(0, 0.1)) * PEAK / TDP
        counted = flop * (1 + rng.uniform(-0.02, 0.02))
        if f.under_from is not None and d >= f.under_from:
            counted *= f.under_factor
        untagged = f.untagged_flop
        if silent:
            continue
        w.registry.views["cluster_days"][("c1", (DAY0 + timedelta(days=d)).isoformat())] = {
            "cluster_id": "c1",
            "day": (DAY0 + timedelta(days=d)).isoformat(),
            "energy_j": round(reported),
            "flop": json.dumps({"bf16": str(round(counted + untagged))}),
            "unattributed_flop": json.dumps({"bf16": str(round(untagged))} if untagged else {}),
            "chip_windows": CHIPS * 1440,
            "busy_energy_j": 0 if serving else round(reported),
            "updated_idx": w.registry.applied - 1,
        }
    return w


def alarms_of(w: World, days: int) -> dict[tuple[str, str], int]:
    """The first day (from DAY0) each test alarmed on, per (balance, test)."""
    (fac,) = facility_balances(w.registry, _day(days + 1))
    return {(a.balance.value, a.test): (a.point.start.date() - DAY0).days for a in fac.alarms()}


def test_the_limits_give_the_stated_false_alarm_rate_per_facility_year() -> None:
    """The one-shot limit is z at the per-day alpha, and the CUSUM's h has the in-control run
    length whose alarm falls within a year with probability ALPHA_PER_TEST."""
    assert pytest.approx(FALSE_ALARMS_PER_FACILITY_YEAR) == ALPHA_PER_TEST * 6
    daily = per_day_alpha(ALPHA_PER_TEST)
    assert 1 - (1 - daily) ** DAYS_PER_YEAR == pytest.approx(ALPHA_PER_TEST)
    z, h = limits()
    from statistics import NormalDist

    assert NormalDist().cdf(-z) == pytest.approx(daily, rel=1e-6)
    arl = in_control_arl(ALPHA_PER_TEST)
    assert 1 - math.exp(-DAYS_PER_YEAR / arl) == pytest.approx(ALPHA_PER_TEST)
    assert cusum_arl(k=CUSUM_K, h=h) == pytest.approx(arl, rel=1e-3)


def test_the_numpy_factorisation_agrees_with_the_plain_one() -> None:
    """standardised() gives the same residuals and sigmas as sitmuf() for balances that share
    systematic errors and a reading."""
    rng = random.Random(3)
    qs = [
        Quantity(
            rng.gauss(0, 1),
            {("r", i): 0.5 + rng.random(), "shared": 0.3 if i in (2, 3) else 0.0},
            {"meter": 0.7, "over": 0.2 * i},
        )
        for i in range(12)
    ]
    plain = sitmuf(qs)
    residuals, sigmas = standardised(qs)
    assert residuals == pytest.approx(plain.residuals, rel=1e-9)
    assert sigmas == pytest.approx(plain.sigmas, rel=1e-9)


def test_hidden_chips_drawing_power_raise_an_energy_alarm_within_days() -> None:
    """Two hidden chips' worth of power behind the meter from day 40 alarm the energy balance
    within three days, and nothing alarms before they start."""
    w = build(Facility(seed=11, days=90, hidden_from=40, hidden_w=2 * TDP * 0.9))
    found = alarms_of(w, 90)
    first = min(d for (balance, _), d in found.items() if balance == "energy")
    assert 40 <= first <= 42
    assert all(d >= 40 for d in found.values())


def test_an_honest_twin_raises_no_alarm_over_a_year() -> None:
    """The same facility and error model without hidden chips: a year of days, no alarm on
    any balance."""
    w = build(Facility(seed=11, days=365))
    (fac,) = facility_balances(w.registry, _day(366))
    assert len(fac.series[BalanceKind.ENERGY]) == 365
    assert len(fac.series[BalanceKind.COMPUTE_ENERGY]) == 365
    assert fac.alarms() == ()


def test_chips_that_serve_for_months_raise_no_compute_alarm() -> None:
    """An honest facility whose chips train for a month and then serve for the rest of the
    year (much energy, little compute) raises no alarm: the energy of windows that were not
    busy paid for no compute, so the compute-from-energy balance leaves it out."""
    w = build(Facility(seed=11, days=365, serve_from=30))
    (fac,) = facility_balances(w.registry, _day(366))
    assert len(fac.series[BalanceKind.COMPUTE_ENERGY]) == 365
    assert fac.alarms() == ()


def test_under_reported_counters_raise_compute_unaccounted_from_the_meter() -> None:
    """Counters that report 30% of the compute from day 60 (the chips' energy reported
    honestly) alarm the energy-based compute balance within two weeks; the energy balance
    stays quiet."""
    w = build(Facility(seed=5, days=120, under_from=60, under_factor=0.3))
    found = alarms_of(w, 120)
    first = min(d for (balance, _), d in found.items() if balance == "compute_energy")
    assert 60 <= first <= 74
    assert not any(balance == "energy" for balance, _ in found)


def test_untagged_compute_beyond_declared_workloads_raises_compute_unaccounted() -> None:
    """Compute tagged to no run beyond what a declared workload's flop_max covers alarms the
    counters balance; within it, nothing."""
    untagged = 4e18
    covered = build(Facility(seed=2, days=20, untagged_flop=untagged))
    beyond = build(Facility(seed=2, days=20, untagged_flop=untagged))
    for w, per_day in ((covered, 2 * untagged), (beyond, untagged / 2)):
        w.ok(
            "workload.declare/v1",
            {
                "workload_id": "w1",
                "operator_id": "lab",
                "cluster_id": "c1",
                "kind": "inference",
                "starts_at": _day(0).isoformat(),
                "ends_at": _day(20).isoformat(),
                "chips": CHIPS,
                "flop_max": per_day * 20,
            },
            "lab",
        )
    assert not any(b == "compute_counters" for b, _ in alarms_of(covered, 20))
    found = alarms_of(beyond, 20)
    assert found[("compute_counters", "one_shot")] == 0


def test_a_recalibrated_meter_restarts_its_systematic_error() -> None:
    """A meter biased -6% replaced on day 100 by a new meter (a new id) biased +6%: the new
    meter's bias is a new systematic error, so no alarm; the same jump within one meter's
    readings is a change the model does not explain, and alarms."""
    f = Facility(
        seed=8,
        days=160,
        systematic_sigma=0.05,
        recalibrate_at=100,
        meter_biases={"m1": -0.06, "m2": 0.06},
    )
    (fac,) = facility_balances(build(f).registry, _day(161))
    assert not any(a.balance is BalanceKind.ENERGY for a in fac.alarms())
    jump = Facility(seed=8, days=160, systematic_sigma=0.05, meter_biases={"m1": -0.06})
    w = build(jump)
    # The same meter's readings from day 100 read 12.8% higher: its bias moved.
    readings = sorted(w.registry.views["meter_readings"].values(), key=lambda r: r["seq"])
    for r in readings:
        if r["delta_j"] is not None and datetime.fromisoformat(r["window_end"]) > _day(100):
            r["delta_j"] *= 1.06 / 0.94
    found = alarms_of(w, 160)
    assert min(d for (b, _), d in found.items() if b == "energy") in (100, 101, 102)


def _honest_energy_year(rng: random.Random) -> bool:
    """One honest facility-year of energy balances drawn from the stated error model: whether
    any test alarmed."""
    rs, ss, so, watts, ratio = 0.01, 0.02, 0.05, 20_000.0, 0.2
    bias, overhead_error = rng.gauss(0, ss), rng.gauss(0, so)
    balances = []
    for d in range(DAYS_PER_YEAR):
        chips = CHIPS * 0.9 * TDP * SECONDS * (1 + rng.gauss(0, 0.03))
        reported = chips * (1 + rng.uniform(-0.02, 0.02))
        truth = chips + (ratio * chips + watts * SECONDS) * (1 + overhead_error)
        read = truth * (1 + bias) * (1 + rng.gauss(0, rs))
        md = MeterDay(
            energy=Quantity(read, {("r", d): read * rs}, {"meter:m": read * ss}),
            seconds={"m": SECONDS},
            overhead_j=watts * SECONDS,
            ratio_weight=ratio * read,
            sigma_weight=so * read,
        )
        day = DAY0 + timedelta(days=d)
        balances.append(energy_balance("f", day, md, ChipDay(energy_j=reported)))
    return any(p.alarm is not None for p in series_tested(balances))


@pytest.mark.slow
def test_honest_years_false_alarm_at_the_stated_rate() -> None:
    """Over 1,000 seeded honest facility-years, the energy balance's two tests alarm in a share
    of years within the 99.9% binomial interval of their stated 2 x ALPHA_PER_TEST."""
    from scipy.stats import binom

    rng = random.Random(20270101)
    years = 1000
    alarmed = sum(_honest_energy_year(rng) for _ in range(years))
    stated = 2 * ALPHA_PER_TEST
    low, high = binom.interval(0.999, years, stated)
    assert low <= alarmed <= high, (alarmed, low, high)


def test_an_alarm_counts_from_the_evaluation_after_its_day_closed() -> None:
    """The facts built from the state carry a balance alarm, hence an energy_unaccounted
    finding on the facility, only once its day is over and the close delay has passed."""
    from pausewatch.policy import FindingKind, load_preset
    from pausewatch.state._facts import evaluated

    w = build(Facility(seed=11, days=60, hidden_from=40, hidden_w=2 * TDP * 0.9))
    first = min(d for (balance, _), d in alarms_of(w, 60).items() if balance == "energy")
    closes = _day(first + 1) + DAY_CLOSES_AFTER
    policy = load_preset("miri-2025")

    def energy(at: datetime) -> list[str]:
        _, result = evaluated(w.registry, at, policy)
        return [f.subject for f in result.findings if f.kind is FindingKind.ENERGY_UNACCOUNTED]

    assert energy(closes - timedelta(minutes=1)) == []
    assert "facility:f1" in energy(closes)


@pytest.mark.parametrize("outage", [False, True])
def test_silent_chips_are_told_going_dark_or_an_outage_by_the_meter(outage: bool) -> None:
    """Chips silent from day 30 while the meter goes on reading their power are going dark in
    the words of the dark_chips finding; when the meter shows only the overheads, an outage."""
    from pausewatch.policy import FindingKind, load_preset
    from pausewatch.state._facts import evaluated

    w = build(Facility(seed=4, days=40, silent_from=30, outage=outage))
    # Each chip's last window, as the telemetry fold keeps it: the end of day 29.
    for i in range(CHIPS):
        w.registry.views["tel_chains"][(f"g{i}",)] = {
            "chip_id": f"g{i}",
            "seq": 1,
            "digest": "0" * 64,
            "window_end": _day(30).isoformat(),
            "updated_idx": 1,
        }
    _, result = evaluated(w.registry, _day(40), load_preset("miri-2025"))
    (dark,) = [f for f in result.findings if f.kind is FindingKind.DARK_CHIPS]
    figures = dict(dark.figures)
    assert figures["going_dark"] is (not outage)
    if outage:
        assert "an outage, not going dark" in dark.explanation
        assert figures["meter_power_w"] < 0.25 * figures["dark_tdp_w"]
    else:
        assert "going dark, not an outage" in dark.explanation
        assert figures["meter_power_w"] > 0.5 * figures["dark_tdp_w"]


def test_the_energy_balance_is_the_meter_less_the_chips_and_the_stated_overheads() -> None:
    """EUF = meter - (chips x (1 + ratio) + overhead_w x seconds), with the meter's, the
    overheads' (per facility) and the counters' errors under their own keys."""
    md = MeterDay(
        energy=Quantity(1.0e9, {("r", 1): 1e7}, {"meter:m": 2e7}),
        seconds={"m": SECONDS},
        overhead_j=1_000.0 * SECONDS,
        ratio_weight=0.2 * 1.0e9,
        sigma_weight=0.05 * 1.0e9,
    )
    b = energy_balance("f", DAY0, md, ChipDay(energy_j=6.0e8))
    assert b.value == pytest.approx(1.0e9 - (6.0e8 * 1.2 + 1_000.0 * SECONDS))
    q = b.quantity
    assert set(q.systematic) == {"meter:m", "overhead:f"}
    assert q.systematic["overhead:f"] == pytest.approx(-0.05 * (0.2 * 6.0e8 + 1_000.0 * SECONDS))
    assert q.random[("chips-energy", "f", DAY0)] == pytest.approx(
        -1.2 * 6.0e8 * 0.02 / math.sqrt(3)
    )


def test_the_counters_balance_is_untagged_compute_less_the_declared_allowance() -> None:
    """Compute unaccounted for by the counters: FLOP tagged to no run, summed over precisions,
    less the allowance, with the counters' tolerance as its only error."""
    chips = ChipDay(unattributed_flop={"bf16": 3e18, "fp8": 1e18})
    b = counters_balance("f", DAY0, chips, 1.5e18, [7])
    assert b.value == pytest.approx(2.5e18)
    assert b.sigma == pytest.approx(4e18 * 0.02 / math.sqrt(3))
    assert b.evidence == ("log:7",)


def test_a_reading_across_midnight_is_shared_by_the_two_days_it_spans() -> None:
    """A meter reading spanning 18:00 to 06:00 puts a half of its energy in each day, under one
    random-error key, so the two days' balances covary through it."""
    meter = {
        "meter_id": "m",
        "random_sigma": 0.01,
        "systematic_sigma": 0.0,
        "overhead_w": None,
        "overhead_ratio": None,
        "overhead_sigma": None,
    }
    rows = [
        {
            "seq": 0,
            "window_end": "2027-01-01T18:00:00Z",
            "delta_j": None,
            "facility_id": "f",
            "idx": 1,
        },
        {
            "seq": 1,
            "window_end": "2027-01-02T06:00:00Z",
            "delta_j": 1.2e9,
            "facility_id": "f",
            "idx": 2,
        },
    ]
    days = _meter_days([meter], {"m": rows}, "f")
    first, second = days[DAY0], days[DAY0 + timedelta(days=1)]
    assert first.energy.value == pytest.approx(0.6e9)
    assert second.energy.value == pytest.approx(0.6e9)
    assert (first.seconds["m"], second.seconds["m"]) == (6 * 3600, 6 * 3600)
    assert set(first.energy.random) == set(second.energy.random) == {("reading", "m", 1)}


def test_a_meter_without_random_error_over_silent_days_stops_no_evaluation() -> None:
    """A meter certified with no random error, over days when no chip reports, gives days with
    only systematic errors, which cannot be standardised: those days are left out and the
    facility's balances (and every other facility's) are still drawn, not refused."""
    w = build(Facility(seed=3, days=20, random_sigma=0.0, silent_from=0))
    (fac,) = facility_balances(w.registry, _day(21))
    assert fac.series[BalanceKind.ENERGY] == ()
    assert balance_facts(w.registry, _day(21)) is not None
