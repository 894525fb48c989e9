"""An evaluator's day through the command line against `pausewatch serve`: the secretariat adopts
the policy and a domain's suite, a safety institute runs the suite through Inspect and submits
its signed result, and the service's findings and pause proposal follow from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import run_cli
from pausewatch.statements import KeyPair, load_key, sign_statement, write_key
from registry.world import declaration  # type: ignore[import-not-found]

pytestmark = pytest.mark.slow


def test_an_evaluator_submits_a_critical_result(tmp_path: Path, start_log: Any) -> None:
    data = tmp_path / "svc"
    log = start_log(data)  # the clerk files triggered proposals every 5 s
    service = ("--url", log.url, "--data-dir", str(data), "--json")
    assert run_cli("policy", "adopt", "miri-2025", *service).returncode == 0
    adopted = run_cli("eval", "adopt", "ai_rnd_automation", *service)
    assert adopted.returncode == 0, adopted.stderr
    [pinned] = json.loads(adopted.stdout)["suite"]["probes"]
    assert pinned == {"probe_id": "pausewatch/repair_training_run", "version": 1}
    strict = run_cli(
        "eval", "adopt", "cyber_offence", "--min-epochs", "3", "--tool", "bash", *service
    )
    assert strict.returncode == 0, strict.stderr
    [pinned] = json.loads(strict.stdout)["suite"]["probes"]
    assert pinned["elicitation"] == {"min_epochs": 3, "tools": ["bash"]}
    [row] = [
        r
        for r in httpx.get(f"{log.url}/v1/views/eval_suites").json()["rows"]
        if r["domain"] == "cyber_offence"
    ]
    assert json.loads(row["probes"])[0]["elicitation"] == {"min_epochs": 3, "tools": ["bash"]}

    keys = tmp_path / "aisi-keys"
    uk, aisi = KeyPair.generate("uk"), KeyPair.generate("aisi")
    write_key(keys, aisi)
    secretariat = load_key(data / "keys", "secretariat")

    def post(kind: str, body: dict[str, Any], key: KeyPair) -> None:
        r = httpx.post(f"{log.url}/v1/statements", json=sign_statement(kind, body, key).to_json())
        assert r.status_code == 201, r.text

    post("party.register/v1", {"party_id": "uk", "name": "UK", "key": uk.signer_id}, secretariat)
    body = {"evaluator_id": "aisi", "party_id": "uk", "name": "AISI", "key": aisi.signer_id}
    post("evaluator.register/v1", body, uk)
    # A declared run trains frontier-1, so the suite's result on it counts (docs/adr/0021).
    lab = KeyPair.generate("lab")
    body = {"operator_id": "lab", "party_id": "uk", "name": "Lab", "key": lab.signer_id}
    post("operator.register/v1", body, uk)
    body = {"facility_id": "f1", "operator_id": "lab", "name": "F1"}
    post(
        "facility.register/v1",
        body | {"location": {"country": "GB"}, "power_capacity_mw": 50.0},
        lab,
    )
    body = {"cluster_id": "c1", "facility_id": "f1", "name": "C1", "network_gbps": 400.0}
    post("cluster.register/v1", body, lab)
    post("run.declaration/v1", declaration("run-1", model="frontier-1", planned_flop=1e20), lab)

    ran = run_cli(
        "eval", "run", "--model", "pausewatch/scripted", "--suite", "ai_rnd_automation",
        "-M", "horizon_minutes=1000000", "--subject", "frontier-1", "--evaluator", "aisi",
        "--log-dir", str(tmp_path / "logs"), "--submit", "--key", "aisi",
        "--keys-dir", str(keys), "--url", log.url, "--json",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    [result] = report["results"]
    [accepted] = report["accepted"]
    assert accepted["index"] >= 4

    # The same log submitted again is the same signed result: the log answers with its entry
    # (a retry is safe) and counts it once.
    again = run_cli(
        "eval", "import", result["log"], "--subject", "frontier-1", "--evaluator", "aisi",
        "--submit", "--key", "aisi", "--keys-dir", str(keys), "--url", log.url,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"submitted: entry {accepted['index']}" in again.stdout
    assert "(already on the log)" in again.stdout

    rows = httpx.get(f"{log.url}/v1/views/eval_results").json()["rows"]
    assert [(r["result_id"], r["in_suite"], r["model"]) for r in rows] == [
        (result["result_id"], True, "frontier-1")
    ]
    findings = httpx.get(f"{log.url}/v1/findings").json()["findings"]
    assert [f["kind"] for f in findings if f["subject"] == f"eval:{result['result_id']}"] == [
        "capability_critical"
    ]
    import time

    deadline = time.monotonic() + 30
    pauses: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not pauses:
        proposals = httpx.get(f"{log.url}/v1/proposals").json()["rows"]
        pauses = [p for p in proposals if p["kind"] == "pause_start"]
        time.sleep(0.2)
    assert pauses, "the clerk did not file the pause proposal"


_PROVIDERS = {"anthropic": "anthropic/claude-3-5-sonnet", "openai": "openai/gpt-4o"}
"""Inspect providers that need a Python package of their own, and a model of each."""


def test_a_provider_without_its_package_is_one_clean_line(tmp_path: Path) -> None:
    """An Inspect provider whose package is missing: one error line, free of Rich markup, with
    Inspect's whole message (how to install the package included)."""
    import importlib.util

    missing = [p for p in _PROVIDERS if importlib.util.find_spec(p) is None]
    if not missing:
        pytest.skip("every provider package is installed here")
    package = missing[0]
    done = run_cli(
        "eval",
        "run",
        "--model",
        _PROVIDERS[package],
        "--probe",
        "pausewatch/repair_training_run",
        "--log-dir",
        str(tmp_path / "logs"),
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    [line] = lines
    assert line.startswith(f"error: Inspect could not run {_PROVIDERS[package]}: ")
    assert "[bold]" not in line
    assert "[/" not in line
    assert not line.rstrip().endswith("Install with:")
    assert f"pip install {package}" in line
