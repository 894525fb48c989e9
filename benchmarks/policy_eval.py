"""Run evaluations per second: one policy evaluated over 100,000 runs and 10,000 clusters.

Target (from the issue): a benchmark evaluating one policy over 100,000 runs and 10,000 clusters;
at least 50,000 run evaluations per second on one core.

What runs, all in one process and one run, pinned to one CPU where the platform allows it:

1. Facts: deterministic synthetic facts from a seeded ``random.Random`` (``--seed``), built as
   plain JSON-like dicts (timestamps as ISO 8601 strings ending in ``Z``, as a facts file or the
   service's views give them): ``--runs`` runs over ``--runs / 5`` models with lineage
   (derivatives name a ``base_model``, chains at most 3 deep, no cycles), phases mostly
   pre-training with some fine-tuning, RL and hyper-parameter searches, compute log-uniform between
   1e20 and 3e25 FLOP as declared and/or measured figures (some as per-precision counters) with
   intervals of ±5-20%, rates for running runs, mixed statuses and approvals, a fraction
   undeclared; ``--clusters`` clusters of 8 to 200,000 H100-equivalents (log-uniform), mostly
   monitored; ``--evaluations`` capability results across the five domains (metric
   ``accuracy``, with confidence intervals, a few failed); ``--incidents`` incidents.
2. Reference, reading the facts: ``Facts.model_validate`` of those dicts, ``--repeat`` times
   (the last result is the facts evaluated). This is what it costs just to read the runs.
3. The figure: ``evaluate(policy, facts, at, digest=...)`` with the preset (``--preset``,
   default ``miri-2025``) and its digest computed beforehand, ``--repeat`` times; best and median
   wall time; run evaluations per second = runs / wall time of the whole evaluation (runs,
   lineages, clusters, capabilities and incidents together).
4. Serialisation: ``Evaluation.canonical_bytes()`` (RFC 8785) of each result, timed separately;
   the SHA-256 of the bytes must be equal across repeats (the evaluation is deterministic),
   or the script exits 1.

Run ``.venv/bin/python benchmarks/policy_eval.py`` (full size) or add
``--runs 2000 --clusters 200``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import pydantic

from _common import verdict, write_json
from pausewatch.policy import (
    Domain,
    Evaluation,
    Facts,
    evaluate,
    load_preset,
    policy_digest,
    preset_names,
)

TARGET_PER_S = 50_000.0
AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
"""The evaluation time (a parameter, never the wall clock)."""
FLOP_MIN, FLOP_MAX = 1e20, 3e25
H100E_MIN, H100E_MAX = 8.0, 200_000.0
H100E_FLOPS = 9.894e14


def pin_one_core() -> str:
    """Pin this process to one CPU (the first it may run on); say what happened."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity on this platform)"
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    except (OSError, ValueError) as exc:
        return f"not pinned ({exc})"
    return f"pinned to CPU {cpu}"


def iso(t: datetime) -> str:
    """``2026-06-01T12:00:00Z``."""
    return t.isoformat().replace("+00:00", "Z")


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    """A figure log-uniform between ``lo`` and ``hi``."""
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def figure(rng: random.Random, value: float, method: str) -> dict[str, Any]:
    """A compute figure with an interval of ±5-20% (high side and low side drawn apart)."""
    return {
        "value": value,
        "low": value * (1 - rng.uniform(0.05, 0.20)),
        "high": value * (1 + rng.uniform(0.05, 0.20)),
        "method": method,
    }


def make_models(rng: random.Random, n: int) -> list[tuple[str, str | None]]:
    """``n`` models as (name, base model); about 35% derive from an earlier one, chains <= 3."""
    models: list[tuple[str, str | None]] = []
    depth: list[int] = []
    base_index: list[int | None] = []
    for i in range(n):
        parent: int | None = None
        if i >= 10 and rng.random() < 0.35:
            parent = rng.randrange(i)
            while depth[parent] >= 3:  # keep chains at most 3 derivations deep
                parent = base_index[parent]
                assert parent is not None
        base_index.append(parent)
        depth.append(0 if parent is None else depth[parent] + 1)
        models.append((f"model-{i:05d}", None if parent is None else models[parent][0]))
    return models


PHASES_ROOT = (["pretraining", "hyperparameter_search", "fine_tuning", "rl"], [80, 12, 5, 3])
PHASES_DERIVED = (["pretraining", "hyperparameter_search", "fine_tuning", "rl"], [25, 5, 45, 25])
STATUSES = (["planned", "running", "finished", "halted"], [20, 35, 40, 5])
APPROVALS = (["none", "pending", "extended", "approved", "rejected"], [15, 15, 5, 60, 5])
DATA = (["text", "code", "multimodal", "biological_sequences"], [60, 25, 14, 1])


def make_run(
    rng: random.Random,
    i: int,
    model: tuple[str, str | None],
    operators: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One run as a facts-file mapping."""
    name, base = model
    phases = PHASES_DERIVED if base is not None else PHASES_ROOT
    phase = rng.choices(*phases)[0]
    status = rng.choices(*STATUSES)[0]
    flop = log_uniform(rng, args.flop_min, args.flop_max)
    declared_at = AT - timedelta(days=rng.uniform(1, 400))
    starts_at = declared_at + timedelta(days=rng.uniform(-5, 60))  # some start before declaring
    if status == "planned":
        starts_at = max(starts_at, AT + timedelta(days=rng.uniform(1, 60)))
    duration = timedelta(days=rng.uniform(10, 120))
    ends_at = starts_at + duration
    run: dict[str, Any] = {
        "id": f"run-{i:06d}",
        "operator": f"op-{rng.randrange(operators):03d}",
        "cluster": f"cluster-{rng.randrange(max(1, args.clusters)):05d}",
        "model": name,
        "phase": phase,
        "status": status,
        "started": status != "planned",
        "starts_at": iso(starts_at),
        "ends_at": iso(ends_at),
        "evidence": [f"log:{3 * i + 1}", f"log:{3 * i + 2}"],
    }
    if base is not None:
        run["base_model"] = base
    if rng.random() < 0.7:
        run["primary_data"] = rng.choices(*DATA)[0]
    if rng.random() < 0.3:
        run["compute_cost_usd"] = flop / 1e17 * rng.uniform(0.5, 2.0)
    # About 10% of the runs under way or done were never declared (a planned run is known
    # only from its declaration).
    declared = status == "planned" or rng.random() >= 0.10
    if declared:
        run["declared"] = figure(rng, flop, "declared")
        run["declared_at"] = iso(declared_at)
        approval = rng.choices(*APPROVALS)[0]
        run["approval"] = approval
        if approval in ("approved", "rejected"):
            run["decided_at"] = iso(declared_at + timedelta(days=rng.uniform(1, 40)))
        if approval == "extended":
            run["review_extended_days"] = 30
    if status != "planned":
        if status == "running":
            done = rng.uniform(0.05, 1.0)
            elapsed = duration * done
            used = flop * done * rng.uniform(0.9, 1.1)
            starts_at = AT - elapsed
            run["starts_at"] = iso(starts_at)
            run["ends_at"] = iso(starts_at + duration)
            rate = flop / duration.total_seconds() * rng.uniform(0.8, 1.2)
            run["rate"] = figure(rng, rate, "telemetry")
        else:
            done = rng.uniform(0.1, 0.9) if status == "halted" else 1.0
            used = flop * done * rng.uniform(0.8, 1.25)
        if not declared or rng.random() < 0.85:
            if rng.random() < 0.15:
                fp8 = used * rng.uniform(0.2, 0.6)
                run["measured_by_precision"] = {"bf16": used - fp8, "fp8": fp8}
                run["measured"] = figure(rng, used, "telemetry")
            else:
                run["measured"] = figure(rng, used, rng.choice(["telemetry", "hardware"]))
    return run


def make_cluster(rng: random.Random, i: int, operators: int) -> dict[str, Any]:
    """One cluster as a facts-file mapping."""
    h100e = log_uniform(rng, H100E_MIN, H100E_MAX)
    commissioned = AT - timedelta(days=rng.uniform(0, 1500))
    cluster: dict[str, Any] = {
        "id": f"cluster-{i:05d}",
        "operator": f"op-{rng.randrange(operators):03d}",
        "facility": f"facility-{rng.randrange(max(1, operators * 3)):04d}",
        "h100e": h100e,
        "network_gbps": rng.choice([25, 100, 200, 400, 800, 1600, 3200]),
        "monitored": rng.random() < 0.9,
        "commissioned_at": iso(commissioned),
        "evidence": [f"log:c{i}"],
    }
    if rng.random() < 0.3:
        cluster["peak_flops_per_s"] = h100e * H100E_FLOPS * rng.uniform(0.9, 1.1)
    if rng.random() < 0.85:
        cluster["reported_at"] = iso(commissioned + timedelta(days=rng.uniform(0, 45)))
    return cluster


def make_evaluation(rng: random.Random, i: int, models: int) -> dict[str, Any]:
    """One capability evaluation result (metric ``accuracy``; about 5% failed)."""
    domains = [d.value for d in Domain]
    ev: dict[str, Any] = {
        "id": f"eval-{i:04d}",
        "model": f"model-{rng.randrange(models):05d}",
        "domain": domains[i % len(domains)],
        "metric": "accuracy",
        "completed_at": iso(AT - timedelta(days=rng.uniform(0, 200))),
        "evidence": [f"log:e{i}"],
    }
    if rng.random() < 0.05:
        ev["status"] = rng.choice(["error", "cancelled"])
        return ev
    value = rng.betavariate(2, 4)
    half = rng.uniform(0.02, 0.10)
    ev.update(value=value, ci_low=max(0.0, value - half), ci_high=min(1.0, value + half))
    return ev


def make_incident(rng: random.Random, i: int, operators: int) -> dict[str, Any]:
    """One incident; about 30% not (yet) reported."""
    occurred = AT - timedelta(days=rng.uniform(0, 365))
    inc: dict[str, Any] = {
        "id": f"incident-{i:03d}",
        "operator": f"op-{rng.randrange(operators):03d}",
        "occurred_at": iso(occurred),
        "summary": "synthetic incident for the benchmark",
    }
    if rng.random() < 0.7:
        inc["reported_at"] = iso(occurred + timedelta(hours=rng.uniform(1, 120)))
    return inc


def make_facts(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, int]]:
    """The facts as a JSON-like mapping, and what it holds."""
    rng = random.Random(args.seed)
    n_models = max(1, args.runs // 5)
    operators = max(1, args.runs // 200)
    models = make_models(rng, n_models)
    # Every model has at least one run; the rest fall on models at random.
    picks = list(range(n_models))[: args.runs] + [
        rng.randrange(n_models) for _ in range(max(0, args.runs - n_models))
    ]
    rng.shuffle(picks)
    runs = [make_run(rng, i, models[m], operators, args) for i, m in enumerate(picks)]
    clusters = [make_cluster(rng, i, operators) for i in range(args.clusters)]
    evaluations = [make_evaluation(rng, i, n_models) for i in range(args.evaluations)]
    incidents = [make_incident(rng, i, operators) for i in range(args.incidents)]
    ops = [
        {"id": f"op-{i:03d}", "annual_revenue_usd": log_uniform(rng, 1e6, 1e11)}
        for i in range(operators)
        if rng.random() < 0.5
    ]
    data: dict[str, Any] = {
        "runs": runs,
        "clusters": clusters,
        "evaluations": evaluations,
        "operators": ops,
        "incidents": incidents,
        "pause": {"active": args.pause_active},
        "state": {
            "monitoring_coverage": 0.91,
            "eval_domains_adopted": 5,
            "witnesses": 3,
            "open_critical_findings": 2,
        },
    }
    if args.pause_active:
        data["pause"]["started_at"] = iso(AT - timedelta(days=30))
    shape = {
        "runs": len(runs),
        "models": n_models,
        "derived_models": sum(1 for _, base in models if base is not None),
        "clusters": len(clusters),
        "evaluations": len(evaluations),
        "incidents": len(incidents),
        "operators": operators,
        "undeclared_runs": sum(1 for r in runs if "declared" not in r),
        "running_runs": sum(1 for r in runs if r["status"] == "running"),
    }
    return data, shape


T = TypeVar("T")

GC_MODES = {
    "on": "the collector runs as Python runs it",
    "freeze": "gc.freeze() before each timed call, as a long-lived service can after loading "
    "its state; the collector still runs on new objects",
    "off": "gc.disable() during each timed call",
}


def timed(fn: Callable[[], T], gc_mode: str) -> tuple[float, T]:
    """Seconds one call of ``fn()`` took, and its result; a full collection first, not timed."""
    gc.collect()
    if gc_mode == "freeze":
        gc.freeze()
    elif gc_mode == "off":
        gc.disable()
    try:
        started = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - started
    finally:
        gc.enable()
        gc.unfreeze()
    return seconds, result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are the target's conditions."""
    p = argparse.ArgumentParser(
        description=(
            "Run evaluations/s of one policy over synthetic facts (target >= 50,000/s on one "
            "core at 100,000 runs and 10,000 clusters), with the cost of reading the facts "
            "(pydantic validation) as the reference in the same run."
        )
    )
    p.add_argument("--runs", type=int, default=100_000, help="runs (100000)")
    p.add_argument("--clusters", type=int, default=10_000, help="clusters (10000)")
    p.add_argument("--evaluations", type=int, default=400, help="capability results (400)")
    p.add_argument("--incidents", type=int, default=60, help="incidents (60)")
    p.add_argument("--preset", default="miri-2025", help="policy preset (miri-2025)")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions (3)")
    p.add_argument("--seed", type=int, default=2026, help="seed of the synthetic facts (2026)")
    p.add_argument("--pause-active", action="store_true", help="evaluate with the pause in force")
    p.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    p.add_argument(
        "--flop-min", type=float, default=FLOP_MIN, help="smallest run compute, FLOP (1e20)"
    )
    p.add_argument(
        "--flop-max", type=float, default=FLOP_MAX, help="largest run compute, FLOP (3e25)"
    )
    p.add_argument(
        "--gc",
        choices=sorted(GC_MODES),
        default="on",
        help="garbage collector during the timed calls: on (default), freeze, off",
    )
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    if not 0 < args.flop_min <= args.flop_max:
        p.error("expected 0 < --flop-min <= --flop-max")
    if args.runs < 1 or args.clusters < 0 or args.repeat < 1:
        p.error("--runs and --repeat must be at least 1, --clusters at least 0")
    if args.preset not in preset_names():
        p.error(f"--preset: expected one of {', '.join(preset_names())}, got {args.preset!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures; exit 0 whether or not the target was met."""
    args = parse_args(argv)
    pinned = "not pinned (--no-pin)" if args.no_pin else pin_one_core()
    load = os.getloadavg()[0]
    print(
        f"policy_eval: preset {args.preset}, {args.runs:,} runs, {args.clusters:,} clusters, "
        f"{args.evaluations} evaluations, {args.incidents} incidents, seed {args.seed}, "
        f"repeat {args.repeat}"
    )
    print(
        f"  Python {platform.python_version()}, pydantic {pydantic.VERSION}, "
        f"{os.cpu_count()} CPUs, {pinned}, load average {load:.2f}; "
        f"evaluation time {iso(AT)}" + ("; pause active" if args.pause_active else "")
    )
    print(
        f"  run compute log-uniform {args.flop_min:.3g} to {args.flop_max:.3g} FLOP; "
        f"GC {args.gc}: {GC_MODES[args.gc]}"
    )

    t0 = time.perf_counter()
    data, shape = make_facts(args)
    gen_s = time.perf_counter() - t0
    print(
        f"  facts: {shape['models']:,} models ({shape['derived_models']:,} derivatives), "
        f"{shape['undeclared_runs']:,} undeclared runs, {shape['running_runs']:,} running, "
        f"{shape['operators']} operators (generated in {gen_s:.1f} s)"
    )
    policy = load_preset(args.preset)
    digest = policy_digest(policy)

    # Reference: reading the facts (pydantic validation of the same mappings).
    validate_s: list[float] = []
    facts: Facts | None = None
    for _ in range(args.repeat):
        facts = None
        seconds, facts = timed(partial(Facts.model_validate, data), args.gc)
        validate_s.append(seconds)
    assert facts is not None
    del data
    run_evaluation = partial(evaluate, policy, facts, AT, digest=digest)

    # The figure: evaluate, then serialise, each timed on its own.
    eval_s: list[float] = []
    bytes_s: list[float] = []
    digests: set[str] = set()
    result: Evaluation | None = None
    size = 0
    for _ in range(args.repeat):
        result = None  # the previous result is freed before the next evaluation
        seconds, out = timed(run_evaluation, args.gc)
        eval_s.append(seconds)
        seconds, raw = timed(out.canonical_bytes, args.gc)
        bytes_s.append(seconds)
        size = len(raw)
        digests.add(hashlib.sha256(raw).hexdigest())
        result = out
        del out, raw
    assert result is not None

    n = args.runs
    best, median = min(eval_s), statistics.median(eval_s)
    rate_best, rate_median = n / best, n / median
    v_best = min(validate_s)
    ok = rate_best >= TARGET_PER_S
    kinds = Counter(f.kind.value for f in result.findings)
    severities = Counter(f.severity.value for f in result.findings)
    statuses = Counter(o.status.value for o in result.obligations)
    deterministic = len(digests) == 1

    print()
    print(
        f"  run evaluations (best)          {rate_best:>12,.0f} runs/s     target >= "
        f"{TARGET_PER_S:,.0f}/s on one core   {verdict(ok)}"
    )
    print(
        f"    evaluate() {best:.3f} s best, {median:.3f} s median ({rate_median:,.0f} runs/s) "
        f"over {args.repeat}: {', '.join(f'{s:.3f}' for s in eval_s)} s"
    )
    print(
        f"  reference: reading the facts    {n / v_best:>12,.0f} runs/s     "
        f"Facts.model_validate of the same mappings, {v_best:.3f} s best "
        f"(median {statistics.median(validate_s):.3f} s; clusters and the rest included)"
    )
    print(
        f"    evaluating takes {best / v_best:.2f}x the time of reading the facts; "
        f"read + evaluate: {n / (best + v_best):,.0f} runs/s"
    )
    print(
        f"  serialisation                   canonical_bytes() {min(bytes_s):.3f} s best "
        f"(median {statistics.median(bytes_s):.3f} s), {size / 1e6:,.1f} MB; "
        f"evaluate + serialise {n / (best + min(bytes_s)):,.0f} runs/s"
    )
    print(
        f"  result: {len(result.findings):,} findings, {len(result.obligations):,} obligations "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(statuses.items()))}); "
        f"{len(result.findings) / n:.2f} findings and {len(result.obligations) / n:.2f} "
        f"obligations per run"
    )
    print("    by severity: " + ", ".join(f"{k} {v:,}" for k, v in severities.most_common()))
    print("    by kind: " + ", ".join(f"{k} {v:,}" for k, v in kinds.most_common()))
    print(
        f"  deterministic: {'OK' if deterministic else 'FAILED'} "
        f"({len(digests)} distinct SHA-256 over {args.repeat} evaluations)"
    )

    figures: dict[str, Any] = {
        "benchmark": "policy_eval",
        "preset": args.preset,
        "policy_digest": digest,
        "seed": args.seed,
        "pause_active": args.pause_active,
        "flop_min": args.flop_min,
        "flop_max": args.flop_max,
        "gc": args.gc,
        "load_average_1min_at_start": load,
        "facts": shape,
        "cpus": os.cpu_count(),
        "pinning": pinned,
        "python": platform.python_version(),
        "pydantic": pydantic.VERSION,
        "target_per_s": TARGET_PER_S,
        "evaluate_seconds": eval_s,
        "evaluate_best_s": best,
        "evaluate_median_s": median,
        "runs_per_s_best": rate_best,
        "runs_per_s_median": rate_median,
        "validate_seconds": validate_s,
        "validate_runs_per_s_best": n / v_best,
        "canonical_bytes_seconds": bytes_s,
        "canonical_bytes_size": size,
        "findings": len(result.findings),
        "findings_by_kind": dict(kinds),
        "findings_by_severity": dict(severities),
        "obligations": len(result.obligations),
        "obligations_by_status": dict(statuses),
        "evaluation_sha256": sorted(digests),
        "deterministic": deterministic,
        "target_met": ok,
    }
    write_json(args.json, figures)
    return 0 if deterministic else 1


if __name__ == "__main__":
    sys.exit(main())
