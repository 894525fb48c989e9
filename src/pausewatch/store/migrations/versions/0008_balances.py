"""Daily balances over the log (docs/adr/0029): a meter's stated overheads
(``det_meters.overhead_w``, ``overhead_ratio``, ``overhead_sigma``) and the chips' energy and
compute per cluster and UTC day (``det_cluster_days``).

Revision ID: 0008
Revises: 0007

The columns are nullable and existing rows keep none (read as the defaults: no overhead, 5%);
``det_cluster_days`` is filled by ``pausewatch state rebuild`` from the aggregates that carry
their days (batches logged before this release carry none).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COLUMNS = ("overhead_w", "overhead_ratio", "overhead_sigma")


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    from pausewatch.store._views import metadata

    # A store created at 0002 or later from this code already has them (0002 creates every
    # view table as the code defines it).
    have = _columns("det_meters")
    for name in _COLUMNS:
        if name not in have:
            op.add_column("det_meters", sa.Column(name, sa.Float(), nullable=True))
    metadata.create_all(
        bind=op.get_bind(), tables=[metadata.tables["det_cluster_days"]], checkfirst=True
    )


def downgrade() -> None:
    from pausewatch.store._views import metadata

    metadata.drop_all(
        bind=op.get_bind(), tables=[metadata.tables["det_cluster_days"]], checkfirst=True
    )
    have = _columns("det_meters")
    with op.batch_alter_table("det_meters") as batch:
        for name in _COLUMNS:
            if name in have:
                batch.drop_column(name)
