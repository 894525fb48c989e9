"""Item 1 of the hardening issue: what a statement model accepts, every later layer can read.

Each trigger below was accepted with 201 and then made every read of the findings, the pause,
the runs and five dashboard pages answer 500, for good. Now the edge refuses it (422) and
every read still answers.
"""

from __future__ import annotations

import base64
import hashlib
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
from readback import read_everything, sign_unchecked  # type: ignore[import-not-found]

from pausewatch.ledger import PendingEntry
from pausewatch.service import LogService
from pausewatch.state._facts import readable_facts
from pausewatch.statements import KeyPair, canonical, sign_statement

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
    envelope = sign_unchecked(kind, body, world.keys["operator"])
    resp = client.post("/v1/statements", json=envelope)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == PROBLEM
    assert service.log.size == size
    assert read_everything(client) == []


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
        "/v1/statements", json=sign_unchecked("chip.certify/v1", body, world.keys["chip_maker"])
    )
    assert resp.status_code == 422, resp.text
    assert "key" in resp.json()["detail"]
    assert service.log.size == size


def _append_as_an_older_version_did(service: LogService, envelope: dict[str, Any]) -> int:
    """Put ``envelope`` on the log without the service's checks, as a log written by an older
    version (with laxer models) holds it, and fold it; return its index."""
    data = canonical(envelope)
    appended = service.sequencer.submit(
        PendingEntry(data, dedup_key=hashlib.sha256(data).digest())
    ).result(timeout=30)
    service.state.catch_up(service.log)
    return appended.index


def test_an_entry_the_fold_cannot_read_is_isolated_and_reported(
    served: tuple[LogService, TestClient], world: World
) -> None:
    """An entry on the log that this version cannot read (accepted by an older one) is set
    aside: listed in the unreadable view with its index and reason, reported as an
    ``entry_unreadable`` finding, and every read, later statement and decision goes on."""
    service, client = served
    envelope = sign_unchecked(
        "run.declaration/v1",
        declaration("r-bio") | {"primary_data": "Biological"},
        world.keys["operator"],
    )
    index = _append_as_an_older_version_did(service, envelope)
    rows = client.get("/v1/views/unreadable").json()["rows"]
    assert [(r["idx"], r["kind"]) for r in rows] == [(index, "run.declaration/v1")]
    assert "primary_data" in rows[0]["reason"]
    findings = client.get("/v1/findings", params={"limit": 1000}).json()["findings"]
    assert any(f["kind"] == "entry_unreadable" and f["subject"] == f"log:{index}" for f in findings)
    assert read_everything(client) == []
    later = sign_statement("run.declaration/v1", declaration("r-next"), world.keys["operator"])
    assert client.post("/v1/statements", json=later.to_json()).status_code == 201
    assert client.get("/v1/runs/r-next").status_code == 200
    assert service.state.rebuild(service.log).identical


def test_a_handler_that_fails_isolates_its_entry_and_refuses_new_ones(
    served: tuple[LogService, TestClient], world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fold handler that fails otherwise than by rejecting (a defect of this version) can
    no longer stop the fold: a new statement of that kind is refused with 422, and one already
    on the log is isolated while the entries after it are folded."""
    service, client = served

    def broken(ctx: object, body: object) -> None:
        raise ZeroDivisionError("a defect in the handler")

    handlers = {**service.state.registry.handlers, "cluster.register/v1": broken}
    monkeypatch.setattr(service.state.registry, "handlers", handlers)
    statement = sign_statement("cluster.register/v1", _cluster(), world.keys["operator"])
    size = service.log.size
    resp = client.post("/v1/statements", json=statement.to_json())
    assert resp.status_code == 422, resp.text
    assert "ZeroDivisionError" in resp.json()["detail"]
    assert service.log.size == size
    index = _append_as_an_older_version_did(service, statement.to_json())
    assert service.state.registry.get("unreadable", index) is not None
    after = sign_statement("run.declaration/v1", declaration("r-after"), world.keys["operator"])
    assert client.post("/v1/statements", json=after.to_json()).status_code == 201
    assert service.state.registry.applied == service.log.size
    assert read_everything(client) == []


def test_a_second_base_model_for_one_model_breaks_no_read(
    served: tuple[LogService, TestClient], world: World
) -> None:
    """A run of a model that names another base model than the model's earlier runs did is
    refused (409: a model has one base), and every read still answers."""
    _, client = served
    clash = declaration("r-clash") | {"model": "m-r1", "base_model": "other"}
    statement = sign_statement("run.declaration/v1", clash, world.keys["operator"])
    resp = client.post("/v1/statements", json=statement.to_json())
    assert resp.status_code == 409, resp.text
    assert "base model" in resp.json()["detail"]
    assert read_everything(client) == []


def test_a_lineage_cycle_is_refused(served: tuple[LogService, TestClient], world: World) -> None:
    """A run whose base model descends from its own model would make the lineage a cycle,
    which the policy cannot sum (it raised, answered 500): refused with 409."""
    _, client = served
    first = declaration("r-a") | {"model": "m-a", "base_model": "m-b"}
    cycle = declaration("r-b") | {"model": "m-b", "base_model": "m-a"}
    for body, status in ((first, 201), (cycle, 409)):
        statement = sign_statement("run.declaration/v1", body, world.keys["operator"])
        resp = client.post("/v1/statements", json=statement.to_json())
        assert resp.status_code == status, resp.text
    assert read_everything(client) == []


def test_items_the_policy_cannot_read_are_set_aside_one_by_one() -> None:
    """Facts built from views the policy cannot wholly read keep every readable item: an
    item that fails alone, and the later of two that contradict each other, are set aside as
    ``unreadable`` facts naming their entries."""
    good = {
        "id": "r1",
        "operator": "lab",
        "model": "m1",
        "phase": "pretraining",
        "declared": {"value": 1e22},
        "evidence": ["log:5"],
    }
    bad = good | {"id": "r2", "primary_data": "Biological", "evidence": ["log:6"]}
    clash = good | {"id": "r3", "base_model": "m0", "evidence": ["log:7"]}
    facts = readable_facts({"runs": [good, bad, clash]})
    assert [r.id for r in facts.runs] == ["r1"]
    assert [(u.entry, u.kind) for u in facts.unreadable] == [
        ("log:6", "run r2"),
        ("log:7", "run r3"),
    ]


def test_the_log_page_lists_an_entry_that_is_not_json(
    served: tuple[LogService, TestClient],
) -> None:
    """An entry whose bytes are not even JSON (a log an older or faulty writer filled) is listed
    on the log page as of an unknown kind, with its index and leaf hash, beside the entries that
    read; before, listing it failed the whole page with a 500."""
    service, client = served
    data = b"\xffnot a statement"
    appended = service.sequencer.submit(
        PendingEntry(data, dedup_key=hashlib.sha256(data).digest())
    ).result(timeout=30)
    service.state.catch_up(service.log)
    page = client.get("/ui/log", params={"start": appended.index, "refresh": 0})
    assert page.status_code == 200, page.text
    row = page.text.split(f">{appended.index}<", 1)[1].split("</tr>", 1)[0]
    assert "unknown" in row
    assert appended.leaf_hash.hex()[:16] in row
    assert client.get("/ui/log", params={"refresh": 0}).status_code == 200


def test_the_log_page_reads_whole_only_the_entries_neither_folded_nor_listed_lately(
    served: tuple[LogService, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log page lists each entry's kind and signer. The fold notes them as it reads each
    entry, so the page reads no entry's bytes for what this process folded (a page of
    telemetry batches is megabytes); what it finds noted nowhere (a process that resumed its
    views, or names dropped) it reads whole once. What it lists is the same either way."""
    from pausewatch.state import EntryNames
    from pausewatch.web._pages import log_index

    service, client = served
    listed = log_index(service, None)["entries"]
    read: list[tuple[int, int]] = []
    entries = service.log.entries

    def counted(start: int, limit: int) -> Any:
        read.append((start, limit))
        return entries(start, limit)

    monkeypatch.setattr(service.log, "entries", counted)
    assert client.get("/ui/log", params={"refresh": 0}).status_code == 200
    assert log_index(service, None)["entries"] == listed
    assert read == []
    data = b'{"kind":"k/v1","signer":"s"}'  # the log wraps it in its entry
    appended = service.sequencer.submit(
        PendingEntry(data, dedup_key=hashlib.sha256(data).digest())
    ).result(timeout=30)
    service.state.catch_up(service.log)
    read.clear()
    page = client.get("/ui/log", params={"refresh": 0})
    assert read == []  # folded: named by the fold
    row = page.text.split(f">{appended.index}<", 1)[1].split("</tr>", 1)[0]
    assert "k/v1" in row
    again = log_index(service, None)["entries"]
    monkeypatch.setattr(service.state, "entry_names", EntryNames())  # as after a restart
    assert log_index(service, None)["entries"] == again
    first = again[-1]["index"]
    assert read == [(first, appended.index - first + 1)]
    read.clear()
    assert log_index(service, None)["entries"] == again
    assert read == []
