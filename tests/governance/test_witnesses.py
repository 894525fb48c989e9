"""The log's witnesses on the log: registered by the secretariat, their cosignatures recorded
and checked against the log's own tree, counted while fresh; the clerk records what the
witnesses cosigned."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pausewatch.audit import audit_log
from pausewatch.governance._witnesses import WITNESS_FRESHNESS, witnesses_at
from pausewatch.ledger import Checkpoint, Note, Signer
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.state import new_registry
from pausewatch.statements import load_key, sign_statement
from registry.world import World  # type: ignore[import-not-found]


@pytest.fixture
def world() -> World:
    w = World()
    w.basic()
    return w


def register(w: World, name: str) -> Signer:
    signer = Signer.generate(name)
    w.ok("witness.register/v1", {"key": signer.verifier().to_string()}, w.secretariat)
    return signer


def checkpoint(w: World, size: int | None = None, root: bytes | None = None) -> str:
    size = w.registry.applied if size is None else size
    return Checkpoint("log.example", size, root or w.tree.root(size)).to_text()


def cosignature(w: World, witness: Signer, text: str) -> dict[str, str]:
    return {"checkpoint": text, "cosignature": witness.cosignature_line(text, 1_800_000_000)}


def test_a_registered_witness_cosignature_is_recorded_and_counts(world: World) -> None:
    """A registered witness's cosignature of the log's checkpoint is recorded; the witness
    counts from then, for a day."""
    w = world
    a = register(w, "witness.example/a")
    assert witnesses_at(w.registry, w.now) == []
    w.ok("witness.cosignature/v1", cosignature(w, a, checkpoint(w)), w.secretariat)
    assert witnesses_at(w.registry, w.now) == ["witness.example/a"]
    later = w.now + WITNESS_FRESHNESS + timedelta(seconds=1)
    assert witnesses_at(w.registry, later) == []
    # Counted as of a time: before the record, it did not count yet.
    assert witnesses_at(w.registry, w.now - timedelta(seconds=1)) == []


def test_a_cosignature_of_another_tree_is_refused(world: World) -> None:
    """A checkpoint whose root is not the log's own at that size is refused, however well
    the witness signed it: the record proves the witness saw this log's history."""
    w = world
    a = register(w, "witness.example/a")
    forged = checkpoint(w, root=bytes(32))
    out = w.submit("witness.cosignature/v1", cosignature(w, a, forged), w.secretariat)
    assert not out.accepted
    assert "the log's is" in (out.reason or "")
    # Nor a checkpoint larger than the log before this entry.
    ahead = Checkpoint("log.example", w.registry.applied + 5, bytes(32)).to_text()
    out = w.submit("witness.cosignature/v1", cosignature(w, a, ahead), w.secretariat)
    assert not out.accepted


def test_only_registered_witnesses_and_their_keys(world: World) -> None:
    """A cosignature by an unregistered witness, by a key other than the registered one under
    the same name, or by a removed witness is refused; so is one the secretariat did not
    sign."""
    w = world
    stranger = Signer.generate("witness.example/stranger")
    out = w.submit("witness.cosignature/v1", cosignature(w, stranger, checkpoint(w)), w.secretariat)
    assert not out.accepted
    assert "not a registered witness" in (out.reason or "")
    a = register(w, "witness.example/a")
    impostor = Signer.generate("witness.example/a")
    out = w.submit("witness.cosignature/v1", cosignature(w, impostor, checkpoint(w)), w.secretariat)
    assert not out.accepted
    w.ok(
        "witness.register/v1", {"key": a.verifier().to_string(), "action": "remove"}, w.secretariat
    )
    out = w.submit("witness.cosignature/v1", cosignature(w, a, checkpoint(w)), w.secretariat)
    assert not out.accepted
    w.party("us2")
    out = w.submit("witness.cosignature/v1", cosignature(w, a, checkpoint(w)), "us2")
    assert not out.accepted


def test_a_fold_without_the_log_tree_records_no_cosignature(world: World) -> None:
    """A fold that cannot see the log's tree refuses to record cosignatures rather than take
    them unchecked."""
    w = world
    a = register(w, "witness.example/a")
    blind = new_registry({w.secretariat.signer_id})
    blind.views = w.registry.views
    blind.applied = w.registry.applied
    statement = w.sign("witness.cosignature/v1", cosignature(w, a, checkpoint(w)), w.secretariat)
    out = blind.apply(blind.applied, w.now, statement)
    assert not out.accepted
    assert "no view of the log's tree" in (out.reason or "")


def test_the_clerk_records_cosignatures_and_the_audit_checks_them(tmp_path: Path) -> None:
    """The clerk puts a registered witness's newest cosignature from the log's checkpoint
    store on the log, at most once an hour per witness; an audit of the log alone folds it
    with the same verdict."""
    now = [datetime(2027, 3, 1, tzinfo=UTC)]

    def clock() -> datetime:
        now[0] += timedelta(microseconds=1)
        return now[0]

    service = LogService(
        Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0), clock=clock
    )
    service.start()
    try:
        secretariat = load_key(service.settings.keys_dir, "secretariat")
        witness = Signer.generate("witness.example/a")
        body = {"key": witness.verifier().to_string()}
        service.submit(sign_statement("witness.register/v1", body, secretariat)).result()

        def cosign() -> None:
            note = service.log.checkpoint_note(with_cosignatures=False)
            text = Note.from_text(note).text
            line = witness.cosignature_line(text, int(now[0].timestamp()))
            service.log.add_cosignature(service.log.size, witness.verifier(), note + line)

        cosign()
        assert service.run_clerk() == 1
        rows = list(service.state.registry.views["witness_cosignatures"].values())
        assert [r["witness"] for r in rows] == ["witness.example/a"]
        cosign()
        assert service.run_clerk() == 0  # within the hour: nothing new recorded
        now[0] += timedelta(hours=2)
        cosign()
        assert service.run_clerk() == 1
        assert witnesses_at(service.state.registry, now[0]) == ["witness.example/a"]

        entries = [(e.index, e.data) for e in service.log.entries_since(0)]
        report, _ = audit_log(
            entries,
            [service.log.checkpoint_note()],
            service.log.verifier,
            secretariat=secretariat.signer_id,
        )
        assert report.ok, report.problems
        assert report.rejected_entries == 0
        rebuilt = service.state.rebuild(service.log)
        assert rebuilt.identical, rebuilt.differences
        assert json.dumps(rebuilt.rows["witness_cosignatures"]) == "2"
    finally:
        service.close()
