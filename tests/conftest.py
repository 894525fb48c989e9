"""Shared fixtures: databases on both backends, and the log's signing key.

Databases
    ``postgres_server`` (session)
        Starts a throwaway PostgreSQL cluster for the whole test session and yields its base URL
        ``postgresql+psycopg://postgres@127.0.0.1:PORT`` (no database name). The cluster lives in
        a temporary directory, listens on 127.0.0.1 on a free port (its unix socket sits in that
        directory) and trusts every local connection; it is stopped and removed at the end of the
        session. PostgreSQL refuses to run as root, so under root the server runs as the
        ``postgres`` system user; otherwise as the current user. The binaries are looked up on
        PATH, then under ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package). When
        they are missing or the server does not start, tests that need it are skipped with the
        reason -- except under ``CI=true``, where they fail: CI must run every test.
    ``pg_url``
        A URL of a fresh, empty PostgreSQL database (``CREATE DATABASE`` per test, dropped with
        ``WITH (FORCE)`` after it, so connections a test leaves open do not block the drop).
    ``sqlite_db_url``
        A URL of a fresh SQLite file under the test's ``tmp_path``.
    ``db_url``
        Parametrized over ``sqlite`` and ``postgresql`` (the latter marked ``postgres``): a test
        that takes it runs once on each backend. The PostgreSQL server is started only when a
        ``postgresql`` case actually runs.
    ``engine``
        An engine on ``db_url`` with the schema migrated to head; disposed afterwards.
    ``pg_engine``
        The same on ``pg_url`` alone (what only PostgreSQL does).

Keys
    ``log_signer``
        A fresh Ed25519 log key named ``test.example/log``.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import settings
from sqlalchemy import Engine

from pausewatch.ledger import Signer
from pausewatch.store import make_engine, sqlite_url, upgrade

# Telemetry is verified in worker processes by default on a machine with more than one core:
# which path a test took depended on the machine. Tests take the in-process path unless they
# name ingest_workers (the worker path has tests of its own, and the key ingest tests run on
# both); PAUSEWATCH_INGEST_WORKERS=N in the environment runs the rest through workers too.
os.environ.setdefault("PAUSEWATCH_INGEST_WORKERS", "0")

# No per-example deadline: a pause of the machine (the other test worker, the CI runner's
# neighbours) must not fail a property. Tests never assert on timings; a property that hangs is
# stopped by the suite's own timeout.
settings.register_profile("pausewatch", deadline=None)
settings.load_profile("pausewatch")

PG_USER = "postgres"
_db_counter = itertools.count()


def _unavailable(reason: str) -> NoReturn:
    """Skip (locally) or fail (under CI=true) a test whose PostgreSQL server is unavailable."""
    message = f"PostgreSQL not available: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _pg_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: PATH first, then Debian's versioned dirs."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    return candidates[-1].parent if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Cluster:
    """A throwaway cluster in ``root``, run as ``user`` (None: the current user)."""

    def __init__(self, bindir: Path, root: Path, user: str | None) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.user = user
        self.port = 0

    def run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / tool), *args]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        # cwd: the server's user may not be allowed into the directory pytest runs from.
        return subprocess.run(
            cmd, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False
        )

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def start(self) -> None:
        init = self.run(
            "initdb", "-D", str(self.data), "-U", PG_USER, "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr.strip()[-2000:]}")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# pausewatch test cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "max_connections = 200\n"
            )
        errors = []
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = _free_port()
            started = self.run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                "-o", f"-p {self.port}", "start",
            )  # fmt: skip
            if started.returncode == 0:
                return
            errors.append(f"{started.stderr.strip()} {self.log_tail()}".strip())
        raise RuntimeError(f"pg_ctl start failed: {errors[-1]}")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URL (no database) of a throwaway PostgreSQL server for this test session."""
    bindir = _pg_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        _unavailable("no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
    user: str | None = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam(PG_USER)
        except KeyError:
            _unavailable(f"running as root and there is no {PG_USER!r} system user to run it as")
        if shutil.which("runuser") is None:
            _unavailable("running as root and runuser is missing")
        user = PG_USER
    root = Path(tempfile.mkdtemp(prefix="pausewatch-pg-"))
    cluster = _Cluster(bindir, root, user)
    try:
        if user is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
        root.chmod(0o700)
        try:
            cluster.start()
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            _unavailable(str(exc))
        yield f"postgresql+psycopg://{PG_USER}@127.0.0.1:{cluster.port}"
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database created for this test (dropped afterwards)."""
    import psycopg

    label = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40].strip("_")
    name = f"t{next(_db_counter):04d}_{label}"
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server}/{name}"
    # Dropping keeps the cluster small: its shutdown checkpoint need not write every test's data.
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_db_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite file in this test's temporary directory."""
    return sqlite_url(tmp_path / "pausewatch.db")


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL, once per backend (SQLite file, PostgreSQL database)."""
    fixture = "sqlite_db_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` with the schema migrated to head."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on a fresh PostgreSQL database with the schema migrated to head (tests of
    what only PostgreSQL does: replicas' locks and hand-off)."""
    eng = make_engine(pg_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def log_signer() -> Signer:
    """A fresh log key named ``test.example/log``."""
    return Signer.generate("test.example/log")
