"""The README's CLI tour, run as written in a shell (`pausewatch` as a subprocess)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def tour_lines(*starts: str) -> list[str]:
    """The README's shell lines that begin with each of ``starts`` (continuations joined,
    trailing comments dropped), in that order."""
    text = README.read_text().replace("\\\n", " ")
    lines = [re.sub(r"\s+# .*$", "", line).strip() for line in text.splitlines()]
    found = []
    for start in starts:
        matches = [line for line in lines if line.startswith(start)]
        assert matches, f"the README has no line starting with {start!r}"
        found.append(matches[0])
    return found


def test_readme_log_key_lines_work_with_any_data_directory(tmp_path: Path) -> None:
    """The README's `keys show pausewatch.local/log` and LOG_KEY lines find the log's key in
    the data directory PAUSEWATCH_DATA_DIR names, not only in the default one."""
    data_dir = tmp_path / "elsewhere"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAUSEWATCH_")}
    env.pop("XDG_DATA_HOME", None)
    env.update(
        HOME=str(tmp_path / "home"),
        PAUSEWATCH_DATA_DIR=str(data_dir),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    made = subprocess.run(
        [sys.executable, "-m", "pausewatch.cli", "keys", "new", "pausewatch.local/log"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    key = (data_dir / "keys" / "pausewatch.local_log.pub").read_text().strip()
    show, log_key = tour_lines("pausewatch keys show pausewatch.local/log", "LOG_KEY=")
    script = f'set -euo pipefail\n{show}\n{log_key}\nprintf "LOG_KEY=%s\\n" "$LOG_KEY"\n'
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"verifier key:     {key}" in done.stdout
    assert f"LOG_KEY={key}\n" in done.stdout


def test_readme_transcript_lines_train_and_verify_as_written(tmp_path: Path) -> None:
    """The README's `transcript recipes`, `train` and `verify` lines, run in a shell as written,
    list the mlp recipe, train a transcript and verify it: its verdict is pass."""
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith("PAUSEWATCH_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    recipes, train, verify = tour_lines(
        "pausewatch transcript recipes",
        "pausewatch transcript train",
        "pausewatch transcript verify",
    )
    done = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{recipes}\n{train}\n{verify}\n"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "mlp" in done.stdout
    verdict = json.loads(done.stdout[done.stdout.index("\n{\n") + 1 :])
    assert verdict["verdict"] == "pass", verdict["reasons"]


def _run_line(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAUSEWATCH_")}
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{line}\n"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_readme_deterrence_lines_print_what_the_readme_says(tmp_path: Path) -> None:
    """The README's `simulate deterrence ... --json` and `simulate game dresher ... --json`
    lines, run as written, print the threshold and the game's value and inspection probability
    the README's comments give."""
    import json

    deterrence, dresher = tour_lines(
        "pausewatch simulate deterrence", "pausewatch simulate game dresher"
    )
    done = _run_line(deterrence, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["required_detection"] == pytest.approx(0.202)
    done = _run_line(dresher, tmp_path)
    assert done.returncode == 0, done.stderr
    game = json.loads(done.stdout)
    assert game["value"] == pytest.approx(55 / 136)
    assert game["inspect_probability"] == pytest.approx(27 / 136)
    assert game["value_backward_induction"] == game["value_closed_form"]


def test_readme_other_deterrence_lines_run(tmp_path: Path) -> None:
    """Every `pausewatch simulate` line of the README's deterrence tour runs as written (exit 0,
    output on stdout)."""
    text = README.read_text()
    section = text[text.index("### Deterrence") : text.index("## A short tour of the API")]
    lines = [
        re.sub(r"\s+# .*$", "", line).strip()
        for line in section.splitlines()
        if line.startswith("pausewatch simulate ")
    ]
    assert len(lines) >= 6
    for line in lines:
        done = _run_line(line, tmp_path)
        assert done.returncode == 0, (line, done.stderr)
        assert done.stdout.strip(), line
