"""Transcripts: commitments of what a run trains, made on the log before and while it trains,
and the audits that replay them (issue 17; docs/adr/0038, docs/adr/0039).

The policy's ``transcripts`` section says which runs must keep one (planned compute at or above
``required_from_flop``) and how promptly its commitments must come. A run that must keep one
and started without its commitment on the log is ``transcript_missing``; one whose checkpoint
commitments stopped while it ran, or whose final commitment did not follow its end within the
grace, is ``transcript_late``. Whatever the section says, an audit's ``fail`` verdict is
``transcript_failed`` (a halt proposal for the run), and an evaluation result that names
weights other than the final weights its model's run committed is
``evaluated_weights_mismatch``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from pausewatch.policy._evaluator._base import _BY_ID, State, _fmt_time
from pausewatch.policy._facts import RunFact, RunStatus, TranscriptFact
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import Action, Transcripts


def _joined(values: tuple[int, ...]) -> str:
    return ", ".join(str(v) for v in values) or "none"


class TranscriptRules(State):
    """Transcript duties per run, failed audits per verdict, evaluated weights per result."""

    def transcripts(self) -> None:
        by_run = {t.run: t for t in self.facts.transcripts}
        rules = self.policy.transcripts
        if rules is not None and rules.required_from_flop is not None:
            for run in sorted(self.facts.runs, key=_BY_ID):
                if run.declared is None or run.declared.value < rules.required_from_flop:
                    continue
                floor = rules.required_from_flop
                self._duty(run, run.declared.value, floor, by_run.get(run.id), rules)
        for verdict in sorted(self.facts.transcript_verdicts, key=lambda v: (v.run, v.audit)):
            if verdict.verdict != "fail":
                continue
            why = [f"segments {_joined(verdict.failed_segments)} replayed beyond tolerance"]
            if not verdict.inclusion_passed:
                why.append("the data-inclusion test failed")
            why += list(verdict.reasons)
            self.finding(
                FindingKind.TRANSCRIPT_FAILED,
                Severity.CRITICAL,
                f"run:{verdict.run}",
                f"audit {verdict.audit} of run {verdict.run}'s training transcript by inspector "
                f"{verdict.inspector} failed ({'; '.join(why)}): what was trained is not what "
                "the transcript says; a halt of the run is proposed",
                verdict.evidence,
                action=Action.HALT_PROPOSAL,
                figures=(
                    ("audit", verdict.audit),
                    ("segments", _joined(verdict.segments)),
                    ("failed_segments", _joined(verdict.failed_segments)),
                    ("inclusion_passed", verdict.inclusion_passed),
                    ("reasons", "; ".join(verdict.reasons)[:2_000]),
                ),
            )
        self._weights(by_run)

    def _duty(
        self,
        run: RunFact,
        planned: float,
        floor: float,
        transcript: TranscriptFact | None,
        rules: Transcripts,
    ) -> None:
        if not run.has_started:
            return
        started = run.starts_at
        required = (
            f"run {run.id} of {run.operator} plans {planned:.3g} FLOP, at or above the "
            f"{floor:.3g} FLOP from which the policy requires a transcript"
        )
        if transcript is None or (started is not None and transcript.committed_at > started):
            when = "" if started is None else f" at {_fmt_time(started)}"
            late = " and has none on the log"
            if transcript is not None:
                late = f"; it reached the log only at {_fmt_time(transcript.committed_at)}"
            self.finding(
                FindingKind.TRANSCRIPT_MISSING,
                Severity.SERIOUS,
                f"run:{run.id}",
                f"{required}: it started{when} without its transcript commitment{late}; an "
                "inspection is asked for",
                tuple(
                    sorted({*run.evidence, *(() if transcript is None else transcript.evidence)})
                ),
                action=Action.INSPECTION,
                figures=(
                    ("planned_flop", planned),
                    ("required_from_flop", floor),
                    ("committed", transcript is not None),
                ),
            )
            return
        self._late(run, transcript, rules, required)

    def _late(
        self, run: RunFact, transcript: TranscriptFact, rules: Transcripts, required: str
    ) -> None:
        evidence = tuple(sorted({*run.evidence, *transcript.evidence}))
        parts: list[str] = []
        figures: list[tuple[str, float | str | bool]] = []
        gap = self._longest_gap(run, transcript)
        if gap is not None and gap[0] > rules.max_checkpoint_gap:
            span, (since, since_what), (until, until_what) = gap
            parts.append(
                f"it went {_hours(span)} without a checkpoint commitment, from {since_what} at "
                f"{_fmt_time(since)} to {until_what} at {_fmt_time(until)}, longer than the "
                f"{_hours(rules.max_checkpoint_gap)} the policy allows between commitments"
            )
            figures += [
                ("gap_hours", _hours_figure(span)),
                ("limit_hours", _hours_figure(rules.max_checkpoint_gap)),
                ("gap_from", _iso(since)),
                ("gap_to", _iso(until)),
                ("gap_between", f"{since_what} and {until_what}"),
            ]
        # A halted run stops short of its committed steps: it has no final weights to commit.
        if run.status is RunStatus.FINISHED and run.ends_at is not None:
            deadline = run.ends_at + rules.commit_grace
            final = transcript.final_at
            what = ""
            if final is None and self.at > deadline:
                what = (
                    "its final checkpoint commitment is still missing, due by "
                    f"{_fmt_time(deadline)}"
                )
            elif final is not None and final > deadline:
                what = (
                    f"its final checkpoint commitment reached the log at {_fmt_time(final)}, "
                    f"after {_fmt_time(deadline)}"
                )
            if what:
                parts.append(
                    f"it ended at {_fmt_time(run.ends_at)} and {what} (the policy allows "
                    f"{_hours(rules.commit_grace)} after the end)"
                )
                figures += [
                    ("ended_at", _iso(run.ends_at)),
                    ("deadline", _iso(deadline)),
                    ("final_committed", final is not None),
                ]
        if parts:
            self._late_finding(run, f"{required}: {'; '.join(parts)}", evidence, tuple(figures))

    def _longest_gap(
        self, run: RunFact, transcript: TranscriptFact
    ) -> tuple[timedelta, tuple[datetime, str], tuple[datetime, str]] | None:
        """The longest time the run went without a checkpoint commitment while it ran: between
        consecutive moments of its start, each checkpoint commitment (one statement commits
        all its checkpoints at once) and its end (``at`` while it runs, or its final
        commitment where that came first). None where there is nothing to judge."""
        start, start_what = run.starts_at or transcript.committed_at, "its start"
        ran = run.status in (RunStatus.FINISHED, RunStatus.HALTED) and run.ends_at is not None
        end, end_what = (run.ends_at, "its end") if ran and run.ends_at else (self.at, "now")
        if transcript.final_at is not None and transcript.final_at < end:
            end, end_what = transcript.final_at, "its final checkpoint commitment"
        end = min(end, self.at)
        moments = [
            (c.at, f"its checkpoint commitment up to step {c.last_step} (log:{c.entry})")
            for c in transcript.commitments
        ]
        last = transcript.last_checkpoint_at
        if not moments and last is not None:
            # Facts that list no commitments tell only of the last one: judged is the time
            # since it while the run goes on, and nothing of a run that is over.
            if ran or transcript.final_at is not None:
                return None
            if last > start:
                start, start_what = last, "its last checkpoint commitment"
        if end <= start:
            return None
        # A commitment before the start (the initial weights) counts from the start; one
        # after the end (the final weights, within the grace) is judged by the grace.
        points = [
            (start, start_what),
            *((t, what) for t, what in moments if start < t < end),
            (end, end_what),
        ]
        longest = max(pairwise(points), key=lambda p: p[1][0] - p[0][0])
        return longest[1][0] - longest[0][0], longest[0], longest[1]

    def _late_finding(
        self,
        run: RunFact,
        explanation: str,
        evidence: tuple[str, ...],
        figures: tuple[tuple[str, float | str | bool], ...],
    ) -> None:
        self.finding(
            FindingKind.TRANSCRIPT_LATE,
            Severity.SERIOUS,
            f"run:{run.id}",
            explanation,
            evidence,
            figures=figures,
        )

    def _weights(self, by_run: dict[str, TranscriptFact]) -> None:
        finals: dict[str, dict[str, str]] = {}
        for run in sorted(self.facts.runs, key=_BY_ID):
            transcript = by_run.get(run.id)
            if transcript is not None and transcript.final_digest is not None:
                finals.setdefault(run.model, {})[transcript.final_digest] = run.id
        for weights in sorted(self.facts.evaluated_weights, key=lambda w: w.result):
            committed = finals.get(weights.model)
            if not committed or weights.weights_digest in committed:
                continue
            runs = ", ".join(sorted(committed.values()))
            self.finding(
                FindingKind.EVALUATED_WEIGHTS_MISMATCH,
                Severity.SERIOUS,
                f"eval:{weights.result}",
                f"result {weights.result} evaluated weights {weights.weights_digest} as model "
                f"{weights.model}, whose run(s) {runs} committed other final weights "
                f"({', '.join(sorted(committed))}): the model evaluated is not the model "
                "trained; an inspection is asked for",
                weights.evidence,
                action=Action.INSPECTION,
                figures=(
                    ("model", weights.model),
                    ("weights_digest", weights.weights_digest),
                    ("final_digests", ", ".join(sorted(committed))),
                ),
            )


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.3g} hours"


def _hours_figure(span: timedelta) -> float:
    return round(span.total_seconds() / 3600, 6)


def _latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


__all__ = ["TranscriptRules"]
