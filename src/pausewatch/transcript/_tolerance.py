"""How far a replayed checkpoint may be from the committed one: the distances and the calibrated
tolerance (issue 17 §3; docs/transcripts.md, ADR 0037).

The distance a replay is judged by is the relative L2 distance over all parameters,
``||replayed - committed|| / ||committed||``, in float64. Replay on the same platform with the
same thread count and deterministic kernels is bit-exact (distance 0); the tolerance covers an
honest replay with another thread count, whose reductions add in another order. It is not
guessed: ``scripts/calibrate_transcript_tolerance.py`` replays honest runs at 1, 2 and 4 threads,
records the largest distance per recipe, and sets the tolerance to ``margin`` times it, but never
below ``floor``; the code reads ``calibration.json`` from the package.

:func:`cosine_distance` is ``1 - a.b / (|a| |b|)``, each vector divided by its *own* norm (Jia et
al.'s reference code divided by one model's norm twice).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

from pausewatch.transcript._format import TranscriptError

if TYPE_CHECKING:
    import torch

CALIBRATION = "calibration.json"
"""The recorded calibration's file name inside the package."""

CALIBRATION_FORMAT = "pausewatch-transcript-calibration/v1"
"""The ``format`` of the calibration file."""


def flatten(weights: Mapping[str, torch.Tensor], keys: list[str] | None = None) -> torch.Tensor:
    """All parameters as one float64 vector, in sorted key order."""
    import torch

    names = sorted(weights) if keys is None else keys
    return torch.cat([weights[k].detach().reshape(-1).to(torch.float64) for k in names])


def _pair(
    a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    if set(a) != set(b):
        missing = sorted(set(a) ^ set(b))
        raise TranscriptError(f"the two weight sets differ in parameters: {', '.join(missing)}")
    for k in a:
        if a[k].shape != b[k].shape:
            raise TranscriptError(
                f"parameter {k} has shape {tuple(a[k].shape)} against {tuple(b[k].shape)}"
            )
    keys = sorted(a)
    return flatten(a, keys), flatten(b, keys)


def relative_l2(
    replayed: Mapping[str, torch.Tensor], committed: Mapping[str, torch.Tensor]
) -> float:
    """``||replayed - committed|| / ||committed||`` over all parameters (float64); infinite
    when the committed weights are all zero and the replayed are not."""
    import torch

    r, c = _pair(replayed, committed)
    difference = float(torch.linalg.vector_norm(r - c))
    norm = float(torch.linalg.vector_norm(c))
    if norm == 0:
        return 0.0 if difference == 0 else math.inf
    return difference / norm


def cosine_distance(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """``1 - a.b / (|a| |b|)`` over all parameters (float64), each by its own norm."""
    import torch

    x, y = _pair(a, b)
    nx, ny = float(torch.linalg.vector_norm(x)), float(torch.linalg.vector_norm(y))
    if nx == 0 or ny == 0:
        raise TranscriptError("the cosine distance of a zero vector is undefined")
    return 1.0 - float(torch.dot(x, y)) / (nx * ny)


@functools.cache
def calibration() -> dict[str, Any]:
    """The recorded calibration (``calibration.json`` in the package)."""
    text = resources.files("pausewatch.transcript").joinpath(CALIBRATION).read_text("utf-8")
    value: dict[str, Any] = json.loads(text)
    if value.get("format") != CALIBRATION_FORMAT:
        raise TranscriptError(f"{CALIBRATION} is not of format {CALIBRATION_FORMAT}")
    return value


def tolerance_for(recipe: str) -> float:
    """The calibrated tolerance of ``recipe``'s replay distance."""
    try:
        return float(calibration()["recipes"][recipe]["tolerance"])
    except KeyError:
        raise TranscriptError(f"no calibrated tolerance for recipe {recipe!r}") from None


def choose_tolerance(max_distance: float, margin: float, floor: float) -> float:
    """The rule the calibration applies: ``max(margin * max_distance, floor)``."""
    return max(margin * max_distance, floor)


__all__ = [
    "CALIBRATION",
    "CALIBRATION_FORMAT",
    "calibration",
    "choose_tolerance",
    "cosine_distance",
    "flatten",
    "relative_l2",
    "tolerance_for",
]
