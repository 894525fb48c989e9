"""Governance use cases: the pause's status, proposals, and the secretariat's clerk work.

The clerk does what the policy says the secretariat does, and nothing it could get wrong: after
a proposal's close it appends the decision the fold computes (the fold refuses any other); for
findings the policy marks as triggers (halt or pause proposals) it files the proposal once,
under an id derived from the finding, so that filing twice is impossible; and it records the
registered witnesses' cosignatures on the log, where the fold checks them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from pausewatch.errors import Error, NotFoundError
from pausewatch.governance._fold import outcome, pause_of
from pausewatch.governance._statements import FiledFinding, Proposal
from pausewatch.governance._witnesses import recorded_size
from pausewatch.ledger import Appended, Note, PersistentLog, Verifier, format_time
from pausewatch.policy import Evaluation, check_conditions
from pausewatch.policy._findings import Finding, FindingKind
from pausewatch.policy._model import Action
from pausewatch.registry import Registry
from pausewatch.state import StateStore, evaluated, facts_from_registry, halt_orders
from pausewatch.state._resolution import resolution
from pausewatch.statements import KeyPair, Statement, sign_statement

Submit = Callable[[Statement], "Future[Appended]"]
_logger = logging.getLogger("pausewatch.clerk")
CLERK_ROUNDS = 32
"""The most times one clerk run evaluates the policy again to file the proposals it triggers
(one a round: each rests on the log just before it)."""

WITNESS_RECORD_INTERVAL = timedelta(hours=1)
"""The clerk records a witness's newest cosignature on the log at most this often (log time):
enough for the ``witnesses`` fact, whose freshness is a day, without an entry per batch."""


def pause_status(
    state: StateStore, at: datetime, evaluation: Evaluation | None = None
) -> dict[str, Any]:
    """The pause at ``at``: status, dates, seconds left, history, and the lift conditions on
    the state now: as ``evaluation`` (the policy in force evaluated at ``at``) checked them,
    when the caller has it, rather than evaluating the policy a second time. A caller that
    passes one holds ``state.lock`` from the evaluation to here, so that both read one state."""
    with state.lock:
        registry = state.registry
        pause = pause_of(registry, at)
        policy = registry.policy_at(at)
        conditions: list[dict[str, Any]] = []
        if policy is not None and policy.pause is not None:
            if evaluation is not None and evaluation.at == at:
                conditions = [c.to_json() for c in evaluation.lift_conditions]
            else:
                facts = facts_from_registry(registry, at, policy)
                conditions = [
                    c.to_json()
                    for c in check_conditions(policy.pause.lift.conditions, dict(facts.state))
                ]
    return {
        "at": at.isoformat().replace("+00:00", "Z"),
        **pause.to_json(at),
        "lift_conditions": conditions,
    }


def proposal_report(state: StateStore, proposal_id: str, at: datetime) -> dict[str, Any]:
    """A proposal with its ballots and, once decided, its outcome (before: the count so far);
    for a halt order in force, ``order``: what the telemetry shows of it (pending, confirmed,
    violated, unacknowledged, silent) with the acknowledgement."""
    with state.lock:
        registry = state.registry
        row = registry.get("proposals", proposal_id)
        if row is None:
            raise NotFoundError(f"no proposal {proposal_id!r}")
        ballots = [
            b for (pid, _), b in sorted(registry.views["ballots"].items()) if pid == proposal_id
        ]
        result = json.loads(row["outcome"]) if row["outcome"] else outcome(registry, row)
        order = None
        if row["kind"] == "halt_order" and row["passed"]:
            orders = halt_orders(registry, at, registry.policy_at(at))
            order = next((o for o in orders if o["id"] == proposal_id), None)
    report = {k: v for k, v in row.items() if k != "outcome"}
    report["order"] = order
    report["ballots"] = ballots
    report["outcome"] = result
    report["open"] = row["status"] == "open" and format_time(at) < row["closes_at"]
    return report


def due_decisions(state: StateStore, at: datetime, secretariat: KeyPair) -> list[Statement]:
    """The ``gov.decision/v1`` statements due at ``at``: one for each open proposal whose vote
    has closed, stating the outcome the fold computes."""
    out: list[Statement] = []
    with state.lock:
        registry = state.registry
        when = format_time(at)
        for _, row in sorted(registry.views["proposals"].items()):
            if row["status"] != "open" or row["closes_at"] > when:
                continue
            try:
                result = outcome(registry, row)
            except Exception:  # a defect for this proposal must not block the others
                _logger.exception("cannot compute the outcome of %s", row["proposal_id"])
                continue
            tally = result["tally"]
            out.append(
                sign_statement(
                    "gov.decision/v1",
                    {
                        "proposal_id": row["proposal_id"],
                        "passed": result["passed"],
                        "yes": tally["yes"],
                        "no": tally["no"],
                        "abstain": tally["abstain"],
                    },
                    secretariat,
                )
            )
    return out


def trigger_proposals(state: StateStore, at: datetime, secretariat: KeyPair) -> list[Statement]:
    """Proposals the policy files itself for findings it marks as triggers: a halt order for a
    run the policy marks for one, a pause for a crossed prohibition or a critical capability
    while no pause is in force, the next enforcement step for an order not obeyed. Each is
    filed once: its id is derived from what it is about, and one that exists is not filed
    again."""
    out: list[Statement] = []
    with state.lock:
        registry = state.registry
        policy = registry.policy_at(at)
        if policy is None or policy.governance is None:
            return []  # no body to decide: nothing to propose
        facts, result = evaluated(registry, at, policy)
        pause = pause_of(registry, at)
        wanted: list[tuple[str, Any]] = []
        for finding in result.findings:
            if finding.action is Action.HALT_PROPOSAL and finding.subject.startswith("run:"):
                wanted.append(("halt_order", finding))
            if finding.action is Action.ENFORCEMENT_PROPOSAL:
                wanted.append(("enforcement", finding))
            # A crossed prohibition or a critical capability is a trigger for the pause itself,
            # while it is open: one the regime has answered (the run halted, a pause decided
            # since) proposes no new pause (docs/adr/0012).
            trigger = finding.action is Action.PAUSE_PROPOSAL or (
                finding.kind is FindingKind.PROHIBITED_COMPUTE
            )
            if (
                trigger
                and not pause.status.in_force
                and policy.pause is not None
                and resolution(registry, facts, at, finding) is None
            ):
                wanted.append(("pause_start", finding))
        filed: set[str] = set()
        for kind, finding in wanted:
            # One pause proposal per pause cycle (after the last pause's start), whatever
            # finding triggered it; one halt or enforcement proposal per subject.
            key = f"pause|{pause.started_at}" if kind == "pause_start" else finding.subject
            projected = finding.kind is FindingKind.PROHIBITION_PROJECTED
            if kind == "halt_order":
                # An early halt (a projection) voted down must not keep the run's crossing
                # from being put to the vote: each has its own id, and the crossing is filed
                # unless a halt on the subject is open or in force (docs/adr/0020).
                if projected:
                    key = f"{key}|projected"
                if _halt_open_or_passed(registry, finding.subject, any_status=projected):
                    continue
            tag = hashlib.sha256(f"{kind}|{key}".encode()).hexdigest()[:16]
            proposal_id = f"auto-{kind}-{tag}"
            if proposal_id in filed or registry.get("proposals", proposal_id) is not None:
                continue
            filed.add(proposal_id)
            body: dict[str, Any] = {
                "proposal_id": proposal_id,
                "kind": kind,
                "text": f"filed by the policy for finding {finding.kind.value}: "
                f"{finding.explanation}"[:4000],
            }
            filed_finding = _filed_finding(finding, at, registry.applied)
            if filed_finding is not None:
                body["finding"] = filed_finding
            if kind in ("halt_order", "enforcement"):
                body["subject"] = finding.subject
            if kind == "halt_order":
                # The order binds once decided: its deadline runs from the close of the vote.
                # The notice is the policy's (governance.halts), the lead its early halt assumes.
                body["deadline"] = format_time(at + policy.governance.halt_lead)
            out.append(sign_statement("gov.proposal/v1", body, secretariat))
    return out


def _rests_on_log(statement: Statement) -> str | None:
    """The id of ``statement`` when it is a proposal carrying the finding it rests on."""
    body = statement.body
    if isinstance(body, Proposal) and body.finding is not None:
        return body.proposal_id
    return None


def _halt_open_or_passed(registry: Registry, subject: str, *, any_status: bool) -> bool:
    """Whether a halt order on ``subject`` is on the log and open or passed (with
    ``any_status``: on the log at all)."""
    return any(
        row["kind"] == "halt_order"
        and row["subject"] == subject
        and (any_status or row["status"] == "open" or row["passed"])
        for row in registry.views["proposals"].values()
    )


def _filed_finding(finding: Finding, at: datetime, log_size: int) -> dict[str, Any] | None:
    """The finding as a proposal carries it, for an audit to find again (docs/adr/0019); none
    if a figure cannot be carried (the proposal is filed all the same, without it)."""
    doc = {
        "kind": finding.kind.value,
        "subject": finding.subject,
        "figures": dict(finding.figures),
        "evaluated_at": format_time(at),
        "log_size": log_size,
    }
    try:
        FiledFinding.model_validate(doc)
    except ValidationError:
        _logger.warning(
            "finding %s on %s: its figures cannot be filed", doc["kind"], doc["subject"]
        )
        return None
    return doc


def witness_cosignatures(
    state: StateStore, log: PersistentLog, at: datetime, secretariat: KeyPair
) -> list[Statement]:
    """A ``witness.cosignature/v1`` for each witness registered on the log whose newest
    cosignature the log's checkpoint store holds is of a larger checkpoint than its newest one
    on the log, at most one per witness per :data:`WITNESS_RECORD_INTERVAL` of log time: what
    the ``witnesses`` fact counts must be on the log (docs/adr/0012)."""
    out: list[Statement] = []
    with state.lock:
        registry = state.registry
        when = format_time(at)
        for (name,), row in sorted(registry.views["witnesses"].items()):
            if row["removed_idx"] is not None:
                continue
            size = log.cosigned_sizes(name)
            if size is None or size <= recorded_size(registry, name):
                continue
            last = max(
                (
                    r["integrated_at"]
                    for (w, _), r in registry.views["witness_cosignatures"].items()
                    if w == name
                ),
                default=None,
            )
            if (
                last is not None
                and format_time(datetime.fromisoformat(last) + WITNESS_RECORD_INTERVAL) > when
            ):
                continue
            note = Note.from_text(log.checkpoint_note(size))
            cosigner = Verifier.from_string(row["key"]).as_cosigner()
            line = next(
                (
                    sig.line
                    for sig in note.signatures
                    if (sig.name, sig.key_id) == (cosigner.name, cosigner.key_id)
                ),
                None,
            )
            if line is None:
                continue  # cosigned under another key than the one registered
            body = {"checkpoint": note.text, "cosignature": line}
            out.append(sign_statement("witness.cosignature/v1", body, secretariat))
    return out


def clerk(
    state: StateStore,
    submit: Submit,
    at: datetime,
    secretariat: KeyPair,
    log: PersistentLog | None = None,
) -> int:
    """File the due decisions, the triggered proposals and (given the ``log``) the witnesses'
    new cosignatures; wait until each is folded. Returns how many statements were filed."""
    filed = 0
    makers: list[Callable[[StateStore, datetime, KeyPair], list[Statement]]] = [
        due_decisions,
        trigger_proposals,
    ]
    if log is not None:
        makers.append(lambda s, t, k: witness_cosignatures(s, log, t, k))
    for make in makers:
        # A proposal that carries its finding must be the entry right after the log the policy
        # read (docs/adr/0019): once one is filed, or refused because the log moved on, the
        # policy is evaluated again before the next. Bounded, so that a busy log cannot keep
        # the clerk here.
        refused: dict[str, int] = {}
        for _ in range(CLERK_ROUNDS):
            again = False
            for statement in make(state, at, secretariat):
                rests_on = _rests_on_log(statement)
                if rests_on is not None and refused.get(rests_on, 0) >= 2:
                    continue  # refused for a reason evaluating again does not change
                # Each statement on its own: one refused (a race, a policy that changed) must
                # not keep the others from being filed.
                try:
                    submit(statement).result()
                except Error as exc:
                    _logger.warning("the clerk could not file %s: %s", statement.kind, exc)
                    if rests_on is not None:
                        refused[rests_on] = refused.get(rests_on, 0) + 1
                else:
                    filed += 1
                if rests_on is not None:
                    again = True
                    break
            if not again:
                break
    return filed


__all__ = [
    "WITNESS_RECORD_INTERVAL",
    "clerk",
    "due_decisions",
    "pause_status",
    "proposal_report",
    "trigger_proposals",
    "witness_cosignatures",
]
