"""Telemetry uploads are deduplicated per operator (``tel_submissions`` keyed by operator and
digest), and a batch's rejections are counted per rule (``tel_batches.rejected_by_rule``).

Revision ID: 0005
Revises: 0004

A store created at 0002 or later already has both (0002 creates every view table as the code
defines it); one made before gets them here, its rows kept: each submission's operator is its
batch's. Like every view, both can be rebuilt from the log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    if "rejected_by_rule" not in _columns("tel_batches"):
        op.add_column("tel_batches", sa.Column("rejected_by_rule", sa.Text(), nullable=True))
    if "operator_id" in _columns("tel_submissions"):
        return
    op.create_table(
        "tel_submissions_0005",
        sa.Column("operator_id", sa.String(128), primary_key=True),
        sa.Column("batch_digest", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO tel_submissions_0005 (operator_id, batch_digest, idx) "
        "SELECT b.operator_id, s.batch_digest, s.idx FROM tel_submissions s "
        "JOIN tel_batches b ON b.idx = s.idx"
    )
    op.drop_table("tel_submissions")
    op.rename_table("tel_submissions_0005", "tel_submissions")


def downgrade() -> None:
    if "operator_id" in _columns("tel_submissions"):
        op.create_table(
            "tel_submissions_0003",
            sa.Column("batch_digest", sa.String(64), primary_key=True),
            sa.Column("idx", sa.BigInteger(), nullable=False),
        )
        # One row per digest: the batch integrated first.
        op.execute(
            "INSERT INTO tel_submissions_0003 (batch_digest, idx) "
            "SELECT batch_digest, min(idx) FROM tel_submissions GROUP BY batch_digest"
        )
        op.drop_table("tel_submissions")
        op.rename_table("tel_submissions_0003", "tel_submissions")
    if "rejected_by_rule" in _columns("tel_batches"):
        with op.batch_alter_table("tel_batches") as batch:
            batch.drop_column("rejected_by_rule")
