"""Bounded appends (issue 19 §5; docs/adr/0049-bounded-work.md): the leaf-hash lookup index keys
on the first 8 bytes of the leaf hash (``ix_log_entries_leaf_prefix``) instead of all 32
(``ix_log_entries_leaf_hash``).

Revision ID: 0014
Revises: 0013

Leaf hashes are random, so every appended entry writes into a random page of that index; an
index of 8-byte keys has about half the pages of one of 32-byte keys, and the append path
dirties and reads fewer of them. The lookup compares the whole hash on the rows the prefix
finds, so it answers as before. The index is built from the stored entries: an existing log
reads as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_OLD = "ix_log_entries_leaf_hash"
_NEW = "ix_log_entries_leaf_prefix"


def _indexes() -> set[str]:
    return {str(ix["name"]) for ix in sa.inspect(op.get_bind()).get_indexes("log_entries")}


def upgrade() -> None:
    have = _indexes()
    if _NEW not in have:
        op.create_index(_NEW, "log_entries", [sa.text("substr(leaf_hash, 1, 8)")])
    if _OLD in have:
        op.drop_index(_OLD, table_name="log_entries")


def downgrade() -> None:
    have = _indexes()
    if _OLD not in have:
        op.create_index(_OLD, "log_entries", ["leaf_hash"])
    if _NEW in have:
        op.drop_index(_NEW, table_name="log_entries")
