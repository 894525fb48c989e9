"""Shared honest transcripts for the engine's tests (trained once per session, threads=1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

SEED = bytes.fromhex("5eed" * 16)
"""The secret seed of the shared honest transcripts."""


@pytest.fixture(scope="session")
def honest_mlp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An honest ``mlp`` transcript: 60 steps, a checkpoint every 10."""
    from pausewatch.transcript import train

    out = tmp_path_factory.mktemp("honest") / "mlp"
    train("mlp", steps=60, every=10, out=out, seed=SEED, threads=1, run_id="run-mlp")
    return out


@pytest.fixture(scope="session")
def honest_tinylm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An honest ``tinylm`` transcript: 40 steps, a checkpoint every 8."""
    from pausewatch.transcript import train

    out = tmp_path_factory.mktemp("honest") / "tinylm"
    train("tinylm", steps=40, every=8, out=out, seed=SEED, threads=1)
    return out


@pytest.fixture
def mlp_copy(honest_mlp: Path, tmp_path: Path) -> Path:
    """A private copy of the honest ``mlp`` transcript that a test may tamper with."""
    target = tmp_path / "copy"
    shutil.copytree(honest_mlp, target)
    return target
