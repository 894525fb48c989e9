"""Accounting: telemetry folded from the log becomes the facts the adopted policy evaluates;
findings for undeclared compute and dark chips appear as soon as the batch is integrated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.compute import COUNTER_TOLERANCE, CountingRule, count_flop
from pausewatch.policy import load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService, evaluation
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Fleet, Misbehaviour, Workload, simulate_fleet
from pausewatch.state import facts_from_registry
from pausewatch.statements import load_key, sign_statement

from .test_ingest import register, submission, ticking

CLUSTERS = (
    ClusterSpec("train-1", "lab", "H100 SXM", 4, Workload.TRAINING),
    ClusterSpec("shadow-1", "lab", "H100 SXM", 2, Workload.TRAINING),
)


@pytest.fixture
def fleet() -> Fleet:
    return simulate_fleet(
        CLUSTERS,
        windows=6,
        seed=3,
        misbehaviour=Misbehaviour(undeclared_clusters=frozenset({"shadow-1"})),
    )


@pytest.fixture
def service(tmp_path: Path, fleet: Fleet) -> Iterator[LogService]:
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1)
    svc = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        policy = load_preset("miri-2025")
        adopt = sign_statement(
            "policy.adopt/v1",
            {
                "policy": policy_to_json(policy),
                "digest": policy_digest(policy),
                "effective_at": "2026-01-01T00:00:00Z",
            },
            secretariat,
        )
        svc.submit(adopt).result(30)
        operator = register(svc, fleet)
        data = fleet.jsonl()
        svc.ingest_telemetry(data, submission(data, operator))
        yield svc
    finally:
        svc.close()


def test_measured_compute_reaches_the_policy_facts(service: LogService, fleet: Fleet) -> None:
    at = fleet.end + timedelta(minutes=2)
    policy = service.state.registry.policy_at(at)
    assert policy is not None
    facts = facts_from_registry(service.state.registry, at, policy)
    run = next(r for r in facts.runs if r.id == "run-train-1")
    assert run.measured_by_precision
    assert run.status.value == "running"
    assert run.starts_at == fleet.start
    assert run.rate is not None
    seconds = (fleet.end - fleet.start).total_seconds()
    counted = count_flop(run.measured_by_precision, CountingRule.FP16_EQUIVALENT_OR_ACTUAL)
    assert run.rate.value == pytest.approx(counted / seconds)
    assert run.declared is not None
    assert run.declared.value == 5e23
    # The declaration falls in miri-2025's approval tier: pending.
    assert run.approval.value == "pending"
    clusters = {c.id: c for c in facts.clusters}
    assert clusters["shadow-1"].undeclared_flop > 0
    assert clusters["train-1"].undeclared_flop == 0
    assert clusters["train-1"].h100e == pytest.approx(4.0)
    assert clusters["train-1"].monitored
    assert not clusters["train-1"].dark_chips
    assert dict(facts.state)["monitoring_coverage"] == 1.0


def test_undeclared_compute_is_a_finding_at_once(service: LogService, fleet: Fleet) -> None:
    result = evaluation(service.state, fleet.end + timedelta(minutes=2))
    undeclared = [f for f in result.findings if f.kind.value == "undeclared_compute"]
    assert [f.subject for f in undeclared] == ["cluster:shadow-1"]
    assert not [f for f in result.findings if f.kind.value == "dark_chips"]


def test_silent_chips_go_dark(service: LogService, fleet: Fleet) -> None:
    # Installed (on the log) a minute after the last window; an hour and a half later all are dark.
    later = fleet.end + timedelta(minutes=90)
    result = evaluation(service.state, later)
    dark = {f.subject for f in result.findings if f.kind.value == "dark_chips"}
    assert dark == {"cluster:train-1", "cluster:shadow-1"}
    facts = facts_from_registry(
        service.state.registry, later, service.state.registry.policy_at(later)
    )
    assert dict(facts.state)["dark_chips"] == 6
    assert dict(facts.state)["monitoring_coverage"] == 0.0


def test_views_findings_and_runs_over_http(service: LogService, fleet: Fleet) -> None:
    with TestClient(create_app(service, manage=False)) as client:
        page = client.get("/v1/views/chips", params={"limit": 4})
        assert page.status_code == 200
        body = page.json()
        assert body["total"] == 6
        assert len(body["rows"]) == 4
        assert body["next"] == 4
        assert client.get("/v1/views/nope").status_code == 404

        at = (fleet.end + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        findings = client.get("/v1/findings", params={"at": at, "limit": 1000}).json()
        assert findings["policy"]["id"] == "miri-2025"
        kinds = {f["kind"] for f in findings["findings"]}
        assert "undeclared_compute" in kinds
        assert findings["total_findings"] == len(findings["findings"])

        run = client.get("/v1/runs/run-train-1", params={"at": at}).json()
        measured = run["measured"]
        flop = {p: float(v) for p, v in measured["flop_by_precision"].items()}
        counted = count_flop(flop, CountingRule.FP16_EQUIVALENT_OR_ACTUAL)
        assert measured["counted_flop"] == pytest.approx(counted)
        assert measured["chips"] == 4
        assert measured["chip_windows"] == 4 * 6
        assert run["run"]["approval"] == "pending"
        # No start notice was filed, but its chips reported: running at its measured pace.
        projection = run["projection"]
        assert projection["rate_flop_per_s"] > 0
        assert projection["threshold_flop"] > measured["counted_flop"]
        assert projection["expected"] is not None
        assert any(f["subject"] == "run:run-train-1" for f in run["findings"])
        missing = client.get("/v1/runs/nope")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_counter_figures_carry_the_counter_tolerance(service: LogService, fleet: Fleet) -> None:
    """The measured pace in the facts, the run report's counted compute and its projection all
    carry the counters' ±2%, so that the crossing has an earliest and a latest time."""
    at = fleet.end + timedelta(minutes=2)
    policy = service.state.registry.policy_at(at)
    assert policy is not None
    facts = facts_from_registry(service.state.registry, at, policy)
    fact = next(r for r in facts.runs if r.id == "run-train-1")
    assert fact.rate is not None
    assert fact.rate.low == pytest.approx(fact.rate.value * (1 - COUNTER_TOLERANCE))
    assert fact.rate.high == pytest.approx(fact.rate.value * (1 + COUNTER_TOLERANCE))
    with TestClient(create_app(service, manage=False)) as client:
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        report = client.get("/v1/runs/run-train-1", params={"at": stamp}).json()
    measured, projection = report["measured"], report["projection"]
    assert measured["counter_tolerance"] == COUNTER_TOLERANCE
    assert measured["counted_flop_low"] == pytest.approx(measured["counted_flop"] * 0.98)
    assert measured["counted_flop_high"] == pytest.approx(measured["counted_flop"] * 1.02)
    assert projection["rate_low"] < projection["rate_flop_per_s"] < projection["rate_high"]
    assert projection["earliest"] < projection["expected"] < projection["latest"]
