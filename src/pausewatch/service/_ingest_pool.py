"""Worker processes that verify telemetry segments, so the serving process stays free to answer.

Parsing a record line and checking its Ed25519 signature and chain is pure work that holds the
interpreter lock: done in the serving process, every read waits behind it. An
:class:`IngestPool` runs :func:`pausewatch.telemetry.verify_segment` in a
:class:`~concurrent.futures.ProcessPoolExecutor` instead: the serving thread sends a segment's
lines with the registry entries and chain heads they name, and gets back the accepted records
as they are stored and the verdicts' summary (docs/adr/0048-ingest-workers.md).

Workers are started lazily (a service that ingests nothing starts none) from a fork server
that has imported the verifier once, so a worker starts in milliseconds and inherits no thread
or lock of the serving process. A worker that dies (killed, out of memory) fails the uploads
it was serving with :class:`~pausewatch.errors.IngestWorkerError`, and the pool is replaced
for the next upload.

With the first upload, the pool also has a process of its own fit the workload classifier
(:func:`pausewatch.detect.fitted_classifier`, seconds of work the first read of the policy's
facts would otherwise do while holding the state's lock) and hands it to this process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.context import BaseContext

from pausewatch.detect import fitted_classifier, prime_classifier
from pausewatch.errors import IngestWorkerError
from pausewatch.service._heap import settled
from pausewatch.telemetry import MissingContext, SegmentJob, SegmentVerdict, verify_segment

_logger = logging.getLogger("pausewatch.service")

_PRELOAD = ["pausewatch.telemetry", "pausewatch.compute"]
"""Imported once by the fork server, so that each worker starts with the verifier loaded."""


def lower_this_thread(nice: int) -> None:
    """Run the calling thread ``nice`` levels below the process (its first thread's nice
    value plus ``nice``, at most 19). On Linux a thread's nice value is its own: the serving
    process's threads that ingest (the upload threads, the sequencer, a follower's fold) run
    below its event loop and the threads answering reads (docs/adr/0060). A thread inherits
    the level of the thread that started it (the sequencer a follower's replica loop starts
    when it takes over): it is set from the process's, not lowered again from what it
    inherited. Never raised (that needs privilege). Elsewhere, or at 0, nothing."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        target = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + nice)
        if os.getpriority(os.PRIO_PROCESS, tid) < target:
            os.setpriority(os.PRIO_PROCESS, tid, target)
    except OSError as exc:  # pragma: no cover - a sandbox that forbids it
        _logger.warning("could not lower the priority of thread %s: %s", tid, exc)


def _start_worker(server_pid: int, nice: int, server_nice: int = 0) -> None:
    """In a worker, first: run ``nice`` levels below the serving process (whose nice value is
    ``server_nice``), and watch the server. A worker inherits the nice value of the thread
    that started the fork server, which may be one of the serving process's lower ingest
    threads: its own level is set from the serving process's, not added to what it
    inherited."""
    target = min(19, server_nice + nice)
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current < target:
        os.nice(target - current)
    elif current > target:
        with contextlib.suppress(PermissionError):  # raising it back needs privilege
            os.setpriority(os.PRIO_PROCESS, 0, target)
    _watch_server(server_pid)


def _watch_server(server_pid: int, interval: float = 1.0) -> None:
    """In a worker: exit once the serving process is gone.

    A worker is a child of the fork server, not of the serving process, and holds both ends of
    its result pipe: were the serving process killed, it would block on a full pipe forever and
    keep the fork server alive. A daemon thread looks for the serving process every second.
    """

    def watch() -> None:
        while True:
            time.sleep(interval)
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # pragma: no cover - alive, another user's
                pass

    threading.Thread(target=watch, name="pausewatch-server-watch", daemon=True).start()


def default_ingest_workers() -> int:
    """Workers by default: one core short of the machine's (the serving process keeps one),
    at most 8; 0 (verify in process) on a machine with one core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(0, min(8, cores - 1))


_fit_started = threading.Event()


def _fit_classifier_aside(context: BaseContext) -> None:
    """Once a process: fit the workload classifier in a process apart, and take it here."""
    if _fit_started.is_set():
        return
    _fit_started.set()
    executor = ProcessPoolExecutor(
        1, mp_context=context, initializer=_watch_server, initargs=(os.getpid(),)
    )

    def fit() -> None:
        try:
            prime_classifier(executor.submit(fitted_classifier).result())
            settled()  # the classifier's modules and model live as long as the process
        except Exception:  # the fit failed there: the first read fits it here, as before
            _logger.warning("the workload classifier could not be fitted aside", exc_info=True)
        finally:
            executor.shutdown(wait=False)

    threading.Thread(target=fit, name="pausewatch-classifier-fit", daemon=True).start()


def start_fork_server() -> None:
    """Start the fork server that workers come from, now, from the calling thread (once a
    process). A process inherits the nice value of the thread that starts it, and a worker
    that of the fork server: started lazily from one of the serving process's lower ingest
    threads (docs/adr/0060), the workers could not rise back to ``PAUSEWATCH_INGEST_NICE``
    below the serving process without privilege. The service starts it as it starts."""
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(_PRELOAD)
    forkserver.ensure_running()


def fit_classifier_aside() -> None:
    """Once a process, have a process apart fit the workload classifier (as the first upload
    does): a replica that follows takes no uploads, yet its reads evaluate the policy, and the
    first of them would otherwise spend the seconds of the fit under the state's lock."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    _fit_classifier_aside(context)


def _shut_down() -> IngestWorkerError:
    return IngestWorkerError(
        "the telemetry verification workers shut down while verifying this upload; nothing of "
        "it was accepted: send it again"
    )


class IngestPool:
    """A pool of ``workers`` processes verifying telemetry segments (see the module docstring)."""

    def __init__(self, workers: int, *, nice: int = 0) -> None:
        if workers < 1:
            raise ValueError(f"an ingest pool needs at least one worker, got {workers}")
        self.workers = workers
        self.nice = nice
        """Added to each worker's nice value (``Settings.ingest_nice``)."""
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise IngestWorkerError("the ingest workers are shut down")
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(_PRELOAD)
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=context,
                    initializer=_start_worker,
                    # The process's own nice value: on Linux its first thread's, whichever
                    # thread asks.
                    initargs=(os.getpid(), self.nice, os.getpriority(os.PRIO_PROCESS, os.getpid())),
                )
                _fit_classifier_aside(context)
            return self._executor

    def _discard(self, executor: ProcessPoolExecutor) -> None:
        """Drop a broken executor, so that the next upload gets a fresh one."""
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False, cancel_futures=True)

    def verify(self, job: SegmentJob) -> SegmentVerdict | MissingContext:
        """Verify one segment in a worker (a :data:`~pausewatch.telemetry.SegmentVerifier`).

        Raises :class:`~pausewatch.errors.IngestWorkerError` when the worker died on it, or
        when the pool was shut down (the service closing) while the upload was under way.
        """
        executor = self._pool()
        try:
            try:
                future = executor.submit(verify_segment, job)
            except BrokenProcessPool:
                raise
            except RuntimeError as exc:
                # close() shut the executor down after _pool() handed it out. (A RuntimeError
                # the verifier raises in a worker comes from result(): a bug, and stays one.)
                raise _shut_down() from exc
            return future.result()
        except BrokenProcessPool as exc:
            self._discard(executor)
            raise IngestWorkerError(
                "a telemetry verification worker stopped while verifying this upload; nothing "
                "of it was accepted: send it again"
            ) from exc
        except CancelledError as exc:  # close() cancelled the segment before a worker took it
            raise _shut_down() from exc

    def pids(self) -> list[int]:
        """Process ids of the workers started so far (none before the first upload)."""
        with self._lock:
            executor = self._executor
        if executor is None:
            return []
        return [pid for pid in list(executor._processes or {})]

    def close(self) -> None:
        """Stop the workers (what they are verifying is abandoned)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


__all__ = ["IngestPool", "default_ingest_workers", "fit_classifier_aside"]
