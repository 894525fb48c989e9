"""Chips unaccounted for per operator and party, exports to non-parties and inspection results,
computed from a registry folded from real signed statements (issue 16, items 2 and 4;
docs/adr/0026)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from pausewatch.detect import ChipAccount, chip_accounts
from pausewatch.policy import evaluate, load_preset
from pausewatch.policy._findings import FindingKind
from pausewatch.state import facts_from_registry
from registry.world import World, key  # type: ignore[import-not-found]

COMMITMENT = hashlib.sha256(b"population order and draw").hexdigest()


@pytest.fixture
def world() -> World:
    """Party us (operator lab, facility f1, cluster c1), party uk (operator lab-uk), maker nv
    and six chips sold to lab."""
    w = World()
    w.basic()
    w.party("uk")
    w.operator("lab-uk", "uk")
    for n in range(1, 7):
        w.chip(f"g{n}", "nv", buyer="lab")
    return w


def ship(w: World, *chips: str) -> int:
    body = {
        "shipment_id": "s1",
        "maker_id": "nv",
        "chip_ids": list(chips),
        "to_operator": "lab",
        "receiving_party": "us",
        "from_country": "TW",
        "to_country": "US",
        "shipped_at": "2026-12-02T00:00:00Z",
    }
    return w.ok("chip.ship/v1", body, "nv").index


def custody(w: World, chip: str, action: str) -> None:
    body: dict[str, Any] = {"chip_id": chip, "action": action}
    if action == "install":
        body["cluster_id"] = "c1"
    w.ok("chip.custody/v1", body, "lab")


def seen(w: World, chip: str) -> None:
    """The telemetry fold's chain head for ``chip``: an accepted record (the telemetry fold
    itself is tested in tests/telemetry)."""
    w.registry.views["tel_chains"][(chip,)] = {
        "chip_id": chip,
        "seq": 0,
        "hash": "0" * 64,
        "window_end": "2026-12-03T00:00:00Z",
        "energy_j": 1,
        "updated_idx": w.registry.applied - 1,
    }


def account(accounts: tuple[ChipAccount, ...], scope_id: str) -> ChipAccount:
    (found,) = [a for a in accounts if a.id == scope_id]
    return found


def test_shipped_less_installed_retired_exported_and_reporting_is_unaccounted(
    world: World,
) -> None:
    """Of six chips shipped to lab, one installed and reporting, one installed and silent
    (dark), one retired, one exported and one reporting uninstalled, the sixth is unaccounted
    for, named with the shipment's log index; the party's balance is the same."""
    index = ship(world, "g1", "g2", "g3", "g4", "g5", "g6")
    custody(world, "g1", "install")
    seen(world, "g1")
    custody(world, "g2", "install")
    custody(world, "g3", "install")
    custody(world, "g3", "retire")
    body = {
        "export_id": "x1",
        "chip_ids": ["g4"],
        "destination_country": "ZZ",
        "destination_entity": "Elsewhere Compute Ltd",
        "at": "2026-12-04T00:00:00Z",
    }
    exported = world.ok("chip.export/v1", body, "lab").index
    seen(world, "g5")
    got = chip_accounts(world.registry)
    for acc in (account(got.operators, "lab"), account(got.parties, "us")):
        assert acc.shipped.count == 6
        assert acc.installed.chips == ("g1", "g2")
        assert acc.retired.chips == ("g3",)
        assert acc.exported.chips == ("g4",)
        assert acc.reporting.chips == ("g1", "g5")
        assert acc.dark.chips == ("g2",)
        assert (acc.unaccounted.count, acc.unaccounted.chips) == (1, ("g6",))
        assert acc.evidence == (index,)
    assert account(got.operators, "lab").party == "us"
    (export,) = got.exports
    assert (export.from_operator, export.from_party, export.destination_country) == (
        "lab",
        "us",
        "ZZ",
    )
    assert (export.destination_entity, export.at, export.idx) == (
        "Elsewhere Compute Ltd",
        "2026-12-04T00:00:00.000000Z",
        exported,
    )


def test_a_sale_across_borders_moves_the_chip_to_the_buyers_party(world: World) -> None:
    """A chip shipped to lab and sold to lab-uk is transferred out of lab's and party us's
    balance and unaccounted for in lab-uk's and party uk's until it is installed or seen."""
    ship(world, "g1")
    sale = {"chip_id": "g1", "to_operator": "lab-uk", "receiving_party": "uk"}
    index = world.ok("chip.transfer/v1", sale, "lab").index
    got = chip_accounts(world.registry)
    for acc in (account(got.operators, "lab"), account(got.parties, "us")):
        assert (acc.shipped.count, acc.transferred_out.chips, acc.unaccounted.count) == (
            1,
            ("g1",),
            0,
        )
    for acc in (account(got.operators, "lab-uk"), account(got.parties, "uk")):
        assert (acc.shipped.count, acc.unaccounted.chips, acc.evidence) == (1, ("g1",), (index,))


def test_chips_certified_and_never_shipped_stay_the_makers(world: World) -> None:
    """Chips certified with a buyer and neither shipped nor used are in no balance; a chip
    installed without a recorded shipment arrived all the same and is accounted for."""
    custody(world, "g1", "install")
    got = chip_accounts(world.registry)
    assert got.certified_only.count == 5
    lab = account(got.operators, "lab")
    assert (lab.shipped.count, lab.installed.count, lab.unaccounted.count) == (1, 1, 0)


def test_an_inspection_reports_missing_chips_discrepancies_and_broken_seals(
    world: World,
) -> None:
    """An inspection report's missing chips, discrepancies and broken seals are listed for its
    facility and operator, with the report's log index."""
    custody(world, "g1", "install")
    custody(world, "g2", "install")
    world.keys["iaea-1"] = key("iaea-1")
    inspector = {
        "inspector_id": "iaea-1",
        "name": "Inspector One",
        "body": "International Compute Agency",
        "key": world.keys["iaea-1"].signer_id,
    }
    world.ok("inspector.register/v1", inspector, world.secretariat)
    plan = {
        "plan_id": "p1",
        "inspector_id": "iaea-1",
        "facility_id": "f1",
        "chips_drawn": 2,
        "commitment": COMMITMENT,
    }
    world.ok("inspection.plan/v1", plan, "iaea-1")
    report = {
        "plan_id": "p1",
        "inspected_at": "2030-01-01T00:00:00Z",
        "sample": ["g1", "g2"],
        "chips_present": [
            {"chip_id": "g1", "serial": "SN-other", "key": world.keys["g1"].signer_id}
        ],
        "chips_missing": ["g2"],
        "seals": [
            {"seal_id": "rack-1", "intact": False},
            {"seal_id": "rack-2", "intact": True},
        ],
    }
    index = world.ok("inspection.report/v1", report, "iaea-1").index
    (found,) = chip_accounts(world.registry).inspections
    assert (found.facility_id, found.operator_id, found.plan_id, found.idx) == (
        "f1",
        "lab",
        "p1",
        index,
    )
    assert found.missing == ("g2",)
    assert found.discrepancies == ("g1: serial differs",)
    assert found.seals_broken == ("rack-1",)
    assert not found.clean


def test_the_balance_flows_into_the_policys_findings(world: World) -> None:
    """The state's facts carry the balance of a registry with chips unaccounted for, and the
    policy files chips_unaccounted on the operator and on its party, citing the shipment."""
    index = ship(world, "g1", "g2")
    custody(world, "g1", "install")
    policy = load_preset("miri-2025")
    at = datetime(2026, 12, 10, tzinfo=UTC)
    facts = facts_from_registry(world.registry, at, policy)
    assert [(a.scope.value, a.id, a.unaccounted) for a in facts.chip_accounts] == [
        ("operator", "lab", 1),
        ("party", "us", 1),
    ]
    found = [
        (f.subject, f.evidence)
        for f in evaluate(policy, facts, at).findings
        if f.kind is FindingKind.CHIPS_UNACCOUNTED
    ]
    assert sorted(found) == [("operator:lab", (f"log:{index}",)), ("party:us", (f"log:{index}",))]


def test_kept_accounts_are_the_accounts_computed_afresh_at_every_step(world: World) -> None:
    """chip_accounts is kept by the registry between changes of the views it reads
    (docs/adr/0056): after each statement folded and each chip first seen reporting (a row
    set in place, as the telemetry fold sets it), it equals the accounts computed afresh."""
    from pausewatch.detect._chips import _chip_accounts

    steps = [
        lambda: ship(world, "g1", "g2", "g3", "g4"),
        lambda: custody(world, "g1", "install"),
        lambda: seen(world, "g1"),
        lambda: seen(world, "g1"),  # a new chain head of a chip already seen
        lambda: custody(world, "g2", "install"),
        lambda: seen(world, "g3"),
        lambda: custody(world, "g2", "retire"),
    ]
    assert chip_accounts(world.registry) == _chip_accounts(world.registry)
    for step in steps:
        chip_accounts(world.registry)
        step()
        assert chip_accounts(world.registry) == _chip_accounts(world.registry)
    assert account(chip_accounts(world.registry).operators, "lab").reporting.chips == (
        "g1",
        "g3",
    )
