"""``pausewatch compute`` as a real process: text, --json and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PAUSEWATCH = [sys.executable, "-m", "pausewatch.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAUSEWATCH, "compute", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        check=False,
    )


def test_architecture_estimate_text() -> None:
    """``estimate --params --tokens`` prints the 6ND figure, its method, spread and interval."""
    r = run("estimate", "--params", "405e9", "--tokens", "15.6e12")
    assert r.returncode == 0, r.stderr
    dash, times = "\N{EN DASH}", "\N{MULTIPLICATION SIGN}"
    assert f"3.79e+25 FLOP (architecture, ±15%)  interval 3.22e+25 {dash} 4.36e+25" in r.stdout
    assert f"6 {times} 4.05e+11 parameters {times} 1.56e+13 tokens" in r.stdout


def test_hardware_estimate_json() -> None:
    """``estimate --chips --days --utilisation --json`` gives the hardware estimate as JSON."""
    r = run("estimate", "--chips", "H100:16384", "--days", "54", "--utilisation", "0.4", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["architecture"] is None
    assert data["hardware"]["method"] == "hardware"
    assert data["hardware"]["value"] == pytest.approx(16384 * 9.894e14 * 54 * 86400 * 0.4)


def test_both_estimates_printed_and_compared() -> None:
    """Architecture and hardware inputs together print both estimates and their ratio."""
    r = run(
        "estimate",
        "--params",
        "405e9",
        "--tokens",
        "15.6e12",
        "--chips",
        "H100:16384",
        "--hours",
        "1296",
    )
    assert r.returncode == 0, r.stderr
    assert "(architecture, ±15%)" in r.stdout
    assert "(hardware, ±" in r.stdout
    assert "hardware / architecture = " in r.stdout


def test_moe_estimate_json() -> None:
    """``--active-params`` gives a mixture-of-experts estimate."""
    r = run(
        "estimate", "--params", "671e9", "--active-params", "37e9", "--tokens", "14.8e12", "--json"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["architecture"]["value"] == pytest.approx(6 * 37e9 * 14.8e12)


def test_repeated_chips_and_precision() -> None:
    """``--chips`` repeats, names may contain spaces, and ``--precision`` selects the peak."""
    r = run(
        "estimate",
        "--chips",
        "H100 SXM:8",
        "--chips",
        "h200:8",
        "--hours",
        "1",
        "--precision",
        "fp8",
        "--utilisation",
        "0.5",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    value = json.loads(r.stdout)["hardware"]["value"]
    assert value == pytest.approx(16 * 1.979e15 * 3600 * 0.5)


def test_hardware_table() -> None:
    """``hardware`` prints every chip with its figures."""
    r = run("hardware")
    assert r.returncode == 0, r.stderr
    for name in ("A100 SXM", "H100 SXM", "GB200", "MI325X", "TPU v5p", "Ascend 910C"):
        assert name in r.stdout
    assert "9.894e+14" in r.stdout


def test_hardware_json_has_everything() -> None:
    """``hardware --json`` gives every chip, every figure and the sources."""
    r = run("hardware", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["chips"]) == 13
    assert data["h100e_flops"] == 9.894e14
    assert "epoch-ml-hardware" in data["sources"]


def test_one_chip_in_full() -> None:
    """``hardware NAME`` shows one chip (by alias) with its sources expanded."""
    r = run("hardware", "h100", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["name"] == "H100 SXM"
    assert data["sources"][0]["url"].startswith("https://")
    text = run("hardware", "910b")
    assert "Sources disagree" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["estimate", "--chips", "H1000:8", "--days", "1"], "unknown chip 'H1000'; known: A100"),
        (["estimate", "--chips", "H100", "--days", "1"], "expected --chips NAME:COUNT"),
        (["estimate", "--chips", "H100:many", "--days", "1"], "expected an integer chip count"),
        (["estimate", "--chips", "H100:8"], "exactly one of --days and --hours"),
        (["estimate"], "nothing to estimate"),
        (["estimate", "--params", "1e9"], "needs --tokens"),
        (["estimate", "--params", "-1", "--tokens", "1e12"], "params must be a finite figure > 0"),
        (["hardware", "nope"], "unknown chip 'nope'"),
    ],
)
def test_bad_input_is_one_error_line(args: list[str], message: str) -> None:
    """Bad input prints exactly one ``error: ...`` line on stderr and exits 1."""
    r = run(*args)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert "Traceback" not in r.stderr
