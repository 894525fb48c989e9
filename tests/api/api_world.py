"""A world with one actor of each role, put on a real :class:`LogService` over HTTP.

The secretariat (the service's own key), party ``us`` with a delegate, operator ``lab`` with
facility ``f1``, cluster ``c1`` and runs ``r1``, ``r-halt`` and ``r-tr``, a second operator
``lab-b`` (key ``operator-b``, no role of the table), chip maker ``nv`` with chips ``chip-1``
(sold to ``lab``, installed in ``c1``) and ``chip-2`` (sold to ``lab``, not installed),
evaluator ``aisi``
(registered by ``us``), inspector ``insp-1`` (registered by the secretariat) with an inspection
plan ``plan-1`` of ``f1``, meter ``meter-1`` (certified by the secretariat, installed on ``c1``),
and a witness key (registered by the secretariat as the log's witness, so
that its cosignatures can be recorded; the keys view never binds it: witnesses sign no
statement). Governance under a copy of ``miri-2025`` with a one-day vote window: a halt order on
``r-halt`` and a policy amendment, both passed and decided; a challenge inspection whose vote
has closed but which is not decided yet; a pause proposal open for votes. Transcripts: ``r1``
committed with its initial weights, ``r-tr`` to its final weights with one replay of audit
``audit-1`` (no verdict yet).

:func:`build_world` builds it once into a data directory; :func:`open_world` opens a service on
it (or on a copy) with a clock that carries on from where the world stopped.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.policy import Policy, load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService, due_decisions
from pausewatch.settings import Settings
from pausewatch.statements import KeyPair, load_key, sign_statement
from pausewatch.telemetry import sign_record

T0 = datetime(2027, 1, 4, tzinfo=UTC)
DIGEST = hashlib.sha256(b"hyper-parameters").hexdigest()

ROLES = (
    "secretariat",
    "party",
    "delegate",
    "operator",
    "chip_maker",
    "chip",
    "evaluator",
    "inspector",
    "meter",
    "witness",
)
"""Every role a key can hold here; ``witness`` signs no statement (it cosigns checkpoints)."""


class Clock:
    """A clock the test moves; every reading is a microsecond later than the last."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def fmt(t: datetime) -> str:
    """RFC 3339 UTC, seconds."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def world_policy(policy_id: str = "roles") -> dict[str, Any]:
    """``miri-2025`` with a one-day vote window and halt orders decided by the conference."""
    doc = policy_to_json(load_preset("miri-2025"))
    doc["id"] = policy_id
    doc["governance"]["vote_window_days"] = 1
    doc["governance"]["decisions"]["halt_order"] = {"body": "conference", "rule": "simple_majority"}
    return doc


def digest_of(doc: dict[str, Any]) -> str:
    return policy_digest(Policy.model_validate(doc))


def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, batch_latency_ms=1, clerk_interval_s=0)


@dataclass
class World:
    """The keys of every actor and where the world's clock stopped."""

    data_dir: Path
    now: datetime
    keys: dict[str, KeyPair] = field(default_factory=dict)
    """Role name (:data:`ROLES`) to its key; also ``operator-b``, ``lab-b``'s key."""
    amendment: dict[str, Any] = field(default_factory=dict)
    """The policy document a passed proposal allows the secretariat to adopt."""


def build_world(data_dir: Path) -> World:
    """Put the world on a fresh service in ``data_dir``; the service is closed afterwards."""
    clock = Clock(T0)
    service = LogService(settings(data_dir), clock=clock)
    secretariat = load_key(service.settings.keys_dir, "secretariat")
    keys = {role: KeyPair.generate(role.replace("_", "-")) for role in ROLES}
    keys["secretariat"] = secretariat
    keys["operator-b"] = KeyPair.generate("operator-b")  # a second operator, for chip sales
    chip2 = KeyPair.generate("chip-2")
    amendment = world_policy("roles-amended")
    with TestClient(create_app(service)) as client:

        def submit(kind: str, body: dict[str, Any], role: str) -> None:
            statement = sign_statement(kind, body, keys[role])
            r = client.post("/v1/statements", json=statement.to_json())
            assert r.status_code == 201, r.text

        policy = world_policy()
        submit(
            "policy.adopt/v1",
            {"policy": policy, "digest": digest_of(policy), "effective_at": "2026-01-01T00:00:00Z"},
            "secretariat",
        )
        submit(
            "party.register/v1",
            {"party_id": "us", "name": "US", "key": keys["party"].signer_id},
            "secretariat",
        )
        submit(
            "chip_maker.register/v1",
            {"maker_id": "nv", "name": "NV", "key": keys["chip_maker"].signer_id},
            "secretariat",
        )
        submit(
            "witness.register/v1",
            {"key": keys["witness"].signer.verifier().to_string()},
            "secretariat",
        )
        submit(
            "delegate.register/v1", {"party_id": "us", "key": keys["delegate"].signer_id}, "party"
        )
        submit(
            "operator.register/v1",
            {
                "operator_id": "lab",
                "party_id": "us",
                "name": "Lab",
                "key": keys["operator"].signer_id,
            },
            "party",
        )
        submit(
            "evaluator.register/v1",
            {
                "evaluator_id": "aisi",
                "party_id": "us",
                "name": "AISI",
                "key": keys["evaluator"].signer_id,
            },
            "party",
        )
        submit(
            "facility.register/v1",
            {
                "facility_id": "f1",
                "operator_id": "lab",
                "name": "F1",
                "location": {"country": "US"},
                "power_capacity_mw": 150.0,
            },
            "operator",
        )
        submit(
            "cluster.register/v1",
            {"cluster_id": "c1", "facility_id": "f1", "name": "C1", "network_gbps": 400.0},
            "operator",
        )
        submit(
            "operator.register/v1",
            {
                "operator_id": "lab-b",
                "party_id": "us",
                "name": "Lab B",
                "key": keys["operator-b"].signer_id,
            },
            "party",
        )
        for chip_id, chip_key in (("chip-1", keys["chip"]), ("chip-2", chip2)):
            submit(
                "chip.certify/v1",
                {
                    "chip_id": chip_id,
                    "maker_id": "nv",
                    "model": "H100 SXM",
                    "serial": f"SN-{chip_id}",
                    "key": chip_key.signer_id,
                    "operator_id": "lab",
                },
                "chip_maker",
            )
        submit(
            "chip.custody/v1",
            {"chip_id": "chip-1", "action": "install", "cluster_id": "c1"},
            "operator",
        )
        submit(
            "inspector.register/v1",
            {
                "inspector_id": "insp-1",
                "name": "Inspector",
                "body": "Agency",
                "key": keys["inspector"].signer_id,
            },
            "secretariat",
        )
        submit(
            "meter.certify/v1",
            {
                "meter_id": "meter-1",
                "model": "Acme 9000",
                "serial": "SN-meter-1",
                "key": keys["meter"].signer_id,
                "random_sigma": 0.005,
                "systematic_sigma": 0.01,
            },
            "secretariat",
        )
        submit(
            "meter.install/v1",
            {"meter_id": "meter-1", "facility_id": "f1", "cluster_id": "c1"},
            "operator",
        )
        submit("inspection.plan/v1", inspection_plan("plan-1"), "inspector")
        for run_id in ("r1", "r-halt"):
            submit("run.declaration/v1", declaration(run_id), "operator")
        window = timedelta(days=1)
        deadline = fmt(clock.now + window + timedelta(days=3))
        proposals = [
            {
                "proposal_id": "halt-1",
                "kind": "halt_order",
                "subject": "run:r-halt",
                "deadline": deadline,
            },
            {
                "proposal_id": "amend-1",
                "kind": "amend_policy",
                "policy_digest": digest_of(amendment),
            },
            {"proposal_id": "due-1", "kind": "challenge_inspection", "subject": "cluster:c1"},
        ]
        for proposal in proposals:
            submit("gov.proposal/v1", proposal, "delegate")
            vote = {"proposal_id": proposal["proposal_id"], "choice": "yes"}
            submit("gov.vote/v1", vote, "delegate")
        clock.advance(window + timedelta(hours=1))
        for decision in due_decisions(service.state, clock(), secretariat):
            if decision.body.proposal_id in ("halt-1", "amend-1"):  # type: ignore[attr-defined]
                r = client.post("/v1/statements", json=decision.to_json())
                assert r.status_code == 201, r.text
        submit("gov.proposal/v1", {"proposal_id": "open-1", "kind": "pause_start"}, "delegate")
        # Transcripts: r1 committed with its initial weights; r-tr trained to its final
        # weights, and segments 0 and 3 (the first and the final) replayed by audit-1, whose
        # verdict is not yet on the log; r-halt has none.
        submit("run.declaration/v1", declaration("r-tr"), "operator")
        submit("transcript.commit/v1", transcript_commit("r1"), "operator")
        submit("transcript.checkpoint/v1", transcript_checkpoints("r1", 0), "operator")
        submit("transcript.commit/v1", transcript_commit("r-tr"), "operator")
        final = transcript_checkpoints("r-tr", *range(0, TRANSCRIPT_STEPS + 1, 1000))
        submit("transcript.checkpoint/v1", {**final, "final": True}, "operator")
        for segment in (0, 3):
            submit(
                "transcript.replay/v1", transcript_replay("audit-1", "r-tr", segment), "inspector"
            )
    return World(data_dir, clock.now, keys, amendment)


def declaration(run_id: str) -> dict[str, Any]:
    """A valid run declaration by ``lab`` on ``c1``, below every approval tier."""
    return {
        "run_id": run_id,
        "operator_id": "lab",
        "cluster_id": "c1",
        "model": f"m-{run_id}",
        "phase": "pretraining",
        "planned_flop": 5e22,
        "estimate_method": "architecture",
        "chips": 1024,
        "starts_at": "2027-02-01T00:00:00Z",
        "ends_at": "2027-03-01T00:00:00Z",
        "hyperparameters_digest": DIGEST,
        "data_order_seed_digest": DIGEST,
        "checkpoint_interval_steps": 1000,
    }


TRANSCRIPT_STEPS = 4000
"""Steps of the world's transcripts (four segments of the declarations' 1,000)."""


def transcript_commit(run_id: str) -> dict[str, Any]:
    """A transcript commitment of ``run_id`` that its declaration (:func:`declaration`)
    accepts."""
    return {
        "run_id": run_id,
        "recipe": "mlp",
        "hyperparameters_digest": DIGEST,
        "seed_commitment": DIGEST,
        "dataset_root": hashlib.sha256(b"dataset").hexdigest(),
        "dataset_records": 1000,
        "every": 1000,
        "steps": TRANSCRIPT_STEPS,
    }


def transcript_checkpoints(run_id: str, *steps: int) -> dict[str, Any]:
    """A checkpoint commitment of ``run_id`` at ``steps``."""
    return {
        "run_id": run_id,
        "checkpoints": [
            {"step": s, "digest": hashlib.sha256(f"{run_id}@{s}".encode()).hexdigest()}
            for s in steps
        ],
    }


def transcript_replay(audit_id: str, run_id: str, segment: int) -> dict[str, Any]:
    """A passing replay by ``insp-1`` of ``segment`` of a world transcript."""
    return {
        "audit_id": audit_id,
        "run_id": run_id,
        "inspector_id": "insp-1",
        "segment": segment,
        "start_step": segment * 1000,
        "end_step": min((segment + 1) * 1000, TRANSCRIPT_STEPS),
        "distance": 0.001,
        "tolerance": 0.01,
        "passed": True,
        "train_loss_drop": 0.2,
        "heldout_loss_drop": 0.05,
        "steps_replayed": 1000,
    }


def transcript_verdict(service: LogService) -> dict[str, Any]:
    """The passing verdict of audit-1 of ``r-tr`` at a budget of 25% (which draws the first and
    the final segment, both replayed in the world), its beacon read from the service's log."""
    row = service.state.registry.get("transcripts", "r-tr")
    assert row is not None
    assert row["final_idx"] is not None
    size = int(row["final_idx"]) + 1
    return {
        "audit_id": "audit-1",
        "run_id": "r-tr",
        "inspector_id": "insp-1",
        "budget": 0.25,
        "beacon_size": size,
        "beacon": service.log.root_at(size).hex(),
        "segments": [0, 3],
        "verdict": "pass",
        **transcript_figures([transcript_replay("audit-1", "r-tr", s) for s in (0, 3)]),
        "manifest_digest": DIGEST,
    }


def transcript_figures(replays: list[dict[str, Any]]) -> dict[str, Any]:
    """The inclusion test's and the compute's figures the fold recomputes from ``replays``
    (the engine's own functions)."""
    from pausewatch.transcript import compute_fraction, inclusion_test
    from pausewatch.transcript._inclusion import Drops

    inclusion = inclusion_test(
        [Drops(r["train_loss_drop"], r["heldout_loss_drop"]) for r in replays]
    )
    return {
        "inclusion_statistic": inclusion.statistic,
        "inclusion_p_value": inclusion.p_value,
        "inclusion_passed": inclusion.passed,
        "compute_fraction": compute_fraction(
            sum(r["steps_replayed"] for r in replays), TRANSCRIPT_STEPS
        ),
    }


def inspection_plan(plan_id: str) -> dict[str, Any]:
    """A valid inspection plan of ``insp-1`` for facility ``f1``."""
    return {
        "plan_id": plan_id,
        "inspector_id": "insp-1",
        "facility_id": "f1",
        "chips_drawn": 1,
        "commitment": DIGEST,
    }


def meter_reading() -> dict[str, Any]:
    """The first reading of ``meter-1``."""
    return {
        "meter_id": "meter-1",
        "seq": 0,
        "window_start": "2027-01-01T00:00:00Z",
        "window_end": "2027-01-01T01:00:00Z",
        "energy_j": 3.6e9,
    }


def eval_result(result_id: str) -> dict[str, Any]:
    """A valid eval.result/v1 body of evaluator ``aisi`` on model ``m-r1``."""
    return {
        "result_id": result_id,
        "evaluator_id": "aisi",
        "model": "m-r1",
        "inspect_model": "pausewatch/scripted",
        "domain": "cyber_offence",
        "probe_id": "pausewatch/recover_flag",
        "task": "recover_flag",
        "task_version": 1,
        "status": "success",
        "samples": 10,
        "completed_samples": 10,
        "epochs": 1,
        "metrics": [
            {"name": "accuracy", "value": 0.1, "ci_low": 0.0, "ci_high": 0.4, "method": "wilson"}
        ],
        "elicitation": {"solver": "generate", "agent": False},
        "log_digest": hashlib.sha256(result_id.encode()).hexdigest(),
    }


@contextmanager
def open_world(
    world: World, data_dir: Path | None = None
) -> Iterator[tuple[LogService, TestClient, Clock]]:
    """A started service on ``world`` (or on a copy of it in ``data_dir``), with its client."""
    if data_dir is not None:
        shutil.copytree(world.data_dir, data_dir, dirs_exist_ok=True)
    clock = Clock(world.now)
    service = LogService(settings(data_dir or world.data_dir), clock=clock)
    with TestClient(create_app(service)) as client:
        yield service, client, clock


def telemetry_line(world: World, now: datetime) -> bytes:
    """One idle window of ``chip-1``, the first of its chain, ending a minute before ``now``."""
    start = now.replace(microsecond=0) - timedelta(minutes=2)
    record = {
        "chip_id": "chip-1",
        "seq": 0,
        "prev": None,
        "window_start": fmt(start),
        "window_end": fmt(start + timedelta(minutes=1)),
        "energy_j": 1_000_000,
        "power_w_avg": 100.5,
        "power_w_peak": 110.5,
        "tensor_active": 0.01,
        "sm_active": 0.02,
        "flop": {},
        "nvlink_tx_bytes": 0,
        "nvlink_rx_bytes": 0,
        "net_tx_bytes": 0,
        "net_rx_bytes": 0,
        "mem_used_bytes": 0,
        "run_id": None,
        "firmware_digest": DIGEST,
    }
    return sign_record(record, world.keys["chip"]) + b"\n"
