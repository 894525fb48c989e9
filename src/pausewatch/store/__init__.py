"""Storage: SQLAlchemy 2 engines (SQLite by default, PostgreSQL by URL) and Alembic migrations."""

from pausewatch.store._engine import make_engine, sqlite_url, table_names, upgrade
from pausewatch.store._full import storage_full
from pausewatch.store._kept import CheckpointFile, fsync_dir
from pausewatch.store._tables import (
    LEAF_BLOCK,
    LEAF_BLOCK_BITS,
    LEAF_PREFIX,
    LEAF_PREFIX_BYTES,
    log_checkpoints,
    log_cosignatures,
    log_entries,
    log_handoff,
    log_meta,
    log_nodes,
    metadata,
    witness_logs,
)

__all__ = [
    "LEAF_BLOCK",
    "LEAF_BLOCK_BITS",
    "LEAF_PREFIX",
    "LEAF_PREFIX_BYTES",
    "CheckpointFile",
    "fsync_dir",
    "log_checkpoints",
    "log_cosignatures",
    "log_entries",
    "log_handoff",
    "log_meta",
    "log_nodes",
    "make_engine",
    "metadata",
    "sqlite_url",
    "storage_full",
    "table_names",
    "upgrade",
    "witness_logs",
]
