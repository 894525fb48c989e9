"""Telemetry estimates: counted FLOP under a rule, and the energy and physical cross-checks."""

from __future__ import annotations

import pytest

from pausewatch.compute import (
    COUNTER_TOLERANCE,
    CountingRule,
    Method,
    Precision,
    TelemetryResult,
    estimate_telemetry,
    load_catalogue,
)
from pausewatch.errors import ComputeError

H100_BF16 = 9.894e14
CHIPS = 8
HOUR = 3600.0
# 8 H100 busy for an hour at 40% of the BF16 peak, drawing 80% of their 700 W TDP.
TRAINING_OPS = CHIPS * H100_BF16 * HOUR * 0.4
TRAINING_ENERGY = CHIPS * 700.0 * 0.8 * HOUR


def _check(
    flop: float, energy_j: float | None = TRAINING_ENERGY, chip: str = "H100"
) -> TelemetryResult:
    return estimate_telemetry(
        flop_counters=[{"bf16": flop / 2}, {"bf16": flop / 2}],
        rule=CountingRule.FP16_EQUIVALENT_OR_ACTUAL,
        energy_j=energy_j,
        chip=load_catalogue().get(chip),
        seconds=HOUR,
        chip_count=CHIPS,
    )


def test_counters_add_up_with_tolerance() -> None:
    """Counter records add up, with the stated ±2% counter tolerance as the interval."""
    result = _check(TRAINING_OPS)
    assert result.estimate.value == pytest.approx(TRAINING_OPS)
    assert result.estimate.method is Method.TELEMETRY
    assert COUNTER_TOLERANCE == 0.02
    assert result.estimate.low == pytest.approx(TRAINING_OPS * 0.98)
    assert result.estimate.high == pytest.approx(TRAINING_OPS * 1.02)
    assert result.operations == {Precision.BF16: pytest.approx(TRAINING_OPS)}


def test_counting_rule_applies_to_the_estimate() -> None:
    """FP32 operations count double under FP16-equivalent-or-actual, once when agnostic."""
    counters = [{"fp32": 1e20, "fp8": 1e20}]
    fp16 = estimate_telemetry(flop_counters=counters, rule=CountingRule.FP16_EQUIVALENT_OR_ACTUAL)
    agnostic = estimate_telemetry(flop_counters=counters, rule=CountingRule.PRECISION_AGNOSTIC)
    assert fp16.estimate.value == pytest.approx(3e20)
    assert agnostic.estimate.value == pytest.approx(2e20)


def test_plausible_training_window_is_consistent() -> None:
    """Counters at 40% utilisation on chips drawing 80% of TDP imply efficiency 0.5: consistent."""
    result = _check(TRAINING_OPS)
    assert result.implied_efficiency == pytest.approx(0.5)
    assert result.consistent
    assert "within the plausible range" in result.reason
    assert "within the physical bound" in result.reason


def test_under_reported_counters_are_inconsistent() -> None:
    """Counters reporting a tenth of the work the energy paid for are flagged as too low."""
    result = _check(TRAINING_OPS / 10)
    assert result.implied_efficiency == pytest.approx(0.05)
    assert not result.consistent
    assert "below the plausible range" in result.reason


def test_counters_beyond_what_energy_pays_for_are_inconsistent() -> None:
    """Counters claiming more than the energy can pay for at peak efficiency are flagged."""
    result = _check(TRAINING_OPS, energy_j=TRAINING_ENERGY / 4)
    assert result.implied_efficiency == pytest.approx(2.0)
    assert not result.consistent
    assert "above the plausible range" in result.reason


def test_physical_bound_caps_counters() -> None:
    """Counters above chips · best peak · seconds are impossible, whatever the energy says."""
    bound = CHIPS * 1.979e15 * HOUR  # H100's best peak is FP8
    result = _check(bound * 1.1, energy_j=None)
    assert result.physical_bound == pytest.approx(bound)
    assert not result.consistent
    assert "above the physical bound" in result.reason


def test_physical_bound_allows_counter_tolerance() -> None:
    """Counters within their tolerance of the physical bound are not flagged."""
    bound = CHIPS * 1.979e15 * HOUR
    assert _check(bound * 1.01, energy_j=None).consistent


def test_format_the_chip_cannot_do_is_inconsistent() -> None:
    """FP8 operations reported by an A100 (which has no FP8) are flagged."""
    result = estimate_telemetry(
        flop_counters=[{"fp8": 1e18}],
        rule=CountingRule.PRECISION_AGNOSTIC,
        chip=load_catalogue().get("A100"),
    )
    assert not result.consistent
    assert "fp8 operations, which A100 SXM cannot do" in result.reason


def test_checks_without_inputs_are_skipped() -> None:
    """Without energy or chip figures the checks are skipped, said so, and nothing is flagged."""
    result = estimate_telemetry(
        flop_counters=[{"bf16": 1e20}], rule=CountingRule.PRECISION_AGNOSTIC
    )
    assert result.consistent
    assert result.implied_efficiency is None
    assert result.physical_bound is None
    assert "physical bound not checked" in result.reason
    assert "no energy figure" in result.reason


def test_chip_without_tdp_skips_energy_check() -> None:
    """A chip with no published TDP (TPU v5p) cannot be cross-checked against energy."""
    result = _check(1e18, chip="TPU v5p")
    assert result.implied_efficiency is None
    assert "TPU v5p has no published TDP" in result.reason


def test_operations_without_energy_are_inconsistent() -> None:
    """Operations reported with zero energy consumed are flagged."""
    result = _check(1e18, energy_j=0.0)
    assert not result.consistent
    assert "energy is 0 J" in result.reason


@pytest.mark.parametrize(
    "kwargs",
    [
        {"energy_j": -1.0},
        {"seconds": 0.0},
        {"chip_count": 0},
        {"tolerance": 1.0},
        {"plausible_efficiency": (0.5, 0.1)},
    ],
)
def test_bad_inputs_refused(kwargs: dict[str, object]) -> None:
    """Negative energy, non-positive time or chip count and bad ranges are a ComputeError."""
    with pytest.raises(ComputeError):
        estimate_telemetry(
            flop_counters=[{"bf16": 1.0}],
            rule=CountingRule.PRECISION_AGNOSTIC,
            **kwargs,  # type: ignore[arg-type]
        )


def test_negative_counter_refused() -> None:
    """A negative counter value is a ComputeError naming the record."""
    with pytest.raises(ComputeError, match="counter record 1"):
        estimate_telemetry(
            flop_counters=[{"bf16": 1.0}, {"bf16": -1.0}], rule=CountingRule.PRECISION_AGNOSTIC
        )


def test_result_json_is_plain() -> None:
    """The result's JSON form carries the estimate, the checks and the verdict."""
    data = _check(TRAINING_OPS).to_json()
    assert data["consistent"] is True
    assert data["operations"] == {"bf16": pytest.approx(TRAINING_OPS)}
    assert data["plausible_efficiency"] == [0.15, 1.25]
