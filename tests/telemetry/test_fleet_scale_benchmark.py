"""benchmarks/fleet_scale.py runs end to end, tiny, and reports what the design extrapolates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_fleet_simulation_measures_and_verifies_every_figure(tmp_path: Path) -> None:
    """With six chips in two facilities for two minutes the simulation exits 0, every check
    passed (records accepted, one log entry a batch, two-level proofs and cosignatures
    verified), and its JSON holds one stored row a record, the proof paths a batch of three
    and the log give, and the target's load of one record a chip a minute."""
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "fleet_scale.py"),
            *("--chips", "6", "--minutes", "2", "--facility-chips", "3", "--proofs", "4"),
            *("--openssl-seconds", "1", "--no-pin", "--quiet", "--dir", str(tmp_path)),
            *("--json", str(out)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["verified"] is True
    assert all(figures["checks"].values())
    measured, target = figures["measured"], figures["target"]
    assert measured["records"] == 12
    assert measured["batches"] == 4
    assert measured["rows_written"]["telemetry_records"] == 12
    assert measured["proof"]["record_path_hashes_max"] == 2
    assert measured["proof"]["entry_path_hashes_max"] >= 1
    assert measured["bytes_per_record"] > 0
    assert target["records_per_s"] == 1_000_000 / 60
    assert target["record_path_hashes"] == 2
