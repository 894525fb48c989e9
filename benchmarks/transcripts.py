"""Transcript audits against the spoof suite (issue 17 §4): the detection rate of each attack per
unit of replay compute, beside the draw's theory; the false rejections of honest runs; replay
against training throughput; Ray's overhead per task.

Target (issue 17): **at least 99% detection of every attack at a replay budget of at most 5% of
the run's training compute, and no false rejection of an honest run.**

For each of ``--count`` honest runs (recipe ``--recipe``, ``--steps`` steps, a checkpoint every
``--every``, each from its own seed, threads=1) every attack of
:data:`pausewatch.transcript.SPOOFS` forges a transcript of it (the forger's ``rng_seed`` is the
run's number; variants: interpolation from a fake initialisation, a foreign initialisation hidden
behind the true step-0 weights; skipped compute at ``--skip-fraction``, plain (caught by the
interpolation screen at any budget) and perturbed by ``--perturb`` to pass the screen (caught only
by a replay of a fabricated segment); swapped final weights come from the previous honest run).
Each forgery is audited with :func:`pausewatch.transcript.verify` at budgets of 1%, 2% and 5%,
each audit with its own beacon. The figure: the share of forgeries that fail, with a 95% Wilson
interval; the reference: the draw's theory ``1 - miss_probability(N, F, Q)`` for the attack's F
forged segments (1 where the first or the final segment, always replayed, or the integrity checks
before any replay (initial weights, interpolation screen) give it away). For an
attack below 99% at 5%, the budget at which the theory reaches 99%.

False rejections: every honest run audited at each budget, and once more at 5% with its segments
replayed at ``--other-threads`` threads (reductions then add in another order: the tolerance must
absorb that). Throughput: the steps/s of training the first honest run against the steps/s of
replaying a tenth of its segments (each replay reloads its checkpoints and measures the inclusion
test's losses). Ray: a trivial task through :func:`pausewatch.transcript.run_keyed` on a local Ray
against in process, per task; ``--ray`` also runs every audit's replays through Ray.

Transcripts live in a temporary directory, removed at the end.

Run ``PYTHONPATH=src .venv/bin/python benchmarks/transcripts.py`` (100 runs of 400 steps with a
checkpoint every 2: 200 segments, so 1%, 2% and 5% replay 2, 4 and 10 of them);
``--count 3`` for a smoke run; ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from _common import verdict, write_json
from pausewatch.transcript import (
    SPOOFS,
    SegmentResult,
    SegmentTask,
    in_process_runner,
    miss_probability,
    ray_runner,
    read_manifest,
    replay_segment,
    run_keyed,
    segment_count,
    segments_for_budget,
    train,
    verify,
)
from pausewatch.transcript._distribute import LOCAL_CPUS, LOCAL_OBJECT_STORE_BYTES
from pausewatch.transcript._spoofs import fabricated_segments
from pausewatch.trial import wilson

BUDGETS = (0.01, 0.02, 0.05)
"""Replay budgets, as fractions of the run's training steps."""
TARGET = 0.99
"""Detection the issue asks of every attack at a budget of at most 5%."""

Runner = Callable[[Sequence[SegmentTask]], Iterable[SegmentResult]]


@dataclasses.dataclass(frozen=True)
class Variant:
    """One attack as the benchmark plays it."""

    label: str
    spoof: str
    params: dict[str, Any]
    forged: Callable[[int, int], int | None]
    """``(segments, rng_seed) -> F``: forged segments among the N - 2 the draw picks from, or
    None when the attack is caught at any budget (first or final segment, initial weights)."""
    why: str


def variants(skip_fraction: float, perturb: float = 0.1) -> list[Variant]:
    """The attacks, with what the theory says of each."""

    def always(_n: int, _s: int) -> None:
        return None

    return [
        Variant(
            "interpolation",
            "interpolation",
            {},
            always,
            "the screen; every segment, the final too",
        ),
        Variant(
            "interpolation, fake init",
            "interpolation",
            {"init": "fake"},
            always,
            "initial weights not the seed's",
        ),
        Variant(
            "forged_hyperparameter (lr x2)",
            "forged_hyperparameter",
            {},
            always,
            "every segment, the final too",
        ),
        Variant(
            "data_subtraction (70% kept)",
            "data_subtraction",
            {},
            always,
            "almost every batch replaced, the final segment's too",
        ),
        Variant(
            f"skipped_compute (f={skip_fraction:g})",
            "skipped_compute",
            {"fraction": skip_fraction},
            always,
            "caught at any budget (the screen)",
        ),
        Variant(
            f"skipped_compute, perturbed (f={skip_fraction:g})",
            "skipped_compute",
            {"fraction": skip_fraction, "perturb": perturb},
            lambda n, s: len(fabricated_segments(n, skip_fraction, s)),
            f"off the line by noise {perturb:g}, passes the screen: only a replay of a "
            "fabricated segment",
        ),
        Variant("reordered_batches", "reordered_batches", {}, always, "every segment"),
        Variant("swapped_final", "swapped_final", {}, always, "the final segment"),
        Variant("foreign_init", "foreign_init", {}, always, "initial weights not the seed's"),
        Variant(
            "foreign_init, hidden at step 0",
            "foreign_init",
            {"hide": True},
            always,
            "segment 0 only, replayed in every audit",
        ),
    ]


def beacon(*parts: object) -> bytes:
    """A beacon for one audit: distinct per run, attack and budget."""
    return hashlib.sha256("/".join(map(str, ("pausewatch-bench", *parts))).encode()).digest()


def at_threads(threads: int) -> Runner:
    """A runner replaying every segment in process at ``threads`` threads."""

    def run(tasks: Sequence[SegmentTask]) -> Iterable[SegmentResult]:
        return in_process_runner([dataclasses.replace(t, threads=threads) for t in tasks])

    return run


def budget_for(target: float, segments: int, forged: int, steps: int, every: int) -> float:
    """The smallest budget whose draw catches ``forged`` segments with probability ``target``."""
    for count in range(1, segments + 1):
        if 1 - miss_probability(segments, forged, count) >= target:
            return count * every / steps
    return 1.0


def _trivial(x: int) -> int:
    return x


def ray_overhead(tasks: int) -> dict[str, float] | None:
    """Per-task wall time of a trivial task through a local Ray and in process (None without
    Ray). Ray is started once, and left running for ``--ray``'s audits."""
    try:
        import ray
    except ImportError:
        return None
    began = time.perf_counter()
    if not ray.is_initialized():
        ray.init(
            num_cpus=LOCAL_CPUS,
            include_dashboard=False,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            log_to_driver=False,
        )
    started = time.perf_counter() - began
    items = {i: i for i in range(tasks)}
    list(run_keyed(_trivial, items, use_ray=True))  # warm the workers
    began = time.perf_counter()
    through_ray = dict(run_keyed(_trivial, items, use_ray=True))
    ray_s = time.perf_counter() - began
    began = time.perf_counter()
    in_process = dict(run_keyed(_trivial, items, use_ray=False))
    local_s = time.perf_counter() - began
    assert through_ray == in_process == items
    return {
        "tasks": float(tasks),
        "start_s": started,
        "ray_us_per_task": ray_s / tasks * 1e6,
        "in_process_us_per_task": local_s / tasks * 1e6,
        "overhead_us_per_task": (ray_s - local_s) / tasks * 1e6,
    }


def throughput(honest_dir: Path, train_s: float, runner: Runner | None) -> dict[str, float]:
    """Training steps/s of the run against replay steps/s of a tenth of its segments."""
    manifest = read_manifest(honest_dir)
    n = segment_count(manifest.steps, manifest.every)
    tasks = [SegmentTask(str(honest_dir), manifest.run_id, s) for s in range(0, n, 10)]
    replay_segment(tasks[0])  # warm the dataset's cache, as training's first step did not
    began = time.perf_counter()
    results = list(in_process_runner(tasks))
    replay_s = time.perf_counter() - began
    replayed = sum(r.steps_replayed for r in results)
    assert all(r.passed for r in results)
    figures = {
        "train_steps_per_s": manifest.steps / train_s,
        "replay_steps_per_s": replayed / replay_s,
        "replayed_steps": float(replayed),
    }
    if runner is not None:
        list(runner(tasks))  # each Ray worker imports torch and loads the dataset once
        began = time.perf_counter()
        through = list(runner(tasks))
        figures["ray_replay_steps_per_s"] = replayed / (time.perf_counter() - began)
        assert sorted(r.segment for r in through) == [t.segment for t in tasks]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="honest runs (forgeries each)")
    parser.add_argument("--recipe", default="mlp")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--skip-fraction", type=float, default=0.1)
    parser.add_argument(
        "--perturb",
        type=float,
        default=0.1,
        help="noise the screen-aware skipped_compute forger adds (relative to a block's "
        "displacement; 0.1 puts its checkpoints at r ~ 0.2, honest-looking)",
    )
    parser.add_argument("--other-threads", type=int, default=2)
    parser.add_argument("--ray-tasks", type=int, default=200, help="trivial tasks timed")
    parser.add_argument("--ray", action="store_true", help="replay every audit through Ray")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    steps, every = args.steps, args.every
    n = segment_count(steps, every)
    plays = variants(args.skip_fraction, args.perturb)
    print(
        f"{args.count} honest {args.recipe} runs of {steps} steps, a checkpoint every {every} "
        f"({n} segments); budgets "
        + ", ".join(f"{b:.0%} = {segments_for_budget(b, steps, every)} segments" for b in BUDGETS)
    )
    began = time.perf_counter()
    ray_figures = ray_overhead(args.ray_tasks)
    runner: Runner | None = ray_runner(None) if args.ray and ray_figures else None
    detected = {(v.label, b): 0 for v in plays for b in BUDGETS}
    spent = {b: 0.0 for b in BUDGETS}
    forged_counts: dict[str, list[int | None]] = {v.label: [] for v in plays}
    rejected = {b: 0 for b in BUDGETS}
    rejected_other = 0
    rejections: list[str] = []
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pausewatch-bench-") as tmp:
        root = Path(tmp)
        previous: Path | None = None
        # Load the dataset and warm torch before the first run's training is timed.
        train(args.recipe, steps=every, every=every, out=root / "warm", seed=b"warm", threads=1)
        for i in range(args.count):
            honest = root / f"honest-{i}"
            t0 = time.perf_counter()
            train(
                args.recipe,
                steps=steps,
                every=every,
                out=honest,
                seed=hashlib.sha256(f"pausewatch-bench/seed/{i}".encode()).digest(),
                threads=1,
                run_id=f"bench-{i}",
            )
            if i == 0:
                figures["throughput"] = throughput(honest, time.perf_counter() - t0, runner)
            for b in BUDGETS:
                v = verify(honest, budget=b, beacon=beacon(i, "honest", b), runner=runner)
                spent[b] += v.compute_fraction
                if v.to_json()["verdict"] != "pass":
                    rejected[b] += 1
                    rejections.append(f"run {i} at {b:.0%}: {v.to_json()['reasons']}")
            v = verify(
                honest,
                budget=BUDGETS[-1],
                beacon=beacon(i, "threads"),
                runner=at_threads(args.other_threads),
            )
            if v.to_json()["verdict"] != "pass":
                rejected_other += 1
                rejections.append(
                    f"run {i} at {args.other_threads} threads: {v.to_json()['reasons']}"
                )
            for play in plays:
                params = dict(play.params)
                if play.spoof == "swapped_final" and previous is not None:
                    params["donor"] = previous
                forged = SPOOFS[play.spoof](honest, root / "forged", rng_seed=i, **params)
                forged_counts[play.label].append(play.forged(n, i))
                for b in BUDGETS:
                    v = verify(forged, budget=b, beacon=beacon(i, play.label, b), runner=runner)
                    detected[(play.label, b)] += v.to_json()["verdict"] == "fail"
                shutil.rmtree(forged)
            if previous is not None:
                shutil.rmtree(previous)
            previous = honest
            if i == 0 or (i + 1) % 10 == 0:
                print(f"  {i + 1}/{args.count} runs ({time.perf_counter() - began:.0f} s)")
    count = args.count
    print()
    print(
        f"{'attack':34} {'budget':>6} {'Q':>3}  {'detected':>9} {'rate [95% Wilson]':>22}  theory"
    )
    rows = []
    for play in plays:
        rates = {}
        forged = forged_counts[play.label]
        for b in BUDGETS:
            q = segments_for_budget(b, steps, every)
            hits = detected[(play.label, b)]
            ci = wilson(hits, count)
            theory = sum(1.0 if f is None else 1 - miss_probability(n, f, q) for f in forged) / len(
                forged
            )
            rates[b] = ci
            rows.append(
                {
                    "attack": play.label,
                    "spoof": play.spoof,
                    "params": {k: v for k, v in play.params.items()},
                    "budget": b,
                    "segments_replayed": q,
                    "detected": hits,
                    "trials": count,
                    "rate": ci.estimate,
                    "low": ci.low,
                    "high": ci.high,
                    "theory": theory,
                    "forged_segments": forged[0],
                    "why": play.why,
                }
            )
            print(
                f"{play.label:34} {b:>6.0%} {q:>3}  {hits:>4}/{count:<4} "
                f"{ci.estimate:>7.1%} [{ci.low:.1%}, {ci.high:.1%}]  {theory:.1%}"
                f" ({play.why}{'' if forged[0] is None else f'; F={forged[0]}'})"
            )
        at5, theory5 = rates[BUDGETS[-1]], rows[-1]["theory"]
        if at5.estimate < TARGET or theory5 < TARGET:
            f = forged[0]
            need = budget_for(TARGET, n, f, steps, every) if f is not None else None
            rows[-1]["budget_for_99"] = need
            print(
                f"{'':34} {verdict(False)}: {at5.estimate:.1%} measured, {theory5:.1%} in theory "
                "at 5%; the theory reaches 99% at "
                + (f"a budget of {need:.1%}" if need is not None else "any budget")
            )
    honest_audits = count * len(BUDGETS)
    honest_rejected = sum(rejected.values())
    hci = wilson(honest_rejected, honest_audits)
    oci = wilson(rejected_other, count)
    print()
    print(
        f"false rejections: {honest_rejected}/{honest_audits} honest audits "
        f"({hci.estimate:.1%} [{hci.low:.1%}, {hci.high:.1%}]; "
        + ", ".join(f"{rejected[b]}/{count} at {b:.0%}" for b in BUDGETS)
        + "); "
        f"{rejected_other}/{count} replayed at {args.other_threads} threads "
        f"({oci.estimate:.1%} [{oci.low:.1%}, {oci.high:.1%}]); target 0: "
        f"{verdict(honest_rejected + rejected_other == 0)}"
    )
    for line in rejections[:20]:
        print(f"  {line}")
    missed = sorted(
        {
            r["attack"]
            for r in rows
            if r["budget"] == BUDGETS[-1] and min(r["rate"], r["theory"]) < TARGET
        }
    )
    print(
        "compute an honest audit spent, as a fraction of the run's training (replayed steps and "
        "the inclusion test's forward passes): "
        + ", ".join(f"{spent[b] / count:.2%} at a budget of {b:.0%}" for b in BUDGETS)
    )
    print(
        f"every attack detected in at least 99% at 5%: {verdict(not missed)}"
        + (f" (below: {', '.join(missed)})" if missed else "")
    )
    tp = figures["throughput"]
    print(
        f"throughput on this machine, same run: training {tp['train_steps_per_s']:.0f} steps/s; "
        f"replay {tp['replay_steps_per_s']:.0f} steps/s over {tp['replayed_steps']:.0f} steps "
        f"({tp['replay_steps_per_s'] / tp['train_steps_per_s']:.2f}x training)"
        + (
            f"; through Ray {tp['ray_replay_steps_per_s']:.0f} steps/s"
            if "ray_replay_steps_per_s" in tp
            else ""
        )
    )
    if ray_figures:
        print(
            f"Ray ({LOCAL_CPUS} CPUs, local): a trivial task {ray_figures['ray_us_per_task']:.0f} "
            f"us through Ray against {ray_figures['in_process_us_per_task']:.1f} us in process: "
            f"{ray_figures['overhead_us_per_task']:.0f} us overhead per task "
            f"({ray_figures['tasks']:.0f} tasks; Ray started in {ray_figures['start_s']:.1f} s)"
        )
    else:
        print("Ray: not installed, overhead not measured")
    figures.update(
        {
            "config": {
                "count": count,
                "recipe": args.recipe,
                "steps": steps,
                "every": every,
                "segments": n,
                "budgets": list(BUDGETS),
                "skip_fraction": args.skip_fraction,
                "perturb": args.perturb,
                "other_threads": args.other_threads,
                "ray": bool(runner),
            },
            "attacks": rows,
            "honest": {
                "audits": honest_audits,
                "rejected": honest_rejected,
                "rejected_by_budget": {str(b): rejected[b] for b in BUDGETS},
                "rate": hci.estimate,
                "low": hci.low,
                "high": hci.high,
            },
            "honest_other_threads": {
                "threads": args.other_threads,
                "audits": count,
                "rejected": rejected_other,
                "rate": oci.estimate,
                "low": oci.low,
                "high": oci.high,
            },
            "compute_fraction": {str(b): spent[b] / count for b in BUDGETS},
            "target_met": not missed and honest_rejected + rejected_other == 0,
            "ray": ray_figures,
            "seconds": round(time.perf_counter() - began, 1),
        }
    )
    print(f"took {figures['seconds']} s")
    if ray_figures:
        import ray

        ray.shutdown()
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
