"""The leaf-hash lookup index is partitioned by block of entries (issue 19 §5;
docs/adr/0053-partitioned-leaf-index.md): ``ix_log_entries_leaf_block`` on
``(idx >> 18, substr(leaf_hash, 1, 8))`` replaces ``ix_log_entries_leaf_prefix`` on the prefix
alone (0014).

Revision ID: 0016
Revises: 0015

Keyed on the prefix alone, every appended entry wrote into a random page of an index that grew
with the log, so the work per entry grew with the log (ADR 0049). Keyed first on the entry's
block of 2**18 entries, an append writes only into the newest block's part of the index, whose
size is bounded; a lookup probes each block with both columns equal. The index is built from
the stored entries (one sort of the entries' blocks and prefixes): an existing log reads as
before. The downgrade builds 0014's index again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_OLD = "ix_log_entries_leaf_prefix"
_NEW = "ix_log_entries_leaf_block"
# Spelled as pausewatch.store.LEAF_BLOCK and LEAF_PREFIX are, so that queries match the index;
# fixed here, as a migration is, rather than read from the code that may change after it.
_BLOCK = "(idx >> 18)"
_PREFIX = "substr(leaf_hash, 1, 8)"


def _indexes() -> set[str]:
    # Reflection skips expression indexes on SQLite: ask the catalogue.
    bind = op.get_bind()
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log_entries'"
        if bind.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = 'log_entries' "
        "AND schemaname = current_schema()"
    )
    return {str(name) for name in bind.execute(sa.text(sql)).scalars()}


def upgrade() -> None:
    have = _indexes()
    if _NEW not in have:
        op.create_index(_NEW, "log_entries", [sa.text(_BLOCK), sa.text(_PREFIX)])
    if _OLD in have:
        op.drop_index(_OLD, table_name="log_entries")


def downgrade() -> None:
    have = _indexes()
    if _OLD not in have:
        op.create_index(_OLD, "log_entries", [sa.text(_PREFIX)])
    if _NEW in have:
        op.drop_index(_NEW, table_name="log_entries")
