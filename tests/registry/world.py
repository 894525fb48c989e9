"""A small registry world for tests: real keys, real signed statements, folded in order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pausewatch.ledger import MerkleTree, encode_entry
from pausewatch.registry import Outcome, Registry
from pausewatch.state import new_registry
from pausewatch.statements import KeyPair, Statement, sign_statement

T0 = datetime(2026, 12, 1, tzinfo=UTC)
DIGEST = hashlib.sha256(b"hyper-parameters").hexdigest()


def key(name: str) -> KeyPair:
    """A fresh key pair (Ed25519) named for readability."""
    return KeyPair.generate(name)


@dataclass
class World:
    """The secretariat, a fold, and the keys of everyone registered so far."""

    secretariat: KeyPair = field(default_factory=lambda: key("secretariat"))
    keys: dict[str, KeyPair] = field(default_factory=dict)
    registry: Registry = field(init=False)
    now: datetime = T0
    log: list[tuple[datetime, Statement]] = field(default_factory=list)
    """Every statement folded, with its time, in order (to fold again from nothing)."""

    def __post_init__(self) -> None:
        # The log's tree, as the service's log would hold it: recorded witness cosignatures
        # are checked against it.
        self.tree = MerkleTree()
        self.registry = new_registry({self.secretariat.signer_id}, roots=self.tree.root)

    def sign(self, kind: str, body: dict[str, Any], signer: str | KeyPair) -> Statement:
        k = signer if isinstance(signer, KeyPair) else self.keys[signer]
        return sign_statement(kind, body, k)

    def fold(self, statement: Statement) -> Outcome:
        self.now += timedelta(seconds=1)
        self.tree.append(encode_entry(statement.canonical_bytes(), self.now))
        self.log.append((self.now, statement))
        return self.registry.apply(self.registry.applied, self.now, statement)

    def submit(self, kind: str, body: dict[str, Any], signer: str | KeyPair) -> Outcome:
        return self.fold(self.sign(kind, body, signer))

    # -- builders (each asserts acceptance) ---------------------------------------------------

    def ok(self, kind: str, body: dict[str, Any], signer: str | KeyPair) -> Outcome:
        outcome = self.submit(kind, body, signer)
        assert outcome.accepted, outcome.reason
        return outcome

    def party(self, pid: str) -> None:
        self.keys[pid] = key(pid)
        body = {"party_id": pid, "name": pid.upper(), "key": self.keys[pid].signer_id}
        self.ok("party.register/v1", body, self.secretariat)

    def operator(self, oid: str, party: str) -> None:
        self.keys[oid] = key(oid)
        body = {
            "operator_id": oid,
            "party_id": party,
            "name": oid,
            "key": self.keys[oid].signer_id,
        }
        self.ok("operator.register/v1", body, party)

    def facility(self, fid: str, operator: str) -> None:
        body = {
            "facility_id": fid,
            "operator_id": operator,
            "name": fid,
            "location": {"country": "US"},
            "power_capacity_mw": 150.0,
        }
        self.ok("facility.register/v1", body, operator)

    def cluster(self, cid: str, facility: str, operator: str) -> None:
        body = {"cluster_id": cid, "facility_id": facility, "name": cid, "network_gbps": 400.0}
        self.ok("cluster.register/v1", body, operator)

    def maker(self, mid: str) -> None:
        self.keys[mid] = key(mid)
        body = {"maker_id": mid, "name": mid, "key": self.keys[mid].signer_id}
        self.ok("chip_maker.register/v1", body, self.secretariat)

    def chip(
        self, chip_id: str, maker: str, model: str = "H100 SXM", buyer: str | None = None
    ) -> None:
        """Certify ``chip_id``, sold to ``buyer``; without one, as certifications on logs from
        before buyers were named read (the fold still takes them; the service does not)."""
        self.keys[chip_id] = key(chip_id)
        body = {
            "chip_id": chip_id,
            "maker_id": maker,
            "model": model,
            "serial": f"SN-{chip_id}",
            "key": self.keys[chip_id].signer_id,
        }
        if buyer is not None:
            body["operator_id"] = buyer
        self.ok("chip.certify/v1", body, maker)

    def basic(self) -> None:
        """Party ``us``, operator ``lab`` with facility ``f1`` and cluster ``c1``, maker ``nv``."""
        self.party("us")
        self.operator("lab", "us")
        self.facility("f1", "lab")
        self.cluster("c1", "f1", "lab")
        self.maker("nv")


def declaration(run_id: str, **over: Any) -> dict[str, Any]:
    """A valid run declaration body for operator ``lab`` on cluster ``c1``."""
    body: dict[str, Any] = {
        "run_id": run_id,
        "operator_id": "lab",
        "cluster_id": "c1",
        "model": "m1",
        "phase": "pretraining",
        "planned_flop": 5e22,
        "estimate_method": "architecture",
        "chips": 1024,
        "starts_at": "2026-12-10T00:00:00Z",
        "ends_at": "2027-01-10T00:00:00Z",
        "hyperparameters_digest": DIGEST,
        "data_order_seed_digest": DIGEST,
        "checkpoint_interval_steps": 1000,
    }
    body.update(over)
    return body
