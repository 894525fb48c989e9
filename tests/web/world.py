"""A small real world for the dashboard's tests, built once per session through the service.

Every fact is a signed statement on the log: a policy (miri-2025 with a one-day vote window and
lift conditions the telemetry can show), a party with an operator, a facility, two clusters of
H100s (one training under a declared run above the prohibition, one training undeclared),
their chips' signed telemetry, more parties (one with a hostile name), positions on the
moratorium (one with a hostile source), an evaluator with results and an adopted suite, the
pause and halt proposals the policy filed with their votes and decisions, an open proposal with
a hostile text, and a witness's cosignature on the latest checkpoint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pausewatch.ledger import Note, Signer
from pausewatch.policy import Policy, load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Misbehaviour, Workload, fleet_world, simulate_fleet
from pausewatch.statements import KeyPair, Statement, sign_statement

START = datetime(2027, 3, 1, tzinfo=UTC)
HOSTILE_NAME = "<script>window.__pwned=1</script>"
HOSTILE_SOURCE = "javascript:window.__pwned=2"
HOSTILE_TEXT = '<img src=x onerror="window.__pwned=3"> & "quotes"'
DIGEST = hashlib.sha256(b"an inspect log").hexdigest()


class Clock:
    """A service clock the test moves; each reading advances a microsecond until the clock is
    frozen (then every page and every API call reads the same moment, and can be compared)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.step = timedelta(microseconds=1)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now

    def freeze(self) -> None:
        """Stop the clock: nothing is appended after the world is built."""
        self.step = timedelta(0)


@dataclass
class World:
    """The seeded service and what the tests need to name in it."""

    service: LogService
    clock: Clock
    run_id: str
    pause_id: str
    halt_id: str
    open_id: str
    lift_id: str
    witness: Signer


def _policy() -> dict[str, Any]:
    doc = policy_to_json(load_preset("miri-2025"))
    doc["id"] = "web-test"
    doc["governance"]["vote_window_days"] = 1
    doc["governance"]["decisions"]["halt_order"] = {"body": "conference", "rule": "simple_majority"}
    pause = doc["pause"]
    pause["default_duration_days"] = 30
    pause["lift"]["rule"] = "simple_majority"
    pause["lift"]["conditions"] = [
        {"fact": "monitoring_coverage", "op": ">=", "value": 0.95, "description": "coverage"},
        {"fact": "dark_chips", "op": "==", "value": 0, "description": "no dark chip"},
    ]
    return doc


def _result(name: str, domain: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        # As `read_evidence` names results: long ids the pages must fit.
        "result_id": f"eval-{hashlib.sha256(name.encode()).hexdigest()[:24]}",
        "evaluator_id": "aisi",
        "model": "model-c1",
        "inspect_model": "pausewatch/scripted",
        "domain": domain,
        "probe_id": "pausewatch/repair_training_run",
        "task": "repair_training_run",
        "task_version": 1,
        "status": "success",
        "samples": 20,
        "completed_samples": 20,
        "epochs": 1,
        "metrics": [
            {"name": "accuracy", "value": 0.3, "ci_low": 0.1, "ci_high": 0.4, "method": "wilson"}
        ],
        "elicitation": {"solver": "basic_agent", "agent": True, "tools": ["bash"]},
        "log_digest": DIGEST,
    }
    body.update(over)
    return body


def _submission(data: bytes, key: KeyPair) -> Statement:
    return sign_statement(
        "telemetry.submission/v1",
        {
            "operator_id": "lab",
            "batch_digest": hashlib.sha256(data).hexdigest(),
            "records": data.count(b"\n"),
        },
        key,
    )


def build_world(data_dir: Path) -> World:
    """Seed a fresh service in ``data_dir`` (see the module docstring)."""
    witness = Signer.generate("witness.example/w1")
    data_dir.mkdir(parents=True, exist_ok=True)
    # A witness nobody can reach (the discard port): the service's distributor fails quietly;
    # the test cosigns the last checkpoint itself, as the witness would.
    (data_dir / "witnesses.txt").write_text(
        f"http://127.0.0.1:9 {witness.verifier().to_string()}\n"
    )
    clock = Clock(START)
    settings = Settings(data_dir=data_dir, batch_latency_ms=1, clerk_interval_s=0)
    service = LogService(settings, clock=clock).start()
    secretariat = service.secretariat_key

    def post(statement: Statement) -> None:
        service.submit(statement).result(timeout=30)

    def submit(kind: str, body: dict[str, Any], key: KeyPair) -> None:
        post(sign_statement(kind, body, key))

    doc = _policy()
    submit(
        "policy.adopt/v1",
        {
            "policy": doc,
            "digest": policy_digest(Policy.model_validate(doc)),
            "effective_at": "2027-01-01T00:00:00Z",
        },
        secretariat,
    )
    fleet = simulate_fleet(
        (
            ClusterSpec("c1", "lab", "H100 SXM", 4, Workload.TRAINING),
            ClusterSpec("c2", "lab", "H100 SXM", 2, Workload.TRAINING),
        ),
        windows=10,
        seed=1,
        start=START - timedelta(hours=1),
        misbehaviour=Misbehaviour(undeclared_clusters=frozenset({"c2"})),
    )
    world = fleet_world(fleet, secretariat, party_id="us", planned_flop=2e24)
    for stage in world.stages:
        for statement in stage:
            post(statement)
    keys = {"us": world.party}
    for party, name in (("cn", HOSTILE_NAME), ("eu", "European Union"), ("uk", "United Kingdom")):
        keys[party] = KeyPair.generate(party)
        submit(
            "party.register/v1",
            {"party_id": party, "name": name, "key": keys[party].signer_id},
            secretariat,
        )
    operator = world.operators["lab"]
    for key, stance, source in (
        (keys["us"], "backs", "https://example.org/us-statement"),
        (keys["cn"], "opposes", HOSTILE_SOURCE),
        (operator, "undeclared", "no public statement"),
    ):
        body = {"stance": stance, "source": source, "as_of": "2027-02-01T00:00:00Z"}
        submit("position/v1", body, key)
    data = fleet.jsonl()
    receipt = service.ingest_telemetry(data, _submission(data, operator))
    assert receipt.accepted == 60, receipt

    aisi = KeyPair.generate("aisi")
    body = {"evaluator_id": "aisi", "party_id": "uk", "name": "AISI", "key": aisi.signer_id}
    submit("evaluator.register/v1", body, keys["uk"])
    suite = {
        "domain": "ai_rnd_automation",
        "probes": [{"probe_id": "pausewatch/repair_training_run", "version": 1}],
    }
    submit("eval.suite/v1", suite, secretariat)
    submit("eval.result/v1", _result("r1", "ai_rnd_automation"), aisi)
    high = [{"name": "accuracy", "value": 0.6, "ci_low": 0.45, "ci_high": 0.75, "method": "wilson"}]
    submit("eval.result/v1", _result("r2", "ai_rnd_automation", metrics=high), aisi)
    failed = _result("r3", "self_improvement", status="error", metrics=[], error="sandbox died")
    submit("eval.result/v1", failed, aisi)

    # The policy files a halt order for the run and a pause; the parties vote them in.
    assert service.run_clerk() == 2
    rows = service.state.registry.views["proposals"].values()
    filed = {row["kind"]: row["proposal_id"] for row in rows}
    pause_id, halt_id = filed["pause_start"], filed["halt_order"]
    for party, choice in (("us", "yes"), ("cn", "no"), ("eu", "yes")):
        submit("gov.vote/v1", {"proposal_id": pause_id, "choice": choice}, keys[party])
    for party in ("us", "eu"):
        submit("gov.vote/v1", {"proposal_id": halt_id, "choice": "yes"}, keys[party])
    clock.now += timedelta(days=1, minutes=1)
    assert service.run_clerk() >= 2
    # A lift the parties vote for fails: the chips have been dark for a day.
    body = {"proposal_id": "lift-1", "kind": "pause_lift", "text": "lift it"}
    submit("gov.proposal/v1", body, keys["eu"])
    for party in ("us", "eu", "uk"):
        submit("gov.vote/v1", {"proposal_id": "lift-1", "choice": "yes"}, keys[party])
    clock.now += timedelta(days=1, minutes=1)
    service.run_clerk()
    # An open proposal whose text is hostile.
    body = {"proposal_id": "renew-1", "kind": "pause_renew", "text": HOSTILE_TEXT}
    submit("gov.proposal/v1", body, keys["uk"])
    submit("gov.vote/v1", {"proposal_id": "renew-1", "choice": "abstain"}, keys["us"])

    # The witness cosigns the latest checkpoint (what tlog-witness would answer).
    note = service.log.checkpoint_note(with_cosignatures=False)
    text = Note.from_text(note).text
    line = witness.cosignature_line(text, int(clock.now.timestamp()))
    service.log.add_cosignature(service.log.size, witness.verifier(), note + line)
    clock.freeze()
    return World(service, clock, "run-c1", pause_id, halt_id, "renew-1", "lift-1", witness)


class Fields(HTMLParser):
    """Collects every element carrying ``data-field``: its attributes and its text."""

    VOID = frozenset({"br", "meta", "link", "img", "input", "hr", "wbr", "source"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, list[dict[str, Any]]] = {}
        self._open: list[tuple[str, dict[str, Any] | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        record = None
        named = dict(attrs)
        if named.get("data-field"):
            record = {"attrs": named, "text": ""}
            self.found.setdefault(str(named["data-field"]), []).append(record)
        self._open.append((tag, record))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, record in self._open:
            if record is not None:
                record["text"] += data


def fields(html: str) -> dict[str, list[dict[str, Any]]]:
    """``data-field`` name -> every such element (``attrs``, whitespace-collapsed ``text``)."""
    parser = Fields()
    parser.feed(html)
    for records in parser.found.values():
        for r in records:
            r["text"] = " ".join(r["text"].split())
    return parser.found


def text(html: str, name: str) -> str:
    """The text of the one element with ``data-field=name``."""
    found = fields(html).get(name, [])
    assert len(found) == 1, f"{name}: expected one element, got {len(found)}"
    return str(found[0]["text"])
