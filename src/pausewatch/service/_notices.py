"""Who may write ``notice/v1`` to the log, and how much (docs/adr/0015-notice-admission.md).

A notice changes no view, so the fold has nothing to refuse it for; but every byte appended
stays on the log for good. The service therefore admits a notice only when its signer holds a
live key in the registry (a chip's key excepted: a chip speaks through its telemetry) or is the
secretariat, when it is at most ``max_bytes`` long, and when its signer's notices integrated in
the trailing ``window`` stay within a count and a byte quota. The quota is counted on the log's
own integration times (primed from the log at start, then kept as notices are integrated), so a
restart does not reset it and anyone holding the log can recompute every signer's use of it.
The secretariat's own key is held to the size limit, not to the quota.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, LargeBinary, bindparam, func, select, text

from pausewatch.errors import AuthorizationError, StatementError
from pausewatch.ledger import encode_entry, from_micros, to_micros
from pausewatch.statements import Statement, parse_json
from pausewatch.store import log_entries

NOTICE_KIND = "notice/v1"
_NOTICE_MARK = b'"kind":"notice/v1"'
"""How a notice's kind reads in its entry's canonical bytes (a cheap filter before parsing)."""


class NoticeTooLargeError(StatementError):
    """A notice is longer than the service admits (answered 413)."""


class NoticeQuotaError(StatementError):
    """A signer's notices in the trailing window reached the quota (answered 429)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        """Seconds until the oldest notice counted leaves the window."""


@dataclass(frozen=True)
class NoticeLimits:
    """The admission limits of ``notice/v1`` (from :class:`~pausewatch.settings.Settings`)."""

    max_bytes: int
    """Largest notice, as canonical statement bytes."""
    window: timedelta
    """The trailing window over which a signer's notices are counted."""
    max_count: int
    """Most notices one signer may have integrated in the window."""
    max_window_bytes: int
    """Most notice bytes one signer may have integrated in the window."""


@dataclass
class _Use:
    at_us: int
    size: int


@dataclass
class NoticeTicket:
    """A notice admitted and on its way to the log: settled once integrated, cancelled when
    it was not (its place in the quota is then given back)."""

    quota: NoticeQuota
    signer: str
    use: _Use | None = field(default=None)

    def settle(self, integrated_at: datetime) -> None:
        """The notice is on the log at ``integrated_at``: count it from that time."""
        if self.use is not None:
            with self.quota.lock:
                self.use.at_us = to_micros(integrated_at)

    def cancel(self) -> None:
        """The notice did not reach the log (or was there already): it counts for nothing."""
        if self.use is not None:
            with self.quota.lock:
                uses = self.quota.uses.get(self.signer, [])
                if self.use in uses:
                    uses.remove(self.use)
            self.use = None


class NoticeQuota:
    """Per signer, the notices integrated in the trailing window (and those on their way)."""

    def __init__(self, limits: NoticeLimits, exempt: frozenset[str]) -> None:
        self.limits = limits
        self.exempt = exempt
        """Signers held to the size limit only (the secretariat's key)."""
        self.lock = threading.Lock()
        self.uses: dict[str, list[_Use]] = {}

    def prime(self, engine: Engine, now: datetime, size: int | None = None) -> None:
        """Count the notices the log integrated in the window before ``now`` (among its first
        ``size`` entries; default: all). Integration times grow with the index, so the
        window's first entry is found by bisection on the primary key, and the database
        returns only the notices from there on."""
        cutoff = to_micros(now - self.limits.window)
        with engine.connect() as conn:
            if size is None:
                size = conn.execute(select(func.count()).select_from(log_entries)).scalar_one()
            low, high = 0, int(size)
            while low < high:
                mid = (low + high) // 2
                at = conn.execute(
                    select(log_entries.c.integrated_us).where(log_entries.c.idx == mid)
                ).scalar_one()
                if at < cutoff:
                    low = mid + 1
                else:
                    high = mid
            # A byte search in the database (SQLite's instr on a BLOB, PostgreSQL's position in
            # a bytea): it sends back the window's notices only, not every entry of it.
            search = (
                "position(:mark in data) > 0"
                if engine.dialect.name == "postgresql"
                else "instr(data, :mark) > 0"
            )
            marked = text(search).bindparams(bindparam("mark", _NOTICE_MARK, type_=LargeBinary))
            rows = conn.execute(
                select(log_entries.c.integrated_us, log_entries.c.data)
                .where(log_entries.c.idx >= low, marked)
                .order_by(log_entries.c.idx)
            )
            for at_us, data in rows:
                statement = parse_json(bytes(data))["statement"]
                if statement.get("kind") == NOTICE_KIND:
                    size_of = len(data) - len(encode_entry(b"", from_micros(at_us)))
                    self._add(str(statement["signer"]), _Use(int(at_us), size_of))

    def _add(self, signer: str, use: _Use) -> None:
        self.uses.setdefault(signer, []).append(use)

    def check_size(self, statement: Statement) -> None:
        """Refuse a notice longer than the limit."""
        size = len(statement.canonical_bytes())
        if size > self.limits.max_bytes:
            raise NoticeTooLargeError(
                f"a notice may be at most {self.limits.max_bytes} bytes (canonical statement); "
                f"this one is {size}"
            )

    def admit(self, statement: Statement, now: datetime) -> NoticeTicket:
        """Count ``statement`` against its signer's quota, or refuse it with
        :class:`NoticeQuotaError` naming when the signer may write again."""
        self.check_size(statement)
        signer = statement.signer
        if signer in self.exempt:
            return NoticeTicket(self, signer)
        size = len(statement.canonical_bytes())
        now_us = to_micros(now)
        window_us = int(self.limits.window.total_seconds() * 1_000_000)
        with self.lock:
            uses = [u for u in self.uses.get(signer, []) if u.at_us > now_us - window_us]
            self.uses[signer] = uses
            count = len(uses)
            total = sum(u.size for u in uses)
            if count + 1 > self.limits.max_count or total + size > self.limits.max_window_bytes:
                oldest = min(u.at_us for u in uses) if uses else now_us
                retry = max(1, -(-(oldest + window_us - now_us) // 1_000_000))
                raise NoticeQuotaError(
                    f"{signer} has {count} notices ({total} bytes) on the log in the last "
                    f"{_span(self.limits.window)}; a signer may have {self.limits.max_count} "
                    f"notices and {self.limits.max_window_bytes} bytes in that time. Retry in "
                    f"{retry} s",
                    retry,
                )
            use = _Use(now_us, size)
            uses.append(use)
        return NoticeTicket(self, signer, use)


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds} s"


def check_registered_signer(
    kind: str, holder: tuple[str, str] | None, signer: str, secretariat: bool
) -> None:
    """Refuse a statement of a kind signed by the ``registered`` role whose signer is not the
    secretariat and holds no live registered key (``holder``), or holds a chip's."""
    if secretariat:
        return
    if holder is None:
        raise AuthorizationError(
            f"{kind} must be signed by a live key of the registry (the secretariat, a party or "
            f"its delegate, an operator, a chip maker or an evaluator); {signer} is not one"
        )
    if holder[0] in ("chip", "meter"):
        raise AuthorizationError(
            f"{kind} may not be signed by a {holder[0]}'s key ({holder[0]} {holder[1]!r}): a "
            f"{holder[0]} speaks through its {'telemetry' if holder[0] == 'chip' else 'readings'}"
        )


__all__ = [
    "NOTICE_KIND",
    "NoticeLimits",
    "NoticeQuota",
    "NoticeQuotaError",
    "NoticeTicket",
    "NoticeTooLargeError",
    "check_registered_signer",
]
