"""The benchmarks start `pausewatch serve` in another directory: the environment they pass on
must name this checkout's code, however the benchmark itself was started."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_common", ROOT / "benchmarks" / "_common.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_relative_pythonpath_names_the_same_code_in_a_child_started_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`PYTHONPATH=src` from the checkout: a child started in another directory imports the
    checkout's pausewatch, not whatever copy the virtual environment points at."""
    checkout = tmp_path / "checkout"
    (checkout / "src" / "pausewatch").mkdir(parents=True)
    (checkout / "src" / "pausewatch" / "__init__.py").write_text("WHERE = 'the checkout'\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["src", "/abs/lib", ""]))
    monkeypatch.setenv("PAUSEWATCH_DATA_DIR", "/somewhere")
    env = _common().child_env()
    assert env["PYTHONPATH"].split(os.pathsep) == [str(checkout / "src"), "/abs/lib", ""]
    assert "PAUSEWATCH_DATA_DIR" not in env
    done = subprocess.run(
        [sys.executable, "-c", "import pausewatch; print(pausewatch.WHERE)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "the checkout"
    assert _common().child_env(None)["PAUSEWATCH_DATA_DIR"] == "/somewhere"
