"""The covariance of a sequence of balances, SITMUF, and the one-shot and cumulative tests.

For balances ``B_1..B_n`` of one subject, the covariance under the error model is
``Σ_ij = Σ_k r_ik·r_jk + Σ_s L_is·L_js``: random errors covary only where two balances use the
same reading (an inventory that closes one period and opens the next), systematic ones wherever
two balances draw on the same source (a meter's calibration bias, every period). Without shared
readings this is ``δ_ij·sigma²_r,i + Σ_s L_is·L_js``.

SITMUF, the standardised independent transformed MUF (Avenhaus and Jaech, "On subdividing
material balances in time and/or space", J. Inst. Nucl. Mater. Manage. 10, 1981; Jaech,
"Statistical Analysis of Measurement Errors", 1985; Avenhaus and Canty, "Compliance
Quantified", 1996, §3.4): factor ``Σ = L·Lᵀ`` with ``L`` lower triangular (Cholesky) and take
``y = L⁻¹·B``. Because ``L`` is lower triangular, ``y_i`` depends on ``B_1..B_i`` only: it is the
innovation of ``B_i`` given the earlier balances, divided by its standard deviation. Under no loss
the ``y_i`` are independent N(0, 1), whatever the systematic errors, so a sequential test (Page's
CUSUM, :mod:`pausewatch.detect._cusum`) can run on them at its tabled false-alarm rate.

The matrices are small (one row per balance period of one subject), so the factorisation is
written out here in plain Python rather than taken from a linear-algebra library.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from pausewatch.detect._balance import Balance, BalanceError, Quantity, covariance_of

Matrix = tuple[tuple[float, ...], ...]
"""A square matrix, row by row."""

_RELATIVE_PIVOT = 1e-12
"""A Cholesky pivot below this fraction of its diagonal entry is taken as zero: the balance is
then a linear function of the earlier ones and has no innovation to standardise."""


def _quantities(balances: Sequence[Balance | Quantity]) -> list[Quantity]:
    return [b.quantity if isinstance(b, Balance) else b for b in balances]


def covariance(balances: Sequence[Balance | Quantity]) -> Matrix:
    """The covariance matrix of a sequence of balances under the error model."""
    qs = _quantities(balances)
    return tuple(tuple(covariance_of(a, b) for b in qs) for a in qs)


def cholesky(sigma: Matrix) -> Matrix:
    """The lower-triangular ``L`` with ``L·Lᵀ = sigma``; a matrix that is not positive definite
    (a balance with no error, or one that repeats earlier ones) is a BalanceError."""
    n = len(sigma)
    if any(len(row) != n for row in sigma):
        raise BalanceError(
            f"expected a square covariance matrix, got rows of {[len(r) for r in sigma]}"
        )
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = sigma[i][j] - math.fsum(low[i][k] * low[j][k] for k in range(j))
            if i == j:
                if not s > _RELATIVE_PIVOT * abs(sigma[i][i]):
                    raise BalanceError(
                        f"covariance is not positive definite at period {i + 1}: expected a "
                        f"residual variance > 0, got {s!r} (a balance without error, or one that "
                        "repeats earlier ones, cannot be standardised)"
                    )
                low[i][i] = math.sqrt(s)
            else:
                low[i][j] = s / low[j][j]
    return tuple(tuple(row) for row in low)


def forward_solve(low: Matrix, values: Sequence[float]) -> tuple[float, ...]:
    """``y`` with ``low·y = values`` for a lower-triangular ``low`` (forward substitution)."""
    if len(values) != len(low):
        raise BalanceError(f"expected {len(low)} values, got {len(values)}")
    y: list[float] = []
    for i, v in enumerate(values):
        y.append((v - math.fsum(low[i][k] * y[k] for k in range(i))) / low[i][i])
    return tuple(y)


@dataclass(frozen=True, slots=True)
class Sitmuf:
    """A sequence of balances standardised: the SITMUF residuals and what they were drawn from."""

    values: tuple[float, ...]
    """The balances ``B_i``."""
    sigmas: tuple[float, ...]
    """Their standard deviations ``√Σ_ii``."""
    covariance: Matrix
    """Their covariance ``Σ``."""
    factor: Matrix
    """Its Cholesky factor ``L`` (lower triangular, ``L·Lᵀ = Σ``)."""
    residuals: tuple[float, ...]
    """SITMUF ``y = L⁻¹·B``: independent N(0, 1) under no loss."""

    def standardise(self, values: Sequence[float]) -> tuple[float, ...]:
        """Other balance values with the same covariance, standardised with the same factor."""
        return forward_solve(self.factor, values)


def sitmuf(balances: Sequence[Balance | Quantity]) -> Sitmuf:
    """SITMUF of a sequence of balances (oldest first) of one subject."""
    if not balances:
        raise BalanceError("expected at least one balance, got none")
    qs = _quantities(balances)
    sigma = covariance(qs)
    low = cholesky(sigma)
    values = tuple(q.value for q in qs)
    return Sitmuf(
        values,
        tuple(math.sqrt(sigma[i][i]) for i in range(len(qs))),
        sigma,
        low,
        forward_solve(low, values),
    )


def z_quantile(alpha: float) -> float:
    """``z(1-alpha)``: the one-sided standard normal threshold for a false-alarm rate ``alpha``."""
    if not (math.isfinite(alpha) and 0 < alpha < 1):
        raise BalanceError(f"false-alarm rate alpha must be in (0, 1), got {alpha!r}")
    return NormalDist().inv_cdf(1 - alpha)


def detectable_loss(sigma: float, alpha: float, beta: float) -> float:
    """The loss a test at false-alarm rate ``alpha`` detects with probability ``1-beta``:
    ``(z(1-alpha) + z(1-beta))·sigma`` (DESIGN, "Detection and deterrence")."""
    return (z_quantile(alpha) + z_quantile(beta)) * sigma


@dataclass(frozen=True, slots=True)
class BalanceTest:
    """One test of one balance: its statistic against its threshold at a false-alarm rate."""

    index: int
    """Which balance in the sequence (0 = oldest)."""
    statistic: float
    """The balance (one-shot) or the running sum (cumulative)."""
    sigma: float
    """Its standard deviation."""
    threshold: float
    """``z(1-alpha)·sigma``."""
    alpha: float
    """The false-alarm rate per test the threshold was set for."""

    @property
    def alarm(self) -> bool:
        """True when the statistic exceeds the threshold."""
        return self.statistic > self.threshold


def one_shot(balances: Sequence[Balance | Quantity], alpha: float) -> tuple[BalanceTest, ...]:
    """Each balance on its own: alarm when ``B_i > z(1-alpha)·sigma_i`` (one-sided: a shortfall).

    A balance with sigma = 0 (exact counts) alarms on any positive value.
    """
    z = z_quantile(alpha)
    return tuple(
        BalanceTest(i, q.value, q.sigma, z * q.sigma, alpha)
        for i, q in enumerate(_quantities(balances))
    )


def cumulative(balances: Sequence[Balance | Quantity], alpha: float) -> tuple[BalanceTest, ...]:
    """The running sum ``S_i = B_1 + … + B_i`` against ``z(1-alpha)·sigma(S_i)``, for every ``i``.

    The sum's sigma counts the systematic errors once per period each, so a meter's bias does not
    average out of it; a small loss every period that no single balance shows adds up here.
    """
    z = z_quantile(alpha)
    out: list[BalanceTest] = []
    running = Quantity.exact(0.0)
    for i, q in enumerate(_quantities(balances)):
        running = running + q
        out.append(BalanceTest(i, running.value, running.sigma, z * running.sigma, alpha))
    return tuple(out)


def _loadings(qs: Sequence[Quantity]) -> tuple[Any, Any]:
    """The covariance of ``qs`` as ``diag(d) + U·Uᵀ``: an error only one quantity carries adds
    its square to ``d``; each error two or more share is a column of ``U``."""
    import numpy as np

    n = len(qs)
    diag = np.zeros(n)
    shared: list[list[tuple[int, float]]] = []
    for part in ("random", "systematic"):
        rows: dict[Hashable, list[tuple[int, float]]] = {}
        for i, q in enumerate(qs):
            loads: Mapping[Hashable, float] = getattr(q, part)
            for key, load in loads.items():
                rows.setdefault(key, []).append((i, load))
        for r in rows.values():
            if len(r) == 1:
                i, load = r[0]
                diag[i] += load * load
            else:
                shared.append(r)
    columns = np.zeros((n, len(shared)))
    # One scatter rather than an indexed write per loading: a roll-up has many shared errors.
    # A quantity holds each key once, so no cell is written twice.
    cells = [(i, j, load) for j, r in enumerate(shared) for i, load in r]
    if cells:
        rows_, cols_, loads_ = zip(*cells, strict=True)
        columns[list(rows_), list(cols_)] = loads_
    return diag, columns


def covariance_array(balances: Sequence[Balance | Quantity]) -> Any:
    """:func:`covariance` as a numpy array, built from the loadings: ``diag(d) + U·Uᵀ``."""
    import numpy as np

    diag, columns = _loadings(_quantities(balances))
    return np.diag(diag) + columns @ columns.T


def standardised(
    balances: Sequence[Balance | Quantity],
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """SITMUF residuals ``y = L⁻¹·B`` and the sigmas ``√Σ_ii`` of a long sequence of balances,
    as :func:`sitmuf` gives them, in time linear in the number of balances.

    With ``Σ = diag(d) + U·Uᵀ`` (:func:`_loadings`), the balances are ``B = U·s + e`` for
    independent standard errors ``s`` (one per shared error) and ``e ~ N(0, d)``; the residual
    ``y_i`` is ``B_i``'s innovation given ``B_1..B_(i-1)`` over its standard deviation, which
    the recursive (Kalman) update of ``s``'s mean and covariance gives exactly: the same figures
    as the Cholesky factor's forward solve, at a cost of ``n·m²`` for ``m`` shared errors
    rather than ``n³``. A balance with no innovation left is a BalanceError.
    """
    import numpy as np

    if not balances:
        raise BalanceError("expected at least one balance, got none")
    qs = _quantities(balances)
    diag, columns = _loadings(qs)
    m = columns.shape[1]
    cov = np.eye(m)
    mean = np.zeros(m)
    residuals: list[float] = []
    sigmas: list[float] = []
    for i, q in enumerate(qs):
        u = columns[i]
        total = float(diag[i] + u @ u)
        pu = cov @ u
        var = float(diag[i] + u @ pu)
        if not var > _RELATIVE_PIVOT * total:
            raise BalanceError(
                f"covariance is not positive definite at period {i + 1}: expected a residual "
                f"variance > 0, got {var!r} (a balance without error, or one that repeats "
                "earlier ones, cannot be standardised)"
            )
        innovation = q.value - float(u @ mean)
        residuals.append(innovation / math.sqrt(var))
        sigmas.append(math.sqrt(total))
        gain = pu / var
        mean = mean + gain * innovation
        cov = cov - np.outer(gain, pu)
    return tuple(residuals), tuple(sigmas)
