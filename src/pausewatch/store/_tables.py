"""Table definitions (SQLAlchemy Core). The schema itself is created by Alembic migrations."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    literal_column,
)

metadata = MetaData()

log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("dedup_key", LargeBinary(32), nullable=True),
    Column("integrated_us", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Index("ux_log_entries_dedup_key", "dedup_key", unique=True),
)
"""One row per log entry: its index, leaf hash, integration time and canonical bytes."""

LEAF_PREFIX_BYTES = 8
"""Bytes of the leaf hash that its lookup index keys on (migrations 0014 and 0016; ADR 0049)."""

LEAF_PREFIX = func.substr(
    log_entries.c.leaf_hash, literal_column("1"), literal_column(str(LEAF_PREFIX_BYTES))
)
"""The indexed expression, with its bounds as literals: an engine matches a query to an
expression index only when the query spells the expression the same way."""

LEAF_BLOCK_BITS = 18
"""The leaf-hash lookup index is partitioned into blocks of ``2**LEAF_BLOCK_BITS`` entries
(migration 0016; ADR 0053): appends write into the newest block's part of the index only, whose
size is bounded, and a lookup probes every block."""

LEAF_BLOCK = log_entries.c.idx.op(">>")(literal_column(str(LEAF_BLOCK_BITS)))
"""The block of an entry, as the index spells it: an engine uses an expression index only for
a query that spells the expression the same way (``(idx >> 18)`` on both engines)."""

Index("ix_log_entries_leaf_block", LEAF_BLOCK, LEAF_PREFIX)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)
"""The hash of every complete subtree: ``2**level`` leaves starting at ``idx * 2**level``."""

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)
"""Every checkpoint the log signed, as its signed note."""

log_cosignatures = Table(
    "log_cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(255), primary_key=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
)
"""Witness cosignatures (tlog-cosignature/v1 signature lines) on the log's checkpoints."""

log_meta = Table(
    "log_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
"""The log's identity (origin, verifier key), fixed at creation."""

log_handoff = Table(
    "log_handoff",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("payload", LargeBinary, nullable=False),
    Column("dedup_key", LargeBinary(32), nullable=False),
    Column("submitted_us", BigInteger, nullable=False),
    Column("replica", String(255), nullable=False),
    Column("idx", BigInteger, nullable=True),
    Column("duplicate", Boolean, nullable=True),
    Column("error", Text, nullable=True),
    Column("resolved_us", BigInteger, nullable=True),
    Index("ix_log_handoff_pending", "resolved_us", "id"),
)
"""Submissions a replica that does not sequence hands to the one that does (ADR 0047): a row
is pending until the sequencer writes back the entry's index (``idx``, ``duplicate``) or the
reason it failed (``error``), both with ``resolved_us``."""

witness_logs = Table(
    "witness_logs",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)
"""A witness's record of the latest checkpoint it cosigned for each log origin."""
