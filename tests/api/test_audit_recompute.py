"""An auditor recomputes the compute: `pausewatch audit` verifies every telemetry batch again from
its stored records, re-evaluates the policy for each finding its proposals carry, and compares
the stored views (issue 15; docs/adr/0019).

The role world (``api_world``) gets telemetry for run ``r1`` and a declaration above the
prohibited threshold, so that the clerk files policy proposals with their findings. The log is
exported with `pausewatch log export` from a real server (uvicorn on loopback) and audited with
`pausewatch audit` as a subprocess; then, in turn, a record line of the export is altered, a
secretariat that lies signs a batch with false aggregates, and one signs a proposal with a
false finding figure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from api_world import (  # type: ignore[import-not-found]
    Clock,
    World,
    build_world,
    declaration,
    fmt,
    settings,
)
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.audit import audit_log
from pausewatch.audit._recompute import reverify_batch
from pausewatch.cli._audit import _Export
from pausewatch.ledger import LogStore
from pausewatch.service import LogService, TelemetryIngest, iter_stored_records
from pausewatch.state import dump_view, new_registry
from pausewatch.statements import Statement, parse_json, parse_statement, sign_statement
from pausewatch.telemetry import BatchSummary, record_hash, sign_record
from pausewatch.telemetry._statements import BATCH_KIND, TelemetryBatch

PAUSEWATCH = [sys.executable, "-m", "pausewatch.cli"]


@dataclass
class Audited:
    """A world grown for the audit, and what it holds."""

    world: World
    data_dir: Path
    now: datetime
    start: datetime
    """Where the telemetry's windows start."""
    batches: list[int]
    """Log indices of its telemetry batches."""
    proposals: list[dict[str, Any]]
    """The policy-filed proposals' bodies, each with its ``index``."""


def _records(world: World, start: datetime, seqs: range, prev: str | None) -> list[bytes]:
    """Chained one-minute windows of ``chip-1`` training ``r1`` (bf16), from ``start``."""
    lines = []
    for seq in seqs:
        begin = start + timedelta(minutes=seq)
        record = {
            "chip_id": "chip-1",
            "seq": seq,
            "prev": prev,
            "window_start": fmt(begin),
            "window_end": fmt(begin + timedelta(minutes=1)),
            "energy_j": 30_000,
            "power_w_avg": 500.0,
            "power_w_peak": 600.0,
            "tensor_active": 0.5,
            "sm_active": 0.6,
            "flop": {"bf16": str(10**16 + seq)},
            "nvlink_tx_bytes": 0,
            "nvlink_rx_bytes": 0,
            "net_tx_bytes": 0,
            "net_rx_bytes": 0,
            "mem_used_bytes": 0,
            "run_id": "r1",
            "firmware_digest": hashlib.sha256(b"fw").hexdigest(),
        }
        line = sign_record(record, world.keys["chip"])
        prev = record_hash(line)
        lines.append(line)
    return lines


def _upload(client: TestClient, world: World, lines: list[bytes]) -> dict[str, Any]:
    data = b"\n".join(lines) + b"\n"
    body = {
        "operator_id": "lab",
        "batch_digest": hashlib.sha256(data).hexdigest(),
        "records": len(lines),
    }
    submission = sign_statement("telemetry.submission/v1", body, world.keys["operator"])
    header = base64.b64encode(json.dumps(submission.to_json()).encode()).decode()
    resp = client.post(
        "/v1/telemetry/batches", content=data, headers={"Pausewatch-Submission": header}
    )
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Audited:
    """The role world with two telemetry batches of ``r1`` (the second with a line that is
    rejected and a gap), a run declared above the prohibition, and the proposals the clerk
    files for it."""
    base = tmp_path_factory.mktemp("recompute")
    world: World = build_world(base / "world")
    clock = Clock(world.now)
    service = LogService(settings(world.data_dir), clock=clock)
    with TestClient(create_app(service)) as client:
        start = world.now.replace(microsecond=0) - timedelta(hours=1)
        first = _records(world, start, range(0, 5), None)
        second = _records(world, start, range(5, 12), record_hash(first[-1]))
        del second[2]  # seq 7 never arrives: a gap
        batches = [
            _upload(client, world, first)["index"],
            _upload(client, world, [*second, b"not a record"])["index"],
        ]
        big = declaration("r-big") | {"planned_flop": 5e26}
        statement = sign_statement("run.declaration/v1", big, world.keys["operator"])
        assert client.post("/v1/statements", json=statement.to_json()).status_code == 201
        assert service.run_clerk() >= 1
        proposals = []
        for index, data in LogStore(service.engine).entries():
            envelope = parse_json(data)["statement"]
            body = envelope["body"]
            if envelope["kind"] == "gov.proposal/v1" and body["proposal_id"].startswith("auto-"):
                # Every proposal the policy files carries its finding, whatever its figures
                # hold (numbers, words, the straddle flag).
                assert "finding" in body, body["proposal_id"]
                proposals.append({"index": index, **body})
    assert proposals, "the clerk filed no proposal with its finding"
    assert any(isinstance(v, bool) for p in proposals for v in p["finding"]["figures"].values()), (
        "no filed finding carries a flag"
    )
    return Audited(world, world.data_dir, clock.now, start, batches, proposals)


@contextmanager
def _served(data_dir: Path, now: datetime) -> Iterator[tuple[str, LogService]]:
    """The service on ``data_dir`` under uvicorn on a free loopback port."""
    service = LogService(settings(data_dir), clock=Clock(now))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", service
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
        service.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAUSEWATCH, *args], capture_output=True, text=True, timeout=300, check=False
    )


def _export(data_dir: Path, now: datetime, path: Path) -> tuple[str, str]:
    """Export the log on ``data_dir`` with `pausewatch log export`; return the log and
    secretariat keys."""
    with _served(data_dir, now) as (url, _service):
        res = _cli("log", "export", str(path), "--url", url)
        assert res.returncode == 0, res.stderr
        info = json.loads(_cli_info(url))
    return info["verifier_key"], info["roles"]["secretariat"]


def _cli_info(url: str) -> str:
    return httpx.get(url + "/v1/log", timeout=10).text


def _audit(path: Path, log_key: str, secretariat: str) -> subprocess.CompletedProcess[str]:
    return _cli(
        "audit", "--file", str(path), "--log-key", log_key, "--secretariat", secretariat, "--json"
    )


@pytest.fixture(scope="module")
def exported(audited: Audited, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    path = tmp_path_factory.mktemp("export") / "export.jsonl"
    log_key, secretariat = _export(audited.data_dir, audited.now, path)
    return path, log_key, secretariat


def test_an_honest_export_is_recomputed_and_passes(
    audited: Audited, exported: tuple[Path, str, str]
) -> None:
    """`audit --file` over an honest export verifies every batch from its records and finds
    every filed finding again."""
    path, log_key, secretariat = exported
    res = _audit(path, log_key, secretariat)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["batches_reverified"] == 2
    assert report["records_reverified"] == 5 + 6
    assert report["batches_not_reverified"] == 0
    assert report["findings_rechecked"] == len(audited.proposals)
    records = [json.loads(x) for x in path.read_text().splitlines() if '"record"' in x]
    assert [(r["index"], r["position"]) for r in records] == [
        *((audited.batches[0], n) for n in range(5)),
        *((audited.batches[1], n) for n in range(6)),
    ]
    assert all('"sig"' in r["line"] for r in records)


def test_an_export_is_read_holding_nothing_per_batch_or_checkpoint(
    exported: tuple[Path, str, str],
) -> None:
    """The export `pausewatch log export` writes (records after their batch, checkpoints last
    in order of size) is read without noting anything per batch or per checkpoint: the audit
    streams them from where they are."""
    path, _, _ = exported
    export = _Export(path)
    assert export.record_offsets == {}
    assert export.unsorted_notes is None
    notes = [json.loads(x)["note"] for x in path.read_text().splitlines() if '"checkpoint"' in x]
    assert len(notes) > 2
    assert list(export.notes()) == notes


def test_an_export_laid_out_otherwise_audits_the_same(
    audited: Audited, exported: tuple[Path, str, str], tmp_path: Path
) -> None:
    """Checkpoints first and in reverse, and a batch's records at the very end: the audit
    finds the same, every batch verified again from its records and every checkpoint."""
    path, log_key, secretariat = exported
    lines = path.read_text().splitlines()
    kinds = [json.loads(x)["type"] for x in lines]
    checkpoints = [x for x, k in zip(lines, kinds, strict=True) if k == "checkpoint"]
    moved = [
        x
        for x, k in zip(lines, kinds, strict=True)
        if k == "record" and json.loads(x)["index"] == audited.batches[0]
    ]
    rest = [x for x in lines if x not in checkpoints and x not in moved]
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("\n".join([rest[0], *reversed(checkpoints), *rest[1:], *moved]) + "\n")
    export = _Export(shuffled)
    assert set(export.record_offsets) == {audited.batches[0]}
    assert export.unsorted_notes is not None
    plain, other = _audit(path, log_key, secretariat), _audit(shuffled, log_key, secretariat)
    assert other.returncode == 0, other.stdout + other.stderr
    assert json.loads(other.stdout) == json.loads(plain.stdout)


def test_an_altered_record_line_fails_the_audit_naming_the_batch(
    audited: Audited, exported: tuple[Path, str, str], tmp_path: Path
) -> None:
    """One stored record changed in the export: the audit fails at that batch's entry, naming
    the root and the record that no longer verifies."""
    path, log_key, secretariat = exported
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines):
        obj = json.loads(line)
        if obj["type"] == "record" and obj["position"] == 3:
            obj["line"] = obj["line"].replace('"power_w_avg":500', '"power_w_avg":400')
            lines[n] = json.dumps(obj)
            break
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    res = _audit(tampered, log_key, secretariat)
    assert res.returncode == 1
    problems = json.loads(res.stdout)["problems"]
    at = f"entry {audited.batches[0]} (telemetry.batch/v1)"
    assert any(p.startswith(f"{at}: records_root is") for p in problems), problems
    assert any(p.startswith(f"{at}: stored record 3 fails verification") for p in problems)


def test_an_export_without_records_is_not_a_pass_for_its_batches(
    audited: Audited, exported: tuple[Path, str, str], tmp_path: Path
) -> None:
    """An export written before records were exported still audits; its batches are counted
    as not verified again, not as verified."""
    path, log_key, secretariat = exported
    old = [
        json.dumps({k: v for k, v in json.loads(x).items() if k != "records"})
        for x in path.read_text().splitlines()
        if json.loads(x)["type"] != "record"
    ]
    older = tmp_path / "older.jsonl"
    older.write_text("\n".join(old) + "\n")
    res = _audit(older, log_key, secretariat)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert (report["batches_reverified"], report["batches_not_reverified"]) == (0, 2)
    assert "not verified again" in res.stderr


def test_a_malformed_record_line_is_one_clear_error(
    exported: tuple[Path, str, str], tmp_path: Path
) -> None:
    """A record line of the export without its index or line: one line on stderr, exit 1."""
    path, log_key, secretariat = exported
    lines = path.read_text().splitlines()
    n = next(i for i, x in enumerate(lines) if json.loads(x)["type"] == "record")
    lines[n] = json.dumps({"type": "record", "index": "x"})
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    res = _audit(broken, log_key, secretariat)
    assert res.returncode == 1
    assert "expected an index and a line" in res.stderr
    assert "Traceback" not in res.stderr


class _LyingIngest(TelemetryIngest):
    """A secretariat that lies: it signs its batches with ten times the FLOP of ``r1``."""

    def _batch_statement(
        self, submission: Statement, body: Any, summary: BatchSummary, now: datetime
    ) -> Statement:
        honest = super()._batch_statement(submission, body, summary, now)
        doc = json.loads(json.dumps(honest.to_json()["body"]))
        doc["aggregate"]["runs"]["r1"]["flop"]["bf16"] *= 10
        return sign_statement(BATCH_KIND, doc, self.secretariat)


def test_a_batch_with_false_aggregates_signed_by_the_secretariat_fails_the_audit(
    audited: Audited, tmp_path: Path
) -> None:
    """A validly signed batch whose aggregates its records do not give: the audit fails at
    that entry, naming the figure."""
    shutil.copytree(audited.data_dir, tmp_path / "data")
    service = LogService(settings(tmp_path / "data"), clock=Clock(audited.now))
    with TestClient(create_app(service)) as client:
        first = json.loads(
            client.get(f"/v1/telemetry/batches/{audited.batches[1]}/records?offset=5").text
        )["records"][0]["line"]
        lines = _records(audited.world, audited.start, range(12, 14), record_hash(first.encode()))
        service.telemetry.__class__ = _LyingIngest
        index = _upload(client, audited.world, lines)["index"]
    export = tmp_path / "export.jsonl"
    log_key, secretariat = _export(tmp_path / "data", audited.now, export)
    res = _audit(export, log_key, secretariat)
    assert res.returncode == 1, res.stdout
    problems = json.loads(res.stdout)["problems"]
    assert any(
        p.startswith(f"entry {index} (telemetry.batch/v1): aggregate.runs.r1.flop.bf16 is ")
        for p in problems
    ), problems
    assert all(p.startswith(f"entry {index} ") for p in problems), problems


def test_a_proposal_with_a_false_finding_figure_fails_the_audit(
    audited: Audited, tmp_path: Path
) -> None:
    """A validly signed policy proposal whose finding quotes a figure the policy does not give:
    the audit fails at that entry, naming the finding and the figure."""
    shutil.copytree(audited.data_dir, tmp_path / "data")
    filed = audited.proposals[0]
    name, value = next(
        (k, v) for k, v in filed["finding"]["figures"].items() if isinstance(v, float)
    )
    body = {k: v for k, v in filed.items() if k != "index"}
    body["proposal_id"] = "forged-1"
    body["finding"] = dict(body["finding"], figures={**body["finding"]["figures"], name: value * 3})
    service = LogService(settings(tmp_path / "data"), clock=Clock(audited.now))
    with TestClient(create_app(service)) as client:
        # Filed as the entry right after the log it claims to rest on, as the fold requires.
        body["finding"]["log_size"] = client.get("/v1/log").json()["size"]
        forged = sign_statement("gov.proposal/v1", body, audited.world.keys["secretariat"])
        resp = client.post("/v1/statements", json=forged.to_json())
        assert resp.status_code == 201, resp.text
        index = resp.json()["index"]
    export = tmp_path / "export.jsonl"
    log_key, secretariat = _export(tmp_path / "data", audited.now, export)
    res = _audit(export, log_key, secretariat)
    assert res.returncode == 1, res.stdout
    problems = json.loads(res.stdout)["problems"]
    finding = filed["finding"]
    assert problems == [
        f"entry {index} (proposal forged-1): finding {finding['kind']} on {finding['subject']}: "
        f"figure {name} is {value * 3!r} on the log, the entries give {value!r}"
    ]


def test_a_finding_filed_after_the_log_moved_on_is_refused(
    audited: Audited, tmp_path: Path
) -> None:
    """A proposal whose finding was evaluated over fewer entries than come before it rests on a
    log no audit can rebuild: the fold refuses it (409), naming both sizes."""
    shutil.copytree(audited.data_dir, tmp_path / "data")
    filed = audited.proposals[0]
    body = {k: v for k, v in filed.items() if k != "index"}
    body["proposal_id"] = "stale-1"
    service = LogService(settings(tmp_path / "data"), clock=Clock(audited.now))
    with TestClient(create_app(service)) as client:
        size = client.get("/v1/log").json()["size"]
        body["finding"] = dict(body["finding"], log_size=size - 1)
        stale = sign_statement("gov.proposal/v1", body, audited.world.keys["secretariat"])
        resp = client.post("/v1/statements", json=stale.to_json())
        assert resp.status_code == 409, resp.text
        assert (
            f"evaluated over {size - 1} entries, but this proposal is entry {size}"
            in (resp.json()["detail"])
        )
        assert client.get("/v1/log").json()["size"] == size


def test_a_finding_filed_without_its_log_size_still_reads(audited: Audited, tmp_path: Path) -> None:
    """A filed finding written before ``log_size`` was kept (by an earlier build) is read and
    folded, not set aside: logs already written stay readable."""
    shutil.copytree(audited.data_dir, tmp_path / "data")
    body = {k: v for k, v in audited.proposals[0].items() if k != "index"}
    body["proposal_id"] = "older-1"
    body["finding"] = {k: v for k, v in body["finding"].items() if k != "log_size"}
    service = LogService(settings(tmp_path / "data"), clock=Clock(audited.now))
    with TestClient(create_app(service)) as client:
        older = sign_statement("gov.proposal/v1", body, audited.world.keys["secretariat"])
        resp = client.post("/v1/statements", json=older.to_json())
        assert resp.status_code == 201, resp.text
        assert client.get("/v1/proposals/older-1").status_code == 200


def test_a_proposal_about_another_subject_than_its_finding_fails_the_audit(
    audited: Audited, tmp_path: Path
) -> None:
    """A validly signed policy proposal to halt a run its (true) finding is not about: the
    audit names the entry, the subject and the finding's."""
    shutil.copytree(audited.data_dir, tmp_path / "data")
    filed = next(p for p in audited.proposals if p["kind"] == "halt_order")
    body = {k: v for k, v in filed.items() if k != "index"}
    body |= {"proposal_id": "forged-2", "subject": "run:r1"}
    service = LogService(settings(tmp_path / "data"), clock=Clock(audited.now))
    try:
        with TestClient(create_app(service)) as client:
            body["finding"] = dict(body["finding"], log_size=client.get("/v1/log").json()["size"])
            forged = sign_statement("gov.proposal/v1", body, audited.world.keys["secretariat"])
            resp = client.post("/v1/statements", json=forged.to_json())
            assert resp.status_code == 201, resp.text
            index = resp.json()["index"]
        report, _ = audit_log(
            LogStore(service.engine).entries(),
            [],
            service.log.verifier,
            secretariat=audited.world.keys["secretariat"].signer_id,
        )
    finally:
        service.close()
    assert report.problems == [
        f"entry {index} (proposal forged-2): subject run:r1 is not its finding's "
        f"{filed['finding']['subject']}"
    ]


def test_the_store_audit_compares_every_view(audited: Audited, tmp_path: Path) -> None:
    """`audit --data-dir` verifies the batches from the stored records and compares every view
    row with the entries' fold; a changed view cell is named by table, key and column."""
    shutil.copytree(audited.data_dir, tmp_path / "data")
    key = audited.world.keys["secretariat"].signer_id
    res = _cli("audit", "--data-dir", str(tmp_path / "data"), "--secretariat", key, "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["batches_reverified"] == 2
    assert report["view_rows_compared"] > 0
    with sqlite3.connect(tmp_path / "data" / "pausewatch.db") as db:
        db.execute("UPDATE tel_runs SET chip_windows = chip_windows + 1 WHERE run_id = 'r1'")
    res = _cli("audit", "--data-dir", str(tmp_path / "data"), "--secretariat", key, "--json")
    assert res.returncode == 1
    problems = json.loads(res.stdout)["problems"]
    assert problems == [
        "view table tel_runs key ('r1',) column chip_windows: stored 12, the entries give 11"
    ]


def test_the_store_audit_fails_on_an_altered_stored_record(
    audited: Audited, tmp_path: Path
) -> None:
    """`audit --data-dir` reads the records from the store: one changed there fails the audit
    at its batch's entry."""
    shutil.copytree(audited.data_dir, tmp_path / "data")
    with sqlite3.connect(tmp_path / "data" / "pausewatch.db") as db:
        (line,) = db.execute("SELECT line FROM telemetry_records WHERE seq = 9").fetchone()
        altered = bytes(line).replace(b'"sm_active":0.6', b'"sm_active":0.7')
        db.execute("UPDATE telemetry_records SET line = ? WHERE seq = 9", (altered,))
    key = audited.world.keys["secretariat"].signer_id
    res = _cli("audit", "--data-dir", str(tmp_path / "data"), "--secretariat", key, "--json")
    assert res.returncode == 1
    problems = json.loads(res.stdout)["problems"]
    at = f"entry {audited.batches[1]} (telemetry.batch/v1)"
    assert any(p.startswith(f"{at}: records_root is") for p in problems), problems
    assert all(p.startswith(at) for p in problems), problems


def test_reverify_batch_names_each_figure_that_differs(audited: Audited) -> None:
    """The re-verification of a batch's records over the fold before it: the honest records
    give no problem; a record missing changes the count, the root and the chain head."""
    service = LogService(settings(audited.data_dir), clock=Clock(audited.now))
    try:
        engine = service.engine
        index = audited.batches[1]
        fold = new_registry({audited.world.keys["secretariat"].signer_id})
        entries = LogStore(engine).entries()
        for i, data in entries:
            if i == index:
                batch = parse_statement(parse_json(data)["statement"]).body
                break
            statement = parse_statement(parse_json(data)["statement"])
            fold.apply(i, datetime.fromisoformat(parse_json(data)["integrated_at"]), statement)
        assert isinstance(batch, TelemetryBatch)
        upload = batch.submission_body()
        lines = list(iter_stored_records(engine, upload.operator_id, upload.batch_digest))
        assert reverify_batch(index, batch, lines, fold) == (6, [])
        read, problems = reverify_batch(index, batch, lines[:-1], fold)
        assert read == 5
        at = f"entry {index} (telemetry.batch/v1)"
        assert f"{at}: accepted is 6 on the log, the stored records give 5" in problems
        assert any(p.startswith(f"{at}: records_root is {batch.records_root}") for p in problems)
        assert any(p.startswith(f"{at}: chains.chip-1.seq is 11 on the log") for p in problems)
    finally:
        service.close()


def test_audit_log_without_records_counts_batches_as_not_reverified(audited: Audited) -> None:
    """Without a records source every batch is reported as taken on the secretariat's word."""
    service = LogService(settings(audited.data_dir), clock=Clock(audited.now))
    try:
        engine = service.engine
        report, _ = audit_log(
            LogStore(engine).entries(),
            [],
            service.log.verifier,
            secretariat=audited.world.keys["secretariat"].signer_id,
            stored_views=lambda view: dump_view(engine, view),
        )
    finally:
        service.close()
    assert report.ok, report.problems
    assert (report.batches_reverified, report.batches_not_reverified) == (0, 2)
    assert report.view_rows_compared > 0


def _growing_client(http: TestClient, grow: Callable[[], int]) -> tuple[type, list[int]]:
    """A :class:`~pausewatch.client.PausewatchClient` class over ``http`` (a TestClient) whose
    server pages checkpoint sizes two at a time, and where another client appends (``grow``)
    as soon as the last page of entries has been served: a live log, growing during a read.
    Returns the class and the list ``grow``'s result goes to."""
    from pausewatch.client import PausewatchClient

    grown: list[int] = []

    class Growing(PausewatchClient):
        def __init__(self, url: str) -> None:
            super().__init__(url)
            self._http.close()
            self._http = http

        def close(self) -> None:
            pass

        def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
            if path == "/v1/checkpoints":
                kwargs["params"] = {**kwargs["params"], "limit": 2}
            resp = super()._request(method, path, **kwargs)
            if path == "/v1/entries" and resp.json()["next"] is None and not grown:
                grown.append(grow())
            return resp

    return Growing, grown


def _late_declaration(audited: Audited, http: TestClient) -> Callable[[], int]:
    """Another client's append: a run declaration; returns its index."""

    def grow() -> int:
        late = sign_statement(
            "run.declaration/v1", declaration("r-late"), audited.world.keys["operator"]
        )
        resp = http.post("/v1/statements", json=late.to_json())
        assert resp.status_code == 201, resp.text
        return int(resp.json()["index"])

    return grow


def test_audit_url_of_a_log_that_grows_meanwhile_passes(
    audited: Audited,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`audit --url` of a live log: a checkpoint the log signs after the audit read its last
    entry is not one the audit could check, nor a problem. The notes were fetched before the
    entries; read as the tree reaches them, they are read up to the latest checkpoint the
    audit started from, which the entries read after it cover."""
    import typer

    from pausewatch.cli import _audit as cli_audit

    shutil.copytree(audited.data_dir, tmp_path / "data")
    service = LogService(settings(tmp_path / "data"), clock=Clock(audited.now))
    with TestClient(create_app(service)) as http:
        info = http.get("/v1/log").json()
        growing, grown = _growing_client(http, _late_declaration(audited, http))
        monkeypatch.setattr(cli_audit, "PausewatchClient", growing)
        code = 0
        try:
            cli_audit.audit(
                url="http://testserver",
                log_key=info["verifier_key"],
                secretariat=info["roles"]["secretariat"],
                as_json=True,
            )
        except typer.Exit as exc:
            code = exc.exit_code
    service.close()
    assert grown, "the log did not grow during the audit"
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["problems"]
    assert report["entries"] == grown[0]
    assert report["checkpoints_verified"] > 2


def test_an_export_of_a_log_that_grows_meanwhile_holds_checkpoints_its_entries_cover(
    audited: Audited, tmp_path: Path
) -> None:
    """`log export` of a live log writes the checkpoints after the entries, a page of sizes at
    a time: the ones the log signs meanwhile lie beyond the entries written, and an audit of
    the export would fail on them. It writes those its entries cover, and the export audits."""
    from pausewatch.cli._log import write_export

    shutil.copytree(audited.data_dir, tmp_path / "data")
    service = LogService(settings(tmp_path / "data"), clock=Clock(audited.now))
    path = tmp_path / "export.jsonl"
    with TestClient(create_app(service)) as http:
        info = http.get("/v1/log").json()
        growing, grown = _growing_client(http, _late_declaration(audited, http))
        with growing("http://testserver") as client, path.open("w") as fh:
            count = write_export(client, fh)
    service.close()
    assert grown == [count], "the log did not grow during the export"
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    sizes = [int(x["note"].split("\n")[1]) for x in lines if x["type"] == "checkpoint"]
    assert len(sizes) > 2
    assert max(sizes) == count
    res = _audit(path, info["verifier_key"], info["roles"]["secretariat"])
    assert res.returncode == 0, res.stdout + res.stderr
