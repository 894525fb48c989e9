"""Keyed, idempotent work run in process or as Ray tasks (issue 17 §3).

An audit replays segments; each replay is a task keyed by ``(run, segment)`` whose result is a
pure function of the transcript's files, so running it twice is harmless and its key says
whether it is still to do. :func:`run_keyed` runs the tasks whose keys are not ``done`` and
yields each result as it completes, so that the caller can put it on the log at once: losing a
Ray worker, a node or the whole cluster then loses nothing that a rescan of the log (the keys
already there passed as ``done``) cannot redo.

Ray is an optional extra (``pausewatch[ray]``), imported only inside the functions that use it.
Without an address and with no Ray session already started, a small local Ray is started for the
call and shut down after it; an already initialised session is used as it is and left running
(the benchmark and the tests start one and reuse it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pausewatch.errors import ConfigurationError, WorkLostError

if TYPE_CHECKING:
    from pausewatch.transcript._replay import SegmentResult, SegmentTask

K = TypeVar("K", bound=Hashable)
A = TypeVar("A")
R = TypeVar("R")

LOCAL_CPUS = 2
"""CPUs of the local Ray started when no address is given (a laptop, CI, the tests)."""
LOCAL_OBJECT_STORE_BYTES = 80 * 1024 * 1024
"""Object store of that local Ray: a task's argument and result are a few hundred bytes, and
Ray refuses less than 75 MiB."""
CONNECT_TIMEOUT_S = 5.0
"""How long joining a cluster waits for its head to accept a connection."""
TASK_RETRIES = 2
"""How often Ray re-runs a task whose worker died; safe because every task is idempotent."""


def ray_available() -> bool:
    """Whether Ray can be imported (the ``ray`` extra is installed)."""
    return importlib.util.find_spec("ray") is not None


def run_keyed(
    fn: Callable[[A], R],
    items: Mapping[K, A],
    *,
    ray_address: str | None = None,
    use_ray: bool | None = None,
    done: Collection[K] = (),
) -> Iterator[tuple[K, R]]:
    """Run ``fn`` on every item whose key is not in ``done``, yielding ``(key, result)`` as each
    completes (in ``items``' order in process; in completion order through Ray).

    ``use_ray`` None runs through Ray when it is installed and in process otherwise; False runs
    in process; True (or an address) requires Ray (ConfigurationError without it, or when the
    cluster at ``ray_address`` cannot be joined). Through Ray, ``fn`` and the items must pickle.
    When Ray loses work (a worker that died ``TASK_RETRIES + 1`` times, a lost node, the session
    gone), the generator first yields every result that did finish, then raises
    :class:`~pausewatch.errors.WorkLostError` whose ``missing`` lists the keys still to do.
    An exception raised by ``fn`` itself propagates as it is.
    """
    finished = frozenset(done)
    pending = {key: arg for key, arg in items.items() if key not in finished}
    if use_ray is False:
        return _in_process(fn, pending)
    if not ray_available():
        if use_ray or ray_address is not None:
            raise ConfigurationError(
                "Ray is not installed: install the extra with pip install 'pausewatch[ray]'"
            )
        return _in_process(fn, pending)
    if not pending:
        return iter(())
    started = _ray_session(ray_address)
    return _through_ray(fn, pending, started)


def _in_process(fn: Callable[[A], R], pending: Mapping[K, A]) -> Iterator[tuple[K, R]]:
    for key, arg in pending.items():
        yield key, fn(arg)


def _ray_session(address: str | None) -> bool:
    """Join or start Ray unless a session is already up; whether this call started it."""
    import ray

    if ray.is_initialized():
        return False
    if address is not None:
        _reachable(address)
    try:
        if address is None:
            ray.init(
                num_cpus=LOCAL_CPUS,
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                log_to_driver=False,
            )
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise ConfigurationError(f"cannot start {where}: {exc}") from exc
    return True


def _reachable(address: str) -> None:
    """Refuse at once an address whose head does not accept a connection: ``ray.init`` would
    otherwise wait minutes for its GCS before it fails."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(
            f"a Ray address is 'auto', HOST:PORT or ray://HOST:PORT, got {address!r}"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise ConfigurationError(
            f"cannot join the Ray cluster at {address}: {exc.strerror or exc}"
        ) from exc


def _through_ray(
    fn: Callable[[A], R], pending: Mapping[K, A], started: bool
) -> Iterator[tuple[K, R]]:
    import ray
    from ray.exceptions import RayError, RayTaskError

    remote = ray.remote(max_retries=TASK_RETRIES)(fn)
    refs: dict[Any, K] = {remote.remote(arg): key for key, arg in pending.items()}
    lost: list[K] = []
    try:
        while refs:
            # ray.wait on a session that is gone would silently start a fresh local Ray (and
            # then fail to find the tasks), so the loss is detected before waiting.
            if not ray.is_initialized():
                raise _lost("the Ray session ended", [*refs.values(), *lost])
            try:
                ready, _ = ray.wait(list(refs), num_returns=1)
            except (RayError, ConnectionError, ValueError) as exc:
                raise _lost(f"Ray failed: {exc}", [*refs.values(), *lost]) from exc
            for ref in ready:
                key = refs.pop(ref)
                try:
                    value = cast(R, ray.get(ref))
                except RayTaskError:
                    raise
                except (RayError, ConnectionError, ValueError):
                    lost.append(key)
                    continue
                yield key, value
        if lost:
            raise _lost("Ray lost tasks (their worker or node died)", lost)
    finally:
        if ray.is_initialized():
            for ref in refs:
                with contextlib.suppress(RayError, ValueError):  # finished, or gone
                    ray.cancel(ref)
            if started:
                ray.shutdown()


def _lost(reason: str, missing: Sequence[object]) -> WorkLostError:
    keys = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
    return WorkLostError(
        f"{reason}; {len(missing)} task(s) not done ({keys}): run again with the finished "
        "keys as done",
        list(missing),
    )


def in_process_runner(tasks: Sequence[SegmentTask]) -> Iterator[SegmentResult]:
    """Replay segments one after another in this process (the default of ``verify``); a task
    keyed twice is replayed once."""
    from pausewatch.transcript._replay import replay_segment

    for _, result in run_keyed(replay_segment, _by_key(tasks), use_ray=False):
        yield result


def ray_runner(
    address: str | None = None,
) -> Callable[[Sequence[SegmentTask]], Iterator[SegmentResult]]:
    """A runner that replays segments as Ray tasks on the cluster at ``address`` (a local Ray
    when None), yielding each result as it completes; a task keyed twice is replayed once."""

    def run(tasks: Sequence[SegmentTask]) -> Iterator[SegmentResult]:
        from pausewatch.transcript._replay import replay_segment

        for _, result in run_keyed(
            replay_segment, _by_key(tasks), ray_address=address, use_ray=True
        ):
            yield result

    return run


def _by_key(tasks: Sequence[SegmentTask]) -> dict[Hashable, SegmentTask]:
    return {task.key: task for task in tasks}


__all__ = [
    "CONNECT_TIMEOUT_S",
    "LOCAL_CPUS",
    "LOCAL_OBJECT_STORE_BYTES",
    "TASK_RETRIES",
    "in_process_runner",
    "ray_available",
    "ray_runner",
    "run_keyed",
]
