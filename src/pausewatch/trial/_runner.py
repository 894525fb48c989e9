"""Play a scenario through the real ingest and record what the policy finds, day by day.

For each scenario (:class:`~pausewatch.simulate.scenario.Scenario`) the runner opens an
in-process :class:`~pausewatch.service.LogService` over a temporary SQLite file, with a clock it
moves itself, and files what a real deployment would: the policy adoption (secretariat), the
parties, operators, facilities, clusters, the chip maker and its certification and shipment of
every chip on the record, installations, meters (certified by the secretariat, installed by
their operator) and their hash-chained ``meter.reading/v1``, run and workload declarations; then,
day by day, each chip's signed telemetry records for the day's sampled hours, uploaded per
operator as a batch through :meth:`~pausewatch.service.LogService.ingest_telemetry`, and each
meter's reading of the same hours (chips that report nothing, the hidden ones included, still
draw power through it). Keys are real Ed25519 keys, derived from the scenario's seed.

After each day the adopted policy is evaluated over the state as it stands at the day's end
(:func:`pausewatch.state.evaluated`) and every finding of a detection kind
(:data:`DETECTION_KINDS`) is recorded with the first time it appeared. A defection counts as
detected at the first evaluation at which such a finding names one of its subjects
(:func:`defection_subjects`: its facilities, clusters, chips, runs, operators or party); any such
finding of an honest scenario is a false alarm (contract C5 of issue 16's round). A defecting
scenario stops at its detection: the outcome is known.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pausewatch.compute import load_catalogue
from pausewatch.detect import MeterInstall, next_reading
from pausewatch.errors import DetectionError
from pausewatch.ledger import Appended, Signer
from pausewatch.policy import load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.simulate import FALLBACK_TDP_W, MEMORY_BYTES
from pausewatch.simulate.scenario import (
    PROHIBITED_FLOP,
    Cluster,
    DefectionKind,
    Facility,
    Scenario,
    Workload,
    chip_peak,
)
from pausewatch.state import evaluated
from pausewatch.statements import KeyPair, Statement, sign_statement, signer_id
from pausewatch.telemetry import format_time, record_hash, sign_record

DETECTION_KINDS: tuple[str, ...] = (
    "undeclared_compute",
    "undeclared_run",
    "exceeds_declaration",
    "started_without_approval",
    "prohibited_compute",
    "prohibition_projected",
    "unmonitored_cluster",
    "dark_chips",
    "chips_unaccounted",
    "chips_exported",
    "inspection_discrepancy",
    "tag_mismatch",
    "split_run_suspected",
    "training_suspected",
    "phase_mismatch",
    "energy_unaccounted",
    "compute_unaccounted",
    "counters_implausible",
    "transcript_failed",
)
"""The finding kinds that are a detector's verdict of defection (contract C5). The balance
findings ``energy_unaccounted`` and ``compute_unaccounted`` are counted whenever the policy files
them; tier findings on declared runs (``tier_reached``, ``threshold_approaching``) are not:
they follow declared work. ``transcript_failed`` (a failed audit of a run's transcript) is a
verdict of defection; a transcript missing or late is a duty not met, not one."""

_FIRMWARE = hashlib.sha256(b"pausewatch scenario firmware 1.0").hexdigest()
_HOUR = timedelta(hours=1)
_EVAL_AFTER = timedelta(minutes=1)
"""The policy is evaluated this long after a day's last window ends (its uploads are in). A
day's balances close six hours after it ends (``DAY_CLOSES_AFTER``), so a balance finding on a
day shows at the next day's evaluation: one day later than it could (ADR 0030)."""
HONEST_EVALUATION_DAYS = 7
"""How often an honest scenario is evaluated, in days (and on its last day). Balance alarms
persist once raised and most findings stay while their cause does, so a weekly evaluation
counts nearly the false alarms a daily one would; a finding that comes and goes within the
week is missed (the honest facilities of defecting scenarios, evaluated daily, are counted
too). It saves recomputing dozens of facilities' daily balances every day. A defecting
scenario is evaluated every day: its time to detection is measured to the day."""


def _key(seed: int, name: str) -> KeyPair:
    material = hashlib.sha256(f"pausewatch/scenario/{seed}/actor/{name}".encode()).digest()
    return KeyPair(Signer(name, Ed25519PrivateKey.from_private_bytes(material)))


def _chip_key(seed: int, chip_id: str) -> Ed25519PrivateKey:
    material = hashlib.sha256(f"pausewatch/scenario/{seed}/chip/{chip_id}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(material)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def chip_ids(cluster: Cluster) -> list[str]:
    """The ids of a cluster's chips."""
    return [f"{cluster.cluster_id}/{n:04d}" for n in range(cluster.chips)]


def defection_subjects(scenario: Scenario) -> frozenset[str]:
    """The finding subjects that name the defection: its clusters, their facilities, operators
    and party, its chips, and the runs it runs or tags (pieces of a split, a decoy)."""
    d = scenario.defection
    if d is None:
        return frozenset()
    clusters = scenario.clusters()
    subjects: set[str] = set()
    for cluster_id in d.clusters:
        facility, cluster = clusters[cluster_id]
        subjects |= {
            f"cluster:{cluster_id}",
            f"facility:{facility.facility_id}",
            f"operator:{facility.operator_id}",
            f"party:{facility.party_id}",
            f"run:{_defection_run(d.defection_id, cluster_id)}",
        }
        subjects |= {f"chip:{c}" for c in chip_ids(cluster)}
    if d.decoy_run is not None:
        subjects.add(f"run:{d.decoy_run}")
    return frozenset(subjects)


def _defection_run(defection_id: str, cluster_id: str) -> str:
    return f"run-{defection_id}-{cluster_id}"


@dataclass(frozen=True)
class Alarm:
    """A finding of a detection kind, first seen at an evaluation."""

    at: datetime
    kind: str
    subject: str

    def to_json(self) -> dict[str, str]:
        """A JSON-ready mapping."""
        return {"at": _iso(self.at), "kind": self.kind, "subject": self.subject}


@dataclass
class Outcome:
    """What one scenario's play showed."""

    scenario_id: str
    seed: int
    kind: str | None
    """The defection kind, or None for an honest scenario."""
    strategy: str | None
    size_flop: float | None
    starts_at: datetime | None
    completes_at: datetime | None
    """When the defecting run could have completed (its start plus its duration)."""
    crosses_at: datetime | None
    """When it crossed the prohibited threshold (runs at or above it only)."""
    detected_at: datetime | None = None
    """The first evaluation at which a detection finding named it (not before its start)."""
    detected_by: list[Alarm] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)
    """Detection findings that name no defection: false alarms."""
    facility_days: float = 0.0
    """Registered facilities times days played (honest facilities only)."""
    facility_periods: int = 0
    """Registered facilities times evaluations: what the detectors' cost is divided by."""
    played_until: datetime | None = None
    records: int = 0
    statements: int = 0
    evaluations: int = 0
    ingest_s: float = 0.0
    """Seconds spent signing, uploading and folding telemetry records."""
    evaluate_s: float = 0.0
    """Seconds spent evaluating the policy over the state (the detectors)."""
    total_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (times RFC 3339)."""

        def t(v: datetime | None) -> str | None:
            return None if v is None else _iso(v)

        return {
            "scenario_id": self.scenario_id,
            "seed": self.seed,
            "kind": self.kind,
            "strategy": self.strategy,
            "size_flop": self.size_flop,
            "starts_at": t(self.starts_at),
            "completes_at": t(self.completes_at),
            "crosses_at": t(self.crosses_at),
            "detected_at": t(self.detected_at),
            "detected_by": [a.to_json() for a in self.detected_by],
            "alarms": [a.to_json() for a in self.alarms],
            "facility_days": self.facility_days,
            "facility_periods": self.facility_periods,
            "played_until": t(self.played_until),
            "records": self.records,
            "statements": self.statements,
            "evaluations": self.evaluations,
            "ingest_s": round(self.ingest_s, 4),
            "evaluate_s": round(self.evaluate_s, 4),
            "total_s": round(self.total_s, 4),
        }


class _Clock:
    """The service's clock: moved by the runner, a microsecond later at every reading."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def set(self, when: datetime) -> None:
        self.now = max(self.now, when)


@dataclass
class _Chip:
    chip_id: str
    key: Ed25519PrivateKey
    seq: int = 0
    prev: str | None = None
    energy_j: int = 1_000_000


@dataclass
class _MeterState:
    facility: Facility
    key: KeyPair
    previous: dict[str, Any] | None = None
    energy_j: float = 0.0


class _Play:
    """One scenario's play (see the module doc)."""

    def __init__(self, scenario: Scenario, service: LogService, clock: _Clock) -> None:
        self.s = scenario
        self.service = service
        self.clock = clock
        self.seed = scenario.seed
        self.rng = random.Random(f"pausewatch/scenario-run/{scenario.seed}")
        self.secretariat = service.secretariat_key
        self.maker = _key(self.seed, "maker-1")
        self.parties = {p: _key(self.seed, p) for p in scenario.parties}
        self.operators: dict[str, KeyPair] = {}
        self.operator_party: dict[str, str] = {}
        for f in scenario.facilities:
            self.operators.setdefault(f.operator_id, _key(self.seed, f.operator_id))
            self.operator_party.setdefault(f.operator_id, f.party_id)
        self.clusters = scenario.clusters()
        self.chips: dict[str, list[_Chip]] = {}
        self.installed: set[str] = set()
        self.meters: dict[str, _MeterState] = {}
        self.policy = load_preset(scenario.policy)
        self.subjects = defection_subjects(scenario)
        d = scenario.defection
        self.defecting = frozenset(d.clusters) if d is not None else frozenset()
        self.catalogue = load_catalogue()
        self.outcome = self._outcome()
        self.seen: set[tuple[str, str]] = set()

    # -- plumbing ------------------------------------------------------------------------------

    def _outcome(self) -> Outcome:
        d = self.s.defection
        if d is None:
            return Outcome(self.s.scenario_id, self.s.seed, None, None, None, None, None, None)
        completes = d.start + timedelta(seconds=d.duration_s)
        crosses = (
            d.start + timedelta(seconds=d.duration_s * PROHIBITED_FLOP / d.size_flop)
            if d.size_flop >= PROHIBITED_FLOP
            else None
        )
        return Outcome(
            self.s.scenario_id,
            self.s.seed,
            d.kind.value,
            d.strategy,
            d.size_flop,
            d.start,
            completes,
            crosses,
        )

    def submit(self, statements: Iterable[Statement]) -> None:
        """Submit independent statements together and wait until each is durable and folded."""
        futures: list[Future[Appended]] = [self.service.submit(s) for s in statements]
        for fut in futures:
            fut.result()
        self.outcome.statements += len(futures)

    def op(self, operator_id: str) -> KeyPair:
        return self.operators[operator_id]

    # -- registration --------------------------------------------------------------------------

    def register(self) -> None:
        """The policy, parties, operators, registered facilities and clusters, meters, the
        declarations; honest clusters' chips certified, shipped and installed."""
        s = self.s
        doc = policy_to_json(self.policy)
        self.submit(
            [
                sign_statement(
                    "policy.adopt/v1",
                    {
                        "policy": doc,
                        "digest": policy_digest(self.policy),
                        "effective_at": _iso(s.start - timedelta(days=30)),
                    },
                    self.secretariat,
                ),
                sign_statement(
                    "chip_maker.register/v1",
                    {"maker_id": "maker-1", "name": "maker-1", "key": self.maker.signer_id},
                    self.secretariat,
                ),
                *(
                    sign_statement(
                        "party.register/v1",
                        {"party_id": p, "name": p, "key": k.signer_id},
                        self.secretariat,
                    )
                    for p, k in self.parties.items()
                ),
            ]
        )
        self.submit(
            sign_statement(
                "operator.register/v1",
                {
                    "operator_id": o,
                    "party_id": self.operator_party[o],
                    "name": o,
                    "key": k.signer_id,
                },
                self.parties[self.operator_party[o]],
            )
            for o, k in self.operators.items()
        )
        registered = [f for f in s.facilities if f.registered]
        self.submit(
            sign_statement(
                "facility.register/v1",
                {
                    "facility_id": f.facility_id,
                    "operator_id": f.operator_id,
                    "name": f.facility_id,
                    "location": {"country": f.country},
                    "power_capacity_mw": 100.0,
                },
                self.op(f.operator_id),
            )
            for f in registered
        )
        stage: list[Statement] = []
        for f in registered:
            for c in f.clusters:
                if c.registered:
                    stage.append(
                        sign_statement(
                            "cluster.register/v1",
                            {
                                "cluster_id": c.cluster_id,
                                "facility_id": f.facility_id,
                                "name": c.cluster_id,
                                "network_gbps": 400.0,
                            },
                            self.op(f.operator_id),
                        )
                    )
            if f.meter is not None:
                meter_key = _key(self.seed, f.meter.meter_id)
                self.meters[f.facility_id] = _MeterState(f, meter_key)
                stage.append(
                    sign_statement(
                        "meter.certify/v1",
                        {
                            "meter_id": f.meter.meter_id,
                            "model": "Revenue meter 1",
                            "serial": f"SN-{f.meter.meter_id}",
                            "key": meter_key.signer_id,
                            "random_sigma": f.meter.random_sigma,
                            "systematic_sigma": f.meter.systematic_sigma,
                        },
                        self.secretariat,
                    )
                )
        self.submit(stage)
        stage = []
        for f in registered:
            if f.meter is not None:
                body: dict[str, Any] = {"meter_id": f.meter.meter_id, "facility_id": f.facility_id}
                # Contract C1's overhead fields, where this build's meter.install/v1 has them.
                for name in ("overhead_w", "overhead_ratio", "overhead_sigma"):
                    if name in MeterInstall.model_fields:
                        body[name] = getattr(f.meter, name)
                stage.append(sign_statement("meter.install/v1", body, self.op(f.operator_id)))
        stage.extend(self._declarations())
        self.submit(stage)
        honest = [cid for cid in self.clusters if cid not in self.defecting]
        self.bring_chips(honest)

    def _declarations(self) -> list[Statement]:
        s, d = self.s, self.s.defection
        out: list[Statement] = []

        def declare(
            run_id: str, cluster: Cluster, planned: float, starts: datetime, recipe: str
        ) -> None:
            facility, _ = self.clusters[cluster.cluster_id]
            digest = hashlib.sha256(f"recipe/{recipe}".encode()).hexdigest()
            out.append(
                sign_statement(
                    "run.declaration/v1",
                    {
                        "run_id": run_id,
                        "operator_id": facility.operator_id,
                        "cluster_id": cluster.cluster_id,
                        "model": f"model-{run_id}",
                        "phase": "pretraining",
                        "planned_flop": planned,
                        "estimate_method": "hardware",
                        "chips": cluster.chips,
                        "chip_model": cluster.chip_model,
                        "starts_at": _iso(starts),
                        "ends_at": _iso(
                            s.end + timedelta(days=1)
                            if cluster.run_days is None
                            else starts + timedelta(days=cluster.run_days)
                        ),
                        "hyperparameters_digest": digest,
                        "data_order_seed_digest": digest,
                        "checkpoint_interval_steps": 1000,
                    },
                    self.op(facility.operator_id),
                )
            )

        for cluster_id, (facility, c) in self.clusters.items():
            if not (facility.registered and c.registered):
                continue
            if c.workload is Workload.TRAINING and c.run_id and c.planned_flop:
                declare(c.run_id, c, c.planned_flop, s.start, f"{self.seed}/{c.run_id}")
            elif c.workload is Workload.INFERENCE and cluster_id not in self.defecting:
                out.append(
                    sign_statement(
                        "workload.declare/v1",
                        {
                            "workload_id": f"serve-{cluster_id}",
                            "operator_id": facility.operator_id,
                            "cluster_id": cluster_id,
                            "kind": "inference",
                            "starts_at": _iso(s.start),
                            "ends_at": _iso(s.end + timedelta(days=1)),
                            "chips": c.chips,
                        },
                        self.op(facility.operator_id),
                    )
                )
        if d is not None and d.kind in (
            DefectionKind.SPLIT_RUN,
            DefectionKind.UNDERREPORTED_COUNTERS,
        ):
            pieces = len(d.clusters)
            for n, cluster_id in enumerate(d.clusters):
                _, c = self.clusters[cluster_id]
                if d.kind is DefectionKind.SPLIT_RUN:
                    planned = d.size_flop / pieces
                    recipe = (
                        f"{self.seed}/split"
                        if d.strategy == "same_recipe"
                        else f"{self.seed}/split/{n}"
                    )
                else:
                    # What the counters will show, and under the prohibition.
                    planned = min(d.size_flop * d.counter_ratio, 0.9 * PROHIBITED_FLOP)
                    recipe = f"{self.seed}/{cluster_id}"
                declare(_defection_run(d.defection_id, cluster_id), c, planned, d.start, recipe)
        return out

    def bring_chips(self, cluster_ids: list[str]) -> None:
        """Certify, ship and install the chips of ``cluster_ids`` as their cluster says: chips
        of an unregistered cluster are shipped (or, smuggled, never seen) but not installed."""
        certify: list[Statement] = []
        ship: list[Statement] = []
        install: list[Statement] = []
        for cluster_id in cluster_ids:
            facility, c = self.clusters[cluster_id]
            ids = chip_ids(c)
            self.chips[cluster_id] = [_Chip(i, _chip_key(self.seed, i)) for i in ids]
            if not c.shipped:
                continue
            operator = self.op(facility.operator_id)
            for chip in self.chips[cluster_id]:
                certify.append(
                    sign_statement(
                        "chip.certify/v1",
                        {
                            "chip_id": chip.chip_id,
                            "maker_id": "maker-1",
                            "model": c.chip_model,
                            "serial": f"SN-{chip.chip_id}",
                            "key": signer_id(chip.key.public_key().public_bytes_raw()),
                            "operator_id": facility.operator_id,
                        },
                        self.maker,
                    )
                )
            for first in range(0, len(ids), 1000):
                ship.append(
                    sign_statement(
                        "chip.ship/v1",
                        {
                            "shipment_id": f"ship-{cluster_id}-{first}",
                            "maker_id": "maker-1",
                            "chip_ids": ids[first : first + 1000],
                            "to_operator": facility.operator_id,
                            "receiving_party": facility.party_id,
                            "shipped_at": _iso(self.clock.now - timedelta(hours=1)),
                        },
                        self.maker,
                    )
                )
            if facility.registered and c.registered:
                self.installed.add(cluster_id)
                install.extend(
                    sign_statement(
                        "chip.custody/v1",
                        {"chip_id": i, "action": "install", "cluster_id": cluster_id},
                        operator,
                    )
                    for i in ids
                )
        for stage in (certify, ship, install):
            for first in range(0, len(stage), 512):
                self.submit(stage[first : first + 512])

    # -- one day -------------------------------------------------------------------------------

    def mode(self, cluster_id: str, day_start: datetime) -> str:
        """What a cluster's chips do on the day starting at ``day_start``."""
        d = self.s.defection
        _, c = self.clusters[cluster_id]
        if d is not None and cluster_id in d.clusters and day_start >= d.start:
            return f"defect:{d.kind.value}:{d.strategy}"
        if cluster_id in self.defecting:
            return "idle"
        if c.run_days is not None and day_start >= self.s.start + timedelta(days=c.run_days):
            return "idle"  # the honest run is over
        return c.workload.value

    def record(
        self,
        chip: _Chip,
        c: Cluster,
        start: datetime,
        end: datetime,
        activity: str,
        run_id: str | None,
        util: float,
        counter_ratio: float = 1.0,
        *,
        sign: bool = True,
        sensor_ratio: float = 1.0,
    ) -> tuple[bytes, float]:
        """One signed record of ``chip`` doing ``activity`` over [start, end), and its true
        power (what the meter sees); without ``sign``, the power alone (a chip that reports
        nothing still draws it). ``counter_ratio`` scales the FLOP it reports;
        ``sensor_ratio`` its tensor activity and power (and so its energy) too, as a chip
        forging every sensor consistently would (``scaled_sensors``)."""
        model = self.catalogue.get(c.chip_model)
        tdp = model.tdp_w if model.tdp_w is not None else FALLBACK_TDP_W
        memory = MEMORY_BYTES.get(model.name, 80 * 10**9)
        peak = chip_peak(c.chip_model)
        secs = (end - start).total_seconds()
        u = self.rng.uniform
        if activity == "train":
            util *= u(0.97, 1.03)
            tensor = min(1.0, util * 1.6)
            flop = peak * secs * util * counter_ratio
            power = tdp * (0.7 + 0.25 * util)
            nvlink = int(3e11 * secs / 60)
            net = int(4e10 * secs / 60)
            mem = int(memory * u(0.85, 0.95))
        elif activity == "throttled":
            tensor = u(0.15, 0.27)
            flop = peak * secs * 0.1
            power = tdp * u(0.35, 0.5)
            nvlink = int(2e10 * secs / 60)
            net = int(3e9 * secs / 60)
            mem = int(memory * u(0.85, 0.95))
        elif activity == "shaped":
            tensor = u(0.02, 0.12)
            flop = peak * secs * 0.04
            power = tdp * (0.25 + 0.9 * tensor)
            nvlink = int(2e8 * secs / 60)
            net = int(5e8 * secs / 60)
            mem = int(memory * u(0.5, 0.9))
        elif activity == "inference":
            tensor = u(0.05, 0.25)
            flop = peak * secs * tensor * 0.5
            power = tdp * (0.25 + 0.9 * tensor)
            nvlink = int(2e8 * secs / 60)
            net = int(5e8 * secs / 60)
            mem = int(memory * u(0.5, 0.9))
        else:
            tensor = 0.0
            flop = 0.0
            power = tdp * u(0.1, 0.15)
            nvlink = net = 1_000_000
            mem = int(memory * 0.01)
        true_power = round(power, 1)
        power = round(power * sensor_ratio, 1)
        tensor *= sensor_ratio
        chip.energy_j += int(power * secs)
        body: dict[str, Any] = {
            "chip_id": chip.chip_id,
            "seq": chip.seq,
            "prev": chip.prev,
            "window_start": format_time(start),
            "window_end": format_time(end),
            "energy_j": chip.energy_j,
            "power_w_avg": power,
            "power_w_peak": round(min(tdp * 1.05, power * 1.1), 1),
            "tensor_active": round(tensor, 4),
            "sm_active": round(min(1.0, tensor + 0.2) if tensor else 0.0, 4),
            "flop": {"bf16": str(int(flop))} if flop > 0 else {},
            "nvlink_tx_bytes": nvlink,
            "nvlink_rx_bytes": nvlink,
            "net_tx_bytes": net,
            "net_rx_bytes": net,
            "mem_used_bytes": mem,
            "run_id": run_id,
            "firmware_digest": _FIRMWARE,
        }
        if not sign:
            return b"", true_power
        line = sign_record(body, chip.key)
        chip.seq += 1
        chip.prev = record_hash(line)
        return line, true_power

    def day(self, day_start: datetime) -> None:
        """Telemetry and meter readings of the day's sampled hours, then the day's events."""
        s, d = self.s, self.s.defection
        day_end = day_start + timedelta(days=1)
        first = day_end - s.sample_hours * _HOUR
        self.clock.set(day_end)
        batches: dict[str, list[bytes]] = {}
        facility_power: dict[str, float] = {}
        for cluster_id, (facility, c) in self.clusters.items():
            chips = self.chips.get(cluster_id)
            if not chips:
                continue
            mode = self.mode(cluster_id, day_start)
            run_id: str | None = c.run_id if mode == "training" else None
            activity = {"training": "train", "inference": "inference"}.get(mode, "idle")
            ratio = sensors = 1.0
            reports = cluster_id in self.installed
            util = c.utilisation
            burst = 0.0
            if mode.startswith("defect:"):
                assert d is not None
                util = d.utilisation
                burst = d.burst_share if d.strategy == "bursty" else 0.0
                activity = "train"
                kind = d.kind
                if kind is DefectionKind.UNDERREPORTED_COUNTERS or kind is DefectionKind.SPLIT_RUN:
                    run_id = _defection_run(d.defection_id, cluster_id)
                    ratio = d.counter_ratio
                    if d.strategy == "scaled_sensors":
                        sensors = d.counter_ratio
                elif kind is DefectionKind.MISTAGGED:
                    run_id = d.decoy_run
                elif kind is DefectionKind.INFERENCE_SHAPED:
                    activity = "throttled" if d.strategy in ("throttled", "bursty") else "shaped"
                elif kind is DefectionKind.GOING_DARK:
                    reports = False
                elif kind is DefectionKind.DIVERSION:
                    continue  # gone: they draw nothing here and report nothing
            for chip in chips:
                lines: list[bytes] = []
                outage = reports and self.rng.random() < c.outage_rate
                for h in range(s.sample_hours):
                    start = first + h * _HOUR
                    end = start + _HOUR
                    if outage and h == s.sample_hours - 1:
                        # A short honest outage: the last window ends early, within the
                        # policy's silence limit.
                        end -= timedelta(minutes=self.rng.randint(10, 50))
                    act, act_util = activity, util
                    if burst and self.rng.random() < burst:
                        act, act_util = "train", 0.4  # a burst of open training
                    line, power = self.record(
                        chip,
                        c,
                        start,
                        end,
                        act,
                        run_id,
                        act_util,
                        ratio,
                        sign=reports,
                        sensor_ratio=sensors,
                    )
                    facility_power[facility.facility_id] = (
                        facility_power.get(facility.facility_id, 0.0)
                        + power * (end - start).total_seconds()
                    )
                    lines.append(line)
                if reports:
                    batches.setdefault(facility.operator_id, []).extend(lines)
        self.clock.set(day_end + timedelta(seconds=5))
        began = time.perf_counter()
        for operator_id, lines in sorted(batches.items()):
            data = b"".join(line + b"\n" for line in lines)
            submission = sign_statement(
                "telemetry.submission/v1",
                {
                    "operator_id": operator_id,
                    "batch_digest": hashlib.sha256(data).hexdigest(),
                    "records": len(lines),
                },
                self.op(operator_id),
            )
            receipt = self.service.ingest_telemetry(data, submission)
            if receipt.rejected_total:
                # The runner signs every record itself: a rejection is its own fault, and the
                # scenario would measure nothing.
                raise DetectionError(
                    f"scenario {s.scenario_id}: the ingest rejected {receipt.rejected_total} "
                    f"record(s) of {operator_id}: {receipt.rejected[:1]}"
                )
            self.outcome.records += receipt.accepted
            self.outcome.statements += 1
        self.outcome.ingest_s += time.perf_counter() - began
        readings: list[Statement] = []
        # The chips draw only in the sampled hours (the simulated day is compressed into them),
        # but the facility's own draw beside them runs all day, and the meter reads all day:
        # what a daily balance over the log expects of a meter.
        secs = 86_400.0
        for facility_id, m in sorted(self.meters.items()):
            meter = m.facility.meter
            assert meter is not None
            chips_j = facility_power.get(facility_id, 0.0)
            noise = self.rng.gauss(0.0, meter.random_sigma)
            true_j = chips_j * (1 + meter.overhead_ratio) + meter.overhead_w * secs
            m.energy_j += max(0.0, true_j * (1 + meter.bias + noise))
            body = next_reading(meter.meter_id, m.previous, day_start, day_end, round(m.energy_j))
            m.previous = body
            readings.append(sign_statement("meter.reading/v1", body, m.key))
        self.submit(readings)
        if d is not None:
            self.events(day_end)

    def events(self, day_end: datetime) -> None:
        """What the defection does at a day's end: bring its chips the day before it starts;
        file the export of diverted chips as it starts."""
        d = self.s.defection
        assert d is not None
        if day_end == d.start - timedelta(days=1):
            self.bring_chips(list(d.clusters))
            if d.kind is DefectionKind.MISTAGGED and d.decoy_run and d.decoy_cluster:
                self.declare_decoy(d.decoy_run, d.decoy_cluster, d.decoy_chips or 1)
        if (
            d.kind is DefectionKind.DIVERSION
            and d.strategy == "declared_export"
            and day_end == d.start
        ):
            ids = [c for cid in d.clusters for c in chip_ids(self.clusters[cid][1])]
            facility, _ = self.clusters[d.clusters[0]]
            self.submit(
                [
                    sign_statement(
                        "chip.export/v1",
                        {
                            "export_id": f"export-{d.defection_id}",
                            "chip_ids": ids[:1000],
                            "destination_country": d.destination_country or "ZZ",
                            "destination_entity": "a buyer outside the agreement",
                            "at": _iso(day_end),
                        },
                        self.op(facility.operator_id),
                    )
                ]
            )

    def declare_decoy(self, run_id: str, cluster_id: str, chips: int) -> None:
        """Declare the small run a mistagging defector tags its windows to: on its own cluster,
        naming a few of its chips, below every tier."""
        facility, c = self.clusters[cluster_id]
        named = chip_ids(c)[:chips]
        digest = hashlib.sha256(f"recipe/{self.seed}/{run_id}".encode()).hexdigest()
        self.submit(
            [
                sign_statement(
                    "run.declaration/v1",
                    {
                        "run_id": run_id,
                        "operator_id": facility.operator_id,
                        "cluster_id": cluster_id,
                        "model": f"model-{run_id}",
                        "phase": "pretraining",
                        "planned_flop": 1e21,
                        "estimate_method": "hardware",
                        "chips": len(named),
                        "chip_model": c.chip_model,
                        "chip_ids": named,
                        "starts_at": _iso(self.clock.now),
                        "ends_at": _iso(self.s.end + timedelta(days=1)),
                        "hyperparameters_digest": digest,
                        "data_order_seed_digest": digest,
                        "checkpoint_interval_steps": 1000,
                    },
                    self.op(facility.operator_id),
                )
            ]
        )

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate(self, at: datetime) -> None:
        """Evaluate the adopted policy over the state at ``at``; record new detection findings."""
        began = time.perf_counter()
        with self.service.state.lock:
            _, evaluation = evaluated(self.service.state.registry, at, self.policy)
        self.outcome.evaluate_s += time.perf_counter() - began
        self.outcome.evaluations += 1
        now: set[tuple[str, str]] = set()
        for f in evaluation.findings:
            kind = f.kind.value  # compared by name: kinds other branches add count too
            if kind not in DETECTION_KINDS:
                continue
            now.add((kind, f.subject))
        fresh = sorted(now - self.seen)
        # An alarm is an episode: a finding counts again only after it had disappeared.
        self.seen = now
        out = self.outcome
        for kind, subject in fresh:
            alarm = Alarm(at, kind, subject)
            if subject in self.subjects:
                out.detected_by.append(alarm)
            else:
                out.alarms.append(alarm)
        if out.detected_at is None and out.detected_by and out.starts_at is not None:
            out.detected_at = max(at, out.starts_at)

    def run(self) -> Outcome:
        """Register the world, then play day by day until the end or the detection."""
        began = time.perf_counter()
        s = self.s
        self.clock.set(s.start - timedelta(days=1))
        self.register()
        honest_facilities = [
            f
            for f in s.facilities
            if f.registered and not any(c.cluster_id in self.defecting for c in f.clusters)
        ]
        registered = sum(1 for f in s.facilities if f.registered)
        for n in range(s.days):
            day_start = s.start + timedelta(days=n)
            self.day(day_start)
            at = day_start + timedelta(days=1) + _EVAL_AFTER
            self.clock.set(at)
            every = 1 if s.defection is not None else HONEST_EVALUATION_DAYS
            if (n + 1) % every == 0 or n == s.days - 1:
                self.evaluate(at)
            self.outcome.facility_days += len(honest_facilities)
            self.outcome.facility_periods += registered
            self.outcome.played_until = at
            if self.outcome.detected_at is not None:
                break
        self.outcome.total_s = time.perf_counter() - began
        return self.outcome


def play(
    scenario: Scenario, *, workdir: Path | None = None, ingest_workers: int | None = None
) -> Outcome:
    """Play ``scenario`` through a fresh in-process service over a temporary SQLite file
    (under ``workdir`` if given) and return what it showed. ``ingest_workers``: the service's
    (``Settings.ingest_workers``; 0 verifies uploads in this process, as a scenario played in a
    worker of :func:`~pausewatch.trial.evaluate_corpus` does); the outcome is the same."""
    with tempfile.TemporaryDirectory(dir=workdir, prefix="pausewatch-scenario-") as tmp:
        settings = Settings(data_dir=Path(tmp), batch_latency_ms=1, clerk_interval_s=0)
        if ingest_workers is not None:
            settings = settings.model_copy(update={"ingest_workers": ingest_workers})
        clock = _Clock(scenario.start - timedelta(days=2))
        service = LogService(settings, clock=clock).start()
        try:
            return _Play(scenario, service, clock).run()
        finally:
            service.close()


__all__ = ["DETECTION_KINDS", "Alarm", "Outcome", "chip_ids", "defection_subjects", "play"]
