"""``policy.adopt/v1``: the statement by which a policy takes effect.

A policy is effective from ``effective_at`` once its adoption is on the log. The body carries the
whole policy document and its digest (SHA-256 of its RFC 8785 bytes), so that anyone holding the
log holds the exact rules every later finding was computed under. Until governance decides who
may adopt (by vote), the secretariat key signs adoptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from pydantic import model_validator

from pausewatch.fields import Digest, Text
from pausewatch.policy._load import policy_digest
from pausewatch.policy._model import Policy
from pausewatch.statements import Body, Statement, UtcDatetime, statement_kind

ADOPT_KIND = "policy.adopt/v1"


@statement_kind(ADOPT_KIND)
class PolicyAdopt(Body):
    """Adopt a policy: from ``effective_at`` on, findings are computed under it."""

    signed_by: ClassVar[str] = "secretariat"

    policy: Policy
    """The whole policy document."""
    digest: Digest
    """SHA-256 (hex) of the policy's RFC 8785 bytes; must match ``policy``."""
    effective_at: UtcDatetime
    """When it takes effect (adoptions with a later time wait; the latest effective one rules)."""
    supersedes: Digest | None = None
    """Digest of the policy it replaces, if any."""
    note: Text | None = None
    """Why it is adopted (the decision it executes, for example)."""

    @model_validator(mode="after")
    def _digest_matches(self) -> PolicyAdopt:
        actual = policy_digest(self.policy)
        if actual != self.digest:
            raise ValueError(
                f"digest does not match the policy: expected {actual}, got {self.digest}"
            )
        return self


@dataclass(frozen=True, slots=True)
class Adoption:
    """An adoption found on the log."""

    index: int
    """Log index of the ``policy.adopt/v1`` entry."""
    integrated_at: datetime
    """When the log integrated it."""
    signer: str
    """Who signed it."""
    body: PolicyAdopt
    """The statement body."""


def adoption_of(index: int, integrated_at: datetime, statement: Statement) -> Adoption | None:
    """The :class:`Adoption` in a log entry, or none when the entry is another kind."""
    if statement.kind != ADOPT_KIND or not isinstance(statement.body, PolicyAdopt):
        return None
    return Adoption(index, integrated_at, statement.signer, statement.body)


def effective_policy(adoptions: Iterable[Adoption], at: datetime) -> Adoption | None:
    """The adoption in force at ``at``, or none before the first one takes effect.

    An adoption takes effect at its ``effective_at`` or when the log integrated it, whichever is
    later: an adoption cannot reach back and change which policy was in force before it was on
    the log. The latest in effect wins; ties go to the later log entry.
    """
    best: Adoption | None = None
    best_key: tuple[datetime, int] | None = None
    for a in adoptions:
        start = max(a.body.effective_at, a.integrated_at)
        if start > at:
            continue
        key = (start, a.index)
        if best_key is None or key > best_key:
            best, best_key = a, key
    return best
