"""Halts in time and the escalation ladder, through the service over HTTP with a real store
(docs/adr/0020): the clerk files a halt proposal before a run crosses the prohibition when its
projection crosses before a halt proposed now could bind; a decided order not acknowledged by
its deadline, or acknowledged while the chips it covers stay busy (whatever run their records
name), is ``order_not_obeyed`` and the clerk files the enforcement proposal."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from readback import sign_unchecked  # type: ignore[import-not-found]

from pausewatch.api import create_app
from pausewatch.policy import load_preset, policy_digest, policy_to_json
from pausewatch.policy._model import Policy
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Fleet, Workload, fleet_world, simulate_fleet
from pausewatch.statements import KeyPair, Statement, canonical, load_key, sign_statement
from pausewatch.telemetry import record_hash, sign_record

START = datetime(2027, 3, 1, tzinfo=UTC)
DIGEST = hashlib.sha256(b"hyper-parameters").hexdigest()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


def halts_policy(prohibited: float) -> dict[str, Any]:
    """miri-2025 with a one-day vote (a halt binds two days after it is proposed: the vote and
    24 hours' notice) and its pre-training tiers scaled down so that a few simulated chips
    reach them: declaration and approval from 1e15 FLOP, the prohibition at ``prohibited``."""
    doc = policy_to_json(load_preset("miri-2025"))
    doc["id"] = "halts"
    doc["governance"]["vote_window_days"] = 1
    doc["governance"]["decisions"]["halt_order"] = {"body": "conference", "rule": "simple_majority"}
    tiers = doc["compute"]["pretraining"]
    for tier in ("monitor", "report_before_start", "approval_required"):
        tiers[tier]["flop"] = 1e15
    tiers["prohibited"]["flop"] = prohibited
    return doc


@dataclass
class World:
    service: LogService
    client: TestClient
    clock: Clock
    fleet: Fleet
    operator: KeyPair
    party: KeyPair
    last: dict[str, bytes]
    """Each chip's last record line so far."""
    lines: list[bytes]
    """The simulated records, the chips ``run-c1`` did not name training for ``run-other``."""

    def post(self, statement: Statement) -> dict[str, Any]:
        r = self.client.post("/v1/statements", json=statement.to_json())
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def upload(self, data: bytes) -> dict[str, Any]:
        body = {
            "operator_id": "lab",
            "batch_digest": hashlib.sha256(data).hexdigest(),
            "records": data.count(b"\n"),
        }
        submission = sign_statement("telemetry.submission/v1", body, self.operator)
        headers = {
            "Pausewatch-Submission": base64.b64encode(canonical(submission.to_json())).decode(),
            "Content-Type": "application/x-ndjson",
        }
        r = self.client.post("/v1/telemetry/batches", content=data, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def findings(self, kind: str) -> list[dict[str, Any]]:
        page = self.client.get("/v1/findings", params={"limit": 1000}).json()
        return [f for f in page["findings"] if f["kind"] == kind]

    def proposals(self, kind: str) -> list[dict[str, Any]]:
        rows = self.client.get("/v1/proposals", params={"limit": 1000}).json()["rows"]
        return [p for p in rows if p["kind"] == kind]

    def more(
        self,
        start: datetime,
        windows: int,
        *,
        chips: list[str] | None = None,
        run_id: str | None = None,
        busy: bool = False,
    ) -> bytes:
        """Windows from ``start`` for ``chips`` (every chip by default), chained to their last
        records: busy ones (training at the pace of their last record, naming ``run_id``) or
        idle ones naming no run."""
        lines = []
        for chip in self.fleet.chips:
            if chips is not None and chip.chip_id not in chips:
                continue
            prev_line = self.last[chip.chip_id]
            prev = json.loads(prev_line)["record"]
            first = json.loads(self.fleet.lines[0])["record"] if busy else prev
            for w in range(windows):
                begin = start + timedelta(minutes=w)
                record = {
                    **prev,
                    "seq": prev["seq"] + 1,
                    "prev": record_hash(prev_line),
                    "window_start": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "window_end": (begin + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                if busy:
                    record.update(
                        {
                            "energy_j": prev["energy_j"] + int(first["power_w_avg"] * 60),
                            "power_w_avg": first["power_w_avg"],
                            "power_w_peak": first["power_w_peak"],
                            "tensor_active": first["tensor_active"],
                            "sm_active": first["sm_active"],
                            "flop": first["flop"],
                            "run_id": run_id,
                        }
                    )
                else:
                    record.update(
                        {
                            "energy_j": prev["energy_j"] + 6000,
                            "power_w_avg": 100.5,
                            "power_w_peak": 110.5,
                            "tensor_active": 0.01,
                            "sm_active": 0.02,
                            "flop": {},
                            "run_id": None,
                        }
                    )
                line = sign_record(record, chip.private_key)
                lines.append(line)
                prev_line, prev = line, record
            self.last[chip.chip_id] = prev_line
        return b"".join(line + b"\n" for line in lines)


def retagged(fleet: Fleet, keep: set[str], run_id: str) -> list[bytes]:
    """``fleet``'s records, those of the chips not in ``keep`` re-chained naming ``run_id``."""
    keys = {c.chip_id: c.private_key for c in fleet.chips}
    last: dict[str, bytes] = {}
    out = []
    for line in fleet.lines:
        record = json.loads(line)["record"]
        chip = record["chip_id"]
        if chip not in keep:
            if chip in last:
                record["prev"] = record_hash(last[chip])
            record["run_id"] = run_id
            line = sign_record(record, keys[chip])
        last[chip] = line
        out.append(line)
    return out


def declaration(run_id: str, fleet: Fleet, chip_ids: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": run_id,
        "operator_id": "lab",
        "cluster_id": "c1",
        "model": f"model-{run_id}",
        "phase": "pretraining",
        "planned_flop": 1e16,
        "estimate_method": "hardware",
        "chips": len(chip_ids) if chip_ids else len(fleet.chips),
        "starts_at": fleet.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ends_at": (fleet.start + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hyperparameters_digest": DIGEST,
        "data_order_seed_digest": DIGEST,
        "checkpoint_interval_steps": 1000,
    }
    if chip_ids is not None:
        body["chip_ids"] = chip_ids
    return body


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Any]:
    """A service under :func:`halts_policy` with one operator ``lab``, cluster ``c1`` of four
    H100s training for run ``run-c1`` (declared with ``chip_ids``, if given) and a second run
    ``run-other`` declared on the same cluster; one party (the fleet's) votes. ``run-c1``
    names its first ``named`` chips, if any."""
    opened: list[TestClient] = []

    def make(prohibited: float, named: int = 0) -> World:
        clock = Clock(START)
        settings = Settings(
            data_dir=tmp_path / str(len(opened)), batch_latency_ms=1, clerk_interval_s=0
        )
        service = LogService(settings, clock=clock)
        client = TestClient(create_app(service))
        client.__enter__()
        opened.append(client)
        secretariat = load_key(service.settings.keys_dir, "secretariat")
        fleet = simulate_fleet(
            (ClusterSpec("c1", "lab", "H100 SXM", 4, Workload.TRAINING),),
            windows=10,
            seed=1,
            start=START - timedelta(hours=1),
        )
        world_ = fleet_world(fleet, secretariat, party_id="us")
        chip_ids = [c.chip_id for c in fleet.chips[:named]] or None
        lines = retagged(fleet, set(chip_ids or ()), "run-other") if chip_ids else fleet.lines
        world = World(
            service, client, clock, fleet, world_.operators["lab"], world_.party, {}, lines
        )
        doc = halts_policy(prohibited)
        world.post(
            sign_statement(
                "policy.adopt/v1",
                {
                    "policy": doc,
                    "digest": policy_digest(Policy.model_validate(doc)),
                    "effective_at": "2027-01-01T00:00:00Z",
                },
                secretariat,
            )
        )
        # Every stage but the declarations, which the test makes itself.
        for stage in world_.stages[:-1]:
            for statement in stage:
                world.post(statement)
        for run_id, ids in (("run-c1", chip_ids), ("run-other", None)):
            body = declaration(run_id, fleet, ids)
            world.post(sign_statement("run.declaration/v1", body, world.operator))
        for line in lines:
            world.last[json.loads(line)["record"]["chip_id"]] = line
        return world

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def measured_pace(world: World) -> tuple[float, float]:
    """The run's measured FLOP and mean pace (FLOP/s) from its simulated records."""
    flop = 0.0
    first, last = None, None
    for line in world.fleet.lines:
        record = json.loads(line)["record"]
        flop += sum(float(v) for v in record["flop"].values())
        first = min(first or record["window_start"], record["window_start"])
        last = max(last or record["window_end"], record["window_end"])
    assert first is not None
    assert last is not None
    seconds = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    return flop, flop / seconds


@pytest.mark.parametrize(("days", "filed"), [(1.0, True), (3.0, False)])
def test_halt_proposed_before_the_run_crosses(make_world: Any, days: float, filed: bool) -> None:
    """A run whose projection crosses the prohibition in a day (before a halt proposed now
    binds, two days on) gets its halt proposal filed now, while it is below the prohibition,
    citing the projection; one that crosses in three days does not yet."""
    probe = make_world(1e30)
    flop, pace = measured_pace(probe)
    world = make_world(flop + pace * days * 86_400)
    world.upload(b"".join(line + b"\n" for line in world.lines))
    assert world.service.run_clerk() >= (1 if filed else 0)
    halts = world.proposals("halt_order")
    assert world.findings("prohibited_compute") == []
    if not filed:
        assert halts == []
        assert world.findings("prohibition_projected") == []
        return
    [halt] = halts
    assert halt["subject"] == "run:run-c1"
    assert halt["text"].startswith("filed by the policy for finding prohibition_projected")
    [finding] = world.findings("prohibition_projected")
    figures = (
        dict(finding["figures"]) if isinstance(finding["figures"], list) else finding["figures"]
    )
    crossing = datetime.fromisoformat(figures["crossing"])
    assert world.clock.now < crossing < world.clock.now + timedelta(days=2)
    # The order binds after the vote and the notice: two days from now.
    deadline = datetime.fromisoformat(halt["deadline"])
    assert deadline - world.clock.now == pytest.approx(timedelta(days=2), abs=timedelta(seconds=5))
    # Filed once: the clerk's next round files no second halt for the run.
    world.service.run_clerk()
    assert len(world.proposals("halt_order")) == 1


def test_a_crossing_after_an_early_halt_was_voted_down_files_the_halt_again(
    make_world: Any,
) -> None:
    """The parties may vote an early halt down (a projection is a forecast); when the run then
    crosses the prohibition, the clerk files the halt again, for the crossing, and only once."""
    probe = make_world(1e30)
    flop, pace = measured_pace(probe)
    world = make_world(flop + pace * 0.3 * 86_400)
    world.upload(b"".join(line + b"\n" for line in world.lines))
    world.service.run_clerk()
    [early] = world.proposals("halt_order")
    assert early["text"].startswith("filed by the policy for finding prohibition_projected")
    world.post(
        sign_statement(
            "gov.vote/v1", {"proposal_id": early["proposal_id"], "choice": "no"}, world.party
        )
    )
    world.clock.now += timedelta(days=1, minutes=1)
    world.service.run_clerk()
    assert world.client.get(f"/v1/proposals/{early['proposal_id']}").json()["passed"] is False
    last_end = max(json.loads(line)["record"]["window_end"] for line in world.lines)
    world.upload(world.more(datetime.fromisoformat(last_end), 720, run_id="run-c1", busy=True))
    assert world.findings("prohibited_compute") != []
    world.service.run_clerk()
    world.service.run_clerk()
    halts = world.proposals("halt_order")
    assert len(halts) == 2
    [again] = [h for h in halts if h["proposal_id"] != early["proposal_id"]]
    assert again["subject"] == "run:run-c1"
    assert again["text"].startswith("filed by the policy for finding prohibited_compute")


def decide_halt(world: World) -> dict[str, Any]:
    """Crossed telemetry, the clerk's halt proposal, the party's vote, the decision."""
    world.upload(b"".join(line + b"\n" for line in world.lines))
    world.service.run_clerk()
    [halt] = [p for p in world.proposals("halt_order") if p["subject"] == "run:run-c1"]
    world.post(
        sign_statement(
            "gov.vote/v1", {"proposal_id": halt["proposal_id"], "choice": "yes"}, world.party
        )
    )
    world.clock.now += timedelta(days=1, minutes=1)
    world.service.run_clerk()
    shown = world.client.get(f"/v1/proposals/{halt['proposal_id']}").json()
    assert shown["outcome"]["passed"] is True
    assert shown["order"]["status"] == "pending"
    return shown


def order_of(world: World, proposal_id: str) -> dict[str, Any]:
    return world.client.get(f"/v1/proposals/{proposal_id}").json()["order"]  # type: ignore[no-any-return]


def test_unacknowledged_order_escalates(make_world: Any) -> None:
    """An order whose chips go idle after the deadline but that the operator did not
    acknowledge by it is ``unacknowledged`` (a late acknowledgement does not change that):
    ``order_not_obeyed`` and the enforcement proposal."""
    world = make_world(1e17)
    halt = decide_halt(world)
    deadline = datetime.fromisoformat(halt["deadline"])
    world.clock.now = deadline + timedelta(minutes=30)
    world.upload(world.more(deadline + timedelta(minutes=1), 5))
    order = order_of(world, halt["proposal_id"])
    assert order["status"] == "unacknowledged", order
    [finding] = world.findings("order_not_obeyed")
    assert "was not acknowledged in time" in finding["explanation"]
    assert world.proposals("enforcement") == []
    world.service.run_clerk()
    [enforcement] = world.proposals("enforcement")
    assert enforcement["proposal_id"].startswith("auto-enforcement-")
    assert enforcement["subject"] == "run:run-c1"
    # An acknowledgement after the deadline is not one in time.
    world.post(sign_statement("order.ack/v1", {"proposal_id": halt["proposal_id"]}, world.operator))
    order = order_of(world, halt["proposal_id"])
    assert order["status"] == "unacknowledged"
    assert "after the deadline" in order["detail"]


def test_acknowledged_order_with_chips_busy_under_another_run_escalates(make_world: Any) -> None:
    """An acknowledged order whose chips keep training after the deadline, their records now
    naming another declared run, is violated: the lab's run tags do not hide them."""
    world = make_world(1e17)
    halt = decide_halt(world)
    world.post(sign_statement("order.ack/v1", {"proposal_id": halt["proposal_id"]}, world.operator))
    deadline = datetime.fromisoformat(halt["deadline"])
    world.clock.now = deadline + timedelta(hours=3)
    world.upload(world.more(deadline + timedelta(hours=2), 5, run_id="run-other", busy=True))
    order = order_of(world, halt["proposal_id"])
    assert order["status"] == "violated", order
    assert order["detail"].startswith("acknowledged on ")
    assert "4 of its 4 chips" in order["detail"]
    [finding] = world.findings("order_not_obeyed")
    assert finding["severity"] == "critical"
    assert finding["subject"] == "run:run-c1"
    world.service.run_clerk()
    [enforcement] = world.proposals("enforcement")
    assert enforcement["subject"] == "run:run-c1"


def test_named_chips_confirm_the_order_while_other_chips_work(make_world: Any) -> None:
    """A run that named its chips is confirmed on those: the cluster's other chips may train
    for another run after the deadline; a named chip doing so violates the order."""
    world = make_world(1e17, named=2)
    named = [c.chip_id for c in world.fleet.chips[:2]]
    others = [c.chip_id for c in world.fleet.chips if c.chip_id not in named]
    halt = decide_halt(world)
    world.post(sign_statement("order.ack/v1", {"proposal_id": halt["proposal_id"]}, world.operator))
    deadline = datetime.fromisoformat(halt["deadline"])
    world.clock.now = deadline + timedelta(hours=3)
    world.upload(world.more(deadline + timedelta(hours=2), 5, chips=named))
    world.upload(
        world.more(deadline + timedelta(hours=2), 5, chips=others, run_id="run-other", busy=True)
    )
    assert order_of(world, halt["proposal_id"])["status"] == "confirmed"
    assert world.findings("order_not_obeyed") == []
    world.upload(
        world.more(
            deadline + timedelta(hours=2, minutes=10),
            5,
            chips=named[:1],
            run_id="run-other",
            busy=True,
        )
    )
    order = order_of(world, halt["proposal_id"])
    assert order["status"] == "violated", order
    assert named[0] in order["detail"]
    assert named[1] not in order["detail"]


def test_a_declaration_names_only_chips_installed_in_its_cluster(make_world: Any) -> None:
    """``chip_ids`` must name as many chips as ``chips`` says, each installed in the declared
    cluster: otherwise the statement is refused with a problem document, nothing changed."""
    world = make_world(1e17)
    ids = [c.chip_id for c in world.fleet.chips[:2]]
    body = declaration("run-named", world.fleet, ids)
    body["chips"] = 3
    r = world.client.post(
        "/v1/statements", json=sign_unchecked("run.declaration/v1", body, world.operator)
    )
    assert r.status_code == 422, r.text
    assert "chip_ids names 2 chips, chips says 3" in r.json()["detail"]
    body = declaration("run-named", world.fleet, [*ids[:1], "no-such-chip"])
    r = world.client.post(
        "/v1/statements",
        json=sign_statement("run.declaration/v1", body, world.operator).to_json(),
    )
    assert r.status_code == 409, r.text
    assert "chip 'no-such-chip' is not installed in cluster 'c1'" in r.json()["detail"]
    assert world.client.get("/v1/views/runs/run-named").status_code == 404
