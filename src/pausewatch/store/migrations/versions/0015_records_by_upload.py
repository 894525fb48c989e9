"""Stored telemetry records are keyed by upload (``telemetry_records`` keyed by
``operator_id``, ``batch_digest`` and ``position`` instead of the record's hash;
docs/adr/0051).

Revision ID: 0015
Revises: 0014

Keyed by hash, a line two uploads shared was stored once, under the upload that stored it
first: the other's evidence lacked it, and dropping the first's rows (its attempt failed)
dropped it for both. Keyed by upload, each upload owns its rows. An upload is an operator's
bytes: two operators' identical bytes are two batches (``tel_submissions``), each accepting its
own chips' records, so the operator is part of the key. The key's index replaces
``ix_telemetry_records_batch``; nothing looks rows up by hash.

The table is rebuilt (SQLite cannot change a primary key in place), its rows kept, each under
the operator of the first batch (lowest log index in ``tel_submissions``) integrated with its
digest: under the old key the rows of a digest are those its first stored upload left, and a
later batch of the same bytes from another operator had none of its own (it stays without:
lines a batch lacked under the old key are not recovered here). A batch whose entry was durable
but not yet folded when the store stopped (a crash between the two) has no ``tel_submissions``
row yet: its digest's rows go to the operator of the first such entry of the digest past the
fold (``state_meta``'s ``applied``), read from ``log_entries``. Rows of a digest that neither an
integrated batch nor an entry past the fold has are dropped: an attempt that died before its
entry left them, and its retry stores its own. Two rows at one upload and position (left by an
attempt that crashed, then a retry verified against other chain heads) keep one, the first in
hash order. A store created at 0002 or later by this code already has the key, and is left as
it is.

The upgrade resumes: on SQLite the rename and the create are committed as they run (sqlite3
runs them outside the migration's transaction), so one stopped during the copy (killed, the
disk full) leaves the old rows in ``telemetry_records_0014``; the next upgrade finds that
table, rebuilds the new one and copies again. The downgrade resumes from
``telemetry_records_0015`` in the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TABLE = "telemetry_records"
_KEY = ["operator_id", "batch_digest", "position"]
_UP = f"{_TABLE}_0014"
_DOWN = f"{_TABLE}_0015"
_COPY = {
    _UP: (
        "INSERT INTO telemetry_records "
        "(operator_id, batch_digest, position, hash, chip_id, seq, line) "
        "SELECT s.operator_id, r.batch_digest, r.position, r.hash, r.chip_id, r.seq, r.line "
        "FROM (SELECT batch_digest, min(idx) AS idx FROM tel_submissions "
        "GROUP BY batch_digest) m "
        "JOIN tel_submissions s ON s.batch_digest = m.batch_digest AND s.idx = m.idx "
        "JOIN telemetry_records_0014 r ON r.batch_digest = m.batch_digest "
        "WHERE true ORDER BY s.operator_id, r.batch_digest, r.position, r.hash "
        "ON CONFLICT DO NOTHING"
    ),
    _DOWN: (
        "INSERT INTO telemetry_records (hash, chip_id, seq, batch_digest, position, line) "
        "SELECT hash, chip_id, seq, batch_digest, position, line FROM telemetry_records_0015 "
        "WHERE true ORDER BY batch_digest, position, hash ON CONFLICT DO NOTHING"
    ),
}
"""Copy the rows of the table set aside into the new one, the first of any that share its key
(``WHERE true``: SQLite would read ``ON`` after a bare ``FROM`` as a join's). Up: each row
under the operator of the first batch integrated with its digest, none where there is none.
The first batch of each digest is found once (``m``: one pass over ``tel_submissions``,
grouped), then joined to the rows by the old table's index on ``batch_digest``: a subquery per
row would read the submissions once for each row (``tel_submissions`` has no index on the
digest alone), minutes on a large store."""


_UNFOLDED = (
    "INSERT INTO telemetry_records "
    "(operator_id, batch_digest, position, hash, chip_id, seq, line) "
    "SELECT :operator, r.batch_digest, r.position, r.hash, r.chip_id, r.seq, r.line "
    "FROM telemetry_records_0014 r WHERE r.batch_digest = :digest "
    "AND NOT EXISTS (SELECT 1 FROM tel_submissions s WHERE s.batch_digest = r.batch_digest) "
    "ORDER BY r.position, r.hash ON CONFLICT DO NOTHING"
)
"""Copy the rows of a digest no folded batch has under the operator of its first batch on the
log past the fold (:func:`_unfolded_batches`); one digest at a time (a crash leaves few)."""

_BATCH_KIND = "telemetry.batch/v1"


def _unfolded_batches() -> dict[str, str]:
    """Per digest, the operator of its first ``telemetry.batch/v1`` entry on the log that the
    views have not folded (at or past ``state_meta``'s ``applied``): a batch whose entry was
    durable when the store stopped, before its fold. Its retry would find it integrated once
    folded, so its rows are its evidence. Only entries past the fold are read."""
    bind = op.get_bind()
    if not {"log_entries", "state_meta"} <= _tables():
        return {}
    applied = bind.execute(sa.text("SELECT value FROM state_meta WHERE key = 'applied'")).scalar()
    entries = bind.execute(
        sa.text(
            "SELECT data FROM log_entries WHERE idx >= :applied ORDER BY idx"
        ).execution_options(stream_results=True, yield_per=64),
        {"applied": int(applied) if applied is not None else 0},
    )
    first: dict[str, str] = {}
    for (data,) in entries:
        raw = bytes(data)
        if _BATCH_KIND.encode() not in raw:
            continue
        try:
            statement = json.loads(raw)["statement"]  # {"integrated_at": ..., "statement": ...}
            body = statement["body"]
            operator, digest = body["operator_id"], body["submission"]["body"]["batch_digest"]
        except (ValueError, KeyError, TypeError):
            continue
        kind = statement.get("kind")
        if kind == _BATCH_KIND and isinstance(operator, str) and isinstance(digest, str):
            first.setdefault(digest, operator)
    return first


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _key() -> list[str]:
    return list(sa.inspect(op.get_bind()).get_pk_constraint(_TABLE)["constrained_columns"])


def _set_aside(name: str) -> None:
    """Rename the table to ``name``; on PostgreSQL its primary key's name too, which the
    table that replaces it takes (SQLite renames its key's index with the table)."""
    key = sa.inspect(op.get_bind()).get_pk_constraint(_TABLE)["name"]
    op.rename_table(_TABLE, name)
    if op.get_bind().dialect.name == "postgresql" and key:
        op.execute(f'ALTER TABLE {name} RENAME CONSTRAINT "{key}" TO {name}_pkey')


def _copy_to_new(aside: str, create: Callable[[], None]) -> None:
    """Create the table anew (``create``) and copy into it the rows of the table set aside as
    ``aside`` (see :data:`_COPY`), then drop that. A table of the new shape already there was
    created by a run that stopped before its copy was done: it goes, and the copy goes again,
    whole."""
    if _TABLE in _tables():
        op.drop_table(_TABLE)
    create()
    op.execute(_COPY[aside])
    if aside == _UP:
        for digest, operator in _unfolded_batches().items():
            op.get_bind().execute(sa.text(_UNFOLDED), {"operator": operator, "digest": digest})
    op.drop_table(aside)


def _create_keyed_by_upload() -> None:
    from pausewatch.store._views import telemetry_records

    telemetry_records.create(bind=op.get_bind())


def _create_keyed_by_hash() -> None:
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


def upgrade() -> None:
    if _UP not in _tables():  # else an upgrade stopped during its copy: it resumes
        if _key() == _KEY:
            return
        _set_aside(_UP)
    _copy_to_new(_UP, _create_keyed_by_upload)


def downgrade() -> None:
    if _DOWN not in _tables():  # else a downgrade stopped during its copy: it resumes
        if _key() == ["hash"]:
            return
        _set_aside(_DOWN)
    # Keyed by hash again: a line several uploads stored is kept once, under one of them.
    _copy_to_new(_DOWN, _create_keyed_by_hash)
