"""Checking a telemetry batch keeps nothing for the next fold (docs/adr/0054): the audit checks
each batch before folding it."""

from __future__ import annotations

import pytest

from pausewatch.ledger import Entry
from pausewatch.registry._fold import _TOTALS, _kept_totals
from pausewatch.state import new_registry, statement_of
from pausewatch.state._store import fold_entry

from .test_ingest import logged_batches

Logged = tuple[list[Entry], frozenset[str]]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Logged:
    """A log a service filled, whose last entry is a batch, and the secretariat's keys."""
    return logged_batches(tmp_path_factory.mktemp("logged"), windows=2, seed=7)


def test_checking_a_batch_keeps_nothing(logged: Logged) -> None:
    """Registry.check runs a telemetry batch's handler on rows it never makes: what the fold
    kept for the rows it did make stays (the audit checks each batch before folding it, and its
    fold would otherwise read every run's row back); folding the batch then takes the kept
    totals and writes what a fold from the rows read back writes."""
    entries, secretariat = logged
    registry = new_registry(secretariat)
    for entry in entries[:-1]:
        fold_entry(registry, entry)
    last = statement_of(entries[-1])
    kept = {
        (view, key[0]): _kept_totals(view, key[0], row)
        for view in ("tel_chips", "tel_runs", "tel_clusters")
        for key, row in registry.views[view].items()
    }
    assert any(v is not None for v in kept.values())
    assert registry.check(last, entries[-1].integrated_at) is None
    after = {
        (view, key[0]): _kept_totals(view, key[0], row)
        for view in ("tel_chips", "tel_runs", "tel_clusters")
        for key, row in registry.views[view].items()
    }
    assert after == kept
    fold_entry(registry, entries[-1])
    fresh = new_registry(secretariat)
    _TOTALS.clear()
    for entry in entries:
        fold_entry(fresh, entry)
    for view in ("tel_chips", "tel_runs", "tel_clusters"):
        assert dict(registry.views[view]) == dict(fresh.views[view])


def test_checking_a_batch_keeps_no_signals_text(logged: Logged) -> None:
    """Registry.check runs a batch's handler, which writes each of its clusters' tel_signals
    text (some 100 kB a cluster) through SIGNALS_TEXT: a checking context must not keep those
    texts (rows never made), which would push out the texts of the rows the fold did make
    (a bound of 256) and hold dead ones: the fold would parse its own rows' signals again."""
    from pausewatch.telemetry._aggregate import SIGNALS_TEXT

    entries, secretariat = logged
    registry = new_registry(secretariat)
    for entry in entries[:-1]:
        fold_entry(registry, entry)
    last = statement_of(entries[-1])
    assert any(t.signals for t in last.body.aggregate_totals().clusters.values())  # type: ignore[attr-defined]
    with SIGNALS_TEXT._lock:
        before = {k: v[0] for k, v in SIGNALS_TEXT._by_id.items()}
    assert registry.check(last, entries[-1].integrated_at) is None
    with SIGNALS_TEXT._lock:
        after = {k: v[0] for k, v in SIGNALS_TEXT._by_id.items()}
    assert after.keys() == before.keys(), f"{len(after.keys() - before.keys())} texts kept"
    assert all(after[k] is before[k] for k in before)
