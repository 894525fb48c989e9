"""The Mesa model behind :mod:`.abm` (docs/adr/0043-agent-based-model.md). Imports Mesa at load:
only :func:`pausewatch.simulate.abm.run_abm` imports it, when a run starts.

One step is one period, in this order: withdrawals whose notice has run take effect (the leaving
party's runs in progress are settled outside the agreement); every party still bound decides
whether to give notice; every lab, in a fresh random order, runs its period (an idle lab of a
bound party decides, a running one advances its run and may be detected); the period's violation
share among the labs still bound is recorded; then what became public this period (detections,
notices) joins what every agent remembers, which sets next period's belief that the pause
collapses.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from pausewatch.simulate.abm import KINDS, AbmConfig, Inputs, RunResult, Withdrawal
from pausewatch.simulate.scenario import DefectionKind


class Party(mesa.Agent):  # type: ignore[misc]  # Mesa ships no type information
    """A party to the agreement: it may give notice of withdrawal."""

    model: DeterrenceModel

    def __init__(self, model: DeterrenceModel, index: int) -> None:
        super().__init__(model)
        self.index = index
        config = model.config
        self.withdrawal_cost = config.withdrawal_cost * math.exp(
            config.prize_spread * model.rng.standard_normal()
        )
        self.notice_period: int | None = None
        self.withdrawn = False

    def leave_value(self) -> float:
        """What leaving is worth against staying, per lab, in units of the prize: the expected
        loss of staying bound while the pause collapses (``q``) less the cost of leaving."""
        return self.model.collapse_belief - self.withdrawal_cost

    def step(self) -> None:
        """Give notice when leaving is worth more than staying and would take effect before the
        pause expires (a notice running past the expiry changes nothing)."""
        model = self.model
        if self.notice_period is not None:
            return
        if model.period + model.config.withdrawal_notice > model.config.periods:
            return
        if self.leave_value() > 0:
            self.notice_period = model.period
            model.give_notice(self)


class Lab(mesa.Agent):  # type: ignore[misc]  # Mesa ships no type information
    """A lab: each period, when idle and its party is bound, it complies or starts a run of one
    defection kind, whichever its expected payoff favours (:meth:`comply_payoff`,
    :meth:`defect_payoff`); a subclass may change the rule."""

    model: DeterrenceModel

    def __init__(self, model: DeterrenceModel, party: Party) -> None:
        super().__init__(model)
        self.party = party
        self.kind: DefectionKind | None = None
        self.elapsed = 0
        self.gain = 0.0
        self.payoff = 0.0

    def comply_payoff(self, gain: float, collapse_belief: float) -> float:
        """Complying over a run's window: a false alarm costs ``h`` with probability ``alpha``,
        and if the pause collapses the lab has forgone the prize to those who ran."""
        inputs = self.model.inputs
        return -inputs.false_alarm_cost * inputs.false_alarm_window - collapse_belief * gain

    def defect_payoff(self, gain: float, kind: DefectionKind) -> float:
        """A run of ``kind``: the prize if it completes undetected, the sanction if detected."""
        caught = self.model.run_detection[kind]
        return (1.0 - caught) * gain - caught * self.model.inputs.penalty

    def choose(self, gain: float) -> tuple[DefectionKind, float]:
        """The defection kind with the best expected payoff, and that payoff."""
        best = KINDS[0]
        value = -math.inf
        for kind in KINDS:
            v = self.defect_payoff(gain, kind)
            if v > value:
                best, value = kind, v
        return best, value

    def decide(self) -> None:
        """Comply or start a run, by expected payoff at this decision's own prize."""
        model = self.model
        if model.config.periods - model.period + 1 < model.inputs.run_periods:
            # A run that cannot complete before the pause expires gains nothing.
            self.comply()
            return
        gain = model.inputs.prize * math.exp(
            model.config.prize_spread * model.rng.standard_normal()
        )
        kind, defect = self.choose(gain)
        model.decisions += 1
        if defect > self.comply_payoff(gain, model.collapse_belief):
            model.defect_decisions += 1
            model.by_kind[kind] += 1
            if defect <= self.comply_payoff(gain, 0.0):
                model.triggered += 1
            self.kind, self.elapsed, self.gain = kind, 0, gain
        else:
            self.comply()

    def comply(self) -> None:
        """A period of compliance: the inspections may falsely alarm."""
        model = self.model
        if model.rng.random() < model.false_alarm_per_period:
            model.false_alarms += 1
            self.payoff -= model.inputs.false_alarm_cost

    def advance(self, kind: DefectionKind) -> None:
        """A period of the run: detected with the kind's per-period probability; else one period
        nearer completion."""
        model = self.model
        model.violating += 1
        self.elapsed += 1
        if model.rng.random() < model.per_period[kind]:
            model.detect(self.elapsed)
            self.payoff -= model.inputs.penalty
            self.kind = None
        elif self.elapsed >= model.inputs.run_periods:
            model.completed += 1
            self.payoff += self.gain
            self.kind = None

    def settle(self) -> None:
        """Its party's withdrawal has taken effect: a run in progress goes on outside the
        agreement, where it is no violation and no inspection looks for it, so it leaves the
        accounting of the agreement's runs (neither detected nor completed undetected)."""
        if self.kind is not None:
            self.model.withdrawn_runs += 1
            self.kind = None

    def step(self) -> None:
        """This lab's period."""
        if self.party.withdrawn:
            return
        if self.kind is None:
            self.decide()
        if self.kind is not None:
            self.advance(self.kind)


class DeterrenceModel(mesa.Model):  # type: ignore[misc]  # Mesa ships no type information
    """Parties and labs under a pause, for ``config.periods`` periods."""

    def __init__(
        self,
        config: AbmConfig,
        inputs: Inputs,
        rng: np.random.Generator,
        *,
        lab_type: type[Lab] | None = None,
    ) -> None:
        super().__init__(rng=rng)
        self.config = config
        self.inputs = inputs
        self.per_period = {kind: inputs.per_period(kind) for kind in KINDS}
        self.run_detection = {kind: inputs.run_detection(kind) for kind in KINDS}
        self.false_alarm_per_period = inputs.false_alarm_per_period
        self.period = 0
        self.seen = 0.0
        self.seen_now = 0.0
        self.collapse_belief = 0.0
        self.decisions = 0
        self.defect_decisions = 0
        self.by_kind = dict.fromkeys(KINDS, 0)
        self.detected = 0
        self.completed = 0
        self.withdrawn_runs = 0
        self.detection_lags: list[int] = []
        self.first_detection: int | None = None
        self.false_alarms = 0
        self.triggered = 0
        self.violating = 0
        self.violation_rate: list[float] = []
        self.bound_labs: list[int] = []
        self.withdrawals: list[Withdrawal] = []
        self.collapse_period: int | None = None
        parties = [Party(self, i) for i in range(config.parties)]
        lab = lab_type or Lab
        for i in range(config.agents):
            lab(self, parties[i % config.parties])
        self.parties = self.agents_by_type[Party]
        self.labs = self.agents_by_type[lab]

    def give_notice(self, party: Party) -> None:
        """Record a party's notice: public, it weighs as many seen events as the party has labs."""
        self.withdrawals.append(
            Withdrawal(party.index, self.period, self.period + self.config.withdrawal_notice)
        )
        self.seen_now += sum(1 for lab in self.labs if lab.party is party)

    def detect(self, lag: int) -> None:
        """Record a detection (public)."""
        self.detected += 1
        self.detection_lags.append(lag)
        if self.first_detection is None:
            self.first_detection = self.period
        self.seen_now += 1.0

    def collapse(self) -> None:
        """Mark the pause collapsed this period (the first time only)."""
        if self.collapse_period is None:
            self.collapse_period = self.period

    def step(self) -> None:
        """One period."""
        self.period += 1
        for w in self.withdrawals:
            if w.effective_period == self.period:
                party = next(p for p in self.parties if p.index == w.party)
                party.withdrawn = True
                for lab in self.labs:
                    if lab.party is party:
                        lab.settle()
                self.collapse()
        self.parties.do("step")
        self.violating = 0
        self.labs.shuffle_do("step")
        # Only labs still bound can violate the agreement: a withdrawn party's are out of it.
        bound = sum(1 for lab in self.labs if not lab.party.withdrawn)
        share = self.violating / bound if bound else 0.0
        self.bound_labs.append(bound)
        self.violation_rate.append(share)
        if share > self.config.collapse_share:
            self.collapse()
        self.seen = self.config.memory * self.seen + self.seen_now
        self.seen_now = 0.0
        self.collapse_belief = 1.0 - (1.0 - self.config.contagion) ** self.seen

    def run(self) -> RunResult:
        """Step to the pause's expiry and return what happened."""
        for _ in range(self.config.periods):
            self.step()
        return RunResult(
            inputs=self.inputs,
            violation_rate=tuple(self.violation_rate),
            bound_labs=tuple(self.bound_labs),
            decisions=self.decisions,
            defect_decisions=self.defect_decisions,
            by_kind=dict(self.by_kind),
            detected=self.detected,
            completed=self.completed,
            withdrawn_runs=self.withdrawn_runs,
            detection_lags=tuple(self.detection_lags),
            first_detection=self.first_detection,
            false_alarms=self.false_alarms,
            triggered=self.triggered,
            withdrawals=tuple(self.withdrawals),
            collapse_period=self.collapse_period,
        )


__all__ = ["DeterrenceModel", "Lab", "Party"]
