"""Architecture and hardware estimators: arithmetic, defaults, intervals and refusals."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.compute import (
    DEFAULT_UTILISATION,
    UTILISATION_INTERVAL,
    Chip,
    Method,
    Precision,
    _counting,
    _estimators,
    _projection,
    estimate_architecture,
    estimate_hardware,
    load_catalogue,
)
from pausewatch.errors import ComputeError

DAY = 86_400.0


def h100() -> Chip:
    return load_catalogue().get("H100")


def test_llama_405b_six_n_d() -> None:
    """Llama 3.1 405B on 15.6T tokens is 6 · 405e9 · 15.6e12 = 3.79e25 FLOP, ±15%."""
    e = estimate_architecture(params=405e9, tokens=15.6e12)
    assert e.value == pytest.approx(3.7908e25)
    assert e.method is Method.ARCHITECTURE
    assert e.low == pytest.approx(0.85 * e.value)
    assert e.high == pytest.approx(1.15 * e.value)
    assert e.describe() == "3.79e+25 FLOP (architecture, ±15%)"


def test_mixture_of_experts_uses_active_params() -> None:
    """A mixture-of-experts model counts 6 · active parameters · tokens, ±20% by default."""
    e = estimate_architecture(params=671e9, active_params=37e9, tokens=14.8e12)
    assert e.value == pytest.approx(6 * 37e9 * 14.8e12)
    assert e.relative_uncertainty == pytest.approx(0.20)
    assert any("mixture of experts" in n for n in e.notes)


def test_active_params_alone_suffice() -> None:
    """Active parameters without a total are enough for a mixture-of-experts estimate."""
    assert estimate_architecture(active_params=1e9, tokens=1e12).value == pytest.approx(6e21)


def test_active_params_above_total_refused() -> None:
    """More active than total parameters is inconsistent and refused."""
    with pytest.raises(ComputeError, match="active_params must be <= params"):
        estimate_architecture(params=1e9, active_params=2e9, tokens=1e12)


def test_explicit_flop_per_token_replaces_six_n() -> None:
    """An explicit FLOP-per-token count gives count · tokens with a narrower ±5% interval."""
    e = estimate_architecture(flop_per_token=2.5e12, tokens=1e12)
    assert e.value == pytest.approx(2.5e24)
    assert e.relative_uncertainty == pytest.approx(0.05)


def test_flop_per_token_with_params_refused() -> None:
    """Giving both an explicit count and parameters is ambiguous and refused."""
    with pytest.raises(ComputeError, match="either flop_per_token or params"):
        estimate_architecture(params=1e9, flop_per_token=6e9, tokens=1e12)


def test_rel_uncertainty_overrides_default() -> None:
    """A caller's relative uncertainty replaces the default interval."""
    e = estimate_architecture(params=1e9, tokens=1e12, rel_uncertainty=0.3)
    assert e.low == pytest.approx(0.7 * e.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tokens": 1e12},
        {"params": -1.0, "tokens": 1e12},
        {"params": 0.0, "tokens": 1e12},
        {"params": 1e9, "tokens": 0.0},
        {"params": 1e9, "tokens": math.nan},
        {"params": math.inf, "tokens": 1e12},
        {"params": 1e9, "tokens": 1e12, "rel_uncertainty": 1.5},
    ],
)
def test_architecture_refuses_bad_input(kwargs: dict[str, float]) -> None:
    """Missing, zero, negative or non-finite figures are a ComputeError."""
    with pytest.raises(ComputeError):
        estimate_architecture(**kwargs)  # type: ignore[arg-type]


def test_llama_405b_hardware() -> None:
    """16,384 H100 for 54 days at utilisation 0.4 is about 3.0e25 FLOP."""
    e = estimate_hardware(chips=[(h100(), 16384)], seconds=54 * DAY, utilisation=0.4)
    assert e.value == pytest.approx(16384 * 9.894e14 * 54 * DAY * 0.4)
    assert e.value == pytest.approx(3.0e25, rel=0.02)
    assert e.method is Method.HARDWARE


def test_default_utilisation_is_published_median_and_interquartile() -> None:
    """Without a utilisation the value uses 0.41 and the interval 0.32-0.52."""
    e = estimate_hardware(chips=[(h100(), 1000)], seconds=DAY)
    ceiling = 1000 * 9.894e14 * DAY
    assert DEFAULT_UTILISATION == 0.41
    assert UTILISATION_INTERVAL == (0.32, 0.52)
    assert e.value == pytest.approx(ceiling * 0.41)
    assert e.low == pytest.approx(ceiling * 0.32)
    assert e.high == pytest.approx(ceiling * 0.52)


def test_given_utilisation_widens_the_published_interval() -> None:
    """A single utilisation outside 0.32-0.52 sets the value and widens the interval to it."""
    ceiling = 10 * 9.894e14 * DAY
    e = estimate_hardware(chips=[(h100(), 10)], seconds=DAY, utilisation=0.6)
    assert (e.low, e.value, e.high) == pytest.approx((ceiling * 0.32, ceiling * 0.6, ceiling * 0.6))
    inside = estimate_hardware(chips=[(h100(), 10)], seconds=DAY, utilisation=0.45)
    assert (inside.low, inside.high) == pytest.approx((ceiling * 0.32, ceiling * 0.52))


def test_utilisation_interval_replaces_the_default() -> None:
    """A given utilisation interval is used as is; the value is the median when it lies inside."""
    ceiling = 10 * 9.894e14 * DAY
    e = estimate_hardware(chips=[(h100(), 10)], seconds=DAY, utilisation_interval=(0.2, 0.3))
    assert (e.low, e.value, e.high) == pytest.approx((ceiling * 0.2, ceiling * 0.25, ceiling * 0.3))


def test_utilisation_outside_its_interval_refused() -> None:
    """A utilisation outside the interval given with it is refused."""
    with pytest.raises(ComputeError, match="must lie in its interval"):
        estimate_hardware(
            chips=[(h100(), 1)], seconds=DAY, utilisation=0.9, utilisation_interval=(0.2, 0.3)
        )


def test_precision_selects_the_peak() -> None:
    """An FP8 estimate on H100 uses the FP8 peak (twice BF16)."""
    bf16 = estimate_hardware(chips=[(h100(), 8)], seconds=DAY)
    fp8 = estimate_hardware(chips=[(h100(), 8)], seconds=DAY, precision=Precision.FP8)
    assert fp8.value == pytest.approx(bf16.value * 1.979e15 / 9.894e14)


def test_precision_the_chip_lacks_refused() -> None:
    """A precision the chip has no peak for is a ComputeError naming what it has."""
    with pytest.raises(ComputeError, match="has no fp8 peak"):
        estimate_hardware(chips=[(load_catalogue().get("A100"), 8)], seconds=DAY, precision="fp8")


def test_mixed_clusters_add() -> None:
    """Chips of several kinds add their peaks."""
    cat = load_catalogue()
    e = estimate_hardware(
        chips=[(cat.get("H100"), 100), (cat.get("A100"), 200)], seconds=DAY, utilisation=0.5
    )
    assert e.value == pytest.approx((100 * 9.894e14 + 200 * 3.12e14) * DAY * 0.5)


@pytest.mark.parametrize(
    ("chips", "seconds", "utilisation"),
    [
        ([], DAY, None),
        ([("H100", 0)], DAY, None),
        ([("H100", -3)], DAY, None),
        ([("H100", 1)], 0.0, None),
        ([("H100", 1)], DAY, 0.0),
        ([("H100", 1)], DAY, 1.2),
    ],
)
def test_hardware_refuses_bad_input(
    chips: list[tuple[str, int]], seconds: float, utilisation: float | None
) -> None:
    """No chips, a non-positive count or time, or a utilisation outside (0, 1] is refused."""
    cat = load_catalogue()
    with pytest.raises(ComputeError):
        estimate_hardware(
            chips=[(cat.get(n), c) for n, c in chips], seconds=seconds, utilisation=utilisation
        )


figures = st.floats(min_value=1.0, max_value=1e15, allow_nan=False, allow_infinity=False)


@given(n=figures, d=figures, rel=st.floats(min_value=0.0, max_value=0.99))
def test_architecture_interval_contains_value(n: float, d: float, rel: float) -> None:
    """An architecture estimate's interval always holds its value."""
    e = estimate_architecture(params=n, tokens=d, rel_uncertainty=rel)
    assert e.low <= e.value <= e.high


@given(
    count=st.integers(min_value=1, max_value=10**6),
    seconds=st.floats(min_value=1.0, max_value=1e9),
    u=st.one_of(st.none(), st.floats(min_value=0.01, max_value=1.0)),
)
def test_hardware_interval_contains_value(count: int, seconds: float, u: float | None) -> None:
    """A hardware estimate's interval always holds its value, whatever utilisation is given."""
    e = estimate_hardware(chips=[(h100(), count)], seconds=seconds, utilisation=u)
    assert e.low <= e.value <= e.high


@pytest.mark.parametrize("module", [_counting, _estimators, _projection])
def test_docstring_examples_hold(module: object) -> None:
    """The examples in the compute docstrings run and give the figures they show."""
    result = doctest.testmod(module, verbose=False)  # type: ignore[arg-type]
    assert result.attempted > 0
    assert result.failed == 0
