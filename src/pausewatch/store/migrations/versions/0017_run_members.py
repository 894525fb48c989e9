"""A run's and a cluster's chips are views of their own (issue 19 §5;
docs/adr/0064-members-apart.md): ``tel_run_chips``, ``tel_run_clusters`` and
``tel_cluster_chips``, one row per member, in place of the JSON lists ``tel_runs.chips``,
``tel_runs.clusters`` and ``tel_clusters.chips``, which become counts (``chip_count``,
``cluster_count``).

Revision ID: 0017
Revises: 0016

The lists were written whole with every batch that named the run or the cluster: 1.5 MB a batch
for a run of 100,000 chips. A member's row is written once, when it first reports.

A store created at 0002 or later may already have the new tables and columns (0002 creates every
view table as the code defines it); one made before has the lists, which are moved here, each
row's members and counts exactly what the fold would have written. The downgrade writes the
lists back from the members.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ID = 128
# (table, key, list column, members table, member key, count column); fixed here, as a migration
# is, rather than read from the code that may change after it.
_SETS = (
    ("tel_runs", "run_id", "chips", "tel_run_chips", "chip_id", "chip_count"),
    ("tel_runs", "run_id", "clusters", "tel_run_clusters", "cluster_id", "cluster_count"),
    ("tel_clusters", "cluster_id", "chips", "tel_cluster_chips", "chip_id", "chip_count"),
)
_BATCH = 5000


def _tables() -> set[str]:
    return set(sa.inspect(op.get_bind()).get_table_names())


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    bind = op.get_bind()
    tables = _tables()
    for _, key, _, members, member_key, _ in _SETS:
        if members not in tables:
            op.create_table(
                members,
                sa.Column(key, sa.String(_ID), primary_key=True),
                sa.Column(member_key, sa.String(_ID), primary_key=True),
            )
    for table, key, listed, members, member_key, count in _SETS:
        if listed not in _columns(table):
            continue
        if count not in _columns(table):
            op.add_column(
                table, sa.Column(count, sa.BigInteger(), nullable=False, server_default="0")
            )
        into = sa.table(members, sa.column(key), sa.column(member_key))
        rows = sa.table(table, sa.column(key), sa.column(listed), sa.column(count))
        pending: list[dict[str, str]] = []
        for name, text in bind.execute(sa.select(rows.c[key], rows.c[listed])).all():
            ids = sorted(set(json.loads(text)))
            bind.execute(rows.update().where(rows.c[key] == name).values({count: len(ids)}))
            pending += [{key: name, member_key: m} for m in ids]
            if len(pending) >= _BATCH:
                bind.execute(into.insert(), pending)
                pending = []
        if pending:
            bind.execute(into.insert(), pending)
    for table in ("tel_runs", "tel_clusters"):
        lists = [s[2] for s in _SETS if s[0] == table and s[2] in _columns(table)]
        if lists:
            with op.batch_alter_table(table) as batch:
                for column in lists:
                    batch.drop_column(column)
                for count in (s[5] for s in _SETS if s[0] == table):
                    batch.alter_column(count, server_default=None)


def downgrade() -> None:
    bind = op.get_bind()
    for table, key, listed, members, member_key, _ in _SETS:
        if listed in _columns(table):
            continue
        op.add_column(table, sa.Column(listed, sa.Text(), nullable=False, server_default="[]"))
        ids: dict[str, list[str]] = {}
        held = sa.table(members, sa.column(key), sa.column(member_key))
        for name, member in bind.execute(sa.select(held.c[key], held.c[member_key])):
            ids.setdefault(name, []).append(member)
        rows = sa.table(table, sa.column(key), sa.column(listed))
        for name, listed_ids in ids.items():
            text = json.dumps(sorted(listed_ids), separators=(",", ":"))
            bind.execute(rows.update().where(rows.c[key] == name).values({listed: text}))
    for table in ("tel_runs", "tel_clusters"):
        counts = [s[5] for s in _SETS if s[0] == table and s[5] in _columns(table)]
        with op.batch_alter_table(table) as batch:
            for column in counts:
                batch.drop_column(column)
            for listed in (s[2] for s in _SETS if s[0] == table):
                batch.alter_column(listed, server_default=None)
    for _, _, _, members, _, _ in _SETS:
        if members in _tables():
            op.drop_table(members)
