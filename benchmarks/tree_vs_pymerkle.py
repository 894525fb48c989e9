"""The pure in-memory tree side by side with pymerkle 7, in the same run, at 1,000,000 leaves.

Targets (from the issue), for :class:`pausewatch.ledger.MerkleTree` at 1,000,000 leaves:

* append rate at least twice pymerkle 7's (``InmemoryTree``, measured here, same leaves);
* inclusion proof generation under 100 µs per proof;
* inclusion proof verification under 30 µs per proof.

What runs: ``--entries`` random leaves (``--min-bytes``..``--max-bytes`` long, seeded) are
appended one by one to ``MerkleTree.append`` and to ``pymerkle.InmemoryTree.append_entry``
(``algorithm="sha256"``, its default security mode, which prefixes leaves with 0x00 and nodes with
0x01 as RFC 9162 does, and its default subroot cache). Both trees' roots are compared at a set of
sizes, and with :func:`pausewatch.ledger.root` for small ones, and a sample of proofs is compared
element by element. Then ``--proofs`` random leaf indices are proved against the full tree and
verified, one timed call each (mean and p99 per call), for pausewatch
(``MerkleTree.inclusion_proof``, ``verify_inclusion`` over the raw leaf and
``verify_inclusion_hash`` over its leaf hash) and, as a reference, for pymerkle
(``prove_inclusion``, ``pymerkle.verify_inclusion`` over the leaf hash). Before the proof timings
both trees are moved out of the garbage collector's sight (``gc.freeze()``) so that neither's
timings pay for scanning the other's objects; the append timings run with the collector as is.

Run ``.venv/bin/python benchmarks/tree_vs_pymerkle.py`` (full size) or add ``--entries 100000``.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import pymerkle

from _common import stats_us, verdict, write_json
from pausewatch.ledger import (
    MerkleTree,
    leaf_hash,
    root,
    verify_inclusion,
    verify_inclusion_hash,
)

TARGET_APPEND_RATIO = 2.0
TARGET_PROVE_US = 100.0
TARGET_VERIFY_US = 30.0


def rss_mib() -> float:
    """Current resident set size of this process, MiB (from /proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def make_leaves(n: int, lo: int, hi: int, seed: int) -> list[bytes]:
    """``n`` random leaves of ``lo``..``hi`` bytes, reproducible from ``seed``."""
    rng = random.Random(seed)
    lengths = [rng.randint(lo, hi) for _ in range(n)]
    blob = rng.randbytes(sum(lengths))
    leaves: list[bytes] = []
    pos = 0
    for length in lengths:
        leaves.append(blob[pos : pos + length])
        pos += length
    return leaves


def time_calls(calls: Sequence[Callable[[], object]]) -> tuple[list[int], list[object]]:
    """Run each call once, timing each; return the timings (ns) and the results."""
    clock = time.perf_counter_ns
    times: list[int] = []
    results: list[object] = []
    for call in calls:
        t0 = clock()
        r = call()
        t1 = clock()
        times.append(t1 - t0)
        results.append(r)
    return times, results


def timed_append(append: Callable[[bytes], object], leaves: Sequence[bytes]) -> float:
    """Seconds to append every leaf, one call each."""
    started = time.perf_counter()
    for data in leaves:
        append(data)
    return time.perf_counter() - started


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are the targets' conditions."""
    p = argparse.ArgumentParser(
        description=(
            "pausewatch MerkleTree vs pymerkle 7 InmemoryTree at 1,000,000 leaves: append rate "
            "(target >= 2x pymerkle), inclusion proof generation (< 100 us) and verification "
            "(< 30 us)."
        )
    )
    p.add_argument("--entries", type=int, default=1_000_000, help="leaves (1,000,000)")
    p.add_argument("--proofs", type=int, default=10_000, help="proofs to time (10,000)")
    p.add_argument("--min-bytes", type=int, default=32, help="shortest leaf (32)")
    p.add_argument("--max-bytes", type=int, default=200, help="longest leaf (200)")
    p.add_argument("--seed", type=int, default=9162, help="random seed (9162)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.entries < 1 or args.proofs < 1 or not 0 <= args.min_bytes <= args.max_bytes:
        p.error("expected --entries >= 1, --proofs >= 1 and 0 <= --min-bytes <= --max-bytes")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; print the figures; exit 0 whether or not the targets were met."""
    args = parse_args(argv)
    n = args.entries
    print(
        f"tree_vs_pymerkle: {n:,} leaves of {args.min_bytes}-{args.max_bytes} random bytes, "
        f"{args.proofs:,} proofs; pymerkle {pymerkle.__version__}, Python {sys.version.split()[0]}"
    )
    leaves = make_leaves(n, args.min_bytes, args.max_bytes, args.seed)
    figures: dict[str, Any] = {
        "benchmark": "tree_vs_pymerkle",
        "entries": n,
        "proofs": args.proofs,
        "leaf_bytes": [args.min_bytes, args.max_bytes],
        "pymerkle_version": pymerkle.__version__,
        "targets": {
            "append_ratio_min": TARGET_APPEND_RATIO,
            "prove_us_max": TARGET_PROVE_US,
            "verify_us_max": TARGET_VERIFY_US,
        },
    }

    # -- appends -------------------------------------------------------------------------------
    print("  appending to pausewatch MerkleTree ...", file=sys.stderr, flush=True)
    rss0 = rss_mib()
    tree = MerkleTree()
    pw_seconds = timed_append(tree.append, leaves)
    pw_rss = rss_mib() - rss0
    print("  appending to pymerkle InmemoryTree ...", file=sys.stderr, flush=True)
    rss0 = rss_mib()
    pym = pymerkle.InmemoryTree(algorithm="sha256")
    pym_seconds = timed_append(pym.append_entry, leaves)
    pym_rss = rss_mib() - rss0
    pw_rate, pym_rate = n / pw_seconds, n / pym_seconds
    ratio = pw_rate / pym_rate
    figures["append"] = {
        "pausewatch_per_s": pw_rate,
        "pausewatch_seconds": pw_seconds,
        "pausewatch_rss_growth_mib": pw_rss,
        "pymerkle_per_s": pym_rate,
        "pymerkle_seconds": pym_seconds,
        "pymerkle_rss_growth_mib": pym_rss,
        "ratio": ratio,
    }

    # -- same hashing? -------------------------------------------------------------------------
    sizes = sorted(
        {s for s in (1, 2, 3, 4, 5, 7, 8, 1000, 1023, 1024, 1025, 65537, n // 3, n - 1, n) if s}
        & set(range(1, n + 1))
    )
    roots_equal = all(tree.root(s) == pym.get_root(s) for s in sizes)
    small = [s for s in sizes if s <= 1025]
    pure_equal = all(tree.root(s) == root(leaves[:s]) for s in small)
    rng = random.Random(args.seed + 1)
    sample = [rng.randrange(n) for _ in range(min(100, n))]
    proofs_equal = all(
        pym.prove_inclusion(i + 1).path == [leaf_hash(leaves[i]), *tree.inclusion_proof(i)]
        for i in sample
    )
    figures["same_hashing"] = {
        "sizes_compared": sizes,
        "roots_equal_pymerkle": roots_equal,
        "roots_equal_pure_root": pure_equal,
        "sampled_proofs_equal": proofs_equal,
    }

    # -- proofs --------------------------------------------------------------------------------
    gc.collect()
    gc.freeze()
    indices = [rng.randrange(n) for _ in range(args.proofs)]
    tree_root = tree.root()
    pym_root = pym.get_root()
    print("  timing proofs ...", file=sys.stderr, flush=True)

    def prove_pw(i: int) -> Callable[[], list[bytes]]:
        return lambda: tree.inclusion_proof(i)

    prove_ns, proofs_obj = time_calls([prove_pw(i) for i in indices])
    proofs = [list(p) for p in proofs_obj if isinstance(p, list)]
    assert len(proofs) == len(indices)

    def verify_pw(i: int, proof: list[bytes]) -> Callable[[], None]:
        return lambda: verify_inclusion(leaves[i], i, n, proof, tree_root)

    verify_ns, _ = time_calls([verify_pw(i, p) for i, p in zip(indices, proofs, strict=True)])

    hashes = [leaf_hash(leaves[i]) for i in indices]

    def verify_hash_pw(i: int, lh: bytes, proof: list[bytes]) -> Callable[[], None]:
        return lambda: verify_inclusion_hash(lh, i, n, proof, tree_root)

    verify_hash_ns, _ = time_calls(
        [verify_hash_pw(i, h, p) for i, h, p in zip(indices, hashes, proofs, strict=True)]
    )

    def prove_pym(i: int) -> Callable[[], object]:
        return lambda: pym.prove_inclusion(i + 1)

    pym_prove_ns, pym_proofs = time_calls([prove_pym(i) for i in indices])

    def verify_pym(lh: bytes, proof: object) -> Callable[[], None]:
        return lambda: pymerkle.verify_inclusion(lh, pym_root, proof)

    pym_verify_ns, _ = time_calls(
        [verify_pym(h, p) for h, p in zip(hashes, pym_proofs, strict=True)]
    )
    gc.unfreeze()

    prove = stats_us(prove_ns)
    verify = stats_us(verify_ns)
    figures["inclusion"] = {
        "size": n,
        "pausewatch_prove": prove,
        "pausewatch_verify_raw_leaf": verify,
        "pausewatch_verify_leaf_hash": stats_us(verify_hash_ns),
        "pymerkle_prove": stats_us(pym_prove_ns),
        "pymerkle_verify_leaf_hash": stats_us(pym_verify_ns),
        "proof_hashes_mean": sum(len(p) for p in proofs) / len(proofs),
    }

    ratio_ok = ratio >= TARGET_APPEND_RATIO
    prove_ok = prove["mean_us"] < TARGET_PROVE_US
    verify_ok = verify["mean_us"] < TARGET_VERIFY_US
    prove_p99_ok = prove["p99_us"] < TARGET_PROVE_US
    verify_p99_ok = verify["p99_us"] < TARGET_VERIFY_US
    inc = figures["inclusion"]
    print()
    print(
        f"  append  pausewatch MerkleTree   {pw_rate:>11,.0f} leaves/s  ({pw_seconds:.1f} s, "
        f"+{pw_rss:,.0f} MiB RSS)"
    )
    print(
        f"  append  pymerkle InmemoryTree   {pym_rate:>11,.0f} leaves/s  ({pym_seconds:.1f} s, "
        f"+{pym_rss:,.0f} MiB RSS)   reference, measured in this run"
    )
    print(
        f"  append  ratio                   {ratio:>11.2f}x          target >= "
        f"{TARGET_APPEND_RATIO:.1f}x   {verdict(ratio_ok)}"
    )
    print(
        f"  hashing pymerkle sha256 with 0x00/0x01 prefixes is RFC 9162's: roots equal at "
        f"{len(sizes)} sizes up to {n:,}: {'yes' if roots_equal else 'NO'}; equal to "
        f"ledger.root() at {len(small)} small sizes: {'yes' if pure_equal else 'NO'}; "
        f"{len(sample)} sampled proofs identical: {'yes' if proofs_equal else 'NO'}"
    )
    print(
        f"  inclusion proofs at size {n:,} over {len(indices):,} random leaves "
        f"(mean {inc['proof_hashes_mean']:.1f} hashes a proof), per call:"
    )
    rows = [
        (
            "prove   pausewatch",
            prove,
            f"target < {TARGET_PROVE_US:g} us: mean {verdict(prove_ok)}, "
            f"p99 {verdict(prove_p99_ok)}",
        ),
        (
            "verify  pausewatch (raw leaf)",
            verify,
            f"target < {TARGET_VERIFY_US:g} us: mean {verdict(verify_ok)}, "
            f"p99 {verdict(verify_p99_ok)}",
        ),
        ("verify  pausewatch (leaf hash)", inc["pausewatch_verify_leaf_hash"], ""),
        ("prove   pymerkle", inc["pymerkle_prove"], "reference"),
        ("verify  pymerkle (leaf hash)", inc["pymerkle_verify_leaf_hash"], "reference"),
    ]
    for label, st, note in rows:
        print(
            f"    {label:<31} mean {st['mean_us']:>7.1f} us  p99 {st['p99_us']:>7.1f} us  "
            f"max {st['max_us']:>8.1f} us   {note}".rstrip()
        )
    figures["targets_met"] = {
        "append_ratio": ratio_ok,
        "prove_mean": prove_ok,
        "prove_p99": prove_p99_ok,
        "verify_mean": verify_ok,
        "verify_p99": verify_p99_ok,
    }
    figures["hashing_agrees"] = roots_equal and pure_equal and proofs_equal
    write_json(args.json, figures)
    return 0 if figures["hashing_agrees"] else 1


if __name__ == "__main__":
    sys.exit(main())
