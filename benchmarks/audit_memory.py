"""Peak memory of an audit that verifies every telemetry batch again, at two record counts.

Target (issue 15, docs/adr/0019): `pausewatch audit` streams the stored records; its memory does
not grow with the number of records. Figure: the peak resident memory of an audit of a store
(``audit_log`` as `pausewatch audit --data-dir` runs it: every entry, every batch verified again
from its stored records, every view compared) minus the resident memory just before it, for a
log of ``--records`` records and one of ten times as many. Reference: the smaller log, measured
in the same run; the two figures are printed side by side.

What runs:

1. Set-up, in this process (not measured), for each size: a deterministic fleet
   (:func:`pausewatch.simulate.simulate_fleet`, ``--chips`` chips) registered on a fresh
   :class:`pausewatch.service.LogService`, and its windows uploaded through the service's
   ingest, ``--windows-per-batch`` windows a batch, until the size is reached.
2. Each audit in a fresh child process (``--child``): it reads its RSS (the baseline), audits
   the store, reads its peak RSS (VmHWM, reset just before), and checks the report: no problem,
   every batch and record verified again.

Run ``.venv/bin/python benchmarks/audit_memory.py`` (``--records 20000`` by default).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from _common import write_json
from telemetry_ingest_memory import OPERATOR, register_store, reset_peak, rss_now, rss_peak


def child(store: Path) -> int:
    """Audit the store (see the module docstring, step 2); print one JSON line."""
    from pausewatch.audit import audit_log
    from pausewatch.ledger import LogStore, Verifier
    from pausewatch.service import iter_stored_records
    from pausewatch.state import dump_view
    from pausewatch.statements import load_key
    from pausewatch.store import make_engine, sqlite_url

    engine = make_engine(sqlite_url(store / "pausewatch.db"))
    log = LogStore(engine)
    identity = log.identity()
    assert identity is not None
    secretariat = load_key(store / "keys", "secretariat").signer_id
    gc.collect()
    reset = reset_peak()
    before = rss_now()
    started = time.perf_counter()
    report, _ = audit_log(
        log.entries(),
        list(log.checkpoint_notes()),
        Verifier.from_string(identity[1]),
        secretariat=secretariat,
        stored_nodes=log.nodes_completed,
        records=lambda _i, b: iter_stored_records(
            engine, b.submission_body().operator_id, b.submission_body().batch_digest
        ),
        stored_views=partial(dump_view, engine),
    )
    seconds = time.perf_counter() - started
    peak = rss_peak()
    engine.dispose()
    print(
        json.dumps(
            {
                "baseline": before,
                "peak": peak,
                "peak_reset": reset,
                "seconds": seconds,
                "ok": report.ok,
                "problems": report.problems[:5],
                "entries": report.entries,
                "reverified_batches": report.batches_reverified,
                "reverified_records": report.records_reverified,
                "not_reverified": report.batches_not_reverified,
            }
        )
    )
    return 0


def build(store: Path, records: int, chips: int, per_batch: int, seed: int) -> dict[str, Any]:
    """A store with a fleet's registry and about ``records`` of its records ingested."""
    from pausewatch.service import LogService, Upload
    from pausewatch.settings import Settings
    from pausewatch.statements import sign_statement

    windows = -(-records // chips)
    fleet, key, now = register_store(store, chips, windows, seed)
    service = LogService(Settings(data_dir=store, batch_latency_ms=1), clock=lambda: now).start()
    accepted = batches = 0
    try:
        for first in range(0, len(fleet.windows), per_batch):
            data = b"".join(
                line + b"\n"
                for window in fleet.windows[first : first + per_batch]
                for line in window
            )
            submission = sign_statement(
                "telemetry.submission/v1",
                {
                    "operator_id": OPERATOR,
                    "batch_digest": hashlib.sha256(data).hexdigest(),
                    "records": data.count(b"\n"),
                },
                key,
            )
            receipt = service.ingest_telemetry(Upload.of(data), submission)
            accepted += receipt.accepted
            batches += 1
    finally:
        service.close()
    return {"records": accepted, "batches": batches, "now": now.isoformat()}


def measure(store: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(store)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if done.returncode != 0:
        raise SystemExit(f"the audit child failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=20_000, help="records of the smaller log")
    p.add_argument("--factor", type=int, default=10, help="the larger log's multiple (10)")
    p.add_argument("--chips", type=int, default=1000, help="chips in the fleet (1000)")
    p.add_argument("--windows-per-batch", type=int, default=10, help="windows a batch (10)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--dir", type=Path, default=None, help="where the stores go")
    p.add_argument("--json", metavar="FILE", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(Path(args.child))
    workdir = Path(tempfile.mkdtemp(prefix="pausewatch-audit-mem-", dir=args.dir))
    try:
        rows = []
        for records in (args.records, args.records * args.factor):
            store = workdir / f"store-{records}"
            started = time.perf_counter()
            built = build(store, records, args.chips, args.windows_per_batch, args.seed)
            got = measure(store)
            rows.append({**built, **got, "setup_s": time.perf_counter() - started - got["seconds"]})
        print(
            f"audit_memory: peak RSS of `audit --data-dir` (every batch verified again from its "
            f"records, every view compared); {args.chips:,} chips, "
            f"{args.windows_per_batch} windows a batch; Python {sys.version.split()[0]}"
        )
        print("  growth = peak RSS during the audit - RSS just before it (a fresh child each)")
        print(
            f"  {'log':<10} {'records':>9} {'batches':>8} {'reverified':>10} "
            f"{'baseline MiB':>12} {'peak MiB':>9} {'growth MiB':>10} {'audit s':>8}"
        )
        ok = True
        for name, row in zip(("reference", "10x"), rows, strict=True):
            growth = row["peak"] - row["baseline"]
            row["growth"] = growth
            ok &= bool(row["ok"]) and row["not_reverified"] == 0
            ok &= (row["reverified_records"], row["reverified_batches"]) == (
                row["records"],
                row["batches"],
            )
            print(
                f"  {name:<10} {row['records']:>9,} {row['batches']:>8,} "
                f"{row['reverified_records']:>10,} {row['baseline'] / 2**20:12.1f} "
                f"{row['peak'] / 2**20:9.1f} {growth / 2**20:10.1f} {row['seconds']:8.1f}"
            )
        small, large = rows
        print(
            f"  growth at {large['records']:,} records / growth at {small['records']:,} "
            f"(reference, same run): {large['growth'] / max(1, small['growth']):.2f}"
        )
        print(f"  verified: {'OK' if ok else 'FAILED ' + str([r['problems'] for r in rows])}")
        if args.json:
            write_json(args.json, {"rows": rows, "chips": args.chips})
        return 0 if ok else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
