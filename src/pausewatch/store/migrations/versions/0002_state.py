"""The registry's views (``reg_*``), telemetry views (``tel_*``) and records
(``telemetry_records``), and the fold's position (``state_meta``).

Revision ID: 0002
Revises: 0001

The views can always be rebuilt from the log (``pausewatch state rebuild``), so a later change to
them may drop and recreate these tables and refold instead of migrating rows.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from pausewatch.store._views import metadata

    metadata.create_all(bind=op.get_bind())


def downgrade() -> None:
    from pausewatch.store._views import metadata

    metadata.drop_all(bind=op.get_bind())
