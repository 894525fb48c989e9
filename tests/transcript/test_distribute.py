"""Keyed, idempotent work in process and through Ray (pausewatch.transcript._distribute)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pausewatch.errors import ConfigurationError, WorkLostError
from pausewatch.transcript import (
    SegmentTask,
    in_process_runner,
    ray_runner,
    replay_segment,
    run_keyed,
)
from pausewatch.transcript._distribute import (
    LOCAL_CPUS,
    LOCAL_OBJECT_STORE_BYTES,
    TASK_RETRIES,
)


def _square(arg: tuple[str, int]) -> int:
    """Record the run in the file ``arg[0]`` (one line per run), then square ``arg[1]``."""
    path, value = arg
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"{value}\n")
    return value * value


def _slow_square(arg: tuple[str, int]) -> int:
    time.sleep(0.4)
    return _square(arg)


def _crash_on_three(arg: tuple[str, int]) -> int:
    if arg[1] == 3:
        os._exit(1)  # the worker process dies as a lost node's would
    return _square(arg)


def _refuse_five(arg: tuple[str, int]) -> int:
    if arg[1] == 5:
        raise ArithmeticError("five is refused")
    return _square(arg)


def _runs(path: Path) -> list[int]:
    return sorted(int(line) for line in path.read_text().split()) if path.exists() else []


def _items(path: Path, n: int) -> dict[tuple[str, int], tuple[str, int]]:
    return {("run-1", i): (str(path), i) for i in range(n)}


# -- in process --------------------------------------------------------------------------------


def test_in_process_yields_every_result_in_the_items_order(tmp_path: Path) -> None:
    """In process, each key's result comes back once, in the mapping's order."""
    log = tmp_path / "runs"
    out = list(run_keyed(_square, _items(log, 6), use_ray=False))
    assert out == [(("run-1", i), i * i) for i in range(6)]
    assert _runs(log) == list(range(6))


def test_done_keys_are_skipped(tmp_path: Path) -> None:
    """Keys in ``done`` are neither run nor yielded: a rescan redoes only what is missing."""
    log = tmp_path / "runs"
    done = [("run-1", 0), ("run-1", 4), ("run-2", 9)]
    out = dict(run_keyed(_square, _items(log, 6), use_ray=False, done=done))
    assert sorted(out) == [("run-1", i) for i in (1, 2, 3, 5)]
    assert _runs(log) == [1, 2, 3, 5]


def test_a_rerun_with_what_finished_as_done_completes_the_rest(tmp_path: Path) -> None:
    """Stopping midway and running again with the finished keys as done runs each task once
    and gives the same results as one uninterrupted run (idempotence)."""
    log = tmp_path / "runs"
    items = _items(log, 7)
    first: dict[tuple[str, int], int] = {}
    for key, value in run_keyed(_square, items, use_ray=False):
        first[key] = value
        if len(first) == 3:
            break  # the auditor's process stops here
    rest = dict(run_keyed(_square, items, use_ray=False, done=first))
    assert set(rest).isdisjoint(first)
    assert {**first, **rest} == {k: v[1] ** 2 for k, v in items.items()}
    assert _runs(log) == list(range(7))


def test_without_ray_the_default_runs_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Ray not importable, use_ray=None runs in process; use_ray=True or an address is a
    ConfigurationError that says how to install it."""
    monkeypatch.setitem(sys.modules, "ray", None)
    log = tmp_path / "runs"
    assert dict(run_keyed(_square, _items(log, 3))) == {("run-1", i): i * i for i in range(3)}
    with pytest.raises(ConfigurationError, match=r"pausewatch\[ray\]"):
        run_keyed(_square, _items(log, 3), use_ray=True)
    with pytest.raises(ConfigurationError, match="Ray is not installed"):
        run_keyed(_square, _items(log, 3), ray_address="ray://10.0.0.1:10001")


def test_an_unreachable_ray_address_is_one_clear_error(tmp_path: Path) -> None:
    """Joining a cluster whose head refuses connections, or an address that is not one, is a
    ConfigurationError naming the address, at once (not after Ray's minutes of retries)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray session is already up: run_keyed would use it")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigurationError, match=f"Ray cluster at 127.0.0.1:{port}"):
        run_keyed(_square, _items(tmp_path / "runs", 2), ray_address=f"127.0.0.1:{port}")
    with pytest.raises(ConfigurationError, match="HOST:PORT"):
        run_keyed(_square, _items(tmp_path / "runs", 2), ray_address="head-without-port")
    assert not (tmp_path / "runs").exists()


def test_importing_the_package_imports_neither_ray_nor_torch() -> None:
    """Ray and torch stay optional: importing pausewatch.transcript loads neither."""
    code = (
        "import sys, pausewatch.transcript; "
        "print(sorted(m for m in ('ray', 'torch', 'safetensors') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    )
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small honest mlp transcript: 12 steps, a checkpoint every 3 (4 segments)."""
    pytest.importorskip("torch")
    from pausewatch.transcript import train

    out = tmp_path_factory.mktemp("distribute") / "run"
    train("mlp", steps=12, every=3, out=out, seed=b"\x05" * 32, threads=1, run_id="run-d")
    return out


def _tasks(transcript: Path, segments: list[int]) -> list[SegmentTask]:
    return [SegmentTask(str(transcript), "run-d", s) for s in segments]


def test_the_in_process_runner_replays_each_keyed_segment_once(transcript: Path) -> None:
    """in_process_runner gives replay_segment's result per segment, in the tasks' order, and a
    segment listed twice is replayed once."""
    results = list(in_process_runner(_tasks(transcript, [2, 0, 3, 0])))
    assert [r.segment for r in results] == [2, 0, 3]
    assert results == [replay_segment(t) for t in _tasks(transcript, [2, 0, 3])]
    assert all(r.passed for r in results)


# -- through Ray -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One small local Ray for the module (starting one takes seconds)."""
    ray = pytest.importorskip("ray")
    # The workers cannot import this test module by name: its functions travel by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    _init(ray)
    yield
    ray.shutdown()


def _init(ray: object) -> None:
    ray.init(  # type: ignore[attr-defined]
        num_cpus=LOCAL_CPUS,
        include_dashboard=False,
        object_store_memory=LOCAL_OBJECT_STORE_BYTES,
        log_to_driver=False,
    )


@pytest.mark.slow
def test_ray_gives_the_in_process_results(ray_session: None, tmp_path: Path) -> None:
    """Through Ray every key's result is the one in process gives, each task run once."""
    log = tmp_path / "runs"
    expected = dict(run_keyed(_square, _items(tmp_path / "ref", 8), use_ray=False))
    got = list(run_keyed(_square, _items(log, 8), use_ray=True))
    assert len(got) == 8
    assert dict(got) == expected
    assert _runs(log) == list(range(8))


@pytest.mark.slow
def test_ray_skips_done_keys_and_a_second_pass_runs_nothing(
    ray_session: None, tmp_path: Path
) -> None:
    """A key already done is not run again through Ray: the second pass over the same items
    with the first pass's keys as done runs no task."""
    log = tmp_path / "runs"
    items = _items(log, 5)
    first = dict(run_keyed(_square, items, use_ray=True, done=[("run-1", 2)]))
    assert sorted(first) == [("run-1", i) for i in (0, 1, 3, 4)]
    again = list(run_keyed(_square, items, use_ray=True, done=[*first, ("run-1", 2)]))
    assert again == []
    assert _runs(log) == [0, 1, 3, 4]


@pytest.mark.slow
def test_a_task_error_propagates_as_raised(ray_session: None, tmp_path: Path) -> None:
    """An exception raised by the task itself reaches the caller as its own type."""
    with pytest.raises(ArithmeticError, match="five is refused"):
        list(run_keyed(_refuse_five, _items(tmp_path / "runs", 7), use_ray=True))


@pytest.mark.slow
def test_a_dead_worker_is_reported_after_the_finished_results(
    ray_session: None, tmp_path: Path
) -> None:
    """A task whose worker dies on every retry is reported as missing in a WorkLostError, raised
    only once every other result has been yielded."""
    log = tmp_path / "runs"
    got: dict[tuple[str, int], int] = {}

    def audit() -> None:
        for key, value in run_keyed(_crash_on_three, _items(log, 5), use_ray=True):
            got[key] = value

    with pytest.raises(WorkLostError) as caught:
        audit()
    assert sorted(got) == [("run-1", i) for i in (0, 1, 2, 4)]
    assert caught.value.missing == [("run-1", 3)]
    assert "run again" in str(caught.value)
    assert TASK_RETRIES >= 1


@pytest.mark.slow
def test_the_ray_runner_gives_the_in_process_results(ray_session: None, transcript: Path) -> None:
    """ray_runner replays through Ray with the results in process gives (in completion order),
    a segment listed twice replayed once."""
    tasks = _tasks(transcript, [0, 1, 2, 3, 1])
    through_ray = sorted(ray_runner(None)(tasks), key=lambda r: r.segment)
    assert through_ray == list(in_process_runner(tasks))


@pytest.mark.slow
def test_losing_the_cluster_midway_loses_nothing_a_rerun_cannot_redo(
    ray_session: None, tmp_path: Path
) -> None:
    """When the Ray session ends midway, the results yielded before stand, a WorkLostError names
    the rest, and a run on a new cluster with the yielded keys as done completes exactly those;
    together they equal one uninterrupted run. (Last in the module: it restarts Ray.)"""
    import ray

    log = tmp_path / "runs"
    items = _items(log, 8)
    first: dict[tuple[str, int], int] = {}

    def audit() -> None:
        for key, value in run_keyed(_slow_square, items, use_ray=True):
            first[key] = value
            if len(first) == 2:
                ray.shutdown()  # the cluster goes away with tasks in flight

    with pytest.raises(WorkLostError, match="Ray session ended") as caught:
        audit()
    assert len(first) == 2
    assert sorted(caught.value.missing) == sorted(set(items) - set(first))  # type: ignore[type-var]
    _init(ray)
    rest = dict(run_keyed(_slow_square, items, use_ray=True, done=first))
    assert sorted(rest) == sorted(caught.value.missing)  # type: ignore[type-var]
    assert {**first, **rest} == {k: v[1] ** 2 for k, v in items.items()}
    assert set(_runs(log)) == set(range(8))
