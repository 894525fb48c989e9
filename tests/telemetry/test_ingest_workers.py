"""Telemetry verified in worker processes (docs/adr/0048-ingest-workers.md): the same verdicts,
receipts and stored records as verification in the serving process, and a worker that dies
fails its upload cleanly."""

from __future__ import annotations

import base64
import hashlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.api.routes.telemetry import INGEST_UPLOADS
from pausewatch.errors import IngestWorkerError
from pausewatch.service import LogService, stored_records
from pausewatch.service._ingest_pool import lower_this_thread
from pausewatch.settings import Settings
from pausewatch.simulate import Fleet, Misbehaviour, simulate_fleet
from pausewatch.statements import sign_statement
from pausewatch.store import sqlite_url
from pausewatch.telemetry import (
    SEGMENT_RECORDS,
    MissingContext,
    SegmentJob,
    SegmentVerdict,
    verify_segment,
    verify_stream,
)

from .test_ingest import CLUSTERS, register, submission, ticking

CALLER: ContextVar[str] = ContextVar("caller", default="")
"""Which of a test's uploads a verification is for: the upload runs on one of the service's
ingest threads, in its caller's context."""

# Worker processes are real and slow to start on a loaded machine: SQLite only here (the pool
# changes nothing in the database's part; the parametrised ingest tests cover both backends).


@pytest.fixture
def fleet() -> Fleet:
    return simulate_fleet(
        CLUSTERS,
        windows=6,
        seed=19,
        misbehaviour=Misbehaviour(
            undeclared_clusters=frozenset({"shadow-1"}),
            forge_rate=0.08,
            withhold_rate=0.08,
            replay_rate=0.08,
        ),
    )


def open_service(path: Path, fleet: Fleet, workers: int) -> LogService:
    """A service with its own data directory and SQLite database under ``path``."""
    settings = Settings(
        data_dir=path,
        database_url=sqlite_url(path / "pausewatch.db"),
        batch_latency_ms=1,
        ingest_workers=workers,
    )
    return LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()


@pytest.fixture
def pooled(tmp_path: Path, fleet: Fleet) -> Iterator[LogService]:
    svc = open_service(tmp_path / "pooled", fleet, workers=2)
    try:
        yield svc
    finally:
        svc.close()


def uploads(fleet: Fleet) -> list[bytes]:
    """The fleet's windows in three uploads, with lines no verifier accepts mixed in (blank,
    not JSON, a chip nobody registered); in the first, every record of one chip has its chip id
    spelled with a JSON escape, so that a scan of the bytes does not find that chip and the
    worker has to ask for it."""
    third = len(fleet.windows) // 3
    parts = [fleet.windows[:third], fleet.windows[third : 2 * third], fleet.windows[2 * third :]]
    first = fleet.windows[0][0]
    chip = first.split(b'"chip_id":"')[1].split(b'"')[0]
    plain = b'"chip_id":"' + chip + b'"'
    escaped = b'"chip_id":"\\u00' + b"%x" % chip[0] + chip[1:] + b'"'
    ghost = first.replace(plain, b'"chip_id":"ghost-chip"')
    extra = [b"", b"not json", ghost]
    out = []
    for n, part in enumerate(parts):
        lines = [*extra, *(ln for w in part for ln in w)]
        if n == 0:
            lines = [ln.replace(plain, escaped) for ln in lines]
        out.append(b"".join(line + b"\n" for line in lines))
    return out


def outcome(service: LogService, fleet: Fleet, data: list[bytes]) -> list[dict[str, Any]]:
    """The fleet registered, then each upload's receipt (less its time) and stored records."""
    operator = register(service, fleet)
    results = []
    for upload in data:
        receipt = asdict(service.ingest_telemetry(upload, submission(upload, operator)))
        receipt.pop("integrated_at")
        digest = hashlib.sha256(upload).hexdigest()
        results.append(
            {"receipt": receipt, "stored": stored_records(service.engine, "lab", digest)}
        )
    return results


def test_worker_processes_give_the_same_receipts_and_stored_records(
    tmp_path: Path, fleet: Fleet, pooled: LogService
) -> None:
    """A fleet with forged, replayed, withheld, undeclared, malformed and unknown-chip records,
    in three uploads: verified in two worker processes, every receipt and every stored record
    is the one verification in the serving process gives; the workers run 10 nice levels
    below the serving process (Settings.ingest_nice)."""
    local = open_service(tmp_path / "local", fleet, workers=0)
    try:
        data = uploads(fleet)
        expected = outcome(local, fleet, data)
        got = outcome(pooled, fleet, data)
    finally:
        local.close()
    assert local.telemetry.pool is None
    assert pooled.telemetry.pool is not None
    assert pooled.telemetry.pool.pids()
    # Verifying is batch work: the workers yield a core to the serving process's reads.
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    for pid in pooled.telemetry.pool.pids():
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(19, mine + 10)
    assert got == expected
    rules = {r for o in expected for r in o["receipt"]["rejected_by_rule"]}
    assert {"malformed", "chip_unknown", "signature"} <= rules
    assert all(o["stored"] for o in expected)


def test_a_segment_naming_a_chip_its_snapshot_lacks_asks_for_it(fleet: Fleet) -> None:
    """verify_segment on a snapshot without the chips its lines name answers with those chips
    instead of verdicts; verify_stream through it then equals verify_stream in process."""
    registry = fleet.registry()
    now = fleet.end + timedelta(minutes=1)
    lines = [ln for w in fleet.windows for ln in w]
    job = SegmentJob(
        lines=list(enumerate(lines)),
        operator_id="lab",
        now=now,
        chips={},
        runs={},
        heads={},
        catalogue=None,
        flop_tolerance=0.02,
        every_signature=False,
        undeclared_tensor_active=0.3,
    )
    missing = verify_segment(job)
    assert isinstance(missing, MissingContext)
    assert set(missing.chips) == {c.chip_id for c in registry.chips.values()}
    args: dict[str, Any] = {"operator_id": "lab", "now": now, "registry": registry, "chains": {}}
    # The scan of the bytes misses names spelled with a JSON escape: the worker asks for them.
    lines = [
        escaped(ln, b"chip_id") if n % 2 else escaped(ln, b"run_id") for n, ln in enumerate(lines)
    ]
    here = verify_stream(iter(lines), segment_records=5, **args)
    calls: list[SegmentVerdict | MissingContext] = []

    def verifier(job: SegmentJob) -> SegmentVerdict | MissingContext:
        calls.append(verify_segment(job))
        return calls[-1]

    there = verify_stream(iter(lines), segment_records=5, verifier=verifier, **args)
    assert there == here
    assert here.accepted > 0
    asked = [c for c in calls if isinstance(c, MissingContext)]
    assert any(c.chips for c in asked)
    assert any(c.runs for c in asked)


def escaped(line: bytes, name: bytes) -> bytes:
    """``line`` with the first character of its string field ``name`` spelled as a JSON
    escape (the same value to a JSON parser, not to a scan of the bytes)."""
    key = b'"' + name + b'":"'
    head, sep, tail = line.partition(key)
    if not sep:
        return line
    return head + key + b"\\u00%02x" % tail[0] + tail[1:]


def test_a_run_id_spelled_with_an_escape_is_asked_for_and_judged_as_in_process(
    fleet: Fleet,
) -> None:
    """A record whose run id the byte scan misses (a JSON escape) gets the run's declaration
    from the worker's MissingContext: verdicts through the verifier equal those in process."""
    registry = fleet.registry()
    now = fleet.end + timedelta(minutes=1)
    lines = [escaped(ln, b"run_id") for w in fleet.windows for ln in w]
    assert any(b'"run_id":"\\u00' in ln for ln in lines)
    args: dict[str, Any] = {"operator_id": "lab", "now": now, "registry": registry, "chains": {}}
    here = verify_stream(iter(lines), **args)
    calls: list[SegmentVerdict | MissingContext] = []

    def verifier(job: SegmentJob) -> SegmentVerdict | MissingContext:
        calls.append(verify_segment(job))
        return calls[-1]

    there = verify_stream(iter(lines), verifier=verifier, **args)
    assert there == here
    assert here.accepted > 0
    assert any(isinstance(c, MissingContext) and c.runs for c in calls)


def kill(pid: int) -> None:
    """SIGKILL a worker and wait until it is gone."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
        try:  # the fork server reaps it; a zombie still answers signal 0
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split()[2] == "Z":
                    return
        except FileNotFoundError:
            return
    raise AssertionError(f"worker {pid} did not die")


def test_a_killed_worker_fails_the_upload_cleanly_over_http(
    pooled: LogService, fleet: Fleet
) -> None:
    """Over HTTP with worker processes: an upload whose worker was killed is answered 503 with a
    problem document, nothing of it is stored or logged, and the same upload sent again is
    accepted with the verdicts an upload never interrupted gets."""
    operator = register(pooled, fleet)
    first, second, _ = uploads(fleet)
    with TestClient(create_app(pooled)) as client:

        def post(data: bytes) -> Any:
            header = base64.b64encode(submission(data, operator).canonical_bytes()).decode()
            return client.post(
                "/v1/telemetry/batches",
                content=data,
                headers={"Pausewatch-Submission": header},
            )

        ok = post(first)
        assert ok.status_code == 201, ok.text
        pool = pooled.telemetry.pool
        assert pool is not None
        pids = pool.pids()
        assert pids
        size = pooled.log.size
        for pid in pids:
            kill(pid)
        failed = post(second)
        assert failed.status_code == 503
        assert failed.headers["content-type"].startswith("application/problem+json")
        problem = failed.json()
        assert problem["type"].endswith("/ingest-interrupted")
        assert "send it again" in problem["detail"]
        digest = hashlib.sha256(second).hexdigest()
        assert stored_records(pooled.engine, "lab", digest) == []
        assert pooled.log.size == size
        again = post(second)
        assert again.status_code == 201, again.text
        assert set(pool.pids()).isdisjoint(pids)
    body = again.json()
    assert body["accepted"] == len(stored_records(pooled.engine, "lab", digest)) > 0


def test_a_worker_killed_mid_upload_leaves_nothing_of_it(pooled: LogService, fleet: Fleet) -> None:
    """The workers are killed once an upload's first segment is verified and its records
    stored: the upload fails with IngestWorkerError, none of its records stay stored, the log
    does not grow, and the same upload sent again is accepted in full."""
    operator = register(pooled, fleet)
    first = [ln for ln in fleet.windows[0]]
    rest = [ln for w in fleet.windows[1:] for ln in w]
    # Lines that fail to parse still fill a segment: the first segment ends inside them.
    data = b"".join(ln + b"\n" for ln in [*first, *[b"x"] * SEGMENT_RECORDS, *rest])
    pool = pooled.telemetry.pool
    assert pool is not None
    real = pool.verify
    digest = hashlib.sha256(data).hexdigest()
    stored_before_kill: list[int] = []

    def verify_then_kill(job: SegmentJob) -> SegmentVerdict | MissingContext:
        answer = real(job)
        if isinstance(answer, SegmentVerdict) and not stored_before_kill:
            stored_before_kill.append(len(answer.accepted))
            for pid in pool.pids():
                kill(pid)
        return answer

    pool.verify = verify_then_kill  # type: ignore[method-assign]
    size = pooled.log.size
    with pytest.raises(IngestWorkerError):
        pooled.ingest_telemetry(data, submission(data, operator))
    assert stored_before_kill[0] > 0
    assert stored_records(pooled.engine, "lab", digest) == []
    assert pooled.log.size == size
    pool.verify = real  # type: ignore[method-assign]
    receipt = pooled.ingest_telemetry(data, submission(data, operator))
    assert receipt.accepted == len(stored_records(pooled.engine, "lab", digest)) > 0
    assert receipt.rejected_by_rule["malformed"] == SEGMENT_RECORDS


_SERVING = """
import hashlib, sys, time
from datetime import timedelta
from pathlib import Path

from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Workload, fleet_world, simulate_fleet
from pausewatch.statements import load_key, sign_statement

if __name__ == "__main__":
    fleet = simulate_fleet(
        (ClusterSpec("train-1", "lab", "H100 SXM", 4, Workload.TRAINING),), windows=2, seed=5
    )
    now = fleet.end + timedelta(minutes=1)
    settings = Settings(data_dir=Path(sys.argv[1]), batch_latency_ms=1, ingest_workers=1)
    service = LogService(settings, clock=lambda: now).start()
    world = fleet_world(fleet, load_key(settings.keys_dir, "secretariat"))
    for stage in world.stages:
        for future in [service.submit(s) for s in stage]:
            future.result(timeout=60)
    data = b"".join(line + b"\\n" for line in fleet.lines)
    body = {"operator_id": "lab", "batch_digest": hashlib.sha256(data).hexdigest(),
            "records": len(fleet.lines)}
    service.ingest_telemetry(data, sign_statement("telemetry.submission/v1", body,
                                                  world.operators["lab"]))
    print(" ".join(str(p) for p in service.telemetry.pool.pids()), flush=True)
    time.sleep(600)
"""


def test_workers_exit_when_the_serving_process_is_killed(tmp_path: Path) -> None:
    """A serving process SIGKILLed after an upload leaves no worker behind: its ingest
    workers see it gone and exit (they are the fork server's children, not its own)."""
    script = tmp_path / "serving.py"
    script.write_text(_SERVING, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # The script prints its workers' pids once its upload is in: wait for that, bounded.
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "the serving process printed no worker pids"
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert pids
        assert all(alive(pid) for pid in pids)
    finally:
        proc.kill()
        proc.wait(30)
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_failed_attempt_keeps_the_records_a_concurrent_retry_of_it_relies_on(
    tmp_path: Path, fleet: Fleet
) -> None:
    """Upload A's verification fails at its second segment while B, the same upload resent
    (the client timed out), is under way: B's receipt accepts exactly the records stored for
    it, and A's failure deletes none of them."""
    svc = open_service(tmp_path / "race", fleet, workers=1)
    try:
        operator = register(svc, fleet)
        first = [ln for ln in fleet.windows[0]]
        rest = [ln for w in fleet.windows[1:] for ln in w]
        data = b"".join(ln + b"\n" for ln in [*first, *[b"x"] * SEGMENT_RECORDS, *rest])
        digest = hashlib.sha256(data).hexdigest()
        pool = svc.telemetry.pool
        assert pool is not None
        b_at_second = threading.Event()
        a_done = threading.Event()
        calls: dict[str, int] = {}

        def verify(job: SegmentJob) -> SegmentVerdict | MissingContext:
            name = CALLER.get()
            n = calls[name] = calls.get(name, 0) + 1
            if name == "A" and n == 2:
                # B may be held back until A is over: then it never gets here.
                b_at_second.wait(2)
                raise IngestWorkerError("a worker stopped")
            if name == "B" and n == 2:
                b_at_second.set()
                a_done.wait(30)
            return verify_segment(job)

        pool.verify = verify  # type: ignore[method-assign]
        out: dict[str, Any] = {}

        def run(name: str) -> None:
            CALLER.set(name)
            try:
                out[name] = svc.ingest_telemetry(data, submission(data, operator))
            except Exception as exc:
                out[name] = exc
            finally:
                if name == "A":
                    a_done.set()

        a = threading.Thread(target=run, args=("A",), name="A")
        a.start()
        deadline = time.monotonic() + 30
        while calls.get("A", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        b = threading.Thread(target=run, args=("B",), name="B")
        b.start()
        a.join(60)
        b.join(60)
        assert isinstance(out["A"], IngestWorkerError)
        receipt = out["B"]
        assert not isinstance(receipt, Exception), receipt
        assert receipt.accepted == len(stored_records(svc.engine, "lab", digest)) > 0
    finally:
        svc.close()


def _first_segment_then(data_of: Fleet) -> bytes:
    """An upload whose first segment has accepted records and whose second starts after it."""
    first = [ln for ln in data_of.windows[0]]
    rest = [ln for w in data_of.windows[1:] for ln in w]
    return b"".join(ln + b"\n" for ln in [*first, *[b"x"] * SEGMENT_RECORDS, *rest])


@pytest.mark.parametrize("failure", [MemoryError, ValueError, KeyboardInterrupt])
def test_any_failure_of_the_verification_leaves_nothing_stored(
    tmp_path: Path, fleet: Fleet, failure: type[BaseException]
) -> None:
    """Whatever stops an upload's verification once its first segment is stored (not only a
    dead worker: memory, a bug, an interrupt), the exception reaches the caller and none of the
    upload's records stay stored; the same upload sent again is accepted in full."""
    svc = open_service(tmp_path / "fail", fleet, workers=1)
    try:
        operator = register(svc, fleet)
        data = _first_segment_then(fleet)
        digest = hashlib.sha256(data).hexdigest()
        pool = svc.telemetry.pool
        assert pool is not None
        calls: list[int] = []

        def verify(job: SegmentJob) -> SegmentVerdict | MissingContext:
            calls.append(1)
            if len(calls) == 2:
                assert stored_records(svc.engine, "lab", digest)
                raise failure("the verification stopped")
            return verify_segment(job)

        pool.verify = verify  # type: ignore[method-assign]
        with pytest.raises(failure):
            svc.ingest_telemetry(data, submission(data, operator))
        assert stored_records(svc.engine, "lab", digest) == []
        receipt = svc.ingest_telemetry(data, submission(data, operator))
        assert receipt.accepted == len(stored_records(svc.engine, "lab", digest)) > 0
    finally:
        svc.close()


def test_a_pool_shut_down_under_an_upload_answers_a_retryable_error(
    tmp_path: Path, fleet: Fleet
) -> None:
    """The workers' executor shuts down (the service closing) between two segments of an
    upload: the upload fails with IngestWorkerError (503, send it again), not a bare
    RuntimeError, and none of its records stay stored."""
    svc = open_service(tmp_path / "shut", fleet, workers=1)
    try:
        operator = register(svc, fleet)
        data = _first_segment_then(fleet)
        digest = hashlib.sha256(data).hexdigest()
        pool = svc.telemetry.pool
        assert pool is not None
        real = pool.verify

        def verify_then_shut(job: SegmentJob) -> SegmentVerdict | MissingContext:
            answer = real(job)
            # What close() does to the executor, as the upload is about to send its next
            # segment: the pool still hands out that executor.
            pool._pool().shutdown(wait=True, cancel_futures=True)
            pool.verify = real  # type: ignore[method-assign]
            return answer

        pool.verify = verify_then_shut  # type: ignore[method-assign]
        with pytest.raises(IngestWorkerError):
            svc.ingest_telemetry(data, submission(data, operator))
        assert stored_records(svc.engine, "lab", digest) == []
    finally:
        svc.close()


def test_pooled_uploads_of_the_same_chips_side_by_side_match_one_after_the_other(
    tmp_path: Path, fleet: Fleet, pooled: LogService
) -> None:
    """Two uploads of the same chips in worker processes at once: the later windows' upload
    is verified against chain heads that the earlier one moves before it is appended. Its
    receipt and stored records are those the serving process gives them one after the other."""
    half = len(fleet.windows) // 2
    data = [
        b"".join(ln + b"\n" for w in part for ln in w)
        for part in (fleet.windows[:half], fleet.windows[half:])
    ]
    local = open_service(tmp_path / "local", fleet, workers=0)
    try:
        expected = outcome(local, fleet, data)
    finally:
        local.close()
    operator = register(pooled, fleet)
    pool = pooled.telemetry.pool
    assert pool is not None
    real = pool.verify
    later_verifying = threading.Event()
    earlier_in = threading.Event()

    later_segments: list[int] = []

    def verify(job: SegmentJob) -> SegmentVerdict | MissingContext:
        if CALLER.get() == "later":
            later_segments.append(len(job.lines))
        if CALLER.get() == "later" and not later_verifying.is_set():
            later_verifying.set()
            earlier_in.wait(60)  # its heads are read: the earlier upload moves them now
        return real(job)

    pool.verify = verify  # type: ignore[method-assign]
    receipts: dict[str, Any] = {}

    def send(name: str, upload: bytes) -> None:
        CALLER.set(name)
        try:
            receipts[name] = pooled.ingest_telemetry(upload, submission(upload, operator))
        except Exception as exc:  # pragma: no cover - reported below
            receipts[name] = exc
        finally:
            if name == "earlier":
                earlier_in.set()

    later = threading.Thread(target=send, args=("later", data[1]), name="later")
    later.start()
    assert later_verifying.wait(60)
    send("earlier", data[0])
    later.join(120)
    got = []
    for name, upload in (("earlier", data[0]), ("later", data[1])):
        receipt = receipts[name]
        assert not isinstance(receipt, Exception), receipt
        as_dict = asdict(receipt)
        as_dict.pop("integrated_at")
        digest = hashlib.sha256(upload).hexdigest()
        got.append({"receipt": as_dict, "stored": stored_records(pooled.engine, "lab", digest)})
    assert got == expected
    assert all(o["stored"] for o in expected)
    # Its first verdicts rested on heads that moved: it was verified a second time.
    assert sum(later_segments) >= 2 * data[1].count(b"\n")


def test_statements_are_answered_while_uploads_fill_every_ingest_thread(
    tmp_path: Path, fleet: Fleet
) -> None:
    """As many uploads as asyncio's default executor has threads, those being ingested held
    mid-verification: a statement posted meanwhile is answered (its decode and checks do not
    queue behind the uploads); then every upload finishes."""
    svc = open_service(tmp_path / "busy", fleet, workers=1)
    try:
        operator = register(svc, fleet)
        held = min(32, (os.cpu_count() or 1) + 4)  # asyncio's default executor's threads
        verifying = min(held, INGEST_UPLOADS)  # the rest wait for their turn to be ingested
        lines = [ln for w in fleet.windows for ln in w]
        assert len(lines) >= held
        pool = svc.telemetry.pool
        assert pool is not None
        arrived = threading.Semaphore(0)
        release = threading.Event()

        def verify(job: SegmentJob) -> SegmentVerdict | MissingContext:
            arrived.release()
            release.wait(60)
            return verify_segment(job)

        pool.verify = verify  # type: ignore[method-assign]
        with TestClient(create_app(svc)) as client:
            answers: list[Any] = []

            def upload(data: bytes) -> None:
                header = base64.b64encode(submission(data, operator).canonical_bytes()).decode()
                answers.append(
                    client.post(
                        "/v1/telemetry/batches",
                        content=data,
                        headers={"Pausewatch-Submission": header},
                    )
                )

            uploaders = [
                threading.Thread(target=upload, args=(lines[n] + b"\n",)) for n in range(held)
            ]
            for t in uploaders:
                t.start()
            try:
                for _ in range(verifying):
                    assert arrived.acquire(timeout=60), "an upload never reached verification"
                notice = sign_statement("notice/v1", {"title": "while uploads run"}, operator)
                posted: list[Any] = []
                poster = threading.Thread(
                    target=lambda: posted.append(
                        client.post("/v1/statements", json=notice.to_json())
                    )
                )
                poster.start()
                poster.join(30)
                answered = not poster.is_alive()
            finally:
                release.set()
                for t in uploaders:
                    t.join(60)
            poster.join(60)
            assert answered, "the statement waited for the uploads"
            assert posted[0].status_code == 201, posted[0].text
            assert [a.status_code for a in answers] == [201] * held
    finally:
        svc.close()


# -- the serving process's own ingest threads, below its reads (docs/adr/0060) ------------------

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="a thread's own nice value is Linux's"
)


def _nice_of(thread: threading.Thread) -> int:
    assert thread.native_id is not None
    return os.getpriority(os.PRIO_PROCESS, thread.native_id)


@linux_only
def test_uploads_and_the_sequencer_run_below_the_serving_process(
    tmp_path: Path, fleet: Fleet
) -> None:
    """An upload is taken through on one of the service's ingest threads and logged by its
    sequencer, both ``ingest_thread_nice`` levels below the thread that called it (a read's
    thread keeps the process's priority); the receipt is the one the caller's own thread gives
    (``ingest_thread_nice=0``)."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[int] = []
    receipts = []
    for nice in (3, 0):
        settings = Settings(
            data_dir=tmp_path / str(nice),
            batch_latency_ms=1,
            ingest_workers=0,
            ingest_thread_nice=nice,
        )
        service = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
        try:
            original = service.telemetry._ingest_once

            def spy(*args: Any, _original: Any = original) -> Any:
                seen.append(os.getpriority(os.PRIO_PROCESS, 0))
                return _original(*args)

            service.telemetry._ingest_once = spy  # type: ignore[method-assign,assignment]
            operator = register(service, fleet)
            upload = b"".join(line + b"\n" for line in fleet.windows[0])
            receipt = service.ingest_telemetry(upload, submission(upload, operator))
            receipts.append({k: v for k, v in asdict(receipt).items() if k != "integrated_at"})
            # This service's own threads: other tests' services may still have theirs.
            sequencer = service.sequencer._thread
            assert sequencer is not None
            assert _nice_of(sequencer) == min(19, mine + nice)
            if nice:
                assert service.telemetry.threads is not None
                ingest = list(service.telemetry.threads._threads)
                assert ingest
                assert all(_nice_of(t) == min(19, mine + nice) for t in ingest)
            else:
                assert service.telemetry.threads is None
        finally:
            service.close()
    assert seen == [min(19, mine + 3), mine]
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine
    assert receipts[0] == receipts[1]


@linux_only
def test_a_worker_runs_its_levels_below_the_server_whatever_it_inherited() -> None:
    """A worker forked from a fork server that one of the serving process's lower ingest
    threads started inherits that thread's nice value: it still ends ``ingest_nice`` levels
    below the serving process, not that many below what it inherited."""
    code = (
        "import os\n"
        "from pausewatch.service._ingest_pool import _start_worker\n"
        "base = os.getpriority(os.PRIO_PROCESS, 0)\n"
        "os.nice(5)\n"  # what a fork server started from a thread 5 levels down passes on
        "_start_worker(os.getppid(), 10, base)\n"
        "print(os.getpriority(os.PRIO_PROCESS, 0) - base)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    base = os.getpriority(os.PRIO_PROCESS, 0)
    assert int(done.stdout) == min(19, base + 10) - base


@linux_only
def test_lower_this_thread_sets_the_threads_own_level_only() -> None:
    """``lower_this_thread`` changes the calling thread alone, to that many levels below the
    process (not below what the thread had: twice is as once), stops at 19, and does nothing
    at 0."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    found: dict[str, int] = {}

    def run(name: str, *steps: int) -> None:
        for n in steps:
            lower_this_thread(n)
        found[name] = os.getpriority(os.PRIO_PROCESS, 0)

    for name, steps in {"zero": (0,), "twice": (2, 3), "capped": (15, 15)}.items():
        thread = threading.Thread(target=run, args=(name, *steps))
        thread.start()
        thread.join()
    assert found == {"zero": mine, "twice": min(19, mine + 3), "capped": min(19, mine + 15)}
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine


def test_uploads_queued_or_sent_when_the_ingest_threads_shut_answer_a_retryable_error(
    tmp_path: Path, fleet: Fleet
) -> None:
    """More uploads than the ingest has threads, the service closing meanwhile: the one still
    waiting for a thread, and one sent after the close, are refused with IngestWorkerError
    (503, send it again), not a bare CancelledError or RuntimeError (500)."""
    from pausewatch.service._telemetry import INGEST_THREADS

    svc = open_service(tmp_path / "queued", fleet, workers=0)
    try:
        operator = register(svc, fleet)
        assert svc.telemetry.threads is not None
        lines = [ln for w in fleet.windows for ln in w]
        assert len(lines) > INGEST_THREADS + 1
        real = svc.telemetry._ingest_once
        arrived = threading.Semaphore(0)
        release = threading.Event()

        def held(*args: Any) -> Any:
            arrived.release()
            release.wait(60)
            return real(*args)

        svc.telemetry._ingest_once = held  # type: ignore[method-assign,assignment]
        out: dict[int, Any] = {}

        def send(n: int) -> None:
            data = lines[n] + b"\n"
            try:
                out[n] = svc.ingest_telemetry(data, submission(data, operator))
            except BaseException as exc:
                out[n] = exc

        senders = [threading.Thread(target=send, args=(n,)) for n in range(INGEST_THREADS)]
        for t in senders:
            t.start()
        closer: threading.Thread | None = None
        try:
            for _ in range(INGEST_THREADS):
                assert arrived.acquire(timeout=60), "an upload never reached its thread"
            queued = threading.Thread(target=send, args=(INGEST_THREADS,))
            queued.start()
            deadline = time.monotonic() + 30
            while svc.telemetry.threads._work_queue.qsize() == 0:
                assert time.monotonic() < deadline, "the ninth upload was never queued"
                time.sleep(0.01)
            closer = threading.Thread(target=svc.telemetry.close)
            closer.start()
            queued.join(30)
            assert not queued.is_alive()
        finally:
            release.set()
            for t in senders:
                t.join(60)
            if closer is not None:
                closer.join(60)
        assert isinstance(out[INGEST_THREADS], IngestWorkerError), repr(out[INGEST_THREADS])
        late = lines[INGEST_THREADS + 1] + b"\n"
        with pytest.raises(IngestWorkerError):
            svc.ingest_telemetry(late, submission(late, operator))
    finally:
        svc.close()


def test_closing_does_not_wait_for_the_rest_of_an_upload_to_be_verified(
    tmp_path: Path, fleet: Fleet
) -> None:
    """The service closes while an upload is between segments: its sequencer is stopped, so
    nothing of the upload can be logged. The workers are shut before close() waits for the
    ingest threads: the upload ends at its next segment with IngestWorkerError, instead of
    close() waiting while every remaining segment is verified for nothing."""
    svc = open_service(tmp_path / "closing", fleet, workers=1)
    closer: threading.Thread | None = None
    operator = register(svc, fleet)
    data = _first_segment_then(fleet)
    pool = svc.telemetry.pool
    assert pool is not None
    real = pool.verify
    first = threading.Event()
    release = threading.Event()
    verified_after: list[int] = []

    def verify(job: SegmentJob) -> SegmentVerdict | MissingContext:
        if not first.is_set():
            first.set()
            release.wait(60)
            answer = real(job)
        else:
            answer = real(job)
        if release.is_set():
            verified_after.append(len(job.lines))
        return answer

    pool.verify = verify  # type: ignore[method-assign]
    out: list[BaseException | Any] = []

    def send() -> None:
        try:
            out.append(svc.ingest_telemetry(data, submission(data, operator)))
        except BaseException as exc:
            out.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert first.wait(60), "the upload never reached verification"
        closer = threading.Thread(target=svc.close)
        closer.start()
        deadline = time.monotonic() + 30
        while not pool._closed and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool._closed, "closing the service never closed the pool"
    finally:
        release.set()
        sender.join(60)
        if closer is not None:
            closer.join(60)
        else:
            svc.close()
    assert isinstance(out[0], IngestWorkerError), repr(out[0])
    assert verified_after == []


@linux_only
def test_a_thread_started_by_a_lower_thread_is_not_lowered_twice() -> None:
    """A follower's replica loop runs ``ingest_thread_nice`` below the process and starts the
    sequencer when it takes over: the sequencer inherits the loop's level, and lowering it
    again must leave it ``ingest_thread_nice`` below the process, not twice that (or 19)."""
    from functools import partial

    from pausewatch.ledger import Sequencer

    mine = os.getpriority(os.PRIO_PROCESS, 0)
    found: dict[str, int] = {}

    def replica_loop() -> None:
        lower_this_thread(5)
        found["loop"] = os.getpriority(os.PRIO_PROCESS, 0)
        sequencer = Sequencer(
            None,  # type: ignore[arg-type]  # nothing is appended
            lambda: None,  # type: ignore[arg-type,return-value]
            thread_start=partial(lower_this_thread, 5),
        ).start()
        thread = sequencer._thread
        assert thread is not None
        deadline = time.monotonic() + 30
        while True:
            found["sequencer"] = _nice_of(thread)
            if found["sequencer"] != found["loop"] or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        time.sleep(0.1)
        found["sequencer"] = _nice_of(thread)
        sequencer.stop()

    thread = threading.Thread(target=replica_loop)
    thread.start()
    thread.join(60)
    assert found == {"loop": min(19, mine + 5), "sequencer": min(19, mine + 5)}
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine


@linux_only
def test_the_service_starts_the_fork_server_at_its_own_level(tmp_path: Path) -> None:
    """In a fresh process (a process has one fork server): a service with workers starts the
    fork server as it starts, from the thread that starts it. Left to the first upload, one of
    the ingest threads ``ingest_thread_nice`` levels down would start it, and every worker
    would inherit that level, which a worker without privilege cannot leave for a higher
    priority (``ingest_nice`` below ``ingest_thread_nice``, 0 included)."""
    code = (
        "import os, sys\n"
        "from multiprocessing import forkserver\n"
        "from pathlib import Path\n"
        "from pausewatch.service import LogService\n"
        "from pausewatch.settings import Settings\n"
        "settings = Settings(data_dir=Path(sys.argv[1]), ingest_workers=1, ingest_nice=0,\n"
        "                    ingest_thread_nice=10)\n"
        "service = LogService(settings).start()\n"
        "pid = forkserver._forkserver._forkserver_pid\n"
        "print('none' if pid is None else\n"
        "      os.getpriority(os.PRIO_PROCESS, pid) - os.getpriority(os.PRIO_PROCESS, 0))\n"
        "service.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0"
