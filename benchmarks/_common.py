"""Helpers shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def child_env(drop: str | None = "PAUSEWATCH_") -> dict[str, str]:
    """This process's environment for a child started in another directory: each relative
    ``PYTHONPATH`` entry made absolute (``PYTHONPATH=src`` would otherwise name the child's
    own ``src``, and the child would import whatever copy of pausewatch the virtual environment
    points at, not this checkout's), and the variables starting with ``drop`` left out."""
    env = {k: v for k, v in os.environ.items() if drop is None or not k.startswith(drop)}
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(p) if p else p for p in env["PYTHONPATH"].split(os.pathsep)
        )
    return env


def write_json(path: str | None, figures: dict[str, Any]) -> None:
    """Write the figures as JSON when ``--json FILE`` was given."""
    if path:
        Path(path).write_text(
            json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``ordered`` (sorted, not empty) by nearest rank."""
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


def stats_us(samples_ns: Sequence[int]) -> dict[str, float]:
    """Mean, median, p99 and max of per-call timings, in µs."""
    ordered = sorted(samples_ns)
    n = len(ordered)
    if not n:
        return {"calls": 0.0, "mean_us": 0.0, "p50_us": 0.0, "p99_us": 0.0, "max_us": 0.0}
    return {
        "calls": float(n),
        "mean_us": sum(ordered) / n / 1000,
        "p50_us": ordered[(n - 1) // 2] / 1000,
        "p99_us": ordered[max(0, math.ceil(0.99 * n) - 1)] / 1000,
        "max_us": ordered[-1] / 1000,
    }
