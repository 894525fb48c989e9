"""A policy taking effect through the log, as the secretariat does it: `pausewatch serve`,
`policy adopt` with the service's secretariat key, `policy current` reading it back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow


def test_adopt_then_read_the_policy_in_force(tmp_path: Path, start_log: Any) -> None:
    """The secretariat adopts two presets with effective times ahead; `policy current` answers
    which one rules at a given time; a lab key's adoption is refused and changes nothing."""
    now = datetime.now(UTC)

    def day(n: int) -> str:
        return (now + timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%SZ")

    data = tmp_path / "svc"
    log = start_log(data)
    common = ("--url", log.url, "--data-dir", str(data), "--json")
    first = run_cli("policy", "adopt", "eu-ai-act", "--effective-at", day(10), *common)
    assert first.returncode == 0, first.stderr
    second = run_cli("policy", "adopt", "miri-2025", "--effective-at", day(20), *common)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["accepted"]["index"] == 1

    def current(at: str) -> dict[str, Any]:
        res = run_cli("policy", "current", "--url", log.url, "--at", at, "--json")
        assert res.returncode == 0, res.stderr
        return dict(json.loads(res.stdout))

    assert current(day(15))["id"] == "eu-ai-act"
    assert current(day(25))["id"] == "miri-2025"
    before = run_cli("policy", "current", "--url", log.url, "--at", day(5))
    assert before.returncode == 1
    assert before.stderr.startswith("error: no policy is in force")

    keys = tmp_path / "lab-keys"
    assert run_cli("keys", "new", "lab", "--keys-dir", str(keys)).returncode == 0
    refused = run_cli(
        "policy", "adopt", "fli-2023", "--url", log.url, "--key", "lab", "--keys-dir", str(keys)
    )
    assert refused.returncode == 1
    assert "must be signed by the secretariat key" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert current(day(25))["adoptions"] == 2
