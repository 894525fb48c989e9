"""Halt confirmation by chips (docs/adr/0020): a run declaration may name its chips
(``reg_runs.chip_ids``, JSON), and each chip's totals keep the end of its latest busy window
whatever run it named (``tel_chips.last_busy_end``).

Revision ID: 0006
Revises: 0005

Both columns are nullable and existing rows keep none: a run declared before names no chips,
and telemetry aggregated before did not keep the figure (a rebuild from the log gives the same,
since the entries' aggregates lack it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # A store created at 0002 or later from this code already has them (0002 creates every
    # view table as the code defines it).
    if "chip_ids" not in _columns("reg_runs"):
        op.add_column("reg_runs", sa.Column("chip_ids", sa.Text(), nullable=True))
    if "last_busy_end" not in _columns("tel_chips"):
        op.add_column("tel_chips", sa.Column("last_busy_end", sa.String(32), nullable=True))


def downgrade() -> None:
    if "last_busy_end" in _columns("tel_chips"):
        with op.batch_alter_table("tel_chips") as batch:
            batch.drop_column("last_busy_end")
    if "chip_ids" in _columns("reg_runs"):
        with op.batch_alter_table("reg_runs") as batch:
            batch.drop_column("chip_ids")
