"""State: the fold of the log into SQL views, resumed, advanced and rebuilt.

Public API::

    StateStore(engine, secretariat_keys)   .catch_up(log), .rebuild(log), .check(statement, at)
    RebuildReport                          entries folded, rows per view, differences
    dump_view(engine, view)                a view's rows in primary-key order
    VIEW_TABLES                            each view's SQL table (``reg_*``, ``tel_*``)
    facts_from_registry(registry, at, policy) the views as policy facts (accounting)
    evaluated(registry, at, policy)        those facts and the policy evaluated over them
    RegistrySnapshot, ChainHeads           the registry and chain heads as telemetry reads them
    EntryNames, names_in(data)             the kind and signer each entry names (the log page)
"""

from pausewatch.state._facts import (
    DEFAULT_SILENCE,
    classified_clusters,
    dark_chips,
    declared_workloads,
    evaluated,
    facts_from_registry,
    halt_orders,
    run_patterns,
    silence_limit,
)
from pausewatch.state._fold import new_registry
from pausewatch.state._store import (
    EntryNames,
    RebuildReport,
    StateStore,
    dump_view,
    isolate_unreadable,
    names_in,
    statement_of,
)
from pausewatch.state._tables import VIEW_TABLES, state_meta
from pausewatch.state._telemetry import ChainHeads, RegistrySnapshot

__all__ = [
    "DEFAULT_SILENCE",
    "VIEW_TABLES",
    "ChainHeads",
    "EntryNames",
    "RebuildReport",
    "RegistrySnapshot",
    "StateStore",
    "classified_clusters",
    "dark_chips",
    "declared_workloads",
    "dump_view",
    "evaluated",
    "facts_from_registry",
    "halt_orders",
    "isolate_unreadable",
    "names_in",
    "new_registry",
    "run_patterns",
    "silence_limit",
    "state_meta",
    "statement_of",
]
