"""``GET /metrics``: Prometheus text, per-app counters, gauges read at the scrape, request
latency by route template, findings from an evaluation cached per log size."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_world import (  # type: ignore[import-not-found]
    Clock,
    World,
    build_world,
    open_world,
    telemetry_line,
)
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import pausewatch.api.metrics as metrics_module
from pausewatch.api import create_app
from pausewatch.api.metrics import FindingsCache
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import KeyPair, canonical, sign_statement


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("metrics") / "world")
    return built


@pytest.fixture
def opened(world: World, tmp_path: Path) -> Iterator[tuple[LogService, TestClient, Clock]]:
    with open_world(world, tmp_path / "copy") as handles:
        yield handles


def test_statements_are_counted_by_kind_and_outcome(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """Accepted, duplicate and refused statements each count under their kind and outcome;
    a kind no one registered counts as ``unknown``."""
    _service, client, _clock = opened
    notice = sign_statement("notice/v1", {"title": "hello"}, world.keys["party"]).to_json()
    client.post("/v1/statements", json=notice)
    client.post("/v1/statements", json=notice)
    party = {"party_id": "cn", "name": "CN", "key": KeyPair.generate("cn").signer_id}
    forged = sign_statement("party.register/v1", party, world.keys["party"]).to_json()
    assert client.post("/v1/statements", json=forged).status_code == 403
    client.post("/v1/statements", json={**notice, "kind": "launch.codes/v1"})
    client.post("/v1/statements", content=b"{", headers={"content-type": "application/json"})
    samples = scrape(client)
    name = "pausewatch_statements_total"
    assert value(samples, name, kind="notice/v1", outcome="accepted") == 1
    assert value(samples, name, kind="notice/v1", outcome="duplicate") == 1
    assert value(samples, name, kind="party.register/v1", outcome="forbidden-signer") == 1
    assert value(samples, name, kind="unknown", outcome="unknown-kind") == 1
    assert value(samples, name, kind="unknown", outcome="malformed-json") == 1


def test_gauges_follow_the_log(opened: tuple[LogService, TestClient, Clock]) -> None:
    """Log size, fold position and queue depth are the service's at the scrape; the clerk's
    rounds count."""
    service, client, _clock = opened
    service.run_clerk()
    samples = scrape(client)
    assert value(samples, "pausewatch_log_size") == service.log.size
    assert value(samples, "pausewatch_fold_position") == service.log.size
    assert value(samples, "pausewatch_sequencer_queue_depth") == 0
    assert value(samples, "pausewatch_clerk_runs_total") == 1
    # The vote on due-1 had closed: the clerk filed its decision.
    assert value(samples, "pausewatch_clerk_filed_total") >= 1


def test_telemetry_records_are_counted(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """An upload counts its accepted and rejected records, the rejections by rule; the same
    upload again counts as a duplicate batch and adds no records; a refused upload counts
    under its problem type."""
    _service, client, clock = opened
    data = telemetry_line(world, clock.now) + b'{"record": "nonsense"}\n'
    body = {"operator_id": "lab", "batch_digest": hashlib.sha256(data).hexdigest(), "records": 2}
    submission = sign_statement("telemetry.submission/v1", body, world.keys["operator"])
    headers = {
        "Pausewatch-Submission": base64.b64encode(canonical(submission.to_json())).decode(),
        "Content-Type": "application/x-ndjson",
    }
    assert client.post("/v1/telemetry/batches", content=data, headers=headers).status_code == 201
    assert client.post("/v1/telemetry/batches", content=data, headers=headers).status_code == 200
    forged = sign_statement("telemetry.submission/v1", body, world.keys["party"])
    headers["Pausewatch-Submission"] = base64.b64encode(canonical(forged.to_json())).decode()
    assert client.post("/v1/telemetry/batches", content=data, headers=headers).status_code == 403
    headers["Pausewatch-Submission"] = "not base64!"
    assert client.post("/v1/telemetry/batches", content=data, headers=headers).status_code == 400
    samples = scrape(client)
    assert value(samples, "pausewatch_telemetry_batches_total", outcome="forbidden-signer") == 1
    assert value(samples, "pausewatch_telemetry_batches_total", outcome="malformed-json") == 1
    assert value(samples, "pausewatch_telemetry_batches_total", outcome="accepted") == 1
    assert value(samples, "pausewatch_telemetry_batches_total", outcome="duplicate") == 1
    assert value(samples, "pausewatch_telemetry_records_total", outcome="accepted") == 1
    assert value(samples, "pausewatch_telemetry_records_total", outcome="rejected") == 1
    assert value(samples, "pausewatch_telemetry_rejections_total", rule="malformed") == 1


def test_requests_are_timed_by_route_template(
    opened: tuple[LogService, TestClient, Clock],
) -> None:
    """Latency is labelled by the route's template, not the path asked for; a path no route
    knows is ``<unmatched>``; a body refused before routing still counts under its route."""
    _service, client, _clock = opened
    client.get("/v1/entries/1")
    client.get("/v1/entries/2")
    client.get("/no/such/path")
    client.post("/v1/statements", content=b"x" * 300_000)
    samples = scrape(client)
    count = "pausewatch_http_request_duration_seconds_count"
    assert value(samples, count, route="/v1/entries/{index}", method="GET") == 2
    assert value(samples, count, route="<unmatched>", method="GET") == 1
    requests = "pausewatch_http_requests_total"
    assert value(samples, requests, route="/v1/statements", method="POST", status="413") == 1
    assert not any("/v1/entries/1" in str(labels) for _, labels in samples)


def test_findings_are_counted_by_severity(opened: tuple[LogService, TestClient, Clock]) -> None:
    """The findings gauges hold the evaluation GET /v1/findings shows."""
    _service, client, _clock = opened
    findings = client.get("/v1/findings", params={"limit": 1000}).json()["findings"]
    samples = scrape(client)
    assert value(samples, "pausewatch_policy_in_force") == 1
    for severity in ("info", "notice", "warning", "serious", "critical"):
        expected = sum(1 for f in findings if f["severity"] == severity)
        assert value(samples, "pausewatch_findings", severity=severity) == expected


def test_the_findings_are_evaluated_again_only_when_the_log_grows(
    world: World, opened: tuple[LogService, TestClient, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scrapes at one log size evaluate once; a new entry, once the minimum interval has
    passed, makes the next scrape evaluate again; so does the maximum age alone."""
    service, client, _clock = opened
    calls = []
    real = metrics_module.evaluation
    monkeypatch.setattr(metrics_module, "evaluation", lambda *a: calls.append(1) or real(*a))
    now = [0.0]
    cache = FindingsCache(service, min_interval_s=10, max_age_s=100, monotonic=lambda: now[0])
    first = cache.get()
    assert cache.get() is first
    notice = sign_statement("notice/v1", {"title": "grow"}, world.keys["party"]).to_json()
    client.post("/v1/statements", json=notice)
    assert cache.get() is first  # grown, but within the minimum interval
    now[0] = 11
    grown = cache.get()
    assert (len(calls), grown.log_size) == (2, first.log_size + 1)
    now[0] = 50
    assert cache.get() is grown
    now[0] = 112
    cache.get()
    assert len(calls) == 3


def test_two_apps_count_apart(tmp_path: Path) -> None:
    """Each app has its own registry: two in one process neither clash nor share counts."""
    services = [
        LogService(Settings(data_dir=tmp_path / str(i), batch_latency_ms=1)) for i in (1, 2)
    ]
    apps = [create_app(service) for service in services]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        key = services[0].secretariat_key
        first.post(
            "/v1/statements", json=sign_statement("notice/v1", {"title": "a"}, key).to_json()
        )
        name = "pausewatch_statements_total"
        assert value(scrape(first), name, kind="notice/v1", outcome="accepted") == 1
        assert value(scrape(second), name, kind="notice/v1", outcome="accepted") == 0
        assert value(scrape(second), "pausewatch_policy_in_force") == 0


def test_metrics_are_in_the_openapi_document(opened: tuple[LogService, TestClient, Clock]) -> None:
    """/metrics is documented, with a text/plain answer."""
    _service, client, _clock = opened
    operation = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]
    assert "text/plain" in operation["responses"]["200"]["content"]
    assert "pausewatch_statements_total" in operation["description"]
