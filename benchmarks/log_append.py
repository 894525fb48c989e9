"""Durable appends per second through the sequencer on the embedded default (SQLite).

Target (from the issue): at least 20,000 durable appends per second on the embedded default,
1,000,000 entries of 200 bytes, batched. For scale, Tessera publishes about 2,900/s for its
single-node POSIX backend on 12 cores (a published figure; it is not measured here).

What runs, all in one process and one run:

1. The log: a fresh SQLite store (WAL, ``synchronous=FULL``, as ``make_engine`` sets it up) in a
   temporary directory, a :class:`PersistentLog` and a started :class:`Sequencer`. Several
   submitter threads submit ``--entries`` :class:`PendingEntry` objects whose stored entry bytes
   (``encode_entry(payload, now)``) are exactly ``--entry-bytes`` long, and wait for every future.
   An entry counts only once its future resolved, i.e. once its batch committed. The clock runs
   from the first submission to the last resolved future.
2. Reference, the database's own ceiling: plain ``sqlite3`` ``executemany`` of the same entry
   bytes into a two-column table, WAL and ``synchronous=FULL``, one transaction per batch of the
   same size.
3. Reference, the log without the sequencer: ``PersistentLog.append_batch`` called directly with
   batches of the same size, on a second fresh store (skip with ``--no-direct``).
4. Verification: the store is reopened; its size must be ``--entries`` and its root must equal the
   root of a :class:`MerkleTree` built over the stored entries (read in pages, each leaf hash
   recomputed from the stored bytes), and the latest signed checkpoint must carry that root.

Run ``.venv/bin/python benchmarks/log_append.py`` (full size) or add ``--entries 100000``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import verdict, write_json
from pausewatch.ledger import (
    Appended,
    MerkleTree,
    PendingEntry,
    PersistentLog,
    QueueFullError,
    Sequencer,
    SignedCheckpoint,
    Signer,
    encode_entry,
    leaf_hash,
)
from pausewatch.store import make_engine, sqlite_url, upgrade

TARGET_PER_S = 20_000.0
TESSERA_PUBLISHED_PER_S = 2_900.0
LOG_NAME = "bench.example/log"


def clock() -> datetime:
    """The sequencer's clock: wall time, UTC."""
    return datetime.now(UTC)


def filesystem_of(path: Path) -> str:
    """The filesystem type that holds ``path`` (from /proc/mounts; '?' where unknown)."""
    best, fstype = "", "?"
    target = str(path.resolve())
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount = parts[1]
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, fstype = mount, parts[2]
    except OSError:
        pass
    return fstype


def make_payloads(n: int, entry_bytes: int, now: datetime) -> list[bytes]:
    """``n`` distinct canonical JSON statements whose stored entries are ``entry_bytes`` long.

    Each is ``{"n":"<zero-padded counter>","pad":"xxx..."}``: keys in sorted order, no spaces,
    ASCII strings only, so it is RFC 8785 canonical as written.
    """
    width = max(10, len(str(max(n - 1, 0))))
    overhead = len(encode_entry(b"", now)) + len(b'{"n":"","pad":""}') + width
    pad = entry_bytes - overhead
    if pad < 0:
        raise SystemExit(f"--entry-bytes: expected at least {overhead}, got {entry_bytes}")
    head, tail = b'{"n":"', b'","pad":"' + b"x" * pad + b'"}'
    payloads = [head + str(i).zfill(width).encode() + tail for i in range(n)]
    for p in (payloads[0], payloads[-1]):
        canonical = json.dumps(json.loads(p), separators=(",", ":"), sort_keys=True).encode()
        assert canonical == p, "payload is not canonical JSON"
        assert len(encode_entry(p, now)) == entry_bytes, "payload has the wrong size"
    return payloads


def open_log(path: Path, signer: Signer) -> PersistentLog:
    """A PersistentLog over a (new or existing) SQLite store at ``path``."""
    engine = make_engine(sqlite_url(path))
    upgrade(engine)
    return PersistentLog(engine, signer)


class Submitter(threading.Thread):
    """Submits a slice of the payloads and waits for each future (bounded in flight)."""

    def __init__(
        self,
        sequencer: Sequencer,
        payloads: list[bytes],
        start: int,
        stop: int,
        window: int,
        seen: bytearray,
        group: int = 1,
    ) -> None:
        super().__init__(name=f"submitter-{start}", daemon=True)
        self.group = group
        self.sequencer = sequencer
        self.payloads = payloads
        self.lo = start
        self.hi = stop
        self.window = window
        self.seen = seen
        self.durable = 0
        self.queue_full = 0
        self.errors: list[str] = []

    def _settle(self, fut: Future[Any]) -> None:
        got = fut.result()
        for res in got if isinstance(got, list) else [got]:
            self._count(res)

    def _count(self, res: Appended) -> None:
        if res.duplicate:
            self.errors.append(f"entry {res.index} reported as a duplicate")
        elif self.seen[res.index]:
            self.errors.append(f"index {res.index} handed out twice")
        else:
            self.seen[res.index] = 1
            self.durable += 1

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported by the main thread
            self.errors.append(repr(exc))

    def _run(self) -> None:
        pending: deque[Future[Any]] = deque()
        seq = self.sequencer
        step = self.group
        for i in range(self.lo, self.hi, step):
            chunk = [PendingEntry(p) for p in self.payloads[i : min(i + step, self.hi)]]
            while True:
                try:
                    pending.append(seq.submit(chunk[0]) if step == 1 else seq.submit_many(chunk))
                    break
                except QueueFullError:
                    self.queue_full += 1
                    if pending:
                        self._settle(pending.popleft())
                    else:
                        time.sleep(0.001)
            if len(pending) * step > self.window:
                self._settle(pending.popleft())
        while pending:
            self._settle(pending.popleft())


def run_sequencer(
    path: Path, signer: Signer, payloads: list[bytes], args: argparse.Namespace
) -> dict[str, Any]:
    """Append every payload through the sequencer with submitter threads; time it."""
    n = len(payloads)
    log = open_log(path, signer)
    seq = Sequencer(
        log,
        clock,
        batch_size=args.batch_size,
        max_latency=args.max_latency,
        max_queue=args.max_queue,
    ).start()
    seen = bytearray(n)
    threads_n = max(1, args.submitters)
    window = max(1, args.max_queue // threads_n)
    bounds = [n * t // threads_n for t in range(threads_n + 1)]
    threads = [
        Submitter(seq, payloads, bounds[t], bounds[t + 1], window, seen, args.group)
        for t in range(threads_n)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    next_report = started + 10.0
    for t in threads:
        while t.is_alive():
            t.join(0.5)
            now = time.perf_counter()
            if args.quiet or now < next_report:
                continue
            done = sum(u.durable for u in threads)
            print(
                f"  ... {done:,}/{n:,} durable after {now - started:.0f} s "
                f"({done / (now - started):,.0f}/s)",
                file=sys.stderr,
                flush=True,
            )
            next_report = now + 10.0
    elapsed = time.perf_counter() - started
    seq.stop()
    errors = [e for t in threads for e in t.errors]
    if errors:
        raise SystemExit(f"submitters failed: {errors[:5]}")
    durable = sum(t.durable for t in threads)
    if durable != n or seen.count(1) != n:
        raise SystemExit(f"expected {n} durable entries, got {durable}")
    stats = seq.stats
    return {
        "entries": n,
        "seconds": elapsed,
        "per_s": n / elapsed,
        "batches": stats.batches,
        "mean_batch": stats.entries / stats.batches if stats.batches else 0.0,
        "queue_full_retries": sum(t.queue_full for t in threads),
        "log_size": log.size,
        "root": log.root().hex(),
    }


def run_direct(path: Path, payloads: list[bytes], batch: int) -> dict[str, Any]:
    """Append every payload with PersistentLog.append_batch directly (no sequencer)."""
    log = open_log(path, Signer.generate(LOG_NAME))
    n = len(payloads)
    started = time.perf_counter()
    for s in range(0, n, batch):
        log.append_batch([PendingEntry(p) for p in payloads[s : s + batch]], clock())
    elapsed = time.perf_counter() - started
    if log.size != n:
        raise SystemExit(f"direct append: expected size {n}, got {log.size}")
    return {"entries": n, "seconds": elapsed, "per_s": n / elapsed}


def run_sqlite_reference(
    path: Path, payloads: list[bytes], batch: int, now: datetime
) -> dict[str, Any]:
    """executemany the same entry bytes into a plain table: WAL, synchronous=FULL."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE blobs (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        prefix = encode_entry(b"", now)[:-1]
        n = len(payloads)
        started = time.perf_counter()
        for s in range(0, n, batch):
            rows = [(i, prefix + payloads[i] + b"}") for i in range(s, min(n, s + batch))]
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO blobs (idx, data) VALUES (?, ?)", rows)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        (count,) = conn.execute("SELECT count(*) FROM blobs").fetchone()
        if count != n:
            raise SystemExit(f"reference: expected {n} rows, got {count}")
    finally:
        conn.close()
    return {"entries": n, "seconds": elapsed, "per_s": n / elapsed}


def verify_store(path: Path, signer: Signer, n: int, entry_bytes: int) -> dict[str, Any]:
    """Reopen the store; recompute its tree from the stored entries; compare roots and size.

    Reopening runs the log's own start-up checks (identity, latest checkpoint against the stored
    right edge); the entries are then read with plain ``sqlite3``, independently of the log's
    code, in pages of 10,000, and every leaf hash is recomputed from the stored bytes.
    """
    started = time.perf_counter()
    engine = make_engine(sqlite_url(path))
    log = PersistentLog(engine, signer)
    note = log.latest_note()
    if note is None:
        raise SystemExit("verify: the log has no checkpoint")
    checkpoint = SignedCheckpoint.open(note, signer.verifier()).checkpoint
    log_size, log_root = log.size, log.root()
    engine.dispose()
    tree = MerkleTree()
    wrong_size = wrong_hash = pages = 0
    conn = sqlite3.connect(path)
    try:
        last = -1
        while True:
            page = conn.execute(
                "SELECT idx, leaf_hash, data FROM log_entries WHERE idx > ? ORDER BY idx "
                "LIMIT 10000",
                (last,),
            ).fetchall()
            if not page:
                break
            pages += 1
            for idx, lh, data in page:
                if idx != tree.size:
                    raise SystemExit(f"verify: expected entry {tree.size}, found {idx}")
                if len(data) != entry_bytes:
                    wrong_size += 1
                if leaf_hash(data) != lh:
                    wrong_hash += 1
                tree.append_leaf_hash(bytes(lh))
            last = page[-1][0]
    finally:
        conn.close()
    root_hex = tree.root().hex()
    return {
        "seconds": time.perf_counter() - started,
        "pages": pages,
        "expected_size": n,
        "tree_size": tree.size,
        "tree_root": root_hex,
        "log_size": log_size,
        "log_root": log_root.hex(),
        "checkpoint_size": checkpoint.size,
        "checkpoint_root": checkpoint.root_hash.hex(),
        "entries_of_wrong_size": wrong_size,
        "wrong_leaf_hashes": wrong_hash,
        "ok": (
            tree.size == log_size == checkpoint.size == n
            and root_hex == log_root.hex() == checkpoint.root_hash.hex()
            and wrong_size == 0
            and wrong_hash == 0
        ),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are the target's conditions."""
    p = argparse.ArgumentParser(
        description=(
            "Durable appends/s through the sequencer on SQLite (target >= 20,000/s at "
            "1,000,000 entries of 200 bytes), with a raw-SQLite reference in the same run."
        )
    )
    p.add_argument("--entries", type=int, default=1_000_000, help="entries to append (1,000,000)")
    p.add_argument("--entry-bytes", type=int, default=200, help="stored bytes per entry (200)")
    p.add_argument("--batch-size", type=int, default=10_000, help="sequencer batch size (10000)")
    p.add_argument(
        "--max-latency", type=float, default=0.01, help="sequencer max batch wait, s (0.01)"
    )
    p.add_argument("--max-queue", type=int, default=100_000, help="sequencer queue bound (100000)")
    p.add_argument("--submitters", type=int, default=4, help="submitter threads (4)")
    p.add_argument(
        "--group",
        type=int,
        default=1000,
        help="entries per Sequencer.submit_many call, as an operator submits a batch (1000); "
        "1 submits each entry with its own future",
    )
    p.add_argument("--dir", type=Path, default=None, help="where to put the stores (a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    p.add_argument("--no-reference", action="store_true", help="skip the raw SQLite reference")
    p.add_argument("--no-direct", action="store_true", help="skip direct append_batch")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.entries < 1 or args.batch_size < 1:
        p.error("--entries and --batch-size must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures; exit 0 whether or not the target was met."""
    args = parse_args(argv)
    n = args.entries
    workdir = Path(tempfile.mkdtemp(prefix="pausewatch-bench-", dir=args.dir))
    fs = filesystem_of(workdir)
    now = clock()
    print(
        f"log_append: {n:,} entries of {args.entry_bytes} bytes, batch size {args.batch_size}, "
        f"max latency {args.max_latency * 1000:g} ms, {args.submitters} submitter threads, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"  stores in {workdir} ({fs}); SQLite {sqlite3.sqlite_version}, WAL, synchronous=FULL")
    if fs in ("tmpfs", "ramfs"):
        print("  WARNING: the stores are on a RAM filesystem; fsync costs nothing there")
    payloads = make_payloads(n, args.entry_bytes, now)
    figures: dict[str, Any] = {
        "benchmark": "log_append",
        "entries": n,
        "entry_bytes": args.entry_bytes,
        "batch_size": args.batch_size,
        "max_latency_s": args.max_latency,
        "submitters": args.submitters,
        "cpus": os.cpu_count(),
        "filesystem": fs,
        "sqlite_version": sqlite3.sqlite_version,
        "target_per_s": TARGET_PER_S,
        "tessera_published_per_s": TESSERA_PUBLISHED_PER_S,
    }
    try:
        if not args.quiet:
            print("  running: sequencer ...", file=sys.stderr, flush=True)
        signer = Signer.generate(LOG_NAME)
        seq = run_sequencer(workdir / "log.db", signer, payloads, args)
        figures["sequencer"] = seq
        ref: dict[str, Any] | None = None
        if not args.no_reference:
            if not args.quiet:
                print("  running: raw SQLite reference ...", file=sys.stderr, flush=True)
            ref = run_sqlite_reference(workdir / "reference.db", payloads, args.batch_size, now)
            figures["sqlite_reference"] = ref
        direct: dict[str, Any] | None = None
        if not args.no_direct:
            if not args.quiet:
                print("  running: direct append_batch ...", file=sys.stderr, flush=True)
            direct = run_direct(workdir / "direct.db", payloads, args.batch_size)
            figures["direct_append_batch"] = direct
        del payloads
        if not args.quiet:
            print("  running: verification ...", file=sys.stderr, flush=True)
        check = verify_store(workdir / "log.db", signer, n, args.entry_bytes)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    rate = seq["per_s"]
    ok = rate >= TARGET_PER_S
    print()
    print(
        f"  durable appends via sequencer   {rate:>12,.0f} entries/s   target >= "
        f"{TARGET_PER_S:,.0f}/s   {verdict(ok)}"
    )
    print(
        f"    ({seq['seconds']:.1f} s; {seq['batches']:,} batches, mean batch "
        f"{seq['mean_batch']:,.1f} of max {args.batch_size}; entries {args.entry_bytes} bytes; "
        f"{seq['queue_full_retries']:,} queue-full retries)"
    )
    print(
        f"  Tessera POSIX, single node      {TESSERA_PUBLISHED_PER_S:>12,.0f} entries/s   "
        f"published figure (12 cores), NOT measured here; "
        f"ratio {rate / TESSERA_PUBLISHED_PER_S:.1f}x"
    )
    if ref is not None:
        print(
            f"  reference: raw SQLite           {ref['per_s']:>12,.0f} rows/s      "
            f"executemany, plain table, WAL+FULL, batch {args.batch_size} (the database's ceiling)"
        )
        print(
            f"    log via sequencer reaches {rate / ref['per_s']:.1%} of the raw SQLite rate "
            f"(overhead {ref['per_s'] / rate:.2f}x)"
        )
    if direct is not None:
        print(
            f"  reference: direct append_batch  {direct['per_s']:>12,.0f} entries/s   "
            f"PersistentLog.append_batch, batch {args.batch_size}, no sequencer or threads"
        )
        print(
            f"    sequencer + submitters reach {rate / direct['per_s']:.1%} of direct append_batch"
        )
    verified = bool(check["ok"])
    print(
        f"  verify: reopened store holds {check['log_size']:,} entries (expected {n:,}); "
        f"MerkleTree over the {check['tree_size']:,} stored leaf hashes gives root "
        f"{check['tree_root'][:16]}..., log root {check['log_root'][:16]}..., latest checkpoint "
        f"({check['checkpoint_size']:,}) root {check['checkpoint_root'][:16]}...; "
        f"{check['entries_of_wrong_size']} entries of the wrong size, "
        f"{check['wrong_leaf_hashes']} wrong leaf hashes: {'OK' if verified else 'FAILED'} "
        f"({check['seconds']:.1f} s)"
    )
    figures["verification"] = check
    figures["verified"] = verified
    figures["target_met"] = ok
    write_json(args.json, figures)
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
