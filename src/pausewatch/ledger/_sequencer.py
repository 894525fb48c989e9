"""The sequencer: the log's single writer, integrating submissions in batches.

Writers call :meth:`Sequencer.submit` from any thread and get a future. One thread collects
submissions until the batch is full or the oldest has waited ``max_latency`` seconds, appends the
batch in one durable transaction, and only then resolves the futures: an entry is acknowledged
only when it is on disk.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from pausewatch.errors import LogError
from pausewatch.ledger._log import Appended, PendingEntry, PersistentLog

Clock = Callable[[], datetime]


@dataclass
class SequencerStats:
    """Counters for metrics and tests."""

    batches: int = 0
    entries: int = 0
    duplicates: int = 0
    failures: int = 0
    last_batch_seconds: float = 0.0
    listeners: list[Callable[[int], None]] = field(default_factory=list)


class QueueFullError(LogError):
    """The sequencer's queue is full; the caller should retry later."""


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
        self._queue: queue.Queue[tuple[PendingEntry, Future[Appended]] | None] = queue.Queue(
            max_queue
        )
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.stats = SequencerStats()

    @property
    def depth(self) -> int:
        """Submissions waiting to be integrated."""
        return self._queue.qsize()

    def on_integrated(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(new_size)`` on the sequencer thread after each durable batch."""
        self.stats.listeners.append(listener)

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

    def submit(self, entry: PendingEntry) -> Future[Appended]:
        """Queue ``entry``; the future resolves once it is durable in the log."""
        if self._stopping or self._thread is None:
            raise LogError("the sequencer is not running")
        fut: Future[Appended] = Future()
        try:
            self._queue.put_nowait((entry, fut))
        except queue.Full as exc:
            raise QueueFullError(
                f"the log's queue is full ({self._queue.maxsize} waiting); retry later"
            ) from exc
        return fut

    def _collect(self) -> tuple[list[tuple[PendingEntry, Future[Appended]]], bool]:
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self.max_latency
        stop = False
        while len(batch) < self.batch_size:
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
        return batch, stop

    def _run(self) -> None:
        while True:
            batch, stop = self._collect()
            if batch:
                self._integrate(batch)
            if stop:
                # Drain anything submitted before stop() was called.
                rest: list[tuple[PendingEntry, Future[Appended]]] = []
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        rest.append(item)
                for i in range(0, len(rest), self.batch_size):
                    self._integrate(rest[i : i + self.batch_size])
                return

    def _integrate(self, batch: list[tuple[PendingEntry, Future[Appended]]]) -> None:
        started = time.perf_counter()
        try:
            results = self.log.append_batch([p for p, _ in batch], self._clock())
        except Exception as exc:
            self.stats.failures += 1
            for _, fut in batch:
                fut.set_exception(exc)
            return
        self.stats.batches += 1
        self.stats.last_batch_seconds = time.perf_counter() - started
        for (_, fut), res in zip(batch, results, strict=True):
            if res.duplicate:
                self.stats.duplicates += 1
            else:
                self.stats.entries += 1
            fut.set_result(res)
        for listener in self.stats.listeners:
            listener(self.log.size)
