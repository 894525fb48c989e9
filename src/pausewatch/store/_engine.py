"""Database engines (SQLite by default, PostgreSQL by URL) and schema migrations.

SQLite runs in WAL mode with ``synchronous=FULL`` so that a committed transaction survives a
crash of the process or the machine: the log acknowledges an entry only after that commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from pausewatch.errors import ConfigurationError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


WAL_AUTOCHECKPOINT_PAGES = 16_384
"""SQLite pages the WAL holds before it is copied back into the database (64 MiB)."""


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite+pysqlite:///{path}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    # Each durable batch of the log writes pages all over its random-key indexes; copying the
    # WAL back after every 1,000 pages (the default) copies the same hot pages again and again.
    # Checkpointing every 64 MiB copies each once per checkpoint; commits stay as durable
    # (ADR 0049).
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _create(url: URL, **kwargs: Any) -> Engine:
    # An unknown driver ("sqlite+nodriver") or one that is not installed ("postgresql+psycopg2")
    # is a configuration error too, not a crash with an import error.
    try:
        return create_engine(url, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise ConfigurationError(
            f"database URL {url.render_as_string(hide_password=True)!r}: {exc}"
        ) from exc


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and full synchronous commits."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"database URL: cannot parse {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = _create(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return _create(parsed, pool_pre_ping=True, pool_size=10)
    raise ConfigurationError(
        f"database URL: expected sqlite or postgresql, got {parsed.get_backend_name()!r}"
    )


def _alembic_config() -> Config:
    # Alembic is imported where a schema is migrated, not by every process that only reads a
    # store's names (its import is a tenth of a second: docs/adr/0055-lazy-cli.md).
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration."""
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def table_names(engine: Engine) -> list[str]:
    """Tables that exist in the database (for checks and tests)."""
    return sorted(inspect(engine).get_table_names())
