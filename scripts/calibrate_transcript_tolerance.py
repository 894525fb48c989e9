"""Calibrate the replay tolerance of each transcript recipe from honest replays.

Trains honest runs of every recipe (at 1 thread), replays every segment of each at 1, 2, 3, 4 and 8
intra-op threads, and records per recipe the largest relative L2 distance seen and the tolerance
``max(margin * max_distance, floor)`` in ``src/pausewatch/transcript/calibration.json`` (with
``--write``), which ``pausewatch.transcript`` reads. Without ``--write`` it prints the JSON.

    PYTHONPATH=src python scripts/calibrate_transcript_tolerance.py --write
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pausewatch.transcript import RECIPES, SegmentTask, replay_segment, train
from pausewatch.transcript._draw import segment_count
from pausewatch.transcript._tolerance import CALIBRATION, CALIBRATION_FORMAT, choose_tolerance

TARGET = Path(__file__).resolve().parent.parent / "src" / "pausewatch" / "transcript" / CALIBRATION


def calibrate(
    *, runs: int, steps: int, every: int, threads: list[int], margin: float, floor: float
) -> dict[str, Any]:
    """Replay honest runs of every recipe and choose each tolerance."""
    recipes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="pausewatch-calibration-") as tmp:
        for name in sorted(RECIPES):
            distances: dict[int, float] = dict.fromkeys(threads, 0.0)
            replays = 0
            started = time.perf_counter()
            for run in range(runs):
                out = Path(tmp) / f"{name}-{run}"
                seed = f"calibration/{name}/{run}".encode()
                manifest = train(name, steps=steps, every=every, out=out, seed=seed, threads=1)
                for segment in range(segment_count(manifest.steps, manifest.every)):
                    for count in threads:
                        result = replay_segment(SegmentTask(str(out), None, segment, count))
                        distances[count] = max(distances[count], result.distance)
                        replays += 1
            worst = max(distances.values())
            recipes[name] = {
                "replays": replays,
                "max_distance": worst,
                "max_distance_by_threads": {str(k): v for k, v in sorted(distances.items())},
                "tolerance": choose_tolerance(worst, margin, floor),
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(f"{name}: {replays} replays, max distance {worst:.3g}", file=sys.stderr)
    import torch

    return {
        "format": CALIBRATION_FORMAT,
        "rule": "tolerance = max(margin * max_distance, floor)",
        "margin": margin,
        "floor": floor,
        "trained_threads": 1,
        "replay_threads": threads,
        "runs_per_recipe": runs,
        "steps": steps,
        "every": every,
        "torch": str(torch.__version__),
        "command": "PYTHONPATH=src python scripts/calibrate_transcript_tolerance.py --write",
        "recipes": recipes,
    }


def main() -> None:
    """Parse the arguments, calibrate, print or write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="Honest runs per recipe.")
    parser.add_argument("--steps", type=int, default=200, help="Steps of each honest run.")
    parser.add_argument("--every", type=int, default=40, help="Steps per segment.")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 3, 4, 8])
    parser.add_argument("--margin", type=float, default=100.0)
    parser.add_argument("--floor", type=float, default=1e-6)
    parser.add_argument("--write", action="store_true", help=f"Write {TARGET}.")
    args = parser.parse_args()
    value = calibrate(
        runs=args.runs,
        steps=args.steps,
        every=args.every,
        threads=args.threads,
        margin=args.margin,
        floor=args.floor,
    )
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    if args.write:
        # Keep what other calibrations recorded (the interpolation screen's floor).
        existing = json.loads(TARGET.read_text(encoding="utf-8")) if TARGET.exists() else {}
        value = {**{k: v for k, v in existing.items() if k not in value}, **value}
        text = json.dumps(value, indent=2, sort_keys=True) + "\n"
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET}", file=sys.stderr)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
