"""The governance story end to end over the API, with a clock the test moves: a run crosses the
prohibition, the policy files a pause and a halt order, parties vote them in, the operator
acknowledges the order and telemetry confirms it, a renewal fails for want of a quorum, the
pause expires, a second pause is voted in, a lift under miri-2025's own conditions fails while
chips are dark, suites are missing and no witness is recorded, and passes once they are all
there; a rebuild from the log alone reproduces every outcome."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.audit import audit_log
from pausewatch.evals import suite
from pausewatch.ledger import Note, Signer
from pausewatch.policy import Policy, load_preset, policy_digest, policy_to_json
from pausewatch.policy._model import Domain
from pausewatch.service import LogService
from pausewatch.service._governance import pause_status
from pausewatch.service._views import evaluation
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Fleet, Workload, fleet_world, simulate_fleet
from pausewatch.statements import KeyPair, Statement, load_key, sign_statement
from pausewatch.telemetry import record_hash, sign_record

pytestmark = pytest.mark.slow

START = datetime(2027, 3, 1, tzinfo=UTC)
PARTIES = ("cn", "eu", "uk")  # besides the fleet's own party, party-1


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


def scenario_policy() -> dict[str, Any]:
    """miri-2025 with a one-day vote window and 30-day pauses decided by simple majority; its
    own lift conditions (coverage, suites in every domain, three witnesses, no open critical
    finding)."""
    doc = policy_to_json(load_preset("miri-2025"))
    doc["id"] = "scenario"
    doc["governance"]["vote_window_days"] = 1
    doc["governance"]["decisions"]["halt_order"] = {"body": "conference", "rule": "simple_majority"}
    pause = doc["pause"]
    pause["default_duration_days"] = 30
    pause["renewal_duration_days"] = 30
    pause["lift"]["rule"] = "simple_majority"
    return doc


def continue_chains(fleet: Fleet, last: dict[str, bytes], start: datetime, windows: int) -> bytes:
    """Idle windows after ``start`` for every chip of ``fleet``, chained to ``last`` (each
    chip's last line so far), signed by the chips; ``last`` is updated."""
    lines = []
    for chip in fleet.chips:
        prev_line = last[chip.chip_id]
        prev = json.loads(prev_line)["record"]
        for w in range(windows):
            begin = start + timedelta(minutes=w)
            record = {
                **prev,
                "seq": prev["seq"] + 1,
                "prev": record_hash(prev_line),
                "window_start": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "window_end": (begin + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "energy_j": prev["energy_j"] + 6000,
                "power_w_avg": 100.5,
                "power_w_peak": 110.5,
                "tensor_active": 0.01,
                "sm_active": 0.02,
                "flop": {},
                "run_id": None,
            }
            line = sign_record(record, chip.private_key)
            lines.append(line)
            prev_line, prev = line, record
        last[chip.chip_id] = prev_line
    return b"".join(line + b"\n" for line in lines)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[LogService, TestClient, Clock]]:
    clock = Clock(START)
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0)
    service = LogService(settings, clock=clock)
    with TestClient(create_app(service)) as client:
        yield service, client, clock


def test_the_pause_story(world: tuple[LogService, TestClient, Clock]) -> None:
    service, client, clock = world
    secretariat = load_key(service.settings.keys_dir, "secretariat")

    def post(statement: Statement) -> dict[str, Any]:
        r = client.post("/v1/statements", json=statement.to_json())
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def submit(kind: str, body: dict[str, Any], key: KeyPair) -> dict[str, Any]:
        return post(sign_statement(kind, body, key))

    policy = scenario_policy()
    submit(
        "policy.adopt/v1",
        {
            "policy": policy,
            "digest": policy_digest(load_policy(policy)),
            "effective_at": "2027-01-01T00:00:00Z",
        },
        secretariat,
    )
    # A fleet of 4 chips whose declared run plans 2e24 FLOP: above the 1e24 prohibition.
    fleet = simulate_fleet(
        (ClusterSpec("c1", "lab", "H100 SXM", 4, Workload.TRAINING),),
        windows=10,
        seed=1,
        start=START - timedelta(hours=1),
    )
    world_ = fleet_world(fleet, secretariat, party_id="us", planned_flop=2e24)
    for stage in world_.stages:
        for statement in stage:
            post(statement)
    delegates = {"us": world_.party}
    for party in PARTIES:
        k = KeyPair.generate(party)
        submit(
            "party.register/v1", {"party_id": party, "name": party, "key": k.signer_id}, secretariat
        )
        delegates[party] = k
    operator = world_.operators["lab"]
    data = fleet.jsonl()
    last = {}
    for line in fleet.lines:
        last[json.loads(line)["record"]["chip_id"]] = line
    receipt = service.ingest_telemetry(data, submission(data, operator))
    assert receipt.accepted == 40

    # The policy files a halt order for the run and a pause proposal.
    assert service.run_clerk() == 2
    proposals = {p["kind"]: p for p in client.get("/v1/proposals").json()["rows"]}
    assert set(proposals) == {"halt_order", "pause_start"}
    pause_id = proposals["pause_start"]["proposal_id"]
    halt_id = proposals["halt_order"]["proposal_id"]
    for party in ("us", "cn", "eu"):
        for pid in (pause_id, halt_id):
            submit("gov.vote/v1", {"proposal_id": pid, "choice": "yes"}, delegates[party])
    clock.now += timedelta(days=1, minutes=1)
    assert service.run_clerk() == 2  # the two decisions
    pause = client.get("/v1/pause").json()
    assert pause["status"] == "active"
    # The dashboard's overview shows the lift conditions of the one evaluation it makes: the
    # same as the pause's own evaluation.
    at = service.clock()
    overview = pause_status(service.state, at, evaluation(service.state, at))
    assert overview["lift_conditions"] == pause["lift_conditions"] != []
    assert overview == pause_status(service.state, at)
    in_force = service.state.registry.policy_at(at)
    assert in_force is not None
    assert evaluation(service.state, at).policy_digest == policy_digest(in_force)
    # It took effect at the close of its vote, a minute ago, for 30 days.
    assert pause["seconds_left"] == pytest.approx(30 * 86_400 - 60, abs=5)
    shown = client.get(f"/v1/proposals/{halt_id}").json()
    assert shown["outcome"]["passed"] is True

    # The operator acknowledges; after the deadline its chips report idle windows.
    submit("order.ack/v1", {"proposal_id": halt_id}, operator)
    deadline = datetime.fromisoformat(shown["deadline"])
    clock.now = deadline + timedelta(minutes=30)
    idle = continue_chains(fleet, last, deadline + timedelta(minutes=1), 5)
    service.ingest_telemetry(idle, submission(idle, operator))
    findings = client.get("/v1/findings", params={"limit": 1000}).json()["findings"]
    assert not [f for f in findings if f["kind"] == "order_not_obeyed"]

    # A renewal fails for want of a quorum (1 of 4 votes; 2 needed).
    submit("gov.proposal/v1", {"proposal_id": "renew-1", "kind": "pause_renew"}, delegates["us"])
    submit("gov.vote/v1", {"proposal_id": "renew-1", "choice": "yes"}, delegates["us"])
    clock.now += timedelta(days=1, minutes=1)
    service.run_clerk()
    renew = client.get("/v1/proposals/renew-1").json()
    assert renew["outcome"]["reason"].startswith("no quorum")

    # Without a renewal the pause expires.
    clock.now = START + timedelta(days=32)
    assert client.get("/v1/pause").json()["status"] == "expired"

    # A second pause is voted in; a lift fails while the chips are dark...
    submit("gov.proposal/v1", {"proposal_id": "pause-2", "kind": "pause_start"}, delegates["eu"])
    for party in ("us", "cn", "eu", "uk"):
        submit("gov.vote/v1", {"proposal_id": "pause-2", "choice": "yes"}, delegates[party])
    clock.now += timedelta(days=1, minutes=1)
    service.run_clerk()
    assert client.get("/v1/pause").json()["status"] == "active"
    submit("gov.proposal/v1", {"proposal_id": "lift-1", "kind": "pause_lift"}, delegates["uk"])
    for party in ("us", "cn", "eu", "uk"):
        submit("gov.vote/v1", {"proposal_id": "lift-1", "choice": "yes"}, delegates[party])
    clock.now += timedelta(days=1, minutes=1)
    service.run_clerk()
    lift = client.get("/v1/proposals/lift-1").json()
    assert lift["outcome"]["passed"] is False
    assert "lift conditions did not hold" in lift["outcome"]["reason"]
    assert client.get("/v1/pause").json()["status"] == "active"

    unmet = {c["fact"] for c in lift["outcome"]["conditions"] if not c["held"]}
    assert unmet == {"monitoring_coverage", "eval_domains_adopted", "witnesses"}
    # The halt order was confirmed: the run's critical findings are resolved.
    assert {c["fact"]: c["held"] for c in lift["outcome"]["conditions"]}["open_critical_findings"]

    # ... and passes once they report again, every domain has a suite and three witnesses'
    # cosignatures of the log are recorded on it.
    for domain in Domain:
        probes = [{"probe_id": p.id, "version": p.version} for p in suite(domain)]
        submit("eval.suite/v1", {"domain": domain.value, "probes": probes}, secretariat)
    witnesses = [Signer.generate(f"witness.example/w{n}") for n in range(3)]
    for w in witnesses:
        submit("witness.register/v1", {"key": w.verifier().to_string()}, secretariat)
    submit("gov.proposal/v1", {"proposal_id": "lift-2", "kind": "pause_lift"}, delegates["uk"])
    for party in ("us", "cn", "eu"):
        submit("gov.vote/v1", {"proposal_id": "lift-2", "choice": "yes"}, delegates[party])
    close = datetime.fromisoformat(client.get("/v1/proposals/lift-2").json()["closes_at"])
    fresh = continue_chains(fleet, last, close - timedelta(minutes=20), 5)
    clock.now = close - timedelta(minutes=10)
    service.ingest_telemetry(fresh, submission(fresh, operator))
    note = service.log.checkpoint_note(with_cosignatures=False)
    text = Note.from_text(note).text
    for w in witnesses:
        line = w.cosignature_line(text, int(clock.now.timestamp()))
        service.log.add_cosignature(service.log.size, w.verifier(), note + line)
    assert service.run_clerk() == 3  # the secretariat records the three cosignatures
    clock.now = close + timedelta(minutes=1)
    service.run_clerk()
    lift = client.get("/v1/proposals/lift-2").json()
    assert lift["outcome"]["passed"] is True, lift["outcome"]["reason"]
    assert all(c["held"] for c in lift["outcome"]["conditions"])
    assert client.get("/v1/pause").json()["status"] == "lifted"

    # Every outcome comes from the log alone: the audit folds the entries it verified and
    # reaches the server's outcomes; a rebuild of the views finds them identical.
    entries = [(e.index, e.data) for e in service.log.entries_since(0)]
    audit, _ = audit_log(
        entries,
        [service.log.checkpoint_note()],
        service.log.verifier,
        secretariat=secretariat.signer_id,
    )
    assert audit.ok, audit.problems
    served = {p["proposal_id"]: p["passed"] for p in client.get("/v1/proposals").json()["rows"]}
    assert {d["proposal_id"]: d["passed"] for d in audit.decisions} == served
    named = {pause_id: True, halt_id: True, "renew-1": False, "pause-2": True}
    named.update({"lift-1": False, "lift-2": True})
    assert {k: v for k, v in served.items() if k in named} == named
    # After the first pause expired the run was above the prohibition still, but its halt
    # order had been confirmed: the finding was answered, and the policy filed no new pause.
    assert [k for k in served if k not in named] == []
    report = service.state.rebuild(service.log)
    assert report.identical, report.differences


def load_policy(doc: dict[str, Any]) -> Policy:
    return Policy.model_validate(doc)


def submission(data: bytes, key: KeyPair) -> Statement:
    return sign_statement(
        "telemetry.submission/v1",
        {
            "operator_id": "lab",
            "batch_digest": hashlib.sha256(data).hexdigest(),
            "records": data.count(b"\n"),
        },
        key,
    )
