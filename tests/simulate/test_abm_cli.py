"""``pausewatch simulate abm`` as a subprocess: JSON figures with intervals, plots, one-line errors,
and a clear line when Mesa is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mesa")

SRC = Path(__file__).resolve().parents[2] / "src"
SMALL = ("--agents", "20", "--parties", "4", "--periods", "24", "--replications", "4")


def _cli(*args: str, pythonpath: str = str(SRC)) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run(
        [sys.executable, "-m", "pausewatch.cli", "simulate", "abm", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_json_gives_every_figure_with_an_interval_and_is_reproducible() -> None:
    """--json prints the violation rate over time with its band, time to detection, how often
    the pause held and how often detections cascaded, each with an interval; the same seed gives
    the same output, and per-kind detections and the policy's withdrawal notice are taken."""
    args = (
        *SMALL,
        *("--seed", "3", "--prize", "0.5:2", "--detection", "0.1:0.3"),
        *("--kind-detection", "going_dark=0.01", "--policy", "miri-2025", "--json"),
    )
    done = _cli(*args)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["replications"] == 4
    assert figures["seed"] == 3
    assert figures["config"]["prize"] == [0.5, 2.0]
    assert figures["config"]["detection"]["going_dark"] == 0.01
    assert figures["config"]["detection"]["mistagged"] == [0.1, 0.3]
    assert figures["config"]["withdrawal_notice"] == 12
    assert len(figures["violation_rate_by_period"]["mean"]) == 24
    for key in ("pause_held", "cascades", "withdrawals", "detected", "defect_decisions"):
        assert {"rate", "low", "high", "count", "of"} <= set(figures[key])
    assert figures["defections_by_kind"]["going_dark"] == figures["defections"] > 0
    assert figures["closed_form"]["weakest_kind"] == "going_dark"
    assert "lag_periods" in figures["time_to_detection"]
    again = _cli(*args)
    assert again.stdout == done.stdout


def test_text_output_states_the_figures_beside_the_closed_form() -> None:
    """Without --json the command prints the violation rate beside the closed form's and says
    whether the median lab is deterred."""
    done = _cli(*SMALL, "--seed", "1")
    assert done.returncode == 0, done.stderr
    assert "violation rate (share of lab-periods)" in done.stdout
    assert "closed form" in done.stdout
    assert "the median lab is deterred" in done.stdout


def test_plots_are_written_as_offline_html_and_as_png(tmp_path: Path) -> None:
    """--plot FILE.html writes a page with plotly.js inline (no script loaded from the network);
    --plot FILE.png a PNG image."""
    page = tmp_path / "abm.html"
    done = _cli(*SMALL, "--plot", str(page), "--json")
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    assert "Plotly.newPlot" in text
    assert '<script src="http' not in text
    assert "Time to detection" in text
    picture = tmp_path / "abm.png"
    done = _cli(*SMALL, "--plot", str(picture))
    assert done.returncode == 0, done.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--prize", "lots"), "--prize must be a number or LOW:HIGH, got 'lots'"),
        (("--detection", "1.5"), "detection of undeclared_training must be between 0 and 1"),
        (("--kind-detection", "teleport=0.1"), "--kind-detection: unknown kind 'teleport'"),
        (("--kind-detection", "going_dark"), "--kind-detection must be KIND=P"),
        (("--agents", "0"), "agents must be a whole number at least 1"),
        (("--replications", "0"), "--replications must be at least 1"),
        (("--policy", "no-such-policy"), "no policy file or preset named 'no-such-policy'"),
        (("--plot", "out.svg"), "--plot must name a .html or .png file"),
        (("--seed", "-1"), "--seed must be a whole number at least 0, got -1"),
        (("--prize", "1e308", "--penalty", "1e308"), "prize must be at most 1e+15"),
        (("--penalty", "1e300"), "penalty must be at most 1e+15"),
        (("--prize", "nan"), "prize must be a finite number, got nan"),
        (("--detection", "0.1:inf"), "detection of undeclared_training must be a finite number"),
        (("--prize-spread", "nan"), "prize_spread must be a finite number, got nan"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(args: tuple[str, ...], message: str) -> None:
    """A bad option prints one error line naming it and exits 1, with nothing on stdout."""
    done = _cli(*args)
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""


def test_without_mesa_the_command_names_the_simulate_extra(tmp_path: Path) -> None:
    """With Mesa not importable the command prints one line naming the simulate extra, exit 1."""
    shadow = tmp_path / "shadow" / "mesa"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named mesa')\n")
    done = _cli(*SMALL, pythonpath=f"{shadow.parent}{os.pathsep}{SRC}")
    assert done.returncode == 1
    assert "install the simulate extra" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
