"""A statement re-sent (a retry whose answer was lost) is answered 200 with its entry and with
its current effect: whether what it did still stands, or which later entry undid it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import (  # type: ignore[import-not-found]
    World,
    build_world,
    declaration,
    fmt,
    open_world,
)
from fastapi.testclient import TestClient

from pausewatch.statements import KeyPair, sign_statement

ANSWER_KEYS = {"index", "leaf_hash", "integrated_at", "duplicate", "checkpoint_size", "effect"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    built: World = build_world(tmp_path_factory.mktemp("dups") / "world")
    return built


@pytest.fixture
def client(world: World, tmp_path: Path) -> Iterator[TestClient]:
    with open_world(world, tmp_path / "copy") as (_service, c, _clock):
        yield c


def send(client: TestClient, statement: dict[str, Any], status: int) -> dict[str, Any]:
    resp = client.post("/v1/statements", json=statement)
    assert resp.status_code == status, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


def signed(world: World, role: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return sign_statement(kind, body, world.keys[role]).to_json()


def test_a_registration_whose_key_was_revoked(world: World, client: TestClient) -> None:
    """Re-sending an operator's registration after its party revoked the key: 200, the same
    entry, and an effect that no longer stands, undone by the revocation."""
    lab3 = KeyPair.generate("lab3")
    body = {"operator_id": "lab3", "party_id": "us", "name": "Lab 3", "key": lab3.signer_id}
    registration = signed(world, "party", "operator.register/v1", body)
    first = send(client, registration, 201)
    assert first["effect"] == {
        "stands": True,
        "undone_by": None,
        "detail": f"key {lab3.signer_id} of operator 'lab3' is live",
    }
    revoke = {"subject_kind": "operator", "subject_id": "lab3", "reason": "compromised"}
    revoked = send(client, signed(world, "party", "key.revoke/v1", revoke), 201)
    again = send(client, registration, 200)
    assert set(again) == ANSWER_KEYS
    assert again["duplicate"] is True
    assert {k: again[k] for k in ("index", "leaf_hash")} == {
        k: first[k] for k in ("index", "leaf_hash")
    }
    assert again["effect"]["stands"] is False
    assert again["effect"]["undone_by"] == revoked["index"]
    assert "revoked" in again["effect"]["detail"]
    assert "compromised" in again["effect"]["detail"]


def test_a_declaration_whose_run_has_ended(world: World, client: TestClient) -> None:
    """Re-sending a run's declaration after the run ended says it ended, and at which entry;
    one whose run goes on still stands."""
    ended = signed(world, "operator", "run.declaration/v1", declaration("r-ended"))
    going = signed(world, "operator", "run.declaration/v1", declaration("r-going"))
    send(client, ended, 201)
    send(client, going, 201)
    end = {"run_id": "r-ended", "at": fmt(world.now), "outcome": "abandoned"}
    finished = send(client, signed(world, "operator", "run.end/v1", end), 201)
    again = send(client, ended, 200)
    assert again["effect"]["stands"] is False
    assert again["effect"]["undone_by"] == finished["index"]
    assert "abandoned" in again["effect"]["detail"]
    still = send(client, going, 200)
    assert still["effect"]["stands"] is True
    assert still["effect"]["undone_by"] is None


def test_a_position_superseded_by_a_later_one(world: World, client: TestClient) -> None:
    """A party's earlier position, re-sent, is answered as superseded by its later one."""
    src = "https://example.org/stance"
    early = signed(
        world,
        "party",
        "position/v1",
        {"stance": "opposes", "source": src, "as_of": "2027-01-01T00:00:00Z"},
    )
    late = {"stance": "backs", "source": src, "as_of": "2027-01-02T00:00:00Z"}
    send(client, early, 201)
    later = send(client, signed(world, "party", "position/v1", late), 201)
    again = send(client, early, 200)
    assert again["effect"]["stands"] is False
    assert again["effect"]["undone_by"] == later["index"]


def test_a_chip_sold_on(world: World, client: TestClient) -> None:
    """A sale re-sent after the buyer sold the chip on is answered with the later sale."""
    sale = signed(
        world, "operator", "chip.transfer/v1", {"chip_id": "chip-2", "to_operator": "lab-b"}
    )
    send(client, sale, 201)
    back = {"chip_id": "chip-2", "to_operator": "lab"}
    resale = send(client, signed(world, "operator-b", "chip.transfer/v1", back), 201)
    again = send(client, sale, 200)
    assert again["effect"]["stands"] is False
    assert again["effect"]["undone_by"] == resale["index"]
    assert "'lab'" in again["effect"]["detail"]


def test_a_notice_has_no_effect_to_undo(world: World, client: TestClient) -> None:
    """A notice decides nothing: its answer, first or re-sent, carries a null effect."""
    notice = signed(world, "party", "notice/v1", {"title": "hello"})
    assert send(client, notice, 201)["effect"] is None
    assert send(client, notice, 200)["effect"] is None
