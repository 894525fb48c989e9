"""Honest deterministic training into a transcript (pausewatch.transcript.train)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pausewatch.transcript import (
    RECIPES,
    TranscriptError,
    checkpoint_path,
    file_digest,
    read_manifest,
    seed_commitment,
    train,
)
from pausewatch.transcript._data import dataset
from pausewatch.transcript._train import (
    encode,
    initial_model,
    load_weights,
    weights_of,
)

from .conftest import SEED


def test_a_transcript_holds_every_checkpoint_with_its_digest(honest_mlp: Path) -> None:
    """Checkpoints at 0, every multiple of every and steps; each digest is its file's SHA-256."""
    manifest = read_manifest(honest_mlp)
    assert [c.step for c in manifest.checkpoints] == [0, 10, 20, 30, 40, 50, 60]
    for ref in manifest.checkpoints:
        assert file_digest(honest_mlp / checkpoint_path(ref.step)) == ref.digest
    assert manifest.final_digest == manifest.checkpoints[-1].digest


def test_the_manifest_records_seed_threads_and_versions(honest_mlp: Path) -> None:
    """The manifest commits to the seed, records the thread count, determinism and versions."""
    manifest = read_manifest(honest_mlp)
    assert manifest.seed_commitment == seed_commitment(SEED)
    assert manifest.seed == SEED.hex()
    assert manifest.threads == 1
    assert manifest.deterministic
    assert manifest.versions["torch"].startswith("2.13.0")
    assert set(manifest.versions) == {"python", "torch", "safetensors", "pausewatch"}
    assert manifest.run_id == "run-mlp"
    assert manifest.dataset.records == len(dataset("sklearn-digits/v1").train)


def test_step_zero_holds_the_seed_derived_weights(honest_mlp: Path) -> None:
    """The initial checkpoint is exactly the model initialised from the seed."""
    recipe = RECIPES["mlp"]
    expected = weights_of(initial_model(recipe, read_manifest(honest_mlp).hyperparameters, SEED))
    stored = load_weights(honest_mlp / checkpoint_path(0))
    assert stored.keys() == expected.keys()
    assert all(stored[k].equal(expected[k]) for k in expected)


def test_training_is_bit_reproducible(honest_tinylm: Path, tmp_path: Path) -> None:
    """The same recipe, seed and steps give byte-identical checkpoints; another seed does not."""
    again = train("tinylm", steps=40, every=8, out=tmp_path / "again", seed=SEED)
    other = train("tinylm", steps=8, every=8, out=tmp_path / "other", seed=b"other")
    assert again.checkpoints == read_manifest(honest_tinylm).checkpoints
    assert other.checkpoints[-1].digest != again.checkpoints[1].digest


@pytest.mark.parametrize("name", ["mlp", "tinylm"])
def test_training_lowers_the_loss(name: str, tmp_path: Path) -> None:
    """An honest run's final weights have a lower training loss than its initial weights."""
    import torch

    recipe = RECIPES[name]
    manifest = train(name, steps=60, every=30, out=tmp_path / name, seed=SEED)
    data = encode(recipe, dataset(recipe.dataset_name).train[:512])
    model = initial_model(recipe, manifest.hyperparameters, SEED)
    losses = []
    for step in (0, 60):
        model.load_state_dict(load_weights(tmp_path / name / checkpoint_path(step)))
        with torch.no_grad():
            losses.append(float(recipe.loss(model, data.inputs, data.targets)))
    assert losses[1] < losses[0]


def test_steps_not_a_multiple_of_every_end_with_the_final_checkpoint(tmp_path: Path) -> None:
    """With steps not a multiple of every, the last checkpoint is at steps."""
    manifest = train("mlp", steps=7, every=3, out=tmp_path / "t", seed=SEED)
    assert [c.step for c in manifest.checkpoints] == [0, 3, 6, 7]


def test_hyperparameters_override_defaults_and_are_committed(tmp_path: Path) -> None:
    """Given hyper-parameters override the recipe's defaults; unknown ones are refused."""
    manifest = train("mlp", steps=2, every=1, out=tmp_path / "a", hyperparameters={"lr": 0.05})
    assert manifest.hyperparameters["lr"] == 0.05
    assert manifest.hyperparameters["hidden"] == RECIPES["mlp"].defaults["hidden"]
    with pytest.raises(TranscriptError, match="no hyper-parameter"):
        train("mlp", steps=2, every=1, out=tmp_path / "b", hyperparameters={"momentum": 0.9})


def test_training_refuses_to_overwrite_a_transcript(honest_mlp: Path) -> None:
    """A directory that already holds a manifest is not trained into again."""
    with pytest.raises(TranscriptError, match="already holds"):
        train("mlp", steps=2, every=1, out=honest_mlp)


def test_a_withheld_seed_is_only_committed(tmp_path: Path) -> None:
    """reveal_seed=False writes the commitment but not the seed."""
    from pausewatch.transcript._train import train as train_impl

    manifest = train_impl("mlp", steps=2, every=1, out=tmp_path / "w", seed=SEED, reveal_seed=False)
    assert manifest.seed is None
    assert read_manifest(tmp_path / "w").seed is None
    assert manifest.seed_commitment == seed_commitment(SEED)


def test_an_outsider_writes_the_same_transcript_with_torch_alone(tmp_path: Path) -> None:
    """The recipe of docs/transcripts.md, written with torch, safetensors and hashlib only,
    gives byte-identical checkpoints to `train` (so its transcript verifies)."""
    import hashlib

    import torch
    from safetensors.torch import save_file

    recipe = RECIPES["mlp"]
    lr, batch, steps, every = 0.1, 32, 12, 4
    records = dataset("sklearn-digits/v1").train
    inputs, targets = recipe.encode(records)
    n = len(records)

    def derive_int(purpose: str) -> int:
        d = hashlib.sha256(SEED + b"pausewatch-transcript/v1/" + purpose.encode()).digest()
        return int.from_bytes(d[:8], "big") & (2**63 - 1)

    was = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.manual_seed(derive_int("init"))
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    digests = {}

    def checkpoint(step: int) -> None:
        path = tmp_path / "outsider" / checkpoint_path(step)
        path.parent.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(path), metadata={"format": "pausewatch-transcript/v1"})
        digests[step] = hashlib.sha256(path.read_bytes()).hexdigest()

    checkpoint(0)
    per_epoch = n // batch
    for t in range(steps):
        epoch, pos = divmod(t, per_epoch)
        g = torch.Generator().manual_seed(derive_int(f"order/{epoch}"))
        idx = torch.randperm(n, generator=g)[pos * batch : (pos + 1) * batch]
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs[idx]), targets[idx])
        loss.backward()  # type: ignore[no-untyped-call]
        with torch.no_grad():
            for p in model.parameters():
                assert p.grad is not None
                p.add_(p.grad, alpha=-lr)
        if (t + 1) % every == 0 or t + 1 == steps:
            checkpoint(t + 1)
    torch.use_deterministic_algorithms(was[0])
    torch.set_num_threads(was[1])
    ours = train("mlp", steps=steps, every=every, out=tmp_path / "ours", seed=SEED)
    assert {c.step: c.digest for c in ours.checkpoints} == digests
