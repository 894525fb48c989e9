"""The demo world: who is in it, its keys, its policy, and the statements that register it.

Everything is deterministic: keys come from a seed and the actor's name, times from the
scenario's start. Replaying the statements gives the same bytes, which the log answers as
duplicates; that is how a demo interrupted by a crash resumes without losing or doubling
anything.

The parties are named after real jurisdictions so that the story reads naturally, but every
stance, vote and run in it is simulated: the positions cite this demo, not a real statement.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pausewatch.ledger import Signer
from pausewatch.policy import load_preset, policy_to_json
from pausewatch.statements import KeyPair, signer_id

T0 = datetime(2027, 3, 1, tzinfo=UTC)
"""When the demo world's story starts (world time)."""

SIMULATED = "pausewatch demo: a simulated stance, not a statement of the real party"


@dataclass(frozen=True)
class Party:
    """A signatory of the simulated agreement."""

    party_id: str
    name: str
    stance: str
    vote: str
    """How its delegate votes on the pause (yes, no, abstain)."""


PARTIES: tuple[Party, ...] = (
    Party("us", "United States", "backs", "yes"),
    Party("cn", "China", "opposes", "no"),
    Party("eu", "European Union", "backs", "yes"),
    Party("uk", "United Kingdom", "backs", "yes"),
    Party("in", "India", "undeclared", "abstain"),
    Party("jp", "Japan", "backs", "yes"),
)


@dataclass(frozen=True)
class ClusterPlan:
    """One operator's cluster in the demo."""

    operator_id: str
    operator_name: str
    party_id: str
    facility_id: str
    country: str
    cluster_id: str
    model: str
    """Chip model, as the hardware catalogue names it."""
    chips: int
    precision: str
    """What its training counts in (``fp8`` or ``bf16``)."""


CLUSTERS: tuple[ClusterPlan, ...] = (
    ClusterPlan(
        "frontier-lab", "Frontier Lab", "us", "fl-iowa", "US", "fl-iowa-1", "GB200", 1536, "fp8"
    ),
    ClusterPlan(
        "dragon-ai", "Dragon AI", "cn", "dr-ningxia", "CN", "dr-ningxia-1", "H100 SXM", 512, "bf16"
    ),
)

EVALUATORS: tuple[tuple[str, str, str], ...] = (
    ("uk-aisi", "uk", "UK AI Security Institute (simulated)"),
    ("us-caisi", "us", "US Center for AI Standards and Innovation (simulated)"),
)
ADOPTED_DOMAINS = ("ai_rnd_automation", "self_improvement", "cyber_offence")
"""The domains whose suites the secretariat adopts with the agreement: three of five, so the
first lift fails on ``eval_domains_adopted``; the other two come with the safeguards."""

WITNESSES = ("witness-1", "witness-2", "witness-3")
"""The log's witnesses (their C2SP key names): three, as the lift condition on ``witnesses``
asks. The secretariat registers them on the log once the safeguards are completed."""

RUN_ID = "frontier-lab/rl-7"
MODEL = "frontier-2"
BASE_MODEL = "frontier-1"
PLANNED_FLOP = 8e22
"""The RL run's plan: below the 1e23 post-training prohibition, in the approval tier."""
RUN_STEPS = 200_000
"""Optimiser steps the RL run's transcript commitment plans (a checkpoint every 500)."""


def key(seed: int, name: str) -> KeyPair:
    """The demo actor ``name``'s key pair (deterministic from ``seed``)."""
    material = hashlib.sha256(f"pausewatch/demo/{seed}/{name}".encode()).digest()
    return KeyPair(Signer(name, Ed25519PrivateKey.from_private_bytes(material)))


def chip_key(seed: int, chip_id: str) -> Ed25519PrivateKey:
    """A chip's private key (deterministic from ``seed``)."""
    material = hashlib.sha256(f"pausewatch/demo/{seed}/chip/{chip_id}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(material)


def chip_ids(plan: ClusterPlan) -> list[str]:
    """The ids of a cluster's chips."""
    return [f"{plan.cluster_id}/{n:05d}" for n in range(plan.chips)]


def demo_policy() -> dict[str, Any]:
    """miri-2025 with the demo's compressed clocks: one-day votes, 30-day pauses decided by
    simple majority, chips dark after two silent days, halt orders by the Conference. The lift
    conditions are the preset's own: coverage, a suite in every capability domain, three
    witnesses, no open critical finding."""
    doc = policy_to_json(load_preset("miri-2025"))
    doc["id"] = "demo-2027"
    doc["title"] = "pausewatch demo: MIRI's draft agreement with the demo's compressed clocks"
    governance = doc["governance"]
    governance["vote_window_days"] = 1
    governance["decisions"]["halt_order"] = {"body": "conference", "rule": "simple_majority"}
    doc["clusters"]["telemetry"]["max_silence_minutes"] = 2 * 24 * 60
    pause = doc["pause"]
    pause["default_duration_days"] = 30
    pause["renewal_duration_days"] = 30
    pause["lift"]["rule"] = "simple_majority"
    return doc


def at(days: float, hours: float = 0.0) -> datetime:
    """World time ``days`` and ``hours`` after the start."""
    return T0 + timedelta(days=days, hours=hours)


def iso(t: datetime) -> str:
    """RFC 3339 UTC, whole seconds (``2027-03-01T00:00:00Z``)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def witness_signer(seed: int, name: str) -> Signer:
    """Witness ``name``'s key (deterministic from ``seed``); it cosigns under ``name``."""
    return key(seed, name).signer


def party_keys(seed: int) -> dict[str, KeyPair]:
    """Each party's own key and its delegate's (``<id>-delegate``)."""
    out: dict[str, KeyPair] = {}
    for p in PARTIES:
        out[p.party_id] = key(seed, p.party_id)
        out[f"{p.party_id}-delegate"] = key(seed, f"{p.party_id}-delegate")
    return out


__all__ = [
    "ADOPTED_DOMAINS",
    "BASE_MODEL",
    "CLUSTERS",
    "EVALUATORS",
    "MODEL",
    "PARTIES",
    "PLANNED_FLOP",
    "RUN_ID",
    "RUN_STEPS",
    "SIMULATED",
    "T0",
    "WITNESSES",
    "ClusterPlan",
    "Party",
    "at",
    "chip_ids",
    "chip_key",
    "demo_policy",
    "iso",
    "key",
    "party_keys",
    "signer_id",
    "witness_signer",
]
