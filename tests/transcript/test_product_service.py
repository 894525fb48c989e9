"""The transcript use cases' pure parts (pausewatch.service._transcripts): the commitments a
manifest makes, where a manifest disagrees with the log's commitments, the audit's default id
and the verdict statement's body; and what ``commit_transcript`` puts on a real service's log
(the engine's parser decides which manifests it commits)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pausewatch.service import (
    LocalTranscriptLog,
    LogService,
    TranscriptAuditError,
    commit_transcript,
    read_transcript_manifest,
)
from pausewatch.service._transcripts import (
    checkpoint_bodies,
    commit_body,
    default_audit_id,
    manifest_mismatches,
    verdict_body,
)
from pausewatch.statements import KeyPair, canonical
from pausewatch.transcript import CheckpointRef, Manifest, TranscriptError, read_manifest
from transcript.product_world import (
    DIGEST,
    ROOT,
    build,
    checkpoint_digest,
    declaration,
    open_service,
    write_manifest,
)


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
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


def test_a_manifest_that_agrees_with_the_log_has_no_mismatch(manifest: Manifest) -> None:
    """The commitment the manifest made, and its checkpoints, are no reason to fail."""
    committed = commit_body(manifest, "r1")
    on_log = [c.to_json() for c in manifest.checkpoints]
    assert manifest_mismatches(manifest, committed, on_log) == []


def test_every_disagreement_with_the_log_is_a_reason(manifest: Manifest) -> None:
    """A different dataset root, a checkpoint whose digest differs, one committed but absent and
    one never committed are each named, with the manifest's and the log's values."""
    committed = {**commit_body(manifest, "r1"), "dataset_root": "0" * 64}
    on_log = [c.to_json() for c in manifest.checkpoints]
    on_log[1]["digest"] = "1" * 64
    on_log.append({"step": 99, "digest": "2" * 64})
    held = replace(manifest, checkpoints=(*manifest.checkpoints, CheckpointRef(98, "3" * 64)))
    reasons = manifest_mismatches(held, committed, on_log)
    assert len(reasons) == 4
    assert "dataset_root" in reasons[0]
    assert "0" * 64 in reasons[0]
    assert "step 2" in reasons[1]
    assert "1" * 64 in reasons[1]
    assert "step 99" in reasons[2]
    assert "step 98" in reasons[3]


def test_an_unreadable_manifest_is_one_clear_error(tmp_path: Path) -> None:
    """No manifest, not JSON, a manifest of no known format and one without a commitment's key
    each raise TranscriptAuditError in one line naming the file and what is wrong."""
    with pytest.raises(TranscriptAuditError, match=r"no manifest\.json"):
        read_transcript_manifest(tmp_path)
    path = tmp_path / "manifest.json"
    path.write_text("{")
    with pytest.raises(TranscriptAuditError, match="is not JSON") as info:
        read_transcript_manifest(tmp_path)
    assert str(path) in str(info.value)
    path.write_text(json.dumps({"recipe": "mlp"}))
    with pytest.raises(TranscriptAuditError, match="format must be") as info:
        read_transcript_manifest(tmp_path)
    assert str(path) in str(info.value)
    write_manifest(tmp_path, run_id="r1", steps=10, every=2)
    _rewrite(tmp_path, _del("hyperparameters_digest"))
    with pytest.raises(TranscriptAuditError, match="hyperparameters_digest") as info:
        read_transcript_manifest(tmp_path)
    assert str(path) in str(info.value)
    assert len(str(info.value).splitlines()) == 1


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


# -- what `commit_transcript` puts on the log ----------------------------------------------------


@pytest.fixture
def served_log(tmp_path: Path) -> Iterator[tuple[LogService, KeyPair]]:
    """A real service on which ``lab`` declared ``r1`` (a checkpoint every 2 steps) and ``r2``
    (every step), bound to :func:`write_manifest`'s commitments; and the operator's key."""
    built = build(tmp_path / "log", [declaration("r1", every=2), declaration("r2", every=1)])
    service = open_service(built)
    try:
        yield service, built.keys["operator"]
    finally:
        service.close()


def _rewrite(directory: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    path = directory / "manifest.json"
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))
    return directory


def _del(*keys: str) -> Callable[[dict[str, Any]], None]:
    def change(value: dict[str, Any]) -> None:
        target = value
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


def _set(key: str, new: Any) -> Callable[[dict[str, Any]], None]:
    def change(value: dict[str, Any]) -> None:
        value[key] = new

    return change


def _steps_as_text(value: dict[str, Any]) -> None:
    value["checkpoints"] = [{**c, "step": str(c["step"])} for c in value["checkpoints"]]


def _reversed(value: dict[str, Any]) -> None:
    value["checkpoints"] = value["checkpoints"][::-1]


@pytest.mark.parametrize(
    "change",
    [
        _set("format", "pausewatch-transcript/v9"),
        _del("format"),
        _del("threads"),
        _del("hyperparameters"),
        _set("deterministic", "yes"),
        _set("versions", {"torch": 2}),
        _set("seed", "not hex"),
        _del("dataset", "name"),
        _steps_as_text,
        _reversed,
    ],
    ids=[
        "other-format",
        "no-format",
        "no-threads",
        "no-hyperparameters",
        "deterministic-not-bool",
        "versions-not-strings",
        "seed-not-hex",
        "dataset-unnamed",
        "steps-as-text",
        "checkpoints-out-of-order",
    ],
)
def test_defect_commit_refuses_what_the_engine_refuses(
    served_log: tuple[LogService, KeyPair],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
) -> None:
    """A manifest the engine's parser (``transcript.read_manifest``) refuses is refused by the
    commit in one line, with the engine's message, and nothing reaches the log."""
    directory = _rewrite(write_manifest(tmp_path / "t", run_id="r1", steps=10, every=2), change)
    with pytest.raises(TranscriptError) as engine:
        read_manifest(directory)
    service, key = served_log
    before = service.info().size
    with pytest.raises(TranscriptAuditError) as refused:
        commit_transcript(directory=directory, key=key, log=LocalTranscriptLog(service))
    assert str(engine.value) in str(refused.value)
    assert len(str(refused.value).splitlines()) == 1
    assert service.info().size == before


COMMITTED = "f046cc4987d55cbe33b86fb8398be3521cadc9948e7317cbede80b7c5b2bae2b"
"""SHA-256 of the RFC 8785 bytes of the ``[kind, body]`` pairs the commits of
:func:`test_the_statements_committed_for_a_valid_manifest_are_pinned` put on the log."""


def test_the_statements_committed_for_a_valid_manifest_are_pinned(
    served_log: tuple[LogService, KeyPair], tmp_path: Path
) -> None:
    """A valid manifest's commitments are the same statements, byte for byte, as ever: the
    commit body, then its checkpoints in step order, 1,000 a statement, the last final."""
    service, key = served_log
    log = LocalTranscriptLog(service)
    small = write_manifest(tmp_path / "small", run_id="r1", steps=10, every=2)
    large = write_manifest(tmp_path / "large", run_id="other", steps=2000, every=1)
    receipts = [
        commit_transcript(directory=small, key=key, log=log),
        commit_transcript(directory=large, key=key, log=log, run_id="r2"),
    ]
    assert [r.to_json() for r in receipts] == [
        {
            "run_id": "r1",
            "commit_index": receipts[0].commit_index,
            "checkpoint_indices": [receipts[0].commit_index + 1],
            "checkpoints": 6,
            "final_index": receipts[0].commit_index + 1,
        },
        {
            "run_id": "r2",
            "commit_index": receipts[1].commit_index,
            "checkpoint_indices": [receipts[1].commit_index + n for n in (1, 2, 3)],
            "checkpoints": 2001,
            "final_index": receipts[1].commit_index + 3,
        },
    ]
    indices = [i for r in receipts for i in (r.commit_index, *r.checkpoint_indices)]
    statements = [service.entry_json(i)["entry"]["statement"] for i in indices]
    assert statements[0]["body"] == {
        "run_id": "r1",
        "recipe": "mlp",
        "hyperparameters_digest": DIGEST,
        "seed_commitment": DIGEST,
        "dataset_root": ROOT,
        "dataset_records": 512,
        "every": 2,
        "steps": 10,
        "framework": "torch",
    }
    assert statements[1]["body"] == {
        "run_id": "r1",
        "checkpoints": [{"step": s, "digest": checkpoint_digest(s)} for s in (0, 2, 4, 6, 8, 10)],
        "final": True,
    }
    pairs = [[s["kind"], s["body"]] for s in statements]
    assert hashlib.sha256(canonical(pairs)).hexdigest() == COMMITTED
