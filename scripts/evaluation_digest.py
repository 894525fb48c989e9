"""The SHA-256 of every shipped preset's evaluation over fixed facts at fixed times.

An evaluation is a pure function of (policy, facts, time), and anyone who recomputes one from
the log compares it byte for byte (``Evaluation.canonical_bytes()``, RFC 8785). This script pins
those bytes: it evaluates each preset (``pausewatch.policy.preset_names()``) over a few fixed
sets of facts, at a few fixed times, and prints one SHA-256 per evaluation. A change to the
evaluator that should not change what it finds (a refactoring, a speed-up) must leave every
digest as it was; ``tests/policy/test_evaluation_digests.py`` recomputes them and compares them
with ``tests/policy/evaluation_digests.json``.

The facts:

``bench-*``
    The synthetic facts of ``benchmarks/policy_eval.py`` (``make_facts``), small, at three
    seeds: compute over the benchmark's whole range; with the pause in force; and compute
    around the presets' thresholds (1e24 to 3e26 FLOP), so that every tier is reached. Each set
    also gets what the benchmark leaves out: halt orders in every status, unreadable log
    entries, clusters with undeclared compute and dark chips, runs exempt from the pause.
``example``
    ``docs/examples/facts.yaml``, the facts the documentation walks through.

Usage (from the repository root)::

    python scripts/evaluation_digest.py                    # print the digests as JSON
    python scripts/evaluation_digest.py --write FILE       # write them to FILE
    python scripts/evaluation_digest.py --check FILE       # compare with FILE; exit 1 if any differ

Where a change is meant to change evaluations (a new rule, a fixed finding), rewrite the
fixture with ``--write tests/policy/evaluation_digests.json`` and say so in the commit.

The synthetic facts are drawn with ``random.Random`` and ``math.exp``/``math.log``: the digests
are those of CPython on an IEEE 754 platform whose libm rounds these correctly (x86-64 and
aarch64 glibc, macOS).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_BENCHMARKS = str(ROOT / "benchmarks")
if _BENCHMARKS not in sys.path:
    # policy_eval.py is a script that imports its sibling ``_common`` as a top-level module.
    sys.path.insert(0, _BENCHMARKS)

import policy_eval  # noqa: E402
from pausewatch.policy import (  # noqa: E402
    Domain,
    Evaluation,
    Facts,
    evaluate,
    load_facts,
    load_preset,
    policy_digest,
    preset_names,
)

EXAMPLE_FACTS = ROOT / "docs" / "examples" / "facts.yaml"
BENCH_AT = policy_eval.AT
"""The benchmark's evaluation time; the synthetic facts are dated around it."""

BENCH_SETS: dict[str, dict[str, Any]] = {
    "bench-wide": {"seed": 2026, "pause_active": False, "flop_min": 1e20, "flop_max": 3e25},
    "bench-pause": {"seed": 2027, "pause_active": True, "flop_min": 1e20, "flop_max": 3e25},
    "bench-near": {"seed": 2028, "pause_active": True, "flop_min": 1e24, "flop_max": 3e26},
}
"""Which synthetic facts: ``make_facts`` options per set (the sizes are :data:`SIZES`)."""

SIZES = {"runs": 600, "clusters": 80, "evaluations": 60, "incidents": 12}
"""Small enough for a test, large enough for lineages three deep and every kind of run."""

BENCH_TIMES: tuple[datetime, ...] = (
    BENCH_AT - timedelta(days=120),
    BENCH_AT,
    BENCH_AT + timedelta(days=20, hours=6, minutes=30),
)
"""Before the pause starts (30 days before ``AT``), at ``AT``, and later (duties fall due)."""

EXAMPLE_TIMES: tuple[datetime, ...] = (
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 11, 26, tzinfo=UTC),
    datetime(2027, 2, 1, 12, tzinfo=UTC),
)
"""Around the example's runs (the documentation evaluates it on 2026-11-26)."""


def _extras(rng: random.Random, data: dict[str, Any]) -> None:
    """Add to benchmark facts what the benchmark does not draw: halt orders (every status),
    unreadable entries, clusters with undeclared compute or dark chips, exempt runs, capability
    results near the critical levels (with and without an interval), tags, split runs, the
    workload classifier's verdicts, declared searches' patterns (docs/adr/0036), the balance
    alarms of a metered facility (docs/adr/0029), and transcripts, audits and evaluated weights
    (issue 17)."""
    for cluster in data["clusters"]:
        if rng.random() < 0.15:
            cluster["undeclared_flop"] = policy_eval.log_uniform(rng, 1e19, 1e24)
            cluster["undeclared_windows"] = rng.randrange(1, 5000)
        if rng.random() < 0.1:
            n = rng.choice([1, 3, 5, 6, 12])
            cluster["dark_chips"] = [f"chip-{cluster['id']}-{k:03d}" for k in range(n)]
    for run in data["runs"]:
        if rng.random() < 0.05:
            exempt = BENCH_AT + timedelta(days=rng.uniform(-60, 60))
            run["exempt_until"] = policy_eval.iso(exempt)
    domains = [d.value for d in Domain]
    models = sorted({run["model"] for run in data["runs"]})
    for i in range(10):
        value = rng.uniform(0.7, 0.99)
        result: dict[str, Any] = {
            "id": f"eval-high-{i:02d}",
            "model": rng.choice(models),
            "domain": domains[i % len(domains)],
            "metric": "accuracy",
            "value": value,
            "evidence": [f"log:h{i}"],
        }
        if i % 3:
            result.update(ci_low=value - 0.08, ci_high=min(1.0, value + 0.08))
        if i % 4 == 0:
            result["completed_at"] = policy_eval.iso(BENCH_AT - timedelta(days=i))
        data["evaluations"].append(result)
    data["evaluations"].append(
        {
            "id": "eval-incomplete",
            "model": models[0],
            "domain": domains[0],
            "metric": "accuracy",
            "status": "incomplete",
        }
    )
    statuses = ["pending", "confirmed", "violated", "silent"]
    data["orders"] = [
        {
            "id": f"proposal-{i:03d}",
            "subject": (
                f"run:{rng.choice(data['runs'])['id']}"
                if i % 3
                else f"cluster:{rng.choice(data['clusters'])['id']}"
            ),
            "deadline": policy_eval.iso(BENCH_AT - timedelta(days=rng.uniform(-10, 40))),
            "status": statuses[i % len(statuses)],
            "detail": "" if i % 2 else f"{rng.randrange(1, 900)} chip-windows of training",
            "evidence": [f"log:o{i}"],
        }
        for i in range(12)
    ]
    data["unreadable"] = [
        {"entry": f"log:{90000 + 7 * i}", "kind": kind, "reason": f"reason {i}"}
        for i, kind in enumerate(["run.declare/v1", "run", "cluster.register/v1", "run"])
    ]
    # Suspected training (docs/adr/0032): the classifier's verdicts on clusters' windows that
    # claim no training, at shares of traces called training either side of the policy's half.
    data["classified_clusters"] = [
        {
            "id": cluster["id"],
            "operator": cluster["operator"],
            "traces": 20,
            "windows": 600,
            "training_traces": training,
            "recall": 0.975,
            "false_positive_rate": 0.0125,
            "first_window": policy_eval.iso(BENCH_AT - timedelta(hours=12)),
            "last_window": policy_eval.iso(BENCH_AT - timedelta(hours=2)),
            "workloads": ["w-serving"] if k % 2 else [],
            "evidence": [f"log:w{k}"],
        }
        for k, (cluster, training) in enumerate(
            zip(data["clusters"][:4], (0, 6, 10, 19), strict=False)
        )
    ]
    # Phase mismatch (docs/adr/0036): declared searches whose sampled chips do and do not move
    # as one synchronous job.
    data["run_patterns"] = [
        {
            "id": run["id"],
            "operator": run["operator"],
            "cluster": run["cluster"],
            "phase": "hyperparameter_search",
            "chips": 16,
            "windows": 960,
            "pairs": 120,
            "synchronous_pairs": synchronous,
            "correlation": 0.7,
            "share_limit": 0.75,
            "one_job": synchronous >= 90,
            "first_window": policy_eval.iso(BENCH_AT - timedelta(hours=1)),
            "last_window": policy_eval.iso(BENCH_AT),
            "evidence": [f"log:p{k}"],
        }
        for k, (run, synchronous) in enumerate(
            zip(data["runs"][1:40:13], (120, 12, 95), strict=False)
        )
    ]
    # Tags (docs/adr/0028): chips and clusters a declaration does not name, at shares either
    # side of the material one; and pairs of runs that declare one recipe on two clusters.
    for i, run in enumerate(data["runs"][:60:6]):
        chips = [f"chip-{run['id']}-{k:02d}" for k in range(20)]
        run["declared_chips"] = chips[: 20 - (i % 4)]
        run["chips"] = chips
        run["clusters"] = [run["cluster"], "cluster-foreign"] if i % 5 == 4 else [run["cluster"]]
    start = BENCH_AT - timedelta(days=10)
    for k in range(3):
        data["runs"].append(
            {
                "id": f"run-split-{k}",
                "operator": f"op-00{k}",
                "party": "party-bench",
                "cluster": data["clusters"][k]["id"],
                "model": f"model-split-{k}",
                "phase": "pretraining",
                "status": "running",
                "starts_at": policy_eval.iso(start),
                "ends_at": policy_eval.iso(start + timedelta(days=40)),
                "declared": {"value": 4e23},
                "hyperparameters_digest": "c" * 64,
                "data_order_seed_digest": f"{k}" * 64,
                "evidence": [f"log:s{k}"],
            }
        )
    # Daily balances (docs/adr/0029): a metered facility whose meter saw a hidden draw (energy,
    # one-shot and CUSUM), whose counters under-reported (compute from energy) and whose
    # untagged compute exceeded its declared workloads (compute from the counters).
    day = BENCH_AT - timedelta(days=3)
    alarms = [
        ("energy", "one_shot", 6.2e10, 4.1e9, 15.1, 4.19, "J"),
        ("energy", "cusum", 6.2e10, 4.1e9, 28.3, 9.34, "J"),
        ("compute_energy", "cusum", 9.1e19, 3.3e19, 10.2, 9.34, "FLOP"),
        ("compute_counters", "one_shot", 3.0e18, 3.5e16, 85.7, 4.19, "FLOP"),
    ]
    data["balance_alarms"] = [
        {
            "facility": "facility-metered",
            "operator": "op-000",
            "party": "party-bench",
            "balance": balance,
            "test": test,
            "period_start": policy_eval.iso(day),
            "value": value,
            "sigma": sigma,
            "unit": unit,
            "statistic": statistic,
            "limit": limit,
            "alpha": 0.005,
            "alarms": 3,
            "last_period_start": policy_eval.iso(day + timedelta(days=2)),
            "evidence": [f"log:m{i}", f"log:b{i}"],
        }
        for i, (balance, test, value, sigma, statistic, limit, unit) in enumerate(alarms)
    ]
    # Counters against sensors (docs/adr/0033): a cluster whose counters reported a quarter of
    # what its tensor activity makes plausible, on three days.
    data["counter_alarms"] = [
        {
            "cluster": data["clusters"][0]["id"],
            "facility": "facility-metered",
            "operator": data["clusters"][0]["operator"],
            "party": "party-bench",
            "period_start": policy_eval.iso(day),
            "ratio": 0.148,
            "limit": 0.521,
            "alpha": 0.005,
            "flop": 2.1e21,
            "expected_flop": 7.4e21,
            "tensor_s": 1.6e7,
            "chip_windows": 512,
            "alarms": 3,
            "last_period_start": policy_eval.iso(day + timedelta(days=2)),
            "evidence": ["log:t0"],
        }
    ]
    # Transcripts (issue 17): running runs that committed theirs, a day after their start, or
    # long before it and then stopped committing checkpoints; a finished one whose final
    # weights were committed; a failed audit; a result that evaluated other weights.
    under_way = [r for r in data["runs"] if r.get("status") == "running" and r.get("starts_at")]
    transcripts = []
    for i, run in enumerate(under_way[:6]):
        start = datetime.fromisoformat(run["starts_at"].replace("Z", "+00:00"))
        committed = start + (timedelta(days=1) if i % 2 else -timedelta(days=30))
        transcripts.append(
            {
                "run": run["id"],
                "committed_at": policy_eval.iso(committed),
                "checkpoints": 1 + i,
                "last_checkpoint_at": policy_eval.iso(committed + timedelta(hours=i)),
                "evidence": [f"log:tr{i}"],
            }
        )
    weights_run = data["runs"][-1]
    weights = hashlib.sha256(f"final {weights_run['id']}".encode()).hexdigest()
    transcripts.append(
        {
            "run": weights_run["id"],
            "committed_at": policy_eval.iso(BENCH_AT - timedelta(days=400)),
            "checkpoints": 40,
            "last_checkpoint_at": policy_eval.iso(BENCH_AT - timedelta(days=300)),
            "final_digest": weights,
            "final_at": policy_eval.iso(BENCH_AT - timedelta(days=300)),
            "evidence": ["log:trf"],
        }
    )
    data["transcripts"] = transcripts
    data["transcript_verdicts"] = [
        {
            "audit": f"audit-{k}",
            "run": run["id"],
            "inspector": "inspector-bench",
            "verdict": verdict,
            "segments": [3, 17, 41],
            "failed_segments": [17] if verdict == "fail" else [],
            "inclusion_passed": verdict == "pass",
            "reasons": ["the manifest's final digest differs from the committed one"]
            if verdict == "fail"
            else [],
            "at": policy_eval.iso(BENCH_AT - timedelta(days=2)),
            "evidence": [f"log:v{k}"],
        }
        for k, (run, verdict) in enumerate(zip(data["runs"][:2], ("fail", "pass"), strict=False))
    ]
    data["evaluated_weights"] = [
        {
            "result": f"weights-{k}",
            "model": weights_run["model"],
            "weights_digest": digest,
            "evidence": [f"log:w{k}"],
        }
        for k, digest in enumerate((weights, hashlib.sha256(b"other weights").hexdigest()))
    ]
    # Roll-ups (docs/adr/0035): an operator's facilities summed, each under its own limit.
    data["balance_alarms"].append(
        {
            "scope": "operator",
            "operator": "op-000",
            "party": "party-bench",
            "facilities": ["facility-thin-1", "facility-thin-2"],
            "balance": "energy",
            "test": "cusum",
            "period_start": policy_eval.iso(day),
            "value": 3.1e10,
            "sigma": 1.2e10,
            "unit": "J",
            "statistic": 9.8,
            "limit": 9.34,
            "alpha": 0.005,
            "alarms": 2,
            "last_period_start": policy_eval.iso(day + timedelta(days=1)),
            "evidence": ["log:t1", "log:t2"],
        }
    )


def bench_facts(name: str) -> Facts:
    """The synthetic facts ``name`` (a key of :data:`BENCH_SETS`)."""
    args = argparse.Namespace(**SIZES, **BENCH_SETS[name])
    data, _ = policy_eval.make_facts(args)
    _extras(random.Random(args.seed + 1), data)
    return Facts.model_validate(data)


def fact_sets() -> list[tuple[str, Facts, tuple[datetime, ...]]]:
    """Every set of facts, with the times it is evaluated at."""
    sets: list[tuple[str, Facts, tuple[datetime, ...]]] = [
        (name, bench_facts(name), BENCH_TIMES) for name in BENCH_SETS
    ]
    sets.append(("example", load_facts(str(EXAMPLE_FACTS)), EXAMPLE_TIMES))
    return sets


def digests(kinds: Counter[str] | None = None) -> dict[str, str]:
    """``{preset}/{facts}/{time}`` -> SHA-256 (hex) of the evaluation's canonical bytes.
    ``kinds``, when given, counts the findings by kind (what the digests cover)."""
    out: dict[str, str] = {}
    sets = fact_sets()
    for preset in preset_names():
        policy = load_preset(preset)
        digest = policy_digest(policy)
        for name, facts, times in sets:
            for at in times:
                result: Evaluation = evaluate(policy, facts, at, digest=digest)
                key = f"{preset}/{name}/{policy_eval.iso(at)}"
                out[key] = hashlib.sha256(result.canonical_bytes()).hexdigest()
                if kinds is not None:
                    kinds.update(f.kind.value for f in result.findings)
    return out


def main(argv: list[str] | None = None) -> int:
    """Print, write or check the digests."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = p.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="FILE", help="write the digests to FILE as JSON")
    group.add_argument("--check", metavar="FILE", help="compare with FILE; exit 1 if any differ")
    args = p.parse_args(argv)
    kinds: Counter[str] = Counter()
    found = digests(kinds)
    text = json.dumps(found, indent=2, sort_keys=True) + "\n"
    covered = ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items()))
    print(f"{len(found)} evaluations; findings by kind: {covered}", file=sys.stderr)
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        return 0
    if args.check:
        expected = json.loads(Path(args.check).read_text(encoding="utf-8"))
        differ = sorted(
            k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k)
        )
        for key in differ:
            print(f"differs: {key}: {expected.get(key)} -> {found.get(key)}")
        print(f"{len(found) - len(differ)} of {len(found)} digests equal")
        return 1 if differ else 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
