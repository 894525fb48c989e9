"""Which segments of a transcript an audit replays: a draw from a public beacon.

A transcript of ``steps`` optimiser steps with a checkpoint every ``every`` steps has
``N = ceil(steps / every)`` segments; segment ``i`` runs from checkpoint ``i * every`` to
checkpoint ``min((i + 1) * every, steps)``. An audit replays ``Q`` of them. Which ones is a
function of the beacon and ``N`` alone (never of distances the prover logged: Jia et al.'s
reference code replays the intervals with the largest logged updates, so a forger who keeps every
logged step small is never checked). The first and the last segment are always replayed: the
first, so that training that did not start from the seed-derived initial weights is caught at
any budget (a forger who commits the true initial weights at step 0 and jumps to weights trained
from elsewhere at the next checkpoint forges segment 0 alone); the last, so that a final model
swapped in from elsewhere is caught at any budget. The other ``Q - 2`` are drawn uniformly
without replacement from the segments between by a partial Fisher-Yates shuffle driven by
SHA-256 in counter mode (rejection sampling keeps every index equally likely).

With ``F`` of the ``N - 2`` segments between forged, the chance that the draw misses all of them
is ``C(N-2-F, Q-2) / C(N-2, Q-2)`` (:func:`miss_probability`).
"""

from __future__ import annotations

import hashlib
import math

DRAW_DOMAIN = b"pausewatch/transcript-draw/v1\x00"
"""Domain separation for the draw's hash stream."""

MAX_DRAWN = 10_000
"""The most segments one audit draws, and so the most one ``transcript.verdict/v1`` may name.
A budget that pays for more is capped here: an audit that replayed more segments than its
verdict may list could not file that verdict after replaying them all. The fold recomputes the
draw with :func:`segments_for_budget` too, so both ask for the same capped count."""


def segment_count(steps: int, every: int) -> int:
    """How many segments a transcript of ``steps`` steps, checkpointed every ``every``, has."""
    if steps < 1 or every < 1:
        raise ValueError(f"steps and every must be positive, got {steps} and {every}")
    return -(-steps // every)


def segments_for_budget(budget: float, steps: int, every: int) -> int:
    """How many segments a replay budget (a fraction of the run's training steps) pays for:
    ``floor(budget * steps / every)``, at least two (the first and the final segment are
    always replayed; one where the transcript has a single segment), at most every segment
    and at most :data:`MAX_DRAWN` (what one verdict may name)."""
    if not 0 < budget <= 1:
        raise ValueError(f"budget must be in (0, 1], got {budget}")
    total = segment_count(steps, every)
    return min(total, MAX_DRAWN, max(2, math.floor(budget * steps / every + 1e-9)))


class _Stream:
    """Uniform integers from SHA-256(domain || beacon || counter), by rejection."""

    def __init__(self, beacon: bytes) -> None:
        self.beacon = beacon
        self.counter = 0
        self.buffer = b""

    def _u64(self) -> int:
        if len(self.buffer) < 8:
            block = hashlib.sha256(
                DRAW_DOMAIN + self.beacon + self.counter.to_bytes(8, "big")
            ).digest()
            self.counter += 1
            self.buffer += block
        value, self.buffer = int.from_bytes(self.buffer[:8], "big"), self.buffer[8:]
        return value

    def below(self, bound: int) -> int:
        """A uniform integer in [0, bound)."""
        limit = (1 << 64) - ((1 << 64) % bound)
        while True:
            value = self._u64()
            if value < limit:
                return value % bound


def draw_segments(beacon: bytes, segments: int, count: int) -> tuple[int, ...]:
    """The segments to replay, in ascending order: always the first (0) and the last
    (``segments - 1``), and ``count - 2`` more drawn uniformly without replacement from
    ``1 .. segments - 2``. ``count`` is capped at ``segments`` and raised to two (or to the one
    segment a transcript of one segment has)."""
    if segments < 1:
        raise ValueError(f"a transcript has at least one segment, got {segments}")
    if count < 1:
        raise ValueError(f"an audit replays at least one segment, got {count}")
    if not beacon:
        raise ValueError("the beacon is empty")
    if segments == 1:
        return (0,)
    count = min(max(count, 2), segments)
    pool = list(range(1, segments - 1))
    stream = _Stream(beacon)
    for i in range(count - 2):
        j = i + stream.below(len(pool) - i)
        pool[i], pool[j] = pool[j], pool[i]
    return tuple(sorted([0, *pool[: count - 2], segments - 1]))


def miss_probability(segments: int, forged: int, count: int) -> float:
    """The chance that :func:`draw_segments` replays none of ``forged`` forged segments among
    the ``segments - 2`` it draws from (the first and last segments assumed honest, since they
    are always replayed): ``C(N-2-F, Q-2) / C(N-2, Q-2)``."""
    pool = max(segments - 2, 0)
    drawn = max(min(count, segments) - 2, 0)
    if forged > pool:
        raise ValueError(f"{forged} forged segments among {pool}")
    return math.comb(pool - forged, drawn) / math.comb(pool, drawn)


__all__ = [
    "DRAW_DOMAIN",
    "MAX_DRAWN",
    "draw_segments",
    "miss_probability",
    "segment_count",
    "segments_for_budget",
]
