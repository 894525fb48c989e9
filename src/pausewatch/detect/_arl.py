"""Average run length of Page's one-sided CUSUM on standard normal residuals.

The scheme is ``S_0 = start``, ``S_t = max(0, S_(t-1) + X_t - k)``, alarm at the first ``t``
with ``S_t > h``, for independent ``X_t ~ N(shift, 1)`` (Page 1954). Its average run length
``L(z)``, the expected number of periods to the alarm from ``S = z``, solves the integral
equation of Page (1954) and Goel and Wu (1971)::

    L(z) = 1 + L(0) Phi(k - z - shift) + int_0^h L(y) phi(y + k - z - shift) dy,   0 <= z <= h

:func:`cusum_arl` solves it by the Nystroem method with Gauss-Legendre quadrature on
``[0, h]`` (Vance 1986; Knoth's ``spc`` package does the same): ``n`` nodes and the atom at 0
give ``n + 1`` linear equations. The solution is analytic in ``z``, so the quadrature converges
geometrically; the answer is taken at ``2n`` nodes and its accuracy estimated by the change
from ``n`` nodes (typically below 1e-9, relative). :func:`cusum_arl_markov` is Brook and Evans's
(1972) Markov chain on a grid of ``[0, h]``, an independent method whose error falls as the
square of the grid step; the tests hold the two against each other and against published tables.

With ``shift = 0`` the run length is the in-control one: ``1/ARL_0`` is the probability of a
false alarm per period in the long run, which :func:`decision_interval` sets.

scipy is imported when a run length is computed, not when the package is: the state's fold
imports ``pausewatch.detect``, and every command would otherwise pay for loading it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pausewatch.errors import DetectionError

_MAX_H = 100.0
_MAX_ABS = 20.0
_MAX_ARL = 1e12
"""Past this the linear system is too close to singular for double precision to give the
figure to the accuracy the rest of the package promises."""


@dataclass(frozen=True)
class RunLength:
    """An average run length with the method and the accuracy it was computed with."""

    arl: float
    """Expected number of periods until the first alarm."""
    nodes: int
    """Gauss-Legendre nodes the figure was computed with."""
    accuracy: float
    """Relative change from half as many nodes: an estimate of the relative error."""
    method: str = "integral equation, Nystroem with Gauss-Legendre quadrature (Goel-Wu, Vance)"


def _check(k: float, h: float, shift: float, start: float) -> None:
    for name, value in (("k", k), ("shift", shift)):
        if not (isinstance(value, int | float) and math.isfinite(value)):
            raise DetectionError(f"{name}: expected a finite number, got {value!r}")
        if abs(value) > _MAX_ABS:
            raise DetectionError(f"{name}: expected |{name}| <= {_MAX_ABS:g}, got {value!r}")
    if not (isinstance(h, int | float) and 0.0 < h <= _MAX_H):
        raise DetectionError(f"h: expected a decision interval 0 < h <= {_MAX_H:g}, got {h!r}")
    if not (isinstance(start, int | float) and 0.0 <= start <= h):
        raise DetectionError(f"start: expected a head start 0 <= start <= h ({h:g}), got {start!r}")


def _nystroem(k: float, h: float, shift: float, start: float, n: int) -> float:
    from scipy import stats

    x, w = np.polynomial.legendre.leggauss(n)
    z = h * (x + 1.0) / 2.0
    w = w * h / 2.0
    c = k - shift
    # Unknowns: L(0) first, then L(z_1..z_n). Row r is the equation at point p_r.
    points = np.concatenate(([0.0], z))
    a = np.empty((n + 1, n + 1))
    a[:, 0] = -stats.norm.cdf(c - points)
    a[:, 1:] = -w[None, :] * stats.norm.pdf(z[None, :] + c - points[:, None])
    a[np.diag_indices(n + 1)] += 1.0
    lengths = np.linalg.solve(a, np.ones(n + 1))
    if start == 0.0:
        return float(lengths[0])
    tail = float(np.dot(w * stats.norm.pdf(z + c - start), lengths[1:]))
    return 1.0 + float(lengths[0] * stats.norm.cdf(c - start)) + tail


def _nodes(h: float) -> int:
    # The kernel is a unit normal density: a few nodes per unit of h resolve it.
    return max(24, math.ceil(6 * h))


def cusum_run_length(
    *, k: float, h: float, shift: float = 0.0, start: float = 0.0, nodes: int | None = None
) -> RunLength:
    """The ARL of the one-sided upper CUSUM with reference value ``k`` and decision interval
    ``h`` (in standard deviations of the residuals) when their mean is ``shift``, from the head
    start ``start``, with the accuracy estimate of the quadrature."""
    _check(k, h, shift, start)
    n = nodes if nodes is not None else _nodes(h)
    if n < 4:
        raise DetectionError(f"nodes: expected at least 4, got {n}")
    coarse = _nystroem(k, h, shift, start, n)
    fine = _nystroem(k, h, shift, start, 2 * n)
    if not (math.isfinite(fine) and 1.0 <= fine <= _MAX_ARL):
        raise DetectionError(
            f"ARL for k={k:g}, h={h:g}, shift={shift:g}: beyond what double precision "
            f"computes reliably (got {fine:.6g}; expected between 1 and {_MAX_ARL:g})"
        )
    return RunLength(arl=fine, nodes=2 * n, accuracy=abs(fine - coarse) / fine)


def cusum_arl(*, k: float, h: float, shift: float = 0.0, start: float = 0.0) -> float:
    """The ARL of the one-sided upper CUSUM (see :func:`cusum_run_length`)."""
    return cusum_run_length(k=k, h=h, shift=shift, start=start).arl


def two_sided_arl(*, k: float, h: float, shift: float = 0.0) -> float:
    """The zero-start ARL of the two-sided tabular CUSUM (an upper and a lower one-sided
    scheme with the same ``k`` and ``h``) from Lucas and Crosier's (1982) relation
    ``1/L = 1/L+(shift) + 1/L+(-shift)``, by the symmetry of the normal law. Its in-control
    figure is half the one-sided one; it reproduces their Table 1 (Montgomery's table of the
    tabular CUSUM) to 0.2%. An arm too long to compute (beyond 1e12 periods) adds nothing."""

    def rate(s: float) -> float:
        try:
            return 1.0 / cusum_arl(k=k, h=h, shift=s)
        except DetectionError:
            _check(k, h, s, 0.0)
            return 0.0

    total = rate(shift) + rate(-shift)
    if total == 0.0:
        raise DetectionError(
            f"two-sided ARL for k={k:g}, h={h:g}, shift={shift:g}: both arms beyond "
            f"{_MAX_ARL:g} periods"
        )
    return 1.0 / total


def cusum_arl_markov(*, k: float, h: float, shift: float = 0.0, states: int = 400) -> float:
    """The zero-start ARL by Brook and Evans's (1972) Markov chain: ``[0, h]`` cut into
    ``states`` cells of width ``w = 2h / (2 states - 1)`` represented by their midpoints
    ``0, w, 2w, ...`` (the first cell, ``[0, w/2)``, holds the atom at 0), the alarm absorbing.
    Its error falls as ``w^2``; use it as an independent check of :func:`cusum_arl`."""
    from scipy import stats

    _check(k, h, shift, 0.0)
    if states < 2:
        raise DetectionError(f"states: expected at least 2, got {states}")
    w = 2.0 * h / (2 * states - 1)
    mid = np.arange(states) * w
    upper = (np.arange(states) + 0.5) * w
    c = k - shift
    # cdf[i, j] = P(next S < upper edge of cell j | S = mid_i).
    cdf = stats.norm.cdf(upper[None, :] + c - mid[:, None])
    r = np.diff(np.concatenate((np.zeros((states, 1)), cdf), axis=1), axis=1)
    lengths = np.linalg.solve(np.eye(states) - r, np.ones(states))
    return float(lengths[0])


def decision_interval(*, k: float, in_control_arl: float, shift: float = 0.0) -> float:
    """The decision interval ``h`` at which the one-sided CUSUM with reference value ``k`` has
    the average run length ``in_control_arl`` when the residuals' mean is ``shift`` (0: in
    control, so that ``1/in_control_arl`` is the false-alarm probability per period)."""
    from scipy import optimize, stats

    _check(k, 1.0, shift, 0.0)
    floor = 1.0 / float(stats.norm.sf(k - shift))
    if not (isinstance(in_control_arl, int | float) and floor < in_control_arl <= _MAX_ARL / 10):
        raise DetectionError(
            f"in-control ARL: expected between {floor:.6g} (h = 0) and {_MAX_ARL / 10:g}, "
            f"got {in_control_arl!r}"
        )
    target = math.log(in_control_arl)

    def gap(h: float) -> float:
        return math.log(cusum_arl(k=k, h=h, shift=shift)) - target

    hi = 1.0
    while gap(hi) < 0:
        hi *= 2.0
        if hi > _MAX_H:
            raise DetectionError(
                f"in-control ARL {in_control_arl:g} at k={k:g} needs h > {_MAX_H:g}"
            )
    lo = min(1e-6, hi / 2)
    if gap(lo) >= 0:
        return lo
    return float(optimize.brentq(gap, lo, hi, xtol=1e-10, rtol=1e-12))
