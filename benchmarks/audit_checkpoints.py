"""Peak memory of `pausewatch audit` against the number of checkpoints the log signed.

Target (issue 19, section 5: "keep the memory bounded"): the audit's memory does not grow with
the number of checkpoints. The service signs a checkpoint for every append, so a busy log has
about as many checkpoints as entries; the audit held every note, every opened checkpoint and
every result (about 2.3 KB a checkpoint, docs/adr/0049), and the export reader held an offset
per telemetry batch. Figure: the peak resident memory of the real command, `pausewatch audit
--data-dir` and `pausewatch audit --file`, on a log of ``--entries`` entries with a checkpoint
after every entry. Reference, measured in the same run: the same number of entries appended
``--batch`` (1,000) at a time, so with a thousandth of the checkpoints. The two are printed
side by side, with their ratio.

What runs:

1. Set-up (not measured): for each of the two logs, a fresh
   :class:`pausewatch.service.LogService` on SQLite, given ``notice/v1`` statements signed by
   its secretariat key, one at a time (each its own append, so its own signed checkpoint) or
   ``--batch`` at a time (the sequencer appends what is queued together); then an export of
   the store in the layout `pausewatch log export` writes (a ``log`` header, the entries, the
   checkpoints in order of size).
2. Each audit as its own process (``python -m pausewatch.cli audit ... --json``), its peak
   resident memory read from the kernel when it ends (``os.wait4``: that child's own
   ``ru_maxrss``). Exit 1 unless every audit passes, having verified every checkpoint.

Run ``PYTHONPATH=src .venv/bin/python benchmarks/audit_checkpoints.py`` (about two minutes at
the default 30,000 entries; most of it is appending one entry at a time).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import child_env, verdict, write_json
from pausewatch.ledger import LogStore
from pausewatch.statements import load_key, sign_statement
from pausewatch.store import make_engine, sqlite_url

GROWTH_LIMIT = 1.10
"""The target: peak memory with a checkpoint per entry at most this times the reference's."""


def build(directory: Path, entries: int, batch: int) -> dict[str, Any]:
    """A service's store of ``entries`` entries submitted ``batch`` at a time, and its export
    (see the module docstring, step 1)."""
    from pausewatch.service import LogService
    from pausewatch.settings import Settings

    service = LogService(Settings(data_dir=directory, batch_latency_ms=1)).start()
    started = time.perf_counter()
    try:
        key = load_key(service.settings.keys_dir, "secretariat")
        for start in range(0, entries, batch):
            futures = [
                service.submit(sign_statement("notice/v1", {"title": f"n{i}"}, key))
                for i in range(start, min(entries, start + batch))
            ]
            for future in futures:
                future.result(timeout=600)
    finally:
        service.close()
    built_s = time.perf_counter() - started
    engine = make_engine(sqlite_url(directory / "pausewatch.db"))
    store = LogStore(engine)
    identity = store.identity()
    assert identity is not None
    origin, log_key = identity
    export = directory.parent / f"{directory.name}.jsonl"
    checkpoints = 0
    with export.open("w") as fh:
        header = {"type": "log", "origin": origin, "verifier_key": log_key, "records": True}
        fh.write(json.dumps(header) + "\n")
        for index, data in store.entries():
            entry = {"type": "entry", "index": index, "data": base64.b64encode(data).decode()}
            fh.write(json.dumps(entry) + "\n")
        for note in store.checkpoint_notes():
            fh.write(json.dumps({"type": "checkpoint", "note": note}) + "\n")
            checkpoints += 1
    engine.dispose()
    return {
        "dir": directory,
        "export": export,
        "log_key": log_key,
        "checkpoints": checkpoints,
        "built_s": built_s,
    }


def audit(args: list[str], log_key: str) -> dict[str, Any]:
    """Run `pausewatch audit ARGS --log-key KEY --json` as its own process; its peak RSS."""
    cmd = [sys.executable, "-m", "pausewatch.cli", "audit", *args, "--log-key", log_key, "--json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=child_env())
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"audit {' '.join(args)} exited {proc.returncode}:\n{text}\n{errors}")
    report = json.loads(text)
    return {
        "peak_mib": usage.ru_maxrss / 1024,
        "seconds": seconds,
        # Code before the count was reported listed every checkpoint it verified.
        "checkpoints_verified": report.get("checkpoints_verified", len(report["checkpoints"])),
        "checkpoints_listed": len(report["checkpoints"]),
        "ok": report["ok"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    print(
        f"audit_checkpoints: peak RSS of `pausewatch audit` (its own process), "
        f"{args.entries:,} entries; Python {platform.python_version()}"
    )
    rows: dict[str, dict[str, Any]] = {}
    ok = True
    with tempfile.TemporaryDirectory(prefix="pausewatch-audit-cp-") as tmp:
        logs = {
            "reference": build(Path(tmp) / "reference", args.entries, args.batch),
            "every entry": build(Path(tmp) / "every", args.entries, 1),
        }
        print(
            f"  {'log':<12} {'checkpoints':>11} {'source':<11} {'verified':>9} {'listed':>7} "
            f"{'peak MiB':>9} {'audit s':>8}"
        )
        for name, log in logs.items():
            for source, cli in (
                ("--data-dir", ["--data-dir", str(log["dir"])]),
                ("--file", ["--file", str(log["export"])]),
            ):
                found = audit(cli, log["log_key"])
                found["checkpoints"] = log["checkpoints"]
                rows[f"{name} {source}"] = found
                # --data-dir also checks the checkpoint kept in the data directory
                ok &= found["ok"] and found["checkpoints_verified"] >= log["checkpoints"]
                print(
                    f"  {name:<12} {log['checkpoints']:>11,} {source:<11} "
                    f"{found['checkpoints_verified']:>9,} {found['checkpoints_listed']:>7,} "
                    f"{found['peak_mib']:>9.1f} {found['seconds']:>8.1f}"
                )
    figures: dict[str, Any] = {"benchmark": "audit_checkpoints", "entries": args.entries}
    for source in ("--data-dir", "--file"):
        many, few = rows[f"every entry {source}"], rows[f"reference {source}"]
        ratio = many["peak_mib"] / few["peak_mib"]
        met = ratio <= GROWTH_LIMIT
        ok &= met
        print(
            f"  {source}: peak with a checkpoint per entry / reference (same run) = "
            f"{many['peak_mib']:.1f} / {few['peak_mib']:.1f} MiB = {ratio:.2f} "
            f"(target <= {GROWTH_LIMIT:.2f}): {verdict(met)}"
        )
        figures[source] = {"every_entry": many, "reference": few, "ratio": ratio}
    write_json(args.json, figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
