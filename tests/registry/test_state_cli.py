"""`pausewatch state rebuild` as a subprocess, on a data directory a service wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import load_key, sign_statement

from .world import key


def test_state_rebuild_reports_identical_views(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1)
    service = LogService(settings).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        for pid in ("us", "cn", "eu"):
            body = {"party_id": pid, "name": pid, "key": key(pid).signer_id}
            service.submit(sign_statement("party.register/v1", body, secretariat)).result(30)
    finally:
        service.close()
    cmd = [sys.executable, "-m", "pausewatch.cli", "state", "rebuild", "--data-dir", str(tmp_path)]
    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["identical"] is True
    assert report["entries"] == 3
    assert report["rows"]["parties"] == 3
    assert report["rows"]["keys"] == 3
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert "folded 3 entries" in text.stdout
    assert "identical" in text.stdout
