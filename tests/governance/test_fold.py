"""Governance in the fold: delegates, proposals, ballots and decisions; the outcome is the
fold's own, and the pause it makes binds the policy evaluation."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from pausewatch.evals import suite
from pausewatch.governance._fold import pause_of
from pausewatch.ledger import Checkpoint, Signer
from pausewatch.policy import evaluate, load_preset, policy_digest, policy_to_json
from pausewatch.policy._model import Domain
from pausewatch.state import facts_from_registry
from pausewatch.statements import KeyPair
from registry.world import World, declaration, key  # type: ignore[import-not-found]

PARTIES = ("us", "cn", "eu", "uk")


@pytest.fixture
def world() -> World:
    w = World()
    policy = load_preset("miri-2025")
    w.ok(
        "policy.adopt/v1",
        {
            "policy": policy_to_json(policy),
            "digest": policy_digest(policy),
            "effective_at": "2026-01-01T00:00:00Z",
        },
        w.secretariat,
    )
    for p in PARTIES:
        w.party(p)
        delegate = key(f"{p}-delegate")
        w.keys[f"{p}-delegate"] = delegate
        w.ok("delegate.register/v1", {"party_id": p, "key": delegate.signer_id}, p)
    return w


def propose(w: World, pid: str, kind: str, **extra: Any) -> dict[str, Any]:
    w.ok("gov.proposal/v1", {"proposal_id": pid, "kind": kind, **extra}, "us-delegate")
    row = w.registry.get("proposals", pid)
    assert row is not None
    return row


def vote(w: World, pid: str, party: str, choice: str) -> None:
    w.ok("gov.vote/v1", {"proposal_id": pid, "choice": choice}, f"{party}-delegate")


def close(w: World, proposal: dict[str, Any]) -> None:
    """Move the world's clock past the proposal's close."""
    from datetime import datetime

    w.now = datetime.fromisoformat(proposal["closes_at"]) + timedelta(minutes=1)


def decide(w: World, pid: str, passed: bool, yes: int, no: int, abstain: int = 0) -> Any:
    body = {"proposal_id": pid, "passed": passed, "yes": yes, "no": no, "abstain": abstain}
    return w.submit("gov.decision/v1", body, w.secretariat)


def test_a_pause_is_voted_in_and_binds_the_evaluation(world: World) -> None:
    w = world
    p = propose(w, "pause-1", "pause_start", text="start the pause")
    assert (p["body"], p["rule"], p["days"]) == ("conference", "simple_majority", 180)
    for party, choice in (("us", "yes"), ("cn", "no"), ("eu", "yes")):
        vote(w, "pause-1", party, choice)
    early = decide(w, "pause-1", True, 2, 1)
    assert not early.accepted
    assert "open for votes until" in (early.reason or "")
    close(w, p)
    wrong = decide(w, "pause-1", False, 2, 1)
    assert not wrong.accepted
    assert "differs from the count on the log" in (wrong.reason or "")
    assert decide(w, "pause-1", True, 2, 1).accepted
    row = w.registry.get("proposals", "pause-1")
    assert row is not None
    assert row["status"] == "decided"
    assert row["passed"] is True
    assert json.loads(row["outcome"])["members"] == sorted(PARTIES)

    state = pause_of(w.registry, w.now)
    assert state.status.value == "active"
    assert state.started_at is not None
    assert state.expires_at == state.started_at + timedelta(days=180)
    # The pause binds: a run above its 1e22 FLOP prohibition is a pause violation.
    w.party("x")  # (a party that joins later is not a member of decided votes)
    w.operator("lab", "us")
    w.facility("f1", "lab")
    w.cluster("c1", "f1", "lab")
    w.ok("run.declaration/v1", declaration("big", planned_flop=5e22), "lab")
    policy = w.registry.policy_at(w.now)
    assert policy is not None
    # What an evaluation records as the policy's digest: the one its adoption names.
    assert w.registry.policy_digest_at(w.now) == policy_digest(policy)
    facts = facts_from_registry(w.registry, w.now, policy)
    assert facts.pause.in_force(w.now)
    kinds = {f.kind.value for f in evaluate(policy, facts, w.now).findings}
    assert "pause_violation" in kinds
    # Without a renewal it expires.
    later = state.expires_at + timedelta(seconds=1)
    assert pause_of(w.registry, later).status.value == "expired"


def test_revoked_delegates_and_strangers_do_not_vote(world: World) -> None:
    w = world
    p = propose(w, "pause-2", "pause_start")
    w.ok(
        "delegate.register/v1",
        {"party_id": "cn", "key": w.keys["cn-delegate"].signer_id, "action": "revoke"},
        "cn",
    )
    refused = w.submit("gov.vote/v1", {"proposal_id": "pause-2", "choice": "no"}, "cn-delegate")
    assert not refused.accepted
    stranger = KeyPair.generate("stranger")
    refused = w.submit("gov.vote/v1", {"proposal_id": "pause-2", "choice": "no"}, stranger)
    assert not refused.accepted
    # Another party cannot revoke cn's delegates, nor register keys for it.
    other = w.submit("delegate.register/v1", {"party_id": "cn", "key": stranger.signer_id}, "us")
    assert not other.accepted
    vote(w, "pause-2", "us", "yes")
    vote(w, "pause-2", "eu", "yes")
    close(w, p)
    late = w.submit("gov.vote/v1", {"proposal_id": "pause-2", "choice": "no"}, "uk-delegate")
    assert not late.accepted  # after the close: refused, it never reaches the count
    assert "a ballot after the close is not taken" in (late.reason or "")
    assert decide(w, "pause-2", True, 2, 0).accepted
    outcome = json.loads(w.registry.get("proposals", "pause-2")["outcome"])  # type: ignore[index]
    assert outcome["not_counted"] == []


def test_a_late_ballot_on_the_view_from_a_second_key_flips_nothing(world: World) -> None:
    """Regression (a halt order filed as failed): views folded before late ballots were
    refused may hold one; a party's late ballot from its second key neither counts nor
    disqualifies the party's in-window ballot from its first key, whose validity comes from
    the keys view as it stood at that ballot."""
    w = world
    p = propose(w, "pause-3", "pause_start")
    second = key("us-delegate-2")
    w.keys["us-delegate-2"] = second
    w.ok("delegate.register/v1", {"party_id": "us", "key": second.signer_id}, "us")
    vote(w, "pause-3", "us", "yes")
    vote(w, "pause-3", "eu", "yes")
    close(w, p)
    # What a fold that kept late ballots left on the view.
    late = {
        "proposal_id": "pause-3",
        "idx": w.registry.applied,
        "party_id": "us",
        "key": second.signer_id,
        "choice": "no",
        "integrated_at": w.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    w.registry.views["ballots"][("pause-3", late["idx"])] = late
    w.registry.applied += 1
    assert decide(w, "pause-3", True, 2, 0).accepted
    outcome = json.loads(w.registry.get("proposals", "pause-3")["outcome"])  # type: ignore[index]
    assert outcome["passed"] is True
    assert outcome["not_counted"] == [
        {"idx": late["idx"], "party": "us", "reason": "cast after the vote closed"}
    ]


def test_a_failed_quorum_renews_nothing(world: World) -> None:
    w = world
    p = propose(w, "renew-1", "pause_renew")
    vote(w, "renew-1", "us", "yes")  # 1 of 4: the quorum needs 2
    close(w, p)
    assert decide(w, "renew-1", False, 1, 0).accepted
    outcome = json.loads(w.registry.get("proposals", "renew-1")["outcome"])  # type: ignore[index]
    assert outcome["reason"].startswith("no quorum")


def test_a_lift_passes_only_when_the_presets_own_conditions_hold(world: World) -> None:
    """Under miri-2025's own lift conditions, a lift every party votes for fails while the log
    shows no covered compute, three of five suites and no witness, and passes once chips report,
    every domain has a suite and three witnesses' cosignatures of the log are recorded."""
    w = world
    p = propose(w, "lift-1", "pause_lift")
    for party in PARTIES:
        vote(w, "lift-1", party, "yes")
    for domain in list(Domain)[:3]:
        probes = [{"probe_id": q.id, "version": q.version} for q in suite(domain)]
        w.ok("eval.suite/v1", {"domain": domain.value, "probes": probes}, w.secretariat)
    close(w, p)
    assert decide(w, "lift-1", False, 4, 0).accepted
    outcome = json.loads(w.registry.get("proposals", "lift-1")["outcome"])  # type: ignore[index]
    assert "lift conditions did not hold" in outcome["reason"]
    figures = {c["fact"]: (c["actual"], c["held"]) for c in outcome["conditions"]}
    assert figures == {
        "monitoring_coverage": (0.0, False),
        "eval_domains_adopted": (3.0, False),
        "witnesses": (0.0, False),
        "open_critical_findings": (0.0, True),
    }

    for domain in list(Domain)[3:]:
        probes = [{"probe_id": q.id, "version": q.version} for q in suite(domain)]
        w.ok("eval.suite/v1", {"domain": domain.value, "probes": probes}, w.secretariat)
    w.operator("lab", "us")
    w.facility("f1", "lab")
    w.cluster("c1", "f1", "lab")
    w.maker("nv")
    p = propose(w, "lift-2", "pause_lift")
    for party in PARTIES:
        vote(w, "lift-2", party, "yes")
    # Shortly before the close: chips installed (not dark yet), the witnesses cosign.
    w.now = datetime.fromisoformat(p["closes_at"]) - timedelta(minutes=20)
    for n in range(4):
        w.chip(f"g{n}", "nv")
        w.ok(
            "chip.custody/v1", {"chip_id": f"g{n}", "action": "install", "cluster_id": "c1"}, "lab"
        )
    for n in range(3):
        witness = Signer.generate(f"witness.example/w{n}")
        w.ok("witness.register/v1", {"key": witness.verifier().to_string()}, w.secretariat)
        size = w.registry.applied
        text = Checkpoint("log.example", size, w.tree.root(size)).to_text()
        line = witness.cosignature_line(text, int(w.now.timestamp()))
        w.ok("witness.cosignature/v1", {"checkpoint": text, "cosignature": line}, w.secretariat)
    close(w, p)
    assert decide(w, "lift-2", True, 4, 0).accepted
    outcome = json.loads(w.registry.get("proposals", "lift-2")["outcome"])  # type: ignore[index]
    assert outcome["passed"] is True, outcome["reason"]
    assert [c["held"] for c in outcome["conditions"]] == [True] * 4


def seat(w: World, party: str) -> None:
    """An elected council seat for a year, from now."""
    start = w.now + timedelta(seconds=1)
    w.ok(
        "gov.seat/v1",
        {
            "body": "council",
            "party_id": party,
            "starts_at": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "ends_at": (start + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
        w.secretariat,
    )


def test_a_council_counts_its_seats_only(world: World) -> None:
    w = world
    for party in ("us", "cn"):
        seat(w, party)
    deadline = (w.now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    p = propose(w, "halt-1", "halt_order", subject="run:r1", deadline=deadline)
    assert p["body"] == "council"
    vote(w, "halt-1", "us", "yes")
    vote(w, "halt-1", "eu", "yes")  # not a council member
    vote(w, "halt-1", "uk", "yes")  # nor this one
    close(w, p)
    # Two of the council's 15 seats are filled: its quorum (8) counts all 15.
    assert decide(w, "halt-1", False, 1, 0).accepted
    outcome = json.loads(w.registry.get("proposals", "halt-1")["outcome"])  # type: ignore[index]
    assert outcome["members"] == ["cn", "us"]
    assert sorted(n["party"] for n in outcome["not_counted"]) == ["eu", "uk"]
    assert outcome["reason"].startswith("no quorum: 1 of 15 members voted, 8 needed")


def test_seats_are_neither_backdated_nor_more_than_the_body_has(world: World) -> None:
    w = world
    backdated = w.submit(
        "gov.seat/v1",
        {
            "body": "council",
            "party_id": "us",
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2030-01-01T00:00:00Z",
        },
        w.secretariat,
    )
    assert not backdated.accepted
    assert "backdated" in (backdated.reason or "")


def test_a_halt_order_deadline_comes_after_the_vote(world: World) -> None:
    w = world
    early = (w.now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = w.submit(
        "gov.proposal/v1",
        {"proposal_id": "h", "kind": "halt_order", "subject": "run:r1", "deadline": early},
        "us-delegate",
    )
    assert not out.accepted
    assert "must come after the vote closes" in (out.reason or "")


def test_a_majority_cannot_make_a_pause_longer_than_the_policy(world: World) -> None:
    w = world
    out = w.submit(
        "gov.proposal/v1",
        {"proposal_id": "forever", "kind": "pause_start", "days": 36500},
        "us-delegate",
    )
    assert not out.accepted
    assert "at most the policy's 180 days" in (out.reason or "")


def test_a_changed_back_vote_counts(world: World) -> None:
    w = world
    p = propose(w, "pause-v", "pause_start")
    for n, choice in enumerate(("yes", "no", "yes")):
        cast = (w.now + timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        w.ok(
            "gov.vote/v1",
            {"proposal_id": "pause-v", "choice": choice, "cast_at": cast},
            "us-delegate",
        )
    vote(w, "pause-v", "cn", "yes")
    close(w, p)
    assert decide(w, "pause-v", True, 2, 0).accepted


def test_only_parties_delegates_and_the_secretariat_propose(world: World) -> None:
    w = world
    w.operator("lab", "us")
    refused = w.submit("gov.proposal/v1", {"proposal_id": "x", "kind": "pause_start"}, "lab")
    assert not refused.accepted
    by_secretariat = w.submit(
        "gov.proposal/v1", {"proposal_id": "auto-1", "kind": "pause_start"}, w.secretariat
    )
    assert by_secretariat.accepted
    again = w.submit("gov.proposal/v1", {"proposal_id": "auto-1", "kind": "pause_start"}, "us")
    assert not again.accepted


def test_an_approval_decision_reaches_the_run(world: World) -> None:
    w = world
    w.operator("lab", "us")
    w.facility("f1", "lab")
    w.cluster("c1", "f1", "lab")
    w.ok("run.declaration/v1", declaration("r1", planned_flop=5e23), "lab")
    policy = w.registry.policy_at(w.now)
    assert policy is not None
    run = next(r for r in facts_from_registry(w.registry, w.now, policy).runs if r.id == "r1")
    assert run.approval.value == "pending"
    council = [*PARTIES, "p5", "p6", "p7", "p8"]  # 8 of the council's 15 seats: a quorum
    for party in council[4:]:
        w.party(party)
    for party in council:
        seat(w, party)
    p = propose(w, "ok-r1", "approve_declaration", subject="run:r1")
    for party in council:
        w.ok("gov.vote/v1", {"proposal_id": "ok-r1", "choice": "yes"}, party)
    close(w, p)
    assert decide(w, "ok-r1", True, 8, 0).accepted
    run = next(r for r in facts_from_registry(w.registry, w.now, policy).runs if r.id == "r1")
    assert run.approval.value == "approved"
    assert run.decided_at is not None


def test_a_withdrawal_takes_effect_after_its_notice(world: World) -> None:
    w = world
    w.ok(
        "gov.proposal/v1",
        {"proposal_id": "leave-uk", "kind": "withdrawal", "subject": "party:uk"},
        "uk-delegate",
    )
    policy = w.registry.policy_at(w.now)
    assert policy is not None
    assert policy.withdrawal is not None
    from pausewatch.governance._fold import members_at

    assert "uk" in members_at(w.registry, "conference", policy, w.now)
    later = w.now + timedelta(days=policy.withdrawal.notice_days + 1)
    assert "uk" not in members_at(w.registry, "conference", policy, later)


def test_a_new_policy_needs_a_passed_proposal(world: World) -> None:
    w = world
    other = load_preset("eu-ai-act")
    body = {
        "policy": policy_to_json(other),
        "digest": policy_digest(other),
        "effective_at": "2026-01-01T00:00:00Z",
    }
    refused = w.submit("policy.adopt/v1", body, w.secretariat)
    assert not refused.accepted
    assert "needs a passed adopt_policy" in (refused.reason or "")
    p = propose(w, "adopt-eu", "adopt_policy", policy_digest=policy_digest(other))
    for party in ("us", "cn", "eu"):
        vote(w, "adopt-eu", party, "yes")
    close(w, p)
    assert decide(w, "adopt-eu", True, 3, 0).accepted
    assert w.submit("policy.adopt/v1", body, w.secretariat).accepted
    assert w.registry.policy_at(w.now) == other


def test_an_exemption_lifts_the_pause_for_its_run_until_it_expires(world: World) -> None:
    w = world
    p = propose(w, "pause-x", "pause_start")
    for party in ("us", "cn", "eu"):
        vote(w, "pause-x", party, "yes")
    close(w, p)
    assert decide(w, "pause-x", True, 3, 0).accepted
    w.operator("lab", "us")
    w.facility("f1", "lab")
    w.cluster("c1", "f1", "lab")
    w.ok("run.declaration/v1", declaration("big", planned_flop=5e22), "lab")
    p = propose(w, "exempt-big", "exemption", subject="run:big", days=10)
    for party in ("us", "cn", "eu"):
        vote(w, "exempt-big", party, "yes")
    close(w, p)
    assert decide(w, "exempt-big", True, 3, 0).accepted
    policy = w.registry.policy_at(w.now)
    assert policy is not None

    def violations(at: Any) -> list[str]:
        facts = facts_from_registry(w.registry, at, policy)
        result = evaluate(policy, facts, at)
        return [f.subject for f in result.findings if f.kind.value == "pause_violation"]

    assert violations(w.now) == []
    assert set(violations(w.now + timedelta(days=11))) == {"run:big", "model:m1"}
