"""The Runs pages show each run's training transcript (issue 17 §5): on the list, whether it is
committed, its checkpoints and the last audit's verdict; on a run's page, the commitment, the
checkpoints and each audit with its verdict, the segments replayed and the compute fraction,
as ``GET /v1/runs/{id}/transcript`` answers them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.service import LocalTranscriptLog, commit_transcript
from pausewatch.statements import sign_statement
from transcript.product_world import (
    build,
    declaration,
    hand_audit,
    open_service,
    write_manifest,
)
from web.world import fields, text

STEPS, EVERY = 4000, 1000


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """r-pass committed and audited (pass), r-fail committed and audited (fail: every drawn
    segment out of tolerance), r-none declared with no transcript, r-missing started with none
    though the policy requires one."""
    base = tmp_path_factory.mktemp("transcript-pages")
    runs = [declaration(r) for r in ("r-pass", "r-fail", "r-none")]
    # Above the 1e22 FLOP from which miri-2025 requires a transcript, started without one.
    runs.append({**declaration("r-missing"), "planned_flop": 5e22})
    world = build(base / "world", runs)
    service = open_service(world)
    try:
        start = {"run_id": "r-missing", "at": "2027-01-04T00:00:00Z"}
        service.submit(sign_statement("run.start/v1", start, world.keys["operator"])).result(30)
        log = LocalTranscriptLog(service)
        for run_id in ("r-pass", "r-fail"):
            directory = write_manifest(base / run_id, run_id=run_id, steps=STEPS, every=EVERY)
            commit_transcript(directory=directory, key=world.keys["operator"], log=log)
        common = {"steps": STEPS, "every": EVERY, "budget": 0.5}
        hand_audit(service, world.keys["inspector"], "r-pass", audit_id="a-pass", **common)
        hand_audit(
            service,
            world.keys["inspector"],
            "r-fail",
            audit_id="a-fail",
            failing=frozenset(range(4)),
            **common,
        )
        with TestClient(create_app(service, manage=False)) as c:
            yield c
    finally:
        service.close()


ORDER = ("r-fail", "r-missing", "r-none", "r-pass")
"""The runs in the list's order (the runs view's primary key)."""


def cell(html: str, run_id: str) -> dict[str, object]:
    """The transcript cell of ``run_id``'s row on the Runs list: its attributes and text."""
    found = fields(html)["transcript"][ORDER.index(run_id)]
    return {**found["attrs"], "text": found["text"]}


def test_the_runs_list_shows_each_transcript_and_its_last_verdict(client: TestClient) -> None:
    """The list marks a committed transcript with its checkpoints and final, the last audit's
    verdict (pass or fail) as the API answers it, and a run with none as none."""
    html = client.get("/ui/runs").text
    passed, failed, none = cell(html, "r-pass"), cell(html, "r-fail"), cell(html, "r-none")
    assert (passed["data-committed"], passed["data-verdict"]) == ("true", "pass")
    assert (failed["data-committed"], failed["data-verdict"]) == ("true", "fail")
    assert (none["data-committed"], none["data-verdict"]) == ("false", "")
    api = client.get("/v1/runs/r-fail/transcript").json()
    assert api["audits"][-1]["verdict"]["verdict"] == "fail"
    assert str(passed["text"]).startswith("5 checkpoints, final")
    assert str(none["text"]) == "none"


def test_a_run_page_shows_its_commitment_and_audits(client: TestClient) -> None:
    """A run's page shows the checkpoints committed, and each audit with its verdict, the
    segments replayed of those drawn and the compute fraction, as the API answers them."""
    html = client.get("/ui/runs/r-fail").text
    api = client.get("/v1/runs/r-fail/transcript").json()
    found = fields(html)
    assert found["transcript-checkpoints"][0]["attrs"]["data-value"] == "5"
    assert "up to step 4000" in text(html, "transcript-checkpoints")
    [audit] = api["audits"]
    drawn = len(audit["verdict"]["segments"])
    assert 'data-audit="a-fail" data-verdict="fail"' in html
    assert text(html, "segments-replayed") == f"{drawn} of {drawn} drawn"
    # Half the steps replayed, and the inclusion test's forwards: 2.33 times the budget.
    assert text(html, "compute-fraction") == "116.7%"


def test_a_run_without_a_transcript_says_so(client: TestClient) -> None:
    """A run with no transcript says none is committed and lists no audit."""
    html = client.get("/ui/runs/r-none").text
    assert "No transcript is committed for this run." in html
    assert "No audit yet." in html


def test_a_transcript_the_policy_requires_shows_missing(client: TestClient) -> None:
    """A run the policy requires a transcript of, started without one, is marked missing on
    the list and on its page, with the policy's finding; a transcript committed before its run
    started is on time."""
    html = client.get("/ui/runs").text
    assert cell(html, "r-missing")["data-timeliness"] == "missing"
    assert cell(html, "r-pass")["data-timeliness"] == "on_time"
    page = client.get("/ui/runs/r-missing").text
    assert "No transcript is committed, and the policy requires one." in page
    api = client.get("/v1/runs/r-missing/transcript").json()
    assert api["timeliness"] == "missing"
    assert [f["kind"] for f in api["findings"]] == ["transcript_missing"]
    assert "transcript_missing" in page
