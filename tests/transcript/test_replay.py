"""Replay of one segment and the distances it is judged by (pausewatch.transcript._replay)."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
import torch

from pausewatch.transcript import (
    SegmentResult,
    SegmentTask,
    TranscriptError,
    checkpoint_path,
    cosine_distance,
    read_manifest,
    relative_l2,
    replay_segment,
    tolerance_for,
    write_manifest,
)
from pausewatch.transcript._train import load_weights, save_weights


def _rewrite_checkpoint(directory: Path, step: int, scale: float) -> None:
    """Scale the weights at ``step`` and commit the new file's digest in the manifest."""
    path = directory / checkpoint_path(step)
    weights = {k: v * scale for k, v in load_weights(path).items()}
    digest = save_weights(weights, path)
    manifest = read_manifest(directory)
    refs = tuple(
        dataclasses.replace(c, digest=digest) if c.step == step else c for c in manifest.checkpoints
    )
    write_manifest(directory, dataclasses.replace(manifest, checkpoints=refs))


def test_an_honest_segment_replays_exactly(honest_mlp: Path) -> None:
    """On the same platform and thread count an honest segment replays bit-exactly."""
    result = replay_segment(SegmentTask(str(honest_mlp), "run-mlp", 2))
    assert (result.segment, result.start_step, result.end_step) == (2, 20, 30)
    assert result.distance == 0.0
    assert result.passed
    assert result.steps_replayed == 10
    assert result.tolerance == tolerance_for("mlp")


@pytest.mark.parametrize("threads", [2, 3])
def test_another_thread_count_stays_within_tolerance(honest_tinylm: Path, threads: int) -> None:
    """An honest replay with another thread count is within the calibrated tolerance."""
    result = replay_segment(SegmentTask(str(honest_tinylm), None, 4, threads=threads))
    assert result.distance <= result.tolerance
    assert result.passed


def test_the_training_batches_lose_more_than_held_out(honest_mlp: Path) -> None:
    """The end checkpoint's loss dropped more on the segment's batches than on held-out ones."""
    for segment in range(6):
        result = replay_segment(SegmentTask(str(honest_mlp), None, segment))
        assert result.train_loss_drop > result.heldout_loss_drop


def test_a_tampered_end_checkpoint_fails_the_replay(mlp_copy: Path) -> None:
    """End weights moved by 1% (digest recommitted) are far outside the tolerance."""
    _rewrite_checkpoint(mlp_copy, 30, 1.01)
    result = replay_segment(SegmentTask(str(mlp_copy), None, 2))
    assert not result.passed
    assert result.distance == pytest.approx(0.01 / 1.01, rel=1e-3)


def test_a_checkpoint_of_another_shape_fails_instead_of_raising(mlp_copy: Path) -> None:
    """End weights that do not fit the recipe's model are a failed segment, not an error."""
    path = mlp_copy / checkpoint_path(60)
    digest = save_weights({"other": torch.zeros(3)}, path)
    manifest = read_manifest(mlp_copy)
    refs = tuple(
        c if c.step != 60 else dataclasses.replace(c, digest=digest) for c in manifest.checkpoints
    )
    write_manifest(mlp_copy, dataclasses.replace(manifest, checkpoints=refs))
    result = replay_segment(SegmentTask(str(mlp_copy), None, 5))
    assert not result.passed


def test_a_checkpoint_not_matching_its_digest_is_refused(mlp_copy: Path) -> None:
    """Replay checks the start checkpoint's digest against the manifest before using it: the
    segment fails, not replayed, with the digest as its error (a result, never an exception:
    tests/transcript/test_hostile.py)."""
    path = mlp_copy / checkpoint_path(10)
    path.write_bytes(path.read_bytes() + b" ")
    result = replay_segment(SegmentTask(str(mlp_copy), None, 1))
    assert not result.passed
    assert result.steps_replayed == 0
    assert result.error is not None
    assert "digest" in result.error


def test_a_replay_needs_the_revealed_seed(mlp_copy: Path) -> None:
    """Without the seed the batches cannot be derived: the segment fails with the seed as its
    error."""
    write_manifest(mlp_copy, dataclasses.replace(read_manifest(mlp_copy), seed=None))
    result = replay_segment(SegmentTask(str(mlp_copy), None, 0))
    assert not result.passed
    assert result.error is not None
    assert "seed" in result.error


def test_tasks_and_results_pickle_and_key(honest_mlp: Path) -> None:
    """Tasks and results survive pickling (Ray); a task's key is (run_id or digest, segment)."""
    task = SegmentTask(str(honest_mlp), None, 3)
    assert pickle.loads(pickle.dumps(task)) == task  # noqa: S301 (our own bytes)
    assert task.key == (read_manifest(honest_mlp).digest(), 3)
    assert SegmentTask(str(honest_mlp), "run-mlp", 3).key == ("run-mlp", 3)
    result = replay_segment(task)
    assert pickle.loads(pickle.dumps(result)) == result  # noqa: S301 (our own bytes)
    assert SegmentResult(**result.to_json()) == result


def test_relative_l2_is_over_all_parameters() -> None:
    """relative_l2 is ||a - b|| / ||b|| over every parameter concatenated."""
    a = {"x": torch.tensor([3.0, 0.0]), "y": torch.tensor([0.0])}
    b = {"x": torch.tensor([3.0, 4.0]), "y": torch.tensor([0.0])}
    assert relative_l2(a, b) == pytest.approx(4.0 / 5.0)
    with pytest.raises(TranscriptError):
        relative_l2(a, {"x": b["x"]})


def _defective_cosine_distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Jia et al.'s reference-code variant: one model's norm used twice."""
    x = torch.cat([v.reshape(-1) for v in a.values()]).double()
    y = torch.cat([v.reshape(-1) for v in b.values()]).double()
    return 1.0 - float(torch.dot(x, y)) / float(torch.linalg.vector_norm(x)) ** 2


def test_pol_defect_cosine_distance_uses_each_models_own_norm() -> None:
    """Proof-of-Learning reference-code defect (b): the cosine distance divides by |a| |b|.

    a = (3, 4), b = (2, 0): a.b = 6, |a| = 5, |b| = 2, so 1 - 6 / 10 = 0.4; the defective
    formula 1 - a.b / |a|^2 gives 0.76."""
    a = {"w": torch.tensor([3.0, 4.0])}
    b = {"w": torch.tensor([2.0, 0.0])}
    assert cosine_distance(a, b) == pytest.approx(0.4)
    assert cosine_distance(b, a) == pytest.approx(0.4)
    assert _defective_cosine_distance(a, b) == pytest.approx(0.76)
    assert cosine_distance(a, {"w": 7 * a["w"]}) == pytest.approx(0.0, abs=1e-12)


def test_the_tolerance_is_the_recorded_calibration() -> None:
    """Each recipe's tolerance is max(margin x the largest honest distance, floor) as recorded
    from replays at several thread counts, and far below a 1% change of the weights."""
    from pausewatch.transcript._tolerance import calibration, choose_tolerance

    recorded = calibration()
    assert len(recorded["replay_threads"]) >= 3
    for name in ("mlp", "tinylm"):
        entry = recorded["recipes"][name]
        assert entry["replays"] > 0
        expected = choose_tolerance(entry["max_distance"], recorded["margin"], recorded["floor"])
        assert tolerance_for(name) == expected
        assert 0 < tolerance_for(name) < 1e-4
    with pytest.raises(TranscriptError, match="no calibrated tolerance"):
        tolerance_for("nope")
