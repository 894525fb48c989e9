"""Which segments of a transcript an audit replays: a draw from a public beacon.

A transcript of ``steps`` optimiser steps with a checkpoint every ``every`` steps has
``N = ceil(steps / every)`` segments; segment ``i`` runs from checkpoint ``i * every`` to
checkpoint ``min((i + 1) * every, steps)``. An audit replays ``Q`` of them. Which ones is a
function of the beacon and ``N`` alone (never of distances the prover logged: Jia et al.'s
reference code replays the intervals with the largest logged updates, so a forger who keeps every
logged step small is never checked). The last segment is always replayed, so that a final model
swapped in from elsewhere is caught at any budget; the other ``Q - 1`` are drawn uniformly without
replacement from the rest by a partial Fisher-Yates shuffle driven by SHA-256 in counter mode
(rejection sampling keeps every index equally likely).

With ``F`` of the ``N - 1`` drawn-from segments forged, the chance that the draw misses all of them
is ``C(N-1-F, Q-1) / C(N-1, Q-1)`` (:func:`miss_probability`).
"""

from __future__ import annotations

import hashlib
import math

DRAW_DOMAIN = b"pausewatch/transcript-draw/v1\x00"
"""Domain separation for the draw's hash stream."""


def segment_count(steps: int, every: int) -> int:
    """How many segments a transcript of ``steps`` steps, checkpointed every ``every``, has."""
    if steps < 1 or every < 1:
        raise ValueError(f"steps and every must be positive, got {steps} and {every}")
    return -(-steps // every)


def segments_for_budget(budget: float, steps: int, every: int) -> int:
    """How many segments a replay budget (a fraction of the run's training steps) pays for:
    ``floor(budget * steps / every)``, at least one (the final segment is always replayed)
    and at most every segment."""
    if not 0 < budget <= 1:
        raise ValueError(f"budget must be in (0, 1], got {budget}")
    total = segment_count(steps, every)
    return max(1, min(total, math.floor(budget * steps / every + 1e-9)))


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
    """The segments to replay, in ascending order: always the last (``segments - 1``), and
    ``count - 1`` more drawn uniformly without replacement from ``0 .. segments - 2``.
    ``count`` is capped at ``segments``."""
    if segments < 1:
        raise ValueError(f"a transcript has at least one segment, got {segments}")
    if count < 1:
        raise ValueError(f"an audit replays at least one segment, got {count}")
    if not beacon:
        raise ValueError("the beacon is empty")
    count = min(count, segments)
    pool = list(range(segments - 1))
    stream = _Stream(beacon)
    for i in range(count - 1):
        j = i + stream.below(len(pool) - i)
        pool[i], pool[j] = pool[j], pool[i]
    return tuple(sorted([*pool[: count - 1], segments - 1]))


def miss_probability(segments: int, forged: int, count: int) -> float:
    """The chance that :func:`draw_segments` replays none of ``forged`` forged segments among
    the ``segments - 1`` it draws from (the last segment assumed honest):
    ``C(N-1-F, Q-1) / C(N-1, Q-1)``."""
    pool = segments - 1
    drawn = min(count, segments) - 1
    if forged > pool:
        raise ValueError(f"{forged} forged segments among {pool}")
    return math.comb(pool - forged, drawn) / math.comb(pool, drawn) if pool else 1.0


__all__ = [
    "DRAW_DOMAIN",
    "draw_segments",
    "miss_probability",
    "segment_count",
    "segments_for_budget",
]
