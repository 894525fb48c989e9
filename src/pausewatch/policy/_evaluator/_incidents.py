"""Orders and incidents: halt orders not obeyed, unreadable log entries, incident reports."""

from __future__ import annotations

from pausewatch.policy._evaluator._base import _BY_ID, State, _fmt_time
from pausewatch.policy._facts import OrderStatus
from pausewatch.policy._findings import FindingKind, ObligationStatus, Severity
from pausewatch.policy._model import Action, Event

_NOT_OBEYED = {
    OrderStatus.VIOLATED: "was not obeyed",
    OrderStatus.UNACKNOWLEDGED: "was not acknowledged in time",
    OrderStatus.SILENT: "cannot be confirmed",
}
"""Order statuses that file ``order_not_obeyed``, and how its explanation words each."""


class IncidentRules(State):
    """Halt orders, entries set aside as unreadable, and incidents with their report clocks."""

    def orders(self) -> None:
        """A halt order not obeyed (its chips busy after its deadline, not acknowledged by it,
        or its chips silent) is a finding that files the policy's next enforcement step."""
        for order in sorted(self.facts.orders, key=_BY_ID):
            if order.status not in _NOT_OBEYED:
                continue
            violated = order.status is OrderStatus.VIOLATED
            self.finding(
                FindingKind.ORDER_NOT_OBEYED,
                Severity.CRITICAL if violated else Severity.SERIOUS,
                order.subject,
                f"halt order {order.id} (deadline {_fmt_time(order.deadline)}) "
                + _NOT_OBEYED[order.status]
                + (f": {order.detail}" if order.detail else ""),
                order.evidence,
                action=Action.ENFORCEMENT_PROPOSAL,
            )

    def unreadable(self) -> None:
        for u in sorted(self.facts.unreadable, key=lambda u: (u.entry, u.kind)):
            self.finding(
                FindingKind.ENTRY_UNREADABLE,
                Severity.SERIOUS,
                u.entry,
                f"log entry {u.entry.removeprefix('log:')} ({u.kind}) was set aside because it "
                f"cannot be read: {u.reason}",
                (u.entry,),
            )

    def incidents(self) -> None:
        for inc in sorted(self.facts.incidents, key=_BY_ID):
            subject = f"incident:{inc.id}"
            clocks = self.clock(
                Event.CRITICAL_INCIDENT,
                None,
                about=f"incident {inc.id} of {inc.operator}",
                subject=subject,
                start=inc.occurred_at,
                done_at=inc.reported_at,
            )
            for status, within, deadline in clocks:
                if status is ObligationStatus.OVERDUE and deadline is not None:
                    self.finding(
                        FindingKind.NOTIFICATION_OVERDUE,
                        Severity.WARNING,
                        subject,
                        f"incident {inc.id} of {inc.operator} occurred on "
                        f"{_fmt_time(inc.occurred_at)}; its report was due within {within:g} "
                        f"hours, by {_fmt_time(deadline)}",
                        (),
                    )


__all__ = ["IncidentRules"]
