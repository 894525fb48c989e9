"""Which items an inspection verifies: a deterministic draw from a seed the prover cannot know.

A plan (how many chips, which facility) is committed to the log first; the items are then
drawn from the root hash of a log checkpoint whose tree already contains that commitment, so
that the seed did not exist when the prover last could have arranged what the inspectors would
find. Anyone holding the population, the plan and the checkpoint recomputes the same draw.

The draw (version 1), for ``k`` of ``size`` items:

- a byte stream, SHA-256 in counter mode: block ``i`` (from 0) is
  ``SHA-256("pausewatch/detect/draw/v1" || 0x00 || u32(len(context)) || context ||
  u32(len(seed)) || seed || u64(i))``, integers big-endian, ``context`` UTF-8 (it names what is
  drawn, e.g. ``"plan 7f3a: chips"``, so that two draws from one checkpoint are unrelated);
- integers below ``m`` without bias by rejection: read 8 bytes as ``x``; accept ``x mod m``
  when ``x < 2^64 - (2^64 mod m)``, otherwise read the next 8 bytes;
- a partial Fisher-Yates shuffle of the indices ``0 .. size-1``: for ``i`` from 0 to ``k-1``,
  swap position ``i`` with position ``i + below(size - i)``; the first ``k`` positions are the
  draw;
- the drawn items are returned in the population's own order (a stable order for the
  inspection report); the population's order is part of what the plan commits to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

from pausewatch.errors import DetectionError
from pausewatch.ledger import SignedCheckpoint, Verifier

_T = TypeVar("_T")

DRAW_DOMAIN = b"pausewatch/detect/draw/v1"
"""Domain separation for the draw's byte stream (changing the draw means a new version)."""

_U64 = 1 << 64


class _Stream:
    """SHA-256 in counter mode over the seed and the context, read 8 bytes at a time."""

    def __init__(self, seed: bytes, context: str) -> None:
        ctx = context.encode()
        self._prefix = (
            DRAW_DOMAIN
            + b"\x00"
            + len(ctx).to_bytes(4, "big")
            + ctx
            + len(seed).to_bytes(4, "big")
            + seed
        )
        self._counter = 0
        self._buffer = b""

    def u64(self) -> int:
        if not self._buffer:
            block = hashlib.sha256(self._prefix + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
            self._buffer = block
        word, self._buffer = self._buffer[:8], self._buffer[8:]
        return int.from_bytes(word, "big")

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)``, by rejection of the top ``2^64 mod bound``."""
        limit = _U64 - _U64 % bound
        while True:
            x = self.u64()
            if x < limit:
                return x % bound


def draw_indices(size: int, k: int, seed: bytes, *, context: str = "") -> list[int]:
    """``k`` distinct indices of ``range(size)``, uniformly at random given ``seed``, ascending."""
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < _U64:
        raise DetectionError(f"population size: expected an integer >= 0, got {size!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= size:
        raise DetectionError(f"draw: expected 0 <= k <= {size} items, got {k!r}")
    if not seed:
        raise DetectionError("draw: expected a non-empty seed")
    stream = _Stream(seed, context)
    # A sparse Fisher-Yates: only the positions already swapped are stored, so that drawing
    # 20 of ten million chips costs 20 steps.
    moved: dict[int, int] = {}
    for i in range(k):
        j = i + stream.below(size - i)
        moved[i], moved[j] = moved.get(j, j), moved.get(i, i)
    return sorted(moved[i] for i in range(k))


def draw(population: Sequence[_T], k: int, seed: bytes, *, context: str = "") -> list[_T]:
    """``k`` items of ``population`` drawn from ``seed`` (see the module docstring), in the
    population's order."""
    return [population[i] for i in draw_indices(len(population), k, seed, context=context)]


def checkpoint_seed(
    note: str | bytes,
    log_verifier: Verifier,
    *,
    commitment_index: int,
    witnesses: list[Verifier] | None = None,
    witness_threshold: int = 0,
) -> bytes:
    """The seed for a plan committed at log index ``commitment_index``: the root hash of the
    signed checkpoint ``note``, once it verifies under ``log_verifier`` (and ``witness_threshold``
    of ``witnesses``), and only when its tree already contains the commitment (size greater than
    the index). An earlier checkpoint is refused: its root was public before the plan was, so
    a prover could have arranged the draw."""
    if (
        isinstance(commitment_index, bool)
        or not isinstance(commitment_index, int)
        or commitment_index < 0
    ):
        raise DetectionError(
            f"commitment index: expected an integer >= 0, got {commitment_index!r}"
        )
    signed = SignedCheckpoint.open(note, log_verifier, witnesses)
    if not signed.witnessed(witness_threshold):
        raise DetectionError(
            f"seed checkpoint: expected at least {witness_threshold} witness cosignatures, "
            f"got {len({c.name for c in signed.cosignatures})}"
        )
    size = signed.checkpoint.size
    if size <= commitment_index:
        raise DetectionError(
            f"seed checkpoint: expected a tree that contains the plan's commitment at index "
            f"{commitment_index} (size > {commitment_index}), got size {size}: its root was "
            f"known before the plan"
        )
    return signed.checkpoint.root_hash


def draw_from_checkpoint(
    population: Sequence[_T],
    k: int,
    note: str | bytes,
    log_verifier: Verifier,
    *,
    commitment_index: int,
    context: str = "",
    witnesses: list[Verifier] | None = None,
    witness_threshold: int = 0,
) -> list[_T]:
    """``k`` items of ``population`` drawn from the root of a checkpoint published after the
    plan's commitment (:func:`checkpoint_seed`), in the population's order."""
    seed = checkpoint_seed(
        note,
        log_verifier,
        commitment_index=commitment_index,
        witnesses=witnesses,
        witness_threshold=witness_threshold,
    )
    return draw(population, k, seed, context=context)
