"""The shipped recipes and their bundled data (pausewatch.transcript._recipes, _data)."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from pausewatch.ledger import leaf_hash, node_hash
from pausewatch.transcript import RECIPES
from pausewatch.transcript._data import (
    batch_indices,
    dataset,
    derive,
    heldout_indices,
    merkle_root,
)
from pausewatch.transcript._train import initial_model, weights_of


def test_mlp_and_tinylm_are_shipped() -> None:
    """RECIPES holds at least mlp and tinylm, each naming its dataset and lr/batch_size."""
    assert {"mlp", "tinylm"} <= set(RECIPES)
    for name, recipe in RECIPES.items():
        assert recipe.name == name
        assert {"lr", "batch_size"} <= set(recipe.defaults)
        assert dataset(recipe.dataset_name).train


@pytest.mark.parametrize("name", ["mlp", "tinylm"])
def test_a_recipe_gives_a_finite_loss_on_its_records(name: str) -> None:
    """Each recipe's model and loss run on a batch of its records and give a finite loss."""
    recipe = RECIPES[name]
    model = initial_model(recipe, recipe.defaults, b"seed")
    inputs, targets = recipe.encode(dataset(recipe.dataset_name).train[:8])
    assert math.isfinite(float(recipe.loss(model, inputs, targets).detach()))


@pytest.mark.parametrize("name", ["mlp", "tinylm"])
def test_initial_weights_are_a_function_of_the_seed(name: str) -> None:
    """The same seed gives bit-identical initial weights; another seed other weights."""
    recipe = RECIPES[name]
    a = weights_of(initial_model(recipe, recipe.defaults, b"one"))
    b = weights_of(initial_model(recipe, recipe.defaults, b"one"))
    c = weights_of(initial_model(recipe, recipe.defaults, b"two"))
    assert all(a[k].equal(b[k]) for k in a)
    assert not all(a[k].equal(c[k]) for k in a)


@pytest.mark.parametrize("name", ["sklearn-digits/v1", "arithmetic-lines/v1"])
def test_the_split_keeps_held_out_records_out_of_the_commitment(name: str) -> None:
    """About a fifth of the records are held out, and the Merkle root covers only the rest."""
    records = dataset(name)
    total = len(records.train) + len(records.heldout)
    assert 0.15 < len(records.heldout) / total < 0.25
    assert records.merkle_root() == merkle_root(records.train)
    assert records.merkle_root() != merkle_root(records.train + records.heldout)


def test_the_merkle_root_is_rfc9162() -> None:
    """The dataset root is RFC 9162's MTH: leaves SHA-256(0x00||r), nodes SHA-256(0x01||l||r)."""
    records = [b"a", b"b", b"c"]
    leaves = [leaf_hash(r) for r in records]
    expected = node_hash(node_hash(leaves[0], leaves[1]), leaves[2])
    assert merkle_root(records) == expected.hex()


def test_an_epoch_visits_every_record_at_most_once() -> None:
    """The batches of one epoch are disjoint and drawn from the seed's permutation."""
    per_epoch = 100 // 8
    seen = Counter(i for step in range(per_epoch) for i in batch_indices(b"s", step, 100, 8))
    assert set(seen.values()) == {1}
    assert len(seen) == per_epoch * 8
    assert batch_indices(b"s", 0, 100, 8) != batch_indices(b"t", 0, 100, 8)
    assert batch_indices(b"s", per_epoch, 100, 8) != batch_indices(b"s", 0, 100, 8)


def test_derivation_separates_purposes() -> None:
    """derive(seed, purpose) is SHA-256(seed || 'pausewatch-transcript/v1/' || purpose)."""
    import hashlib

    assert derive(b"s", "init") == hashlib.sha256(b"spausewatch-transcript/v1/init").digest()
    assert heldout_indices(b"s", 3, 50, 10) != heldout_indices(b"s", 4, 50, 10)
