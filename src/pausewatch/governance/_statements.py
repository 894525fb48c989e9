"""Governance statement kinds: delegates, seats, proposals, votes and decisions; the log's
witnesses and their cosignatures.

A party registers the keys of its delegates; their votes (and the party's own key's) speak for
it. A proposal is open for the policy's vote window from its integration; a vote is a signed
ballot; after the close the secretariat appends a decision, and the fold accepts it only if it
equals the outcome the fold computes itself from the ballots on the log.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from pausewatch.fields import (
    LINES,
    ONE_LINE,
    Count,
    Days,
    Digest,
    Finite,
    Id,
    KeyId,
    Label,
    Line,
    Ref,
    Text,
)
from pausewatch.governance._tally import Choice
from pausewatch.statements import Body, UtcDatetime, statement_kind

BodyId = Label


class DelegateAction(StrEnum):
    """What a party does with a delegate key."""

    ADD = "add"
    REVOKE = "revoke"
    """Votes it signs after this entry do not count."""


@statement_kind("delegate.register/v1")
class DelegateRegister(Body):
    """A party adds or revokes a key that votes for it."""

    signed_by: ClassVar[str] = "party"

    party_id: Id
    """The party (must sign this statement with its own key)."""
    key: KeyId
    action: DelegateAction = DelegateAction.ADD


@statement_kind("gov.seat/v1")
class Seat(Body):
    """A party holds an elected seat of a body for a term (the secretariat records the
    election's result)."""

    signed_by: ClassVar[str] = "secretariat"

    body: BodyId
    party_id: Id
    starts_at: UtcDatetime
    ends_at: UtcDatetime

    @model_validator(mode="after")
    def _term(self) -> Seat:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class ProposalKind(StrEnum):
    """What a proposal asks a body to decide."""

    ADOPT_POLICY = "adopt_policy"
    AMEND_POLICY = "amend_policy"
    PAUSE_START = "pause_start"
    PAUSE_RENEW = "pause_renew"
    PAUSE_LIFT = "pause_lift"
    APPROVE_DECLARATION = "approve_declaration"
    REJECT_DECLARATION = "reject_declaration"
    EXTEND_REVIEW = "extend_review"
    HALT_ORDER = "halt_order"
    CHALLENGE_INSPECTION = "challenge_inspection"
    EXEMPTION = "exemption"
    ENFORCEMENT = "enforcement"
    WITHDRAWAL = "withdrawal"


class FiledFinding(Body):
    """The policy's finding a proposal the secretariat filed rests on, as the policy gave it:
    what an auditor re-evaluates the policy to find again (docs/adr/0019)."""

    kind: Label
    """The finding's kind (``prohibited_compute``, ``order_not_obeyed``...)."""
    subject: Line
    """What it concerns (``run:<id>``, ``cluster:<id>``...)."""
    figures: Annotated[dict[Label, bool | Finite | Line], Field(max_length=64)] = Field(
        default_factory=dict
    )
    """The figures it quotes (``Finding.figures``), by name."""
    evaluated_at: UtcDatetime
    """When the policy was evaluated (the clerk's time; no later than the entry's
    integration)."""
    log_size: Annotated[int, Field(ge=0, le=2**53 - 1)] | None = None
    """The entries the policy was evaluated over: the proposal must be the very next entry
    (the fold refuses it otherwise), so that the log before it is exactly what the policy read
    and an audit finds the finding again from the entries alone (docs/adr/0019). The clerk
    always names it; findings filed before it was kept (none) still read."""


@statement_kind("gov.proposal/v1")
class Proposal(Body):
    """A proposal, open for votes for the policy's window from its integration. Signed by a
    party's key or delegate key, or by the secretariat (proposals the policy files itself)."""

    signed_by: ClassVar[str] = "party_or_secretariat"

    proposal_id: Id
    kind: ProposalKind
    subject: Ref | None = None
    """What it concerns: ``run:<id>``, ``cluster:<id>``, ``party:<id>``; none for the pause."""
    days: Days | None = None
    """For a pause start or renewal, a review extension or an exemption: how many days."""
    deadline: UtcDatetime | None = None
    """For a halt order: when the subject must have stopped training."""
    policy_digest: Digest | None = None
    """For adopting or amending a policy: the digest of the document proposed."""
    text: Text = ""
    """The proposal in words, for the people voting."""
    finding: FiledFinding | None = None
    """For a proposal the policy filed (the secretariat's clerk): the finding that triggered
    it, with its figures, so that an audit can evaluate the policy again and find it."""

    @model_validator(mode="after")
    def _fields(self) -> Proposal:
        needs_subject = {
            ProposalKind.APPROVE_DECLARATION,
            ProposalKind.REJECT_DECLARATION,
            ProposalKind.EXTEND_REVIEW,
            ProposalKind.HALT_ORDER,
            ProposalKind.CHALLENGE_INSPECTION,
            ProposalKind.EXEMPTION,
            ProposalKind.ENFORCEMENT,
            ProposalKind.WITHDRAWAL,
        }
        if self.kind in needs_subject and self.subject is None:
            raise ValueError(f"a {self.kind.value} proposal needs a subject")
        if self.kind is ProposalKind.HALT_ORDER and self.deadline is None:
            raise ValueError("a halt_order proposal needs a deadline")
        if self.kind in (ProposalKind.ADOPT_POLICY, ProposalKind.AMEND_POLICY) and (
            self.policy_digest is None
        ):
            raise ValueError(f"a {self.kind.value} proposal needs the policy_digest")
        return self


@statement_kind("gov.vote/v1")
class Vote(Body):
    """A ballot on an open proposal, signed by a delegate key (or the party's own key). A
    party's last ballot before the close counts."""

    signed_by: ClassVar[str] = "delegate"

    proposal_id: Id
    choice: Choice
    cast_at: UtcDatetime | None = None
    """When the voter cast it. Clients set it: without it a ballot changed back to an earlier
    choice would repeat an earlier statement byte for byte, and count as that one."""


@statement_kind("gov.decision/v1")
class Decision(Body):
    """The secretariat's statement of a proposal's outcome after its close. The fold computes
    the outcome from the ballots itself and refuses a decision that differs."""

    signed_by: ClassVar[str] = "secretariat"

    proposal_id: Id
    passed: bool
    yes: Count
    no: Count
    abstain: Count


@statement_kind("order.ack/v1")
class OrderAck(Body):
    """The operator of a halt order's subject acknowledges it."""

    signed_by: ClassVar[str] = "operator"

    proposal_id: Id
    """The halt order (the proposal that decided it)."""
    note: Text = ""


class WitnessAction(StrEnum):
    """What the secretariat does with a witness."""

    ADD = "add"
    REMOVE = "remove"
    """Its cosignatures recorded after this entry are refused, and it no longer counts."""


@statement_kind("witness.register/v1")
class WitnessRegister(Body):
    """The secretariat registers a witness of the log (or removes one). Only the cosignatures
    of registered witnesses can be recorded on the log, and only they count toward the
    ``witnesses`` fact lift conditions test (docs/adr/0012)."""

    signed_by: ClassVar[str] = "secretariat"

    key: Annotated[str, Field(min_length=3, max_length=400), ONE_LINE]
    """The witness's C2SP verifier key (``<name>+<hex key id>+<base64 key>``); it cosigns
    checkpoints under that name (tlog-cosignature/v1)."""
    action: WitnessAction = WitnessAction.ADD


@statement_kind("witness.cosignature/v1")
class WitnessCosignature(Body):
    """A registered witness's cosignature of one of this log's checkpoints, put on the log (by
    the secretariat's clerk, which collects it from the witness). The fold verifies it with the
    witness's registered key and checks the checkpoint's root against the log's own tree at
    that size, so that the record proves the witness saw this log's history."""

    signed_by: ClassVar[str] = "secretariat"

    checkpoint: Annotated[str, Field(min_length=6, max_length=2_000), LINES]
    """The checkpoint body the witness cosigned (``<origin>\\n<size>\\n<base64 root>\\n``)."""
    cosignature: Annotated[str, Field(min_length=6, max_length=1_000), LINES]
    """The witness's signature line, as its ``add-checkpoint`` answer gave it."""


__all__ = [
    "Decision",
    "DelegateAction",
    "DelegateRegister",
    "OrderAck",
    "Proposal",
    "ProposalKind",
    "Seat",
    "Vote",
    "WitnessAction",
    "WitnessCosignature",
    "WitnessRegister",
]
