"""benchmarks/deterrence.py runs end to end on a tiny grid and reports every figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_reports_the_sweep_and_dresher_table(tmp_path: Path) -> None:
    """With a 3 x 4 x 2 x 1 grid, n <= 6 and a tiny agent-based run the benchmark exits 0,
    prints each timing beside its NumPy or closed-form reference, and its JSON shows that every
    computation agrees, the agent-based model's checks included."""
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "deterrence.py"),
            *("--detection-points", "3", "--ratio-points", "4", "--rates", "0,0.1"),
            *("--costs", "1", "--periods", "6", "--penalty", "1/3", "--repeat", "1"),
            *("--abm-agents", "10", "--abm-periods", "12", "--abm-replications", "3"),
            *("--json", str(out)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["config"]["points"] == 24
    assert figures["sweep"]["agree"] is True
    assert figures["sweep"]["max_difference_sweep"] == 0
    assert figures["dresher"]["entries"] == 27
    assert figures["dresher"]["mismatches"] == 0
    # v(6, 3) at b = 1/3: C(5,3) / (b^3 + 6 b^2 + 15 b + 20) = 10 / (694/27) = 135/347.
    assert figures["dresher"]["value"] == "135/347"
    assert "plain NumPy (reference)" in done.stdout
    assert "closed form (reference)" in done.stdout
    assert figures["abm"]["passed"] is True
    assert figures["abm"]["config"]["agents"] == 10
    assert "agent-based model, 10 labs x 12 periods x 3 replications" in done.stdout
    assert "PASS" in done.stdout
    assert "MISS" not in done.stdout
