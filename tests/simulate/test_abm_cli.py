"""``pausewatch simulate abm`` as a subprocess: JSON figures with intervals, plots, one-line errors,
and a clear line when Mesa is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from deterrence_reports import (  # type: ignore[import-not-found]
    REAL_REPORT,
    constructed_report,
    write_report,
)

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


def _report(tmp_path: Path) -> Path:
    """The constructed report, plus a kind the ABM does not model and a kind whose figure is a
    bare probability (no interval)."""
    report = constructed_report()
    report["kinds"]["rowhammer"] = {"detection_before_completion": {"estimate": 0.5}}
    report["kinds"]["mistagged"] = {"detection_before_completion": 0.7}
    return write_report(tmp_path / "report.json", report)


def _run_detection(p: float, looks: int) -> float:
    return 1.0 - (1.0 - p) ** looks


def test_evaluation_gives_each_kind_its_detection_before_completion(tmp_path: Path) -> None:
    """--evaluation takes each kind's estimate of detection before completion and turns it
    into the detection per inspection that gives it over --run-periods x --inspections looks;
    kinds the report gives no figure keep --detection and are named, as are report kinds the
    ABM does not model; --kind-detection still overrides."""
    args = (*SMALL, "--run-periods", "3", "--inspections", "2", "--detection", "0.05")
    done = _cli(
        *args, "--evaluation", str(_report(tmp_path)),
        "--kind-detection", "undeclared_training=0.4", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    detection = figures["config"]["detection"]
    assert _run_detection(detection["hidden_facility"], 6) == pytest.approx(1 / 3)
    assert detection["going_dark"] == 1.0  # found below the threshold: judged on every size
    assert detection["undeclared_training"] == 0.4
    assert detection["diversion"] == 0.05
    taken = figures["evaluation"]
    assert taken["figure"] == "estimate"
    assert taken["kinds"]["hidden_facility"]["detection_before_completion"] == pytest.approx(1 / 3)
    assert taken["kinds"]["going_dark"]["judged_on"] == "all_sizes"
    assert taken["not_modelled"] == ["rowhammer"]
    assert taken["overridden"] == ["undeclared_training"]
    assert "diversion" in taken["lacking"]
    assert "hidden_facility" not in taken["lacking"]
    text = _cli(*args, "--evaluation", str(_report(tmp_path)))
    assert text.returncode == 0, text.stderr
    assert "the report gives no figure for" in text.stdout
    assert "not modelled by the ABM: rowhammer" in text.stdout


def test_the_pessimistic_figure_and_the_interval_as_a_range(tmp_path: Path) -> None:
    """--pessimistic takes each kind's interval's lower bound; --evaluation-range draws it
    from the whole interval per replication (LOW:HIGH, both ends mapped per inspection); a
    figure without an interval is taken as it is and named."""
    report = _report(tmp_path)
    interval = constructed_report()["kinds"]["hidden_facility"]["detection_before_completion"][
        "wilson"
    ]
    low = json.loads(_cli(*SMALL, "--evaluation", str(report), "--pessimistic", "--json").stdout)
    assert low["evaluation"]["figure"] == "lower_bound"
    assert _run_detection(low["config"]["detection"]["hidden_facility"], 3) == pytest.approx(
        interval[0]
    )
    ranged = json.loads(
        _cli(*SMALL, "--evaluation", str(report), "--evaluation-range", "--json").stdout
    )
    lo, hi = ranged["config"]["detection"]["hidden_facility"]
    assert (_run_detection(lo, 3), _run_detection(hi, 3)) == pytest.approx(tuple(interval))
    # A figure without an interval is taken as it is, and named.
    assert ranged["evaluation"]["without_interval"] == ["mistagged"]
    assert _run_detection(ranged["config"]["detection"]["mistagged"], 3) == pytest.approx(0.7)


def test_the_real_report_names_the_kinds_it_lacks() -> None:
    """The report of four scenarios played the real way measured three kinds; the six others
    are named as lacking and keep --detection."""
    done = _cli(*SMALL, "--evaluation", str(REAL_REPORT), "--json")
    assert done.returncode == 0, done.stderr
    taken = json.loads(done.stdout)["evaluation"]
    assert sorted(taken["kinds"]) == [
        "hidden_facility",
        "undeclared_training",
        "unregistered_chips",
    ]
    assert len(taken["lacking"]) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--pessimistic",), "--pessimistic goes only with --evaluation REPORT.json"),
        (("--evaluation-range",), "--evaluation-range goes only with --evaluation"),
        (("--evaluation", "REPORT", "--pessimistic", "--evaluation-range"), "at most one of"),
        (("--evaluation", "REPORT", "--inspections", "0"), "needs --inspections at least 1"),
        (("--evaluation", "/nonexistent/report.json"), "cannot read the evaluation report"),
    ],
)
def test_bad_evaluation_options_are_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """A report flag without a report, both figures at once, no inspections, or a report that
    cannot be read: one line, exit 1, nothing on stdout."""
    report = str(_report(tmp_path))
    done = _cli(*SMALL, *(report if a == "REPORT" else a for a in args))
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == ""
