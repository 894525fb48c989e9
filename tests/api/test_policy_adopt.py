"""Adopting a policy on the log over HTTP: only the secretariat's key may, and a policy whose
digest does not match is refused with nothing appended."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.policy import load_preset, policy_digest, policy_to_json
from pausewatch.policy._statements import ADOPT_KIND, adoption_of, effective_policy
from pausewatch.service import SECRETARIAT_KEY_NAME, LogService
from pausewatch.settings import Settings
from pausewatch.statements import (
    KeyPair,
    canonical,
    load_key,
    parse_statement,
    sign_statement,
    signing_input,
)

PROBLEM = "application/problem+json"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=db_url, batch_latency_ms=1)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(LogService(settings))) as c:
        yield c


def adopt_body(preset: str, effective_at: str = "2026-12-01T00:00:00Z") -> dict[str, Any]:
    p = load_preset(preset)
    return {"policy": policy_to_json(p), "digest": policy_digest(p), "effective_at": effective_at}


def signed_raw(body: dict[str, Any], key: KeyPair) -> dict[str, Any]:
    """A correctly signed adoption whose body is not checked first (as a faulty client sends)."""
    sig = key.sign(signing_input(ADOPT_KIND, canonical(body)))
    return {
        "kind": ADOPT_KIND,
        "body": body,
        "signer": key.signer_id,
        "sig": base64.b64encode(sig).decode(),
    }


def size(client: TestClient) -> int:
    return int(client.get("/v1/log").json()["size"])


def test_secretariat_adopts_a_policy(client: TestClient, settings: Settings) -> None:
    """The secretariat's signed adoption is appended, and the log then says which policy is in
    force when."""
    secretariat = load_key(settings.keys_dir, SECRETARIAT_KEY_NAME)
    for preset, when in (
        ("eu-ai-act", "2026-12-01T00:00:00Z"),
        ("miri-2025", "2027-01-01T00:00:00Z"),
    ):
        statement = sign_statement(ADOPT_KIND, adopt_body(preset, when), secretariat)
        assert client.post("/v1/statements", json=statement.to_json()).status_code == 201
    adoptions = []
    for e in client.get("/v1/entries").json()["entries"]:
        s = parse_statement(e["entry"]["statement"])
        a = adoption_of(e["index"], datetime.fromisoformat(e["integrated_at"]), s)
        assert a is not None
        adoptions.append(a)
    assert effective_policy(adoptions, datetime(2026, 11, 30, tzinfo=UTC)) is None
    in_december = effective_policy(adoptions, datetime(2026, 12, 15, tzinfo=UTC))
    in_january = effective_policy(adoptions, datetime(2027, 1, 15, tzinfo=UTC))
    assert in_december is not None
    assert in_january is not None
    assert in_december.body.policy.id == "eu-ai-act"
    assert in_january.body.policy.id == "miri-2025"


def test_log_names_the_secretariat_key(client: TestClient, settings: Settings) -> None:
    """/v1/log publishes the secretariat's signer id, so that readers can check adoptions."""
    secretariat = load_key(settings.keys_dir, SECRETARIAT_KEY_NAME)
    assert client.get("/v1/log").json()["roles"] == {"secretariat": secretariat.signer_id}


def test_other_keys_may_not_adopt(client: TestClient) -> None:
    """An adoption signed by any other key is a 403 problem and the log does not change."""
    statement = sign_statement(ADOPT_KIND, adopt_body("miri-2025"), KeyPair.generate("lab"))
    response = client.post("/v1/statements", json=statement.to_json())
    assert response.status_code == 403
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["type"].endswith("forbidden-signer")
    assert "must be signed by the secretariat key" in problem["detail"]
    assert size(client) == 0


def test_digest_must_match_the_policy(client: TestClient, settings: Settings) -> None:
    """An adoption whose digest is not the policy's is refused as invalid; nothing is appended."""
    body = adopt_body("miri-2025")
    body["digest"] = "0" * 64
    key = load_key(settings.keys_dir, SECRETARIAT_KEY_NAME)
    response = client.post("/v1/statements", json=signed_raw(body, key))
    assert response.status_code == 422
    assert "digest does not match the policy" in response.json()["detail"]
    assert size(client) == 0


def test_invalid_policy_in_an_adoption_is_refused(client: TestClient, settings: Settings) -> None:
    """A policy with an inverted tier order cannot be adopted, even by the secretariat."""
    body = adopt_body("miri-2025")
    body["policy"]["compute"]["pretraining"]["prohibited"]["flop"] = 1e20
    key = load_key(settings.keys_dir, SECRETARIAT_KEY_NAME)
    response = client.post("/v1/statements", json=signed_raw(body, key))
    assert response.status_code == 422
    assert "inverted tier order" in response.json()["detail"]
    assert size(client) == 0
