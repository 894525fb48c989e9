"""Telemetry through the real service: a simulated fleet registered on the log, its signed
records uploaded in batches, verified, stored, logged and folded into views; and over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.errors import AuthorizationError, StatementError
from pausewatch.ledger import root as merkle_root
from pausewatch.registry import VIEWS
from pausewatch.service import LogService, RegistryConflictError
from pausewatch.settings import Settings
from pausewatch.simulate import (
    ClusterSpec,
    Fleet,
    Misbehaviour,
    Workload,
    fleet_world,
    simulate_fleet,
)
from pausewatch.state import dump_view
from pausewatch.statements import KeyPair, load_key, sign_statement

CLUSTERS = (
    ClusterSpec("train-1", "lab", "H100 SXM", 6, Workload.TRAINING),
    ClusterSpec("serve-1", "lab", "H200", 3, Workload.INFERENCE),
    ClusterSpec("shadow-1", "lab", "H100 SXM", 3, Workload.TRAINING),
)


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``start`` and moves a millisecond per reading."""
    state = {"t": start}

    def now() -> datetime:
        state["t"] += timedelta(milliseconds=1)
        return state["t"]

    return now


@pytest.fixture
def fleet() -> Fleet:
    return simulate_fleet(
        CLUSTERS,
        windows=8,
        seed=7,
        misbehaviour=Misbehaviour(
            undeclared_clusters=frozenset({"shadow-1"}),
            forge_rate=0.05,
            withhold_rate=0.05,
            replay_rate=0.05,
        ),
    )


@pytest.fixture
def service(tmp_path: Path, db_url: str, fleet: Fleet) -> Iterator[LogService]:
    settings = Settings(data_dir=tmp_path, database_url=db_url, batch_latency_ms=1)
    svc = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        yield svc
    finally:
        svc.close()


def register(service: LogService, fleet: Fleet) -> KeyPair:
    """Put the fleet's registry on the log, stage by stage; the operator's key."""
    secretariat = load_key(service.settings.keys_dir, "secretariat")
    world = fleet_world(fleet, secretariat)
    for stage in world.stages:
        for future in [service.submit(s) for s in stage]:
            future.result(timeout=60)
    return world.operators["lab"]


def submission(data: bytes, key: KeyPair, operator: str = "lab", records: int | None = None):  # type: ignore[no-untyped-def]
    lines = data.count(b"\n")
    return sign_statement(
        "telemetry.submission/v1",
        {
            "operator_id": operator,
            "batch_digest": hashlib.sha256(data).hexdigest(),
            "records": lines if records is None else records,
        },
        key,
    )


def flop_of(lines: list[bytes]) -> dict[str, dict[str, int]]:
    """FLOP per run and precision in these lines (as a correct accountant sums them)."""
    totals: dict[str, dict[str, int]] = {}
    for line in lines:
        record = json.loads(line)["record"]
        if record["run_id"] is None:
            continue
        run = totals.setdefault(record["run_id"], {})
        for precision, count in record["flop"].items():
            run[precision] = run.get(precision, 0) + int(count)
    return totals


def test_a_fleet_is_verified_accounted_and_logged(service: LogService, fleet: Fleet) -> None:
    operator = register(service, fleet)
    truth = fleet.truth
    lines = fleet.lines
    # The fleet misbehaves in every way this test checks.
    assert truth.forged
    assert truth.replayed
    assert truth.withheld
    assert truth.undeclared
    half = len(fleet.windows) // 2
    first = b"".join(line + b"\n" for w in fleet.windows[:half] for line in w)
    second = b"".join(line + b"\n" for w in fleet.windows[half:] for line in w)
    r1 = service.ingest_telemetry(first, submission(first, operator))
    r2 = service.ingest_telemetry(second, submission(second, operator))
    assert not r1.duplicate
    assert not r2.duplicate

    good = truth.good()
    assert r1.accepted + r2.accepted == len(good)
    forged_rules = {r["rule"] for r in r1.rejected + r2.rejected}
    assert forged_rules <= {"signature", "replay"}
    assert len([r for r in r1.rejected + r2.rejected if r["rule"] == "signature"]) == len(
        truth.forged
    )
    assert r1.duplicates + r2.duplicates + sum(
        1 for r in r1.rejected + r2.rejected if r["rule"] == "replay"
    ) == len(truth.replayed)
    gaps = sorted((g["chip_id"], g["from_seq"], g["to_seq"]) for g in r1.gaps + r2.gaps)
    assert gaps == truth.expected_gaps()

    # Measured compute per run equals the sum over the records a correct verifier accepts.
    bad = truth.forged | truth.replayed | truth.wrong_run
    accepted_lines = [line for i, line in enumerate(lines) if i not in bad]
    expected = flop_of(accepted_lines)
    runs = {row["run_id"]: json.loads(row["flop"]) for row in dump_view(service.engine, "tel_runs")}
    assert {r: {p: int(v) for p, v in f.items()} for r, f in runs.items()} == expected
    assert set(runs) == set(fleet.runs)

    # The shadow cluster trains with no run: undeclared compute, counted per cluster.
    clusters = {r["cluster_id"]: r for r in dump_view(service.engine, "tel_clusters")}
    assert clusters["shadow-1"]["undeclared_windows"] > 0
    assert json.loads(clusters["shadow-1"]["undeclared_flop"])
    assert clusters["train-1"]["undeclared_windows"] == 0

    # Every accepted record is stored by its content hash.
    batches = dump_view(service.engine, "tel_batches")
    assert [b["accepted"] for b in batches] == [r1.accepted, r2.accepted]
    with service.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM telemetry_records").scalar_one()
    assert stored == len(good)

    # Anyone holding the stored records recomputes each batch's root: its records by upload
    # and position, against the root on the log.
    with service.engine.connect() as conn:
        for batch in batches:
            lines = [
                bytes(row[0])
                for row in conn.exec_driver_sql(
                    "SELECT line FROM telemetry_records WHERE batch_digest = ? ORDER BY position"
                    if conn.dialect.name == "sqlite"
                    else "SELECT line FROM telemetry_records WHERE batch_digest = %s "
                    "ORDER BY position",
                    (batch["batch_digest"],),
                )
            ]
            assert merkle_root(lines).hex() == batch["records_root"]

    # The same upload again is answered with the earlier entry; nothing counts twice.
    before = {view: dump_view(service.engine, view) for view in VIEWS}
    again = service.ingest_telemetry(first, submission(first, operator))
    assert again.duplicate
    assert again.index == r1.index
    assert again.accepted == r1.accepted
    assert {view: dump_view(service.engine, view) for view in VIEWS} == before

    # The views are the log's: a rebuild from the log alone finds them identical.
    assert service.state.rebuild(service.log).identical


def test_a_submission_must_be_the_operators_own_and_match_the_upload(
    service: LogService, fleet: Fleet
) -> None:
    operator = register(service, fleet)
    data = b"".join(line + b"\n" for line in fleet.windows[0])
    stranger = KeyPair.generate("stranger")
    with pytest.raises(AuthorizationError, match="live key of operator 'lab'"):
        service.ingest_telemetry(data, submission(data, stranger))
    with pytest.raises(StatementError, match="does not match the upload"):
        service.ingest_telemetry(data + b"\n", submission(data, operator))
    with pytest.raises(StatementError, match="the upload has"):
        service.ingest_telemetry(data, submission(data, operator, records=1))
    assert dump_view(service.engine, "tel_batches") == []


def test_a_submission_alone_is_refused(service: LogService, fleet: Fleet) -> None:
    operator = register(service, fleet)
    with pytest.raises(StatementError, match="uploaded with its records"):
        service.submit(submission(b"x\n", operator))


def test_upload_over_http(service: LogService, fleet: Fleet) -> None:
    operator = register(service, fleet)
    data = b"".join(line + b"\n" for line in fleet.windows[0])
    header = base64.b64encode(json.dumps(submission(data, operator).to_json()).encode()).decode()
    with TestClient(create_app(service, manage=False)) as client:
        url = "/v1/telemetry/batches"
        ok = client.post(url, content=data, headers={"Pausewatch-Submission": header})
        assert ok.status_code == 201, ok.text
        body = ok.json()
        assert body["accepted"] > 0
        assert body["duplicate"] is False
        again = client.post(url, content=data, headers={"Pausewatch-Submission": header})
        assert again.status_code == 200
        assert again.json()["duplicate"] is True
        bad = client.post(url, content=data + b"x", headers={"Pausewatch-Submission": header})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        garbage = client.post(url, content=data, headers={"Pausewatch-Submission": "%%%"})
        assert garbage.status_code == 400
        missing = client.post(url, content=data)
        assert missing.status_code == 422


def test_a_monstrous_line_is_one_rejection_not_a_failed_batch(
    service: LogService, fleet: Fleet
) -> None:
    """A malformed line whose reason would run long (thousands of unknown fields) is rejected
    with a shortened reason; the valid records beside it are integrated."""
    operator = register(service, fleet)
    record = {f"field_{i}": i for i in range(3000)}
    monster = json.dumps({"record": record, "sig": "x"}).encode()
    data = b"".join(line + b"\n" for line in fleet.windows[0]) + monster + b"\n"
    receipt = service.ingest_telemetry(data, submission(data, operator))
    assert receipt.accepted == len(fleet.windows[0]) - sum(
        1 for i in range(len(fleet.windows[0])) if i in fleet.truth.forged | fleet.truth.replayed
    )
    assert [r["rule"] for r in receipt.rejected][-1] == "malformed"
    batches = dump_view(service.engine, "tel_batches")
    assert batches[-1]["rejected"] == len(receipt.rejected)


def test_another_operators_copy_of_an_upload_is_refused(service: LogService, fleet: Fleet) -> None:
    """The same bytes from a second operator are not answered with the first one's receipt."""
    operator = register(service, fleet)
    data = b"".join(line + b"\n" for line in fleet.windows[0])
    service.ingest_telemetry(data, submission(data, operator))
    secretariat = load_key(service.settings.keys_dir, "secretariat")
    world = fleet_world(fleet, secretariat)
    other = KeyPair.generate("other-op")
    body = {"operator_id": "other", "party_id": "party-1", "name": "O", "key": other.signer_id}
    service.submit(sign_statement("operator.register/v1", body, world.party)).result(30)
    with pytest.raises(RegistryConflictError, match="for operator 'lab'"):
        service.ingest_telemetry(data, submission(data, other, operator="other"))
