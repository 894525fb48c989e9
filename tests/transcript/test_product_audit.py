"""The audit use case in process (pausewatch.service.audit_transcript, issue 17 §3) on a real
service: an honest transcript passes, with its replays and verdict on the log and the same verdict
as ``verify`` with the same beacon; running it again is a rescan that appends nothing, and one
interrupted after its first replay goes on from the log; a forged transcript fails, the fold takes
the ``fail`` and the policy's ``transcript_failed`` becomes a halt proposal; a directory whose
manifest differs from the commitments fails with the differences as reasons."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pausewatch.service import (
    LocalTranscriptLog,
    LogService,
    audit_transcript,
    commit_transcript,
    transcript_report,
)
from transcript.product_world import ProductWorld, build, declaration, open_service

STEPS, EVERY, BUDGET = 40, 2, 0.1
HONEST, SPOOF, OTHER, FOREIGN = "lab/honest", "lab/spoof", "lab/other", "lab/foreign"


def bound(run_id: str, directory: Path) -> dict[str, object]:
    manifest = json.loads((directory / "manifest.json").read_text())
    return declaration(
        run_id,
        hyperparameters=manifest["hyperparameters_digest"],
        seed=manifest["seed_commitment"],
        every=manifest["every"],
    )


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An honest mlp transcript, two forgeries of it (its final model swapped in; initial
    weights not from the seed), and another honest run (another seed)."""
    from pausewatch.transcript import SPOOFS, train

    base = tmp_path_factory.mktemp("product-audit")
    honest = base / "honest"
    train("mlp", steps=STEPS, every=EVERY, out=honest, seed=b"\x01" * 32, threads=1)
    forged = Path(SPOOFS["swapped_final"](honest, base / "forged", rng_seed=7))
    foreign = Path(SPOOFS["foreign_init"](honest, base / "foreign", rng_seed=7))
    other = base / "other"
    train("mlp", steps=STEPS, every=EVERY, out=other, seed=b"\x02" * 32, threads=1)
    return {"honest": honest, "forged": forged, "foreign": foreign, "other": other}


@pytest.fixture
def world(
    transcripts: dict[str, Path], tmp_path: Path
) -> Iterator[tuple[LogService, ProductWorld]]:
    runs = [
        bound(HONEST, transcripts["honest"]),
        bound(SPOOF, transcripts["forged"]),
        bound(OTHER, transcripts["honest"]),
        bound(FOREIGN, transcripts["foreign"]),
    ]
    built = build(tmp_path / "log", runs)
    service = open_service(built)
    try:
        log = LocalTranscriptLog(service)
        for run_id, name in (
            (HONEST, "honest"),
            (SPOOF, "forged"),
            (OTHER, "honest"),
            (FOREIGN, "foreign"),
        ):
            commit_transcript(
                directory=transcripts[name], key=built.keys["operator"], log=log, run_id=run_id
            )
        yield service, built
    finally:
        service.close()


def test_an_honest_transcript_passes_as_verify_says(
    world: tuple[LogService, ProductWorld], transcripts: dict[str, Path]
) -> None:
    """The audit passes; each drawn segment's replay and the verdict are on the log where the
    outcome says; the beacon is the root after the final commitment; and verify with that
    beacon gives the same verdict, segments and figures."""
    from pausewatch.transcript import verify

    service, built = world
    outcome = audit_transcript(
        run_id=HONEST,
        directory=transcripts["honest"],
        budget=BUDGET,
        key=built.keys["inspector"],
        log=LocalTranscriptLog(service),
        use_ray=False,
    )
    assert outcome.passed, outcome.verdict["reasons"]
    held = transcript_report(service.state, HONEST)
    assert outcome.beacon_size == held["commitment"]["final_idx"] + 1
    assert outcome.verdict["beacon"] == service.log.root_at(outcome.beacon_size).hex()
    [audit] = held["audits"]
    assert audit["verdict"]["idx"] == outcome.verdict_index
    assert sorted(r["idx"] for r in audit["replays"]) == sorted(outcome.replay_indices.values())
    assert audit["verdict"]["segments"] == sorted(outcome.replay_indices)
    alone = verify(
        transcripts["honest"], budget=BUDGET, beacon=bytes.fromhex(outcome.verdict["beacon"])
    ).to_json()
    assert alone == outcome.verdict


def test_an_audit_run_again_is_a_rescan(
    world: tuple[LogService, ProductWorld], transcripts: dict[str, Path]
) -> None:
    """An audit interrupted after its first replay (that replay on the log) goes on from the
    log when run again: the segment is read back, not replayed; a third run appends nothing."""
    service, built = world
    log = LocalTranscriptLog(service)
    args = {
        "run_id": HONEST,
        "directory": transcripts["honest"],
        "budget": BUDGET,
        "key": built.keys["inspector"],
        "log": log,
        "use_ray": False,
    }

    class LostError(Exception):
        pass

    def lose(done: int, total: int) -> None:
        raise LostError(f"the worker died after {done} of {total}")

    with pytest.raises(LostError):
        audit_transcript(**args, on_replay=lose)  # type: ignore[arg-type]
    [first] = transcript_report(service.state, HONEST)["audits"]
    assert first["verdict"] is None
    assert first["segments_replayed"] == 1
    resumed = audit_transcript(**args)  # type: ignore[arg-type]
    assert resumed.rescanned == (first["replays"][0]["segment"],)
    assert resumed.passed
    size = service.log.size
    again = audit_transcript(**args)  # type: ignore[arg-type]
    assert service.log.size == size
    assert again.verdict_index == resumed.verdict_index
    assert again.rescanned == tuple(sorted(resumed.replay_indices))


def test_an_audit_id_another_inspector_took_is_not_this_audits(
    world: tuple[LogService, ProductWorld], transcripts: dict[str, Path]
) -> None:
    """Another registered inspector that puts a replay on the log under this audit's default
    id first does not block the audit, nor is its replay read back as this audit's: the audit
    goes under the next free id derived from the default, and running it again is a rescan of
    that one."""
    from pausewatch.service._transcripts import default_audit_id
    from pausewatch.statements import KeyPair, sign_statement

    service, built = world
    log = LocalTranscriptLog(service)
    squatter = KeyPair.generate("squatter")
    register = {
        "inspector_id": "insp-2",
        "name": "Other",
        "body": "Other Inspectorate",
        "key": squatter.signer_id,
    }
    service.submit(
        sign_statement("inspector.register/v1", register, built.keys["secretariat"])
    ).result(30)
    held = transcript_report(service.state, HONEST)
    size = int(held["commitment"]["final_idx"]) + 1
    default = default_audit_id(HONEST, "insp-1", size, BUDGET)
    taken = {
        "audit_id": default,
        "run_id": HONEST,
        "inspector_id": "insp-2",
        "segment": 0,
        "start_step": 0,
        "end_step": EVERY,
        "distance": 0.0,
        "tolerance": 1.0,
        "passed": True,
        "train_loss_drop": 9.0,
        "heldout_loss_drop": 0.0,
        "steps_replayed": EVERY,
    }
    log.submit(sign_statement("transcript.replay/v1", taken, squatter))
    args = {
        "run_id": HONEST,
        "directory": transcripts["honest"],
        "budget": BUDGET,
        "key": built.keys["inspector"],
        "log": log,
        "use_ray": False,
    }
    outcome = audit_transcript(**args)  # type: ignore[arg-type]
    assert outcome.audit_id == f"{default}-2"
    assert outcome.passed, outcome.verdict["reasons"]
    assert outcome.rescanned == ()
    again = audit_transcript(**args)  # type: ignore[arg-type]
    assert again.audit_id == outcome.audit_id
    assert again.verdict_index == outcome.verdict_index
    assert again.rescanned == tuple(sorted(outcome.replay_indices))


def test_a_forged_transcript_fails_and_its_run_is_proposed_for_a_halt(
    world: tuple[LogService, ProductWorld], transcripts: dict[str, Path]
) -> None:
    """A final model swapped in fails the audit (the last segment is always replayed); the fold
    takes the fail, the policy finds transcript_failed about the run and the clerk files a halt
    order proposal for it."""
    from pausewatch.service import evaluation

    service, built = world
    outcome = audit_transcript(
        run_id=SPOOF,
        directory=transcripts["forged"],
        budget=BUDGET,
        key=built.keys["inspector"],
        log=LocalTranscriptLog(service),
        use_ray=False,
    )
    assert outcome.verdict["verdict"] == "fail"
    last = max(outcome.replay_indices)
    assert not next(s for s in outcome.verdict["segments"] if s["segment"] == last)["passed"]
    [audit] = transcript_report(service.state, SPOOF)["audits"]
    assert audit["verdict"]["verdict"] == "fail"
    found = [
        f
        for f in evaluation(service.state, service.clock()).findings
        if f.kind.value == "transcript_failed"
    ]
    assert [f.subject for f in found] == [f"run:{SPOOF}"]
    service.run_clerk()
    halts = [
        r
        for r in service.state.registry.views["proposals"].values()
        if r["kind"] == "halt_order" and r["subject"] == f"run:{SPOOF}"
    ]
    assert len(halts) == 1


def test_a_directory_unlike_its_commitments_fails_with_reasons(
    world: tuple[LogService, ProductWorld], transcripts: dict[str, Path], tmp_path: Path
) -> None:
    """Audited against another run's directory, the run fails, each difference with the log's
    commitments a reason (the seed's commitment, the checkpoints), and the fold takes it."""
    service, built = world
    other = tmp_path / "other"
    shutil.copytree(transcripts["other"], other)
    outcome = audit_transcript(
        run_id=OTHER,
        directory=other,
        budget=BUDGET,
        key=built.keys["inspector"],
        log=LocalTranscriptLog(service),
        use_ray=False,
    )
    assert outcome.verdict["verdict"] == "fail"
    reasons = " ".join(outcome.verdict["reasons"])
    assert "seed_commitment" in reasons
    assert "differ from their commitment" in reasons
    [audit] = transcript_report(service.state, OTHER)["audits"]
    assert audit["verdict"]["reasons"] == outcome.verdict["reasons"]


@pytest.mark.slow
def test_the_audit_replays_on_ray_with_the_same_verdict(
    world: tuple[LogService, ProductWorld], transcripts: dict[str, Path]
) -> None:
    """Through a local Ray (use_ray), the audit's replays run as Ray tasks and the verdict is
    the one an in-process replay gives (verify with the same beacon)."""
    pytest.importorskip("ray")
    from pausewatch.transcript import verify

    service, built = world
    outcome = audit_transcript(
        run_id=HONEST,
        directory=transcripts["honest"],
        budget=BUDGET,
        key=built.keys["inspector"],
        log=LocalTranscriptLog(service),
        use_ray=True,
    )
    assert outcome.passed, outcome.verdict["reasons"]
    beacon = bytes.fromhex(outcome.verdict["beacon"])
    assert verify(transcripts["honest"], budget=BUDGET, beacon=beacon).to_json() == outcome.verdict


def test_an_audit_stopped_by_an_integrity_check_is_filed_as_a_fail(
    world: tuple[LogService, ProductWorld], transcripts: dict[str, Path]
) -> None:
    """Initial weights not derived from the committed seed fail the audit's integrity checks
    before any replay: the fail, naming the drawn segments and the reason, is taken by the
    fold with no replay on the log, and the policy files it as transcript_failed."""
    from pausewatch.service import evaluation

    service, built = world
    outcome = audit_transcript(
        run_id=FOREIGN,
        directory=transcripts["foreign"],
        budget=BUDGET,
        key=built.keys["inspector"],
        log=LocalTranscriptLog(service),
        use_ray=False,
    )
    assert outcome.verdict["verdict"] == "fail"
    assert outcome.replay_indices == {}
    assert any("initial" in reason for reason in outcome.verdict["reasons"])
    [audit] = transcript_report(service.state, FOREIGN)["audits"]
    assert audit["replays"] == []
    assert audit["verdict"]["verdict"] == "fail"
    assert audit["verdict"]["segments"][0] == 0
    found = {(f.kind.value, f.subject) for f in evaluation(service.state, service.clock()).findings}
    assert ("transcript_failed", f"run:{FOREIGN}") in found
