"""`pausewatch detect publish` as a subprocess against a running service: the report of an
evaluation of the detectors is filed on the log as ``detect.evaluation/v1`` and shown by the
Detection page; a report without its figures, an unreadable file or an id already published is
one line and exit 1 (issue 16, item 7; docs/adr/0031)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

REPORT = {
    "overall": {"detection_before_completion": 0.955, "false_alarms_per_facility_year": 0.045},
    "kinds": [
        {"kind": "undeclared_training", "detection_before_completion": 1.0},
        {"kind": "throttled_training", "detection_before_completion": 0.7, "why": "meters"},
    ],
    "seeds": {"fit": [0, 49], "evaluation": [900, 999]},
    "corpus_digest": "9a" * 32,
}


def test_publish_files_the_report_and_refuses_bad_ones_in_one_line(
    tmp_path: Path, start_log: object
) -> None:
    """The report is accepted at a log index, GET /v1/detect/evaluation answers its figures
    and the Detection page shows them; another report under the same id, a report without
    overall figures and a missing file each print one line and exit 1, and nothing more is
    appended."""
    data_dir = tmp_path / "log"
    server = start_log(data_dir)  # type: ignore[operator]
    keys = ["--keys-dir", str(data_dir / "keys")]
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))

    done = run_cli("detect", "publish", str(report), "--id", "eval-1", "--url", server.url, *keys)
    assert done.returncode == 0, done.stderr
    assert "evaluation eval-1: detection before completion 0.955" in done.stdout
    assert "2 kind(s)" in done.stdout
    got = httpx.get(server.url + "/v1/detect/evaluation").json()
    assert (got["evaluation_id"], got["fit_seeds"], got["evaluation_seeds"]) == (
        "eval-1",
        "0-49",
        "900-999",
    )
    assert [k["kind"] for k in got["kinds"]] == ["undeclared_training", "throttled_training"]
    assert f"at log index {got['idx']}" in done.stdout
    page = httpx.get(server.url + "/ui/detection").text
    assert 'data-kind="throttled_training"' in page
    size = httpx.get(server.url + "/v1/log").json()["size"]

    # The same report again is the same statement: a retry, answered with its entry.
    retry = run_cli("detect", "publish", str(report), "--id", "eval-1", "--url", server.url, *keys)
    assert retry.returncode == 0, retry.stderr
    assert f"at log index {got['idx']} (already on the log" in retry.stdout
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**REPORT, "overall": {**REPORT["overall"], "x": 1}}))
    again = run_cli("detect", "publish", str(other), "--id", "eval-1", "--url", server.url, *keys)
    assert again.returncode == 1
    assert len(again.stderr.strip().splitlines()) == 1
    assert "already on the log" in again.stderr

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"overall": {"detection_before_completion": 0.9}}))
    refused = run_cli("detect", "publish", str(bad), "--url", server.url, *keys)
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "overall.false_alarms_per_facility_year" in refused.stderr

    missing = run_cli("detect", "publish", str(tmp_path / "nope.json"), "--url", server.url, *keys)
    assert missing.returncode == 1
    assert len(missing.stderr.strip().splitlines()) == 1
    assert httpx.get(server.url + "/v1/log").json()["size"] == size

    as_json = run_cli(
        "detect", "publish", str(report), "--id", "eval-2", "--url", server.url, "--json", *keys
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["evaluation"]["corpus_digest"] == "9a" * 32
