"""`pausewatch detect plan|arl|interval` as a subprocess: the JSON contracts of issue 16."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from pausewatch.ledger import Checkpoint, Signer, root, sign_checkpoint


def test_plan_json_contract() -> None:
    """`detect plan --population N --defects M --detection P --json` prints sample_size and the
    exact detection, with the approximation beside them."""
    r = run_cli(
        "detect", "plan", "--population", "100", "--defects", "5", "--detection", "0.95", "--json"
    )
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["sample_size"] == 45
    assert body["detection"] == pytest.approx(0.953793656637913, rel=1e-12)
    assert body["approximate_sample_size"] == 46
    assert (body["population"], body["defects"], body["detection_target"]) == (100, 5, 0.95)


def test_plan_for_a_given_sample_size() -> None:
    """`detect plan --sample-size n` gives the detection of that sample instead."""
    r = run_cli(
        "detect", "plan", "--population", "100", "--defects", "5", "--sample-size", "45", "--json"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["detection"] == pytest.approx(0.953793656637913, rel=1e-12)


def test_plan_text_output() -> None:
    """Without --json, plan prints a sentence with the sample and its detection."""
    r = run_cli("detect", "plan", "--population", "1000", "--defects", "10", "--detection", "0.95")
    assert r.returncode == 0, r.stderr
    assert "verify 258 of 1000 items" in r.stdout
    assert "0.950204" in r.stdout


def test_arl_json_contract() -> None:
    """`detect arl --k 0.5 --h 4 --shift 1 --json` prints the ARL (8.38, as published), the
    in-control ARL and the false-alarm probability per period."""
    r = run_cli("detect", "arl", "--k", "0.5", "--h", "4", "--shift", "1", "--json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["arl"] == pytest.approx(8.38, rel=0.01)
    assert body["in_control_arl"] == pytest.approx(336.0, rel=0.01)
    assert body["false_alarm_per_period"] == pytest.approx(1 / body["in_control_arl"])
    assert body["two_sided_arl"] == pytest.approx(8.38, rel=0.01)
    assert body["markov_chain_arl"] == pytest.approx(body["arl"], rel=1e-3)


def test_arl_text_output() -> None:
    """Without --json, arl prints the ARL and the in-control false-alarm rate."""
    r = run_cli("detect", "arl", "--k", "0.5", "--h", "5")
    assert r.returncode == 0, r.stderr
    assert "ARL 930.887" in r.stdout
    assert "two-sided scheme (same k, h): ARL 465.444" in r.stdout


def test_interval_json() -> None:
    """`detect interval --k 0.5 --in-control-arl 740 --json` gives h = 4.77."""
    r = run_cli("detect", "interval", "--k", "0.5", "--in-control-arl", "740", "--json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["h"] == pytest.approx(4.77, abs=0.01)
    assert body["in_control_arl"] == pytest.approx(740.0, rel=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["plan", "--population", "10", "--defects", "50", "--detection", "0.9"],
            "defects: expected at most the population (10), got 50",
        ),
        (
            ["plan", "--population", "10", "--defects", "5", "--detection", "1.5", "--json"],
            "detection: expected a probability strictly between 0 and 1, got 1.5",
        ),
        (["plan", "--population", "10", "--defects", "5"], "expected exactly one of"),
        (["arl", "--k", "0.5", "--h", "-1", "--json"], "h: expected a decision interval"),
        (["interval", "--k", "0.5", "--in-control-arl", "1"], "in-control ARL: expected"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(args: list[str], message: str) -> None:
    """Bad input prints one error line on stderr, nothing on stdout, and exits 1."""
    r = run_cli("detect", *args)
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert message in lines[0]
    assert lines[0].startswith("error:")


def test_arl_when_the_in_control_run_is_beyond_reach() -> None:
    """A design whose in-control ARL is beyond 1e12 periods still answers the shifted ARL, with
    in_control_arl and the false-alarm rate null (it failed the whole command before)."""
    r = run_cli("detect", "arl", "--k", "1.5", "--h", "10", "--shift", "2", "--json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["arl"] == pytest.approx(20.37, rel=1e-3)
    assert body["in_control_arl"] is None
    assert body["false_alarm_per_period"] is None


ORIGIN = "log.pausewatch.example/v1"


def _signed_checkpoint(tmp_path: Path, size: int) -> tuple[Path, str, bytes]:
    """A real checkpoint note of a tree of ``size`` leaves, signed by a fresh log key."""
    key = Signer.generate(ORIGIN)
    tree_root = root([f"entry {i}".encode() for i in range(size)])
    note = tmp_path / f"checkpoint-{size}.txt"
    note.write_text(sign_checkpoint(Checkpoint(ORIGIN, size, tree_root), key))
    return note, key.verifier().to_string(), tree_root


def test_draw_from_a_checkpoint_after_the_commitment(tmp_path: Path) -> None:
    """`detect draw ITEMS --count K --checkpoint NOTE --log-key KEY --commitment-index I` draws
    K items from the checkpoint's root, the same as `--seed ROOT` recomputes."""
    items = tmp_path / "chips.txt"
    items.write_text("".join(f"chip-{i:04d}\n" for i in range(200)))
    note, log_key, tree_root = _signed_checkpoint(tmp_path, 12)
    common = ["detect", "draw", str(items), "--count", "7", "--context", "plan 1: chips"]
    r = run_cli(
        *common,
        "--checkpoint",
        str(note),
        "--log-key",
        log_key,
        "--commitment-index",
        "11",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert len(body["items"]) == 7
    assert body["seed"] == tree_root.hex()
    again = run_cli(*common, "--seed", tree_root.hex(), "--json")
    assert json.loads(again.stdout)["items"] == body["items"]


def test_draw_refuses_a_checkpoint_before_the_commitment(tmp_path: Path) -> None:
    """A checkpoint whose tree does not yet hold the commitment is refused: one line, exit 1."""
    items = tmp_path / "chips.txt"
    items.write_text("a\nb\nc\n")
    note, log_key, _ = _signed_checkpoint(tmp_path, 12)
    r = run_cli(
        "detect",
        "draw",
        str(items),
        "--count",
        "1",
        "--checkpoint",
        str(note),
        "--log-key",
        log_key,
        "--commitment-index",
        "12",
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "known before the plan" in lines[0]
