"""The witness over HTTP (FastAPI TestClient): status codes, content types and bodies."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pausewatch.ledger import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    MerkleTree,
    SignedCheckpoint,
    Signer,
    sign_checkpoint,
)
from pausewatch.store import make_engine, sqlite_url
from pausewatch.witness import (
    MAX_BODY_BYTES,
    MemoryWitnessStore,
    SqlWitnessStore,
    Witness,
    create_witness_app,
    serve_witness,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
ORIGIN = "example.org/pausewatch-log"
TEXT = "text/plain; charset=utf-8"


class FakeLog:
    """A log: a real Merkle tree and a real Ed25519 key named after its origin."""

    def __init__(self, origin: str = ORIGIN) -> None:
        self.origin = origin
        self.signer = Signer.generate(origin)
        self.tree = MerkleTree(f"entry {i}".encode() for i in range(8))

    def note(self, size: int) -> str:
        return sign_checkpoint(Checkpoint(self.origin, size, self.tree.root(size)), self.signer)

    def body(self, old: int, size: int, proof: list[bytes] | None = None) -> bytes:
        if proof is None:
            proof = self.tree.consistency_proof(old, size) if old else []
        lines = [f"old {old}", *(base64.b64encode(p).decode() for p in proof)]
        return ("\n".join(lines) + "\n\n" + self.note(size)).encode()


@pytest.fixture
def log() -> FakeLog:
    return FakeLog()


@pytest.fixture
def witness_key() -> Signer:
    return Signer.generate("witness.example/w1")


@pytest.fixture
def client(witness_key: Signer, log: FakeLog) -> Iterator[TestClient]:
    witness = Witness(witness_key, {ORIGIN: [log.signer.verifier()]}, MemoryWitnessStore())
    with TestClient(create_witness_app(witness, lambda: NOW)) as c:
        yield c


def _post(client: TestClient, body: bytes) -> tuple[int, str, str]:
    r = client.post("/add-checkpoint", content=body)
    return r.status_code, r.headers["content-type"], r.text


def test_cosign_over_http(client: TestClient, log: FakeLog, witness_key: Signer) -> None:
    """POST /add-checkpoint answers 200 text/plain with a verifying cosignature line."""
    status, ctype, body = _post(client, log.body(0, 5))
    assert (status, ctype) == (200, TEXT)
    signed = SignedCheckpoint.open(
        log.note(5) + body, log.signer.verifier(), [witness_key.verifier()]
    )
    assert [c.timestamp for c in signed.cosignatures] == [int(NOW.timestamp())]
    assert _post(client, log.body(5, 8))[0] == 200


def test_conflict_over_http(client: TestClient, log: FakeLog) -> None:
    """A wrong old size answers 409 with Content-Type exactly text/x.tlog.size."""
    assert _post(client, log.body(0, 5))[0] == 200
    assert _post(client, log.body(3, 8)) == (409, "text/x.tlog.size", "5\n")


def test_errors_over_http(client: TestClient, log: FakeLog) -> None:
    """400, 403, 404 and 422 travel with their status codes as text/plain."""
    assert _post(client, b"old 01\n\n" + log.note(5).encode())[:2] == (400, TEXT)
    assert _post(client, FakeLog().body(0, 5))[:2] == (403, TEXT)
    assert _post(client, FakeLog("other.example/log").body(0, 5))[:2] == (404, TEXT)
    assert _post(client, log.body(0, 3))[0] == 200
    assert _post(client, log.body(3, 8, proof=[b"\x00" * 32]))[:2] == (422, TEXT)


def test_body_too_large(client: TestClient) -> None:
    """A body over 1 MiB answers 413."""
    status, ctype, _ = _post(client, b"old 0\n" + b"A" * MAX_BODY_BYTES)
    assert (status, ctype) == (413, TEXT)


def test_wrong_method(client: TestClient) -> None:
    """GET /add-checkpoint is not allowed (405)."""
    assert client.get("/add-checkpoint").status_code == 405


def test_describe_and_health(client: TestClient, witness_key: Signer) -> None:
    """GET / describes the witness and its logs; GET /healthz answers ok."""
    r = client.get("/")
    assert r.status_code == 200
    assert r.json() == {
        "name": "witness.example/w1",
        "verifier_key": witness_key.verifier(ALG_COSIGNATURE_V1).to_string(),
        "logs": [ORIGIN],
    }
    assert client.get("/healthz").json() == {"status": "ok"}


def test_openapi_documents_routes(client: TestClient) -> None:
    """The OpenAPI document describes add-checkpoint with its status codes."""
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/add-checkpoint"]["post"]
    assert op["description"].startswith("c2sp.org/tlog-witness")
    assert {"200", "400", "403", "404", "409", "413", "422"} <= set(op["responses"])
    assert {"/", "/healthz"} <= set(spec["paths"])


def test_serve_witness_builds_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, witness_key: Signer, log: FakeLog
) -> None:
    """serve_witness migrates the database, loads the keys and hands a working app to uvicorn."""
    key_file = tmp_path / "witness.key"
    key_file.write_text(witness_key.to_string() + "\n")
    logs_file = tmp_path / "logs.txt"
    logs_file.write_text(f"# logs\n{log.signer.verifier().to_string()}\n")
    served: dict[str, Any] = {}

    def fake_run(app: FastAPI, host: str, port: int) -> None:
        served.update(host=host, port=port)
        with TestClient(app) as c:
            served["status"] = c.post("/add-checkpoint", content=log.body(0, 4)).status_code

    monkeypatch.setattr(uvicorn, "run", fake_run)
    db = tmp_path / "state" / "witness.db"
    serve_witness(key_file, logs_file, sqlite_url(db), host="127.0.0.1", port=9999)
    assert served == {"host": "127.0.0.1", "port": 9999, "status": 200}
    engine = make_engine(sqlite_url(db))
    try:
        state = SqlWitnessStore(engine).get(ORIGIN)
    finally:
        engine.dispose()
    assert state is not None
    assert state.size == 4
