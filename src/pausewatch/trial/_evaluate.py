"""The detectors' record over a corpus: detection before completion, time to detection, false
alarms, each with its 95% interval, per defection kind and overall (issue 16, item 6).

Figures (docs/adr/0030-detection-measured.md):

* **detection before completion**: the share of defecting runs whose first detection finding
  (:data:`~pausewatch.trial._runner.DETECTION_KINDS`) came no later than the run could have
  completed (its start plus its duration). The overall figure,
  ``overall.detection_before_completion``, is over the runs at or above the prohibited
  threshold (the target's population; over every run where the corpus has none, as
  ``overall.detection_population`` says); ``overall.detection_before_completion_all_sizes``
  beside it is over every run. A run still undetected when its scenario's play ends (a
  corpus plays at most :data:`~pausewatch.simulate.scenario.MAX_SIMULATED_DAYS` days of a
  defection) counts as not detected: the figure is a lower bound;
* **detection before crossing**: the same against the time the run crossed the prohibited
  threshold (runs at or above it only);
* **below what size a kind escapes**: ``detected_from_flop``, the smallest size from which
  every run at least that large was detected before completion (None: the largest escaped);
* **days to detection**: median over the detected runs, from the run's start (a finding filed
  before the start, on chips shipped and never installed, counts at the start);
* **false alarms per facility-year**: detection findings on honest scenarios (each first
  appearance of a kind and subject: an episode) over the honest facilities' days / 365.

Proportions carry Wilson's interval (Clopper-Pearson beside it), rates Garwood's, medians the
order-statistic interval (:mod:`._intervals`).

No parameter of a detector may be fit on the corpus it is evaluated on: :data:`FIT_SEEDS` is
the range the fitted detectors were fit and calibrated on, and :func:`check_seeds` refuses a
corpus that overlaps it.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import timedelta
from pathlib import Path
from typing import Any

from pausewatch.errors import DetectionError
from pausewatch.simulate.scenario import KIND_ORDER, PROHIBITED_FLOP, Scenario
from pausewatch.trial._intervals import Interval, clopper_pearson, garwood, median_interval, wilson
from pausewatch.trial._runner import DETECTION_KINDS, Outcome, play

FIT_SEEDS = range(0, 100_000)
"""Seeds the fitted detectors were fit and calibrated on: the workload classifier of
docs/adr/0027 is fit on simulated traces of seeds in this range, and so is the counters'
plausibility floor of docs/adr/0033 (seeds 0..39); the balances' alarm limits are
set from the CUSUM run lengths and the stated false-alarm rate (analytic, no seed), and the
policy's thresholds are the adopted policy's. A corpus evaluated must lie outside it."""

TARGET_DETECTION = 0.95
"""The target: at least this share of prohibited runs detected before they could complete..."""
TARGET_FALSE_ALARMS = 0.05
"""...at no more than this many false alarms per facility-year."""


def check_seeds(seeds: Sequence[int]) -> None:
    """Raise :class:`~pausewatch.errors.DetectionError` (one line) if any seed of the corpus lies
    in :data:`FIT_SEEDS`."""
    inside = sorted(s for s in seeds if s in FIT_SEEDS)
    if inside:
        raise DetectionError(
            f"corpus seeds {inside[0]}..{inside[-1]} overlap the range the detectors were fit on "
            f"({FIT_SEEDS.start}..{FIT_SEEDS.stop - 1}); generate the corpus from seeds >= "
            f"{FIT_SEEDS.stop}"
        )


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def _proportion(k: int, n: int) -> dict[str, Any] | None:
    if n == 0:
        return None
    w = wilson(k, n)
    cp = clopper_pearson(k, n)
    return {
        "detected": k,
        "runs": n,
        "estimate": w.estimate,
        "wilson": [w.low, w.high],
        "clopper_pearson": [cp.low, cp.high],
    }


def _median(values: list[float]) -> dict[str, Any] | None:
    m: Interval | None = median_interval(values)
    if m is None:
        return None
    return {"estimate": m.estimate, "interval": [m.low, m.high], "runs": len(values)}


def _before(o: Outcome, limit: str) -> bool:
    deadline = o.completes_at if limit == "completion" else o.crosses_at
    return o.detected_at is not None and deadline is not None and o.detected_at <= deadline


def detected_from(outcomes: list[Outcome]) -> float | None:
    """The smallest size from which every run at least that large was detected before it
    could complete: below it, the kind escapes (None when the largest run escaped)."""
    smallest = None
    # Largest first and, at one size, the missed before the found: a miss at a size means the
    # kind does not escape only from above it.
    for o in sorted(
        outcomes, key=lambda o: (o.size_flop or 0.0, not _before(o, "completion")), reverse=True
    ):
        if not _before(o, "completion"):
            break
        smallest = o.size_flop
    return smallest


def _table(outcomes: list[Outcome]) -> dict[str, Any]:
    prohibited = [o for o in outcomes if (o.size_flop or 0) >= PROHIBITED_FLOP]
    detected = [o for o in outcomes if o.detected_at is not None]
    days = [
        _days(o.detected_at - o.starts_at)
        for o in detected
        if o.detected_at is not None and o.starts_at is not None
    ]
    missed = [o for o in outcomes if not _before(o, "completion")]
    caught = [o for o in outcomes if _before(o, "completion")]
    by_strategy: dict[str, dict[str, Any] | None] = {}
    for strategy in sorted({o.strategy or "" for o in outcomes}):
        group = [o for o in outcomes if o.strategy == strategy]
        by_strategy[strategy] = _proportion(
            sum(_before(o, "completion") for o in group), len(group)
        )
    by_finding: dict[str, int] = {}
    for o in detected:
        for alarm in o.detected_by:
            by_finding[alarm.kind] = by_finding.get(alarm.kind, 0) + 1
    return {
        "runs": len(outcomes),
        "prohibited_runs": len(prohibited),
        "detection_before_completion": _proportion(
            sum(_before(o, "completion") for o in prohibited), len(prohibited)
        ),
        "detection_before_completion_all_sizes": _proportion(len(caught), len(outcomes)),
        "detection_before_crossing": _proportion(
            sum(_before(o, "crossing") for o in prohibited), len(prohibited)
        ),
        "median_days_to_detection": _median(days),
        "by_strategy": by_strategy,
        "found_by": dict(sorted(by_finding.items())),
        "largest_undetected_flop": max((o.size_flop or 0.0 for o in missed), default=None),
        "smallest_detected_flop": min((o.size_flop or 0.0 for o in caught), default=None),
        "detected_from_flop": detected_from(outcomes),
    }


def summarise(outcomes: list[Outcome], *, seeds: Sequence[int]) -> dict[str, Any]:
    """The report over ``outcomes`` (see the module doc); ``seeds``: the corpus's seeds."""
    defecting = [o for o in outcomes if o.kind is not None]
    honest = [o for o in outcomes if o.kind is None]
    per_kind = {
        kind.value: _table([o for o in defecting if o.kind == kind.value]) for kind in KIND_ORDER
    }
    overall = _table(defecting)
    facility_years = sum(o.facility_days for o in honest) / 365.0
    false_alarms = sum(len(o.alarms) for o in honest)
    rate = garwood(false_alarms, facility_years) if facility_years > 0 else None
    by_finding: dict[str, int] = {}
    for o in honest:
        for a in o.alarms:
            by_finding[a.kind] = by_finding.get(a.kind, 0) + 1
    # The target's population is the prohibited runs; a corpus without any is judged on all.
    population = "prohibited_runs" if overall["detection_before_completion"] else "all_sizes"
    prohibited = (
        overall["detection_before_completion"] or overall["detection_before_completion_all_sizes"]
    )
    detection = prohibited["estimate"] if prohibited else 0.0
    false_rate = rate.estimate if rate is not None else 0.0
    cannot = []
    for kind, table in per_kind.items():
        # Judged on the prohibited runs where the corpus has some, else on every size.
        p = table["detection_before_completion"] or table["detection_before_completion_all_sizes"]
        if p is None or p["estimate"] >= TARGET_DETECTION:
            continue
        cannot.append(
            {
                "kind": kind,
                "detection_before_completion": p["estimate"],
                "judged_on": (
                    "prohibited_runs" if table["detection_before_completion"] else "all_sizes"
                ),
                "largest_undetected_flop": table["largest_undetected_flop"],
                "smallest_detected_flop": table["smallest_detected_flop"],
                "detected_from_flop": table["detected_from_flop"],
                "strategies_missed": sorted(
                    s
                    for s, row in table["by_strategy"].items()
                    if row is not None and row["estimate"] < TARGET_DETECTION
                ),
            }
        )
    records = sum(o.records for o in outcomes)
    ingest_s = sum(o.ingest_s for o in outcomes)
    evaluations = sum(o.evaluations for o in outcomes)
    evaluate_s = sum(o.evaluate_s for o in outcomes)
    total_s = sum(o.total_s for o in outcomes)
    seed_list = sorted(seeds)
    return {
        "overall": {
            "detection_before_completion": detection,
            "false_alarms_per_facility_year": false_rate,
            "detection_population": population,
            "detection_before_completion_interval": (
                prohibited["wilson"] if prohibited else [0.0, 1.0]
            ),
            "false_alarms_interval": [rate.low, rate.high] if rate else None,
            "detection_before_completion_all_sizes": overall[
                "detection_before_completion_all_sizes"
            ],
            "detection_before_crossing": overall["detection_before_crossing"],
            "median_days_to_detection": overall["median_days_to_detection"],
            "runs": overall["runs"],
            "prohibited_runs": overall["prohibited_runs"],
            "false_alarms": false_alarms,
            "facility_years": facility_years,
            "false_alarms_by_finding": dict(sorted(by_finding.items())),
            "meets_target": bool(
                population == "prohibited_runs"
                and detection >= TARGET_DETECTION
                and rate is not None
                and false_rate <= TARGET_FALSE_ALARMS
            ),
        },
        "kinds": per_kind,
        "cannot_detect": cannot,
        "target": {
            "detection_before_completion": TARGET_DETECTION,
            "false_alarms_per_facility_year": TARGET_FALSE_ALARMS,
            "threshold_flop": PROHIBITED_FLOP,
        },
        "detection_kinds": list(DETECTION_KINDS),
        "seeds": {
            "fit": [FIT_SEEDS.start, FIT_SEEDS.stop - 1],
            "evaluated": [seed_list[0], seed_list[-1]] if seed_list else None,
        },
        "scenarios": {"total": len(outcomes), "honest": len(honest), "defecting": len(defecting)},
        "cost": {
            "records": records,
            "records_per_s": records / total_s if total_s > 0 else None,
            "ingest_s_per_record": ingest_s / records if records else None,
            "evaluations": evaluations,
            "evaluate_s_per_facility_period": (
                evaluate_s / sum(o.facility_periods for o in outcomes)
                if any(o.facility_periods for o in outcomes)
                else None
            ),
            "evaluate_s_per_evaluation": evaluate_s / evaluations if evaluations else None,
            "seconds": total_s,
        },
    }


def evaluate_corpus(
    scenarios: list[Scenario],
    *,
    workdir: Path | None = None,
    progress: Callable[[Outcome], None] | None = None,
    workers: int = 1,
) -> tuple[dict[str, Any], list[Outcome]]:
    """Play every scenario (seeds checked first) and summarise; returns the report and the
    outcomes, in the corpus's order.

    ``workers`` > 1: the scenarios are played in that many processes at once, each scenario
    in a fresh service of its own as always (its uploads verified in that process); each
    outcome is what playing it alone gives, so the report is the same but for its timings
    (docs/adr/0057-scenarios-in-parallel.md). ``progress`` is called as each one ends."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    seeds = [s.seed for s in scenarios]
    check_seeds(seeds)
    began = time.perf_counter()
    if workers == 1 or len(scenarios) < 2:
        outcomes = []
        for scenario in scenarios:
            outcome = play(scenario, workdir=workdir)
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
    else:
        outcomes = _played_apart(scenarios, workdir, min(workers, len(scenarios)), progress)
    report = summarise(outcomes, seeds=seeds)
    report["cost"]["wall_s"] = time.perf_counter() - began
    return report, outcomes


def _play_alone(scenario: Scenario, workdir: Path | None) -> Outcome:
    """In a worker: play one scenario, its uploads verified in this process (no pool of
    ingest workers per scenario worker)."""
    return play(scenario, workdir=workdir, ingest_workers=0)


def _played_apart(
    scenarios: list[Scenario],
    workdir: Path | None,
    workers: int,
    progress: Callable[[Outcome], None] | None,
) -> list[Outcome]:
    # The fork server, as for the ingest workers (docs/adr/0048): a worker inherits no thread
    # or lock of this process. Each fits the workload classifier once (seconds), as a process
    # playing them all in turn does.
    context = multiprocessing.get_context("forkserver")
    played: dict[int, Outcome] = {}
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        pending = {
            pool.submit(_play_alone, scenario, workdir): n for n, scenario in enumerate(scenarios)
        }
        try:
            for done in as_completed(pending):
                outcome = done.result()
                played[pending[done]] = outcome
                if progress is not None:
                    progress(outcome)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return [played[n] for n in range(len(scenarios))]


__all__ = [
    "FIT_SEEDS",
    "TARGET_DETECTION",
    "TARGET_FALSE_ALARMS",
    "check_seeds",
    "evaluate_corpus",
    "summarise",
]
