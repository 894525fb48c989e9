"""``pausewatch simulate`` inspection-game commands as a real process: --json, text, plots and
one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAUSEWATCH = [sys.executable, "-m", "pausewatch.cli", "simulate"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [*PAUSEWATCH, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def run_json(*args: str) -> Any:
    r = run(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_deterrence_threshold_alone() -> None:
    """Without a detection figure the threshold (d + h*alpha)/(d + b) is printed alone."""
    data = run_json(
        "deterrence",
        *("--gain", "1", "--penalty", "4", "--false-alarm-cost", "2", "--false-alarm-rate", "0.05"),
    )
    assert data["required_detection"] == pytest.approx(0.22)
    assert data["source"] is None


def test_deterrence_with_a_detection_figure() -> None:
    """With --detection it says whether the inspectee is deterred and by what margin."""
    data = run_json(
        "deterrence",
        *("--gain", "1", "--penalty", "4", "--false-alarm-cost", "2", "--false-alarm-rate", "0.05"),
        *("--detection", "0.2"),
    )
    assert data["deterred"] is False
    assert data["margin"] == pytest.approx(-0.02)
    assert data["needed_penalty"] == pytest.approx(1.1 / 0.2 - 1)
    r = run("deterrence", "--gain", "1", "--penalty", "4", "--detection", "0.3")
    assert r.returncode == 0, r.stderr
    assert "deterred: detection 0.3 against 0.2 required (margin +0.1)" in r.stdout


def test_deterrence_chooses_alpha_on_a_roc(tmp_path: Path) -> None:
    """--roc FILE without --false-alarm-rate chooses the point with the best margin; with it,
    the detection is interpolated on the envelope."""
    roc = tmp_path / "roc.json"
    points = [(0.01, 0.3), (0.05, 0.6), (0.1, 0.7), (0.2, 0.72)]
    roc.write_text(json.dumps([{"false_alarm_rate": a, "detection": d} for a, d in points]))
    base = ("deterrence", "--gain", "1", "--penalty", "4", "--false-alarm-cost", "2")
    data = run_json(*base, "--roc", str(roc))
    assert (data["false_alarm_rate"], data["detection"], data["chosen"]) == (0.1, 0.7, True)
    assert data["margin"] == pytest.approx(0.46)
    data = run_json(*base, "--roc", str(roc), "--false-alarm-rate", "0.075")
    assert data["detection"] == pytest.approx(0.65)
    assert data["chosen"] is False


def test_deterrence_with_a_balance() -> None:
    """A balance of sigma 1 and a diversion of 3: deterred, at the chosen alpha."""
    data = run_json(
        "deterrence",
        *("--gain", "1", "--penalty", "4", "--false-alarm-cost", "2"),
        *("--balance-sigma", "1", "--loss", "3"),
    )
    assert data["deterred"] is True
    assert data["false_alarm_rate"] == pytest.approx(0.116128, abs=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--gain", "-1", "--penalty", "4"), "gain must be at least 0, got -1.0"),
        (("--gain", "1", "--penalty", "4", "--detection", "1.5"), "detection must be between"),
        (("--gain", "1", "--penalty", "4", "--detection", "0.5", "--loss", "1"), "at most one"),
        (("--gain", "1", "--penalty", "4", "--loss", "1"), "go together"),
        (("--gain", "1", "--penalty", "4", "--roc", "/nonexistent.json"), "cannot read the ROC"),
        (("--gain", "inf", "--penalty", "4"), "--gain must be a finite number, got inf"),
    ],
)
def test_deterrence_bad_input_is_one_line(args: tuple[str, ...], message: str) -> None:
    """Each bad input is one error line and exit 1."""
    r = run("deterrence", *args)
    assert r.returncode == 1
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_roc_file_is_one_line(tmp_path: Path) -> None:
    """A ROC file that is not a list of the two numbers is one error line."""
    roc = tmp_path / "roc.json"
    roc.write_text('[{"false_alarm_rate": 0.1}]')
    r = run("deterrence", "--gain", "1", "--penalty", "4", "--roc", str(roc))
    assert r.returncode == 1
    assert "item 0 must be an object" in r.stderr
    roc.write_text("not json")
    r = run("deterrence", "--gain", "1", "--penalty", "4", "--roc", str(roc))
    assert r.returncode == 1
    assert "is not JSON" in r.stderr


def test_dresher_json() -> None:
    """``game dresher`` prints the value and first-period inspection probability, by both
    computations: v(2,1) = 1/(2+b) = 1/3 at b = 1."""
    data = run_json("game", "dresher", "--periods", "2", "--inspections", "1", "--penalty", "1")
    assert data["value"] == pytest.approx(1 / 3)
    assert data["inspect_probability"] == pytest.approx(1 / 3)
    assert data["value_closed_form"] == data["value_backward_induction"] == data["value"]
    assert data["agree"] is True
    assert data["exact"]["value"] == "1/3"


def test_dresher_exact_fraction_penalty() -> None:
    """A fractional penalty stays exact: v(3,1) at b = 1/3 is 2/(3 + 1/3) = 3/5."""
    r = run("game", "dresher", "--periods", "3", "--inspections", "1", "--penalty", "1/3")
    assert r.returncode == 0, r.stderr
    assert "value 3/5 = 0.6 (closed form 3/5: agrees)" in r.stdout


def test_dresher_bad_input() -> None:
    """A bad penalty is one line, exit 1."""
    r = run("game", "dresher", "--periods", "3", "--inspections", "1", "--penalty", "lots")
    assert r.returncode == 1
    assert "penalty must be a number or a fraction" in r.stderr


def test_simultaneous_json() -> None:
    """``game simultaneous`` prints both equilibria; leadership's violation is 0."""
    data = run_json(
        "game",
        "simultaneous",
        *("--gain", "1", "--penalty", "2", "--inspection-cost", "0.1", "--damage", "5"),
        *("--detected-loss", "1", "--detection", "0.9"),
    )
    assert data["kind"] == "mixed"
    assert data["inspect_probability"] == pytest.approx(1 / 2.7)
    assert data["violate_probability"] == pytest.approx(0.1 / 3.6)
    assert data["leader_violate_probability"] == 0
    assert data["nashpy_agrees"] is True


def test_power_and_timeliness() -> None:
    """``power`` is Phi(M/sigma - z(1-alpha)); ``timeliness`` 1 - (1-p)^T."""
    data = run_json("power", "--loss", "3", "--sigma", "1", "--false-alarm-rate", "0.05")
    assert data["detection"] == pytest.approx(0.912315, abs=1e-6)
    assert data["detectable_loss"] == pytest.approx(2 * 1.644854, abs=1e-5)
    data = run_json("timeliness", "--detection", "0.1", "--periods", "12")
    assert data["timely_detection"] == pytest.approx(1 - 0.9**12)


def test_timeliness_from_measured_times(tmp_path: Path) -> None:
    """``timeliness --times FILE --run-days D`` gives the measured share and its interval."""
    times = tmp_path / "t.json"
    times.write_text("[1, 2, null, 10, 3]")
    data = run_json("timeliness", "--times", str(times), "--run-days", "5")
    assert (data["detected"], data["runs"], data["timely_detection"]) == (3, 5, 0.6)
    r = run("timeliness", "--detection", "0.1")
    assert r.returncode == 1
    assert "give --detection and --periods" in r.stderr


def test_sweep_json_and_plots(tmp_path: Path) -> None:
    """``sweep`` covers at least 10,000 points by default, writes a self-contained HTML plot
    and a PNG, and keeps stdout pure JSON."""
    html = tmp_path / "sweep.html"
    data = run_json("sweep", "--plot", str(html))
    assert data["points"] >= 10_000
    assert 0 < data["deterred"] < data["points"]
    text = html.read_text()
    assert "<html>" in text
    # plotly.js inline: no <script src=...> to fetch it from a CDN.
    assert "<script src=" not in text
    assert len(text) > 1_000_000
    png = tmp_path / "sweep.png"
    r = run("sweep", "--detection-points", "3", "--ratio-points", "3", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "90 points" in r.stdout  # 3 x 3 x 5 rates x 2 costs


def test_sweep_bad_input() -> None:
    """A bad plot suffix or rate list is one line, exit 1."""
    r = run("sweep", "--plot", "x.pdf")
    assert r.returncode == 1
    assert "--plot must end in .html or .png" in r.stderr
    r = run("sweep", "--false-alarm-rates", "0,x")
    assert r.returncode == 1
    assert "comma-separated list" in r.stderr
    r = run("sweep", "--false-alarm-rates", "2")
    assert r.returncode == 1
    assert "false_alarm_rate must be between 0 and 1" in r.stderr


# --- Extreme inputs: an answer or one line, never a traceback or a hang ---------------------


def one_line_error(r: subprocess.CompletedProcess[str], message: str) -> None:
    assert r.returncode == 1, r.stdout
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr


def test_deterrence_at_stakes_whose_sum_overflows() -> None:
    """d = b = 1e308 (d + b overflows) needs detection 0.5, not 0: 0.01 does not deter, and the
    penalty that would is named as beyond the float range rather than "none"."""
    args = ("deterrence", "--gain", "1e308", "--penalty", "1e308", "--detection", "0.01")
    data = run_json(*args)
    assert data["required_detection"] == 0.5
    assert data["deterred"] is False
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert "NOT deterred" in r.stdout
    assert "beyond the float range" in r.stdout
    data = run_json(*args[:5], "--false-alarm-cost", "1e308", "--false-alarm-rate", "1")
    assert data["required_detection"] == 1.0


def test_deterrence_threshold_past_the_float_range_is_one_line() -> None:
    """A threshold (d + h*alpha)/(d + b) past the float range is refused in one line that says
    why, not printed as null."""
    r = run(
        "deterrence",
        *("--gain", "1e-300", "--penalty", "1e-300"),
        *("--false-alarm-cost", "1e308", "--false-alarm-rate", "0.5", "--json"),
    )
    one_line_error(r, "beyond the float range")


def test_simultaneous_at_huge_stakes() -> None:
    """Stakes near the float range give the equilibrium, not a solver's traceback."""
    data = run_json(
        "game",
        "simultaneous",
        *("--gain", "1e308", "--penalty", "1e308", "--inspection-cost", "0.1"),
        *("--damage", "5", "--detection", "0.9"),
    )
    assert data["kind"] == "mixed"
    assert data["inspect_probability"] == pytest.approx(1 / 1.8)
    assert data["nashpy_agrees"] is True or data["nashpy_note"]


def test_simultaneous_without_detection_writes_nothing_to_stderr() -> None:
    """Detection 0 gives the pure equilibrium with nothing on stderr (no numpy warning)."""
    r = run(
        "game",
        "simultaneous",
        *("--gain", "1", "--penalty", "1", "--inspection-cost", "0.1", "--damage", "5"),
        *("--detection", "0"),
    )
    assert r.returncode == 0
    assert r.stderr == ""
    assert "violate, no inspection" in r.stdout


def test_sweep_caps_its_grid() -> None:
    """A grid past the cap is one line naming the cap, which --help states too."""
    r = run("sweep", "--detection-points", "100000", "--ratio-points", "100000")
    one_line_error(r, "at most 1,000,000 points")
    assert "1,000,000" in run("sweep", "--help").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("5", "2", "1e5000"), "penalty must be at most"),
        (("5", "2", "1e1000000"), "penalty must be at most"),
        (("5", "2", "1" * 5000), "penalty must be at most"),
        (("500", "499", "1e300"), "too large to solve exactly"),
    ],
)
def test_dresher_refuses_what_it_cannot_answer_at_once(
    args: tuple[str, str, str], message: str
) -> None:
    """A penalty past the float range and a game too large to solve exactly at once are one
    line each (the run is bounded by the helper's timeout: a hang fails)."""
    n, m, b = args
    r = run("game", "dresher", "--periods", n, "--inspections", m, "--penalty", b)
    one_line_error(r, message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "is not JSON"),
        ('[{"false_alarm_rate": 0.1, "detection": 1' + "0" * 5000 + "}]", "is not JSON"),
        ('[{"false_alarm_rate": 0.1, "detection": 1' + "0" * 400 + "}]", "detection"),
        ('[{"false_alarm_rate": 0.1, "detection": 1e400}]', "detection must be a finite"),
    ],
)
def test_roc_file_garbage_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    """A ROC file nested too deeply, or holding a number past the float range, is one line."""
    roc = tmp_path / "roc.json"
    roc.write_text(text)
    one_line_error(run("deterrence", "--gain", "1", "--penalty", "4", "--roc", str(roc)), message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "is not JSON"),
        ("[1" + "0" * 5000 + "]", "is not JSON"),
        ("[1" + "0" * 400 + "]", "days_to_detection[0] must be a finite number"),
    ],
)
def test_times_file_garbage_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    """A --times file nested too deeply, or holding a number past the float range, is one
    line."""
    times = tmp_path / "t.json"
    times.write_text(text)
    one_line_error(run("timeliness", "--times", str(times), "--run-days", "5"), message)
