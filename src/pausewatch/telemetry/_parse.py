"""Checking a record's wire form and taking a JSONL line apart.

Records are checked by plain code into a :class:`~typing.NamedTuple`, not by a pydantic model:
at millions of records per batch, a model costs more than the signature check it guards. The
common case runs as one expression (:func:`_fast_parse`) that also writes the canonical bytes;
anything it doubts goes to a field-by-field check (:func:`_parse_slow`) that names the first
fault, with the expected and the actual value.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from pausewatch.compute import Precision
from pausewatch.errors import EncodingError
from pausewatch.fields import EARLIEST, LATEST, check_time
from pausewatch.telemetry._canonical import _record_bytes, line_bytes
from pausewatch.telemetry._record import (
    MAX_SAFE_INTEGER,
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    RecordError,
    TelemetryRecord,
)

_ALL_FIELDS = REQUIRED_FIELDS | OPTIONAL_FIELDS
_PRECISIONS = frozenset(p.value for p in Precision)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}", re.ASCII)
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z", re.ASCII)
_INF = math.inf
_MAX_FLOP_DIGITS = 40  # 10^40 FLOP per window is far beyond any chip; bounds int() work too
_ID_MATCH = _ID.fullmatch
_HEX64_MATCH = _HEX64.fullmatch
_TIME_MATCH = _TIME.fullmatch
_fromisoformat = datetime.fromisoformat

# Memos of strings already found valid. A batch repeats the same window times, chip ids and
# firmware digests thousands of times; looking them up costs a tenth of checking them again.
# Each is cleared when full, so memory stays bounded whatever the input.
_MEMO_SIZE = 1 << 16
_TIMES: dict[str, datetime] = {}
_IDS: set[str] = set()
_DIGESTS: set[str] = set()


def _memo_time(text: str) -> datetime | None:
    """A whole-second ``...Z`` time, parsed and remembered; ``None`` for anything else."""
    if len(text) != 20 or _TIME_MATCH(text) is None:
        return None
    try:
        value = _fromisoformat(text)
    except ValueError:
        return None
    if not EARLIEST <= value < LATEST:
        return None
    if len(_TIMES) >= _MEMO_SIZE:
        _TIMES.clear()
    _TIMES[text] = value
    return value


def _memo_id(text: str) -> bool:
    if _ID_MATCH(text) is None:
        return False
    if len(_IDS) >= _MEMO_SIZE:
        _IDS.clear()
    _IDS.add(text)
    return True


def _memo_digest(text: str) -> bool:
    if _HEX64_MATCH(text) is None:
        return False
    if len(_DIGESTS) >= _MEMO_SIZE:
        _DIGESTS.clear()
    _DIGESTS.add(text)
    return True


def _show(value: Any) -> str:
    """A value for an error message: JSON-like, at most 60 characters."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is str:
        text = json.dumps(value, ensure_ascii=False)
    elif type(value) is dict:
        text = "an object"
    elif type(value) is list:
        text = "an array"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _count(record: Mapping[str, Any], name: str) -> int:
    value = record[name]
    if type(value) is not int or not 0 <= value <= MAX_SAFE_INTEGER:
        if type(value) is int and value > MAX_SAFE_INTEGER:
            raise RecordError(name, f"expected an integer <= 2^53-1 (I-JSON), got {value}")
        raise RecordError(name, f"expected an integer >= 0, got {_show(value)}")
    return value


def _number(record: Mapping[str, Any], name: str, high: float) -> float:
    value = record[name]
    kind = type(value)
    if kind is float:
        if 0 <= value <= high and value != _INF:  # 1e400 parses as inf
            return value  # type: ignore[no-any-return]
    elif kind is int and 0 <= value <= MAX_SAFE_INTEGER and value <= high:
        return value  # type: ignore[no-any-return]
    if high == 1:
        raise RecordError(name, f"expected a number in [0, 1], got {_show(value)}")
    if kind is int and value > MAX_SAFE_INTEGER:
        raise RecordError(name, f"expected a number <= 2^53-1 (I-JSON), got {value}")
    raise RecordError(name, f"expected a number >= 0, got {_show(value)}")


def _time(record: Mapping[str, Any], name: str) -> datetime:
    value = record[name]
    if type(value) is str and _TIME.fullmatch(value) is not None:
        try:
            return check_time(datetime.fromisoformat(value))
        except ValueError as exc:
            raise RecordError(
                name, f"expected a valid UTC time, got {_show(value)}: {exc}"
            ) from exc
    raise RecordError(
        name, f"expected an RFC 3339 UTC time like 2026-11-27T01:00:00Z, got {_show(value)}"
    )


def _digest(record: Mapping[str, Any], name: str) -> str:
    value = record[name]
    if type(value) is not str or _HEX64.fullmatch(value) is None:
        raise RecordError(name, f"expected 64 lowercase hex digits (SHA-256), got {_show(value)}")
    return value


def _flop(value: Any) -> dict[str, int]:
    if type(value) is not dict:
        raise RecordError("flop", f"expected an object {{precision: count}}, got {_show(value)}")
    counts: dict[str, int] = {}
    for name, count in value.items():
        if name not in _PRECISIONS:
            known = ", ".join(sorted(_PRECISIONS))
            raise RecordError("flop", f"expected a precision name ({known}), got {_show(name)}")
        if (
            type(count) is not str
            or not count.isascii()
            or not count.isdigit()
            or len(count) > _MAX_FLOP_DIGITS
            or (count[0] == "0" and len(count) > 1)
        ):
            raise RecordError(
                f"flop.{name}",
                f"expected a non-negative integer as a decimal string, got {_show(count)}",
            )
        counts[name] = int(count)
    return counts


def _fields_problem(record: Mapping[str, Any]) -> RecordError:
    keys = set(record)
    missing = sorted(REQUIRED_FIELDS - keys)
    unknown = sorted(keys - _ALL_FIELDS)
    parts = []
    if missing:
        parts.append("missing fields: " + ", ".join(missing))
    if unknown:
        parts.append("unknown fields: " + ", ".join(_show(k) for k in unknown))
    return RecordError("", "; ".join(parts))


def parse_record(record: Any) -> TelemetryRecord:
    """Check a record's wire form field by field; raise :class:`RecordError` at the first fault.

    Checked here: every field present and of its type and range, no unknown field, ``prev``
    null exactly when ``seq`` is 0, ``power_w_avg <= power_w_peak``, times in the form
    ``2026-11-27T01:00:00Z`` (fractions of a second parse, for the verifier to refuse as an
    invalid window). What needs context (the chain, the registry, the chip's peak) is the
    verifier's.
    """
    fast = _fast_parse(record) if type(record) is dict else None
    return fast[0] if fast is not None else _parse_slow(record)


def _fast_parse(r: dict[str, Any]) -> tuple[TelemetryRecord, bytes] | None:
    """The common case in one pass: a valid record and its canonical bytes, else ``None``.

    Checks exactly what :func:`_parse_slow` checks, as one expression with no calls, and writes
    the RFC 8785 bytes from the values already in hand (keys in their RFC 8785 order). Any
    doubt (a fault, an integral float, a number Python prints with an exponent) returns
    ``None``, and the slow path then names the fault or takes the canonical encoder. A
    property test holds the two paths equal.
    """
    try:
        chip_id = r["chip_id"]
        seq = r["seq"]
        prev = r["prev"]
        start = r["window_start"]
        end = r["window_end"]
        energy = r["energy_j"]
        p_avg = r["power_w_avg"]
        p_peak = r["power_w_peak"]
        tensor = r["tensor_active"]
        sm = r["sm_active"]
        flop = r["flop"]
        nv_tx = r["nvlink_tx_bytes"]
        nv_rx = r["nvlink_rx_bytes"]
        net_tx = r["net_tx_bytes"]
        net_rx = r["net_rx_bytes"]
        mem = r["mem_used_bytes"]
        run_id = r["run_id"]
        firmware = r["firmware_digest"]
    except KeyError:
        return None
    size = len(r)
    weights = r.get("weights_digest")
    # Floats pass only when positive, not integral and >= 1e-4: Python's repr then has no
    # exponent (it switches below 1e-4 and from 1e16, and integral floats stop at 2^53).
    if not (
        (size == 18 or (size == 19 and "weights_digest" in r))
        and type(chip_id) is str
        and (chip_id in _IDS or _memo_id(chip_id))
        and type(seq) is int
        and 0 <= seq <= MAX_SAFE_INTEGER
        and (
            (prev is None and seq == 0)
            or (seq > 0 and type(prev) is str and _HEX64_MATCH(prev) is not None)
        )
        and type(start) is str
        and ((window_start := _TIMES.get(start)) is not None or (window_start := _memo_time(start)))
        and type(end) is str
        and ((window_end := _TIMES.get(end)) is not None or (window_end := _memo_time(end)))
        and type(energy) is int
        and 0 <= energy <= MAX_SAFE_INTEGER
        and type(nv_tx) is int
        and 0 <= nv_tx <= MAX_SAFE_INTEGER
        and type(nv_rx) is int
        and 0 <= nv_rx <= MAX_SAFE_INTEGER
        and type(net_tx) is int
        and 0 <= net_tx <= MAX_SAFE_INTEGER
        and type(net_rx) is int
        and 0 <= net_rx <= MAX_SAFE_INTEGER
        and type(mem) is int
        and 0 <= mem <= MAX_SAFE_INTEGER
        and (
            (type(p_avg) is float and 1e-4 <= p_avg < _INF and not p_avg.is_integer())
            or (type(p_avg) is int and 0 <= p_avg <= MAX_SAFE_INTEGER)
        )
        and (
            (type(p_peak) is float and 1e-4 <= p_peak < _INF and not p_peak.is_integer())
            or (type(p_peak) is int and 0 <= p_peak <= MAX_SAFE_INTEGER)
        )
        and p_avg <= p_peak
        and (
            (type(tensor) is float and 1e-4 <= tensor < 1)
            or (type(tensor) is int and 0 <= tensor <= 1)
        )
        and ((type(sm) is float and 1e-4 <= sm < 1) or (type(sm) is int and 0 <= sm <= 1))
        and (run_id is None or (type(run_id) is str and (run_id in _IDS or _memo_id(run_id))))
        and type(firmware) is str
        and (firmware in _DIGESTS or _memo_digest(firmware))
        and (weights is None or (type(weights) is str and _HEX64_MATCH(weights) is not None))
        and type(flop) is dict
    ):
        return None
    counts: dict[str, int] = {}
    flop_text = []
    for name in sorted(flop):
        count = flop[name]
        if (
            name not in _PRECISIONS
            or type(count) is not str
            or not count.isascii()
            or not count.isdigit()
            or len(count) > _MAX_FLOP_DIGITS
            or (count[0] == "0" and len(count) > 1)
        ):
            return None
        counts[name] = int(count)
        flop_text.append(f'"{name}":"{count}"')
    record = TelemetryRecord(
        chip_id,
        seq,
        prev,
        window_start,
        window_end,
        energy,
        p_avg,
        p_peak,
        tensor,
        sm,
        counts,
        nv_tx,
        nv_rx,
        net_tx,
        net_rx,
        mem,
        run_id,
        weights,
        firmware,
    )
    prev_text = "null" if prev is None else f'"{prev}"'
    run_text = "null" if run_id is None else f'"{run_id}"'
    if size == 18:
        weights_text = ""
    elif weights is None:
        weights_text = ',"weights_digest":null'
    else:
        weights_text = f',"weights_digest":"{weights}"'
    body = (
        f'{{"chip_id":"{chip_id}","energy_j":{energy},"firmware_digest":"{firmware}",'
        f'"flop":{{{",".join(flop_text)}}},"mem_used_bytes":{mem},"net_rx_bytes":{net_rx},'
        f'"net_tx_bytes":{net_tx},"nvlink_rx_bytes":{nv_rx},"nvlink_tx_bytes":{nv_tx},'
        f'"power_w_avg":{p_avg!r},"power_w_peak":{p_peak!r},"prev":{prev_text},'
        f'"run_id":{run_text},"seq":{seq},"sm_active":{sm!r},"tensor_active":{tensor!r}'
        f'{weights_text},"window_end":"{end}","window_start":"{start}"}}'
    ).encode("ascii")
    return record, body


def _parse_slow(record: Any) -> TelemetryRecord:
    """Field by field, to name the first fault precisely (see :func:`parse_record`)."""
    if type(record) is not dict:
        raise RecordError("record", f"expected an object, got {_show(record)}")
    keys = record.keys()
    if keys != REQUIRED_FIELDS and keys != _ALL_FIELDS:
        raise _fields_problem(record)
    chip_id = record["chip_id"]
    if type(chip_id) is not str or _ID.fullmatch(chip_id) is None:
        raise RecordError(
            "chip_id", f"expected 1-128 characters of A-Z a-z 0-9 . _ : / -, got {_show(chip_id)}"
        )
    seq = _count(record, "seq")
    prev = record["prev"]
    if prev is None:
        if seq != 0:
            raise RecordError(
                "prev", f"expected the previous record's hash (seq is {seq}), got null"
            )
    else:
        prev = _digest(record, "prev")
        if seq == 0:
            raise RecordError("prev", f"expected null when seq is 0, got {_show(prev)}")
    window_start = _time(record, "window_start")
    window_end = _time(record, "window_end")
    energy_j = _count(record, "energy_j")
    power_w_avg = _number(record, "power_w_avg", _INF)
    power_w_peak = _number(record, "power_w_peak", _INF)
    if power_w_avg > power_w_peak:
        raise RecordError(
            "power_w_avg", f"expected at most power_w_peak ({power_w_peak}), got {power_w_avg}"
        )
    tensor_active = _number(record, "tensor_active", 1)
    sm_active = _number(record, "sm_active", 1)
    flop = _flop(record["flop"])
    run_id = record["run_id"]
    if run_id is not None and (type(run_id) is not str or _ID.fullmatch(run_id) is None):
        raise RecordError(
            "run_id",
            f"expected null or a run id (1-128 of A-Z a-z 0-9 . _ : / -), got {_show(run_id)}",
        )
    weights_digest = record.get("weights_digest")
    if weights_digest is not None:
        weights_digest = _digest(record, "weights_digest")
    return TelemetryRecord(
        chip_id,
        seq,
        prev,
        window_start,
        window_end,
        energy_j,
        power_w_avg,
        power_w_peak,
        tensor_active,
        sm_active,
        flop,
        _count(record, "nvlink_tx_bytes"),
        _count(record, "nvlink_rx_bytes"),
        _count(record, "net_tx_bytes"),
        _count(record, "net_rx_bytes"),
        _count(record, "mem_used_bytes"),
        run_id,
        weights_digest,
        _digest(record, "firmware_digest"),
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 numbers are finite)")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


class ParsedLine(NamedTuple):
    """A line taken apart: its record checked, its signature decoded, its canonical bytes."""

    record: TelemetryRecord
    """The checked record."""
    signature: bytes
    """The 64-byte Ed25519 signature."""
    record_bytes: bytes
    """RFC 8785 bytes of the record (what the chip signed, after :data:`DOMAIN`)."""
    line: bytes
    """RFC 8785 bytes of the whole line: what is stored, hashed and put in the batch tree."""


def _partial(line: bytes | str) -> tuple[str | None, int | None]:
    """Chip id and seq of a malformed line, where they can be read, for its error message."""
    try:
        obj = _DECODER.decode(line.decode() if isinstance(line, bytes) else line)
        record = obj["record"]
        chip_id, seq = record.get("chip_id"), record.get("seq")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None, None
    chip = chip_id if type(chip_id) is str and _ID.fullmatch(chip_id) else None
    return chip, seq if type(seq) is int and 0 <= seq <= MAX_SAFE_INTEGER else None


def _decode(text: str) -> Any:
    """JSON text to a value, by the C scanner directly when the text has no outer whitespace."""
    try:
        value, end = _SCAN(text, 0)
    except (StopIteration, ValueError):
        end = -1
    if end != len(text):
        value = _DECODER.decode(text)  # outer whitespace, or a precise error
    return value


def parse_line(line: bytes | str) -> ParsedLine:
    """Take one JSONL line apart (UTF-8 JSON, the envelope, the record); check every field.

    Raises :class:`RecordError` naming the field at fault. The signature is decoded (canonical
    base64 of exactly 64 bytes, so one signature has one spelling and one hash) but not
    verified: that needs the chip's key.
    """
    try:
        obj = _decode(line.decode() if isinstance(line, bytes) else line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordError("", f"not a JSON line: {exc}") from exc
    except RecursionError as exc:  # a record is flat: this deep is no record at all
        raise RecordError("", "not a JSON line: nested too deeply") from exc
    if type(obj) is not dict or len(obj) != 2 or "record" not in obj or "sig" not in obj:
        keys = sorted(obj) if type(obj) is dict else None
        raise RecordError(
            "", f'expected an object {{"record": ..., "sig": ...}}, got {_show(keys or obj)}'
        )
    wire = obj["record"]
    fast = _fast_parse(wire) if type(wire) is dict else None
    if fast is None:
        record = _parse_slow(wire)
        try:
            body = _record_bytes(wire)
        except EncodingError as exc:  # pragma: no cover - the checks admit only encodable values
            raise RecordError("record", str(exc)) from exc
    else:
        record, body = fast
    sig = obj["sig"]
    signature = b""
    # Canonical base64 of 64 bytes: 86 characters, the last of which carries 2 bits and 4 zero
    # bits (so it is one of A, Q, g, w), then "==". Anything else would give one signature two
    # spellings, and one record two hashes.
    if type(sig) is str and len(sig) == 88 and sig[85] in "AQgw" and sig[86:] == "==":
        try:
            signature = binascii.a2b_base64(sig, strict_mode=True)
        except (binascii.Error, ValueError):
            signature = b""
    if len(signature) != 64:
        raise RecordError(
            "sig", f"expected base64 of a 64-byte Ed25519 signature, got {_show(sig)}"
        )
    return ParsedLine(record, signature, body, line_bytes(body, sig))
