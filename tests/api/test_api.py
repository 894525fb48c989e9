"""The log service's HTTP API, on SQLite and PostgreSQL, through FastAPI's test client."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.ledger import SignedCheckpoint, Verifier, verify_consistency, verify_inclusion
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import KeyPair, sign_statement

PROBLEM = "application/problem+json"


@pytest.fixture
def service(tmp_path: Path, db_url: str) -> LogService:
    return LogService(
        Settings(data_dir=tmp_path, database_url=db_url, batch_latency_ms=1, max_body_bytes=4096)
    )


@pytest.fixture
def client(service: LogService) -> Iterator[TestClient]:
    with TestClient(create_app(service)) as c:
        yield c


@pytest.fixture
def key(service: LogService) -> KeyPair:
    """The service's secretariat key: a registered signer, not held to the notice quota."""
    return service.secretariat_key


def notice(key: KeyPair, title: str) -> dict[str, Any]:
    return sign_statement("notice/v1", {"title": title}, key).to_json()


def log_key(client: TestClient) -> Verifier:
    return Verifier.from_string(client.get("/v1/log").json()["verifier_key"])


def state(client: TestClient) -> tuple[int, str]:
    info = client.get("/v1/log").json()
    return info["size"], info["root_hash"]


def test_submitted_statement_is_in_a_signed_checkpoint(client: TestClient, key: KeyPair) -> None:
    """An accepted statement is durable, readable, and provably in the signed checkpoint."""
    accepted = [client.post("/v1/statements", json=notice(key, f"n{i}")) for i in range(5)]
    assert [r.status_code for r in accepted] == [201] * 5
    assert [r.json()["index"] for r in accepted] == [0, 1, 2, 3, 4]
    # Each submission waited for its own batch, so its first checkpoint is its own.
    assert [r.json()["checkpoint_size"] for r in accepted] == [1, 2, 3, 4, 5]
    signed = SignedCheckpoint.open(client.get("/checkpoint").text, log_key(client))
    assert signed.checkpoint.size == 5
    entry = client.get("/v1/entries/3").json()
    data = base64.b64decode(entry["data"])
    assert entry["entry"]["statement"] == notice_body_of(entry)
    proof = client.get("/v1/proofs/inclusion", params={"index": 3}).json()
    verify_inclusion(
        data, 3, 5, [bytes.fromhex(h) for h in proof["proof"]], signed.checkpoint.root_hash
    )


def notice_body_of(entry: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = entry["entry"]["statement"]
    assert set(statement) == {"kind", "body", "signer", "sig"}
    return statement


def test_duplicate_statement_is_not_appended_twice(client: TestClient, key: KeyPair) -> None:
    """Resubmitting the same statement answers 200 with the first entry and appends nothing."""
    s = notice(key, "once")
    first = client.post("/v1/statements", json=s)
    again = client.post("/v1/statements", json=s)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    assert again.json()["index"] == first.json()["index"]
    assert again.json()["leaf_hash"] == first.json()["leaf_hash"]
    assert state(client)[0] == 1


def _bad_requests(key: KeyPair) -> list[tuple[str, bytes | dict[str, Any], int, str]]:
    good = notice(key, "good")
    other = notice(key, "other")
    return [
        ("malformed json", b'{"kind": ', 400, "malformed JSON"),
        ("not an object", b"[1, 2]", 422, "expected a JSON object"),
        ("unknown kind", {**good, "kind": "launch.codes/v1"}, 422, "launch.codes/v1"),
        ("unknown body field", {**good, "body": {"title": "x", "colour": 1}}, 422, "colour"),
        ("unknown envelope field", {**good, "extra": 1}, 422, "extra"),
        ("missing field", {k: v for k, v in good.items() if k != "sig"}, 422, "sig"),
        ("bad signature", {**good, "sig": other["sig"]}, 422, "does not verify"),
        ("sig not base64", {**good, "sig": "***"}, 422, "base64"),
        ("bad signer", {**good, "signer": "rsa:abc"}, 422, "signer"),
        ("invalid body", {**good, "body": {"title": ""}}, 422, "title"),
        ("too large", b'{"x": "' + b"a" * 5000 + b'"}', 413, "exceeds"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_bad_statement_gets_a_problem_and_changes_nothing(
    client: TestClient, key: KeyPair, case: int
) -> None:
    """Each bad submission gets an RFC 9457 problem naming the fault; the log is unchanged."""
    client.post("/v1/statements", json=notice(key, "before"))
    before = state(client)
    name, payload, status, needle = _bad_requests(key)[case]
    if isinstance(payload, bytes):
        resp = client.post(
            "/v1/statements", content=payload, headers={"content-type": "application/json"}
        )
    else:
        resp = client.post("/v1/statements", json=payload)
    assert resp.status_code == status, name
    assert resp.headers["content-type"].startswith(PROBLEM), name
    problem = resp.json()
    assert problem["status"] == status
    assert needle in problem["detail"], (name, problem)
    assert state(client) == before


def test_consistency_proofs_between_checkpoints_verify(client: TestClient, key: KeyPair) -> None:
    """Every earlier checkpoint is provably a prefix of the newest one."""
    for i in range(13):
        client.post("/v1/statements", json=notice(key, f"c{i}"))
    verifier = log_key(client)
    sizes = client.get("/v1/checkpoints").json()["sizes"]
    assert sizes[-1] == 13
    newest = SignedCheckpoint.open(client.get(f"/v1/checkpoints/{sizes[-1]}").text, verifier)
    for size in sizes[:-1]:
        old = SignedCheckpoint.open(client.get(f"/v1/checkpoints/{size}").text, verifier)
        proof = client.get("/v1/proofs/consistency", params={"old": size}).json()
        verify_consistency(
            size,
            13,
            [bytes.fromhex(h) for h in proof["proof"]],
            old.checkpoint.root_hash,
            newest.checkpoint.root_hash,
        )


def test_inclusion_proof_by_leaf_hash(client: TestClient, key: KeyPair) -> None:
    """A proof can be asked for by leaf hash and names the entry's index."""
    leaf = [client.post("/v1/statements", json=notice(key, f"l{i}")).json() for i in range(4)][2]
    proof = client.get("/v1/proofs/inclusion", params={"leaf_hash": leaf["leaf_hash"]}).json()
    assert proof["index"] == 2


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/v1/entries/7", {}, 404),
        ("/v1/proofs/inclusion", {"index": 9}, 404),
        ("/v1/proofs/inclusion", {"index": 0, "size": 99}, 400),
        ("/v1/proofs/inclusion", {"leaf_hash": "zz"}, 400),
        ("/v1/proofs/inclusion", {"leaf_hash": "00" * 32}, 404),
        ("/v1/proofs/inclusion", {}, 400),
        ("/v1/proofs/consistency", {"old": 3, "new": 1}, 400),
        ("/v1/proofs/consistency", {"old": -1}, 422),
        ("/v1/checkpoints/42", {}, 404),
        ("/v1/entries", {"limit": 5000}, 422),
    ],
)
def test_bad_reads_get_problems(
    client: TestClient, key: KeyPair, path: str, params: dict[str, Any], status: int
) -> None:
    """Out-of-range indices, sizes and malformed hashes are problem documents, not crashes."""
    for i in range(2):
        client.post("/v1/statements", json=notice(key, f"r{i}"))
    resp = client.get(path, params=params)
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith(PROBLEM)


def test_entries_are_paginated(client: TestClient, key: KeyPair) -> None:
    """Following `next` visits every entry exactly once, in order."""
    for i in range(7):
        client.post("/v1/statements", json=notice(key, f"p{i}"))
    seen: list[int] = []
    start: int | None = 0
    while start is not None:
        page = client.get("/v1/entries", params={"start": start, "limit": 3}).json()
        seen += [e["index"] for e in page["entries"]]
        start = page["next"]
    assert seen == list(range(7))


def test_no_checkpoint_before_the_first_entry(client: TestClient) -> None:
    """An empty log has no checkpoint yet: 404 problem."""
    resp = client.get("/checkpoint")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith(PROBLEM)


def test_openapi_documents_every_route(client: TestClient) -> None:
    """The OpenAPI document lists the routes with their descriptions."""
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/v1/statements",
        "/v1/entries/{index}",
        "/checkpoint",
        "/v1/proofs/inclusion",
        "/v1/proofs/consistency",
    ):
        assert path in spec["paths"]
    assert "problem" in spec["paths"]["/v1/statements"]["post"]["description"]
