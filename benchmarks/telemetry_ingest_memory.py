"""Peak memory of one telemetry upload against its size: garbage and valid records.

Target (hardening issue, item 4): the ingest's memory is bounded by a constant per upload
whatever its size. Figure: for each upload, the peak resident memory of the process during the
ingest minus its resident memory just before it (VmHWM, reset just before the upload, against
the RSS read from ``/proc/self/statm`` before), at 1, 8 and 32 MB, for uploads of garbage
(nothing but newlines, the issue's case, up to the 10,000,000 lines a submission may announce;
and lines ``[0]``, JSON but no record) and of valid chip-signed records.

What runs:

1. Set-up, in this process (not measured): a deterministic fleet (1,000 chips, 60% H100
   training under a declared run, 25% H200 serving, 15% A100 idle) with enough one-minute
   windows for the largest valid upload; a fresh :class:`pausewatch.service.LogService` on a
   SQLite file with the fleet's registry on its log; each upload written to a file with its
   operator-signed ``telemetry.submission/v1``. Valid uploads are the fleet's first windows,
   whole windows up to the size.
2. Each measurement in a fresh child process (``--child``) on its own copy of the registered
   store: it opens the service, reads its RSS (the baseline), streams the upload from its file
   into :class:`pausewatch.service.Upload` in 64 KiB chunks (as the API route does) and calls
   :meth:`LogService.ingest_telemetry`; then reads its peak RSS and checks the receipt (every
   garbage line rejected and counted; every valid record accepted).
3. Reference, in the same run: the same child with the previous release's code (``--old-src``,
   a checkout's ``src``), which takes the upload as bytes (as its route did with
   ``await request.body()``), at the sizes that machine can afford (``--old-garbage-mb``: 1 MB
   of newlines needed about 1.8 GB there).

``--ingest-workers N`` (default 0) is the child's ``PAUSEWATCH_INGEST_WORKERS``: with 0 the
records are verified in the measured process, as before docs/adr/0048; with N they are verified
in worker processes and the figure is the serving process's own peak (each worker holds one
segment at a time, the bound the in-process figure already includes).

Run ``.venv/bin/python benchmarks/telemetry_ingest_memory.py`` (add
``--old-src /path/to/previous/src`` for the reference).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _common import write_json

OPERATOR = "operator-1"
MB = 10**6
GARBAGE = {"newlines": b"\n", "junk": b"[0]\n"}
"""Uploads of nothing but newlines (the issue's case), and of short JSON lines that are no
records (4 bytes: a 32 MB upload fits in a submission's line limit)."""
MAX_LINES = 10_000_000
"""The most lines a ``telemetry.submission/v1`` may announce (32 MB of newlines exceed it)."""
CHUNK = 64 * 1024


def rss_now() -> int:
    """Resident memory of this process now, in bytes (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Start the peak RSS afresh (Linux: ``5`` to ``/proc/self/clear_refs`` resets VmHWM), so
    that the peak measured is the upload's, not the service's start-up's; whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def rss_peak() -> int:
    """Peak resident memory of this process (since :func:`reset_peak`), in bytes: VmHWM from
    ``/proc/self/status``, else ``ru_maxrss`` (since the process started; in KiB)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(args: argparse.Namespace) -> int:
    """Measure one ingest (see the module docstring, step 2); print one JSON line."""
    import gc

    from pausewatch.service import LogService
    from pausewatch.settings import Settings
    from pausewatch.statements import parse_statement

    now = datetime.fromisoformat(args.now)
    service = LogService(
        Settings(data_dir=Path(args.store), batch_latency_ms=1), clock=lambda: now
    ).start()
    try:
        submission = parse_statement(json.loads(Path(args.upload + ".submission").read_text()))
        gc.collect()
        reset = reset_peak()
        before = rss_now()
        peak_before = rss_peak()
        started = time.perf_counter()
        if args.bytes:
            data: Any = Path(args.upload).read_bytes()
        else:
            from pausewatch.service import Upload

            data = Upload()
            with open(args.upload, "rb") as f:
                while chunk := f.read(CHUNK):
                    data.write(chunk)
            data.finish()
        receipt = service.ingest_telemetry(data, submission)
        seconds = time.perf_counter() - started
        peak = rss_peak()
        rejected = getattr(receipt, "rejected_total", None)
        print(
            json.dumps(
                {
                    "baseline": before,
                    "peak_before": peak_before,
                    "peak_reset": reset,
                    "peak": peak,
                    "seconds": seconds,
                    "accepted": receipt.accepted,
                    "rejected": len(receipt.rejected) if rejected is None else rejected,
                    "listed": len(receipt.rejected),
                    "answer_bytes": len(json.dumps(receipt.__dict__, default=str)),
                }
            )
        )
    finally:
        service.close()
    return 0


def register_store(store: Path, chips: int, windows: int, seed: int) -> tuple[Any, Any, Any]:
    """A store at ``store`` with the fleet's registry on its log (by the code on the path);
    the fleet, the operator's key and the time the uploads are verified at."""
    from pausewatch.service import LogService
    from pausewatch.settings import Settings
    from pausewatch.simulate import demo_clusters, fleet_world, simulate_fleet
    from pausewatch.statements import load_key

    fleet = simulate_fleet(demo_clusters(chips, operator_id=OPERATOR), windows=windows, seed=seed)
    now = fleet.end + timedelta(minutes=1)
    service = LogService(Settings(data_dir=store, batch_latency_ms=1), clock=lambda: now).start()
    try:
        secretariat = load_key(service.settings.keys_dir, "secretariat")
        world = fleet_world(fleet, secretariat, seed=seed)
        for stage in world.stages:
            for future in [service.submit(s) for s in stage]:
                future.result(timeout=600)
        key = world.operators[OPERATOR]
    finally:
        service.close()
    return fleet, key, now


def prepare(
    workdir: Path, sizes: list[int], chips: int, seed: int, old_src: str | None
) -> dict[str, Any]:
    """The registered store(s) and every upload (see the module docstring, step 1)."""
    from pausewatch.statements import sign_statement

    line_bytes = 705  # about one record line; enough windows for the largest upload
    windows = max(2, -(-max(sizes) * MB // (chips * line_bytes)) + 1)
    store = workdir / "store"
    fleet, key, now = register_store(store, chips, windows, seed)
    old_store = None
    if old_src is not None:
        # The previous code cannot open a store migrated by this one: it registers its own
        # (the same fleet, keys and statements: all derive from the seed).
        old_store = workdir / "store-old-src"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([old_src, str(Path(__file__).parent)]))
        cmd = [sys.executable, __file__, "--register", str(old_store), "--chips", str(chips)]
        cmd += ["--seed", str(seed), "--windows", str(windows)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
        if done.returncode != 0:
            raise SystemExit(f"registering with {old_src} failed:\n{done.stderr[-4000:]}")

    def write(name: str, data: bytes) -> dict[str, Any]:
        path = workdir / name
        path.write_bytes(data)
        submission = sign_statement(
            "telemetry.submission/v1",
            {
                "operator_id": OPERATOR,
                "batch_digest": hashlib.sha256(data).hexdigest(),
                "records": data.count(b"\n"),
            },
            key,
        )
        Path(str(path) + ".submission").write_text(json.dumps(submission.to_json()))
        return {"path": str(path), "bytes": len(data), "lines": data.count(b"\n")}

    uploads: dict[str, dict[str, Any]] = {}
    for size in sizes:
        for kind, unit in GARBAGE.items():
            if size * MB // len(unit) <= MAX_LINES:
                uploads[f"{kind}-{size}"] = write(
                    f"{kind}-{size}.jsonl", unit * (size * MB // len(unit))
                )
        data = bytearray()
        for window in fleet.windows:
            chunk = b"".join(line + b"\n" for line in window)
            if len(data) + len(chunk) > size * MB and data:
                break
            data += chunk
        uploads[f"valid-{size}"] = write(f"valid-{size}.jsonl", bytes(data))
    return {
        "store": str(store),
        "old_store": None if old_store is None else str(old_store),
        "now": now.isoformat(),
        "uploads": uploads,
        "chips": chips,
    }


def measure(
    setup: dict[str, Any], name: str, workdir: Path, src: str | None, as_bytes: bool
) -> dict[str, Any]:
    """Run one child on a fresh copy of the store; its JSON figures."""
    store = workdir / f"store-{name}-{'old' if src else 'new'}"
    shutil.rmtree(store, ignore_errors=True)
    shutil.copytree(setup["old_store" if src else "store"], store)
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([src, str(Path(__file__).parent)])
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--store",
        str(store),
        "--upload",
        setup["uploads"][name]["path"],
        "--now",
        setup["now"],
    ]
    if as_bytes:
        cmd.append("--bytes")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    shutil.rmtree(store, ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"child {name} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,8,32", help="upload sizes in MB (1,8,32)")
    p.add_argument("--chips", type=int, default=1000, help="chips in the fleet (1000)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--old-src", default=None, help="the previous release's src, for reference")
    p.add_argument(
        "--old-garbage-mb", type=int, default=1, help="largest garbage upload for --old-src (1)"
    )
    p.add_argument(
        "--old-valid-mb", type=int, default=32, help="largest valid upload for --old-src (32)"
    )
    p.add_argument("--dir", type=Path, default=None, help="where the store and uploads go")
    p.add_argument("--json", metavar="FILE", default=None)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--store", help=argparse.SUPPRESS)
    p.add_argument("--upload", help=argparse.SUPPRESS)
    p.add_argument("--now", help=argparse.SUPPRESS)
    p.add_argument("--bytes", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--register", help=argparse.SUPPRESS)
    p.add_argument("--windows", type=int, help=argparse.SUPPRESS)
    p.add_argument(
        "--ingest-workers",
        type=int,
        default=0,
        help="PAUSEWATCH_INGEST_WORKERS of the measured child (0: verified in it)",
    )
    args = p.parse_args()
    # The children read it through Settings; the previous release ignores it.
    os.environ["PAUSEWATCH_INGEST_WORKERS"] = str(args.ingest_workers)
    if args.child:
        return child(args)
    if args.register:
        register_store(Path(args.register), args.chips, args.windows, args.seed)
        return 0

    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="pausewatch-mem-", dir=args.dir))
    try:
        started = time.perf_counter()
        setup = prepare(workdir, sizes, args.chips, args.seed, args.old_src)
        print(
            f"telemetry_ingest_memory: peak RSS of one ingest against the upload's size; "
            f"{args.chips:,} chips; set-up in {time.perf_counter() - started:.0f} s; "
            f"Python {sys.version.split()[0]}"
        )
        print(
            "  each row: a fresh child process on a copy of the registered store; "
            "baseline = its RSS just before the upload; growth = peak RSS - baseline"
        )
        header = (
            f"  {'code':<5} {'upload':<8} {'MB':>6} {'lines':>10} {'accepted':>9} "
            f"{'rejected':>10} {'listed':>6} {'answer B':>9} {'baseline MiB':>12} "
            f"{'peak MiB':>9} {'growth MiB':>10} {'s':>6}"
        )
        print(header)
        rows: list[dict[str, Any]] = []
        runs: list[tuple[str, str, bool]] = []
        kinds = (*GARBAGE, "valid")
        for kind in kinds:
            for size in sizes:
                if f"{kind}-{size}" in setup["uploads"]:
                    runs.append(("new", f"{kind}-{size}", False))
        if args.old_src:
            for kind in kinds:
                cap = args.old_valid_mb if kind == "valid" else args.old_garbage_mb
                for size in sizes:
                    if size <= cap and f"{kind}-{size}" in setup["uploads"]:
                        runs.append(("old", f"{kind}-{size}", True))
        ok = True
        for code, name, as_bytes in runs:
            upload = setup["uploads"][name]
            got = measure(setup, name, workdir, args.old_src if code == "old" else None, as_bytes)
            growth = got["peak"] - got["baseline"]
            row = {"code": code, "upload": name, **upload, **got, "growth": growth}
            rows.append(row)
            kind = name.split("-")[0]
            if kind != "valid":
                ok &= got["accepted"] == 0 and got["rejected"] == upload["lines"]
            else:
                ok &= got["accepted"] == upload["lines"] and got["rejected"] == 0
            print(
                f"  {code:<5} {kind:<8} {upload['bytes'] / MB:6.1f} {upload['lines']:>10,} "
                f"{got['accepted']:>9,} {got['rejected']:>10,} {got['listed']:>6,} "
                f"{got['answer_bytes']:>9,} {got['baseline'] / 2**20:12.1f} "
                f"{got['peak'] / 2**20:9.1f} {growth / 2**20:10.1f} {got['seconds']:6.1f}",
                flush=True,
            )
        for kind in kinds:
            new = [r for r in rows if r["code"] == "new" and r["upload"].startswith(kind)]
            if len(new) >= 2:
                # Between the two largest uploads: past one segment, what memory a byte costs.
                low, high = new[-2], new[-1]
                slope = (high["growth"] - low["growth"]) / max(1, high["bytes"] - low["bytes"])
                print(
                    f"  {kind}: growth {low['growth'] / 2**20:.1f} MiB at "
                    f"{low['bytes'] / MB:.1f} MB, {high['growth'] / 2**20:.1f} MiB at "
                    f"{high['bytes'] / MB:.1f} MB: {slope:.3f} bytes of memory per byte uploaded"
                )
        print(f"  verified: {'OK' if ok else 'FAILED'}")
        if args.json:
            write_json(args.json, {"rows": rows, "chips": args.chips, "sizes": sizes})
        return 0 if ok else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
