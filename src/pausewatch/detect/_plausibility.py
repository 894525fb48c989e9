"""Whether a cluster's FLOP counters agree with its chips' own activity sensors, per UTC day
(docs/adr/0033).

A chip that counts fewer operations than it performs (``underreported_counters``) shows it
against its other sensors: while its tensor pipes are busy they do work at some rate of the
chip's dense peak, and no honest workload does less than a floor of it. Per cluster and UTC
day, over the windows whose tensor pipes were busy (``tensor_active`` at or above
:data:`~pausewatch.telemetry.UNDECLARED_TENSOR_ACTIVE`, the windows ``busy_energy_j`` counts),
the *counter ratio* is

    ratio = sum over chip models and precisions of (FLOP counted / that model's dense peak)
            / tensor-active seconds,

the share of peak the counters say the busy pipes ran at. The aggregate keeps the busy windows
per chip model, so each model's work is held to its own peak: chips installed beside the busy
ones that did none of the work (faster or slower) move neither side.
Honest traces of the fit seeds put its logarithm at :data:`FLOOR_LOG_MEAN` with a spread of
:data:`FLOOR_LOG_SIGMA` (per window, so that a day with a single busy window is covered too);
the counters' own tolerance adds :data:`~pausewatch.detect._daily.COUNTER_SIGMA`. A day whose
ratio falls below ``exp(mean - z * sigma)``, with ``z`` the one-sided normal quantile of the
per-day false-alarm probability that gives :data:`ALPHA_PER_CLUSTER_YEAR` per cluster-year, is
implausible.

The test cannot see a chip that forges its activity and power consistently with its counters
(``scaled_sensors``): only the facility meter, which reads the true draw, can (the energy
balance of :mod:`._daily`).

Pure: reads the views of a :class:`~pausewatch.registry.Registry`; time is a parameter.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from pausewatch.compute import HardwareCatalogue, load_catalogue
from pausewatch.detect._daily import COUNTER_SIGMA, DAY_CLOSES_AFTER, day_period, per_day_alpha
from pausewatch.detect._sitmuf import z_quantile
from pausewatch.errors import DetectionError, Error
from pausewatch.registry import Registry

ALPHA_PER_CLUSTER_YEAR = 0.005
"""False-alarm probability per cluster-year of the plausibility test (as each of ADR 0029's
balance tests per facility-year)."""
FLOOR_LOG_MEAN = -0.5148
"""Mean of ``ln(ratio)`` over the honest busy windows of the fit seeds
(``scripts/fit_counter_floor.py``)."""
FLOOR_LOG_SIGMA = 0.0307
"""Standard deviation of ``ln(ratio)`` over the same windows."""
MIN_TENSOR_SECONDS = 60.0
"""A cluster-day with less busy tensor time than this is not tested: too little to judge."""


def fit_floor(ratios: Iterable[float]) -> tuple[float, float]:
    """The mean and standard deviation of ``ln(ratio)`` over honest ratios (at least two, each
    positive): the floor's parameters."""
    logs = [math.log(r) for r in ratios if r > 0]
    if len(logs) < 2:
        raise DetectionError(f"fit_floor: expected at least two positive ratios, got {len(logs)}")
    mean = math.fsum(logs) / len(logs)
    var = math.fsum((x - mean) ** 2 for x in logs) / (len(logs) - 1)
    return mean, math.sqrt(var)


def plausibility_limit(
    alpha_year: float = ALPHA_PER_CLUSTER_YEAR,
    *,
    log_mean: float = FLOOR_LOG_MEAN,
    log_sigma: float = FLOOR_LOG_SIGMA,
) -> float:
    """The ratio below which a cluster-day is implausible at ``alpha_year`` false alarms per
    cluster-year: ``exp(mean - z * sqrt(sigma^2 + counter_sigma^2))``."""
    z = z_quantile(per_day_alpha(alpha_year))
    return math.exp(log_mean - z * math.hypot(log_sigma, COUNTER_SIGMA))


def peak_seconds(flop: Mapping[str, float], peaks: Mapping[str, float], fallback: float) -> float:
    """Seconds at dense peak that ``flop`` (per precision) takes: each precision's count over
    its peak, ``fallback`` (the best peak) for a precision without one."""
    total = 0.0
    for precision, count in flop.items():
        peak = peaks.get(precision) or fallback
        if peak > 0:
            total += count / peak
    return total


def counter_ratio(
    flop: Mapping[str, float], tensor_s: float, peaks: Mapping[str, float], fallback: float
) -> float:
    """The share of dense peak the counters say busy tensor pipes ran at over ``tensor_s``
    seconds of activity (0 without activity)."""
    if tensor_s <= 0:
        return 0.0
    return peak_seconds(flop, peaks, fallback) / tensor_s


@dataclass(frozen=True, slots=True)
class CounterDay:
    """One cluster's busy windows on one UTC day, tested."""

    cluster_id: str
    day: date
    flop: float
    """FLOP counted in the busy windows (all precisions)."""
    tensor_s: float
    """Seconds their tensor pipes were active."""
    ratio: float
    """The counter ratio (see the module doc)."""
    limit: float
    """The plausibility limit it is tested against."""
    chip_windows: int
    """The cluster's records that day (busy or not)."""
    evidence: tuple[str, ...] = ()
    best_peak: float = 0.0
    """The best dense peak (FLOP/s) of the chips that did the busy work, each model weighted
    by its tensor-active time: what the busy pipes are held to when the counters report nothing
    at all, so that no effective peak can be drawn from them."""

    @property
    def alarm(self) -> bool:
        """Whether the counters report less than the sensors make plausible."""
        return self.ratio < self.limit

    @property
    def expected_flop(self) -> float:
        """The least FLOP the busy windows make plausible: the counted FLOP scaled up to the
        limit; with nothing counted, the limit's share of the best peak over the tensor-active
        time (finite: a fact refuses infinity, and the bluntest underreport must stay a
        finding)."""
        if self.ratio > 0:
            return self.flop * self.limit / self.ratio
        return self.limit * self.tensor_s * self.best_peak


@dataclass(frozen=True, slots=True)
class CounterAlarm:
    """The first implausible day of a cluster up to a time, and how many there were."""

    cluster_id: str
    facility_id: str | None
    operator_id: str | None
    party_id: str | None
    first: CounterDay
    alarms: int
    last: date


class BusyWork(NamedTuple):
    """What a cluster-day's busy windows did, over the chip models the catalogue knows."""

    work_s: float
    """Seconds at dense peak their counted FLOP take, each model's FLOP over its own peaks."""
    tensor_s: float
    """Their tensor-active seconds."""
    best_peak: float
    """The peak those seconds ran against: each model's best peak weighted by its
    tensor-active seconds (FLOP/s; 0 without any)."""
    flop: float
    """The FLOP their counters report."""


def busy_peak_seconds(
    busy_flop: Mapping[str, Mapping[str, float]],
    busy_tensor_ms: Mapping[str, int],
    catalogue: HardwareCatalogue,
) -> BusyWork:
    """The :class:`BusyWork` of busy windows kept per chip model (a cluster-day's ``busy_flop``
    and ``busy_tensor_ms``). A model the catalogue lacks is left out of every figure, its FLOP
    too: no peak to hold its chips to."""
    work = tensor_s = best = 0.0
    counted: list[float] = []
    for name in sorted(busy_flop.keys() | busy_tensor_ms.keys()):
        try:
            model = catalogue.get(name)
        except Error:
            continue
        seconds = busy_tensor_ms.get(name, 0) / 1000
        peaks = {p.value: v for p, v in model.peak_flops.items()}
        work += peak_seconds(busy_flop.get(name, {}), peaks, model.best_peak)
        tensor_s += seconds
        best += seconds * model.best_peak
        counted.extend(busy_flop.get(name, {}).values())
    return BusyWork(work, tensor_s, best / tensor_s if tensor_s > 0 else 0.0, math.fsum(counted))


def counter_days(registry: Registry, at: datetime) -> tuple[CounterDay, ...]:
    """Every cluster-day closed at ``at`` (as the daily balances close them) with at least
    :data:`MIN_TENSOR_SECONDS` of busy tensor time on chips of a known model, tested; in
    cluster and day order. Each model's busy work is held to that model's peak: chips installed
    that did none of it change nothing."""
    limit = plausibility_limit()
    catalogue = load_catalogue()
    out: list[CounterDay] = []
    for (cid, day_text), row in sorted(registry.views["cluster_days"].items()):
        day = date.fromisoformat(day_text)
        if day_period(day).end + DAY_CLOSES_AFTER > at:
            continue
        busy_flop = {
            m: {p: float(int(v)) for p, v in f.items()}
            for m, f in json.loads(row.get("busy_flop") or "{}").items()
        }
        busy_ms = {m: int(v) for m, v in json.loads(row.get("busy_tensor_ms") or "{}").items()}
        busy = busy_peak_seconds(busy_flop, busy_ms, catalogue)
        if busy.tensor_s < MIN_TENSOR_SECONDS:
            continue
        out.append(
            CounterDay(
                cid,
                day,
                busy.flop,
                busy.tensor_s,
                busy.work_s / busy.tensor_s,
                limit,
                int(row["chip_windows"]),
                (f"log:{int(row['updated_idx'])}",),
                busy.best_peak,
            )
        )
    return tuple(out)


def counter_alarms(registry: Registry, at: datetime) -> tuple[CounterAlarm, ...]:
    """Per cluster with an implausible day closed at ``at``: the first such day, how many, and
    the last; in cluster order."""
    views = registry.views
    found: dict[str, list[CounterDay]] = {}
    for d in counter_days(registry, at):
        if d.alarm:
            found.setdefault(d.cluster_id, []).append(d)
    out: list[CounterAlarm] = []
    for cid, days in sorted(found.items()):
        cluster = views["clusters"].get((cid,))
        facility_id = None if cluster is None else cluster["facility_id"]
        facility = None if facility_id is None else views["facilities"].get((facility_id,))
        operator_id = None if facility is None else facility["operator_id"]
        operator = None if operator_id is None else views["operators"].get((operator_id,))
        party_id = None if operator is None else operator["party_id"]
        out.append(
            CounterAlarm(cid, facility_id, operator_id, party_id, days[0], len(days), days[-1].day)
        )
    return tuple(out)


__all__ = [
    "ALPHA_PER_CLUSTER_YEAR",
    "FLOOR_LOG_MEAN",
    "FLOOR_LOG_SIGMA",
    "MIN_TENSOR_SECONDS",
    "BusyWork",
    "CounterAlarm",
    "CounterDay",
    "busy_peak_seconds",
    "counter_alarms",
    "counter_days",
    "counter_ratio",
    "fit_floor",
    "peak_seconds",
    "plausibility_limit",
]
