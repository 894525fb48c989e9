"""A ten-million-entry log on SQLite and on PostgreSQL: appends, proofs, memory, disk, audit.

Targets (issue 19, sections 3 and 5): durable appends through the sequencer stay at or above
20,000/s up to 10,000,000 entries on both engines (the figure is the rate over the last million,
where the log is largest); peak memory stays bounded as the log grows (the same figure at 1M and
at 10M); ``pausewatch audit --file`` runs in bounded memory.

What runs, per engine (``--engines sqlite,postgresql``):

1. Build, in a child process: a fresh store (``make_engine``, ``upgrade``), a
   :class:`PersistentLog` and a started :class:`Sequencer` (batch 10,000), four submitter
   threads handing groups of 1,000 entries of 200 bytes to ``Sequencer.submit_many`` and
   waiting for every future (an entry counts once its batch committed). Payloads are made as
   they are submitted (the benchmark never holds the log's entries). The rate is recorded per
   million; the build stops at 1M (checkpoint) and then a second child continues to
   ``--entries``, so each checkpoint's peak memory is a fresh process's.
2. At each checkpoint (1M and ``--entries``), each in a fresh child process: ``--proofs``
   inclusion proofs at random (index, size) served by ``PersistentLog.inclusion_proof``, timed one
   call each (p50, p99) and verified against ``root_at(size)``; ``--lookups`` lookups by leaf
   hash (``PersistentLog.index_of``, one probe per block of the index; ADR 0053) of entries at
   random, timed one call each beside the proofs and checked, with whether the engine's plan
   for the lookup at that size reads the index; the size on disk (SQLite: the
   files; PostgreSQL: ``pg_database_size``) per million entries; then (``--audit``) the store is
   written out in the export format of ``pausewatch log export`` (JSON lines, read in pages
   through :class:`LogStore`) and ``pausewatch audit --file`` runs on it as a subprocess: its
   time and its peak resident memory (``wait4``). The entries are benchmark payloads, not signed
   statements: the audit reads, parses and hashes every entry and checks every checkpoint
   against the recomputed tree, and reports each entry as unreadable (its problems are capped);
   it does not verify statement signatures.
3. References, in the same run: the database's own ceiling (the same entry bytes written as the
   log writes them, SQLite by ``executemany``, PostgreSQL by COPY and also by ``executemany``,
   into a two-column table, one transaction per batch of the same size, ``--ceiling`` rows,
   durable settings as the log's: SQLite WAL + ``synchronous=FULL``, PostgreSQL
   ``synchronous_commit=on``); Tessera's published figures (about 2,900 writes/s for its POSIX
   backend on 12 cores, about 2,000/s on managed MySQL), printed as published, not measured.

PostgreSQL: ``--database-url`` (an empty database the benchmark may fill), or a private cluster
started for the run in a temporary directory (as the unprivileged ``postgres`` user when run as
root, like the tests' fixture), with the settings printed. Stores are deleted unless ``--keep``.

Run ``PYTHONPATH=src .venv/bin/python benchmarks/log_10m.py`` (both engines, 10,000,000 entries:
about 10 minutes of appends per engine) or ``--entries 200000 --checkpoint 100000`` to try it.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import pwd
import random
import re
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

from sqlalchemy import event

from _common import verdict, write_json
from log_append import Submitter
from pausewatch.ledger import (
    LogStore,
    PersistentLog,
    Sequencer,
    Signer,
    encode_entry,
    verify_inclusion,
)
from pausewatch.store import make_engine, sqlite_url, upgrade

TARGET_PER_S = 20_000.0
TESSERA_POSIX_PER_S = 2_900.0
TESSERA_MYSQL_PER_S = 2_000.0
LOG_NAME = "bench.example/log"
PG_USER = "postgres"
PG_SETTINGS = {
    # Durability stays as shipped: fsync, full_page_writes and synchronous_commit are on.
    "shared_buffers": "512MB",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "wal_compression": "on",
}
"""Server settings of the private cluster (ADR 0049: what they change and why)."""


def clock() -> datetime:
    """The sequencer's clock: wall time, UTC."""
    return datetime.now(UTC)


def peak_rss_self() -> int:
    """Peak resident memory of this process, bytes (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Payloads(Sequence[bytes]):
    """Canonical JSON statements whose stored entries are ``entry_bytes`` long, made on demand
    (``log_append``'s shape: ``{"n":"<counter>","pad":"xxx..."}``)."""

    def __init__(self, n: int, entry_bytes: int, now: datetime) -> None:
        self.n = n
        self.width = 10
        overhead = len(encode_entry(b"", now)) + len(b'{"n":"","pad":""}') + self.width
        pad = entry_bytes - overhead
        if pad < 0:
            raise SystemExit(f"--entry-bytes: expected at least {overhead}, got {entry_bytes}")
        self.head, self.tail = b'{"n":"', b'","pad":"' + b"x" * pad + b'"}'

    def __len__(self) -> int:
        return self.n

    def one(self, i: int) -> bytes:
        """Payload number ``i``."""
        return self.head + str(i).zfill(self.width).encode() + self.tail

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:
        if isinstance(i, slice):
            return [self.one(j) for j in range(*i.indices(self.n))]
        return self.one(i)


# -- PostgreSQL: a private cluster ---------------------------------------------------------------


def _pg_bindir() -> Path:
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.parent.parent.name)),
    )
    if not found:
        raise SystemExit("no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
    return found[-1].parent


class Cluster:
    """A throwaway PostgreSQL cluster under ``root`` (as ``postgres`` when run as root)."""

    def __init__(self, root: Path) -> None:
        self.bindir = _pg_bindir()
        self.root = root
        self.data = root / "data"
        self.user = PG_USER if os.geteuid() == 0 else None
        self.port = 0

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / tool), *args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(
            cmd, cwd=self.root, capture_output=True, text=True, timeout=300, check=False
        )

    def start(self) -> str:
        """Start it; return its base URL (no database name)."""
        if self.user is not None:
            account = pwd.getpwnam(self.user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.root.chmod(0o700)
        init = self._run(
            "initdb", "-D", str(self.data), "-U", PG_USER, "-A", "trust", "-E", "UTF8",
            "--locale=C",
        )  # fmt: skip
        if init.returncode != 0:
            raise SystemExit(f"initdb failed: {init.stderr.strip()[-2000:]}")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.root}'\n"
                + "".join(f"{k} = '{v}'\n" for k, v in PG_SETTINGS.items())
            )
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        log = str(self.root / "server.log")
        started = self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "120", "-o",
            f"-p {self.port}", "start",
        )  # fmt: skip
        if started.returncode != 0:
            raise SystemExit(f"pg_ctl start failed: {started.stderr.strip()}")
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop it (fast shutdown)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


def _pg_admin(base: str, sql: str) -> None:
    import psycopg

    dsn = base.replace("postgresql+psycopg://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.encode())


# -- children ------------------------------------------------------------------------------------


def server_cpu(data_dir: str | None) -> float:
    """CPU seconds used so far by the live processes of the private PostgreSQL cluster in
    ``data_dir`` (its backends run there); 0 without one."""
    if not data_dir:
        return 0.0
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if not os.readlink(f"/proc/{pid}/cwd").startswith(data_dir):
                continue
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return total


def child_build(args: argparse.Namespace) -> dict[str, Any]:
    """Append ``--from``..``--to`` through the sequencer; rates per million; peak memory."""
    signer = Signer.from_string(Path(args.key).read_text(encoding="ascii").strip())
    engine = make_engine(args.url)
    if args.start == 0:
        upgrade(engine)
    log = PersistentLog(engine, signer)
    if log.size != args.start:
        raise SystemExit(f"build: expected a store of {args.start} entries, found {log.size}")
    seq = Sequencer(log, clock, batch_size=args.batch_size, max_latency=0.01).start()
    n = args.to - args.start
    payloads = Payloads(args.to, args.entry_bytes, clock())
    seen = bytearray(args.to)
    threads_n, group, max_queue = 4, 1000, 100_000
    bounds = [args.start + n * t // threads_n for t in range(threads_n + 1)]
    threads = [
        Submitter(seq, payloads, bounds[t], bounds[t + 1], max_queue // threads_n, seen, group)  # type: ignore[arg-type]
        for t in range(threads_n)
    ]
    marks: list[tuple[int, float]] = [(args.start, 0.0)]
    cpu_marks: list[tuple[int, float]] = [(args.start, 0.0)]
    step = args.mark
    server0 = server_cpu(args.server_dir)
    cpu0 = time.process_time()
    started = time.perf_counter()
    for t in threads:
        t.start()
    next_mark = args.start + step
    while any(t.is_alive() for t in threads):
        time.sleep(0.05)
        size = log.size
        if size >= next_mark:
            marks.append((size, time.perf_counter() - started))
            cpu = time.process_time() - cpu0 + server_cpu(args.server_dir) - server0
            cpu_marks.append((size, cpu))
            (s0, t0), (s1, t1) = marks[-2:]
            print(
                f"    ... {size:,} durable, {(s1 - s0) / (t1 - t0):,.0f}/s over the last "
                f"{s1 - s0:,}; load average {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
            next_mark = (size // step + 1) * step
    elapsed = time.perf_counter() - started
    seq.stop()
    errors = [e for t in threads for e in t.errors]
    if errors:
        raise SystemExit(f"submitters failed: {errors[:5]}")
    if log.size != args.to or seen.count(1) != n:
        raise SystemExit(f"build: expected {args.to} entries, the log holds {log.size}")
    if marks[-1][0] != log.size:
        marks.append((log.size, elapsed))
        cpu = time.process_time() - cpu0 + server_cpu(args.server_dir) - server0
        cpu_marks.append((log.size, cpu))
    engine.dispose()
    return {
        "entries": n,
        "seconds": elapsed,
        "per_s": n / elapsed,
        "marks": marks,
        "cpu_marks": cpu_marks,
        "peak_rss": peak_rss_self(),
        "root": log.root().hex(),
    }


def child_proofs(args: argparse.Namespace) -> dict[str, Any]:
    """Open the log in a fresh process and serve ``--proofs`` inclusion proofs; verify them."""
    signer = Signer.from_string(Path(args.key).read_text(encoding="ascii").strip())
    engine = make_engine(args.url)
    started = time.perf_counter()
    log = PersistentLog(engine, signer)
    open_s = time.perf_counter() - started
    size = log.size
    rng = random.Random(9162)
    ns: list[int] = []
    failures = 0
    roots: dict[int, bytes] = {}
    for k in range(args.proofs):
        s = rng.randint(1, size)
        i = rng.randrange(s)
        t0 = time.perf_counter_ns()
        proof = log.inclusion_proof(i, s)
        ns.append(time.perf_counter_ns() - t0)
        if k % 10 == 0:  # verify one in ten: the entry read and root_at are not timed
            root = roots.setdefault(s, log.root_at(s))
            try:
                verify_inclusion(log.entry(i).data, i, s, proof, root)
            except Exception:  # counted and reported
                failures += 1
    ns.sort()
    lookups = time_lookups(log, engine, rng, args.lookups)
    size_bytes = 0
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            size_bytes = int(
                conn.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one()
            )
    engine.dispose()
    return {
        "size": size,
        "open_seconds": open_s,
        "p50_us": ns[(len(ns) - 1) // 2] / 1000,
        "p99_us": ns[max(0, -(-99 * len(ns) // 100) - 1)] / 1000,
        "mean_us": sum(ns) / len(ns) / 1000,
        "verified": args.proofs // 10 + (args.proofs % 10 > 0),
        "failures": failures,
        "peak_rss": peak_rss_self(),
        "pg_database_bytes": size_bytes,
        **lookups,
    }


def time_lookups(log: PersistentLog, engine: Any, rng: random.Random, n: int) -> dict[str, Any]:
    """``n`` lookups by leaf hash (``PersistentLog.index_of``, the API's proof by leaf hash) of
    entries at random, timed one call each, each checked to find its entry; and whether the
    engine's plan for the lookup, at this size, reads the leaf-hash index (ADR 0053)."""
    size = log.size
    wanted = [rng.randrange(size) for _ in range(n)]
    hashes = [log.entry(i).leaf_hash for i in wanted]  # read first, not timed
    sent: list[tuple[str, Any]] = []

    def seen(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        if not sent:
            sent.append((statement, params))

    event.listen(engine, "before_cursor_execute", seen)
    ns: list[int] = []
    wrong = 0
    try:
        for i, h in zip(wanted, hashes, strict=True):
            t0 = time.perf_counter_ns()
            found = log.index_of(h)
            ns.append(time.perf_counter_ns() - t0)
            wrong += found != i
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    ns.sort()
    statement, params = sent[0]
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(explain + statement, params))
    return {
        "lookups": n,
        "lookup_p50_us": ns[(n - 1) // 2] / 1000,
        "lookup_p99_us": ns[max(0, -(-99 * n // 100) - 1)] / 1000,
        "lookup_wrong": wrong,
        "lookup_index_used": "ix_log_entries_leaf_block" in plan,
    }


def _run_child(args: argparse.Namespace, phase: str, extra: list[str]) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(prefix="log10m-", suffix=".json")[1])
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--result", str(out)]
    cmd += extra
    proc = subprocess.run(cmd, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the {phase} child failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    return result


def write_export(url: str, key: Signer, path: Path) -> int:
    """Write the store as ``pausewatch log export`` does (header, entries, checkpoints), read in
    pages through LogStore; return the bytes written."""
    engine = make_engine(url)
    store = LogStore(engine)
    with path.open("w", encoding="ascii") as fh:
        header = {
            "type": "log",
            "origin": key.name,
            "verifier_key": key.verifier().to_string(),
            "records": True,
        }
        fh.write(json.dumps(header) + "\n")
        b64 = base64.b64encode
        for index, data in store.entries():
            fh.write(f'{{"type": "entry", "index": {index}, "data": "{b64(data).decode()}"}}\n')
        for note in store.checkpoint_notes():
            fh.write(json.dumps({"type": "checkpoint", "note": note}) + "\n")
    engine.dispose()
    return path.stat().st_size


def run_audit(export: Path, key_file: Path) -> dict[str, Any]:
    """``pausewatch audit --file`` as a subprocess: its wall time and peak RSS (wait4)."""
    cli = [sys.executable, "-c", "from pausewatch.cli import main; main()"]
    cmd = [*cli, "audit", "--file", str(export), "--log-key", str(key_file), "--json"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()))  # type: ignore[union-attr]
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    entries = checkpoints = -1
    try:
        report = json.loads(b"".join(chunks))
        entries = int(report["entries"])
        checkpoints = len(report["checkpoints"])
    except (ValueError, KeyError, TypeError):
        pass
    return {
        "seconds": seconds,
        "peak_rss": usage.ru_maxrss * 1024,
        "exit_code": proc.returncode,
        "entries": entries,
        "checkpoints_matched": checkpoints,
    }


# -- parent --------------------------------------------------------------------------------------


def sqlite_ceiling(path: Path, rows: int, batch: int, entry_bytes: int) -> float:
    """Raw sqlite3 executemany of the same entry bytes, WAL + synchronous=FULL: rows/s."""
    payloads = Payloads(rows, entry_bytes, clock())
    prefix = encode_entry(b"", clock())[:-1]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE blobs (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        started = time.perf_counter()
        for s in range(0, rows, batch):
            chunk = [(i, prefix + payloads.one(i) + b"}") for i in range(s, min(rows, s + batch))]
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO blobs (idx, data) VALUES (?, ?)", chunk)
            conn.execute("COMMIT")
        return rows / (time.perf_counter() - started)
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


def pg_ceiling(base: str, rows: int, batch: int, entry_bytes: int) -> dict[str, float]:
    """Raw psycopg writes of the same entry bytes into a plain table, one transaction per
    batch: by COPY (as the log writes) and by executemany (pipelined INSERTs); rows/s each."""
    import psycopg

    _pg_admin(base, "CREATE DATABASE ceiling")
    dsn = base.replace("postgresql+psycopg://", "postgresql://", 1) + "/ceiling"
    payloads = Payloads(rows, entry_bytes, clock())
    prefix = encode_entry(b"", clock())[:-1]
    rates: dict[str, float] = {}
    try:
        with psycopg.connect(dsn) as conn:
            for how in ("copy", "executemany"):
                conn.execute("DROP TABLE IF EXISTS blobs")
                conn.execute("CREATE TABLE blobs (idx BIGINT PRIMARY KEY, data BYTEA NOT NULL)")
                conn.commit()
                started = time.perf_counter()
                for s in range(0, rows, batch):
                    chunk = [
                        (i, prefix + payloads.one(i) + b"}") for i in range(s, min(rows, s + batch))
                    ]
                    with conn.cursor() as cur:
                        if how == "copy":
                            with cur.copy(
                                "COPY blobs (idx, data) FROM STDIN (FORMAT BINARY)"
                            ) as cp:
                                cp.set_types(["int8", "bytea"])
                                for row in chunk:
                                    cp.write_row(row)
                        else:
                            cur.executemany("INSERT INTO blobs (idx, data) VALUES (%s, %s)", chunk)
                    conn.commit()
                rates[how] = rows / (time.perf_counter() - started)
        return rates
    finally:
        _pg_admin(base, "DROP DATABASE ceiling")


def disk_bytes(path: Path) -> int:
    """Bytes of a SQLite store's files (database, WAL, shared memory)."""
    return sum(f.stat().st_size for f in path.parent.glob(path.name + "*") if f.is_file())


def run_engine(
    engine_name: str,
    url: str,
    workdir: Path,
    args: argparse.Namespace,
    base: str | None,
    server_dir: str | None = None,
) -> dict[str, Any]:
    """Build, measure at each checkpoint and audit one engine's log; return its figures."""
    signer = Signer.generate(LOG_NAME)
    key = workdir / f"{engine_name}.key"
    key.write_text(signer.to_string() + "\n", encoding="ascii")
    vkey = workdir / f"{engine_name}.pub"
    vkey.write_text(signer.verifier().to_string() + "\n", encoding="ascii")
    common = ["--url", url, "--key", str(key)]
    figures: dict[str, Any] = {"engine": engine_name, "checkpoints": []}
    if base is not None:
        rates = pg_ceiling(base, args.ceiling, args.batch_size, args.entry_bytes)
        figures["ceiling_per_s"] = rates["copy"]
        figures["ceiling_executemany_per_s"] = rates["executemany"]
    else:
        figures["ceiling_per_s"] = sqlite_ceiling(
            workdir / "ceiling.db", args.ceiling, args.batch_size, args.entry_bytes
        )
    print(f"  {engine_name}: raw ceiling {figures['ceiling_per_s']:,.0f} rows/s", file=sys.stderr)
    stops = sorted({min(args.checkpoint, args.entries), args.entries})
    start = 0
    marks: list[tuple[int, float]] = []
    cpu_marks: list[tuple[int, float]] = []
    offset = cpu_offset = 0.0
    for stop in stops:
        print(f"  {engine_name}: building {start:,} -> {stop:,} ...", file=sys.stderr, flush=True)
        built = _run_child(
            args,
            "build",
            [*common, "--from", str(start), "--to", str(stop), "--mark", str(args.mark),
             "--batch-size", str(args.batch_size), "--entry-bytes", str(args.entry_bytes),
             *(["--server-dir", server_dir] if server_dir else [])],
        )  # fmt: skip
        marks += [(s, t + offset) for s, t in built["marks"] if s > start or not marks]
        offset = marks[-1][1]
        cpu_marks += [
            (s, c + cpu_offset) for s, c in built["cpu_marks"] if s > start or not cpu_marks
        ]
        cpu_offset = cpu_marks[-1][1]
        proofs = _run_child(
            args,
            "proofs",
            [*common, "--proofs", str(args.proofs), "--lookups", str(args.lookups)],
        )
        on_disk = (
            proofs["pg_database_bytes"]
            if base is not None
            else disk_bytes(Path(url.split("///", 1)[1]))
        )
        point: dict[str, Any] = {
            "size": stop,
            "build": built,
            "proofs": proofs,
            "disk_bytes": on_disk,
            "disk_bytes_per_million": on_disk / (stop / 1e6),
        }
        if args.audit and (engine_name in args.audit_engines):
            export = workdir / f"{engine_name}-{stop}.jsonl"
            print(f"  {engine_name}: export + audit at {stop:,} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            point["export_bytes"] = write_export(url, signer, export)
            point["export_seconds"] = time.perf_counter() - t0
            point["audit"] = run_audit(export, vkey)
            export.unlink()
        figures["checkpoints"].append(point)
        start = stop
    figures["marks"] = marks
    figures["cpu_marks"] = cpu_marks
    return figures


def report(figures: dict[str, Any], args: argparse.Namespace) -> bool:
    """Print one engine's figures; return whether every proof verified."""
    name = figures["engine"]
    marks = figures["marks"]
    ok_all = True
    print(f"\n  == {name} ==")
    first = marks[1] if len(marks) > 1 else marks[0]
    last_two = marks[-2:]
    total_n = marks[-1][0]
    overall = total_n / marks[-1][1] if marks[-1][1] else 0.0
    first_rate = first[0] / first[1] if first[1] else 0.0
    end_rate = (last_two[1][0] - last_two[0][0]) / (last_two[1][1] - last_two[0][1])
    met = end_rate >= TARGET_PER_S
    print(
        f"  durable appends/s over the last {last_two[1][0] - last_two[0][0]:,} (up to "
        f"{total_n:,})  {end_rate:>10,.0f}/s   target >= {TARGET_PER_S:,.0f}/s   {verdict(met)}"
    )
    print(
        f"    first {first[0]:,}: {first_rate:,.0f}/s; whole build {overall:,.0f}/s; per mark: "
        + ", ".join(
            f"{b[0] // 1000:,}k {(b[0] - a[0]) / (b[1] - a[1]):,.0f}"
            for a, b in itertools.pairwise(marks)
        )
    )
    cpu = figures.get("cpu_marks", [])
    if len(cpu) > 1:
        (c0s, c0), (c1s, c1) = cpu[-2:]
        (f0s, f0), (f1s, f1) = cpu[:2]
        who = "writer process + database server" if name == "postgresql" else "writer process"
        if name == "postgresql" and args.database_url is not None:
            who = "writer process only (the server is not this machine's to measure)"
        print(
            f"    CPU per entry ({who}, submitter threads included): "
            f"{(f1 - f0) / (f1s - f0s) * 1e6:.1f} us over the first {f1s - f0s:,}, "
            f"{(c1 - c0) / (c1s - c0s) * 1e6:.1f} us over the last {c1s - c0s:,} "
            f"(= {(c1s - c0s) / (c1 - c0):,.0f}/s if it had a core to itself); the wall rate is "
            "this times the share of the 2 shared cores it got"
        )
    print(
        f"  reference: raw {name} ceiling          {figures['ceiling_per_s']:>10,.0f} rows/s "
        f"(plain table, {'COPY' if name == 'postgresql' else 'executemany'}, batch "
        f"{args.batch_size}, {args.ceiling:,} rows, same run); "
        f"the log reaches {end_rate / figures['ceiling_per_s']:.0%} of it at its largest"
    )
    if "ceiling_executemany_per_s" in figures:
        print(
            f"    (PostgreSQL by COPY, as the log writes; by executemany of INSERTs "
            f"{figures['ceiling_executemany_per_s']:,.0f} rows/s)"
        )
    print(
        f"  Tessera, published (NOT measured)  {TESSERA_POSIX_PER_S:>10,.0f}/s POSIX on 12 cores "
        f"({end_rate / TESSERA_POSIX_PER_S:.1f}x); {TESSERA_MYSQL_PER_S:,.0f}/s managed MySQL "
        f"({end_rate / TESSERA_MYSQL_PER_S:.1f}x)"
    )
    for point in figures["checkpoints"]:
        pr, bd = point["proofs"], point["build"]
        ok_all &= pr["failures"] == 0
        mib = 2**20
        print(
            f"  at {point['size']:>11,}: proofs p50 {pr['p50_us']:7.1f} us  p99 "
            f"{pr['p99_us']:8.1f} us ({args.proofs:,}; {pr['verified']:,} verified, "
            f"{pr['failures']} failed); open {pr['open_seconds'] * 1000:.0f} ms"
        )
        if "lookups" in pr:
            ok_all &= pr["lookup_wrong"] == 0
            print(
                f"      lookups by leaf hash (index_of, {pr['lookups']:,}): p50 "
                f"{pr['lookup_p50_us']:7.1f} us  p99 {pr['lookup_p99_us']:8.1f} us "
                f"({pr['lookup_wrong']} wrong; plan reads ix_log_entries_leaf_block: "
                f"{'yes' if pr['lookup_index_used'] else 'NO'}); reference: the proofs above"
            )
        print(
            f"      peak RSS: writer {bd['peak_rss'] / mib:.0f} MiB, proof server "
            f"{pr['peak_rss'] / mib:.0f} MiB; disk {point['disk_bytes'] / 1e6:,.0f} MB = "
            f"{point['disk_bytes_per_million'] / 1e6:,.0f} MB per million entries"
        )
        if "audit" in point:
            au = point["audit"]
            rate = point["size"] / au["seconds"]
            print(
                f"      audit --file: {au['seconds']:,.1f} s ({rate:,.0f} entries/s), peak RSS "
                f"{au['peak_rss'] / mib:,.0f} MiB; export {point['export_bytes'] / 1e6:,.0f} MB "
                f"written in {point['export_seconds']:.0f} s; {au['entries']:,} entries "
                f"audited, {au['checkpoints_matched']:,} checkpoints matched the recomputed tree"
            )
            ok_all &= au["entries"] == point["size"]
    pts = [p for p in figures["checkpoints"] if "audit" in p]
    if len(pts) == 2:
        a, b = pts
        growth = b["audit"]["peak_rss"] / a["audit"]["peak_rss"]
        print(
            f"    audit peak RSS at {b['size']:,} / at {a['size']:,}: {growth:.2f} "
            f"(bounded: {verdict(growth < 1.5)})"
        )
    return ok_all


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are the issue's conditions."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--entries", type=int, default=10_000_000, help="log size (10,000,000)")
    p.add_argument("--checkpoint", type=int, default=1_000_000, help="first report (1,000,000)")
    p.add_argument("--mark", type=int, default=1_000_000, help="rate recorded per (1,000,000)")
    p.add_argument("--engines", default="sqlite,postgresql", help="sqlite,postgresql")
    p.add_argument("--database-url", default=None, help="PostgreSQL base URL (no database)")
    p.add_argument("--entry-bytes", type=int, default=200, help="stored bytes per entry (200)")
    p.add_argument("--batch-size", type=int, default=10_000, help="sequencer batch (10,000)")
    p.add_argument("--proofs", type=int, default=10_000, help="inclusion proofs per point")
    p.add_argument("--lookups", type=int, default=1_000, help="lookups by leaf hash per point")
    p.add_argument("--ceiling", type=int, default=1_000_000, help="rows of the raw ceiling")
    p.add_argument("--no-audit", dest="audit", action="store_false", help="skip the audits")
    p.add_argument(
        "--audit-engines", default="sqlite,postgresql", help="engines whose log is audited"
    )
    p.add_argument("--dir", type=Path, default=None, help="where the stores go (a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the stores")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    p.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    p.add_argument("--result", default=None, help=argparse.SUPPRESS)
    p.add_argument("--url", default=None, help=argparse.SUPPRESS)
    p.add_argument("--key", default=None, help=argparse.SUPPRESS)
    p.add_argument("--from", dest="start", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--to", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--server-dir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.mark = min(args.mark, args.entries)
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures; exit 0 whether or not the targets were met."""
    args = parse_args(argv)
    if args.phase is not None:
        result = child_build(args) if args.phase == "build" else child_proofs(args)
        Path(args.result).write_text(json.dumps(result), encoding="utf-8")
        return 0
    engines = [e for e in args.engines.split(",") if e]
    workdir = Path(tempfile.mkdtemp(prefix="pausewatch-10m-", dir=args.dir))
    workdir.chmod(0o755)
    print(
        f"log_10m: {args.entries:,} entries of {args.entry_bytes} bytes on {', '.join(engines)}; "
        f"batch {args.batch_size:,}; 4 submitter threads, groups of 1,000; checkpoints at "
        f"{min(args.checkpoint, args.entries):,} and {args.entries:,}; {os.cpu_count()} CPUs; "
        f"stores in {workdir}; load average {os.getloadavg()[0]:.1f}"
    )
    results: list[dict[str, Any]] = []
    cluster: Cluster | None = None
    ok = True
    try:
        for name in engines:
            if name == "sqlite":
                url = sqlite_url(workdir / "log.db")
                results.append(run_engine(name, url, workdir, args, None))
            elif name == "postgresql":
                base = args.database_url
                if base is None:
                    pg_root = workdir / "pg"
                    pg_root.mkdir()
                    cluster = Cluster(pg_root)
                    base = cluster.start()
                    print(
                        "  PostgreSQL: private cluster, "
                        + ", ".join(f"{k}={v}" for k, v in PG_SETTINGS.items())
                        + "; fsync, full_page_writes and synchronous_commit on",
                        file=sys.stderr,
                    )
                _pg_admin(base, "CREATE DATABASE log10m")
                server_dir = str(cluster.data) if cluster is not None else None
                results.append(run_engine(name, f"{base}/log10m", workdir, args, base, server_dir))
                if not args.keep:
                    _pg_admin(base, "DROP DATABASE log10m")
            else:
                raise SystemExit(f"--engines: expected sqlite or postgresql, got {name!r}")
        print(f"  load average at the end: {os.getloadavg()[0]:.1f} (2 cores shared)")
        for figures in results:
            ok &= report(figures, args)
    finally:
        if cluster is not None and not args.keep:
            cluster.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    write_json(args.json, {"benchmark": "log_10m", "entries": args.entries, "engines": results})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
