"""The sequencer: the log's single writer, integrating submissions in batches.

Writers call :meth:`Sequencer.submit` (one entry) or :meth:`Sequencer.submit_many` (a group, such
as an operator's telemetry batch, with one future) from any thread. One thread collects
submissions until the batch is full or the oldest has waited ``max_latency`` seconds, appends the
batch in one durable transaction, and only then resolves the futures: an entry is acknowledged
only when it is on disk. A group is never split across transactions.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pausewatch.errors import LogError, StorageFullError
from pausewatch.ledger._log import Appended, FencedError, PendingEntry, PersistentLog
from pausewatch.store import storage_full

Clock = Callable[[], datetime]

_logger = logging.getLogger("pausewatch.ledger")


@dataclass
class SequencerStats:
    """Counters for metrics and tests."""

    batches: int = 0
    entries: int = 0
    duplicates: int = 0
    failures: int = 0
    last_batch_seconds: float = 0.0
    listeners: list[Callable[[int], None]] = field(default_factory=list)
    failure_listeners: list[Callable[[Exception], None]] = field(default_factory=list)


@dataclass(frozen=True)
class _Request:
    entries: Sequence[PendingEntry]
    future: Future[Any]
    single: bool


class QueueFullError(LogError):
    """The sequencer's queue is full; the caller should retry later."""


class SequencerStoppedError(QueueFullError):
    """This process stopped sequencing the log (another took it over) before it appended the
    request; nothing of it was appended and the caller should retry (answered 503)."""


class Sequencer:
    """Batches submissions into :meth:`PersistentLog.append_batch` on one thread."""

    def __init__(
        self,
        log: PersistentLog,
        clock: Clock,
        *,
        batch_size: int = 1000,
        max_latency: float = 0.01,
        max_queue: int = 100_000,
        thread_start: Callable[[], None] | None = None,
    ) -> None:
        if batch_size < 1 or max_latency < 0:
            raise LogError(
                f"sequencer: expected batch_size >= 1 and max_latency >= 0, got "
                f"{batch_size}, {max_latency}"
            )
        self.log = log
        self._clock = clock
        self.batch_size = batch_size
        self.max_latency = max_latency
        self._queue: queue.Queue[_Request | None] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._thread_start = thread_start
        """Called first on the writer thread (the service lowers its priority there)."""
        self._stopping = False
        self._abandoned = False
        self._busy_since: float | None = None
        self.stats = SequencerStats()

    @property
    def depth(self) -> int:
        """Submissions waiting to be integrated."""
        return self._queue.qsize()

    @property
    def busy_for(self) -> float:
        """Seconds the batch being appended has taken so far (0 when none is)."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    def on_integrated(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(new_size)`` on the sequencer thread after each durable batch."""
        self.stats.listeners.append(listener)

    def on_failed(self, listener: Callable[[Exception], None]) -> None:
        """Call ``listener(error)`` on the sequencer thread after each batch that failed."""
        self.stats.failure_listeners.append(listener)

    def start(self) -> Sequencer:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="pausewatch-sequencer", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Integrate what is queued, then stop."""
        if self._thread is None:
            return
        self._stopping = True
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def abandon(self, timeout: float = 30.0) -> None:
        """Stop without appending what is queued: this process no longer sequences the log.
        Each waiter hears :class:`SequencerStoppedError` (nothing acknowledged, retry); a
        batch already being appended commits only if the log is still this process's."""
        self._abandoned = True
        self.stop(timeout)

    def submit(self, entry: PendingEntry) -> Future[Appended]:
        """Queue ``entry``; the future resolves once it is durable in the log."""
        fut: Future[Appended] = Future()
        self._put(_Request((entry,), fut, single=True))
        return fut

    def submit_many(self, entries: Sequence[PendingEntry]) -> Future[list[Appended]]:
        """Queue a group of entries integrated in one transaction; one future for all of them."""
        fut: Future[list[Appended]] = Future()
        if not entries:
            fut.set_result([])
            return fut
        self._put(_Request(tuple(entries), fut, single=False))
        return fut

    def _put(self, request: _Request) -> None:
        if self._stopping or self._thread is None:
            raise SequencerStoppedError("the sequencer is not running; retry")
        try:
            self._queue.put_nowait(request)
        except queue.Full as exc:
            raise QueueFullError(
                f"the log's queue is full ({self._queue.maxsize} waiting); retry later"
            ) from exc

    def _collect(self) -> tuple[list[_Request], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        count = len(first.entries)
        deadline = time.monotonic() + self.max_latency
        stop = False
        while count < self.batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if item is None:
                stop = True
                break
            batch.append(item)
            count += len(item.entries)
        return batch, stop

    def _run(self) -> None:
        if self._thread_start is not None:
            try:
                self._thread_start()
            except Exception:  # the writer runs anyway: a failed set-up must not stop the log
                _logger.exception("the sequencer's thread set-up failed; appending regardless")
        while True:
            batch, stop = self._collect()
            if batch:
                if self._abandoned:
                    self._refuse(batch)
                else:
                    self._integrate(batch)
            if stop:
                # Drain anything submitted before stop() was called.
                rest: list[_Request] = []
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        rest.append(item)
                if self._abandoned:
                    self._refuse(rest)
                    return
                for i in range(0, len(rest), self.batch_size):
                    self._integrate(rest[i : i + self.batch_size])
                return

    @staticmethod
    def _refuse(batch: list[_Request]) -> None:
        for r in batch:
            r.future.set_exception(
                SequencerStoppedError(
                    "this replica stopped sequencing the log before it appended the request; "
                    "nothing was acknowledged: retry"
                )
            )

    def _integrate(self, batch: list[_Request]) -> None:
        started = time.perf_counter()
        pending = [e for r in batch for e in r.entries]
        self._busy_since = time.monotonic()
        try:
            results = self.log.append_batch(pending, self._clock())
        except Exception as exc:  # every waiter must hear of the failure
            self._busy_since = None
            self.stats.failures += 1
            # The batch's transaction rolled back: nothing of it is on the log, the log's state
            # in memory is unchanged, and the next batch is appended as if it never came.
            failure: Exception = exc
            if isinstance(exc, FencedError):
                failure = SequencerStoppedError(f"{exc}; nothing was acknowledged: retry")
                failure.__cause__ = exc
            elif storage_full(exc):
                failure = StorageFullError(
                    f"the log's storage is full; {len(pending)} entries were not appended "
                    "(nothing acknowledged is lost); retry once space is freed"
                )
                failure.__cause__ = exc
            for r in batch:
                r.future.set_exception(failure)
            for on_failed in self.stats.failure_listeners:
                on_failed(exc)
            return
        self._busy_since = None
        self.stats.batches += 1
        self.stats.last_batch_seconds = time.perf_counter() - started
        dups = sum(1 for res in results if res.duplicate)
        self.stats.duplicates += dups
        self.stats.entries += len(results) - dups
        pos = 0
        for r in batch:
            n = len(r.entries)
            r.future.set_result(results[pos] if r.single else results[pos : pos + n])
            pos += n
        for listener in self.stats.listeners:
            listener(self.log.size)
