"""``pausewatch transcript`` run as a subprocess (recipes, train, verify)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PAUSEWATCH = [sys.executable, "-m", "pausewatch.cli", "transcript"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAUSEWATCH, *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_recipes_lists_mlp() -> None:
    """`transcript recipes --json` lists the recipes, mlp and tinylm among them."""
    done = _run("recipes", "--json")
    assert done.returncode == 0, done.stderr
    assert {"mlp", "tinylm"} <= {r["name"] for r in json.loads(done.stdout)}


def test_train_writes_a_transcript(tmp_path: Path) -> None:
    """`transcript train` writes manifest.json and checkpoints; --json prints the manifest."""
    out = tmp_path / "run"
    done = _run(
        "train", "--recipe", "mlp", "--steps", "6", "--every", "3", "--out", str(out),
        "--seed", "00ff", "--threads", "1", "--run-id", "run-7", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert manifest["run_id"] == "run-7"
    assert manifest["seed"] == "00ff"
    assert [c["step"] for c in manifest["checkpoints"]] == [0, 3, 6]
    assert (out / "checkpoints" / "step-00000006.safetensors").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--recipe", "nope"], "unknown recipe"),
        (["--recipe", "mlp", "--seed", "xyz"], "hex"),
        (["--recipe", "mlp", "--threads", "0"], "threads"),
    ],
)
def test_train_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    """A bad recipe, seed or thread count prints one error line and exits 1."""
    done = _run("train", *args, "--steps", "2", "--every", "1", "--out", str(tmp_path / "o"))
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
