"""Audit of a transcript directory: checks, drawn replays, inclusion, verdict
(pausewatch.transcript._verify), and the three Proof-of-Learning reference-code defects."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from pausewatch.transcript import (
    ALPHA,
    MIN_PAIRS,
    RECIPES,
    SegmentResult,
    SegmentTask,
    TranscriptError,
    checkpoint_path,
    conclude,
    draw_segments,
    hyperparameters_digest,
    inclusion_test,
    plan_audit,
    read_manifest,
    relative_l2,
    replay_segment,
    segment_count,
    segments_for_budget,
    train,
    verify,
    write_manifest,
)
from pausewatch.transcript._data import dataset
from pausewatch.transcript._format import CheckpointRef
from pausewatch.transcript._train import (
    deterministic,
    encode,
    initial_model,
    load_weights,
    run_steps,
    save_weights,
    weights_of,
)

BEACON = bytes.fromhex("b0" * 32)


def _never(tasks: Sequence[SegmentTask]) -> Iterable[SegmentResult]:
    raise AssertionError(f"no replay expected, asked for {tasks}")


def _threads(count: int):  # type: ignore[no-untyped-def]
    def runner(tasks: Sequence[SegmentTask]) -> Iterable[SegmentResult]:
        return [replay_segment(dataclasses.replace(t, threads=count)) for t in tasks]

    return runner


def _recommit(directory: Path, **changes: object) -> None:
    write_manifest(directory, dataclasses.replace(read_manifest(directory), **changes))


def _forge(
    honest: Path, out: Path, *, order_seed: bytes | None = None, lr: float | None = None
) -> Path:
    """A transcript claiming ``honest``'s manifest but trained with another batch order or
    learning rate (each checkpoint's digest recommitted)."""
    shutil.copytree(honest, out)
    manifest = read_manifest(honest)
    seed = manifest.seed_bytes()
    assert seed is not None
    recipe = RECIPES[manifest.recipe]
    hp = dict(manifest.hyperparameters, **({} if lr is None else {"lr": lr}))
    data = encode(recipe, dataset(recipe.dataset_name).train)
    refs = [manifest.checkpoints[0]]
    with deterministic(1):
        model = initial_model(recipe, hp, seed)
        for before, after in zip(manifest.checkpoints, manifest.checkpoints[1:], strict=False):
            run_steps(recipe, model, data, hp, order_seed or seed, before.step, after.step)
            digest = save_weights(weights_of(model), out / checkpoint_path(after.step))
            refs.append(CheckpointRef(after.step, digest))
    _recommit(out, checkpoints=tuple(refs))
    return out


@pytest.mark.parametrize("fixture", ["honest_mlp", "honest_tinylm"])
def test_an_honest_transcript_passes(fixture: str, request: pytest.FixtureRequest) -> None:
    """An honest run passes every check, every drawn replay and the inclusion test."""
    directory: Path = request.getfixturevalue(fixture)
    manifest = read_manifest(directory)
    verdict = verify(directory, budget=0.5, beacon=BEACON)
    assert verdict.verdict == "pass", verdict.reasons
    total = segment_count(manifest.steps, manifest.every)
    drawn = draw_segments(BEACON, total, segments_for_budget(0.5, manifest.steps, manifest.every))
    assert tuple(s.segment for s in verdict.segments) == drawn
    assert all(c.passed for c in verdict.checks)
    assert verdict.inclusion.passed
    replayed = sum(s.steps_replayed for s in verdict.segments)
    assert verdict.compute_fraction == pytest.approx(replayed * (1 + 4 / 3) / manifest.steps)
    assert verdict.manifest_digest == manifest.digest()
    assert verdict.final_digest == manifest.checkpoints[-1].digest


def test_an_honest_replay_with_other_threads_passes(honest_tinylm: Path) -> None:
    """An honest run trained on 1 thread passes when replayed on 2."""
    verdict = verify(honest_tinylm, budget=1.0, beacon=BEACON, runner=_threads(2))
    assert verdict.verdict == "pass", verdict.reasons


def test_honest_short_runs_pass_the_inclusion_test(tmp_path: Path) -> None:
    """Short honest runs of both recipes pass at small and full budgets (few and many segments)."""
    for i, name in enumerate(["mlp", "tinylm", "mlp", "tinylm"]):
        out = tmp_path / f"{name}-{i}"
        train(name, steps=24, every=4, out=out, seed=bytes([i]))
        for budget in (0.2, 1.0):
            verdict = verify(out, budget=budget, beacon=bytes([i, 1]))
            assert verdict.verdict == "pass", verdict.reasons


def test_the_verdict_json_has_the_contract_keys(honest_mlp: Path) -> None:
    """Verdict.to_json() has exactly the keys of contract T2 (and `targeted`), and is JSON."""
    value = verify(honest_mlp, budget=0.2, beacon=BEACON).to_json()
    assert set(value) == {
        "verdict", "run_id", "recipe", "budget", "beacon", "segments_total", "segments",
        "inclusion", "checks", "reasons", "compute_fraction", "manifest_digest",
        "final_digest", "steps", "every", "targeted",
    }  # fmt: skip
    assert value["beacon"] == BEACON.hex()
    assert value["run_id"] == "run-mlp"
    assert set(value["inclusion"]) == {"statistic", "p_value", "passed", "conclusive"}
    assert json.loads(json.dumps(value, allow_nan=False)) == value


def _fails_without_replay(directory: Path, check: str) -> None:
    verdict = verify(directory, budget=0.5, beacon=BEACON, runner=_never)
    assert verdict.verdict == "fail"
    assert next(c.check for c in verdict.checks if not c.passed) == check
    assert any(r.startswith(check) for r in verdict.reasons)
    assert verdict.segments == ()


def test_a_missing_checkpoint_fails_before_replay(mlp_copy: Path) -> None:
    """A checkpoint file that is not there fails the digests check; nothing is replayed."""
    (mlp_copy / checkpoint_path(30)).unlink()
    _fails_without_replay(mlp_copy, "checkpoint_digests")


def test_a_changed_checkpoint_fails_before_replay(mlp_copy: Path) -> None:
    """A checkpoint whose bytes differ from its committed digest fails before replay."""
    path = mlp_copy / checkpoint_path(60)
    path.write_bytes(path.read_bytes()[:-4] + b"\x00\x00\x00\x00")
    _fails_without_replay(mlp_copy, "checkpoint_digests")


def test_a_wrong_hyperparameters_digest_fails(mlp_copy: Path) -> None:
    """A hyper-parameters digest that is not SHA-256 of their RFC 8785 bytes fails."""
    _recommit(mlp_copy, hyperparameters_digest="00" * 32)
    _fails_without_replay(mlp_copy, "hyperparameters_digest")


def test_a_wrong_dataset_root_fails(mlp_copy: Path) -> None:
    """A dataset root other than the one recomputed from the records fails."""
    manifest = read_manifest(mlp_copy)
    _recommit(mlp_copy, dataset=dataclasses.replace(manifest.dataset, merkle_root="11" * 32))
    _fails_without_replay(mlp_copy, "dataset")


def test_an_unrevealed_seed_fails(mlp_copy: Path) -> None:
    """Without the revealed seed nothing can be checked: the verdict is fail."""
    _recommit(mlp_copy, seed=None)
    _fails_without_replay(mlp_copy, "seed")


def test_a_seed_not_matching_its_commitment_fails(mlp_copy: Path) -> None:
    """A revealed seed whose SHA-256 is not the commitment fails."""
    _recommit(mlp_copy, seed="00ff")
    _fails_without_replay(mlp_copy, "seed")


def test_initial_weights_not_from_the_seed_fail(mlp_copy: Path) -> None:
    """Step-0 weights not derived from the committed seed fail, exactly compared."""
    manifest = read_manifest(mlp_copy)
    foreign = weights_of(initial_model(RECIPES["mlp"], manifest.hyperparameters, b"other"))
    digest = save_weights(foreign, mlp_copy / checkpoint_path(0))
    refs = (CheckpointRef(0, digest), *manifest.checkpoints[1:])
    _recommit(mlp_copy, checkpoints=refs)
    _fails_without_replay(mlp_copy, "initial_weights")


def test_a_missing_checkpoint_in_the_schedule_fails(mlp_copy: Path) -> None:
    """A manifest without a checkpoint at every multiple of every fails the schedule check."""
    manifest = read_manifest(mlp_copy)
    _recommit(mlp_copy, checkpoints=tuple(c for c in manifest.checkpoints if c.step != 20))
    _fails_without_replay(mlp_copy, "checkpoint_schedule")


def test_an_unreadable_manifest_fails(tmp_path: Path) -> None:
    """A directory without a readable manifest gets a fail verdict naming the manifest."""
    (tmp_path / "manifest.json").write_text("{}")
    verdict = verify(tmp_path, budget=0.5, beacon=BEACON, runner=_never)
    assert verdict.verdict == "fail"
    assert verdict.checks[0].check == "manifest"
    assert verdict.manifest_digest is None


def test_budget_and_beacon_are_validated(honest_mlp: Path) -> None:
    """A budget outside (0, 1] or an empty beacon is an error, not a verdict."""
    for budget in (0.0, 1.5, -0.1):
        with pytest.raises(TranscriptError, match="budget"):
            plan_audit(honest_mlp, budget=budget, beacon=BEACON)
    with pytest.raises(TranscriptError, match="beacon"):
        plan_audit(honest_mlp, budget=0.5, beacon=b"")


def test_a_forged_hyperparameter_fails_replay(honest_mlp: Path, tmp_path: Path) -> None:
    """Trained at one learning rate, claimed at another: every replayed segment fails."""
    forged = _forge(honest_mlp, tmp_path / "forged", lr=0.05)
    verdict = verify(forged, budget=0.2, beacon=BEACON)
    assert verdict.verdict == "fail"
    assert all(not s.passed for s in verdict.segments)
    assert all(s.distance > 100 * s.tolerance for s in verdict.segments)


def test_a_missing_replay_result_fails(honest_mlp: Path) -> None:
    """A drawn segment the runner returned nothing for fails the verdict."""
    verdict = verify(honest_mlp, budget=0.5, beacon=BEACON, runner=lambda tasks: [])
    assert verdict.verdict == "fail"
    assert any("no replay result" in r for r in verdict.reasons)


def _result(segment: int, train: float, heldout: float) -> SegmentResult:
    return SegmentResult(segment, 0, 1, 0.0, 1e-6, True, train, heldout, 1)


def test_inclusion_with_few_segments_is_inconclusive_and_decides_nothing() -> None:
    """Below MIN_PAIRS segments the test cannot reach ALPHA: it is inconclusive, reports W+
    and p all the same, and does not fail the verdict, whatever the differences' signs (a
    replay within tolerance already shows the segment trained on its batches)."""
    assert MIN_PAIRS == 8
    for results in (
        [_result(0, 0.2, 0.1)],
        [_result(0, 0.2, 0.1), _result(1, 0.1, 0.25)],
        [_result(0, 0.1, 0.1)],
        [],
    ):
        inclusion = inclusion_test(results)
        assert inclusion.passed
        assert not inclusion.conclusive
    shown = inclusion_test([_result(0, 0.2, 0.1), _result(1, 0.1, 0.25)])
    assert (shown.statistic, shown.p_value) == (1.0, 0.75)
    assert inclusion_test([_result(i, 0.1, 0.3) for i in range(8)]).conclusive


def test_inclusion_with_many_segments_is_a_one_sided_wilcoxon_test() -> None:
    """From MIN_PAIRS segments on, W+ and its one-sided p-value decide at ALPHA."""
    honest = inclusion_test([_result(i, 0.2 + i / 100, 0.1) for i in range(8)])
    assert honest.passed
    assert honest.statistic == 36.0
    assert honest.p_value == pytest.approx(1 / 256)
    assert honest.p_value <= ALPHA
    one_low = inclusion_test(
        [_result(i, 0.2 + i / 100, 0.1) for i in range(7)] + [_result(7, 0.1, 0.1001)]
    )
    assert one_low.passed
    mixed = inclusion_test([_result(i, 0.1, 0.1 + (-1) ** i * (i + 1) / 100) for i in range(8)])
    assert not mixed.passed
    assert mixed.p_value > ALPHA


def test_a_failed_plan_concludes_fail_whatever_the_results(mlp_copy: Path) -> None:
    """conclude() of a plan whose checks failed is fail, even given passing results."""
    _recommit(mlp_copy, seed=None)
    plan = plan_audit(mlp_copy, budget=0.5, beacon=BEACON)
    assert plan.tasks == ()
    assert conclude(plan, [_result(0, 1.0, 0.0)]).verdict == "fail"


def test_pol_defect_data_commitment_binds_batch_order(honest_mlp: Path, tmp_path: Path) -> None:
    """Proof-of-Learning reference-code defect (a): the data commitment must bind the ORDER.

    A transcript trained on the same committed records in another order has the same dataset
    root (the defective check, a hash of the dataset alone, accepts it), but the batches of
    every step come from the committed seed, so its replays fail."""
    forged = _forge(honest_mlp, tmp_path / "reordered", order_seed=b"another order")
    honest, reordered = read_manifest(honest_mlp), read_manifest(forged)
    assert reordered.dataset == honest.dataset  # the dataset-only commitment cannot tell
    assert reordered.checkpoints[0] == honest.checkpoints[0]
    verdict = verify(forged, budget=0.2, beacon=BEACON)
    assert verdict.verdict == "fail"
    assert all(c.passed for c in verdict.checks)
    assert verdict.segments
    assert all(not s.passed for s in verdict.segments)


def _interpolated(honest: Path, out: Path, segment: int) -> Path:
    """A forgery whose ``segment`` was never trained: its end checkpoint is 1% of the way from
    its start to the next one (a tiny logged update)."""
    shutil.copytree(honest, out)
    manifest = read_manifest(honest)
    end = manifest.checkpoints[segment + 1].step
    start_w = load_weights(honest / checkpoint_path(manifest.checkpoints[segment].step))
    end_w = load_weights(honest / checkpoint_path(manifest.checkpoints[segment + 2].step))
    fake = {k: start_w[k] + 0.01 * (end_w[k] - start_w[k]) for k in start_w}
    digest = save_weights(fake, out / checkpoint_path(end))
    refs = tuple(CheckpointRef(end, digest) if c.step == end else c for c in manifest.checkpoints)
    _recommit(out, checkpoints=refs)
    return out


def _defective_top_q(directory: Path, count: int) -> set[int]:
    """Jia et al.'s reference-code selection: the segments with the largest logged updates."""
    manifest = read_manifest(directory)
    sizes = []
    for i, (a, b) in enumerate(zip(manifest.checkpoints, manifest.checkpoints[1:], strict=False)):
        before = load_weights(directory / checkpoint_path(a.step))
        after = load_weights(directory / checkpoint_path(b.step))
        sizes.append((relative_l2(after, before), i))
    return {i for _, i in sorted(sizes, reverse=True)[:count]}


def test_pol_defect_segments_drawn_without_prover_logged_distances(
    honest_mlp: Path, tmp_path: Path
) -> None:
    """Proof-of-Learning reference-code defect (c): which segments are replayed must not
    depend on anything the prover logged.

    A forger keeps segment 2's logged update tiny. The defective top-Q selection never replays
    it; the beacon draw replays exactly the segments it replays for the honest transcript, so
    segment 2 is drawn at the same rate (Q - 2) / (N - 2) (the first and the last segment are
    always drawn), and fails when drawn."""
    forged = _interpolated(honest_mlp, tmp_path / "small-steps", 2)
    budget, total = 0.5, 6
    count = segments_for_budget(budget, 60, 10)
    assert 2 not in _defective_top_q(forged, count)
    hits = 0
    beacons = [i.to_bytes(4, "big") for i in range(40)]
    for beacon in beacons:
        forged_plan = plan_audit(forged, budget=budget, beacon=beacon)
        honest_plan = plan_audit(honest_mlp, budget=budget, beacon=beacon)
        drawn = [t.segment for t in forged_plan.tasks]
        assert drawn == [t.segment for t in honest_plan.tasks]
        assert tuple(drawn) == draw_segments(beacon, total, count)
        hits += 2 in drawn
    rate = sum(2 in draw_segments(i.to_bytes(4, "big"), total, count) for i in range(4000)) / 4000
    assert rate == pytest.approx((count - 2) / (total - 2), abs=0.03)
    assert hits > 0
    caught = next(b for b in beacons if 2 in draw_segments(b, total, count))
    verdict = verify(forged, budget=budget, beacon=caught)
    assert verdict.verdict == "fail"
    assert not next(s for s in verdict.segments if s.segment == 2).passed


def test_a_hyperparameter_change_is_seen_in_the_digest() -> None:
    """Sanity for forged_hyperparameter: another lr gives another digest."""
    hp = dict(RECIPES["mlp"].defaults)
    assert hyperparameters_digest(hp) != hyperparameters_digest({**hp, "lr": 0.05})
