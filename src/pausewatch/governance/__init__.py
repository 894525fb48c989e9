"""Governance: votes to decisions, and the pause those decisions make.

Pure, like the policy evaluation: the ballots, members, keys, times and decisions are passed
in. Public API::

    counted_votes(ballots, members=, keys=, opens_at=, closes_at=) -> (votes, rejections)
    tally(votes, members=, rule=, quorum=, veto_holders=) -> Tally
    pause_state(decisions, at, minimum_days=None) -> PauseState
"""

from pausewatch.governance._pause import (
    PauseDecision,
    PauseState,
    PauseStatus,
    Step,
    pause_state,
)
from pausewatch.governance._tally import (
    Ballot,
    Choice,
    KeyCheck,
    KeyValidity,
    KeyWindows,
    Rejection,
    Tally,
    counted_votes,
    quorum_needed,
    tally,
)

__all__ = [
    "Ballot",
    "Choice",
    "KeyCheck",
    "KeyValidity",
    "KeyWindows",
    "PauseDecision",
    "PauseState",
    "PauseStatus",
    "Rejection",
    "Step",
    "Tally",
    "counted_votes",
    "pause_state",
    "quorum_needed",
    "tally",
]
