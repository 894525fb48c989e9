"""What folding one telemetry batch costs a run's and a cluster's totals, as the run grows.

Issue 19 §5 (work that grows stays bounded) and §6 (fleet scale). A run's chips and clusters,
and a cluster's chips, grow with the fleet, not with the batch. They were JSON lists in the
``tel_runs`` and ``tel_clusters`` rows, and every batch naming the run rewrote its row whole:
1.5 MB a batch for a run of 100,000 chips, read back, merged and encoded again in the fold's
serial part. They are now views of their own (``tel_run_chips``, ``tel_run_clusters``,
``tel_cluster_chips``; docs/adr/0064), one row per member, written when it first reports, and
the totals' rows keep counts.

For runs of ``--sizes`` chips (default 360, 10,000 and 100,000), a batch of ``--batch`` (200)
chips is folded into the run's and the cluster's rows ``--repeat`` times, two ways, in the same
run: chips the run has already seen (a running job, the usual batch), then chips that join it
(a run growing):

- **now**: ``pausewatch.registry._fold._merge_totals``, the fold's own code;
- **reference**: the lists in the row, as the fold wrote them before ADR 0064 and before ADR
  0054 kept anything, written out here: read the row back, merge, write every field.

Each way's rows must say the same (the totals equal, the lists the members and their counts),
else exit 1. Printed: milliseconds a batch both ways, and the characters of the rows the
database is given each batch both ways (the rows written: totals and members).

Run ``PYTHONPATH=src .venv/bin/python benchmarks/run_totals.py`` (about 30 s).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pausewatch.registry._fold import VIEWS, _merge_totals, _totals_doc, _totals_row
from pausewatch.telemetry import ClusterTotals, RunTotals

T0 = datetime(2026, 12, 1, tzinfo=UTC)


class _Views:
    """The part of the fold's context ``_merge_totals`` reads and writes; counts the characters
    of the rows it is given (what a database is sent)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, ...], dict[str, Any]] = {}
        self.index = 0
        self.keeps = True
        self.given = 0
        self.written: list[tuple[str, dict[str, Any]]] = []

    def get(self, view: str, *key: Any) -> dict[str, Any] | None:
        return self.rows.get((view, *key))

    def set(self, view: str, row: dict[str, Any]) -> None:
        self.rows[(view, *(row[k] for k in VIEWS[view]))] = row
        self.given += sum(len(str(v)) for v in row.values())
        self.written.append((view, row))

    def members(self, view: str, name: str) -> list[str]:
        return sorted(k[2] for k in self.rows if k[0] == view and k[1] == name)


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
    old = None if row is None else _totals_doc(row, key)
    if old is not None:
        old |= {f: json.loads(old[f]) for f in ("chips", "clusters") if f in old}
    new = batch if old is None else cls.from_json(old).merge(batch)
    merged = _totals_row(key, name, new.to_json(), views.index)
    merged.pop("days", None)
    merged.pop("signals", None)
    for field in ("chips", "clusters"):
        if field in merged:
            merged[field] = json.dumps(merged[field], separators=(",", ":"))
    views.set(view, merged)


def _now(views: _Views, view: str, key: str, name: str, batch: Any) -> None:
    cls = RunTotals if view == "tel_runs" else ClusterTotals
    _merge_totals(views, view, key, {name: batch}, cls)  # type: ignore[arg-type]


class _Database:
    """A SQLite file as the store sets one up (WAL, ``synchronous=FULL``), given each batch's
    rows as the store gives a view's (``state._store._write_view``): per view, the rows deleted
    by their keys and inserted, each as one ``executemany``; one commit a batch. The same for
    both ways: each way's tables are made from its own rows' columns."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.made: set[str] = set()

    def write(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        by_view: dict[str, list[dict[str, Any]]] = {}
        for view, row in rows:
            by_view.setdefault(view, []).append(row)
        self.db.execute("BEGIN")
        for view, group in by_view.items():
            key, columns = VIEWS[view], sorted(group[0])
            if view not in self.made:
                self.db.execute(
                    f"CREATE TABLE {view} ({', '.join(columns)}, PRIMARY KEY ({', '.join(key)}))"
                )
                self.made.add(view)
            # Names are the views' own and their rows' columns; values travel as parameters.
            where = " AND ".join(f"{k} = ?" for k in key)
            names, marks = ", ".join(columns), ", ".join("?" * len(columns))
            self.db.executemany(
                f"DELETE FROM {view} WHERE {where}",  # noqa: S608
                [[row[k] for k in key] for row in group],
            )
            self.db.executemany(
                f"INSERT INTO {view} ({names}) VALUES ({marks})",  # noqa: S608
                [[row[c] for c in columns] for row in group],
            )
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def _timed(
    fold: Callable[[_Views, str, str, str, Any], None],
    size: int,
    batch: int,
    repeat: int,
    joining: bool,
    database: Path,
) -> tuple[float, float, float, _Views]:
    """Median ms a batch folded, median ms folded and written to SQLite, mean characters given
    a batch, and the views after."""
    fleet = [f"chip-{i:07d}" for i in range(size)]
    views = _Views()
    db = _Database(database)
    views.index = 1
    fold(views, "tel_runs", "run_id", "run-1", _run(fleet, 0))
    fold(views, "tel_clusters", "cluster_id", "cluster-1", _cluster(fleet, 0))
    db.write(views.written)
    times, stored = [], []
    given = 0
    for n in range(repeat):
        views.index = n + 2
        if joining:
            seen = [f"new-{n:04d}-{i:05d}" for i in range(batch)]
        else:
            seen = fleet[(n * batch) % size :][:batch] or fleet[:batch]
        runs, clusters = _run(seen, n + 1), _cluster(seen, n + 1)
        views.given = 0
        views.written = []
        start = time.perf_counter()
        fold(views, "tel_runs", "run_id", "run-1", runs)
        fold(views, "tel_clusters", "cluster_id", "cluster-1", clusters)
        folded = time.perf_counter()
        db.write(views.written)
        times.append(folded - start)
        stored.append(time.perf_counter() - start)
        given += views.given
    db.close()
    ms = statistics.median(times) * 1000
    return ms, statistics.median(stored) * 1000, given / repeat, views


def _same(now: _Views, ref: _Views) -> bool:
    """Whether the two ways' rows say the same: every total equal, each list the members of
    its view and its length the row's count."""
    lists = {
        "tel_runs": (
            ("chips", "tel_run_chips", "chip_count"),
            ("clusters", "tel_run_clusters", "cluster_count"),
        ),
        "tel_clusters": (("chips", "tel_cluster_chips", "chip_count"),),
    }
    for (view, name), row in ((k, r) for k, r in ref.rows.items() if len(k) == 2):
        mine = now.rows.get((view, name))
        if mine is None:
            return False
        plain = {k: v for k, v in row.items() if k not in ("chips", "clusters")}
        if {k: v for k, v in mine.items() if not k.endswith("_count")} != plain:
            return False
        for field, members, count in lists[view]:
            listed = json.loads(row[field])
            if now.members(members, name) != listed or mine[count] != len(listed):
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="360,10000,100000", help="chips in the run (comma list)")
    p.add_argument("--batch", type=int, default=200, help="chips a batch names (200)")
    p.add_argument("--repeat", type=int, default=30, help="batches folded each way (30)")
    p.add_argument(
        "--dir", default=None, help="where the SQLite files go (a temporary directory on disk)"
    )
    args = p.parse_args(argv)
    print(
        f"run_totals: one batch of {args.batch} chips folded into its run's tel_runs and its "
        f"cluster's tel_clusters rows; median of {args.repeat}; 'with SQLite': folded and the "
        "rows written to a SQLite file (WAL, synchronous=FULL), one commit a batch; 'given': "
        "characters of the rows written a batch (totals and members)"
    )
    ok = True
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for joining in (False, True):
            print("  chips that join the run:" if joining else "  chips the run has seen:")
            for size in (int(s) for s in args.sizes.split(",")):
                base = Path(tmp) / f"{size}-{joining}"
                now_ms, now_db, now_given, now = _timed(
                    _now, size, args.batch, args.repeat, joining, base.with_suffix(".now.db")
                )
                ref_ms, ref_db, ref_given, ref = _timed(
                    _reference, size, args.batch, args.repeat, joining, base.with_suffix(".ref.db")
                )
                same = _same(now, ref)
                ok &= same
                print(
                    f"    {size:>9,} chips in the run: now {now_ms:7.3f} ms folded, "
                    f"{now_db:7.3f} ms with SQLite, given {now_given:>9,.0f}; the lists in the "
                    f"row {ref_ms:7.3f} ms folded, {ref_db:7.3f} ms with SQLite, given "
                    f"{ref_given:>9,.0f}; the same totals and members: {'yes' if same else 'NO'}"
                )
    if not ok:
        print("FAIL: the fold's rows and members differ from the reference's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
