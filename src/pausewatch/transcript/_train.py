"""Honest, deterministic training of a recipe into a transcript directory (issue 17 §3).

The loop is the same for every recipe and for replay: the initial weights come from torch's
generator seeded with ``derive_int(seed, "init")``; step ``t`` takes the batch
:func:`~pausewatch.transcript._data.batch_indices` names, computes the recipe's mean loss and
updates every parameter ``p <- p - lr * grad`` (plain SGD). Training runs under
``torch.use_deterministic_algorithms(True)`` with the thread count the manifest records. A
checkpoint is saved at step 0, every multiple of ``every`` and at ``steps``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import platform
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pausewatch.transcript._data import (
    Records,
    batch_indices,
    dataset,
    derive_int,
)
from pausewatch.transcript._format import (
    FORMAT,
    MANIFEST,
    CheckpointRef,
    DatasetRef,
    Manifest,
    TranscriptError,
    checkpoint_path,
    checkpoint_steps,
    file_digest,
    hyperparameters_digest,
    seed_commitment,
    write_manifest,
)
from pausewatch.transcript._recipes import RECIPES, Recipe

if TYPE_CHECKING:
    import torch

SEED_BYTES = 32
"""Length of a seed :func:`train` draws when none is given."""

Weights = dict[str, "torch.Tensor"]
"""A model's parameters by name, as a checkpoint file holds them."""


def recipe_named(name: str) -> Recipe:
    """The recipe ``name``, or a :class:`TranscriptError` naming the known ones."""
    try:
        return RECIPES[name]
    except KeyError:
        known = ", ".join(sorted(RECIPES))
        raise TranscriptError(f"unknown recipe {name!r} (known: {known})") from None


def resolve_hyperparameters(
    recipe: Recipe, hyperparameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The recipe's defaults overridden by ``hyperparameters``; unknown keys are refused."""
    merged = dict(recipe.defaults)
    unknown = sorted(set(hyperparameters or {}) - set(merged))
    if unknown:
        raise TranscriptError(
            f"recipe {recipe.name!r} has no hyper-parameter {', '.join(unknown)} "
            f"(known: {', '.join(sorted(merged))})"
        )
    merged.update(hyperparameters or {})
    lr = merged["lr"]
    if (
        not isinstance(lr, int | float)
        or isinstance(lr, bool)
        or not math.isfinite(lr)
        or not lr > 0
    ):
        raise TranscriptError(f"lr must be a finite positive number, got {lr!r}")
    for name, (low, high) in recipe.bounds.items():
        value = merged.get(name)
        if type(value) is not int or not low <= value <= high:
            raise TranscriptError(
                f"{name} must be an integer in [{low}, {high}] for recipe {recipe.name!r}, "
                f"got {value!r}"
            )
    # Every step needs a full training batch and, for the inclusion test, a held-out batch of
    # the same size: a larger batch trains but can never be verified.
    records = dataset(recipe.dataset_name)
    fits = min(len(records.train), len(records.heldout))
    if merged["batch_size"] > fits:
        raise TranscriptError(
            f"batch_size must be at most {fits} for recipe {recipe.name!r} "
            f"({len(records.train)} training, {len(records.heldout)} held-out records), "
            f"got {merged['batch_size']}"
        )
    problem = recipe.constraint(merged)
    if problem is not None:
        raise TranscriptError(f"recipe {recipe.name!r}: {problem}")
    return merged


@contextlib.contextmanager
def deterministic(threads: int) -> Iterator[None]:
    """Deterministic kernels and ``threads`` intra-op threads, restored on exit."""
    import torch

    if threads < 1:
        raise TranscriptError(f"threads must be positive, got {threads}")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(was_threads)
        torch.use_deterministic_algorithms(was_deterministic)


def initial_model(
    recipe: Recipe, hyperparameters: Mapping[str, Any], seed: bytes
) -> torch.nn.Module:
    """The recipe's model initialised from ``derive_int(seed, "init")``."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_int(seed, "init"))
        return recipe.build(hyperparameters)


def weights_of(model: torch.nn.Module) -> Weights:
    """The model's parameters (detached, contiguous copies)."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def save_weights(weights: Weights, path: Path) -> str:
    """Write a checkpoint file and return its digest."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    # One metadata key only: safetensors writes the metadata map in hash-map order, so two keys
    # would make the bytes (and the digest) of identical weights differ from one write to the next.
    save_file(weights, str(path), metadata={"format": FORMAT})
    return file_digest(path)


def weights_from_bytes(data: bytes) -> Weights:
    """A checkpoint from its file's bytes (those whose digest was checked);
    :class:`TranscriptError` for bytes that are not a safetensors file of tensors (safetensors
    raises its own ``SafetensorError``, an ``Exception`` only, on a malformed header)."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return dict(load(data))
    except (OSError, ValueError, RuntimeError, TypeError, SafetensorError) as exc:
        first = " ".join(str(exc).split())[:300]
        raise TranscriptError(f"not a safetensors file: {first}") from exc


def load_weights(path: Path) -> Weights:
    """Read a checkpoint file; :class:`TranscriptError` for anything that is not one."""
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise TranscriptError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from exc
    try:
        return weights_from_bytes(content)
    except TranscriptError as exc:
        raise TranscriptError(f"cannot read checkpoint {path}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Encoded:
    """A dataset's records as the recipe's tensors."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows ``indices``, in that order."""
        import torch

        index = torch.tensor(list(indices), dtype=torch.int64)
        return self.inputs[index], self.targets[index]


def encode(recipe: Recipe, records: Sequence[bytes]) -> Encoded:
    """The recipe's tensors of ``records``."""
    inputs, targets = recipe.encode(records)
    return Encoded(inputs, targets)


def sgd_step(
    recipe: Recipe, model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor], lr: float
) -> float:
    """One plain SGD step on ``batch``; returns the loss before it."""
    import torch

    model.zero_grad(set_to_none=True)
    loss = recipe.loss(model, *batch)
    loss.backward()  # type: ignore[no-untyped-call]
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter.add_(parameter.grad, alpha=-lr)
    return float(loss.detach())


def run_steps(
    recipe: Recipe,
    model: torch.nn.Module,
    data: Encoded,
    hyperparameters: Mapping[str, Any],
    seed: bytes,
    start: int,
    end: int,
) -> None:
    """Train ``model`` from step ``start`` to step ``end`` on the seed's batches."""
    lr = float(hyperparameters["lr"])
    batch_size = int(hyperparameters["batch_size"])
    records = int(data.inputs.shape[0])
    model.train()
    for step in range(start, end):
        sgd_step(recipe, model, data.batch(batch_indices(seed, step, records, batch_size)), lr)


def versions() -> dict[str, str]:
    """The library versions a manifest records."""
    import safetensors
    import torch

    from pausewatch import __version__

    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "safetensors": str(safetensors.__version__),
        "pausewatch": __version__,
    }


def training_records(recipe: Recipe) -> Records:
    """The recipe's bundled dataset, split."""
    return dataset(recipe.dataset_name)


def encoded_records(recipe: Recipe) -> tuple[Encoded, Encoded]:
    """The recipe's training and held-out records as its tensors, encoded once per process.

    Shared between callers: nothing may change the tensors in place (:meth:`Encoded.batch`
    copies the rows it takes). A recipe that is not a shipped one (equal by value to
    ``RECIPES[recipe.name]``) is encoded afresh on every call."""
    if RECIPES.get(recipe.name) == recipe:
        return _encoded(recipe.name, recipe.dataset_name)
    records = training_records(recipe)
    return encode(recipe, records.train), encode(recipe, records.heldout)


@functools.lru_cache(maxsize=4)
def _encoded(recipe: str, dataset_name: str) -> tuple[Encoded, Encoded]:
    # Keyed on names, not objects: the shipped recipes are immutable values and a bundled
    # dataset's versioned name fixes its records, so the key means the same in every process
    # (a Ray worker included).
    chosen = recipe_named(recipe)
    records = dataset(dataset_name)
    return encode(chosen, records.train), encode(chosen, records.heldout)


def train(
    recipe: str,
    *,
    steps: int,
    every: int,
    out: Path,
    seed: bytes | None = None,
    threads: int = 1,
    hyperparameters: dict[str, Any] | None = None,
    run_id: str | None = None,
    reveal_seed: bool = True,
) -> Manifest:
    """Train ``recipe`` honestly for ``steps`` steps into the transcript directory ``out``.

    ``seed`` defaults to 32 fresh random bytes. With ``reveal_seed`` (the default, so that the
    directory can be verified on its own) the manifest carries the seed; a lab that commits on
    the log before an audit asks keeps it back (``reveal_seed=False``) and adds it later."""
    chosen = recipe_named(recipe)
    if steps < 1 or every < 1:
        raise TranscriptError(f"steps and every must be positive, got {steps} and {every}")
    checkpoint_steps(steps, every)  # refuses more steps or checkpoints than a transcript holds
    if seed is not None and not seed:
        raise TranscriptError("the seed is empty")
    out = Path(out)
    if (out / MANIFEST).exists():
        raise TranscriptError(f"{out} already holds a transcript")
    secret = secrets.token_bytes(SEED_BYTES) if seed is None else seed
    hp = resolve_hyperparameters(chosen, hyperparameters)
    records = training_records(chosen)
    data = encode(chosen, records.train)
    checkpoints: list[CheckpointRef] = []
    with deterministic(threads):
        model = initial_model(chosen, hp, secret)
        marks = checkpoint_steps(steps, every)
        initial = save_weights(weights_of(model), out / checkpoint_path(0))
        checkpoints.append(CheckpointRef(0, initial))
        for start, end in itertools.pairwise(marks):
            run_steps(chosen, model, data, hp, secret, start, end)
            digest = save_weights(weights_of(model), out / checkpoint_path(end))
            checkpoints.append(CheckpointRef(end, digest))
    manifest = Manifest(
        run_id=run_id,
        recipe=chosen.name,
        hyperparameters=hp,
        hyperparameters_digest=hyperparameters_digest(hp),
        dataset=DatasetRef(records.name, len(records.train), records.merkle_root()),
        seed_commitment=seed_commitment(secret),
        seed=secret.hex() if reveal_seed else None,
        every=every,
        steps=steps,
        threads=threads,
        deterministic=True,
        versions=versions(),
        checkpoints=tuple(checkpoints),
    )
    write_manifest(out, manifest)
    return manifest


__all__ = [
    "SEED_BYTES",
    "Encoded",
    "Weights",
    "deterministic",
    "encode",
    "initial_model",
    "load_weights",
    "recipe_named",
    "resolve_hyperparameters",
    "run_steps",
    "save_weights",
    "sgd_step",
    "train",
    "training_records",
    "versions",
    "weights_from_bytes",
    "weights_of",
]
