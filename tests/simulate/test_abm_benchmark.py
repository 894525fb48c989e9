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
    beside the simulated ones, and its JSON holds both timings, the rates with intervals and the
    verdict of each agreement check (decision share and violation rate, Mesa and NumPy)."""
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
    # The verdict is asserted: every agreement check passed, and the exit code says so.
    assert figures["passed"] is True
    assert set(figures["checks"]) == {
        "mesa_defect_share",
        "mesa_violation_rate",
        "numpy_defect_share",
        "numpy_violation_rate",
    }
    assert all(check["passed"] for check in figures["checks"].values())
    assert "MISS" not in done.stdout


def _bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "deterrence_abm.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_the_benchmark_exits_1_when_the_rates_disagree_and_main_stays_callable(
    tmp_path: Path,
) -> None:
    """The agreement checks decide the exit code: allowing no sampling error at all (--z 0) no
    simulated rate can equal the closed form's exactly, so the benchmark prints MISS and exits 1;
    main(argv) called from another script returns the figures with passed false, exiting nothing."""
    tiny = ("--agents", "10", "--periods", "12", "--replications", "3", "--seed", "5")
    out = tmp_path / "figures.json"
    done = _bench(tmp_path, *tiny, "--z", "0", "--json", str(out))
    assert done.returncode == 1, done.stderr[-3000:]
    assert "MISS" in done.stdout
    assert json.loads(out.read_text())["passed"] is False
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
        "import deterrence_abm\n"
        f"figures = deterrence_abm.main({[*tiny, '--z', '0']!r})\n"
        "print('returned', figures['passed'])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    called = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert called.returncode == 0, called.stderr[-3000:]
    assert "returned False" in called.stdout
