"""The views the service keeps, entry by entry, equal the views rebuilt from the log alone,
after a long randomised sequence of statements (valid ones, refused ones, and ones that reach
the log but that the fold rejects). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from pausewatch.errors import StatementError
from pausewatch.ledger import PendingEntry
from pausewatch.registry import VIEWS
from pausewatch.service import LogService, RegistryConflictError
from pausewatch.settings import Settings
from pausewatch.state import StateStore, dump_view, new_registry, statement_of
from pausewatch.statements import KeyPair, Statement, load_key, sign_statement

from .world import DIGEST, key

MODELS = ("H100 SXM", "B200", "MI300X")


class Driver:
    """Random registry traffic against a running service."""

    def __init__(self, service: LogService, secretariat: KeyPair, rng: random.Random) -> None:
        self.service = service
        self.secretariat = secretariat
        self.rng = rng
        self.keys: dict[str, KeyPair] = {}
        self.names: dict[str, list[str]] = {
            k: [] for k in ("party", "operator", "facility", "cluster", "maker", "chip", "run")
        }
        self.owner: dict[str, str] = {}
        """Facility and cluster to the operator that registered it (mostly right guesses)."""
        self.refused = 0
        self.forced = 0

    def pick(self, kind: str) -> str:
        """An existing id of ``kind`` most of the time, sometimes one that does not exist."""
        pool = self.names[kind]
        if not pool or self.rng.random() < 0.08:
            return f"{kind}-ghost-{self.rng.randrange(5)}"
        return self.rng.choice(pool)

    def signer(self, owner: str) -> KeyPair:
        if owner in self.keys and self.rng.random() > 0.05:
            return self.keys[owner]
        return self.rng.choice([*self.keys.values(), self.secretariat]) if self.keys else key("x")

    def new(self, kind: str) -> str:
        name = f"{kind}{len(self.names[kind])}"
        self.names[kind].append(name)
        return name

    def send(self, statement: Statement) -> None:
        """Submit through the service's checks; now and then force it onto the log unchecked,
        as a racing second writer could, so that the fold has to reject it itself."""
        if self.rng.random() < 0.1:
            self.forced += 1
            pending = PendingEntry(statement.canonical_bytes(), dedup_key=statement.digest)
            self.service.sequencer.submit(pending).result(timeout=30)
            return
        try:
            self.service.submit(statement).result(timeout=30)
        except StatementError:
            self.refused += 1

    def step(self) -> None:
        r = self.rng
        action = r.choice(
            [
                "party", "operator", "facility", "cluster", "maker", "chip", "custody",
                "custody", "declare", "declare", "start", "end", "change", "position", "rotate",
            ]
        )  # fmt: skip
        body: dict[str, Any]
        if action == "party":
            pid = self.new("party")
            self.keys[pid] = key(pid)
            body = {"party_id": pid, "name": pid, "key": self.keys[pid].signer_id}
            self.send(sign_statement("party.register/v1", body, self.secretariat))
        elif action == "maker":
            mid = self.new("maker")
            self.keys[mid] = key(mid)
            body = {"maker_id": mid, "name": mid, "key": self.keys[mid].signer_id}
            self.send(sign_statement("chip_maker.register/v1", body, self.secretariat))
        elif action == "operator":
            party = self.pick("party")
            oid = self.new("operator")
            self.keys[oid] = key(oid)
            body = {
                "operator_id": oid,
                "party_id": party,
                "name": oid,
                "key": self.keys[oid].signer_id,
            }
            self.send(sign_statement("operator.register/v1", body, self.signer(party)))
        elif action == "facility":
            op = self.pick("operator")
            fid = self.new("facility")
            self.owner[fid] = op
            body = {
                "facility_id": fid,
                "operator_id": op,
                "name": "F",
                "location": {"country": r.choice(["US", "CN", "GB", "FR"])},
                "power_capacity_mw": float(r.randrange(10, 500)),
            }
            self.send(sign_statement("facility.register/v1", body, self.signer(op)))
        elif action == "cluster":
            facility = self.pick("facility")
            op = self.owner.get(facility, self.pick("operator"))
            cid = self.new("cluster")
            self.owner[cid] = op
            body = {
                "cluster_id": cid,
                "facility_id": facility,
                "name": "C",
                "network_gbps": float(r.choice([100, 400, 800])),
            }
            self.send(sign_statement("cluster.register/v1", body, self.signer(op)))
        elif action == "chip":
            maker = self.pick("maker")
            cid = self.new("chip")
            self.keys[cid] = key(cid)
            body = {
                "chip_id": cid,
                "maker_id": maker,
                "model": r.choice(MODELS),
                "serial": cid,
                "key": self.keys[cid].signer_id,
                "operator_id": self.pick("operator"),
            }
            self.send(sign_statement("chip.certify/v1", body, self.signer(maker)))
        elif action == "custody":
            cluster = self.pick("cluster")
            op = self.owner.get(cluster, self.pick("operator"))
            how = r.choice(["install", "install", "transfer", "retire"])
            body = {"chip_id": self.pick("chip"), "action": how}
            if how == "install":
                body["cluster_id"] = cluster
            if how == "transfer":
                body["to_operator"] = self.pick("operator")
            self.send(sign_statement("chip.custody/v1", body, self.signer(op)))
        elif action == "declare":
            cluster = self.pick("cluster")
            op = self.owner.get(cluster, self.pick("operator"))
            body = {
                "run_id": self.new("run"),
                "operator_id": op,
                "cluster_id": cluster,
                "model": f"model{r.randrange(6)}",
                "phase": r.choice(["pretraining", "fine_tuning", "rl"]),
                "planned_flop": 10 ** r.uniform(20, 25),
                "estimate_method": "hardware",
                "chips": r.randrange(1, 5000),
                "starts_at": "2026-12-10T00:00:00Z",
                "ends_at": "2027-01-10T00:00:00Z",
                "hyperparameters_digest": DIGEST,
                "data_order_seed_digest": DIGEST,
                "checkpoint_interval_steps": 500,
            }
            self.send(sign_statement("run.declaration/v1", body, self.signer(op)))
        elif action in ("start", "end", "change"):
            op = self.pick("operator")
            run = self.pick("run")
            if action == "start":
                kind, body = "run.start/v1", {"run_id": run, "at": "2026-12-10T00:00:00Z"}
            elif action == "end":
                outcome = r.choice(["finished", "halted", "abandoned"])
                kind = "run.end/v1"
                body = {"run_id": run, "at": "2026-12-20T00:00:00Z", "outcome": outcome}
            else:
                kind, body = (
                    "run.change/v1",
                    {"run_id": run, "reason": "r", "chips": r.randrange(1, 99)},
                )
            self.send(sign_statement(kind, body, self.signer(op)))
        elif action == "position":
            who = self.pick(r.choice(["party", "operator"]))
            day = r.randrange(1, 28)
            body = {
                "stance": r.choice(["backs", "opposes", "undeclared"]),
                "source": "https://example.org",
                "as_of": f"2026-11-{day:02d}T00:00:00Z",
            }
            self.send(sign_statement("position/v1", body, self.signer(who)))
        else:
            kind_of = r.choice(["party", "operator"])
            who = self.pick(kind_of)
            new = key(f"{who}-rotated")
            body = {"subject_kind": kind_of, "subject_id": who, "new_key": new.signer_id}
            self.send(sign_statement("key.rotate/v1", body, self.signer(who)))
            self.keys[who] = new


def test_rebuild_yields_the_views_kept_entry_by_entry(tmp_path: Path, db_url: str) -> None:
    settings = Settings(data_dir=tmp_path, database_url=db_url, batch_latency_ms=1)
    service = LogService(settings).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        driver = Driver(service, secretariat, random.Random(20261127))
        for _ in range(400):
            driver.step()
        service.sequencer.stop()
        service.state.catch_up(service.log)
        kept = {view: dump_view(service.engine, view) for view in VIEWS}
        # The traffic exercised every path: accepted, refused before the log, rejected by the fold.
        assert driver.refused > 20
        assert driver.forced > 10
        assert len(kept["rejected"]) > 0
        assert len(kept["runs"]) > 5
        assert len(kept["chips"]) > 5

        report = service.state.rebuild(service.log)
        assert report.identical, report.differences
        assert report.entries == service.log.size
        assert {view: dump_view(service.engine, view) for view in VIEWS} == kept

        # A fresh store on the same database resumes exactly where the fold stood.
        resumed = StateStore(service.engine, [secretariat.signer_id])
        assert resumed.registry.applied == service.log.size
        assert resumed.registry.views == service.state.registry.views

        # And a pure fold of the log's entries, outside any database, agrees row for row.
        pure = new_registry({secretariat.signer_id})
        for entry in service.log.entries_since(0):
            pure.apply(entry.index, entry.integrated_at, statement_of(entry))
        assert pure.views == service.state.registry.views
    finally:
        service.close()


def test_views_resume_after_entries_the_fold_has_not_seen(tmp_path: Path) -> None:
    """Entries integrated while the fold was behind (a crash between the two commits) are
    folded at the next start."""
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1)
    service = LogService(settings).start()
    secretariat = load_key(settings.keys_dir, "secretariat")
    party = key("p")
    body = {"party_id": "p", "name": "P", "key": party.signer_id}
    statement = sign_statement("party.register/v1", body, secretariat)
    # Append without the listener that folds: as if the process died after the log's commit.
    service.sequencer.stats.listeners.clear()
    service.sequencer.submit(PendingEntry(statement.canonical_bytes())).result(timeout=30)
    assert service.state.registry.get("parties", "p") is None
    service.close()

    again = LogService(settings)
    try:
        assert again.state.registry.get("parties", "p") is not None
        assert dump_view(again.engine, "parties")[0]["party_id"] == "p"
    finally:
        again.close()


def test_a_failed_write_leaves_nothing_skipped(tmp_path: Path) -> None:
    """When writing the views fails, the fold in memory goes back to what was committed, and
    the next catch-up folds the same entries again: no entry is skipped."""
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0)
    service = LogService(settings).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        service.sequencer.stats.listeners.clear()  # fold by hand below
        for pid in ("a", "b"):
            body = {"party_id": pid, "name": pid, "key": key(pid).signer_id}
            statement = sign_statement("party.register/v1", body, secretariat)
            service.sequencer.submit(PendingEntry(statement.canonical_bytes())).result(30)
        store = service.state
        original = store._write
        calls = {"n": 0}

        def failing(outcomes: Any) -> None:
            calls["n"] += 1
            raise RuntimeError("disk full")

        store._write = failing  # type: ignore[method-assign]
        try:
            store.catch_up(service.log)
        except RuntimeError:
            pass
        else:  # pragma: no cover - the write must have been attempted
            raise AssertionError("catch_up did not fail")
        assert calls["n"] == 1
        assert store.registry.applied == 0
        store._write = original  # type: ignore[method-assign]
        store.catch_up(service.log)
        assert [r["party_id"] for r in dump_view(service.engine, "parties")] == ["a", "b"]
        assert store.rebuild(service.log).identical
    finally:
        service.close()


def test_a_statement_that_loses_a_race_is_answered_409(tmp_path: Path) -> None:
    """Two registrations of one party both pass the check before either is folded; the fold
    rejects the second, and its submitter hears so instead of a success."""
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0)
    service = LogService(settings).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        first = sign_statement(
            "party.register/v1",
            {"party_id": "p", "name": "P", "key": key("1").signer_id},
            secretariat,
        )
        second = sign_statement(
            "party.register/v1",
            {"party_id": "p", "name": "Q", "key": key("2").signer_id},
            secretariat,
        )
        service.sequencer.stats.listeners.clear()
        # The first reaches the log unfolded; the second is checked against views without it.
        service.sequencer.submit(PendingEntry(first.canonical_bytes())).result(30)
        with pytest.raises(RegistryConflictError, match="already registered"):
            service.submit(second).result(30)
        assert [r["name"] for r in dump_view(service.engine, "parties")] == ["P"]
    finally:
        service.close()


def test_a_statement_handed_to_the_fold_is_folded_as_its_entry_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """StateStore.expect hands the fold a verified statement: the entry of exactly its bytes is
    folded from that object, not read back; any other entry is read from its bytes; the fold
    keeps a bounded number of statements that never reach the log."""
    import pausewatch.state._store as store

    settings = Settings(data_dir=tmp_path, batch_latency_ms=1)
    service = LogService(settings).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        reads: list[int] = []
        read_entry = store._read_entry

        def counted(entry: Any) -> Any:
            reads.append(entry.index)
            return read_entry(entry)

        monkeypatch.setattr(store, "_read_entry", counted)
        party = sign_statement(
            "party.register/v1", {"party_id": "p", "name": "P", "key": key("p").signer_id},
            secretariat,
        )  # fmt: skip
        logged = service.submit(party).result(timeout=30)
        assert reads == []  # handed over by submit: not read back
        other = sign_statement(
            "party.register/v1", {"party_id": "q", "name": "Q", "key": key("q").signer_id},
            secretariat,
        )  # fmt: skip
        service.state.expect(party)  # handed, but the entry logged holds other bytes
        forced = service.sequencer.submit(PendingEntry(other.canonical_bytes())).result(30)
        service.state.catch_up(service.log)
        assert reads == [forced.index]
        assert service.state.registry.get("parties", "q") is not None
        for n in range(200):
            body = {"party_id": f"x{n}", "name": "X", "key": key("x").signer_id}
            service.state.expect(sign_statement("party.register/v1", body, secretariat))
        assert len(service.state._expected) == store._EXPECTED_KEPT
        assert logged.index < forced.index
        assert service.state.rebuild(service.log).identical
    finally:
        service.close()


def test_view_rows_of_any_key_order_and_any_columns_are_written_as_given(engine: Any) -> None:
    """The views' rows go to the driver as tuples: rows whose keys come in another order, rows
    that leave a nullable column out, a replaced row and a removed one are stored exactly as
    the fold gave them, on both engines."""
    from pausewatch.state._store import _write_view

    def chip(name: str, busy: str | None, **more: Any) -> dict[str, Any]:
        row = {
            "chip_id": name, "updated_idx": 3, "records": 2, "energy_j": 5,
            "first_window_start": "2026-12-01T00:00:00Z", "flop": '{"bf16":7}',
            "last_window_end": "2026-12-01T00:02:00Z", "tensor_active_ms": 9, **more,
        }  # fmt: skip
        if busy is not None:  # sorted among the others, as a chip's totals write it
            row = dict(sorted({**row, "last_busy_end": busy}.items()))
        else:  # put last, as the fold's setdefault does
            row["last_busy_end"] = None
        return row

    first = {("a",): chip("a", None), ("b",): chip("b", "2026-12-01T00:01:00Z")}
    with engine.begin() as conn:
        _write_view(conn, "tel_chips", first)
    second = {
        ("a",): chip("a", "2026-12-01T00:03:00Z", records=4),  # replaced
        ("b",): None,  # removed
        ("c",): {k: v for k, v in chip("c", None).items() if k != "last_busy_end"},
    }
    with engine.begin() as conn:
        _write_view(conn, "tel_chips", second)
    stored = {row["chip_id"]: row for row in dump_view(engine, "tel_chips")}
    assert set(stored) == {"a", "c"}
    assert stored["a"] == {**second[("a",)]}
    assert stored["c"] == {**chip("c", None)}  # the column left out is null


def test_view_values_are_converted_as_sqlalchemy_converts_them(engine: Any) -> None:
    """A float column given an integer (one past what an integer column holds, too) stores the
    float SQLAlchemy's own conversion stores, on both engines."""
    from pausewatch.state._store import _write_view

    def operator(name: str, revenue: Any) -> dict[str, Any]:
        return {
            "operator_id": name, "party_id": "p", "name": name, "key": "k",
            "annual_revenue_usd": revenue, "registered_idx": 1, "registered_at": None,
        }  # fmt: skip

    rows = {("a",): operator("a", 2**64), ("b",): operator("b", 7), ("c",): operator("c", None)}
    with engine.begin() as conn:
        _write_view(conn, "operators", rows)
    stored = {r["operator_id"]: r["annual_revenue_usd"] for r in dump_view(engine, "operators")}
    assert stored == {"a": float(2**64), "b": 7.0, "c": None}
    assert all(type(v) is float for v in (stored["a"], stored["b"]))
