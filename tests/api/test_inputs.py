"""Regressions for what schemathesis found: inputs that made the service fail (500) or that it
took when its document says it should not. Each is now a 4xx problem document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import sign_statement

PROBLEM = "application/problem+json"
TOO_BIG = str(2**63)
"""Beyond SQLite's integers: binding it raised OverflowError, answered 500."""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    service = LogService(Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0))
    with TestClient(create_app(service)) as c:
        statement = sign_statement("notice/v1", {"title": "one"}, service.secretariat_key)
        assert c.post("/v1/statements", json=statement.to_json()).status_code == 201
        yield c


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/entries", {"start": TOO_BIG}),
        ("/v1/checkpoints", {"start": TOO_BIG}),
        (f"/v1/checkpoints/{TOO_BIG}", {}),
        (f"/v1/entries/{TOO_BIG}", {}),
        ("/v1/proofs/inclusion", {"index": TOO_BIG}),
        ("/v1/proofs/consistency", {"old": TOO_BIG}),
        ("/v1/views/keys", {"offset": TOO_BIG}),
    ],
)
def test_an_index_past_any_database_integer_is_a_422(
    client: TestClient, path: str, params: dict[str, str]
) -> None:
    """An index, size or offset over 2**53 - 1 is refused before it reaches the database."""
    resp = client.get(path, params=params)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "at",
    [
        "0.25",  # pydantic read it as a Unix time
        "1767225600",
        "2027-01-01",  # a date is not a date-time
        "2027-01-01T00:00:00",  # no offset
        "0001-01-01T00:00:00+01:00",  # UTC is before year 1: OverflowError, 500
        "9999-12-31T23:00:00Z",  # past the range: date arithmetic on it nears year 9999
    ],
)
def test_at_must_be_an_rfc3339_time_in_range(client: TestClient, at: str) -> None:
    """``at`` takes an RFC 3339 date-time with its offset, from 1970 to 9000, nothing else."""
    resp = client.get("/v1/pause", params={"at": at})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("at", ["2027-01-01T00:00:00Z", "2027-01-01T02:00:00.5+02:00"])
def test_an_rfc3339_at_is_taken(client: TestClient, at: str) -> None:
    """With a Z or an offset, to the second or finer."""
    assert client.get("/v1/pause", params={"at": at}).status_code == 200


def test_a_405_keeps_its_allow_header(client: TestClient) -> None:
    """The problem document for a wrong method still says which methods the path takes."""
    resp = client.delete("/v1/log")
    assert resp.status_code == 405
    assert resp.headers["content-type"] == PROBLEM
    assert "GET" in resp.headers["allow"]


def test_every_error_answer_is_documented_as_a_problem(client: TestClient) -> None:
    """The OpenAPI document gives every operation a problem-document default answer, and its
    422 is a problem too (not FastAPI's own validation shape)."""
    doc = client.get("/openapi.json").json()
    assert "Problem" in doc["components"]["schemas"]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert PROBLEM in responses["default"]["content"], (method, path)
            if "422" in responses:
                assert list(responses["422"]["content"]) == [PROBLEM], (method, path)
