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


def test_verify_json_prints_a_pass_verdict(honest_mlp: Path) -> None:
    """`transcript verify --json` of an honest transcript prints verdict pass, exit 0."""
    done = _run("verify", str(honest_mlp), "--budget", "0.2", "--beacon", "beac00", "--json")
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["verdict"] == "pass"
    assert verdict["beacon"] == "beac00"
    assert verdict["segments"]


def test_verify_exits_zero_on_a_fail_verdict(mlp_copy: Path) -> None:
    """A fail verdict is an answer, not an error: printed with exit status 0."""
    (mlp_copy / "checkpoints" / "step-00000030.safetensors").unlink()
    done = _run("verify", str(mlp_copy), "--budget", "0.2", "--beacon", "00", "--json")
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["verdict"] == "fail"
    assert verdict["reasons"]


def test_verify_prints_a_readable_verdict(honest_mlp: Path) -> None:
    """Without --json, verify prints the verdict and each replayed segment."""
    done = _run("verify", str(honest_mlp), "--budget", "0.2", "--beacon", "01")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pass")
    assert "segment 5" in done.stdout


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("nowhere", "not a directory"),
        ("empty", "no manifest.json"),
        ("unrevealed", "not revealed"),
        ("beacon", "--beacon"),
        ("budget0", "--budget"),
        ("budget2", "--budget"),
    ],
)
def test_verify_errors_are_one_line(
    mlp_copy: Path, tmp_path: Path, case: str, message: str
) -> None:
    """A bad directory, an unrevealed seed, a bad beacon or budget: one line, exit 1."""
    directory, budget, beacon = mlp_copy, "0.2", "00"
    if case == "nowhere":
        directory = tmp_path / "nowhere"
    elif case == "empty":
        directory = tmp_path / "empty"
        directory.mkdir()
    elif case == "unrevealed":
        manifest = json.loads((mlp_copy / "manifest.json").read_text())
        del manifest["seed"]
        (mlp_copy / "manifest.json").write_text(json.dumps(manifest))
    elif case == "beacon":
        beacon = "zz"
    else:
        budget = "0" if case == "budget0" else "2"
    done = _run("verify", str(directory), "--budget", budget, "--beacon", beacon, "--json")
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
