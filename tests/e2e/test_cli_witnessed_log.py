"""The whole log as a newcomer meets it: CLI, log service, two witnesses, audit, all real
processes on loopback."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow

ORIGIN = "pausewatch.local/log"


def cli_ok(*args: str) -> str:
    res = run_cli(*args)
    assert res.returncode == 0, f"pausewatch {' '.join(args)}: {res.stderr}"
    return res.stdout


def test_witnessed_log_end_to_end(tmp_path: Path, start_log: Any, start_witness: Any) -> None:
    """Statements signed and submitted with the CLI end in checkpoints cosigned by two
    witnesses; `log verify` and `audit` (online and on an export) accept them, and an export
    with one altered byte fails the audit."""
    log_dir = tmp_path / "log"
    cli_ok("keys", "new", ORIGIN, "--data-dir", str(log_dir))
    log_vkey = json.loads(cli_ok("keys", "show", ORIGIN, "--data-dir", str(log_dir), "--json"))[
        "verifier_key"
    ]
    roster, witness_keys = [], []
    for name in ("witness.one.example/w", "witness.two.example/w"):
        _, line, key = start_witness(name, log_vkey)
        roster.append(line)
        witness_keys.append(key)
    (tmp_path / "roster.txt").write_text("\n".join(roster) + "\n")
    server = start_log(log_dir, "--witnesses", str(tmp_path / "roster.txt"))

    # Notices are the secretariat's to file here: the service's own key, in its data directory.
    for i in range(6):
        stmt = cli_ok(
            "statement",
            "sign",
            "notice/v1",
            json.dumps({"title": f"notice {i}"}),
            "--key",
            "secretariat",
            "--keys-dir",
            str(log_dir / "keys"),
        )
        (tmp_path / "s.json").write_text(stmt)
        accepted = json.loads(
            cli_ok("statement", "submit", str(tmp_path / "s.json"), "--url", server.url, "--json")
        )
        assert accepted["index"] == i

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = httpx.get(server.url + "/checkpoint", params={"witnessed": "true"})
        if r.status_code == 200 and r.text.split("\n")[1] == "6":
            break
        time.sleep(0.2)
    else:
        pytest.fail("the checkpoint of size 6 was not cosigned by both witnesses")

    witness_args = [a for k in witness_keys for a in ("--witness", k)]
    verified = cli_ok(
        "log",
        "verify",
        "4",
        "--url",
        server.url,
        "--log-key",
        log_vkey,
        *witness_args,
        "--threshold",
        "2",
    )
    assert "OK: entry 4 is in the log of size 6" in verified

    shown_cp = json.loads(
        cli_ok(
            "log", "checkpoint", "--url", server.url, "--log-key", log_vkey, *witness_args, "--json"
        )
    )
    assert shown_cp["size"] == 6
    assert len(shown_cp["cosigners"]) == 2
    proof = json.loads(cli_ok("log", "prove", "1", "--url", server.url, "--json"))
    assert (proof["index"], proof["size"], len(proof["proof"])) == (1, 6, 3)
    consistency = json.loads(cli_ok("log", "prove", "--old", "2", "--url", server.url, "--json"))
    assert consistency["new_size"] == 6
    (tmp_path / "bad-note.txt").write_text("pausewatch.local/log\n6\nnot base64\n")
    res = run_cli(
        "audit",
        "--url",
        server.url,
        "--log-key",
        log_vkey,
        "--checkpoint",
        str(tmp_path / "bad-note.txt"),
    )
    assert res.returncode == 1
    assert "problem: checkpoint" in res.stderr

    report = json.loads(
        cli_ok(
            "audit",
            "--url",
            server.url,
            "--log-key",
            log_vkey,
            *witness_args,
            "--threshold",
            "2",
            "--json",
        )
    )
    assert report["ok"] is True
    assert report["entries"] == 6
    assert report["witnessed_checkpoints"] >= 1
    assert report["kinds"] == {"notice/v1": 6}

    export = tmp_path / "export.jsonl"
    cli_ok("log", "export", str(export), "--url", server.url)
    offline = json.loads(cli_ok("audit", "--file", str(export), "--log-key", log_vkey, "--json"))
    assert offline["ok"] is True
    assert offline["entries"] == 6

    lines = export.read_text().splitlines()
    for n, line in enumerate(lines):
        obj = json.loads(line)
        if obj.get("type") == "entry" and obj["index"] == 2:
            data = bytearray(base64.b64decode(obj["data"]))
            data[data.index(b"notice 2")] = ord("N")
            obj["data"] = base64.b64encode(bytes(data)).decode()
            lines[n] = json.dumps(obj)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    res = run_cli("audit", "--file", str(tampered), "--log-key", log_vkey)
    assert res.returncode == 1
    assert "entry 2" in res.stderr
    assert "differs from the recomputed" in res.stderr


def test_cli_errors_are_one_line(tmp_path: Path, start_log: Any) -> None:
    """A refused request prints one error line and exits 1, without a traceback."""
    server = start_log(tmp_path / "log")
    res = run_cli("log", "entry", "99", "--url", server.url)
    assert res.returncode == 1
    assert res.stderr.strip().startswith("error: 404")
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = run_cli("log", "entry", "0", "--url", "http://127.0.0.1:9")
    assert res.returncode == 1
    assert "cannot reach" in res.stderr
    assert "Traceback" not in res.stderr
