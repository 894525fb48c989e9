"""The benchmarks start `pausewatch serve` in another directory: the environment they pass on
must name this checkout's code, however the benchmark itself was started."""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_common", ROOT / "benchmarks" / "_common.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_relative_pythonpath_names_the_same_code_in_a_child_started_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`PYTHONPATH=src` from the checkout: a child started in another directory imports the
    checkout's pausewatch, not whatever copy the virtual environment points at."""
    checkout = tmp_path / "checkout"
    (checkout / "src" / "pausewatch").mkdir(parents=True)
    (checkout / "src" / "pausewatch" / "__init__.py").write_text("WHERE = 'the checkout'\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["src", "/abs/lib", ""]))
    monkeypatch.setenv("PAUSEWATCH_DATA_DIR", "/somewhere")
    env = _common().child_env()
    assert env["PYTHONPATH"].split(os.pathsep) == [str(checkout / "src"), "/abs/lib", ""]
    assert "PAUSEWATCH_DATA_DIR" not in env
    done = subprocess.run(
        [sys.executable, "-c", "import pausewatch; print(pausewatch.WHERE)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "the checkout"
    assert _common().child_env(None)["PAUSEWATCH_DATA_DIR"] == "/somewhere"


def test_time_reads_times_each_read_handler_inside_a_real_server(tmp_path: Path) -> None:
    """`load.py --time-reads`: the server started with `benchmarks/read_timing` first on its
    path writes one line per synchronous endpoint call (name, wall ms, thread CPU ms), and
    load.py reads the lines written since an offset, per endpoint, leaving out its scrapes."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        load = importlib.import_module("load")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    times = tmp_path / "read-times.txt"
    port = load.free_port()
    env = _common().child_env()
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "benchmarks" / "read_timing"), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    )
    env["LOAD_READ_TIMES"] = str(times)
    cmd = [sys.executable, "-m", "pausewatch.cli", "serve", "--data-dir", str(tmp_path / "data")]
    server = subprocess.Popen(
        [*cmd, "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "pausewatch serve exited"
            assert time.monotonic() < deadline, "pausewatch serve did not answer"
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        start = times.stat().st_size
        for path in ("/v1/views/runs", "/v1/views/runs", "/healthz", "/metrics"):
            assert httpx.get(url + path, timeout=30).status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)
    lines = times.read_text(encoding="utf-8").splitlines()
    assert lines, "no read was timed"
    for line in lines:
        _, wall, cpu = line.split()
        assert float(wall) >= 0
        assert float(cpu) >= 0
    timed, end = load.read_times(times, start)
    assert end == times.stat().st_size
    assert {name: t["count"] for name, t in timed.items()} == {"get_view": 2, "healthz": 1}
    assert set(timed["get_view"]) >= {"cpu_p50_ms", "wall_p90_ms", "wall_max_ms"}
    assert load.read_times(tmp_path / "none.txt", 0) == ({}, 0)


def test_without_the_file_named_a_server_is_not_timed(tmp_path: Path) -> None:
    """The hook acts only in a process given `LOAD_READ_TIMES` and the `serve` argument."""
    hook = str(ROOT / "benchmarks" / "read_timing")
    probe = "import fastapi.routing as r; print(r.run_in_threadpool.__module__)"
    for extra, argv in (({}, ["serve"]), ({"LOAD_READ_TIMES": str(tmp_path / "t")}, [])):
        env = {**os.environ, "PYTHONPATH": hook, **extra}
        argv_probe = [sys.executable, "-c", probe, *argv]
        done = subprocess.run(argv_probe, env=env, capture_output=True, text=True, check=True)
        assert done.stdout.strip() == "starlette.concurrency"
    env = {**os.environ, "PYTHONPATH": hook, "LOAD_READ_TIMES": str(tmp_path / "t")}
    done = subprocess.run(
        [sys.executable, "-c", probe, "serve"], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "sitecustomize"
