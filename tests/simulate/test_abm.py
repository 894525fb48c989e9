"""The agent-based model of a pause (pausewatch.simulate.abm, docs/adr/0043): the oracle against
the inspector-leadership threshold, timeliness, withdrawal, contagion, reproducibility."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pausewatch.cli._simulate_abm import _kind_detection
from pausewatch.policy import load_preset
from pausewatch.simulate.abm import (
    KINDS,
    AbmConfig,
    AbmError,
    Inputs,
    Range,
    monte_carlo,
    predicted_defect_share,
    predicted_violation_rate,
    run_abm,
    wilson,
)
from pausewatch.simulate.inspection import required_detection, timely_detection
from pausewatch.simulate.scenario import DefectionKind

pytest.importorskip("mesa")

from pausewatch.simulate.abm_model import Lab

SRC = Path(__file__).resolve().parents[2] / "src"

# The oracle's stakes: d = 1, b = 3, h = 2, alpha = 0.1 over a run's window, so the closed form's
# threshold is (1 + 0.2) / 4 = 0.3; ignoring false alarms would put it at 0.25.
GAIN, PENALTY, ALARM_COST, ALARM_WINDOW = 1.0, 3.0, 2.0, 0.1
GRID = [round(0.2 + 0.005 * i, 3) for i in range(41)]
Z = 3.0


def _every(value: float) -> dict[DefectionKind, Range]:
    return {kind: Range.fixed(value) for kind in KINDS}


def _oracle_config(caught: float, run_periods: int) -> AbmConfig:
    """Stakes fixed, no contagion, and per-period probabilities chosen so that a run of
    ``run_periods`` periods is detected before completion with ``caught`` and a complying lab
    meets a false alarm over the same window with ``ALARM_WINDOW``."""
    per_period = 1.0 - (1.0 - caught) ** (1.0 / run_periods)
    alarm = 1.0 - (1.0 - ALARM_WINDOW) ** (1.0 / run_periods)
    return AbmConfig(
        agents=50,
        parties=5,
        periods=40,
        run_periods=run_periods,
        detection=_every(per_period),
        prize=Range.fixed(GAIN),
        penalty=Range.fixed(PENALTY),
        false_alarm_cost=Range.fixed(ALARM_COST),
        false_alarm_rate=Range.fixed(alarm),
        prize_spread=0.3,
        contagion=0.0,
    )


def _sweep(run_periods: int, lab_type: type[Lab] | None = None) -> list[tuple[float, int, int]]:
    """(detection before completion, defect decisions, decisions) at each point of the grid."""
    rows = []
    for i, caught in enumerate(GRID):
        result = run_abm(_oracle_config(caught, run_periods), 1000 + i, lab_type=lab_type)
        rows.append((caught, result.defect_decisions, result.decisions))
    return rows


def _switch(rows: Sequence[tuple[float, int, int]]) -> tuple[float, float]:
    """The interval in which the violation rate crosses 1/2: above the last detection at which the
    rate is above 1/2 beyond sampling error (Wilson, z = 3), below the first at which it is below
    1/2 beyond it (-inf / inf where the sweep shows no such point)."""
    above = [p for p, k, n in rows if wilson(k, n, Z)[0] > 0.5]
    below = [p for p, k, n in rows if wilson(k, n, Z)[1] < 0.5]
    low = max(above, default=-math.inf)
    high = min((p for p in below if p > low), default=math.inf)
    return low, high


class IgnoresFalseAlarms(Lab):
    """A wrong rule: complying is taken to cost nothing."""

    def comply_payoff(self, gain: float, collapse_belief: float) -> float:
        return -collapse_belief * gain


class IgnoresPenalty(Lab):
    """A wrong rule: a detected run is taken to cost only its prize."""

    def defect_payoff(self, gain: float, kind: DefectionKind) -> float:
        return (1.0 - self.model.run_detection[kind]) * gain


@pytest.mark.parametrize("run_periods", [1, 3])
def test_the_share_of_decisions_to_defect_switches_at_the_closed_form_threshold(
    run_periods: int,
) -> None:
    """Sweeping the detection probability before completion through (d + h*alpha)/(d + b), the
    simulated share of defecting decisions crosses 1/2 within sampling error of it (with fixed
    inputs and no contagion a replication's decisions are independent draws), and the switch is
    sharp enough (narrower than the gap a wrong rule would make)."""
    threshold = required_detection(GAIN, PENALTY, ALARM_COST, ALARM_WINDOW)
    assert threshold == pytest.approx(0.3)
    rows = _sweep(run_periods)
    low, high = _switch(rows)
    assert low < threshold < high, (low, high)
    assert high - low < 0.04
    # The rate really switches: nearly all defect at the sweep's bottom, nearly none at its top.
    assert rows[0][1] / rows[0][2] > 0.9
    assert rows[-1][1] / rows[-1][2] < 0.1


RATE_SEEDS = 6


def _rate_sweep(
    run_periods: int, lab_type: type[Lab] | None = None
) -> list[tuple[float, float, float, float]]:
    """At each point of the grid: the detection before completion, the mean over
    ``RATE_SEEDS`` independent replications of the share of bound lab-periods in violation
    (leaving out a run's length at each end: the renewal's warm-up, and the last periods in which
    no run may start), its standard error across those replications, and the closed form's
    violation rate there."""
    rows = []
    for i, caught in enumerate(GRID):
        config = _oracle_config(caught, run_periods)
        rates = []
        for j in range(RATE_SEEDS):
            result = run_abm(config, 5000 + 100 * i + j, lab_type=lab_type)
            rates.append(float(np.mean(result.violation_rate[run_periods:-run_periods])))
        mean = float(np.mean(rates))
        error = float(np.std(rates, ddof=1) / math.sqrt(RATE_SEEDS))
        rows.append((caught, mean, error, predicted_violation_rate(result.inputs, 0.3)))
    return rows


def _rate_switch(
    rows: Sequence[tuple[float, float, float, float]], level: float
) -> tuple[float, float]:
    """The interval in which the simulated violation rate crosses ``level``: above the last
    detection at which the rate exceeds it by more than Z standard errors (across independent
    replications), below the first at which it falls short of it by more."""
    above = [p for p, mean, se, _ in rows if mean - Z * se > level]
    below = [p for p, mean, se, _ in rows if mean + Z * se < level]
    low = max(above, default=-math.inf)
    high = min((p for p in below if p > low), default=math.inf)
    return low, high


@pytest.mark.parametrize(
    ("run_periods", "at_threshold", "below", "above"),
    # The closed form's violation rate at the threshold 0.3, and at 0.25 and 0.35 on each side:
    # with T = 1 a run lasts one period, so the rate is the defect share (1/2 at the threshold);
    # with T = 3 a run lasts (1 - (1-p)^3)/p = 2.68 periods on average at the threshold.
    [(1, 0.5, 0.8494, 0.1856), (3, 0.7280, 0.9391, 0.3736)],
)
def test_the_simulated_violation_rate_switches_where_the_closed_form_says(
    run_periods: int, at_threshold: float, below: float, above: float
) -> None:
    """Sweeping the detection before completion through (d + h*alpha)/(d + b) = 0.3, the
    simulated share of lab-periods in violation crosses the closed form's rate at the threshold
    within sampling error of 0.3, and at every point it agrees with the closed form's rate there
    within sampling error (Z standard errors across independent replications, plus 0.01 for
    what the renewal argument leaves out: the warm-up after all labs decide together).

    Limits: the agents are given the per-kind probability of detection and compute the closed
    form's own comparison, so this checks the decision, sampling and accounting pipeline (prizes
    drawn per decision, runs advanced, detected or completed, lab-periods counted), not that labs
    would learn or believe those probabilities."""
    rows = _rate_sweep(run_periods)
    rate = {round(p, 3): (mean, se, expected) for p, mean, se, expected in rows}
    assert rate[0.3][2] == pytest.approx(at_threshold, abs=1e-4)
    assert rate[0.25][2] == pytest.approx(below, abs=1e-4)
    assert rate[0.35][2] == pytest.approx(above, abs=1e-4)
    low, high = _rate_switch(rows, at_threshold)
    assert low < 0.3 < high, (low, high)
    assert high - low < 0.04
    misses = [(p, mean, se, e) for p, mean, se, e in rows if abs(mean - e) > Z * se + 0.01]
    assert misses == []


def test_a_rule_ignoring_false_alarms_would_move_the_violation_rates_switch_outside() -> None:
    """The violation-rate oracle has power: labs that leave false alarms out switch at 0.25, and
    the estimated crossing of the threshold's rate then excludes 0.3."""
    low, high = _rate_switch(_rate_sweep(1, IgnoresFalseAlarms), 0.5)
    assert not low < 0.3 < high, (low, high)
    assert low < 0.25 < high


def test_a_rule_ignoring_the_penalty_shows_no_violation_rate_switch() -> None:
    """The violation-rate oracle has power: labs that ignore the sanction violate at every
    detection below 1, so no crossing is found near the threshold."""
    low, high = _rate_switch(_rate_sweep(1, IgnoresPenalty), 0.5)
    assert not low < 0.3 < high, (low, high)


def test_a_rule_ignoring_false_alarms_would_move_the_switch_outside() -> None:
    """The oracle has power: labs that leave false alarms out of complying's payoff switch
    at d/(d + b) = 0.25, and the interval the test estimates then excludes the closed form's 0.3."""
    threshold = required_detection(GAIN, PENALTY, ALARM_COST, ALARM_WINDOW)
    low, high = _switch(_sweep(1, IgnoresFalseAlarms))
    assert not low < threshold < high, (low, high)
    assert low < required_detection(GAIN, PENALTY) < high


def test_a_rule_ignoring_the_penalty_would_move_the_switch_outside() -> None:
    """The oracle has power: labs that ignore the sanction defect at every detection below 1, so
    the sweep shows no switch and the estimated interval excludes the closed form's threshold."""
    threshold = required_detection(GAIN, PENALTY, ALARM_COST, ALARM_WINDOW)
    low, high = _switch(_sweep(1, IgnoresPenalty))
    assert not low < threshold < high, (low, high)


def test_the_simulated_rates_match_the_closed_form_with_heterogeneous_prizes() -> None:
    """With no contagion, the share of decisions that defect and the share of lab-periods in
    violation agree with the closed form's (lognormal prizes, renewal over runs) within a
    Wilson interval."""
    config = AbmConfig(
        agents=100,
        periods=60,
        run_periods=3,
        detection=_every(0.1),
        prize=Range.fixed(1.0),
        penalty=Range.fixed(2.5),
        prize_spread=0.5,
        contagion=0.0,
    )
    result = run_abm(config, 7)
    share = predicted_defect_share(result.inputs, config.prize_spread)
    assert 0.2 < share < 0.8
    low, high = wilson(result.defect_decisions, result.decisions, Z)
    assert low < share < high
    # Lab-periods in violation, leaving out the first run's length (the renewal's warm-up) and
    # the last (no run starts that cannot complete).
    periods = result.violation_rate[3:-3]
    lab_periods = len(periods) * config.agents
    violating = round(sum(periods) * config.agents)
    low, high = wilson(violating, lab_periods, Z)
    assert low < predicted_violation_rate(result.inputs, config.prize_spread) < high


def test_runs_are_detected_before_completion_with_the_timely_probability() -> None:
    """Every defection is detected in its run's window with 1 - (1 - p)^T (the realised draws,
    within a Wilson interval), and its lag from start to detection is never beyond T."""
    config = AbmConfig(
        agents=100,
        periods=60,
        run_periods=4,
        detection=_every(0.08),
        prize=Range.fixed(1.0),
        penalty=Range.fixed(0.5),
        contagion=0.0,
        prize_spread=0.0,
    )
    result = run_abm(config, 11)
    assert result.defections > 500
    ended = result.detected + result.completed
    low, high = wilson(result.detected, ended, Z)
    assert low < timely_detection(0.08, 4) < high
    assert set(result.detection_lags) <= {1, 2, 3, 4}
    # Geometric: each period's draw is the same, so the first period catches the most.
    counts = [result.detection_lags.count(lag) for lag in (1, 2, 3, 4)]
    assert counts[0] > counts[3]


def test_labs_defect_in_the_kind_least_likely_to_be_detected() -> None:
    """With one kind weaker than the rest, every defection is of that kind."""
    detection = _every(0.3)
    detection[DefectionKind.GOING_DARK] = Range.fixed(0.01)
    config = AbmConfig(agents=20, parties=2, periods=12, detection=detection, contagion=0.0)
    result = run_abm(config, 3)
    assert result.defections > 0
    assert result.by_kind[DefectionKind.GOING_DARK] == result.defections


def test_more_inspections_per_period_deter_a_regime_one_inspection_does_not() -> None:
    """Inspections compound: at 0.1 per inspection and three periods a run, one inspection a
    period leaves most labs defecting, four deter nearly all."""
    common = {
        "agents": 50,
        "parties": 5,
        "periods": 30,
        "detection": _every(0.1),
        "penalty": Range.fixed(2.0),
        "contagion": 0.0,
    }
    one = run_abm(AbmConfig(inspections=1, **common), 5)  # type: ignore[arg-type]
    four = run_abm(AbmConfig(inspections=4, **common), 5)  # type: ignore[arg-type]
    assert one.defect_share > 0.5
    assert four.defect_share < 0.05


def test_without_contagion_nothing_is_triggered_and_with_it_detections_cascade() -> None:
    """Seen detections raise the belief that the pause collapses: at a regime that deters the
    median lab only just, no defection is triggered without contagion, and with it some are
    (labs that would have complied had they seen nothing)."""
    common = {
        "agents": 100,
        "periods": 48,
        "detection": _every(0.12),
        "penalty": Range.fixed(3.0),
        "prize_spread": 0.4,
        "withdrawal_cost": 10.0,
    }
    calm = run_abm(AbmConfig(contagion=0.0, **common), 21)  # type: ignore[arg-type]
    contagious = run_abm(AbmConfig(contagion=0.02, **common), 21)  # type: ignore[arg-type]
    assert calm.detected > 0
    assert calm.triggered == 0
    assert contagious.triggered > 0
    assert contagious.defections > calm.defections


def test_a_withdrawal_takes_effect_after_its_notice_and_never_past_expiry() -> None:
    """A party that gives notice in period t leaves in t + notice; the pause collapses then; no
    notice is given that would take effect after the pause expires; the withdrawn party's labs
    stop deciding."""
    config = AbmConfig(
        agents=40,
        parties=4,
        periods=30,
        detection=_every(0.15),
        contagion=0.2,
        withdrawal_notice=12,
        withdrawal_cost=0.3,
        collapse_share=1.0,
    )
    result = run_abm(config, 2)
    assert result.withdrawals
    for w in result.withdrawals:
        assert w.effective_period == w.notice_period + 12
        assert w.effective_period <= config.periods
    assert result.collapse_period == min(w.effective_period for w in result.withdrawals)
    # Every party leaves in this replication, so from the last withdrawal on no lab is bound.
    assert len(result.withdrawals) == config.parties
    last = max(w.effective_period for w in result.withdrawals)
    assert all(rate == 0 for rate in result.violation_rate[last - 1 :])
    assert all(bound == 0 for bound in result.bound_labs[last - 1 :])


class AlwaysDefects(Lab):
    """A lab that runs whenever it may (complying is worth nothing to it)."""

    def comply_payoff(self, gain: float, collapse_belief: float) -> float:
        return -math.inf


def _leaving_config(run_periods: int) -> AbmConfig:
    """Every lab defecting, detections seen and a cheap exit: parties give notice early and
    leave while their labs' runs are in progress."""
    return AbmConfig(
        agents=40,
        parties=4,
        periods=30,
        run_periods=run_periods,
        detection=_every(0.15),
        contagion=0.2,
        withdrawal_notice=6,
        withdrawal_cost=0.3,
        collapse_share=1.0,
    )


@pytest.mark.parametrize("seed", range(5))
def test_a_withdrawing_partys_runs_are_settled_when_its_withdrawal_takes_effect(seed: int) -> None:
    """A run in progress when its party's withdrawal takes effect completes outside the
    agreement: it is counted apart (withdrawn_runs), neither detected nor completed undetected,
    so every run started ends one of the three ways and no lab is left mid-run."""
    from pausewatch.simulate.abm_model import DeterrenceModel

    config = _leaving_config(3)
    rng = np.random.default_rng(seed)
    model = DeterrenceModel(config, config.draw(rng), rng, lab_type=AlwaysDefects)
    result = model.run()
    assert result.withdrawals
    assert [lab for lab in model.labs if lab.kind is not None] == []
    assert result.withdrawn_runs > 0
    assert result.detected + result.completed + result.withdrawn_runs == result.defections


def test_the_violation_rate_counts_only_labs_still_bound() -> None:
    """The violation rate of a period is the share of the labs still bound that run a
    defection: with every bound lab running in every period it is 1 throughout, before and after
    parties leave, and the bound labs' count falls as each withdrawal takes effect."""
    config = _leaving_config(1)
    result = run_abm(config, 4, lab_type=AlwaysDefects)
    assert len(result.withdrawals) >= 2
    assert result.withdrawals[0].effective_period <= config.periods
    bound = list(result.violation_rate)
    assert all(rate == 1.0 for rate, n in zip(bound, result.bound_labs, strict=True) if n)
    first = result.withdrawals[0].effective_period
    assert result.bound_labs[first - 2] == config.agents
    assert result.bound_labs[first - 1] < config.agents
    assert result.lab_period_violation_rate == 1.0
    assert result.violation_rate_all_labs(config.agents) < 1.0


def test_summary_intervals_of_replication_figures_are_taken_across_replications() -> None:
    """Decisions within a replication share its inputs and its contagion, so the summary's
    intervals for the share of decisions to defect and of runs detected are percentiles of each
    replication's own share, not one pooled Wilson interval over every decision."""
    config = AbmConfig(
        agents=20,
        periods=36,
        prize=Range(0.5, 1.5),
        penalty=Range(2.0, 4.0),
        detection={k: Range(0.15, 0.4) for k in KINDS},
    )
    summary = monte_carlo(config, 30, seed=18)
    figures = summary.to_json()
    shares = np.array([r.defect_decisions / r.decisions for r in summary.runs if r.decisions])
    low, high = np.percentile(shares, [2.5, 97.5])
    assert figures["defect_decisions"]["low"] == pytest.approx(low)
    assert figures["defect_decisions"]["high"] == pytest.approx(high)
    assert figures["defect_decisions"]["rate"] == pytest.approx(shares.mean())
    detected = np.array(
        [r.detected / (r.detected + r.completed) for r in summary.runs if r.detected + r.completed]
    )
    low, high = np.percentile(detected, [2.5, 97.5])
    assert figures["detected"]["low"] == pytest.approx(low)
    assert figures["detected"]["high"] == pytest.approx(high)
    # The pause's holding is one independent trial per replication: Wilson's interval is right.
    held = sum(r.held for r in summary.runs)
    assert (figures["pause_held"]["low"], figures["pause_held"]["high"]) == wilson(held, 30)


def test_the_policy_sets_the_withdrawal_notice() -> None:
    """miri-2025's 365 days of notice are 12 monthly periods."""
    policy = load_preset("miri-2025")
    assert policy.withdrawal is not None
    assert policy.withdrawal.notice_days == 365
    assert AbmConfig.from_policy(policy).withdrawal_notice == 12
    assert AbmConfig.from_policy(policy, agents=7, parties=7).agents == 7


def test_a_run_is_exactly_reproducible_from_its_seed() -> None:
    """The same seed gives the same replication; another seed another."""
    config = AbmConfig(agents=30, parties=3, periods=24, detection=_every(0.1))
    first = run_abm(config, 42).to_json()
    assert run_abm(config, 42).to_json() == first
    assert run_abm(config, 43).to_json() != first


def test_the_monte_carlo_draws_inputs_and_gives_intervals() -> None:
    """Each replication draws its inputs from the ranges (replication i the same whatever the
    count); the summary gives every figure with an interval containing its estimate."""
    config = AbmConfig(
        agents=20,
        parties=4,
        periods=24,
        detection={kind: Range(0.05, 0.3) for kind in KINDS},
        prize=Range(0.5, 2.0),
        penalty=Range(1.0, 4.0),
    )
    calls: list[int] = []
    summary = monte_carlo(config, 6, seed=9, progress=calls.append)
    assert calls == [1, 2, 3, 4, 5, 6]
    prizes = {r.inputs.prize for r in summary.runs}
    assert len(prizes) == 6
    assert all(0.5 <= p <= 2.0 for p in prizes)
    assert monte_carlo(config, 3, seed=9).runs == summary.runs[:3]
    figures = json.loads(json.dumps(summary.to_json()))
    assert figures == monte_carlo(config, 6, seed=9).to_json()
    band = figures["violation_rate_by_period"]
    assert len(band["mean"]) == len(band["low"]) == len(band["high"]) == 24
    assert all(
        lo <= m <= hi for lo, m, hi in zip(band["low"], band["mean"], band["high"], strict=True)
    )
    rate = figures["violation_rate"]
    assert rate["low"] <= rate["median"] <= rate["high"]
    for key in ("pause_held", "withdrawals", "defect_decisions"):
        share = figures[key]
        assert share["low"] <= share["rate"] <= share["high"]
    assert figures["replications"] == 6
    assert sum(figures["defections_by_kind"].values()) == figures["defections"]
    assert figures["closed_form"]["required_detection"] == pytest.approx(
        required_detection(1.25, 2.5)
    )
    deterred = sum(
        r.inputs.run_detection(r.inputs.weakest()) >= r.inputs.threshold() for r in summary.runs
    )
    assert figures["closed_form"]["replications_deterred"]["count"] == deterred


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"agents": 0}, "agents must be a whole number at least 1"),
        ({"parties": 11, "agents": 10}, "parties (11) must not exceed agents (10)"),
        ({"penalty": Range(-1.0, 1.0)}, "penalty must be at least 0"),
        ({"prize": Range(2.0, 1.0)}, "prize: low 2.0 is above high 1.0"),
        ({"contagion": 1.5}, "contagion must be between 0 and 1"),
        ({"detection": {DefectionKind.MISTAGGED: Range.fixed(0.1)}}, "detection is missing"),
    ],
)
def test_a_bad_configuration_is_refused_with_one_line(
    overrides: dict[str, object], message: str
) -> None:
    """Parameters outside the model's domain raise AbmError naming the parameter."""
    with pytest.raises(AbmError, match=None) as caught:
        AbmConfig(**overrides)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_wilson_bounds_are_exact_at_none_and_all() -> None:
    """Wilson's interval is [0, high] with no success and [low, 1] with all, exactly."""
    assert wilson(0, 100)[0] == 0.0
    assert wilson(100, 100)[1] == 1.0
    low, high = wilson(50, 100)
    assert low < 0.5 < high


@given(st.integers(0, 10_000), st.integers(1, 10_000))
def test_a_wilson_interval_holds_its_estimate_within_0_and_1(k: int, n: int) -> None:
    """For any count of successes, 0 <= low <= k/n <= high <= 1."""
    k = min(k, n)
    low, high = wilson(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


def _inputs(caught: float, gain: float, penalty: float, cost: float, alarm: float) -> Inputs:
    return Inputs(
        prize=gain,
        penalty=penalty,
        false_alarm_cost=cost,
        false_alarm_rate=alarm,
        detection=dict.fromkeys(KINDS, caught),
        inspections=1,
        run_periods=1,
    )


stakes = st.floats(0.01, 100.0)


@given(stakes, stakes, st.floats(0.0, 10.0), st.floats(0.0, 0.5), st.floats(0.05, 2.0))
def test_the_closed_form_share_is_one_half_at_the_threshold(
    gain: float, penalty: float, cost: float, alarm: float, spread: float
) -> None:
    """At detection = required_detection(d, b, h, alpha) the median lab is indifferent, so the
    closed form's defect share is exactly 1/2, and it falls as detection rises."""
    threshold = required_detection(gain, penalty, cost, alarm)
    assume(0.0 < threshold < 1.0)
    at = predicted_defect_share(_inputs(threshold, gain, penalty, cost, alarm), spread)
    assert at == pytest.approx(0.5, abs=1e-6)
    lower = predicted_defect_share(_inputs(threshold * 0.9, gain, penalty, cost, alarm), spread)
    higher = predicted_defect_share(
        _inputs(threshold + (1 - threshold) * 0.1, gain, penalty, cost, alarm), spread
    )
    assert lower >= at >= higher


def test_a_range_parses_a_value_or_low_high() -> None:
    """``X`` is a fixed value, ``LOW:HIGH`` a range; anything else is refused naming the option."""
    assert Range.parse("0.2") == Range.fixed(0.2)
    assert Range.parse("0.1:0.4") == Range(0.1, 0.4)
    with pytest.raises(AbmError, match="prize must be a number or LOW:HIGH"):
        Range.parse("a:b:c", "prize")


def test_the_package_and_the_model_configuration_import_without_mesa() -> None:
    """pausewatch.simulate and pausewatch.simulate.abm import with Mesa absent; a run then says
    which extra to install."""
    code = (
        "import sys; sys.modules['mesa'] = None\n"
        "import pausewatch.simulate, pausewatch.simulate.abm as abm\n"
        "try:\n"
        "    abm.run_abm(abm.AbmConfig(agents=2, parties=1, periods=1), 0)\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "install the simulate extra" in done.stdout


finite = st.floats(allow_nan=False, allow_infinity=False)


@given(finite, finite)
def test_a_range_round_trips_through_its_text(low: float, high: float) -> None:
    """``repr(X)`` parses to the fixed value X and ``repr(LOW):repr(HIGH)`` to that range,
    exactly (whatever the numbers: the parser reads, the check judges)."""
    assert Range.parse(repr(low)) == Range.fixed(low)
    assert Range.parse(f"{low!r}:{high!r}") == Range(low, high)


@given(st.text())
def test_garbage_for_a_range_is_one_line_never_another_exception(text: str) -> None:
    """Any text either parses and checks to a range in the domain, or is refused with one
    AbmError line naming the option."""
    message: str | None = None
    try:
        Range.parse(text, "--prize").check("--prize")
    except AbmError as exc:
        message = str(exc)
    assert message is None or ("\n" not in message and message.startswith("--prize"))


@given(st.dictionaries(st.sampled_from(KINDS), st.tuples(finite, finite)))
def test_kind_detection_options_round_trip(
    chosen: dict[DefectionKind, tuple[float, float]],
) -> None:
    """``--kind-detection KIND=LOW:HIGH`` (or ``KIND=P``) items parse back to the ranges they
    were written from, one per kind."""
    items = [f"{k.value}={lo!r}:{hi!r}" for k, (lo, hi) in chosen.items()]
    assert _kind_detection(items) == {k: Range(lo, hi) for k, (lo, hi) in chosen.items()}
    fixed = [f"{k.value}={lo!r}" for k, (lo, _) in chosen.items()]
    assert _kind_detection(fixed) == {k: Range.fixed(lo) for k, (lo, _) in chosen.items()}


@given(st.lists(st.text(), max_size=4))
def test_garbage_kind_detection_is_one_line_never_another_exception(items: list[str]) -> None:
    """Any ``--kind-detection`` items either parse to ranges per kind or are refused with one
    AbmError line naming the option."""
    message: str | None = None
    chosen: dict[DefectionKind, Range] = {}
    try:
        chosen = _kind_detection(items)
    except AbmError as exc:
        message = str(exc)
    assert message is None or ("\n" not in message and message.startswith("--kind-detection"))
    assert set(chosen) <= set(KINDS)
