"""Telemetry through the real service: a simulated fleet registered on the log, its signed
records uploaded in batches, verified, stored, logged and folded into views; and over HTTP."""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import errno
import hashlib
import io
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.errors import (
    AuthorizationError,
    IngestWorkerError,
    StatementError,
    StorageFullError,
)
from pausewatch.ledger import Entry
from pausewatch.ledger import root as merkle_root
from pausewatch.registry import VIEWS
from pausewatch.service import LogService, Upload, iter_stored_records
from pausewatch.settings import Settings
from pausewatch.simulate import (
    ClusterSpec,
    Fleet,
    Misbehaviour,
    Workload,
    fleet_world,
    simulate_fleet,
)
from pausewatch.state import dump_view, statement_of
from pausewatch.statements import KeyPair, load_key, sign_statement
from pausewatch.telemetry import batch_root

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
def service(
    tmp_path: Path, db_url: str, fleet: Fleet, request: pytest.FixtureRequest
) -> Iterator[LogService]:
    """The service, verifying in process unless a test asks for worker processes (its
    ``service`` parameter: the number of workers)."""
    workers = getattr(request, "param", 0)
    settings = Settings(
        data_dir=tmp_path, database_url=db_url, batch_latency_ms=1, ingest_workers=workers
    )
    svc = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        yield svc
        # The path asked for is the one taken: workers started, or none to start.
        pool = svc.telemetry.pool
        assert (pool is not None and bool(pool.pids())) == (workers > 0)
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


def logged_batches(
    data_dir: Path, *, windows: int, seed: int
) -> tuple[list[Entry], frozenset[str]]:
    """The entries of a log a service on ``data_dir`` filled: the CLUSTERS fleet registered,
    then each of its ``windows`` uploaded as one batch (the last entry is a batch); and the
    secretariat's keys."""
    fleet = simulate_fleet(CLUSTERS, windows=windows, seed=seed)
    settings = Settings(data_dir=data_dir, batch_latency_ms=1, ingest_workers=0)
    service = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        operator = register(service, fleet)
        for window in fleet.windows:
            upload = b"".join(line + b"\n" for line in window)
            service.ingest_telemetry(upload, submission(upload, operator))
        entries = [service.log.entry(i) for i in range(service.log.size)]
        return entries, frozenset(service.state.secretariat)
    finally:
        service.close()


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


@pytest.mark.parametrize("service", [0, 1], indirect=True, ids=["in-process", "workers"])
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
                    "SELECT line FROM telemetry_records WHERE operator_id = ? AND batch_digest = ? "
                    "ORDER BY position"
                    if conn.dialect.name == "sqlite"
                    else "SELECT line FROM telemetry_records WHERE operator_id = %s "
                    "AND batch_digest = %s ORDER BY position",
                    (batch["operator_id"], batch["batch_digest"]),
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


@pytest.mark.parametrize("service", [0, 1], indirect=True, ids=["in-process", "workers"])
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


def register_other_operator(service: LogService, fleet: Fleet) -> KeyPair:
    """A second operator, "other", with no chips; its key."""
    secretariat = load_key(service.settings.keys_dir, "secretariat")
    world = fleet_world(fleet, secretariat)
    other = KeyPair.generate("other-op")
    body = {"operator_id": "other", "party_id": "party-1", "name": "O", "key": other.signer_id}
    service.submit(sign_statement("operator.register/v1", body, world.party)).result(30)
    return other


def test_bytes_first_uploaded_by_another_operator_are_the_right_ones_batch(
    service: LogService, fleet: Fleet
) -> None:
    """Identical bytes uploaded first by the wrong operator neither answer nor block the right
    operator's upload: each is that operator's own batch, and each repeat its own receipt."""
    operator = register(service, fleet)
    other = register_other_operator(service, fleet)
    data = b"".join(line + b"\n" for line in fleet.windows[0])
    wrong = service.ingest_telemetry(data, submission(data, other, operator="other"))
    assert wrong.accepted == 0
    assert set(wrong.rejected_by_rule) == {"chip_not_installed"}
    right = service.ingest_telemetry(data, submission(data, operator))
    assert not right.duplicate
    assert right.index != wrong.index
    assert right.accepted > 0
    again = service.ingest_telemetry(data, submission(data, operator))
    assert (again.duplicate, again.index, again.accepted) == (True, right.index, right.accepted)
    wrong_again = service.ingest_telemetry(data, submission(data, other, operator="other"))
    assert (wrong_again.duplicate, wrong_again.index) == (True, wrong.index)
    assert service.state.rebuild(service.log).identical


def batch_entry_size(service: LogService) -> int:
    """Bytes of the last entry on the log (a telemetry.batch/v1 after an ingest)."""
    return len(service.log.entry(service.log.size - 1).data)


@pytest.mark.parametrize(
    "garbage",
    [b"\n", b"not json\n", b'{"record": {}, "sig": ""}\n'],
    ids=["newlines", "text", "empty-records"],
)
def test_the_answer_and_entry_for_garbage_stay_small_whatever_its_size(
    service: LogService, fleet: Fleet, garbage: bytes
) -> None:
    """Rejections are summarised: 10 KB and 200 KB of garbage get answers and log entries of
    the same size, with counts per rule, totals and the first 20 rejections by line number."""
    operator = register(service, fleet)
    sizes = []
    for total in (10_000, 200_000):
        data = garbage * (total // len(garbage))
        lines = data.count(b"\n")
        receipt = service.ingest_telemetry(data, submission(data, operator))
        assert receipt.rejected_total == lines
        assert sum(receipt.rejected_by_rule.values()) == lines
        assert [r["index"] for r in receipt.rejected] == list(range(20))
        answer = json.dumps(dataclasses.asdict(receipt), default=str)
        sizes.append((len(answer), batch_entry_size(service)))
        row = dump_view(service.engine, "tel_batches")[-1]
        assert row["rejected"] == lines
        repeat = service.ingest_telemetry(data, submission(data, operator))
        assert repeat.duplicate
        assert repeat.rejected == receipt.rejected
        assert (repeat.rejected_total, repeat.rejected_by_rule) == (
            receipt.rejected_total,
            receipt.rejected_by_rule,
        )
    (small_answer, small_entry), (large_answer, large_entry) = sizes
    assert large_answer < small_answer + 100
    assert large_entry < small_entry + 100
    assert service.state.rebuild(service.log).identical


def test_garbage_over_http_is_answered_with_a_summary(service: LogService, fleet: Fleet) -> None:
    """Over HTTP, 200 KB of newlines with valid records around them: the records are accepted
    and the answer lists 20 rejections, counts them per rule and stays small."""
    operator = register(service, fleet)
    valid = b"".join(line + b"\n" for line in fleet.windows[0])
    data = valid[: len(valid) // 2].rsplit(b"\n", 1)[0] + b"\n" * 200_000
    data += valid[len(data.rstrip(b"\n")) + 1 :]
    header = base64.b64encode(json.dumps(submission(data, operator).to_json()).encode()).decode()
    with TestClient(create_app(service, manage=False)) as client:
        answer = client.post(
            "/v1/telemetry/batches", content=data, headers={"Pausewatch-Submission": header}
        )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert len(answer.content) < 20_000
    assert body["accepted"] > 0
    assert body["rejected_by_rule"]["malformed"] >= 199_999
    assert body["rejected_total"] == sum(body["rejected_by_rule"].values())
    assert len(body["rejected"]) == 20


def test_an_overlong_line_is_refused_unread_and_the_rest_integrated(
    service: LogService, fleet: Fleet
) -> None:
    """A 2 MB line is refused as line_too_long; the records before and after it go in."""
    operator = register(service, fleet)
    records = list(fleet.windows[0])
    data = b"".join(line + b"\n" for line in records[:3])
    data += b"{" * 2_000_000 + b"\n"
    data += b"".join(line + b"\n" for line in records[3:])
    receipt = service.ingest_telemetry(data, submission(data, operator))
    too_long = [r for r in receipt.rejected if r["rule"] == "line_too_long"]
    assert [r["index"] for r in too_long] == [3]
    assert "2000000 bytes" in too_long[0]["reason"]
    assert receipt.accepted == len(records) - sum(
        1 for i in range(len(records)) if i in fleet.truth.forged | fleet.truth.replayed
    )


class SlowFile(io.BytesIO):
    """An upload whose reading stops half way until ``release`` is set (``reached`` says it
    got there): a slow upload, being parsed."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.half = len(data) // 2
        self.reached = threading.Event()
        self.release = threading.Event()

    def read(self, size: int | None = -1, /) -> bytes:
        if not self.release.is_set():
            if self.tell() < self.half:
                wanted = self.half - self.tell()
                return super().read(wanted if size is None or size < 0 else min(size, wanted))
            self.reached.set()
            assert self.release.wait(120), "never released"
        return super().read(size)


def slow_upload(data: bytes) -> tuple[Upload, SlowFile]:
    upload = Upload.of(data)
    upload.file = slow = SlowFile(data)
    return upload, slow


def records_of(fleet: Fleet, cluster: str, windows: slice) -> bytes:
    return b"".join(
        line + b"\n"
        for w in fleet.windows[windows]
        for line in w
        if json.loads(line)["record"]["chip_id"].startswith(cluster + "/")
    )


def test_a_batch_statement_is_built_and_signed_without_the_ingest_lock(
    service: LogService, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch statement of an upload's verification is built and signed before the ingest
    lock is taken (only the heads' check, the append and the fold hold it), and it is the
    statement on the log."""
    operator = register(service, fleet)
    ingest = service.telemetry
    built: list[tuple[bool, bytes]] = []
    original = ingest._batch_statement

    def watched(*args: Any) -> Any:
        statement = original(*args)
        built.append((ingest.lock.locked(), statement.canonical_bytes()))
        return statement

    monkeypatch.setattr(ingest, "_batch_statement", watched)
    data = b"".join(line + b"\n" for line in fleet.windows[0])
    receipt = ingest.ingest(data, submission(data, operator))
    assert [locked for locked, _ in built] == [False]
    assert statement_of(service.log.entry(receipt.index)).canonical_bytes() == built[0][1]


def test_an_upload_being_parsed_holds_no_lock(service: LogService, fleet: Fleet) -> None:
    """While one upload is half parsed, another operator upload is verified, appended and
    answered, and /healthz answers: the ingest lock is not held while an upload is parsed."""
    operator = register(service, fleet)
    first = records_of(fleet, "train-1", slice(0, 2))
    second = records_of(fleet, "serve-1", slice(0, 2))
    upload, slow = slow_upload(first)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(service.ingest_telemetry, upload, submission(first, operator))
        assert slow.reached.wait(60)
        try:
            assert not service.telemetry.lock.locked()
            other = service.ingest_telemetry(second, submission(second, operator))
            with TestClient(create_app(service, manage=False)) as client:
                health = client.get("/healthz")
            assert not pending.done()
        finally:
            slow.release.set()
        receipt = pending.result(60)
    assert health.status_code == 200
    assert other.accepted > 0
    assert receipt.accepted > 0
    assert receipt.index > other.index
    assert service.state.rebuild(service.log).identical


def test_an_upload_overtaken_on_its_chips_is_verified_again(
    service: LogService, fleet: Fleet
) -> None:
    """When a batch of the same chips is appended while an upload is parsed, the upload's
    verdicts are taken again against the new chain heads: its older windows are replays, and
    the views equal a rebuild from the log."""
    operator = register(service, fleet)
    older = records_of(fleet, "serve-1", slice(0, 1))
    newer = records_of(fleet, "serve-1", slice(1, 2))
    upload, slow = slow_upload(older)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(service.ingest_telemetry, upload, submission(older, operator))
        assert slow.reached.wait(60)
        try:
            first = service.ingest_telemetry(newer, submission(newer, operator))
        finally:
            slow.release.set()
        late = pending.result(60)
    assert first.accepted > 0
    assert late.accepted == 0
    assert set(late.rejected_by_rule) == {"replay"}
    assert service.state.rebuild(service.log).identical


def evidence_of(service: LogService) -> dict[int, tuple[str, str]]:
    """Per integrated batch (log index): the root its entry states and the root of the records
    stored for it, read as auditors read them (:func:`iter_stored_records`)."""
    return {
        batch["idx"]: (
            batch["records_root"],
            batch_root(
                list(
                    iter_stored_records(service.engine, batch["operator_id"], batch["batch_digest"])
                )
            ).hex(),
        )
        for batch in dump_view(service.engine, "tel_batches")
    }


def shared_uploads(fleet: Fleet) -> tuple[bytes, bytes]:
    """Two different uploads that share their serve-1 lines: A holds only those, B those and
    train-1's of the same window."""
    shared = records_of(fleet, "serve-1", slice(0, 1))
    return shared, shared + records_of(fleet, "train-1", slice(0, 1))


def hold_first_store(service: LogService, digest: str, fail: bool) -> tuple[Any, Any]:
    """Make the upload ``digest`` stop right after it stores its first records, until
    ``release`` is set; then fail its attempt (as a worker that died does) when ``fail``. The
    events (``stored``, ``release``)."""
    ingest = service.telemetry
    real = ingest._store
    stored, release = threading.Event(), threading.Event()

    def store(accepted: Any, operator_id: str, batch_digest: str, first: int = 0) -> None:
        real(accepted, operator_id, batch_digest, first)
        if batch_digest == digest and accepted and not stored.is_set():
            stored.set()
            assert release.wait(120), "never released"
            if fail:
                raise IngestWorkerError("a worker stopped")

    ingest._store = store  # type: ignore[method-assign]
    return stored, release


def race(service: LogService, fleet: Fleet, fail: bool) -> tuple[Any, Any, Any]:
    """Uploads A and B (:func:`shared_uploads`) in flight at once: A stores the shared lines
    first and is held there while B is verified, stored, integrated and answered; then A's
    attempt fails (``fail``) or goes on, its chains moved. B's receipt, the evidence
    (:func:`evidence_of`) as B was answered, and A's receipt or exception."""
    operator = register(service, fleet)
    a, b = shared_uploads(fleet)
    stored, release = hold_first_store(service, hashlib.sha256(a).hexdigest(), fail)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(service.ingest_telemetry, a, submission(a, operator))
        try:
            assert stored.wait(60)
            second = service.ingest_telemetry(b, submission(b, operator))
            answered = evidence_of(service)
        finally:
            release.set()
        first = pending.exception(60) or pending.result()
    assert second.accepted == b.count(b"\n")  # the shared lines are B's records too
    return second, answered, first


def recomputed(evidence: dict[int, tuple[str, str]]) -> dict[int, str]:
    """Per batch, the root recomputed from its stored records where it is the stated one, else
    the two side by side: equal to :func:`stated` exactly when every batch's evidence holds."""
    return {
        idx: got if got == want else f"stored records give {got}, entry states {want}"
        for idx, (want, got) in evidence.items()
    }


def stated(evidence: dict[int, tuple[str, str]]) -> dict[int, str]:
    return {idx: want for idx, (want, _) in evidence.items()}


def test_a_failed_upload_drops_no_record_another_upload_sharing_it_was_integrated_with(
    service: LogService, fleet: Fleet
) -> None:
    """Upload A stores records it shares with upload B, B is integrated, then A's attempt fails
    (a worker died) and A's records are dropped: every integrated batch's stored records still
    recompute the records_root its entry states (B's included), so an audit of B passes."""
    second, _, first = race(service, fleet, fail=True)
    assert isinstance(first, IngestWorkerError)
    after = evidence_of(service)
    assert list(after) == [second.index]
    assert recomputed(after) == stated(after)
    assert service.state.rebuild(service.log).identical


def test_uploads_sharing_lines_each_store_the_evidence_of_their_own_root(
    service: LogService, fleet: Fleet
) -> None:
    """Upload B shares lines with upload A, which stored them first: B's stored records are
    complete as soon as B is answered, and once A, its chains moved by B, is verified again
    and integrated, every integrated batch's stored records recompute its records_root."""
    second, answered, first = race(service, fleet, fail=False)
    assert recomputed(answered) == stated(answered)
    assert not isinstance(first, Exception), first
    assert first.accepted == 0  # its lines are B's, on the log before it
    after = evidence_of(service)
    assert list(after) == [second.index, first.index]
    assert recomputed(after) == stated(after)
    assert service.state.rebuild(service.log).identical


def test_a_retry_after_other_batches_stores_its_own_records_not_a_dead_attempts(
    service: LogService, fleet: Fleet
) -> None:
    """An attempt at upload A stored its records and died before its entry (the process was
    killed: nothing dropped them). Batch B, which holds A's first window, is integrated; then
    A is sent again. A's retry accepts only its second window, and its stored records are
    those: the dead attempt's rows at the same positions are not kept."""
    operator = register(service, fleet)
    a = records_of(fleet, "serve-1", slice(0, 2))
    b = records_of(fleet, "serve-1", slice(0, 1))
    digest_a = hashlib.sha256(a).hexdigest()
    stored, release = hold_first_store(service, digest_a, fail=True)
    release.set()
    ingest = service.telemetry
    forget = ingest._forget_records
    ingest._forget_records = lambda *args, **kwargs: None  # type: ignore[method-assign]
    with pytest.raises(IngestWorkerError):
        service.ingest_telemetry(a, submission(a, operator))
    ingest._forget_records = forget  # type: ignore[method-assign]
    assert stored.is_set()
    assert len(list(iter_stored_records(service.engine, "lab", digest_a))) == a.count(b"\n")
    service.ingest_telemetry(b, submission(b, operator))
    retried = service.ingest_telemetry(a, submission(a, operator))
    assert retried.accepted == a.count(b"\n") - b.count(b"\n")
    after = evidence_of(service)
    assert recomputed(after) == stated(after)
    assert len(list(iter_stored_records(service.engine, "lab", digest_a))) == retried.accepted


def test_bytes_integrated_uploaded_again_by_another_operator_keep_the_first_evidence(
    service: LogService, fleet: Fleet
) -> None:
    """An operator's integrated upload, sent again by another operator (the same digest, another
    batch): the first batch's stored records are untouched, the second stores none of its own
    (none of its chips), and each batch's stored records recompute its root."""
    operator = register(service, fleet)
    other = register_other_operator(service, fleet)
    data = b"".join(line + b"\n" for line in fleet.windows[0])
    right = service.ingest_telemetry(data, submission(data, operator))
    digest = hashlib.sha256(data).hexdigest()
    before = list(iter_stored_records(service.engine, "lab", digest))
    assert len(before) == right.accepted > 0
    wrong = service.ingest_telemetry(data, submission(data, other, operator="other"))
    assert (wrong.duplicate, wrong.accepted) == (False, 0)
    assert list(iter_stored_records(service.engine, "lab", digest)) == before
    assert list(iter_stored_records(service.engine, "other", digest)) == []
    after = evidence_of(service)
    assert list(after) == [right.index, wrong.index]
    assert recomputed(after) == stated(after)


def test_another_operators_integrated_upload_of_the_bytes_leaves_no_dead_rows_of_mine(
    service: LogService, fleet: Fleet
) -> None:
    """Operator "other" uploads bytes A first (integrated, none of its chips: 0 accepted). Lab's
    attempt at A dies after storing records (nothing dropped them), batch B moves A's chains,
    and lab sends A again: the retry's stored records are its own, not the dead attempt's,
    though another operator's batch of the same bytes is integrated."""
    operator = register(service, fleet)
    other = register_other_operator(service, fleet)
    a = records_of(fleet, "serve-1", slice(0, 2))
    b = records_of(fleet, "serve-1", slice(0, 1))
    digest_a = hashlib.sha256(a).hexdigest()
    wrong = service.ingest_telemetry(a, submission(a, other, operator="other"))
    assert wrong.accepted == 0
    stored, release = hold_first_store(service, digest_a, fail=True)
    release.set()
    ingest = service.telemetry
    forget = ingest._forget_records
    ingest._forget_records = lambda *args, **kwargs: None  # type: ignore[method-assign]
    with pytest.raises(IngestWorkerError):  # as if killed: its rows stay
        service.ingest_telemetry(a, submission(a, operator))
    ingest._forget_records = forget  # type: ignore[method-assign]
    assert stored.is_set()
    service.ingest_telemetry(b, submission(b, operator))
    retried = service.ingest_telemetry(a, submission(a, operator))
    assert retried.accepted == a.count(b"\n") - b.count(b"\n")
    after = evidence_of(service)
    assert recomputed(after) == stated(after)


def register_world(service: LogService, fleet: Fleet) -> dict[str, KeyPair]:
    """Put ``fleet``'s registry on the log; each operator's key."""
    secretariat = load_key(service.settings.keys_dir, "secretariat")
    world = fleet_world(fleet, secretariat)
    for stage in world.stages:
        for future in [service.submit(s) for s in stage]:
            future.result(timeout=60)
    return dict(world.operators)


def test_two_operators_identical_uploads_each_store_the_evidence_of_their_own_root(
    service: LogService, fleet: Fleet
) -> None:
    """Lab and "other" each upload the same bytes, holding chips of both: each batch accepts its
    own chips' records (the other's are chip_not_installed) under one digest, and each batch's
    stored records recompute the root its entry states."""
    two = simulate_fleet(
        (
            ClusterSpec("serve-1", "lab", "H200", 3, Workload.INFERENCE),
            ClusterSpec("serve-2", "other", "H200", 2, Workload.INFERENCE),
        ),
        windows=8,
        seed=7,
    )
    assert two.end == fleet.end  # the service's clock follows the fixture's fleet
    keys = register_world(service, two)
    data = b"".join(line + b"\n" for line in two.windows[0])
    lab = service.ingest_telemetry(data, submission(data, keys["lab"]))
    other = service.ingest_telemetry(data, submission(data, keys["other"], operator="other"))
    assert (lab.accepted, other.accepted) == (3, 2)
    assert set(lab.rejected_by_rule) == set(other.rejected_by_rule) == {"chip_not_installed"}
    assert lab.records_root != other.records_root
    after = evidence_of(service)
    assert list(after) == [lab.index, other.index]
    assert recomputed(after) == stated(after)
    assert service.state.rebuild(service.log).identical


def test_a_retry_after_an_unfolded_entry_keeps_the_records_of_the_batch_on_the_log(
    service: LogService, fleet: Fleet
) -> None:
    """Lab's batch reaches the log but the fold fails (storage full): the answer is an error,
    and the batch's records stay stored. A retry while the fold still fails is answered so,
    and drops nothing; once the fold takes the entry, the retry finds it and answers with it.
    It never drops the records of a batch that is on the log, even if it would have failed
    after storing its own (a worker died)."""
    operator = register(service, fleet)
    a = records_of(fleet, "serve-1", slice(0, 2))
    digest_a = hashlib.sha256(a).hexdigest()
    state = service.state
    catch_up = state.catch_up
    failing = {"on": True}

    def fold(log: Any) -> Any:
        if failing["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return catch_up(log)

    state.catch_up = fold  # type: ignore[method-assign]
    with pytest.raises(StorageFullError):  # on the log, not folded
        service.ingest_telemetry(a, submission(a, operator))
    on_log = service.log.size - 1
    assert state.registry.applied == on_log
    rows = list(iter_stored_records(service.engine, "lab", digest_a))
    assert len(rows) == a.count(b"\n")
    hold_first_store(service, digest_a, fail=True)[1].set()  # a new verification would fail
    with pytest.raises(StorageFullError):  # still no fold: the retry drops nothing
        service.ingest_telemetry(a, submission(a, operator))
    assert list(iter_stored_records(service.engine, "lab", digest_a)) == rows
    assert service.log.size == on_log + 1
    failing["on"] = False
    retried = service.ingest_telemetry(a, submission(a, operator))
    assert (retried.duplicate, retried.index) == (True, on_log)
    assert retried.accepted == a.count(b"\n") > 0
    after = evidence_of(service)
    assert list(after) == [on_log]
    assert recomputed(after) == stated(after)
    assert service.state.rebuild(service.log).identical
