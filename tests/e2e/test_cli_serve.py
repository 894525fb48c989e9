"""`pausewatch serve` (and so `make run`) takes its listen address from the settings: the
``PAUSEWATCH_PORT`` and ``PAUSEWATCH_HOST`` environment variables when no option names one."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from conftest import Process, free_port, run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("demo", [False, True], ids=["serve", "serve --demo"])
def test_serve_listens_on_the_port_the_environment_names(
    tmp_path: Path, processes: list[Process], monkeypatch: pytest.MonkeyPatch, demo: bool
) -> None:
    """With no --port, `serve` (with or without --demo) listens on $PAUSEWATCH_PORT."""
    port = free_port()
    monkeypatch.setenv("PAUSEWATCH_PORT", str(port))
    monkeypatch.setenv("PAUSEWATCH_HOST", "127.0.0.1")
    args = ["serve", "--data-dir", str(tmp_path / "data")]
    if demo:
        args += ["--demo", "--demo-pace", "60"]
    p = Process(args, f"http://127.0.0.1:{port}", tmp_path / "serve.log").start(timeout=60)
    processes.append(p)
    # It answers on the port (start() waited for that); it also says so, a moment later for
    # --demo, which prints its address once the demo world's service is up.
    address = f"127.0.0.1:{port}"
    for _ in range(300):
        if address in p.log.read_text():
            break
        time.sleep(0.1)
    assert address in p.log.read_text()


def test_make_run_names_no_port_of_its_own() -> None:
    """The Makefile's `run` target leaves the port to the settings: no hard-coded --port."""
    recipe = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "pausewatch serve" in recipe
    assert not re.search(r"--port|--host|8080", recipe)


def test_serve_refuses_a_replica_id_on_sqlite(tmp_path: Path) -> None:
    """`serve --replica-id` on the SQLite default exits 1 with one line: replicas share a
    PostgreSQL database (ADR 0047)."""
    done = run_cli("serve", "--data-dir", str(tmp_path / "data"), "--replica-id", "a")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "PostgreSQL" in lines[0]
