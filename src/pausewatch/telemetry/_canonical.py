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
from collections.abc import Mapping
from typing import Any

from pausewatch.statements import canonical
from pausewatch.telemetry._record import DOMAIN


def canonical_record_bytes(value: Any) -> bytes:
    """The RFC 8785 bytes of ``value`` (:func:`pausewatch.statements.canonical`, which takes
    the :func:`json.dumps` fast path whenever that gives the same bytes). Values RFC 8785
    cannot encode raise :class:`~pausewatch.errors.EncodingError`."""
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
