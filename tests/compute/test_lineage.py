"""Lineage totals: per-phase sums, own compute, cumulative compute along the base chain."""

from __future__ import annotations

import pytest

from pausewatch.compute import (
    ZERO,
    Estimate,
    LineageRun,
    Method,
    Phase,
    lineage_totals,
)
from pausewatch.errors import ComputeError


def flop(x: float) -> Estimate:
    return Estimate.relative(x, 0.1, Method.DECLARED)


RUNS = [
    LineageRun("r1", "base", None, Phase.PRETRAINING, flop(1e24)),
    LineageRun("r2", "base", None, Phase.HYPERPARAMETER_SEARCH, flop(1e22)),
    LineageRun("r3", "chat", "base", Phase.FINE_TUNING, flop(1e22)),
    LineageRun("r4", "chat", "base", Phase.RL, flop(2e22)),
    LineageRun("r5", "agent", "chat", Phase.RL, flop(5e22)),
]


def test_per_phase_and_own_totals() -> None:
    """A model's own compute is the sum of its runs, reported per phase (zero where none)."""
    base = lineage_totals(RUNS)["base"]
    assert base.by_phase[Phase.PRETRAINING].value == pytest.approx(1e24)
    assert base.by_phase[Phase.HYPERPARAMETER_SEARCH].value == pytest.approx(1e22)
    assert base.by_phase[Phase.RL] == ZERO
    assert base.own.value == pytest.approx(1.01e24)
    assert base.runs == ("r1", "r2")


def test_cumulative_includes_the_whole_base_chain() -> None:
    """Cumulative compute adds every ancestor's own compute, nearest first in ``ancestors``."""
    totals = lineage_totals(RUNS)
    agent = totals["agent"]
    assert agent.ancestors == ("chat", "base")
    assert agent.own.value == pytest.approx(5e22)
    assert agent.cumulative.value == pytest.approx(5e22 + 3e22 + 1.01e24)
    assert agent.cumulative.low == pytest.approx(0.9 * agent.cumulative.value)
    assert totals["base"].cumulative == totals["base"].own


def test_ancestor_without_runs_is_listed_as_missing() -> None:
    """A base model with no recorded runs adds nothing and is named in missing_ancestors."""
    totals = lineage_totals([LineageRun("r1", "ft", "open-weights", Phase.FINE_TUNING, flop(1e21))])
    assert totals["ft"].missing_ancestors == ("open-weights",)
    assert totals["ft"].cumulative.value == pytest.approx(1e21)
    assert "open-weights" not in totals


def test_cycle_refused() -> None:
    """Two models that are each other's base are a ComputeError naming the cycle."""
    runs = [
        LineageRun("r1", "a", "b", Phase.FINE_TUNING, flop(1.0)),
        LineageRun("r2", "b", "a", Phase.FINE_TUNING, flop(1.0)),
    ]
    with pytest.raises(ComputeError, match="lineage cycle: a -> b -> a"):
        lineage_totals(runs)


def test_own_base_refused() -> None:
    """A model cannot be its own base."""
    with pytest.raises(ComputeError, match="cannot be its own base"):
        LineageRun("r1", "a", "a", Phase.FINE_TUNING, flop(1.0))


def test_unknown_phase_refused() -> None:
    """A phase outside pretraining / fine_tuning / rl / hyperparameter_search is refused."""
    with pytest.raises(ComputeError, match="unknown phase 'distillation'"):
        LineageRun("r1", "a", None, "distillation", flop(1.0))  # type: ignore[arg-type]


def test_phase_names_are_accepted() -> None:
    """A phase given by name (any case) becomes the Phase."""
    assert LineageRun("r1", "a", None, "RL", flop(1.0)).phase is Phase.RL  # type: ignore[arg-type]


def test_duplicate_run_refused() -> None:
    """The same run id twice would double-count and is refused."""
    with pytest.raises(ComputeError, match="given twice"):
        lineage_totals([RUNS[0], RUNS[0]])


def test_two_bases_refused() -> None:
    """Runs of one model naming two different base models are refused."""
    runs = [
        LineageRun("r1", "m", "a", Phase.FINE_TUNING, flop(1.0)),
        LineageRun("r2", "m", "b", Phase.RL, flop(1.0)),
    ]
    with pytest.raises(ComputeError, match="two base models"):
        lineage_totals(runs)


def test_empty_input_gives_no_totals() -> None:
    """No runs give no totals."""
    assert dict(lineage_totals([])) == {}


def test_total_json() -> None:
    """A total's JSON form names every phase."""
    data = lineage_totals(RUNS)["chat"].to_json()
    assert set(data["by_phase"]) == {p.value for p in Phase}
    assert data["ancestors"] == ["base"]
