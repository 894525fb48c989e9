"""The registry fold: who may sign what, what must already be on the log, and what each
accepted entry writes into the views. Real Ed25519 keys and signed statements throughout."""

from __future__ import annotations

import pytest

from pausewatch.policy import load_preset, policy_digest, policy_to_json
from pausewatch.registry import Registry
from pausewatch.registry._fold import FoldInterruptedError

from .world import World, declaration, key


@pytest.fixture
def world() -> World:
    w = World()
    w.basic()
    return w


def test_a_registry_builds_from_the_secretariat_down(world: World) -> None:
    r = world.registry
    assert r.get("parties", "us")["name"] == "US"  # type: ignore[index]
    assert r.get("operators", "lab")["party_id"] == "us"  # type: ignore[index]
    assert r.get("clusters", "c1")["operator_id"] == "lab"  # type: ignore[index]
    assert r.key_holder(world.keys["lab"].signer_id) == ("operator", "lab")
    assert r.applied == 5
    assert r.views["rejected"] == {}


def test_only_the_secretariat_registers_parties_and_makers(world: World) -> None:
    intruder = key("intruder")
    body = {"party_id": "xx", "name": "X", "key": intruder.signer_id}
    out = world.submit("party.register/v1", body, intruder)
    assert not out.accepted
    assert "secretariat" in (out.reason or "")
    assert world.registry.get("parties", "xx") is None
    assert world.registry.get("rejected", out.index)["kind"] == "party.register/v1"  # type: ignore[index]


def test_an_operator_is_registered_by_its_own_party_only(world: World) -> None:
    world.party("cn")
    k = key("op2")
    body = {"operator_id": "op2", "party_id": "us", "name": "Op", "key": k.signer_id}
    out = world.submit("operator.register/v1", body, "cn")
    assert not out.accepted
    assert "party 'us'" in (out.reason or "")


def test_ids_and_keys_are_registered_once(world: World) -> None:
    out = world.submit(
        "party.register/v1",
        {"party_id": "us", "name": "Again", "key": key("k").signer_id},
        world.secretariat,
    )
    assert not out.accepted
    assert "already registered" in (out.reason or "")
    out = world.submit(
        "party.register/v1",
        {"party_id": "uk", "name": "UK", "key": world.keys["lab"].signer_id},
        world.secretariat,
    )
    assert not out.accepted
    assert "already bound to operator 'lab'" in (out.reason or "")


def test_a_chip_is_certified_by_its_maker_for_a_catalogue_model(world: World) -> None:
    world.chip("g1", "nv")
    assert world.registry.get("chips", "g1")["status"] == "certified"  # type: ignore[index]
    out = world.submit(
        "chip.certify/v1",
        {
            "chip_id": "g2",
            "maker_id": "nv",
            "model": "H9000",
            "serial": "x",
            "key": key("g2").signer_id,
        },
        "nv",
    )
    assert not out.accepted
    assert "H100 SXM" in (out.reason or "")


def test_custody_install_transfer_and_retire(world: World) -> None:
    world.chip("g1", "nv")
    world.operator("lab2", "us")
    world.facility("f2", "lab2")
    world.cluster("c2", "f2", "lab2")
    # lab2 cannot install into lab's cluster.
    out = world.submit(
        "chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c1"}, "lab2"
    )
    assert not out.accepted
    assert "belongs to 'lab'" in (out.reason or "")
    world.ok("chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c1"}, "lab")
    # Once installed, another operator cannot take it.
    out = world.submit(
        "chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c2"}, "lab2"
    )
    assert not out.accepted
    assert "transferred" in (out.reason or "")
    world.ok(
        "chip.custody/v1", {"chip_id": "g1", "action": "transfer", "to_operator": "lab2"}, "lab"
    )
    chip = world.registry.get("chips", "g1")
    assert chip is not None
    assert (chip["status"], chip["operator_id"]) == ("in_transit", "lab2")
    world.ok("chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c2"}, "lab2")
    world.ok("chip.custody/v1", {"chip_id": "g1", "action": "retire"}, "lab2")
    chip = world.registry.get("chips", "g1")
    assert chip is not None
    assert chip["status"] == "retired"
    assert world.registry.key_holder(world.keys["g1"].signer_id) is None  # retired: key revoked
    out = world.submit(
        "chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c2"}, "lab2"
    )
    assert not out.accepted
    assert "retired" in (out.reason or "")


def test_a_rotated_key_signs_nothing_more(world: World) -> None:
    old = world.keys["lab"]
    new = key("lab-new")
    world.ok(
        "key.rotate/v1",
        {"subject_kind": "operator", "subject_id": "lab", "new_key": new.signer_id},
        old,
    )
    assert world.registry.get("operators", "lab")["key"] == new.signer_id  # type: ignore[index]
    out = world.submit("run.declaration/v1", declaration("r1"), old)
    assert not out.accepted
    assert "not a live registered key" in (out.reason or "")
    world.ok("run.declaration/v1", declaration("r1"), new)


def test_a_voucher_revokes_and_replaces_a_key(world: World) -> None:
    replacement = key("lab-replacement")
    world.ok(
        "key.revoke/v1",
        {
            "subject_kind": "operator",
            "subject_id": "lab",
            "reason": "key exposed",
            "replacement": replacement.signer_id,
        },
        "us",
    )
    assert world.registry.key_holder(world.keys["lab"].signer_id) is None
    assert world.registry.key_holder(replacement.signer_id) == ("operator", "lab")
    # Another party cannot revoke lab's key.
    world.party("cn")
    out = world.submit(
        "key.revoke/v1",
        {"subject_kind": "operator", "subject_id": "lab", "reason": "hostile"},
        "cn",
    )
    assert not out.accepted


def test_run_lifecycle(world: World) -> None:
    world.ok("run.declaration/v1", declaration("r1"), "lab")
    run = world.registry.get("runs", "r1")
    assert run is not None
    assert (run["status"], run["facility_id"], run["approval"]) == ("declared", "f1", "none")
    out = world.submit(
        "run.end/v1", {"run_id": "r1", "at": "2026-12-11T00:00:00Z", "outcome": "finished"}, "lab"
    )
    assert not out.accepted
    assert "only be abandoned" in (out.reason or "")
    world.ok("run.start/v1", {"run_id": "r1", "at": "2026-12-10T00:00:00Z"}, "lab")
    world.ok(
        "run.change/v1",
        {
            "run_id": "r1",
            "reason": "longer",
            "planned_flop": 6e22,
            "ends_at": "2027-02-01T00:00:00Z",
        },
        "lab",
    )
    out = world.submit(
        "run.end/v1", {"run_id": "r1", "at": "2026-12-09T00:00:00Z", "outcome": "finished"}, "lab"
    )
    assert not out.accepted
    assert "before it started" in (out.reason or "")
    world.ok(
        "run.end/v1", {"run_id": "r1", "at": "2027-01-20T00:00:00Z", "outcome": "finished"}, "lab"
    )
    run = world.registry.get("runs", "r1")
    assert run is not None
    assert (run["status"], run["planned_flop"], run["changes"]) == ("finished", 6e22, 1)
    out = world.submit("run.change/v1", {"run_id": "r1", "reason": "x", "chips": 8}, "lab")
    assert not out.accepted
    assert "has ended" in (out.reason or "")


def test_another_operator_cannot_declare_on_or_touch_a_run(world: World) -> None:
    world.operator("lab2", "us")
    out = world.submit("run.declaration/v1", declaration("r9", operator_id="lab2"), "lab2")
    assert not out.accepted
    assert "belongs to 'lab'" in (out.reason or "")
    world.ok("run.declaration/v1", declaration("r1"), "lab")
    out = world.submit("run.start/v1", {"run_id": "r1", "at": "2026-12-10T00:00:00Z"}, "lab2")
    assert not out.accepted
    assert "declared by 'lab'" in (out.reason or "")


def test_declarations_in_an_approval_tier_are_pending_until_deemed(world: World) -> None:
    policy = load_preset("miri-2025")
    world.ok(
        "policy.adopt/v1",
        {
            "policy": policy_to_json(policy),
            "digest": policy_digest(policy),
            "effective_at": "2026-12-01T00:00:00Z",
        },
        world.secretariat,
    )
    assert policy.approvals is not None
    world.ok("run.declaration/v1", declaration("small", planned_flop=1e21), "lab")
    world.ok("run.declaration/v1", declaration("big", planned_flop=5e23), "lab")
    small = world.registry.get("runs", "small")
    big = world.registry.get("runs", "big")
    assert small is not None
    assert big is not None
    assert small["approval"] == "none"
    assert big["approval"] == "pending"
    assert (big["deemed_approved_at"] is None) == (policy.approvals.deemed_after_days is None)


def test_positions_record_who_backs_the_pause(world: World) -> None:
    world.ok(
        "position/v1",
        {"stance": "backs", "source": "https://example.org/s1", "as_of": "2026-11-01T00:00:00Z"},
        "us",
    )
    world.ok(
        "position/v1",
        {"stance": "opposes", "source": "press release", "as_of": "2026-11-02T00:00:00Z"},
        "lab",
    )
    assert world.registry.get("positions", "party", "us")["stance"] == "backs"  # type: ignore[index]
    assert world.registry.get("positions", "operator", "lab")["stance"] == "opposes"  # type: ignore[index]
    # An older statement cannot overwrite a newer stance.
    out = world.submit(
        "position/v1",
        {"stance": "opposes", "source": "old", "as_of": "2026-10-01T00:00:00Z"},
        "us",
    )
    assert not out.accepted
    out = world.submit(
        "position/v1",
        {"stance": "backs", "source": "x", "as_of": "2026-11-01T00:00:00Z"},
        world.keys["nv"],
    )
    assert not out.accepted
    assert "party's or an operator's" in (out.reason or "")


def test_check_changes_nothing(world: World) -> None:
    before = {v: dict(rows) for v, rows in world.registry.views.items()}
    statement = world.sign("run.declaration/v1", declaration("r1"), "lab")
    assert world.registry.check(statement, world.now) is None
    bad = world.sign("run.declaration/v1", declaration("r2", cluster_id="nope"), "lab")
    rejected = world.registry.check(bad, world.now)
    assert rejected is not None
    assert not rejected.forbidden
    assert "not registered" in str(rejected)
    assert world.registry.views == before


def test_entries_must_come_in_order() -> None:
    r = Registry(frozenset())
    w = World()
    statement = w.sign(
        "party.register/v1",
        {"party_id": "a", "name": "A", "key": key("a").signer_id},
        w.secretariat,
    )
    with pytest.raises(ValueError, match="expected log entry 0"):
        r.apply(3, w.now, statement)


def test_a_handler_interrupted_by_what_lies_outside_the_views_isolates_nothing() -> None:
    """A handler whose reading of the log's tree failed (a database error) raises
    FoldInterruptedError: the entry is not set aside as unreadable, the fold does not move on,
    and the same entry folds once the tree can be read again."""
    w = World()
    statement = w.sign(
        "party.register/v1",
        {"party_id": "a", "name": "A", "key": key("a").signer_id},
        w.secretariat,
    )
    failing = {"party.register/v1": _interrupted}
    r = Registry(frozenset({w.secretariat.signer_id}), handlers=failing)
    with pytest.raises(FoldInterruptedError):
        r.apply(0, w.now, statement)
    assert r.applied == 0
    assert r.views["unreadable"] == {}
    with pytest.raises(FoldInterruptedError):
        r.check(statement, w.now)
    r.handlers = w.registry.handlers
    assert r.apply(0, w.now, statement).accepted


def _interrupted(ctx: object, body: object) -> None:
    raise FoldInterruptedError("the log's root at size 1: database is locked")
