"""The interpolation screen (pausewatch.transcript._screen): checkpoints on a straight line at
equal steps between their neighbours fail the audit before any replay; honest runs do not."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch

from pausewatch.transcript import (
    SPOOFS,
    SegmentResult,
    SegmentTask,
    draw_segments,
    plan_audit,
    segment_count,
    segments_for_budget,
    train,
    verify,
)
from pausewatch.transcript._screen import (
    SHOWN,
    Screen,
    relative_second_difference,
    screen_floor,
)
from pausewatch.transcript._spoofs import fabricated_blocks, fabricated_segments
from pausewatch.transcript._tolerance import calibration

BEACON = hashlib.sha256(b"screen beacon").digest()
STEPS, EVERY = 24, 2
"""12 segments of 2 steps."""
PERTURB = 0.1
"""Noise of a tenth of a block's displacement: enough to leave the line (r about 0.2)."""


def _never(tasks: Sequence[SegmentTask]) -> Iterable[SegmentResult]:
    raise AssertionError(f"no replay expected, asked for {tasks}")


def _walk(count: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """A random walk of float32 'checkpoints' (two tensors), steps of SGD-like size."""
    g = torch.Generator().manual_seed(seed)
    w = {"a": torch.randn(40, 30, generator=g), "b": torch.randn(30, generator=g)}
    out = [w]
    for _ in range(count - 1):
        w = {k: v - 0.01 * torch.randn(v.shape, generator=g) for k, v in w.items()}
        out.append(w)
    return out


def _screened(checkpoints: list[dict[str, torch.Tensor]], steps: list[int]) -> Screen:
    screen = Screen(screen_floor())
    for step, weights in zip(steps, checkpoints, strict=True):
        screen.add(step, weights)
    return screen


def test_an_exact_equal_step_interpolation_is_flagged() -> None:
    """float32 checkpoints at 1/3 and 2/3 of the line between two real ones have r of float
    rounding (below 1e-4) and are flagged; the real ends are not."""
    walk = _walk(6, 1)
    a, b = walk[1], walk[4]
    forged = [walk[0], a]
    forged += [{k: a[k] + t * (b[k] - a[k]) for k in a} for t in (1 / 3, 2 / 3)]
    forged += [b, walk[5]]
    screen = _screened(forged, [0, 10, 20, 30, 40, 50])
    assert screen.ratios[20] < 1e-4
    assert screen.ratios[30] < 1e-4
    assert screen.flagged == (20, 30)
    assert screen.passed  # the screen targets replays; the replay judges
    assert "step 20" in screen.detail()
    assert "step 30" in screen.detail()


def test_a_random_walk_is_not_flagged() -> None:
    """Independent steps leave every checkpoint far off the line (r near 1)."""
    screen = _screened(_walk(30, 2), [10 * i for i in range(30)])
    assert screen.passed
    assert min(screen.ratios.values()) > 0.1
    assert len(screen.ratios) == 28


def test_a_shorter_final_segment_is_judged_by_the_step_ratio() -> None:
    """With steps 0, 10, 20, 25, a checkpoint at step 20 written on the line from step 10 to 25
    (two thirds of the way) is flagged; the honest one is not."""
    walk = _walk(4, 3)
    start, end = walk[1], walk[3]
    on_line = {k: start[k] + (10 / 15) * (end[k] - start[k]) for k in start}
    assert _screened([walk[0], start, on_line, end], [0, 10, 20, 25]).flagged == (20,)
    assert _screened(walk, [0, 10, 20, 25]).passed


def test_the_ratio_is_the_relative_second_difference_and_guards_a_zero_span() -> None:
    """For equal steps r is ||c+ - 2c + c-|| / ||c+ - c-||; equal neighbours give 0 when the
    middle equals them and infinity when it does not."""
    x = torch.tensor([0.0, 0.0], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0], dtype=torch.float64)
    z = torch.tensor([2.0, 0.0], dtype=torch.float64)
    expected = float(torch.linalg.vector_norm(z - 2 * y + x) / torch.linalg.vector_norm(z - x))
    assert relative_second_difference(x, y, z) == pytest.approx(expected)
    assert relative_second_difference(x, x, x) == 0.0
    assert relative_second_difference(x, y, x) == float("inf")


def test_the_detail_names_a_few_flagged_checkpoints_then_counts() -> None:
    """Many flagged checkpoints: the detail names SHOWN of them and counts the rest."""
    walk = _walk(2, 4)
    line = [
        {k: walk[0][k] + (i / 9) * (walk[1][k] - walk[0][k]) for k in walk[0]} for i in range(10)
    ]
    screen = _screened(line, list(range(0, 100, 10)))
    assert len(screen.flagged) == 8
    assert f"and {8 - SHOWN} more" in screen.detail()


def test_the_floor_is_calibrated_between_interpolation_and_honest_runs() -> None:
    """calibration.json records the floor at 1/margin of the smallest honest r, above the
    largest r an exact interpolation gave."""
    screen = calibration()["interpolation_screen"]
    assert screen["floor"] == screen_floor()
    assert screen["floor"] == pytest.approx(screen["min_honest_ratio"] / screen["margin"])
    assert screen["max_interpolated_ratio"] < screen["floor"] < screen["min_honest_ratio"]
    assert set(screen["recipes"]) == {"mlp", "tinylm"}


@pytest.mark.parametrize("recipe", ["mlp", "tinylm"])
@pytest.mark.parametrize("seed", [b"screen-1", b"screen-2", b"screen-3"])
def test_honest_transcripts_pass_the_screen(recipe: str, seed: bytes, tmp_path: Path) -> None:
    """Honest runs of both recipes (several seeds, a checkpoint every 2 steps and a shorter
    final segment) pass the screen and every other integrity check."""
    train(recipe, steps=15, every=2, out=tmp_path / "run", seed=seed, threads=1)
    plan = plan_audit(tmp_path / "run", budget=0.01, beacon=BEACON)
    screen = next(c for c in plan.checks if c.check == "interpolation_screen")
    assert screen.passed, screen.detail
    assert plan.passed


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An honest mlp run of 12 segments of 2 steps."""
    out = tmp_path_factory.mktemp("honest") / "run"
    train("mlp", steps=STEPS, every=EVERY, out=out, seed=b"screen-honest", threads=1)
    return out


def test_skipped_compute_is_replayed_where_the_screen_flags_it(
    honest: Path, tmp_path: Path
) -> None:
    """Plain skipped compute fails at a 1% budget: the screen names the fabricated checkpoints
    and their segments are replayed beyond the draw, where the replay fails them. The screen
    itself fails nothing (honest training can come near a straight line too)."""
    forged = SPOOFS["skipped_compute"](honest, tmp_path / "forged", rng_seed=5, fraction=0.2)
    verdict = verify(forged, budget=0.01, beacon=BEACON)
    assert verdict.verdict == "fail"
    assert [c.check for c in verdict.checks if not c.passed] == []
    inside = [
        s * EVERY
        for block in fabricated_blocks(STEPS // EVERY, 0.2, 5)
        for s in range(block.start + 1, block.stop)
    ]
    assert inside
    [screened] = [c for c in verdict.checks if c.check == "interpolation_screen"]
    assert f"{len(inside)} checkpoint(s) near the straight line" in screened.detail
    assert verdict.targeted == tuple(s // EVERY - 1 for s in inside)
    replayed = {r.segment: r for r in verdict.segments}
    assert all(not replayed[t].passed for t in verdict.targeted)
    assert any("flagged by the interpolation screen" in r for r in verdict.reasons)


def test_an_honest_run_the_screen_flags_still_passes(honest: Path) -> None:
    """An honest transcript whose checkpoints the screen flagged (a floor raised above every
    honest ratio here, as a run with a tiny learning rate could be) is replayed there and
    passes: the screen costs replays, never a verdict."""
    from pausewatch.transcript import _verify

    original = _verify.screen_floor
    _verify.screen_floor = lambda: 10.0  # type: ignore[assignment]
    try:
        verdict = verify(honest, budget=0.01, beacon=BEACON)
    finally:
        _verify.screen_floor = original  # type: ignore[assignment]
    assert verdict.targeted
    assert verdict.verdict == "pass", verdict.reasons


def test_perturbed_skipped_compute_is_caught_only_by_a_replay_of_a_forged_segment(
    honest: Path, tmp_path: Path
) -> None:
    """A forger who adds noise to its interpolated checkpoints passes the screen (and every
    other check); an audit then fails exactly when its draw holds a fabricated segment."""
    forged = SPOOFS["skipped_compute"](
        honest, tmp_path / "forged", rng_seed=5, fraction=0.2, perturb=PERTURB
    )
    fabricated = set(fabricated_segments(STEPS // EVERY, 0.2, 5))
    total = segment_count(STEPS, EVERY)
    budget = 3 * EVERY / STEPS
    count = segments_for_budget(budget, STEPS, EVERY)
    outcomes = set()
    for i in range(40):
        if i >= 8 and outcomes == {True, False}:
            break
        beacon = hashlib.sha256(i.to_bytes(4, "big")).digest()
        verdict = verify(forged, budget=budget, beacon=beacon)
        assert all(c.passed for c in verdict.checks), verdict.reasons
        caught = bool(set(draw_segments(beacon, total, count)) & fabricated)
        assert (verdict.verdict == "fail") == caught, i
        outcomes.add(caught)
    assert outcomes == {True, False}
