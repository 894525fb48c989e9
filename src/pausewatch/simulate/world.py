"""The registry statements that put a simulated fleet on the log.

:func:`fleet_world` returns, stage by stage, the signed statements a real deployment would file
for a :class:`~pausewatch.simulate.fleet.Fleet`: the party and its operators (secretariat,
party), facilities and clusters (operators), the chip maker and its certification of every chip
key (secretariat, maker), each chip's installation, and each declared run. Statements within a
stage are independent of each other, so a caller may submit a stage at once and wait for it
before the next.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pausewatch.ledger import Signer
from pausewatch.simulate.fleet import Fleet
from pausewatch.statements import KeyPair, Statement, sign_statement, signer_id


def _key(seed: int, name: str) -> KeyPair:
    """A deterministic key pair for a simulated actor."""
    material = hashlib.sha256(f"pausewatch/simulate/actor/{seed}/{name}".encode()).digest()
    return KeyPair(Signer(name, Ed25519PrivateKey.from_private_bytes(material)))


@dataclass(frozen=True)
class FleetWorld:
    """The statements, in stages, and the keys of the actors that signed them."""

    stages: tuple[tuple[Statement, ...], ...]
    party: KeyPair
    operators: dict[str, KeyPair]
    maker: KeyPair


def fleet_world(
    fleet: Fleet,
    secretariat: KeyPair,
    *,
    party_id: str = "party-1",
    maker_id: str = "maker-1",
    seed: int = 0,
    planned_flop: float = 5e23,
    same_recipe: bool = False,
    phase: str = "pretraining",
) -> FleetWorld:
    """The statements that register ``fleet``'s operators, clusters and chips, install every
    chip and declare every run; signed by deterministic keys derived from ``seed``.

    Each run declares its own hyper-parameters and data order; with ``same_recipe`` every run
    declares the same ones: one run split across the clusters (docs/adr/0028). Every run is
    declared in ``phase``."""
    party = _key(seed, party_id)
    maker = _key(seed, maker_id)
    operator_ids = sorted({spec.operator_id for spec in fleet.clusters})
    operators = {op: _key(seed, op) for op in operator_ids}
    first = [
        sign_statement(
            "party.register/v1",
            {"party_id": party_id, "name": party_id, "key": party.signer_id},
            secretariat,
        ),
        sign_statement(
            "chip_maker.register/v1",
            {"maker_id": maker_id, "name": maker_id, "key": maker.signer_id},
            secretariat,
        ),
    ]
    ops = [
        sign_statement(
            "operator.register/v1",
            {"operator_id": op, "party_id": party_id, "name": op, "key": key.signer_id},
            party,
        )
        for op, key in operators.items()
    ]
    facilities = [
        sign_statement(
            "facility.register/v1",
            {
                "facility_id": f"{op}-facility",
                "operator_id": op,
                "name": f"{op} data centre",
                "location": {"country": "US"},
                "power_capacity_mw": 100.0,
            },
            key,
        )
        for op, key in operators.items()
    ]
    clusters = [
        sign_statement(
            "cluster.register/v1",
            {
                "cluster_id": spec.cluster_id,
                "facility_id": f"{spec.operator_id}-facility",
                "name": spec.cluster_id,
                "network_gbps": 400.0,
            },
            operators[spec.operator_id],
        )
        for spec in fleet.clusters
    ]
    certify = [
        sign_statement(
            "chip.certify/v1",
            {
                "chip_id": chip.chip_id,
                "maker_id": maker_id,
                "model": chip.model,
                "serial": chip.chip_id,
                "key": signer_id(chip.public_key),
                "operator_id": chip.operator_id,
            },
            maker,
        )
        for chip in fleet.chips
    ]
    install = [
        sign_statement(
            "chip.custody/v1",
            {"chip_id": chip.chip_id, "action": "install", "cluster_id": chip.cluster_id},
            operators[chip.operator_id],
        )
        for chip in fleet.chips
    ]
    owner = {spec.cluster_id: spec for spec in fleet.clusters}

    def digest(run_id: str) -> str:
        recipe = b"simulated hyper-parameters" + (b"" if same_recipe else run_id.encode())
        return hashlib.sha256(recipe).hexdigest()

    declare = [
        sign_statement(
            "run.declaration/v1",
            {
                "run_id": run_id,
                "operator_id": owner[cluster_id].operator_id,
                "cluster_id": cluster_id,
                "model": f"model-{cluster_id}",
                "phase": phase,
                "planned_flop": planned_flop,
                "estimate_method": "hardware",
                "chips": owner[cluster_id].chips,
                "chip_model": owner[cluster_id].model,
                "starts_at": fleet.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ends_at": (fleet.start + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "hyperparameters_digest": digest(run_id),
                "data_order_seed_digest": digest(run_id),
                "checkpoint_interval_steps": 1000,
            },
            operators[owner[cluster_id].operator_id],
        )
        for run_id, cluster_id in sorted(fleet.runs.items())
    ]
    stages = tuple(
        tuple(s) for s in (first, ops, facilities, clusters, certify, install, declare) if s
    )
    return FleetWorld(stages, party, operators, maker)
