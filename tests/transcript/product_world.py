"""A small world for the transcript's product tests, on a real :class:`LogService` in a data
directory: the secretariat's policy (``miri-2025``), party ``us``, operator ``lab`` with facility
``f1`` and cluster ``c1``, inspector ``insp-1``, and the runs the test declares. The operator's
and the inspector's keys are written to the data directory's keys folder (``operator.key``,
``inspector.key``), so that the CLI can sign with them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pausewatch.policy import Policy, load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import KeyPair, load_key, sign_statement, write_key

T0 = datetime(2027, 1, 4, tzinfo=UTC)
DIGEST = hashlib.sha256(b"hyper-parameters").hexdigest()
ROOT = hashlib.sha256(b"dataset").hexdigest()


class Clock:
    """A clock the test moves; every reading is a microsecond later than the last."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


@dataclass
class ProductWorld:
    """The keys, and where the world's clock stopped."""

    data_dir: Path
    keys: dict[str, KeyPair]
    now: datetime

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"


def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, batch_latency_ms=1, clerk_interval_s=0)


def declaration(
    run_id: str, *, hyperparameters: str = DIGEST, seed: str = DIGEST, every: int = 1000
) -> dict[str, Any]:
    """A run of ``lab`` on ``c1`` below every approval tier, binding a transcript's
    commitments."""
    return {
        "run_id": run_id,
        "operator_id": "lab",
        "cluster_id": "c1",
        "model": f"m-{run_id}",
        "phase": "pretraining",
        "planned_flop": 1e18,
        "estimate_method": "architecture",
        "chips": 8,
        "starts_at": "2027-02-01T00:00:00Z",
        "ends_at": "2027-03-01T00:00:00Z",
        "hyperparameters_digest": hyperparameters,
        "data_order_seed_digest": seed,
        "checkpoint_interval_steps": every,
    }


def build(data_dir: Path, runs: list[dict[str, Any]]) -> ProductWorld:
    """Put the world and the run declarations ``runs`` on a fresh service in ``data_dir``; the
    service is closed afterwards."""
    clock = Clock(T0)
    service = LogService(settings(data_dir), clock=clock).start()
    keys = {
        "secretariat": load_key(service.settings.keys_dir, "secretariat"),
        "party": KeyPair.generate("party"),
        "operator": KeyPair.generate("operator"),
        "inspector": KeyPair.generate("inspector"),
    }
    write_key(service.settings.keys_dir, keys["operator"])
    write_key(service.settings.keys_dir, keys["inspector"])
    try:

        def submit(kind: str, body: dict[str, Any], role: str) -> None:
            service.submit(sign_statement(kind, body, keys[role])).result(30)

        policy = policy_to_json(load_preset("miri-2025"))
        policy["id"] = "transcripts"
        digest = policy_digest(Policy.model_validate(policy))
        adopt = {"policy": policy, "digest": digest, "effective_at": "2026-01-01T00:00:00Z"}
        submit("policy.adopt/v1", adopt, "secretariat")
        party = {"party_id": "us", "name": "US", "key": keys["party"].signer_id}
        submit("party.register/v1", party, "secretariat")
        operator = {
            "operator_id": "lab",
            "party_id": "us",
            "name": "Lab",
            "key": keys["operator"].signer_id,
        }
        submit("operator.register/v1", operator, "party")
        facility = {
            "facility_id": "f1",
            "operator_id": "lab",
            "name": "F1",
            "location": {"country": "US"},
            "power_capacity_mw": 150.0,
        }
        submit("facility.register/v1", facility, "operator")
        cluster = {"cluster_id": "c1", "facility_id": "f1", "name": "C1", "network_gbps": 400.0}
        submit("cluster.register/v1", cluster, "operator")
        inspector = {
            "inspector_id": "insp-1",
            "name": "Inspector",
            "body": "Compute Inspectorate",
            "key": keys["inspector"].signer_id,
        }
        submit("inspector.register/v1", inspector, "secretariat")
        for body in runs:
            submit("run.declaration/v1", body, "operator")
    finally:
        service.close()
    return ProductWorld(data_dir, keys, clock.now)


def open_service(world: ProductWorld) -> LogService:
    """A started service on the world, its clock carrying on where the world stopped."""
    return LogService(settings(world.data_dir), clock=Clock(world.now)).start()


def checkpoint_digest(step: int) -> str:
    return hashlib.sha256(f"weights {step}".encode()).hexdigest()


def write_manifest(directory: Path, *, run_id: str, steps: int, every: int) -> Path:
    """A transcript directory's manifest (contract T1) whose commitments bind
    :func:`declaration`'s defaults: enough for the commitments, which read nothing else."""
    directory.mkdir(parents=True, exist_ok=True)
    marks = sorted({*range(0, steps, every), steps})
    manifest = {
        "format": "pausewatch-transcript/v1",
        "run_id": run_id,
        "recipe": "mlp",
        "hyperparameters": {"lr": 0.1},
        "hyperparameters_digest": DIGEST,
        "dataset": {"name": "blobs", "records": 512, "merkle_root": ROOT},
        "seed_commitment": DIGEST,
        "every": every,
        "steps": steps,
        "threads": 1,
        "deterministic": True,
        "versions": {"python": "3.11", "torch": "2.13.0", "safetensors": "0.8", "pausewatch": "0"},
        "checkpoints": [{"step": s, "digest": checkpoint_digest(s)} for s in marks],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def hand_audit(
    service: LogService,
    inspector: KeyPair,
    run_id: str,
    *,
    audit_id: str,
    steps: int,
    every: int,
    budget: float,
    failing: frozenset[int] = frozenset(),
) -> tuple[int, ...]:
    """An audit of ``run_id`` signed by ``insp-1`` without the engine: a replay of each drawn
    segment (those in ``failing`` out of tolerance), then the verdict the fold expects; the
    drawn segments."""
    from pausewatch.transcript import (
        compute_fraction,
        draw_segments,
        inclusion_test,
        segment_count,
        segments_for_budget,
    )
    from pausewatch.transcript._inclusion import Drops

    final_idx = service.state.registry.get("transcripts", run_id)["final_idx"]  # type: ignore[index]
    size = int(final_idx) + 1
    beacon = service.log.root_at(size)
    drawn = draw_segments(
        beacon, segment_count(steps, every), segments_for_budget(budget, steps, every)
    )

    def submit(kind: str, body: dict[str, Any]) -> None:
        service.submit(sign_statement(kind, body, inspector)).result(30)

    replays = []
    for segment in drawn:
        start, end = segment * every, min(segment * every + every, steps)
        bad = segment in failing
        replay = {
            "audit_id": audit_id,
            "run_id": run_id,
            "inspector_id": "insp-1",
            "segment": segment,
            "start_step": start,
            "end_step": end,
            "distance": 0.5 if bad else 0.01,
            "tolerance": 0.05,
            "passed": not bad,
            "train_loss_drop": 0.2,
            "heldout_loss_drop": 0.05,
            "steps_replayed": end - start,
        }
        submit("transcript.replay/v1", replay)
        replays.append(replay)
    inclusion = inclusion_test([Drops(0.2, 0.05) for _ in replays])
    verdict = {
        "audit_id": audit_id,
        "run_id": run_id,
        "inspector_id": "insp-1",
        "budget": budget,
        "beacon_size": size,
        "beacon": beacon.hex(),
        "segments": list(drawn),
        "verdict": "fail" if failing & set(drawn) else "pass",
        "inclusion_statistic": inclusion.statistic,
        "inclusion_p_value": inclusion.p_value,
        "inclusion_passed": inclusion.passed,
        "compute_fraction": compute_fraction(sum(r["steps_replayed"] for r in replays), steps),
        "reasons": [],
        "manifest_digest": ROOT,
    }
    submit("transcript.verdict/v1", verdict)
    return drawn


class Served:
    """`pausewatch serve` on a data directory, as a subprocess on a loopback port."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"
        self.data_dir = data_dir
        self.log = log
        self.args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
        self.proc: Any = None

    def __enter__(self) -> Served:
        import subprocess
        import sys
        import time

        import httpx

        fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pausewatch.cli", *self.args], stdout=fh, stderr=fh
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"serve did not start: {self.log.read_text()[-2000:]}")

    def __exit__(self, *_exc: object) -> None:
        import signal
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def run_cli(
    *args: str,
    timeout: float = 300,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Any:
    """`pausewatch ARGS` as a subprocess, to completion (in ``cwd``, with ``env`` added to the
    environment)."""
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "pausewatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=None if env is None else {**os.environ, **env},
    )
