"""Before a process sequences the log it asks the witnesses where they stand (ADR 0063): a
witness that cosigned a checkpoint the database lacks stops the start, whatever the data
directory's kept checkpoint says. The witnesses are the real tlog-witness state machine
(:class:`pausewatch.witness.Witness`), answering in process as the demo's do."""

from __future__ import annotations

import itertools
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from pausewatch.demo._witnesses import DemoWitnesses
from pausewatch.errors import ConsistencyError
from pausewatch.ledger import Checkpoint, PersistentLog, sign_checkpoint
from pausewatch.service import LogService
from pausewatch.service._witnessing import (
    CHECK_TIMEOUT_S,
    add_checkpoint_body,
    load_roster,
    witness_positions,
)
from pausewatch.settings import Settings
from pausewatch.statements import load_or_create_key, sign_statement
from pausewatch.store import make_engine, sqlite_url


def now() -> datetime:
    return datetime.now(UTC)


class Log:
    """A log served from one data directory (SQLite) with a roster of in-process witnesses."""

    def __init__(self, data_dir: Path, witnesses: DemoWitnesses) -> None:
        self.data_dir = data_dir
        self.witnesses = witnesses
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "witnesses.txt").write_text(witnesses.roster())
        self.settings = Settings(data_dir=data_dir, clerk_interval_s=0)
        self.key = load_or_create_key(self.settings.keys_dir, self.settings.log_origin)
        witnesses.trust(self.key.signer.verifier())
        self.started: list[LogService] = []

    def open(self, transport: httpx.BaseTransport | None = None, **options: bool) -> LogService:
        service = LogService(
            self.settings,
            witness_transport=transport or self.witnesses.transport(),
            **options,
        ).start()
        self.started.append(service)
        return service

    def urls(self) -> list[str]:
        return [line.split()[0] for line in self.witnesses.roster().splitlines()]

    def entries(self) -> int:
        with closing(sqlite3.connect(self.data_dir / "pausewatch.db")) as conn:
            (count,) = conn.execute("SELECT count(*) FROM log_entries").fetchone()
        return int(count)

    def tell_witness(
        self, url: str, old: int, size: int, root: bytes, proof: list[bytes] | None = None
    ) -> httpx.Response:
        """Show one witness a checkpoint the log's key signed (as the log once did)."""
        note = sign_checkpoint(Checkpoint(self.settings.log_origin, size, root), self.key.signer)
        body = add_checkpoint_body(old, proof or [], note)
        with httpx.Client(transport=self.witnesses.transport()) as client:
            return client.post(f"{url}/add-checkpoint", content=body)


class Between(httpx.BaseTransport):
    """The witnesses' own transport, with ``hook`` given each request first (numbered per
    witness from 1): it may act meanwhile and return None, or answer in the witness's place."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        hook: Callable[[httpx.Request, int], httpx.Response | None],
    ) -> None:
        self.inner = inner
        self.hook = hook
        self.seen: dict[str, int] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        n = self.seen[request.url.host] = self.seen.get(request.url.host, 0) + 1
        answer = self.hook(request, n)
        return answer if answer is not None else self.inner.handle_request(request)


def copy_of(log: Log, data_dir: Path, seed: int) -> Log:
    """A copy of ``log``'s data directory (its keys, its database) served with a roster of
    witnesses of its own, which never hear of ``log``'s."""
    shutil.copytree(log.data_dir, data_dir)
    return Log(data_dir, DemoWitnesses(seed, now))


def new_witnesses(log: Log, entries: int) -> Log:
    """``log`` filled with ``entries`` notices, then served with witnesses that never heard of
    it (the witnesses are the same keys' once the test has told them what it needs)."""
    service = log.open()
    submit(service, entries)
    service.close()
    return Log(log.data_dir, DemoWitnesses(2027, now))


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    made = Log(tmp_path / "log", DemoWitnesses(2026, now))
    yield made
    for service in made.started:
        service.close()


_TITLES = itertools.count()


def submit(service: LogService, count: int) -> None:
    """Append ``count`` new notices (each title once: the log keeps one copy of a statement)."""
    for _ in range(count):
        title = f"n{next(_TITLES)}"
        notice = sign_statement("notice/v1", {"title": title}, service.secretariat_key)
        assert not service.submit(notice).result(10).duplicate


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


def witnessed(service: LogService, size: int) -> Callable[[], bool]:
    names = [w.verifier.name for w in service.witnesses]
    return lambda: all(service.log.cosigned_sizes(n) == size for n in names)


def test_a_database_restored_with_its_data_directory_is_refused_where_witnesses_saw_more(
    log: Log, tmp_path: Path
) -> None:
    """The database and the data directory restored together from an older backup: the kept
    checkpoint agrees with the database, but the witnesses cosigned the newer checkpoint, so
    the start is refused with one line naming them, and nothing is appended or signed."""
    service = log.open()
    submit(service, 2)
    wait_for(witnessed(service, 2))
    service.close()
    backup = tmp_path / "backup"
    shutil.copytree(log.data_dir, backup)
    service = log.open()
    submit(service, 3)
    wait_for(witnessed(service, 5))
    service.close()
    shutil.rmtree(log.data_dir)
    shutil.copytree(backup, log.data_dir)
    kept = (log.data_dir / "checkpoint").read_text()

    with pytest.raises(ConsistencyError) as refused:
        log.open()
    line = str(refused.value)
    assert "\n" not in line
    assert "holds 2 entries" in line
    assert line.count("cosigned a checkpoint of size 5") == 3
    assert "--unsafe-trust-database" in line
    assert log.entries() == 2
    assert (log.data_dir / "checkpoint").read_text() == kept


def test_the_unsafe_override_sequences_anyway_and_says_it_forks(
    log: Log, caplog: pytest.LogCaptureFixture
) -> None:
    """``--unsafe-trust-database`` starts on such a database, logging the contradiction; what
    each witness said is kept on the service."""
    url = log.urls()[0]
    assert log.tell_witness(url, 0, 10, b"\x01" * 32).status_code == 200
    with caplog.at_level(logging.ERROR, logger="pausewatch.witnessing"):
        service = log.open(unsafe_trust_database=True)
    assert "fork" in caplog.text
    assert "size 10" in caplog.text
    submit(service, 1)
    [ahead] = [p for p in service.witness_positions if p.conflict is not None]
    assert (ahead.url, ahead.size) == (url, 10)


def test_a_witness_behind_on_another_history_refuses_the_start(log: Log) -> None:
    """A witness that cosigned a smaller checkpoint the database's tree does not extend (the
    database holds another history, longer than what the witness saw) is sent the consistency
    proof from its size, refuses it, and so refuses the start."""
    other = new_witnesses(log, 3)
    url = other.urls()[0]
    assert other.tell_witness(url, 0, 2, b"\x04" * 32).status_code == 200
    with pytest.raises(ConsistencyError) as refused:
        other.open()
    assert "the checkpoint of size 2 it cosigned is not a prefix of the database's tree" in str(
        refused.value
    )
    assert log.entries() == 3


def test_an_empty_database_is_refused_where_witnesses_cosigned_the_log(log: Log) -> None:
    """A log pointed at an empty database (a new one, the wrong one) with no kept checkpoint
    has nothing of its own to compare with: the witnesses still know the log was longer."""
    assert log.tell_witness(log.urls()[2], 0, 7, b"\x03" * 32).status_code == 200
    with pytest.raises(ConsistencyError, match=r"holds 0 entries.*cosigned a checkpoint of size 7"):
        log.open()
    assert log.entries() == 0


def test_witnesses_behind_at_or_out_of_reach_let_the_log_start(
    log: Log, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Witnesses at the database's checkpoint, behind it (they never saw the newest) or out of
    reach do not stop the start; each answer is kept, and an unreachable witness is logged."""
    service = log.open()
    submit(service, 3)
    wait_for(witnessed(service, 3))
    service.close()

    service = log.open()  # the same witnesses: at the database's checkpoint
    assert [(p.size, p.conflict, p.unknown) for p in service.witness_positions] == [
        (3, None, None)
    ] * 3
    service.close()

    behind = Log(log.data_dir, DemoWitnesses(2026, now))  # same keys, no memory of the log
    service = behind.open()
    assert [(p.size, p.conflict) for p in service.witness_positions] == [(0, None)] * 3
    # Sent the proof from their size, they cosigned the database's checkpoint; the distributor
    # brings them up from there.
    submit(service, 1)
    wait_for(witnessed(service, 4))
    service.close()

    (log.data_dir / "witnesses.txt").write_text(
        "".join(
            f"http://127.0.0.1:9 {line.split()[1]}\n"
            for line in log.witnesses.roster().splitlines()[:1]
        )
    )
    with caplog.at_level(logging.WARNING, logger="pausewatch.witnessing"):
        service = log.open()
    [unreachable] = service.witness_positions
    assert unreachable.size is None
    assert unreachable.unknown is not None
    assert "could not say where it stands" in caplog.text
    submit(service, 1)
    assert service.log.size == 5


def _old_spec(request: httpx.Request, answer: httpx.Response) -> httpx.Response:
    """A witness as the spec had it before its 2026 revision: another root at the same size is
    409 (text/plain), not 422."""
    if answer.status_code != 422:
        return answer
    return httpx.Response(409, headers={"content-type": "text/plain"}, text=answer.text)


def test_another_root_at_the_same_size_is_a_conflict_in_either_spelling(log: Log) -> None:
    """c2sp.org/tlog-witness answers a checkpoint of the witness's own size with another root
    422 since its 2026 revision (the witness in this package does), 409 before it: both refuse
    the start. (The check read only the 409, and started on a spec-current witness's 422.)"""
    other = new_witnesses(log, 2)
    url = other.urls()[1]
    assert other.tell_witness(url, 0, 2, b"\x02" * 32).status_code == 200
    plain = other.witnesses.transport()
    assert other.tell_witness(url, 2, 2, b"\x05" * 32).status_code == 422
    with pytest.raises(ConsistencyError, match="cosigned another checkpoint of size 2"):
        other.open()
    older = Between(plain, lambda request, n: _old_spec(request, plain.handle_request(request)))
    with pytest.raises(ConsistencyError, match="cosigned another checkpoint of size 2"):
        other.open(transport=older)
    assert log.entries() == 2


def test_a_witness_moved_past_the_database_while_asked_refuses_the_start(
    log: Log, tmp_path: Path
) -> None:
    """A witness behind the database when first asked, moved past it before it is sent the
    proof (the old sequencer still running, say), answers the proof with 409 and its new size:
    that is a conflict, not a witness that merely moved. (It was taken as no conflict.)"""
    service = log.open()
    submit(service, 2)
    wait_for(witnessed(service, 2))
    service.close()
    # The old sequencer goes on to 10 entries where the witnesses do not see it (a roster of
    # its own), and the database given to the new process is a copy at 2 that went on to 3.
    primary = copy_of(log, tmp_path / "primary", 2099)
    service = primary.open()
    submit(service, 8)
    ten, note = service.log.latest()
    assert ten == 10
    assert note is not None
    proof = service.log.consistency_proof(2, 10)
    root = service.log.root()
    service.close()
    restored = copy_of(log, tmp_path / "restored", 2098)
    service = restored.open()
    submit(service, 1)
    service.close()
    (restored.data_dir / "witnesses.txt").write_text(log.witnesses.roster())
    moved = log.urls()[0]

    def old_sequencer_meanwhile(request: httpx.Request, n: int) -> None:
        if str(request.url).startswith(moved) and n == 2:  # between the two requests
            assert log.tell_witness(moved, 2, 10, root, proof).status_code == 200

    with pytest.raises(ConsistencyError, match="cosigned a checkpoint of size 10"):
        restored.open(transport=Between(log.witnesses.transport(), old_sequencer_meanwhile))


def test_no_witness_is_moved_onto_a_database_another_witness_contradicts(log: Log) -> None:
    """A witness behind, on a prefix of the database's tree, is sent the proof that would move
    it onto the database's checkpoint only once no witness has contradicted the database: when
    one has, the start is refused and the witness behind stays where it was. (It was sent the
    proof at once, and cosigned the database's tree, another branch of the log's history.)"""
    other = new_witnesses(log, 3)
    engine = make_engine(sqlite_url(log.data_dir / "pausewatch.db"))
    prefix = PersistentLog(engine, log.key.signer).root_at(2)
    engine.dispose()
    ahead, behind = other.urls()[:2]
    assert other.tell_witness(ahead, 0, 10, b"\x01" * 32).status_code == 200
    assert other.tell_witness(behind, 0, 2, prefix).status_code == 200
    with pytest.raises(ConsistencyError, match="cosigned a checkpoint of size 10"):
        other.open()
    # Still at 2: shown its own checkpoint again, it cosigns it (at 3 it would answer 409 "3").
    assert other.tell_witness(behind, 2, 2, prefix).status_code == 200


def test_answers_outside_the_protocol_leave_the_witness_unknown_not_a_fork(log: Log) -> None:
    """A witness out of reach (the connection refused), one whose 409 holds no size (a negative
    number, a word), and one that does not answer within the check's wait: each is logged as
    unable to say where it stands, and the log starts. (A negative size made the check fail with
    "sizes out of order" and refused the start.)"""
    service = log.open()
    submit(service, 2)
    wait_for(witnessed(service, 2))
    service.close()
    refused, negative, word = log.urls()

    def odd(request: httpx.Request, n: int) -> httpx.Response | None:
        url = str(request.url)
        if url.startswith(refused):
            raise httpx.ConnectError("connection refused", request=request)
        size = {negative: "-1\n", word: "two\n"}
        for prefix, body in size.items():
            if url.startswith(prefix):
                return httpx.Response(409, headers={"content-type": "text/x.tlog.size"}, text=body)
        return None

    service = log.open(transport=Between(log.witnesses.transport(), odd))
    assert [(p.size, p.conflict) for p in service.witness_positions] == [(None, None)] * 3
    said = [p.unknown or "" for p in service.witness_positions]
    assert "unreachable" in said[0]
    assert "connection refused" in said[0]
    assert "not a tree size" in said[1]
    assert "not a tree size" in said[2]
    submit(service, 1)
    assert service.log.size == 3


def test_a_witness_that_never_answers_is_given_up_after_the_wait(log: Log) -> None:
    """The check waits :data:`CHECK_TIMEOUT_S` for all witnesses at once, whatever one of them
    does with its connection; one that has not answered by then is out of reach."""
    service = log.open()
    submit(service, 1)
    wait_for(witnessed(service, 1))  # the witnesses stand at the checkpoint they are shown
    service.close()
    slow = log.urls()[2]
    release = threading.Event()

    def hang(request: httpx.Request, n: int) -> None:
        if str(request.url).startswith(slow):
            release.wait(60)

    engine = make_engine(sqlite_url(log.data_dir / "pausewatch.db"))
    try:
        # The check's own wait (5 s): the two witnesses that answer have it all, on any machine.
        positions = witness_positions(
            PersistentLog(engine, log.key.signer),
            load_roster(log.data_dir / "witnesses.txt"),
            transport=Between(log.witnesses.transport(), hang),
        )
    finally:
        release.set()
        engine.dispose()
    assert [(p.size, p.unknown) for p in positions] == [
        (1, None),
        (1, None),
        (None, f"no answer within {CHECK_TIMEOUT_S:g} s"),
    ]
