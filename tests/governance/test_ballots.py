"""Which ballots count, as a table over the real service: early, in-window, late, rotated,
revoked and second keys. Each row plays its ballots through the API with a clock the test
moves, lets the clerk file the decision, and checks the outcome the service stored, the
ballots it refused, and that an audit of the log alone reaches the same outcome."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pausewatch.api import create_app
from pausewatch.audit import audit_log
from pausewatch.policy import Policy, load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import KeyPair, load_key, sign_statement

START = datetime(2027, 2, 1, tzinfo=UTC)
PARTIES = ("aa", "bb", "cc", "dd")
"""Four parties: the Conference's quorum (half) is two of them."""
PID = "halt-x"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now


@dataclass(frozen=True)
class Step:
    """One thing a row does: a ballot (``who`` votes ``choice``), a key change, or the
    clock's move (``"close"``: past the vote's close)."""

    what: str
    who: str = ""
    choice: str = ""
    accepted: bool = True
    """Whether the service takes it (a refused ballot never reaches the log)."""


def ballot(who: str, choice: str, *, accepted: bool = True) -> Step:
    return Step("vote", who, choice, accepted)


EARLY = Step("early", "aa", "yes", accepted=False)
"""A ballot on the proposal before it is on the log (before the vote opens)."""
CLOSE = Step("close")
ROTATE = Step("rotate", "aa")
"""Party ``aa`` rotates its own key (``aa`` to ``aa-new``)."""
REVOKE = Step("revoke", "aa")
"""Party ``aa`` revokes its delegate key ``aa-d1``."""
SECOND = Step("second", "aa")
"""Party ``aa`` registers a second delegate key, ``aa-d2``."""

# (name, steps, (passed, yes, no, abstain))
ROWS: list[tuple[str, list[Step], tuple[bool, int, int, int]]] = [
    (
        "in window",
        [ballot("aa-d1", "yes"), ballot("bb-d1", "yes"), ballot("cc-d1", "no"), CLOSE],
        (True, 2, 1, 0),
    ),
    (
        "early ballots are refused",
        [EARLY, ballot("bb-d1", "yes"), ballot("cc-d1", "no"), CLOSE],
        (False, 1, 1, 0),
    ),
    (
        "late ballots are refused",
        [
            ballot("aa-d1", "yes"),
            ballot("bb-d1", "yes"),
            CLOSE,
            ballot("cc-d1", "no", accepted=False),
            ballot("dd-d1", "no", accepted=False),
        ],
        (True, 2, 0, 0),
    ),
    (
        "a late ballot from a party's second key leaves its in-window ballot standing",
        [
            SECOND,
            ballot("aa-d1", "yes"),
            ballot("bb-d1", "yes"),
            CLOSE,
            ballot("aa-d2", "no", accepted=False),
        ],
        (True, 2, 0, 0),
    ),
    (
        "a second key's later ballot in the window is the party's last word",
        [SECOND, ballot("aa-d1", "yes"), ballot("bb-d1", "yes"), ballot("aa-d2", "no"), CLOSE],
        (False, 1, 1, 0),
    ),
    (
        "the first key's ballot after the second key's counts",
        [SECOND, ballot("aa-d2", "no"), ballot("bb-d1", "yes"), ballot("aa-d1", "yes"), CLOSE],
        (True, 2, 0, 0),
    ),
    (
        "a rotated key's ballot from before the rotation counts; after it, it is refused",
        [
            ballot("aa", "yes"),
            ROTATE,
            ballot("aa", "no", accepted=False),
            ballot("bb-d1", "yes"),
            CLOSE,
        ],
        (True, 2, 0, 0),
    ),
    (
        "the rotated-to key votes for the party",
        [ballot("aa", "yes"), ROTATE, ballot("aa-new", "no"), ballot("bb-d1", "yes"), CLOSE],
        (False, 1, 1, 0),
    ),
    (
        "a revoked key's ballot from before the revocation counts; after it, it is refused",
        [
            ballot("aa-d1", "yes"),
            REVOKE,
            ballot("aa-d1", "no", accepted=False),
            ballot("bb-d1", "yes"),
            CLOSE,
        ],
        (True, 2, 0, 0),
    ),
    (
        "late ballots from every key of every party change nothing",
        [
            SECOND,
            ballot("aa-d1", "yes"),
            ballot("bb-d1", "yes"),
            ballot("cc-d1", "no"),
            CLOSE,
            ballot("aa-d2", "no", accepted=False),
            ballot("aa", "no", accepted=False),
            ballot("bb", "no", accepted=False),
            ballot("dd-d1", "no", accepted=False),
        ],
        (True, 2, 1, 0),
    ),
]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[LogService, TestClient, Clock]]:
    clock = Clock(START)
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1, clerk_interval_s=0)
    service = LogService(settings, clock=clock)
    with TestClient(create_app(service)) as client:
        yield service, client, clock


def _policy() -> dict[str, Any]:
    doc = policy_to_json(load_preset("miri-2025"))
    doc["id"] = "ballots"
    doc["governance"]["vote_window_days"] = 1
    doc["governance"]["decisions"]["halt_order"] = {"body": "conference", "rule": "simple_majority"}
    return doc


@pytest.mark.parametrize(("name", "steps", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_ballots_count_only_in_the_window_under_the_keys_valid_then(
    world: tuple[LogService, TestClient, Clock],
    name: str,
    steps: list[Step],
    expected: tuple[bool, int, int, int],
) -> None:
    """A ballot counts when it was cast in the vote's window under a key of its party valid
    at the time; ballots after the close are refused and change nothing; the service's
    outcome and the audit's agree."""
    service, client, clock = world
    secretariat = load_key(service.settings.keys_dir, "secretariat")

    def post(kind: str, body: dict[str, Any], key: KeyPair) -> int:
        r = client.post("/v1/statements", json=sign_statement(kind, body, key).to_json())
        return r.status_code

    def ok(kind: str, body: dict[str, Any], key: KeyPair) -> None:
        assert post(kind, body, key) == 201, kind

    doc = _policy()
    ok(
        "policy.adopt/v1",
        {
            "policy": doc,
            "digest": policy_digest(Policy.model_validate(doc)),
            "effective_at": "2027-01-01T00:00:00Z",
        },
        secretariat,
    )
    keys: dict[str, KeyPair] = {}
    for p in PARTIES:
        keys[p] = KeyPair.generate(p)
        ok("party.register/v1", {"party_id": p, "name": p, "key": keys[p].signer_id}, secretariat)
        keys[f"{p}-d1"] = KeyPair.generate(f"{p}-d1")
        ok("delegate.register/v1", {"party_id": p, "key": keys[f"{p}-d1"].signer_id}, keys[p])
    clock.now += timedelta(minutes=1)
    proposal = {"proposal_id": PID, "kind": "pause_start", "text": "pause"}
    opened = False
    for step in steps:
        clock.now += timedelta(minutes=1)
        if step.what == "early":
            assert post("gov.vote/v1", {"proposal_id": PID, "choice": "yes"}, keys["aa-d1"]) != 201
            continue
        if not opened:
            ok("gov.proposal/v1", proposal, secretariat)
            opened = True
        if step.what == "vote":
            code = post("gov.vote/v1", {"proposal_id": PID, "choice": step.choice}, keys[step.who])
            assert (code == 201) is step.accepted, (step, code)
        elif step.what == "close":
            closes = datetime.fromisoformat(client.get(f"/v1/proposals/{PID}").json()["closes_at"])
            clock.now = closes + timedelta(minutes=1)
        elif step.what == "second":
            keys["aa-d2"] = KeyPair.generate("aa-d2")
            body = {"party_id": "aa", "key": keys["aa-d2"].signer_id}
            ok("delegate.register/v1", body, keys["aa"])
        elif step.what == "rotate":
            keys["aa-new"] = KeyPair.generate("aa-new")
            new_key = keys["aa-new"].signer_id
            body = {"subject_kind": "party", "subject_id": "aa", "new_key": new_key}
            ok("key.rotate/v1", body, keys["aa"])
        elif step.what == "revoke":
            body = {"party_id": "aa", "key": keys["aa-d1"].signer_id, "action": "revoke"}
            ok("delegate.register/v1", body, keys["aa"])
    service.run_clerk()
    served = client.get(f"/v1/proposals/{PID}").json()
    assert served["status"] == "decided"
    tally = served["outcome"]["tally"]
    assert (served["passed"], tally["yes"], tally["no"], tally["abstain"]) == expected

    entries = [(e.index, e.data) for e in service.log.entries_since(0)]
    audit, _ = audit_log(
        entries,
        [service.log.checkpoint_note()],
        service.log.verifier,
        secretariat=secretariat.signer_id,
    )
    assert audit.ok, audit.problems
    [decision] = [d for d in audit.decisions if d["proposal_id"] == PID]
    assert (decision["passed"], decision["reason"]) == (
        served["passed"],
        served["outcome"]["reason"],
    )
