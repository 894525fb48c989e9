"""The interpolation screen: checkpoints that lie on a straight line between their neighbours
(issue 17; docs/transcripts.md, ADR 0041 decision 6).

A forger who skips training between two real checkpoints and fills the gap by linear
interpolation (Zhang et al.'s "a few equal steps"; the ``skipped_compute`` spoof) writes
checkpoints that sit exactly on the line from one neighbour to the next. For every interior
checkpoint ``i`` with steps ``s[i-1] < s[i] < s[i+1]`` (``h1 = s[i] - s[i-1]``, ``h2 = s[i+1] -
s[i]``) the screen computes the relative second difference

    r_i = 2 ||c_i - (h2 c_{i-1} + h1 c_{i+1}) / (h1 + h2)|| / ||c_{i+1} - c_{i-1}||

over all parameters in float64. For equal steps (``h1 == h2``) it is ``||c_{i+1} - 2 c_i +
c_{i-1}|| / ||c_{i+1} - c_{i-1}||``; the step ratio handles a shorter final segment. Honest SGD
lands far from the line (its batches differ from step to step); an interpolated checkpoint
lands on it up to float32 rounding. It costs no training compute: one pass over the checkpoints
the integrity checks already read, three of them in memory at a time.

The floor a checkpoint is flagged below is calibrated from honest runs
(``scripts/calibrate_interpolation_screen.py``) and read from ``calibration.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pausewatch.transcript._format import TranscriptError

if TYPE_CHECKING:
    import torch

SHOWN = 3
"""Flagged checkpoints named in a check's detail before the rest are counted."""


def relative_second_difference(
    before: torch.Tensor,
    middle: torch.Tensor,
    after: torch.Tensor,
    h1: int = 1,
    h2: int = 1,
) -> float:
    """``r`` of ``middle`` between ``before`` (``h1`` steps earlier) and ``after`` (``h2``
    steps later), three flat float64 vectors (module docstring). Infinite when the neighbours are
    equal and ``middle`` is not; 0 when all three are equal (nothing moved: a line of length
    zero, which an interpolation between equal ends writes)."""
    import torch

    if h1 <= 0 or h2 <= 0:
        raise TranscriptError(f"steps must increase, got gaps {h1} and {h2}")
    predicted = (h2 * before + h1 * after) / (h1 + h2)
    residual = 2 * float(torch.linalg.vector_norm(middle - predicted))
    span = float(torch.linalg.vector_norm(after - before))
    if span == 0:
        return 0.0 if residual == 0 else math.inf
    return residual / span


def flat(weights: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """All parameters as one float64 vector, in sorted name order."""
    from pausewatch.transcript._tolerance import flatten

    return flatten(weights)


@dataclass(slots=True)
class Screen:
    """Feeds checkpoints in step order, one at a time; keeps the last three flat vectors and
    every checkpoint's ``r`` (one float each)."""

    floor: float
    """Flag a checkpoint whose ``r`` is below this."""
    ratios: dict[int, float] = field(default_factory=dict)
    """``r`` by step, for every interior checkpoint fed so far."""
    _window: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    _layout: tuple[tuple[str, tuple[int, ...]], ...] | None = None
    _mismatch: str | None = None

    def add(self, step: int, weights: Mapping[str, torch.Tensor]) -> None:
        """Take the checkpoint at ``step`` (steps strictly increasing)."""
        layout = tuple((k, tuple(weights[k].shape)) for k in sorted(weights))
        if self._layout is None:
            self._layout = layout
        elif layout != self._layout:
            self._mismatch = self._mismatch or f"step {step} has other parameters than step 0"
            return
        if self._window and step <= self._window[-1][0]:
            raise TranscriptError(f"steps must increase: {step} after {self._window[-1][0]}")
        self._window.append((step, flat(weights)))
        if len(self._window) == 3:
            (s0, a), (s1, b), (s2, c) = self._window
            self.ratios[s1] = relative_second_difference(a, b, c, s1 - s0, s2 - s1)
            del self._window[0]

    @property
    def flagged(self) -> tuple[int, ...]:
        """The steps whose ``r`` is below the floor (or not a number), ascending."""
        return tuple(s for s, r in sorted(self.ratios.items()) if not r >= self.floor)

    @property
    def passed(self) -> bool:
        """Whether every checkpoint had the same parameters. A flagged checkpoint does not fail
        the check: its segment is replayed whatever the draw (the screen targets, the replay
        judges), since honest training can come near a straight line too."""
        return self._mismatch is None

    def detail(self) -> str:
        """What the check found: the smallest ``r``, or the flagged checkpoints."""
        if self._mismatch is not None:
            return self._mismatch
        flagged = self.flagged
        if flagged:
            shown = ", ".join(f"step {s} (r {self.ratios[s]:.2g})" for s in flagged[:SHOWN])
            more = f" and {len(flagged) - SHOWN} more" if len(flagged) > SHOWN else ""
            return (
                f"{len(flagged)} checkpoint(s) near the straight line between their neighbours "
                f"(relative second difference below {self.floor:.2g}): {shown}{more}; the "
                "segments ending there are replayed whatever the draw"
            )
        if not self.ratios:
            return "no interior checkpoint to screen"
        low = min(self.ratios, key=lambda s: self.ratios[s])
        return (
            f"{len(self.ratios)} interior checkpoints off the line between their neighbours: "
            f"smallest relative second difference {self.ratios[low]:.2g} (step {low}), "
            f"floor {self.floor:.2g}"
        )


def screen_floor() -> float:
    """The calibrated floor (``interpolation_screen.floor`` in ``calibration.json``)."""
    from pausewatch.transcript._tolerance import calibration

    try:
        return float(calibration()["interpolation_screen"]["floor"])
    except KeyError:
        raise TranscriptError("calibration.json has no interpolation_screen floor") from None


__all__ = ["SHOWN", "Screen", "flat", "relative_second_difference", "screen_floor"]
