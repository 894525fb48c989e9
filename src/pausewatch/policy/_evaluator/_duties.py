"""Duties: declaration before start, approval, and the notification clocks of a threshold.

A run in a declaration or approval tier (on its own, or through its model's lineage) owes a
declaration on the log before it starts, or declaration and approval (deemed after the
policy's review period, extended at most as the policy allows); a run that started without
them is a finding. A crossed threshold starts the policy's notification clocks, which a
declaration on the log meets.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from pausewatch.policy._evaluator._base import _TIER_WORDS, Compute, State, _fmt_time, _plus
from pausewatch.policy._facts import Approval, RunFact, RunStatus
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import Event, Threshold, Tier


class DutyRules(State):
    """The duties a tier puts on a run, and the clocks a crossed threshold starts."""

    def run_duties(
        self, run: RunFact, subject: str, tier: Tier, t: Threshold, basis: str, why: str
    ) -> None:
        """Declaration before start and approval, for a run in ``tier`` (on its own, or
        because its model's lineage is); ``why`` says how it got there, for the finding.

        Where the tier needs approval, the one obligation is "declare and obtain approval
        before it starts": approval presupposes the declaration, so a second obligation for
        the declaration alone would only repeat it."""
        if tier not in (Tier.REPORT_BEFORE_START, Tier.APPROVAL_REQUIRED):
            return
        needs_approval = tier in self.approval_tiers
        if needs_approval and run.id not in self.approvals_done:
            self.approvals_done.add(run.id)
            self.approval(run, subject, t)
        if run.id in self.declarations_done:
            return
        self.declarations_done.add(run.id)
        start = run.starts_at
        declared_at = run.declared_at
        if not needs_approval:
            self.obligation(
                f"declare run {run.id} on the log before it starts",
                subject,
                start,
                declared_at,
                basis,
                t.source,
            )
        on_time = declared_at is not None and (start is None or declared_at <= start)
        if run.has_started and not on_time:
            self.finding(
                FindingKind.UNDECLARED_RUN,
                Severity.SERIOUS,
                subject,
                f"run {run.id} started"
                + (f" on {_fmt_time(start)}" if start else "")
                + f" {why} without a declaration filed before its start, though it is above "
                f"the {t.flop:.3g} FLOP {_TIER_WORDS[tier]}",
                run.evidence,
                tier=tier,
                figures=(("threshold", t.flop),),
            )

    def approval(self, run: RunFact, subject: str, t: Threshold) -> None:
        approvals = self.policy.approvals
        assert approvals is not None
        deemed: datetime | None = None
        if self.deemed_after is not None and run.declared_at is not None:
            deemed = _plus(run.declared_at, self.deemed_after)
            extended = run.review_extended_days
            if self.max_extension is not None and extended > self.max_extension:
                extended = self.max_extension  # review cannot be extended beyond the policy
            if extended:
                deemed = _plus(deemed, timedelta(days=extended))
        if run.approval is Approval.APPROVED:
            approved_at = run.decided_at
        elif run.approval is Approval.REJECTED:
            approved_at = None
        else:
            approved_at = deemed if deemed is not None and deemed <= self.at else None
        deemed_text = _fmt_time(deemed) if deemed is not None else ""
        self.obligation(
            f"declare run {run.id} and obtain approval before it starts"
            + (f" (deemed approved on {deemed_text})" if deemed_text else ""),
            subject,
            run.starts_at,
            approved_at,
            "approvals",
            approvals.source,
        )
        if not run.has_started:
            return
        ok = approved_at is not None and (run.starts_at is None or approved_at <= run.starts_at)
        if not ok:
            why = (
                "its approval was rejected"
                if run.approval is Approval.REJECTED
                else "before approval or deemed approval"
                + (f" (deemed on {deemed_text})" if deemed_text else "")
            )
            self.finding(
                FindingKind.STARTED_WITHOUT_APPROVAL,
                Severity.SERIOUS,
                subject,
                f"run {run.id} started {why}; runs above {t.flop:.3g} FLOP need approval",
                run.evidence,
                tier=Tier.APPROVAL_REQUIRED,
                figures=(("threshold", t.flop),),
            )

    def clocks_for(
        self,
        tier: Tier,
        t: Threshold,
        *,
        what: str,
        subject: str,
        declared_above: bool,
        known_at: datetime | None,
        met_at: datetime | None,
        filed_at: datetime | None,
    ) -> None:
        """Notification clocks a crossed threshold starts; a declaration on the log is the
        notification, so ``filed_at`` (the declaration's time) meets them. A clock whose start is
        unknown has no deadline."""
        if declared_above:
            self.clock(
                Event.THRESHOLD_EXPECTED,
                tier,
                about=f"{what} is declared above {t.flop:.3g} FLOP",
                subject=subject,
                start=known_at,
                done_at=filed_at,
            )
        self.clock(
            Event.THRESHOLD_MET,
            tier,
            about=f"{what} passed {t.flop:.3g} FLOP",
            subject=subject,
            start=met_at,
            done_at=filed_at,
        )

    def crossing_time(
        self, run: RunFact, used: Compute | None, threshold: float
    ) -> datetime | None:
        """When the run passed ``threshold``: back-projected from its measured compute at its
        current rate, never before its start; its start (or declaration) when that is unknown,
        and none when no time is known at all."""
        t = run.starts_at or run.declared_at
        rate = run.rate
        if used is None or rate is None or rate.value <= 0 or run.status is not RunStatus.RUNNING:
            return t
        seconds = max(0.0, used.value - threshold) / rate.value
        if t is None or seconds < (self.at - t).total_seconds():
            with contextlib.suppress(OverflowError):  # a start before year 1 is no start
                t = self.at - timedelta(seconds=seconds)
        return t


__all__ = ["DutyRules"]
