"""benchmarks/deterrence_abm.py runs end to end, tiny, and reports its figures beside the closed
form's and the NumPy reference's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mesa")

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_reports_throughput_and_the_closed_form_beside_the_simulation(
    tmp_path: Path,
) -> None:
    """With tiny sizes the benchmark exits 0, prints agent-steps/s and the closed form's rates
    beside the simulated ones, and its JSON holds both timings and the rates with intervals."""
    out = tmp_path / "figures.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "deterrence_abm.py"),
            *("--agents", "10", "--periods", "12", "--replications", "3", "--seed", "5"),
            *("--json", str(out)),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "agent-steps/s" in done.stdout
    assert "closed form" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["config"]["agent_steps"] == 10 * 12 * 3
    assert figures["mesa"]["agent_steps_per_s"] > 0
    assert figures["numpy_reference"]["agent_steps_per_s"] > 0
    closed = figures["closed_form"]
    assert 0 < closed["defect_share"] < 1
    assert closed["required_detection"] == pytest.approx((1 + 0) / (1 + 2.5))
    rate = figures["mesa"]["violation_rate"]
    assert rate["low"] <= rate["mean"] <= rate["high"]
    share = figures["mesa"]["defect_share"]
    assert share["low"] <= share["rate"] <= share["high"]
