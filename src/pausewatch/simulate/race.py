"""The race to build a transformative AI, with and without a pause regime (ADR 0042).

The model is Armstrong, Bostrom and Shulman, "Racing to the precipice: a model of artificial
intelligence development" (AI & Society 31(2), 2016, 201-206; FHI technical report 2013-1).
``n`` teams each draw a capability ``c`` uniformly from ``[0, mu]`` and choose a safety level
``s`` in ``[0, 1]``; the team with the highest score ``c - s`` wins, and its AI is safe with
probability ``s`` (a disaster with ``1 - s``). A team values its own safe AI at 1, another
team's safe AI at ``1 - e`` (``e`` is the enmity) and a disaster at 0. Three information cases:
nobody knows any capability, each team knows its own, or every capability is public.

Every equilibrium is computed numerically (exact integration over capabilities where the
information case allows it, best replies on fine grids otherwise; nothing is random), and the
closed forms that hold without a regime are given beside it so that the two can be compared.

The regime (ADR 0042, "The regime"): the pause asks every team to take full precautions
(``s = 1``). A team that cuts them to get ahead races in defiance of the pause; it is detected
with probability ``q`` before it can win, and is then halted (it cannot win) and loses the
sanction ``S``. A team that complies still bears a false alarm, with probability ``alpha`` and
cost ``h``. Against a field that complies, a team is deterred exactly when ``q`` reaches the
inspector-leadership threshold ``(d + h*alpha) / (d + b)`` of
:func:`pausewatch.simulate.inspection.required_detection`, with ``d`` its gain from racing
undetected and ``b`` its loss when caught, both read off the race (:func:`deterrence`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

from pausewatch.simulate.inspection import GameError, required_detection

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Floats = NDArray[np.float64]

MAX_TEAMS = 50
"""The most teams a race may have (the solvers' cost grows with it)."""

MIN_CAPABILITY = 1e-6
"""The least capability ``mu`` a race may have: far below a safety grid's step the race is
decided by risk-taking alone and the solvers cannot resolve it (every level looks alike)."""

MAX_CAPABILITY = 1e6
"""The most capability ``mu`` a race may have: far above it skill alone decides the race."""

MAX_RESOLUTION = 2000
"""The most safety-grid steps :func:`equilibrium` takes (the private solver's arrays grow with
its square; no information and public information use at most 400)."""

MAX_EQUILIBRIA = 5
"""More symmetric equilibria than this (no information) mean the solver cannot tell the
levels apart: the result is flagged as not converged."""

_COMPLY = 1.0 - 1e-12
"""A safety level at or above this complies with the pause (full precautions)."""


class Information(StrEnum):
    """What the teams know about capabilities (ABS's three cases)."""

    NONE = "none"
    """Nobody knows any capability, its own included."""
    PRIVATE = "private"
    """Each team knows its own capability only."""
    PUBLIC = "public"
    """Every team knows every capability."""


def _check(name: str, value: float, *, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GameError(f"{name} must be a number, got {value!r}")
    if math.isnan(value) or not (low <= value <= high) or math.isinf(value):
        bound = f"between {low:g} and {high:g}" if high != math.inf else f"at least {low:g}"
        raise GameError(f"{name} must be a finite number {bound}, got {value}")
    return float(value)


@dataclass(frozen=True)
class Race:
    """A race: how many teams, their enmity, how much capability matters, and who knows what."""

    teams: int
    """The number of teams ``n`` (2 to :data:`MAX_TEAMS`)."""
    enmity: float
    """``e`` in ``[0, 1]``: a team values another team's safe AI at ``1 - e``."""
    capability: float
    """``mu > 0``: capabilities are uniform on ``[0, mu]``; a large ``mu`` means skill matters
    more than risk-taking, a small one that risk-taking decides the race."""
    information: Information = Information.NONE
    """What the teams know about capabilities."""

    def __post_init__(self) -> None:
        if isinstance(self.teams, bool) or not isinstance(self.teams, int):
            raise GameError(f"teams must be a whole number, got {self.teams!r}")
        if not 2 <= self.teams <= MAX_TEAMS:
            raise GameError(f"teams must be between 2 and {MAX_TEAMS}, got {self.teams}")
        _check("enmity", self.enmity, low=0.0, high=1.0)
        _check("capability", self.capability, low=MIN_CAPABILITY, high=MAX_CAPABILITY)
        try:
            object.__setattr__(self, "information", Information(self.information))
        except ValueError:
            raise GameError(
                f"information must be one of none, private, public, got {self.information!r}"
            ) from None


@dataclass(frozen=True)
class Regime:
    """A pause that asks for full precautions, with its detection, sanction and false alarms.

    ``Regime()`` is no regime at all: nothing is detected and nothing is sanctioned."""

    detection: float = 0.0
    """``q``: the probability that a team racing in defiance of the pause is detected (and
    halted) before it can win."""
    sanction: float = 0.0
    """``S >= 0``: what a detected team loses, in the race's utility (a safe AI of one's own is
    worth 1)."""
    false_alarm_cost: float = 0.0
    """``h >= 0``: what a complying team loses to a false alarm."""
    false_alarm_rate: float = 0.0
    """``alpha``: the probability of a false alarm against a complying team."""

    def __post_init__(self) -> None:
        _check("detection", self.detection, low=0.0, high=1.0)
        _check("sanction", self.sanction, low=0.0)
        _check("false_alarm_cost", self.false_alarm_cost, low=0.0)
        _check("false_alarm_rate", self.false_alarm_rate, low=0.0, high=1.0)


NO_REGIME = Regime()


def _json(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else value
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


@dataclass(frozen=True)
class Equilibrium:
    """The equilibrium of one race under one regime, and what it risks."""

    race: Race
    regime: Regime
    safety: float
    """The expected safety level of the AI that is built (the winner's ``s``; a team caught
    racing proceeds at full precautions, ``s = 1``)."""
    team_safety: float
    """The expected safety level a team chooses (for public information, the leader's and the
    runner-up's, averaged: the rest of the field never comes near winning)."""
    disaster: float
    """The probability of an AI disaster: the winner's AI is unsafe."""
    violation: float
    """The probability that a given team races in defiance of the pause (``s < 1``)."""
    deterred: bool
    """Whether the equilibrium has no violation (the pause holds)."""
    closed_form_safety: float | None
    """The paper's closed form for :attr:`safety`, where one holds (no regime, nor one that
    detects nothing and raises no false alarms, or a regime that deters)."""
    closed_form_disaster: float | None
    """The closed form for :attr:`disaster`, where one holds."""
    converged: bool
    """Whether the numerical search met its tolerance: for no information, a pure equilibrium
    was found (and not more than :data:`MAX_EQUILIBRIA` of them), or a mixed one whose regret
    is within two grid steps; false in the fallback where neither exists."""
    racing_safety: float | None = None
    """For no information: the safety level of a team that races (in a mixed equilibrium,
    each team complies with probability ``1 - violation`` and otherwise takes this)."""
    regret: float = 0.0
    """The most any team (any type, for private information) could gain by deviating from
    the reported equilibrium, on the solver's grid."""
    other_equilibria: tuple[float, ...] = ()
    """For no information: the common safety levels of any other symmetric equilibria (the
    reported one is the safest)."""

    def to_json(self) -> dict[str, Any]:
        """The equilibrium as JSON (flat: the race's and regime's parameters first)."""
        body = asdict(self)
        race = body.pop("race")
        regime = body.pop("regime")
        race["information"] = str(self.race.information)
        return dict(
            _json({**race, **regime, **body, "other_equilibria": list(self.other_equilibria)})
        )


# --- the paper's closed forms (no regime) ---------------------------------------------------


def closed_form_safety(race: Race) -> float:
    """The winner's expected safety in the regime-free equilibrium (derivations in ADR 0042).

    - no information: every team takes ``min(1, mu / (n e))``;
    - private: a team of capability ``c`` takes ``min(1, c / (1 + (n-1) e))``, and the most
      capable team wins;
    - public: the leader takes ``min(1, gap / e)``, ``gap`` its lead over the runner-up, which
      is exceeded with probability ``(1 - g/mu)^n``."""
    n, e, mu = race.teams, race.enmity, race.capability
    if e == 0:
        return 1.0
    if race.information is Information.NONE:
        return min(1.0, mu / (n * e))
    if race.information is Information.PRIVATE:
        k = 1.0 + (n - 1) * e
        if mu <= k:
            return n * mu / ((n + 1) * k)
        # (k / mu) ** n, not k**n / mu**n: the powers alone overflow for many teams.
        return n / (n + 1) * (k / mu) ** n + 1.0 - (k / mu) ** n
    # 1 - (1 - x)^(n+1) without the cancellation of 1 - (1 - x) for a small x = e / mu.
    lead = 1.0 if e >= mu else -math.expm1((n + 1) * math.log1p(-e / mu))
    return mu / (e * (n + 1)) * lead


def closed_form_team_safety(race: Race) -> float | None:
    """A team's expected safety in the regime-free equilibrium (``None`` for public
    information, where the losing teams' safety is left open by the model)."""
    n, e, mu = race.teams, race.enmity, race.capability
    if race.information is Information.PUBLIC:
        return None
    if race.information is Information.NONE or e == 0:
        return closed_form_safety(race)
    k = 1.0 + (n - 1) * e
    return mu / (2 * k) if mu <= k else k / (2 * mu) + 1.0 - k / mu


# --- no information: exact integration over capabilities ------------------------------------


def _win_probability(lead: Floats, others: int, mu: float) -> Floats:
    """``P(c - s > M - t)`` for ``c`` and the ``others`` capabilities uniform on ``[0, mu]``
    (``M`` their maximum) and ``lead = t - s``: the chance of beating ``others`` teams that
    all took safety ``t`` with safety ``s``, in closed form."""
    if others == 0:
        return np.ones_like(lead)
    a = lead / mu
    b = 1.0 + a
    low = np.clip(a, 0.0, 1.0)
    high = np.clip(b, 0.0, 1.0)
    inside = (high ** (others + 1) - low ** (others + 1)) / (others + 1)
    above = np.maximum(b - np.maximum(a, 1.0), 0.0)
    return np.asarray(inside + above, dtype=np.float64)


def _uniform_cdf(x: Floats, safety: Floats | float, mu: float) -> Floats:
    """``P(c - safety <= x)`` for ``c`` uniform on ``[0, mu]``."""
    return np.asarray(np.clip((x + safety) / mu, 0.0, 1.0), dtype=np.float64)


def _none_race_value(s: Floats, t: float, at_full: float, race: Race) -> Floats:
    """A racing team's expected utility from the AI alone (no sanction, no false alarm) when
    it takes safety ``s`` and every other team is, independently, at full precautions with
    probability ``at_full`` (it complied, or was caught) and at ``t`` otherwise. Integrated
    over the winner's score on a fine grid."""
    n, e, mu = race.teams, race.enmity, race.capability
    q = at_full if t < _COMPLY else 0.0
    if q == 0.0:
        # Every other team at t: the chance of beating them all is a closed form.
        win = _win_probability(t - s, n - 1, mu)
        return np.asarray(s * win + (1.0 - e) * t * (1.0 - win), dtype=np.float64)
    # Scores c - s lie in [-1, mu]: a midpoint rule over the winner's score.
    cells = 1500
    edges = np.linspace(-1.0, mu, cells + 1)
    x = (edges[:-1] + edges[1:]) / 2
    dx = (mu + 1.0) / cells
    density = 1.0 / mu
    mine = _uniform_cdf(x[None, :], s[:, None], mu)  # P(my score <= x)
    my_density = ((x[None, :] >= -s[:, None]) & (x[None, :] <= mu - s[:, None])) * density
    racing_cdf = _uniform_cdf(x, t, mu)
    caught_cdf = _uniform_cdf(x, 1.0, mu)
    other_cdf = (1.0 - q) * racing_cdf + q * caught_cdf
    racing_density = ((x >= -t) & (x <= mu - t)) * density * (1.0 - q)
    caught_density = ((x >= -1.0) & (x <= mu - 1.0)) * density * q
    rest = other_cdf ** (n - 1)
    rest_but_one = other_cdf ** (n - 2)
    win = np.sum(my_density * rest[None, :], axis=1) * dx
    # Another team wins with score x: it is one of n - 1, the rest and I are below x.
    lost = (
        (n - 1)
        * np.sum(
            mine * rest_but_one[None, :] * (racing_density * t + caught_density)[None, :], axis=1
        )
        * dx
    )
    return np.asarray(s * win + (1.0 - e) * lost, dtype=np.float64)


def _none_payoff(s: Floats, t: float, race: Race, regime: Regime, comply: float = 0.0) -> Floats:
    """A team's expected utility when it takes safety ``s`` and every other team complies with
    probability ``comply`` and takes ``t`` otherwise: racing in defiance of the pause, a team
    is caught with probability ``q``, pays ``S`` and proceeds at full precautions; complying,
    it bears the expected false alarm."""
    q = regime.detection
    levels = np.append(s, 1.0)
    at_full = comply + (1.0 - comply) * q
    values = _none_race_value(levels, t, at_full, race)
    racing, complying = values[:-1], values[-1]
    violating = s < _COMPLY
    value = np.where(
        violating,
        (1.0 - q) * racing + q * (complying - regime.sanction),
        racing - regime.false_alarm_rate * regime.false_alarm_cost,
    )
    return np.asarray(value, dtype=np.float64)


def _best_reply(values: Floats, grid: Floats) -> float:
    """The safest of the maximisers (a team indifferent between levels takes the safer)."""
    top = float(values.max())
    best = np.flatnonzero(values >= top - 1e-12 * max(1.0, abs(top)))
    return float(grid[best[-1]])


def _none_winner_safety(t: float, race: Race, regime: Regime, comply: float = 0.0) -> float:
    """The expected safety of the winning AI when every team complies with probability
    ``comply`` and takes ``t`` otherwise (caught with probability ``q`` when ``t < 1``, and
    then at full precautions)."""
    n, mu = race.teams, race.capability
    q = comply + (1.0 - comply) * regime.detection
    if t >= _COMPLY or q == 0.0:
        return t
    cells = 1500
    edges = np.linspace(-1.0, mu, cells + 1)
    x = (edges[:-1] + edges[1:]) / 2
    dx = (mu + 1.0) / cells
    cdf = (1.0 - q) * _uniform_cdf(x, t, mu) + q * _uniform_cdf(x, 1.0, mu)
    racing_density = ((x >= -t) & (x <= mu - t)) * (1.0 - q) / mu
    racer_wins = n * float(np.sum(racing_density * cdf ** (n - 1)) * dx)
    return racer_wins * t + (1.0 - racer_wins)


def _solve_none(race: Race, regime: Regime, resolution: int) -> Equilibrium:
    steps = min(resolution, 400)
    grid = np.linspace(0.0, 1.0, steps + 1)
    step = 1.0 / steps

    def reply(t: float) -> float:
        return _best_reply(_none_payoff(grid, t, race, regime), grid)

    coarse = np.linspace(0.0, 1.0, 101)
    replies = [reply(float(t)) for t in coarse]
    gaps = [r - t for r, t in zip(replies, coarse, strict=True)]
    found: list[float] = []
    for i, t in enumerate(coarse):
        if abs(gaps[i]) <= step / 2:
            found.append(float(t))
        if i + 1 < len(coarse) and gaps[i] > step / 2 and gaps[i + 1] < -step / 2:
            lo, hi = float(t), float(coarse[i + 1])
            for _ in range(30):
                mid = (lo + hi) / 2
                if reply(mid) - mid > 0:
                    lo = mid
                else:
                    hi = mid
            # A crossing where the best reply jumps (from complying to racing) is no
            # equilibrium; one where it moves continuously is.
            if abs(reply(lo) - reply(hi)) <= 4 * step:
                found.append((lo + hi) / 2)
    merged: list[float] = []
    for level in sorted(found, reverse=True):
        if not merged or merged[-1] - level > 3 * step:
            merged.append(level)
    comply = 0.0
    # Many fixed points mean the best reply is flat on the grid: nothing is resolved.
    converged = 0 < len(merged) <= MAX_EQUILIBRIA
    if merged:
        t = merged[0]
        own = _none_payoff(np.array([t]), t, race, regime)[0]
        regret = float(_none_payoff(grid, t, race, regime).max() - own)
    else:
        mixed = _none_mixed(race, regime, grid)
        if mixed is not None:
            comply, t, regret = mixed
            converged = regret <= 2 * step
        else:
            # Neither pure nor mixed: report every team racing as it would against a
            # complying field, flagged as not converged.
            t = replies[-1]
            own = _none_payoff(np.array([t]), t, race, regime)[0]
            regret = float(_none_payoff(grid, t, race, regime).max() - own)
        merged = [t]
    winner = _none_winner_safety(t, race, regime, comply)
    violation = 0.0 if t >= _COMPLY else 1.0 - comply
    closed = _closed_forms(race, regime, deterred=violation == 0.0)
    return Equilibrium(
        race=race,
        regime=regime,
        safety=winner,
        team_safety=comply + (1.0 - comply) * t,
        disaster=1.0 - winner,
        violation=violation,
        deterred=violation == 0.0,
        closed_form_safety=closed[0],
        closed_form_disaster=closed[1],
        converged=converged,
        regret=max(0.0, regret),
        racing_safety=t,
        other_equilibria=tuple(merged[1:]),
    )


def _none_mixed(race: Race, regime: Regime, grid: Floats) -> tuple[float, float, float] | None:
    """The symmetric mixed equilibrium where there is no pure one: each team complies with a
    probability ``p`` and otherwise races at ``v``, with ``v`` its best racing level against
    that field and complying and racing equally good. Returns ``(p, v, regret)``, or ``None``
    when complying and racing do not change places between ``p = 0`` and ``p = 1``."""
    step = float(grid[1] - grid[0])

    def racing_level(p: float, start: float) -> tuple[float, float]:
        """The racing level v that is a best racing reply to itself (bisection on the
        crossing of the reply with the diagonal), and racing's advantage over complying
        there."""
        del start
        a, b = 0.0, 1.0 - step
        for _ in range(11):
            mid = (a + b) / 2
            values = _none_payoff(grid, mid, race, regime, p)
            if float(grid[int(np.argmax(values[:-1]))]) > mid:
                a = mid
            else:
                b = mid
        v = (a + b) / 2
        values = _none_payoff(grid, v, race, regime, p)
        return v, float(values[:-1].max() - values[-1])

    lo, hi = 0.0, 1.0
    v_lo, edge_lo = racing_level(lo, 0.5)
    v_hi, edge_hi = racing_level(hi, v_lo)
    # Racing must lose against a field that races, and win against one that complies.
    if not (edge_lo < 0 < edge_hi):
        return None
    v = v_hi
    for _ in range(16):
        mid = (lo + hi) / 2
        v, edge = racing_level(mid, v)
        if edge < 0:
            lo = mid
        else:
            hi = mid
    p = (lo + hi) / 2
    v, edge = racing_level(p, v)
    values = _none_payoff(grid, v, race, regime, p)
    mixed_value = p * values[-1] + (1.0 - p) * float(
        _none_payoff(np.array([v]), v, race, regime, p)[0]
    )
    return p, v, max(0.0, float(values.max()) - mixed_value)


# --- private information: best replies over a capability grid -------------------------------


def _ramp_sum(x: Floats, xs: Floats, weights: Floats, width: float) -> Floats:
    """``sum_j weights_j * clip((xs_j - x) / width + 1/2, 0, 1)`` for sorted ``xs``: the
    weight of the scores above ``x`` when each score ``xs_j`` is spread uniformly over an
    interval of ``width`` around it (a type stands for a small interval of capability, so
    that no score is a mass point and ties have probability 0)."""
    cum_w = np.concatenate([[0.0], np.cumsum(weights)])
    cum_xw = np.concatenate([[0.0], np.cumsum(weights * xs)])
    lo = np.searchsorted(xs, x - width / 2, side="left")
    hi = np.searchsorted(xs, x + width / 2, side="left")
    window_w = cum_w[hi] - cum_w[lo]
    window_xw = cum_xw[hi] - cum_xw[lo]
    above = cum_w[-1] - cum_w[hi]
    return np.asarray(above + (window_xw - x * window_w) / width + window_w / 2, np.float64)


def _private_reply(
    s: Floats, c: Floats, grid: Floats, race: Race, regime: Regime
) -> tuple[Floats, dict[str, float]]:
    """Every type's best reply (on ``grid``, whose last level is full precautions) to the
    others playing ``s`` (one entry per type of ``c``, each standing for an interval of
    capability of equal width), and the outcome of the profile ``s`` itself."""
    n, e = race.teams, race.enmity
    q, sanction = regime.detection, regime.sanction
    width = race.capability / len(c)
    w = 1.0 / len(c)
    # A type racing in defiance of the pause is, with probability q, caught and at full
    # precautions: it enters the field twice, weighted.
    violating_types = s < _COMPLY
    field_score = np.concatenate([c - s, (c - 1.0)[violating_types]])
    field_weight = np.concatenate(
        [np.where(violating_types, w * (1.0 - q), w), np.full(int(violating_types.sum()), w * q)]
    )
    field_safety = np.concatenate([s, np.ones(int(violating_types.sum()))])
    order = np.argsort(field_score, kind="stable")
    xs, ws, ss = field_score[order], field_weight[order], field_safety[order]

    def above(x: Floats) -> Floats:
        """P(a given other scores above x)."""
        return _ramp_sum(x, xs, ws, width)

    # A given other scores x_j and beats the rest of the others: its safety, weighted.
    own = ws * ss * (1.0 - above(xs)) ** (n - 2)
    x = c[:, None] - grid[None, :]
    win = (1.0 - above(x)) ** (n - 1)
    race_value = grid[None, :] * win + (1.0 - e) * (n - 1) * _ramp_sum(x, xs, own, width)
    violating = grid < _COMPLY
    value = np.where(
        violating[None, :],
        (1.0 - q) * race_value + q * (race_value[:, -1:] - sanction),
        race_value - regime.false_alarm_rate * regime.false_alarm_cost,
    )
    # Exact maximisers only: a tolerance would let the near-indifferent types (those that
    # almost never win) jump to full safety and unsettle the types above them.
    top = value.max(axis=1, keepdims=True)
    best = value >= top
    reply = grid[(best.shape[1] - 1) - np.argmax(best[:, ::-1], axis=1)]
    nearest = np.clip(np.rint(s * (len(grid) - 1)).astype(int), 0, len(grid) - 1)
    regret = float(np.max(top[:, 0] - value[np.arange(len(c)), nearest]))
    wins = ws * (1.0 - above(xs)) ** (n - 1) * n
    # The discretised chances of winning sum to 1 only up to the grid's error.
    wins = wins / wins.sum()
    outcome = {
        "disaster": float(np.sum(wins * (1.0 - ss))),
        "winner_safety": float(np.sum(wins * ss)),
        "team_safety": float(s.mean()),
        "violation": float(np.mean(violating_types)),
        "regret": regret,
    }
    return np.asarray(reply, dtype=np.float64), outcome


def _monotone(values: Floats) -> Floats:
    """The closest non-decreasing sequence (pool adjacent violators): in equilibrium a more
    capable team never scores lower, so the iteration is kept to such profiles."""
    means: list[float] = []
    sizes: list[int] = []
    for v in values:
        means.append(float(v))
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            m, k = means.pop(), sizes.pop()
            means[-1] = (means[-1] * sizes[-1] + m * k) / (sizes[-1] + k)
            sizes[-1] += k
    return np.repeat(np.array(means), sizes)


PRIVATE_TOLERANCE = 0.01
"""The most any type may gain by deviating from a reported private-information equilibrium
(in utility, where a safe AI of one's own is worth 1) for it to count as converged."""


def _solve_private(race: Race, regime: Regime, resolution: int) -> Equilibrium:
    types = max(50, resolution // 5)
    c = (np.arange(types) + 0.5) * race.capability / types
    grid = np.linspace(0.0, 1.0, resolution + 1)
    regime_free = np.minimum(1.0, c / (1.0 + (race.teams - 1) * race.enmity))
    comply = np.ones(types)
    reply, outcome = _private_reply(comply, c, grid, race, regime)
    if _inert(regime):
        # The closed-form profile, integrated over the type grid, with its regret on the grid
        # (the check that it is an equilibrium; ADR 0042 on why it is not iterated to).
        s = regime_free
    elif bool(np.all(reply >= _COMPLY)):
        # A field that complies and stays compliant: the regime's equilibrium, exactly.
        s = comply
    else:
        # Damped best replies from the regime-free equilibrium, kept monotone in score and
        # averaged over the last iterates: the discretised replies jitter by a few grid steps
        # and drift, so the result is approximate and its regret is reported.
        s = regime_free
        tail: list[Floats] = []
        for k in range(40):
            reply, _ = _private_reply(s, c, grid, race, regime)
            s = s + 0.5 * (reply - s)
            s = np.clip(c - _monotone(c - s), 0.0, 1.0)
            if k >= 25:
                tail.append(s)
        s = np.mean(tail, axis=0)
        s = np.where(s >= 1.0 - 0.5 / resolution, 1.0, s)
    _, outcome = _private_reply(s, c, grid, race, regime)
    violation = outcome["violation"]
    closed = _closed_forms(race, regime, deterred=violation == 0.0)
    return Equilibrium(
        race=race,
        regime=regime,
        safety=outcome["winner_safety"],
        team_safety=outcome["team_safety"],
        disaster=outcome["disaster"],
        violation=violation,
        deterred=violation == 0.0,
        closed_form_safety=closed[0],
        closed_form_disaster=closed[1],
        converged=outcome["regret"] <= PRIVATE_TOLERANCE,
        regret=outcome["regret"],
    )


# --- public information: the leader anticipates the runner-up, gap by gap -------------------


def _public_profile(
    gap: float, grid: Floats, race: Race, regime: Regime
) -> tuple[float, float, dict[str, float]]:
    """The leader's and the runner-up's safety when the leader is ``gap`` ahead, and the
    outcome. Among the (grid-tolerant) Nash equilibria of the two teams' simultaneous game, the
    one the leader likes best (ABS: the leader takes the most safety that still leaves the
    runner-up no reason to overtake; ties of score go to the leader, and of payoff to the
    safer level)."""
    e, q, sanction = race.enmity, regime.detection, regime.sanction
    false_alarm = regime.false_alarm_rate * regime.false_alarm_cost
    step = 1.0 / (len(grid) - 1)
    s1 = grid[:, None]
    s2 = grid[None, :]
    # A team racing in defiance of the pause is caught with probability q, and then proceeds
    # at full precautions: four cases, by who is caught.
    p1 = np.where(s1 < _COMPLY, 1.0 - q, 1.0)
    p2 = np.where(s2 < _COMPLY, 1.0 - q, 1.0)
    u1 = np.zeros((len(grid), len(grid)))
    u2 = np.zeros_like(u1)
    disaster = np.zeros_like(u1)
    safe = np.zeros_like(u1)
    for w1, a in ((p1, s1), (1.0 - p1, np.ones_like(s1))):
        for w2, b in ((p2, s2), (1.0 - p2, np.ones_like(s2))):
            weight = w1 * w2
            second = b < a - gap - 1e-12  # ties of score go to the leader
            u1 += weight * np.where(second, (1.0 - e) * b, a)
            u2 += weight * np.where(second, b, (1.0 - e) * a)
            disaster += weight * np.where(second, 1.0 - b, 1.0 - a)
            safe += weight * np.where(second, b, a)
    u1 -= np.where(s1 < _COMPLY, q * sanction, false_alarm)
    u2 -= np.where(s2 < _COMPLY, q * sanction, false_alarm)
    # The grid cannot put the runner-up exactly level with the leader, so a best reply is
    # taken to within two grid steps of utility.
    tolerance = 2.0 * step
    nash = (u1 >= u1.max(axis=0, keepdims=True) - tolerance) & (
        u2 >= u2.max(axis=1, keepdims=True) - tolerance
    )
    if nash.any():
        score = np.where(nash, u1, -np.inf)
        i, j = (int(k) for k in np.argwhere(score >= score.max() - 1e-12)[-1])
    else:
        # No equilibrium in pure strategies (the teams would mix): the leader moves first
        # and the runner-up replies; the regret says how far this is from an equilibrium.
        replies = (len(grid) - 1) - np.argmax(
            (u2 >= u2.max(axis=1, keepdims=True))[:, ::-1], axis=1
        )
        leader = u1[np.arange(len(grid)), replies]
        i = int(np.flatnonzero(leader >= leader.max() - 1e-12)[-1])
        j = int(replies[i])
    lead, runner = float(grid[i]), float(grid[j])
    regret = max(float(u1[:, j].max() - u1[i, j]), float(u2[i, :].max() - u2[i, j]))
    return (
        lead,
        runner,
        {
            "disaster": float(disaster[i, j]),
            "winner_safe": float(safe[i, j]),
            "violation": ((lead < _COMPLY) + (runner < _COMPLY)) / 2.0,
            "regret": regret,
        },
    )


def _solve_public(race: Race, regime: Regime, resolution: int) -> Equilibrium:
    n, mu = race.teams, race.capability
    grid = np.linspace(0.0, 1.0, min(resolution, 400) + 1)
    gaps_n = 100
    # The leader's lead over the runner-up exceeds g with probability (1 - g/mu)^n.
    edges = np.linspace(0.0, mu, gaps_n + 1)
    weights = (1.0 - edges[:-1] / mu) ** n - (1.0 - edges[1:] / mu) ** n
    mids = (edges[:-1] + edges[1:]) / 2
    totals = dict.fromkeys(("disaster", "winner_safe", "violation", "team"), 0.0)
    regret = 0.0
    for gap, weight in zip(mids, weights, strict=True):
        lead, runner, out = _public_profile(float(gap), grid, race, regime)
        for key in ("disaster", "winner_safe", "violation"):
            totals[key] += weight * out[key]
        totals["team"] += weight * (lead + runner) / 2
        regret = max(regret, out["regret"])
    # Violations by the leader or the runner-up, per team of the field (the others never race).
    violation = float(totals["violation"]) * 2.0 / n
    deterred = violation <= 1e-12
    closed = _closed_forms(race, regime, deterred=deterred)
    return Equilibrium(
        race=race,
        regime=regime,
        safety=float(totals["winner_safe"]),
        team_safety=float(totals["team"]),
        disaster=float(totals["disaster"]),
        violation=violation,
        deterred=deterred,
        closed_form_safety=closed[0],
        closed_form_disaster=closed[1],
        converged=regret <= PUBLIC_TOLERANCE,
        regret=regret,
    )


PUBLIC_TOLERANCE = 0.02
"""The most the leader or the runner-up may gain by deviating, for any lead, for a reported
public-information equilibrium to count as converged (two grid steps of utility are the
grid's own error)."""


def _inert(regime: Regime) -> bool:
    """With nothing detected and no false alarms a sanction is never paid: no regime at all."""
    return regime.detection == 0.0 and regime.false_alarm_cost * regime.false_alarm_rate == 0.0


def _closed_forms(race: Race, regime: Regime, *, deterred: bool) -> tuple[float | None, ...]:
    if _inert(regime):
        safety = closed_form_safety(race)
        return safety, 1.0 - safety
    if deterred:
        return 1.0, 0.0
    return None, None


def equilibrium(race: Race, regime: Regime = NO_REGIME, *, resolution: int = 1000) -> Equilibrium:
    """The race's equilibrium under ``regime``, computed numerically on safety grids of
    ``resolution`` steps (deterministic; a step of ``1/resolution`` bounds the grid's error)."""
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, int)
        or not 20 <= resolution <= MAX_RESOLUTION
    ):
        raise GameError(
            f"resolution must be a whole number between 20 and {MAX_RESOLUTION}, got {resolution}"
        )
    if race.information is Information.NONE:
        return _solve_none(race, regime, resolution)
    if race.information is Information.PRIVATE:
        return _solve_private(race, regime, resolution)
    return _solve_public(race, regime, resolution)


# --- the regime against the inspection game -------------------------------------------------


@dataclass(frozen=True)
class Deterrence:
    """Whether a field that complies with the pause stays compliant: the race's stakes for the
    team most tempted to race, and the inspection game's threshold on them."""

    gain: float
    """``d``: what the most tempted team gains by racing undetected, over complying."""
    penalty: float
    """``b``: what it loses when caught, against complying: the sanction ``S`` (caught, it
    proceeds at full precautions, exactly as if it had complied)."""
    required_detection: float
    """``(d + h*alpha) / (d + b)``: the detection probability at and above which complying is
    every team's best reply (``inf`` when nothing can deter)."""
    detection: float
    """The regime's ``q``."""
    deterred: bool
    """``q >= required_detection``."""
    tempted: str
    """Who is most tempted: ``"every team"`` (no information), the capability of the most
    tempted type (private), or the runner-up's lead (public)."""

    def to_json(self) -> dict[str, Any]:
        """As JSON (an infinite figure is ``null``)."""
        return dict(_json(asdict(self)))


def _required(gain: float, penalty: float, regime: Regime) -> float:
    h, alpha = regime.false_alarm_cost, regime.false_alarm_rate
    if gain <= 0:
        gain = 0.0
    if gain + penalty <= 0:
        return 0.0 if h * alpha == 0 else math.inf
    return required_detection(gain, penalty, h, alpha)


def deterrence(race: Race, regime: Regime, *, resolution: int = 1000) -> Deterrence:
    """The inspection-game threshold for the race: against a field at full precautions, the
    gain ``d`` of the most tempted team from racing undetected and its loss ``b`` when caught,
    read off the race's payoffs; a complying field is an equilibrium iff ``q`` reaches
    :func:`~pausewatch.simulate.inspection.required_detection` ``(d, b, h, alpha)``."""
    n, e, mu, sanction = race.teams, race.enmity, race.capability, regime.sanction
    grid = np.linspace(0.0, 1.0, resolution + 1)[:-1]
    if race.information is Information.NONE:
        win = _win_probability(1.0 - grid, n - 1, mu)
        racing = float(np.max(grid * win + (1.0 - win) * (1.0 - e)))
        comply = 1.0 / n + (1.0 - e) * (n - 1) / n
        gain, penalty = racing - comply, sanction
        required = _required(gain, penalty, regime)
        tempted = "every team"
    elif race.information is Information.PRIVATE:
        types = (np.arange(resolution) + 0.5) * mu / resolution
        share = (types / mu) ** (n - 1)
        beats = np.clip((types[:, None] + 1.0 - grid[None, :]) / mu, 0.0, 1.0) ** (n - 1)
        racing_c = np.max(grid * beats + (1.0 - beats) * (1.0 - e), axis=1)
        comply_c = share + (1.0 - share) * (1.0 - e)
        gains = racing_c - comply_c
        worst = int(np.argmax(gains))
        gain, penalty = float(gains[worst]), sanction
        required = _required(gain, penalty, regime)
        tempted = f"capability {types[worst]:.4g}"
    else:
        # A runner-up a gap g behind overtakes with safety just under 1 - g instead of leaving
        # the leader a safe win; a near tie (g -> 0) is the most tempted, and is always likely.
        gain, penalty = e, sanction
        required = _required(gain, penalty, regime)
        tempted = "runner-up level with the leader"
    return Deterrence(
        gain=max(gain, 0.0),
        penalty=penalty,
        required_detection=required,
        detection=regime.detection,
        deterred=regime.detection >= required,
        tempted=tempted,
    )


# --- curves ---------------------------------------------------------------------------------

SWEEPS = ("teams", "detection", "sanction")
"""The parameters a curve can sweep."""


@dataclass(frozen=True)
class Curve:
    """Equilibria along one parameter, for each information case."""

    parameter: str
    values: tuple[float, ...]
    points: dict[str, tuple[Equilibrium, ...]]
    """Per information case (``"none"``, ``"private"``, ``"public"``), one equilibrium per
    value."""
    thresholds: dict[str, float]
    """For a detection sweep, per case, the detection at and above which the pause holds
    (:func:`deterrence`); empty otherwise."""

    def to_json(self) -> dict[str, Any]:
        """As JSON: the swept values and, per case, the equilibrium at each."""
        return dict(
            _json(
                {
                    "parameter": self.parameter,
                    "values": list(self.values),
                    "thresholds": self.thresholds,
                    "cases": {
                        case: [p.to_json() for p in points] for case, points in self.points.items()
                    },
                }
            )
        )


def default_values(parameter: str, race: Race, regime: Regime) -> tuple[float, ...]:
    """The values a sweep of ``parameter`` takes by default: 2 to 10 teams, detection from 0
    to 1 in steps of 0.05, sanctions from 0 to 2 in steps of 0.1."""
    if parameter == "teams":
        return tuple(float(k) for k in range(2, 11))
    if parameter == "detection":
        return tuple(round(0.05 * k, 10) for k in range(21))
    if parameter == "sanction":
        return tuple(round(0.1 * k, 10) for k in range(21))
    raise GameError(f"sweep must be one of {', '.join(SWEEPS)}, got {parameter!r}")


def curve(
    parameter: str,
    race: Race,
    regime: Regime = NO_REGIME,
    values: Sequence[float] | None = None,
    *,
    cases: Sequence[Information] = tuple(Information),
    resolution: int = 400,
    progress: Callable[[], None] | None = None,
) -> Curve:
    """The equilibrium safety and disaster as ``parameter`` (teams, detection or sanction)
    moves through ``values``, for each information case; ``progress`` is called after each
    point."""
    chosen = tuple(values) if values is not None else default_values(parameter, race, regime)
    if parameter not in SWEEPS:
        raise GameError(f"sweep must be one of {', '.join(SWEEPS)}, got {parameter!r}")
    if not chosen:
        raise GameError("a sweep needs at least one value")
    points: dict[str, tuple[Equilibrium, ...]] = {}
    thresholds: dict[str, float] = {}
    for case in cases:
        row: list[Equilibrium] = []
        for value in chosen:
            if not math.isfinite(float(value)):
                raise GameError(f"{parameter} values must be finite numbers, got {value}")
            if parameter == "teams":
                if float(value) != int(value):
                    raise GameError(f"teams must be whole numbers, got {value}")
                r, g = replace(race, teams=int(value), information=case), regime
            else:
                r = replace(race, information=case)
                g = replace(regime, **{parameter: float(value)})
            row.append(equilibrium(r, g, resolution=resolution))
            if progress is not None:
                progress()
        points[str(case)] = tuple(row)
        if parameter == "detection":
            thresholds[str(case)] = deterrence(
                replace(race, information=case), regime
            ).required_detection
    return Curve(
        parameter=parameter,
        values=tuple(float(v) for v in chosen),
        points=points,
        thresholds=thresholds,
    )


_LABELS = {
    "teams": "number of teams n",
    "detection": "detection probability q",
    "sanction": "sanction S",
}
_CASE_NAMES = {
    "none": "no information",
    "private": "private information",
    "public": "public information",
}


_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c")


def _title(c: Curve) -> str:
    some = next(iter(c.points.values()))[0]
    r, g = some.race, some.regime
    fixed = [f"e = {r.enmity:g}", f"mu = {r.capability:g}"]
    if c.parameter != "teams":
        fixed.insert(0, f"n = {r.teams}")
    if c.parameter != "detection":
        fixed.append(f"q = {g.detection:g}")
    if c.parameter != "sanction":
        fixed.append(f"S = {g.sanction:g}")
    return f"The race against {_LABELS[c.parameter]} ({', '.join(fixed)})"


def plotly_figure(c: Curve) -> Any:
    """The curve as a Plotly figure: the winner's safety and the chance of disaster, one line
    per information case."""
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("safety of the AI that is built", "probability of disaster"),
    )
    for col, key in ((1, "safety"), (2, "disaster")):
        for k, (case, points) in enumerate(c.points.items()):
            colour = _COLOURS[k % len(_COLOURS)]
            fig.add_scatter(
                x=list(c.values),
                y=[getattr(p, key) for p in points],
                mode="lines+markers",
                name=_CASE_NAMES[case],
                legendgroup=case,
                showlegend=col == 1,
                line={"color": colour},
                marker={
                    "color": colour,
                    # Open markers: no pure-strategy equilibrium was found there (ADR 0042).
                    "symbol": ["circle" if p.converged else "circle-open" for p in points],
                    "size": 7,
                },
                row=1,
                col=col,
            )
            if case in c.thresholds and math.isfinite(c.thresholds[case]):
                fig.add_vline(
                    x=c.thresholds[case], line={"color": colour, "dash": "dot"}, row=1, col=col
                )
        fig.update_xaxes(title_text=_LABELS[c.parameter], row=1, col=col)
        fig.update_yaxes(range=[-0.02, 1.02], row=1, col=col)
    fig.update_layout(title=_title(c), template="plotly_white")
    return fig


def write_html(c: Curve, path: str) -> None:
    """The Plotly figure as a standalone HTML file, plotly.js inline (it opens offline)."""
    plotly_figure(c).write_html(path, include_plotlyjs=True, full_html=True)


def write_png(c: Curve, path: str) -> None:
    """The curve as a PNG drawn by matplotlib (the ``simulate`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    try:
        for ax, key, label in (
            (axes[0], "safety", "safety of the AI that is built"),
            (axes[1], "disaster", "probability of disaster"),
        ):
            for k, (case, points) in enumerate(c.points.items()):
                colour = _COLOURS[k % len(_COLOURS)]
                ys = [getattr(p, key) for p in points]
                ax.plot(c.values, ys, color=colour, label=_CASE_NAMES[case])
                solid = [p.converged for p in points]
                ax.scatter(
                    [v for v, ok in zip(c.values, solid, strict=True) if ok],
                    [y for y, ok in zip(ys, solid, strict=True) if ok],
                    color=colour,
                    s=14,
                )
                # Open markers: no pure-strategy equilibrium was found there (ADR 0042).
                ax.scatter(
                    [v for v, ok in zip(c.values, solid, strict=True) if not ok],
                    [y for y, ok in zip(ys, solid, strict=True) if not ok],
                    facecolors="white",
                    edgecolors=colour,
                    s=18,
                )
                if case in c.thresholds and math.isfinite(c.thresholds[case]):
                    ax.axvline(c.thresholds[case], color=colour, linestyle=":", lw=1)
            ax.set_xlabel(_LABELS[c.parameter])
            ax.set_title(label)
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
        axes[0].legend()
        fig.suptitle(_title(c))
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


__all__ = [
    "MAX_CAPABILITY",
    "MAX_EQUILIBRIA",
    "MAX_RESOLUTION",
    "MAX_TEAMS",
    "MIN_CAPABILITY",
    "NO_REGIME",
    "SWEEPS",
    "Curve",
    "Deterrence",
    "Equilibrium",
    "Information",
    "Race",
    "Regime",
    "closed_form_safety",
    "closed_form_team_safety",
    "curve",
    "default_values",
    "deterrence",
    "equilibrium",
    "plotly_figure",
    "write_html",
    "write_png",
]
