"""The Armstrong-Bostrom-Shulman race with a pause regime (pausewatch.simulate.race, ADR 0042).

Expected values are written out by hand from the closed forms (ADR 0042 derives them), not
computed by the module under test."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pausewatch.simulate.inspection import GameError, required_detection
from pausewatch.simulate.race import (
    MAX_EQUILIBRIA,
    MAX_RESOLUTION,
    MAX_TEAMS,
    NO_REGIME,
    PRIVATE_TOLERANCE,
    Information,
    Race,
    Regime,
    closed_form_safety,
    closed_form_team_safety,
    curve,
    deterrence,
    equilibrium,
    plotly_figure,
    write_html,
    write_png,
)

NONE, PRIVATE, PUBLIC = Information.NONE, Information.PRIVATE, Information.PUBLIC


# --- the paper's closed forms, by hand ------------------------------------------------------


@pytest.mark.parametrize(
    ("teams", "enmity", "mu", "safety"),
    [
        (2, 1.0, 1.0, 0.5),  # mu / (n e) = 1/2
        (3, 1.0, 0.5, 1 / 6),  # 0.5 / 3
        (5, 0.5, 2.0, 0.8),  # 2 / 2.5
        (2, 0.5, 1.0, 1.0),  # 1 / 1 caps at full safety
        (4, 0.0, 0.1, 1.0),  # no enmity: nothing to race for
    ],
)
def test_no_information_solver_finds_mu_over_n_e(
    teams: int, enmity: float, mu: float, safety: float
) -> None:
    """With no information every team takes min(1, mu / (n e)), and the solver finds it."""
    race = Race(teams, enmity, mu, NONE)
    assert closed_form_safety(race) == pytest.approx(safety)
    eq = equilibrium(race)
    assert eq.converged
    assert eq.safety == pytest.approx(safety, abs=0.005)
    assert eq.disaster == pytest.approx(1 - safety, abs=0.005)
    assert eq.other_equilibria == ()


@pytest.mark.parametrize(
    ("teams", "enmity", "mu", "winner", "team"),
    [
        # s(c) = c/2, the most capable wins: E[max of two U(0,1)] / 2 = (2/3)/2.
        (2, 1.0, 1.0, 1 / 3, 1 / 4),
        # K = 1 + e = 1.5: (2/3) / 1.5; a team's mean safety (1/2) / 1.5.
        (2, 0.5, 1.0, 4 / 9, 1 / 3),
        # K = 2 = mu: E[max] = 4/3, over 2.
        (2, 1.0, 2.0, 2 / 3, 1 / 2),
        # K = 3: n mu / ((n + 1) K) = 1.5 / 12.
        (3, 1.0, 0.5, 0.125, 0.5 / 6),
        # mu > K = 1.3: 2 K^2 / (3 mu^2) + 1 - (K/mu)^2 = 3.38/27 + 1 - 1.69/9.
        (2, 0.3, 3.0, 3.38 / 27 + 1 - 1.69 / 9, 1.3 / 6 + 1 - 1.3 / 3),
    ],
)
def test_private_information_closed_form_is_an_equilibrium_on_the_grid(
    teams: int, enmity: float, mu: float, winner: float, team: float
) -> None:
    """With private information a team of capability c takes min(1, c / (1 + (n-1) e)): no
    type gains more than the grid's error by deviating, and the integrated figures match."""
    race = Race(teams, enmity, mu, PRIVATE)
    assert closed_form_safety(race) == pytest.approx(winner)
    assert closed_form_team_safety(race) == pytest.approx(team)
    eq = equilibrium(race, resolution=1000)
    assert eq.regret <= 0.002
    assert eq.converged
    assert eq.safety == pytest.approx(winner, abs=0.002)
    assert eq.team_safety == pytest.approx(team, abs=0.002)


@pytest.mark.parametrize(
    ("teams", "enmity", "mu", "safety"),
    [
        # Leader takes min(1, gap/e); P(gap > g) = (1 - g/mu)^n; E[gap] = mu / (n + 1).
        (2, 1.0, 1.0, 1 / 3),
        (3, 1.0, 0.5, 0.125),
        # (mu / (e (n+1))) (1 - (1 - e/mu)^(n+1)) = (2/3)(1 - 1/8).
        (2, 1.0, 2.0, 7 / 12),
        # (1/(0.5*3)) (1 - 0.5^3) = (2/3)(7/8).
        (2, 0.5, 1.0, 7 / 12),
    ],
)
def test_public_information_leader_takes_gap_over_enmity(
    teams: int, enmity: float, mu: float, safety: float
) -> None:
    """With public information the leader takes min(1, gap / e), the most safety that still
    leaves the runner-up no reason to overtake, and the solver finds it (within its grid)."""
    race = Race(teams, enmity, mu, PUBLIC)
    assert closed_form_safety(race) == pytest.approx(safety)
    eq = equilibrium(race, resolution=400)
    assert eq.converged
    assert eq.safety == pytest.approx(safety, abs=0.02)
    assert eq.safety >= safety - 1e-9  # the grid's tolerance only ever errs towards safety


# --- the paper's qualitative results --------------------------------------------------------


@pytest.mark.parametrize("case", list(Information))
def test_more_teams_raise_the_risk(case: Information) -> None:
    """The chance of disaster rises with the number of teams, in every information case."""
    risks = [equilibrium(Race(n, 1.0, 1.0, case), resolution=400).disaster for n in (2, 3, 5)]
    assert risks[0] < risks[1] < risks[2]


@pytest.mark.parametrize("case", list(Information))
def test_more_enmity_raises_the_risk(case: Information) -> None:
    """The chance of disaster rises with the enmity between teams, in every information case."""
    risks = [equilibrium(Race(2, e, 0.5, case), resolution=400).disaster for e in (0.3, 0.6, 1.0)]
    assert risks[0] <= risks[1] < risks[2]
    assert risks[0] < risks[2]


def test_risk_taking_mattering_more_raises_the_risk() -> None:
    """When capability matters less (a smaller mu), risk-taking decides and disaster is likelier."""
    risks = [equilibrium(Race(2, 1.0, mu, NONE)).disaster for mu in (2.0, 1.0, 0.5)]
    assert risks == pytest.approx([0.0, 0.5, 0.75], abs=0.005)


def test_knowing_capabilities_raises_the_risk() -> None:
    """Knowing capabilities raises the risk: at n = 2, e = 1, mu = 2 disaster is 0 with no
    information, 1/3 with private and 5/12 with public information."""
    risks = [equilibrium(Race(2, 1.0, 2.0, c), resolution=400).disaster for c in Information]
    assert risks == pytest.approx([0.0, 1 / 3, 5 / 12], abs=0.02)
    assert risks[0] < risks[1] < risks[2]


def test_public_information_is_not_always_riskier_than_private() -> None:
    """As read here (ADR 0042), public information is less risky than private when enmity is
    below 1 and mu is small: at n = 2, e = 1/2, mu = 1 disaster is 5/9 private, 5/12 public."""
    private = equilibrium(Race(2, 0.5, 1.0, PRIVATE)).disaster
    public = equilibrium(Race(2, 0.5, 1.0, PUBLIC), resolution=400).disaster
    assert private == pytest.approx(5 / 9, abs=0.005)
    assert public == pytest.approx(5 / 12, abs=0.02)
    assert public < private


# --- the regime against the inspection game -------------------------------------------------


def test_no_information_threshold_by_hand() -> None:
    """Against a complying field of two (e = 1, mu = 1), racing at s wins with 1 - s^2/2; the
    best is s = sqrt(2/3), a gain d = (2/3) sqrt(2/3) - 1/2 over complying, and with S = 1/2
    the threshold is d / (d + 1/2)."""
    gain = (2 / 3) * math.sqrt(2 / 3) - 0.5
    d = deterrence(Race(2, 1.0, 1.0, NONE), Regime(sanction=0.5))
    assert d.gain == pytest.approx(gain, abs=1e-5)
    assert d.penalty == 0.5
    assert d.required_detection == pytest.approx(gain / (gain + 0.5), abs=1e-5)


def test_private_threshold_by_hand() -> None:
    """With private information the least capable type is the most tempted: it wins nothing by
    complying and s(1 - s) at most, 1/4, by racing; with S = 1/2 the threshold is 1/3."""
    d = deterrence(Race(2, 1.0, 1.0, PRIVATE), Regime(sanction=0.5))
    assert d.gain == pytest.approx(0.25, abs=1e-3)
    assert d.required_detection == pytest.approx(1 / 3, abs=1e-3)


def test_public_threshold_by_hand() -> None:
    """With public information a runner-up level with the leader gains e by overtaking: the
    threshold is (e + h alpha) / (e + S), here (0.5 + 0.1) / (0.5 + 1) = 0.4."""
    regime = Regime(sanction=1.0, false_alarm_cost=1.0, false_alarm_rate=0.1)
    d = deterrence(Race(2, 0.5, 1.0, PUBLIC), regime)
    assert d.required_detection == pytest.approx(0.4)
    assert d.required_detection == pytest.approx(required_detection(0.5, 1.0, 1.0, 0.1))


@pytest.mark.parametrize("case", list(Information))
@pytest.mark.parametrize(
    ("teams", "mu", "sanction", "false_alarm"), [(2, 1.0, 0.5, 0.0), (3, 0.5, 0.3, 0.1)]
)
def test_the_regime_deters_exactly_from_the_inspection_threshold(
    case: Information, teams: int, mu: float, sanction: float, false_alarm: float
) -> None:
    """The race's own equilibrium switches from racing to complying where the inspection game
    says it must: q >= (d + h alpha) / (d + b), with d and b read off the race."""
    race = Race(teams, 1.0, mu, case)
    base = Regime(sanction=sanction, false_alarm_cost=1.0, false_alarm_rate=false_alarm)
    d = deterrence(race, base)
    assert d.required_detection == pytest.approx(
        required_detection(d.gain, d.penalty, 1.0, false_alarm)
    )
    assert 0.05 < d.required_detection < 0.95
    above = Regime(
        detection=d.required_detection + 0.02,
        sanction=sanction,
        false_alarm_cost=1.0,
        false_alarm_rate=false_alarm,
    )
    below = Regime(
        detection=d.required_detection - 0.02,
        sanction=sanction,
        false_alarm_cost=1.0,
        false_alarm_rate=false_alarm,
    )
    deterred = equilibrium(race, above, resolution=400)
    racing = equilibrium(race, below, resolution=400)
    assert deterrence(race, above).deterred
    assert not deterrence(race, below).deterred
    assert deterred.deterred
    assert deterred.violation == 0.0
    assert deterred.disaster == 0.0
    assert deterred.safety == pytest.approx(1.0, abs=1e-12)
    assert deterred.closed_form_disaster == 0.0
    assert not racing.deterred
    assert racing.violation > 0.0
    assert racing.disaster > 0.0


def test_a_larger_sanction_lowers_the_threshold() -> None:
    """The detection needed to deter falls as the sanction grows (d / (d + S))."""
    race = Race(2, 1.0, 1.0, NONE)
    needed = [deterrence(race, Regime(sanction=s)).required_detection for s in (0.1, 0.5, 2.0)]
    assert needed[0] > needed[1] > needed[2]


def test_without_a_sanction_only_certain_detection_deters() -> None:
    """With no sanction a caught team loses nothing it would not lose by complying: only q = 1
    (and then only by indifference) deters."""
    d = deterrence(Race(2, 1.0, 1.0, NONE), Regime())
    assert d.required_detection == pytest.approx(1.0)


def test_a_race_that_needs_no_regime_needs_no_detection() -> None:
    """When teams already take full precautions (mu >= n e) nothing is gained by racing and
    no detection is needed."""
    d = deterrence(Race(2, 0.5, 1.0, NONE), Regime(sanction=0.5))
    assert d.gain == 0.0
    assert d.required_detection == 0.0
    assert d.deterred


def test_a_non_deterring_regime_still_lowers_the_risk() -> None:
    """Below the threshold detection still lowers the chance of disaster (caught teams proceed
    at full precautions)."""
    race = Race(2, 1.0, 1.0, NONE)
    free = equilibrium(race).disaster
    some = equilibrium(race, Regime(detection=0.05, sanction=0.5)).disaster
    assert 0.0 < some < free


# --- curves and plots -----------------------------------------------------------------------


def test_detection_curve_falls_to_zero_past_the_threshold() -> None:
    """Sweeping detection, the chance of disaster never rises and is 0 past the threshold."""
    race = Race(2, 1.0, 1.0, NONE)
    regime = Regime(sanction=0.5)
    c = curve("detection", race, regime, [0.0, 0.02, 0.05, 0.1, 0.5], cases=[NONE])
    risks = [p.disaster for p in c.points["none"]]
    assert all(a >= b - 1e-9 for a, b in itertools.pairwise(risks))
    assert risks[0] == pytest.approx(0.5, abs=0.005)
    assert risks[-2:] == [0.0, 0.0]


def test_curve_covers_every_case_and_value_and_reports_progress() -> None:
    """A curve has one equilibrium per value for each information case, and calls progress
    once per point."""
    calls: list[int] = []
    c = curve(
        "teams",
        Race(2, 1.0, 1.0),
        values=[2, 3],
        resolution=100,
        progress=lambda: calls.append(1),
    )
    assert set(c.points) == {"none", "private", "public"}
    assert all(len(points) == 2 for points in c.points.values())
    assert [p.race.teams for p in c.points["public"]] == [2, 3]
    assert len(calls) == 6
    body = c.to_json()
    assert body["parameter"] == "teams"
    assert body["values"] == [2.0, 3.0]


def test_curve_is_deterministic() -> None:
    """The same sweep twice gives exactly the same figures."""
    args = ("sanction", Race(3, 1.0, 0.5), Regime(detection=0.3))
    one = curve(*args, values=[0.0, 0.5], resolution=100).to_json()
    two = curve(*args, values=[0.0, 0.5], resolution=100).to_json()
    assert one == two


def test_plots_as_plotly_html_and_png(tmp_path: Path) -> None:
    """A curve plots as a Plotly figure (two panels, a line per case), as an HTML file that
    carries plotly.js inline, and as a PNG."""
    c = curve("teams", Race(2, 1.0, 1.0), values=[2, 3], resolution=100)
    fig = plotly_figure(c)
    assert len(fig.data) == 6
    html = tmp_path / "race.html"
    write_html(c, str(html))
    text = html.read_text()
    assert '<script src="https://cdn.plot.ly' not in text
    assert "Plotly.newPlot" in text
    assert len(text) > 1_000_000
    png = tmp_path / "race.png"
    write_png(c, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Race(1, 1.0, 1.0), "teams must be between 2"),
        (lambda: Race(2, 1.5, 1.0), "enmity must be a finite number between 0 and 1"),
        (lambda: Race(2, 1.0, 0.0), "capability must be a finite number between 1e-06 and 1e"),
        (lambda: Race(2, 1.0, math.inf), "capability must be a finite number"),
        (lambda: Race(2, 1.0, 1.0, "secret"), "information must be one of"),  # type: ignore[arg-type]
        (lambda: Regime(detection=-0.1), "detection must be a finite number between 0 and 1"),
        (lambda: Regime(sanction=math.nan), "sanction must be a finite number"),
        (lambda: equilibrium(Race(2, 1.0, 1.0), resolution=5), "resolution must be"),
        (lambda: curve("speed", Race(2, 1.0, 1.0)), "sweep must be one of"),
        (lambda: curve("teams", Race(2, 1.0, 1.0), values=[2.5]), "teams must be whole"),
    ],
)
def test_bad_parameters_raise_one_line(make: object, message: str) -> None:
    """Parameters outside the model's domain raise a GameError naming the parameter."""
    with pytest.raises(GameError, match=message) as info:
        make()  # type: ignore[operator]
    assert "\n" not in str(info.value)


def test_no_regime_is_the_default() -> None:
    """``Regime()`` is no regime: the equilibrium under it is the paper's."""
    assert Regime() == NO_REGIME
    eq = equilibrium(Race(2, 1.0, 1.0))
    assert eq.closed_form_safety == 0.5
    assert eq.regime == NO_REGIME


def test_below_the_threshold_teams_mix_between_racing_and_complying() -> None:
    """With no information, just below the threshold no pure equilibrium exists: each team
    complies with some probability and otherwise races, indifferent between the two."""
    race = Race(3, 1.0, 0.5, NONE)
    regime = Regime(detection=0.2, sanction=0.5)
    assert deterrence(race, regime).required_detection > 0.3
    eq = equilibrium(race, regime, resolution=400)
    assert eq.converged
    assert eq.regret <= 0.005
    assert 0.0 < eq.violation < 1.0
    assert eq.racing_safety is not None
    assert eq.racing_safety < 1.0
    free = equilibrium(race).disaster
    assert 0.0 < eq.disaster < free


# --- review of the race model (issue 18) ----------------------------------------------------


@pytest.mark.parametrize("mu", [1e-20, 1e-12, 1e-7, 2e6, 1e17, 1e308])
def test_capability_outside_the_resolvable_range_is_refused(mu: float) -> None:
    """A capability far below a grid step (every level a fixed point) or far above (closed
    forms and grids overflow) is refused in one line naming the range."""
    for case in Information:
        with pytest.raises(GameError, match="capability must be a finite number between") as info:
            Race(2, 1.0, mu, case)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("teams", [2, 3, 50])
def test_public_closed_form_does_not_cancel_at_large_capability(teams: int) -> None:
    """The public closed form ``mu/(e(n+1)) (1 - (1 - e/mu)^(n+1))`` keeps its precision at
    the largest capability (exact rational arithmetic as the reference)."""
    mu, e = 1e6, 1.0
    x = Fraction(e) / Fraction(mu)
    exact = Fraction(mu) / (Fraction(e) * (teams + 1)) * (1 - (1 - x) ** (teams + 1))
    got = closed_form_safety(Race(teams, e, mu, PUBLIC))
    assert got == pytest.approx(float(exact), rel=1e-14, abs=0.0)


def test_private_closed_form_at_the_bounds_is_finite_and_exact() -> None:
    """The private closed form with the most teams and the largest capability is the exact
    value (no power overflows)."""
    n, e, mu = MAX_TEAMS, 1.0, 1e6
    ratio = Fraction(1 + (n - 1) * e) / Fraction(mu)
    exact = Fraction(n, n + 1) * ratio**n + 1 - ratio**n
    got = closed_form_safety(Race(n, e, mu, PRIVATE))
    assert got == pytest.approx(float(exact), rel=1e-14, abs=0.0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("parameter", ["teams", "detection", "sanction"])
def test_curve_refuses_non_finite_values(parameter: str, value: float) -> None:
    """A swept value that is not a finite number is a GameError, not a ValueError or an
    OverflowError."""
    with pytest.raises(GameError, match=f"{parameter} values must be finite numbers"):
        curve(parameter, Race(2, 1.0, 1.0), values=[value], cases=(NONE,), resolution=20)


@pytest.mark.parametrize("resolution", [MAX_RESOLUTION + 1, 100_000_000])
def test_resolution_above_the_maximum_is_refused(resolution: int) -> None:
    """A safety grid finer than the stated maximum is refused before anything is allocated."""
    for case in Information:
        with pytest.raises(GameError, match="resolution must be a whole number between 20 and"):
            equilibrium(Race(50, 1.0, 1.0, case), resolution=resolution)


def test_private_below_the_threshold_reports_not_converged() -> None:
    """Private information below the threshold: the damped best replies do not settle (the
    regret is far above the tolerance), and the equilibrium says so."""
    race = Race(3, 1.0, 0.5, PRIVATE)
    for q, regret in ((0.2, 0.15), (0.45, 0.22)):
        eq = equilibrium(race, Regime(detection=q, sanction=0.5), resolution=400)
        assert eq.converged is False
        assert eq.regret == pytest.approx(regret, abs=0.03)
        assert eq.regret > PRIVATE_TOLERANCE


def _monte_carlo_payoffs(
    race: Race,
    regime: Regime,
    comply: float,
    level: float,
    samples: int,
    own_level: float | None = None,
) -> tuple[float, float]:
    """One team's expected utility from complying and from racing at ``own_level`` (default
    ``level``) when each other team independently complies with probability ``comply`` and
    otherwise races at ``level`` (a racer is caught with probability q: it pays S and
    proceeds at full precautions). Common random numbers for both actions."""
    own = level if own_level is None else own_level
    rng = np.random.default_rng(20261205)
    n, e, mu = race.teams, race.enmity, race.capability
    q, sanction = regime.detection, regime.sanction
    mine = rng.uniform(0.0, mu, samples)
    caught_me = rng.uniform(size=samples) < q
    others = rng.uniform(0.0, mu, (samples, n - 1))
    racing = rng.uniform(size=(samples, n - 1)) >= comply
    caught = rng.uniform(size=(samples, n - 1)) < q
    their_safety = np.where(racing & ~caught, level, 1.0)
    their_scores = others - their_safety
    best = their_scores.argmax(axis=1)
    best_score = their_scores[np.arange(samples), best]
    best_safety = their_safety[np.arange(samples), best]

    def value(safety: np.ndarray) -> float:
        won = mine - safety > best_score
        return float(np.mean(np.where(won, safety, (1.0 - e) * best_safety)))

    complying = value(np.ones(samples))
    racing_value = value(np.where(caught_me, 1.0, own)) - q * sanction
    return complying, racing_value


def test_mixed_equilibrium_is_indifferent_by_monte_carlo() -> None:
    """At the reported mixed equilibrium (no information, below the threshold), complying and
    racing at the reported level pay the same, checked by an independent seeded simulation."""
    race = Race(3, 1.0, 0.5, NONE)
    regime = Regime(detection=0.2, sanction=0.5)
    eq = equilibrium(race, regime, resolution=400)
    assert eq.racing_safety is not None
    comply = 1.0 - eq.violation
    assert 0.0 < comply < 1.0
    complying, racing = _monte_carlo_payoffs(race, regime, comply, eq.racing_safety, 1_000_000)
    assert racing == pytest.approx(complying, abs=0.005)
    # The check can fail: against a field that complies more often, at the same racing
    # level, complying is clearly better.
    more, racing_more = _monte_carlo_payoffs(
        race, regime, min(1.0, comply + 0.2), eq.racing_safety, 1_000_000
    )
    assert more - racing_more > 0.01


def test_no_pure_no_mixed_fallback_reports_not_converged() -> None:
    """No information, where neither a pure nor a mixed equilibrium exists: the reported
    all-racing profile is flagged as not converged, and a seeded simulation confirms that it
    is no equilibrium (racing lower than the field pays clearly more)."""
    race = Race(2, 1.0, 0.1, NONE)
    regime = Regime(detection=0.25, sanction=0.3)
    eq = equilibrium(race, regime, resolution=100)
    assert eq.converged is False
    assert eq.violation == 1.0
    assert eq.deterred is False
    assert eq.racing_safety is not None
    assert eq.racing_safety < 1.0
    assert eq.regret > 0.1
    _, at_level = _monte_carlo_payoffs(race, regime, 0.0, eq.racing_safety, 400_000)
    _, undercut = _monte_carlo_payoffs(
        race, regime, 0.0, eq.racing_safety, 400_000, own_level=eq.racing_safety - 0.1
    )
    assert undercut - at_level > 0.05


def test_many_symmetric_equilibria_are_not_converged() -> None:
    """With no information, when the solver finds more than a handful of symmetric equilibria
    (the best reply is flat on the grid), the result is flagged as not converged."""
    eq = equilibrium(Race(2, 0.01, 1e-3, NONE), resolution=100)
    assert len(eq.other_equilibria) + 1 > MAX_EQUILIBRIA
    assert eq.converged is False
    few = equilibrium(Race(2, 1.0, 1.0, NONE), resolution=100)
    assert len(few.other_equilibria) + 1 <= MAX_EQUILIBRIA
    assert few.converged is True
