"""Who may install a chip (docs/adr/0016-chip-buyer.md): the operator its maker certified it to,
or the one a ``chip.transfer/v1`` passed that right to; a certification that names no buyer
(on logs from before buyers were named) folds as it always did."""

from __future__ import annotations

import pytest

from pausewatch.state import new_registry

from .world import World, key


@pytest.fixture
def world() -> World:
    w = World()
    w.basic()
    w.operator("lab2", "us")
    w.facility("f2", "lab2")
    w.cluster("c2", "f2", "lab2")
    return w


def install(world: World, chip: str, cluster: str, operator: str) -> tuple[bool, str]:
    out = world.submit(
        "chip.custody/v1", {"chip_id": chip, "action": "install", "cluster_id": cluster}, operator
    )
    return out.accepted, out.reason or ""


def transfer(world: World, chip: str, to: str, signer: str) -> tuple[bool, str]:
    out = world.submit("chip.transfer/v1", {"chip_id": chip, "to_operator": to}, signer)
    return out.accepted, out.reason or ""


def chip_row(world: World, chip: str) -> tuple[str, str | None, str | None]:
    row = world.registry.get("chips", chip)
    assert row is not None
    return row["status"], row["operator_id"], row["cluster_id"]


def test_only_the_buyer_may_install_a_certified_chip(world: World) -> None:
    """The reported race: another operator installs first. It is refused (forbidden) with the
    rightful operator named; the buyer then installs its chip."""
    world.chip("g1", "nv", buyer="lab")
    assert chip_row(world, "g1") == ("certified", "lab", None)
    accepted, reason = install(world, "g1", "c2", "lab2")
    assert not accepted
    assert "sold to operator 'lab'" in reason
    assert "only 'lab' may install it" in reason
    assert world.registry.check(
        world.sign(
            "chip.custody/v1", {"chip_id": "g1", "action": "install", "cluster_id": "c2"}, "lab2"
        ),
        world.now,
    ).forbidden  # type: ignore[union-attr]
    assert install(world, "g1", "c1", "lab") == (True, "")
    assert chip_row(world, "g1") == ("installed", "lab", "c1")


def test_a_certification_must_name_a_registered_buyer(world: World) -> None:
    """A buyer the registry does not hold is refused."""
    out = world.submit(
        "chip.certify/v1",
        {
            "chip_id": "g1",
            "maker_id": "nv",
            "model": "H100 SXM",
            "serial": "SN-g1",
            "key": key("g1").signer_id,
            "operator_id": "nobody",
        },
        "nv",
    )
    assert not out.accepted
    assert "operator 'nobody' is not registered" in (out.reason or "")


def test_the_buyer_sells_a_chip_it_has_not_installed(world: World) -> None:
    """The buyer passes its right on: from then on only the new buyer may install the chip,
    and the old one is refused with the new one named."""
    world.chip("g1", "nv", buyer="lab")
    assert transfer(world, "g1", "lab2", "lab") == (True, "")
    assert chip_row(world, "g1") == ("certified", "lab2", None)
    accepted, reason = install(world, "g1", "c1", "lab")
    assert not accepted
    assert "only 'lab2' may install it" in reason
    assert install(world, "g1", "c2", "lab2") == (True, "")


def test_an_installed_chip_sold_leaves_its_cluster(world: World) -> None:
    """Selling an installed chip takes it out of its cluster, in transit to the buyer."""
    world.chip("g1", "nv", buyer="lab")
    assert install(world, "g1", "c1", "lab")[0]
    assert transfer(world, "g1", "lab2", "lab") == (True, "")
    assert chip_row(world, "g1") == ("in_transit", "lab2", None)
    assert install(world, "g1", "c2", "lab2") == (True, "")


@pytest.mark.parametrize("signer", ["lab2", "nv"])
def test_only_the_holder_of_the_right_may_sell(world: World, signer: str) -> None:
    """Neither another operator nor the maker may sell a chip that is already sold: the
    refusal names whose right it is."""
    world.chip("g1", "nv", buyer="lab")
    accepted, reason = transfer(world, "g1", "lab2", signer)
    assert not accepted
    assert "operator 'lab''s" in reason
    assert chip_row(world, "g1") == ("certified", "lab", None)


def test_a_retired_chip_cannot_be_sold(world: World) -> None:
    """A retired chip is out of service for good: no sale."""
    world.chip("g1", "nv", buyer="lab")
    assert install(world, "g1", "c1", "lab")[0]
    world.ok("chip.custody/v1", {"chip_id": "g1", "action": "retire"}, "lab")
    accepted, reason = transfer(world, "g1", "lab2", "lab")
    assert not accepted
    assert "retired" in reason


def test_a_certification_without_a_buyer_folds_as_it_always_did(world: World) -> None:
    """An entry already on a log, certifying a chip to no one, folds as before: the first
    operator to install the chip gets it."""
    world.chip("g1", "nv")
    assert chip_row(world, "g1") == ("certified", None, None)
    assert install(world, "g1", "c2", "lab2") == (True, "")
    assert chip_row(world, "g1") == ("installed", "lab2", "c2")


def test_the_maker_sells_a_chip_certified_to_no_one(world: World) -> None:
    """For a chip certified to no one its maker holds the right: it alone may sell it (an
    operator may not), and then only the buyer may install it."""
    world.chip("g1", "nv")
    accepted, reason = transfer(world, "g1", "lab2", "lab")
    assert not accepted
    assert "only its maker 'nv'" in reason
    assert transfer(world, "g1", "lab", "nv") == (True, "")
    assert not install(world, "g1", "c2", "lab2")[0]
    assert install(world, "g1", "c1", "lab") == (True, "")


def test_a_refold_gives_the_same_owners(world: World) -> None:
    """Sales and refused installs fold the same way from the same entries (the log is the
    truth): a fresh fold of the same statements reaches the same chips view."""
    world.chip("g1", "nv", buyer="lab")
    world.chip("g2", "nv")
    install(world, "g1", "c2", "lab2")
    transfer(world, "g1", "lab2", "lab")
    install(world, "g1", "c2", "lab2")
    install(world, "g2", "c1", "lab")
    assert world.registry.views["chips"]  # something to compare
    statements = world.log
    fresh = new_registry(world.registry.secretariat)
    for index, (at, statement) in enumerate(statements):
        fresh.apply(index, at, statement)
    assert fresh.views == world.registry.views
