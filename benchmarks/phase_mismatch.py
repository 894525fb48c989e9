"""Phase mismatch measured (docs/adr/0036): one synchronous job declared a hyper-parameter
search, against honest searches of independent trials, on simulated seeds.

No target in the issue: a figure to read, with its reference measured in the same run.

1. The figure: :func:`pausewatch.detect._phase.run_pattern` over the chips the telemetry
   aggregate samples (16 per cluster), for one phase-mislabelled job
   (:class:`pausewatch.simulate.AdversarialKind` ``phase_mislabelled``, 16-128 chips) and one
   honest search (:func:`pausewatch.simulate.adversarial.search_traces`, 32-128 chips) per
   seed: the share of chip pairs whose network traffic moves together, against
   ``SYNC_SHARE``. Recall on the jobs, false positives on the searches.
2. Reference, on the same records: a volume rule, "one job when the median sampled chip moves
   at least 20 GB a window over the network" (gradient all-reduce volume, what a search of
   single-node trials does not move).

The thresholds were chosen on ``FIT_SEEDS`` (0..199, printed with ``--fit``); the figures are
measured on ``--from .. --from + --seeds - 1``, which must not overlap them. Run
``.venv/bin/python benchmarks/phase_mismatch.py`` (about 0.7 s a seed on one core); ``--json
FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence

from _common import write_json
from pausewatch.detect._phase import (
    FIT_SEEDS,
    SYNC_CORRELATION,
    SYNC_SHARE,
    measure_phase_check,
    simulated_records,
)
from pausewatch.telemetry import TelemetryRecord

VOLUME_BYTES = 20e9
"""The reference rule's network bytes a window (both ways) from which a chip moves gradients."""


def volume_rule(records: Sequence[TelemetryRecord]) -> bool:
    """The reference: the median chip's mean network bytes a window reach VOLUME_BYTES."""
    by_chip: dict[str, list[float]] = {}
    for r in records:
        by_chip.setdefault(r.chip_id, []).append(float(r.net_tx_bytes + r.net_rx_bytes))
    means = [sum(v) / len(v) for v in by_chip.values()]
    return bool(means) and statistics.median(means) >= VOLUME_BYTES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start", type=int, default=3_200_000)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--windows", type=int, default=60)
    parser.add_argument("--fit", action="store_true", help="also print the fit seeds' shares")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    seeds = range(args.start, args.start + args.seeds)
    report = measure_phase_check(seeds, windows=args.windows)
    print(report.table())
    print(
        f"shares: mislabelled min {min(report.mislabelled):.3f}, "
        f"honest max {max(report.honest):.3f} (limit {SYNC_SHARE}, pairs at rho >= "
        f"{SYNC_CORRELATION})"
    )
    jobs = searches = 0
    for seed in seeds:
        job, search = simulated_records(seed, windows=args.windows)
        jobs += volume_rule(job)
        searches += volume_rule(search)
    ref_recall, ref_false = jobs / len(seeds), searches / len(seeds)
    print(
        f"reference (median chip >= {VOLUME_BYTES / 1e9:g} GB a window over the network): "
        f"recall {ref_recall:.3f}, false positives {ref_false:.3f}"
    )
    figures = {
        "seeds": [seeds.start, seeds.stop - 1],
        "fit_seeds": [FIT_SEEDS.start, FIT_SEEDS.stop - 1],
        "recall": report.recall,
        "false_positive_rate": report.false_positive_rate,
        "min_share_mislabelled": min(report.mislabelled),
        "max_share_honest": max(report.honest),
        "reference_recall": ref_recall,
        "reference_false_positive_rate": ref_false,
    }
    if args.fit:
        from pausewatch.detect._phase import simulated_runs

        fit = [simulated_runs(s, windows=args.windows) for s in FIT_SEEDS]
        low = min(j.share_synchronous for j, _ in fit)
        high = max(h.share_synchronous for _, h in fit)
        print(
            f"fit seeds {FIT_SEEDS.start}..{FIT_SEEDS.stop - 1}: mislabelled min {low:.3f}, "
            f"honest max {high:.3f}"
        )
        figures.update(fit_min_share_mislabelled=low, fit_max_share_honest=high)
    if args.json:
        write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
