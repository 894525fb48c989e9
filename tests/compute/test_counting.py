"""Counting rules: properties of FP16-equivalent-or-actual against precision-agnostic counts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pausewatch.compute import CountingRule, Precision, count_flop, weight
from pausewatch.errors import ComputeError

counts = st.dictionaries(
    st.sampled_from(list(Precision)),
    st.floats(min_value=0.0, max_value=1e30, allow_nan=False, allow_infinity=False),
    max_size=len(Precision),
)


@given(flop=counts)
def test_precision_agnostic_never_exceeds_fp16_equivalent(flop: dict[Precision, float]) -> None:
    """The precision-agnostic count is at most the FP16-equivalent-or-actual count."""
    agnostic = count_flop(flop, CountingRule.PRECISION_AGNOSTIC)
    fp16 = count_flop(flop, CountingRule.FP16_EQUIVALENT_OR_ACTUAL)
    assert agnostic <= fp16 * (1 + 1e-12)


@given(flop=counts, precision=st.sampled_from(list(Precision)), extra=st.floats(0.0, 1e30))
def test_counts_are_monotone_in_each_precision(
    flop: dict[Precision, float], precision: Precision, extra: float
) -> None:
    """Adding operations in any one format never lowers the count, under either rule."""
    more = dict(flop)
    more[precision] = more.get(precision, 0.0) + extra
    for rule in CountingRule:
        assert count_flop(more, rule) >= count_flop(flop, rule)


@given(flop=counts)
def test_precision_agnostic_is_the_plain_sum(flop: dict[Precision, float]) -> None:
    """Precision-agnostic counting adds operations as they are."""
    assert count_flop(flop, CountingRule.PRECISION_AGNOSTIC) == pytest.approx(sum(flop.values()))


def test_fp16_equivalent_weights() -> None:
    """FP32 and TF32 count double, FP16/BF16 once, and low precision still once (higher of)."""
    rule = CountingRule.FP16_EQUIVALENT_OR_ACTUAL
    assert weight(Precision.FP64, rule) == 4.0
    assert weight(Precision.FP32, rule) == 2.0
    assert weight(Precision.TF32, rule) == 2.0
    assert weight(Precision.BF16, rule) == 1.0
    assert weight(Precision.FP8, rule) == 1.0
    assert weight(Precision.FP4, rule) == 1.0


def test_mixed_count_example() -> None:
    """1e24 FP8 operations plus 1e22 FP32 operations count as 1.02e24 FP16-equivalent FLOP."""
    flop = {"fp8": 1e24, "fp32": 1e22}
    assert count_flop(flop, CountingRule.FP16_EQUIVALENT_OR_ACTUAL) == pytest.approx(1.02e24)


def test_negative_count_refused() -> None:
    """A negative operation count is a ComputeError."""
    with pytest.raises(ComputeError, match="must be finite and >= 0"):
        count_flop({"bf16": -1.0}, CountingRule.PRECISION_AGNOSTIC)
