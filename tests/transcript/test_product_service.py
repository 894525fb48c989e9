"""The transcript use cases' pure parts (pausewatch.service._transcripts): the commitments a
manifest makes, where a manifest disagrees with the log's commitments, the audit's default id
and the verdict statement's body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pausewatch.service import TranscriptAuditError, read_transcript_manifest
from pausewatch.service._transcripts import (
    checkpoint_bodies,
    commit_body,
    default_audit_id,
    manifest_mismatches,
    verdict_body,
)
from transcript.product_world import write_manifest


@pytest.fixture
def manifest(tmp_path: Path) -> dict[str, Any]:
    return read_transcript_manifest(write_manifest(tmp_path, run_id="r1", steps=10, every=2))


def test_checkpoints_go_in_batches_of_a_thousand_the_last_final(tmp_path: Path) -> None:
    """2,001 checkpoints make three statements of 1,000, 1,000 and 1, in step order; only the
    last is final."""
    many = read_transcript_manifest(write_manifest(tmp_path, run_id="r", steps=2000, every=1))
    bodies = checkpoint_bodies(many, "r")
    assert [len(b["checkpoints"]) for b in bodies] == [1000, 1000, 1]
    assert [b["final"] for b in bodies] == [False, False, True]
    steps = [c["step"] for b in bodies for c in b["checkpoints"]]
    assert steps == sorted(steps) == list(range(2001))


def test_a_manifest_that_agrees_with_the_log_has_no_mismatch(manifest: dict[str, Any]) -> None:
    """The commitment the manifest made, and its checkpoints, are no reason to fail."""
    committed = commit_body(manifest, "r1")
    assert manifest_mismatches(manifest, committed, manifest["checkpoints"]) == []


def test_every_disagreement_with_the_log_is_a_reason(manifest: dict[str, Any]) -> None:
    """A different dataset root, a checkpoint whose digest differs, one committed but absent and
    one never committed are each named, with the manifest's and the log's values."""
    committed = {**commit_body(manifest, "r1"), "dataset_root": "0" * 64}
    on_log = [dict(c) for c in manifest["checkpoints"]]
    on_log[1]["digest"] = "1" * 64
    on_log.append({"step": 99, "digest": "2" * 64})
    held = {**manifest, "checkpoints": [*manifest["checkpoints"], {"step": 98, "digest": "3" * 64}]}
    reasons = manifest_mismatches(held, committed, on_log)
    assert len(reasons) == 4
    assert "dataset_root" in reasons[0]
    assert "0" * 64 in reasons[0]
    assert "step 2" in reasons[1]
    assert "1" * 64 in reasons[1]
    assert "step 99" in reasons[2]
    assert "step 98" in reasons[3]


def test_an_unreadable_manifest_is_one_clear_error(tmp_path: Path) -> None:
    """No manifest, not JSON, and a manifest without the commitments' keys each raise
    TranscriptAuditError naming what is wrong."""
    with pytest.raises(TranscriptAuditError, match=r"no manifest\.json"):
        read_transcript_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(TranscriptAuditError, match="cannot read it as JSON"):
        read_transcript_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"recipe": "mlp"}))
    with pytest.raises(TranscriptAuditError, match="missing hyperparameters_digest"):
        read_transcript_manifest(tmp_path)


def test_the_default_audit_id_names_one_audit() -> None:
    """The same run, inspector, beacon and budget give the same id (a rescan); any other of
    them gives another."""
    first = default_audit_id("r1", "insp-1", 12, 0.1)
    assert first == default_audit_id("r1", "insp-1", 12, 0.1)
    others = {
        default_audit_id("r2", "insp-1", 12, 0.1),
        default_audit_id("r1", "insp-2", 12, 0.1),
        default_audit_id("r1", "insp-1", 13, 0.1),
        default_audit_id("r1", "insp-1", 12, 0.2),
    }
    assert first not in others
    assert len(others) == 4


def test_a_verdicts_reasons_fit_the_statement() -> None:
    """A verdict with more reasons than the statement holds, or longer ones, keeps the first
    100, each cut to 4,000 characters."""
    verdict = {
        "verdict": "fail",
        "budget": 0.1,
        "beacon": "ab" * 32,
        "segments": [{"segment": 3}, {"segment": 9}],
        "inclusion": {"statistic": 1.0, "p_value": 0.2, "passed": False},
        "compute_fraction": 0.1,
        "reasons": ["x" * 5000] + [f"reason {n}" for n in range(200)],
        "manifest_digest": "cd" * 32,
    }
    body = verdict_body(verdict, audit_id="a", run_id="r", inspector_id="i", beacon_size=7)
    assert body["segments"] == [3, 9]
    assert len(body["reasons"]) == 100
    assert len(body["reasons"][0]) == 4000
    assert (body["inclusion_passed"], body["beacon_size"]) == (False, 7)
