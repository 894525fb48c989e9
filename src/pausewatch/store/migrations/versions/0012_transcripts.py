"""Training transcripts (issue 17; docs/adr/0038): commitments (``tr_transcripts``), checkpoint
digests (``tr_checkpoints``), audits' replays (``tr_replays``), owners (``tr_audits``) and
verdicts (``tr_verdicts``);
and the weights an evaluation result names (``ev_results.weights_digest``).

Revision ID: 0012
Revises: 0011

Creates only the tables a store lacks (a fresh store gets them from 0002, which creates every
view table). Like every view, they can be rebuilt from the log. Results logged before this
release name no weights (``weights_digest`` null), as they read.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TABLES = ("tr_transcripts", "tr_checkpoints", "tr_replays", "tr_audits", "tr_verdicts")
_RESULTS = "ev_results"


def _has_weights() -> bool:
    columns = sa.inspect(op.get_bind()).get_columns(_RESULTS)
    return any(c["name"] == "weights_digest" for c in columns)


def upgrade() -> None:
    from pausewatch.store._views import metadata

    tables = [metadata.tables[name] for name in _TABLES]
    metadata.create_all(bind=op.get_bind(), tables=tables, checkfirst=True)
    if not _has_weights():
        op.add_column(_RESULTS, sa.Column("weights_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    from pausewatch.store._views import metadata

    if _has_weights():
        with op.batch_alter_table(_RESULTS) as batch:
            batch.drop_column("weights_digest")
    tables = [metadata.tables[name] for name in _TABLES]
    metadata.drop_all(bind=op.get_bind(), tables=tables, checkfirst=True)
