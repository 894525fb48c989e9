"""Telemetry ingest: an operator's batch of chip-signed records becomes one log entry.

The path, for each batch:

1. the upload is an :class:`Upload`: its bytes in a spooled temporary file (on disk past a
   megabyte), their SHA-256 and line count taken as they arrived;
2. the operator's ``telemetry.submission/v1`` must be signed by a live key of that operator and
   name the exact digest and line count of the upload; a batch that operator already had
   integrated is answered with its entry (counted once). Another operator's identical bytes are
   another batch;
3. every record is verified (:func:`pausewatch.telemetry.verify_stream`: line by line, in
   bounded memory) against the registry and each chip's chain head as the log has them, and
   the accepted ones are stored under the upload (the operator and the digest) and their
   positions (idempotent) segment by segment. This runs
   **outside** the ingest lock, so uploads are parsed and their signatures checked side by side,
   and, with ``workers``, in worker processes (:class:`IngestPool`, docs/adr/0048): the
   serving process then only reads the lines, looks up the chips they name, stores and folds,
   and its answers to reads do not wait behind the parsing and the signature checks. A worker
   that dies fails the upload (:class:`~pausewatch.errors.IngestWorkerError`, 503) with the
   records it stored dropped: nothing of it is accepted. Attempts at the same upload (an
   operator's bytes, resent) go one at a time from here to the receipt, since they store under
   the same key: the later one waits (across replicas too, on PostgreSQL: an advisory lock,
   waited for at most ``upload_lock_timeout_s``, then refused with
   :class:`~pausewatch.errors.UploadBusyError`, 503), then answers as a duplicate or starts
   afresh, or is refused where its replica stopped sequencing meanwhile. Different uploads
   never share rows, even where they share lines or, from two operators, all their bytes;
4. under the lock, which serialises appends: the chain heads the verification started from must
   still be the log's (else another batch of the same chips came first, and the upload is
   verified again, under the lock, against the new heads); then a ``telemetry.batch/v1``
   statement with the root, a summary of the rejections (counts per rule and the first
   :data:`~pausewatch.telemetry.LISTED_REJECTIONS` with their line numbers), gaps, chain heads
   and aggregates is signed with the secretariat's key and appended; the answer comes once it
   is durable and folded into the views.

A crash at any point loses nothing acknowledged: records stored before a crash, by an attempt
whose entry never reached the log, are dropped by the next attempt at the upload, which stores
its own (other batches of its chips may have come first); a batch whose entry reached the log
is folded at the next start (or, where the fold failed, by that next attempt before it drops
anything), and the operator's retry then finds it integrated.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import json
import logging
import math
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import ColumnElement, Connection, Engine, exists, select, text
from sqlalchemy.exc import OperationalError

from pausewatch.errors import (
    AuthorizationError,
    ConfigurationError,
    IngestWorkerError,
    StatementError,
    UploadBusyError,
)
from pausewatch.ledger import Appended, PendingEntry, Sequencer
from pausewatch.service._errors import entry_refusal, unfolded
from pausewatch.service._ingest_pool import IngestPool, lower_this_thread
from pausewatch.state import ChainHeads, RegistrySnapshot, StateStore
from pausewatch.statements import KeyPair, Statement, sign_statement
from pausewatch.store._views import tel_submissions, telemetry_records
from pausewatch.telemetry import (
    LISTED_REJECTIONS,
    BatchSummary,
    ChainState,
    OverlongLine,
    StoredRecord,
    read_lines,
    verify_stream,
)
from pausewatch.telemetry._statements import BATCH_KIND, SUBMISSION_KIND, TelemetrySubmission

_logger = logging.getLogger("pausewatch.service")

INGEST_THREADS = 8
"""Uploads taken through :meth:`TelemetryIngest.ingest` at once on its own threads (the API
lets as many in: ``pausewatch.api.routes.telemetry.INGEST_UPLOADS``); more wait their turn."""

SPOOL_IN_MEMORY = 1 << 20
"""An upload up to this size stays in memory while it is verified; a larger one goes to a
temporary file, so that ingest holds no more than this much of any upload."""


class Upload:
    """An uploaded batch: its bytes (spooled to a temporary file past :data:`SPOOL_IN_MEMORY`),
    their SHA-256 and their line count, taken as the bytes arrive.

    Write it chunk by chunk (:meth:`write`), then :meth:`finish`; or take bytes already in hand
    with :meth:`of`. Close it (or use it as a context manager) to free the file.
    """

    def __init__(self) -> None:
        # Closed by close() / the context manager: it outlives this call.
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._sha256 = hashlib.sha256()
        self.size = 0
        """Bytes received."""
        self._newlines = 0
        self._last = b""
        self.digest = ""
        """SHA-256 (hex) of the bytes, once finished."""
        self.lines = 0
        """Lines, once finished: newlines, plus one for a last line without its newline."""

    @classmethod
    def of(cls, data: bytes) -> Upload:
        """An upload of ``data``, read in place (not copied to a file)."""
        upload = cls()
        upload.file.close()
        upload.file = io.BytesIO(data)
        upload._sha256.update(data)
        upload.size = len(data)
        upload._newlines = data.count(b"\n")
        upload._last = data[-1:]
        return upload.finish()

    def write(self, chunk: bytes) -> None:
        """Take the next chunk of the upload."""
        if chunk:
            self.file.write(chunk)
            self._sha256.update(chunk)
            self.size += len(chunk)
            self._newlines += chunk.count(b"\n")
            self._last = chunk[-1:]

    def finish(self) -> Upload:
        """The upload is complete: fix its digest and line count, rewind it for reading."""
        self.digest = self._sha256.hexdigest()
        self.lines = self._newlines + (0 if self.size == 0 or self._last == b"\n" else 1)
        self.file.seek(0)
        return self

    def read_lines(self) -> Iterator[bytes | OverlongLine]:
        """Its lines from the start (see :func:`pausewatch.telemetry.read_lines`)."""
        self.file.seek(0)
        return read_lines(self.file)

    def close(self) -> None:
        """Free the spooled file."""
        self.file.close()

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_INSERT_RECORDS = (
    "INSERT INTO telemetry_records (operator_id, batch_digest, position, hash, chip_id, seq, "
    "line) VALUES ({}) ON CONFLICT DO NOTHING"
)
"""Keyed by upload and position: a record this upload stored before at its position (a retried
attempt of the same batch) is left as it is; another upload's rows never conflict. SQLite (3.24
and later) and PostgreSQL both take ``ON CONFLICT DO NOTHING`` with no conflict target (the
primary key is the table's only unique constraint)."""

_PLACEHOLDERS = {
    "qmark": ", ".join(["?"] * 7),
    "format": ", ".join(["%s"] * 7),
    "pyformat": ", ".join(["%s"] * 7),
}
"""Positional placeholders by DB-API paramstyle (sqlite3: qmark; psycopg: pyformat)."""


_COLUMNS = ("operator_id", "batch_digest", "position", "hash", "chip_id", "seq", "line")

_Row = tuple[str, str, int, str, str, int, bytes]


def _insert_records(conn: Connection, rows: list[_Row]) -> None:
    """Insert record rows ``(operator_id, batch_digest, position, hash, chip_id, seq, line)``,
    skipping positions of the upload already stored.

    The driver's ``executemany`` takes the rows as they are: SQLAlchemy's insert construct
    spent more per row than the database did (about 8 of 17 µs a record on SQLite). Rows go in
    position order: each lands after the last in the key's index.
    """
    placeholders = _PLACEHOLDERS.get(conn.dialect.paramstyle)
    if placeholders is None:  # pragma: no cover - another driver: the portable construct
        if conn.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as upsert
        else:
            from sqlalchemy.dialects.postgresql import insert as upsert  # type: ignore[assignment]
        conn.execute(
            upsert(telemetry_records).on_conflict_do_nothing(),
            [dict(zip(_COLUMNS, row, strict=True)) for row in rows],
        )
        return
    conn.exec_driver_sql(_INSERT_RECORDS.format(placeholders), rows)


def stored_records(
    engine: Engine,
    operator_id: str,
    batch_digest: str,
    offset: int = 0,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The stored records of operator ``operator_id``'s upload ``batch_digest`` (its batch's
    ``operator_id`` and ``batch_digest``) at positions ``offset`` onwards (at most ``limit``), in
    position order, the order its batch's root commits to: each with its ``position``, ``hash``,
    ``chip_id``, ``seq`` and exact signed ``line`` (bytes). Another operator's upload of the same
    bytes is another batch, with records of its own."""
    c = telemetry_records.c
    query = (
        select(c.position, c.hash, c.chip_id, c.seq, c.line)
        .where(c.operator_id == operator_id, c.batch_digest == batch_digest, c.position >= offset)
        .order_by(c.position)
    )
    if limit is not None:
        query = query.where(c.position < offset + limit)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def _upload_rows(body: TelemetrySubmission) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """The rows of the operator's upload: where its operator and digest are ``body``'s."""
    c = telemetry_records.c
    return c.operator_id == body.operator_id, c.batch_digest == body.batch_digest


def _upload_lock_key(operator_id: str, batch_digest: str) -> int:
    """The PostgreSQL advisory lock key of an upload: the first 8 bytes (signed) of the SHA-256
    of its operator and digest, kept apart from other keys by a prefix (the sequencer's and the
    start-up locks have fixed keys; a collision with either is as likely as one of SHA-256's
    64-bit prefixes, and would only make an attempt wait)."""
    named = b"pausewatch.upload\0" + operator_id.encode() + b"\0" + batch_digest.encode()
    return int.from_bytes(hashlib.sha256(named).digest()[:8], "big", signed=True)


def _lock_timed_out(exc: OperationalError) -> bool:
    """Whether PostgreSQL ended a statement's wait for a lock at ``lock_timeout`` (SQLSTATE
    55P03, ``lock_not_available``)."""
    return getattr(exc.orig, "sqlstate", None) == "55P03"


def iter_stored_records(
    engine: Engine, operator_id: str, batch_digest: str, page: int = 4096
) -> Iterator[bytes]:
    """Every stored record line of operator ``operator_id``'s upload ``batch_digest`` in
    position order, read a page at a time (memory does not grow with the batch)."""
    offset = 0
    while True:
        rows = stored_records(engine, operator_id, batch_digest, offset, page)
        for row in rows:
            yield bytes(row["line"])
        if not rows:
            return
        offset = rows[-1]["position"] + 1


_GAP_FIELDS = ("chip_id", "from_seq", "to_seq", "missing")


def _gap_order(gap: Mapping[str, Any]) -> tuple[str, int]:
    """Gaps in a receipt go by chip, then seq: the same on the first answer and on a repeat,
    whether the views were folded in this process or reloaded."""
    return gap["chip_id"], gap["from_seq"]


@dataclass(frozen=True)
class BatchReceipt:
    """What the service did with an uploaded batch."""

    index: int
    """Log index of the batch's ``telemetry.batch/v1`` entry."""
    integrated_at: datetime
    duplicate: bool
    """The same upload was integrated before; nothing was counted again."""
    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]]
    """The first rejections by line number (at most
    :data:`~pausewatch.telemetry.LISTED_REJECTIONS`)."""
    gaps: list[dict[str, Any]]
    records_root: str
    rejected_total: int = 0
    """Rejections in all."""
    rejected_by_rule: dict[str, int] = field(default_factory=dict)
    """Rejections per rule."""


def _ingest_closed() -> IngestWorkerError:
    return IngestWorkerError(
        "the telemetry ingest shut down before this upload was taken through; nothing of it "
        "was accepted: send it again"
    )


class TelemetryIngest:
    """Verifies, stores and logs telemetry batches; appends one batch at a time."""

    def __init__(
        self,
        engine: Engine,
        state: StateStore,
        sequencer: Sequencer,
        secretariat: KeyPair,
        clock: Callable[[], datetime],
        fold: Callable[[], Exception | None],
        *,
        every_signature: bool = False,
        workers: int = 0,
        nice: int = 0,
        thread_nice: int = 0,
        upload_lock_timeout_s: float = 30.0,
        refusal: Callable[[], Exception | None] = lambda: None,
    ) -> None:
        self.engine = engine
        self.state = state
        self.sequencer = sequencer
        self.secretariat = secretariat
        self.clock = clock
        self.fold = fold
        self.every_signature = every_signature
        """Check every record's signature (see ``verify_batch``)."""
        if not upload_lock_timeout_s > 0:  # PostgreSQL reads a lock_timeout of 0 as no bound
            raise ConfigurationError(
                f"upload_lock_timeout_s must be > 0, got {upload_lock_timeout_s}"
            )
        self.upload_lock_timeout_s = upload_lock_timeout_s
        """On PostgreSQL, the longest an attempt waits for its upload's advisory lock
        (:meth:`_across_processes`) before it is refused with :class:`UploadBusyError`."""
        self.refusal = refusal
        """Why this process may not append now (a replica that does not sequence), or ``None``:
        asked once an attempt holds its upload, which it may have waited for."""
        self.pool = IngestPool(workers, nice=nice) if workers > 0 else None
        """Worker processes that verify uploads' segments; ``None``: verify in this process."""
        self.threads = (
            ThreadPoolExecutor(
                INGEST_THREADS,
                thread_name_prefix="pausewatch-ingest",
                initializer=lower_this_thread,
                initargs=(thread_nice,),
            )
            if thread_nice > 0 and sys.platform.startswith("linux")
            else None
        )
        """Threads of lower priority that take each upload through :meth:`ingest`, so that
        reads go first when both want the interpreter (``None``: the caller's own thread)."""
        self.lock = threading.Lock()
        """Serialises what needs the log's order: the chain heads' check, the append, the fold.
        Never held while an upload is read, parsed or its signatures checked, nor while the
        batch statement of a verification is built and signed."""
        self._attempts: dict[tuple[str, str], tuple[threading.Lock, int]] = {}
        """Per upload (operator and batch digest): a lock held by the attempt in flight, and how
        many attempts hold or wait for it (the entry goes with the last)."""
        self._attempts_lock = threading.Lock()
        self._lock_sessions: dict[tuple[str, str], Connection] = {}
        """Per upload in flight, on PostgreSQL: the connection whose session holds its advisory
        lock (:meth:`_across_processes`), through which the attempt writes its rows."""

    @contextmanager
    def _one_attempt(self, body: TelemetrySubmission) -> Iterator[None]:
        """Hold the upload (``body``'s operator and batch digest) for one attempt at a time,
        from its verification to its receipt. Its stored records are shared by every attempt at
        it (rows are kept by operator, digest and position), and an attempt that fails deletes
        them: a resent upload that ran beside it would be integrated with records no longer
        stored. A concurrent attempt waits here, then finds the first one's entry (a duplicate)
        or starts afresh. Attempts at different uploads (another operator's identical bytes
        included) never touch each other's rows.

        On PostgreSQL, replicas of the log (ADR 0047) share the rows: the upload is held across
        processes too (:meth:`_across_processes`), taken after this process's own hold, so that
        one session per upload at most waits in the database."""
        upload = (body.operator_id, body.batch_digest)
        with self._attempts_lock:
            lock, waiting = self._attempts.get(upload, (threading.Lock(), 0))
            self._attempts[upload] = (lock, waiting + 1)
        try:
            with lock, self._across_processes(body):
                yield
        finally:
            with self._attempts_lock:
                lock, waiting = self._attempts[upload]
                if waiting == 1:
                    del self._attempts[upload]
                else:
                    self._attempts[upload] = (lock, waiting - 1)

    @contextmanager
    def _across_processes(self, body: TelemetrySubmission) -> Iterator[None]:
        """On PostgreSQL, hold the upload against attempts in other processes (a replica that
        lost the sequencer's lock without knowing it yet, and the one that took over): a
        session-level ``pg_advisory_lock`` on :func:`_upload_lock_key`, on a connection of its
        own, for the whole attempt; released at its end, or by PostgreSQL when the session ends
        (the process died, the connection dropped). Waited for at most
        :attr:`upload_lock_timeout_s`: a session that holds it and does not go on (a replica
        paused by the OS or hung, a leaked session) would otherwise hold this request's thread,
        and its client, for as long; past it the attempt is refused with
        :class:`UploadBusyError` (503, send it again) having stored nothing. On SQLite one
        process has the store: its own hold is enough."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        key = {"k": _upload_lock_key(body.operator_id, body.batch_digest)}
        # lock_timeout, in milliseconds; 0 would mean no bound.
        bound = f"{max(1, math.ceil(self.upload_lock_timeout_s * 1000))}ms"
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            # PostgreSQL's lock_timeout, not pg_try_advisory_lock polled until a deadline: the
            # attempt waits in the server's lock queue as before (first come, first served,
            # woken the moment the holder lets go, seen in pg_locks), and the server ends the
            # wait after the bound (SQLSTATE 55P03; it bounds any wait for a heavyweight lock,
            # advisory ones included). Polling would wake late, let a newcomer overtake a
            # waiter and cost a query per poll. The bound is this session's only while it
            # waits: the attempt's writes through it (_rows) keep the server's default.
            conn.execute(text("SELECT set_config('lock_timeout', :t, false)"), {"t": bound})
            conn.execute(text("SELECT pg_advisory_lock(:k)"), key)
            conn.execute(text("RESET lock_timeout"))
        except BaseException as exc:
            conn.invalidate()
            conn.close()
            if isinstance(exc, OperationalError) and _lock_timed_out(exc):
                raise UploadBusyError(
                    f"another process is ingesting the same upload (operator "
                    f"{body.operator_id!r}, batch {body.batch_digest}); it still held it after "
                    f"{self.upload_lock_timeout_s:g} s: nothing of this attempt was accepted, "
                    "send it again",
                    # The holder has gone on for the whole bound already: a retry much sooner
                    # would mostly wait it out again, on one of the app's ingest threads.
                    retry_after_s=max(1, math.ceil(self.upload_lock_timeout_s)),
                ) from exc
            raise
        upload = (body.operator_id, body.batch_digest)
        self._lock_sessions[upload] = conn
        try:
            yield
        finally:
            del self._lock_sessions[upload]
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
            except Exception:  # the session is gone, and its lock with it
                _logger.warning("an upload's lock could not be released", exc_info=True)
                conn.invalidate()
            conn.close()

    def check_submission(self, data: bytes | Upload, submission: Statement) -> TelemetrySubmission:
        """The submission's body, once it is shown to be the operator's own for ``data``."""
        upload = data if isinstance(data, Upload) else Upload.of(data)
        if submission.kind != SUBMISSION_KIND:
            raise StatementError(f"expected a {SUBMISSION_KIND} statement, got {submission.kind}")
        body = submission.body
        assert isinstance(body, TelemetrySubmission)
        holder = self.state.registry.key_holder(submission.signer)
        if holder != ("operator", body.operator_id):
            raise AuthorizationError(
                f"the submission must be signed by a live key of operator {body.operator_id!r}"
            )
        if upload.digest != body.batch_digest:
            raise StatementError(
                f"batch_digest {body.batch_digest} does not match the upload "
                f"(SHA-256 {upload.digest})"
            )
        if upload.lines != body.records:
            raise StatementError(
                f"the submission says {body.records} records; the upload has {upload.lines}"
            )
        return body

    def ingest(self, data: bytes | Upload, submission: Statement) -> BatchReceipt:
        """Verify, store and log one batch (see the module docstring), on one of
        :attr:`threads` when there are; blocks until it is done. An upload still waiting for
        a thread when :meth:`close` shuts them, or sent after, is refused with
        :class:`~pausewatch.errors.IngestWorkerError` (nothing of it done: send it again)."""
        if self.threads is None:
            return self._ingest(data, submission)
        # In the caller's context, as if on its own thread.
        context = contextvars.copy_context()
        try:
            future = self.threads.submit(context.run, self._ingest, data, submission)
        except RuntimeError as exc:  # close() shut the threads down
            raise _ingest_closed() from exc
        try:
            return future.result()
        except CancelledError as exc:
            if not future.cancelled():  # raised by the upload itself: its own error
                raise
            # close() cancelled it while it waited for a thread: nothing of it was done.
            raise _ingest_closed() from exc

    def _ingest(self, data: bytes | Upload, submission: Statement) -> BatchReceipt:
        upload = data if isinstance(data, Upload) else Upload.of(data)
        body = self.check_submission(upload, submission)
        seen = self._seen(body)
        if seen is not None:
            return self._receipt_of(seen)
        with self._one_attempt(body):
            return self._ingest_once(submission, upload, body)

    def _ingest_once(
        self, submission: Statement, upload: Upload, body: TelemetrySubmission
    ) -> BatchReceipt:
        """One attempt at an upload, the only one in flight for its digest."""
        # This process may have stopped sequencing while the attempt waited for the upload: a
        # follower's views lag the log, and what it would drop or store rests on them.
        refused = self.refusal()
        if refused is not None:
            raise refused
        seen = self._seen(body)
        if seen is not None:  # the same upload, sent again meanwhile, went in first
            return self._receipt_of(seen)
        # Rows an attempt that died left (the process was killed before its entry) rest on the
        # chain heads of then: other batches may have moved them, and its positions with them.
        seen = self._drop_leftovers(body)
        if seen is not None:  # an earlier attempt's entry, on the log but not folded till now
            return self._receipt_of(seen)
        now = self.clock()
        summary = self._verify(upload, body, now)  # not under the lock: the slow part
        # Nor is the statement of that verdict built and signed under it (some 6 ms a batch of
        # 200 records): only the heads' check, the append and the fold need the log's order.
        statement = self._batch_statement(submission, body, summary, now)
        with self.lock:
            if self._moved(summary.heads_read):
                # Another batch of the same chips was appended meanwhile: the verdicts rest on
                # heads that are gone. Verify again, now in the log's order, and state that.
                self._forget_records(body)
                now = self.clock()
                summary = self._verify(upload, body, now)
                statement = self._batch_statement(submission, body, summary, now)
            appended = self._append(statement)
            failure = self.fold()
            if failure is not None and self.state.registry.applied <= appended.index:
                # Durable but not folded: no receipt that would let the operator's next batch
                # be checked against chain heads that lack this one.
                raise unfolded(appended.index, failure)
            # Something may have changed between the check and the append (a key rotated).
            refused = entry_refusal(self.state.registry, appended.index)
            if refused is not None:
                raise refused
        listed = summary.rejections.to_json()
        return BatchReceipt(
            index=appended.index,
            integrated_at=appended.integrated_at,
            duplicate=False,
            accepted=summary.accepted,
            duplicates=summary.duplicates,
            rejected=listed["rejected"],
            gaps=sorted(
                ({k: g.to_json()[k] for k in _GAP_FIELDS} for g in summary.gaps), key=_gap_order
            ),
            records_root=summary.root_hex,
            rejected_total=listed["rejected_total"],
            rejected_by_rule=listed["rejected_by_rule"],
        )

    def _seen(self, body: TelemetrySubmission) -> int | None:
        """The entry that integrated this operator's upload before, if any."""
        with self.state.lock:
            row = self.state.registry.get("tel_submissions", body.operator_id, body.batch_digest)
        return None if row is None else int(row["idx"])

    def _verify(self, upload: Upload, body: TelemetrySubmission, now: datetime) -> BatchSummary:
        """Verify the upload line by line, storing each segment's accepted records. A worker
        that dies on it, or anything else that stops it (a bug, memory, the pool shut down
        under it), leaves none of them stored."""
        registry = self.state.registry
        lock = self.state.lock

        def store(position: int, accepted: Sequence[StoredRecord]) -> None:
            self._store(accepted, body.operator_id, body.batch_digest, position)

        try:
            return verify_stream(
                upload.read_lines(),
                operator_id=body.operator_id,
                now=now,
                registry=RegistrySnapshot(registry, lock),
                chains=ChainHeads(registry.views["tel_chains"], lock),
                every_signature=self.every_signature,
                on_accepted=store,
                verifier=None if self.pool is None else self.pool.verify,
            )
        except BaseException:
            # Only this attempt stores under this upload (_one_attempt), and no batch of it with
            # records is on the log (_drop_leftovers): nothing else relies on the rows. A
            # failure to forget them must not hide why the attempt stopped.
            try:
                self._forget_records(body)
            except Exception:
                _logger.warning("records of a failed upload could not be dropped", exc_info=True)
            raise

    def close(self) -> None:
        """Stop the ingest threads and the worker processes, if any. Uploads waiting for a
        thread are refused; the workers stop before the uploads in flight are waited for, so
        that each ends at its next segment (:class:`~pausewatch.errors.IngestWorkerError`)
        rather than being verified to the end while the service closes."""
        if self.threads is not None:
            self.threads.shutdown(wait=False, cancel_futures=True)
        if self.pool is not None:
            self.pool.close()
        if self.threads is not None:
            self.threads.shutdown(wait=True)

    def _moved(self, heads: Mapping[str, ChainState | None]) -> bool:
        """Whether any of these chain heads is no longer the log's."""
        current = ChainHeads(self.state.registry.views["tel_chains"], self.state.lock)
        return any(current.get(chip) != head for chip, head in heads.items())

    def _drop_leftovers(self, body: TelemetrySubmission) -> int | None:
        """Before an attempt at the upload: drop the rows an attempt that died left (killed
        before its entry), unless that attempt's entry is on the log; then return the entry's
        index (its batch is integrated: the retry is answered with it).

        The key's index first answers whether the upload has rows at all: a fresh upload pays
        one indexed read. Where it has none, no entry of it with records is on the log either
        (an attempt stores its records before it appends). Where it has, the log decides, under
        :attr:`lock` (no entry of this upload is appended but under it and
        :meth:`_one_attempt`, both held): the views are caught up with the log first, so an
        entry that reached the log while its fold failed is folded, not mistaken for a dead
        attempt's whose rows may go. A fold that fails again is the answer (the rows stay)."""
        with self.engine.connect() as conn:  # the key's index answers: no scan
            stored = conn.execute(
                select(telemetry_records.c.position).where(*_upload_rows(body)).limit(1)
            ).first()
        if stored is None:
            return None
        with self.lock:
            failure = self.fold()
            if failure is not None:
                raise unfolded(self.state.registry.applied, failure)
            seen = self._seen(body)
            if seen is None:
                self._forget_records(body)
        return seen

    def _forget_records(self, body: TelemetrySubmission) -> None:
        """Drop the records stored for this operator's upload by a verification that is void
        (this attempt's, or a dead attempt's), so that the one that replaces it stores its own
        at their positions (a row stays as first stored). Rows are kept by operator, digest and
        position: another upload's rows, another operator's of the same bytes included, are not
        touched. Never the rows of an integrated batch of the upload (checked under the views'
        lock; an attempt runs only once :meth:`_drop_leftovers` has found no entry of its upload
        with records on the log, and the only entry that can reach it later is its own).
        The database decides too, in the delete itself: no batch of the upload is integrated
        (``tel_submissions``, as the sequencing process folded it; this process's views may
        lag it)."""
        if self._seen(body) is not None:
            return
        s = tel_submissions.c
        integrated = exists().where(
            s.operator_id == body.operator_id, s.batch_digest == body.batch_digest
        )
        with self._rows(body.operator_id, body.batch_digest) as conn:
            conn.execute(telemetry_records.delete().where(*_upload_rows(body), ~integrated))

    @contextmanager
    def _rows(self, operator_id: str, batch_digest: str) -> Iterator[Connection]:
        """Where an attempt writes or deletes its upload's rows. On PostgreSQL, the session
        that holds the upload's advisory lock: once that session is gone (the replica evicted
        while paused, ADR 0047), the lock is free for the sequencer that took over, and every
        later write of this attempt fails with it, instead of mixing rows checked against stale
        chain heads into the new attempt's or deleting them. Each statement commits on its own
        there (the session holds no transaction between them: a partial store is a dead
        attempt's leftovers, dropped by the next attempt). Elsewhere, a transaction of its
        own."""
        session = self._lock_sessions.get((operator_id, batch_digest))
        if session is not None:
            yield session
            return
        with self.engine.begin() as conn:
            yield conn

    def _store(
        self,
        accepted: Sequence[StoredRecord],
        operator_id: str,
        batch_digest: str,
        first: int = 0,
    ) -> None:
        """Store accepted records with the upload they came in (the operator's and the bytes'
        digest) and their position among its accepted records (``first`` is the first's): the
        order the batch's root commits to."""
        if not accepted:
            return
        rows = [
            (operator_id, batch_digest, first + position, a.hash, a.chip_id, a.seq, a.line)
            for position, a in enumerate(accepted)
        ]
        with self._rows(operator_id, batch_digest) as conn:
            _insert_records(conn, rows)

    def _batch_statement(
        self,
        submission: Statement,
        body: TelemetrySubmission,
        summary: BatchSummary,
        now: datetime,
    ) -> Statement:
        rejections = summary.rejections
        rejected = [
            {k: (v[:2000] if k == "reason" else v) for k, v in r.to_json().items() if v is not None}
            for r in rejections.first
        ]
        return sign_statement(
            BATCH_KIND,
            {
                "operator_id": body.operator_id,
                "submission": submission.to_json(),
                "verified_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "records_root": summary.root_hex,
                "accepted": summary.accepted,
                "duplicates": summary.duplicates,
                "rejected": rejected,
                "rejected_total": rejections.total,
                "rejected_by_rule": dict(sorted(rejections.by_rule.items())),
                "gaps": [
                    {"chip_id": g.chip_id, "from_seq": g.from_seq, "to_seq": g.to_seq}
                    for g in summary.gaps
                ],
                "chains": {c: s.to_json() for c, s in sorted(summary.chains.items())},
                "aggregate": summary.aggregate.to_json(),
            },
            self.secretariat,
        )

    def _append(self, statement: Statement) -> Appended:
        # statement.digest would encode the statement a second time (a batch's statement runs
        # to megabytes with a large fleet); it is the SHA-256 of these same bytes.
        data = statement.canonical_bytes()
        self.state.expect(statement)  # signed here: the fold need not read it back
        future: Future[Appended] = self.sequencer.submit(
            PendingEntry(data, dedup_key=hashlib.sha256(data).digest())
        )
        return future.result()

    def _receipt_of(self, index: int) -> BatchReceipt:
        with self.state.lock:
            row = self.state.registry.get("tel_batches", index)
            assert row is not None
            rejections = sorted(
                (
                    r
                    for (i, _), r in self.state.registry.views["tel_rejections"].items()
                    if i == index
                ),
                key=lambda r: r["position"],
            )
            gaps = [
                {k: g[k] for k in _GAP_FIELDS}
                for (i, _, _), g in self.state.registry.views["tel_gaps"].items()
                if i == index
            ]
        by_rule_text = row.get("rejected_by_rule")
        if by_rule_text:
            by_rule = {str(k): int(v) for k, v in json.loads(by_rule_text).items()}
        else:  # an entry written before counts per rule were kept: it listed them all
            by_rule = {}
            for r in rejections:
                by_rule[r["rule"]] = by_rule.get(r["rule"], 0) + 1
        return BatchReceipt(
            index=index,
            integrated_at=datetime.fromisoformat(row["integrated_at"]),
            duplicate=True,
            accepted=row["accepted"],
            duplicates=row["duplicates"],
            rejected=[
                {"index": r["line"], **{k: r[k] for k in ("chip_id", "seq", "rule", "reason")}}
                for r in rejections[:LISTED_REJECTIONS]
            ],
            gaps=sorted(gaps, key=_gap_order),
            records_root=row["records_root"],
            rejected_total=row["rejected"],
            rejected_by_rule=dict(sorted(by_rule.items())),
        )
