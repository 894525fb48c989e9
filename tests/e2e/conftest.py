"""Real processes: the `pausewatch` CLI as a subprocess, serving on loopback ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

PAUSEWATCH = [sys.executable, "-m", "pausewatch.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `pausewatch ARGS` to completion."""
    return subprocess.run(
        [*PAUSEWATCH, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


class Process:
    """A long-running `pausewatch` command serving HTTP on a port."""

    def __init__(self, args: list[str], url: str, log: Path) -> None:
        self.args = args
        self.url = url
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str = "/healthz", timeout: float = 30) -> Process:
        fh = self.log.open("ab")
        self.proc = subprocess.Popen([*PAUSEWATCH, *self.args], stdout=fh, stderr=fh)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.args} exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + ready_path, timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.args} did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for p in started:
        p.stop()


@pytest.fixture
def start_log(tmp_path: Path, processes: list[Process]):  # type: ignore[no-untyped-def]
    """Start `pausewatch serve` on a data directory; returns the process."""

    def start(data_dir: Path, *extra: str, port: int | None = None) -> Process:
        port = port or free_port()
        p = Process(
            ["serve", "--data-dir", str(data_dir), "--port", str(port), *extra],
            f"http://127.0.0.1:{port}",
            tmp_path / f"serve-{port}.log",
        ).start()
        processes.append(p)
        return p

    return start


@pytest.fixture
def start_witness(tmp_path: Path, processes: list[Process]):  # type: ignore[no-untyped-def]
    """Start `pausewatch witness serve` under a new key ``name`` that trusts the log whose
    verifier key is ``log_key``; returns the process, its roster line (``<url> <cosignature
    verifier key>``) and that key."""

    def start(name: str, log_key: str) -> tuple[Process, str, str]:
        keys = tmp_path / "witness-keys"
        made = run_cli("keys", "new", name, "--keys-dir", str(keys))
        assert made.returncode == 0, made.stderr
        shown = run_cli("keys", "show", name, "--keys-dir", str(keys), "--json")
        assert shown.returncode == 0, shown.stderr
        cosigning = json.loads(shown.stdout)["cosignature_verifier_key"]
        port = free_port()
        logs = tmp_path / f"witness-{port}-logs.txt"
        logs.write_text(f"# trusted logs\n{log_key}\n")
        witness = Process(
            [
                "witness",
                "serve",
                "--key",
                name,
                "--keys-dir",
                str(keys),
                "--logs",
                str(logs),
                "--data-dir",
                str(tmp_path / f"witness-{port}"),
                "--port",
                str(port),
            ],
            f"http://127.0.0.1:{port}",
            tmp_path / f"witness-{port}.log",
        ).start()
        processes.append(witness)
        return witness, f"{witness.url} {cosigning}", cosigning

    return start
