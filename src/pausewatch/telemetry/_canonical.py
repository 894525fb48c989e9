"""Canonical bytes of records and lines: RFC 8785, fast.

A service verifies millions of records, and the pure-Python RFC 8785 encoder
(:func:`pausewatch.statements.canonical`) costs about 30 µs a record, a third of an Ed25519
verification. So a checked record's bytes are written by a template that knows its fields
(:func:`_record_bytes`, and in one pass with the checks, :func:`._parse._fast_parse`), other
values go through :func:`json.dumps` whenever that provably gives the RFC 8785 bytes
(:func:`canonical_record_bytes`), and the canonical encoder is left the cases neither covers (an
integral float, a number Python prints with an exponent). Property tests hold all of them equal
to RFC 8785. See docs/adr/0002-canonical-encoding-and-statements.md.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from pausewatch.statements import canonical
from pausewatch.telemetry._record import DOMAIN, MAX_SAFE_INTEGER

_INF = math.inf


def _fast_ok(value: Any) -> bool:
    """Whether :func:`json.dumps` gives exactly the RFC 8785 bytes of ``value``.

    They agree on strings (same escapes, UTF-8 out), ``true``/``false``/``null`` and integers in
    the I-JSON range. They part on floats that are integral (``1.0`` against ``1``) or that
    Python prints with an exponent (``1e-05`` against ``0.00001``), and on object keys outside
    the Basic Multilingual Plane, which RFC 8785 sorts by UTF-16 code units and Python by code
    points. Anything else unusual (tuples, subclasses, non-string keys) takes the slow path too.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER)
    if kind is float:
        return bool(
            -_INF < value < _INF and not value.is_integer() and "e" not in float.__repr__(value)
        )
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) <= "\uffff"):
                return False
            if not _fast_ok(item):
                return False
        return True
    if kind is list:
        return all(_fast_ok(item) for item in value)
    return False


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_record_bytes(value: Any) -> bytes:
    """The RFC 8785 bytes of ``value``, by :func:`json.dumps` when that gives the same bytes.

    The fast path is taken when every float is finite, not integral, and printed by Python with
    no exponent, every integer is within ±(2^53 - 1) and every key is within the Basic
    Multilingual Plane; otherwise :func:`pausewatch.statements.canonical` encodes it (about 20
    times slower). A property test holds the two equal. Values RFC 8785 cannot encode raise
    :class:`~pausewatch.errors.EncodingError`.
    """
    if _fast_ok(value):
        try:
            return _dumps(value)
        except UnicodeEncodeError:  # a lone surrogate: let the canonical encoder name it
            pass
    return canonical(value)


def _number_text(value: float) -> str | None:
    """RFC 8785 text of a checked number field, or ``None`` where only the slow path knows it."""
    if type(value) is int:
        return int.__repr__(value)
    text = float.__repr__(value)
    return None if "e" in text or value.is_integer() else text


def _string_or_null(value: str | None) -> str:
    return "null" if value is None else f'"{value}"'


def _record_bytes(record: dict[str, Any]) -> bytes:
    """Canonical bytes of a record already checked by :func:`parse_record`, by a template.

    Checking has fixed what every field can hold: known ASCII keys (their RFC 8785 order is
    written out below), integers within 2^53 (printed alike by Python and RFC 8785), strings of
    ids, hex digests, times and decimal digits (none needs a JSON escape). So the bytes are
    assembled directly, about twice as fast as :func:`json.dumps`; only a number field that is
    an integral float or has an exponent goes to the canonical encoder. A property test holds
    this equal to :func:`pausewatch.statements.canonical` for every valid record.
    """
    power_avg = _number_text(record["power_w_avg"])
    power_peak = _number_text(record["power_w_peak"])
    tensor = _number_text(record["tensor_active"])
    sm = _number_text(record["sm_active"])
    if power_avg is None or power_peak is None or tensor is None or sm is None:
        return canonical(record)
    flop = record["flop"]
    flop_text = ",".join([f'"{name}":"{flop[name]}"' for name in sorted(flop)])
    weights = (
        f',"weights_digest":{_string_or_null(record["weights_digest"])}'
        if "weights_digest" in record
        else ""
    )
    return (
        f'{{"chip_id":"{record["chip_id"]}","energy_j":{record["energy_j"]},'
        f'"firmware_digest":"{record["firmware_digest"]}","flop":{{{flop_text}}},'
        f'"mem_used_bytes":{record["mem_used_bytes"]},"net_rx_bytes":{record["net_rx_bytes"]},'
        f'"net_tx_bytes":{record["net_tx_bytes"]},"nvlink_rx_bytes":{record["nvlink_rx_bytes"]},'
        f'"nvlink_tx_bytes":{record["nvlink_tx_bytes"]},"power_w_avg":{power_avg},'
        f'"power_w_peak":{power_peak},"prev":{_string_or_null(record["prev"])},'
        f'"run_id":{_string_or_null(record["run_id"])},"seq":{record["seq"]},'
        f'"sm_active":{sm},"tensor_active":{tensor}{weights},'
        f'"window_end":"{record["window_end"]}","window_start":"{record["window_start"]}"}}'
    ).encode("ascii")


def signing_input(record: Mapping[str, Any]) -> bytes:
    """The bytes a chip signs: :data:`DOMAIN` and the RFC 8785 bytes of the record."""
    return DOMAIN + canonical_record_bytes(dict(record))


def line_bytes(record_bytes: bytes, sig: str) -> bytes:
    """The RFC 8785 bytes of ``{"record": ..., "sig": sig}`` from the record's own bytes.

    Keys sort as ``record`` < ``sig``, and base64 needs no JSON escapes, so the line is spliced
    rather than encoded again.
    """
    return b'{"record":' + record_bytes + b',"sig":"' + sig.encode("ascii") + b'"}'


def record_hash(line: bytes) -> str:
    """The record's hash: lowercase hex SHA-256 of its canonical line (:func:`line_bytes`)."""
    return hashlib.sha256(line).hexdigest()
