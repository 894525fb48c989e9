"""What folding one telemetry batch costs a run's and a cluster's totals, as the run grows.

Issue 19 §5 (work that grows stays bounded) and §6 (fleet scale): a ``tel_runs`` row holds every
chip that worked on the run, a ``tel_clusters`` row every chip of the cluster that reported, as
the JSON text of a sorted list. Every batch that names the run rewrites its row. Until this
benchmark's change the fold read that list back, took the union with the batch's chips, sorted
and encoded it again: work proportional to the run, not the batch, in the fold's serial part.

For runs of ``--sizes`` chips (default 360, 10,000 and 100,000), a batch of ``--batch`` (200)
chips the run has already seen is folded into the run's and the cluster's row ``--repeat``
times, two ways, in the same run:

- **now**: ``pausewatch.registry._fold._merge_totals``, the fold's own code (its kept totals and
  set texts);
- **reference**: what the fold did before, written out here: read the row back
  (``from_json``), merge, write every field (``to_json``, ``_totals_row``).

Every row of the two ways must be equal, key order included, else exit 1. Printed: milliseconds
a batch both ways, and the size of the row's text, which the database is still given whole
each batch (what is left; see docs/fleet-scale.md).

Run ``PYTHONPATH=src .venv/bin/python benchmarks/run_totals.py`` (about 20 s).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pausewatch.registry._fold import _merge_totals, _totals_doc, _totals_row
from pausewatch.telemetry import ClusterTotals, RunTotals

T0 = datetime(2026, 12, 1, tzinfo=UTC)


class _Views:
    """The part of the fold's context ``_merge_totals`` reads and writes."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.index = 0
        self.keeps = True

    def get(self, view: str, *key: Any) -> dict[str, Any] | None:
        return self.rows.get((view, key[0]))

    def set(self, view: str, row: dict[str, Any]) -> None:
        self.rows[(view, row["run_id"] if view == "tel_runs" else row["cluster_id"])] = row


def _run(chips: list[str], n: int) -> RunTotals:
    return RunTotals(
        flop={"bf16": 10**18 + n},
        chip_windows=len(chips),
        chips=frozenset(chips),
        clusters=frozenset({"cluster-1"}),
        first_window_start=T0 + timedelta(minutes=n),
        last_window_end=T0 + timedelta(minutes=n + 1),
    )


def _cluster(chips: list[str], n: int) -> ClusterTotals:
    return ClusterTotals(
        chip_windows=len(chips),
        chips=frozenset(chips),
        flop={"bf16": 10**18 + n},
        energy_j=n,
        unattributed_flop={},
        undeclared_flop={},
        undeclared_windows=0,
    )


def _reference(views: _Views, view: str, key: str, name: str, batch: Any) -> None:
    cls = RunTotals if view == "tel_runs" else ClusterTotals
    row = views.get(view, name)
    new = batch if row is None else cls.from_json(_totals_doc(row, key)).merge(batch)
    merged = _totals_row(key, name, new.to_json(), views.index)
    merged.pop("days", None)
    merged.pop("signals", None)
    views.set(view, merged)


def _now(views: _Views, view: str, key: str, name: str, batch: Any) -> None:
    cls = RunTotals if view == "tel_runs" else ClusterTotals
    _merge_totals(views, view, key, {name: batch}, cls)  # type: ignore[arg-type]


def _timed(
    fold: Callable[[_Views, str, str, str, Any], None], size: int, batch: int, repeat: int
) -> tuple[float, _Views]:
    fleet = [f"chip-{i:07d}" for i in range(size)]
    views = _Views()
    views.index = 1
    fold(views, "tel_runs", "run_id", "run-1", _run(fleet, 0))
    fold(views, "tel_clusters", "cluster_id", "cluster-1", _cluster(fleet, 0))
    times = []
    for n in range(repeat):
        views.index = n + 2
        seen = fleet[(n * batch) % size :][:batch] or fleet[:batch]
        runs, clusters = _run(seen, n + 1), _cluster(seen, n + 1)
        start = time.perf_counter()
        fold(views, "tel_runs", "run_id", "run-1", runs)
        fold(views, "tel_clusters", "cluster_id", "cluster-1", clusters)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, views


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="360,10000,100000", help="chips in the run (comma list)")
    p.add_argument("--batch", type=int, default=200, help="chips a batch names (200)")
    p.add_argument("--repeat", type=int, default=30, help="batches folded each way (30)")
    args = p.parse_args(argv)
    print(
        f"run_totals: one batch of {args.batch} chips the run has seen, folded into its "
        f"tel_runs and tel_clusters rows; median of {args.repeat}"
    )
    ok = True
    for size in (int(s) for s in args.sizes.split(",")):
        now_ms, now = _timed(_now, size, args.batch, args.repeat)
        ref_ms, ref = _timed(_reference, size, args.batch, args.repeat)
        same = (
            all(list(now.rows[k].items()) == list(ref.rows[k].items()) for k in ref.rows)
            and now.rows.keys() == ref.rows.keys()
        )
        ok &= same
        text = sum(len(r["chips"]) + len(r.get("clusters", "")) for r in now.rows.values())
        print(
            f"  {size:>9,} chips in the run: {now_ms:8.3f} ms a batch now, against "
            f"{ref_ms:8.3f} ms reading the rows back and writing every field "
            f"(x{ref_ms / now_ms:,.0f}); rows equal: {'yes' if same else 'NO'}; "
            f"the rows' set texts the database is given each batch: {text:,} characters"
        )
    if not ok:
        print("FAIL: the fold's rows differ from the reference's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
