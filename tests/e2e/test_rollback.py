"""Fault injection on a real `pausewatch serve` and its real database (SQLite file, PostgreSQL
database): an older copy restored, the newest rows deleted, a stored subtree hash altered.

The log refuses to start on a database behind the checkpoint it kept in its data directory, with
one line that says what happened and how to recover; `pausewatch audit` names an altered stored
subtree hash (ADR 0014).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from conftest import Process, free_port, run_cli
from pausewatch.client import PausewatchClient
from pausewatch.statements import load_key, sign_statement
from pausewatch.store import make_engine

pytestmark = pytest.mark.slow


class Store:
    """The database a served log runs on, and how to copy it back and forth."""

    def __init__(self, db_url: str, data_dir: Path, snapshots: Path) -> None:
        self.db_url = db_url
        self.data_dir = data_dir
        self.snapshots = snapshots
        self.sqlite = not db_url.startswith("postgresql")
        self.url = str(data_dir / "pausewatch.db") if self.sqlite else db_url

    def serve_args(self) -> list[str]:
        """The options `pausewatch serve` needs beyond --data-dir and --port."""
        return [] if self.sqlite else ["--database-url", self.db_url]

    def audit_args(self) -> list[str]:
        """The options that point `pausewatch audit` at this store."""
        return (
            ["--data-dir", str(self.data_dir)] if self.sqlite else ["--database-url", self.db_url]
        )

    def _pg(self, *statements: str) -> None:
        import psycopg

        base = self.db_url.rsplit("/", 1)[0]
        admin = base.replace("postgresql+psycopg://", "postgresql://", 1) + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            for s in statements:
                conn.execute(s)  # type: ignore[arg-type]

    def snapshot(self) -> None:
        """Copy the database aside (the service is stopped)."""
        if self.sqlite:
            self.snapshots.mkdir()
            for f in self.data_dir.glob("pausewatch.db*"):
                shutil.copy2(f, self.snapshots / f.name)
        else:
            name = self.db_url.rsplit("/", 1)[1]
            self._pg(f'CREATE DATABASE "{name}_snap" TEMPLATE "{name}"')

    def restore(self) -> None:
        """Put the older copy back in place of the database (the service is stopped)."""
        if self.sqlite:
            for f in self.data_dir.glob("pausewatch.db*"):
                f.unlink()
            for f in self.snapshots.iterdir():
                shutil.copy2(f, self.data_dir / f.name)
        else:
            name = self.db_url.rsplit("/", 1)[1]
            self._pg(
                f'DROP DATABASE "{name}" WITH (FORCE)',
                f'CREATE DATABASE "{name}" TEMPLATE "{name}_snap"',
                f'DROP DATABASE "{name}_snap"',
            )

    def execute(self, *statements: str, **params: Any) -> None:
        """Run SQL on the database, as someone with access to it might."""
        engine = make_engine(f"sqlite+pysqlite:///{self.url}" if self.sqlite else self.url)
        try:
            with engine.begin() as conn:
                for s in statements:
                    conn.execute(text(s), params)
        finally:
            engine.dispose()


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Store:
    """The database of a log served from ``tmp_path/log``, on each backend."""
    return Store(db_url, tmp_path / "log", tmp_path / "snapshot")


def submit(url: str, first: int, count: int, data_dir: Path) -> None:
    """Submit ``count`` notices signed by the log's secretariat (only registered keys may write
    notices, ADR 0015), each acknowledged once durable."""
    key = load_key(data_dir / "keys", "secretariat")
    with PausewatchClient(url) as client:
        for i in range(first, first + count):
            assert client.submit(sign_statement("notice/v1", {"title": f"n{i}"}, key))["index"] == i


def run_log(start_log: Callable[..., Process], store: Store, first: int, count: int) -> None:
    """Start the log on the store, submit, stop it cleanly."""
    server = start_log(store.data_dir, *store.serve_args())
    submit(server.url, first, count, store.data_dir)
    server.stop()


def refused_start(store: Store, *extra: str) -> str:
    """Start `pausewatch serve` and expect it to refuse: exit 1, one line on stderr."""
    res = run_cli(
        "serve",
        "--data-dir",
        str(store.data_dir),
        "--port",
        str(free_port()),
        *store.serve_args(),
        *extra,
        timeout=60,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def test_restored_older_database_is_refused(start_log: Any, store: Store) -> None:
    """An older copy of the database restored in place of the newer one: the service refuses to
    start, says the database is behind the checkpoint it signed and how to recover, and starts
    again once the newer copy is back."""
    run_log(start_log, store, 0, 3)
    store.snapshot()
    run_log(start_log, store, 3, 2)
    newer = store.data_dir.parent / "newer"
    if store.sqlite:
        newer.mkdir()
        for f in store.data_dir.glob("pausewatch.db*"):
            shutil.copy2(f, newer / f.name)
    store.restore()
    line = refused_start(store)
    assert "holds 3 entries" in line
    assert "already signed a checkpoint of size 5" in line
    assert "rolled back or truncated" in line
    assert "restore the newest copy of the database" in line
    if store.sqlite:
        for f in store.data_dir.glob("pausewatch.db*"):
            f.unlink()
        for f in newer.iterdir():
            shutil.copy2(f, store.data_dir / f.name)
        server = start_log(store.data_dir)
        submit(server.url, 5, 1, store.data_dir)


def test_a_database_restored_with_its_data_directory_is_refused_by_the_witnesses(
    start_log: Any, start_witness: Any, store: Store, tmp_path: Path
) -> None:
    """The database and the data directory's kept checkpoint restored together from one older
    backup agree with each other: only the witness knows that the log went further. The
    service asks it before it sequences, and refuses to start with one line (ADR 0063)."""
    made = run_cli("keys", "new", "pausewatch.local/log", "--data-dir", str(store.data_dir))
    assert made.returncode == 0, made.stderr
    log_key = (store.data_dir / "keys" / "pausewatch.local_log.pub").read_text().strip()
    _, line, _ = start_witness("witness.one.example/w", log_key)
    roster = tmp_path / "roster.txt"
    roster.write_text(line + "\n")

    def witnessed_size(url: str) -> str:
        """The size line of the newest checkpoint the witness cosigned, as the log serves it."""
        note = httpx.get(url + "/checkpoint", params={"witnessed": "true"}).text
        return [*note.split("\n"), "", ""][1]

    def run_witnessed(first: int, count: int) -> None:
        server = start_log(store.data_dir, *store.serve_args(), "--witnesses", str(roster))
        submit(server.url, first, count, store.data_dir)
        size = str(first + count)
        deadline = time.monotonic() + 30
        while witnessed_size(server.url) != size:
            assert time.monotonic() < deadline, f"checkpoint {size} was not cosigned"
            time.sleep(0.1)
        server.stop()

    run_witnessed(0, 3)
    store.snapshot()
    kept = (store.data_dir / "checkpoint").read_text()
    run_witnessed(3, 2)
    store.restore()
    (store.data_dir / "checkpoint").write_text(kept)

    line = refused_start(store, "--witnesses", str(roster))
    assert "holds 3 entries" in line
    assert "witness witness.one.example/w" in line
    assert "cosigned a checkpoint of size 5" in line
    assert "restore the newest copy of the database" in line


def test_truncated_database_is_refused(start_log: Any, store: Store) -> None:
    """The newest entries, their subtree hashes and checkpoints deleted from the database: the
    service refuses to start."""
    run_log(start_log, store, 0, 6)
    store.execute(
        "DELETE FROM log_entries WHERE idx >= :n",
        "DELETE FROM log_nodes WHERE ((idx + 1) << level) > :n",
        "DELETE FROM log_checkpoints WHERE size > :n",
        "DELETE FROM log_cosignatures WHERE size > :n",
        n=4,
    )
    line = refused_start(store)
    assert "holds 4 entries" in line
    assert "already signed a checkpoint of size 6" in line


def test_unsafe_override_starts_a_rolled_back_log_and_audit_catches_the_fork(
    start_log: Any, store: Store, tmp_path: Path
) -> None:
    """With --unsafe-trust-database the rolled-back log starts (warning of a fork); an auditor
    holding the checkpoint signed before the rollback finds the log inconsistent with it."""
    run_log(start_log, store, 0, 2)
    store.snapshot()
    server = start_log(store.data_dir, *store.serve_args())
    submit(server.url, 2, 2, store.data_dir)
    held = tmp_path / "held.txt"
    with PausewatchClient(server.url) as client:
        held.write_text(client.checkpoint())
    server.stop()
    store.restore()
    forked = start_log(store.data_dir, *store.serve_args(), "--unsafe-trust-database")
    submit(forked.url, 2, 3, store.data_dir)
    assert "fork" in forked.log.read_text()
    log_key = (store.data_dir / "keys" / "pausewatch.local_log.pub").read_text().strip()
    res = run_cli(
        "audit", "--url", forked.url, "--log-key", log_key, "--checkpoint", str(held), "--json"
    )
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert any("checkpoint 4" in p and "differs" in p for p in report["problems"])


def test_audit_names_a_tampered_stored_subtree_hash(start_log: Any, store: Store) -> None:
    """A stored subtree hash inside the tree altered: `pausewatch audit` on the store fails and
    names its level and index; the honest store passes."""
    run_log(start_log, store, 0, 7)
    honest = run_cli("audit", *store.audit_args(), "--json")
    assert honest.returncode == 0, honest.stderr
    assert json.loads(honest.stdout)["stored_hashes_checked"] == 7 + 3 + 1
    store.execute("UPDATE log_nodes SET hash = :h WHERE level = 1 AND idx = 1", h=b"\x00" * 32)
    res = run_cli("audit", *store.audit_args())
    assert res.returncode == 1
    assert "stored subtree hash (level 1, index 1)" in res.stderr
