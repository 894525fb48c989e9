"""Phase mismatch filed by the running service from the log alone (docs/adr/0036): a fleet's
run declared in a phase, its chip-signed telemetry uploaded to a LogService over a SQLite file;
the fold keeps the sampled chips' windows per run label (``tel_signals``) and the service's
findings come from them, with no records passed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pausewatch.policy import Finding, load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService, evaluation
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Fleet, Workload, fleet_world, simulate_fleet
from pausewatch.state import facts_from_registry
from pausewatch.statements import load_key, sign_statement
from telemetry.test_ingest import submission, ticking  # type: ignore[import-not-found]

SEED = 3_100_520
"""Outside the phase check's fit seeds and the scenario benchmark's seeds."""


def _fleet() -> Fleet:
    spec = ClusterSpec("c1", "lab", "H100 SXM", 8, Workload.TRAINING, allreduce_every=4)
    return simulate_fleet((spec,), windows=40, seed=SEED)


def _serve(data_dir: Path, fleet: Fleet, phase: str) -> tuple[list[Finding], int]:
    """The service's findings under eu-ai-act after the fleet's statements (its run declared in
    ``phase``) and telemetry (two batches), and the run patterns its facts hold. The service is
    then opened again on the same files and must give the same findings."""
    settings = Settings(data_dir=data_dir, batch_latency_ms=1)
    at = fleet.end + timedelta(minutes=2)
    svc = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        policy = load_preset("eu-ai-act")
        body = {
            "policy": policy_to_json(policy),
            "digest": policy_digest(policy),
            "effective_at": "2026-01-01T00:00:00Z",
        }
        svc.submit(sign_statement("policy.adopt/v1", body, secretariat)).result(30)
        world = fleet_world(fleet, secretariat, phase=phase)
        operator = world.operators["lab"]
        for stage in world.stages:
            for future in [svc.submit(s) for s in stage]:
                future.result(60)
        lines = fleet.jsonl().splitlines(keepends=True)
        for half in (lines[: len(lines) // 2], lines[len(lines) // 2 :]):
            data = b"".join(half)
            svc.ingest_telemetry(data, submission(data, operator))
        found = list(evaluation(svc.state, at).findings)
        patterns = len(facts_from_registry(svc.state.registry, at, None).run_patterns)
    finally:
        svc.close()
    again = LogService(settings, clock=ticking(at)).start()
    try:
        assert list(evaluation(again.state, at).findings) == found
    finally:
        again.close()
    return found, patterns


def _mismatches(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.kind.value == "phase_mismatch"]


def test_one_job_declared_a_search_is_filed_from_the_log_alone(tmp_path: Path) -> None:
    """A synchronous data-parallel job whose run is declared a hyper-parameter search is filed
    by the service as a serious phase_mismatch on the run, asking for an inspection (eu-ai-act
    does not count searches)."""
    found, patterns = _serve(tmp_path, _fleet(), "hyperparameter_search")
    assert patterns == 1
    [finding] = _mismatches(found)
    assert finding.subject == "run:run-c1"
    assert finding.severity.value == "serious"
    assert finding.action.value == "inspection"
    figures = dict(finding.figures)
    assert figures["chips"] == 8
    assert figures["synchronous_pairs"] == figures["pairs"] == 28


def test_the_same_job_declared_pretraining_is_not_filed(tmp_path: Path) -> None:
    """The same telemetry under a run declared pre-training gives no phase_mismatch: one job is
    what pre-training is, and no search is declared to check."""
    found, patterns = _serve(tmp_path, _fleet(), "pretraining")
    assert patterns == 0
    assert _mismatches(found) == []
