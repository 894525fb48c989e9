"""`pausewatch detect chips` as a subprocess against a running service: the chip balances per
operator and party as a table and as JSON, and a one-line error (issue 16; docs/adr/0026)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from pausewatch.client import PausewatchClient
from pausewatch.statements import KeyPair, load_key, sign_statement

pytestmark = pytest.mark.slow


def test_detect_chips_shows_the_balances_a_running_service_holds(
    tmp_path: Path, start_log: Any
) -> None:
    """Two chips shipped to lab, neither installed nor seen, are shown unaccounted for in lab's
    and party us's rows of the table, and in the JSON; an unreachable service is one line."""
    data_dir = tmp_path / "log"
    server = start_log(data_dir)
    keys = {
        "secretariat": load_key(data_dir / "keys", "secretariat"),
        **{n: KeyPair.generate(n) for n in ("party", "lab", "nv", "g1", "g2")},
    }
    party = {"party_id": "us", "name": "US", "key": keys["party"].signer_id}
    maker = {"maker_id": "nv", "name": "NV", "key": keys["nv"].signer_id}
    lab = {"operator_id": "lab", "party_id": "us", "name": "Lab", "key": keys["lab"].signer_id}
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("party.register/v1", party, "secretariat"),
        ("chip_maker.register/v1", maker, "secretariat"),
        ("operator.register/v1", lab, "party"),
    ]
    for chip in ("g1", "g2"):
        body = {
            "chip_id": chip,
            "maker_id": "nv",
            "model": "H100 SXM",
            "serial": f"SN-{chip}",
            "key": keys[chip].signer_id,
            "operator_id": "lab",
        }
        steps.append(("chip.certify/v1", body, "nv"))
    ship = {
        "shipment_id": "s1",
        "maker_id": "nv",
        "chip_ids": ["g1", "g2"],
        "to_operator": "lab",
        "receiving_party": "us",
        "shipped_at": "2026-12-02T00:00:00Z",
    }
    steps.append(("chip.ship/v1", ship, "nv"))
    with PausewatchClient(server.url) as client:
        for kind, body, signer in steps:
            client.submit(sign_statement(kind, body, keys[signer]))

    done = run_cli("detect", "chips", "--url", server.url)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "g1, g2" in line]
    assert len(rows) == 2
    assert rows[0].split()[:2] == ["operator", "lab"]
    assert rows[1].split()[:2] == ["party", "us"]
    assert rows[0].split()[2:10] == ["2", "0", "0", "0", "0", "0", "0", "2"]

    done = run_cli("detect", "chips", "--url", server.url, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(a["scope"], a["id"], a["unaccounted"]["count"]) for a in report["operators"]] == [
        ("operator", "lab", 2)
    ]
    assert report["parties"][0]["unaccounted"]["chips"] == ["g1", "g2"]

    gone = run_cli("detect", "chips", "--url", "http://127.0.0.1:9")
    assert gone.returncode == 1
    assert len(gone.stderr.strip().splitlines()) == 1
