"""Proofs served from the persistent log at 1,000,000 entries, and the memory it takes.

Targets (from the issues): proofs from the persistent log at 1,000,000 entries with resident memory
under 300 MB; and a proof from the store within a few times (here: at most 5x) the cost of the same
proof from the in-memory :class:`MerkleTree`, timed in the same run (the reference).

What runs:

1. Build (parent process): a SQLite log of ``--entries`` entries of 200 bytes, appended with
   ``PersistentLog.append_batch`` in batches of ``--build-batch`` (no sequencer), in a temporary
   directory; or reuse (and, if smaller, extend) the store given with ``--store PATH``, whose
   log key is kept next to it in ``PATH.key``. The parent then reads every stored entry with plain
   ``sqlite3``, recomputes its leaf hash and builds an in-memory :class:`MerkleTree`: the
   independent reference for the roots the child reports.
2. Measure (a fresh child process, this script with ``--measure``, so its memory is not inflated
   by the build): open the log (construction loads only the right edge of the tree), then serve
   ``--inclusion`` inclusion proofs at random (index, size) and ``--consistency`` consistency
   proofs between random sizes, one timed call each, and verify every one against
   ``log.root_at(size)`` (inclusion proofs over the stored entry's raw bytes). SQL statements are
   counted with a ``before_cursor_execute`` listener; subtree hashes per proof are counted from
   the proof plan. Peak resident memory is ``ru_maxrss`` of the child.
3. The parent checks every root the child verified against its own tree, times the same proofs
   (same seed, same draws) on that in-memory tree, and prints the figures with the ratio.

Run ``.venv/bin/python benchmarks/log_proofs.py`` (full size) or add ``--entries 100000``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from _common import stats_us, verdict, write_json
from pausewatch.ledger import (
    MerkleTree,
    PendingEntry,
    PersistentLog,
    Signer,
    complete_subtrees,
    consistency_ranges,
    encode_entry,
    inclusion_ranges,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from pausewatch.store import make_engine, sqlite_url, upgrade

TARGET_RSS_MB = 300.0
TARGET_RATIO = 5.0
"""A proof from the store within a few times the in-memory tree's cost (issue 19, section 5)."""
LOG_NAME = "bench.example/log"


def rss_now_mib() -> float:
    """Current resident set size, MiB (from /proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def key_path(store: Path) -> Path:
    """Where the log key of ``store`` is kept."""
    return store.with_name(store.name + ".key")


def payload(i: int, entry_bytes: int, now: datetime) -> bytes:
    """Canonical JSON statement number ``i`` whose stored entry is ``entry_bytes`` long."""
    head = b'{"n":"' + str(i).zfill(10).encode() + b'","pad":"'
    pad = entry_bytes - len(encode_entry(head + b'"}', now))
    if pad < 0:
        raise SystemExit(f"--entry-bytes: expected at least {entry_bytes - pad}")
    return head + b"x" * pad + b'"}'


# -- parent: build -----------------------------------------------------------------------------


def build(store: Path, n: int, batch: int, entry_bytes: int) -> dict[str, Any]:
    """Create or extend the store to ``n`` entries with append_batch; return build figures."""
    kp = key_path(store)
    if store.exists():
        if not kp.exists():
            raise SystemExit(f"--store {store}: its log key {kp} is missing")
        signer = Signer.from_string(kp.read_text(encoding="ascii"))
    else:
        signer = Signer.generate(LOG_NAME)
        kp.write_text(signer.to_string() + "\n", encoding="ascii")
    engine = make_engine(sqlite_url(store))
    upgrade(engine)
    log = PersistentLog(engine, signer)
    start_size = log.size
    started = time.perf_counter()
    next_report = started + 10.0
    while log.size < n:
        now = datetime.now(UTC)
        lo = log.size
        hi = min(n, lo + batch)
        log.append_batch([PendingEntry(payload(i, entry_bytes, now)) for i in range(lo, hi)], now)
        t = time.perf_counter()
        if t >= next_report:
            print(f"  ... built {log.size:,}/{n:,}", file=sys.stderr, flush=True)
            next_report = t + 10.0
    elapsed = time.perf_counter() - started
    appended = log.size - start_size
    size = log.size
    engine.dispose()
    return {
        "reused_entries": start_size,
        "appended": appended,
        "seconds": elapsed,
        "per_s": appended / elapsed if appended else 0.0,
        "size": size,
    }


def reference_tree(store: Path, entry_bytes: int) -> tuple[MerkleTree, int]:
    """A MerkleTree over the store's entries, read with plain sqlite3 (leaf hashes recomputed)."""
    tree = MerkleTree()
    bad = 0
    conn = sqlite3.connect(store)
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
            for idx, lh, data in page:
                if idx != tree.size:
                    raise SystemExit(f"store: expected entry {tree.size}, found {idx}")
                if leaf_hash(data) != lh or len(data) != entry_bytes:
                    bad += 1
                tree.append_leaf_hash(bytes(lh))
            last = page[-1][0]
    finally:
        conn.close()
    return tree, bad


# -- child: measure ----------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> int:
    """Open the log in this (fresh) process and serve and verify proofs; write the result."""
    rss_start = rss_now_mib()
    store: Path = args.store
    signer = Signer.from_string(key_path(store).read_text(encoding="ascii"))
    engine = make_engine(sqlite_url(store))
    statements = [0]
    captured: list[tuple[str, Any]] = []

    def count(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        statements[0] += 1
        if len(captured) < 1:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", count)
    t0 = time.perf_counter()
    log = PersistentLog(engine, signer)
    open_s = time.perf_counter() - t0
    open_statements = statements[0]
    rss_open = rss_now_mib()
    size = log.size
    rng = random.Random(args.seed)
    clock = time.perf_counter_ns

    inc_ns: list[int] = []
    inc_stmts: list[int] = []
    inc_nodes: list[int] = []
    inc_hashes: list[int] = []
    roots: dict[int, str] = {}
    failures: list[str] = []
    loop_started = time.perf_counter()
    verify_s = 0.0
    for _ in range(args.inclusion):
        s = rng.randint(1, size)
        i = rng.randrange(s)
        captured.clear()
        c0 = statements[0]
        t_a = clock()
        proof = log.inclusion_proof(i, s)
        t_b = clock()
        inc_ns.append(t_b - t_a)
        inc_stmts.append(statements[0] - c0)
        inc_nodes.append(len({n for r in inclusion_ranges(i, s) for n in complete_subtrees(*r)}))
        inc_hashes.append(len(proof))
        verify_started = time.perf_counter()
        root = log.root_at(s)
        roots[s] = root.hex()
        try:
            verify_inclusion(log.entry(i).data, i, s, proof, root)
        except Exception as exc:  # every failure is reported
            failures.append(f"inclusion {i} in {s}: {exc}")
        verify_s += time.perf_counter() - verify_started
    inclusion_loop_s = time.perf_counter() - loop_started
    proof_statement = captured[0] if captured else None

    con_ns: list[int] = []
    con_stmts: list[int] = []
    con_nodes: list[int] = []
    loop_started = time.perf_counter()
    for _ in range(args.consistency):
        old = rng.randint(1, size)
        new = rng.randint(old, size)
        c0 = statements[0]
        t_a = clock()
        proof = log.consistency_proof(old, new)
        t_b = clock()
        con_ns.append(t_b - t_a)
        con_stmts.append(statements[0] - c0)
        con_nodes.append(
            len({n for r in consistency_ranges(old, new) for n in complete_subtrees(*r)})
        )
        old_root, new_root = log.root_at(old), log.root_at(new)
        roots[old], roots[new] = old_root.hex(), new_root.hex()
        try:
            verify_consistency(old, new, proof, old_root, new_root)
        except Exception as exc:  # every failure is reported
            failures.append(f"consistency {old} -> {new}: {exc}")
    consistency_loop_s = time.perf_counter() - loop_started

    plan: list[str] = []
    if proof_statement is not None:
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("EXPLAIN QUERY PLAN " + proof_statement[0], proof_statement[1])
            plan = [str(row[-1]) for row in cur.fetchall()]
            cur.close()
        finally:
            raw.close()
    engine.dispose()

    result = {
        "size": size,
        "open_seconds": open_s,
        "open_statements": open_statements,
        "rss_start_mib": rss_start,
        "rss_after_open_mib": rss_open,
        "rss_end_mib": rss_now_mib(),
        "peak_rss_bytes": peak_rss_bytes(),
        "inclusion": {
            "latency": stats_us(inc_ns),
            "statements_mean": sum(inc_stmts) / max(1, len(inc_stmts)),
            "statements_max": max(inc_stmts, default=0),
            "subtree_hashes_mean": sum(inc_nodes) / max(1, len(inc_nodes)),
            "subtree_hashes_max": max(inc_nodes, default=0),
            "proof_hashes_mean": sum(inc_hashes) / max(1, len(inc_hashes)),
            "loop_seconds_with_verification": inclusion_loop_s,
            "verification_seconds": verify_s,
        },
        "consistency": {
            "latency": stats_us(con_ns),
            "statements_mean": sum(con_stmts) / max(1, len(con_stmts)),
            "statements_max": max(con_stmts, default=0),
            "subtree_hashes_mean": sum(con_nodes) / max(1, len(con_nodes)),
            "subtree_hashes_max": max(con_nodes, default=0),
            "loop_seconds_with_verification": consistency_loop_s,
        },
        "query_plan": plan,
        "failures": failures[:20],
        "failure_count": len(failures),
        "roots": {str(k): v for k, v in roots.items()},
    }
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")
    return 0


# -- parent: the in-memory reference ---------------------------------------------------------


def tree_latencies(tree: MerkleTree, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Time the same proofs the child served (same seed, same draws) on the in-memory tree."""
    size = tree.size
    rng = random.Random(args.seed)
    clock = time.perf_counter_ns
    inc_ns: list[int] = []
    for _ in range(args.inclusion):
        s = rng.randint(1, size)
        i = rng.randrange(s)
        t_a = clock()
        tree.inclusion_proof(i, s)
        inc_ns.append(clock() - t_a)
    con_ns: list[int] = []
    for _ in range(args.consistency):
        old = rng.randint(1, size)
        new = rng.randint(old, size)
        t_a = clock()
        tree.consistency_proof(old, new)
        con_ns.append(clock() - t_a)
    return {"inclusion": stats_us(inc_ns), "consistency": stats_us(con_ns)}


# -- parent: report ----------------------------------------------------------------------------


def summarize_plan(plan: Sequence[str]) -> str:
    """EXPLAIN QUERY PLAN lines without the 'INDEX k' markers, repeats counted."""
    counts: dict[str, int] = {}
    for line in plan:
        if not line.startswith("INDEX "):
            counts[line] = counts.get(line, 0) + 1
    return "; ".join(f"{line} x{c}" if c > 1 else line for line, c in counts.items())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are the target's conditions."""
    p = argparse.ArgumentParser(
        description=(
            "Inclusion and consistency proofs from a 1,000,000-entry SQLite log, served by a "
            "fresh process (target: peak RSS under 300 MB); SQL reads per proof."
        )
    )
    p.add_argument("--entries", type=int, default=1_000_000, help="log size (1,000,000)")
    p.add_argument("--entry-bytes", type=int, default=200, help="stored bytes per entry (200)")
    p.add_argument("--inclusion", type=int, default=10_000, help="inclusion proofs (10,000)")
    p.add_argument("--consistency", type=int, default=1_000, help="consistency proofs (1,000)")
    p.add_argument("--build-batch", type=int, default=10_000, help="append_batch size (10,000)")
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        help="SQLite file to reuse (built there and kept if missing; key in PATH.key)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary store")
    p.add_argument("--seed", type=int, default=9162, help="random seed (9162)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.entries < 1 or args.build_batch < 1:
        p.error("--entries and --build-batch must be at least 1")
    if args.measure and (args.store is None or args.result is None):
        p.error("--measure needs --store and --result")
    return args


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the log, measure in a child process, print the figures; exit 0 on misses."""
    args = parse_args(argv)
    if args.measure:
        return measure(args)
    tmp: Path | None = None
    if args.store is None:
        tmp = Path(tempfile.mkdtemp(prefix="pausewatch-bench-"))
        store = tmp / "log.db"
    else:
        store = args.store.resolve()
    print(
        f"log_proofs: {args.entries:,} entries of {args.entry_bytes} bytes, "
        f"{args.inclusion:,} inclusion and {args.consistency:,} consistency proofs; store {store}"
    )
    try:
        print("  building the store ...", file=sys.stderr, flush=True)
        built = build(store, args.entries, args.build_batch, args.entry_bytes)
        print("  measuring in a fresh process ...", file=sys.stderr, flush=True)
        result_file = store.with_name(store.name + ".result.json")
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--measure",
            "--store",
            str(store),
            "--result",
            str(result_file),
            "--inclusion",
            str(args.inclusion),
            "--consistency",
            str(args.consistency),
            "--seed",
            str(args.seed),
        ]
        started = time.perf_counter()
        proc = subprocess.run(cmd, check=False)
        child_s = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"the measuring process failed with exit code {proc.returncode}")
        res: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
        result_file.unlink()
        print("  checking roots against an independent tree ...", file=sys.stderr, flush=True)
        tree, bad_entries = reference_tree(store, args.entry_bytes)
        in_memory = tree_latencies(tree, args)
        store_bytes = sum(
            f.stat().st_size for f in store.parent.glob(store.name + "*") if f.is_file()
        )
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    size = int(res["size"])
    wrong_roots = sum(1 for s, r in res["roots"].items() if tree.root(int(s)).hex() != r)
    peak_mb = res["peak_rss_bytes"] / 1e6
    rss_ok = peak_mb < TARGET_RSS_MB
    inc, con = res["inclusion"], res["consistency"]
    log2n = math.ceil(math.log2(size)) if size > 1 else 1
    print()
    print(
        f"  store: {size:,} entries, {store_bytes / 1e6:,.0f} MB on disk; built "
        f"{built['appended']:,} in {built['seconds']:.1f} s ({built['per_s']:,.0f}/s, "
        f"append_batch of {args.build_batch:,}); reused {built['reused_entries']:,}"
    )
    print(
        f"  open: {res['open_seconds'] * 1000:.1f} ms, {res['open_statements']} SQL statements; "
        f"RSS {res['rss_start_mib']:.0f} MiB after imports, {res['rss_after_open_mib']:.0f} MiB "
        f"after open, {res['rss_end_mib']:.0f} MiB at the end"
    )
    print(
        f"  peak RSS of the serving process   {peak_mb:>8.1f} MB   target < {TARGET_RSS_MB:g} MB"
        f"   {verdict(rss_ok)}"
    )
    ratios: dict[str, float] = {}
    for name, part, count in (
        ("inclusion", inc, args.inclusion),
        ("consistency", con, args.consistency),
    ):
        lat = part["latency"]
        rate = 1e6 / lat["mean_us"] if lat["mean_us"] else 0.0
        print(
            f"  {name:<11} proofs  {count:>6,}: {rate:>8,.0f} proofs/s (one thread)   mean "
            f"{lat['mean_us']:>6.1f} us  p99 {lat['p99_us']:>6.1f} us  max {lat['max_us']:>7.1f} us"
        )
        ref = in_memory[name]
        ratio = lat["mean_us"] / ref["mean_us"] if ref["mean_us"] else float("inf")
        ok = ratio <= TARGET_RATIO
        print(
            f"    reference: in-memory MerkleTree, same proofs, same run: mean "
            f"{ref['mean_us']:>6.1f} us  p99 {ref['p99_us']:>6.1f} us; the store costs "
            f"{ratio:.1f}x the tree   target <= {TARGET_RATIO:g}x   {verdict(ok)}"
        )
        ratios[name] = ratio
        print(
            f"    SQL statements per proof: mean {part['statements_mean']:.2f}, max "
            f"{part['statements_max']}; subtree hashes read per proof: mean "
            f"{part['subtree_hashes_mean']:.1f}, max {part['subtree_hashes_max']} "
            f"(log2 n = {log2n})"
        )
    print(
        f"    inclusion loop with root_at + entry read + verification: "
        f"{args.inclusion / inc['loop_seconds_with_verification']:,.0f} proofs/s end to end"
    )
    reads_ok = (
        max(inc["statements_max"], con["statements_max"]) <= 1
        and max(inc["subtree_hashes_max"], con["subtree_hashes_max"]) <= 2 * log2n + 2
    )
    print(
        f"  O(log n) reads: one SELECT per proof, at most "
        f"{max(inc['subtree_hashes_max'], con['subtree_hashes_max'])} subtree hashes "
        f"(<= 2 log2 n + 2 = {2 * log2n + 2}): {'OK' if reads_ok else 'NOT O(log n)'}"
    )
    if res["query_plan"]:
        print(f"    query plan of a proof's SELECT: {summarize_plan(res['query_plan'])}")
    verified = res["failure_count"] == 0 and wrong_roots == 0 and bad_entries == 0
    print(
        f"  verify: {res['failure_count']} proofs failed verification; {wrong_roots} of "
        f"{len(res['roots']):,} roots differ from an independent MerkleTree over the stored "
        f"entries; {bad_entries} bad entries: {'OK' if verified else 'FAILED'}"
    )
    if res["failures"]:
        print(f"    first failures: {res['failures'][:3]}")
    print(f"  (measuring process ran {child_s:.1f} s)")
    figures: dict[str, Any] = {
        "benchmark": "log_proofs",
        "entries": size,
        "entry_bytes": args.entry_bytes,
        "target_rss_mb": TARGET_RSS_MB,
        "peak_rss_mb": peak_mb,
        "target_met": rss_ok,
        "build": built,
        "store_bytes": store_bytes,
        "reads_o_log_n": reads_ok,
        "in_memory_tree": in_memory,
        "ratio_to_tree": ratios,
        "target_ratio": TARGET_RATIO,
        "verified": verified,
        "wrong_roots": wrong_roots,
        **{k: v for k, v in res.items() if k not in ("roots",)},
    }
    write_json(args.json, figures)
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
