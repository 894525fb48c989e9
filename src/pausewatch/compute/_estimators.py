"""Compute estimators from the model (architecture) and from the hardware.

* Architecture: training FLOP ≈ 6·N·D for a dense transformer with N parameters trained on D
  tokens (2·N·D forward, 4·N·D backward; Kaplan et al. 2020, "Scaling Laws for Neural Language
  Models", §2.1). A mixture-of-experts model uses its active parameters per token. An explicit
  forward-plus-backward FLOP count per token replaces the rule of thumb when it is known.
* Hardware: Σ chips · peak dense FLOP/s · seconds · model FLOP utilisation, with the utilisation
  interval Epoch AI measured (DESIGN, "Hardware figures").

Every function returns an :class:`~pausewatch.compute.Estimate` whose notes state the assumptions
behind its interval. See docs/adr/0004-flop-counting-and-hardware.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pausewatch.compute._counting import Precision, parse_precision
from pausewatch.compute._estimate import Estimate, Method
from pausewatch.compute._hardware import Chip
from pausewatch.compute._symbols import DASH, TIMES
from pausewatch.errors import ComputeError

DENSE_REL_UNCERTAINTY = 0.15
"""Default ± for 6·N·D: it leaves out attention (about 6·n_layer·n_ctx·d_model FLOP per token,
a few per cent of 6N at common widths, more at long context) and counts embeddings as if they
were matrix multiplications. ±15% is a judgement that covers both for today's frontier shapes."""

MOE_REL_UNCERTAINTY = 0.20
"""Default ± for 6·N_active·D: as dense, plus routing and the convention for what counts as active
(shared experts, embeddings), which labs report differently."""

FLOP_PER_TOKEN_REL_UNCERTAINTY = 0.05
"""Default ± when an explicit forward+backward FLOP per token count is given: it is exact for the
architecture, so what remains is the token count and tokens of unequal sequence length."""

DEFAULT_UTILISATION = 0.41
"""Median model FLOP utilisation of 47 large training runs since 2022 (Epoch AI; DESIGN)."""

UTILISATION_INTERVAL = (0.32, 0.52)
"""Interquartile range of the same 47 runs: the default utilisation interval."""

SECONDS_PER_DAY = 86_400.0
"""Seconds in a day, for callers that state durations in days."""


def _required(name: str, value: float) -> float:
    """``value`` as a float, refused unless it is a finite figure > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ComputeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ComputeError(f"{name} must be a finite figure > 0, got {value!r}")
    return float(value)


def _positive(name: str, value: float | None) -> float | None:
    """As :func:`_required`, with ``None`` passed through (an input not given)."""
    return None if value is None else _required(name, value)


def estimate_architecture(
    *,
    params: float | None = None,
    tokens: float,
    active_params: float | None = None,
    flop_per_token: float | None = None,
    rel_uncertainty: float | None = None,
) -> Estimate:
    """Training FLOP from the model: 6·N·D, 6·N_active·D, or FLOP per token · tokens.

    Exactly one basis is used: ``flop_per_token`` (forward and backward FLOP per training token)
    when given, else ``active_params`` (mixture-of-experts), else ``params`` (dense).
    ``rel_uncertainty`` overrides the default interval of that basis
    (:data:`DENSE_REL_UNCERTAINTY`, :data:`MOE_REL_UNCERTAINTY`,
    :data:`FLOP_PER_TOKEN_REL_UNCERTAINTY`).

    >>> estimate_architecture(params=405e9, tokens=15.6e12).describe()
    '3.79e+25 FLOP (architecture, ±15%)'
    """
    d = _required("tokens", tokens)
    n = _positive("params", params)
    n_active = _positive("active_params", active_params)
    fpt = _positive("flop_per_token", flop_per_token)
    if rel_uncertainty is not None and (
        not math.isfinite(rel_uncertainty) or not 0 <= rel_uncertainty < 1
    ):
        raise ComputeError(f"rel_uncertainty must be in [0, 1), got {rel_uncertainty!r}")
    if fpt is not None:
        if n is not None or n_active is not None:
            raise ComputeError(
                "give either flop_per_token or params/active_params, not both: "
                f"got flop_per_token={fpt!r}, params={n!r}, active_params={n_active!r}"
            )
        rel = FLOP_PER_TOKEN_REL_UNCERTAINTY if rel_uncertainty is None else rel_uncertainty
        return Estimate.relative(
            fpt * d,
            rel,
            Method.ARCHITECTURE,
            f"explicit count: {fpt:.3g} FLOP per token (forward and backward) "
            f"{TIMES} {d:.3g} tokens",
            f"±{rel:.0%}: the count is exact for the architecture; the interval covers the token "
            "count and unequal sequence lengths",
        )
    if n_active is not None:
        if n is not None and n_active > n:
            raise ComputeError(
                f"active_params must be <= params, got active_params={n_active!r} > params={n!r}"
            )
        rel = MOE_REL_UNCERTAINTY if rel_uncertainty is None else rel_uncertainty
        total = f" of {n:.3g} total" if n is not None else ""
        return Estimate.relative(
            6 * n_active * d,
            rel,
            Method.ARCHITECTURE,
            f"mixture of experts: 6 {TIMES} {n_active:.3g} active parameters{total} "
            f"{TIMES} {d:.3g} tokens",
            f"±{rel:.0%}: 6·N·D leaves out attention and routing, and labs count active "
            "parameters differently (shared experts, embeddings)",
        )
    if n is None:
        raise ComputeError(
            "an architecture estimate needs params, active_params or flop_per_token; got none"
        )
    rel = DENSE_REL_UNCERTAINTY if rel_uncertainty is None else rel_uncertainty
    return Estimate.relative(
        6 * n * d,
        rel,
        Method.ARCHITECTURE,
        f"dense transformer: 6 {TIMES} {n:.3g} parameters {TIMES} {d:.3g} tokens",
        f"±{rel:.0%}: 6·N·D leaves out attention and embedding terms",
    )


def _amount(x: float) -> str:
    """A count for people: ``16,384`` when large, ``0.315`` when small."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _utilisation(
    utilisation: float | None, interval: tuple[float, float] | None
) -> tuple[float, float, float, str]:
    """The (value, low, high) utilisation and a note saying where they come from."""
    if utilisation is not None and (
        isinstance(utilisation, bool) or not math.isfinite(utilisation) or not 0 < utilisation <= 1
    ):
        raise ComputeError(f"utilisation must be in (0, 1], got {utilisation!r}")
    if interval is not None:
        lo, hi = interval
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi <= 1):
            raise ComputeError(
                f"utilisation interval must satisfy 0 < low <= high <= 1, got ({lo!r}, {hi!r})"
            )
        if utilisation is not None and not lo <= utilisation <= hi:
            raise ComputeError(
                f"utilisation must lie in its interval: expected {lo} <= u <= {hi}, "
                f"got {utilisation!r}"
            )
        if utilisation is not None:
            u = utilisation
        elif lo <= DEFAULT_UTILISATION <= hi:
            u = DEFAULT_UTILISATION
        else:
            u = (lo + hi) / 2
        return u, lo, hi, f"utilisation {u:.2f}, interval {lo:.2f}{DASH}{hi:.2f} as given"
    lo, hi = UTILISATION_INTERVAL
    published = (
        f"Epoch AI interquartile {lo:.2f}{DASH}{hi:.2f} over 47 training runs since 2022, "
        f"median {DEFAULT_UTILISATION:.2f}"
    )
    if utilisation is None:
        return DEFAULT_UTILISATION, lo, hi, f"utilisation {DEFAULT_UTILISATION:.2f}: {published}"
    u = utilisation
    lo, hi = min(lo, u), max(hi, u)
    return u, lo, hi, f"utilisation {u:.2f} as given; interval {lo:.2f}{DASH}{hi:.2f} ({published})"


def estimate_hardware(
    *,
    chips: Sequence[tuple[Chip, int]],
    seconds: float,
    utilisation: float | None = None,
    utilisation_interval: tuple[float, float] | None = None,
    precision: Precision | str = Precision.BF16,
) -> Estimate:
    """Training FLOP from the hardware: Σ count · peak(precision) · seconds · utilisation.

    Utilisation defaults to the published median :data:`DEFAULT_UTILISATION` with the
    interquartile :data:`UTILISATION_INTERVAL` as its interval. A single ``utilisation`` given
    by the caller sets the value; the interval stays the published one, widened to include it
    (a stated utilisation is a claim, not a measurement, so it does not narrow the interval).
    ``utilisation_interval`` replaces the interval (and, without ``utilisation``, the value is
    the median when the interval holds it, else the interval's midpoint).

    >>> from pausewatch.compute import load_catalogue
    >>> h100 = load_catalogue().get("H100")
    >>> f"{estimate_hardware(chips=[(h100, 16384)], seconds=54 * 86400, utilisation=0.4).value:.3g}"
    '3.03e+25'
    """
    if not chips:
        raise ComputeError("a hardware estimate needs at least one (chip, count); got none")
    secs = _required("seconds", seconds)
    p = parse_precision(precision)
    u, lo, hi, utilisation_note = _utilisation(utilisation, utilisation_interval)
    peak_total = 0.0
    parts: list[str] = []
    for chip, count in chips:
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ComputeError(f"chip count for {chip.name} must be an integer > 0, got {count!r}")
        peak = chip.peak(p)
        peak_total += count * peak
        parts.append(f"{count} {TIMES} {chip.name} at {peak:.4g} {p.value} FLOP/s")
    h100e = sum(count * chip.h100e for chip, count in chips)
    ceiling = peak_total * secs
    return Estimate(
        ceiling * u,
        ceiling * lo,
        ceiling * hi,
        Method.HARDWARE,
        (
            f"{' + '.join(parts)} (dense peak; {_amount(h100e)} H100e) "
            f"for {_amount(secs)} s ({secs / SECONDS_PER_DAY:.4g} days)",
            utilisation_note,
            f"operations in {p.value} as performed, before any counting rule",
        ),
    )
