"""The demo's chips: each keeps its signed hash chain and reports hour-long windows.

Windows are an hour (the format's longest) so that a few thousand chips can report weeks of
world time in seconds of real time. Every record is deterministic given the chip, its place in
the chain and the window, so a replay after a crash signs the very same lines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pausewatch.compute import Precision, load_catalogue
from pausewatch.demo._world import ClusterPlan, chip_ids, chip_key, iso
from pausewatch.telemetry import record_hash, sign_record

WINDOW = timedelta(hours=1)
FIRMWARE = hashlib.sha256(b"pausewatch demo firmware 1.0").hexdigest()


def _number(value: float) -> float | int:
    """An integral value as an int: RFC 8785 writes ``0.0`` and ``0`` alike, so the signed
    bytes are the same, but an int lets signing take its fast path (an integral float sends
    every idle window's record through the slow canonical encoder)."""
    return int(value) if value.is_integer() else value


@dataclass
class Chip:
    """One chip's chain so far."""

    chip_id: str
    private_key: Ed25519PrivateKey
    peak: float
    """Dense peak in the cluster's training precision, FLOP/s."""
    tdp_w: float
    seq: int = 0
    prev: str | None = None
    energy_j: int = 1_000_000


@dataclass
class ClusterChips:
    """The chips of one demo cluster."""

    plan: ClusterPlan
    chips: list[Chip] = field(default_factory=list)

    @classmethod
    def build(cls, plan: ClusterPlan, seed: int) -> ClusterChips:
        model = load_catalogue().get(plan.model)
        peak = model.peak_flops[Precision(plan.precision)]
        tdp = model.tdp_w or 700.0
        chips = [Chip(c, chip_key(seed, c), peak, tdp) for c in chip_ids(plan)]
        return cls(plan, chips)

    def add(self, chip_ids: list[str], seed: int) -> None:
        """Chips installed in the cluster later in the story (a shipment): they report with
        the others from the next window on, their chains from the start."""
        model = load_catalogue().get(self.plan.model)
        peak = model.peak_flops[Precision(self.plan.precision)]
        tdp = model.tdp_w or 700.0
        self.chips.extend(Chip(c, chip_key(seed, c), peak, tdp) for c in chip_ids)

    @property
    def energy_j(self) -> int:
        """The energy every chip has reported so far, in joules (cumulative counters summed)."""
        return sum(chip.energy_j for chip in self.chips)

    def window(self, start: datetime, *, run_id: str | None, utilisation: float) -> bytes:
        """One hour of every chip, as JSONL: training at ``utilisation`` of peak (tagged to
        ``run_id``, or to no run), or idle when ``utilisation`` is 0."""
        start = start.replace(microsecond=0)  # record windows are whole seconds
        end = start + WINDOW
        lines: list[bytes] = []
        seconds = WINDOW.total_seconds()
        for n, chip in enumerate(self.chips):
            jitter = ((n * 7919) % 101) / 10_000  # deterministic, within ±0.5%
            busy = utilisation > 0
            util = utilisation * (1 - 0.005 + jitter) if busy else 0.0
            power = chip.tdp_w * (0.72 + 0.2 * util if busy else 0.12 + jitter)
            record = {
                "chip_id": chip.chip_id,
                "seq": chip.seq,
                "prev": chip.prev,
                "window_start": iso(start),
                "window_end": iso(end),
                "energy_j": chip.energy_j + int(power * seconds),
                "power_w_avg": _number(round(power, 1)),
                "power_w_peak": _number(round(power * 1.08, 1)),
                "tensor_active": _number(round(min(1.0, util * 1.2), 4)),
                "sm_active": _number(round(min(1.0, util * 1.3 + 0.01), 4)),
                "flop": {self.plan.precision: str(int(chip.peak * seconds * util))} if busy else {},
                "nvlink_tx_bytes": int(4e11 * util) + 1_000_000,
                "nvlink_rx_bytes": int(4e11 * util) + 1_000_000,
                "net_tx_bytes": int(3e10 * util) + 500_000,
                "net_rx_bytes": int(3e10 * util) + 500_000,
                "mem_used_bytes": int(150e9 * util),
                "run_id": run_id,
                "firmware_digest": FIRMWARE,
            }
            line = sign_record(record, chip.private_key)
            lines.append(line)
            chip.seq += 1
            chip.prev = record_hash(line)
            chip.energy_j = int(record["energy_j"])  # type: ignore[call-overload]
        return b"".join(line + b"\n" for line in lines)


__all__ = ["FIRMWARE", "WINDOW", "Chip", "ClusterChips"]
