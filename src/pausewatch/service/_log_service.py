"""The log service: one function per use case, over the store, the sequencer and witnesses."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError

from pausewatch.errors import (
    AuthorizationError,
    ConfigurationError,
    ConsistencyError,
    Error,
    NotFoundError,
    StatementError,
)
from pausewatch.ledger import (
    CLIENT_SETTINGS,
    Appended,
    Entry,
    Handoff,
    HandoffPump,
    NoSequencerError,
    PendingEntry,
    PersistentLog,
    Sequencer,
    SequencerLock,
    application_name,
    format_time,
    to_micros,
)
from pausewatch.registry import ChipCertify, Effect, current_effect
from pausewatch.service._errors import RegistryConflictError, entry_refusal, unfolded
from pausewatch.service._governance import clerk
from pausewatch.service._ingest_pool import (
    default_ingest_workers,
    fit_classifier_aside,
    lower_this_thread,
    start_fork_server,
)
from pausewatch.service._notices import (
    NOTICE_KIND,
    NoticeLimits,
    NoticeQuota,
    NoticeTicket,
    check_registered_signer,
)
from pausewatch.service._telemetry import BatchReceipt, TelemetryIngest, Upload, stored_records
from pausewatch.service._witnessing import (
    WitnessDistributor,
    WitnessEndpoint,
    WitnessPosition,
    check_witnesses,
    load_roster,
)
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


class NotFoldedError(NoSequencerError):
    """The entry is on the log but this replica has not folded it yet (answered 503; the
    retry is answered with the entry)."""


class NotSequencingError(NoSequencerError):
    """This replica does not sequence the log and cannot take this request (answered 503)."""


def _name_sessions(engine: Engine, replica: str) -> None:
    """Every session of this replica carries its name (a replica that takes over from a paused
    sequencer ends that one's sessions by it) and keepalives that notice a dead peer in
    seconds (ADR 0047)."""
    name = application_name(replica)

    def options(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams.setdefault("application_name", name)
        for option, value in CLIENT_SETTINGS.items():
            cparams.setdefault(option, value)

    event.listen(engine, "do_connect", options)


@contextmanager
def _one_at_a_time(engine: Engine, replicated: bool) -> Iterator[None]:
    """Among replicas, one at a time migrates the database and opens the log (two replicas
    started together would both create the first tables and the log's identity)."""
    if not replicated:
        yield
        return
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _STARTUP_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _STARTUP_LOCK_KEY})


_STARTUP_LOCK_KEY = 0x7061_7573_6577_0002

TAKEOVER_RETRY_S = 5.0
"""How long a replica whose takeover was refused (its kept checkpoint, a witness) waits before
it tries again; other replicas may take over meanwhile (docs/adr/0063)."""


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
        replicated = settings.replica_id is not None
        try:
            if replicated and self.engine.dialect.name != "postgresql":
                raise ConfigurationError(
                    "replicas (--replica-id) share one PostgreSQL database; got "
                    f"{self.engine.dialect.name} (docs/adr/0047-replicas.md)"
                )
            if settings.replica_id is not None:
                _name_sessions(self.engine, settings.replica_id)
            with _one_at_a_time(self.engine, replicated):
                upgrade(self.engine)
                key = load_or_create_key(settings.keys_dir, settings.log_origin)
                self.log = PersistentLog(
                    self.engine,
                    key.signer,
                    kept=CheckpointFile(settings.kept_checkpoint_file),
                    unsafe_trust_store=unsafe_trust_database,
                )
                if not replicated and self.engine.dialect.name == "postgresql":
                    # The one writer of a database others could reach: a replica left running
                    # on it can no longer append (ADR 0047).
                    self.log.take_over()
        except BaseException:
            self.engine.dispose()
            raise
        self.role = "follower" if replicated else "single"
        """``single`` (the one process that writes its database), or, among replicas,
        ``sequencer`` or ``follower`` (ADR 0047)."""
        self._role_lock = threading.RLock()
        self._election: SequencerLock | None = None
        self.handoff: Handoff | None = None
        self._pump: HandoffPump | None = None
        self._handoff_pool: ThreadPoolExecutor | None = None
        self._replica_thread: threading.Thread | None = None
        self._replica_stop = threading.Event()
        self.takeovers = 0
        """Times this replica started to sequence."""
        self.stepdowns = 0
        """Times this replica stopped sequencing because it lost the sequencer's lock or
        another writer took the log over."""
        self._overtaken = threading.Event()
        self._beating = False
        self._heartbeat_thread: threading.Thread | None = None
        self._refreshed_at = time.monotonic()
        self._appended_at = time.monotonic()
        self._next_takeover = 0.0
        """When this replica may try to take over again after a refused takeover (monotonic)."""
        if settings.replica_id is not None:
            self._election = SequencerLock(self.engine)
            self.handoff = Handoff(self.engine, settings.replica_id, lambda: to_micros(clock()))
            self._handoff_pool = ThreadPoolExecutor(64, thread_name_prefix="pausewatch-handoff")
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
        self._witness_transport = witness_transport
        self._unsafe_trust_database = unsafe_trust_database
        self.witness_positions: list[WitnessPosition] = []
        """Where each witness stood on the log when this process last started to sequence it
        (none asked yet: a follower, or no witnesses)."""
        if self._election is None:
            # Before anything is appended: a witness that cosigned a checkpoint this database
            # lacks means the database lost entries the log signed (docs/adr/0063).
            try:
                self.witness_positions = self._check_witnesses()
            except BaseException:
                self.engine.dispose()
                raise
        # The registry's views: resumed from the database, then brought up to the log (entries
        # integrated before a crash may not have been folded yet), then advanced after each
        # durable batch on the sequencer's thread. A replica that does not sequence folds in
        # memory only.
        self.state = StateStore(self.engine, [secretariat.signer_id], persist=self.role == "single")
        self.state.catch_up(self.log)
        self.sequencer, self.distributor = self._new_sequencer()
        limits = NoticeLimits(
            max_bytes=settings.notice_max_bytes,
            window=timedelta(seconds=settings.notice_window_s),
            max_count=settings.notice_quota_count,
            max_window_bytes=settings.notice_quota_bytes,
        )
        self._notice_limits = limits
        self.notices = NoticeQuota(limits, frozenset({secretariat.signer_id}))
        self.notices.prime(self.engine, clock())
        self._notices_primed_at = (time.monotonic(), self.log.size)
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
            nice=settings.ingest_nice,
            thread_nice=settings.ingest_thread_nice,
            upload_lock_timeout_s=settings.upload_lock_timeout_s,
            refusal=self._not_sequencing,
        )
        self._clerk_thread: threading.Thread | None = None
        self._clerk_stop = threading.Event()
        self._clerk_lock = threading.Lock()
        self.clerk_stats = ClerkStats()
        self.started_at = clock()

    def _check_witnesses(self) -> list[WitnessPosition]:
        """Where each witness stands on the log, asked before this process sequences it;
        :class:`ConsistencyError` where one cosigned a checkpoint the database lacks, unless the
        service was started with ``--unsafe-trust-database``."""
        return check_witnesses(
            self.log,
            self.witnesses,
            transport=self._witness_transport,
            unsafe=self._unsafe_trust_database,
        )

    def _new_sequencer(self) -> tuple[Sequencer, WitnessDistributor]:
        """A sequencer (not started) and the witness distributor it notifies."""
        settings = self.settings
        sequencer = Sequencer(
            self.log,
            self.clock,
            batch_size=settings.batch_size,
            max_latency=settings.batch_latency_ms / 1000,
            max_queue=settings.max_queue,
            thread_start=partial(lower_this_thread, settings.ingest_thread_nice),
        )
        distributor = WitnessDistributor(
            self.log, self.witnesses, transport=self._witness_transport
        )
        sequencer.on_integrated(distributor.notify)
        sequencer.on_integrated(self._fold)
        sequencer.on_failed(self._append_failed)
        return sequencer, distributor

    def _append_failed(self, exc: Exception) -> None:
        """A batch failed: if because another writer appended to the log or took it over, this
        replica must reload before it appends again (its next election round steps down)."""
        if self._election is not None and isinstance(exc, ConsistencyError | IntegrityError):
            self._overtaken.set()

    def _fold(self, _size: int) -> None:
        self._appended_at = time.monotonic()
        self.fold()

    def health(self) -> tuple[bool, dict[str, object]]:
        """Whether this process does its part, and what /healthz reports. A replica is stuck
        when, beyond ``replica_stale_s``, its sequencer's append has hung, or as a follower it
        has not refreshed from the database (ADR 0047)."""
        health: dict[str, object] = {"status": "ok", "size": self.log.size}
        if self.settings.replica_id is None:
            return True, health
        bound = self.settings.replica_stale_s
        now = time.monotonic()
        health |= {"replica": self.settings.replica_id, "role": self.role}
        if self.role == "sequencer":
            health |= {
                "append_busy_s": round(self.sequencer.busy_for, 3),
                "last_append_age_s": round(now - self._appended_at, 3),
                "queued": self.sequencer.depth,
            }
            stuck = self.sequencer.busy_for > bound
        else:
            refresh_age = now - self._refreshed_at
            health["last_refresh_age_s"] = round(refresh_age, 3)
            try:
                with self.engine.connect() as conn:
                    newest = conn.execute(text("SELECT max(size) FROM log_checkpoints")).scalar()
            except Exception:
                _logger.warning("/healthz could not read the database", exc_info=True)
                return False, health | {"status": "stuck", "lag": None}
            health["lag"] = max(0, int(newest or 0) - self.log.size)
            stuck = refresh_age > bound
        if stuck:
            health["status"] = "stuck"
        return not stuck, health

    def fold(self) -> Exception | None:
        """Fold the new entries into the views; return the failure, if any. A failure must not
        stop the sequencer (the entries are durable already): it is logged, and the next batch
        or the next start folds from where the views stand."""
        return self._try_fold()

    def _try_fold(self) -> Exception | None:
        """:meth:`fold`, returning its failure if there was one."""
        try:
            if self.role == "follower":
                self.log.refresh()
                self._refreshed_at = time.monotonic()
            self.state.catch_up(self.log)
        except Exception as exc:
            _logger.exception("folding the log into the registry views failed; will retry")
            return exc
        return None

    def start(self) -> LogService:
        """Start the sequencer, the witness distributor and the secretariat's clerk. A replica
        tries once to become the sequencer, then keeps trying (or keeps its lock) on a thread
        of its own; until it sequences it only follows the log."""
        if self.telemetry.pool is not None:
            # From this thread, at the process's level: the workers' level comes from it.
            start_fork_server()
        if self._election is None:
            self.sequencer.start()
            self.distributor.start()
        else:
            if self.telemetry.pool is not None:
                # Heavy work stays out of this process: a follower's first read would fit the
                # classifier under the state's lock (ADR 0048).
                fit_classifier_aside()
            self._elect()
            if self._replica_thread is None:
                self._replica_stop.clear()
                self._replica_thread = threading.Thread(
                    target=self._replica_loop, name="pausewatch-replica", daemon=True
                )
                self._replica_thread.start()
            if self._heartbeat_thread is None:
                self._heartbeat_thread = threading.Thread(
                    target=self._heartbeat_loop, name="pausewatch-heartbeat", daemon=True
                )
                self._heartbeat_thread.start()
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

    # -- replicas (ADR 0047) ------------------------------------------------------------------

    def _replica_loop(self) -> None:
        """Follow the log, and try for the sequencer's lock (or check it is still held)."""
        # A follower's fold is its share of ingest: below its reads (the heartbeat has a
        # thread of its own).
        lower_this_thread(self.settings.ingest_thread_nice)
        # A follower looks at the heartbeat each round: several times within its bound.
        poll = min(self.settings.replica_poll_s, self.settings.replica_stale_s / 4)
        refresh = min(poll, 0.1)
        next_election = time.monotonic() + poll
        while not self._replica_stop.wait(refresh):
            try:
                if self.role == "follower":
                    self._try_fold()
                # On every role: the sequencer appends what followers admitted too.
                self._recount_notices(every=5.0)
                if time.monotonic() >= next_election:
                    next_election = time.monotonic() + poll
                    self._elect()
            except Exception:
                _logger.exception("replica %s: the election round failed", self.settings.replica_id)

    def _heartbeat_loop(self) -> None:
        """While this replica sequences (or takes over), beat on the lock's session several
        times within the bound a follower waits (ADR 0047). A sequencer stuck in one append
        for half the bound stops beating, so that another replica replaces it."""
        election = self._election
        assert election is not None
        period = min(self.settings.replica_poll_s, self.settings.replica_stale_s / 4)
        while not self._replica_stop.wait(period):
            if self._beating and self.sequencer.busy_for <= self.settings.replica_stale_s / 2:
                election.beat(self._epoch())

    def _elect(self) -> None:
        """Become the sequencer if the lock is free; step down if it was lost."""
        election = self._election
        assert election is not None
        with self._role_lock:
            if self.role == "sequencer" and self._overtaken.is_set():
                # Another writer appended or took the log over: this replica's state is stale
                # and every append would be refused. Step down and give the lock up; the next
                # round elects a sequencer (this one again if the lock is free) that reloads.
                self._overtaken.clear()
                _logger.error(
                    "replica %s: another writer took the log over; it stops sequencing",
                    self.settings.replica_id,
                )
                self._step_down()
                election.release()
                return
            if self.role == "sequencer":
                if not election.check():
                    _logger.error(
                        "replica %s lost the sequencer's lock; it follows the log again",
                        self.settings.replica_id,
                    )
                    self._step_down()
                return
            if time.monotonic() < self._next_takeover:
                return  # its last takeover was refused: another replica may try meanwhile
            if not election.try_acquire():
                silent = election.silent_for()
                if silent is not None and silent > self.settings.replica_stale_s:
                    # The holder is paused, hung or cut off, and its session lives on: end
                    # its sessions (the epoch keeps it from committing once it resumes); the
                    # next round takes the lock.
                    ended = election.evict()
                    _logger.error(
                        "replica %s: the sequencer's heartbeat is %.1f s old; ended %d of its "
                        "database sessions to take over",
                        self.settings.replica_id,
                        silent,
                        ended,
                    )
                return
            try:
                self._take_over()
            except Exception as exc:
                # Say why (a database behind this data directory's kept checkpoint or behind
                # what a witness cosigned, say), give the lock to another replica, and keep
                # following; this one tries again after a while, not every round (what refused
                # it rarely mends in a second, and each try asks every witness again). A
                # refusal the service explains is one line; anything else keeps its traceback.
                _logger.error(
                    "replica %s won the sequencer's lock but cannot sequence; giving it up for "
                    "%g s: %s",
                    self.settings.replica_id,
                    TAKEOVER_RETRY_S,
                    exc,
                    exc_info=not isinstance(exc, Error),
                )
                self._stop_sequencing()
                election.release()
                self._next_takeover = time.monotonic() + TAKEOVER_RETRY_S

    def _epoch(self) -> int:
        epoch = self.log.epoch
        return 0 if epoch is None else epoch

    def _recount_notices(self, every: float, *, force: bool = False) -> None:
        """Count the notices again from the log, which other replicas also append to: each
        replica admits notices against every replica's integrated ones, a few seconds late at
        most (ADR 0047)."""
        at, size = self._notices_primed_at
        if not force and (self.log.size == size or time.monotonic() - at < every):
            return
        quota = NoticeQuota(self._notice_limits, self.notices.exempt)
        size = self.log.size
        quota.prime(self.engine, self.clock(), size)
        self.notices = quota
        self._notices_primed_at = (time.monotonic(), size)

    def _take_over(self) -> None:
        """Start to sequence: the log's and the views' state as the database has them (another
        replica may have appended up to the moment it died), checked against the checkpoint
        kept in this data directory; then the sequencer, the pump, the witnesses."""
        assert self.handoff is not None
        self._overtaken.clear()
        self.log.take_over()
        assert self._election is not None
        self._election.beat(self._epoch())
        self._beating = True  # through the rest of the takeover too, however long it takes
        # The database as it now stands against what the witnesses cosigned: a replica's kept
        # checkpoint may lag the dead sequencer's (docs/adr/0063).
        self.witness_positions = self._check_witnesses()
        self.state.resume(self.log)
        self._recount_notices(every=0.0, force=True)
        self.sequencer.stop()
        self.distributor.stop()
        self.sequencer, self.distributor = self._new_sequencer()
        self.telemetry.sequencer = self.sequencer
        self.sequencer.start()
        self.distributor.start()
        self._pump = HandoffPump(self.handoff, self.sequencer).start()
        self.role = "sequencer"
        self.takeovers += 1
        _logger.warning(
            "replica %s sequences the log from %d entries", self.settings.replica_id, self.log.size
        )

    def _step_down(self) -> None:
        """Stop sequencing. What the old sequencer still holds is refused, not appended (its
        clients hear a retryable 503, handed-off rows stay pending for the next sequencer); a
        batch already in flight commits only if no other replica took the log over meanwhile
        (the epoch, :meth:`PersistentLog.take_over`), so nothing forks and nothing a client
        was told is durable is lost."""
        self.stepdowns += 1
        self._stop_sequencing()

    def _stop_sequencing(self) -> None:
        self._beating = False
        self.role = "follower"
        self.state.persist = False
        self.sequencer.abandon()
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
        self.distributor.stop()

    def _durable(self, entry: PendingEntry) -> Future[Appended]:
        """The entry's future: from this process's sequencer, or handed to the replica that
        sequences."""
        if self.role != "follower":
            return self.sequencer.submit(entry)
        assert self.handoff is not None
        assert self._handoff_pool is not None
        return self._handoff_pool.submit(self.handoff.submit, entry)

    def _clerk_loop(self, interval: float) -> None:
        while not self._clerk_stop.wait(interval):
            if self.role == "follower":
                continue  # the sequencing replica's clerk files the secretariat's work
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
        self._replica_stop.set()
        if self._replica_thread is not None:
            self._replica_thread.join(30)
            self._replica_thread = None
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(30)
            self._heartbeat_thread = None
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
        self.sequencer.stop()
        self.distributor.stop()
        if self._handoff_pool is not None:
            self._handoff_pool.shutdown(wait=True, cancel_futures=True)
        if self._election is not None:
            self._election.release()
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
        self.state.expect(statement)  # verified: the fold need not read it back
        try:
            durable = self._durable(
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
            if failure is None and not self._folded(appended.index):
                # A follower answers only for an entry its own log and views hold (a refresh
                # could come short of it): fold once more, else the client retries.
                failure = self._try_fold()
                if failure is None and not self._folded(appended.index):
                    failure = NotFoldedError(
                        f"entry {appended.index} is on the log, but this replica has not "
                        "folded it yet; retry (the retry is answered with the entry)"
                    )
            if failure is not None and not self._folded(appended.index):
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

    def _folded(self, index: int) -> bool:
        """Whether entry ``index`` is in this process's log and folded into its views."""
        return self.log.size > index and self.state.registry.applied > index

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
        its entry is durable and folded. A replica that does not sequence refuses it (503:
        the batch's checks rest on chain heads only the sequencer's order fixes; ADR 0047)."""
        refused = self._not_sequencing()
        if refused is not None:
            raise refused
        return self.telemetry.ingest(data, submission)

    def _not_sequencing(self) -> NotSequencingError | None:
        """The refusal of a telemetry batch by a replica that does not sequence, or none; asked
        again by an attempt once it holds its upload (it may have waited while this replica
        stepped down)."""
        if self.role != "follower":
            return None
        return NotSequencingError(
            f"replica {self.settings.replica_id} does not sequence the log; telemetry "
            "batches go to the sequencing replica (GET /healthz names each replica's "
            "role): retry"
        )

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
        records = stored_records(
            self.engine, row["operator_id"], row["batch_digest"], offset, limit
        )
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
        """The log's identity and current tree head (its size and root read together)."""
        size, root = self.log.head()
        return LogInfo(
            self.log.origin,
            self.log.verifier.to_string(),
            size,
            root,
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
