"""Lift conditions: the pause's conditions for lifting, tested on the state's figures."""

from __future__ import annotations

from collections.abc import Iterable

from pausewatch.policy._findings import ConditionResult
from pausewatch.policy._model import Comparison, Condition, Fact


def check_conditions(
    conditions: Iterable[Condition], state: dict[Fact, float]
) -> tuple[ConditionResult, ...]:
    """Each condition tested on ``state``; an unknown figure fails its condition."""
    results: list[ConditionResult] = []
    for cond in conditions:
        actual = state.get(cond.fact)
        if actual is None:
            held = False
        elif cond.op is Comparison.GE:
            held = actual >= cond.value
        elif cond.op is Comparison.GT:
            held = actual > cond.value
        elif cond.op is Comparison.LE:
            held = actual <= cond.value
        elif cond.op is Comparison.LT:
            held = actual < cond.value
        else:
            held = actual == cond.value
        results.append(ConditionResult(cond, actual, held))
    return tuple(results)


__all__ = ["check_conditions"]
