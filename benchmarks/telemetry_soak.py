"""Resident memory over a long telemetry ingest soak: it must stay flat.

Target (from the issue): memory stays flat over a 10-minute ingest soak.

What runs, in one process, pinned to one CPU where the platform allows it:

1. Set-up: a fleet of ``--chips`` chips (:func:`pausewatch.simulate.demo_clusters`: 60% H100
   training under a declared run, 25% H200 serving, 15% A100 idle) registered on a fresh
   :class:`pausewatch.service.LogService` over a SQLite file on disk (the filesystem type is
   printed), as in ``telemetry_ingest.py``. :func:`~pausewatch.simulate.simulate_fleet` makes
   the chips and their keys (``windows=0``); it cannot continue a chain across calls, so the
   records come from :class:`ChainedFleet` below, one window at a time: each chip's chain
   (seq, prev, cumulative energy) goes on for as long as the soak runs, with figures drawn like
   the simulator's (training at 35-45% of the bf16 peak, bursty fp8 serving, idle chips) and
   signed with :func:`pausewatch.telemetry.sign_record`. No more than one upload's records are
   held at a time.
2. The soak: for ``--minutes``, upload after upload of ``--batch-windows`` windows through
   :meth:`LogService.ingest_telemetry`, each with the operator's signed submission; the service's
   clock runs just past the newest window. The resident set size (``VmRSS`` from
   ``/proc/self/status``) is sampled every ``--sample-s`` seconds, between uploads.
3. Figures: RSS after the warm-up (``--warmup-s``, default 10% of the soak and at least 30 s:
   imports, SQLite's page caches, the registry views, the parser's memos fill up), RSS at the end,
   the growth between them, the slope by least squares over the second half of the soak (MB a
   minute), the peak (``ru_maxrss``) and the number of live Python objects at both ends.
   **PASS** when the growth after the warm-up is under ``--bound-mb`` (20 MB).
4. Verification, or exit 1: every record accepted (none rejected, no gaps or duplicates), each
   chip's chain head on the log at the last seq it signed, the log's size as expected.

Why 20 MB: a soak of 10 minutes moves about 2 million records through the service, so a leak of
10 bytes a record would already add 20 MB; a leak of one record's objects (about 2 KB parsed)
would add gigabytes. What may legitimately grow is per upload, not per record: each batch adds a
row to the ``tel_batches`` and ``tel_submissions`` views, which the registry keeps in memory
(under 1 KB a batch, a fraction of a MB over the soak). Everything else is per chip (chain
heads, totals) or bounded by design (the parser's memos, the key cache, SQLite's page cache).

Run ``.venv/bin/python benchmarks/telemetry_soak.py`` (10 minutes) or add ``--minutes 1``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _common import verdict, write_json
from log_append import filesystem_of
from pausewatch.compute import HardwareCatalogue, Precision, load_catalogue
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.simulate import (
    FALLBACK_TDP_W,
    MEMORY_BYTES,
    Fleet,
    SimChip,
    Workload,
    demo_clusters,
    simulate_fleet,
)
from pausewatch.state import dump_view
from pausewatch.statements import KeyPair, Statement, sign_statement
from pausewatch.telemetry import format_time, sign_record
from telemetry_ingest import OPERATOR, pin_one_core, register

DEFAULT_BOUND_MB = 20.0
MB = 1e6
_GB = 10**9


def rss_bytes() -> int:
    """Resident set size now: ``VmRSS`` from /proc/self/status (else the peak, ru_maxrss)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class SimClock:
    """The service's clock: just past the newest window uploaded, a millisecond per reading."""

    def __init__(self, start: datetime) -> None:
        self.t = start

    def advance_to(self, t: datetime) -> None:
        """Move to ``t`` unless the clock is already past it."""
        self.t = max(self.t, t)

    def __call__(self) -> datetime:
        self.t += timedelta(milliseconds=1)
        return self.t


def _num(value: float, digits: int) -> float | int:
    """Round for the wire; an integral value goes out as an int (the parser's fast path)."""
    rounded = round(value, digits)
    return int(rounded) if rounded.is_integer() else rounded


@dataclass
class _Chain:
    """One chip's running state: its chain and what it is built to do."""

    chip: SimChip
    workload: Workload
    precision: str
    peak: float
    tdp: float
    memory: int
    firmware: str
    weights: str
    run_id: str | None
    seq: int = 0
    prev: str | None = None
    energy: int = 0


class ChainedFleet:
    """Signed records for a registered fleet, one window at a time, every chain continuing.

    ``simulate_fleet`` signs all its windows at once and starts every chain at seq 0, so a
    soak that must not hold its records in memory makes them here: the chips and keys are the
    simulated fleet's, the figures are drawn like the simulator's (deterministic from
    ``seed``), and each window's records continue each chip's chain (seq, prev, cumulative
    energy). Records are always good: the soak measures memory, not rejection.
    """

    def __init__(self, fleet: Fleet, seed: int, catalogue: HardwareCatalogue) -> None:
        self.rng = random.Random(seed)
        self.start = fleet.start
        self.window_s = fleet.window_s
        self.windows = 0
        workloads = {spec.cluster_id: spec.workload for spec in fleet.clusters}
        runs = {cluster: run for run, cluster in fleet.runs.items()}
        self.chains: list[_Chain] = []
        for chip in fleet.chips:
            model = catalogue.get(chip.model)
            workload = workloads[chip.cluster_id]
            have = set(model.peak_flops)
            if workload is Workload.INFERENCE and Precision.FP8 in have:
                precision = Precision.FP8.value
            else:
                precision = (Precision.BF16 if Precision.BF16 in have else Precision.FP16).value
            self.chains.append(
                _Chain(
                    chip=chip,
                    workload=workload,
                    precision=precision,
                    peak=model.peak(precision),
                    tdp=model.tdp_w if model.tdp_w is not None else FALLBACK_TDP_W,
                    memory=MEMORY_BYTES.get(model.name, 80 * _GB),
                    firmware=hashlib.sha256(f"firmware/{model.name}/1".encode()).hexdigest(),
                    weights=hashlib.sha256(f"weights/{chip.cluster_id}".encode()).hexdigest(),
                    run_id=runs.get(chip.cluster_id) if workload is Workload.TRAINING else None,
                    energy=self.rng.randrange(10**9, 5 * 10**10),
                )
            )

    @property
    def end(self) -> datetime:
        """End of the last window made so far."""
        return self.start + timedelta(seconds=self.window_s * self.windows)

    def window(self) -> list[bytes]:
        """The next window's signed lines, one per chip (canonical, no newline)."""
        w = self.windows
        self.windows += 1
        window_s = self.window_s
        start = format_time(self.start + timedelta(seconds=window_s * w))
        end = format_time(self.start + timedelta(seconds=window_s * (w + 1)))
        uniform = self.rng.uniform
        lines: list[bytes] = []
        for c in self.chains:
            if c.workload is Workload.TRAINING:
                util = uniform(0.35, 0.45)
                tensor = min(0.8, util * uniform(1.65, 1.75))
                power = c.tdp * uniform(0.70, 0.85)
                peak_w = power * uniform(1.04, 1.15)
                flop = int(c.peak * window_s * util)
                burst = w % 5 == 4
                nvlink = int((uniform(300, 450) if burst else uniform(40, 70)) * _GB)
                net = int((uniform(40, 60) if burst else uniform(5, 10)) * _GB)
                memory = int(c.memory * uniform(0.85, 0.95))
                sm = min(1.0, tensor + uniform(0.08, 0.16))
            elif c.workload is Workload.INFERENCE:
                tensor = uniform(0.02, 0.27)
                power = c.tdp * (0.25 + 0.9 * tensor)
                peak_w = min(c.tdp * 1.05, power * uniform(1.2, 1.6))
                flop = int(c.peak * window_s * tensor * uniform(0.45, 0.6))
                nvlink = int(uniform(0.01, 0.5) * _GB)
                net = int(uniform(0.1, 1.0) * _GB)
                memory = int(c.memory * uniform(0.5, 0.9))
                sm = min(1.0, tensor + uniform(0.15, 0.35))
            else:
                tensor = 0.0
                power = c.tdp * uniform(0.10, 0.20)
                peak_w = power * uniform(1.0, 1.1)
                flop = 0
                nvlink = int(uniform(0, 1e6))
                net = int(uniform(1e4, 1e6))
                memory = int(c.memory * uniform(0.0, 0.02))
                sm = uniform(0.0, 0.01)
            power_avg = _num(power, 1)
            c.energy += round(power_avg * window_s)
            record: dict[str, Any] = {
                "chip_id": c.chip.chip_id,
                "seq": c.seq,
                "prev": c.prev,
                "window_start": start,
                "window_end": end,
                "energy_j": c.energy,
                "power_w_avg": power_avg,
                "power_w_peak": max(power_avg, _num(peak_w, 1)),
                "tensor_active": _num(tensor, 4),
                "sm_active": _num(sm, 4),
                "flop": {c.precision: str(flop)},
                "nvlink_tx_bytes": nvlink,
                "nvlink_rx_bytes": nvlink,
                "net_tx_bytes": net,
                "net_rx_bytes": net,
                "mem_used_bytes": memory,
                "run_id": c.run_id,
                "firmware_digest": c.firmware,
            }
            if c.workload is Workload.INFERENCE:
                record["weights_digest"] = c.weights
            line = sign_record(record, c.chip.private_key)
            c.prev = hashlib.sha256(line).hexdigest()
            c.seq += 1
            lines.append(line)
        return lines


def upload(lines: list[bytes], key: KeyPair) -> tuple[bytes, Statement]:
    """Lines as one JSONL upload, with the operator's signed submission."""
    data = b"".join(line + b"\n" for line in lines)
    submission = sign_statement(
        "telemetry.submission/v1",
        {
            "operator_id": OPERATOR,
            "batch_digest": hashlib.sha256(data).hexdigest(),
            "records": len(lines),
        },
        key,
    )
    return data, submission


def slope_mb_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS (MB) over time (minutes); 0 with fewer than two samples."""
    n = len(samples)
    if n < 2:
        return 0.0
    xs = [t / 60 for t, _ in samples]
    ys = [rss / MB for _, rss in samples]
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are the target's conditions."""
    p = argparse.ArgumentParser(
        description=(
            "Resident memory over a telemetry ingest soak through LogService.ingest_telemetry "
            "(target: flat over 10 minutes; PASS when it grows less than --bound-mb after the "
            "warm-up)."
        )
    )
    p.add_argument("--minutes", type=float, default=10.0, help="length of the soak (10)")
    p.add_argument("--chips", type=int, default=1000, help="chips in the fleet (1000)")
    p.add_argument(
        "--batch-windows", type=int, default=10, help="one-minute windows per upload (10)"
    )
    p.add_argument("--sample-s", type=float, default=5.0, help="seconds between RSS samples (5)")
    p.add_argument(
        "--warmup-s",
        type=float,
        default=None,
        help="seconds before the start figure (10%% of the soak, at least 30)",
    )
    p.add_argument(
        "--bound-mb",
        type=float,
        default=DEFAULT_BOUND_MB,
        help=f"largest growth after the warm-up that passes, MB ({DEFAULT_BOUND_MB:g})",
    )
    p.add_argument("--seed", type=int, default=2026, help="seed of the fleet (2026)")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument("--dir", type=Path, default=None, help="where to put the store (a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the store afterwards")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.chips < 3 or args.batch_windows < 1 or args.sample_s <= 0:
        p.error("expected --minutes > 0, --chips >= 3, --batch-windows >= 1, --sample-s > 0")
    if args.warmup_s is None:
        args.warmup_s = max(30.0, args.minutes * 6.0)
    if not 0 <= args.warmup_s < args.minutes * 60:
        p.error("--warmup-s must be shorter than the soak")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the soak; print the figures; exit 0 whether or not memory stayed flat."""
    args = parse_args(argv)
    pinned = "not pinned (--no-pin)" if args.no_pin else pin_one_core()[0]
    duration = args.minutes * 60
    workdir = Path(tempfile.mkdtemp(prefix="pausewatch-bench-", dir=args.dir))
    fs = filesystem_of(workdir)
    print(
        f"telemetry_soak: {args.minutes:g} min, {args.chips:,} chips, {args.batch_windows} "
        f"windows per upload ({args.chips * args.batch_windows:,} records), RSS every "
        f"{args.sample_s:g} s, warm-up {args.warmup_s:g} s, bound {args.bound_mb:g} MB"
    )
    print(
        f"  Python {platform.python_version()}, {os.cpu_count()} CPUs, {pinned}, load average "
        f"{os.getloadavg()[0]:.2f}; store in {workdir} ({fs}); SQLite {sqlite3.sqlite_version}"
    )
    if fs in ("tmpfs", "ramfs"):
        print("  WARNING: the store is on a RAM filesystem; it then counts in memory too")

    samples: list[tuple[float, int, int]] = []  # (seconds, RSS bytes, records ingested)
    totals = {"records": 0, "accepted": 0, "rejected": 0, "duplicates": 0, "gaps": 0}
    uploads = 0
    objects: dict[str, int] = {}
    service: LogService | None = None
    try:
        fleet = simulate_fleet(demo_clusters(args.chips), windows=0, seed=args.seed)
        chained = ChainedFleet(fleet, args.seed, load_catalogue())
        clock = SimClock(fleet.start + timedelta(minutes=1))
        settings = Settings(data_dir=workdir, batch_latency_ms=1)
        service = LogService(settings, clock=clock).start()
        operator_key, registry_entries = register(service, fleet, args.seed)
        del fleet
        gc.collect()

        started = time.perf_counter()
        next_sample = 0.0
        next_report = 60.0
        warm = False
        while True:
            elapsed = time.perf_counter() - started
            if elapsed >= next_sample:
                samples.append((elapsed, rss_bytes(), totals["records"]))
                next_sample = elapsed + args.sample_s
            if not warm and elapsed >= args.warmup_s:
                warm = True
                gc.collect()
                objects["after_warmup"] = len(gc.get_objects())
            if elapsed >= duration:
                break
            if not args.quiet and elapsed >= next_report:
                print(
                    f"  ... {elapsed / 60:.0f} min: {totals['records']:,} records, RSS "
                    f"{samples[-1][1] / MB:.1f} MB",
                    file=sys.stderr,
                    flush=True,
                )
                next_report += 60.0
            lines: list[bytes] = []
            for _ in range(args.batch_windows):
                lines += chained.window()
            data, submission = upload(lines, operator_key)
            del lines
            clock.advance_to(chained.end + timedelta(seconds=1))
            receipt = service.ingest_telemetry(data, submission)
            uploads += 1
            totals["records"] += data.count(b"\n")
            totals["accepted"] += receipt.accepted
            totals["rejected"] += receipt.rejected_total
            totals["duplicates"] += receipt.duplicates
            totals["gaps"] += len(receipt.gaps)
            del data, submission, receipt
        soak_s = time.perf_counter() - started
        gc.collect()
        objects["at_end"] = len(gc.get_objects())
        chains = dump_view(service.engine, "tel_chains")
        log_size = service.log.size
        db_bytes = sum(p.stat().st_size for p in workdir.glob("pausewatch.db*"))
    finally:
        if service is not None:
            service.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    after_warmup = [s for s in samples if s[0] >= args.warmup_s]
    start_t, start_rss, _ = after_warmup[0]
    end_t, end_rss, _ = samples[-1]
    growth = end_rss - start_rss
    half = [(t, rss) for t, rss, _ in samples if t >= duration / 2]
    slope = slope_mb_per_min(half)
    slope_all = slope_mb_per_min([(t, rss) for t, rss, _ in after_warmup])
    ok = growth < args.bound_mb * MB
    peak = max(peak_rss_bytes(), max(rss for _, rss, _ in samples))
    records = totals["records"]
    windows = chained.windows
    heads_ok = len(chains) == args.chips and all(c["seq"] == windows - 1 for c in chains)
    verified = (
        totals["accepted"] == records
        and totals["rejected"] == totals["duplicates"] == totals["gaps"] == 0
        and heads_ok
        and log_size == registry_entries + uploads
    )

    print()
    print(
        f"  records ingested                {records:>12,}   in {soak_s:.0f} s "
        f"({records / soak_s:,.0f}/s, signing the records included), {uploads} uploads, "
        f"{windows:,} windows a chip"
    )
    print(
        f"  RSS after warm-up ({start_t:.0f} s)       {start_rss / MB:>9.1f} MB   "
        f"first sample {samples[0][1] / MB:.1f} MB"
    )
    print(f"  RSS at the end ({end_t:.0f} s)         {end_rss / MB:>9.1f} MB")
    print(
        f"  growth after warm-up            {growth / MB:>+9.1f} MB   bound < "
        f"{args.bound_mb:g} MB   {verdict(ok)}"
    )
    print(
        f"  slope, second half              {slope:>+9.3f} MB/min   least squares over "
        f"{len(half)} samples ({slope_all:+.3f} MB/min over everything after the warm-up)"
    )
    print(
        f"  peak RSS                        {peak / MB:>9.1f} MB   "
        f"live Python objects {objects.get('after_warmup', 0):,} after warm-up, "
        f"{objects['at_end']:,} at the end"
    )
    print(
        f"  store on disk                   {db_bytes / MB:>9.1f} MB   "
        f"({db_bytes / max(1, records):,.0f} B a record)"
    )
    print(
        f"  verify: {totals['accepted']:,} of {records:,} accepted, {totals['rejected']} "
        f"rejected, {totals['duplicates']} duplicates, {totals['gaps']} gaps; chain heads at seq "
        f"{windows - 1:,}: {'OK' if heads_ok else 'FAILED'}; log size {log_size:,} (expected "
        f"{registry_entries + uploads:,}): {'OK' if verified else 'FAILED'}"
    )
    write_json(
        args.json,
        {
            "benchmark": "telemetry_soak",
            "minutes": args.minutes,
            "chips": args.chips,
            "batch_windows": args.batch_windows,
            "seed": args.seed,
            "python": platform.python_version(),
            "pinning": pinned,
            "filesystem": fs,
            "warmup_s": args.warmup_s,
            "bound_mb": args.bound_mb,
            "soak_s": soak_s,
            "records": records,
            "uploads": uploads,
            "records_per_s": records / soak_s,
            "rss_after_warmup_mb": start_rss / MB,
            "rss_end_mb": end_rss / MB,
            "growth_mb": growth / MB,
            "slope_second_half_mb_per_min": slope,
            "slope_after_warmup_mb_per_min": slope_all,
            "peak_rss_mb": peak / MB,
            "python_objects": objects,
            "db_bytes": db_bytes,
            "samples": [{"s": t, "rss_mb": r / MB, "records": n} for t, r, n in samples],
            "verified": verified,
            "target_met": ok,
        },
    )
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
