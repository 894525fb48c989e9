"""Stored telemetry records are keyed by upload (``telemetry_records`` keyed by
``batch_digest`` and ``position`` instead of the record's hash; docs/adr/0051).

Revision ID: 0015
Revises: 0014

Keyed by hash, a line two uploads shared was stored once, under the upload that stored it
first: the other's evidence lacked it, and dropping the first's rows (its attempt failed)
dropped it for both. Keyed by upload, each upload owns its rows. The key's index replaces
``ix_telemetry_records_batch``; nothing looks rows up by hash.

The table is rebuilt (SQLite cannot change a primary key in place), its rows kept. Two rows
at one upload and position (left by an attempt that crashed, then a retry verified against
other chain heads) keep one, the first in hash order. Lines a batch lacked under the old key
(stored under another upload's digest, or dropped with it) are not recovered here. A store
created at 0002 or later by this code already has the key, and is left as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TABLE = "telemetry_records"
_KEY = ["batch_digest", "position"]
_COPY = {
    "telemetry_records_0014": (
        "INSERT INTO telemetry_records (hash, chip_id, seq, batch_digest, position, line) "
        "SELECT hash, chip_id, seq, batch_digest, position, line FROM telemetry_records_0014 "
        "WHERE true ORDER BY batch_digest, position, hash ON CONFLICT DO NOTHING"
    ),
    "telemetry_records_0015": (
        "INSERT INTO telemetry_records (hash, chip_id, seq, batch_digest, position, line) "
        "SELECT hash, chip_id, seq, batch_digest, position, line FROM telemetry_records_0015 "
        "WHERE true ORDER BY batch_digest, position, hash ON CONFLICT DO NOTHING"
    ),
}
"""Copy the rows of the table set aside into the new one, the first of any that share its key
(``WHERE true``: SQLite would read ``ON`` after a bare ``FROM`` as a join's)."""


def _key() -> list[str]:
    return list(sa.inspect(op.get_bind()).get_pk_constraint(_TABLE)["constrained_columns"])


def _set_aside(name: str) -> None:
    """Rename the table to ``name``; on PostgreSQL its primary key's name too, which the
    table that replaces it takes (SQLite renames its key's index with the table)."""
    key = sa.inspect(op.get_bind()).get_pk_constraint(_TABLE)["name"]
    op.rename_table(_TABLE, name)
    if op.get_bind().dialect.name == "postgresql" and key:
        op.execute(f'ALTER TABLE {name} RENAME CONSTRAINT "{key}" TO {name}_pkey')


def _copy_from(name: str) -> None:
    """Copy the rows of the table set aside as ``name`` (see :data:`_COPY`), then drop it."""
    op.execute(_COPY[name])
    op.drop_table(name)


def upgrade() -> None:
    if _key() == _KEY:
        return
    from pausewatch.store._views import telemetry_records

    _set_aside(f"{_TABLE}_0014")
    telemetry_records.create(bind=op.get_bind())
    _copy_from(f"{_TABLE}_0014")


def downgrade() -> None:
    if _key() == ["hash"]:
        return
    _set_aside(f"{_TABLE}_0015")
    op.create_table(
        _TABLE,
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("chip_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("batch_digest", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_telemetry_records_batch", _TABLE, ["batch_digest", "position"])
    # Keyed by hash again: a line several uploads stored is kept once, under one of them.
    _copy_from(f"{_TABLE}_0015")
