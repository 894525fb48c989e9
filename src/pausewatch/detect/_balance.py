"""Balances in the manner of material accounting: what was measured, less what was declared.

A *balance* is a linear combination of measurements whose expected value is zero when the
operator is honest: compute unaccounted for (CUF, measured minus declared FLOP), energy unaccounted
for (EUF, the meter's energy less the chips' reported energy and the stated overheads) and chips
unaccounted for (shipped, less installed, retired and seen reporting). This is the IAEA's
"material unaccounted for" (MUF = beginning + receipts - shipments - ending; IAEA Safeguards
Glossary, 2022 edition, §6.44) carried over from nuclear material to compute.

The error model (Avenhaus and Canty, "Compliance Quantified", 1996, ch. 3; Jaech, "Statistical
Analysis of Measurement Errors", 1985, ch. 3) gives each measurement two parts:

* a **random** error, independent from one reading to the next (a meter's noise, a counter's
  jitter), keyed by the reading so that a reading used in two balances (an ending inventory that
  is the next period's beginning) carries the same error into both;
* a **systematic** error, shared by every reading of the same *source* (a meter's calibration
  bias, a chip model's efficiency at a facility's workload), which persists from period to period
  and so does not average out. A recalibrated meter is a new source: give it a new source id.

A :class:`Quantity` carries a value with its error *loadings* (how much of each error it holds);
sums, differences and products (linearised, the delta method) keep the loadings, so that the
covariance of any two balances is exact under the model: ``Σ_ij = Σ_k r_ik·r_jk + Σ_s L_is·L_js``.
See docs/adr/0024-balances-sitmuf-and-cusum.md.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from pausewatch.compute import (
    COUNTER_TOLERANCE,
    PLAUSIBLE_EFFICIENCY,
    Chip,
    Precision,
    require_utc,
)
from pausewatch.errors import ComputeError, DetectionError


class BalanceError(DetectionError):
    """A balance cannot be formed or tested: a negative sigma, an empty period, a singular
    covariance."""


def _finite(name: str, x: float) -> float:
    if not math.isfinite(x):
        raise BalanceError(f"{name} must be a finite number, got {x!r}")
    return float(x)


def _sigma(name: str, x: float) -> float:
    if not math.isfinite(x) or x < 0:
        raise BalanceError(f"{name} must be a finite sigma >= 0, got {x!r}")
    return float(x)


def _merge(
    a: Mapping[Hashable, float], b: Mapping[Hashable, float], sign: float
) -> dict[Hashable, float]:
    out = dict(a)
    for key, load in b.items():
        out[key] = out.get(key, 0.0) + sign * load
    return out


@dataclass(frozen=True, slots=True)
class Quantity:
    """A value with its error loadings: how much of each random and systematic error it holds.

    The variance is ``Σ random² + Σ systematic²``; two quantities covary through the errors they
    share (:func:`covariance_of`). Build quantities from :class:`Measurement` values and combine
    them with ``+``, ``-``, ``*`` (a number or, linearised, another quantity).
    """

    value: float
    """The central value (FLOP, joules, chips)."""
    random: Mapping[Hashable, float] = field(default_factory=dict, hash=False)
    """Loading on each independent random error, keyed by the reading it comes from."""
    systematic: Mapping[Hashable, float] = field(default_factory=dict, hash=False)
    """Loading on each systematic error, keyed by its source (a meter, a counter set)."""

    def __post_init__(self) -> None:
        _finite("quantity value", self.value)
        for part in (self.random, self.systematic):
            for key, load in part.items():
                _finite(f"loading on {key!r}", load)
        object.__setattr__(self, "random", MappingProxyType(dict(self.random)))
        object.__setattr__(self, "systematic", MappingProxyType(dict(self.systematic)))

    @classmethod
    def exact(cls, value: float) -> Quantity:
        """A figure known without error (a declared plan, a shipping record's count)."""
        return cls(value)

    @property
    def random_variance(self) -> float:
        """The part of the variance that is independent from one period to the next."""
        return math.fsum(x * x for x in self.random.values())

    @property
    def systematic_variance(self) -> float:
        """The part of the variance that persists across periods (shared sources)."""
        return math.fsum(x * x for x in self.systematic.values())

    @property
    def variance(self) -> float:
        """Total variance under the error model."""
        return self.random_variance + self.systematic_variance

    @property
    def sigma(self) -> float:
        """Total standard deviation under the error model."""
        return math.sqrt(self.variance)

    def __add__(self, other: Quantity | float) -> Quantity:
        o = other if isinstance(other, Quantity) else Quantity(float(other))
        return Quantity(
            self.value + o.value,
            _merge(self.random, o.random, 1.0),
            _merge(self.systematic, o.systematic, 1.0),
        )

    def __radd__(self, other: float) -> Quantity:
        return self + other

    def __sub__(self, other: Quantity | float) -> Quantity:
        o = other if isinstance(other, Quantity) else Quantity(float(other))
        return Quantity(
            self.value - o.value,
            _merge(self.random, o.random, -1.0),
            _merge(self.systematic, o.systematic, -1.0),
        )

    def __rsub__(self, other: float) -> Quantity:
        return Quantity(float(other)) - self

    def __neg__(self) -> Quantity:
        return self * -1.0

    def __mul__(self, other: Quantity | float) -> Quantity:
        """The product; of two quantities, linearised: ``d(ab) = b·da + a·db`` (delta method)."""
        if isinstance(other, Quantity):
            scaled_a = self._scaled(other.value)
            scaled_b = other._scaled(self.value)
            return Quantity(
                self.value * other.value,
                _merge(scaled_a.random, scaled_b.random, 1.0),
                _merge(scaled_a.systematic, scaled_b.systematic, 1.0),
            )
        return self._scaled(float(other))

    def __rmul__(self, other: float) -> Quantity:
        return self._scaled(float(other))

    def _scaled(self, c: float) -> Quantity:
        return Quantity(
            self.value * c,
            {k: v * c for k, v in self.random.items()},
            {k: v * c for k, v in self.systematic.items()},
        )


def covariance_of(a: Quantity, b: Quantity) -> float:
    """Covariance of two quantities: the products of their loadings on the errors they share."""
    shared_r = math.fsum(load * b.random[k] for k, load in a.random.items() if k in b.random)
    shared_s = math.fsum(
        load * b.systematic[k] for k, load in a.systematic.items() if k in b.systematic
    )
    return shared_r + shared_s


@dataclass(frozen=True, slots=True)
class Measurement:
    """One reading with its random and systematic standard deviations (absolute, in its unit).

    ``source`` names the systematic error the reading shares with every other reading of the same
    instrument, e.g. ``meter:M-7`` or ``counters:cluster-a``. ``reading`` keys its random error:
    give the same reading to two balances that use it (an inventory closing one period and opening
    the next) and its error enters both; leave it ``None`` and each use is its own draw.
    """

    value: float
    """The value read (FLOP, joules, chips)."""
    random_sigma: float
    """sigma of the random part, independent per reading."""
    systematic_sigma: float
    """sigma of the systematic part, shared with every reading of ``source``."""
    source: str
    """The instrument whose systematic error this reading carries."""
    reading: str | None = None
    """Identifier of the reading (a log index, a reading id); keys its random error."""

    def __post_init__(self) -> None:
        _finite("measurement value", self.value)
        _sigma("random sigma", self.random_sigma)
        _sigma("systematic sigma", self.systematic_sigma)
        if not self.source.strip():
            raise BalanceError("a measurement needs the source of its systematic error, got ''")

    @classmethod
    def relative(
        cls,
        value: float,
        random_rel: float,
        systematic_rel: float,
        source: str,
        reading: str | None = None,
    ) -> Measurement:
        """A reading whose sigmas are fractions of its value (a meter's accuracy class)."""
        return cls(
            value,
            abs(value) * _sigma("relative random sigma", random_rel),
            abs(value) * _sigma("relative systematic sigma", systematic_rel),
            source,
            reading,
        )

    def quantity(self) -> Quantity:
        """This reading as a :class:`Quantity`, with one random and one systematic loading."""
        key: Hashable = self.reading if self.reading is not None else object()
        random = {key: self.random_sigma} if self.random_sigma else {}
        systematic: dict[Hashable, float] = (
            {self.source: self.systematic_sigma} if self.systematic_sigma else {}
        )
        return Quantity(self.value, random, systematic)


def counter_reading(value: float, cluster: str, reading: str | None = None) -> Measurement:
    """FLOP counted by a cluster's chips as a reading: the counters' ±COUNTER_TOLERANCE (ADR
    0022) taken as uniform, so a random sigma of ``value·tolerance/sqrt(3)``.

    The tolerance comes from sampled profiling metrics and records cut at window boundaries,
    both drawn afresh each window, so it is random; ``counters:<cluster>`` is still the source,
    for a caller that knows of a persistent counter bias to state it.
    """
    return Measurement(
        value, abs(value) * COUNTER_TOLERANCE / math.sqrt(3), 0.0, f"counters:{cluster}", reading
    )


Amount = Quantity | Measurement | float
"""What a balance accepts for each of its sides: a reading, a quantity, or an exact number."""


def as_quantity(x: Amount) -> Quantity:
    """A reading, a quantity or an exact number as a :class:`Quantity`."""
    if isinstance(x, Quantity):
        return x
    if isinstance(x, Measurement):
        return x.quantity()
    return Quantity.exact(float(x))


def sum_of(amounts: Iterable[Amount]) -> Quantity:
    """The sum of several amounts with their loadings (zero for none).

    One pass, one result: the same figures as adding them one by one, in time linear in the
    loadings (a roll-up sums many facilities' balances, each with many loadings).
    """
    value = 0.0
    random: dict[Hashable, float] = {}
    systematic: dict[Hashable, float] = {}
    for x in amounts:
        q = as_quantity(x)
        value += q.value
        for key, load in q.random.items():
            random[key] = random.get(key, 0.0) + load
        for key, load in q.systematic.items():
            systematic[key] = systematic.get(key, 0.0) + load
    return Quantity(value, random, systematic)


@dataclass(frozen=True, slots=True)
class Period:
    """A balance period ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        try:
            require_utc("period start", self.start)
            require_utc("period end", self.end)
        except ComputeError as exc:
            raise BalanceError(str(exc)) from exc
        if not self.start < self.end:
            raise BalanceError(
                f"a period must end after it starts, got {self.start.isoformat()} .. "
                f"{self.end.isoformat()}"
            )

    def __str__(self) -> str:
        return f"{self.start.isoformat()} .. {self.end.isoformat()}"


class Level(StrEnum):
    """What a balance is drawn for."""

    FACILITY = "facility"
    CLUSTER = "cluster"
    OPERATOR = "operator"
    PARTY = "party"


class BalanceKind(StrEnum):
    """Which quantity a balance accounts for, and from what."""

    COMPUTE_COUNTERS = "compute_counters"
    """Compute unaccounted for, measured by the chips' counters."""
    COMPUTE_ENERGY = "compute_energy"
    """Compute unaccounted for, measured by the meter's energy converted to FLOP."""
    ENERGY = "energy"
    """Energy unaccounted for: the meter against the chips' reported energy and the overheads."""
    CHIPS = "chips"
    """Chips unaccounted for: shipped, less installed, retired and seen reporting."""


UNITS: Mapping[BalanceKind, str] = MappingProxyType(
    {
        BalanceKind.COMPUTE_COUNTERS: "FLOP",
        BalanceKind.COMPUTE_ENERGY: "FLOP",
        BalanceKind.ENERGY: "J",
        BalanceKind.CHIPS: "chips",
    }
)
"""The unit each kind of balance is stated in."""


@dataclass(frozen=True, slots=True)
class Balance:
    """One balance: ``measured - accounted`` for one subject and period, positive when short.

    A positive balance is what the declarations do not account for: compute beyond the declared,
    energy beyond what the reporting chips and overheads draw, chips neither installed, retired
    nor reporting. Its expected value is zero for an honest operator.
    """

    level: Level
    """Whether the subject is a facility, a cluster, an operator or a party."""
    subject: str
    """Id of the facility, cluster, operator or party."""
    kind: BalanceKind
    """What is balanced."""
    period: Period
    """The balance period."""
    measured: Quantity
    """The measured side (counters, meter energy, chips shipped)."""
    accounted: Quantity
    """The declared or otherwise accounted side."""
    evidence: tuple[str, ...] = ()
    """Log entries (indices or ids) the two sides were read from."""

    @property
    def quantity(self) -> Quantity:
        """``measured - accounted`` with its loadings."""
        a = self.accounted
        if a.value == 0 and not a.random and not a.systematic:
            # A net balance (nothing accounted): the difference would be a copy of measured.
            return self.measured
        return self.measured - a

    @property
    def value(self) -> float:
        """The unaccounted amount (positive: more measured than accounted for)."""
        return self.quantity.value

    @property
    def sigma(self) -> float:
        """Its standard deviation under the error model."""
        return self.quantity.sigma

    @property
    def unit(self) -> str:
        """FLOP, J or chips."""
        return UNITS[self.kind]

    def label(self) -> str:
        """How a delegate reads which balance this is."""
        names = {
            BalanceKind.COMPUTE_COUNTERS: "compute unaccounted for (counters)",
            BalanceKind.COMPUTE_ENERGY: "compute unaccounted for (energy)",
            BalanceKind.ENERGY: "energy unaccounted for",
            BalanceKind.CHIPS: "chips unaccounted for",
        }
        return f"{names[self.kind]} at {self.level.value} {self.subject}, {self.period}"


def compute_unaccounted(
    level: Level,
    subject: str,
    period: Period,
    *,
    measured: Iterable[Amount],
    declared: Iterable[Amount],
    from_energy: bool = False,
    evidence: Sequence[str] = (),
) -> Balance:
    """CUF: measured FLOP (counters, or energy converted by :func:`flop_from_energy`) - declared.

    Declared covers every declared workload that ran in the period (training runs, inference).
    """
    kind = BalanceKind.COMPUTE_ENERGY if from_energy else BalanceKind.COMPUTE_COUNTERS
    return Balance(
        level, subject, kind, period, sum_of(measured), sum_of(declared), tuple(evidence)
    )


def energy_unaccounted(
    level: Level,
    subject: str,
    period: Period,
    *,
    meter: Iterable[Amount],
    chips_reported: Iterable[Amount],
    overheads: Amount,
    evidence: Sequence[str] = (),
) -> Balance:
    """EUF: the meter's energy - (Σ chips' reported energy + stated overheads), in joules.

    What it shows beyond its sigma is what chips that do not report (unregistered, or hidden behind
    the meter) would draw.
    """
    accounted = sum_of(chips_reported) + as_quantity(overheads)
    return Balance(
        level, subject, BalanceKind.ENERGY, period, sum_of(meter), accounted, tuple(evidence)
    )


def chips_unaccounted(
    level: Level,
    subject: str,
    period: Period,
    *,
    shipped: Amount,
    installed: Amount,
    retired: Amount,
    reporting: Amount,
    evidence: Sequence[str] = (),
) -> Balance:
    """Chips unaccounted for: shipped - installed - retired - seen reporting.

    The four counts partition what an honest operator holds: ``installed`` counts chips installed
    but not seen reporting in the period (declared offline, in stock), ``reporting`` those seen
    reporting; chips transferred onwards are netted out of ``shipped`` by the caller. Counts read
    from records are exact; a count seen on site carries the inspector's sigma.
    """
    accounted = as_quantity(installed) + as_quantity(retired) + as_quantity(reporting)
    return Balance(
        level,
        subject,
        BalanceKind.CHIPS,
        period,
        as_quantity(shipped),
        accounted,
        tuple(evidence),
    )


def roll_up(level: Level, subject: str, balances: Sequence[Balance]) -> Balance:
    """One balance for an operator or a party: the sum of its facilities' (or clusters')
    balances of one kind and period.

    The loadings add, so that a source shared by several facilities (one operator's meter model
    calibrated by one laboratory, one efficiency figure) counts once, not in quadrature.
    """
    if not balances:
        raise BalanceError(f"expected at least one balance to roll up into {subject}, got none")
    first = balances[0]
    for b in balances[1:]:
        if (b.kind, b.period) != (first.kind, first.period):
            raise BalanceError(
                f"expected balances of one kind and period ({first.kind.value}, {first.period}), "
                f"got also {b.kind.value}, {b.period}"
            )
    return Balance(
        level,
        subject,
        first.kind,
        first.period,
        sum_of(b.measured for b in balances),
        sum_of(b.accounted for b in balances),
        tuple(dict.fromkeys(e for b in balances for e in b.evidence)),
    )


@dataclass(frozen=True, slots=True)
class Efficiency:
    """The fraction of peak FLOP per joule at TDP that a workload achieves, with its sigma.

    ``source`` keys its error as systematic: a fleet's efficiency at its workload persists from
    period to period, like a meter's bias.
    """

    mean: float
    sigma: float
    source: str

    def __post_init__(self) -> None:
        if not math.isfinite(self.mean) or self.mean <= 0:
            raise BalanceError(f"efficiency must be a figure > 0, got {self.mean!r}")
        _sigma("efficiency sigma", self.sigma)

    @classmethod
    def from_interval(
        cls, source: str, interval: tuple[float, float] = PLAUSIBLE_EFFICIENCY
    ) -> Efficiency:
        """Uniform on ``interval``: mean its midpoint, sigma its width / √12."""
        lo, hi = interval
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
            raise BalanceError(f"efficiency interval must be 0 < low <= high, got {interval!r}")
        return cls((lo + hi) / 2, (hi - lo) / math.sqrt(12), source)

    def quantity(self) -> Quantity:
        """The efficiency as a quantity whose whole error is systematic."""
        return Quantity(self.mean, {}, {self.source: self.sigma} if self.sigma else {})


def fleet_flop_per_joule(fleet: Mapping[Chip, int], precision: Precision | str) -> float:
    """Peak FLOP per joule at TDP of a fleet: ``Σ n·peak / Σ n·TDP``.

    The facility's net energy is shared among chip models in proportion to their TDP, so that the
    fleet converts energy at the TDP-weighted mean of each model's ``peak / TDP``.
    """
    if not fleet or any(n < 0 for n in fleet.values()) or sum(fleet.values()) == 0:
        raise BalanceError(f"expected a fleet of chips with counts >= 0, got {dict(fleet)!r}")
    try:
        peak = math.fsum(n * chip.peak(precision) for chip, n in fleet.items())
        tdp = math.fsum(n * _tdp(chip) for chip, n in fleet.items())
    except ComputeError as exc:
        raise BalanceError(f"cannot convert energy to FLOP: {exc}") from exc
    return peak / tdp


def _tdp(chip: Chip) -> float:
    if chip.tdp_w is None:
        raise ComputeError(f"chip {chip.name}: expected a published TDP, got none")
    return chip.tdp_w


def flop_from_energy(
    energy: Amount,
    overheads: Amount,
    fleet: Mapping[Chip, int],
    precision: Precision | str,
    efficiency: Efficiency,
) -> Quantity:
    """FLOP that a facility's energy paid for: ``(meter - overheads) · eta · Σn·peak / Σn·TDP``.

    Linearised (delta method): the meter's random and systematic errors and the overheads' carry
    through scaled by ``eta·peak/TDP``, and the efficiency's sigma adds a systematic term of
    ``net·sigma_eta·peak/TDP`` under the efficiency's source.
    """
    net = as_quantity(energy) - as_quantity(overheads)
    return net * efficiency.quantity() * fleet_flop_per_joule(fleet, precision)
