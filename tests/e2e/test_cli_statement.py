"""`pausewatch statement kinds` and `statement submit` as a user runs them: each kind with its
signing role and fields, and both commands with --json for scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import run_cli
from pausewatch.statements import kinds


def _ok(*args: str) -> str:
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kinds_json_gives_every_kind_with_its_role_and_fields() -> None:
    """`statement kinds --json`: one object per kind, with the signing role and each field's
    name, type, whether it is required and its description."""
    listed = json.loads(_ok("statement", "kinds", "--json"))
    assert [k["kind"] for k in listed] == kinds()
    for k in listed:
        assert set(k) == {"kind", "signed_by", "description", "fields"}
        assert k["signed_by"]
        assert k["description"]
        for f in k["fields"]:
            assert set(f) == {"name", "type", "required", "description"}
            assert isinstance(f["required"], bool)
            assert f["type"]
    by_kind = {k["kind"]: k for k in listed}
    assert by_kind["chip.certify/v1"]["signed_by"] == "chip_maker"
    assert by_kind["policy.adopt/v1"]["signed_by"] == "secretariat"
    title, text = by_kind["notice/v1"]["fields"][:2]
    assert title == {
        "name": "title",
        "type": "str",
        "required": True,
        "description": "One-line title.",
    }
    assert text["name"] == "text"
    assert text["required"] is False
    vote = {f["name"]: f for f in by_kind["gov.vote/v1"]["fields"]}
    assert vote["choice"]["type"] == "'yes' | 'no' | 'abstain'"
    assert vote["cast_at"]["type"] == "datetime | null"


def test_kinds_text_names_the_signer_and_describes_the_fields() -> None:
    """`statement kinds KIND` prints the role that signs it and a line per field."""
    shown = _ok("statement", "kinds", "operator.register/v1")
    assert "operator.register/v1  signed by: party" in shown
    assert "party_id" in shown
    assert "(required)" in shown
    assert "The key that signs the operator's statements." in shown


def test_kinds_of_an_unknown_kind_is_one_error_line() -> None:
    """An unknown kind is refused with one line naming the known kinds."""
    done = run_cli("statement", "kinds", "nope/v1")
    assert done.returncode == 1
    assert done.stderr.startswith("error: unknown statement kind 'nope/v1'")
    assert len(done.stderr.strip().splitlines()) == 1


def test_submit_prints_the_entry_and_with_json_the_accepted_object(
    tmp_path: Path, start_log: Any
) -> None:
    """`statement submit` says which entry the statement became (and that a resubmission is
    already on the log); with --json it prints the service's answer as JSON."""
    data = tmp_path / "log"
    server = start_log(data)
    keys = str(data / "keys")
    notice = json.dumps({"title": "log established"})
    signed = _ok(
        "statement", "sign", "notice/v1", notice, "--key", "secretariat", "--keys-dir", keys
    )
    (tmp_path / "s.json").write_text(signed)
    first = _ok("statement", "submit", str(tmp_path / "s.json"), "--url", server.url)
    assert first.startswith("logged as entry 0 (leaf ")
    again = json.loads(
        _ok("statement", "submit", str(tmp_path / "s.json"), "--url", server.url, "--json")
    )
    assert again["index"] == 0
    assert again["duplicate"] is True
    assert set(again) >= {"index", "leaf_hash", "integrated_at", "checkpoint_size"}
    text = _ok("statement", "submit", str(tmp_path / "s.json"), "--url", server.url)
    assert text.startswith("already on the log as entry 0")
