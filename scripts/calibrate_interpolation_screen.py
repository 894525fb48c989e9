"""Calibrate the interpolation screen's floor from honest runs and exact interpolations.

For every recipe and each (steps, every) of ``--shapes``, trains ``--runs`` honest runs (each
from its own seed, 1 thread) and records the smallest relative second difference ``r`` of any
interior checkpoint (``pausewatch.transcript._screen``). Each run is then forged by
``skipped_compute`` (exact linear interpolation, ``--fraction`` of the segments) and the largest
``r`` of a fabricated checkpoint is recorded. The floor is ``min_honest / margin``; it must lie
above the largest interpolated ``r`` or the script stops. With ``--write`` the figures go to
the ``interpolation_screen`` key of ``src/pausewatch/transcript/calibration.json`` (the other
keys are kept), which the screen reads. Without ``--write`` it prints the JSON.

    PYTHONPATH=src python scripts/calibrate_interpolation_screen.py --write
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pausewatch.transcript import RECIPES, checkpoint_path, train
from pausewatch.transcript._screen import Screen
from pausewatch.transcript._spoofs import fabricated_blocks, skipped_compute
from pausewatch.transcript._tolerance import CALIBRATION
from pausewatch.transcript._train import load_weights

TARGET = Path(__file__).resolve().parent.parent / "src" / "pausewatch" / "transcript" / CALIBRATION
COMMAND = "PYTHONPATH=src python scripts/calibrate_interpolation_screen.py --write"


def _ratios(directory: Path, steps: list[int]) -> dict[int, float]:
    screen = Screen(0.0)
    for step in steps:
        screen.add(step, load_weights(directory / checkpoint_path(step)))
    return screen.ratios


def calibrate(
    *, runs: int, shapes: list[tuple[int, int]], fraction: float, margin: float
) -> dict[str, Any]:
    """Screen honest runs and their exact interpolations; choose the floor."""
    import torch

    torch.set_num_threads(1)
    recipes: dict[str, Any] = {}
    interpolated_max = 0.0
    with tempfile.TemporaryDirectory(prefix="pausewatch-screen-") as tmp:
        for name in sorted(RECIPES):
            started = time.perf_counter()
            honest_min, where, screened, fabricated, worst = float("inf"), "", 0, 0, 0.0
            by_shape: dict[str, float] = {}
            for steps, every in shapes:
                shape_min = float("inf")
                for run in range(runs):
                    out = Path(tmp) / f"{name}-{steps}-{every}-{run}"
                    seed = f"screen-calibration/{name}/{steps}/{every}/{run}".encode()
                    manifest = train(name, steps=steps, every=every, out=out, seed=seed)
                    marks = [c.step for c in manifest.checkpoints]
                    ratios = _ratios(out, marks)
                    screened += len(ratios)
                    low_step = min(ratios, key=lambda s: ratios[s])
                    shape_min = min(shape_min, ratios[low_step])
                    if ratios[low_step] < honest_min:
                        honest_min = ratios[low_step]
                        where = f"{steps} steps every {every}, run {run}, step {low_step}"
                    forged = skipped_compute(
                        out, Path(tmp) / f"{out.name}-forged", rng_seed=run, fraction=fraction
                    )
                    inside = {
                        marks[i]
                        for block in fabricated_blocks(len(marks) - 1, fraction, run)
                        for i in range(block.start + 1, block.stop)
                    }
                    forged_ratios = _ratios(forged, marks)
                    fabricated += len(inside)
                    worst = max([worst, *(forged_ratios[s] for s in inside)])
                by_shape[f"{steps}/{every}"] = shape_min
            interpolated_max = max(interpolated_max, worst)
            recipes[name] = {
                "checkpoints_screened": screened,
                "min_honest_ratio": honest_min,
                "min_honest_at": where,
                "min_honest_ratio_by_steps_every": by_shape,
                "fabricated_checkpoints": fabricated,
                "max_interpolated_ratio": worst,
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(
                f"{name}: {screened} honest checkpoints, smallest r {honest_min:.3g} ({where}); "
                f"{fabricated} interpolated, largest r {worst:.3g}",
                file=sys.stderr,
            )
    smallest = min(r["min_honest_ratio"] for r in recipes.values())
    floor = smallest / margin
    if not interpolated_max < floor:
        raise SystemExit(
            f"no floor separates them: interpolated r up to {interpolated_max:.3g}, "
            f"honest r down to {smallest:.3g}"
        )
    return {
        "rule": "floor = min_honest_ratio (over the recipes) / margin; flag r < floor",
        "margin": margin,
        "floor": floor,
        "min_honest_ratio": smallest,
        "max_interpolated_ratio": interpolated_max,
        "runs_per_shape": runs,
        "steps_every": [list(s) for s in shapes],
        "fraction": fraction,
        "trained_threads": 1,
        "command": COMMAND,
        "recipes": recipes,
    }


def main() -> None:
    """Parse the arguments, calibrate, print or write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="Honest runs per recipe and shape.")
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=["400/2", "200/10", "200/40"],
        help="STEPS/EVERY of the honest runs.",
    )
    parser.add_argument("--fraction", type=float, default=0.2, help="Segments interpolated.")
    parser.add_argument("--margin", type=float, default=100.0)
    parser.add_argument("--write", action="store_true", help=f"Write {TARGET}.")
    args = parser.parse_args()
    shapes = [(int(a), int(b)) for a, b in (s.split("/") for s in args.shapes)]
    value = calibrate(runs=args.runs, shapes=shapes, fraction=args.fraction, margin=args.margin)
    if args.write:
        existing = json.loads(TARGET.read_text(encoding="utf-8"))
        existing["interpolation_screen"] = value
        TARGET.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {TARGET}", file=sys.stderr)
    else:
        sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
