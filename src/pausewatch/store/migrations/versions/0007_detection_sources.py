"""Detection's independent sources of truth (docs/adr/0025): meters and their readings
(``det_meters``, ``det_meter_readings``, ``det_meter_gaps``), the supply chain
(``det_chip_movements``, ``det_shipments``, ``det_exports``), inspectors and inspections
(``det_inspectors``, ``det_inspection_plans``, ``det_inspection_reports``) and declared
non-training work (``det_workloads``).

Revision ID: 0007
Revises: 0006

Creates only the tables a store lacks (a fresh store gets them from 0002, which creates every
view table). Like every view, they can be rebuilt from the log; a store that held sales before
this release gains their ``chip_movements`` rows on ``pausewatch state rebuild``.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = (
    "det_meters",
    "det_meter_readings",
    "det_meter_gaps",
    "det_chip_movements",
    "det_shipments",
    "det_exports",
    "det_inspectors",
    "det_inspection_plans",
    "det_inspection_reports",
    "det_workloads",
)


def upgrade() -> None:
    from pausewatch.store._views import metadata

    tables = [metadata.tables[name] for name in _TABLES]
    metadata.create_all(bind=op.get_bind(), tables=tables, checkfirst=True)


def downgrade() -> None:
    from pausewatch.store._views import metadata

    tables = [metadata.tables[name] for name in _TABLES]
    metadata.drop_all(bind=op.get_bind(), tables=tables, checkfirst=True)
