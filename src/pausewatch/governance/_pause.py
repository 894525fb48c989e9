"""The pause as a pure function of the decisions on the log and a moment.

A pause is time-limited by construction: a start sets an expiry, each renewal adopted while the
pause is in force moves the expiry on by the renewal's duration, and without a renewal the pause
expires. A lift ends it early. :func:`pause_state` replays the decisions in order and says what
holds at ``at``: none, active, renewed, lifted or expired, with the dates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class PauseStatus(StrEnum):
    """Where the pause stands."""

    NONE = "none"
    """No pause was ever started."""
    ACTIVE = "active"
    """Started and in force, not yet renewed."""
    RENEWED = "renewed"
    """In force after one or more renewals."""
    LIFTED = "lifted"
    """Ended early by a lift decision."""
    EXPIRED = "expired"
    """Ended because no renewal came before its expiry."""

    @property
    def in_force(self) -> bool:
        """Whether the pause's prohibitions apply."""
        return self in (PauseStatus.ACTIVE, PauseStatus.RENEWED)


class Step(StrEnum):
    """A decision that moves the pause."""

    START = "start"
    RENEW = "renew"
    LIFT = "lift"


@dataclass(frozen=True, slots=True)
class PauseDecision:
    """A decision taken (a proposal that passed), with when it took effect."""

    step: Step
    at: datetime
    """When the decision took effect (the close of its vote)."""
    days: float | None = None
    """For a start or a renewal: how long it lasts, or extends, in days."""
    reference: str = ""
    """The proposal it executes (for people reading the history)."""
    minimum_days: float | None = None
    """For a lift: the policy's minimum duration when it was decided (overrides the
    ``minimum_days`` given to :func:`pause_state`)."""


@dataclass(frozen=True)
class PauseState:
    """The pause at one moment, and what each decision did."""

    status: PauseStatus
    started_at: datetime | None = None
    expires_at: datetime | None = None
    lifted_at: datetime | None = None
    renewals: int = 0
    history: tuple[str, ...] = field(default=())
    """Each decision in order and its effect, in words."""

    def remaining(self, at: datetime) -> timedelta | None:
        """Time until expiry while the pause is in force (none otherwise)."""
        if not self.status.in_force or self.expires_at is None:
            return None
        return self.expires_at - at

    def to_json(self, at: datetime) -> dict[str, object]:
        """A JSON-ready mapping, with the seconds left at ``at``."""
        left = self.remaining(at)

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat().replace("+00:00", "Z")

        return {
            "status": self.status.value,
            "in_force": self.status.in_force,
            "started_at": iso(self.started_at),
            "expires_at": iso(self.expires_at),
            "lifted_at": iso(self.lifted_at),
            "renewals": self.renewals,
            "seconds_left": None if left is None else left.total_seconds(),
            "history": list(self.history),
        }


def pause_state(
    decisions: Iterable[PauseDecision],
    at: datetime,
    *,
    minimum_days: float | None = None,
) -> PauseState:
    """The pause at ``at`` after the ``decisions`` that took effect up to then.

    * a start while no pause is in force begins one for its days; while one is in force it
      changes nothing;
    * a renewal while the pause is in force moves the expiry on by its days; after expiry or a
      lift it revives nothing (a new start is needed);
    * a lift while the pause is in force ends it, unless ``minimum_days`` have not yet passed
      since its start.
    Decisions taking effect after ``at`` are ignored; equal times go in the order given.
    """
    status = PauseStatus.NONE
    started: datetime | None = None
    expires: datetime | None = None
    lifted: datetime | None = None
    renewals = 0
    history: list[str] = []
    for d in sorted(decisions, key=lambda d: d.at):
        if d.at > at:
            break
        # A pause whose expiry passed before this decision has expired.
        if status.in_force and expires is not None and d.at >= expires:
            status = PauseStatus.EXPIRED
        when = d.at.isoformat().replace("+00:00", "Z")
        name = f"{d.step.value} {d.reference}".rstrip()
        if d.step is Step.START:
            if status.in_force:
                history.append(f"{when} {name}: no effect, a pause is already in force")
                continue
            days = d.days or 0.0
            status, started, lifted, renewals = PauseStatus.ACTIVE, d.at, None, 0
            expires = d.at + timedelta(days=days)
            history.append(f"{when} {name}: pause starts, for {days:g} days")
        elif d.step is Step.RENEW:
            if not status.in_force:
                history.append(f"{when} {name}: no effect, no pause is in force")
                continue
            assert expires is not None
            expires += timedelta(days=d.days or 0.0)
            renewals += 1
            status = PauseStatus.RENEWED
            history.append(f"{when} {name}: renewed until {expires.isoformat()}")
        else:
            if not status.in_force:
                history.append(f"{when} {name}: no effect, no pause is in force")
                continue
            assert started is not None
            minimum = d.minimum_days if d.minimum_days is not None else minimum_days
            if minimum is not None and d.at < started + timedelta(days=minimum):
                history.append(
                    f"{when} {name}: no effect, the pause may not be lifted before {minimum:g} days"
                )
                continue
            status, lifted = PauseStatus.LIFTED, d.at
            history.append(f"{when} {name}: lifted")
    if status.in_force and expires is not None and at >= expires:
        status = PauseStatus.EXPIRED
    return PauseState(status, started, expires, lifted, renewals, tuple(history))


__all__ = ["PauseDecision", "PauseState", "PauseStatus", "Step", "pause_state"]
