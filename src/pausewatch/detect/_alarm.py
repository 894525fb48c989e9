"""Alarms from balances: the one-shot, cumulative and CUSUM tests, each a readable finding.

Every alarm says which balance it is about (level, subject, kind, period), the statistic and the
threshold it crossed, the false-alarm rate the threshold was set for (``alpha`` per test for the
one-shot and cumulative tests, the in-control average run length for the CUSUM), an explanation
a delegate can read, and the log entries it rests on. See
docs/adr/0024-balances-sitmuf-and-cusum.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pausewatch.detect._balance import Balance, BalanceError, Level, Period
from pausewatch.detect._cusum import page_cusum
from pausewatch.detect._sitmuf import cumulative, one_shot, sitmuf, z_quantile


class AlarmTest(StrEnum):
    """Which test raised an alarm."""

    ONE_SHOT = "one_shot"
    """One balance against ``z(1-alpha)·sigma``."""
    CUMULATIVE = "cumulative"
    """The running sum of the balances against ``z(1-alpha)·sigma`` of the sum."""
    CUSUM = "cusum"
    """Page's CUSUM on the SITMUF residuals against its decision interval ``h``."""


@dataclass(frozen=True, slots=True)
class FalseAlarmRate:
    """What a threshold was set for: ``alpha`` per test, or the CUSUM's in-control run length."""

    alpha: float | None = None
    """Probability of an alarm per test when nothing is missing."""
    arl0: float | None = None
    """Average number of periods between false alarms when nothing is missing (CUSUM)."""

    def __post_init__(self) -> None:
        if (self.alpha is None) == (self.arl0 is None):
            raise BalanceError(
                "a false-alarm rate is either alpha or an in-control ARL, got "
                f"alpha={self.alpha!r}, ARL={self.arl0!r}"
            )
        if self.alpha is not None:
            z_quantile(self.alpha)
        if self.arl0 is not None and not (math.isfinite(self.arl0) and self.arl0 >= 1):
            raise BalanceError(
                f"in-control ARL must be a number of periods >= 1, got {self.arl0!r}"
            )

    def __str__(self) -> str:
        if self.alpha is not None:
            return f"alpha = {self.alpha:g} per test"
        return f"an in-control average run length of {self.arl0:g} periods"

    def to_json(self) -> dict[str, float]:
        """``{"alpha": alpha}`` or ``{"arl0": ARL}``."""
        if self.alpha is not None:
            return {"alpha": self.alpha}
        assert self.arl0 is not None
        return {"arl0": self.arl0}


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm of one test on one balance series: a finding with its evidence."""

    test: AlarmTest
    """Which test alarmed."""
    level: Level
    """Facility, cluster, operator or party."""
    subject: str
    """Its id."""
    kind: str
    """The kind of balance (:class:`~pausewatch.detect._balance.BalanceKind` value)."""
    period: Period
    """The period at whose close the test alarmed."""
    since: Period
    """The first period whose balance the statistic draws on."""
    statistic: float
    """The balance, the running sum, or the CUSUM."""
    threshold: float
    """What it exceeded: ``z(1-alpha)·sigma`` or ``h``."""
    false_alarm: FalseAlarmRate
    """The false-alarm rate the threshold was set for."""
    explanation: str
    """What the alarm means, in words a delegate can read."""
    evidence: tuple[str, ...]
    """Log entries (indices or ids) of the balances it draws on, oldest first."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping (times in ISO 8601 UTC)."""
        return {
            "test": self.test.value,
            "level": self.level.value,
            "subject": self.subject,
            "kind": self.kind,
            "period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()},
            "since": {"start": self.since.start.isoformat(), "end": self.since.end.isoformat()},
            "statistic": self.statistic,
            "threshold": self.threshold,
            "false_alarm": self.false_alarm.to_json(),
            "explanation": self.explanation,
            "evidence": list(self.evidence),
        }


def _series(balances: Sequence[Balance]) -> Sequence[Balance]:
    """The balances if they are one subject's, of one kind, in consecutive non-overlapping
    periods, oldest first; otherwise a BalanceError."""
    if not balances:
        raise BalanceError("expected at least one balance, got none")
    first = balances[0]
    for b in balances[1:]:
        if (b.level, b.subject, b.kind) != (first.level, first.subject, first.kind):
            raise BalanceError(
                f"expected one series ({first.level.value} {first.subject}, {first.kind.value}), "
                f"got also {b.level.value} {b.subject}, {b.kind.value}"
            )
    for a, b in itertools.pairwise(balances):
        if b.period.start < a.period.end:
            raise BalanceError(
                f"expected periods in order without overlap, got {a.period} then {b.period}"
            )
    return balances


def _evidence(balances: Iterable[Balance]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e for b in balances for e in b.evidence))


def _fmt(x: float, unit: str) -> str:
    return f"{x:.4g} {unit}"


def one_shot_alarms(balances: Sequence[Balance], alpha: float) -> tuple[Alarm, ...]:
    """An alarm for each balance above ``z(1-alpha)·sigma``: more unaccounted for than its
    errors explain."""
    series = _series(balances)
    out: list[Alarm] = []
    for t in one_shot(series, alpha):
        if not t.alarm:
            continue
        b = series[t.index]
        spread = (
            f"{t.statistic / t.sigma:.2f} sigma" if t.sigma > 0 else "with no error to explain it"
        )
        out.append(
            Alarm(
                AlarmTest.ONE_SHOT,
                b.level,
                b.subject,
                b.kind.value,
                b.period,
                b.period,
                t.statistic,
                t.threshold,
                FalseAlarmRate(alpha=alpha),
                f"{b.label()}: {_fmt(t.statistic, b.unit)} measured beyond what is accounted "
                f"for, {spread} (sigma = {_fmt(t.sigma, b.unit)} from the measurement errors). "
                f"The one-shot test alarms above z(1-alpha)·sigma = {_fmt(t.threshold, b.unit)}, "
                f"set for a false-alarm rate alpha = {alpha:g} per period.",
                _evidence([b]),
            )
        )
    return tuple(out)


def cumulative_alarms(balances: Sequence[Balance], alpha: float) -> tuple[Alarm, ...]:
    """An alarm for each period whose running sum of balances exceeds ``z(1-alpha)·sigma`` of
    the sum."""
    series = _series(balances)
    out: list[Alarm] = []
    for t in cumulative(series, alpha):
        if not t.alarm:
            continue
        b = series[t.index]
        out.append(
            Alarm(
                AlarmTest.CUMULATIVE,
                b.level,
                b.subject,
                b.kind.value,
                b.period,
                series[0].period,
                t.statistic,
                t.threshold,
                FalseAlarmRate(alpha=alpha),
                f"{b.label()}: over the {t.index + 1} period(s) since "
                f"{series[0].period.start:%Y-%m-%d}, {_fmt(t.statistic, b.unit)} measured "
                f"beyond what is accounted for in total, above z(1-alpha)·sigma = "
                f"{_fmt(t.threshold, b.unit)} of the sum (sigma = "
                f"{_fmt(t.sigma, b.unit)}, systematic errors counted once per source). Set for "
                f"a false-alarm rate alpha = {alpha:g} per test.",
                _evidence(series[: t.index + 1]),
            )
        )
    return tuple(out)


def cusum_alarms(
    balances: Sequence[Balance], *, k: float, h: float, arl0: float
) -> tuple[Alarm, ...]:
    """Page's CUSUM on the SITMUF residuals of ``balances``; ``arl0`` is its in-control average
    run length for ``k`` and ``h`` (computed elsewhere, e.g. by Brook and Evans's Markov chain)."""
    series = _series(balances)
    rate = FalseAlarmRate(arl0=arl0)
    standard = sitmuf(series)
    cusum = page_cusum(standard.residuals, k, h)
    out: list[Alarm] = []
    for i, start in zip(cusum.alarms, cusum.since, strict=True):
        b = series[i]
        steps = standard.residuals[start : i + 1]
        mean = math.fsum(steps) / len(steps)
        out.append(
            Alarm(
                AlarmTest.CUSUM,
                b.level,
                b.subject,
                b.kind.value,
                b.period,
                series[start].period,
                cusum.path[i],
                h,
                rate,
                f"{b.label()}: Page's CUSUM of the standardised balances (SITMUF, systematic "
                f"errors taken as persistent) reached {cusum.path[i]:.2f} > h = {h:g} (k = "
                f"{k:g}) over the {i - start + 1} period(s) since "
                f"{series[start].period.start:%Y-%m-%d}, whose balances ran {mean:.2f} sigma above "
                f"what their errors explain on average: a persistent shortfall that no single "
                f"period need show. Set for {rate}.",
                _evidence(series[start : i + 1]),
            )
        )
    return tuple(out)


def balance_alarms(
    balances: Sequence[Balance], *, alpha: float, k: float, h: float, arl0: float
) -> tuple[Alarm, ...]:
    """Every test on one series: one-shot and cumulative at ``alpha``, CUSUM at ``(k, h)`` with
    in-control run length ``arl0``; alarms ordered by period, then test.

    A series of exact balances (chips counted from records, sigma 0) has nothing to standardise:
    it gets no CUSUM, and its one-shot test already alarms on any shortfall.
    """
    series = _series(balances)
    found = [*one_shot_alarms(series, alpha), *cumulative_alarms(series, alpha)]
    if any(b.sigma > 0 for b in series):
        found.extend(cusum_alarms(series, k=k, h=h, arl0=arl0))
    order = list(AlarmTest)
    return tuple(sorted(found, key=lambda a: (a.period.start, order.index(a.test))))
