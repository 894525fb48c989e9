"""The fold of the whole log: every domain's handlers, composed above the domains.

Each domain package exports how its statements fold (``HANDLERS``): the registry its own kinds
(parties, operators, chips, runs, policies, telemetry), governance its proposals, votes,
decisions and witnesses, evaluations their evaluators, suites and results, transcripts their
commitments, replays and verdicts. This module, above all of them, composes the one table the
service, ``state rebuild`` and ``audit`` fold with, and hands the governance fold what it needs
from above (the state figures a lift is checked against), so that every package imports only
what lies below it (house style, rule 12).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from pausewatch.detect._fold import HANDLERS as DETECTION_HANDLERS
from pausewatch.evals._fold import HANDLERS as EVALUATION_HANDLERS
from pausewatch.governance._fold import HANDLERS as GOVERNANCE_HANDLERS
from pausewatch.governance._witnesses import HANDLERS as WITNESS_HANDLERS
from pausewatch.policy import Policy
from pausewatch.registry import Registry
from pausewatch.registry._fold import HANDLERS as REGISTRY_HANDLERS
from pausewatch.registry._fold import Handler
from pausewatch.state._facts import facts_from_registry
from pausewatch.transcript._fold import HANDLERS as TRANSCRIPT_HANDLERS


def _compose(*tables: Mapping[str, Handler]) -> dict[str, Handler]:
    composed: dict[str, Handler] = {}
    for table in tables:
        clash = sorted(set(composed) & set(table))
        if clash:
            raise ValueError(f"two domains fold the same kinds: {', '.join(clash)}")
        composed.update(table)
    return composed


HANDLERS: Mapping[str, Handler] = _compose(
    REGISTRY_HANDLERS,
    GOVERNANCE_HANDLERS,
    WITNESS_HANDLERS,
    EVALUATION_HANDLERS,
    DETECTION_HANDLERS,
    TRANSCRIPT_HANDLERS,
)
"""Every kind that changes a view, and how it folds."""


def lift_state(registry: Registry, at: datetime, policy: Policy) -> Mapping[Any, float]:
    """The state figures lift conditions test at ``at`` (the facts' ``state``)."""
    return facts_from_registry(registry, at, policy).state


def new_registry(
    secretariat: Iterable[str], *, roots: Callable[[int], bytes] | None = None
) -> Registry:
    """An empty fold of the whole log: every domain's handlers, the lift state from the facts.
    ``roots`` gives the log's root at a size (to check recorded witness cosignatures)."""
    return Registry(frozenset(secretariat), roots=roots, handlers=HANDLERS, lift_state=lift_state)


__all__ = ["HANDLERS", "lift_state", "new_registry"]
