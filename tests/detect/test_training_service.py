"""Training suspected by the running service, from the log alone (docs/adr/0032): chip-signed
telemetry uploaded to a LogService over a SQLite file; the batch's aggregate keeps the signals of
its sampled chips' latest windows, the fold keeps them in ``tel_signals``, and the service's
findings (those of ``GET /v1/findings``) come from them with no records passed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from pausewatch.detect._training import SUSTAINED_WINDOWS
from pausewatch.policy import Finding, load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService, evaluation
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Fleet, Workload, fleet_world, simulate_fleet
from pausewatch.simulate.fleet import Misbehaviour
from pausewatch.state import facts_from_registry
from pausewatch.statements import load_key, sign_statement
from pausewatch.telemetry import SIGNAL_CHIPS, SIGNAL_WINDOWS
from telemetry.test_ingest import submission, ticking  # type: ignore[import-not-found]

SEED = 7_001
"""Outside the classifier's fit and measurement seeds."""


def _fleet(workload: Workload, *, hidden: bool) -> Fleet:
    spec = ClusterSpec("c1", "lab", "H100 SXM", 4, workload, allreduce_every=4)
    bad = Misbehaviour(undeclared_clusters=frozenset({"c1"})) if hidden else Misbehaviour()
    return simulate_fleet((spec,), windows=2 * SUSTAINED_WINDOWS, seed=SEED, misbehaviour=bad)


def _serve(
    data_dir: Path, fleet: Fleet, *, declare_inference: bool = False
) -> tuple[list[Finding], dict[str, list[list[object]]], int]:
    """The service's findings after the fleet's statements and telemetry (one batch per half of
    its windows), with ``declare_inference`` an inference workload declared on c1 first; the
    window signals its fold keeps for c1; and the traces its facts classified. The service is
    then closed, opened again on the same files, and must give the same findings."""
    settings = Settings(data_dir=data_dir, batch_latency_ms=1)
    at = fleet.end + timedelta(minutes=2)
    svc = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        policy = load_preset("miri-2025")
        body = {
            "policy": policy_to_json(policy),
            "digest": policy_digest(policy),
            "effective_at": "2026-01-01T00:00:00Z",
        }
        svc.submit(sign_statement("policy.adopt/v1", body, secretariat)).result(30)
        world = fleet_world(fleet, secretariat)
        operator = world.operators["lab"]
        for stage in world.stages:
            for future in [svc.submit(s) for s in stage]:
                future.result(60)
        if declare_inference:
            workload = {
                "workload_id": "w1",
                "operator_id": "lab",
                "cluster_id": "c1",
                "kind": "inference",
                "starts_at": "2020-01-01T00:00:00Z",
                "ends_at": "2030-01-01T00:00:00Z",
                "chips": 4,
            }
            svc.submit(sign_statement("workload.declare/v1", workload, operator)).result(30)
        lines = fleet.jsonl().splitlines(keepends=True)
        for half in (lines[: len(lines) // 2], lines[len(lines) // 2 :]):
            data = b"".join(half)
            svc.ingest_telemetry(data, submission(data, operator))
        found = list(evaluation(svc.state, at).findings)
        row = svc.state.registry.views["tel_signals"][("c1",)]
        facts = facts_from_registry(svc.state.registry, at, None)
        traces = sum(c.traces for c in facts.classified_clusters)
    finally:
        svc.close()
    again = LogService(settings, clock=ticking(at)).start()
    try:
        assert list(evaluation(again.state, at).findings) == found
    finally:
        again.close()
    return found, json.loads(row["signals"]), traces


def _suspected(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.kind.value == "training_suspected"]


def test_the_service_files_hidden_training_from_the_log_alone(tmp_path: Path) -> None:
    """Training whose records name no run, uploaded as two signed batches, is filed by the
    service as training_suspected on its cluster, with no records passed to its evaluation; the
    fold keeps every window of the cluster's chips (fewer than the bounds)."""
    found, signals, traces = _serve(tmp_path, _fleet(Workload.TRAINING, hidden=True))
    assert traces == 8
    [finding] = _suspected(found)
    assert finding.subject == "cluster:c1"
    assert finding.action.value == "inspection"
    figures = dict(finding.figures)
    assert figures["traces"] == 8
    assert figures["share_training"] == 1.0
    assert len(signals) == 4 <= SIGNAL_CHIPS
    assert all(len(w) == 2 * SUSTAINED_WINDOWS <= SIGNAL_WINDOWS for w in signals.values())


def test_honest_inference_under_a_declared_workload_is_not_filed(tmp_path: Path) -> None:
    """Inference under the cluster's declared inference workload is classified from the fold's
    signals, and the service files no training_suspected."""
    found, signals, traces = _serve(
        tmp_path, _fleet(Workload.INFERENCE, hidden=False), declare_inference=True
    )
    assert len(signals) == 4
    assert traces == 8
    assert _suspected(found) == []
