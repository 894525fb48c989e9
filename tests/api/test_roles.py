"""The role table, over HTTP: every statement kind, signed by every role but the one it needs, is
refused with a 403 problem document and appends nothing; signed by the right role, the same
body is accepted.

The world (``api_world``) holds one actor of each role. Refusals run against one service on it
(each asserts the log did not grow, so none can leak into the next); each acceptance runs on a
copy of its own, because an accepted statement changes the world (a rotated key signs nothing
more).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_world import (  # type: ignore[import-not-found]
    ROLES,
    Clock,
    World,
    build_world,
    declaration,
    digest_of,
    eval_result,
    fmt,
    inspection_plan,
    meter_reading,
    open_world,
    telemetry_line,
    transcript_checkpoints,
    transcript_commit,
    transcript_replay,
    transcript_verdict,
)
from fastapi.testclient import TestClient

from pausewatch.ledger import Checkpoint, Signer
from pausewatch.service import LogService, due_decisions
from pausewatch.statements import KeyPair, canonical, kinds, sign_statement
from pausewatch.telemetry import aggregate
from pausewatch.telemetry._statements import BATCH_KIND, SUBMISSION_KIND

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Context:
    """What a body builder may read: the world, its running service and its clock now."""

    world: World
    service: LogService
    now: datetime


Build = Callable[[Context], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One row of the table: a kind, a valid body for it in the world, the roles it accepts."""

    name: str
    kind: str
    body: Build
    accepted: frozenset[str]


def fresh(name: str) -> str:
    """The signer id of a key no one holds yet."""
    return KeyPair.generate(name).signer_id


def _decision(ctx: Context) -> dict[str, Any]:
    secretariat = ctx.world.keys["secretariat"]
    for statement in due_decisions(ctx.service.state, ctx.now, secretariat):
        if statement.body.proposal_id == "due-1":  # type: ignore[attr-defined]
            return statement.body.model_dump(mode="json")
    raise AssertionError("the world has no decision due for due-1")


def _empty_submission(ctx: Context) -> dict[str, Any]:
    body = {"operator_id": "lab", "batch_digest": hashlib.sha256(b"").hexdigest(), "records": 0}
    return sign_statement(SUBMISSION_KIND, body, ctx.world.keys["operator"]).to_json()


def _batch(ctx: Context) -> dict[str, Any]:
    """An empty batch, as the service would sign it for an empty upload of ``lab``."""
    return {
        "operator_id": "lab",
        "submission": _empty_submission(ctx),
        "verified_at": fmt(ctx.now),
        "records_root": hashlib.sha256(b"").hexdigest(),
        "accepted": 0,
        "duplicates": 0,
        "chains": {},
        "aggregate": aggregate([]).to_json(),
    }


def _cosignature(ctx: Context) -> dict[str, Any]:
    """The world's witness's cosignature of the log's checkpoint now."""
    log = ctx.service.log
    text = Checkpoint(log.verifier.name, log.size, log.root_at(log.size)).to_text()
    line = ctx.world.keys["witness"].signer.cosignature_line(text, int(ctx.now.timestamp()))
    return {"checkpoint": text, "cosignature": line}


SUBJECTS = {
    "party": "us",
    "operator": "lab",
    "chip_maker": "nv",
    "chip": "chip-1",
    "evaluator": "aisi",
    "inspector": "insp-1",
    "meter": "meter-1",
}
"""The registered subject holding each key role (a delegate's key is the party's business:
``delegate.register/v1``)."""
VOUCHER = {
    "party": "secretariat",
    "operator": "party",
    "chip_maker": "secretariat",
    "chip": "chip_maker",
    "evaluator": "party",
    "inspector": "secretariat",
    "meter": "secretariat",
}
"""Who registered each subject, and so may revoke its key."""

SECRETARIAT = frozenset({"secretariat"})
PARTY = frozenset({"party"})
OPERATOR = frozenset({"operator"})

CASES: tuple[Case, ...] = (
    Case(
        "party.register/v1",
        "party.register/v1",
        lambda c: {"party_id": "cn", "name": "CN", "key": fresh("cn")},
        SECRETARIAT,
    ),
    Case(
        "chip_maker.register/v1",
        "chip_maker.register/v1",
        lambda c: {"maker_id": "amd", "name": "AMD", "key": fresh("amd")},
        SECRETARIAT,
    ),
    Case(
        "policy.adopt/v1",
        "policy.adopt/v1",
        lambda c: {
            "policy": c.world.amendment,
            "digest": digest_of(c.world.amendment),
            "effective_at": fmt(c.now + timedelta(days=1)),
        },
        SECRETARIAT,
    ),
    Case(
        "gov.seat/v1",
        "gov.seat/v1",
        lambda c: {
            "body": "council",
            "party_id": "us",
            "starts_at": fmt(c.now + timedelta(hours=1)),
            "ends_at": fmt(c.now + timedelta(days=30)),
        },
        SECRETARIAT,
    ),
    Case("gov.decision/v1", "gov.decision/v1", _decision, SECRETARIAT),
    Case(
        "witness.register/v1",
        "witness.register/v1",
        lambda c: {"key": Signer.generate("witness.example/w9").verifier().to_string()},
        SECRETARIAT,
    ),
    # The secretariat records the cosignatures it collects; the fold checks each against the
    # registered witness's key and the log's own tree.
    Case("witness.cosignature/v1", "witness.cosignature/v1", _cosignature, SECRETARIAT),
    Case(
        "eval.suite/v1",
        "eval.suite/v1",
        lambda c: {
            "domain": "cyber_offence",
            "probes": [{"probe_id": "pausewatch/recover_flag", "version": 1}],
        },
        SECRETARIAT,
    ),
    Case(
        "evaluator.register/v1:international",
        "evaluator.register/v1",
        lambda c: {"evaluator_id": "intl", "name": "International", "key": fresh("intl")},
        SECRETARIAT,
    ),
    # The service signs each batch itself once it has verified the upload; the secretariat's
    # key is the only one that may put a batch on the log.
    Case(BATCH_KIND, BATCH_KIND, _batch, SECRETARIAT),
    Case(
        "evaluator.register/v1:by-party",
        "evaluator.register/v1",
        lambda c: {"evaluator_id": "nist", "party_id": "us", "name": "NIST", "key": fresh("n")},
        PARTY,
    ),
    Case(
        "operator.register/v1",
        "operator.register/v1",
        lambda c: {"operator_id": "lab2", "party_id": "us", "name": "Lab 2", "key": fresh("l")},
        PARTY,
    ),
    Case(
        "delegate.register/v1",
        "delegate.register/v1",
        lambda c: {"party_id": "us", "key": fresh("us-delegate-2")},
        PARTY,
    ),
    Case(
        "facility.register/v1",
        "facility.register/v1",
        lambda c: {
            "facility_id": "f2",
            "operator_id": "lab",
            "name": "F2",
            "location": {"country": "US"},
            "power_capacity_mw": 50.0,
        },
        OPERATOR,
    ),
    Case(
        "cluster.register/v1",
        "cluster.register/v1",
        lambda c: {"cluster_id": "c2", "facility_id": "f1", "name": "C2", "network_gbps": 100.0},
        OPERATOR,
    ),
    Case(
        "chip.custody/v1",
        "chip.custody/v1",
        lambda c: {"chip_id": "chip-2", "action": "install", "cluster_id": "c1"},
        OPERATOR,
    ),
    Case("run.declaration/v1", "run.declaration/v1", lambda c: declaration("r-new"), OPERATOR),
    Case("run.start/v1", "run.start/v1", lambda c: {"run_id": "r1", "at": fmt(c.now)}, OPERATOR),
    Case(
        "run.change/v1",
        "run.change/v1",
        lambda c: {"run_id": "r1", "reason": "more data", "planned_flop": 6e22},
        OPERATOR,
    ),
    Case(
        "run.end/v1",
        "run.end/v1",
        lambda c: {"run_id": "r1", "at": fmt(c.now), "outcome": "abandoned"},
        OPERATOR,
    ),
    Case("order.ack/v1", "order.ack/v1", lambda c: {"proposal_id": "halt-1"}, OPERATOR),
    Case(
        "chip.certify/v1",
        "chip.certify/v1",
        lambda c: {
            "chip_id": "chip-3",
            "maker_id": "nv",
            "model": "H100 SXM",
            "serial": "SN-chip-3",
            "key": fresh("chip-3"),
            "operator_id": "lab",
        },
        frozenset({"chip_maker"}),
    ),
    # A sale passes the right to install: chip-2 is sold to lab, so lab alone may sell it on
    # (its maker could only for a chip certified to no one; docs/adr/0016-chip-buyer.md).
    Case(
        "chip.transfer/v1",
        "chip.transfer/v1",
        lambda c: {"chip_id": "chip-2", "to_operator": "lab-b"},
        OPERATOR,
    ),
    Case(
        "eval.result/v1",
        "eval.result/v1",
        lambda _ctx: eval_result("res-new"),
        frozenset({"evaluator"}),
    ),
    *(
        Case(
            f"key.rotate/v1:{role}",
            "key.rotate/v1",
            lambda c, role=role, subject=subject: {  # type: ignore[misc]
                "subject_kind": role,
                "subject_id": subject,
                "new_key": fresh("rotated"),
            },
            frozenset({role}),
        )
        for role, subject in SUBJECTS.items()
        # A chip's key is never rotated (its maker certifies a new chip), nor a meter's.
        if role not in ("chip", "meter")
    ),
    # A key is revoked by its holder or by whoever registered it: the secretariat for a party
    # and a maker, the party for its operator and evaluator, the maker for its chip.
    *(
        Case(
            f"key.revoke/v1:{role}",
            "key.revoke/v1",
            lambda c, role=role, subject=subject: {  # type: ignore[misc]
                "subject_kind": role,
                "subject_id": subject,
                "reason": "compromised",
            },
            frozenset({role, VOUCHER[role]}),
        )
        for role, subject in SUBJECTS.items()
    ),
    # The independent sources of detection (docs/adr/0025): a meter is certified by the
    # secretariat (or an inspector), installed by the facility's operator, and signs its own
    # readings; the maker (or the secretariat) ships chips to their buyer, whose operator alone
    # may export them; inspectors plan and report inspections; operators declare workloads.
    Case(
        "meter.certify/v1",
        "meter.certify/v1",
        lambda c: {
            "meter_id": "meter-2",
            "model": "Acme 9000",
            "serial": "SN-meter-2",
            "key": fresh("meter-2"),
            "random_sigma": 0.005,
            "systematic_sigma": 0.01,
        },
        SECRETARIAT,
    ),
    Case(
        "meter.certify/v1:by-inspector",
        "meter.certify/v1",
        lambda c: {
            "meter_id": "meter-3",
            "inspector_id": "insp-1",
            "model": "Acme 9000",
            "serial": "SN-meter-3",
            "key": fresh("meter-3"),
            "random_sigma": 0.005,
            "systematic_sigma": 0.01,
        },
        frozenset({"inspector"}),
    ),
    Case(
        "meter.install/v1",
        "meter.install/v1",
        lambda c: {"meter_id": "meter-1", "facility_id": "f1"},
        OPERATOR,
    ),
    Case("meter.reading/v1", "meter.reading/v1", lambda c: meter_reading(), frozenset({"meter"})),
    Case(
        "chip.ship/v1",
        "chip.ship/v1",
        lambda c: {
            "shipment_id": "ship-1",
            "maker_id": "nv",
            "chip_ids": ["chip-2"],
            "to_operator": "lab",
            "receiving_party": "us",
            "shipped_at": fmt(c.now),
        },
        frozenset({"chip_maker", "secretariat"}),
    ),
    Case(
        "chip.export/v1",
        "chip.export/v1",
        lambda c: {
            "export_id": "exp-1",
            "chip_ids": ["chip-2"],
            "destination_country": "ZZ",
            "destination_entity": "Elsewhere Ltd",
        },
        OPERATOR,
    ),
    Case(
        "inspector.register/v1",
        "inspector.register/v1",
        lambda c: {"inspector_id": "insp-2", "name": "I2", "body": "Agency", "key": fresh("i2")},
        SECRETARIAT,
    ),
    Case(
        "inspection.plan/v1",
        "inspection.plan/v1",
        lambda c: inspection_plan("plan-2"),
        frozenset({"inspector"}),
    ),
    Case(
        "inspection.report/v1",
        "inspection.report/v1",
        lambda c: {
            "plan_id": "plan-1",
            "inspected_at": fmt(c.now),
            "chips_missing": ["chip-1"],
            "seals": [{"seal_id": "s1", "intact": True}],
        },
        frozenset({"inspector"}),
    ),
    Case(
        "workload.declare/v1",
        "workload.declare/v1",
        lambda c: {
            "workload_id": "w-1",
            "operator_id": "lab",
            "cluster_id": "c1",
            "kind": "inference",
            "starts_at": fmt(c.now),
            "ends_at": fmt(c.now + timedelta(days=30)),
            "chips": 8,
        },
        OPERATOR,
    ),
    # A run's transcript commitments are its operator's; an audit's replays and verdict the
    # inspector's that ran it (issue 17).
    Case(
        "transcript.commit/v1",
        "transcript.commit/v1",
        lambda c: transcript_commit("r-halt"),
        OPERATOR,
    ),
    Case(
        "transcript.checkpoint/v1",
        "transcript.checkpoint/v1",
        lambda c: transcript_checkpoints("r1", 1000, 2000),
        OPERATOR,
    ),
    Case(
        "transcript.replay/v1",
        "transcript.replay/v1",
        lambda c: transcript_replay("audit-2", "r-tr", 3),
        frozenset({"inspector"}),
    ),
    Case(
        "transcript.verdict/v1",
        "transcript.verdict/v1",
        lambda c: transcript_verdict(c.service),
        frozenset({"inspector"}),
    ),
    # The detectors' measured performance is the secretariat's to publish (docs/adr/0031).
    Case(
        "detect.evaluation/v1",
        "detect.evaluation/v1",
        lambda c: {
            "evaluation_id": "eval-1",
            "detection_before_completion": 0.96,
            "false_alarms_per_facility_year": 0.03,
            "kinds": [{"kind": "diversion", "figures": {"detection_before_completion": 0.9}}],
        },
        SECRETARIAT,
    ),
    # A party speaks by its own key or its delegates'; the secretariat files the proposals the
    # policy makes itself.
    Case(
        "gov.proposal/v1",
        "gov.proposal/v1",
        lambda c: {"proposal_id": "p-new", "kind": "pause_start"},
        frozenset({"party", "delegate", "secretariat"}),
    ),
    Case(
        "gov.vote/v1",
        "gov.vote/v1",
        lambda c: {"proposal_id": "open-1", "choice": "no", "cast_at": fmt(c.now)},
        frozenset({"party", "delegate"}),
    ),
    Case(
        "position/v1",
        "position/v1",
        lambda c: {"stance": "backs", "source": "https://example.org/s", "as_of": fmt(c.now)},
        frozenset({"party", "operator"}),
    ),
    # Anyone the registry holds a live key for may put a notice on the record; a chip speaks
    # through its telemetry, and a key the registry never bound (a witness's, a stranger's)
    # has no voice on the log (docs/adr/0015-notice-admission.md).
    Case(
        "notice/v1",
        "notice/v1",
        lambda c: {"title": "a notice"},
        frozenset(
            {"secretariat", "party", "delegate", "operator", "chip_maker", "evaluator", "inspector"}
        ),
    ),
    # telemetry.submission/v1 is never a log entry of its own: it travels in the header of
    # POST /v1/telemetry/batches (see post()), and the batch's entry carries it.
    Case(SUBMISSION_KIND, SUBMISSION_KIND, lambda c: {}, OPERATOR),
)

UNRESTRICTED: set[str] = set()
"""Kinds any key may sign: none (``notice/v1`` once was; a stranger's notices filled the log)."""


def test_the_table_covers_every_kind() -> None:
    """Every registered kind is in the table, or is named unrestricted with a reason."""
    assert {c.kind for c in CASES} | UNRESTRICTED == set(kinds())


def post(ctx: Context, client: TestClient, case: Case, key: KeyPair) -> httpx.Response:
    """Submit ``case``'s body signed by ``key``: a statement, or for a telemetry submission,
    an upload of one record of chip-1 under that submission."""
    if case.kind == SUBMISSION_KIND:
        data = telemetry_line(ctx.world, ctx.now)
        body = {
            "operator_id": "lab",
            "batch_digest": hashlib.sha256(data).hexdigest(),
            "records": 1,
        }
        header = base64.b64encode(canonical(sign_statement(case.kind, body, key).to_json()))
        return client.post(
            "/v1/telemetry/batches",
            content=data,
            headers={
                "Pausewatch-Submission": header.decode(),
                "Content-Type": "application/x-ndjson",
            },
        )
    statement = sign_statement(case.kind, case.body(ctx), key)
    return client.post("/v1/statements", json=statement.to_json())


def size(client: TestClient) -> int:
    return int(client.get("/v1/log").json()["size"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    world: World = build_world(tmp_path_factory.mktemp("roles") / "world")
    return world


@pytest.fixture(scope="module")
def shared(world: World) -> Iterator[tuple[LogService, TestClient, Clock]]:
    with open_world(world) as opened:
        yield opened


WRONG = [
    pytest.param(case, role, id=f"{case.name}-by-{role}")
    for case in CASES
    for role in ROLES
    if role not in case.accepted
]
RIGHT = [
    pytest.param(case, role, id=f"{case.name}-by-{role}")
    for case in CASES
    for role in sorted(case.accepted)
]


@pytest.mark.parametrize(("case", "role"), WRONG)
def test_a_wrong_role_is_refused(
    world: World, shared: tuple[LogService, TestClient, Clock], case: Case, role: str
) -> None:
    """Signed by a role the kind does not accept: 403 problem document, nothing appended."""
    service, client, clock = shared
    before = size(client)
    ctx = Context(world, service, clock.now)
    resp = post(ctx, client, case, world.keys[role])
    assert resp.status_code == 403, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["type"].endswith("/forbidden-signer")
    assert size(client) == before


@pytest.mark.parametrize(("case", "role"), RIGHT)
def test_the_right_role_is_accepted(world: World, tmp_path: Path, case: Case, role: str) -> None:
    """The same body signed by a role the kind accepts is appended."""
    with open_world(world, tmp_path / "copy") as (service, client, clock):
        before = size(client)
        ctx = Context(world, service, clock.now)
        resp = post(ctx, client, case, world.keys[role])
        assert resp.status_code == 201, resp.text
        assert size(client) == before + 1
        if case.kind == SUBMISSION_KIND:
            assert resp.json()["accepted"] == 1, resp.json()


def test_a_submission_alone_is_refused_for_everyone(
    world: World, shared: tuple[LogService, TestClient, Clock]
) -> None:
    """``telemetry.submission/v1`` posted as a statement is refused even from the operator:
    it is uploaded with its records or not at all."""
    service, client, clock = shared
    before = size(client)
    ctx = Context(world, service, clock.now)
    resp = client.post("/v1/statements", json=_empty_submission(ctx))
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert size(client) == before
