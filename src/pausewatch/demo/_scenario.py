"""The scripted story, played through the running service's API.

Acts, in world time (``T0`` = 2027-03-01):

1. The agreement (day 0): the secretariat adopts the demo policy; six parties register with
   their delegates and positions; two operators, their facilities and clusters, and 2,048 chips
   certified by their maker and installed; two safety institutes; suites adopted in three of
   the five capability domains.
2. Frontier Lab declares an RL run of ``frontier-2`` (8e22 FLOP planned, under the 1e23
   post-training prohibition). It is deemed approved 30 days later and starts.
3. Telemetry from 1,536 GB200s shows the run approaching the prohibition.
4. Its projection crosses the prohibition within hours, before a halt proposed later could be
   decided and bind (the one-day vote and 24 hours' notice): the policy files the halt order
   proposal now, before the run crosses (``prohibition_projected``, docs/adr/0020).
5. The run crosses the prohibition.
6. The UK institute's Inspect evaluation of ``frontier-2`` comes back critical.
7. The policy files a pause; the parties vote it and the halt order in.
8. Frontier Lab acknowledges the order; its chips report idle windows: confirmed.
9. Dragon AI trains on 512 H100s with no declaration and is found.
10. The parties order Dragon AI's cluster halted; Dragon AI never acknowledges the order, so
    past its deadline it is not obeyed and the policy files the enforcement proposal, which the
    parties vote in.
11. As the pause nears its expiry, a renewal is voted in.
12. A lift is voted, and fails under the policy's own conditions: suites are adopted in three
    domains, not five, and no witness of the log is registered.
13. The safeguards are completed: suites in the last two domains, the log's three witnesses
    registered; the secretariat's clerk records their cosignatures on the log.
14. A second lift is voted, and passes: telemetry covers the compute, every domain has a suite,
    three witnesses cosign the log, and no critical finding is open (the run was halted and
    the telemetry confirmed it; the pause answered the critical evaluation). The pause is
    lifted, and the policy files no new one.
15. The verification goes on (:mod:`pausewatch.demo._detection`): eight chips shipped to
    Dragon AI, one exported to a non-party and one vanishing, are found by the chip balance
    (``chips_exported``, ``chips_unaccounted``).
16. An inspector's sample of Dragon AI's chips, drawn from the root of the log's tree just past
    the plan's commitment, finds chips missing (``inspection_discrepancy``).
17. A metered facility: a day in balance, then a hidden cluster of unregistered chips whose
    power no chip reports, found by the facility's energy balance (``energy_unaccounted``).
18. What was trained (:mod:`pausewatch.demo._transcripts`): Frontier Lab commits the
    transcript of a small run and the inspector's audit, replaying segments drawn from the log's
    root after the final commitment, passes it; Dragon AI commits a forged transcript (a final
    model swapped in), the audit fails it (``transcript_failed``) and the policy files a halt
    order proposal for the run.

Every statement is deterministic, so replaying the story after a crash re-sends what is already
on the log (answered as duplicates) and goes on where it stopped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pausewatch.client import ClientError, PausewatchClient
from pausewatch.demo._chips import WINDOW, ClusterChips
from pausewatch.demo._detection import divert, hidden_cluster, inspect
from pausewatch.demo._progress import DemoProgress, NoProgress
from pausewatch.demo._transcripts import transcripts
from pausewatch.demo._world import (
    ADOPTED_DOMAINS,
    BASE_MODEL,
    CLUSTERS,
    EVALUATORS,
    MODEL,
    PARTIES,
    PLANNED_FLOP,
    RUN_ID,
    RUN_STEPS,
    SIMULATED,
    WITNESSES,
    at,
    chip_ids,
    chip_key,
    demo_policy,
    iso,
    key,
    party_keys,
    witness_signer,
)
from pausewatch.errors import Error
from pausewatch.policy import Policy, policy_digest
from pausewatch.statements import KeyPair, Statement, sign_statement, signer_id

if TYPE_CHECKING:
    from pausewatch.evals import EvalResult

APPROACH_HOURS = 3
"""Hours the RL run trains before it is seen approaching the prohibition (1,536 GB200s at 70%
of their FP8 peak count about 1.9e22 FLOP an hour)."""
CROSS_HOURS = 3
"""Further hours, after which it is past the 1e23 post-training prohibition."""
EVALUATED = ("pausewatch/repair_training_run", "pausewatch/tune_own_heuristic")
"""The probes the UK institute runs on the RL run's model."""
BULK = 256
"""Statements submitted together when the story has many independent ones (chips)."""


class DemoError(Error):
    """The story could not go on (the service refused a step it should have taken)."""


class WorldClock(Protocol):
    """The service's clock, which the story moves forward."""

    def __call__(self) -> datetime: ...

    def advance_to(self, when: datetime) -> None: ...


@dataclass
class Snapshot:
    """What the world looked like after an act."""

    act: str
    at: str
    pause: str
    findings: dict[str, int]
    run_flop: float


@dataclass
class Story:
    """What the demo saw, for its summary and report."""

    snapshots: list[Snapshot] = field(default_factory=list)
    run_series: list[tuple[str, float]] = field(default_factory=list)
    """(world time, counted FLOP of the RL run) after each telemetry batch."""
    facts: dict[str, Any] = field(default_factory=dict)


class Scenario:
    """The story against the service at ``url`` whose clock is ``clock``."""

    def __init__(
        self,
        url: str,
        clock: WorldClock,
        secretariat: KeyPair,
        *,
        seed: int = 0,
        pace_s: float = 0.0,
        log_dir: Path | None = None,
        narrate: Callable[[str], None] = print,
        bulk: Callable[[list[Statement]], object] | None = None,
        progress: DemoProgress | None = None,
        clerk: Callable[[], object] | None = None,
    ) -> None:
        self.client = PausewatchClient(url, timeout=120.0)
        self.url = url
        self.clock = clock
        self.secretariat = secretariat
        self.seed = seed
        self.pace_s = pace_s
        self.log_dir = log_dir
        self.say = narrate
        self.keys = party_keys(seed)
        self.keys["secretariat"] = secretariat
        for plan in CLUSTERS:
            self.keys[plan.operator_id] = key(seed, plan.operator_id)
        self.keys["maker"] = key(seed, "maker")
        for evaluator_id, _, _ in EVALUATORS:
            self.keys[evaluator_id] = key(seed, evaluator_id)
        self.chips = {plan.cluster_id: ClusterChips.build(plan, seed) for plan in CLUSTERS}
        self.story = Story()
        self.policy_doc = demo_policy()
        self.bulk = bulk
        """Submits many statements at once (the host in-process); without it, one request
        each."""
        self.progress: DemoProgress = progress or NoProgress()
        self.clerk = clerk
        """Runs the secretariat's clerk now (the host in-process), so that a wait for what it
        files need not wait for its next round."""
        self._evaluation: subprocess.Popen[str] | None = None

    # -- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP client and stop an evaluation still running."""
        self.client.close()
        if self._evaluation is not None and self._evaluation.poll() is None:
            self._evaluation.kill()
            self._evaluation.communicate()

    def post(self, kind: str, body: dict[str, Any], signer: str | KeyPair) -> dict[str, Any]:
        """Sign and submit; a statement already on the log is answered with its entry."""
        k = signer if isinstance(signer, KeyPair) else self.keys[signer]
        try:
            return self.client.submit(sign_statement(kind, body, k))
        except ClientError as exc:
            raise DemoError(f"{kind} by {k.name} was refused: {exc}") from None

    def post_many(self, items: list[tuple[str, dict[str, Any], str]]) -> None:
        """Submit independent statements concurrently (the log batches them), counting them
        on the progress display; many at once go ``BULK`` a batch through :attr:`bulk`."""
        what = f"{items[0][0]} statements" if items else "statements"
        if self.bulk is not None and len(items) > BULK:
            for first in range(0, len(items), BULK):
                chunk = items[first : first + BULK]
                statements = [sign_statement(kind, body, self.keys[by]) for kind, body, by in chunk]
                try:
                    self.bulk(statements)
                except Error as exc:
                    raise DemoError(f"{what} were refused: {exc}") from None
                self.progress.count(what, first + len(chunk), len(items))
            return
        with ThreadPoolExecutor(max_workers=8) as pool:
            for n, _ in enumerate(pool.map(lambda item: self.post(*item), items), 1):
                self.progress.count(what, n, len(items))

    def advance(self, when: datetime) -> None:
        """Move the world's clock to ``when`` (never back)."""
        self.clock.advance_to(when)

    def telemetry(self, cluster_id: str, start: datetime, **kw: Any) -> dict[str, Any]:
        """One hour of a cluster's chips from ``start``, uploaded by its operator."""
        self.advance(start + WINDOW + timedelta(minutes=1))
        return self.send(cluster_id, self.chips[cluster_id].window(start, **kw))

    def send(self, cluster_id: str, data: bytes) -> dict[str, Any]:
        """Upload records of a cluster's chips (JSONL) as its operator; a rejected record
        stops the story."""
        operator = self.chips[cluster_id].plan.operator_id
        try:
            receipt = self.client.send_telemetry(data, operator, self.keys[operator])
        except ClientError as exc:
            raise DemoError(f"telemetry of {cluster_id} was refused: {exc}") from None
        if receipt.get("rejected"):
            first = receipt["rejected"][0]
            raise DemoError(f"telemetry of {cluster_id}: {first['rule']}: {first['reason']}")
        return receipt

    def heartbeat(self, start: datetime) -> None:
        """An idle hour from every chip: the fleet is not dark."""
        for cluster_id in self.chips:
            self.telemetry(cluster_id, start, run_id=None, utilisation=0.0)

    def wait_for(self, what: str, check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
        """Poll ``check`` until it returns something true (the clerk works on its own, and,
        given :attr:`clerk`, is run before each poll)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.clerk is not None:
                try:
                    self.clerk()
                except Error as exc:
                    raise DemoError(f"the clerk failed while waiting for {what}: {exc}") from None
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise DemoError(f"timed out waiting for {what}")
            time.sleep(0.2)

    def proposal_of(self, kind: str, after: datetime | None = None) -> dict[str, Any] | None:
        """The earliest proposal of ``kind`` opened at or after ``after``."""
        found = [
            p
            for p in self.client.proposals()
            if p["kind"] == kind
            and (after is None or datetime.fromisoformat(p["opens_at"]) >= after)
        ]
        return min(found, key=lambda p: datetime.fromisoformat(p["opens_at"]), default=None)

    def decided(self, proposal_id: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            p = self.client.proposal(proposal_id)
            return p if p.get("status") == "decided" else None

        result: dict[str, Any] = self.wait_for(f"the decision on {proposal_id}", check)
        return result

    def view_rows(self, view: str) -> list[dict[str, Any]]:
        """Every row of a view."""
        try:
            return list(self.client.views(view, limit=1000))
        except ClientError as exc:
            raise DemoError(f"view {view}: {exc}") from None

    def run_flop(self) -> float:
        try:
            return float(self.client.run(RUN_ID)["measured"]["counted_flop"])
        except ClientError:
            return 0.0

    def snapshot(self, act: str) -> None:
        findings: dict[str, int] = {}
        for f in self.client.findings(limit=1000)["findings"]:
            findings[f["severity"]] = findings.get(f["severity"], 0) + 1
        pause = self.client.pause()
        now = self.clock().strftime("%Y-%m-%d %H:%M")
        self.story.snapshots.append(Snapshot(act, now, pause["status"], findings, self.run_flop()))

    def act(self, title: str, step: Callable[[], str]) -> None:
        self.progress.act(title)
        started = time.monotonic()
        detail = step()
        self.snapshot(title)
        s = self.story.snapshots[-1]
        counts = ", ".join(f"{n} {k}" for k, n in sorted(s.findings.items())) or "none"
        self.say(
            f"[{s.at}] {title}: {detail} (pause {s.pause}; findings: {counts}; "
            f"{time.monotonic() - started:.1f} s)"
        )
        if self.pace_s:
            time.sleep(self.pace_s)

    # -- the story -----------------------------------------------------------------------------

    def play(self) -> Story:
        """Play every act; returns what was seen."""
        self.prepare_evaluation()
        self.act("the agreement", self.agreement)
        self.act("a run is declared", self.declare)
        self.act("deemed approved, the run starts", self.start)
        self.act("the run approaches the prohibition", self.approach)
        self.act("a halt is proposed before the run crosses", self.early_halt)
        self.act("the run crosses the prohibition", self.cross)
        self.act("an evaluation comes back critical", self.evaluate)
        self.act("the pause is voted in", self.vote_pause)
        self.act("the halt order is obeyed", self.halt)
        self.act("undeclared training is found", self.undeclared)
        self.act("an ignored halt order escalates", self.escalate)
        self.act("the pause is renewed", self.renew)
        self.act("a lift fails", self.lift)
        self.act("the safeguards are completed", self.safeguards)
        self.act("the pause is lifted", self.lift_passes)
        self.act("chips are diverted to a non-party", lambda: divert(self))
        self.act("an inspection finds chips missing", lambda: inspect(self))
        self.act("a hidden cluster draws power", lambda: hidden_cluster(self))
        self.act("a spoofed transcript is caught", lambda: transcripts(self))
        return self.story

    def agreement(self) -> str:
        self.advance(at(0, 0.05))
        doc = self.policy_doc
        self.post(
            "policy.adopt/v1",
            {
                "policy": doc,
                "digest": policy_digest(Policy.model_validate(doc)),
                "effective_at": iso(at(0)),
            },
            self.secretariat,
        )
        self.post_many(
            [
                (
                    "party.register/v1",
                    {
                        "party_id": p.party_id,
                        "name": p.name,
                        "key": self.keys[p.party_id].signer_id,
                    },
                    "secretariat",
                )
                for p in PARTIES
            ]
        )
        self.post_many(
            [
                (
                    "delegate.register/v1",
                    {"party_id": p.party_id, "key": self.keys[f"{p.party_id}-delegate"].signer_id},
                    p.party_id,
                )
                for p in PARTIES
            ]
            + [
                (
                    "position/v1",
                    {"stance": p.stance, "source": SIMULATED, "as_of": iso(at(0))},
                    p.party_id,
                )
                for p in PARTIES
            ]
        )
        maker = self.keys["maker"]
        self.post(
            "chip_maker.register/v1",
            {"maker_id": "maker", "name": "Chipmaker (simulated)", "key": maker.signer_id},
            self.secretariat,
        )
        for plan in CLUSTERS:
            op = self.keys[plan.operator_id]
            self.post(
                "operator.register/v1",
                {
                    "operator_id": plan.operator_id,
                    "party_id": plan.party_id,
                    "name": plan.operator_name,
                    "key": op.signer_id,
                },
                plan.party_id,
            )
            self.post(
                "facility.register/v1",
                {
                    "facility_id": plan.facility_id,
                    "operator_id": plan.operator_id,
                    "name": plan.facility_id,
                    "location": {"country": plan.country},
                    "power_capacity_mw": 300.0,
                },
                plan.operator_id,
            )
            self.post(
                "cluster.register/v1",
                {
                    "cluster_id": plan.cluster_id,
                    "facility_id": plan.facility_id,
                    "name": plan.cluster_id,
                    "network_gbps": 800.0,
                },
                plan.operator_id,
            )
        chips = [(plan, c) for plan in CLUSTERS for c in chip_ids(plan)]
        self.post_many(
            [
                (
                    "chip.certify/v1",
                    {
                        "chip_id": c,
                        "maker_id": "maker",
                        "model": plan.model,
                        "serial": f"SN-{c}",
                        "key": signer_id(chip_key(self.seed, c).public_key().public_bytes_raw()),
                        "operator_id": plan.operator_id,
                    },
                    "maker",
                )
                for plan, c in chips
            ]
        )
        self.post_many(
            [
                (
                    "chip.custody/v1",
                    {"chip_id": c, "action": "install", "cluster_id": plan.cluster_id},
                    plan.operator_id,
                )
                for plan, c in chips
            ]
        )
        for evaluator_id, party_id, name in EVALUATORS:
            body = {
                "evaluator_id": evaluator_id,
                "party_id": party_id,
                "name": name,
                "key": self.keys[evaluator_id].signer_id,
            }
            self.post("evaluator.register/v1", body, party_id)
        from pausewatch.evals import suite
        from pausewatch.policy._model import Domain

        for domain in ADOPTED_DOMAINS:
            probes = [{"probe_id": p.id, "version": p.version} for p in suite(Domain(domain))]
            self.post("eval.suite/v1", {"domain": domain, "probes": probes}, self.secretariat)
        self.heartbeat(at(0, 1))
        return (
            f"{len(PARTIES)} parties, {len(CLUSTERS)} operators, {len(chips):,} chips, "
            f"{len(EVALUATORS)} evaluators, suites in {len(ADOPTED_DOMAINS)} of 5 domains"
        )

    def declare(self) -> str:
        self.advance(at(0, 3))
        body = {
            "run_id": RUN_ID,
            "operator_id": "frontier-lab",
            "cluster_id": "fl-iowa-1",
            "model": MODEL,
            "base_model": BASE_MODEL,
            "phase": "rl",
            "planned_flop": PLANNED_FLOP,
            "estimate_method": "hardware",
            "chips": 1536,
            "starts_at": iso(at(30, 2)),
            "ends_at": iso(at(40)),
            "hyperparameters_digest": "a" * 64,
            "data_order_seed_digest": "b" * 64,
            "checkpoint_interval_steps": 500,
        }
        self.post("run.declaration/v1", body, "frontier-lab")
        # miri-2025 asks a run of this size for a training transcript: the lab commits to its
        # hyper-parameters, data and seed before it trains (the checkpoints follow as it does).
        commitment = {
            "run_id": RUN_ID,
            "recipe": "frontier_rl",
            "hyperparameters_digest": body["hyperparameters_digest"],
            "seed_commitment": body["data_order_seed_digest"],
            "dataset_root": "c" * 64,
            "dataset_records": 4_000_000,
            "every": body["checkpoint_interval_steps"],
            "steps": RUN_STEPS,
            "framework": "torch",
        }
        self.post("transcript.commit/v1", commitment, "frontier-lab")
        return f"{RUN_ID} ({MODEL} from {BASE_MODEL}, RL, {PLANNED_FLOP:.0e} FLOP planned)"

    def start(self) -> str:
        self.heartbeat(at(30))
        self.advance(at(30, 2))
        self.post("run.start/v1", {"run_id": RUN_ID, "at": iso(at(30, 2))}, "frontier-lab")
        initial = {"run_id": RUN_ID, "checkpoints": [{"step": 0, "digest": "d" * 64}]}
        self.post("transcript.checkpoint/v1", initial, "frontier-lab")
        return "deemed approved after 30 days; the run starts"

    def _train(self, first_hour: int, hours: int) -> None:
        """``hours`` hours of the RL run from hour ``first_hour`` of day 30: a fixed number, so
        that a replay signs the same chains whatever the log already holds."""
        for h in range(first_hour, first_hour + hours):
            start = at(30, h)
            self.telemetry("fl-iowa-1", start, run_id=RUN_ID, utilisation=0.7)
            self.story.run_series.append((iso(start + WINDOW), self.run_flop()))

    def approach(self) -> str:
        self._train(2, APPROACH_HOURS)
        self.story.facts["approach_hours"] = APPROACH_HOURS
        return f"{APPROACH_HOURS} hours of telemetry: {self.run_flop():.2e} FLOP counted"

    def early_halt(self) -> str:
        """The halt order the policy proposes for the run before it crosses."""
        halt = self.wait_for("the early halt proposal", lambda: self.proposal_of("halt_order"))
        self.story.facts["early_halt"] = halt["proposal_id"]
        self.story.facts["early_halt_opened"] = halt["opens_at"]
        self.story.facts["early_halt_flop"] = self.run_flop()
        [projected] = [
            f for f in self.client.run(RUN_ID)["findings"] if f["kind"] == "prohibition_projected"
        ] or [{"explanation": "(the projection no longer shows)"}]
        flop = self.story.facts["early_halt_flop"]
        return f"{halt['proposal_id']} filed at {flop:.2e} FLOP: {projected['explanation']}"

    def cross(self) -> str:
        self._train(2 + APPROACH_HOURS, CROSS_HOURS)
        self.story.facts["cross_hours"] = CROSS_HOURS
        findings = self.client.run(RUN_ID)["findings"]
        kinds = sorted({f["kind"] for f in findings})
        return f"{self.run_flop():.2e} FLOP counted; findings on the run: {', '.join(kinds)}"

    def prepare_evaluation(self) -> None:
        """Start the UK institute's evaluation now, as the institute would run it
        (`pausewatch eval run`, its own process), so that Inspect's start-up and its run
        overlap the acts before the results are due: the scripted model's answers do not
        depend on when it runs."""
        done = {r["probe_id"] for r in self.view_rows("eval_results")}
        todo = [p for p in EVALUATED if p not in done]
        if not todo or self._evaluation is not None:
            return
        log_dir = (self.log_dir or Path("inspect-logs")) / "uk-aisi"
        args = ["--model", "pausewatch/scripted", "--log-dir", str(log_dir), "--json"]
        args += ["-M", "horizon_minutes=2000.0", "-M", f"seed={self.seed}"]
        args += ["--evaluator", "uk-aisi", "--subject", MODEL]
        args += [a for p in todo for a in ("--probe", p)]
        self._evaluation = subprocess.Popen(
            [sys.executable, "-m", "pausewatch.cli", "eval", "run", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def evaluated(self) -> dict[str, EvalResult]:
        """The results of the evaluation :meth:`prepare_evaluation` started, by probe."""
        from pausewatch.evals import EvalResult

        running = self._evaluation
        if running is None:
            return {}
        stdout, stderr = running.communicate(timeout=600)
        if running.returncode != 0:
            raise DemoError(f"the evaluation failed: {stderr.strip()[-500:]}")
        results = [
            EvalResult.model_validate_json(json.dumps({k: v for k, v in r.items() if k != "log"}))
            for r in json.loads(stdout)["results"]
        ]
        return {r.probe_id: r for r in results}

    def evaluate(self) -> str:
        done = {r["probe_id"] for r in self.view_rows("eval_results")}
        self.advance(at(30, 12))
        if any(p not in done for p in EVALUATED):
            self.prepare_evaluation()
        self.progress.count("Inspect evaluation (probes)", 0, len(EVALUATED))
        evaluated = self.evaluated()
        out: list[str] = []
        for n, probe_id in enumerate(EVALUATED, 1):
            self.progress.count("Inspect evaluation (probes)", n, len(EVALUATED))
            if probe_id in done:
                continue  # evaluated before a restart: the result is on the log
            result = evaluated[probe_id]
            # Inspect ran now, in real time; in the story it ran at the world clock's time.
            now = self.clock().replace(microsecond=0)
            result = result.model_copy(update={"started_at": now, "completed_at": now})
            self.post(
                "eval.result/v1", result.model_dump(mode="json", exclude_none=True), "uk-aisi"
            )
            [acc] = [m for m in result.metrics if m.name == "accuracy"]
            out.append(
                f"{probe_id} accuracy {acc.value:.2f} (CI {acc.ci_low:.2f}-{acc.ci_high:.2f})"
            )
        return "; ".join(out) or "already on the log"

    def vote_pause(self) -> str:
        pause = self.wait_for("the pause proposal", lambda: self.proposal_of("pause_start"))
        halt = self.wait_for("the halt order proposal", lambda: self.proposal_of("halt_order"))
        self.story.facts["halt"] = halt["proposal_id"]
        self.vote_all([pause["proposal_id"], halt["proposal_id"]])
        self.advance(datetime.fromisoformat(pause["closes_at"]) + timedelta(minutes=5))
        self.heartbeat(at(31, 13))
        p = self.decided(pause["proposal_id"])
        h = self.decided(halt["proposal_id"])
        return f"pause: {p['outcome']['reason']}; halt order: {h['outcome']['reason']}"

    def vote_all(self, proposal_ids: list[str]) -> None:
        self.post_many(
            [
                ("gov.vote/v1", {"proposal_id": pid, "choice": p.vote}, f"{p.party_id}-delegate")
                for pid in proposal_ids
                for p in PARTIES
            ]
        )

    def halt(self) -> str:
        halt_id = self.story.facts["halt"]
        self.post("order.ack/v1", {"proposal_id": halt_id}, "frontier-lab")
        deadline = datetime.fromisoformat(self.client.proposal(halt_id)["deadline"])
        start = deadline.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        self.telemetry("fl-iowa-1", start, run_id=None, utilisation=0.0)
        self.telemetry("dr-ningxia-1", start, run_id=None, utilisation=0.0)
        self.story.facts["after_deadline"] = iso(start)
        end = {"run_id": RUN_ID, "at": iso(deadline), "outcome": "halted"}
        self.post("run.end/v1", end, "frontier-lab")
        order = self.client.proposal(halt_id)["order"] or {}
        self.story.facts["order"] = order.get("status")
        return (
            f"acknowledged and the run halted; the telemetry after the deadline shows the order "
            f"{order.get('status')}: {order.get('detail')}"
        )

    def undeclared(self) -> str:
        start = datetime.fromisoformat(self.story.facts["after_deadline"]) + timedelta(hours=1)
        for h in range(3):
            self.telemetry("dr-ningxia-1", start + h * WINDOW, run_id=None, utilisation=0.45)
            self.telemetry("fl-iowa-1", start + h * WINDOW, run_id=None, utilisation=0.0)
        found = [
            f
            for f in self.client.findings(limit=1000)["findings"]
            if f["kind"] == "undeclared_compute"
        ]
        return f"{len(found)} undeclared-compute finding(s): " + "; ".join(
            f["explanation"][:140] for f in found
        )

    def escalate(self) -> str:
        """A halt order on Dragon AI's cluster that Dragon AI never acknowledges: past its
        deadline the order is not obeyed and the policy files the enforcement proposal."""
        cluster = "dr-ningxia-1"
        order_id = f"halt-{cluster}"
        opened = datetime.fromisoformat(self.story.facts["after_deadline"]) + 4 * WINDOW
        self.advance(opened)
        closes = opened + timedelta(days=self.policy_doc["governance"]["vote_window_days"])
        deadline = (closes + timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
        body = {
            "proposal_id": order_id,
            "kind": "halt_order",
            "subject": f"cluster:{cluster}",
            "deadline": iso(deadline),
            "text": "halt the undeclared training on Dragon AI's cluster",
        }
        self.post("gov.proposal/v1", body, "eu-delegate")
        self.vote_all([order_id])
        self.advance(datetime.fromisoformat(self.client.proposal(order_id)["closes_at"]))
        self.decided(order_id)
        # Its chips go quiet after the deadline, but Dragon AI never acknowledges the order.
        self.heartbeat(deadline + timedelta(hours=1))
        order = self.client.proposal(order_id)["order"] or {}
        subject = f"cluster:{cluster}"

        def enforcement() -> dict[str, Any] | None:
            return next(
                (
                    p
                    for p in self.client.proposals()
                    if p["kind"] == "enforcement" and p["subject"] == subject
                ),
                None,
            )

        step = self.wait_for("the enforcement proposal", enforcement)
        self.vote_all([step["proposal_id"]])
        self.advance(datetime.fromisoformat(step["closes_at"]) + timedelta(minutes=5))
        decided = self.decided(step["proposal_id"])
        self.story.facts["escalation"] = {
            "order": order_id,
            "status": order.get("status"),
            "enforcement": step["proposal_id"],
            "passed": decided["outcome"]["passed"],
        }
        return (
            f"{order_id} is {order.get('status')} ({order.get('detail')}); the policy filed "
            f"{step['proposal_id']}: {decided['outcome']['reason']}"
        )

    def renew(self) -> str:
        # From the pause's start, not its expiry: once renewed, the expiry moves, and a replay
        # must sign the same heartbeats as the first time.
        started = datetime.fromisoformat(self.client.pause()["started_at"])
        days = self.policy_doc["pause"]["default_duration_days"]
        propose_at = started + timedelta(days=days - 2)
        self.heartbeat(propose_at.replace(minute=0, second=0))
        body = {"proposal_id": "renew-1", "kind": "pause_renew", "text": "renew the pause"}
        self.post("gov.proposal/v1", body, "eu-delegate")
        self.vote_all(["renew-1"])
        closes = datetime.fromisoformat(self.client.proposal("renew-1")["closes_at"])
        self.heartbeat(closes.replace(minute=0, second=0) - timedelta(hours=1))
        self.advance(closes + timedelta(minutes=5))
        r = self.decided("renew-1")
        expires = datetime.fromisoformat(self.client.pause()["expires_at"])
        return f"{r['outcome']['reason']}; the pause now expires {expires:%Y-%m-%d %H:%M}"

    def lift(self) -> str:
        body = {"proposal_id": "lift-1", "kind": "pause_lift", "text": "lift the pause"}
        self.post("gov.proposal/v1", body, "us-delegate")
        self.vote_all(["lift-1"])
        closes = datetime.fromisoformat(self.client.proposal("lift-1")["closes_at"])
        self.heartbeat(closes.replace(minute=0, second=0) - timedelta(hours=1))
        self.advance(closes + timedelta(minutes=5))
        r = self.decided("lift-1")
        unmet = [c for c in r["outcome"].get("conditions", []) if not c["held"]]
        self.story.facts["lift_unmet"] = [c["description"] for c in unmet]
        return f"{r['outcome']['reason']}"

    def safeguards(self) -> str:
        from pausewatch.evals import suite
        from pausewatch.policy._model import Domain

        missing = [d for d in Domain if d.value not in ADOPTED_DOMAINS]
        for domain in missing:
            probes = [{"probe_id": p.id, "version": p.version} for p in suite(domain)]
            self.post("eval.suite/v1", {"domain": domain.value, "probes": probes}, self.secretariat)
        for name in WITNESSES:
            vkey = witness_signer(self.seed, name).verifier().to_string()
            self.post("witness.register/v1", {"key": vkey}, self.secretariat)
        # The witnesses have cosigned the log since the start; once registered, the clerk puts
        # their newest cosignatures on the log, where the fold checks them.
        rows = self.wait_for("the witnesses' cosignatures on the log", lambda: self.witnessed())
        return (
            f"suites adopted in the last {len(missing)} domains; {len(WITNESSES)} witnesses "
            f"registered, their cosignatures of checkpoints up to size "
            f"{max(r['size'] for r in rows):,} recorded on the log"
        )

    def witnessed(self, since: datetime | None = None) -> list[dict[str, Any]] | None:
        """The witnesses' cosignatures recorded on the log (at or after ``since``), once every
        witness has one (none before)."""
        rows = [
            r
            for r in self.view_rows("witness_cosignatures")
            if since is None or datetime.fromisoformat(r["integrated_at"]) >= since
        ]
        return rows if {r["witness"] for r in rows} >= set(WITNESSES) else None

    def lift_passes(self) -> str:
        body = {"proposal_id": "lift-2", "kind": "pause_lift", "text": "lift the pause"}
        self.post("gov.proposal/v1", body, "uk-delegate")
        self.vote_all(["lift-2"])
        closes = datetime.fromisoformat(self.client.proposal("lift-2")["closes_at"])
        beat = closes.replace(minute=0, second=0) - timedelta(hours=1)
        self.heartbeat(beat)
        # The witnesses cosign the heartbeat's checkpoints and the clerk records them before the
        # vote closes: a witness counts only with a cosignature on the log from the last day.
        self.wait_for("fresh witness cosignatures on the log", lambda: self.witnessed(beat))
        self.advance(closes + timedelta(minutes=5))
        r = self.decided("lift-2")
        held = [c for c in r["outcome"].get("conditions", []) if c["held"]]
        self.story.facts["lift_held"] = [c["description"] for c in held]
        status = self.client.pause()["status"]
        figures = ", ".join(f"{c['fact']} {c['actual']:g}" for c in held)
        return (
            f"{r['outcome']['reason']}; all {len(held)} lift conditions held ({figures}: the "
            f"critical findings were answered); the pause is {status}"
        )


__all__ = ["DemoError", "Scenario", "Snapshot", "Story", "WorldClock"]
