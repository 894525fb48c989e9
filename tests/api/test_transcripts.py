"""A run's transcript over HTTP (issue 17 §5; ``GET /v1/runs/{run_id}/transcript``): the
commitment, the checkpoint commitments (paginated), the audits with their replays and verdicts;
a run that is not declared is a 404 problem. The commitments are put on the log by the service's
use case from a manifest (contract T1), the audit's statements signed by the world's inspector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import (  # type: ignore[import-not-found]
    Clock,
    World,
    build_world,
    declaration,
    open_world,
)
from fastapi.testclient import TestClient

from pausewatch.service import LocalTranscriptLog, LogService, commit_transcript
from pausewatch.statements import sign_statement
from pausewatch.transcript import draw_segments, segment_count, segments_for_budget
from transcript.product_world import ROOT, checkpoint_digest, write_manifest

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("transcripts") / "world")
    return built


@pytest.fixture
def opened(world: World, tmp_path: Path) -> Iterator[tuple[LogService, TestClient, Clock]]:
    with open_world(world, tmp_path / "copy") as value:
        yield value


def post(world: World, client: TestClient, kind: str, body: dict[str, Any], role: str) -> Any:
    r = client.post("/v1/statements", json=sign_statement(kind, body, world.keys[role]).to_json())
    assert r.status_code == 201, r.text
    return r.json()


def test_an_unknown_run_is_a_problem(opened: tuple[LogService, TestClient, Clock]) -> None:
    """A run that is not declared answers 404 as an RFC 9457 problem document."""
    _, client, _ = opened
    r = client.get("/v1/runs/no-such-run/transcript")
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM
    assert "no-such-run" in r.json()["detail"]


def test_a_declared_run_without_a_transcript_has_none(
    world: World, opened: tuple[LogService, TestClient, Clock]
) -> None:
    """A declared run that committed nothing answers a null commitment, no checkpoints and no
    audits (not a 404), and the run's own report is still served beside it."""
    _, client, _ = opened
    post(world, client, "run.declaration/v1", declaration("r-bare"), "operator")
    got = client.get("/v1/runs/r-bare/transcript").json()
    assert got["commitment"] is None
    assert got["checkpoints"]["count"] == 0
    assert got["checkpoints"]["final"] is False
    assert got["audits"] == []
    assert client.get("/v1/runs/r-bare").json()["run"]["run_id"] == "r-bare"


def test_commitments_are_answered_with_checkpoints_paginated(
    world: World, opened: tuple[LogService, TestClient, Clock], tmp_path: Path
) -> None:
    """Committed from its manifest, a transcript of 2,500 checkpoints goes on the log as one
    commitment and three checkpoint statements (1,000 at most each, the last final); the route
    answers the commitment, the count, the last step, the final digest and the checkpoints a
    page at a time."""
    service, client, _ = opened
    post(
        world,
        client,
        "run.declaration/v1",
        {**declaration("r-many"), "checkpoint_interval_steps": 1},
        "operator",
    )
    directory = write_manifest(tmp_path / "t", run_id="r-many", steps=2499, every=1)
    receipt = commit_transcript(
        directory=directory, key=world.keys["operator"], log=LocalTranscriptLog(service)
    )
    assert len(receipt.checkpoint_indices) == 3
    assert receipt.checkpoints == 2500
    got = client.get("/v1/runs/r-many/transcript", params={"limit": 1000}).json()
    commitment = got["commitment"]
    assert commitment["committed_idx"] == receipt.commit_index
    assert (commitment["recipe"], commitment["dataset_root"], commitment["steps"]) == (
        "mlp",
        ROOT,
        2499,
    )
    assert commitment["final_idx"] == receipt.checkpoint_indices[-1]
    checkpoints = got["checkpoints"]
    assert (checkpoints["count"], checkpoints["last_step"], checkpoints["final"]) == (
        2500,
        2499,
        True,
    )
    assert checkpoints["final_digest"] == checkpoint_digest(2499)
    assert (checkpoints["total"], checkpoints["next"], len(checkpoints["items"])) == (
        2500,
        1000,
        1000,
    )
    last = client.get("/v1/runs/r-many/transcript", params={"offset": 2000}).json()["checkpoints"]
    assert [c["step"] for c in last["items"]] == list(range(2000, 2500))
    assert last["next"] is None
    # Committing again re-sends the same statements: answered with their entries.
    again = commit_transcript(
        directory=directory, key=world.keys["operator"], log=LocalTranscriptLog(service)
    )
    assert again == receipt


def _figures(replays: list[dict[str, Any]], steps: int) -> dict[str, Any]:
    from pausewatch.transcript import compute_fraction, inclusion_test
    from pausewatch.transcript._inclusion import Drops

    inclusion = inclusion_test(
        [Drops(r["train_loss_drop"], r["heldout_loss_drop"]) for r in replays]
    )
    return {
        "inclusion_statistic": inclusion.statistic,
        "inclusion_p_value": inclusion.p_value,
        "inclusion_passed": inclusion.passed,
        "compute_fraction": compute_fraction(sum(r["steps_replayed"] for r in replays), steps),
    }


def test_an_audit_is_answered_with_its_replays_and_verdict(
    world: World, opened: tuple[LogService, TestClient, Clock], tmp_path: Path
) -> None:
    """An audit's replays are listed under it while it is under way (verdict null), then its
    verdict: the drawn segments, pass or fail, the compute fraction and its log entry."""
    service, client, _ = opened
    post(world, client, "run.declaration/v1", declaration("r-audit"), "operator")
    directory = write_manifest(tmp_path / "t", run_id="r-audit", steps=4000, every=1000)
    receipt = commit_transcript(
        directory=directory, key=world.keys["operator"], log=LocalTranscriptLog(service)
    )
    size = receipt.checkpoint_indices[-1] + 1
    beacon = service.log.root_at(size)
    drawn = draw_segments(beacon, segment_count(4000, 1000), segments_for_budget(0.5, 4000, 1000))
    replays = []
    for n, segment in enumerate(drawn):
        replay = {
            "audit_id": "a1",
            "run_id": "r-audit",
            "inspector_id": "insp-1",
            "segment": segment,
            "start_step": segment * 1000,
            "end_step": segment * 1000 + 1000,
            "distance": 0.01,
            "tolerance": 0.05,
            "passed": True,
            "train_loss_drop": 0.2,
            "heldout_loss_drop": 0.05,
            "steps_replayed": 1000,
        }
        post(world, client, "transcript.replay/v1", replay, "inspector")
        replays.append(replay)
        if n == 0:
            [audit] = client.get("/v1/runs/r-audit/transcript").json()["audits"]
            assert (audit["audit_id"], audit["segments_replayed"], audit["verdict"]) == (
                "a1",
                1,
                None,
            )
    verdict = {
        "audit_id": "a1",
        "run_id": "r-audit",
        "inspector_id": "insp-1",
        "budget": 0.5,
        "beacon_size": size,
        "beacon": beacon.hex(),
        "segments": list(drawn),
        "verdict": "pass",
        **_figures(replays, 4000),
        "reasons": [],
        "manifest_digest": ROOT,
    }
    accepted = post(world, client, "transcript.verdict/v1", verdict, "inspector")
    [audit] = client.get("/v1/runs/r-audit/transcript").json()["audits"]
    assert audit["segments_replayed"] == audit["passed_replays"] == len(drawn)
    assert audit["verdict"]["verdict"] == "pass"
    assert audit["verdict"]["segments"] == list(drawn)
    assert audit["verdict"]["reasons"] == []
    assert audit["verdict"]["idx"] == accepted["index"]
    assert audit["verdict"]["compute_fraction"] == 2000 * (1 + 4 / 3) / 4000


def test_the_route_is_described_in_openapi(opened: tuple[LogService, TestClient, Clock]) -> None:
    """The transcript route is in the OpenAPI document with its description, and the run's own
    route still answers the run (the transcript route is matched first, not swallowed by it)."""
    _, client, _ = opened
    paths = client.get("/openapi.json").json()["paths"]
    route = paths["/v1/runs/{run_id}/transcript"]["get"]
    assert "verdict" in route["description"]
    assert "404" in route["description"]
