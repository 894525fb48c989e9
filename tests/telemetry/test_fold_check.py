"""Checking a telemetry batch keeps nothing for the next fold (docs/adr/0054): the audit checks
each batch before folding it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pausewatch.registry._fold import _TOTALS, _kept_totals
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.simulate import simulate_fleet
from pausewatch.state import new_registry, statement_of
from pausewatch.state._store import fold_entry

from .test_ingest import CLUSTERS, register, submission, ticking


def test_checking_a_batch_keeps_nothing(tmp_path: Path) -> None:
    """Registry.check runs a telemetry batch's handler on rows it never makes: what the fold
    kept for the rows it did make stays (the audit checks each batch before folding it, and its
    fold would otherwise read every run's row back); folding the batch then takes the kept
    totals and writes what a fold from the rows read back writes."""
    fleet = simulate_fleet(CLUSTERS, windows=2, seed=7)
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1, ingest_workers=0)
    service = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        operator = register(service, fleet)
        for window in fleet.windows:
            upload = b"".join(line + b"\n" for line in window)
            service.ingest_telemetry(upload, submission(upload, operator))
        entries = [service.log.entry(i) for i in range(service.log.size)]
        secretariat = service.state.secretariat
    finally:
        service.close()
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
