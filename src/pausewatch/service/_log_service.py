"""The log service: one function per use case, over the store, the sequencer and witnesses."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from pausewatch.errors import (
    AuthorizationError,
    ConfigurationError,
    NotFoundError,
    StatementError,
)
from pausewatch.ledger import (
    Appended,
    Entry,
    PendingEntry,
    PersistentLog,
    Sequencer,
    format_time,
)
from pausewatch.registry import ChipCertify, Effect, current_effect
from pausewatch.service._errors import RegistryConflictError, entry_refusal, unfolded
from pausewatch.service._governance import clerk
from pausewatch.service._ingest_pool import default_ingest_workers
from pausewatch.service._notices import (
    NOTICE_KIND,
    NoticeLimits,
    NoticeQuota,
    NoticeTicket,
    check_registered_signer,
)
from pausewatch.service._telemetry import BatchReceipt, TelemetryIngest, Upload, stored_records
from pausewatch.service._witnessing import WitnessDistributor, WitnessEndpoint, load_roster
from pausewatch.settings import Settings
from pausewatch.state import StateStore
from pausewatch.statements import (
    MAX_JSON_DEPTH,
    Statement,
    load_or_create_key,
    parse_json,
    parse_statement,
)
from pausewatch.store import CheckpointFile, make_engine, upgrade

Clock = Callable[[], datetime]
_logger = logging.getLogger("pausewatch.service")

SECRETARIAT_KEY_NAME = "secretariat"
"""Name of the secretariat's key pair in the service's keys directory."""


def utc_now() -> datetime:
    """The wall clock, UTC (the one place the service reads it)."""
    return datetime.now(UTC)


def decode_statement(raw: bytes) -> Statement:
    """Parse and verify a statement from JSON bytes (nested at most
    :data:`~pausewatch.statements.MAX_JSON_DEPTH` levels)."""
    try:
        obj = parse_json(raw, max_depth=MAX_JSON_DEPTH)
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: JSONDecodeError, huge ints
        raise MalformedJSONError(f"malformed JSON: {exc}"[:500]) from exc
    return parse_statement(obj)


class MalformedJSONError(StatementError):
    """The request body is not JSON."""


@dataclass
class ClerkStats:
    """What the secretariat's clerk has done since the service started (for metrics)."""

    runs: int = 0
    """Rounds completed (``run_clerk`` calls that returned)."""
    filed: int = 0
    """Statements filed over all rounds."""
    failures: int = 0
    """Rounds that raised (logged; the loop retries at its next interval)."""


@dataclass(frozen=True)
class LogInfo:
    """What the log is: origin, key, size, root, witnesses, role holders."""

    origin: str
    verifier_key: str
    size: int
    root: bytes
    witnesses: list[WitnessEndpoint]
    witness_threshold: int
    roles: dict[str, str]


class LogService:
    """Owns the engine, the persistent log, its sequencer and the witness distributor."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        unsafe_trust_database: bool = False,
        witness_transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Open the log on ``settings``; refuse a database behind or disagreeing with the
        checkpoint kept in the data directory unless ``unsafe_trust_database`` (ADR 0014).
        ``witness_transport``: how the distributor reaches the roster's witnesses (default:
        the network; the demo world's witnesses answer in process)."""
        self.settings = settings
        self.clock = clock
        self.engine: Engine = make_engine(settings.resolved_database_url())
        try:
            upgrade(self.engine)
            key = load_or_create_key(settings.keys_dir, settings.log_origin)
            self.log = PersistentLog(
                self.engine,
                key.signer,
                kept=CheckpointFile(settings.kept_checkpoint_file),
                unsafe_trust_store=unsafe_trust_database,
            )
        except BaseException:
            self.engine.dispose()
            raise
        # Until governance assigns roles by vote, the service's own secretariat key is the one
        # key that may make secretariat statements (policy adoptions).
        secretariat = load_or_create_key(settings.keys_dir, SECRETARIAT_KEY_NAME)
        self.roles: dict[str, str] = {"secretariat": secretariat.signer_id}
        self.secretariat_key = secretariat
        self.witnesses = load_roster(settings.resolved_witnesses_file())
        threshold = settings.witness_threshold
        self.witness_threshold = len(self.witnesses) if threshold is None else threshold
        if self.witness_threshold > len(self.witnesses):
            raise ConfigurationError(
                f"witness threshold {self.witness_threshold} exceeds the {len(self.witnesses)} "
                "configured witnesses"
            )
        self.sequencer = Sequencer(
            self.log,
            clock,
            batch_size=settings.batch_size,
            max_latency=settings.batch_latency_ms / 1000,
            max_queue=settings.max_queue,
        )
        self.distributor = WitnessDistributor(self.log, self.witnesses, transport=witness_transport)
        self.sequencer.on_integrated(self.distributor.notify)
        # The registry's views: resumed from the database, then brought up to the log (entries
        # integrated before a crash may not have been folded yet), then advanced after each
        # durable batch on the sequencer's thread.
        self.state = StateStore(self.engine, [secretariat.signer_id])
        self.state.catch_up(self.log)
        self.sequencer.on_integrated(self._fold)
        limits = NoticeLimits(
            max_bytes=settings.notice_max_bytes,
            window=timedelta(seconds=settings.notice_window_s),
            max_count=settings.notice_quota_count,
            max_window_bytes=settings.notice_quota_bytes,
        )
        self.notices = NoticeQuota(limits, frozenset({secretariat.signer_id}))
        self.notices.prime(self.engine, clock())
        self.telemetry = TelemetryIngest(
            self.engine,
            self.state,
            self.sequencer,
            secretariat,
            clock,
            self.fold,
            every_signature=settings.telemetry_every_signature,
            workers=(
                default_ingest_workers()
                if settings.ingest_workers is None
                else settings.ingest_workers
            ),
        )
        self._clerk_thread: threading.Thread | None = None
        self._clerk_stop = threading.Event()
        self._clerk_lock = threading.Lock()
        self.clerk_stats = ClerkStats()
        self.started_at = clock()

    def _fold(self, _size: int) -> None:
        self.fold()

    def fold(self) -> Exception | None:
        """Fold the new entries into the views; return the failure, if any. A failure must not
        stop the sequencer (the entries are durable already): it is logged, and the next batch
        or the next start folds from where the views stand."""
        return self._try_fold()

    def _try_fold(self) -> Exception | None:
        """:meth:`fold`, returning its failure if there was one."""
        try:
            self.state.catch_up(self.log)
        except Exception as exc:
            _logger.exception("folding the log into the registry views failed; will retry")
            return exc
        return None

    def start(self) -> LogService:
        """Start the sequencer, the witness distributor and the secretariat's clerk."""
        self.sequencer.start()
        self.distributor.start()
        interval = self.settings.clerk_interval_s
        if interval > 0 and self._clerk_thread is None:
            self._clerk_stop.clear()
            self._clerk_thread = threading.Thread(
                target=self._clerk_loop, args=(interval,), name="pausewatch-clerk", daemon=True
            )
            self._clerk_thread.start()
        return self

    def run_clerk(self) -> int:
        """Do the secretariat's due work now: decisions of closed votes, proposals the policy
        files for trigger findings (see :mod:`pausewatch.service._governance`)."""
        with self._clerk_lock:
            try:
                filed = clerk(self.state, self.submit, self.clock(), self.secretariat_key, self.log)
            except Exception:
                self.clerk_stats.failures += 1
                raise
            self.clerk_stats.runs += 1
            self.clerk_stats.filed += filed
            return filed

    def _clerk_loop(self, interval: float) -> None:
        while not self._clerk_stop.wait(interval):
            try:
                self.run_clerk()
            except Exception:
                _logger.exception("the secretariat's clerk failed; will retry")

    def close(self) -> None:
        """Integrate what is queued, stop the threads, release the database."""
        self._clerk_stop.set()
        if self._clerk_thread is not None:
            self._clerk_thread.join(30)
            self._clerk_thread = None
        self.sequencer.stop()
        self.distributor.stop()
        self.telemetry.close()
        self.engine.dispose()

    def submit(self, statement: Statement) -> Future[Appended]:
        """Queue a verified statement; the future resolves when it is durable and folded.

        A statement already on the log (same canonical bytes) is not appended again: the
        future resolves to its existing entry with ``duplicate=True`` (so a client may retry a
        submission whose answer it lost), or fails as that entry did when the registry
        rejected it.
        """
        ticket: NoticeTicket | None = None
        if self.log.index_of_dedup(statement.digest) is None:
            # Checked as a new statement; a retry of one already on the log is answered with
            # its entry, not judged again against the views its own first copy changed.
            self.authorize(statement)
            if statement.kind == NOTICE_KIND:
                ticket = self.notices.admit(statement, self.clock())
        try:
            durable = self.sequencer.submit(
                PendingEntry(statement.canonical_bytes(), dedup_key=statement.digest)
            )
        except BaseException:
            if ticket is not None:
                ticket.cancel()
            raise
        # Answer once the entry is folded too, so that a client's next statement, which may
        # name what this one registered, is checked against views that include it.
        folded: Future[Appended] = Future()

        def then_fold(done: Future[Appended]) -> None:
            exc = done.exception()
            if exc is not None:
                if ticket is not None:
                    ticket.cancel()
                folded.set_exception(exc)
                return
            failure = self._try_fold()
            appended = done.result()
            if failure is not None and self.state.registry.applied <= appended.index:
                # Durable but not folded (the views could not be written): no answer that
                # would let the client build on views that lack it. A retry is answered with
                # the entry once the fold has caught up.
                if ticket is not None:
                    ticket.settle(appended.integrated_at)
                folded.set_exception(unfolded(appended.index, failure))
                return
            if ticket is not None:
                if appended.duplicate:
                    ticket.cancel()
                else:
                    ticket.settle(appended.integrated_at)
            rejected = self.rejection(appended.index)
            if rejected is not None:
                folded.set_exception(rejected)
                return
            folded.set_result(appended)

        durable.add_done_callback(then_fold)
        return folded

    def rejection(self, index: int) -> StatementError | None:
        """The error to answer with when the fold rejected log entry ``index`` (a statement
        that passed the check before it was appended but lost a race on the log), or set it
        aside as unreadable."""
        return entry_refusal(self.state.registry, index)

    def effect(self, index: int, statement: Statement) -> Effect | None:
        """Whether ``statement``, accepted at entry ``index``, still has its effect (none for
        kinds no later entry undoes): what a client re-sending it learns."""
        with self.state.lock:
            return current_effect(self.state.registry, index, statement)

    def ingest_telemetry(self, data: bytes | Upload, submission: Statement) -> BatchReceipt:
        """Verify, store and log one telemetry batch (:class:`TelemetryIngest`); blocks until
        its entry is durable and folded."""
        return self.telemetry.ingest(data, submission)

    def batch_records(
        self, index: int, offset: int = 0, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        """The stored records of the telemetry batch at log entry ``index`` from position
        ``offset`` (at most ``limit``), and how many it accepted in all. Raises
        :class:`NotFoundError` when no telemetry batch is folded at ``index``."""
        with self.state.lock:
            row = self.state.registry.get("tel_batches", index)
        if row is None:
            raise NotFoundError(f"entry {index} is no telemetry batch the log accepted")
        records = stored_records(self.engine, row["batch_digest"], offset, limit)
        return records, int(row["accepted"])

    def authorize(self, statement: Statement) -> None:
        """Refuse a statement whose signer lacks the role its kind requires, or that the
        registry would reject as the next entry (what it names must already be on the log).

        The check runs against the views as they stand; the fold, run after the entry is
        durable, is the authority (two statements that race can still both pass here, and
        the fold then rejects the second: it stays on the log and changes nothing)."""
        role = type(statement.body).signed_by
        holder = self.roles.get(role)
        if role == "registered":
            with self.state.lock:
                registered = self.state.registry.key_holder(statement.signer)
            secretariat = statement.signer == self.roles["secretariat"]
            check_registered_signer(statement.kind, registered, statement.signer, secretariat)
        elif role != "anyone" and role not in self.roles and not self.state.folds(statement.kind):
            raise AuthorizationError(
                f"{statement.kind} must be signed by the {role} role, which this service cannot "
                "check"
            )
        if role in self.roles and statement.signer != holder:
            raise AuthorizationError(
                f"{statement.kind} must be signed by the {role} key {holder}, got "
                f"{statement.signer}"
            )
        if statement.kind == NOTICE_KIND:
            self.notices.check_size(statement)
        body = statement.body
        if isinstance(body, ChipCertify) and body.operator_id is None:
            # The fold still takes a certification without a buyer (logs hold such entries, and
            # must fold as they did); the service takes no new one (docs/adr/0016-chip-buyer.md).
            raise StatementError(
                f"{statement.kind}: a new certification must name operator_id, the operator the "
                f"chip {body.chip_id!r} is sold to (the one that may install it)"
            )
        rejected = self.state.check(statement, self.clock())
        if rejected is not None:
            if rejected.forbidden:
                raise AuthorizationError(str(rejected))
            if rejected.unreadable:
                raise StatementError(str(rejected))
            raise RegistryConflictError(str(rejected))

    def info(self) -> LogInfo:
        """The log's identity and current tree head."""
        return LogInfo(
            self.log.origin,
            self.log.verifier.to_string(),
            self.log.size,
            self.log.root(),
            self.witnesses,
            self.witness_threshold,
            dict(self.roles),
        )

    def checkpoint(self, *, witnessed: bool = False) -> str:
        """The newest checkpoint note, or the newest that met the witness threshold."""
        if not witnessed:
            return self.log.checkpoint_note()
        note = self.log.latest_witnessed(
            [w.verifier for w in self.witnesses], self.witness_threshold
        )
        if note is None:
            raise NotFoundError(
                f"no checkpoint has been cosigned by {self.witness_threshold} witnesses yet"
            )
        return note

    def entry_json(self, index: int) -> dict[str, Any]:
        """An entry as JSON (see the API schema)."""
        return entry_to_json(self.log.entry(index))


def entry_to_json(entry: Entry) -> dict[str, Any]:
    """An entry as the API presents it: decoded, and its exact bytes in base64."""
    return {
        "index": entry.index,
        "leaf_hash": entry.leaf_hash.hex(),
        "integrated_at": format_time(entry.integrated_at),
        "entry": parse_json(entry.data),
        "data": base64.b64encode(entry.data).decode(),
    }
