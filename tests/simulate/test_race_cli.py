"""``pausewatch simulate race`` as a subprocess (docs/deterrence-race.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PAUSEWATCH = [sys.executable, "-m", "pausewatch.cli", "simulate", "race"]


def _race(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PAUSEWATCH, *args], capture_output=True, text=True, check=False)


def test_json_prints_the_equilibrium_and_the_threshold() -> None:
    """--json prints the equilibrium (safety, disaster, closed forms) and the regime's
    inspection-game threshold; two teams, e = 1, mu = 1, no information: s = 1/2."""
    done = _race(
        "--teams", "2", "--enmity", "1", "--capability", "1", "--sanction", "0.5", "--json"
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["information"] == "none"
    assert body["safety"] == pytest.approx(0.5, abs=0.005)
    assert body["disaster"] == pytest.approx(0.5, abs=0.005)
    assert body["closed_form_safety"] == 0.5
    assert body["converged"] is True
    threshold = body["deterrence"]["required_detection"]
    gain = (2 / 3) * (2 / 3) ** 0.5 - 0.5
    assert threshold == pytest.approx(gain / (gain + 0.5), abs=1e-4)
    assert body["deterrence"]["deterred"] is False
    assert done.stderr == ""


def test_detection_past_the_threshold_deters() -> None:
    """With detection past the threshold the pause holds: no violation, no disaster."""
    done = _race(
        "--teams",
        "3",
        "--capability",
        "0.5",
        "--information",
        "public",
        "--detection",
        "0.7",
        "--sanction",
        "0.5",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["deterrence"]["required_detection"] == pytest.approx(2 / 3)
    assert body["deterred"] is True
    assert body["disaster"] == 0.0


def test_text_output_names_the_figures() -> None:
    """Without --json the equilibrium is printed as text, closed form beside it."""
    done = _race("--information", "private")
    assert done.returncode == 0, done.stderr
    assert "probability of disaster 0.6667  (closed form 0.6667)" in done.stdout
    assert "not deterred" in done.stdout


def test_sweep_writes_png_and_prints_json(tmp_path: Path) -> None:
    """--sweep teams --plot FILE.png writes the PNG and the JSON lists every case's curve."""
    png = tmp_path / "teams.png"
    done = _race(
        "--sweep", "teams", "--values", "2,3", "--resolution", "100", "--plot", str(png), "--json"
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["parameter"] == "teams"
    assert body["values"] == [2.0, 3.0]
    assert set(body["cases"]) == {"none", "private", "public"}
    assert [p["teams"] for p in body["cases"]["none"]] == [2, 3]
    assert body["plot"] == str(png)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_sweep_writes_offline_html(tmp_path: Path) -> None:
    """--plot FILE.html writes a page that carries plotly.js inline."""
    page = tmp_path / "detection.html"
    done = _race(
        "--sweep",
        "detection",
        "--values",
        "0,0.5",
        "--sanction",
        "0.5",
        "--resolution",
        "100",
        "--plot",
        str(page),
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {page}" in done.stdout
    text = page.read_text()
    assert '<script src="https://cdn.plot.ly' not in text
    assert "Plotly.newPlot" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--teams", "1"), "teams must be between 2 and 50"),
        (("--enmity", "2"), "enmity must be a finite number between 0 and 1"),
        (("--capability", "0"), "capability must be a finite number between 1e-06 and 1e+06"),
        (("--capability", "1e-20"), "capability must be a finite number between 1e-06 and 1e+06"),
        (("--capability", "inf"), "capability must be a finite number between 1e-06 and 1e+06"),
        (
            ("--capability", "1e17", "--information", "public"),
            "capability must be a finite number between",
        ),
        (
            ("--capability", "1e308", "--information", "private"),
            "capability must be a finite number between",
        ),
        (("--sweep", "teams", "--values", "nan"), "--values must be finite numbers"),
        (("--sweep", "teams", "--values", "2,inf"), "--values must be finite numbers"),
        (("--sweep", "detection", "--values", "-inf"), "--values must be finite numbers"),
        (
            ("--information", "private", "--resolution", "100000000"),
            "resolution must be between 20 and 2000",
        ),
        (("--resolution", "2001"), "resolution must be between 20 and 2000"),
        (("--information", "secret"), "information must be one of none, private, public"),
        (("--detection", "1.5"), "detection must be a finite number between 0 and 1"),
        (("--sanction", "-1"), "sanction must be a finite number at least 0"),
        (("--sweep", "speed"), "--sweep must be one of teams, detection, sanction"),
        (("--sweep", "detection", "--values", "0,x"), "--values must be numbers"),
        (("--sweep", "detection", "--values", "0,1.5"), "detection must be a finite number"),
        (("--sweep", "teams", "--values", "2,2.5"), "teams must be whole numbers"),
        (("--sweep", "teams", "--plot", "out.pdf"), "--plot must name a .png or .html file"),
        (("--plot", "out.png"), "--values and --plot need --sweep"),
        (("--resolution", "5"), "resolution must be between 20 and 2000"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(args: tuple[str, ...], message: str) -> None:
    """Bad input prints one error line naming the problem and exits 1, with nothing on
    stdout."""
    done = _race(*args)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]


def test_unwritable_plot_is_one_line(tmp_path: Path) -> None:
    """A plot that cannot be written is one error line, exit 1."""
    done = _race(
        "--sweep",
        "teams",
        "--values",
        "2",
        "--resolution",
        "50",
        "--plot",
        str(tmp_path / "missing" / "x.png"),
    )
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1
    assert "cannot write" in done.stderr


def test_missing_plot_folder_is_refused_before_the_sweep() -> None:
    """A --plot whose folder does not exist is refused up front, naming the folder, before
    the sweep (a minute of computation) runs."""
    done = _race(
        "--sweep", "teams", "--values", "2", "--resolution", "20", "--plot", "/nonexist/x.png"
    )
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cannot write /nonexist/x.png: no folder /nonexist" in lines[0]


def test_help_states_the_resolution_caps() -> None:
    """--help states the resolution's range and that none and public use at most 400."""
    done = _race("--help")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.replace("│", " ").split())
    assert "20 to 2000" in text
    assert "none and public information use at most 400" in text


def test_huge_sanction_prints_short_figures() -> None:
    """A huge sanction is printed in scientific form, not as hundreds of digits."""
    done = _race("--sanction", "1e308")
    assert done.returncode == 0, done.stderr
    assert "penalty 1e+308" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) < 200
