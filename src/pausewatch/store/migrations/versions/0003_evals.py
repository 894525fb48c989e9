"""The evaluation views: evaluators (``ev_evaluators``), adopted suites (``ev_suites``) and
signed results (``ev_results``); and each telemetry batch's part of a run
(``tel_run_batches``), the history of its measured compute.

Revision ID: 0003
Revises: 0002

Creates only the tables a store at 0002 lacks (a fresh store gets them from 0002, which creates
every view table). Like every view, they can be rebuilt from the log.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLES = ("ev_evaluators", "ev_suites", "ev_results", "tel_run_batches")


def upgrade() -> None:
    from pausewatch.store._views import metadata

    tables = [metadata.tables[name] for name in _TABLES]
    metadata.create_all(bind=op.get_bind(), tables=tables, checkfirst=True)


def downgrade() -> None:
    from pausewatch.store._views import metadata

    tables = [metadata.tables[name] for name in _TABLES]
    metadata.drop_all(bind=op.get_bind(), tables=tables, checkfirst=True)
