"""The bundled datasets, their Merkle commitments, and everything derived from the secret seed.

Following Choi, Shavit and Duvenaud (NeurIPS 2023), a run commits to its training records and to
the SHA-256 of a secret seed before it trains; the initial weights, the batch of every step and
the held-out records the data-inclusion test compares against are all derived from the seed:
``derive(seed, purpose) = SHA-256(seed || purpose)`` with ``purpose`` an ASCII label
(``pausewatch-transcript/v1/init``, ``.../order/<epoch>``, ``.../heldout/<step>``), its first
eight bytes (big-endian, top bit cleared) seeding a ``torch.Generator``.

The batch order is therefore bound by the seed commitment, not by the dataset's root: the root
binds *which* records (RFC 9162 Merkle tree hash over each record's bytes, in the committed
order), the seed binds *in which order* they are used (Jia et al.'s reference code hashed the
dataset alone, which leaves the order free).

Every dataset is split once, by a fixed rule that does not depend on any seed, into the training
records (the ones committed) and held-out records (never trained on, never committed).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pausewatch.ledger import root

if TYPE_CHECKING:
    import torch

PURPOSE = "pausewatch-transcript/v1/"
"""Prefix of every purpose label hashed with the seed."""

SPLIT_DOMAIN = b"pausewatch-transcript/v1/split\x00"
"""Domain separation for the fixed held-out split."""

HELDOUT_PER_256 = 51
"""A record is held out when the first byte of its split hash is below this (about 20%)."""


@dataclass(frozen=True, slots=True)
class Records:
    """A dataset split into committed training records and held-out records."""

    name: str
    """The name manifests use for it."""
    train: tuple[bytes, ...]
    """The training records, in committed order."""
    heldout: tuple[bytes, ...]
    """Records kept out of training, for the data-inclusion test."""

    def merkle_root(self) -> str:
        """RFC 9162 Merkle tree hash over the training records, lowercase hex."""
        return merkle_root(self.train)


def merkle_root(records: Sequence[bytes]) -> str:
    """RFC 9162 Merkle tree hash (leaf ``SHA-256(0x00 || record)``) over ``records``, hex."""
    return root(list(records)).hex()


def split(name: str, records: Sequence[bytes]) -> Records:
    """Split ``records`` into training and held-out records by the fixed rule: record ``i`` is
    held out iff ``SHA-256(domain || name || 0x00 || i as 8 bytes)[0] < 51``."""
    train: list[bytes] = []
    heldout: list[bytes] = []
    for i, record in enumerate(records):
        h = hashlib.sha256(SPLIT_DOMAIN + name.encode() + b"\x00" + i.to_bytes(8, "big"))
        (heldout if h.digest()[0] < HELDOUT_PER_256 else train).append(record)
    return Records(name, tuple(train), tuple(heldout))


def derive(seed: bytes, purpose: str) -> bytes:
    """``SHA-256(seed || "pausewatch-transcript/v1/" || purpose)``."""
    return hashlib.sha256(seed + (PURPOSE + purpose).encode("ascii")).digest()


def derive_int(seed: bytes, purpose: str) -> int:
    """A 63-bit generator seed from :func:`derive`."""
    return int.from_bytes(derive(seed, purpose)[:8], "big") & ((1 << 63) - 1)


def generator(seed: bytes, purpose: str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from :func:`derive_int`."""
    import torch

    g = torch.Generator(device="cpu")
    g.manual_seed(derive_int(seed, purpose))
    return g


def batch_indices(seed: bytes, step: int, records: int, batch_size: int) -> list[int]:
    """Indices into the training records of the batch optimiser step ``step`` (0-based: the step
    from checkpoint ``step`` to ``step + 1``) trains on.

    Epoch ``e = step // (records // batch_size)`` shuffles the records by
    ``torch.randperm(records, generator=generator(seed, f"order/{e}"))``; the step takes the
    ``batch_size`` indices at its position in that permutation (a trailing partial batch is
    dropped)."""
    import torch

    per_epoch = records // batch_size
    if per_epoch < 1:
        raise ValueError(f"{records} records cannot fill a batch of {batch_size}")
    epoch, position = divmod(step, per_epoch)
    permutation = torch.randperm(records, generator=generator(seed, f"order/{epoch}"))
    return [int(i) for i in permutation[position * batch_size : (position + 1) * batch_size]]


def heldout_indices(seed: bytes, step: int, records: int, batch_size: int) -> list[int]:
    """Indices into the held-out records of the batch the inclusion test pairs with step
    ``step``'s training batch: the first ``batch_size`` of
    ``torch.randperm(records, generator=generator(seed, f"heldout/{step}"))``."""
    import torch

    if records < batch_size:
        raise ValueError(f"{records} held-out records cannot fill a batch of {batch_size}")
    permutation = torch.randperm(records, generator=generator(seed, f"heldout/{step}"))
    return [int(i) for i in permutation[:batch_size]]


def _digits_records() -> list[bytes]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return [
        bytes(int(v) for v in row) + bytes([int(label)])
        for row, label in zip(digits.data, digits.target, strict=True)
    ]


def _arithmetic_records() -> list[bytes]:
    lines = (f"{a:02d}+{b:02d}={a + b:03d}\n" for a in range(100) for b in range(100))
    return [line.encode("ascii") for line in lines]


_BUILDERS = {
    "sklearn-digits/v1": _digits_records,
    "arithmetic-lines/v1": _arithmetic_records,
}


@functools.cache
def dataset(name: str) -> Records:
    """The bundled dataset ``name``, split.

    ``sklearn-digits/v1``: scikit-learn's bundled 8x8 digits (1797 records of 64 pixel bytes,
    0..16, and a label byte). ``arithmetic-lines/v1``: the 10,000 lines ``aa+bb=ccc\\n`` for
    ``aa``, ``bb`` in 00..99, ``a``-major."""
    try:
        build = _BUILDERS[name]
    except KeyError:
        raise KeyError(f"no bundled dataset named {name!r}") from None
    return split(name, build())


__all__ = [
    "HELDOUT_PER_256",
    "PURPOSE",
    "Records",
    "batch_indices",
    "dataset",
    "derive",
    "derive_int",
    "generator",
    "heldout_indices",
    "merkle_root",
    "split",
]
