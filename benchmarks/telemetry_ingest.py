"""Telemetry records verified and accounted per second on one core, through the real ingest path.

Target (from the issue): records verified and accounted per second on one core through the real
ingest path (parse, verify signature and chain, store, aggregate, log), compared in the same run
with ``openssl speed -seconds 3 ed25519`` verify/s on the same machine: **at least 0.8 of it**;
and how many chips one core can serve at one record per chip per minute.

What runs, all in one process and one run, pinned to one CPU where the platform allows it (the
service's threads and the ``openssl`` child inherit the pinning):

1. Set-up, not timed: a deterministic fleet (:func:`pausewatch.simulate.simulate_fleet`,
   :func:`~pausewatch.simulate.demo_clusters`: 60% H100 training under a declared run, 25% H200
   serving, 15% A100 idle), ``--chips`` chips x ``--windows`` one-minute windows, every record
   good. A fresh :class:`pausewatch.service.LogService` on a SQLite file on disk
   (``Settings(data_dir=..., batch_latency_ms=1)``; the filesystem type is printed) with a clock
   that ticks past the fleet's last window; the fleet's registry statements
   (:func:`~pausewatch.simulate.fleet_world`) submitted stage by stage. The uploads are cut,
   ``--batch-windows`` windows each (an operator uploading every N minutes), each with the
   operator's signed ``telemetry.submission/v1``.
2. Reference: ``openssl speed -seconds 3 ed25519`` (``--openssl-seconds``), verify/s, run before
   the timed work and again after it; the ratio uses the mean of the two.
3. Cost breakdown, each over the same records:
   a. the signatures alone: ``Ed25519PublicKey.verify`` (cryptography) of every record, parsed
      beforehand;
   b. :func:`pausewatch.telemetry.verify_batch` alone, batch after batch with the chain heads
      carried over, against an in-memory registry (parse, signatures, chain, window and physical
      bounds, Merkle root). Signatures go through each chip's hash chain (one verification a
      chip per upload, docs/adr/0007) unless ``--every-signature`` checks every record's own;
   c. the figure: :meth:`LogService.ingest_telemetry` for every upload, one after the other, each
      call timed to its return (the batch entry durable and folded into the views). Inside it,
      the stages are timed as well (verification, storing records, building and signing the
      batch statement, the wait for durability, the fold) by wrapping the service's own steps.
4. Verification, or exit 1: every record accepted, none rejected, no duplicates or gaps; the
   stored records, the log's size and the SQL views (``tel_runs``, ``tel_chips``,
   ``tel_batches``) equal what the fleet sent: FLOP per run and precision, FLOP and records per
   chip.

Records/s = records / wall time of all the ``ingest_telemetry`` calls. Chips per core =
records/s x 60 (one record per chip per minute).

Run ``.venv/bin/python benchmarks/telemetry_ingest.py`` (full size) or add
``--chips 200 --windows 10``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import cryptography
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from _common import verdict, write_json
from log_append import filesystem_of
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.simulate import Fleet, demo_clusters, fleet_world, simulate_fleet
from pausewatch.state import dump_view
from pausewatch.statements import KeyPair, Statement, load_key, sign_statement
from pausewatch.telemetry import (
    DOMAIN,
    ChainState,
    parse_line,
    split_lines,
    verify_batch,
)

TARGET_RATIO = 0.8
OPERATOR = "operator-1"
_OPENSSL_LINE = re.compile(r"Ed25519\)\s+([\d.]+)s\s+([\d.]+)s\s+([\d.]+)\s+([\d.]+)\s*$")

T = TypeVar("T")


def pin_one_core() -> tuple[str, int | None]:
    """Pin this process to one CPU (the first it may run on); say what happened."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)", None
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (OSError, ValueError) as exc:
        return f"not pinned ({exc})", None
    return f"pinned to CPU {cpu}", cpu


def openssl_speed(seconds: int, cpu: int | None) -> dict[str, Any]:
    """``openssl speed -seconds N ed25519`` on this process's CPU: its sign/s and verify/s.

    The child inherits this process's CPU affinity; ``taskset`` pins it again where it exists,
    so that the pinning does not depend on the inheritance alone.
    """
    cmd = ["openssl", "speed", "-seconds", str(seconds), "ed25519"]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"openssl speed failed: {exc}") from exc
    for line in done.stdout.splitlines():
        match = _OPENSSL_LINE.search(line)
        if match:
            return {
                "command": " ".join(cmd),
                "sign_per_s": float(match.group(3)),
                "verify_per_s": float(match.group(4)),
                "wall_s": time.perf_counter() - started,
            }
    raise SystemExit(f"cannot read verify/s from openssl speed output:\n{done.stdout}")


def openssl_version() -> str:
    """``openssl version`` (the binary the reference runs)."""
    try:
        out = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.stdout.strip()


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``start`` and moves a millisecond per reading."""
    state = {"t": start}

    def now() -> datetime:
        state["t"] += timedelta(milliseconds=1)
        return state["t"]

    return now


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """Seconds one call of ``fn()`` took, and its result; a full collection first, not timed."""
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


class StageTimer:
    """Wall time spent in named steps, each a wrapped callable (seconds and calls)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, name: str, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn``, timed under ``name``."""
        self.seconds.setdefault(name, 0.0)
        self.calls.setdefault(name, 0)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                self.calls[name] += 1

        return wrapper


STAGES = (
    ("check", "submission check (operator key, digest, line count)"),
    ("verify", "verify_stream in the service, less the store (parse, chain, root, aggregate)"),
    ("store", "store accepted records by upload and position (telemetry_records), by segment"),
    ("statement", "build and sign the telemetry.batch/v1 statement"),
    ("append", "append through the sequencer, wait until durable"),
    ("fold", "fold the entry into the views (SQL)"),
)


def instrument(service: LogService, timer: StageTimer) -> bool:
    """Time the ingest's own steps by wrapping them on this service instance.

    This reaches into the service's private steps (``TelemetryIngest``); where one is missing
    (the code changed), nothing is wrapped and the split is not reported. Each wrapper costs
    about a microsecond per call, and the calls are per batch, not per record.
    """

    tel = service.telemetry
    names = ("check_submission", "_verify", "_store", "_batch_statement", "_append", "fold")
    if not all(hasattr(tel, n) for n in names):
        return False
    tel.check_submission = timer.wrap("check", tel.check_submission)  # type: ignore[method-assign]
    tel._store = timer.wrap("store", tel._store)  # type: ignore[method-assign]
    tel._batch_statement = timer.wrap("statement", tel._batch_statement)  # type: ignore[method-assign]
    tel._append = timer.wrap("append", tel._append)  # type: ignore[method-assign]
    tel.fold = timer.wrap("fold", tel.fold)
    tel._verify = timer.wrap("verify", tel._verify)  # type: ignore[method-assign]
    return True


def uninstrument() -> None:
    """Nothing to put back: :func:`instrument` wraps only this service instance's steps."""


def register(service: LogService, fleet: Fleet, seed: int) -> tuple[KeyPair, int]:
    """Put the fleet's registry on the log, stage by stage; the operator's key, entries made."""
    secretariat = load_key(service.settings.keys_dir, "secretariat")
    world = fleet_world(fleet, secretariat, seed=seed)
    count = 0
    for stage in world.stages:
        for future in [service.submit(s) for s in stage]:
            result = future.result(timeout=600)
            if result.duplicate:
                raise SystemExit(f"registration: entry {result.index} reported as a duplicate")
            count += 1
    return world.operators[OPERATOR], count


def uploads(fleet: Fleet, batch_windows: int, key: KeyPair) -> list[tuple[bytes, Statement]]:
    """The fleet's lines as JSONL uploads of ``batch_windows`` windows, each with its
    submission."""
    out: list[tuple[bytes, Statement]] = []
    windows = fleet.windows
    for first in range(0, len(windows), batch_windows):
        data = b"".join(line + b"\n" for w in windows[first : first + batch_windows] for line in w)
        submission = sign_statement(
            "telemetry.submission/v1",
            {
                "operator_id": OPERATOR,
                "batch_digest": hashlib.sha256(data).hexdigest(),
                "records": data.count(b"\n"),
            },
            key,
        )
        out.append((data, submission))
    return out


def expected_totals(fleet: Fleet) -> dict[str, Any]:
    """What the views must hold, summed from the lines with plain ``json``."""
    runs: dict[str, dict[str, int]] = {}
    chips: dict[str, list[Any]] = {}
    for line in fleet.lines:
        record = json.loads(line)["record"]
        chip = chips.setdefault(record["chip_id"], [0, {}])
        chip[0] += 1
        for precision, count in record["flop"].items():
            chip[1][precision] = chip[1].get(precision, 0) + int(count)
            if record["run_id"] is not None:
                run = runs.setdefault(record["run_id"], {})
                run[precision] = run.get(precision, 0) + int(count)
    return {"runs": runs, "chips": {c: (n, f) for c, (n, f) in chips.items()}}


def signatures_alone(fleet: Fleet) -> tuple[float, int]:
    """Seconds to verify every record's signature with cryptography, and how many verified."""
    keys = {c.chip_id: Ed25519PublicKey.from_public_bytes(c.public_key) for c in fleet.chips}
    items = [
        (keys[p.record.chip_id], p.signature, p.record_bytes)
        for p in (parse_line(line) for line in fleet.lines)
    ]

    def run() -> int:
        for key, signature, body in items:
            key.verify(signature, DOMAIN + body)  # raises on a bad signature
        return len(items)

    return timed(run)


def verify_batch_alone(
    fleet: Fleet, batches: list[tuple[bytes, Statement]], every_signature: bool
) -> tuple[float, int]:
    """Seconds to run ``verify_batch`` over every upload, chains carried; records accepted."""
    registry = fleet.registry()
    now = fleet.end + timedelta(minutes=1)

    def run() -> int:
        chains: dict[str, ChainState] = {}
        accepted = 0
        for data, _ in batches:
            result = verify_batch(
                split_lines(data),
                operator_id=OPERATOR,
                now=now,
                registry=registry,
                chains=chains,
                every_signature=every_signature,
            )
            chains.update(result.chains)
            accepted += len(result.accepted)
        return accepted

    return timed(run)


def ingest_all(
    service: LogService, batches: list[tuple[bytes, Statement]], quiet: bool
) -> dict[str, Any]:
    """Ingest every upload through the service, one after the other; time each call."""
    per_call: list[float] = []
    accepted = rejected = duplicates = gaps = 0
    records = sum(data.count(b"\n") for data, _ in batches)
    gc.collect()
    started = time.perf_counter()
    next_report = started + 10.0
    for data, submission in batches:
        t0 = time.perf_counter()
        receipt = service.ingest_telemetry(data, submission)
        t1 = time.perf_counter()
        per_call.append(t1 - t0)
        if receipt.duplicate:
            raise SystemExit(f"batch {receipt.index} answered as a duplicate")
        accepted += receipt.accepted
        rejected += receipt.rejected_total
        duplicates += receipt.duplicates
        gaps += len(receipt.gaps)
        if not quiet and t1 >= next_report:
            print(
                f"  ... {accepted:,}/{records:,} records after {t1 - started:.0f} s "
                f"({accepted / (t1 - started):,.0f}/s)",
                file=sys.stderr,
                flush=True,
            )
            next_report = t1 + 10.0
    elapsed = time.perf_counter() - started
    return {
        "records": records,
        "seconds": elapsed,
        "per_s": records / elapsed,
        "calls": len(per_call),
        "call_seconds_min": min(per_call),
        "call_seconds_max": max(per_call),
        "accepted": accepted,
        "rejected": rejected,
        "duplicates": duplicates,
        "gaps": gaps,
    }


def check_views(
    service: LogService, fleet: Fleet, expected: dict[str, Any], log_size: int, batches: int
) -> dict[str, Any]:
    """Compare the stored records, the log and the SQL views with what the fleet sent."""
    records = len(fleet.lines)
    runs = {
        row["run_id"]: {p: int(v) for p, v in json.loads(row["flop"]).items()}
        for row in dump_view(service.engine, "tel_runs")
    }
    chips = {
        row["chip_id"]: (row["records"], {p: int(v) for p, v in json.loads(row["flop"]).items()})
        for row in dump_view(service.engine, "tel_chips")
    }
    tel_batches = dump_view(service.engine, "tel_batches")
    chains = dump_view(service.engine, "tel_chains")
    with service.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM telemetry_records").scalar_one()
    windows = len(fleet.windows)
    total_flop = sum(sum(f.values()) for _, f in expected["chips"].values())
    checks = {
        "stored_records": stored == records,
        "log_size": service.log.size == log_size,
        "tel_batches": len(tel_batches) == batches
        and sum(b["accepted"] for b in tel_batches) == records,
        "runs_flop": runs == expected["runs"] and set(runs) == set(fleet.runs),
        "chips_records_and_flop": chips == expected["chips"],
        "chain_heads": len(chains) == len(fleet.chips)
        and all(c["seq"] == windows - 1 for c in chains),
    }
    return {
        "stored_records": stored,
        "log_size": service.log.size,
        "expected_log_size": log_size,
        "tel_batches": len(tel_batches),
        "runs": len(runs),
        "run_flop": {r: {p: str(v) for p, v in f.items()} for r, f in sorted(runs.items())},
        "chips": len(chips),
        "total_flop": str(total_flop),
        "checks": checks,
        "ok": all(checks.values()),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are the target's conditions."""
    p = argparse.ArgumentParser(
        description=(
            "Telemetry records verified and accounted per second on one core through "
            "LogService.ingest_telemetry (target >= 0.8 x openssl speed ed25519 verify/s on the "
            "same core, measured in the same run)."
        )
    )
    p.add_argument("--chips", type=int, default=1000, help="chips in the fleet (1000)")
    p.add_argument("--windows", type=int, default=60, help="one-minute windows per chip (60)")
    p.add_argument(
        "--batch-windows",
        type=int,
        default=10,
        help="windows per upload: an operator uploading every N minutes (10)",
    )
    p.add_argument("--seed", type=int, default=2026, help="seed of the fleet (2026)")
    p.add_argument(
        "--openssl-seconds", type=int, default=3, help="seconds per openssl speed run (3)"
    )
    p.add_argument(
        "--every-signature",
        action="store_true",
        help="check every record's own signature (default: one a chip per upload, the rest "
        "vouched for by the chip's hash chain; docs/adr/0007)",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument("--no-split", action="store_true", help="do not time the ingest's stages")
    p.add_argument("--no-reference", action="store_true", help="skip the breakdown (a) and (b)")
    p.add_argument("--dir", type=Path, default=None, help="where to put the store (a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the store afterwards")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.chips < 3 or args.windows < 1 or args.batch_windows < 1:
        p.error("expected --chips >= 3, --windows >= 1 and --batch-windows >= 1")
    if args.openssl_seconds < 1:
        p.error("--openssl-seconds must be at least 1")
    return args


def progress(args: argparse.Namespace, what: str) -> None:
    """A progress line on stderr, unless --quiet."""
    if not args.quiet:
        print(f"  running: {what} ...", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures; exit 0 whether or not the target was met."""
    args = parse_args(argv)
    pinned, cpu = ("not pinned (--no-pin)", None) if args.no_pin else pin_one_core()
    load = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="pausewatch-bench-", dir=args.dir))
    fs = filesystem_of(workdir)
    n_records = args.chips * args.windows
    print(
        f"telemetry_ingest: {args.chips:,} chips x {args.windows} windows = {n_records:,} "
        f"records, {args.batch_windows} windows per upload "
        f"({-(-args.windows // args.batch_windows)} uploads), seed {args.seed}; signatures: "
        + (
            "every record's own"
            if args.every_signature
            else "one a chip per upload, through the chain"
        )
    )
    print(
        f"  Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{os.cpu_count()} CPUs, {pinned}, load average {load:.2f}; {openssl_version()}"
    )
    print(f"  store in {workdir} ({fs}); SQLite {sqlite3.sqlite_version}, WAL, synchronous=FULL")
    if fs in ("tmpfs", "ramfs"):
        print("  WARNING: the store is on a RAM filesystem; fsync costs nothing there")

    figures: dict[str, Any] = {
        "benchmark": "telemetry_ingest",
        "chips": args.chips,
        "windows": args.windows,
        "batch_windows": args.batch_windows,
        "seed": args.seed,
        "every_signature": args.every_signature,
        "python": platform.python_version(),
        "cryptography": cryptography.__version__,
        "openssl": openssl_version(),
        "cpus": os.cpu_count(),
        "pinning": pinned,
        "load_average_1min_at_start": load,
        "filesystem": fs,
        "sqlite_version": sqlite3.sqlite_version,
        "target_ratio": TARGET_RATIO,
    }
    service: LogService | None = None
    try:
        progress(args, "simulating the fleet")
        t0 = time.perf_counter()
        fleet = simulate_fleet(demo_clusters(args.chips), windows=args.windows, seed=args.seed)
        gen_s = time.perf_counter() - t0
        expected = expected_totals(fleet)
        settings = Settings(
            data_dir=workdir,
            batch_latency_ms=1,
            telemetry_every_signature=args.every_signature,
        )
        service = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
        progress(args, "registering the fleet")
        t0 = time.perf_counter()
        operator_key, registry_entries = register(service, fleet, args.seed)
        reg_s = time.perf_counter() - t0
        batches = uploads(fleet, args.batch_windows, operator_key)
        print(
            f"  set-up (not timed): fleet generated in {gen_s:.1f} s; {registry_entries:,} "
            f"registry statements on the log in {reg_s:.1f} s; {len(batches)} uploads of "
            f"{len(batches[0][0]) / 1e6:.1f} MB (lines of "
            f"{sum(len(d) for d, _ in batches) / n_records:,.0f} B on average)"
        )

        progress(args, "openssl speed (before)")
        ossl_before = openssl_speed(args.openssl_seconds, cpu)
        sig: tuple[float, int] | None = None
        vb: tuple[float, int] | None = None
        if not args.no_reference:
            progress(args, "signatures alone")
            sig = signatures_alone(fleet)
            progress(args, "verify_batch alone")
            vb = verify_batch_alone(fleet, batches, args.every_signature)
        timer = StageTimer()
        split = not args.no_split and instrument(service, timer)
        progress(args, "ingest through the service")
        full = ingest_all(service, batches, args.quiet)
        if split:
            uninstrument()
        progress(args, "openssl speed (after)")
        ossl_after = openssl_speed(args.openssl_seconds, cpu)
        progress(args, "verification")
        check = check_views(service, fleet, expected, registry_entries + len(batches), len(batches))
    finally:
        if service is not None:
            service.close()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    reference = (ossl_before["verify_per_s"] + ossl_after["verify_per_s"]) / 2
    rate = full["per_s"]
    ratio = rate / reference
    ok = ratio >= TARGET_RATIO
    n = full["records"]
    us = 1e6 / n  # seconds over all records -> µs a record

    print()
    print(
        f"  records verified and accounted  {rate:>10,.0f} records/s   "
        f"{ratio:.3f} x openssl   target >= {TARGET_RATIO} x on one core   {verdict(ok)}"
    )
    print(
        f"    LogService.ingest_telemetry: {n:,} records in {full['seconds']:.2f} s, "
        f"{full['calls']} calls of {full['call_seconds_min']:.2f}-{full['call_seconds_max']:.2f} "
        f"s ({full['seconds'] * us:.1f} µs a record)"
    )
    print(
        f"  reference: openssl speed        {reference:>10,.0f} verify/s    "
        f"mean of {ossl_before['verify_per_s']:,.1f} (before) and "
        f"{ossl_after['verify_per_s']:,.1f} (after); {1e6 / reference:.1f} µs a verify"
    )
    print(
        f"  chips one core can serve        {rate * 60:>10,.0f} chips       "
        f"at one record per chip per minute (records/s x 60)"
    )
    print("  where the time goes (µs a record; same records, same run):")
    if sig is not None and vb is not None:
        sig_s, vb_s = sig[0], vb[0]
        print(
            f"    (a) signatures alone (cryptography)  {sig_s * us:7.1f}   "
            f"{n / sig_s:>8,.0f}/s = {n / sig_s / reference:.3f} x openssl"
        )
        print(
            f"    (b) verify_batch alone (in memory)   {vb_s * us:7.1f}   "
            f"{n / vb_s:>8,.0f}/s = {n / vb_s / reference:.3f} x openssl; "
            f"{(vb_s - sig_s) * us:.1f} over (a): parse, hash, chain, bounds, root"
        )
        print(
            f"    (c) the full path (the figure)       {full['seconds'] * us:7.1f}   "
            f"{rate:>8,.0f}/s; {(full['seconds'] - vb_s) * us:.1f} over (b): registry views, "
            f"store, aggregate, sign, log, fold"
        )
        figures["signatures_alone"] = {"seconds": sig_s, "per_s": n / sig_s, "records": sig[1]}
        figures["verify_batch_alone"] = {"seconds": vb_s, "per_s": n / vb_s, "accepted": vb[1]}
    if split:
        inside = sum(timer.seconds.values()) - timer.seconds["store"]
        for name, label in STAGES:
            seconds = timer.seconds[name]
            if name == "verify":  # the store runs inside it, segment by segment
                seconds -= timer.seconds["store"]
            print(
                f"        {seconds * us:7.1f}  {seconds / full['seconds']:6.1%}  {label} "
                f"({timer.calls[name]} calls)"
            )
        rest = full["seconds"] - inside
        print(f"        {rest * us:7.1f}  {rest / full['seconds']:6.1%}  the rest")
        figures["stages_seconds"] = dict(timer.seconds)
    print(
        f"  verify: {full['accepted']:,} of {n:,} records accepted, {full['rejected']} rejected, "
        f"{full['duplicates']} duplicates, {full['gaps']} gaps; {check['stored_records']:,} "
        f"stored; log size {check['log_size']:,} (expected {check['expected_log_size']:,}); "
        f"{check['tel_batches']} batches in tel_batches; FLOP per run ({check['runs']} runs) and "
        f"records and FLOP per chip ({check['chips']:,} chips, {float(check['total_flop']):.4g} "
        f"FLOP) equal the fleet's: "
        + ", ".join(f"{k} {'OK' if v else 'FAILED'}" for k, v in check["checks"].items())
    )
    verified = (
        bool(check["ok"])
        and full["accepted"] == n
        and full["rejected"] == full["duplicates"] == full["gaps"] == 0
        and (vb is None or vb[1] == n)
    )
    print(f"  verified: {'OK' if verified else 'FAILED'}")
    figures.update(
        {
            "openssl_before": ossl_before,
            "openssl_after": ossl_after,
            "openssl_verify_per_s": reference,
            "ingest": full,
            "records_per_s": rate,
            "ratio": ratio,
            "chips_per_core_at_1_per_min": rate * 60,
            "verification": check,
            "verified": verified,
            "target_met": ok,
        }
    )
    write_json(args.json, figures)
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
