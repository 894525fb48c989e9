"""`pausewatch policy ...` as a user runs it: a subprocess, text and --json, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pausewatch.policy import load_preset as preset
from pausewatch.policy import policy_digest, preset_names

FACTS = """\
runs:
  - id: r1
    operator: lab-a
    model: m1
    phase: pretraining
    measured: {value: 8.1e+23, low: 7.128e+23, high: 9.072e+23, method: telemetry}
    rate: {value: 3.14e+17, low: 2.8e+17, high: 3.5e+17, method: telemetry}
    status: running
    started: true
    declared: {value: 9.5e+23}
    declared_at: 2026-10-01T00:00:00Z
    starts_at: 2026-11-01T00:00:00Z
    ends_at: 2027-01-31T00:00:00Z
    approval: approved
    decided_at: 2026-10-20T00:00:00Z
    evidence: [log:12]
clusters:
  - {id: c9, operator: lab-b, h100e: 2000}
transcripts:
  - {run: r1, committed_at: 2026-10-25T00:00:00Z, last_checkpoint_at: 2026-11-25T18:00:00Z}
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pausewatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_presets_lists_the_shipped_presets() -> None:
    """`policy presets --json` names every preset with its id and version."""
    res = cli("policy", "presets", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["name"] for r in rows] == preset_names()
    assert {"miri-2025", "fli-2023", "eu-ai-act", "us-eo-14110", "ca-sb53", "ny-raise"} <= {
        r["name"] for r in rows
    }


def test_show_prints_tiers_and_digest() -> None:
    """`policy show` prints the tiers with their sources; --json carries the digest."""
    text = cli("policy", "show", "miri-2025")
    assert text.returncode == 0, text.stderr
    assert "prohibited" in text.stdout
    assert "1e+24" in text.stdout
    assert "miri-tgt" in text.stdout
    as_json = json.loads(cli("policy", "show", "miri-2025", "--json").stdout)
    assert as_json["digest"] == policy_digest(preset("miri-2025"))
    assert as_json["policy"]["compute"]["post_training"]["prohibited"]["flop"] == 1e23


def test_show_yaml_validates_again(tmp_path: Path) -> None:
    """The normalised YAML from `policy show --yaml` is a valid policy file."""
    path = tmp_path / "p.yaml"
    path.write_text(cli("policy", "show", "eu-ai-act", "--yaml").stdout)
    res = cli("policy", "validate", str(path), "--json")
    assert res.returncode == 0, res.stdout
    assert json.loads(res.stdout)[0]["digest"] == policy_digest(preset("eu-ai-act"))


def test_validate_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    """An invalid file prints one line per problem (file:line: path: reason) and exits 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nversion: 1.0.0\ntitle: t\ncolor: red\nsources: {s: {title: S}}\n"
        "counting: {rule: precision_agnostic, source: s}\n"
        "compute:\n  pretraining:\n    monitor: {flop: 1.0e+25, source: s}\n"
        "    prohibited: {flop: 1.0e+22, source: nowhere}\n"
    )
    res = cli("policy", "validate", str(bad))
    assert res.returncode == 1
    assert f"{bad}:4: color: unknown field" in res.stdout
    assert f"{bad}:8: compute.pretraining: inverted tier order" in res.stdout
    assert (
        f"{bad}:10: compute.pretraining.prohibited.source: unknown source 'nowhere'" in res.stdout
    )
    assert "Traceback" not in res.stderr


def test_schema_is_json_schema() -> None:
    """`policy schema` prints a JSON Schema (2020-12) with documented properties."""
    schema = json.loads(cli("policy", "schema").stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["sources"]["description"]


def test_check_prints_findings(tmp_path: Path) -> None:
    """`policy check` explains each finding; --json gives the same evaluation as data."""
    facts = tmp_path / "facts.yaml"
    facts.write_text(FACTS)
    at = "2026-11-26T00:00:00Z"
    text = cli("policy", "check", "miri-2025", str(facts), "--at", at)
    assert text.returncode == 0, text.stderr
    assert "at its current rate it crosses the 1e+24 FLOP prohibition on 2026-12-03" in text.stdout
    assert "unmonitored_cluster" in text.stdout
    data = json.loads(cli("policy", "check", "miri-2025", str(facts), "--at", at, "--json").stdout)
    assert data["at"] == at
    # The approach and the early halt it calls for (it crosses before a halt could bind), and
    # the unmonitored cluster.
    assert data["summary"]["serious"] == 3
    assert "prohibition_projected" in {f["kind"] for f in data["findings"]}
    again = json.loads(cli("policy", "check", "miri-2025", str(facts), "--at", at, "--json").stdout)
    assert again == data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("policy", "show", "no-such-preset"), "no policy file or preset named 'no-such-preset'"),
        (("policy", "check", "miri-2025", "/nonexistent/facts.yaml"), "cannot read facts file"),
        (("policy", "check", "miri-2025", "-", "--at", "yesterday"), "--at: expected an ISO 8601"),
    ],
)
def test_bad_input_is_one_error_line(args: tuple[str, ...], message: str) -> None:
    """Bad input prints `error: ...` on one line, no traceback, exit code 1."""
    res = cli(*args)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_documented_example_shows_what_the_guide_says() -> None:
    """docs/examples/facts.yaml, evaluated as docs/policy.md shows, yields the findings the
    guide describes."""
    example = Path(__file__).parents[2] / "docs" / "examples" / "facts.yaml"
    res = cli(
        "policy", "check", "miri-2025", str(example), "--at", "2026-11-26T00:00:00Z", "--json"
    )
    assert res.returncode == 0, res.stderr
    found = {(f["subject"], f["kind"], f["severity"]) for f in json.loads(res.stdout)["findings"]}
    assert {
        ("run:r1", "threshold_approaching", "serious"),
        ("run:r1", "prohibition_projected", "serious"),
        ("run:r2", "undeclared_run", "serious"),
        ("cluster:c9", "unmonitored_cluster", "serious"),
        ("eval:e1", "capability_alert", "warning"),
        ("eval:e2", "capability_alert", "warning"),
        ("eval:e2", "capability_advisory", "info"),
        ("incident:i1", "notification_overdue", "warning"),
    } <= found
    assert ("eval:e1", "capability_advisory", "info") not in found
