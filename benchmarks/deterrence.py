"""The inspection games' closed forms timed (issue 18, docs/deterrence.md): a full sweep of the
inspector-leadership threshold through the product's functions against a plain NumPy
evaluation of the same closed form in the same run, and Dresher's table by both methods.

1. The sweep: ``--detection-points`` x ``--ratio-points`` x the false-alarm rates x the
   false-alarm cost ratios (default 51 x 41 x 5 x 2 = 20,910 points), evaluated
   (a) by :func:`pausewatch.simulate.games.sweep` (vectorised, validated, with a progress
   callback), (b) point by point through :func:`pausewatch.simulate.inspection.assess`, and
   (c) the reference: one broadcast NumPy expression ``d - (r + eta*alpha)/(r + 1)``. All three
   must agree to 1e-12 on every point (the benchmark exits 1 otherwise).
2. Dresher's table, v(n, m) for every 1 <= n <= ``--periods`` and 0 <= m <= n, in exact
   rationals at penalty ``--penalty``: by backward induction over the 2x2 stage games
   (:func:`pausewatch.simulate.games.dresher_table`) against von Stengel's closed form
   (:func:`pausewatch.simulate.games.dresher_value`); every entry must be equal.

3. The agent-based model: 100 labs over 120 periods with 100 replications (``--abm-agents``,
   ``--abm-periods``, ``--abm-replications``), timed, beside a plain NumPy simulation of the
   same decision rule and the closed form's violation rate (``benchmarks/deterrence_abm.py``,
   whose checks decide the exit code too); ``--no-abm`` leaves it out.

Each timing is the best of ``--repeat`` runs. Run ``.venv/bin/python benchmarks/deterrence.py``
(a few seconds); ``--json FILE`` writes the figures. :func:`main` takes ``argv`` so that another
benchmark can call it.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from _common import verdict, write_json
from pausewatch.simulate.games import dresher_table, dresher_value, sweep
from pausewatch.simulate.inspection import assess


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest wall time of ``repeat`` calls (s), and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def numpy_margin(
    d: npt.NDArray[np.float64],
    r: npt.NDArray[np.float64],
    a: npt.NDArray[np.float64],
    h: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """The reference: the whole grid's margin as one broadcast expression."""
    required = (r[:, None, None] + h[None, None, :] * a[None, :, None]) / (r[:, None, None] + 1.0)
    return np.asarray(d[:, None, None, None] - required[None, ...], dtype=np.float64)


def per_point(
    d: Sequence[float], r: Sequence[float], a: Sequence[float], h: Sequence[float]
) -> npt.NDArray[np.float64]:
    """The product's scalar path: one :func:`assess` call per point (penalty 1)."""
    out = np.empty((len(d), len(r), len(a), len(h)))
    for (i, dd), (j, rr), (k, aa), (m, hh) in itertools.product(
        enumerate(d), enumerate(r), enumerate(a), enumerate(h)
    ):
        out[i, j, k, m] = assess(rr, 1.0, hh, aa, dd).margin
    return out


def closed_table(periods: int, b: Fraction) -> list[list[Fraction]]:
    """Dresher's table from the closed form, entry by entry."""
    return [
        [dresher_value(n, m, b) if n else Fraction(0) for m in range(periods + 1)]
        for n in range(periods + 1)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every computation agrees with its reference."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detection-points", type=int, default=51)
    parser.add_argument("--ratio-points", type=int, default=41)
    parser.add_argument("--rates", default="0,0.01,0.05,0.1,0.2")
    parser.add_argument("--costs", default="0,1")
    parser.add_argument("--periods", type=int, default=60)
    parser.add_argument("--penalty", default="1")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--abm-agents", type=int, default=100)
    parser.add_argument("--abm-periods", type=int, default=120)
    parser.add_argument("--abm-replications", type=int, default=100)
    parser.add_argument("--no-abm", action="store_true", help="Leave the ABM run out.")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)

    d = np.linspace(0.0, 1.0, args.detection_points)
    r = np.logspace(-2, 2, args.ratio_points)
    a = np.array([float(x) for x in args.rates.split(",")])
    h = np.array([float(x) for x in args.costs.split(",")])
    points = d.size * r.size * a.size * h.size
    repeat = max(1, args.repeat)

    t_sweep, result = best_of(repeat, lambda: sweep(list(d), list(r), list(a), list(h)))
    t_numpy, reference = best_of(repeat, lambda: numpy_margin(d, r, a, h))
    t_scalar, scalar = best_of(1, lambda: per_point(list(d), list(r), list(a), list(h)))
    diff_sweep = float(np.max(np.abs(result.margin - reference)))
    diff_scalar = float(np.max(np.abs(scalar - reference)))
    sweep_ok = diff_sweep <= 1e-12 and diff_scalar <= 1e-12

    b = Fraction(args.penalty)
    t_induction, induced = best_of(repeat, lambda: dresher_table(args.periods, args.periods, b))
    t_closed, closed = best_of(repeat, lambda: closed_table(args.periods, b))
    entries = sum(n + 1 for n in range(1, args.periods + 1))
    mismatches = sum(
        induced[n][m] != closed[n][m] for n in range(1, args.periods + 1) for m in range(n + 1)
    )

    print(f"sweep of {points:,} parameter points (best of {repeat})")
    print(
        f"  sweep() (product, vectorised):   {t_sweep * 1e3:9.3f} ms  "
        f"{points / t_sweep:14,.0f} points/s"
    )
    print(
        f"  assess() per point (product):    {t_scalar * 1e3:9.3f} ms  "
        f"{points / t_scalar:14,.0f} points/s (one run)"
    )
    print(
        f"  plain NumPy (reference):         {t_numpy * 1e3:9.3f} ms  "
        f"{points / t_numpy:14,.0f} points/s"
    )
    print(
        f"  sweep() / NumPy: {t_sweep / t_numpy:.2f}x   assess() / NumPy: "
        f"{t_scalar / t_numpy:.0f}x   max |difference|: {diff_sweep:.1e} (sweep), "
        f"{diff_scalar:.1e} (assess)  {verdict(sweep_ok)}"
    )
    print(f"Dresher's table, n <= {args.periods}, m <= n ({entries:,} entries, b = {b})")
    print(f"  backward induction (product):    {t_induction * 1e3:9.3f} ms")
    print(f"  closed form (reference):         {t_closed * 1e3:9.3f} ms")
    print(
        f"  induction / closed form: {t_induction / t_closed:.2f}x   entries differing: "
        f"{mismatches}  {verdict(mismatches == 0)}"
    )

    figures: dict[str, Any] = {
        "config": {
            "points": points,
            "detection_points": int(d.size),
            "ratio_points": int(r.size),
            "false_alarm_rates": a.tolist(),
            "false_alarm_cost_ratios": h.tolist(),
            "periods": args.periods,
            "penalty": str(b),
            "repeat": repeat,
        },
        "sweep": {
            "sweep_s": t_sweep,
            "assess_per_point_s": t_scalar,
            "numpy_s": t_numpy,
            "sweep_over_numpy": t_sweep / t_numpy,
            "assess_over_numpy": t_scalar / t_numpy,
            "max_difference_sweep": diff_sweep,
            "max_difference_assess": diff_scalar,
            "deterred": int(result.deterred.sum()),
            "agree": sweep_ok,
        },
        "dresher": {
            "entries": entries,
            "backward_induction_s": t_induction,
            "closed_form_s": t_closed,
            "induction_over_closed_form": t_induction / t_closed,
            "mismatches": mismatches,
            "value": str(induced[args.periods][args.periods // 2]),
            "value_at": [args.periods, args.periods // 2],
        },
    }
    abm_ok = True
    if not args.no_abm:
        from deterrence_abm import main as abm_main

        print(
            f"agent-based model, {args.abm_agents} labs x {args.abm_periods} periods x "
            f"{args.abm_replications} replications (benchmarks/deterrence_abm.py)"
        )
        abm = abm_main(
            [
                *("--agents", str(args.abm_agents), "--periods", str(args.abm_periods)),
                *("--replications", str(args.abm_replications)),
            ]
        )
        abm_ok = bool(abm["passed"])
        figures["abm"] = abm
    write_json(args.json, figures)
    return 0 if sweep_ok and mismatches == 0 and abm_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
