"""The operator's commands as subprocesses against a running service: declare a run, send
telemetry, read the run back; and their one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from pausewatch.client import PausewatchClient
from pausewatch.simulate import ClusterSpec, Workload, fleet_world, simulate_fleet
from pausewatch.statements import load_key, write_key

pytestmark = pytest.mark.slow


def cli_ok(*args: str) -> str:
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_declare_send_and_show(tmp_path: Path, start_log: Any) -> None:
    data_dir = tmp_path / "log"
    server = start_log(data_dir)
    # Windows in the past of the server's clock, so none lies in the future.
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    fleet = simulate_fleet(
        (ClusterSpec("c1", "lab", "H100 SXM", 3, Workload.TRAINING),),
        windows=4,
        seed=11,
        start=start,
    )
    world = fleet_world(fleet, load_key(data_dir / "keys", "secretariat"))
    with PausewatchClient(server.url) as client:
        # Everything but the run declaration, which the CLI files.
        for stage in world.stages[:-1]:
            for statement in stage:
                client.submit(statement)
    keys = tmp_path / "keys"
    write_key(keys, world.operators["lab"])
    declaration = world.stages[-1][0].to_json()["body"]
    (tmp_path / "run.json").write_text(json.dumps(declaration))
    out = cli_ok(
        "declare", "run", str(tmp_path / "run.json"), "--key", "lab", "--keys-dir", str(keys),
        "--url", server.url,
    )  # fmt: skip
    assert "run run-c1 declared" in out

    (tmp_path / "batch.jsonl").write_bytes(fleet.jsonl())
    args = ["telemetry", "send", str(tmp_path / "batch.jsonl"), "--operator", "lab"]
    args += ["--key", "lab", "--keys-dir", str(keys), "--url", server.url]
    text = cli_ok(*args)
    assert "12 accepted" in text
    receipt = json.loads(cli_ok(*args, "--json"))
    assert receipt["duplicate"] is True
    assert receipt["accepted"] == 12

    report = json.loads(cli_ok("runs", "show", "run-c1", "--url", server.url, "--json"))
    assert report["measured"]["chip_windows"] == 12
    assert report["measured"]["counted_flop"] > 0
    shown = cli_ok("runs", "show", "run-c1", "--url", server.url)
    assert "measured" in shown
    # Counter figures are shown with the counters' interval, never as exact.
    measured = report["measured"]
    assert (
        f"{measured['counted_flop']:.3g} FLOP ±2% ({measured['counted_flop_low']:.3g} to "
        f"{measured['counted_flop_high']:.3g})" in shown
    )
    assert "no policy in force" in shown

    # Errors are one line, with the reason.
    missing = run_cli("runs", "show", "nope", "--url", server.url)
    assert missing.returncode != 0
    assert "not declared" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    (tmp_path / "bad.yaml").write_text("- just\n- a list\n")
    bad = run_cli(
        "declare", "run", str(tmp_path / "bad.yaml"), "--key", "lab", "--keys-dir", str(keys),
        "--url", server.url,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "expected an object" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
