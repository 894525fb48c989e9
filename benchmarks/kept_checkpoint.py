"""What keeping the newest checkpoint outside the database costs a durable append (ADR 0014).

The log writes its newest signed checkpoint to ``<data dir>/checkpoint`` after each batch commits
(temporary file, fsync, rename, fsync of the directory) and reads it back before each signature.
This measures batches per second of ``PersistentLog.append_batch`` on SQLite (WAL,
``synchronous=FULL``) with the kept checkpoint, against the reference measured in the same run:
the same batches on a second fresh store without it. Small batches are the worst case (one
checkpoint a batch); large ones amortise it.

Verification: each store is reopened (with its kept checkpoint where it has one), its size must
be the number appended, and the kept note must be the store's newest checkpoint.

Run ``.venv/bin/python benchmarks/kept_checkpoint.py`` (``--batches 500 --batch-size 1``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import write_json
from pausewatch.ledger import PendingEntry, PersistentLog, Signer
from pausewatch.store import CheckpointFile, make_engine, sqlite_url, upgrade

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def run(root: Path, kept: bool, batches: int, batch_size: int) -> dict[str, Any]:
    """Append ``batches`` batches on a fresh store; batches per second and entries per second."""
    root.mkdir()
    signer = Signer.generate("bench.example/log")
    engine = make_engine(sqlite_url(root / "pausewatch.db"))
    upgrade(engine)
    keeper = CheckpointFile(root / "checkpoint") if kept else None
    log = PersistentLog(engine, signer, kept=keeper)
    started = time.perf_counter()
    for b in range(batches):
        pending = [PendingEntry(b'{"n":%d}' % (b * batch_size + i)) for i in range(batch_size)]
        log.append_batch(pending, NOW)
    elapsed = time.perf_counter() - started
    reopened = PersistentLog(engine, signer, kept=keeper)
    if reopened.size != batches * batch_size:
        raise SystemExit(f"expected {batches * batch_size} entries, got {reopened.size}")
    if keeper is not None and keeper.read() != reopened.latest_note():
        raise SystemExit("the kept checkpoint is not the store's newest")
    engine.dispose()
    return {"batches_per_s": batches / elapsed, "entries_per_s": batches * batch_size / elapsed}


def main(argv: list[str] | None = None) -> int:
    """Measure both, print the figure beside its reference."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=500, help="batches to append (500)")
    p.add_argument("--batch-size", type=int, default=1, help="entries a batch (1)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians (3)")
    p.add_argument("--dir", type=Path, default=None, help="where to put the stores (a temp dir)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    # Alternated, so that a slow moment of a shared machine does not fall on one side only.
    rounds: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for r in range(args.rounds):
            for with_kept in (False, True):
                where = Path(tmp) / f"{r}-{with_kept}"
                rounds[with_kept].append(run(where, with_kept, args.batches, args.batch_size))
    reference, kept = (
        sorted(rounds[k], key=lambda x: x["batches_per_s"])[args.rounds // 2] for k in (False, True)
    )
    ratio = kept["batches_per_s"] / reference["batches_per_s"]
    print(
        f"durable batches/s of {args.batch_size} entries, SQLite, median of {args.rounds}: "
        "with the kept checkpoint "
        f"{kept['batches_per_s']:,.0f}/s, without it (reference, same run) "
        f"{reference['batches_per_s']:,.0f}/s: {ratio:.2f} of the reference"
    )
    write_json(args.json, {"kept": kept, "reference": reference, "ratio": ratio, "rounds": rounds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
