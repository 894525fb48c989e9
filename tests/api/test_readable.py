"""Item 1 of the hardening issue: what a statement model accepts, every later layer can read.

Each trigger below was accepted with 201 and then made every read of the findings, the pause,
the runs and five dashboard pages answer 500, for good. Now the edge refuses it (422) and
every read still answers.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_world import (  # type: ignore[import-not-found]
    World,
    build_world,
    declaration,
    open_world,
)
from fastapi.testclient import TestClient
from readback import read_everything  # type: ignore[import-not-found]

from pausewatch.service import LogService
from pausewatch.statements import KeyPair, canonical, sign_statement, signing_input

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("readable-world"))


@pytest.fixture
def served(world: World, tmp_path: Path) -> Iterator[tuple[LogService, TestClient]]:
    with open_world(world, tmp_path / "copy") as (service, client, _clock):
        yield service, client


def _cluster(**extra: Any) -> dict[str, Any]:
    return {"cluster_id": "c9", "facility_id": "f1", "name": "C9", "network_gbps": 400.0} | extra


TRIGGERS = {
    "run starting in year 1": (
        "run.declaration/v1",
        declaration("r-old")
        | {"starts_at": "0001-01-01T00:00:00Z", "ends_at": "0001-02-01T00:00:00Z"},
    ),
    "cluster commissioned in year 999": (
        "cluster.register/v1",
        _cluster(commissioned_at="0999-01-01T00:00:00Z"),
    ),
    "primary data not in lower case": (
        "run.declaration/v1",
        declaration("r-bio") | {"primary_data": "Biological"},
    ),
    "a Unix time as a string": (
        "run.declaration/v1",
        declaration("r-unix") | {"starts_at": "1700000000"},
    ),
    "year 9999": (
        "run.declaration/v1",
        declaration("r-late") | {"ends_at": "9999-12-31T00:00:00Z"},
    ),
    "a date without a time": (
        "cluster.register/v1",
        _cluster(commissioned_at="2027-01-01"),
    ),
    "an offset that is not UTC": (
        "cluster.register/v1",
        _cluster(commissioned_at="2027-01-01T00:00:00+01:00"),
    ),
    "a control character in a name": ("cluster.register/v1", _cluster(name="C\u00079")),
}


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
def test_a_value_no_layer_can_read_is_refused_and_every_read_still_answers(
    served: tuple[LogService, TestClient], world: World, trigger: str
) -> None:
    """A value one layer would accept and another could not read is refused at the edge with a
    422 problem; nothing is appended, and every read answers without a server error."""
    service, client = served
    kind, body = TRIGGERS[trigger]
    size = service.log.size
    envelope = _signed_anyway(kind, body, world.keys["operator"])
    resp = client.post("/v1/statements", json=envelope)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert service.log.size == size
    assert read_everything(client) == []


def _signed_anyway(kind: str, body: dict[str, Any], key: KeyPair) -> dict[str, Any]:
    """An envelope signed over ``body`` without validating it first (a client that does not
    use our models)."""
    sig = key.sign(signing_input(kind, canonical(body)))
    return {
        "kind": kind,
        "body": body,
        "signer": key.signer_id,
        "sig": base64.b64encode(sig).decode(),
    }


def test_a_utc_offset_spelled_plus_zero_is_taken(
    served: tuple[LogService, TestClient], world: World
) -> None:
    """``+00:00`` is UTC as much as ``Z`` is."""
    _, client = served
    statement = sign_statement(
        "cluster.register/v1",
        _cluster(commissioned_at="2027-01-01T00:00:00+00:00"),
        world.keys["operator"],
    )
    assert client.post("/v1/statements", json=statement.to_json()).status_code == 201
    assert read_everything(client) == []


def _noncanonical_base64(key: KeyPair) -> str:
    """The same 32 key bytes with the unused low bits of the last base64 digit set."""
    text = key.signer_id.removeprefix("ed25519:")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(text[42])
    return "ed25519:" + text[:42] + alphabet[last | 1] + "="


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(_noncanonical_base64(KeyPair.generate("chip-x")), id="non-canonical base64"),
        pytest.param(
            "ed25519:" + base64.b64encode((2**255 - 18).to_bytes(32, "little")).decode(),
            id="y above the field prime",
        ),
        pytest.param(
            "ed25519:" + base64.b64encode((2).to_bytes(32, "little")).decode(),
            id="not on the curve",
        ),
    ],
)
def test_a_chip_key_must_be_a_canonical_ed25519_key(
    served: tuple[LogService, TestClient], world: World, key: str
) -> None:
    """A registry key that is not the canonical encoding of an Ed25519 point is refused
    (before, one record of such a chip made its whole telemetry batch fail)."""
    service, client = served
    size = service.log.size
    body = {
        "chip_id": "chip-x",
        "maker_id": "nv",
        "model": "H100 SXM",
        "serial": "SN-x",
        "key": key,
    }
    resp = client.post(
        "/v1/statements", json=_signed_anyway("chip.certify/v1", body, world.keys["chip_maker"])
    )
    assert resp.status_code == 422, resp.text
    assert "key" in resp.json()["detail"]
    assert service.log.size == size
