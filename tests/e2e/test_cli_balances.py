"""`pausewatch detect balances` as a subprocess against a running service: the daily balances
per facility as a table and as JSON, one facility, and one-line errors (issue 16 item 2;
docs/adr/0029; contract C4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import run_cli
from pausewatch.client import PausewatchClient
from pausewatch.detect import next_reading
from pausewatch.statements import KeyPair, load_key, sign_statement

pytestmark = pytest.mark.slow


def test_detect_balances_shows_a_metered_facilitys_days(tmp_path: Path, start_log: Any) -> None:
    """A facility whose meter read power for four closed days while no chip reported shows its
    energy row with the alarms in the table and the days in the JSON; --facility narrows it,
    an unknown facility and an unreachable service are one line each (exit 1)."""
    data_dir = tmp_path / "log"
    server = start_log(data_dir)
    keys = {
        "secretariat": load_key(data_dir / "keys", "secretariat"),
        **{n: KeyPair.generate(n) for n in ("party", "lab", "m1")},
    }
    steps: list[tuple[str, dict[str, Any], str]] = [
        (
            "party.register/v1",
            {"party_id": "us", "name": "US", "key": keys["party"].signer_id},
            "secretariat",
        ),
        (
            "operator.register/v1",
            {"operator_id": "lab", "party_id": "us", "name": "Lab", "key": keys["lab"].signer_id},
            "party",
        ),
        (
            "facility.register/v1",
            {
                "facility_id": "f1",
                "operator_id": "lab",
                "name": "F1",
                "location": {"country": "US"},
                "power_capacity_mw": 10.0,
            },
            "lab",
        ),
        (
            "meter.certify/v1",
            {
                "meter_id": "m1",
                "model": "Acme 9000",
                "serial": "SN-m1",
                "key": keys["m1"].signer_id,
                "random_sigma": 0.01,
                "systematic_sigma": 0.02,
            },
            "secretariat",
        ),
        ("meter.install/v1", {"meter_id": "m1", "facility_id": "f1", "overhead_w": 100.0}, "lab"),
    ]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=5)
    previous: dict[str, Any] | None = None
    for d in range(5):
        previous = next_reading(
            "m1", previous, start + timedelta(days=d - 1), start + timedelta(days=d), 8.64e7 * d
        )
        steps.append(("meter.reading/v1", previous, "m1"))
    with PausewatchClient(server.url) as client:
        for kind, body, signer in steps:
            client.submit(sign_statement(kind, body, keys[signer]))

    done = run_cli("detect", "balances", "--url", server.url)
    assert done.returncode == 0, done.stderr
    (row,) = [line for line in done.stdout.splitlines() if line.split()[:2] == ["f1", "energy"]]
    assert row.split()[2] == "4"
    assert "alarm: f1 energy" in done.stdout

    done = run_cli("detect", "balances", "--facility", "f1", "--url", server.url, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (fac,) = report["facilities"]
    assert (fac["facility_id"], fac["meters"]) == ("f1", ["m1"])
    assert len(fac["balances"]["energy"]) == 4
    assert fac["balances"]["energy"][0]["alarm"] == "one_shot"

    unknown = run_cli("detect", "balances", "--facility", "nowhere", "--url", server.url)
    assert unknown.returncode == 1
    assert len(unknown.stderr.strip().splitlines()) == 1
    assert "nowhere" in unknown.stderr
    gone = run_cli("detect", "balances", "--url", "http://127.0.0.1:9")
    assert gone.returncode == 1
    assert len(gone.stderr.strip().splitlines()) == 1


def test_detect_balances_shows_the_operator_and_party_roll_ups(
    tmp_path: Path, start_log: Any
) -> None:
    """Four facilities of three operators of one party (f1, f2 of lab; f3 of lab-b; f4 of
    lab-c), each metered at 30% random error while no chip reports, are each under their
    limits; the table lists lab's summed energy and us's (lab's alarming facilities left
    out, f3 and f4 summed) with their alarms, and --json keeps every key of the facility
    report and adds operators and parties (contract C8)."""
    data_dir = tmp_path / "log"
    server = start_log(data_dir)
    names = ("party", "lab", "lab-b", "lab-c", "m-f1", "m-f2", "m-f3", "m-f4")
    keys = {
        "secretariat": load_key(data_dir / "keys", "secretariat"),
        **{n: KeyPair.generate(n) for n in names},
    }
    steps: list[tuple[str, dict[str, Any], str]] = [
        (
            "party.register/v1",
            {"party_id": "us", "name": "US", "key": keys["party"].signer_id},
            "secretariat",
        ),
    ]
    for operator in ("lab", "lab-b", "lab-c"):
        steps.append(
            (
                "operator.register/v1",
                {
                    "operator_id": operator,
                    "party_id": "us",
                    "name": operator,
                    "key": keys[operator].signer_id,
                },
                "party",
            )
        )
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=3)
    for fid, operator in (("f1", "lab"), ("f2", "lab"), ("f3", "lab-b"), ("f4", "lab-c")):
        meter = f"m-{fid}"
        steps += [
            (
                "facility.register/v1",
                {
                    "facility_id": fid,
                    "operator_id": operator,
                    "name": fid,
                    "location": {"country": "US"},
                    "power_capacity_mw": 1.0,
                },
                operator,
            ),
            (
                "meter.certify/v1",
                {
                    "meter_id": meter,
                    "model": "Acme 9000",
                    "serial": f"SN-{meter}",
                    "key": keys[meter].signer_id,
                    "random_sigma": 0.3,
                    "systematic_sigma": 0.0,
                },
                "secretariat",
            ),
            ("meter.install/v1", {"meter_id": meter, "facility_id": fid}, operator),
        ]
        previous: dict[str, Any] | None = None
        for d in range(3):
            previous = next_reading(
                meter,
                previous,
                start + timedelta(days=d - 1),
                start + timedelta(days=d),
                8.64e7 * d,
            )
            steps.append(("meter.reading/v1", previous, meter))
    with PausewatchClient(server.url) as client:
        for kind, body, signer in steps:
            client.submit(sign_statement(kind, body, keys[signer]))

    done = run_cli("detect", "balances", "--url", server.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    (lab,) = [line for line in lines if line.split()[:3] == ["operator", "lab", "energy"]]
    assert lab.split()[3:5] == ["2", "2"]  # two facilities summed, two days
    (party,) = [line for line in lines if line.split()[:3] == ["party", "us", "energy"]]
    assert party.split()[3] == "2"
    assert any(line.startswith("alarm: operator lab energy") for line in lines)
    assert any(line.startswith("alarm: party us energy") for line in lines)
    assert not any(line.startswith("alarm: f") for line in lines)

    done = run_cli("detect", "balances", "--url", server.url, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {"period", "false_alarms_per_facility_year", "facilities"} <= set(report)
    assert [o["operator_id"] for o in report["operators"]] == ["lab", "lab-b", "lab-c"]
    (us,) = report["parties"]
    assert us["included"]["energy"] == ["f3", "f4"]
    assert us["excluded"]["energy"] == ["f1", "f2"]
    assert us["balances"]["energy"][0]["alarm"] == "one_shot"
