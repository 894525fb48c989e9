"""Single-record inclusion in two levels: a record in its batch's root, the batch on the log."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.errors import ProofError
from pausewatch.ledger import Checkpoint, open_note, verify_inclusion
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Fleet, Workload, fleet_world, simulate_fleet
from pausewatch.statements import load_key, sign_statement
from pausewatch.telemetry import (
    RecordInclusion,
    batch_root,
    record_path,
    verify_record_inclusion,
)


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``start`` and moves a millisecond per reading."""
    state = {"t": start}

    def now() -> datetime:
        state["t"] += timedelta(milliseconds=1)
        return state["t"]

    return now


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


LINES = [b'{"record":"a"}', b'{"record":"b"}', b'{"record":"c"}']
"""Three leaves: the RFC 9162 tree is node(node(a, b), c)."""

LEAF = [_h(b"\x00" + line) for line in LINES]
AB = _h(b"\x01" + LEAF[0] + LEAF[1])
ROOT = _h(b"\x01" + AB + LEAF[2])


def test_batch_root_of_three_records_is_the_hand_computed_tree() -> None:
    """The root over three lines is SHA-256(1 || SHA-256(1 || a || b) || c) of leaf hashes."""
    assert batch_root(LINES) == ROOT


def test_record_paths_of_three_records_are_the_hand_computed_siblings() -> None:
    """Each record's path lists its siblings from the leaf up, as RFC 9162 §2.1.3 builds it."""
    assert record_path(LINES, 0) == [LEAF[1], LEAF[2]]
    assert record_path(LINES, 1) == [LEAF[0], LEAF[2]]
    assert record_path(LINES, 2) == [AB]


def test_record_path_refuses_a_position_outside_the_batch() -> None:
    """A position past the batch's records is a ProofError naming the range."""
    with pytest.raises(ProofError, match="0 <= position < 3"):
        record_path(LINES, 3)


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=40), st.data())
def test_every_record_path_verifies_against_the_batch_root(
    lines: list[bytes], data: st.DataObject
) -> None:
    """For any batch, each record's path leads from its line to the batch root."""
    position = data.draw(st.integers(0, len(lines) - 1))
    verify_inclusion(
        lines[position], position, len(lines), record_path(lines, position), batch_root(lines)
    )


CLUSTERS = (
    ClusterSpec("fac-1", "lab", "H100 SXM", 5, Workload.TRAINING),
    ClusterSpec("fac-2", "lab", "H200", 2, Workload.INFERENCE),
)


@pytest.fixture
def fleet() -> Fleet:
    return simulate_fleet(CLUSTERS, windows=2, seed=3)


@pytest.fixture
def logged(tmp_path: Path, fleet: Fleet) -> Iterator[tuple[LogService, list[int]]]:
    """A service that logged one batch per facility and minute of ``fleet``; their indices."""
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1)
    service = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        world = fleet_world(fleet, load_key(settings.keys_dir, "secretariat"))
        for stage in world.stages:
            for future in [service.submit(s) for s in stage]:
                future.result(timeout=60)
        key = world.operators["lab"]
        indices = []
        for window in fleet.windows:
            for facility in ("fac-1/", "fac-2/"):
                lines = [line for line in window if facility.encode() in line]
                data = b"".join(line + b"\n" for line in lines)
                submission = sign_statement(
                    "telemetry.submission/v1",
                    {
                        "operator_id": "lab",
                        "batch_digest": hashlib.sha256(data).hexdigest(),
                        "records": len(lines),
                    },
                    key,
                )
                indices.append(service.ingest_telemetry(data, submission).index)
        yield service, indices
    finally:
        service.close()


def _proof(service: LogService, index: int, position: int) -> tuple[RecordInclusion, bytes]:
    """The two-level proof of record ``position`` of the batch at ``index``, and the root of
    the log's latest signed checkpoint."""
    records, _ = service.batch_records(index, 0, 10_000)
    lines = [bytes(r["line"]) for r in records]
    checkpoint = Checkpoint.from_text(
        open_note(service.log.latest_note() or "", [service.log.verifier.to_string()])
    )
    proof = RecordInclusion(
        line=lines[position],
        position=position,
        record_path=tuple(record_path(lines, position)),
        entry=service.log.entry(index).data,
        entry_index=index,
        tree_size=checkpoint.size,
        entry_path=tuple(service.log.inclusion_proof(index, checkpoint.size)),
    )
    return proof, checkpoint.root_hash


def test_a_stored_record_is_proved_on_the_log_through_its_batch_entry(
    logged: tuple[LogService, list[int]],
) -> None:
    """Every record the service stored verifies from its line to the signed checkpoint's root,
    through the records_root of the batch entry that accepted it."""
    service, indices = logged
    for index in indices:
        records, accepted = service.batch_records(index, 0, 10_000)
        assert accepted == len(records) > 0
        for position in range(accepted):
            proof, root = _proof(service, index, position)
            batch = verify_record_inclusion(proof, root)
            assert batch.records_root == batch_root([bytes(r["line"]) for r in records]).hex()


def test_an_altered_record_wrong_position_or_other_entry_fails_the_proof(
    logged: tuple[LogService, list[int]],
) -> None:
    """A changed line, a changed position, or another batch's entry does not verify."""
    service, indices = logged
    proof, root = _proof(service, indices[1], 1)
    altered = proof.line.replace(b'"seq":', b'"seq": ', 1)
    with pytest.raises(ProofError):
        verify_record_inclusion(dataclasses.replace(proof, line=altered), root)
    with pytest.raises(ProofError):
        verify_record_inclusion(dataclasses.replace(proof, position=0), root)
    other = service.log.entry(indices[0]).data
    with pytest.raises(ProofError):
        verify_record_inclusion(dataclasses.replace(proof, entry=other), root)


def test_an_entry_that_is_no_telemetry_batch_is_refused(
    logged: tuple[LogService, list[int]],
) -> None:
    """A proof through a log entry of another kind names the kind it expected."""
    service, indices = logged
    proof, root = _proof(service, indices[0], 0)
    registry_entry = service.log.entry(0).data
    with pytest.raises(ProofError, match=r"telemetry\.batch/v1"):
        verify_record_inclusion(dataclasses.replace(proof, entry=registry_entry), root)


def test_a_proof_against_another_checkpoint_root_fails(
    logged: tuple[LogService, list[int]],
) -> None:
    """A valid record path through a valid entry still fails against a root the log never
    signed for that size."""
    service, indices = logged
    proof, _ = _proof(service, indices[0], 0)
    with pytest.raises(ProofError, match="does not match the root"):
        verify_record_inclusion(proof, bytes(32))


def test_an_entry_that_is_not_a_signed_statement_is_refused(
    logged: tuple[LogService, list[int]],
) -> None:
    """Bytes that are not a log entry holding a statement are a ProofError, not a crash."""
    service, indices = logged
    proof, root = _proof(service, indices[0], 0)
    for entry in (b"not json", b"[1]", b'{"statement": {"kind": 1}}'):
        with pytest.raises(ProofError, match="expected a signed statement"):
            verify_record_inclusion(dataclasses.replace(proof, entry=entry), root)
