"""The log as C2SP tlog-tiles: tiles served per second, proofs verified from tiles per second,
and the bytes a client fetches for one proof at 10,000,000 entries (issue 19, §1; ADR 0046).

No target in the issue: it asks for the three figures. What runs:

1. Served (``--served-entries``, default 1,000 notices): a data directory is filled through an
   in-process ``LogService`` (signed notices, as a client submits them), then ``pausewatch
   serve`` runs as a subprocess on a free loopback port. One keep-alive HTTP client GETs, each
   for ``--seconds`` in ``--rounds`` interleaved rounds (the median round is reported):
   ``/healthz`` and ``/v1/proofs/inclusion`` (the references), random full
   hash tiles, the partial tile of the newest checkpoint, and entry bundles (gzip). Every tile's
   bytes are checked once against the log's leaf hashes.
2. From tiles (``--entries``, default 10,000,000): a ``MerkleTree`` of that many leaves in memory
   (leaf hashes from SHA-256 of the index; built once, timed apart), a signed checkpoint of its
   size and of an older size, and a fetch that cuts tiles out of the tree (bytes as a server
   sends them). Inclusion proofs of random entries and consistency proofs from random older
   sizes are verified from tiles alone with ``TileClient``: cold (a new client per proof: every
   tile fetched) and warm (one client); the reference is ``verify_inclusion_hash`` /
   ``verify_consistency`` given the tree's own proof. The tiles and bytes a cold client fetches
   for one proof (checkpoint included) are counted, beside the proof's own bytes.

Run ``.venv/bin/python benchmarks/log_tiles.py`` (full size; the tree takes about 1 GB) or add
``--entries 1000000``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from _common import child_env, verdict, write_json
from pausewatch.ledger import (
    ENTRIES,
    Checkpoint,
    MerkleTree,
    Node,
    Signer,
    Tile,
    TileClient,
    leaf_hash,
    parse_tile_path,
    partial_tiles,
    sign_checkpoint,
    tiles_for_consistency,
    tiles_for_inclusion,
    verify_consistency,
    verify_inclusion_hash,
)

ORIGIN = "bench.example/log"


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rate(call: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``call`` over about ``seconds``."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        call()
        n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


# ----------------------------------------------------------------------------- served


def fill(data_dir: Path, count: int) -> None:
    """``count`` signed notices in the log of ``data_dir``."""
    from pausewatch.service import LogService
    from pausewatch.settings import Settings
    from pausewatch.statements import sign_statement

    service = LogService(Settings(data_dir=data_dir, batch_latency_ms=5))
    service.start()
    try:
        key = service.secretariat_key
        futures = [
            service.submit(sign_statement("notice/v1", {"title": f"bench {i}"}, key))
            for i in range(count)
        ]
        for f in futures:
            f.result(300)
    finally:
        service.close()


def served(args: argparse.Namespace) -> dict[str, Any]:
    """Requests per second of tiles, bundles and the references from ``pausewatch serve``."""
    with tempfile.TemporaryDirectory(prefix="pausewatch-tiles-") as tmp:
        data_dir = Path(tmp) / "data"
        fill(data_dir, args.served_entries)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = child_env()
        log = (Path(tmp) / "serve.log").open("ab")
        cmd = [sys.executable, "-m", "pausewatch.cli", "serve", "--data-dir", str(data_dir)]
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], stdout=log, stderr=log, env=env, cwd=tmp
        )
        try:
            for _ in range(600):
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            with httpx.Client(base_url=url, headers={"Accept-Encoding": "gzip"}) as http:
                return measure_served(http, args)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()


def measure_served(http: httpx.Client, args: argparse.Namespace) -> dict[str, Any]:
    """The request rates, one client, keep-alive."""
    size = int(http.get("/v1/log").json()["size"])
    rng = random.Random(1)
    full = size // 256
    if full == 0:
        raise SystemExit(f"--served-entries: the log needs at least 256 entries, has {size}")
    entries = [e for page in _entry_pages(http, size) for e in page]
    leaves = b"".join(leaf_hash(e) for e in entries)
    for n in range(full):
        if http.get(_path(0, n)).content != leaves[n * 8192 : (n + 1) * 8192]:
            raise SystemExit(f"tile 0/{n}: not the log's leaf hashes")
    partial = "/" + partial_tiles(size)[0].path

    def get(path: str) -> Callable[[], object]:
        def call() -> object:
            return http.get(path).raise_for_status()

        return call

    calls: dict[str, Callable[[], object]] = {
        "healthz_per_s": get("/healthz"),
        "inclusion_proof_per_s": lambda: http.get(
            "/v1/proofs/inclusion", params={"index": rng.randrange(size), "size": size}
        ).raise_for_status(),
        "full_tile_per_s": lambda: http.get(_path(0, rng.randrange(full))).raise_for_status(),
        "partial_tile_per_s": get(partial),
        "bundle_gzip_per_s": lambda: http.get(
            _path(ENTRIES, rng.randrange(full))
        ).raise_for_status(),
    }
    # Interleaved short rounds, the median of each: the machine's load drifts, and a figure is
    # only compared with its reference measured in the same stretch of time.
    rounds = max(1, args.rounds)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            samples[name].append(rate(call, args.seconds / rounds))
    figures: dict[str, Any] = {name: statistics.median(v) for name, v in samples.items()}
    figures["served_entries"] = size
    return figures


def _path(level: int, n: int) -> str:
    return "/" + Tile(level, n).path


def _entry_pages(http: httpx.Client, size: int) -> list[list[bytes]]:
    import base64

    pages, start = [], 0
    while start < size:
        page = http.get("/v1/entries", params={"start": start, "limit": 1000}).json()
        pages.append([base64.b64decode(e["data"]) for e in page["entries"]])
        start += len(page["entries"])
    return pages


# ----------------------------------------------------------------------------- from tiles


def tree_fetch(tree: MerkleTree, notes: dict[str, bytes]) -> Callable[[str], bytes]:
    """A fetch serving ``notes`` and hash tiles cut out of ``tree``."""

    def fetch(path: str) -> bytes:
        if path in notes:
            return notes[path]
        t = parse_tile_path(path)
        first = t.index * 256
        return b"".join(tree.node(Node(8 * t.level, first + i)) for i in range(t.width))

    return fetch


def from_tiles(args: argparse.Namespace) -> dict[str, Any]:
    """Proofs verified from tiles per second, and what one proof fetches, at ``--entries``."""
    n = args.entries
    start = time.perf_counter()
    tree = MerkleTree()
    sha = hashlib.sha256
    for i in range(n):
        tree.append_leaf_hash(sha(i.to_bytes(8, "big")).digest())
    build_s = time.perf_counter() - start
    signer = Signer.generate(ORIGIN)
    old = n - n // 3
    note_new = sign_checkpoint(Checkpoint(ORIGIN, n, tree.root()), signer).encode()
    note_old = sign_checkpoint(Checkpoint(ORIGIN, old, tree.root(old)), signer)
    fetch = tree_fetch(tree, {"checkpoint": note_new})
    verifier = signer.verifier()
    root = tree.root()
    rng = random.Random(2)
    indices = [rng.randrange(n) for _ in range(args.proofs)]
    olds = [rng.randrange(1, n) for _ in range(args.proofs)]

    def cold_client() -> TileClient:
        client = TileClient(fetch, verifier)
        client.latest()
        return client

    # What one proof fetches: a cold client, the checkpoint included.
    inc_tiles, inc_bytes, con_tiles, con_bytes = [], [], [], []
    for index, o in zip(indices, olds, strict=True):
        c = cold_client()
        c.verify_inclusion(leaf_hash_of(index), index, n)
        inc_tiles.append(c.fetched_tiles)
        inc_bytes.append(c.fetched_bytes)
        assert c.fetched_tiles == len(tiles_for_inclusion(index, n))
        c = cold_client()
        c.open_checkpoint(sign_checkpoint(Checkpoint(ORIGIN, o, tree.root(o)), signer))
        c.verify_consistency(o, n)
        con_tiles.append(c.fetched_tiles)
        con_bytes.append(c.fetched_bytes)
        assert c.fetched_tiles == len(tiles_for_consistency(o, n))

    def timed(fn: Callable[[int], None]) -> float:
        t0 = time.perf_counter()
        for i in range(args.proofs):
            fn(i)
        return args.proofs / (time.perf_counter() - t0)

    def cold_inclusion(i: int) -> None:
        cold_client().verify_inclusion(leaf_hash_of(indices[i]), indices[i], n)

    warm = cold_client()
    warm.open_checkpoint(note_old)

    def warm_inclusion(i: int) -> None:
        warm.verify_inclusion(leaf_hash_of(indices[i]), indices[i], n)

    given = [tree.inclusion_proof(i, n) for i in indices]

    def reference_inclusion(i: int) -> None:
        verify_inclusion_hash(leaf_hash_of(indices[i]), indices[i], n, given[i], root)

    old_root = tree.root(old)
    given_con = tree.consistency_proof(old, n)

    def warm_consistency(_i: int) -> None:
        warm.verify_consistency(old, n)

    def reference_consistency(_i: int) -> None:
        verify_consistency(old, n, given_con, old_root, root)

    return {
        "entries": n,
        "tree_build_s": build_s,
        "inclusion_cold_per_s": timed(cold_inclusion),
        "inclusion_warm_per_s": timed(warm_inclusion),
        "inclusion_reference_per_s": timed(reference_inclusion),
        "consistency_warm_per_s": timed(warm_consistency),
        "consistency_reference_per_s": timed(reference_consistency),
        "inclusion_tiles_mean": sum(inc_tiles) / len(inc_tiles),
        "inclusion_tiles_max": max(inc_tiles),
        "inclusion_bytes_mean": sum(inc_bytes) / len(inc_bytes),
        "inclusion_bytes_max": max(inc_bytes),
        "consistency_tiles_mean": sum(con_tiles) / len(con_tiles),
        "consistency_tiles_max": max(con_tiles),
        "consistency_bytes_mean": sum(con_bytes) / len(con_bytes),
        "consistency_bytes_max": max(con_bytes),
        "inclusion_proof_bytes": 32 * len(given[0]),
        "checkpoint_bytes": len(note_new),
    }


def leaf_hash_of(i: int) -> bytes:
    """The leaf hash the benchmark's tree holds at ``i``."""
    return hashlib.sha256(i.to_bytes(8, "big")).digest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=10_000_000, help="Tree size (tiles).")
    parser.add_argument("--served-entries", type=int, default=1000, help="Log size (served).")
    parser.add_argument("--seconds", type=float, default=5.0, help="Per served endpoint.")
    parser.add_argument("--rounds", type=int, default=10, help="Interleaved rounds (median).")
    parser.add_argument("--proofs", type=int, default=2000, help="Proofs per timed figure.")
    parser.add_argument("--skip-served", action="store_true", help="Only the tile client.")
    parser.add_argument("--json", help="Write the figures here too.")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    if not args.skip_served:
        s = served(args)
        figures["served"] = s
        print(
            "served: pausewatch serve on loopback, one keep-alive client, "
            f"{s['served_entries']:,} entries"
        )
        print(f"  /healthz (reference)              {s['healthz_per_s']:9,.0f} req/s")
        print(f"  /v1/proofs/inclusion (reference)  {s['inclusion_proof_per_s']:9,.0f} req/s")
        print(
            f"  full hash tile (8 KiB)            {s['full_tile_per_s']:9,.0f} req/s "
            f"({s['full_tile_per_s'] / s['healthz_per_s']:.2f}x /healthz)"
        )
        print(f"  partial hash tile                 {s['partial_tile_per_s']:9,.0f} req/s")
        print(f"  entry bundle (gzip)               {s['bundle_gzip_per_s']:9,.0f} req/s")
    t = from_tiles(args)
    figures["tiles"] = t
    print(f"from tiles: a tree of {t['entries']:,} entries (built in {t['tree_build_s']:.1f} s)")
    print(f"  inclusion verified, cold client   {t['inclusion_cold_per_s']:9,.0f} /s")
    print(f"  inclusion verified, warm client   {t['inclusion_warm_per_s']:9,.0f} /s")
    print(f"  inclusion, proof given (reference){t['inclusion_reference_per_s']:9,.0f} /s")
    print(f"  consistency verified, warm client {t['consistency_warm_per_s']:9,.0f} /s")
    print(f"  consistency, proof given (ref.)   {t['consistency_reference_per_s']:9,.0f} /s")
    print(
        f"  one inclusion proof fetches  {t['inclusion_tiles_mean']:.2f} tiles, "
        f"{t['inclusion_bytes_mean']:,.0f} bytes mean (max {t['inclusion_tiles_max']} tiles, "
        f"{t['inclusion_bytes_max']:,} bytes), checkpoint included; the proof itself is "
        f"{t['inclusion_proof_bytes']} bytes"
    )
    print(
        f"  one consistency proof fetches {t['consistency_tiles_mean']:.2f} tiles, "
        f"{t['consistency_bytes_mean']:,.0f} bytes mean (max {t['consistency_tiles_max']} "
        f"tiles, {t['consistency_bytes_max']:,} bytes)"
    )
    print(f"  no target in the issue: {verdict(True)} (every proof verified)")
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
