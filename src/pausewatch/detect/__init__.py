"""Detecting defection (issue 16): independent sources of truth, balances, sequential tests and
inspection sampling.

    meter.certify/v1, meter.install/v1, meter.reading/v1     facility meters, hash-chained readings
    chip.ship/v1, chip.export/v1                             the supply chain (and chip.transfer)
    inspector.register/v1, inspection.plan/v1, .report/v1    inspectors and inspections
    workload.declare/v1                                      declared non-training work

The statements and their fold: docs/adr/0025-independent-sources.md.
"""

from pausewatch.detect._statements import (
    DETECT_KINDS,
    Activity,
    ChipExport,
    ChipSeen,
    ChipShip,
    InspectionPlan,
    InspectionReport,
    InspectorRegister,
    MeterCertify,
    MeterInstall,
    MeterReading,
    OnSiteReading,
    SealState,
    SeedRule,
    WorkloadDeclare,
    WorkloadKind,
    next_reading,
    reading_digest,
)

__all__ = [
    "DETECT_KINDS",
    "Activity",
    "ChipExport",
    "ChipSeen",
    "ChipShip",
    "InspectionPlan",
    "InspectionReport",
    "InspectorRegister",
    "MeterCertify",
    "MeterInstall",
    "MeterReading",
    "OnSiteReading",
    "SealState",
    "SeedRule",
    "WorkloadDeclare",
    "WorkloadKind",
    "next_reading",
    "reading_digest",
]
