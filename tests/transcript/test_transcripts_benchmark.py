"""benchmarks/transcripts.py runs end to end, tiny, and reports every figure the issue asks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_benchmark_reports_every_attack_at_every_budget(tmp_path: Path) -> None:
    """With --count 3 the benchmark exits 0 and its JSON holds a row per attack and budget with
    the detection rate, its Wilson interval and the theory, the honest audits (at the
    run's and another thread count, none rejected), throughput and Ray's overhead; every
    attack the theory says is caught at any budget is caught in every trial."""
    out = tmp_path / "figures.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "transcripts.py"),
            *("--count", "3", "--steps", "40", "--every", "2", "--ray-tasks", "20"),
            *("--json", str(out)),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["config"]["segments"] == 20
    rows = figures["attacks"]
    attacks = {r["spoof"] for r in rows}
    assert attacks == {
        "interpolation",
        "forged_hyperparameter",
        "data_subtraction",
        "skipped_compute",
        "reordered_batches",
        "swapped_final",
        "foreign_init",
    }
    assert {r["budget"] for r in rows} == {0.01, 0.02, 0.05}
    for row in rows:
        assert row["trials"] == 3
        # Wilson's bounds at 0 or n successes sit on the estimate up to rounding.
        assert 0 <= row["low"] <= row["rate"] + 1e-12
        assert row["rate"] - 1e-12 <= row["high"] <= 1
        assert 0 <= row["theory"] <= 1
        assert row["detected"] == round(row["rate"] * 3)
    always = [r for r in rows if r["forged_segments"] is None]
    assert always
    assert all(r["detected"] == 3 for r in always)
    honest = figures["honest"]
    assert honest["audits"] == 9
    assert sorted(honest["rejected_by_budget"]) == ["0.01", "0.02", "0.05"]
    assert sum(honest["rejected_by_budget"].values()) == honest["rejected"]
    assert honest["rejected"] == 0
    assert figures["honest_other_threads"]["rejected"] == 0
    assert figures["honest_other_threads"]["audits"] == 3
    throughput = figures["throughput"]
    assert throughput["train_steps_per_s"] > 0
    assert throughput["replay_steps_per_s"] > 0
    if figures["ray"] is not None:
        assert figures["ray"]["tasks"] == 20
    assert f"false rejections: {honest['rejected']}/9 honest audits" in done.stdout
