"""Compute accounting: hardware catalogue, estimators, counting rules, lineage totals, projection.

Everything here is pure: figures in, figures out, no clock, no files beyond the packaged
hardware catalogue. Decisions behind the figures: docs/adr/0004-flop-counting-and-hardware.md.
"""

from __future__ import annotations

from pausewatch.compute._counting import (
    PRECISION_BITS,
    CountingRule,
    Precision,
    count_flop,
    parse_precision,
    weight,
)
from pausewatch.compute._estimate import ZERO, Estimate, Method, total
from pausewatch.compute._estimators import (
    DEFAULT_UTILISATION,
    DENSE_REL_UNCERTAINTY,
    FLOP_PER_TOKEN_REL_UNCERTAINTY,
    MOE_REL_UNCERTAINTY,
    SECONDS_PER_DAY,
    UTILISATION_INTERVAL,
    estimate_architecture,
    estimate_hardware,
)
from pausewatch.compute._hardware import (
    H100E_FLOPS,
    Chip,
    HardwareCatalogue,
    Source,
    catalogue_from_mapping,
    catalogue_from_yaml,
    load_catalogue,
)
from pausewatch.compute._lineage import (
    LineageRun,
    LineageTotal,
    Phase,
    lineage_totals,
    parse_phase,
)
from pausewatch.compute._projection import (
    Crossing,
    project_crossing,
    rate_from_series,
    require_utc,
    t_quantile,
)
from pausewatch.compute._telemetry import (
    COUNTER_TOLERANCE,
    PLAUSIBLE_EFFICIENCY,
    TelemetryResult,
    counter_interval,
    estimate_telemetry,
)

__all__ = [
    "COUNTER_TOLERANCE",
    "DEFAULT_UTILISATION",
    "DENSE_REL_UNCERTAINTY",
    "FLOP_PER_TOKEN_REL_UNCERTAINTY",
    "H100E_FLOPS",
    "MOE_REL_UNCERTAINTY",
    "PLAUSIBLE_EFFICIENCY",
    "PRECISION_BITS",
    "SECONDS_PER_DAY",
    "UTILISATION_INTERVAL",
    "ZERO",
    "Chip",
    "CountingRule",
    "Crossing",
    "Estimate",
    "HardwareCatalogue",
    "LineageRun",
    "LineageTotal",
    "Method",
    "Phase",
    "Precision",
    "Source",
    "TelemetryResult",
    "catalogue_from_mapping",
    "catalogue_from_yaml",
    "count_flop",
    "counter_interval",
    "estimate_architecture",
    "estimate_hardware",
    "estimate_telemetry",
    "lineage_totals",
    "load_catalogue",
    "parse_phase",
    "parse_precision",
    "project_crossing",
    "rate_from_series",
    "require_utc",
    "t_quantile",
    "total",
    "weight",
]
