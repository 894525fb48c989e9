"""Compute totals along a model's lineage: its own runs per phase, and its ancestors' too.

A policy that counts "training" as pre-training, fine-tuning, RL and large hyper-parameter
searches (MIRI 2025 draft agreement), or that compares a modification with "the original
training compute" (EU AI Act GPAI guidelines), needs each model's compute by phase and the
cumulative compute of the chain of base models it was derived from. Totals add interval bounds
(a conservative interval, see :meth:`pausewatch.compute.Estimate.__add__`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pausewatch.compute._estimate import ZERO, Estimate, total
from pausewatch.errors import ComputeError


class Phase(StrEnum):
    """The phases of training a policy may count (DESIGN, "Run declaration")."""

    PRETRAINING = "pretraining"
    FINE_TUNING = "fine_tuning"
    RL = "rl"
    HYPERPARAMETER_SEARCH = "hyperparameter_search"


def parse_phase(name: str | Phase) -> Phase:
    """The :class:`Phase` for a name (case-insensitive); unknown names are a ComputeError."""
    try:
        return Phase(str(name).lower())
    except ValueError as exc:
        known = ", ".join(p.value for p in Phase)
        raise ComputeError(f"unknown phase {name!r}; known: {known}") from exc


@dataclass(frozen=True, slots=True)
class LineageRun:
    """One training run of one model, with the model it started from (if any)."""

    run_id: str
    """The declared run's id; each run is counted once."""
    model: str
    """The model this run trains."""
    base_model: str | None
    """The model whose weights it started from; ``None`` for training from scratch."""
    phase: Phase
    """Which phase of training this run is (a name is accepted and checked)."""
    compute: Estimate
    """The run's compute."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", parse_phase(self.phase))
        if not self.run_id or not self.model:
            raise ComputeError(
                f"a lineage run needs a run_id and a model, got run_id={self.run_id!r}, "
                f"model={self.model!r}"
            )
        if self.base_model == self.model:
            raise ComputeError(
                f"run {self.run_id}: model {self.model!r} cannot be its own base model"
            )


@dataclass(frozen=True, slots=True)
class LineageTotal:
    """One model's compute: its own runs by phase, and cumulatively with all its ancestors."""

    model: str
    """The model."""
    base_model: str | None
    """Its immediate base model, if any."""
    ancestors: tuple[str, ...]
    """The base chain, nearest first (base, base's base, ...)."""
    runs: tuple[str, ...]
    """Ids of the model's own runs."""
    by_phase: Mapping[Phase, Estimate]
    """The model's own compute per phase (every phase present, ``ZERO`` where none)."""
    own: Estimate
    """The model's own compute: the sum over its phases."""
    cumulative: Estimate
    """Own compute plus every ancestor's own compute."""
    missing_ancestors: tuple[str, ...]
    """Ancestors with no recorded runs: their compute is unknown and not in ``cumulative``."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "model": self.model,
            "base_model": self.base_model,
            "ancestors": list(self.ancestors),
            "runs": list(self.runs),
            "by_phase": {p.value: e.to_json() for p, e in self.by_phase.items()},
            "own": self.own.to_json(),
            "cumulative": self.cumulative.to_json(),
            "missing_ancestors": list(self.missing_ancestors),
        }


def _bases(runs: list[LineageRun]) -> dict[str, str | None]:
    """Each model's base, as its runs name it (runs naming none leave it open; two is an error)."""
    bases: dict[str, str | None] = {}
    for run in runs:
        current = bases.get(run.model)
        if run.base_model is None:
            bases.setdefault(run.model, None)
        elif current is None:
            bases[run.model] = run.base_model
        elif current != run.base_model:
            raise ComputeError(
                f"model {run.model!r} has two base models: expected one, got "
                f"{current!r} and {run.base_model!r} (run {run.run_id})"
            )
    return bases


def _chain(model: str, bases: Mapping[str, str | None]) -> tuple[str, ...]:
    """The ancestors of ``model``, nearest first; a cycle is a ComputeError."""
    chain: list[str] = []
    seen = {model}
    current = bases.get(model)
    while current is not None:
        if current in seen:
            path = " -> ".join([model, *chain, current])
            raise ComputeError(f"lineage cycle: {path}")
        chain.append(current)
        seen.add(current)
        current = bases.get(current)
    return tuple(chain)


def lineage_totals(runs: Iterable[LineageRun]) -> Mapping[str, LineageTotal]:
    """Per-model totals (by phase, own, cumulative with ancestors) for every model with runs.

    A run id given twice, two different base models for one model, or a cycle in the base chain
    is a ComputeError. An ancestor without runs contributes nothing and is listed in
    ``missing_ancestors``.
    """
    run_list = list(runs)
    ids: set[str] = set()
    for run in run_list:
        if run.run_id in ids:
            raise ComputeError(f"run {run.run_id!r} is given twice; each run counts once")
        ids.add(run.run_id)
    bases = _bases(run_list)

    own: dict[str, Estimate] = {}
    phases: dict[str, dict[Phase, Estimate]] = {}
    run_ids: dict[str, list[str]] = {}
    for run in run_list:
        per_phase = phases.setdefault(run.model, dict.fromkeys(Phase, ZERO))
        per_phase[run.phase] = per_phase[run.phase] + run.compute
        run_ids.setdefault(run.model, []).append(run.run_id)
    for model, per_phase in phases.items():
        own[model] = total(tuple(per_phase.values()))

    totals: dict[str, LineageTotal] = {}
    for model in phases:
        ancestors = _chain(model, bases)
        known = [a for a in ancestors if a in own]
        missing = tuple(a for a in ancestors if a not in own)
        totals[model] = LineageTotal(
            model=model,
            base_model=bases.get(model),
            ancestors=ancestors,
            runs=tuple(run_ids[model]),
            by_phase=MappingProxyType(phases[model]),
            own=own[model],
            cumulative=total((own[model], *(own[a] for a in known))),
            missing_ancestors=missing,
        )
    return MappingProxyType(totals)
