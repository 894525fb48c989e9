"""Replicas on one PostgreSQL (issue 19; docs/adr/0047-replicas.md): the hand-off table
(``log_handoff``) through which a replica that does not sequence passes its submissions to the
one that does.

Revision ID: 0013
Revises: 0012

Rows are transient (each is deleted once its replica has read the answer); a store without the
table gets an empty one.
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from pausewatch.store._tables import metadata

    metadata.create_all(
        bind=op.get_bind(), tables=[metadata.tables["log_handoff"]], checkfirst=True
    )


def downgrade() -> None:
    op.drop_table("log_handoff")
