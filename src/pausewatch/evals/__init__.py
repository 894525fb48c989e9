"""Capability evaluations as pause triggers (issue 6, in progress).

So far: the time-horizon estimator in the manner of METR (``time_horizon``, ``horizon_trend``).
"""

from pausewatch.evals._horizon import (
    Horizon,
    HorizonError,
    Logistic,
    Trend,
    fit_logistic,
    horizon_trend,
    time_horizon,
)

__all__ = [
    "Horizon",
    "HorizonError",
    "Logistic",
    "Trend",
    "fit_logistic",
    "horizon_trend",
    "time_horizon",
]
