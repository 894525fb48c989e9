"""Per-process caches of replay: the encoded dataset and the manifest's parse (issue 17)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
import torch

from pausewatch.transcript import (
    RECIPES,
    SegmentResult,
    SegmentTask,
    checkpoint_path,
    read_manifest,
    replay_segment,
)
from pausewatch.transcript._format import MANIFEST, _parsed, cached_manifest
from pausewatch.transcript._train import _encoded, encode, encoded_records, training_records


def _clear() -> None:
    _encoded.cache_clear()
    _parsed.cache_clear()


def _bits(result: SegmentResult) -> tuple[object, ...]:
    """Every field, floats as their IEEE 754 bytes (so -0.0 and 0.0 differ)."""
    return tuple(
        struct.pack("<d", v) if isinstance(v, float) else v for v in result.to_json().values()
    )


def _rewrite_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Replace ``old`` by ``new`` (same length) in the file itself: same inode, same size, and
    the modification time put back, so that only the content tells the change."""
    assert len(old) == len(new)
    before = path.stat()
    data = path.read_bytes()
    assert data.count(old) == 1
    with open(path, "r+b") as handle:
        handle.write(data.replace(old, new))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )


@pytest.mark.parametrize("fixture", ["honest_mlp", "honest_tinylm"])
def test_replays_are_bit_identical_with_and_without_the_caches(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    """Every segment replays to the same bits from cold caches as from warm ones."""
    directory: Path = request.getfixturevalue(fixture)
    manifest = read_manifest(directory)
    segments = range(-(-manifest.steps // manifest.every))
    tasks = [SegmentTask(str(directory), manifest.run_id, s, threads=1) for s in segments]
    cold = []
    for task in tasks:
        _clear()
        cold.append(_bits(replay_segment(task)))
    warm = [_bits(replay_segment(task)) for task in tasks]
    assert _encoded.cache_info().hits >= len(tasks) - 1
    assert _parsed.cache_info().hits >= len(tasks) - 1
    assert warm == cold


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_cached_encoding_is_the_fresh_one(name: str) -> None:
    """The shared tensors of a recipe's dataset equal a fresh encoding, dtype and all."""
    recipe = RECIPES[name]
    records = training_records(recipe)
    fresh = (encode(recipe, records.train), encode(recipe, records.heldout))
    for cached, new in zip(encoded_records(recipe), fresh, strict=True):
        for a, b in ((cached.inputs, new.inputs), (cached.targets, new.targets)):
            assert a.dtype == b.dtype
            assert torch.equal(a, b)


def test_the_cached_manifest_is_the_parsed_one(honest_mlp: Path) -> None:
    """The cached manifest equals a fresh read, digest included."""
    _clear()
    for _ in range(2):
        cached = cached_manifest(honest_mlp)
        assert cached == read_manifest(honest_mlp)
        assert cached.digest() == read_manifest(honest_mlp).digest()


def test_a_manifest_rewritten_on_disk_is_read_again(mlp_copy: Path) -> None:
    """A manifest changed after a replay (same inode, size and mtime) is not served stale: the
    next replay sees the new commitment and fails the checkpoint it no longer matches."""
    manifest = read_manifest(mlp_copy)
    task = SegmentTask(str(mlp_copy), manifest.run_id, 0, threads=1)
    assert replay_segment(task).passed
    committed = manifest.digest_at(manifest.every)
    forged = ("0" if committed[0] != "0" else "1") + committed[1:]
    _rewrite_in_place(mlp_copy / MANIFEST, committed.encode(), forged.encode())
    assert cached_manifest(mlp_copy).digest_at(manifest.every) == forged
    refused = replay_segment(task)
    assert not refused.passed
    assert refused.error is not None
    assert f"the manifest commits to {forged}" in refused.error


def test_a_checkpoint_changed_after_a_replay_is_refused(mlp_copy: Path) -> None:
    """Checkpoints are digest-checked on every replay, however warm the caches are."""
    manifest = read_manifest(mlp_copy)
    task = SegmentTask(str(mlp_copy), manifest.run_id, 0, threads=1)
    assert replay_segment(task).passed
    path = mlp_copy / checkpoint_path(0)
    tail = path.read_bytes()[-8:]
    _rewrite_in_place(path, tail, bytes(b ^ 1 for b in tail))
    refused = replay_segment(task)
    assert not refused.passed
    assert refused.error is not None
    assert "checkpoint at step 0 has digest" in refused.error
