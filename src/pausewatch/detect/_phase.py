"""Phase mismatch: a run declared a hyper-parameter search whose chips move as one synchronous
job (docs/adr/0036).

A hyper-parameter search is many small independent trials: each trial's chips synchronise
among themselves, but trials start, stop and keep their rhythm on their own, and a trial small
enough to fit a node sends its gradients over NVLink, not the network. One data-parallel job
is the opposite: every chip joins every all-reduce, so the network traffic of all its chips
rises and falls in the same windows. Some policies do not count hyper-parameter searches as
training (``counting.includes``), so declaring a job a search takes its compute out of the
count.

The check reads, per declared search, the windows its sampled chips name it in (the fold keeps
the latest windows of 16 chips per cluster and run label, ADR 0032): each chip's network bytes
per second, window by window. Two chips are *synchronous* when the Pearson correlation of the
logarithms of their traffic over the windows both report is at least
:data:`SYNC_CORRELATION`; the run's share of synchronous pairs is the statistic, and at
:data:`SYNC_SHARE` or more the run is one job, not a search. Its recall and false-positive rate
are measured by :func:`measure_phase_check` on simulated traces of held-out seeds (the
thresholds were chosen on :data:`FIT_SEEDS`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from pausewatch.compute import Phase
from pausewatch.errors import DetectionError
from pausewatch.simulate.adversarial import (
    AdversarialKind,
    adversarial_traces,
    search_traces,
)
from pausewatch.telemetry import SIGNAL_CHIPS, TelemetryRecord, parse_line, signal_chip_rank

CHECKED_PHASES = frozenset({Phase.HYPERPARAMETER_SEARCH})
"""Declared phases whose pattern is checked (ADR 0036 says why the others are not)."""
SYNC_CORRELATION = 0.7
"""Correlation of two chips' log network traffic from which they move together."""
SYNC_SHARE = 0.75
"""Share of a run's sampled chip pairs moving together from which it is one synchronous job."""
MIN_CHIPS = 4
"""Fewest sampled chips with windows of the run for a verdict (6 pairs)."""
MIN_COMMON_WINDOWS = 12
"""Fewest windows two chips both report for their pair to count."""
FIT_SEEDS = range(0, 200)
"""Seeds of the simulated runs the thresholds were chosen on (in the fit range 0..99,999)."""


@dataclass(frozen=True)
class RunPattern:
    """What a declared run's sampled windows show about its pattern."""

    run_id: str
    phase: Phase
    chips: int
    """Sampled chips that reported windows of the run."""
    windows: int
    """Their windows of the run."""
    pairs: int
    """Chip pairs with at least :data:`MIN_COMMON_WINDOWS` windows in common."""
    synchronous_pairs: int
    """Those whose traffic correlates at :data:`SYNC_CORRELATION` or more."""
    first_window: datetime | None
    last_window: datetime | None

    @property
    def share_synchronous(self) -> float:
        """Share of the pairs that move together (0 with no pair)."""
        return self.synchronous_pairs / self.pairs if self.pairs else 0.0

    @property
    def mismatch(self) -> bool:
        """Whether the pattern contradicts the declared phase (module docstring)."""
        return (
            self.phase in CHECKED_PHASES
            and self.chips >= MIN_CHIPS
            and self.pairs > 0
            and self.share_synchronous >= SYNC_SHARE
        )


def _traffic(records: Iterable[TelemetryRecord]) -> dict[datetime, float]:
    """One chip's log network bytes per second, by window start."""
    return {
        r.window_start: math.log1p((r.net_tx_bytes + r.net_rx_bytes) / r.window_s) for r in records
    }


def _correlation(a: dict[datetime, float], b: dict[datetime, float]) -> float | None:
    """Pearson correlation over the windows both report (none below the minimum; 0 for a flat
    series, which shows no rhythm)."""
    common = sorted(a.keys() & b.keys())
    if len(common) < MIN_COMMON_WINDOWS:
        return None
    x = np.array([a[t] for t in common])
    y = np.array([b[t] for t in common])
    sx, sy = float(x.std()), float(y.std())
    if sx == 0.0 or sy == 0.0:
        return 0.0
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


def run_pattern(run_id: str, phase: Phase | str, records: Iterable[TelemetryRecord]) -> RunPattern:
    """The pattern of ``run_id`` from ``records`` (any chips; only those naming the run count).
    Of the chips that name it, the :data:`~pausewatch.telemetry.SIGNAL_CHIPS` whose ids have the
    smallest SHA-256 are compared, as the aggregate samples a cluster: the pairs stay bounded
    whoever passes the records."""
    named: dict[str, list[TelemetryRecord]] = {}
    for r in records:
        if r.run_id == run_id:
            named.setdefault(r.chip_id, []).append(r)
    by_chip = {c: named[c] for c in sorted(named, key=signal_chip_rank)[:SIGNAL_CHIPS]}
    traffic = [_traffic(by_chip[c]) for c in sorted(by_chip)]
    pairs = synchronous = 0
    for a, b in itertools.combinations(traffic, 2):
        rho = _correlation(a, b)
        if rho is None:
            continue
        pairs += 1
        synchronous += rho >= SYNC_CORRELATION
    mine = [r for rs in by_chip.values() for r in rs]
    return RunPattern(
        run_id=run_id,
        phase=Phase(phase),
        chips=len(by_chip),
        windows=len(mine),
        pairs=pairs,
        synchronous_pairs=synchronous,
        first_window=min((r.window_start for r in mine), default=None),
        last_window=max((r.window_end for r in mine), default=None),
    )


def _sampled(by_chip: dict[str, list[bytes]]) -> list[TelemetryRecord]:
    """The records of the chips the telemetry aggregate keeps signals of (the
    :data:`~pausewatch.telemetry.SIGNAL_CHIPS` smallest SHA-256 of their ids)."""
    keep = sorted(by_chip, key=signal_chip_rank)[:SIGNAL_CHIPS]
    return [parse_line(line).record for c in keep for line in by_chip[c]]


@dataclass(frozen=True)
class PhaseCheckReport:
    """The check's recall on phase-mislabelled jobs and false positives on honest searches."""

    seeds: range
    mislabelled: tuple[float, ...]
    """Each mislabelled job's share of synchronous pairs, in seed order."""
    honest: tuple[float, ...]
    """Each honest search's share, in seed order."""
    recall: float
    false_positive_rate: float

    def table(self) -> str:
        """The report as plain text."""
        return (
            f"seeds {self.seeds.start}..{self.seeds.stop - 1} (thresholds chosen on seeds "
            f"{FIT_SEEDS.start}..{FIT_SEEDS.stop - 1}); correlation >= {SYNC_CORRELATION}, "
            f"share >= {SYNC_SHARE}\n"
            f"phase-mislabelled jobs  {len(self.mislabelled):>5}  recall {self.recall:.3f}\n"
            f"honest searches         {len(self.honest):>5}  false positives "
            f"{self.false_positive_rate:.3f}"
        )


_MODELS = ("H100 SXM", "H200", "A100 SXM")
_CHIPS = (16, 24, 32, 48, 64, 96, 128)


def simulated_records(
    seed: int, *, windows: int = 60
) -> tuple[list[TelemetryRecord], list[TelemetryRecord]]:
    """One seed's phase-mislabelled job (run ``run-adv-phase_mislabelled``) and honest search
    (``run-search``), each as the records of the chips the aggregate samples. The job has
    16-128 chips and an all-reduce every 3-8 windows; the search has 32-128 chips; the chip
    model rotates with the seed."""
    model = _MODELS[seed % len(_MODELS)]
    job = adversarial_traces(
        AdversarialKind.PHASE_MISLABELLED,
        chips=_CHIPS[seed % len(_CHIPS)],
        windows=windows,
        seed=seed,
        model=model,
        allreduce_every=3 + seed % 6,
    )
    search = search_traces(
        chips=_CHIPS[2 + seed % (len(_CHIPS) - 2)], windows=windows, seed=seed, model=model
    )
    return _sampled(job), _sampled(search)


def simulated_runs(seed: int, *, windows: int = 60) -> tuple[RunPattern, RunPattern]:
    """The patterns of :func:`simulated_records`, both runs declared hyper-parameter searches."""
    job, search = simulated_records(seed, windows=windows)
    phase = Phase.HYPERPARAMETER_SEARCH
    return (
        run_pattern(f"run-adv-{AdversarialKind.PHASE_MISLABELLED.value}", phase, job),
        run_pattern("run-search", phase, search),
    )


def measure_phase_check(seeds: Sequence[int] | range, *, windows: int = 60) -> PhaseCheckReport:
    """Recall and false-positive rate of the check on ``seeds`` (disjoint from
    :data:`FIT_SEEDS`, else a :class:`DetectionError`)."""
    if set(seeds) & set(FIT_SEEDS):
        raise DetectionError("measure the phase check on seeds it was not fitted on")
    runs = [simulated_runs(s, windows=windows) for s in seeds]
    bad, good = [r[0] for r in runs], [r[1] for r in runs]
    return PhaseCheckReport(
        seeds=seeds if isinstance(seeds, range) else range(min(seeds), max(seeds) + 1),
        mislabelled=tuple(r.share_synchronous for r in bad),
        honest=tuple(r.share_synchronous for r in good),
        recall=sum(r.mismatch for r in bad) / len(bad) if bad else 0.0,
        false_positive_rate=sum(r.mismatch for r in good) / len(good) if good else 0.0,
    )


__all__ = [
    "CHECKED_PHASES",
    "FIT_SEEDS",
    "MIN_CHIPS",
    "MIN_COMMON_WINDOWS",
    "SYNC_CORRELATION",
    "SYNC_SHARE",
    "PhaseCheckReport",
    "RunPattern",
    "measure_phase_check",
    "run_pattern",
    "simulated_records",
    "simulated_runs",
]
