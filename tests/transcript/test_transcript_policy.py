"""Transcripts under the policy (issue 17, §1 and §5; contract T5; docs/adr/0039): a run the
policy requires a transcript of that starts without one, commitments that stop or come late, a
failed audit (a halt proposal through the real service), evaluated weights that are not the
trained ones, and `pausewatch audit` recomputing every commitment and verdict."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pausewatch.policy import Policy, load_preset
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._facts import Facts
from pausewatch.policy._findings import Evaluation, Finding, FindingKind, Severity
from pausewatch.policy._model import Action
from pausewatch.state import facts_from_registry
from registry.world import World, declaration  # type: ignore[import-not-found]

AT = datetime(2026, 11, 26, tzinfo=UTC)
MIRI = load_preset("miri-2025")
FINAL = hashlib.sha256(b"final weights").hexdigest()
OTHER = hashlib.sha256(b"other weights").hexdigest()


def run(id: str = "r1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": id,
        "operator": "lab-a",
        "model": f"m-{id}",
        "phase": "pretraining",
        "declared": {"value": 5e22},
        "declared_at": "2026-10-01T00:00:00Z",
        "status": "running",
        "started": True,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2027-01-01T00:00:00Z",
    }
    return {**base, **fields}


def transcript(run_id: str = "r1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run": run_id,
        "committed_at": "2026-10-20T00:00:00Z",
        "checkpoints": 30,
        "last_checkpoint_at": "2026-11-25T12:00:00Z",
        "evidence": ["log:5"],
    }
    return {**base, **fields}


def found(
    kind: FindingKind, policy: Policy = MIRI, at: datetime = AT, **parts: Any
) -> list[Finding]:
    result: Evaluation = evaluate(policy, Facts.model_validate(parts), at)
    return [f for f in result.findings if f.kind is kind]


def without_transcripts(policy: Policy) -> Policy:
    return policy.model_copy(update={"transcripts": None})


# -- transcript_missing --------------------------------------------------------------------------


def test_a_required_run_started_without_a_transcript_is_missing() -> None:
    """A running 5e22 FLOP run under miri-2025 (transcripts from 1e22) with no commitment is a
    serious transcript_missing on the run, asking for an inspection."""
    [f] = found(FindingKind.TRANSCRIPT_MISSING, runs=[run()])
    assert (f.subject, f.severity, f.action) == ("run:r1", Severity.SERIOUS, Action.INSPECTION)
    assert dict(f.figures) == {
        "planned_flop": 5e22,
        "required_from_flop": 1e22,
        "committed": False,
    }
    assert "has none on the log" in f.explanation


def test_a_commitment_after_the_start_is_missing_before_it() -> None:
    """A transcript committed only after the run started binds nothing the run did before."""
    late = transcript(committed_at="2026-11-02T00:00:00Z")
    [f] = found(FindingKind.TRANSCRIPT_MISSING, runs=[run()], transcripts=[late])
    assert "reached the log only at 2026-11-02;" in f.explanation
    assert dict(f.figures)["committed"] is True


def test_a_commitment_before_the_start_is_what_the_policy_asks() -> None:
    """Committed before the start and checkpointed within the day: no transcript finding."""
    facts = {"runs": [run()], "transcripts": [transcript()]}
    assert found(FindingKind.TRANSCRIPT_MISSING, **facts) == []
    assert found(FindingKind.TRANSCRIPT_LATE, **facts) == []


@pytest.mark.parametrize(
    "over",
    [
        {"declared": {"value": 5e21}},
        {"status": "planned", "started": None},
        {"status": "finished", "started": False},
    ],
)
def test_runs_below_the_floor_or_not_started_need_no_transcript_yet(over: dict[str, Any]) -> None:
    """Below ``required_from_flop``, not yet started, or abandoned: no transcript_missing."""
    assert found(FindingKind.TRANSCRIPT_MISSING, runs=[run(**over)]) == []


def test_a_policy_without_a_transcripts_section_requires_none() -> None:
    """eu-ai-act (and miri-2025 without its section) require no transcript."""
    assert found(FindingKind.TRANSCRIPT_MISSING, load_preset("eu-ai-act"), runs=[run()]) == []
    policy = without_transcripts(MIRI)
    assert found(FindingKind.TRANSCRIPT_MISSING, policy, runs=[run()]) == []


# -- transcript_late -----------------------------------------------------------------------------


def test_a_running_run_that_stopped_committing_checkpoints_is_late() -> None:
    """The last checkpoint commitment is 36 hours old, past miri-2025's one day."""
    stale = transcript(last_checkpoint_at="2026-11-24T12:00:00Z")
    [f] = found(FindingKind.TRANSCRIPT_LATE, runs=[run()], transcripts=[stale])
    assert (f.subject, f.severity) == ("run:r1", Severity.SERIOUS)
    assert dict(f.figures) == {
        "gap_hours": 36.0,
        "limit_hours": 24.0,
        "gap_from": "2026-11-24T12:00:00Z",
        "gap_to": "2026-11-26T00:00:00Z",
        "gap_between": "its last checkpoint commitment and now",
    }


def test_a_running_run_with_no_checkpoint_is_late_from_its_start() -> None:
    """Before its first checkpoint, the gap runs from its start (after the commitment)."""
    empty = transcript(checkpoints=0, last_checkpoint_at=None)
    [f] = found(FindingKind.TRANSCRIPT_LATE, runs=[run()], transcripts=[empty])
    assert "from its start at 2026-11-01 to now at 2026-11-26" in f.explanation


def test_a_finished_runs_final_commitment_is_due_within_the_grace() -> None:
    """Ended at noon: the final weights are due a day later; missing after that, or committed
    after that, is late; committed within it is not."""
    ended = run(status="finished", ends_at="2026-11-24T12:00:00Z")
    [missing] = found(FindingKind.TRANSCRIPT_LATE, runs=[ended], transcripts=[transcript()])
    assert "still missing, due by 2026-11-25 12:00 UTC" in missing.explanation
    assert dict(missing.figures) == {
        "ended_at": "2026-11-24T12:00:00Z",
        "deadline": "2026-11-25T12:00:00Z",
        "final_committed": False,
    }
    slow = transcript(final_digest=FINAL, final_at="2026-11-25T13:00:00Z")
    [late] = found(FindingKind.TRANSCRIPT_LATE, runs=[ended], transcripts=[slow])
    assert "after 2026-11-25 12:00 UTC" in late.explanation
    prompt = transcript(final_digest=FINAL, final_at="2026-11-24T18:00:00Z")
    assert found(FindingKind.TRANSCRIPT_LATE, runs=[ended], transcripts=[prompt]) == []


def test_within_the_grace_the_final_commitment_is_not_yet_late() -> None:
    """Ended six hours ago, no final commitment yet: not late."""
    ended = run(status="finished", ends_at="2026-11-25T18:00:00Z")
    assert found(FindingKind.TRANSCRIPT_LATE, runs=[ended], transcripts=[transcript()]) == []


def test_a_halted_run_owes_no_final_weights() -> None:
    """A halted run stops short of its committed steps: no final commitment is due."""
    halted = run(status="halted", ends_at="2026-11-20T00:00:00Z")
    assert found(FindingKind.TRANSCRIPT_LATE, runs=[halted], transcripts=[transcript()]) == []


def commitment(at: str, entry: int, last_step: int) -> dict[str, Any]:
    return {"at": at, "entry": entry, "last_step": last_step}


def test_a_finished_run_that_committed_nothing_while_it_trained_is_late() -> None:
    """A run that committed no checkpoint while it trained and put every one on the log within
    a day of its end (final commitment within the grace) made no commitment as it went: the
    longest gap, from its start to its first checkpoint commitment, is the finding, with both
    moments named."""
    ended = run(status="finished", ends_at="2026-11-20T00:00:00Z")
    batch = transcript(
        last_checkpoint_at="2026-11-20T12:00:00Z",
        final_digest=FINAL,
        final_at="2026-11-20T12:00:00Z",
        commitments=[
            commitment("2026-11-20T06:00:00Z", 7, 3000),
            commitment("2026-11-20T12:00:00Z", 8, 4000),
        ],
    )
    [f] = found(FindingKind.TRANSCRIPT_LATE, runs=[ended], transcripts=[batch])
    assert dict(f.figures) == {
        "gap_hours": 456.0,
        "limit_hours": 24.0,
        "gap_from": "2026-11-01T00:00:00Z",
        "gap_to": "2026-11-20T00:00:00Z",
        "gap_between": "its start and its end",
    }
    assert "from its start at 2026-11-01 to its end at 2026-11-20" in f.explanation


def test_the_longest_gap_while_the_run_went_is_judged() -> None:
    """Commitments every day but for one three-day pause make the pause the finding, between
    the two commitments around it, whether the run is still going, finished or halted (a
    halted run owes no final weights, but its gaps while it ran count); daily commitments
    make none."""
    daily = [commitment(f"2026-11-{d:02d}T00:00:00Z", d, d * 1000) for d in range(1, 26)]
    paused = [c for c in daily if not 10 < int(c["at"][8:10]) < 13]
    for ran in (
        run(),
        run(status="halted", ends_at="2026-11-25T12:00:00Z"),
        run(status="finished", ends_at="2026-11-25T12:00:00Z"),
    ):
        done = {"final_digest": FINAL, "final_at": "2026-11-25T18:00:00Z"}
        extra = done if ran["status"] == "finished" else {}
        honest = transcript(commitments=daily, **extra)
        assert found(FindingKind.TRANSCRIPT_LATE, runs=[ran], transcripts=[honest]) == []
        [f] = found(
            FindingKind.TRANSCRIPT_LATE,
            runs=[ran],
            transcripts=[transcript(commitments=paused, **extra)],
        )
        figures = dict(f.figures)
        assert (figures["gap_hours"], figures["gap_from"], figures["gap_to"]) == (
            72.0,
            "2026-11-10T00:00:00Z",
            "2026-11-13T00:00:00Z",
        )
        assert figures["gap_between"] == (
            "its checkpoint commitment up to step 10000 (log:10) and its checkpoint "
            "commitment up to step 13000 (log:13)"
        )


def test_a_checkpoint_batch_is_one_commitment_in_the_facts() -> None:
    """The fold's facts list each checkpoint statement once, at the time it reached the log,
    with the last step it commits: however many checkpoints a batch carries, they were all
    committed then."""
    from transcript.test_fold import checkpoints, commit_body  # type: ignore[import-not-found]

    w = World()
    w.basic()
    w.ok("run.declaration/v1", declaration("r1"), "lab")
    w.ok("transcript.commit/v1", commit_body(), "lab")
    first = w.ok("transcript.checkpoint/v1", checkpoints(0, 1000, 2000, 3000), "lab")
    final = w.ok("transcript.checkpoint/v1", checkpoints(4000, final=True), "lab")
    [t] = facts_from_registry(w.registry, w.now, MIRI).transcripts
    assert [(c.entry, c.last_step) for c in t.commitments] == [
        (first.index, 3000),
        (final.index, 4000),
    ]
    assert t.commitments[-1].at == t.final_at


# -- transcript_failed ---------------------------------------------------------------------------


def verdict(outcome: str = "fail", **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "audit": "audit-1",
        "run": "r1",
        "inspector": "iaea-1",
        "verdict": outcome,
        "segments": [2, 7, 9],
        "failed_segments": [7] if outcome == "fail" else [],
        "inclusion_passed": True,
        "reasons": [],
        "at": "2026-11-25T00:00:00Z",
        "evidence": ["log:90"],
    }
    return {**base, **over}


def test_a_failed_audit_is_a_critical_halt_proposal_for_the_run() -> None:
    """Whatever the policy's transcripts section, a fail verdict is a critical
    transcript_failed on the run, naming the audit, the failed segments and the reasons."""
    failed = verdict(reasons=["final digest differs"], inclusion_passed=False)
    for policy in (MIRI, without_transcripts(MIRI)):
        [f] = found(FindingKind.TRANSCRIPT_FAILED, policy, transcript_verdicts=[failed])
        assert (f.subject, f.severity, f.action) == (
            "run:r1",
            Severity.CRITICAL,
            Action.HALT_PROPOSAL,
        )
        assert dict(f.figures) == {
            "audit": "audit-1",
            "segments": "2, 7, 9",
            "failed_segments": "7",
            "inclusion_passed": False,
            "reasons": "final digest differs",
        }
        assert f.evidence == ("log:90",)


def test_a_passing_audit_is_no_finding() -> None:
    """A pass verdict files nothing."""
    assert found(FindingKind.TRANSCRIPT_FAILED, transcript_verdicts=[verdict("pass")]) == []


# -- evaluated_weights_mismatch ------------------------------------------------------------------


def test_an_evaluation_of_other_weights_than_the_trained_ones_is_a_mismatch() -> None:
    """A result naming weights other than the final weights its model's run committed is a
    serious evaluated_weights_mismatch asking for an inspection; the trained weights, or a
    model with no final commitment, are not."""
    trained = transcript(final_digest=FINAL, final_at="2026-11-20T00:00:00Z")
    parts: dict[str, Any] = {"runs": [run(status="finished")], "transcripts": [trained]}
    other = {"result": "res-1", "model": "m-r1", "weights_digest": OTHER, "evidence": ["log:7"]}
    [f] = found(FindingKind.EVALUATED_WEIGHTS_MISMATCH, evaluated_weights=[other], **parts)
    assert (f.subject, f.severity, f.action) == ("eval:res-1", Severity.SERIOUS, Action.INSPECTION)
    assert dict(f.figures)["final_digests"] == FINAL
    same = {**other, "weights_digest": FINAL}
    assert found(FindingKind.EVALUATED_WEIGHTS_MISMATCH, evaluated_weights=[same], **parts) == []
    elsewhere = {**other, "model": "m-unrelated"}
    assert (
        found(FindingKind.EVALUATED_WEIGHTS_MISMATCH, evaluated_weights=[elsewhere], **parts) == []
    )


# -- from the fold -------------------------------------------------------------------------------


def test_the_facts_come_from_the_fold() -> None:
    """Commitments, a failed audit and an evaluated result on a real log become the facts the
    findings rest on: the run started after its commitment, its final weights, the verdict
    with its failed segment, the weights the result names."""
    from transcript.test_fold import (  # type: ignore[import-not-found]
        checkpoints,
        commit_body,
        inspector,
        replay_body,
        verdict_body,
    )

    w = World()
    w.basic()
    w.ok("run.declaration/v1", declaration("r1"), "lab")
    inspector(w)
    w.ok("transcript.commit/v1", commit_body(), "lab")
    w.ok("transcript.checkpoint/v1", checkpoints(0, 1000, 2000, 3000), "lab")
    final = w.ok("transcript.checkpoint/v1", checkpoints(4000, final=True), "lab").index
    body = verdict_body(w, final, verdict="fail")
    for segment in body["segments"]:
        w.ok("transcript.replay/v1", replay_body(segment, passed=segment != 3), "iaea-1")
    w.ok("transcript.verdict/v1", body, "iaea-1")
    facts = facts_from_registry(w.registry, w.now, MIRI)
    [t] = facts.transcripts
    assert (t.run, t.checkpoints, t.final_digest) == (
        "r1",
        5,
        checkpoints(4000)["checkpoints"][0]["digest"],
    )
    [v] = facts.transcript_verdicts
    assert (v.verdict, v.failed_segments, v.segments) == ("fail", (3,), tuple(body["segments"]))
    result = evaluate(MIRI, facts, w.now)
    [f] = [f for f in result.findings if f.kind is FindingKind.TRANSCRIPT_FAILED]
    assert dict(f.figures)["failed_segments"] == "3"


# -- through the service and the audit -----------------------------------------------------------


@pytest.fixture(scope="module")
def api_world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
    from api_world import build_world  # type: ignore[import-not-found]

    return build_world(tmp_path_factory.mktemp("transcript-world"))


def _failing_verdict(service: Any) -> dict[str, Any]:
    from api_world import transcript_verdict  # type: ignore[import-not-found]

    return {
        **transcript_verdict(service),
        "verdict": "fail",
        "reasons": ["segments trained on 70% of the committed records"],
    }


def test_a_failed_audit_becomes_a_halt_proposal(api_world: Any, tmp_path: Path) -> None:
    """A fail verdict on the log makes the service's clerk file a halt order proposal for the
    run, carrying its transcript_failed finding."""
    from api_world import open_world  # type: ignore[import-not-found]

    from pausewatch.audit import audit_log
    from pausewatch.ledger import LogStore
    from pausewatch.statements import sign_statement

    with open_world(api_world, tmp_path / "copy") as (service, client, _):
        before = {p for (p,) in service.state.registry.views["proposals"]}
        body = _failing_verdict(service)
        statement = sign_statement("transcript.verdict/v1", body, api_world.keys["inspector"])
        assert client.post("/v1/statements", json=statement.to_json()).status_code == 201
        assert service.run_clerk() >= 1
        rows = service.state.registry.views["proposals"]
        filed = [row for (p,), row in rows.items() if p not in before]
        entries = list(LogStore(service.engine).entries())
        verifier = service.log.verifier
    halts = [row for row in filed if row["kind"] == "halt_order"]
    assert [h["subject"] for h in halts] == ["run:r-tr"]
    assert halts[0]["text"].startswith("filed by the policy for finding transcript_failed")
    assert "audit audit-1 of run r-tr" in halts[0]["text"]
    # An auditor folding the entries alone finds the filed finding again, figure for figure.
    report, _ = audit_log(
        entries, [], verifier, secretariat=api_world.keys["secretariat"].signer_id
    )
    assert report.problems == []
    assert report.findings_rechecked >= 1
    assert report.transcript_verdicts_checked == 1


def test_pausewatch_audit_checks_every_commitment_and_verdict(
    api_world: Any, tmp_path: Path
) -> None:
    """`pausewatch audit` folds the entries again: every transcript and checkpoint commitment
    is checked, and the verdict's beacon and draw are recomputed and agree."""
    from api_world import open_world, transcript_verdict  # type: ignore[import-not-found]

    from pausewatch.statements import sign_statement

    data = tmp_path / "data"
    shutil.copytree(api_world.data_dir, data)
    with open_world(api_world, data) as (service, client, _):
        body = transcript_verdict(service)
        statement = sign_statement("transcript.verdict/v1", body, api_world.keys["inspector"])
        assert client.post("/v1/statements", json=statement.to_json()).status_code == 201
    key = api_world.keys["secretariat"].signer_id
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pausewatch.cli",
            "audit",
            "--data-dir",
            str(data),
            "--secretariat",
            key,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    # r1's commitment and first checkpoint, r-tr's commitment and its final checkpoints.
    assert report["transcript_commitments_checked"] == 4
    assert report["transcript_verdicts_checked"] == 1
    assert report["problems"] == []


def test_a_verdict_whose_beacon_differs_fails_the_audit(api_world: Any, tmp_path: Path) -> None:
    """A verdict on the log that the entries' own fold refuses (its beacon is not the root
    after the final commitment) is a problem of the audit, naming the entry."""
    from api_world import open_world, transcript_verdict  # type: ignore[import-not-found]

    from pausewatch.audit import audit_log
    from pausewatch.ledger import LogStore, encode_entry
    from pausewatch.statements import sign_statement

    with open_world(api_world, tmp_path / "copy") as (service, _, clock):
        body = {**transcript_verdict(service), "beacon": OTHER}
        statement = sign_statement("transcript.verdict/v1", body, api_world.keys["inspector"])
        entries = list(LogStore(service.engine).entries())
        verifier = service.log.verifier
        # Appended past the service's own check, as a log that lies would hold it.
        index = len(entries)
        entries.append((index, encode_entry(statement.canonical_bytes(), clock())))
    report, _ = audit_log(
        entries, [], verifier, secretariat=api_world.keys["secretariat"].signer_id
    )
    assert report.transcript_verdicts_checked == 0
    assert any(f"entry {index} (transcript.verdict/v1 audit-1)" in p for p in report.problems)
    assert any(f"beacon is {OTHER}, expected" in p for p in report.problems)
