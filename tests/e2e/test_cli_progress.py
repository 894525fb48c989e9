"""Long commands show their progress (Rich) on stderr when it is a terminal, and nothing when it
is not; their output on stdout stays clean either way (--json parses)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from conftest import PAUSEWATCH, run_cli


def run_on_a_terminal(*args: str, timeout: float = 600) -> tuple[str, str, int]:
    """Run `pausewatch ARGS` with stderr on a pseudo-terminal (as in a user's shell) and
    stdout on a pipe; return stdout, what the terminal showed and the exit code."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [*PAUSEWATCH, *args], stdout=subprocess.PIPE, stderr=slave, env=env, text=True
    )
    os.close(slave)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    stdout = proc.stdout.read() if proc.stdout else ""
    code = proc.wait(timeout)
    return stdout, shown.decode(errors="replace"), code


EVAL = (
    "eval",
    "run",
    "--model",
    "pausewatch/scripted",
    "--probe",
    "pausewatch/tune_own_heuristic",
    "--evaluator",
    "uk-aisi",
    "--json",
)


def test_eval_run_shows_inspect_progress_on_a_terminal(tmp_path: Path) -> None:
    """`eval run` on a terminal shows what Inspect is running and its samples as they
    complete, on stderr; the JSON on stdout is untouched."""
    stdout, shown, code = run_on_a_terminal(*EVAL, "--log-dir", str(tmp_path / "logs"))
    assert code == 0, shown
    assert "Inspect: pausewatch/tune_own_heuristic on pausewatch/scripted" in shown
    [result] = json.loads(stdout)["results"]
    assert result["probe_id"] == "pausewatch/tune_own_heuristic"
    assert f"{result['samples']}/{result['samples']}" in shown  # every sample counted


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    """In a pipe or a log file the same command writes nothing to stderr."""
    done = run_cli(*EVAL, "--log-dir", str(tmp_path / "logs"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    json.loads(done.stdout)


@pytest.mark.slow
@pytest.mark.timeout(600)  # the whole demo: 111 s beside another (ADR 0058)
def test_the_demo_shows_each_act_and_its_counts(tmp_path: Path) -> None:
    """`pausewatch demo --json` on a terminal shows each act as it plays and the count of the
    chips registered; stdout holds only the JSON summary."""
    stdout, shown, code = run_on_a_terminal(
        "demo", "--data-dir", str(tmp_path / "w"), "--report", str(tmp_path / "r.html"), "--json"
    )
    assert code == 0, shown[-3000:]
    for act in ("the agreement", "an evaluation comes back critical", "the audit recomputes"):
        assert act in shown
    assert "chip.certify/v1 statements" in shown
    assert "2048/2048" in shown
    summary = json.loads(stdout)
    assert summary["audit"]["ok"]
