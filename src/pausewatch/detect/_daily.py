"""Daily balances per facility over the log, and their alarms (docs/adr/0029).

For each facility and each UTC day ``[00:00, 24:00)`` that is over, three balances:

``energy``
    Energy unaccounted for: the meters' energy less the chips' reported energy times
    ``1 + overhead_ratio`` and less ``overhead_w`` times the seconds metered.
``compute_energy``
    Compute unaccounted for from energy: the meters' energy net of the overheads, converted to
    FLOP with the fleet's peak per joule and the efficiency's uncertainty
    (:func:`~pausewatch.detect._balance.flop_from_energy`), less the FLOP the chips counted.
``compute_counters``
    Compute unaccounted for from the counters: FLOP counted in windows that name no run, less
    what the declared workloads (``workload.declare/v1``) cover that day.

The two meter-based balances exist only for a facility with an installed meter. Each series is
standardised (SITMUF: the meters' and overheads' systematic errors persist from day to day)
and tested twice: the one-shot test on each standardised residual and Page's CUSUM on them,
each with a false-alarm probability of :data:`ALPHA_PER_TEST` per facility-year, so that a
facility's six tests together false-alarm at most :data:`FALSE_ALARMS_PER_FACILITY_YEAR` a
year.

Pure: reads the views of a :class:`~pausewatch.registry.Registry` and nothing else; time is a
parameter.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import threading
import weakref
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Any

from pausewatch.compute import (
    COUNTER_TOLERANCE,
    Chip,
    Precision,
    load_catalogue,
)
from pausewatch.detect._arl import decision_interval
from pausewatch.detect._balance import (
    Balance,
    BalanceError,
    BalanceKind,
    Efficiency,
    Level,
    Period,
    Quantity,
    compute_unaccounted,
    energy_unaccounted,
    fleet_flop_per_joule,
    flop_from_energy,
)
from pausewatch.detect._cusum import page_cusum
from pausewatch.detect._sitmuf import standardised, z_quantile
from pausewatch.errors import Error
from pausewatch.registry import Registry, Row

PERIOD = timedelta(days=1)
"""The balance period: one UTC day (contract C2)."""
DAY_CLOSES_AFTER = timedelta(hours=6)
"""A day is balanced once this long has passed since its end, so that telemetry and readings
uploaded a few hours late are in it."""
DAYS_PER_YEAR = 365
"""Days in the facility-year the false-alarm rates are stated for."""
FALSE_ALARMS_PER_FACILITY_YEAR = 0.03
"""The false-alarm probability per facility-year of all the balance tests of a facility."""
SERIES: tuple[BalanceKind, ...] = (
    BalanceKind.ENERGY,
    BalanceKind.COMPUTE_ENERGY,
    BalanceKind.COMPUTE_COUNTERS,
)
"""The balances drawn per facility and day."""
TESTS: tuple[str, ...] = ("one_shot", "cusum")
"""The tests run on each series."""
ALPHA_PER_TEST = FALSE_ALARMS_PER_FACILITY_YEAR / (len(SERIES) * len(TESTS))
"""Each test's false-alarm probability per facility-year (an even split: 0.005)."""
CUSUM_K = 0.5
"""Page's reference value, in sigma: tuned to a shift of one sigma of the residuals."""
EFFICIENCY_DAY_SIGMA = 0.25
"""Relative sigma of a facility's efficiency from one day to the next (its workload varies),
beside the efficiency's systematic uncertainty."""
COUNTER_SIGMA = COUNTER_TOLERANCE / math.sqrt(3)
"""Relative sigma of a day's counted energy or FLOP: the counters' ±tolerance, uniform."""
_FULL_DAY = PERIOD.total_seconds()
_ZERO = Quantity.exact(0.0)


def per_day_alpha(alpha_year: float, days: int = DAYS_PER_YEAR) -> float:
    """The one-shot test's false-alarm probability per day that gives ``alpha_year`` per year of
    ``days`` independent residuals: ``1 - (1 - alpha_year)^(1/days)``."""
    return -math.expm1(math.log1p(-alpha_year) / days)


def in_control_arl(alpha_year: float, days: int = DAYS_PER_YEAR) -> float:
    """The CUSUM's in-control average run length whose alarm falls within ``days`` with
    probability ``alpha_year``, taking the run length as geometric: ``-days / ln(1 - alpha)``
    (the CUSUM's head start from zero makes the true probability a little smaller)."""
    return -days / math.log1p(-alpha_year)


@functools.cache
def limits(alpha_year: float = ALPHA_PER_TEST) -> tuple[float, float]:
    """The one-shot limit ``z`` (sigma) and the CUSUM decision interval ``h`` at ``CUSUM_K``,
    each for a false-alarm probability ``alpha_year`` per facility-year."""
    z = z_quantile(per_day_alpha(alpha_year))
    h = decision_interval(k=CUSUM_K, in_control_arl=in_control_arl(alpha_year))
    return z, h


# -- one day's inputs ----------------------------------------------------------------------------


@dataclass
class MeterDay:
    """What the meters of a facility read on one day (prorated by window overlap)."""

    energy: Quantity = field(default_factory=lambda: Quantity.exact(0.0))
    """The energy with the meters' random (per reading) and systematic (per meter) loadings."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Seconds of the day each meter's readings cover."""
    overhead_j: float = 0.0
    """``overhead_w`` times the seconds covered, summed over the meters."""
    ratio_weight: float = 0.0
    sigma_weight: float = 0.0
    evidence: set[int] = field(default_factory=set)

    @property
    def overhead_ratio(self) -> float:
        """The meters' ``overhead_ratio`` weighted by their energy that day."""
        return self.ratio_weight / self.energy.value if self.energy.value > 0 else 0.0

    @property
    def overhead_sigma(self) -> float:
        """The meters' ``overhead_sigma`` weighted by their energy that day."""
        return self.sigma_weight / self.energy.value if self.energy.value > 0 else 0.05


@dataclass(frozen=True, slots=True)
class ChipDay:
    """What the chips of a facility's (metered) clusters reported for one day."""

    energy_j: float = 0.0
    flop: Mapping[str, float] = field(default_factory=dict)
    unattributed_flop: Mapping[str, float] = field(default_factory=dict)
    evidence: frozenset[int] = frozenset()
    busy_energy_j: float = 0.0
    """Of ``energy_j``, the energy of windows whose tensor pipes were busy (at or above the
    undeclared-compute threshold): the rest paid for idling and serving, not for compute."""


def day_period(day: date) -> Period:
    """The balance period of ``day``: ``[00:00, 24:00)`` UTC."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return Period(start, start + PERIOD)


def _log(entries: Iterable[int]) -> tuple[str, ...]:
    return tuple(f"log:{i}" for i in sorted(set(entries)))


def energy_balance(facility: str, day: date, meter: MeterDay, chips: ChipDay) -> Balance:
    """EUF of one facility-day: meter - (chips · (1 + ratio) + overhead_w · seconds).

    The chips' energy carries the counters' tolerance as a random error of the day; the stated
    overhead (both parts) a systematic one of ``overhead_sigma`` under ``overhead:<facility>``,
    which persists from day to day like a meter's bias.
    """
    ratio = meter.overhead_ratio
    # The counters' error reaches the balance through the ratio too: (1 + ratio) x its sigma.
    reported = Quantity(
        chips.energy_j,
        {("chips-energy", facility, day): chips.energy_j * COUNTER_SIGMA * (1 + ratio)},
    )
    stated = ratio * chips.energy_j + meter.overhead_j
    overhead = Quantity(stated, {}, {f"overhead:{facility}": meter.overhead_sigma * stated})
    return energy_unaccounted(
        Level.FACILITY,
        facility,
        day_period(day),
        meter=[meter.energy],
        chips_reported=[reported],
        overheads=overhead,
        evidence=_log(meter.evidence | chips.evidence),
    )


def dominant_precision(flop: Mapping[str, float], fleet: Mapping[Chip, int]) -> str:
    """The precision most of the facility's compute was counted in (BF16 if none), provided the
    fleet has a peak in it."""
    ranked = sorted(flop, key=lambda p: (-flop[p], p))
    for precision in [*ranked, Precision.BF16.value, *(p.value for p in Precision)]:
        try:
            fleet_flop_per_joule(fleet, precision)
        except BalanceError:
            continue
        return precision
    raise BalanceError("the fleet has a peak in no precision")


def equivalent_flop(flop: Mapping[str, float], fleet: Mapping[Chip, int], precision: str) -> float:
    """FLOP counted in several precisions as FLOP of ``precision``: each scaled by the fleet's
    peak per joule in ``precision`` over its own (1 where the fleet has no peak in it)."""
    target = fleet_flop_per_joule(fleet, precision)
    total = 0.0
    for p, count in flop.items():
        try:
            total += count * target / fleet_flop_per_joule(fleet, p)
        except BalanceError:
            total += count
    return total


def compute_energy_balance(
    facility: str,
    day: date,
    meter: MeterDay,
    chips: ChipDay,
    fleet: Mapping[Chip, int],
    precision: str,
) -> Balance:
    """CUF from energy: the meters' energy net of the overheads and of what the chips spent
    idling or serving, as FLOP of ``precision``, less the FLOP the chips counted (as FLOP of
    ``precision``).

    The net energy is ``(meter - overhead_w·s) / (1 + ratio) - idle``, with ``idle`` the chips'
    reported energy in windows that were not busy (it pays for no compute: without taking it
    out, a facility that idles or serves would show compute unaccounted for every day). Energy
    the meter saw and no chip reported (hidden chips) stays in, as compute. The efficiency is
    uniform on the plausible interval (systematic, ``efficiency:<facility>``) and varies by
    :data:`EFFICIENCY_DAY_SIGMA` from day to day (random).
    """
    ratio = meter.overhead_ratio
    src = f"overhead:{facility}"
    fixed = Quantity(meter.overhead_j, {}, {src: meter.overhead_sigma * meter.overhead_j})
    # 1 / (1 + ratio) falls as the stated ratio's error rises: the loading is negative.
    scale = Quantity(1 / (1 + ratio), {}, {src: -meter.overhead_sigma * ratio / (1 + ratio) ** 2})
    idle_j = max(0.0, chips.energy_j - chips.busy_energy_j)
    idle = Quantity(idle_j, {("chips-idle-energy", facility, day): idle_j * COUNTER_SIGMA})
    net = (meter.energy - fixed) * scale - idle
    efficiency = Efficiency.from_interval(f"efficiency:{facility}")
    daily = Quantity(1.0, {("efficiency", facility, day): EFFICIENCY_DAY_SIGMA})
    measured = flop_from_energy(net, 0.0, fleet, precision, efficiency) * daily
    counted = equivalent_flop(chips.flop, fleet, precision)
    declared = Quantity(counted, {("chips-flop", facility, day): counted * COUNTER_SIGMA})
    return compute_unaccounted(
        Level.FACILITY,
        facility,
        day_period(day),
        measured=[measured],
        declared=[declared],
        from_energy=True,
        evidence=_log(meter.evidence | chips.evidence),
    )


def counters_balance(
    facility: str, day: date, chips: ChipDay, allowance: float, evidence: Iterable[int]
) -> Balance:
    """CUF from the counters: FLOP in windows naming no run (summed over precisions, with the
    counters' tolerance) less what declared workloads cover that day (exact)."""
    untagged = math.fsum(chips.unattributed_flop.values())
    measured = Quantity(untagged, {("untagged", facility, day): untagged * COUNTER_SIGMA})
    return compute_unaccounted(
        Level.FACILITY,
        facility,
        day_period(day),
        measured=[measured],
        declared=[allowance],
        evidence=_log([*chips.evidence, *evidence]),
    )


# -- tests ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayPoint:
    """One day of one balance series, tested (contract C4's ``P``)."""

    start: datetime
    end: datetime
    value: float
    """The balance (J or FLOP): positive when more was measured than accounted for."""
    sigma: float
    """Its standard deviation under the error model."""
    standardised: float
    """Its SITMUF residual: N(0, 1) under no loss, given the days before."""
    cusum: float
    """Page's CUSUM of the residuals after this day (before any restart)."""
    one_shot_limit: float
    """The one-shot test's limit on ``standardised``."""
    cusum_limit: float
    """The CUSUM's decision interval ``h``."""
    one_shot_alarm: bool
    cusum_alarm: bool
    evidence: tuple[str, ...] = ()
    """The log entries (meter readings, telemetry batches, workloads) the day rests on."""

    @property
    def alarm(self) -> str | None:
        """``"one_shot"``, ``"cusum"`` or none (the one-shot test first where both alarm)."""
        if self.one_shot_alarm:
            return "one_shot"
        return "cusum" if self.cusum_alarm else None

    def statistic(self, test: str) -> float:
        """What ``test`` ("one_shot" or "cusum") compares with its limit: the standardised
        residual or the CUSUM."""
        return self.standardised if test == "one_shot" else self.cusum

    def limit(self, test: str) -> float:
        """The limit of ``test`` ("one_shot" or "cusum")."""
        return self.one_shot_limit if test == "one_shot" else self.cusum_limit

    def to_json(self) -> dict[str, Any]:
        """Contract C4's mapping, with the evidence beside it."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "value": self.value,
            "sigma": self.sigma,
            "standardised": self.standardised,
            "cusum": self.cusum,
            "one_shot_limit": self.one_shot_limit,
            "cusum_limit": self.cusum_limit,
            "alarm": self.alarm,
            "evidence": list(self.evidence),
        }


def series_tested(
    balances: Sequence[Balance], alpha_year: float = ALPHA_PER_TEST
) -> tuple[DayPoint, ...]:
    """SITMUF of a series of daily balances and its tests (:func:`series_and_days`, the points
    alone)."""
    return series_and_days(balances, alpha_year)[0]


def series_and_days(
    balances: Sequence[Balance], alpha_year: float = ALPHA_PER_TEST
) -> tuple[tuple[DayPoint, ...], tuple[Balance, ...]]:
    """SITMUF of a series of daily balances (oldest first), the one-shot test on each residual
    and Page's CUSUM on them, each set for ``alpha_year`` false alarms per facility-year.

    A day whose balance has no random error (nothing measured that day, or a meter stated
    without random error over days with no telemetry) is left out: given the days before, it
    has nothing new to standardise. A series that still cannot be standardised (its covariance
    is singular) is not tested at all rather than stopping every other facility's: it yields
    no point. Beside the points, the days tested as net balances (``measured`` the balance,
    ``accounted`` zero), with their loadings.
    """
    # A balance's quantity is drawn from its two sides on each access: draw it once.
    kept = [(b, q) for b in balances if (q := b.quantity).random_variance > 0]
    if not kept:
        return (), ()
    z, h = limits(alpha_year)
    try:
        residuals, sigmas = standardised([q for _, q in kept])
    except BalanceError:
        return (), ()
    path = page_cusum(residuals, CUSUM_K, h)
    alarms = set(path.alarms)
    # The days tested, each as its net quantity (measured - accounted, accounted zero): what a
    # roll-up sums without drawing it again.
    nets = tuple(
        Balance(b.level, b.subject, b.kind, b.period, q, _ZERO, b.evidence) for b, q in kept
    )
    points = tuple(
        DayPoint(
            b.period.start,
            b.period.end,
            q.value,
            sigma,
            y,
            s,
            z,
            h,
            y > z,
            i in alarms,
            b.evidence,
        )
        for i, ((b, q), y, sigma, s) in enumerate(
            zip(kept, residuals, sigmas, path.path, strict=True)
        )
    )
    return points, nets


@dataclass(frozen=True, slots=True)
class FirstAlarm:
    """The first alarm of one test on one tested series, and how often it alarmed."""

    balance: BalanceKind
    test: str
    point: DayPoint
    """The first day it alarmed on."""
    alarms: int
    """Days this test alarmed on."""
    last: datetime
    """Start of the last day it alarmed on."""


def first_alarms(series: Mapping[BalanceKind, Sequence[DayPoint]]) -> tuple[FirstAlarm, ...]:
    """The first alarm of each test on each series (one per series and test at most), in
    :data:`SERIES` and :data:`TESTS` order: what a facility's and a roll-up's alarms are."""
    out: list[FirstAlarm] = []
    for kind in SERIES:
        points = series.get(kind, ())
        for test in TESTS:
            hit = [p for p in points if (p.one_shot_alarm if test == "one_shot" else p.cusum_alarm)]
            if hit:
                out.append(FirstAlarm(kind, test, hit[0], len(hit), hit[-1].start))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class BalanceAlarm:
    """The first alarm of one test on one balance series of a facility up to a time."""

    facility_id: str
    operator_id: str | None
    party_id: str | None
    balance: BalanceKind
    test: str
    point: DayPoint
    alarms: int
    """Days this test alarmed on, up to the time."""
    last: datetime
    """Start of the last day it alarmed on."""

    @property
    def basis(self) -> str:
        """``"meter"`` or ``"counters"``."""
        return "counters" if self.balance is BalanceKind.COMPUTE_COUNTERS else "meter"

    @property
    def statistic(self) -> float:
        """The standardised residual (one-shot) or the CUSUM."""
        return self.point.statistic(self.test)

    @property
    def limit(self) -> float:
        """What the statistic exceeded."""
        return self.point.limit(self.test)


@dataclass(frozen=True, slots=True)
class FacilityBalances:
    """A facility's daily balances, tested."""

    facility_id: str
    operator_id: str | None
    party_id: str | None
    meters: tuple[str, ...]
    series: Mapping[BalanceKind, tuple[DayPoint, ...]]
    inputs: Mapping[BalanceKind, tuple[Balance, ...]] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )
    """The balances each tested series was drawn from, with their error loadings (the days
    kept, oldest first): what the roll-ups per operator and party sum (docs/adr/0035)."""

    def alarmed(self, kind: BalanceKind) -> bool:
        """Whether either test alarmed on the series ``kind`` on any day."""
        return any(p.alarm is not None for p in self.series.get(kind, ()))

    def alarms(self) -> tuple[BalanceAlarm, ...]:
        """The first alarm of each test on each series (one per series and test at most)."""
        return tuple(
            BalanceAlarm(
                self.facility_id,
                self.operator_id,
                self.party_id,
                a.balance,
                a.test,
                a.point,
                a.alarms,
                a.last,
            )
            for a in first_alarms(self.series)
        )

    def to_json(self) -> dict[str, Any]:
        """Contract C4's facility entry."""
        return {
            "facility_id": self.facility_id,
            "operator_id": self.operator_id,
            "party_id": self.party_id,
            "meters": list(self.meters),
            "balances": {
                kind.value: [p.to_json() for p in self.series.get(kind, ())] for kind in SERIES
            },
        }


# -- from the registry ---------------------------------------------------------------------------


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _flop(text: str) -> dict[str, float]:
    return {p: float(int(v)) for p, v in json.loads(text).items() if int(v) > 0}


def _days_of(start: datetime, end: datetime) -> Iterable[tuple[date, float]]:
    """The days ``[start, end)`` overlaps, with the seconds of each."""
    day = start.astimezone(UTC).date()
    while True:
        p = day_period(day)
        if p.start >= end:
            return
        seconds = (min(end, p.end) - max(start, p.start)).total_seconds()
        if seconds > 0:
            yield day, seconds
        day += PERIOD


def _meter_days(
    meters: Sequence[Row], readings: Mapping[str, list[Row]], facility: str
) -> dict[date, MeterDay]:
    """Each meter's readings prorated over the days their spans overlap (a span runs from the
    reading before's end, so that a reading after lost ones carries their energy)."""
    out: dict[date, MeterDay] = {}
    for meter in meters:
        mid = meter["meter_id"]
        rs, ss = float(meter["random_sigma"]), float(meter["systematic_sigma"])
        watts = float(meter.get("overhead_w") or 0.0)
        ratio = float(meter.get("overhead_ratio") or 0.0)
        o_sigma = meter.get("overhead_sigma")
        o_sigma = 0.05 if o_sigma is None else float(o_sigma)
        previous: Row | None = None
        for row in readings.get(mid, []):
            prev, previous = previous, row
            if prev is None or row["delta_j"] is None or row["facility_id"] != facility:
                continue
            start, end = _when(prev["window_end"]), _when(row["window_end"])
            span = (end - start).total_seconds()
            if span <= 0:
                continue
            delta = float(row["delta_j"])
            key: Hashable = ("reading", mid, int(row["seq"]))
            for day, seconds in _days_of(start, end):
                share = delta * seconds / span
                md = out.setdefault(day, MeterDay())
                md.energy = md.energy + Quantity(
                    share, {key: share * rs} if rs else {}, {f"meter:{mid}": share * ss}
                )
                md.seconds[mid] = md.seconds.get(mid, 0.0) + seconds
                md.overhead_j += watts * seconds
                md.ratio_weight += ratio * share
                md.sigma_weight += o_sigma * share
                md.evidence.add(int(row["idx"]))
    return out


def _chip_days(
    days_by_cluster: Mapping[str, list[Row]], clusters: Iterable[str]
) -> dict[date, ChipDay]:
    acc: dict[date, list[Any]] = {}
    for cluster in clusters:
        for row in days_by_cluster.get(cluster, []):
            day = date.fromisoformat(row["day"])
            a = acc.setdefault(day, [0.0, {}, {}, set(), 0.0])
            a[0] += float(row["energy_j"])
            a[4] += float(row["busy_energy_j"] or 0)
            for p, v in _flop(row["flop"]).items():
                a[1][p] = a[1].get(p, 0.0) + v
            for p, v in _flop(row["unattributed_flop"]).items():
                a[2][p] = a[2].get(p, 0.0) + v
            a[3].add(int(row["updated_idx"]))
    return {
        d: ChipDay(a[0], MappingProxyType(a[1]), MappingProxyType(a[2]), frozenset(a[3]), a[4])
        for d, a in acc.items()
    }


def _fleet(registry: Registry, clusters: set[str]) -> dict[Chip, int]:
    catalogue = load_catalogue()
    fleet: dict[Chip, int] = {}
    for chip in registry.views["chips"].values():
        if chip["status"] != "installed" or chip["cluster_id"] not in clusters:
            continue
        try:
            model = catalogue.get(chip["model"])
        except Error:
            continue
        if model.tdp_w is None:
            continue
        fleet[model] = fleet.get(model, 0) + 1
    return fleet


def _allowance(
    workloads: Sequence[Row], day: date, peak_of: Mapping[str, float]
) -> tuple[float, list[int]]:
    """FLOP the declared workloads cover on ``day``: each one's ``flop_max`` prorated over its
    span (one with no bound: its chips at their cluster's best peak for the overlap)."""
    p = day_period(day)
    total, used = 0.0, []
    for w in workloads:
        start, end = _when(w["starts_at"]), _when(w["ends_at"])
        overlap = (min(end, p.end) - max(start, p.start)).total_seconds()
        if overlap <= 0:
            continue
        used.append(int(w["idx"]))
        if w["flop_max"] is not None:
            total += float(w["flop_max"]) * overlap / (end - start).total_seconds()
        else:
            total += int(w["chips"]) * peak_of.get(w["cluster_id"], 0.0) * overlap
    return total, used


def _closed(day: date, at: datetime) -> bool:
    return day_period(day).end + DAY_CLOSES_AFTER <= at


_CACHE: dict[tuple[int, int, date, str | None], tuple[Any, tuple[FacilityBalances, ...]]] = {}
_CACHE_SIZE = 32
_CACHE_LOCK = threading.Lock()


def facility_balances(
    registry: Registry, at: datetime, *, facility: str | None = None
) -> tuple[FacilityBalances, ...]:
    """Every facility's daily balances over the days closed at ``at`` (or one facility's), in
    id order; a facility with neither a meter nor telemetry has empty series.

    The answer depends on the views and on which days are closed only, so it is kept for the
    registry's fold position and the last closed day: the policy's facts, ``/metrics`` and the
    API asking at one log size within one day compute it once.
    """
    cutoff = (at - DAY_CLOSES_AFTER).date()
    key = (id(registry), registry.applied, cutoff, facility)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is registry:
        return hit[1]
    found = _facility_balances(registry, at, facility)
    with _CACHE_LOCK:  # callers on several threads (readers, a fold deciding a lift)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)), None)
        _CACHE[key] = (weakref.ref(registry), found)
    return found


def _facility_balances(
    registry: Registry, at: datetime, facility: str | None
) -> tuple[FacilityBalances, ...]:
    views = registry.views
    clusters_of: dict[str, list[str]] = {}
    for (cid,), row in views["clusters"].items():
        clusters_of.setdefault(row["facility_id"], []).append(cid)
    days_by_cluster: dict[str, list[Row]] = {}
    for (cid, _), row in views["cluster_days"].items():
        days_by_cluster.setdefault(cid, []).append(row)
    readings: dict[str, list[Row]] = {}
    for (mid, _), row in views["meter_readings"].items():
        readings.setdefault(mid, []).append(row)
    for rows in readings.values():
        rows.sort(key=lambda r: int(r["seq"]))
    workloads: dict[str, list[Row]] = {}
    for row in views["workloads"].values():
        workloads.setdefault(row["facility_id"], []).append(row)
    catalogue = load_catalogue()
    peak_of: dict[str, float] = {}
    for chip in views["chips"].values():
        if chip["status"] == "installed" and chip["cluster_id"] is not None:
            try:
                best = catalogue.get(chip["model"]).best_peak
            except Error:
                continue
            peak_of[chip["cluster_id"]] = max(peak_of.get(chip["cluster_id"], 0.0), best)
    out: list[FacilityBalances] = []
    for (fid,), row in sorted(views["facilities"].items()):
        if facility is not None and fid != facility:
            continue
        operator = views["operators"].get((row["operator_id"],))
        party = None if operator is None else operator["party_id"]
        installed = sorted(
            (
                m
                for m in views["meters"].values()
                if m["status"] == "installed" and m["facility_id"] == fid
            ),
            key=lambda m: str(m["meter_id"]),
        )
        whole = [m for m in installed if m["cluster_id"] is None]
        used = whole or installed
        metered = set(clusters_of.get(fid, [])) if whole else {m["cluster_id"] for m in used}
        series: dict[BalanceKind, tuple[DayPoint, ...]] = {}
        inputs: dict[BalanceKind, tuple[Balance, ...]] = {}
        if used:
            series.update(
                _meter_series(registry, fid, used, readings, days_by_cluster, metered, at, inputs)
            )
        chip_days = _chip_days(days_by_cluster, clusters_of.get(fid, []))
        counters = []
        for day in sorted(chip_days):
            if not _closed(day, at):
                continue
            allowance, evidence = _allowance(workloads.get(fid, []), day, peak_of)
            counters.append(counters_balance(fid, day, chip_days[day], allowance, evidence))
        series[BalanceKind.COMPUTE_COUNTERS] = _tested(
            counters, BalanceKind.COMPUTE_COUNTERS, inputs
        )
        out.append(
            FacilityBalances(
                fid,
                row["operator_id"],
                party,
                tuple(str(m["meter_id"]) for m in used),
                MappingProxyType(series),
                MappingProxyType(inputs),
            )
        )
    return tuple(out)


def _tested(
    balances: Sequence[Balance],
    kind: BalanceKind,
    inputs: dict[BalanceKind, tuple[Balance, ...]],
) -> tuple[DayPoint, ...]:
    """The series tested; where it could be, the days it was drawn from go into ``inputs``."""
    points, nets = series_and_days(balances)
    if points:
        inputs[kind] = nets
    return points


def _meter_series(
    registry: Registry,
    fid: str,
    meters: Sequence[Row],
    readings: Mapping[str, list[Row]],
    days_by_cluster: Mapping[str, list[Row]],
    metered: set[str],
    at: datetime,
    inputs: dict[BalanceKind, tuple[Balance, ...]],
) -> dict[BalanceKind, tuple[DayPoint, ...]]:
    meter_days = _meter_days(meters, readings, fid)
    chip_days = _chip_days(days_by_cluster, metered)
    ids = [str(m["meter_id"]) for m in meters]
    days = [
        d
        for d in sorted(meter_days)
        if _closed(d, at)
        # A day is balanced when each meter whose readings touch it covers all of it.
        and all(s >= _FULL_DAY - 1 for s in meter_days[d].seconds.values())
        and any(m in meter_days[d].seconds for m in ids)
    ]
    energy = [energy_balance(fid, d, meter_days[d], chip_days.get(d, ChipDay())) for d in days]
    out = {BalanceKind.ENERGY: _tested(energy, BalanceKind.ENERGY, inputs)}
    fleet = _fleet(registry, metered)
    if fleet:
        total: dict[str, float] = {}
        for d in days:
            for p, v in chip_days.get(d, ChipDay()).flop.items():
                total[p] = total.get(p, 0.0) + v
        try:
            precision = dominant_precision(total, fleet)
            compute = [
                compute_energy_balance(
                    fid, d, meter_days[d], chip_days.get(d, ChipDay()), fleet, precision
                )
                for d in days
            ]
        except BalanceError:
            compute = []
        out[BalanceKind.COMPUTE_ENERGY] = _tested(compute, BalanceKind.COMPUTE_ENERGY, inputs)
    return out


GOING_DARK_SHARE = 0.25
"""Silent chips whose meter still shows at least this share of their TDP beyond the stated
overheads and the reporting chips are going dark; below it, an outage."""


@dataclass(frozen=True, slots=True)
class DarkDraw:
    """What a cluster's meters say while some of its chips are silent."""

    power_w: float
    """Mean power the meters measured over the silence, net of the stated overheads and of
    what the chips still reporting drew (0 at least)."""
    dark_tdp_w: float
    """The silent chips' combined TDP."""
    seconds: float
    """Seconds of the silence the meters' readings cover."""

    @property
    def going_dark(self) -> bool:
        """Whether the facility kept drawing the silent chips' power (else: an outage)."""
        return self.power_w >= GOING_DARK_SHARE * self.dark_tdp_w


def dark_draw(
    registry: Registry, cluster_id: str, dark: Sequence[str], since: datetime, at: datetime
) -> DarkDraw | None:
    """Whether the meters of ``cluster_id``'s facility (or of the cluster) kept drawing power
    over ``[since, at]`` while the chips ``dark`` were silent; none without a meter whose
    readings cover at least a quarter of an hour of it."""
    views = registry.views
    cluster = views["clusters"].get((cluster_id,))
    if cluster is None or not dark:
        return None
    fid = cluster["facility_id"]
    installed = [
        m
        for m in views["meters"].values()
        if m["status"] == "installed" and m["facility_id"] == fid
    ]
    whole = [m for m in installed if m["cluster_id"] is None]
    used = whole or [m for m in installed if m["cluster_id"] == cluster_id]
    if not used:
        return None
    metered = (
        {c for (c,), row in views["clusters"].items() if row["facility_id"] == fid}
        if whole
        else {cluster_id}
    )
    energy = seconds = overhead = ratio = 0.0
    for meter in used:
        rows = sorted(
            (r for (mid, _), r in views["meter_readings"].items() if mid == meter["meter_id"]),
            key=lambda r: int(r["seq"]),
        )
        covered = 0.0
        for prev, row in itertools.pairwise(rows):
            if row["delta_j"] is None or row["facility_id"] != fid:
                continue
            start, end = _when(prev["window_end"]), _when(row["window_end"])
            lo, hi = max(start, since), min(end, at)
            if hi <= lo or end <= start:
                continue
            share = (hi - lo).total_seconds() / (end - start).total_seconds()
            energy += float(row["delta_j"]) * share
            covered += (hi - lo).total_seconds()
            overhead += float(meter.get("overhead_w") or 0.0) * (hi - lo).total_seconds()
            ratio = max(ratio, float(meter.get("overhead_ratio") or 0.0))
        seconds = max(seconds, covered)
    if seconds < 900:
        return None
    reported = 0.0
    for (cid, day), row in views["cluster_days"].items():
        if cid not in metered:
            continue
        p = day_period(date.fromisoformat(day))
        overlap = (min(p.end, at) - max(p.start, since)).total_seconds()
        if overlap > 0:
            reported += float(row["energy_j"]) * overlap / _FULL_DAY
    catalogue = load_catalogue()
    tdp = 0.0
    for chip_id in dark:
        chip = views["chips"].get((chip_id,))
        if chip is None:
            continue
        try:
            tdp += catalogue.get(chip["model"]).tdp_w or 0.0
        except Error:
            continue
    net = ((energy - overhead) / (1 + ratio) - reported) / seconds
    return DarkDraw(max(0.0, net), tdp, seconds)


__all__ = [
    "ALPHA_PER_TEST",
    "CUSUM_K",
    "DAYS_PER_YEAR",
    "DAY_CLOSES_AFTER",
    "EFFICIENCY_DAY_SIGMA",
    "FALSE_ALARMS_PER_FACILITY_YEAR",
    "GOING_DARK_SHARE",
    "PERIOD",
    "SERIES",
    "TESTS",
    "BalanceAlarm",
    "ChipDay",
    "DarkDraw",
    "DayPoint",
    "FacilityBalances",
    "FirstAlarm",
    "MeterDay",
    "compute_energy_balance",
    "counters_balance",
    "dark_draw",
    "day_period",
    "energy_balance",
    "facility_balances",
    "first_alarms",
    "in_control_arl",
    "limits",
    "per_day_alpha",
    "series_and_days",
    "series_tested",
]
