"""Signing a record with a chip's key (what a chip's agent, or a simulation, does)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from pausewatch.telemetry._canonical import _record_bytes, line_bytes
from pausewatch.telemetry._parse import _fast_parse, _parse_slow
from pausewatch.telemetry._record import DOMAIN, SigningKey


def sign_record(record: Mapping[str, Any], key: SigningKey) -> bytes:
    """Sign a record's wire form with the chip's key; return the canonical line bytes.

    The record is checked first (:func:`parse_record`), so nothing malformed is ever signed.
    The line has no trailing newline; write ``line + b"\\n"`` to a JSONL file.
    """
    wire = dict(record)
    fast = _fast_parse(wire)
    if fast is None:
        _parse_slow(wire)
        body = _record_bytes(wire)
    else:
        body = fast[1]
    sig = base64.b64encode(key.sign(DOMAIN + body)).decode("ascii")
    return line_bytes(body, sig)
