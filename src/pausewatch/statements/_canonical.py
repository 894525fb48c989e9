"""The one canonical encoder: RFC 8785 (JSON Canonicalization Scheme).

Every byte pausewatch signs or hashes comes from :func:`canonical`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

from pausewatch.errors import EncodingError


def canonical(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value (dicts, lists, str, int, float, bool, None)."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EncodingError(f"cannot encode canonically (RFC 8785): {exc}") from exc


_MAX_SAFE = 2**53 - 1
"""The largest integer I-JSON (and RFC 8785) keeps exact: Number.MAX_SAFE_INTEGER."""
_SAFE_DIGITS = 15
"""Integer literals this short are always within 2**53 (I-JSON's exact integers)."""


def _parse_int(text: str) -> int | float:
    value = int(text)
    if len(text) <= _SAFE_DIGITS or -_MAX_SAFE <= value <= _MAX_SAFE:
        return value
    # RFC 8785 writes a double such as 3.9e20 as "390676080556894500000": I-JSON numbers are
    # doubles, so an integer literal beyond 2**53 - 1 is read back as the double it denotes, and
    # canonical bytes survive a round trip.
    return float(text)


def parse_json(data: bytes | str) -> Any:
    """Decode JSON as RFC 8785 / I-JSON mean it: integers beyond 2**53 - 1 are doubles."""
    return json.loads(data, parse_int=_parse_int)


def digest(value: Any) -> bytes:
    """SHA-256 of the canonical bytes of ``value``."""
    return hashlib.sha256(canonical(value)).digest()
