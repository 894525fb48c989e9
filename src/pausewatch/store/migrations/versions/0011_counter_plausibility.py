"""The counters' plausibility (docs/adr/0033): per chip model, the compute and tensor-active
time of each cluster-day's busy windows (``det_cluster_days.busy_flop``, ``busy_tensor_ms``:
JSON objects keyed by the catalogue's model name).

Revision ID: 0011
Revises: 0010

Existing rows read as no busy window counted (``{}`` and ``{}``), and ``pausewatch state rebuild``
leaves them so: the fold reads each batch's logged aggregate, and batches logged before this
release carry neither figure (a day folded from such batches alone is not tested).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TABLE = "det_cluster_days"


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(_TABLE)}


def upgrade() -> None:
    # A store created at 0002 or later from this code already has them (0002 creates every
    # view table as the code defines it).
    have = _columns()
    if "busy_flop" not in have:
        op.add_column(
            _TABLE, sa.Column("busy_flop", sa.Text(), nullable=False, server_default="{}")
        )
    if "busy_tensor_ms" not in have:
        op.add_column(
            _TABLE,
            sa.Column("busy_tensor_ms", sa.Text(), nullable=False, server_default="{}"),
        )


def downgrade() -> None:
    have = _columns()
    with op.batch_alter_table(_TABLE) as batch:
        for name in ("busy_tensor_ms", "busy_flop"):
            if name in have:
                batch.drop_column(name)
