"""The workload classifier's verdict on a cluster's window signals, as a read after a batch
computes it: :func:`pausewatch.detect.classify_signals` against the records path, same run.

No target in the issue: issue 19, section 4 (reads under ingest) is the reason. Each telemetry
batch changes the window signals (``tel_signals``) of its chips' clusters, so a look at the
policy under ingest finds signals with no verdict kept and computes the verdicts again: some
8 ms of a read's 11 ms of facts before this change (docs/adr/0061, docs/adr/0062).

1. The fleet of ``benchmarks/load.py`` (:func:`~pausewatch.simulate.demo_clusters`, ``--chips``
   chips), its chips dealt round robin into ``--groups`` upload groups as ``load.py`` deals
   them. The signals are those the fold keeps (:func:`~pausewatch.telemetry.merge_signals` of
   each batch's aggregate), first over ``--warm`` windows.
2. Then step after step: one group's next window merged in (one batch), and every cluster's
   verdict computed on the new signals, as the next read computes it.
3. The figure: :func:`~pausewatch.detect.classify_signals` on the signals. Reference, measured
   in the same run on the same signals: :func:`~pausewatch.detect.classify_cluster` on the
   records they stand for (:func:`pausewatch.state._facts.signal_records`, itself kept per
   window), which is what a read computed before (both now share the cut into stretches,
   with its fast path for an unbroken chain). The two verdicts are compared on every step; a
   difference exits 1.

Both are timed in CPU time (``time.thread_time``), per cluster with traces, p50 and p90 by
nearest rank. Run ``PYTHONPATH=src .venv/bin/python benchmarks/cluster_verdicts.py`` (about
10 s).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from _common import nearest_rank, write_json
from pausewatch.detect import classify_cluster, classify_signals, fitted_classifier
from pausewatch.simulate import demo_clusters, simulate_fleet
from pausewatch.state._facts import signal_records
from pausewatch.telemetry import AcceptedRecord, Signal, aggregate, merge_signals, parse_line

Signals = dict[str, tuple[Signal, ...]]


def batch_signals(records: list[AcceptedRecord]) -> dict[str, Signals]:
    """Per cluster, the window signals one batch's aggregate keeps."""
    return {c: dict(t.signals) for c, t in aggregate(records).clusters.items() if t.signals}


def main(argv: list[str] | None = None) -> int:
    """Simulate, step, time both, compare; 1 when a verdict differs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--chips", type=int, default=600, help="chips in the fleet (600)")
    p.add_argument("--groups", type=int, default=3, help="upload groups, as load.py's (3)")
    p.add_argument("--warm", type=int, default=60, help="windows merged before timing (60)")
    p.add_argument("--steps", type=int, default=90, help="batches timed (90)")
    p.add_argument("--seed", type=int, default=2026, help="seed of the fleet (2026)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures")
    args = p.parse_args(argv)

    windows = args.warm + -(-args.steps // args.groups)
    fleet = simulate_fleet(demo_clusters(args.chips), windows=windows, seed=args.seed)
    cluster_of = {c.chip_id: c.cluster_id for c in fleet.chips}
    model_of = {c.chip_id: c.model for c in fleet.chips}
    group_of = {c.chip_id: i % args.groups for i, c in enumerate(fleet.chips)}
    batches: list[list[AcceptedRecord]] = []  # window after window, group after group
    for window in fleet.windows:
        by_group: dict[int, list[AcceptedRecord]] = {}
        for n, line in enumerate(window):
            r = parse_line(line).record
            accepted = AcceptedRecord(
                n, "", b"", r, cluster_of[r.chip_id], None, model_of[r.chip_id]
            )
            by_group.setdefault(group_of[r.chip_id], []).append(accepted)
        batches += [by_group[g] for g in sorted(by_group)]
    fitted_classifier()  # the fit (seconds) is not what is timed

    kept: dict[str, Signals] = {}

    def merge(batch: list[AcceptedRecord]) -> None:
        for cluster, signals in batch_signals(batch).items():
            kept[cluster] = merge_signals(kept.get(cluster, {}), signals)

    warm = args.warm * args.groups
    for batch in batches[:warm]:
        merge(batch)
    ours: list[float] = []
    theirs: list[float] = []
    same = True
    traces = 0
    for batch in batches[warm : warm + args.steps]:
        merge(batch)
        for cluster, signals in sorted(kept.items()):
            a, t_ours = timed(lambda s=signals, c=cluster: classify_signals(c, s))
            b, t_theirs = timed(lambda s=signals, c=cluster: classify_cluster(c, signal_records(s)))
            same = same and a == b
            if a.traces:
                traces += a.traces
                ours.append(t_ours)
                theirs.append(t_theirs)
    figures: dict[str, Any] = {
        "chips": args.chips,
        "groups": args.groups,
        "steps": args.steps,
        "verdicts_timed": len(ours),
        "traces_per_verdict": traces / max(1, len(ours)),
        "classify_signals_ms": quantiles(ours),
        "records_path_ms": quantiles(theirs),
        "equal": same,
    }
    print(
        f"cluster verdicts: {args.chips} chips in {len(kept)} clusters, {args.groups} upload "
        f"groups; {args.steps} batches after {args.warm} windows, every cluster's verdict "
        f"after each; {len(ours)} verdicts with traces ({figures['traces_per_verdict']:.0f} "
        "traces each); CPU ms a verdict, p50 / p90"
    )
    mine, ref = figures["classify_signals_ms"], figures["records_path_ms"]
    print(
        f"  classify_signals        {mine['p50']:6.3f} / {mine['p90']:6.3f} ms\n"
        f"  records path (reference, same run) {ref['p50']:6.3f} / {ref['p90']:6.3f} ms   "
        f"{ref['p50'] / mine['p50']:4.1f}x at the median\n"
        f"  verdicts {'equal on every step' if same else 'DIFFER'}"
    )
    write_json(args.json, figures)
    return 0 if same else 1


def quantiles(ms: list[float]) -> dict[str, float]:
    """p50 and p90 by nearest rank."""
    ordered = sorted(ms)
    return {"p50": nearest_rank(ordered, 0.5), "p90": nearest_rank(ordered, 0.9)}


def timed(call: Any) -> tuple[Any, float]:
    """The call's result and the CPU milliseconds it took on this thread."""
    start = time.thread_time()
    out = call()
    return out, (time.thread_time() - start) * 1000


if __name__ == "__main__":
    raise SystemExit(main())
