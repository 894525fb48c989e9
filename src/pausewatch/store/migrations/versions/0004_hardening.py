"""Views added by the hardening release: log entries the fold could not read
(``reg_unreadable``), the log's registered witnesses (``gov_witnesses``) and their cosignatures
recorded on the log (``gov_witness_cosignatures``).

Revision ID: 0004
Revises: 0003

Creates only the tables a store at 0003 lacks (a fresh store gets them from 0002, which creates
every view table). Like every view, they can be rebuilt from the log.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("reg_unreadable", "gov_witnesses", "gov_witness_cosignatures")


def upgrade() -> None:
    from pausewatch.store._views import metadata

    tables = [metadata.tables[name] for name in _TABLES]
    metadata.create_all(bind=op.get_bind(), tables=tables, checkfirst=True)


def downgrade() -> None:
    from pausewatch.store._views import metadata

    tables = [metadata.tables[name] for name in _TABLES]
    metadata.drop_all(bind=op.get_bind(), tables=tables, checkfirst=True)
