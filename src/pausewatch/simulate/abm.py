"""An agent-based model of a pause: parties and labs deciding, period by period, whether to comply,
to defect in one of the detection issue's ways, or to leave (docs/adr/0043-agent-based-model.md,
docs/deterrence-abm.md).

Each period (a month by default) every idle lab of a party still bound by the agreement weighs, with
its own draw of the prize of a frontier run, the expected payoff of complying (a false alarm may
cost it; and if the pause collapses it loses the prize to those who did not wait) against that of
starting a run of each defection kind (:class:`~pausewatch.simulate.scenario.DefectionKind`): the
prize if the run completes undetected, the sanction if the regime detects it first, with the
probability of detection before a run of ``run_periods`` periods completes
(:func:`~pausewatch.simulate.inspection.timely_detection`). With no contagion this is exactly the
inspector-leadership comparison (Avenhaus, von Stengel and Zamir 2002): a lab defects when the
detection probability is below ``(d + h*alpha) / (d + b)`` for its own ``d``. Detected defections
and withdrawal notices are public (the log is), and each seen raises every lab's belief that the
pause collapses, hence the value of defecting: the contagion. A party gives notice of withdrawal
when that belief makes staying cost more than leaving, and its notice takes effect only after the
agreement's notice period (MIRI's draft treaty: 365 days, ``withdrawal.notice_days`` of the
miri-2025 preset).

:func:`run_abm` runs one replication; :func:`monte_carlo` draws the uncertain inputs
(:class:`Range`) per replication and summarises the runs with intervals (:class:`AbmSummary`).
The Mesa model itself lives in :mod:`.abm_model`, imported only when a run starts, so that this
module (and the service) import without Mesa. Everything is reproducible from a seed (a numpy
``Generator``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pausewatch.simulate.inspection import (
    GameError,
    required_detection,
    timely_detection,
    wilson_bounds,
)
from pausewatch.simulate.scenario import DefectionKind

if TYPE_CHECKING:
    from pausewatch.policy import Policy
    from pausewatch.simulate.abm_model import Lab

DAYS_PER_PERIOD = 365.0 / 12.0
"""A period is a month: a year of notice is 12 periods."""

DEFAULT_NOTICE_PERIODS = 12
"""The withdrawal notice when no policy says otherwise (MIRI's draft treaty: 12 months)."""

MAX_STAKE = 1e15
"""The greatest prize, penalty or false-alarm cost: a lab's prize is the median's times a
lognormal draw, and sums and products of stakes must stay finite (any larger stake, in units of
the prize, is outside the model's domain)."""

KINDS: tuple[DefectionKind, ...] = tuple(DefectionKind)
"""Every defection kind, in the enum's order (the order ties are broken in)."""


MESA_MISSING = (
    "the agent-based model needs Mesa: install the simulate extra "
    "(pip install 'pausewatch[simulate]')"
)
"""The one line a run without Mesa raises."""


class AbmError(GameError):
    """Parameters of the agent-based model outside its domain (one line naming the parameter)."""


@dataclass(frozen=True)
class Range:
    """An input known only to lie between ``low`` and ``high``: each replication of a Monte Carlo
    draws it uniformly (a fixed input has ``low == high``)."""

    low: float
    """The least value."""
    high: float
    """The greatest value."""

    @classmethod
    def fixed(cls, value: float) -> Range:
        """A known value."""
        return cls(value, value)

    @classmethod
    def parse(cls, text: str, name: str = "value") -> Range:
        """``X`` or ``LOW:HIGH``; refuses anything else with one line naming ``name``."""
        parts = text.split(":")
        try:
            if len(parts) == 1:
                return cls.fixed(float(parts[0]))
            if len(parts) == 2:
                return cls(float(parts[0]), float(parts[1]))
        except ValueError:
            pass
        raise AbmError(f"{name} must be a number or LOW:HIGH, got {text!r}")

    def check(self, name: str, *, low: float = 0.0, high: float = math.inf) -> None:
        """Refuse a range that is not finite, outside ``[low, high]`` or upside down."""
        for value in (self.low, self.high):
            _check_bounds(name, value, low, high)
        if self.low > self.high:
            raise AbmError(f"{name}: low {self.low} is above high {self.high}")

    @property
    def mid(self) -> float:
        """The middle of the range (the central input)."""
        return (self.low + self.high) / 2.0

    def draw(self, rng: np.random.Generator) -> float:
        """One draw (no draw at all for a fixed value, so that fixing an input leaves the other
        draws of a replication unchanged)."""
        return self.low if self.low == self.high else float(rng.uniform(self.low, self.high))

    def to_json(self) -> float | list[float]:
        """The value, or ``[low, high]``."""
        return self.low if self.low == self.high else [self.low, self.high]


def _fixed(value: float) -> Range:
    return Range.fixed(value)


def _every_kind(value: float) -> dict[DefectionKind, Range]:
    return {kind: Range.fixed(value) for kind in KINDS}


@dataclass(frozen=True)
class Inputs:
    """The concrete inputs of one replication (a draw from an :class:`AbmConfig`'s ranges)."""

    prize: float
    """``d``: the median gain of a frontier run that completes undetected."""
    penalty: float
    """``b``: the sanction when a run is detected before it completes."""
    false_alarm_cost: float
    """``h``: what a false alarm costs a complying lab."""
    false_alarm_rate: float
    """The probability that one inspection falsely alarms on a complying lab."""
    detection: Mapping[DefectionKind, float]
    """Per kind: the probability that one inspection detects a defecting run in progress."""
    inspections: int
    """Independent inspections per period."""
    run_periods: int
    """``T``: the periods a frontier run needs to complete."""

    def per_period(self, kind: DefectionKind) -> float:
        """The probability that a run of ``kind`` is detected in one period."""
        return timely_detection(self.detection[kind], self.inspections)

    def run_detection(self, kind: DefectionKind) -> float:
        """The probability that a run of ``kind`` is detected before it completes."""
        return timely_detection(self.per_period(kind), self.run_periods)

    @property
    def false_alarm_per_period(self) -> float:
        """The probability that a complying lab meets a false alarm in one period."""
        return timely_detection(self.false_alarm_rate, self.inspections)

    @property
    def false_alarm_window(self) -> float:
        """``alpha``: the probability of a false alarm over a run's window of ``T`` periods (what
        complying instead of running risks)."""
        return timely_detection(self.false_alarm_per_period, self.run_periods)

    def weakest(self) -> DefectionKind:
        """The kind least likely to be detected before its run completes (first in the enum's
        order on a tie): the one a lab that defects chooses."""
        return min(KINDS, key=lambda k: (self.run_detection(k), KINDS.index(k)))

    def threshold(self) -> float:
        """The inspector-leadership threshold for the median lab at these inputs:
        ``required_detection(d, b, h, alpha)`` with ``alpha`` over a run's window."""
        return required_detection(
            self.prize, self.penalty, self.false_alarm_cost, self.false_alarm_window
        )

    def to_json(self) -> dict[str, Any]:
        """The inputs as JSON."""
        return {
            "prize": self.prize,
            "penalty": self.penalty,
            "false_alarm_cost": self.false_alarm_cost,
            "false_alarm_rate": self.false_alarm_rate,
            "detection": {k.value: v for k, v in self.detection.items()},
            "inspections": self.inspections,
            "run_periods": self.run_periods,
        }


@dataclass(frozen=True)
class AbmConfig:
    """What a run of the agent-based model is given. Money-like inputs (prize, penalty, false-alarm
    cost) share one unit; probabilities are per inspection; time is in periods."""

    agents: int = 100
    """Labs (the agents that may defect)."""
    parties: int = 10
    """Parties to the agreement; lab ``i`` belongs to party ``i mod parties``."""
    periods: int = 120
    """Periods until the pause expires (the run's horizon)."""
    run_periods: int = 3
    """``T``: the periods a frontier run needs to complete."""
    inspections: int = 1
    """Independent inspections per period."""
    detection: Mapping[DefectionKind, Range] = field(default_factory=lambda: _every_kind(0.2))
    """Per defection kind: the probability that one inspection detects a run of it."""
    prize: Range = field(default_factory=lambda: _fixed(1.0))
    """``d``: the median gain of a frontier run that completes undetected."""
    penalty: Range = field(default_factory=lambda: _fixed(3.0))
    """``b``: the sanction on a run detected before it completes."""
    false_alarm_cost: Range = field(default_factory=lambda: _fixed(0.0))
    """``h``: what a false alarm costs a complying lab."""
    false_alarm_rate: Range = field(default_factory=lambda: _fixed(0.0))
    """The probability that one inspection falsely alarms on a complying lab."""
    prize_spread: float = 0.3
    """The standard deviation of the log of a lab's prize in one decision (labs differ, and so do
    their prospects from month to month): the switch from violation to compliance has a width."""
    contagion: float = 0.05
    """How much each seen event (a detected defection, or a withdrawal notice per lab of the
    withdrawing party) raises the belief that the pause collapses: ``q = 1 - (1 - c)^seen``."""
    memory: float = 0.9
    """The share of the seen events still remembered a period later."""
    withdrawal_notice: int = DEFAULT_NOTICE_PERIODS
    """Periods from a party's notice of withdrawal to its taking effect."""
    withdrawal_cost: float = 0.5
    """What leaving costs a party per lab, in units of the prize (the treaty's consequences), for
    the median party (each party's own is this times ``exp(prize_spread * Z)``, drawn once): it
    gives notice when the belief of collapse ``q`` exceeds its cost."""
    collapse_share: float = 0.5
    """The pause collapses in a period when more than this share of labs is running a defection
    (1 turns this off: only withdrawals then end it)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse a configuration outside the model's domain (one line naming the parameter)."""
        for name, low in (("agents", 1), ("parties", 1), ("periods", 1), ("run_periods", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise AbmError(f"{name} must be a whole number at least {low}, got {value}")
        if not isinstance(self.inspections, int) or self.inspections < 0:
            raise AbmError(f"inspections must be a whole number at least 0, got {self.inspections}")
        if not isinstance(self.withdrawal_notice, int) or self.withdrawal_notice < 0:
            raise AbmError(
                f"withdrawal_notice must be a whole number at least 0, got {self.withdrawal_notice}"
            )
        if self.parties > self.agents:
            raise AbmError(f"parties ({self.parties}) must not exceed agents ({self.agents})")
        missing = [k.value for k in KINDS if k not in self.detection]
        if missing:
            raise AbmError(f"detection is missing for kind(s): {', '.join(missing)}")
        for kind in KINDS:
            self.detection[kind].check(f"detection of {kind.value}", high=1.0)
        self.prize.check("prize", high=MAX_STAKE)
        self.penalty.check("penalty", high=MAX_STAKE)
        self.false_alarm_cost.check("false_alarm_cost", high=MAX_STAKE)
        self.false_alarm_rate.check("false_alarm_rate", high=1.0)
        if self.prize.high + self.penalty.high <= 0:
            raise AbmError("prize + penalty must be positive")
        for name, high in (
            ("prize_spread", 5.0),
            ("contagion", 1.0),
            ("memory", 1.0),
            ("withdrawal_cost", math.inf),
            ("collapse_share", 1.0),
        ):
            _check_number(name, getattr(self, name), high)

    @classmethod
    def from_policy(cls, policy: Policy, **overrides: Any) -> AbmConfig:
        """A configuration whose withdrawal notice is the policy's (``withdrawal.notice_days`` in
        whole periods, rounded up; the default when the policy has no withdrawal clause)."""
        notice = DEFAULT_NOTICE_PERIODS
        if policy.withdrawal is not None:
            notice = math.ceil(policy.withdrawal.notice_days / DAYS_PER_PERIOD - 1e-9)
        return cls(**{"withdrawal_notice": notice, **overrides})

    def draw(self, rng: np.random.Generator) -> Inputs:
        """The inputs of one replication, each uncertain one drawn from its range."""
        return Inputs(
            prize=self.prize.draw(rng),
            penalty=self.penalty.draw(rng),
            false_alarm_cost=self.false_alarm_cost.draw(rng),
            false_alarm_rate=self.false_alarm_rate.draw(rng),
            detection={kind: self.detection[kind].draw(rng) for kind in KINDS},
            inspections=self.inspections,
            run_periods=self.run_periods,
        )

    def central(self) -> Inputs:
        """The inputs at the middle of every range."""
        return Inputs(
            prize=self.prize.mid,
            penalty=self.penalty.mid,
            false_alarm_cost=self.false_alarm_cost.mid,
            false_alarm_rate=self.false_alarm_rate.mid,
            detection={kind: self.detection[kind].mid for kind in KINDS},
            inspections=self.inspections,
            run_periods=self.run_periods,
        )

    def to_json(self) -> dict[str, Any]:
        """The configuration as JSON (a range as ``[low, high]``)."""
        return {
            "agents": self.agents,
            "parties": self.parties,
            "periods": self.periods,
            "run_periods": self.run_periods,
            "inspections": self.inspections,
            "detection": {k.value: self.detection[k].to_json() for k in KINDS},
            "prize": self.prize.to_json(),
            "penalty": self.penalty.to_json(),
            "false_alarm_cost": self.false_alarm_cost.to_json(),
            "false_alarm_rate": self.false_alarm_rate.to_json(),
            "prize_spread": self.prize_spread,
            "contagion": self.contagion,
            "memory": self.memory,
            "withdrawal_notice": self.withdrawal_notice,
            "withdrawal_cost": self.withdrawal_cost,
            "collapse_share": self.collapse_share,
        }


def _check_number(name: str, value: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AbmError(f"{name} must be a number, got {value!r}")
    _check_bounds(name, value, 0.0, high)


def _check_bounds(name: str, value: float, low: float, high: float) -> None:
    """One line naming ``name`` unless ``value`` is a finite number in ``[low, high]``."""
    if not math.isfinite(value):
        raise AbmError(f"{name} must be a finite number, got {value}")
    if low <= value <= high:
        return
    if high <= 1.0:
        bound = f"between {low:g} and {high:g}"
    elif value < low:
        bound = f"at least {low:g}"
    else:
        bound = f"at most {high:g}"
    raise AbmError(f"{name} must be {bound}, got {value}")


@dataclass(frozen=True)
class Withdrawal:
    """A party's notice of withdrawal."""

    party: int
    """The party's index."""
    notice_period: int
    """The period (1-based) the notice was given in."""
    effective_period: int
    """The period it takes effect in (beyond the horizon when the pause expires first)."""


@dataclass(frozen=True)
class RunResult:
    """What one replication did."""

    inputs: Inputs
    """The inputs it ran with."""
    violation_rate: tuple[float, ...]
    """Per period: the share of the labs still bound by the agreement running a defection in it
    (0 when none is bound)."""
    bound_labs: tuple[int, ...]
    """Per period: the labs still bound (those of parties whose withdrawal has not taken
    effect)."""
    decisions: int
    """Decisions taken by idle labs of bound parties."""
    defect_decisions: int
    """Those that started a defection."""
    by_kind: Mapping[DefectionKind, int]
    """Defections started, per kind."""
    detected: int
    """Defections detected before they completed."""
    completed: int
    """Defections that completed undetected under the agreement."""
    withdrawn_runs: int
    """Defections in progress when their party's withdrawal took effect: they complete outside
    the agreement, neither detected nor completed undetected (``detected + completed +
    withdrawn_runs == defections``)."""
    detection_lags: tuple[int, ...]
    """For each detected defection, the periods from its start to its detection (1 = the period
    it started in)."""
    first_detection: int | None
    """The period of the first detection (None when none)."""
    false_alarms: int
    """False alarms raised on complying labs."""
    triggered: int
    """Defections that the contagion caused: the lab would have complied had it seen nothing."""
    withdrawals: tuple[Withdrawal, ...]
    """Notices of withdrawal given."""
    collapse_period: int | None
    """The period the pause collapsed in (a withdrawal took effect, or the share of labs
    defecting exceeded ``collapse_share``); None when it held to its expiry."""

    @property
    def held(self) -> bool:
        """Whether the pause held to its expiry."""
        return self.collapse_period is None

    @property
    def defections(self) -> int:
        """Defections started."""
        return sum(self.by_kind.values())

    @property
    def lab_period_violation_rate(self) -> float:
        """The share of bound lab-periods in violation: lab-periods running a defection over
        lab-periods of labs still bound (0 when none was)."""
        bound = sum(self.bound_labs)
        violating = sum(r * n for r, n in zip(self.violation_rate, self.bound_labs, strict=True))
        return violating / bound if bound else 0.0

    def violation_rate_all_labs(self, agents: int) -> float:
        """The same lab-periods in violation over every lab's periods, withdrawn labs included
        (what a count over the whole population would say)."""
        violating = sum(r * n for r, n in zip(self.violation_rate, self.bound_labs, strict=True))
        return violating / (agents * len(self.violation_rate)) if self.violation_rate else 0.0

    @property
    def defect_share(self) -> float:
        """The share of decisions that were to defect (0 with no decision)."""
        return self.defect_decisions / self.decisions if self.decisions else 0.0

    def to_json(self) -> dict[str, Any]:
        """The replication as JSON."""
        return {
            "inputs": self.inputs.to_json(),
            "violation_rate": list(self.violation_rate),
            "bound_labs": list(self.bound_labs),
            "decisions": self.decisions,
            "defect_decisions": self.defect_decisions,
            "defections": self.defections,
            "by_kind": {k.value: n for k, n in self.by_kind.items()},
            "detected": self.detected,
            "completed": self.completed,
            "withdrawn_runs": self.withdrawn_runs,
            "detection_lags": list(self.detection_lags),
            "first_detection": self.first_detection,
            "false_alarms": self.false_alarms,
            "triggered": self.triggered,
            "withdrawals": [
                {"party": w.party, "notice": w.notice_period, "effective": w.effective_period}
                for w in self.withdrawals
            ],
            "held": self.held,
            "collapse_period": self.collapse_period,
        }


def run_abm(
    config: AbmConfig,
    seed: int | np.random.Generator,
    *,
    inputs: Inputs | None = None,
    lab_type: type[Lab] | None = None,
) -> RunResult:
    """Run one replication for ``config.periods`` periods.

    ``inputs`` are drawn from ``config``'s ranges with the generator unless given; ``lab_type``
    replaces the labs' decision rule (a subclass of :class:`.abm_model.Lab`). Needs Mesa (the
    ``simulate`` extra)."""
    try:
        from pausewatch.simulate.abm_model import DeterrenceModel
    except ImportError as exc:
        raise ImportError(MESA_MISSING) from exc

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    if inputs is None:
        inputs = config.draw(rng)
    model = DeterrenceModel(config, inputs, rng, lab_type=lab_type)
    return model.run()


def per_inspection(before_completion: float, inspections: int, run_periods: int) -> float:
    """The probability per inspection at which a run of ``run_periods`` periods, inspected
    ``inspections`` times a period, is detected before it completes with ``before_completion``
    (what ``pausewatch detect evaluate`` measures): ``1 - (1 - D)^(1 / (M*T))``, the inverse of
    :meth:`Inputs.run_detection`, each look equally likely to find the run."""
    if not 0.0 <= before_completion <= 1.0:
        raise AbmError(
            f"detection before completion must be between 0 and 1, got {before_completion}"
        )
    if inspections < 1 or run_periods < 1:
        raise AbmError(
            "a detection before completion needs at least one inspection and one period, got "
            f"{inspections} inspection(s) over {run_periods} period(s)"
        )
    if before_completion == 1.0:
        return 1.0
    looks = inspections * run_periods
    return min(1.0, max(0.0, -math.expm1(math.log1p(-before_completion) / looks)))


def predicted_defect_share(inputs: Inputs, prize_spread: float) -> float:
    """The closed form's share of decisions that defect, with no contagion: a lab whose prize is
    ``d * exp(spread * Z)`` (Z standard normal) defects when the weakest kind's detection before
    completion ``P`` is below ``(d_i + h*alpha) / (d_i + b)``, that is when
    ``d_i > (P*b - h*alpha) / (1 - P)``."""
    p = inputs.run_detection(inputs.weakest())
    if p >= 1.0:
        return 0.0
    least = (p * inputs.penalty - inputs.false_alarm_cost * inputs.false_alarm_window) / (1 - p)
    if least <= 0:
        return 1.0
    if inputs.prize <= 0:
        return 0.0
    if prize_spread == 0:
        return 1.0 if inputs.prize > least else 0.0
    z = math.log(least / inputs.prize) / prize_spread
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def predicted_violation_rate(inputs: Inputs, prize_spread: float) -> float:
    """The closed form's long-run share of lab-periods in violation, with no contagion: a
    renewal argument over decisions, each starting a defecting run of expected length
    ``(1 - (1-p)^T) / p`` periods (``T`` with ``p = 0``) with the closed form's share ``s``, or
    one period of compliance: ``s*L / (s*L + 1 - s)`` (horizon effects left out)."""
    s = predicted_defect_share(inputs, prize_spread)
    p = inputs.per_period(inputs.weakest())
    length = float(inputs.run_periods) if p == 0 else timely_detection(p, inputs.run_periods) / p
    return s * length / (s * length + 1.0 - s) if s > 0 else 0.0


def wilson(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval for a binomial proportion (95% by default); ``(0, 1)`` with no
    trial."""
    if trials <= 0:
        return (0.0, 1.0)
    return wilson_bounds(successes, trials, z)


def _proportion(successes: int, trials: int) -> dict[str, Any]:
    low, high = wilson(successes, trials)
    return {
        "count": successes,
        "of": trials,
        "rate": successes / trials if trials else None,
        "low": low,
        "high": high,
    }


def _percentiles(values: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "median": None, "low": None, "high": None}
    low, median, high = np.percentile(values, [2.5, 50.0, 97.5])
    return {
        "mean": float(values.mean()),
        "median": float(median),
        "low": float(low),
        "high": float(high),
    }


def _across(counts: list[tuple[int, int]]) -> dict[str, Any]:
    """A share of events within replications (decisions, runs), one ``(count, of)`` per
    replication: its interval is taken across replications (the 2.5th and 97.5th percentiles of
    each replication's own share), because the events of one replication share its drawn inputs
    and its contagion and are no independent trials. ``rate`` is the mean of the replications'
    shares (those with at least one event); the pooled count is kept for the record."""
    shares = np.array([k / n for k, n in counts if n], dtype=np.float64)
    figures = _percentiles(shares)
    return {
        "count": sum(k for k, _ in counts),
        "of": sum(n for _, n in counts),
        "rate": figures["mean"],
        "median": figures["median"],
        "low": figures["low"],
        "high": figures["high"],
        "replications": int(shares.size),
        "interval": "percentiles across replications",
    }


def _per_replication(values: list[float]) -> dict[str, float | None]:
    return _percentiles(np.array(values, dtype=np.float64))


def _deterred(inputs: Inputs) -> bool:
    return inputs.run_detection(inputs.weakest()) >= inputs.threshold()


@dataclass(frozen=True)
class AbmSummary:
    """A Monte Carlo of the agent-based model: every figure with an interval (95%). Figures of a
    replication (rates, shares of its decisions or runs, counts) get the 2.5th and 97.5th
    percentiles across replications, since within one replication the events share the drawn
    inputs and the contagion; shares of replications (the pause held, a withdrawal, a cascade),
    which are independent trials, get Wilson's score interval."""

    config: AbmConfig
    """What was run."""
    seed: int
    """The seed it was run from."""
    runs: tuple[RunResult, ...]
    """Every replication."""

    @property
    def replications(self) -> int:
        """How many replications."""
        return len(self.runs)

    def violation_rate_by_period(self) -> dict[str, list[float]]:
        """Per period: the mean share of labs violating and the 2.5th and 97.5th percentiles
        across replications."""
        rates = np.array([r.violation_rate for r in self.runs], dtype=np.float64)
        low, high = np.percentile(rates, [2.5, 97.5], axis=0)
        return {
            "mean": [float(x) for x in rates.mean(axis=0)],
            "low": [float(x) for x in low],
            "high": [float(x) for x in high],
        }

    def violation_rate(self) -> dict[str, float | None]:
        """The share of bound lab-periods in violation: mean, median and percentile interval
        across replications."""
        return _percentiles(np.array([r.lab_period_violation_rate for r in self.runs]))

    def detection_lags(self) -> list[int]:
        """Every detected defection's periods from start to detection, over all replications."""
        return [lag for r in self.runs for lag in r.detection_lags]

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON (the per-replication records are left out; the figures a report
        needs are in)."""
        n = self.replications
        started = sum(r.defections for r in self.runs)
        lags = np.array(self.detection_lags(), dtype=np.float64)
        firsts = np.array(
            [r.first_detection for r in self.runs if r.first_detection is not None],
            dtype=np.float64,
        )
        by_kind: dict[str, int] = {k.value: 0 for k in KINDS}
        for r in self.runs:
            for kind, count in r.by_kind.items():
                by_kind[kind.value] += count
        histogram = {
            str(lag): int((lags == lag).sum()) for lag in range(1, self.config.run_periods + 1)
        }
        central = self.config.central()
        weakest = central.weakest()
        threshold = central.threshold()
        weakest_detection = central.run_detection(weakest)
        with_seen = [r for r in self.runs if r.detected]
        spread = self.config.prize_spread
        return {
            "config": self.config.to_json(),
            "seed": self.seed,
            "replications": n,
            "violation_rate": self.violation_rate(),
            "violation_rate_all_labs": _per_replication(
                [r.violation_rate_all_labs(self.config.agents) for r in self.runs]
            ),
            "violation_rate_by_period": self.violation_rate_by_period(),
            "defect_decisions": _across([(r.defect_decisions, r.decisions) for r in self.runs]),
            "defections": started,
            "defections_per_replication": _per_replication([r.defections for r in self.runs]),
            "defections_by_kind": by_kind,
            # Of the runs that ended under the agreement: a withdrawing party's runs in progress
            # are neither caught nor missed by it (withdrawn_runs).
            "detected": _across([(r.detected, r.detected + r.completed) for r in self.runs]),
            "withdrawn_runs": {
                "count": sum(r.withdrawn_runs for r in self.runs),
                "per_replication": _per_replication([r.withdrawn_runs for r in self.runs]),
            },
            "time_to_detection": {
                # The distribution of every detection's lag (where 95% of lags fall), and its
                # mean per replication with an interval across replications.
                "lag_periods": _percentiles(lags),
                "mean_lag_per_replication": _per_replication(
                    [float(np.mean(r.detection_lags)) for r in self.runs if r.detection_lags]
                ),
                "histogram": histogram,
                "first_detection_period": _percentiles(firsts),
                "replications_with_detection": len(firsts),
            },
            "pause_held": _proportion(sum(r.held for r in self.runs), n),
            "withdrawals": _proportion(sum(bool(r.withdrawals) for r in self.runs), n),
            "cascades": {
                **_proportion(sum(r.triggered > 0 for r in with_seen), len(with_seen)),
                "triggered_per_replication": _percentiles(
                    np.array([r.triggered for r in self.runs], dtype=np.float64)
                ),
            },
            "false_alarms": sum(r.false_alarms for r in self.runs),
            "false_alarms_per_replication": _per_replication([r.false_alarms for r in self.runs]),
            "closed_form": {
                "weakest_kind": weakest.value,
                "detection_before_completion": weakest_detection,
                "required_detection": threshold,
                "deterred": weakest_detection >= threshold,
                "replications_deterred": _proportion(
                    sum(_deterred(r.inputs) for r in self.runs), n
                ),
                # Each replication's own draw through the closed form, averaged: the figure the
                # simulation matches with no contagion (the central inputs' alone need not).
                "predicted_defect_share": float(
                    np.mean([predicted_defect_share(r.inputs, spread) for r in self.runs])
                ),
                "predicted_violation_rate": float(
                    np.mean([predicted_violation_rate(r.inputs, spread) for r in self.runs])
                ),
            },
        }


def monte_carlo(
    config: AbmConfig,
    replications: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> AbmSummary:
    """Run ``replications`` replications, each drawing its uncertain inputs from ``config``'s
    ranges with its own generator (spawned from ``seed``: replication ``i`` is the same whatever
    the count). ``progress`` is called with the number done after each."""
    if not isinstance(replications, int) or replications < 1:
        raise AbmError(f"replications must be a whole number at least 1, got {replications}")
    children = np.random.SeedSequence(seed).spawn(replications)
    runs = []
    for done, child in enumerate(children, 1):
        runs.append(run_abm(config, np.random.default_rng(child)))
        if progress is not None:
            progress(done)
    return AbmSummary(config=config, seed=seed, runs=tuple(runs))


__all__ = [
    "DAYS_PER_PERIOD",
    "DEFAULT_NOTICE_PERIODS",
    "KINDS",
    "MAX_STAKE",
    "MESA_MISSING",
    "AbmConfig",
    "AbmError",
    "AbmSummary",
    "Inputs",
    "Range",
    "RunResult",
    "Withdrawal",
    "monte_carlo",
    "per_inspection",
    "predicted_defect_share",
    "predicted_violation_rate",
    "run_abm",
    "wilson",
]
