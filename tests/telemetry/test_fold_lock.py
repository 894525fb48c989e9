"""A fold does not hold the state's lock while it writes and commits the views
(docs/adr/0048-ingest-workers.md), nor while it computes an entry's changes (docs/adr/0054):
readers of the views do not wait for the database or for the fold's computing."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pausewatch.registry import Registry
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.simulate import simulate_fleet
from pausewatch.state import StateStore, dump_view, new_registry, statement_of
from pausewatch.store import make_engine, sqlite_url, upgrade

from .test_ingest import CLUSTERS, register, submission, ticking


@contextmanager
def folding_apart(tmp_path: Path) -> Iterator[tuple[LogService, Path, StateStore, int]]:
    """A service with a fleet registered and one telemetry batch of it logged last, and a store
    to fold its entries from nothing into
    views of a database of its own (two folds may not write one database's views: ADR 0047):
    the service, that database's file, the store and how many chips the fleet has."""
    fleet = simulate_fleet(CLUSTERS, windows=1, seed=3)
    settings = Settings(
        data_dir=tmp_path,
        database_url=sqlite_url(tmp_path / "pausewatch.db"),
        batch_latency_ms=1,
        ingest_workers=0,
    )
    service = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        operator = register(service, fleet)
        upload = b"".join(line + b"\n" for window in fleet.windows for line in window)
        service.ingest_telemetry(upload, submission(upload, operator))  # the last entry
        views_db = tmp_path / "views.db"
        views = make_engine(sqlite_url(views_db))
        upgrade(views)
        try:
            store = StateStore(views, service.state.secretariat, for_rebuild=True)
            yield service, views_db, store, len(fleet.chips)
        finally:
            views.dispose()
    finally:
        service.close()


def test_readers_take_the_state_lock_while_a_fold_waits_for_the_database(
    tmp_path: Path,
) -> None:
    """A fold whose commit waits behind another connection's write transaction has folded
    the entries in memory, and the state's lock is free to readers meanwhile; once the
    database is free, the views reach it."""
    with folding_apart(tmp_path) as (service, views_db, store, chips):
        size = service.log.size
        blocker = sqlite3.connect(views_db, timeout=30, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the database's write lock, held
        failure: list[BaseException] = []

        def fold() -> None:
            try:
                store.catch_up(service.log)
            except BaseException as exc:  # pragma: no cover - reported below
                failure.append(exc)

        folding = threading.Thread(target=fold)
        folding.start()
        try:
            # Bounded, and over as soon as the fold fails or ends: then the asserts say why.
            deadline = time.monotonic() + 60
            while (
                store.registry.applied < size
                and not failure
                and folding.is_alive()
                and time.monotonic() < deadline
            ):
                time.sleep(0.01)
            assert not failure, failure
            assert store.registry.applied == size  # folded in memory, commit pending
            assert folding.is_alive()
            assert store.lock.acquire(timeout=5), "a reader waited for the fold's commit"
            store.lock.release()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
            folding.join(30)
        assert not failure
        assert not folding.is_alive()
        assert len(dump_view(store.engine, "chips")) == chips


def test_readers_take_the_state_lock_while_a_fold_computes_a_batchs_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fold computes what a telemetry batch changes (milliseconds) without the state's lock;
    readers take the lock meanwhile and see the views as they were before the batch; the fold
    then makes the changes. Every other kind is computed under the lock (a lift's decision
    computes the policy's facts, whose caches readers share under it). The views equal a fold
    of the log done entry by entry."""
    with folding_apart(tmp_path) as (service, _, store, _):
        size = service.log.size
        batch = size - 1
        computing, release = threading.Event(), threading.Event()
        locked: dict[str, set[bool]] = {}
        prepare = Registry.prepare

        def held(registry: Registry, index: int, at: Any, statement: Any) -> Any:
            owned = store.lock._is_owned()  # type: ignore[attr-defined]
            locked.setdefault(statement.kind, set()).add(owned)
            if index == batch:
                computing.set()
                assert release.wait(30)
            return prepare(registry, index, at, statement)

        monkeypatch.setattr(Registry, "prepare", held)
        folding = threading.Thread(target=store.catch_up, args=(service.log,))
        folding.start()
        try:
            assert computing.wait(30)
            assert store.lock.acquire(timeout=5), "a reader waited for the fold's computing"
            try:
                assert store.registry.applied == batch  # the batch's changes not made yet
            finally:
                store.lock.release()
        finally:
            release.set()
            folding.join(30)
        assert store.registry.applied == size
        assert locked.pop("telemetry.batch/v1") == {False}
        assert locked
        assert all(owned == {True} for owned in locked.values()), locked
        pure = new_registry(service.state.secretariat)
        for entry in service.log.entries_since(0):
            pure.apply(entry.index, entry.integrated_at, statement_of(entry))
        assert store.registry.views == pure.views
