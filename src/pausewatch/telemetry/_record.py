"""The telemetry record: its fields, its wire constants and its errors.

A signed record is one JSON object per line (JSONL)::

    {"record": {...}, "sig": "<base64 of the 64-byte Ed25519 signature>"}

The chip signs ``b"pausewatch/telemetry/v1\\n" + RFC8785(record)`` (RFC 8785, RFC 8032). The
record's hash, which the next record's ``prev`` names and under which it is stored, is the
lowercase hex SHA-256 of the RFC 8785 bytes of the whole line object. Fields are listed in
DESIGN.md "Domain vocabulary and formats" and on :class:`TelemetryRecord`; unknown fields are
refused, and FLOP counts travel as decimal strings because they exceed 2^53 (I-JSON, RFC 7493
§2.2). Encoding is in :mod:`._canonical`, checking in :mod:`._parse`, signing in :mod:`._sign`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timezone
from typing import Any, NamedTuple, Protocol

from pausewatch.errors import Error

DOMAIN = b"pausewatch/telemetry/v1\n"
"""Signature domain separation: a chip key's telemetry signature can never pass for another use."""

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer I-JSON (RFC 7493 §2.2) and RFC 8785 carry exactly as a JSON number."""

MAX_WINDOW_S = 3600
"""The longest window one record may cover, in seconds."""

REQUIRED_FIELDS = frozenset(
    {
        "chip_id",
        "seq",
        "prev",
        "window_start",
        "window_end",
        "energy_j",
        "power_w_avg",
        "power_w_peak",
        "tensor_active",
        "sm_active",
        "flop",
        "nvlink_tx_bytes",
        "nvlink_rx_bytes",
        "net_tx_bytes",
        "net_rx_bytes",
        "mem_used_bytes",
        "run_id",
        "firmware_digest",
    }
)
"""Fields every record carries (``run_id`` may be null, but it is present)."""

OPTIONAL_FIELDS = frozenset({"weights_digest"})
"""Fields a record may leave out."""


class TelemetryError(Error):
    """A telemetry record, batch or simulation cannot be used as given."""


class RecordError(TelemetryError):
    """A record (or its line) is malformed; ``field`` names where, ``reason`` says how."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"field {field}: {reason}" if field else reason)


class TelemetryRecord(NamedTuple):
    """One chip's signed account of one window, as parsed and checked field by field.

    A ``NamedTuple`` rather than a model: building one costs well under a microsecond, which
    matters at millions of records per batch.
    """

    chip_id: str
    """The chip's id in the registry."""
    seq: int
    """Position in the chip's chain, from 0."""
    prev: str | None
    """Hash of the previous record of the chip; ``None`` exactly when ``seq`` is 0."""
    window_start: datetime
    """Start of the window (UTC)."""
    window_end: datetime
    """End of the window (UTC), after its start."""
    energy_j: int
    """Energy the chip has used since it was made, in joules (cumulative counter)."""
    power_w_avg: float
    """Mean board power over the window, in watts."""
    power_w_peak: float
    """Highest board power sampled in the window, in watts."""
    tensor_active: float
    """Fraction of the window the tensor pipes were busy (DCGM_FI_PROF_PIPE_TENSOR_ACTIVE)."""
    sm_active: float
    """Fraction of the window the SMs held work (DCGM_FI_PROF_SM_ACTIVE)."""
    flop: Mapping[str, int]
    """Operations in the window per precision name (``bf16``, ``fp8``...)."""
    nvlink_tx_bytes: int
    """Bytes sent over NVLink (or the chip's scale-up link) in the window."""
    nvlink_rx_bytes: int
    """Bytes received over NVLink in the window."""
    net_tx_bytes: int
    """Bytes sent over the network in the window."""
    net_rx_bytes: int
    """Bytes received over the network in the window."""
    mem_used_bytes: int
    """Device memory in use at the end of the window."""
    run_id: str | None
    """The declared run the window's work belongs to, or ``None``."""
    weights_digest: str | None
    """SHA-256 of the weights being served or trained, when the chip's agent knows it."""
    firmware_digest: str
    """SHA-256 of the firmware the chip attests it runs."""

    @property
    def window_s(self) -> float:
        """Length of the window in seconds."""
        return (self.window_end - self.window_start).total_seconds()

    def to_json(self) -> dict[str, Any]:
        """The wire form of the record (round-trips exactly for whole-second windows)."""
        out: dict[str, Any] = {
            "chip_id": self.chip_id,
            "seq": self.seq,
            "prev": self.prev,
            "window_start": format_time(self.window_start),
            "window_end": format_time(self.window_end),
            "energy_j": self.energy_j,
            "power_w_avg": self.power_w_avg,
            "power_w_peak": self.power_w_peak,
            "tensor_active": self.tensor_active,
            "sm_active": self.sm_active,
            "flop": {name: str(count) for name, count in self.flop.items()},
            "nvlink_tx_bytes": self.nvlink_tx_bytes,
            "nvlink_rx_bytes": self.nvlink_rx_bytes,
            "net_tx_bytes": self.net_tx_bytes,
            "net_rx_bytes": self.net_rx_bytes,
            "mem_used_bytes": self.mem_used_bytes,
            "run_id": self.run_id,
            "firmware_digest": self.firmware_digest,
        }
        if self.weights_digest is not None:
            out["weights_digest"] = self.weights_digest
        return out


class SigningKey(Protocol):
    """Anything that signs bytes with Ed25519: a cryptography private key or a ``KeyPair``."""

    def sign(self, data: bytes, /) -> bytes:
        """The 64-byte signature over ``data``."""
        ...


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with ``Z``: ``2026-11-27T01:00:00Z`` (microseconds only when non-zero; a
    naive time is taken as UTC, whatever the machine's zone).

    Kept for the latest times written in a fixed offset (UTC, as every record's): a batch's
    two hundred chips' totals write the same few window times again and again, the fold's most
    frequent call (docs/adr/0054). Two such times that are equal are the same instant; a naive
    time, or one in a zone with daylight saving (where times an hour apart can compare equal),
    is written afresh."""
    if type(value.tzinfo) is timezone:
        return _format_fixed(value)
    return _format(value)


@functools.lru_cache(maxsize=1 << 14)
def _format_fixed(value: datetime) -> str:
    return _format(value)


def _format(value: datetime) -> str:
    # A naive time is taken as UTC, not as the machine's local time (which astimezone would
    # assume): every fold of a log, in whatever zone it runs, writes the same text.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"
