"""When a critical finding stops being open (docs/adr/0012).

Findings are not stored: each evaluation recomputes them from the facts. Some describe the
present (a run the pause prohibits is running) and vanish when it changes; others describe the
past (a run used compute above the prohibition; an evaluation established a capability) and
stay true for ever. A lift condition on open critical findings needs a rule for the second kind,
and the rule must be computable from the log alone. A critical finding is **open** until the
log shows the response the policy prescribes for it carried out:

* **halt proposal** (a run or a model above the prohibition, a run the pause prohibits):
  resolved when every run it concerns (``run:<id>``: that run; ``model:<id>``: the model's
  runs) has stopped. A run has stopped when a halt order in force covering it (subject the run
  or its cluster) is *confirmed* by the telemetry, or when it is no longer planned or running
  and no halt order covering it is still pending or silent.
* **pause proposal** (a critical capability): resolved when the parties decided a pause start or
  renewal in force after the finding's evidence reached the log (a decision recorded later than
  every log entry it cites). A capability established during a pause stays open until the
  pause is renewed, so that a lift cannot pass over it unanswered.
* **enforcement proposal** (a halt order violated): resolved when an enforcement proposal about
  the same subject passed after the finding's evidence reached the log.
* anything else: open while the evaluation files it.

There is no circle: the evaluation that files findings reads no state figure but the lift
conditions, and :func:`open_critical` is computed from an evaluation of facts that do not
hold it yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pausewatch.ledger import format_time
from pausewatch.policy import Facts
from pausewatch.policy._facts import OrderStatus, RunStatus
from pausewatch.policy._findings import Finding, Severity
from pausewatch.policy._model import Action
from pausewatch.registry import Registry

_STOPPED_ORDER = (OrderStatus.CONFIRMED, OrderStatus.VIOLATED, OrderStatus.UNACKNOWLEDGED)
"""Order statuses that leave nothing to wait for (a violation or a missing acknowledgement is
its own finding)."""


def _cited(finding: Finding) -> int:
    """The latest log index among the finding's evidence (-1: it cites none)."""
    idx = [int(e[4:]) for e in finding.evidence if e.startswith("log:") and e[4:].isdigit()]
    return max(idx, default=-1)


def _decided_after(
    registry: Registry, at: datetime, kinds: tuple[str, ...], after: int, subject: str | None
) -> bool:
    """Whether a proposal of ``kinds`` (about ``subject``, if given) passed with its decision
    recorded after log entry ``after`` and by ``at``."""
    when = format_time(at)
    return any(
        row["passed"]
        and row["kind"] in kinds
        and row["decided_idx"] is not None
        and row["decided_idx"] > after
        and row["decided_at"] <= when
        and (subject is None or row["subject"] == subject)
        for row in registry.views["proposals"].values()
    )


def _stopped(facts: Facts, run_id: str) -> bool:
    run = next((r for r in facts.runs if r.id == run_id), None)
    if run is None:
        return False
    covering = [
        o
        for o in facts.orders
        if o.subject == f"run:{run_id}"
        or (run.cluster is not None and o.subject == f"cluster:{run.cluster}")
    ]
    if any(o.status is OrderStatus.CONFIRMED for o in covering):
        return True
    return run.status not in (RunStatus.PLANNED, RunStatus.RUNNING) and all(
        o.status in _STOPPED_ORDER for o in covering
    )


def resolution(registry: Registry, facts: Facts, at: datetime, finding: Finding) -> str | None:
    """Why ``finding`` is no longer open at ``at``, or none while it is (see the module
    docstring). ``facts``: the facts at ``at`` the finding was filed on."""
    kind, _, ident = finding.subject.partition(":")
    if finding.action is Action.HALT_PROPOSAL:
        if kind == "run":
            runs = [ident]
        elif kind == "model":
            runs = [r.id for r in facts.runs if r.model == ident]
        else:
            return None
        if runs and all(_stopped(facts, r) for r in runs):
            return f"{', '.join(sorted(runs))} stopped"
        return None
    if finding.action is Action.PAUSE_PROPOSAL:
        if _decided_after(registry, at, ("pause_start", "pause_renew"), _cited(finding), None):
            return "a pause was decided after it"
        return None
    if finding.action is Action.ENFORCEMENT_PROPOSAL:
        if _decided_after(registry, at, ("enforcement",), _cited(finding), finding.subject):
            return "an enforcement step was decided after it"
        return None
    return None


def open_critical(
    registry: Registry, facts: Facts, at: datetime, findings: Iterable[Finding]
) -> list[Finding]:
    """The critical findings among ``findings`` (filed on ``facts`` at ``at``) still open."""
    return [
        f
        for f in findings
        if f.severity is Severity.CRITICAL and resolution(registry, facts, at, f) is None
    ]


__all__ = ["open_critical", "resolution"]
