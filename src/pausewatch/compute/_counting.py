"""Counting rules: how operations in several number formats add up to one FLOP figure.

A policy counts compute in one of two ways (see docs/adr/0004-flop-counting-and-hardware.md):

* ``fp16_equivalent_or_actual`` (MIRI 2025 draft agreement): each operation counts the higher of
  its actual count and its FP16-equivalent count. We define the FP16 equivalent of an operation on
  ``b``-bit operands as ``b / 16`` FP16 operations, so FP32 and TF32 work counts double while FP8,
  INT8 and FP4 work counts at its actual number of operations: low precision never shrinks a count.
* ``precision_agnostic``: every operation counts once, whatever its format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum

from pausewatch.errors import ComputeError


class Precision(StrEnum):
    """Number formats that FLOP counters and peak figures are given in."""

    FP64 = "fp64"
    FP32 = "fp32"
    TF32 = "tf32"
    BF16 = "bf16"
    FP16 = "fp16"
    FP8 = "fp8"
    INT8 = "int8"
    FP4 = "fp4"


PRECISION_BITS: Mapping[Precision, int] = {
    Precision.FP64: 64,
    Precision.FP32: 32,
    # TF32 operands are stored and moved as 32-bit words, whatever the mantissa the unit uses.
    Precision.TF32: 32,
    Precision.BF16: 16,
    Precision.FP16: 16,
    Precision.FP8: 8,
    Precision.INT8: 8,
    Precision.FP4: 4,
}
"""Operand width in bits, the basis of the FP16-equivalent count."""


class CountingRule(StrEnum):
    """How a policy adds up operations of different formats."""

    FP16_EQUIVALENT_OR_ACTUAL = "fp16_equivalent_or_actual"
    """Each operation counts max(1, bits/16): the higher of FP16-equivalent and actual."""
    PRECISION_AGNOSTIC = "precision_agnostic"
    """Each operation counts once, whatever its format."""


def parse_precision(name: str | Precision) -> Precision:
    """The :class:`Precision` for a name (case-insensitive); unknown names are an error."""
    try:
        return Precision(str(name).lower())
    except ValueError as exc:
        known = ", ".join(p.value for p in Precision)
        raise ComputeError(f"unknown precision {name!r}; known: {known}") from exc


def weight(precision: Precision, rule: CountingRule) -> float:
    """How much one operation in ``precision`` counts under ``rule``."""
    if rule is CountingRule.PRECISION_AGNOSTIC:
        return 1.0
    return max(1.0, PRECISION_BITS[precision] / 16)


def count_flop(flop: Mapping[str, float] | Mapping[Precision, float], rule: CountingRule) -> float:
    """The FLOP a policy counts for operations given per precision.

    >>> count_flop({"fp8": 1e24, "fp32": 1e22}, CountingRule.FP16_EQUIVALENT_OR_ACTUAL)
    1.02e+24
    """
    counted = 0.0
    for name, ops in flop.items():
        if not math.isfinite(ops) or ops < 0:
            raise ComputeError(f"operation count for {name} must be finite and >= 0, got {ops!r}")
        counted += ops * weight(parse_precision(name), rule)
    return counted
