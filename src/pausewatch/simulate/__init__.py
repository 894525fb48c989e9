"""Simulations for tests, benchmarks and demonstrations; deterministic from a seed.

Public API::

    simulate_fleet(clusters, *, windows, seed=0, window_s=60, start=DEFAULT_START,
                   misbehaviour=NONE, catalogue=None) -> Fleet
    demo_clusters(chips, *, operator_id="operator-1") -> tuple[ClusterSpec, ...]
    chip_private_key(seed, index) -> Ed25519PrivateKey
    batches(fleet) -> Iterator[(upload time, lines)]
    adversarial_traces(kind, *, chips, windows, seed=0, ...) -> {chip id: signed lines}

Types: :class:`ClusterSpec`, :class:`Workload`, :class:`Misbehaviour`, :class:`SimChip`,
:class:`Fleet`, :class:`GroundTruth`, :class:`AdversarialKind` (training disguised as
something else, :mod:`.adversarial`).
"""

from __future__ import annotations

from pausewatch.simulate.adversarial import AdversarialKind, adversarial_traces
from pausewatch.simulate.fleet import (
    DEFAULT_START,
    FALLBACK_TDP_W,
    MEMORY_BYTES,
    NONE,
    ClusterSpec,
    Fleet,
    GroundTruth,
    Misbehaviour,
    SimChip,
    Workload,
    batches,
    chip_private_key,
    demo_clusters,
    simulate_fleet,
)
from pausewatch.simulate.world import FleetWorld, fleet_world

__all__ = [
    "DEFAULT_START",
    "FALLBACK_TDP_W",
    "MEMORY_BYTES",
    "NONE",
    "AdversarialKind",
    "ClusterSpec",
    "Fleet",
    "FleetWorld",
    "GroundTruth",
    "Misbehaviour",
    "SimChip",
    "Workload",
    "adversarial_traces",
    "batches",
    "chip_private_key",
    "demo_clusters",
    "fleet_world",
    "simulate_fleet",
]
