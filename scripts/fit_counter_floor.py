"""Fit the counters' plausibility floor on honest traces of the fit seeds (docs/adr/0033).

Two honest trace sources, both from seeds in the fit range (0..99,999) only:

* :func:`pausewatch.simulate.simulate_fleet`: mixed fleets (H100/H200/A100/B200 training,
  serving, idle) at an hour per window;
* the scenario runner's chips (:mod:`pausewatch.trial`): the honest clusters of
  ``generate_scenario(seed, None)``, each chip's signed window through the runner's own
  ``record``.

Every window whose tensor pipes were busy (``tensor_active`` >= ``UNDECLARED_TENSOR_ACTIVE``)
gives one ratio (FLOP over its own chip model's dense peak over tensor-active seconds, as the
test holds each model's busy work to that model's peak). The script prints the mean and
standard deviation of their logarithms (the constants ``FLOOR_LOG_MEAN`` and
``FLOOR_LOG_SIGMA``), the limit they give, and the lowest ratio seen.

    PYTHONPATH=src python scripts/fit_counter_floor.py [--fleets 40] [--scenarios 40]
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import timedelta

from pausewatch.compute import load_catalogue
from pausewatch.detect import fit_floor, plausibility_limit
from pausewatch.simulate import ClusterSpec, simulate_fleet
from pausewatch.simulate import Workload as FleetWorkload
from pausewatch.simulate.scenario import DEFAULT_START, Workload, generate_scenario
from pausewatch.telemetry import UNDECLARED_TENSOR_ACTIVE
from pausewatch.trial._runner import _Chip, _chip_key, _Play

_MODELS = ("H100 SXM", "H200", "A100 SXM", "B200")


def _ratio(record: dict[str, object], model: str) -> float | None:
    tensor = float(record["tensor_active"])  # type: ignore[arg-type]
    if tensor < UNDECLARED_TENSOR_ACTIVE:
        return None
    chip = load_catalogue().get(model)
    start = str(record["window_start"])
    end = str(record["window_end"])
    from datetime import datetime

    secs = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    flop = record["flop"]
    assert isinstance(flop, dict)
    work = sum(int(v) / chip.peak(p) for p, v in flop.items())
    return work / (tensor * secs)


def fleet_ratios(seeds: range) -> list[float]:
    """Busy windows of simulated honest fleets."""
    out: list[float] = []
    for seed in seeds:
        rng = random.Random(seed)
        specs = [
            ClusterSpec(f"c{n}", "op-1", rng.choice(_MODELS), 4, rng.choice(list(FleetWorkload)))
            for n in range(4)
        ]
        fleet = simulate_fleet(specs, windows=24, seed=seed, window_s=3600)
        model_of = {c.chip_id: c.model for c in fleet.chips}
        for line in fleet.lines:
            rec = json.loads(line)["record"]
            r = _ratio(rec, model_of[rec["chip_id"]])
            if r is not None:
                out.append(r)
    return out


def runner_ratios(seeds: range) -> list[float]:
    """Busy windows the scenario runner signs for honest training clusters."""
    out: list[float] = []
    catalogue = load_catalogue()
    for seed in seeds:
        scenario = generate_scenario(seed, None)
        # The runner's chip model without a service: only its random source and catalogue.
        play = object.__new__(_Play)
        play.rng = random.Random(f"pausewatch/scenario-run/{seed}")
        play.catalogue = catalogue
        for _, cluster in scenario.clusters().values():
            if cluster.workload is not Workload.TRAINING:
                continue
            chip_id = f"{cluster.cluster_id}/0000"
            chip = _Chip(chip_id, _chip_key(seed, chip_id))
            for day in range(3):
                start = DEFAULT_START + timedelta(days=day, hours=23)
                line, _ = play.record(
                    chip,
                    cluster,
                    start,
                    start + timedelta(hours=1),
                    "train",
                    cluster.run_id,
                    cluster.utilisation,
                )
                r = _ratio(json.loads(line)["record"], cluster.chip_model)
                if r is not None:
                    out.append(r)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", type=int, default=40)
    parser.add_argument("--scenarios", type=int, default=40)
    args = parser.parse_args()
    fleet = fleet_ratios(range(args.fleets))
    runner = runner_ratios(range(args.scenarios))
    ratios = fleet + runner
    mean, sigma = fit_floor(ratios)
    print(f"busy windows: {len(fleet)} fleet + {len(runner)} runner (fit seeds)")
    print(f"FLOOR_LOG_MEAN = {mean:.4f}  FLOOR_LOG_SIGMA = {sigma:.4f}")
    print(f"lowest ratio {min(ratios):.4f}, highest {max(ratios):.4f}")
    print(f"limit at 0.005/cluster-year: {plausibility_limit(log_mean=mean, log_sigma=sigma):.4f}")


if __name__ == "__main__":
    main()
