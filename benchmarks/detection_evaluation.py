"""Detection measured, not asserted: a corpus played through the real ingest (issue 16, item 6).

Target (issue 16): at least 95% of prohibited runs (>= 1e24 FLOP under miri-2025) detected before
they could complete, at no more than 0.05 false alarms per facility-year, on seeds the detectors
were never fit on.

1. A corpus of ``--count`` scenarios from seed ``--seed`` (:func:`pausewatch.simulate.scenario.
   generate_corpus`: one in four honest, with 36-48 small metered facilities for half a year; the
   others cycle through every defection kind, each kind's strategies in turn, 1e22 to 2e25 FLOP
   on 8-512 B200s; 80 by default, so that every strategy of every kind is played).
2. Each played through a fresh in-process :class:`~pausewatch.service.LogService` over a
   temporary SQLite file (``--workdir``, default ``/dev/shm`` where it exists: the log's fsyncs
   are then free and the figures are the detectors' and the ingest's, not the disk's), one
   record per chip and day, the policy evaluated after each day (:mod:`pausewatch.trial`).
3. The table: per kind and overall, detection before completion (prohibited runs and all
   sizes) and before crossing the threshold, median days to detection, false alarms per
   honest facility-year, each with its 95% interval, beside the target.
4. Costs, measured in the same run: the detectors' (one policy evaluation over the state,
   divided by the registered facilities evaluated: per facility-period, a period being a day)
   beside the telemetry ingest's own per record (upload, verification, storage, the batch's log
   entry and its fold); and the runner's overall records/s.

Run ``.venv/bin/python benchmarks/detection_evaluation.py`` (about 25 minutes on 2 cores);
``--count 24`` runs smaller; ``--json FILE`` writes the whole report.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _common import verdict, write_json
from pausewatch.simulate.scenario import generate_corpus
from pausewatch.trial import TARGET_DETECTION, TARGET_FALSE_ALARMS, evaluate_corpus


def _p(row: dict[str, object] | None) -> str:
    if row is None:
        return "-"
    low, high = row["wilson"]  # type: ignore[misc]
    return f"{row['estimate']:.0%} [{low:.0%},{high:.0%}] n={row['runs']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=3_000_000)
    parser.add_argument("--count", type=int, default=80)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--workers", type=int, default=1, help="scenarios played at once, a process each (1)"
    )
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    workdir = args.workdir
    if workdir is None and Path("/dev/shm").is_dir():
        workdir = Path("/dev/shm")
    scenarios = generate_corpus(args.seed, args.count)
    print(
        f"corpus: {len(scenarios)} scenarios from seed {args.seed}, temporary logs in "
        f"{workdir or 'the system temporary directory'}",
        flush=True,
    )
    began = time.perf_counter()

    def progress(o: object) -> None:
        sys.stderr.write(".")
        sys.stderr.flush()

    report, _ = evaluate_corpus(scenarios, workdir=workdir, progress=progress, workers=args.workers)
    sys.stderr.write("\n")
    wall = time.perf_counter() - began
    print(
        f"{'kind':<24} {'runs':>4}  {'before completion (>=1e24)':<28} "
        f"{'before completion (all)':<28} {'before crossing':<28} median days"
    )
    for kind, row in report["kinds"].items():
        median = row["median_days_to_detection"]
        print(
            f"{kind:<24} {row['runs']:>4}  {_p(row['detection_before_completion']):<28} "
            f"{_p(row['detection_before_completion_all_sizes']):<28} "
            f"{_p(row['detection_before_crossing']):<28} "
            f"{'-' if median is None else format(median['estimate'], '.1f')}"
        )
    o = report["overall"]
    low, high = o["detection_before_completion_interval"]
    print(
        f"{'overall':<24} {o['runs']:>4}  "
        f"{o['detection_before_completion']:.0%} [{low:.0%},{high:.0%}] "
        f"n={o['prohibited_runs']}{'':<8} {_p(o['detection_before_completion_all_sizes']):<28} "
        f"{_p(o['detection_before_crossing']):<28}"
    )
    fa_low, fa_high = o["false_alarms_interval"] or [0.0, 0.0]
    print(
        f"false alarms: {o['false_alarms']} over {o['facility_years']:.1f} honest "
        f"facility-years = {o['false_alarms_per_facility_year']:.3g}/facility-year "
        f"[{fa_low:.3g}, {fa_high:.3g}] by {o['false_alarms_by_finding'] or 'none'}"
    )
    print(
        f"target detection before completion >= {TARGET_DETECTION:.0%}: "
        f"{o['detection_before_completion']:.1%}  "
        f"{verdict(o['detection_before_completion'] >= TARGET_DETECTION)}"
    )
    print(
        f"target false alarms <= {TARGET_FALSE_ALARMS:g}/facility-year: "
        f"{o['false_alarms_per_facility_year']:.3g}  "
        f"{verdict(o['false_alarms_per_facility_year'] <= TARGET_FALSE_ALARMS)}"
    )
    for miss in report["cannot_detect"]:
        found = miss["detected_from_flop"]
        print(
            f"short of the target: {miss['kind']} {miss['detection_before_completion']:.0%} of "
            f"{miss['judged_on'].replace('_', ' ')}, strategies missed "
            f"{', '.join(miss['strategies_missed']) or '-'}, largest run missed "
            f"{miss['largest_undetected_flop'] or 0:.3g} FLOP, every run found from "
            f"{'none' if found is None else format(found, '.3g')}"
        )
    cost = report["cost"]
    print(
        f"detectors: {cost['evaluate_s_per_facility_period'] * 1e6:.0f} µs per facility-period "
        f"({cost['evaluate_s_per_evaluation'] * 1e3:.2f} ms per evaluation, "
        f"{cost['evaluations']} evaluations)"
    )
    print(
        f"reference, telemetry ingest in the same run: {cost['ingest_s_per_record'] * 1e6:.0f} "
        f"µs per record ({cost['records']} records)"
    )
    print(f"runner: {cost['records_per_s']:.0f} records/s overall; wall {wall:.0f} s")
    print(f"seeds: fit {report['seeds']['fit']}, evaluated {report['seeds']['evaluated']}")
    write_json(args.json, report)


if __name__ == "__main__":
    main()
