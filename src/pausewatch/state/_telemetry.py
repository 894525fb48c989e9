"""The registry and the chain heads as the telemetry verifier reads them.

The service's ingest verifies each upload against them, and the audit re-verifies each batch
from its stored records against the same readers over its own fold (docs/adr/0019): one
reading of the registry for both, so that what the service accepted the audit recomputes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

from pausewatch.errors import Error
from pausewatch.registry import Registry
from pausewatch.statements import public_key_of
from pausewatch.telemetry import ChainState, ChipInfo, ChipStatus


class RegistrySnapshot:
    """The registry as the telemetry verifier reads it (a ``RegistryView``).

    Each look-up holds ``lock`` (the state's), so that it never sees a fold half done; the
    verifier looks up each chip once a segment, not once a record.
    """

    def __init__(self, registry: Registry, lock: AbstractContextManager[Any] | None = None) -> None:
        self.registry = registry
        self.lock = lock if lock is not None else threading.RLock()

    def chip(self, chip_id: str) -> ChipInfo | None:
        """The certified chip ``chip_id``, with its custody and whether its key is revoked.

        A registered key that cannot be read as 32 bytes is given as no bytes: the verifier
        then refuses that chip's records (``chip_key_invalid``), and only those.
        """
        with self.lock:
            row = self.registry.get("chips", chip_id)
            if row is None:
                return None
            key = self.registry.get("keys", row["key"])
        try:
            public_key = public_key_of(row["key"])
        except Error:
            public_key = b""
        return ChipInfo(
            chip_id=chip_id,
            public_key=public_key,
            model=row["model"],
            cluster_id=row["cluster_id"],
            operator_id=row["operator_id"],
            status=ChipStatus(row["status"]),
            revoked=key is None or key["revoked_idx"] is not None,
        )

    def run_declared_on(self, run_id: str, cluster_id: str) -> bool:
        """Whether ``run_id`` is declared on ``cluster_id``."""
        with self.lock:
            row = self.registry.get("runs", run_id)
        return row is not None and row["cluster_id"] == cluster_id


class ChainHeads(Mapping[str, ChainState]):
    """The chain heads on the log (the ``tel_chains`` view), read as the verifier asks.

    The verifier looks up only the chips in the batch; decoding the whole view for every batch
    would cost time in proportion to the fleet, not to the batch. Each look-up holds ``lock``.
    """

    def __init__(
        self,
        rows: Mapping[tuple[Any, ...], Mapping[str, Any]],
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.rows = rows
        self.lock = lock if lock is not None else threading.RLock()

    def __getitem__(self, chip_id: str) -> ChainState:
        with self.lock:
            row = self.rows.get((chip_id,))
        if row is None:
            raise KeyError(chip_id)
        return ChainState.from_json(row)

    def __iter__(self) -> Iterator[str]:
        with self.lock:
            return iter([chip_id for (chip_id,) in self.rows])

    def __len__(self) -> int:
        return len(self.rows)


__all__ = ["ChainHeads", "RegistrySnapshot"]
