"""benchmarks/run_totals.py runs end to end, small, and finds the fold's rows and members
saying what the rows with the lists in them say (docs/adr/0064)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_folds_both_ways_and_finds_the_same_totals_and_members() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run_totals.py"),
            *("--sizes", "50,2000", "--batch", "20", "--repeat", "3"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "chips in the run" in line]
    assert len(lines) == 4  # seen chips, then joining chips, at each size
    assert all("the same totals and members: yes" in line for line in lines)
    assert "2,000 chips in the run" in lines[1]
    assert "2,000 chips in the run" in lines[3]
