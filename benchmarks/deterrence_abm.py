"""The agent-based model of the pause (issue 18 §3 and §4, docs/deterrence-abm.md): the time of a
Monte Carlo of ``--agents`` labs over ``--periods`` periods with ``--replications`` replications
(at least 100 x 120 x 100 by default), in agent-steps per second, and the simulated violation rate
beside the closed form's prediction (inspector leadership with lognormal prizes, no contagion).

Reference, measured in the same run: a plain NumPy simulation of the same decision rule and the
same draws' distributions (no Mesa, every lab of a period at once), its agent-steps per second and
its violation rate; both simulated rates must agree with the closed form within their intervals.

The regime is chosen to deter some labs and not others (per inspection 0.1, one inspection a
period, runs of 3 periods, prize 1 with spread 0.5, penalty 2.5): a rate that is neither 0 nor 1
is the one that tests the agreement. Contagion is off so that the closed form applies.

Run ``PYTHONPATH=src .venv/bin/python benchmarks/deterrence_abm.py``; ``--json FILE`` writes the
figures; ``--agents 10 --periods 12 --replications 3`` for a smoke run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from _common import verdict, write_json
from pausewatch.simulate.abm import (
    KINDS,
    AbmConfig,
    Inputs,
    Range,
    monte_carlo,
    predicted_defect_share,
    predicted_violation_rate,
    wilson,
)


def config(agents: int, periods: int) -> AbmConfig:
    """The benchmark's regime (module docstring)."""
    return AbmConfig(
        agents=agents,
        parties=max(1, min(10, agents)),
        periods=periods,
        run_periods=3,
        inspections=1,
        detection={kind: Range.fixed(0.1) for kind in KINDS},
        prize=Range.fixed(1.0),
        penalty=Range.fixed(2.5),
        prize_spread=0.5,
        contagion=0.0,
        collapse_share=1.0,
    )


def numpy_reference(
    cfg: AbmConfig, inputs: Inputs, replications: int, seed: int
) -> tuple[float, int, int, np.ndarray[Any, np.dtype[np.float64]]]:
    """The same rule, vectorised over labs (no contagion, no withdrawal): returns the seconds it
    took, the decisions, the decisions to defect and the violation rate per replication."""
    rng = np.random.default_rng(seed)
    p = inputs.per_period(inputs.weakest())
    caught = inputs.run_detection(inputs.weakest())
    comply = -inputs.false_alarm_cost * inputs.false_alarm_window
    started = time.perf_counter()
    rates = np.empty(replications)
    decisions = defects = 0
    for r in range(replications):
        elapsed = np.zeros(cfg.agents, dtype=np.int64)
        running = np.zeros(cfg.agents, dtype=bool)
        violating = 0
        for period in range(1, cfg.periods + 1):
            idle = ~running
            if cfg.periods - period + 1 >= cfg.run_periods:
                gain = inputs.prize * np.exp(cfg.prize_spread * rng.standard_normal(cfg.agents))
                start = idle & ((1 - caught) * gain - caught * inputs.penalty > comply)
                decisions += int(idle.sum())
                defects += int(start.sum())
                running |= start
                elapsed[start] = 0
            violating += int(running.sum())
            elapsed[running] += 1
            detected = running & (rng.random(cfg.agents) < p)
            done = running & ~detected & (elapsed >= cfg.run_periods)
            running &= ~(detected | done)
        rates[r] = violating / (cfg.agents * cfg.periods)
    return time.perf_counter() - started, decisions, defects, rates


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its figures and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--periods", type=int, default=120)
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--json", metavar="FILE", help="Write the figures as JSON to FILE.")
    args = parser.parse_args(argv)

    # Loaded before the clock starts: the model's first import (Mesa's) is no replication's cost.
    import pausewatch.simulate.abm_model  # noqa: F401

    cfg = config(args.agents, args.periods)
    inputs = cfg.central()
    steps = args.agents * args.periods * args.replications
    started = time.perf_counter()
    summary = monte_carlo(cfg, args.replications, args.seed)
    mesa_s = time.perf_counter() - started
    np_s, np_decisions, np_defects, np_rates = numpy_reference(
        cfg, inputs, args.replications, args.seed
    )

    figures = summary.to_json()
    predicted_rate = predicted_violation_rate(inputs, cfg.prize_spread)
    predicted_share = predicted_defect_share(inputs, cfg.prize_spread)
    rate = figures["violation_rate"]
    # The closed form is a steady state: leave out a run's length at each end (the first runs
    # starting together, and no run starting that cannot complete before expiry).
    trim = cfg.run_periods
    by_period = np.array(figures["violation_rate_by_period"]["mean"])
    steady = float(by_period[trim:-trim].mean()) if by_period.size > 2 * trim else float("nan")
    share = figures["defect_decisions"]
    np_low, np_high = np.percentile(np_rates, [2.5, 97.5])
    np_share_low, np_share_high = wilson(np_defects, np_decisions)
    result: dict[str, Any] = {
        "config": {
            "agents": args.agents,
            "periods": args.periods,
            "replications": args.replications,
            "seed": args.seed,
            "agent_steps": steps,
        },
        "closed_form": {
            "required_detection": inputs.threshold(),
            "detection_before_completion": inputs.run_detection(inputs.weakest()),
            "defect_share": predicted_share,
            "violation_rate": predicted_rate,
        },
        "mesa": {
            "seconds": mesa_s,
            "agent_steps_per_s": steps / mesa_s,
            "violation_rate": rate,
            "steady_violation_rate": steady,
            "defect_share": share,
            "pause_held": figures["pause_held"],
            "time_to_detection": figures["time_to_detection"]["lag_periods"],
        },
        "numpy_reference": {
            "seconds": np_s,
            "agent_steps_per_s": steps / np_s,
            "violation_rate": {
                "mean": float(np_rates.mean()),
                "low": float(np_low),
                "high": float(np_high),
            },
            "defect_share": {
                "rate": np_defects / np_decisions if np_decisions else None,
                "low": np_share_low,
                "high": np_share_high,
            },
        },
    }
    agrees = share["low"] <= predicted_share <= share["high"]
    print(
        f"ABM (Mesa): {args.replications} replications x {args.agents} labs x {args.periods} "
        f"periods = {steps} agent-steps in {mesa_s:.2f} s: {steps / mesa_s:,.0f} agent-steps/s; "
        f"NumPy reference (same rule, vectorised): {steps / np_s:,.0f} agent-steps/s "
        f"({mesa_s / np_s:.0f}x faster)"
    )
    print(
        f"detection before completion {inputs.run_detection(inputs.weakest()):.3f} against the "
        f"closed form's threshold {inputs.threshold():.3f} for the median lab"
    )
    print(
        f"violation rate (lab-periods): simulated {rate['mean']:.4f} "
        f"[{rate['low']:.4f}, {rate['high']:.4f}] (NumPy {np_rates.mean():.4f}), closed form "
        f"{predicted_rate:.4f}; away from the ends (periods {trim + 1}..{args.periods - trim}) "
        f"simulated {steady:.4f}"
    )
    print(
        f"decisions to defect: simulated {share['rate']:.4f} [{share['low']:.4f}, "
        f"{share['high']:.4f}], closed form {predicted_share:.4f}: {verdict(agrees)}"
    )
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
