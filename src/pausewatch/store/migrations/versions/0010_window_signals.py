"""Per cluster, the signals of its sampled chips' latest windows (``tel_signals``; docs/adr/0032).

Revision ID: 0010
Revises: 0009

Creates the table only where a store lacks it (a fresh store gets it from 0002, which creates
every view table). Like every view, it can be rebuilt from the log.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TABLES = ("tel_signals",)


def upgrade() -> None:
    from pausewatch.store._views import metadata

    tables = [metadata.tables[name] for name in _TABLES]
    metadata.create_all(bind=op.get_bind(), tables=tables, checkfirst=True)


def downgrade() -> None:
    from pausewatch.store._views import metadata

    tables = [metadata.tables[name] for name in _TABLES]
    metadata.drop_all(bind=op.get_bind(), tables=tables, checkfirst=True)
