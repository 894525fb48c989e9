"""Telemetry ingest across cores: records/s with 1, 2, ... ingest worker processes, as a ratio
to one worker (issue 19, section 3: chips' chains are independent, so uploads for different
chips are verified in parallel, in processes).

What runs, in one invocation:

1. Set-up, not timed: a deterministic fleet (:func:`pausewatch.simulate.simulate_fleet` over
   :func:`~pausewatch.simulate.demo_clusters`), ``--chips`` chips x ``--windows`` one-minute
   windows, every record good; the chips dealt round-robin into ``--uploaders`` groups, each
   group's upload ``w`` its chips' window ``w`` (an operator's agent per group, in chain order).
2. For each worker count in ``--workers`` (default 1, 2, ... up to the usable cores, at least
   1 and 2):

   a. **verification**: every upload as one :class:`~pausewatch.telemetry.SegmentJob` (the
      registry entries of its chips, no chain heads) through an
      :class:`~pausewatch.service.IngestPool` of that many processes, ``--uploaders`` threads
      sending at once: the parallel part alone (parse, signatures, chain, aggregate, and the
      trip to and from the worker);
   b. **ingest**: a fresh :class:`~pausewatch.service.LogService` on a SQLite file with
      ``ingest_workers`` set, the fleet registered, then ``--uploaders`` threads calling
      ``ingest_telemetry`` for their group's uploads one after the other (each answered once
      its entry is durable and folded): the whole path, including its ordered part (storing,
      the batch entry, the fold), which one process does for every worker count.

   Each row also runs in the serving process (``0``, the path before docs/adr/0048) for the
   ingest figure, as the reference of what the workers add.
3. Verification, or exit 1: every record accepted in every run.

Records/s = records / wall time from the first upload sent to the last answered. The ratio is
to the one-worker figure of the same run. The machine's usable cores are printed: on a machine
shared with other work, or with fewer cores than workers, the ratios say so.

Run ``.venv/bin/python benchmarks/telemetry_workers.py`` or ``... --chips 120 --windows 6``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import write_json
from pausewatch.service import IngestPool, LogService
from pausewatch.settings import Settings
from pausewatch.simulate import Fleet, demo_clusters, fleet_world, simulate_fleet
from pausewatch.statements import load_key, sign_statement
from pausewatch.telemetry import (
    FLOP_TOLERANCE,
    UNDECLARED_TENSOR_ACTIVE,
    SegmentJob,
    SegmentVerdict,
)

OPERATOR = "operator-1"


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def make_fleet(chips: int, windows: int, seed: int) -> Fleet:
    """The fleet, its last window ending two whole minutes before now."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=windows + 2)
    return simulate_fleet(
        demo_clusters(chips, operator_id=OPERATOR), windows=windows, seed=seed, start=start
    )


def group_uploads(fleet: Fleet, groups: int) -> list[list[bytes]]:
    """Per group, its uploads in chain order: window after window of its chips."""
    chips = len(fleet.chips)
    out: list[list[bytes]] = []
    for g in range(groups):
        members = range(g, chips, groups)
        out.append([b"".join(w[i] + b"\n" for i in members) for w in fleet.windows])
    return out


def run_groups(groups: list[list[bytes]], send: Any) -> tuple[float, int]:
    """Each group's uploads one after the other, the groups side by side; wall time and
    records accepted."""
    accepted = 0
    lock = threading.Lock()

    def one(uploads: list[bytes]) -> None:
        nonlocal accepted
        for data in uploads:
            n = send(data)
            with lock:
                accepted += n

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(groups)) as pool:
        for f in [pool.submit(one, g) for g in groups]:
            f.result()
    return time.perf_counter() - t0, accepted


def verification(fleet: Fleet, groups: list[list[bytes]], workers: int) -> tuple[float, int]:
    """Every upload as one job through a pool of ``workers`` processes (warmed first)."""
    registry = fleet.registry()
    now = fleet.end + timedelta(minutes=1)
    pool = IngestPool(workers)

    def send(data: bytes) -> int:
        lines = data.split(b"\n")[:-1]
        chip_ids = {line.split(b'"chip_id":"')[1].split(b'"')[0].decode() for line in lines}
        job = SegmentJob(
            lines=list(enumerate(lines)),
            operator_id=OPERATOR,
            now=now,
            chips={c: registry.chip(c) for c in chip_ids},
            runs={(r, c): c in cs for r, cs in registry.runs.items() for c in _clusters(registry)},
            heads={c: None for c in chip_ids},
            catalogue=None,
            flop_tolerance=FLOP_TOLERANCE,
            every_signature=False,
            undeclared_tensor_active=UNDECLARED_TENSOR_ACTIVE,
        )
        verdict = pool.verify(job)
        assert isinstance(verdict, SegmentVerdict), verdict
        return len(verdict.accepted)

    try:
        # Start the processes (and their imports) before the clock: a service's pool is warm.
        run_groups([[g[0]] for g in groups], send)
        return run_groups(groups, send)
    finally:
        pool.close()


def _clusters(registry: Any) -> set[str]:
    return {c.cluster_id for c in registry.chips.values() if c.cluster_id}


def ingest(
    fleet: Fleet, groups: list[list[bytes]], workers: int, base: Path
) -> tuple[float, int, int, int]:
    """The fleet through a fresh service with ``workers``: the wall time of all uploads but
    each group's first (they start the workers), the records those accepted, the records
    accepted in all, and those not accepted."""
    data_dir = base / f"service-{workers}"
    settings = Settings(data_dir=data_dir, batch_latency_ms=1, ingest_workers=workers)
    clock_now = fleet.end + timedelta(minutes=1)
    tick = {"t": clock_now}
    tick_lock = threading.Lock()

    def clock() -> datetime:
        with tick_lock:
            tick["t"] += timedelta(microseconds=1000)
            return tick["t"]

    service = LogService(settings, clock=clock).start()
    try:
        world = fleet_world(fleet, load_key(settings.keys_dir, "secretariat"))
        for stage in world.stages:
            for future in [service.submit(s) for s in stage]:
                future.result(timeout=120)
        operator = world.operators[OPERATOR]
        rejected = 0
        lock = threading.Lock()

        def send(data: bytes) -> int:
            nonlocal rejected
            submission = sign_statement(
                "telemetry.submission/v1",
                {
                    "operator_id": OPERATOR,
                    "batch_digest": hashlib.sha256(data).hexdigest(),
                    "records": data.count(b"\n"),
                },
                operator,
            )
            receipt = service.ingest_telemetry(data, submission)
            with lock:
                rejected += receipt.rejected_total + receipt.duplicates
            return receipt.accepted

        # The first upload of each group starts the workers; the timed run is the rest.
        _, warm = run_groups([[g[0]] for g in groups], send)
        seconds, accepted = run_groups([g[1:] for g in groups], send)
        return seconds, accepted, warm + accepted, rejected
    finally:
        service.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--chips", type=int, default=600, help="chips in the fleet (600)")
    p.add_argument("--windows", type=int, default=12, help="one-minute windows (12)")
    p.add_argument(
        "--workers",
        default=None,
        help="worker counts, comma-separated (default 1,2,... up to the usable cores)",
    )
    p.add_argument(
        "--uploaders",
        type=int,
        default=None,
        help="upload groups sent side by side (default: twice the largest worker count)",
    )
    p.add_argument("--seed", type=int, default=2026, help="seed of the fleet (2026)")
    p.add_argument("--dir", type=Path, default=None, help="where to put the temp dir")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    cores = usable_cpus()
    if args.workers is None:
        args.workers = list(range(1, max(2, cores) + 1))
    else:
        args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if not args.workers or min(args.workers) < 1 or 1 not in args.workers:
        p.error("expected --workers to list counts >= 1, 1 among them (the reference)")
    if args.uploaders is None:
        args.uploaders = 2 * max(args.workers)
    if args.chips < args.uploaders or args.windows < 2:
        p.error("expected --chips >= --uploaders and --windows >= 2")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run; print the figures; exit 1 if a record was not accepted."""
    args = parse_args(argv)
    cores = usable_cpus()
    load = os.getloadavg()[0]
    print(
        f"telemetry_workers: {args.chips:,} chips x {args.windows} windows in {args.uploaders} "
        f"upload groups sent side by side; worker counts {args.workers}"
    )
    print(
        f"  machine: {cores} CPUs usable ({os.cpu_count()} online); load average {load:.2f}; "
        f"Python {platform.python_version()}"
    )
    fleet = make_fleet(args.chips, args.windows, args.seed)
    groups = group_uploads(fleet, args.uploaders)
    records = len(fleet.lines)
    base = Path(tempfile.mkdtemp(prefix="pausewatch-workers-", dir=args.dir))
    rows: list[dict[str, Any]] = []
    ok = True
    try:
        seconds, timed, accepted, rejected = ingest(fleet, groups, 0, base)
        in_process = timed / seconds
        ok &= accepted == records and rejected == 0
        for workers in args.workers:
            v_s, v_accepted = verification(fleet, groups, workers)
            i_s, i_timed, i_accepted, i_rejected = ingest(fleet, groups, workers, base)
            ok &= v_accepted == records and i_accepted == records and i_rejected == 0
            rows.append(
                {
                    "workers": workers,
                    "verify_records_per_s": v_accepted / v_s,
                    "ingest_records_per_s": i_timed / i_s,
                }
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    one = next(r for r in rows if r["workers"] == 1)
    print(
        f"  {'workers':>8} {'verify rec/s':>13} {'x 1 worker':>10} {'ingest rec/s':>13} "
        f"{'x 1 worker':>10}"
    )
    for r in rows:
        print(
            f"  {r['workers']:>8} {r['verify_records_per_s']:>13,.0f} "
            f"{r['verify_records_per_s'] / one['verify_records_per_s']:>10.2f} "
            f"{r['ingest_records_per_s']:>13,.0f} "
            f"{r['ingest_records_per_s'] / one['ingest_records_per_s']:>10.2f}"
        )
    print(
        f"  reference, verified in the serving process (ingest_workers 0): "
        f"{in_process:,.0f} records/s through the service"
    )
    print(f"  verified: {'OK' if ok else 'FAILED'} (every record accepted in every run)")
    write_json(
        args.json,
        {
            "benchmark": "telemetry_workers",
            "cpus": cores,
            "load_average_1min_at_start": load,
            "chips": args.chips,
            "windows": args.windows,
            "uploaders": args.uploaders,
            "rows": rows,
            "in_process_records_per_s": in_process,
            "verified": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
