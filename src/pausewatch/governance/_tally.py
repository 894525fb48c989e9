"""Votes to outcomes: which votes count, and what they decide under a body's rule.

Pure: the ballots, the members, the keys' validity and the close of the vote are all passed in.
:func:`counted_votes` picks each member's last valid ballot before the close;
:func:`tally` applies the quorum, the voting rule and any veto to them. The outcome says why,
in words and figures, so that anyone can check it by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from pausewatch.policy._model import VoteRule


class Choice(StrEnum):
    """A ballot's choice."""

    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"
    """Counts toward the quorum, not toward the majority."""


@dataclass(frozen=True, slots=True)
class Ballot:
    """One signed vote as it stands on the log."""

    index: int
    """Its log index: among a member's ballots integrated at the same time, the later counts."""
    integrated_at: datetime
    """When the log integrated it (the vote's time)."""
    party: str
    """The party the vote is for (as its delegate key is registered)."""
    key: str
    """The key that signed it."""
    choice: Choice


@dataclass(frozen=True, slots=True)
class Rejection:
    """A ballot that does not count, and why."""

    index: int
    party: str
    reason: str


KeyWindows = Mapping[str, Mapping[str, tuple[datetime, datetime | None]]]
"""Per party, its delegate keys with the time each became valid and the time it was revoked
(none: still valid). A ballot counts only if its key was valid when it was integrated."""
KeyValidity = Callable[[Ballot], bool]
"""Whether a ballot's key spoke for its party when the ballot was integrated (the fold's
answer, from the keys view as it stood at the ballot's log entry)."""
KeyCheck = KeyWindows | KeyValidity
"""How :func:`counted_votes` learns which keys were valid: windows in time, or a predicate."""


def _key_valid(keys: KeyCheck, ballot: Ballot) -> bool:
    if callable(keys):
        return keys(ballot)
    party, key, at = ballot.party, ballot.key, ballot.integrated_at
    window = keys.get(party, {}).get(key)
    if window is None:
        return False
    since, revoked = window
    return since <= at and (revoked is None or at < revoked)


def counted_votes(
    ballots: Iterable[Ballot],
    *,
    members: frozenset[str],
    keys: KeyCheck,
    opens_at: datetime,
    closes_at: datetime,
) -> tuple[dict[str, Ballot], list[Rejection]]:
    """Each member's last valid ballot cast while the vote was open, and every ballot that does
    not count with its reason. A ballot counts when its party is a member of the body, its key
    was a valid delegate key of that party when the log integrated it, and it was integrated at
    or after ``opens_at`` and strictly before ``closes_at``. Among a party's counting ballots the
    last (by integration time, then log index) stands: a change of mind replaces the earlier
    choice, and the same ballot twice counts once."""
    last: dict[str, Ballot] = {}
    rejected: list[Rejection] = []
    for ballot in sorted(ballots, key=lambda b: (b.integrated_at, b.index)):
        if ballot.party not in members:
            rejected.append(Rejection(ballot.index, ballot.party, "not a member of the body"))
        elif not _key_valid(keys, ballot):
            rejected.append(
                Rejection(
                    ballot.index,
                    ballot.party,
                    "signed by a key that was not a valid delegate key of the party at the time",
                )
            )
        elif ballot.integrated_at < opens_at:
            rejected.append(Rejection(ballot.index, ballot.party, "cast before the vote opened"))
        elif ballot.integrated_at >= closes_at:
            rejected.append(Rejection(ballot.index, ballot.party, "cast after the vote closed"))
        else:
            last[ballot.party] = ballot
    return last, rejected


@dataclass(frozen=True)
class Tally:
    """What the counted votes decide, with the figures behind it."""

    passed: bool
    members: int
    yes: int
    no: int
    abstain: int
    quorum_needed: int
    """Members who must vote (any choice) for the decision to count."""
    quorum_met: bool
    rule: VoteRule
    vetoed_by: tuple[str, ...]
    """Veto holders who voted no."""
    reason: str
    """The outcome in words."""

    def to_json(self) -> dict[str, object]:
        """A JSON-ready mapping."""
        return {
            "passed": self.passed,
            "members": self.members,
            "yes": self.yes,
            "no": self.no,
            "abstain": self.abstain,
            "quorum_needed": self.quorum_needed,
            "quorum_met": self.quorum_met,
            "rule": self.rule.value,
            "vetoed_by": list(self.vetoed_by),
            "reason": self.reason,
        }


def quorum_needed(members: int, quorum: float) -> int:
    """Members who must vote for a quorum: the smallest count at or above ``quorum`` of them
    (exact, in rationals: 0.5 of 15 is 8, of 16 is 8)."""
    fraction = Fraction(quorum).limit_denominator(10_000)
    need = fraction * members
    whole = need.numerator // need.denominator
    return max(1, whole + (1 if whole < need else 0)) if members else 1


def tally(
    votes: Mapping[str, Ballot],
    *,
    members: frozenset[str],
    rule: VoteRule,
    quorum: float,
    veto_holders: Iterable[str] = (),
    seats: int | None = None,
) -> Tally:
    """Apply a body's quorum, voting rule and vetoes to the counted ``votes``.

    * quorum: at least :func:`quorum_needed` members voted (abstentions count);
    * simple majority: more yes than no;
    * two thirds: yes at least twice no (two thirds of the votes cast for or against);
    * unanimity: at least one yes and no no;
    * a veto holder's no blocks the decision, whatever the count.
    Only members' ballots are considered, whatever ``votes`` holds. ``seats``: a body of a
    fixed number of seats counts its quorum against them, filled or not, so that a body with
    empty seats cannot decide with fewer voters than its rule intends.
    """
    cast = {p: b for p, b in votes.items() if p in members}
    yes = sum(1 for b in cast.values() if b.choice is Choice.YES)
    no = sum(1 for b in cast.values() if b.choice is Choice.NO)
    abstain = len(cast) - yes - no
    size = max(seats, len(members)) if seats is not None else len(members)
    need = quorum_needed(size, quorum)
    quorum_met = len(cast) >= need and bool(members)
    vetoed = tuple(sorted(p for p in veto_holders if p in cast and cast[p].choice is Choice.NO))
    if rule is VoteRule.SIMPLE_MAJORITY:
        majority = yes > no
        wanted = "more yes than no"
    elif rule is VoteRule.TWO_THIRDS:
        majority = yes > 0 and yes >= 2 * no
        wanted = "at least two thirds yes of the votes for or against"
    else:
        majority = yes > 0 and no == 0
        wanted = "no vote against and at least one for"
    figures = f"{yes} yes, {no} no, {abstain} abstaining of {size} members"
    if not quorum_met:
        reason = f"no quorum: {len(cast)} of {size} members voted, {need} needed ({figures})"
    elif vetoed:
        reason = f"vetoed by {', '.join(vetoed)} ({figures})"
    elif not majority:
        reason = f"failed: {rule.value} needs {wanted} ({figures})"
    else:
        reason = f"passed by {rule.value} ({figures})"
    return Tally(
        passed=quorum_met and not vetoed and majority,
        members=size,
        yes=yes,
        no=no,
        abstain=abstain,
        quorum_needed=need,
        quorum_met=quorum_met,
        rule=rule,
        vetoed_by=vetoed,
        reason=reason,
    )


__all__ = [
    "Ballot",
    "Choice",
    "KeyCheck",
    "KeyValidity",
    "KeyWindows",
    "Rejection",
    "Tally",
    "counted_votes",
    "quorum_needed",
    "tally",
]
