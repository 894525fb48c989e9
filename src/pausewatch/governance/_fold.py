"""Governance in the fold: delegates, seats, proposals, ballots and decisions as views.

The fold accepts a ballot only when a live key of a party or one of its delegates signs it, so
a revoked key's later ballots never reach the count. It computes each proposal's outcome itself
when the secretariat's decision arrives after the close, with :func:`counted_votes` and
:func:`tally` over the ballots on the log and the body's members at the close, and refuses a
decision that differs. A lift passes only if the policy's lift conditions also held on the state
at the close.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pausewatch.governance._pause import PauseDecision, PauseState, Step, pause_state
from pausewatch.governance._statements import (
    Decision,
    DelegateAction,
    DelegateRegister,
    OrderAck,
    Proposal,
    ProposalKind,
    Seat,
    Vote,
)
from pausewatch.governance._tally import Ballot, Choice, counted_votes, tally
from pausewatch.ledger import format_time
from pausewatch.policy import Policy, check_conditions
from pausewatch.policy._model import Decision as DecisionKind
from pausewatch.policy._model import VoteRule
from pausewatch.registry._fold import Handler, Registry, RejectedError, Row, _Context
from pausewatch.registry._kinds import SubjectKind
from pausewatch.statements import Body

_DECISION_OF = {
    ProposalKind.ADOPT_POLICY: DecisionKind.ADOPT_POLICY,
    ProposalKind.AMEND_POLICY: DecisionKind.ADOPT_POLICY,
    ProposalKind.APPROVE_DECLARATION: DecisionKind.APPROVE_DECLARATION,
    ProposalKind.REJECT_DECLARATION: DecisionKind.APPROVE_DECLARATION,
    ProposalKind.EXTEND_REVIEW: DecisionKind.APPROVE_DECLARATION,
    ProposalKind.HALT_ORDER: DecisionKind.HALT_ORDER,
    ProposalKind.CHALLENGE_INSPECTION: DecisionKind.CHALLENGE_INSPECTION,
    ProposalKind.EXEMPTION: DecisionKind.EXEMPTION,
    ProposalKind.ENFORCEMENT: DecisionKind.ENFORCEMENT,
}
_PAUSE_STEPS = {
    ProposalKind.PAUSE_START: Step.START,
    ProposalKind.PAUSE_RENEW: Step.RENEW,
    ProposalKind.PAUSE_LIFT: Step.LIFT,
}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _delegate(ctx: _Context, body: Body) -> None:
    assert isinstance(body, DelegateRegister)
    ctx.must_exist("parties", "party", body.party_id)
    ctx.require(SubjectKind.PARTY, body.party_id)
    if body.action is DelegateAction.ADD:
        ctx.new_key(body.key, SubjectKind.DELEGATE, body.party_id)
        return
    row = ctx.get("keys", body.key)
    if row is None or (row["subject_kind"], row["subject_id"]) != ("delegate", body.party_id):
        raise RejectedError(f"{body.key} is not a delegate key of party {body.party_id!r}")
    ctx.revoke_key(body.key, "delegate key revoked by its party")


def _policy(ctx: _Context) -> Policy:
    policy = ctx.registry.policy_at(ctx.at)
    if policy is None or policy.governance is None:
        raise RejectedError("no policy with governance rules is in force")
    return policy


def _seat(ctx: _Context, body: Body) -> None:
    assert isinstance(body, Seat)
    ctx.require_secretariat()
    policy = _policy(ctx)
    assert policy.governance is not None
    spec = policy.governance.bodies.get(body.body)
    if spec is None:
        raise RejectedError(
            f"the policy defines no body {body.body!r}; bodies: "
            + ", ".join(sorted(policy.governance.bodies))
        )
    if spec.members == "all_parties":
        raise RejectedError(f"body {body.body!r} has every party as a member: it has no seats")
    ctx.must_exist("parties", "party", body.party_id)
    if body.starts_at < ctx.at:
        raise RejectedError(
            "a seat starts no earlier than its record on the log: a backdated seat would "
            "change votes already closed"
        )
    if spec.term_days is not None and body.ends_at - body.starts_at > timedelta(
        days=spec.term_days
    ):
        raise RejectedError(f"a seat of {body.body!r} lasts at most {spec.term_days:g} days")
    held = {
        row["party_id"]
        for (b, _, _), row in ctx.registry.views["seats"].items()
        if b == body.body
        and row["starts_at"] < format_time(body.ends_at)
        and format_time(body.starts_at) < row["ends_at"]
    } | set(spec.permanent_seats)
    assert isinstance(spec.members, int)
    if body.party_id not in held and len(held) >= spec.members:
        raise RejectedError(f"{body.body!r} has {spec.members} seats, all held during that term")
    ctx.set(
        "seats",
        {
            "body": body.body,
            "party_id": body.party_id,
            "starts_at": format_time(body.starts_at),
            "ends_at": format_time(body.ends_at),
            "idx": ctx.index,
        },
    )


def _voter(ctx: _Context) -> str | None:
    """The party a live party or delegate key speaks for, if the signer holds one."""
    holder = ctx.holder()
    if holder is not None and holder[0] in (SubjectKind.PARTY.value, SubjectKind.DELEGATE.value):
        return holder[1]
    return None


def _proposal(ctx: _Context, body: Body) -> None:
    assert isinstance(body, Proposal)
    secretariat = ctx.signer in ctx.registry.secretariat
    proposer = "secretariat" if secretariat else _voter(ctx)
    if proposer is None:
        raise RejectedError(
            "a proposal must be signed by a party's or a delegate's live key, or by the "
            "secretariat",
            forbidden=True,
        )
    if ctx.get("proposals", body.proposal_id) is not None:
        raise RejectedError(f"proposal {body.proposal_id!r} already exists")
    if (
        body.finding is not None
        and body.finding.log_size is not None
        and body.finding.log_size != ctx.index
    ):
        # A filed finding rests on the log the policy read: entries that came in between
        # would make it one no audit can find again (docs/adr/0019).
        raise RejectedError(
            f"the finding was evaluated over {body.finding.log_size} entries, but this "
            f"proposal is entry {ctx.index}: the log moved on, evaluate the policy again"
        )
    policy = _policy(ctx)
    governance = policy.governance
    assert governance is not None
    step = _PAUSE_STEPS.get(body.kind)
    if step is not None:
        if policy.pause is None:
            raise RejectedError("the policy in force defines no pause")
        decided_by = {
            Step.START: policy.pause.start,
            Step.RENEW: policy.pause.renewal,
            Step.LIFT: policy.pause.lift,
        }[step]
        body_id, rule = decided_by.body, decided_by.rule
    else:
        kind = _DECISION_OF.get(body.kind)
        assigned = governance.decisions.get(kind) if kind is not None else None
        if assigned is not None:
            body_id, rule = assigned.body, assigned.rule
        else:
            body_id = "conference" if "conference" in governance.bodies else min(governance.bodies)
            rule = governance.bodies[body_id].default_rule
    spec = governance.bodies[body_id]
    days = body.days
    if step in (Step.START, Step.RENEW) and policy.pause is not None:
        # A pause lasts what the policy says, at most: a majority cannot make it longer.
        longest = (
            policy.pause.default_duration_days
            if step is Step.START
            else policy.pause.renewal_duration_days
        )
        if days is not None and days > longest:
            raise RejectedError(
                f"a {body.kind.value} may last at most the policy's {longest:g} days, got {days:g}"
            )
        days = longest if days is None else days
    closes = ctx.at + timedelta(days=governance.vote_window_days)
    if body.deadline is not None and body.deadline <= closes:
        raise RejectedError(
            f"the deadline {format_time(body.deadline)} must come after the vote closes "
            f"({format_time(closes)}): an order binds once decided"
        )
    ctx.set(
        "proposals",
        {
            "proposal_id": body.proposal_id,
            "kind": body.kind.value,
            "proposer": proposer,
            "subject": body.subject,
            "days": days,
            "deadline": None if body.deadline is None else format_time(body.deadline),
            "policy_digest": body.policy_digest,
            "text": body.text,
            "body": body_id,
            "rule": rule.value,
            "quorum": spec.quorum,
            "veto_holders": json.dumps(sorted(spec.veto_holders)),
            "opens_at": ctx.when,
            "closes_at": format_time(closes),
            "proposed_idx": ctx.index,
            "status": "open",
            "passed": None,
            "outcome": None,
            "decided_idx": None,
            "decided_at": None,
        },
    )


def _vote(ctx: _Context, body: Body) -> None:
    assert isinstance(body, Vote)
    party = _voter(ctx)
    if party is None:
        raise RejectedError(
            "a vote must be signed by a live key of a party or of one of its delegates",
            forbidden=True,
        )
    proposal = ctx.get("proposals", body.proposal_id)
    if proposal is None:
        raise RejectedError(f"proposal {body.proposal_id!r} does not exist")
    if ctx.when >= proposal["closes_at"]:
        # Refused rather than kept and ignored (docs/adr/0011): a ballot after the close can
        # change nothing, so the log does not take it, and its signer learns so at once.
        raise RejectedError(
            f"the vote on proposal {body.proposal_id!r} closed at {proposal['closes_at']}: "
            "a ballot after the close is not taken"
        )
    # Non-members' ballots stay on the log; the count leaves them out.
    ctx.set(
        "ballots",
        {
            "proposal_id": body.proposal_id,
            "idx": ctx.index,
            "party_id": party,
            "key": ctx.signer,
            "choice": body.choice.value,
            "integrated_at": ctx.when,
        },
    )


def members_at(registry: Registry, body_id: str, policy: Policy, at: datetime) -> frozenset[str]:
    """The parties holding a vote in ``body_id`` at ``at``: every party registered by then for
    ``all_parties``; otherwise the permanent seats and the elected seats whose term covers it."""
    governance = policy.governance
    assert governance is not None
    spec = governance.bodies[body_id]
    when = format_time(at)
    gone = withdrawn(registry, policy, at)
    parties = {
        pid
        for (pid,), row in registry.views["parties"].items()
        if row["registered_at"] < when and pid not in gone
    }
    if spec.members == "all_parties":
        return frozenset(parties)
    elected = {
        row["party_id"]
        for (b, _, _), row in registry.views["seats"].items()
        if b == body_id and row["starts_at"] <= when < row["ends_at"]
    }
    return frozenset((set(spec.permanent_seats) | elected) & parties)


def withdrawn(registry: Registry, policy: Policy, at: datetime) -> set[str]:
    """Parties whose withdrawal took effect by ``at``: a party's own withdrawal notice (a
    ``withdrawal`` proposal about ``party:<itself>``, filed by it) takes effect the policy's
    notice period after it reached the log, vote or no vote."""
    notice = policy.withdrawal.notice_days if policy.withdrawal is not None else 0
    out: set[str] = set()
    for _, row in registry.views["proposals"].items():
        if row["kind"] != ProposalKind.WITHDRAWAL.value:
            continue
        party = (row["subject"] or "").removeprefix("party:")
        if row["proposer"] != party:
            continue
        if _time(row["opens_at"]) + timedelta(days=notice) <= at:
            out.add(party)
    return out


def key_valid_at(registry: Registry, party: str, key: str, index: int) -> bool:
    """Whether ``key`` spoke for ``party`` (its own key or one of its delegates') when log
    entry ``index`` was folded: bound to it by an earlier entry, and not yet revoked (the keys
    view as it stood at that entry; a key is bound once and never rebound)."""
    row = registry.views["keys"].get((key,))
    if row is None or row["subject_id"] != party:
        return False
    if row["subject_kind"] not in (SubjectKind.PARTY.value, SubjectKind.DELEGATE.value):
        return False
    revoked = row["revoked_idx"]
    return bool(row["added_idx"] < index and (revoked is None or index < revoked))


def outcome(registry: Registry, proposal: Row) -> dict[str, Any]:
    """The outcome the ballots on the log give ``proposal`` at its close, with its reasons."""
    opens, closes = _time(proposal["opens_at"]), _time(proposal["closes_at"])
    policy = registry.policy_at(opens)
    assert policy is not None
    members = members_at(registry, proposal["body"], policy, closes)
    ballots = [
        Ballot(
            row["idx"],
            _time(row["integrated_at"]),
            row["party_id"],
            row["key"],
            Choice(row["choice"]),
        )
        for (pid, _), row in sorted(registry.views["ballots"].items())
        if pid == proposal["proposal_id"]
    ]
    votes, rejections = counted_votes(
        ballots,
        members=members,
        keys=lambda b: key_valid_at(registry, b.party, b.key, b.index),
        opens_at=opens,
        closes_at=closes,
    )
    spec = policy.governance.bodies[proposal["body"]] if policy.governance else None
    seats = spec.members if spec is not None and isinstance(spec.members, int) else None
    result = tally(
        votes,
        members=members,
        rule=VoteRule(proposal["rule"]),
        quorum=proposal["quorum"],
        veto_holders=json.loads(proposal["veto_holders"]),
        seats=seats,
    )
    passed, reason = result.passed, result.reason
    conditions: list[dict[str, Any]] = []
    if proposal["kind"] == ProposalKind.PAUSE_LIFT.value and policy.pause is not None:
        if registry.lift_state is None:
            raise RejectedError("this fold cannot compute the state lift conditions test")
        state = dict(registry.lift_state(registry, closes, policy))
        checked = check_conditions(policy.pause.lift.conditions, state)
        conditions = [c.to_json() for c in checked]
        unmet = [c.condition.description for c in checked if not c.held]
        if passed and unmet:
            passed = False
            reason = f"{reason}; but lift conditions did not hold at the close: {'; '.join(unmet)}"
    return {
        "passed": passed,
        "reason": reason,
        "tally": result.to_json(),
        "members": sorted(members),
        "not_counted": [{"idx": r.index, "party": r.party, "reason": r.reason} for r in rejections],
        "conditions": conditions,
    }


def _decision(ctx: _Context, body: Body) -> None:
    assert isinstance(body, Decision)
    ctx.require_secretariat()
    proposal = ctx.get("proposals", body.proposal_id)
    if proposal is None:
        raise RejectedError(f"proposal {body.proposal_id!r} does not exist")
    if proposal["status"] != "open":
        raise RejectedError(f"proposal {body.proposal_id!r} was already decided")
    if ctx.when < proposal["closes_at"]:
        raise RejectedError(
            f"proposal {body.proposal_id!r} is open for votes until {proposal['closes_at']}"
        )
    result = outcome(ctx.registry, proposal)
    mine = result["tally"]
    if (body.passed, body.yes, body.no, body.abstain) != (
        result["passed"],
        mine["yes"],
        mine["no"],
        mine["abstain"],
    ):
        raise RejectedError(
            f"the decision ({'passed' if body.passed else 'failed'}, {body.yes} yes, {body.no} "
            f"no, {body.abstain} abstaining) differs from the count on the log: "
            f"{result['reason']}"
        )
    ctx.update(
        "proposals",
        proposal,
        status="decided",
        passed=result["passed"],
        outcome=json.dumps(result, sort_keys=True),
        decided_idx=ctx.index,
        decided_at=ctx.when,
    )


def pause_of(registry: Registry, at: datetime) -> PauseState:
    """The pause at ``at``: the passed pause proposals, each taking effect at its close (ties
    in log order), a lift judged by the minimum duration of the policy in force then."""
    rows = sorted(
        (
            row
            for row in registry.views["proposals"].values()
            if row["passed"] and ProposalKind(row["kind"]) in _PAUSE_STEPS
        ),
        key=lambda r: (r["closes_at"], r["proposed_idx"]),
    )
    decisions = []
    for row in rows:
        closes = _time(row["closes_at"])
        policy = registry.policy_at(closes)
        minimum = policy.pause.minimum_duration_days if policy and policy.pause else None
        decisions.append(
            PauseDecision(
                _PAUSE_STEPS[ProposalKind(row["kind"])],
                closes,
                row["days"],
                row["proposal_id"],
                minimum_days=minimum,
            )
        )
    return pause_state(decisions, at)


def subject_operator(registry: Registry, subject: str | None) -> str | None:
    """The operator answerable for a ``run:<id>`` or ``cluster:<id>`` subject."""
    kind, _, ident = (subject or "").partition(":")
    view = {"run": "runs", "cluster": "clusters"}.get(kind)
    row = registry.get(view, ident) if view is not None else None
    return None if row is None else str(row["operator_id"])


def _ack(ctx: _Context, body: Body) -> None:
    assert isinstance(body, OrderAck)
    proposal = ctx.get("proposals", body.proposal_id)
    if proposal is None or proposal["kind"] != ProposalKind.HALT_ORDER.value:
        raise RejectedError(f"{body.proposal_id!r} is not a halt order")
    if not proposal["passed"]:
        raise RejectedError(f"halt order {body.proposal_id!r} was not decided in force")
    operator = ctx.signing_operator()
    answerable = subject_operator(ctx.registry, proposal["subject"])
    if operator != answerable:
        raise RejectedError(
            f"halt order {body.proposal_id!r} concerns {proposal['subject']}, which is "
            f"{answerable!r}'s, not {operator!r}'s",
            forbidden=True,
        )
    if ctx.get("order_acks", body.proposal_id) is None:
        ctx.set(
            "order_acks",
            {
                "proposal_id": body.proposal_id,
                "operator_id": operator,
                "idx": ctx.index,
                "at": ctx.when,
            },
        )


__all__ = ["key_valid_at", "members_at", "outcome", "pause_of", "subject_operator", "withdrawn"]


HANDLERS: Mapping[str, Handler] = {
    "delegate.register/v1": _delegate,
    "order.ack/v1": _ack,
    "gov.seat/v1": _seat,
    "gov.proposal/v1": _proposal,
    "gov.vote/v1": _vote,
    "gov.decision/v1": _decision,
}
"""How governance's statements fold; composed with the other domains' in :mod:`pausewatch.state`."""
