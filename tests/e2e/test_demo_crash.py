"""`pausewatch serve --demo` killed with SIGKILL mid-story and restarted: the story resumes where
the log stopped, every checkpoint published before the kill is extended by the log after it (so
nothing acknowledged is lost), nothing is registered twice, and the audit recomputes it all."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Process, free_port, run_cli
from pausewatch.demo._detection import INSTALLED, SHIPPED
from pausewatch.ledger import SignedCheckpoint, Verifier, verify_consistency
from pausewatch.statements import load_key

# The demo three times over with its restarts and audits: under the two workers of `make test`
# it took 183 s beside another demo (ADR 0058); its own waits bound each step.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _serve(data: Path, port: int, log: Path) -> Process:
    args = ["serve", "--demo", "--demo-pace", "0", "--data-dir", str(data), "--port", str(port)]
    return Process(args, f"http://127.0.0.1:{port}", log).start(timeout=60)


def _get(url: str, **kwargs: Any) -> httpx.Response:
    """A GET that waits out a demo busy registering its fleet on a loaded machine (httpx's
    default of 5 s does not)."""
    return httpx.get(url, timeout=60, **kwargs)


def _wait(what: str, check: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _checkpoint(url: str, log_key: Verifier) -> Any:
    return SignedCheckpoint.open(_get(f"{url}/checkpoint").text, log_key).checkpoint


def _extends(url: str, before: Any, after: Any) -> None:
    """``after`` extends ``before``: RFC 9162 consistency, so nothing acknowledged was lost."""
    proof = _get(
        f"{url}/v1/proofs/consistency", params={"old": before.size, "new": after.size}
    ).json()
    verify_consistency(
        before.size,
        after.size,
        [bytes.fromhex(h) for h in proof["proof"]],
        before.root_hash,
        after.root_hash,
    )


def test_sigkill_during_the_demo_loses_nothing(tmp_path: Path, processes: list[Process]) -> None:
    data = tmp_path / "world"
    port = free_port()
    first = _serve(data, port, tmp_path / "first.log")
    processes.append(first)
    url = first.url
    log_key = Verifier.from_string(_get(f"{url}/v1/log").json()["verifier_key"])
    # Killed first while the chips are being registered...
    _wait("1,500 entries", lambda: _get(f"{url}/healthz").json()["size"] >= 1500, 120)
    note = _get(f"{url}/checkpoint").text
    before = SignedCheckpoint.open(note, log_key).checkpoint
    first.kill()
    assert before.size >= 1
    second = _serve(data, port, tmp_path / "second.log")
    processes.append(second)
    # ... then again once the run has trained and the pause is in force: the replay must sign
    # the very same telemetry chains and heartbeats as the first time.
    _wait(
        "the pause in force",
        lambda: _get(f"{url}/v1/pause").json()["status"] == "active",
        240,
    )
    middle = _checkpoint(url, log_key)
    _extends(url, before, middle)
    second.kill()
    third = _serve(data, port, tmp_path / "third.log")
    processes.append(third)

    def finished() -> bool:
        # The story's last act lifts the pause (under its preset's own conditions).
        return bool(_get(f"{url}/v1/pause").json()["status"] == "lifted")

    _wait("the story's last act after the restarts", finished, 300)
    after = _checkpoint(url, log_key)
    _extends(url, middle, after)
    _extends(url, before, after)
    _wait(
        "the demo's own audit",
        lambda: "the story is over; audit passed" in (tmp_path / "third.log").read_text(),
        180,
    )
    for name in ("second.log", "third.log"):
        assert "the demo stopped" not in (tmp_path / name).read_text()
    secretariat = load_key(data / "keys", "secretariat").signer_id
    audit = run_cli("audit", "--url", url, "--secretariat", secretariat, "--json")
    assert audit.returncode == 0, audit.stderr
    report = json.loads(audit.stdout)
    assert report["ok"], report["problems"]
    # Replayed statements were answered as duplicates: each chip certified and installed once.
    # The fleet's 2048, and the shipment of the detection acts: all certified, some installed.
    assert report["kinds"]["chip.certify/v1"] == 2048 + len(SHIPPED)
    assert report["kinds"]["chip.custody/v1"] == 2048 + len(INSTALLED)
    assert report["kinds"]["policy.adopt/v1"] == 1
    outcomes = {(p["kind"], p["passed"]) for p in _get(f"{url}/v1/proposals").json()["rows"]}
    assert {("pause_start", True), ("halt_order", True), ("pause_renew", True)} <= outcomes
    assert {("pause_lift", False), ("pause_lift", True)} <= outcomes
    assert base64.b64decode(note.splitlines()[2])  # the note we held is a real checkpoint
