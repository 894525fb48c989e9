"""The spoof suite: forged transcripts written as a cheating lab would (issue 17 §4).

Each generator takes an honest transcript directory (the lab's own run, seed revealed) and
writes a forged transcript directory into ``out``. The forger controls every file it writes, so
it recomputes every digest it can: each checkpoint's digest in the manifest is its file's, the
hyper-parameters digest is that of the hyper-parameters the manifest claims, the dataset's
Merkle root and the seed commitment are the committed ones. A spoof caught only by a stale
digest would be no spoof. What the forger cannot make consistent is the training itself: the
initial weights are a function of the committed seed, the batches of the seed and the committed
records, and a replayed segment of the claimed hyper-parameters.

Generators share the signature ``(honest_dir, out_dir, *, rng_seed, **params) -> Path``:
``rng_seed`` drives the forger's own choices (which records to drop, which segments to skip,
the order it trains in), so that a benchmark can draw many different forgeries.

Attacks from the literature that cannot be mounted here, and why:

- Zhang et al. (2022) craft inputs with near-zero gradient so that an interpolated segment still
  replays within tolerance. Here the batch of every step is drawn by the committed seed from
  the records whose Merkle root was committed before training: the forger chooses neither the
  records nor which of them a step uses, so it cannot feed a replay crafted batches. What is left
  of the attack is the interpolation itself (:func:`interpolation`), which any replayed segment
  of it exposes.
- Zhang et al.'s fake initial weights near the final ones pass a statistical initialisation
  test; here the initial weights are derived from the committed seed and compared bit for bit.
  ``interpolation(init="fake")`` keeps that variant to show the check; the default starts from
  the true seed-derived weights instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import random
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pausewatch.transcript._format import (
    CheckpointRef,
    Manifest,
    TranscriptError,
    checkpoint_path,
    checkpoint_steps,
    hyperparameters_digest,
    read_manifest,
    write_manifest,
)

if TYPE_CHECKING:
    from pausewatch.transcript._train import Weights

SPOOF_DOMAIN = b"pausewatch/transcript-spoof/v1\x00"
"""Domain separation for the seeds a forger derives from its ``rng_seed``."""


Spoof = Callable[..., Path]
"""A forged transcript generator: ``(honest_dir, out_dir, *, rng_seed, **params) -> Path``
writes a forged transcript of ``honest_dir``'s run into ``out_dir`` and returns it."""


# -- the forger's tools ------------------------------------------------------------------------


def _forger_seed(rng_seed: int, purpose: str) -> bytes:
    return hashlib.sha256(
        SPOOF_DOMAIN + purpose.encode() + b"\x00" + rng_seed.to_bytes(16, "big", signed=True)
    ).digest()


def _honest(honest_dir: Path) -> tuple[Manifest, bytes]:
    manifest = read_manifest(honest_dir)
    seed = manifest.seed_bytes()
    if seed is None:
        raise TranscriptError(f"{honest_dir}: the forger needs its own seed revealed")
    return manifest, seed


def _fresh(out_dir: Path) -> Path:
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise TranscriptError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _copy(honest_dir: Path, out_dir: Path) -> Path:
    out = _fresh(out_dir)
    shutil.copytree(honest_dir, out, dirs_exist_ok=True)
    return out


def _load(directory: Path, step: int) -> Weights:
    from pausewatch.transcript._train import load_weights

    return load_weights(Path(directory) / checkpoint_path(step))


def _replace_checkpoints(out: Path, manifest: Manifest, weights: Mapping[int, Weights]) -> Path:
    """Overwrite the checkpoints at ``weights``' steps and rewrite the manifest with every
    checkpoint's digest recomputed."""
    from pausewatch.transcript._train import save_weights

    digests = {step: save_weights(w, out / checkpoint_path(step)) for step, w in weights.items()}
    refs = tuple(CheckpointRef(c.step, digests.get(c.step, c.digest)) for c in manifest.checkpoints)
    write_manifest(out, dataclasses.replace(manifest, checkpoints=refs))
    return out


def _lerp(start: Weights, end: Weights, t: float) -> Weights:
    """``start + t (end - start)``, tensor by tensor."""
    return {k: (start[k] + t * (end[k] - start[k])).contiguous() for k in start}


def _train_forged(
    manifest: Manifest,
    out: Path,
    *,
    init_seed: bytes,
    batch: Callable[[int, int, int], Sequence[int]],
    hyperparameters: Mapping[str, Any] | None = None,
) -> Path:
    """Train the manifest's recipe as the forger does: initial weights from ``init_seed``,
    step ``t``'s batch ``batch(t, records, batch_size)``; checkpoints where the manifest has
    them; the manifest claims what ``manifest`` says, with the new checkpoints' digests."""
    from pausewatch.transcript._train import (
        deterministic,
        encode,
        initial_model,
        recipe_named,
        save_weights,
        sgd_step,
        training_records,
        weights_of,
    )

    recipe = recipe_named(manifest.recipe)
    hp = dict(hyperparameters if hyperparameters is not None else manifest.hyperparameters)
    data = encode(recipe, training_records(recipe).train)
    records = int(data.inputs.shape[0])
    lr, batch_size = float(hp["lr"]), int(hp["batch_size"])
    marks = checkpoint_steps(manifest.steps, manifest.every)
    refs: list[CheckpointRef] = []
    with deterministic(manifest.threads):
        model = initial_model(recipe, hp, init_seed)
        model.train()
        refs.append(CheckpointRef(0, save_weights(weights_of(model), out / checkpoint_path(0))))
        for start, end in itertools.pairwise(marks):
            for step in range(start, end):
                sgd_step(recipe, model, data.batch(list(batch(step, records, batch_size))), lr)
            refs.append(
                CheckpointRef(end, save_weights(weights_of(model), out / checkpoint_path(end)))
            )
    write_manifest(out, dataclasses.replace(manifest, checkpoints=tuple(refs)))
    return out


# -- the attacks -------------------------------------------------------------------------------


def interpolation(
    honest_dir: Path, out_dir: Path, *, rng_seed: int, init: str = "seed", noise: float = 0.01
) -> Path:
    """Zhang et al. (2022): keep the final weights, fabricate the history by equal steps of
    linear interpolation from the initial weights to them.

    ``init="seed"`` starts from the true seed-derived initial weights (they pass the
    initialisation check); ``init="fake"`` from the final weights plus Gaussian noise of
    ``noise`` times each tensor's standard deviation, Zhang et al.'s fake initialisation near
    the final model. Every segment is fabricated."""
    import torch

    if init not in ("seed", "fake"):
        raise TranscriptError(f"init must be 'seed' or 'fake', got {init!r}")
    manifest, _ = _honest(honest_dir)
    out = _copy(honest_dir, out_dir)
    final = _load(honest_dir, manifest.steps)
    forged: dict[int, Weights] = {}
    if init == "seed":
        first = _load(honest_dir, 0)
    else:
        g = torch.Generator().manual_seed(rng_seed)
        first = {
            k: (v + noise * float(v.std()) * torch.randn(v.shape, generator=g)).contiguous()
            for k, v in final.items()
        }
        forged[0] = first
    for step in checkpoint_steps(manifest.steps, manifest.every)[1:-1]:
        forged[step] = _lerp(first, final, step / manifest.steps)
    return _replace_checkpoints(out, manifest, forged)


def forged_hyperparameter(
    honest_dir: Path,
    out_dir: Path,
    *,
    rng_seed: int,
    name: str = "lr",
    factor: float = 2.0,
) -> Path:
    """Fang et al. (2023): train at one value of a hyper-parameter (``name`` times ``factor``),
    claim another (the honest run's). The manifest's hyper-parameters and their digest are the
    claimed ones; every checkpoint is the forger's honest training at the real value."""
    from pausewatch.transcript._data import batch_indices

    manifest, seed = _honest(honest_dir)
    claimed = dict(manifest.hyperparameters)
    if name not in claimed:
        raise TranscriptError(f"recipe {manifest.recipe!r} has no hyper-parameter {name!r}")
    used = {**claimed, name: type(claimed[name])(claimed[name] * factor)}
    if used[name] == claimed[name]:
        raise TranscriptError(f"factor {factor} leaves {name}={claimed[name]!r} unchanged")
    out = _fresh(out_dir)
    claim = dataclasses.replace(
        manifest, hyperparameters=claimed, hyperparameters_digest=hyperparameters_digest(claimed)
    )
    return _train_forged(
        claim,
        out,
        init_seed=seed,
        batch=lambda step, records, size: batch_indices(seed, step, records, size),
        hyperparameters=used,
    )


def data_subtraction(honest_dir: Path, out_dir: Path, *, rng_seed: int, kept: float = 0.7) -> Path:
    """Train on a fraction ``kept`` of the committed records and claim all of them: the forger
    follows the seed's batches, and a batch that would draw a record it dropped is replaced by
    one drawn from the records it kept."""
    from pausewatch.transcript._data import batch_indices

    if not 0 < kept < 1:
        raise TranscriptError(f"kept must be in (0, 1), got {kept}")
    manifest, seed = _honest(honest_dir)
    rng = random.Random(rng_seed)
    records = manifest.dataset.records
    keep = sorted(rng.sample(range(records), round(kept * records)))
    kept_set = frozenset(keep)

    def batch(step: int, records: int, size: int) -> Sequence[int]:
        drawn = batch_indices(seed, step, records, size)
        if kept_set.issuperset(drawn):
            return drawn
        return rng.sample(keep, size)

    return _train_forged(manifest, _fresh(out_dir), init_seed=seed, batch=batch)


def fabricated_blocks(segments: int, fraction: float, rng_seed: int) -> tuple[range, ...]:
    """The blocks of segments :func:`skipped_compute` fabricates, ascending and disjoint:
    ``F = max(2, round(fraction * (N - 2)))`` of the ``N - 2`` segments between the first and
    the last (the forger keeps the always-replayed first and final segments honest), in blocks
    of two (one of three when F is odd) placed uniformly at random. A block runs between two
    real checkpoints, so that interpolation has ends to run between; blocks may touch."""
    if not 0 < fraction < 1:
        raise TranscriptError(f"fraction must be in (0, 1), got {fraction}")
    pool = segments - 2
    forged = min(pool, max(2, round(fraction * pool)))
    if forged < 2:
        raise TranscriptError(f"{segments} segments leave no two to fabricate")
    lengths = [2] * (forged // 2)
    if forged % 2:
        lengths[-1] = 3
    rng = random.Random(rng_seed)
    rng.shuffle(lengths)
    # Stars and bars: the blocks and the pool - forged honest segments in a random order.
    slots = sorted(rng.sample(range(pool - forged + len(lengths)), len(lengths)))
    blocks = []
    for j, slot in enumerate(slots):
        start = 1 + slot - j + sum(lengths[:j])
        blocks.append(range(start, start + lengths[j]))
    return tuple(blocks)


def fabricated_segments(segments: int, fraction: float, rng_seed: int) -> tuple[int, ...]:
    """The segments :func:`skipped_compute` fabricates (those of :func:`fabricated_blocks`)."""
    return tuple(s for block in fabricated_blocks(segments, fraction, rng_seed) for s in block)


def skipped_compute(
    honest_dir: Path,
    out_dir: Path,
    *,
    rng_seed: int,
    fraction: float = 0.1,
    perturb: float = 0.0,
) -> Path:
    """Skip a fraction ``fraction`` of the segments (:func:`fabricated_blocks`): the
    checkpoints inside a skipped block are fabricated by linear interpolation between the
    block's end checkpoints, which stay real. (The forger reaches a block's far end some cheaper
    way; the honest run's checkpoint stands in for it here, which only helps the forger.)

    Plain interpolation lays the fabricated checkpoints on a straight line at equal steps, which
    the interpolation screen flags at any budget. With ``perturb > 0`` the forger knows the
    screen: it adds to each fabricated tensor Gaussian noise (its own generator, from
    ``rng_seed``) whose norm is about ``perturb`` times that tensor's displacement across the
    block, ``||end - start||``, which moves the checkpoint off the line."""
    import torch

    if perturb < 0:
        raise TranscriptError(f"perturb must be >= 0, got {perturb}")
    manifest, _ = _honest(honest_dir)
    marks = checkpoint_steps(manifest.steps, manifest.every)
    out = _copy(honest_dir, out_dir)
    noise = torch.Generator().manual_seed(
        int.from_bytes(_forger_seed(rng_seed, "perturb")[:8], "big") >> 1
    )
    forged: dict[int, Weights] = {}
    for block in fabricated_blocks(len(marks) - 1, fraction, rng_seed):
        a, b = marks[block.start], marks[block.stop]
        start_w, end_w = _load(honest_dir, a), _load(honest_dir, b)
        for step in marks[block.start + 1 : block.stop]:
            weights = _lerp(start_w, end_w, (step - a) / (b - a))
            if perturb > 0:
                weights = {
                    k: (
                        v
                        + perturb
                        * float(torch.linalg.vector_norm(end_w[k] - start_w[k]))
                        / max(1, v.numel()) ** 0.5
                        * torch.randn(v.shape, generator=noise, dtype=v.dtype)
                    ).contiguous()
                    for k, v in weights.items()
                }
            forged[step] = weights
    return _replace_checkpoints(out, manifest, forged)


def reordered_batches(honest_dir: Path, out_dir: Path, *, rng_seed: int) -> Path:
    """Train on the committed records, from the committed initial weights, in an order of the
    forger's choosing (another seed's order) instead of the one the committed seed dictates."""
    from pausewatch.transcript._data import batch_indices

    manifest, seed = _honest(honest_dir)
    order = _forger_seed(rng_seed, "order")
    return _train_forged(
        manifest,
        _fresh(out_dir),
        init_seed=seed,
        batch=lambda step, records, size: batch_indices(order, step, records, size),
    )


def swapped_final(
    honest_dir: Path, out_dir: Path, *, rng_seed: int, donor: Path | None = None
) -> Path:
    """Present as final a model from another run: the final checkpoint is replaced by the final
    weights of ``donor`` (a transcript of the same recipe and shapes), or of a run the forger
    trains with another seed when no donor is given."""
    manifest, _ = _honest(honest_dir)
    out = _copy(honest_dir, out_dir)
    if donor is not None:
        return _replace_checkpoints(out, manifest, {manifest.steps: _load(donor, manifest.steps)})
    from pausewatch.transcript._train import train

    with tempfile.TemporaryDirectory(prefix="pausewatch-donor-") as tmp:
        train(
            manifest.recipe,
            steps=manifest.steps,
            every=manifest.steps,
            out=Path(tmp),
            seed=_forger_seed(rng_seed, "donor"),
            threads=manifest.threads,
            hyperparameters=dict(manifest.hyperparameters),
        )
        final = _load(Path(tmp), manifest.steps)
    return _replace_checkpoints(out, manifest, {manifest.steps: final})


def foreign_init(honest_dir: Path, out_dir: Path, *, rng_seed: int, hide: bool = False) -> Path:
    """Start from initial weights not derived from the committed seed (another seed's, standing
    for any weights the lab brought along) and train honestly from them on the committed batches.

    With ``hide``, the forger writes the true seed-derived weights as the step-0 checkpoint, so
    that the initialisation check passes and only segment 0 (from those weights to the real first
    checkpoint) is inconsistent: one forged segment, caught only when the draw replays it."""
    from pausewatch.transcript._data import batch_indices
    from pausewatch.transcript._train import (
        deterministic,
        initial_model,
        recipe_named,
        weights_of,
    )

    manifest, seed = _honest(honest_dir)
    out = _train_forged(
        manifest,
        _fresh(out_dir),
        init_seed=_forger_seed(rng_seed, "init"),
        batch=lambda step, records, size: batch_indices(seed, step, records, size),
    )
    if not hide:
        return out
    with deterministic(manifest.threads):
        model = initial_model(recipe_named(manifest.recipe), manifest.hyperparameters, seed)
    true_init = weights_of(model)
    return _replace_checkpoints(out, read_manifest(out), {0: true_init})


SPOOFS: Mapping[str, Spoof] = {
    "interpolation": interpolation,
    "forged_hyperparameter": forged_hyperparameter,
    "data_subtraction": data_subtraction,
    "skipped_compute": skipped_compute,
    "reordered_batches": reordered_batches,
    "swapped_final": swapped_final,
    "foreign_init": foreign_init,
}
"""The spoof suite by name (contract T3)."""


__all__ = [
    "SPOOFS",
    "Spoof",
    "data_subtraction",
    "fabricated_blocks",
    "fabricated_segments",
    "foreign_init",
    "forged_hyperparameter",
    "interpolation",
    "reordered_batches",
    "skipped_compute",
    "swapped_final",
]
