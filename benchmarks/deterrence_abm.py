"""The agent-based model of the pause (issue 18 §3 and §4, docs/deterrence-abm.md): the time of a
Monte Carlo of ``--agents`` labs over ``--periods`` periods with ``--replications`` replications
(at least 100 x 120 x 100 by default), in agent-steps per second, and the simulated violation rate
beside the closed form's prediction (inspector leadership with lognormal prizes, no contagion).

Reference, measured in the same run: a plain NumPy simulation of the same decision rule and the
same draws' distributions (no Mesa, every lab of a period at once), its agent-steps per second and
its violation rate. Both simulations' share of decisions to defect and violation rate away from
the ends must agree with the closed form within ``--z`` (3) standard errors (the share: Wilson's
interval, its decisions being independent trials in this regime; the rate: its mean over the
independent replications, with Student's t): the script exits 1 otherwise, and ``main(argv)``
returns the figures with ``passed``.

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
) -> tuple[float, list[tuple[int, int]], np.ndarray[Any, np.dtype[np.float64]]]:
    """The same rule, vectorised over labs (no contagion, no withdrawal): returns the seconds it
    took, each replication's (decisions to defect, decisions) and its labs violating per period
    as a share (replications x periods)."""
    rng = np.random.default_rng(seed)
    p = inputs.per_period(inputs.weakest())
    caught = inputs.run_detection(inputs.weakest())
    comply = -inputs.false_alarm_cost * inputs.false_alarm_window
    started = time.perf_counter()
    by_period = np.zeros((replications, cfg.periods))
    shares: list[tuple[int, int]] = []
    for r in range(replications):
        elapsed = np.zeros(cfg.agents, dtype=np.int64)
        running = np.zeros(cfg.agents, dtype=bool)
        decisions = defects = 0
        for period in range(1, cfg.periods + 1):
            idle = ~running
            if cfg.periods - period + 1 >= cfg.run_periods:
                gain = inputs.prize * np.exp(cfg.prize_spread * rng.standard_normal(cfg.agents))
                start = idle & ((1 - caught) * gain - caught * inputs.penalty > comply)
                decisions += int(idle.sum())
                defects += int(start.sum())
                running |= start
                elapsed[start] = 0
            by_period[r, period - 1] = running.sum() / cfg.agents
            elapsed[running] += 1
            detected = running & (rng.random(cfg.agents) < p)
            done = running & ~detected & (elapsed >= cfg.run_periods)
            running &= ~(detected | done)
        shares.append((defects, decisions))
    return time.perf_counter() - started, shares, by_period


def agreement(values: Sequence[float], expected: float, z: float) -> dict[str, Any]:
    """Whether the mean of independent replications' figures agrees with ``expected`` within
    the interval a normal's ``z`` standard errors would cover, widened to Student's t for the
    standard error estimated from few replications (the replications share fixed inputs and,
    without contagion, nothing else, so they are independent draws of the same figure)."""
    from scipy import stats

    array = np.array(values, dtype=np.float64)
    mean = float(array.mean())
    error = float(array.std(ddof=1) / np.sqrt(array.size))
    factor = float(stats.t.ppf(stats.norm.cdf(z), array.size - 1)) if z > 0 else 0.0
    low, high = mean - factor * error, mean + factor * error
    return {
        "mean": mean,
        "standard_error": error,
        "interval": f"mean +/- {factor:.3g} s.e. (Student's t for z = {z:g})",
        "low": low,
        "high": high,
        "expected": expected,
        "passed": bool(low <= expected <= high),
    }


def binomial_agreement(
    shares: Sequence[tuple[int, int]], expected: float, z: float
) -> dict[str, Any]:
    """Whether the pooled share of decisions to defect agrees with ``expected`` within Wilson's
    interval at ``z``: here, and only here, the decisions are independent trials (fixed inputs,
    no contagion, no collapse, each decision its own prize draw), unlike in a Monte Carlo over
    ranges with contagion."""
    count = sum(k for k, _ in shares)
    trials = sum(n for _, n in shares)
    low, high = wilson(count, trials, z) if z > 0 else (count / trials, count / trials)
    return {
        "mean": count / trials,
        "count": count,
        "of": trials,
        "low": low,
        "high": high,
        "interval": f"Wilson, z = {z:g}",
        "expected": expected,
        "passed": bool(low <= expected <= high),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its figures and return them, with ``passed`` true when every
    simulated rate agrees with the closed form (the script exits 1 otherwise)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--periods", type=int, default=120)
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--z",
        type=float,
        default=3.0,
        help="How many standard errors (across replications) an agreement allows (default 3).",
    )
    parser.add_argument("--json", metavar="FILE", help="Write the figures as JSON to FILE.")
    args = parser.parse_args(argv)
    if args.replications < 2:
        parser.error("--replications must be at least 2 (a standard error needs two)")

    # Loaded before the clock starts: the model's first import (Mesa's) is no replication's cost.
    import pausewatch.simulate.abm_model  # noqa: F401

    cfg = config(args.agents, args.periods)
    inputs = cfg.central()
    steps = args.agents * args.periods * args.replications
    started = time.perf_counter()
    summary = monte_carlo(cfg, args.replications, args.seed)
    mesa_s = time.perf_counter() - started
    np_s, np_shares, np_by_period = numpy_reference(cfg, inputs, args.replications, args.seed)

    figures = summary.to_json()
    predicted_rate = predicted_violation_rate(inputs, cfg.prize_spread)
    predicted_share = predicted_defect_share(inputs, cfg.prize_spread)
    rate = figures["violation_rate"]
    # The closed form is a steady state: leave out a run's length at each end (the first runs
    # starting together, and no run starting that cannot complete before expiry).
    trim = cfg.run_periods
    window = slice(trim, -trim) if args.periods > 2 * trim else slice(None)
    mesa_by_period = np.array([r.violation_rate for r in summary.runs])
    steady = float(mesa_by_period[:, window].mean())
    share = figures["defect_decisions"]
    np_rates = np_by_period.mean(axis=1)
    np_low, np_high = np.percentile(np_rates, [2.5, 97.5])
    checks = {
        "mesa_defect_share": binomial_agreement(
            [(r.defect_decisions, r.decisions) for r in summary.runs], predicted_share, args.z
        ),
        "mesa_violation_rate": agreement(
            list(mesa_by_period[:, window].mean(axis=1)), predicted_rate, args.z
        ),
        "numpy_defect_share": binomial_agreement(np_shares, predicted_share, args.z),
        "numpy_violation_rate": agreement(
            list(np_by_period[:, window].mean(axis=1)), predicted_rate, args.z
        ),
    }
    passed = all(check["passed"] for check in checks.values())
    np_defects = sum(k for k, _ in np_shares)
    np_decisions = sum(n for _, n in np_shares)
    result: dict[str, Any] = {
        "config": {
            "agents": args.agents,
            "periods": args.periods,
            "replications": args.replications,
            "seed": args.seed,
            "z": args.z,
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
            "steady_violation_rate": float(np_by_period[:, window].mean()),
            "defect_share": {
                "rate": np_defects / np_decisions if np_decisions else None,
                "count": np_defects,
                "of": np_decisions,
            },
        },
        "checks": checks,
        "passed": passed,
    }
    print(
        f"ABM (Mesa): {args.replications} replications x {args.agents} labs x {args.periods} "
        f"periods = {steps} agent-steps in {mesa_s:.2f} s: {steps / mesa_s:,.0f} agent-steps/s; "
        f"NumPy reference (same rule, vectorised): {steps / np_s:,.0f} agent-steps/s "
        f"(Mesa takes {mesa_s / np_s:.3g} times as long)"
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
    labels = {
        "mesa_defect_share": "decisions to defect, Mesa",
        "numpy_defect_share": "decisions to defect, NumPy",
        "mesa_violation_rate": "violation rate away from the ends, Mesa",
        "numpy_violation_rate": "violation rate away from the ends, NumPy",
    }
    for key, label in labels.items():
        check = checks[key]
        print(
            f"{label}: simulated {check['mean']:.4f} [{check['low']:.4f}, {check['high']:.4f}] "
            f"({check['interval']}), closed form {check['expected']:.4f}: "
            f"{verdict(check['passed'])}"
        )
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    raise SystemExit(0 if main()["passed"] else 1)
