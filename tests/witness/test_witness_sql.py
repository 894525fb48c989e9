"""Witness state in SQL: persistence across restarts and the atomic compare-and-set under races."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pausewatch.ledger import Checkpoint, MerkleTree, Signer, sign_checkpoint
from pausewatch.store import make_engine, sqlite_url, upgrade
from pausewatch.witness import (
    CONTENT_TYPE_SIZE,
    MemoryWitnessStore,
    SqlWitnessStore,
    Witness,
    WitnessResponse,
    WitnessState,
    WitnessStore,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
ORIGIN = "example.org/pausewatch-log"


class FakeLog:
    """A log: a real Merkle tree and a real Ed25519 key named after its origin."""

    def __init__(self) -> None:
        self.signer = Signer.generate(ORIGIN)
        self.tree = MerkleTree(f"entry {i}".encode() for i in range(16))

    def note(self, size: int) -> str:
        return sign_checkpoint(Checkpoint(ORIGIN, size, self.tree.root(size)), self.signer)

    def body(self, old: int, size: int) -> bytes:
        proof = self.tree.consistency_proof(old, size) if old else []
        lines = [f"old {old}", *(base64.b64encode(p).decode() for p in proof)]
        return ("\n".join(lines) + "\n\n" + self.note(size)).encode()


class RacingStore:
    """Delegates to a store, but holds the first two reads until both have happened.

    Both racing requests therefore see the same old state and reach compare-and-set together.
    """

    def __init__(self, inner: WitnessStore) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(2, timeout=10)
        self.lock = threading.Lock()
        self.reads = 0

    def get(self, origin: str) -> WitnessState | None:
        state = self.inner.get(origin)
        with self.lock:
            self.reads += 1
            wait = self.reads <= 2
        if wait:
            self.barrier.wait()
        return state

    def compare_and_set(
        self, origin: str, expected: int, size: int, root: bytes, note: str, now: datetime
    ) -> bool:
        return self.inner.compare_and_set(origin, expected, size, root, note, now)


def _engine(path: Path) -> Engine:
    engine = make_engine(sqlite_url(path))
    upgrade(engine)
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = _engine(tmp_path / "witness.db")
    yield engine
    engine.dispose()


@pytest.fixture
def log() -> FakeLog:
    return FakeLog()


def _witness(log: FakeLog, store: WitnessStore, key: Signer | None = None) -> Witness:
    return Witness(
        key or Signer.generate("witness.example/w1"), {ORIGIN: [log.signer.verifier()]}, store
    )


def _race(witness: Witness, bodies: list[bytes]) -> list[WitnessResponse]:
    results: list[WitnessResponse | None] = [None] * len(bodies)

    def run(i: int) -> None:
        results[i] = witness.add_checkpoint(bodies[i], NOW)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_state_persists_across_restart(tmp_path: Path, log: FakeLog) -> None:
    """A new Witness over the same SQLite file remembers the latest cosigned checkpoint."""
    key = Signer.generate("witness.example/w1")
    first = _engine(tmp_path / "w.db")
    assert _witness(log, SqlWitnessStore(first), key).add_checkpoint(log.body(0, 4), NOW).ok
    first.dispose()
    second = _engine(tmp_path / "w.db")
    try:
        store = SqlWitnessStore(second)
        assert store.get(ORIGIN) == WitnessState(4, log.tree.root(4), log.note(4))
        witness = _witness(log, store, key)
        resp = witness.add_checkpoint(log.body(0, 9), NOW)
        assert (resp.status, resp.content_type, resp.body) == (409, CONTENT_TYPE_SIZE, "4\n")
        assert witness.add_checkpoint(log.body(4, 9), NOW).ok
        state = store.get(ORIGIN)
        assert state is not None
        assert state.size == 9
    finally:
        second.dispose()


@pytest.mark.parametrize("kind", ["sql", "memory"])
def test_compare_and_set(engine: Engine, kind: str) -> None:
    """CAS writes only when the recorded size (0 if none) is the expected one."""
    store: WitnessStore = SqlWitnessStore(engine) if kind == "sql" else MemoryWitnessStore()
    root = b"\x07" * 32
    assert store.get(ORIGIN) is None
    assert not store.compare_and_set(ORIGIN, 5, 6, root, "n6", NOW)
    assert store.compare_and_set(ORIGIN, 0, 3, root, "n3", NOW)
    assert not store.compare_and_set(ORIGIN, 0, 4, root, "n4", NOW)
    assert store.compare_and_set(ORIGIN, 3, 3, root, "n3b", NOW)
    assert store.compare_and_set(ORIGIN, 3, 10, root, "n10", NOW)
    assert store.get(ORIGIN) == WitnessState(10, root, "n10")
    assert store.get("other") is None


def test_sql_cas_size_zero_record(engine: Engine) -> None:
    """A recorded size-0 checkpoint is updated (not re-inserted) by a CAS expecting 0."""
    store = SqlWitnessStore(engine)
    assert store.compare_and_set(ORIGIN, 0, 0, b"\x00" * 32, "n0", NOW)
    assert store.compare_and_set(ORIGIN, 0, 2, b"\x02" * 32, "n2", NOW)
    assert store.get(ORIGIN) == WitnessState(2, b"\x02" * 32, "n2")


@pytest.mark.parametrize("kind", ["sql", "memory"])
def test_race_growth_one_wins(engine: Engine, log: FakeLog, kind: str) -> None:
    """Two requests racing from the same old size: one gets 200, the other 409 with its size."""
    inner: WitnessStore = SqlWitnessStore(engine) if kind == "sql" else MemoryWitnessStore()
    assert _witness(log, inner).add_checkpoint(log.body(0, 4), NOW).ok
    witness = _witness(log, RacingStore(inner))
    results = _race(witness, [log.body(4, 6), log.body(4, 11)])
    assert sorted(r.status for r in results) == [200, 409]
    winner = 6 if results[0].ok else 11
    (loser,) = [r for r in results if not r.ok]
    assert (loser.content_type, loser.body) == (CONTENT_TYPE_SIZE, f"{winner}\n")
    state = inner.get(ORIGIN)
    assert state is not None
    assert state.size == winner


def test_race_first_insert_one_wins(engine: Engine, log: FakeLog) -> None:
    """Two first checkpoints (old 0) racing on an empty SQL store: exactly one is recorded."""
    inner = SqlWitnessStore(engine)
    witness = _witness(log, RacingStore(inner))
    results = _race(witness, [log.body(0, 3), log.body(0, 5)])
    assert sorted(r.status for r in results) == [200, 409]
    winner = 3 if results[0].ok else 5
    (loser,) = [r for r in results if not r.ok]
    assert loser.body == f"{winner}\n"
    state = inner.get(ORIGIN)
    assert state is not None
    assert state.size == winner


def test_many_racers_sql(engine: Engine, log: FakeLog) -> None:
    """Eight threads submitting from the same old size to the SQL store: exactly one wins."""
    store = SqlWitnessStore(engine)
    witness = _witness(log, store)
    assert witness.add_checkpoint(log.body(0, 4), NOW).ok
    results = _race(witness, [log.body(4, size) for size in range(5, 13)])
    assert [r.status for r in results].count(200) == 1
    state = store.get(ORIGIN)
    assert state is not None
    assert all(r.body == f"{state.size}\n" for r in results if not r.ok)
