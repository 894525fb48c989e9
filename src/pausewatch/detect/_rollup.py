"""Daily balances per operator and per party: the roll-ups of the facilities' (docs/adr/0035).

A shortfall spread thin over many facilities of one operator or party, each under its own
facility's limit, shows in their sum: for each operator and party, each series (``energy``,
``compute_energy``, ``compute_counters``) and each UTC day, the sum of its facilities'
balances of that day (:func:`~pausewatch.detect._balance.roll_up`). The facilities' balances
keep their error loadings, so the sum's error model is right without a new one: random errors
add in quadrature, and an error two facilities share (a key such as ``meter:<id>`` or
``efficiency:<source>`` on both) adds linearly, counted once with its full correlation; a
systematic error persists from day to day in the sum as it does in each facility's series.
The sums are standardised (SITMUF) and tested like a facility's (the one-shot test and Page's
CUSUM, each at :data:`~pausewatch.detect._daily.ALPHA_PER_TEST` false alarms per operator- or
party-year).

A facility whose own series alarms is left out of that series' roll-ups: its finding already
asks for an inspection, and the roll-up then tests what the others leave unaccounted for
(without it, one facility's large shortfall would alarm its operator and its party too, three
findings for one cause). The same rule holds one level up: an operator whose roll-up of a
series alarms is left out of its party's sum of that series (its facilities are listed as
excluded there), so a shortfall within one operator is filed on the operator, not again on
its party. A roll-up that would repeat a smaller one is not drawn: an operator's needs two
facilities, a party's facilities of two operators.

Pure: the facilities' balances in, the roll-ups out; :func:`rollup_balances` reads them from
:func:`~pausewatch.detect._daily.facility_balances` (cached), so the roll-ups reuse the
facility series rather than drawing them again.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from pausewatch.detect._balance import Balance, BalanceKind, Level, Quantity
from pausewatch.detect._daily import (
    DAY_CLOSES_AFTER,
    SERIES,
    DayPoint,
    FacilityBalances,
    facility_balances,
    first_alarms,
    series_tested,
)
from pausewatch.registry import Registry

_ZERO = Quantity.exact(0.0)

SCOPES: tuple[Level, ...] = (Level.OPERATOR, Level.PARTY)
"""The levels the facilities' balances are rolled up to."""


@dataclass(frozen=True, slots=True)
class RollupAlarm:
    """The first alarm of one test on one balance series of an operator or a party."""

    level: Level
    """``operator`` or ``party``."""
    subject: str
    """The operator's or party's id."""
    party_id: str | None
    """The party (of an operator; the party itself for a party)."""
    balance: BalanceKind
    test: str
    point: DayPoint
    alarms: int
    """Days this test alarmed on, up to the time."""
    last: datetime
    """Start of the last day it alarmed on."""
    facilities: tuple[str, ...]
    """The facilities the series sums."""

    @property
    def statistic(self) -> float:
        """The standardised residual (one-shot) or the CUSUM."""
        return self.point.statistic(self.test)

    @property
    def limit(self) -> float:
        """What the statistic exceeded."""
        return self.point.limit(self.test)


@dataclass(frozen=True, slots=True)
class RollupBalances:
    """An operator's or a party's daily balances: its facilities' summed per day, tested."""

    level: Level
    """``operator`` or ``party``."""
    subject: str
    """The operator's or party's id."""
    party_id: str | None
    """The operator's party (the party itself for a party)."""
    facilities: tuple[str, ...]
    """Every facility of the operator or party, in id order."""
    included: Mapping[BalanceKind, tuple[str, ...]]
    """Per series, the facilities summed: those with a tested series that does not alarm."""
    excluded: Mapping[BalanceKind, tuple[str, ...]]
    """Per series, the facilities left out because their own series alarms or (in a party's)
    because their operator's roll-up of that series alarms."""
    series: Mapping[BalanceKind, tuple[DayPoint, ...]]
    """Per series, the summed days, tested (none where the roll-up would repeat a smaller one)."""

    def alarmed(self, kind: BalanceKind) -> bool:
        """Whether either test alarmed on the series ``kind`` on any day."""
        return any(p.alarm is not None for p in self.series.get(kind, ()))

    def alarms(self) -> tuple[RollupAlarm, ...]:
        """The first alarm of each test on each series (one per series and test at most)."""
        return tuple(
            RollupAlarm(
                self.level,
                self.subject,
                self.party_id,
                a.balance,
                a.test,
                a.point,
                a.alarms,
                a.last,
                self.included.get(a.balance, ()),
            )
            for a in first_alarms(self.series)
        )

    def to_json(self) -> dict[str, Any]:
        """Contract C8's item: ``operator_id`` (with its ``party_id``) or ``party_id``, the
        facilities, and the three series; beside them which facilities each series sums and
        which it leaves out."""
        head: dict[str, Any] = (
            {"operator_id": self.subject, "party_id": self.party_id}
            if self.level is Level.OPERATOR
            else {"party_id": self.subject}
        )
        return {
            **head,
            "facilities": list(self.facilities),
            "included": {kind.value: list(self.included.get(kind, ())) for kind in SERIES},
            "excluded": {kind.value: list(self.excluded.get(kind, ())) for kind in SERIES},
            "balances": {
                kind.value: [p.to_json() for p in self.series.get(kind, ())] for kind in SERIES
            },
        }


def _shared_keys(facilities: Iterable[FacilityBalances], kind: BalanceKind) -> frozenset[Hashable]:
    """The random error keys that two or more of the facilities' tested days of series
    ``kind`` carry (each series is tested on its own: a key another series shares does not
    correlate two days of this one)."""
    seen: set[Hashable] = set()
    shared: set[Hashable] = set()
    for f in facilities:
        for b in f.inputs.get(kind, ()):
            for key in b.quantity.random:
                if key in seen:
                    shared.add(key)
                else:
                    seen.add(key)
    return frozenset(shared)


def summed_days(
    level: Level,
    subject: str,
    series: Iterable[Sequence[Balance]],
    shared: frozenset[Hashable] | None = None,
) -> list[Balance]:
    """The facilities' series of one kind summed day by day (oldest first): each day what
    :func:`~pausewatch.detect._balance.roll_up` of the facilities' balances of that day gives
    (a facility with no balance that day adds nothing), as a net balance (accounted zero).

    Loadings add: random in quadrature, a key two balances share linearly (counted once). With
    ``shared`` (the random keys more than one balance carries), a balance's other random
    errors covary with nothing, so they are folded into one loading per balance (the root of
    their squares) before summing: the covariance of the sums is the same, and each sum holds
    a few loadings per facility rather than one per meter reading.
    """
    by_day: dict[datetime, list[Balance]] = {}
    for balances in series:
        for b in balances:
            by_day.setdefault(b.period.start, []).append(b)
    out: list[Balance] = []
    for day in sorted(by_day):
        group = by_day[day]
        value = 0.0
        random: dict[Hashable, float] = {}
        systematic: dict[Hashable, float] = {}
        for b in group:
            q = b.quantity
            value += q.value
            own = 0.0
            for key, load in q.random.items():
                if shared is None or key in shared:
                    random[key] = random.get(key, 0.0) + load
                else:
                    own += load * load
            if own:
                random[("day", b.subject, b.kind.value, day)] = math.sqrt(own)
            for key, load in q.systematic.items():
                systematic[key] = systematic.get(key, 0.0) + load
        first = group[0]
        out.append(
            Balance(
                level,
                subject,
                first.kind,
                first.period,
                Quantity(value, random, systematic),
                _ZERO,
                tuple(dict.fromkeys(e for b in group for e in b.evidence)),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class _Sums:
    """One roll-up's facilities per series and their summed days, before the tests."""

    included: dict[BalanceKind, tuple[FacilityBalances, ...]]
    excluded: dict[BalanceKind, tuple[FacilityBalances, ...]]
    days: dict[BalanceKind, list[Balance]]


def _sums(
    level: Level,
    subject: str,
    members: Sequence[FacilityBalances],
    shared: Mapping[BalanceKind, frozenset[Hashable]],
    parts: Mapping[str, _Sums] | None = None,
    alarmed: Mapping[BalanceKind, frozenset[str]] | None = None,
) -> _Sums:
    """The facilities each series sums and their days summed. A facility is left out of a
    series where its own series alarms or, in a party's, where its operator is in
    ``alarmed`` for that series (the operators whose roll-up of it alarms). A party's days are
    summed from its other operators' sums (``parts``, by operator) rather than from its
    facilities again."""
    included: dict[BalanceKind, tuple[FacilityBalances, ...]] = {}
    excluded: dict[BalanceKind, tuple[FacilityBalances, ...]] = {}
    days: dict[BalanceKind, list[Balance]] = {}
    for kind in SERIES:
        out = alarmed.get(kind, frozenset()) if alarmed else frozenset()
        tested = [f for f in members if f.inputs.get(kind)]
        left = {f.facility_id for f in tested if f.alarmed(kind) or f.operator_id in out}
        included[kind] = tuple(f for f in tested if f.facility_id not in left)
        excluded[kind] = tuple(f for f in tested if f.facility_id in left)
        if parts:
            days[kind] = summed_days(
                level, subject, [s.days[kind] for o, s in parts.items() if o not in out]
            )
        else:
            days[kind] = summed_days(
                level, subject, [f.inputs[kind] for f in included[kind]], shared[kind]
            )
    return _Sums(included, excluded, days)


def _tested(
    level: Level, subject: str, party: str | None, members: Sequence[FacilityBalances], sums: _Sums
) -> RollupBalances:
    series: dict[BalanceKind, tuple[DayPoint, ...]] = {}
    for kind in SERIES:
        summed = sums.included[kind]
        # An operator's sum of one facility is that facility's series; a party's sum over one
        # operator's facilities is that operator's: testing it again would file it twice.
        distinct = len(summed) if level is Level.OPERATOR else len({f.operator_id for f in summed})
        if distinct >= 2:
            series[kind] = series_tested(sums.days[kind])
    return RollupBalances(
        level,
        subject,
        party,
        tuple(f.facility_id for f in members),
        MappingProxyType({k: tuple(f.facility_id for f in v) for k, v in sums.included.items()}),
        MappingProxyType({k: tuple(f.facility_id for f in v) for k, v in sums.excluded.items()}),
        MappingProxyType(series),
    )


@dataclass(frozen=True, slots=True)
class Rollups:
    """The roll-ups of a set of facilities' balances, per operator and per party, in id order."""

    operators: tuple[RollupBalances, ...]
    parties: tuple[RollupBalances, ...]

    def alarms(self) -> tuple[RollupAlarm, ...]:
        """Every roll-up's alarms: operators first, then parties."""
        return tuple(a for r in (*self.operators, *self.parties) for a in r.alarms())

    def containing(self, facility: str) -> Rollups:
        """Only the roll-ups whose operator or party holds ``facility``."""
        return Rollups(
            tuple(r for r in self.operators if facility in r.facilities),
            tuple(r for r in self.parties if facility in r.facilities),
        )


def rolled_up(facilities: Sequence[FacilityBalances]) -> Rollups:
    """Each operator's and each party's daily balances from its facilities' (a facility with
    no operator or party on the registry is in neither roll-up)."""
    by_operator: dict[str, list[FacilityBalances]] = {}
    by_party: dict[str, list[FacilityBalances]] = {}
    party_of: dict[str, str | None] = {}
    for f in sorted(facilities, key=lambda f: f.facility_id):
        if f.operator_id is not None:
            by_operator.setdefault(f.operator_id, []).append(f)
            party_of[f.operator_id] = f.party_id
        if f.party_id is not None:
            by_party.setdefault(f.party_id, []).append(f)
    shared = {kind: _shared_keys(facilities, kind) for kind in SERIES}
    sums = {o: _sums(Level.OPERATOR, o, members, shared) for o, members in by_operator.items()}
    operators = tuple(
        _tested(Level.OPERATOR, o, party_of[o], members, sums[o])
        for o, members in sorted(by_operator.items())
    )
    # An operator whose roll-up alarms on a series is left out of its party's sum of it, as
    # a facility is of its operator's: one cause, one finding (docs/adr/0035).
    alarmed = {kind: frozenset(o.subject for o in operators if o.alarmed(kind)) for kind in SERIES}
    parties = []
    for p, members in sorted(by_party.items()):
        ops = sorted({f.operator_id for f in members if f.operator_id is not None})
        # Every facility of a party has an operator on the registry (a facility's operator is
        # the one that registered it), so its operators' sums cover it.
        whole = all(f.operator_id is not None for f in members)
        parts = {o: sums[o] for o in ops} if whole else None
        parties.append(
            _tested(
                Level.PARTY, p, p, members, _sums(Level.PARTY, p, members, shared, parts, alarmed)
            )
        )
    return Rollups(operators, tuple(parties))


_CACHE: dict[tuple[int, int, object], tuple[Any, Rollups]] = {}
_CACHE_SIZE = 32
_CACHE_LOCK = threading.Lock()


def rollup_balances(registry: Registry, at: datetime) -> Rollups:
    """The roll-ups per operator and party of every facility's daily balances over the days
    closed at ``at``; kept, like :func:`~pausewatch.detect._daily.facility_balances`, for the
    registry's fold position and the last closed day."""
    key = (id(registry), registry.applied, (at - DAY_CLOSES_AFTER).date())
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is registry:
        return hit[1]
    found = rolled_up(facility_balances(registry, at))
    with _CACHE_LOCK:  # callers on several threads (readers, a fold deciding a lift)
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)), None)
        _CACHE[key] = (weakref.ref(registry), found)
    return found


__all__ = [
    "SCOPES",
    "RollupAlarm",
    "RollupBalances",
    "Rollups",
    "rolled_up",
    "rollup_balances",
    "summed_days",
]
