"""The spoof suite (pausewatch.transcript._spoofs): each forgery is self-consistent where a
cheater can make it so, and verification catches it."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

pytest.importorskip("torch")

import itertools

from pausewatch.transcript import (
    SPOOFS,
    checkpoint_path,
    draw_segments,
    file_digest,
    miss_probability,
    read_manifest,
    segments_for_budget,
    train,
    verify,
)
from pausewatch.transcript._data import batch_indices
from pausewatch.transcript._format import hyperparameters_digest
from pausewatch.transcript._spoofs import (
    _train_forged,
    fabricated_blocks,
    fabricated_segments,
)

SEED = bytes.fromhex("f0e1" * 16)
STEPS, EVERY = 24, 2
"""12 segments of 2 steps: every segment replayed at a budget of 100% in a second or two."""
BEACON = hashlib.sha256(b"test beacon").digest()


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab's own honest run that the forger starts from."""
    out = tmp_path_factory.mktemp("honest") / "run"
    train("mlp", steps=STEPS, every=EVERY, out=out, seed=SEED, threads=1, run_id="run-7")
    return out


@pytest.fixture(scope="module")
def donor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another run of the same recipe whose final weights a forger swaps in."""
    out = tmp_path_factory.mktemp("donor") / "run"
    train("mlp", steps=STEPS, every=EVERY, out=out, seed=b"\x09" * 32, threads=1)
    return out


def _self_consistent(forged: Path, honest: Path) -> None:
    """What a cheater can satisfy: the manifest follows the format's JSON Schema, every digest
    is the file's, the hyper-parameters digest is that of the claimed hyper-parameters, and the
    commitments (dataset, seed, steps, every, run) are the honest run's."""
    claim, real = read_manifest(forged), read_manifest(honest)
    jsonschema = pytest.importorskip("jsonschema")
    schema = resources.files("pausewatch.transcript").joinpath("transcript.schema.json")
    jsonschema.validate(
        json.loads((forged / "manifest.json").read_text()), json.loads(schema.read_text())
    )
    for ref in claim.checkpoints:
        assert file_digest(forged / checkpoint_path(ref.step)) == ref.digest
    assert [c.step for c in claim.checkpoints] == [c.step for c in real.checkpoints]
    assert claim.hyperparameters_digest == hyperparameters_digest(claim.hyperparameters)
    assert claim.hyperparameters == real.hyperparameters
    assert claim.dataset == real.dataset
    assert claim.seed_commitment == real.seed_commitment
    assert claim.seed == real.seed
    assert hashlib.sha256(bytes.fromhex(claim.seed or "")).hexdigest() == claim.seed_commitment
    assert (claim.run_id, claim.steps, claim.every) == (real.run_id, real.steps, real.every)


CASES: dict[str, tuple[dict[str, object], str, set[str]]] = {
    "interpolation": ({}, "replay distance", set()),
    "interpolation/fake-init": (
        {"init": "fake"},
        "initial_weights: step 0 differs",
        {"initial_weights"},
    ),
    "forged_hyperparameter": ({}, "segment 0 (steps 0-2): replay distance", set()),
    "data_subtraction": ({}, "segment 0 (steps 0-2): replay distance", set()),
    "skipped_compute": ({"fraction": 0.2}, "replay distance", set()),
    "skipped_compute/perturbed": ({"fraction": 0.2, "perturb": 0.1}, "replay distance", set()),
    "reordered_batches": ({}, "segment 0 (steps 0-2): replay distance", set()),
    "swapped_final": ({}, "segment 11 (steps 22-24): replay distance", set()),
    "foreign_init": ({}, "initial_weights: step 0 differs", {"initial_weights"}),
    "foreign_init/hidden": ({"hide": True}, "segment 0 (steps 0-2): replay distance", set()),
}
"""Each attack (and variant): its parameters, a reason a full audit gives for failing it, and
the integrity checks it fails (the interpolation screen fails none: it targets the segments of
checkpoints written on the straight line between their neighbours for replay)."""


def test_the_suite_names_every_attack_of_the_issue() -> None:
    """SPOOFS holds exactly the seven attacks of contract T3."""
    assert set(SPOOFS) == {
        "interpolation",
        "forged_hyperparameter",
        "data_subtraction",
        "skipped_compute",
        "reordered_batches",
        "swapped_final",
        "foreign_init",
    }


def test_the_honest_run_passes(honest: Path) -> None:
    """The honest run the forgeries start from passes at a budget of 100% (the reference)."""
    assert verify(honest, budget=1.0, beacon=BEACON).to_json()["verdict"] == "pass"


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_spoof_is_self_consistent_and_caught_at_full_budget(
    case: str, honest: Path, tmp_path: Path
) -> None:
    """Each forgery's manifest is self-consistent (no stale digest gives it away), it differs
    from the honest run, and verify at a budget of every segment fails it for what the attack
    changed: a replay out of tolerance, the initial weights, or checkpoints on a line."""
    params, reason, checks = CASES[case]
    forged = SPOOFS[case.split("/")[0]](honest, tmp_path / "forged", rng_seed=3, **params)
    _self_consistent(forged, honest)
    assert read_manifest(forged).checkpoints != read_manifest(honest).checkpoints
    verdict = verify(forged, budget=1.0, beacon=BEACON).to_json()
    assert verdict["verdict"] == "fail"
    assert any(reason in r for r in verdict["reasons"]), verdict["reasons"]
    failed = {c["check"] for c in verdict["checks"] if not c["passed"]}
    assert failed == checks


def test_swapped_final_takes_the_donor_s_weights(honest: Path, donor: Path, tmp_path: Path) -> None:
    """With a donor, the forged final checkpoint is byte for byte the donor's final one, and the
    always-replayed final segment catches it at the smallest budget."""
    forged = SPOOFS["swapped_final"](honest, tmp_path / "forged", rng_seed=0, donor=donor)
    final = checkpoint_path(STEPS)
    assert (forged / final).read_bytes() == (donor / final).read_bytes()
    verdict = verify(forged, budget=0.01, beacon=BEACON).to_json()
    assert verdict["verdict"] == "fail"
    assert [s["segment"] for s in verdict["segments"]] == [0, STEPS // EVERY - 1]


def test_the_forgeries_caught_at_any_budget_fail_at_the_smallest(
    honest: Path, tmp_path: Path
) -> None:
    """Attacks that break every segment, the initial weights or lay checkpoints on a straight
    line fail an audit at the smallest budget, which replays the first and the final segment
    and those the interpolation screen targets (none where an integrity check already
    failed)."""
    for name in (
        "interpolation",
        "forged_hyperparameter",
        "reordered_batches",
        "foreign_init",
        "skipped_compute",
    ):
        forged = SPOOFS[name](honest, tmp_path / name, rng_seed=1)
        verdict = verify(forged, budget=0.01, beacon=BEACON).to_json()
        assert verdict["verdict"] == "fail", name
        if name == "foreign_init":
            assert verdict["segments"] == []
        elif name in ("interpolation", "skipped_compute"):
            # The first and final segments, and those the screen targeted.
            assert len(verdict["segments"]) == 2 + len(verdict["targeted"]) > 2
            assert any("flagged by the interpolation screen" in r for r in verdict["reasons"])
        else:
            assert len(verdict["segments"]) == 2


def test_the_forger_s_training_loop_is_the_engine_s(honest: Path, tmp_path: Path) -> None:
    """Fed the committed seed and order, the forger's loop rewrites the honest run bit for bit:
    whatever a forgery changes is the attack's doing, not a drift between two loops."""
    seed = SEED
    again = _train_forged(
        read_manifest(honest),
        tmp_path / "again",
        init_seed=seed,
        batch=lambda step, records, size: batch_indices(seed, step, records, size),
    )
    assert read_manifest(again) == read_manifest(honest)


def test_fabricated_blocks_are_disjoint_pairs_between_the_first_and_final_segments() -> None:
    """F = max(2, round(f (N-2))) segments in blocks of two (one of three if odd), disjoint,
    never the first or the final segment (both always replayed), and placed differently for
    different forgers."""
    for rng_seed in range(50):
        for segments, fraction in ((12, 0.2), (400, 0.1), (101, 0.05), (5, 0.5)):
            blocks = fabricated_blocks(segments, fraction, rng_seed)
            chosen = fabricated_segments(segments, fraction, rng_seed)
            forged = max(2, round(fraction * (segments - 2)))
            assert len(chosen) == len(set(chosen)) == forged
            assert max(chosen) < segments - 1
            assert min(chosen) >= 1
            assert sorted(len(b) for b in blocks)[:-1] == [2] * (len(blocks) - 1)
            assert all(a.stop <= b.start for a, b in itertools.pairwise(blocks))
    assert fabricated_segments(400, 0.1, 1) != fabricated_segments(400, 0.1, 2)


def _detected(
    forged: Path, budget: float, beacons: range, forged_segments: set[int]
) -> tuple[int, Callable[[], float]]:
    """Audit ``forged`` with each beacon; assert that an audit fails exactly when its draw holds
    a forged segment; return the failures and the theory's detection rate."""
    claim = read_manifest(forged)
    segments = math.ceil(claim.steps / claim.every)
    count = segments_for_budget(budget, claim.steps, claim.every)
    failures = 0
    for b in beacons:
        beacon = hashlib.sha256(b.to_bytes(4, "big")).digest()
        verdict = verify(forged, budget=budget, beacon=beacon).to_json()
        drawn = set(draw_segments(beacon, segments, count))
        assert (verdict["verdict"] == "fail") == bool(drawn & forged_segments), b
        failures += verdict["verdict"] == "fail"
    return failures, lambda: 1 - miss_probability(segments, len(forged_segments), count)


@pytest.mark.slow
def test_skipped_compute_is_caught_as_often_as_the_draw_predicts(
    honest: Path, tmp_path: Path
) -> None:
    """Skipped compute perturbed off the line (it passes the interpolation screen): at a budget
    of 3 segments in 12 (the first, the final and one drawn) with 2 fabricated, an audit fails
    exactly when the draw holds a fabricated segment, and the detection rate over 80 beacons
    agrees with 1 - miss_probability (within four binomial standard deviations)."""
    forged = SPOOFS["skipped_compute"](
        honest, tmp_path / "forged", rng_seed=5, fraction=0.1, perturb=0.1
    )
    fabricated = set(fabricated_segments(STEPS // EVERY, 0.1, 5))
    assert len(fabricated) == 2
    failures, theory = _detected(forged, 3 * EVERY / STEPS, range(80), fabricated)
    p = theory()
    assert failures / 80 == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / 80))


@pytest.mark.slow
def test_a_hidden_foreign_init_is_caught_at_any_budget(honest: Path, tmp_path: Path) -> None:
    """A foreign initialisation hidden behind the true step-0 weights leaves segment 0 the only
    inconsistent one, and every draw replays segment 0: every audit at the smallest budget
    fails. (Before the draw held the first segment, 3 in 100 were caught at 5%.)"""
    forged = SPOOFS["foreign_init"](honest, tmp_path / "forged", rng_seed=5, hide=True)
    failures, _ = _detected(forged, EVERY / STEPS, range(20), {0})
    assert failures == 20
