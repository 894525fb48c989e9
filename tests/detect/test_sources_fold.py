"""The independent sources of truth in the fold (issue 16, item 1; docs/adr/0025): meters and
their hash-chained readings, shipments, sales across borders, exports, inspectors, inspection
plans and reports, declared workloads. Real Ed25519 keys and signed statements throughout."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pausewatch.detect import next_reading, reading_digest
from pausewatch.registry import Outcome
from registry.world import World, key  # type: ignore[import-not-found]

COMMITMENT = hashlib.sha256(b"population order and draw").hexdigest()


@pytest.fixture
def world() -> World:
    w = World()
    w.basic()
    w.party("uk")
    w.operator("lab-uk", "uk")
    w.chip("g1", "nv", buyer="lab")
    w.chip("g2", "nv", buyer="lab")
    return w


def certify_meter(w: World, meter_id: str = "m1", by: str | None = None) -> None:
    w.keys[meter_id] = key(meter_id)
    body: dict[str, Any] = {
        "meter_id": meter_id,
        "model": "Acme 9000",
        "serial": f"SN-{meter_id}",
        "key": w.keys[meter_id].signer_id,
        "random_sigma": 0.005,
        "systematic_sigma": 0.01,
    }
    if by is not None:
        body["inspector_id"] = by
    w.ok("meter.certify/v1", body, w.secretariat if by is None else by)


def install_meter(w: World, meter_id: str = "m1", cluster: str | None = "c1") -> None:
    body: dict[str, Any] = {"meter_id": meter_id, "facility_id": "f1"}
    if cluster is not None:
        body["cluster_id"] = cluster
    w.ok("meter.install/v1", body, "lab")


def reading(seq: int, energy: float, prev: str | None, meter: str = "m1") -> dict[str, Any]:
    body: dict[str, Any] = {
        "meter_id": meter,
        "seq": seq,
        "window_start": f"2026-12-01T{seq:02d}:00:00Z",
        "window_end": f"2026-12-01T{seq:02d}:59:59Z",
        "energy_j": energy,
    }
    if prev is not None:
        body["prev"] = prev
    return body


def inspector(w: World, inspector_id: str = "iaea-1") -> None:
    w.keys[inspector_id] = key(inspector_id)
    body = {
        "inspector_id": inspector_id,
        "name": "Inspector One",
        "body": "International Compute Agency",
        "key": w.keys[inspector_id].signer_id,
    }
    w.ok("inspector.register/v1", body, w.secretariat)


def refused(out: Outcome) -> str:
    """The reason of a rejected outcome; asserts that it was rejected."""
    assert not out.accepted
    assert out.reason
    return out.reason


# -- meters ------------------------------------------------------------------------------------


def test_a_meter_is_certified_by_the_secretariat_with_its_accuracy(world: World) -> None:
    """The secretariat certifies a meter: its key is bound to it and its sigmas are kept."""
    certify_meter(world)
    row = world.registry.get("meters", "m1")
    assert row is not None
    assert (row["random_sigma"], row["systematic_sigma"], row["status"]) == (
        0.005,
        0.01,
        "certified",
    )
    assert world.registry.key_holder(world.keys["m1"].signer_id) == ("meter", "m1")


def test_a_meter_is_certified_by_a_registered_inspector_only(world: World) -> None:
    """A registered inspector may certify a meter in its own name; an operator may not."""
    inspector(world)
    certify_meter(world, "m2", by="iaea-1")
    assert world.registry.get("meters", "m2")["inspector_id"] == "iaea-1"  # type: ignore[index]
    body = {
        "meter_id": "m3",
        "inspector_id": "iaea-1",
        "model": "X",
        "serial": "S",
        "key": key("m3").signer_id,
        "random_sigma": 0.01,
        "systematic_sigma": 0.01,
    }
    reason = refused(world.submit("meter.certify/v1", body, "lab"))
    assert "inspector 'iaea-1'" in reason


def test_a_meter_is_installed_by_the_facilitys_operator(world: World) -> None:
    """Only the operator of the facility installs a meter there, on a cluster of that facility."""
    certify_meter(world)
    body = {"meter_id": "m1", "facility_id": "f1", "cluster_id": "c1"}
    assert "operator 'lab'" in refused(world.submit("meter.install/v1", body, "lab-uk"))
    world.cluster("c9", "f1", "lab")
    world.facility("f2", "lab")
    wrong = {"meter_id": "m1", "facility_id": "f2", "cluster_id": "c1"}
    assert "is in facility 'f1'" in refused(world.submit("meter.install/v1", wrong, "lab"))
    install_meter(world)
    row = world.registry.get("meters", "m1")
    assert row is not None
    assert (row["status"], row["facility_id"], row["cluster_id"]) == ("installed", "f1", "c1")


def test_a_chain_of_readings_is_accepted_and_its_head_kept(world: World) -> None:
    """Readings chained by seq and prev are accepted; the head and each period's energy are
    in the views."""
    certify_meter(world)
    install_meter(world)
    first = reading(0, 1e9, None)
    world.ok("meter.reading/v1", first, "m1")
    second = reading(1, 3.5e9, reading_digest(first))
    world.ok("meter.reading/v1", second, "m1")
    meter = world.registry.get("meters", "m1")
    assert meter is not None
    assert (meter["head_seq"], meter["head_energy_j"], meter["readings"]) == (1, 3.5e9, 2)
    assert meter["head_digest"] == reading_digest(second)
    row = world.registry.get("meter_readings", "m1", 1)
    assert row is not None
    assert (row["delta_j"], row["facility_id"], row["cluster_id"]) == (2.5e9, "f1", "c1")


def test_a_broken_chain_is_refused_with_the_expected_digest(world: World) -> None:
    """A reading whose prev is not the digest of the head is refused, naming both digests."""
    certify_meter(world)
    install_meter(world)
    first = reading(0, 1e9, None)
    world.ok("meter.reading/v1", first, "m1")
    forged = reading(1, 2e9, hashlib.sha256(b"something else").hexdigest())
    reason = refused(world.submit("meter.reading/v1", forged, "m1"))
    assert "broken chain" in reason
    assert reading_digest(first) in reason
    assert world.registry.get("meter_readings", "m1", 1) is None


def test_a_replayed_or_conflicting_reading_is_refused(world: World) -> None:
    """A second reading with a seq already on the log is refused: the head does not move."""
    certify_meter(world)
    install_meter(world)
    world.ok("meter.reading/v1", reading(0, 1e9, None), "m1")
    reason = refused(world.submit("meter.reading/v1", reading(0, 5e9, None), "m1"))
    assert "not past the meter's head" in reason
    assert world.registry.get("meters", "m1")["head_energy_j"] == 1e9  # type: ignore[index]


def test_energy_never_falls(world: World) -> None:
    """A cumulative count below the head's is refused."""
    certify_meter(world)
    install_meter(world)
    first = reading(0, 2e9, None)
    world.ok("meter.reading/v1", first, "m1")
    reason = refused(world.submit("meter.reading/v1", reading(1, 1e9, reading_digest(first)), "m1"))
    assert "falls from 2000000000.0 J" in reason


def test_overlapping_windows_are_refused(world: World) -> None:
    """A reading whose period starts before the head's ended is refused."""
    certify_meter(world)
    install_meter(world)
    first = reading(0, 1e9, None)
    world.ok("meter.reading/v1", first, "m1")
    late = {**reading(1, 2e9, reading_digest(first)), "window_start": "2026-12-01T00:30:00Z"}
    assert "before reading 0's ends" in refused(world.submit("meter.reading/v1", late, "m1"))


def test_a_gap_is_recorded_and_the_chain_goes_on(world: World) -> None:
    """A reading past missing ones is taken, the gap recorded, and the energy since the last
    reading on the log still counted."""
    certify_meter(world)
    install_meter(world)
    world.ok("meter.reading/v1", reading(0, 1e9, None), "m1")
    later = reading(4, 9e9, hashlib.sha256(b"reading 3, never logged").hexdigest())
    world.ok("meter.reading/v1", later, "m1")
    gap = world.registry.get("meter_gaps", "m1", 1)
    assert gap is not None
    assert gap["to_seq"] == 3
    row = world.registry.get("meter_readings", "m1", 4)
    assert row is not None
    assert (row["after_gap"], row["delta_j"]) == (True, 8e9)
    assert world.registry.get("meters", "m1")["gaps"] == 1  # type: ignore[index]


def test_only_the_meters_own_key_signs_its_readings(world: World) -> None:
    """A reading signed by anyone but the meter's live key is refused, forbidden."""
    certify_meter(world)
    certify_meter(world, "m2")
    install_meter(world)
    for signer in ("lab", "m2"):
        reason = refused(world.submit("meter.reading/v1", reading(0, 1e9, None), signer))
        assert "live key of meter 'm1'" in reason
    check = world.registry.check(
        world.sign("meter.reading/v1", reading(0, 1, None), "m2"), world.now
    )
    assert check is not None
    assert check.forbidden


def test_a_meter_not_installed_reads_nothing(world: World) -> None:
    """Readings of a meter that is certified but installed nowhere are refused."""
    certify_meter(world)
    reason = refused(world.submit("meter.reading/v1", reading(0, 1e9, None), "m1"))
    assert "not installed" in reason


def test_a_meters_key_is_revoked_by_its_certifier_not_rotated(world: World) -> None:
    """The secretariat that certified a meter may revoke its key; the meter cannot rotate it."""
    certify_meter(world)
    rotate = {"subject_kind": "meter", "subject_id": "m1", "new_key": key("m1b").signer_id}
    assert "certified anew" in refused(world.submit("key.rotate/v1", rotate, "m1"))
    revoke = {"subject_kind": "meter", "subject_id": "m1", "reason": "tampered"}
    world.ok("key.revoke/v1", revoke, world.secretariat)
    assert world.registry.key_holder(world.keys["m1"].signer_id) is None


# -- supply chain ------------------------------------------------------------------------------


def ship(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "shipment_id": "s1",
        "maker_id": "nv",
        "chip_ids": ["g1", "g2"],
        "to_operator": "lab",
        "receiving_party": "us",
        "from_country": "TW",
        "to_country": "US",
        "shipped_at": "2026-12-02T00:00:00Z",
    }
    body.update(over)
    return body


def test_a_shipment_goes_from_the_maker_to_the_chips_buyer(world: World) -> None:
    """The maker ships its chips to their buyer: one movement per chip and the shipment."""
    world.ok("chip.ship/v1", ship(), "nv")
    assert world.registry.get("shipments", "s1")["chips"] == 2  # type: ignore[index]
    moves = [r for r in world.registry.views["chip_movements"].values() if r["kind"] == "ship"]
    assert sorted(r["chip_id"] for r in moves) == ["g1", "g2"]
    assert {(r["to_operator"], r["to_party"]) for r in moves} == {("lab", "us")}


def test_a_shipment_to_another_than_the_buyer_is_refused(world: World) -> None:
    """Chips sold to lab cannot be shipped to lab-uk, and the party must be the buyer's."""
    out = world.submit("chip.ship/v1", ship(to_operator="lab-uk", receiving_party="uk"), "nv")
    assert "ships to its buyer" in refused(out)
    out = world.submit("chip.ship/v1", ship(receiving_party="uk"), "nv")
    assert "registered under party 'us', not 'uk'" in refused(out)


def test_a_shipment_is_signed_by_the_chips_maker_or_the_secretariat(world: World) -> None:
    """An operator cannot ship chips; the secretariat may record a shipment."""
    assert "chip_maker 'nv'" in refused(world.submit("chip.ship/v1", ship(), "lab"))
    world.ok("chip.ship/v1", ship(), world.secretariat)


def test_a_sale_across_borders_names_the_receiving_party(world: World) -> None:
    """A sale to an operator of another party is recorded as crossing a border; a receiving
    party that is not the buyer's is refused."""
    body = {"chip_id": "g1", "to_operator": "lab-uk", "receiving_party": "us"}
    assert "not 'us'" in refused(world.submit("chip.transfer/v1", body, "lab"))
    world.ok("chip.transfer/v1", {**body, "receiving_party": "uk"}, "lab")
    (move,) = [r for r in world.registry.views["chip_movements"].values() if r["chip_id"] == "g1"]
    assert (move["kind"], move["from_party"], move["to_party"], move["cross_border"]) == (
        "transfer",
        "us",
        "uk",
        True,
    )


def test_an_export_takes_chips_out_of_the_regime(world: World) -> None:
    """The chips' holder exports them to a non-party: they are retired, their keys revoked,
    and the export names where they went."""
    body = {
        "export_id": "x1",
        "chip_ids": ["g1"],
        "destination_country": "ZZ",
        "destination_entity": "Elsewhere Compute Ltd",
    }
    assert "operator 'lab'" in refused(world.submit("chip.export/v1", body, "nv"))
    world.ok("chip.export/v1", body, "lab")
    chip = world.registry.get("chips", "g1")
    assert chip is not None
    assert chip["status"] == "retired"
    assert world.registry.key_holder(world.keys["g1"].signer_id) is None
    (move,) = [r for r in world.registry.views["chip_movements"].values() if r["chip_id"] == "g1"]
    assert (move["kind"], move["destination_country"]) == ("export", "ZZ")
    assert "retired" in refused(world.submit("chip.export/v1", {**body, "export_id": "x2"}, "lab"))


def test_a_retirement_is_a_movement(world: World) -> None:
    """Retiring an installed chip (chip.custody/v1) records it in the chip's supply chain."""
    world.ok("chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c1"}, "lab")
    world.ok("chip.custody/v1", {"chip_id": "g1", "action": "retire"}, "lab")
    (move,) = [r for r in world.registry.views["chip_movements"].values() if r["chip_id"] == "g1"]
    assert (move["kind"], move["from_operator"], move["from_party"]) == ("retire", "lab", "us")


# -- inspections -------------------------------------------------------------------------------


def plan(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "plan_id": "p1",
        "inspector_id": "iaea-1",
        "facility_id": "f1",
        "chips_drawn": 1,
        "commitment": COMMITMENT,
    }
    body.update(over)
    return body


def test_an_inspector_plans_and_reports_an_inspection(world: World) -> None:
    """A plan records what is drawn and from how many chips; its report records what was found,
    and what the registry does not say (a serial that differs, a chip not registered)."""
    world.ok("chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c1"}, "lab")
    inspector(world)
    world.ok("inspection.plan/v1", plan(), "iaea-1")
    row = world.registry.get("inspection_plans", "p1")
    assert row is not None
    assert (row["population"], row["seed_rule"], row["operator_id"]) == (
        1,
        "next_checkpoint_root",
        "lab",
    )
    report = {
        "plan_id": "p1",
        "inspected_at": "2030-01-01T00:00:00Z",
        "sample": ["g1"],
        "chips_present": [
            {"chip_id": "g1", "serial": "SN-other", "key": world.keys["g1"].signer_id},
            {"chip_id": "ghost", "serial": "SN-ghost", "key": key("ghost").signer_id},
        ],
        "chips_missing": ["g2"],
        "seals": [{"seal_id": "rack-1", "intact": False}],
        "meter_readings": [{"meter_id": "m9", "energy_j": 1e9, "read_at": "2030-01-01T00:00:00Z"}],
        "activity": "training",
    }
    assert "inspector 'iaea-1'" in refused(world.submit("inspection.report/v1", report, "lab"))
    world.ok("inspection.report/v1", report, "iaea-1")
    got = world.registry.get("inspection_reports", "p1")
    assert got is not None
    assert (got["chips_present"], got["chips_missing"], got["seals_broken"]) == (2, 1, 1)
    problems = {
        (d.get("chip_id") or d["meter_id"], d["problem"]) for d in json.loads(got["discrepancies"])
    }
    assert problems == {
        ("g1", "serial differs"),
        ("ghost", "not registered"),
        ("m9", "not certified"),
    }
    assert world.registry.get("inspection_plans", "p1")["reported_idx"] == got["idx"]  # type: ignore[index]
    again = refused(world.submit("inspection.report/v1", report, "iaea-1"))
    assert "already has its report" in again


def test_a_reports_seed_is_the_logs_root_just_after_its_plan(world: World) -> None:
    """The report keeps the plan's seed: the root of the log's tree at the plan's index + 1,
    which no one knew when the plan was committed, and the sample drawn from it."""
    inspector(world)
    planned = world.ok("inspection.plan/v1", plan(), "iaea-1")
    world.ok("workload.declare/v1", workload(), "lab")  # the log moves on
    report = {"plan_id": "p1", "inspected_at": "2030-01-01T00:00:00Z", "sample": ["g2", "g1"]}
    world.ok("inspection.report/v1", report, "iaea-1")
    row = world.registry.get("inspection_reports", "p1")
    assert row is not None
    assert row["seed_size"] == planned.index + 1
    assert row["seed_root"] == world.tree.root(planned.index + 1).hex()
    assert row["seed_root"] != world.tree.root().hex()
    assert json.loads(row["sample"]) == ["g2", "g1"]


def test_a_fold_without_the_logs_tree_cannot_take_a_report(world: World) -> None:
    """A fold that cannot read the log's tree refuses a report rather than keep it without
    its seed (as it does a witness cosignature)."""
    inspector(world)
    world.ok("inspection.plan/v1", plan(), "iaea-1")
    world.registry.roots = None
    report = {"plan_id": "p1", "inspected_at": "2030-01-01T00:00:00Z"}
    assert "no view of the log's tree" in refused(
        world.submit("inspection.report/v1", report, "iaea-1")
    )


def test_a_report_dated_before_its_plan_is_refused(world: World) -> None:
    """An inspection cannot have drawn its sample before the plan was on the log."""
    inspector(world)
    world.ok("inspection.plan/v1", plan(), "iaea-1")
    early = {"plan_id": "p1", "inspected_at": "2020-01-01T00:00:00Z"}
    assert "before the plan was on the log" in refused(
        world.submit("inspection.report/v1", early, "iaea-1")
    )


def test_only_a_registered_inspector_plans(world: World) -> None:
    """A plan by an operator, or naming an unregistered inspector, is refused."""
    assert "inspector 'iaea-1' is not registered" in refused(
        world.submit("inspection.plan/v1", plan(), "lab")
    )
    inspector(world)
    assert "inspector 'iaea-1'" in refused(world.submit("inspection.plan/v1", plan(), "lab"))


# -- workloads ---------------------------------------------------------------------------------


def workload() -> dict[str, Any]:
    return {
        "workload_id": "w1",
        "operator_id": "lab",
        "cluster_id": "c1",
        "kind": "inference",
        "starts_at": "2026-12-01T00:00:00Z",
        "ends_at": "2027-12-01T00:00:00Z",
        "chips": 512,
        "power_w_max": 5e5,
    }


def test_an_operator_declares_non_training_work_on_its_cluster(world: World) -> None:
    """A workload is declared by the cluster's operator; another operator's is refused."""
    body = workload()
    assert "operator 'lab'" in refused(world.submit("workload.declare/v1", body, "lab-uk"))
    world.ok("workload.declare/v1", body, "lab")
    row = world.registry.get("workloads", "w1")
    assert row is not None
    assert (row["kind"], row["facility_id"], row["chips"]) == ("inference", "f1", 512)
    assert "already declared" in refused(world.submit("workload.declare/v1", body, "lab"))


def test_the_sources_fold_the_same_from_the_log_alone(world: World) -> None:
    """Folding the same entries again from nothing gives the same views (state rebuild)."""
    certify_meter(world)
    install_meter(world)
    first = reading(0, 1e9, None)
    world.ok("meter.reading/v1", first, "m1")
    world.ok("meter.reading/v1", reading(1, 2e9, reading_digest(first)), "m1")
    world.ok("chip.ship/v1", ship(), "nv")
    fresh = World(secretariat=world.secretariat)
    for when, statement in world.log:
        fresh.registry.apply(fresh.registry.applied, when, statement)
    assert fresh.registry.views == world.registry.views


def test_a_custody_transfer_is_a_movement_too(world: World) -> None:
    """Handing an installed chip to another operator (chip.custody/v1 transfer) records the
    parties on both sides, as a sale does."""
    world.ok("chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c1"}, "lab")
    world.ok(
        "chip.custody/v1", {"chip_id": "g1", "action": "transfer", "to_operator": "lab-uk"}, "lab"
    )
    (move,) = [r for r in world.registry.views["chip_movements"].values() if r["chip_id"] == "g1"]
    assert (move["kind"], move["to_party"], move["cross_border"]) == ("transfer", "uk", True)


def test_next_reading_builds_the_chain_the_fold_takes(world: World) -> None:
    """Readings built one after another with next_reading are each accepted in turn."""
    certify_meter(world)
    install_meter(world)
    previous = None
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for hour in range(4):
        t0 = start + timedelta(hours=hour)
        body = next_reading("m1", previous, t0, t0 + timedelta(hours=1), 3.6e9 * (hour + 1))
        world.ok("meter.reading/v1", body, "m1")
        previous = body
    assert world.registry.get("meters", "m1")["head_seq"] == 3  # type: ignore[index]
