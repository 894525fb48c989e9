"""The one canonical encoder: RFC 8785 (JSON Canonicalization Scheme).

Every byte pausewatch signs or hashes comes from :func:`canonical`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

from pausewatch.errors import EncodingError


def canonical(value: Any) -> bytes:
    """The RFC 8785 bytes of a JSON value (dicts, lists, str, int, float, bool, None)."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EncodingError(f"cannot encode canonically (RFC 8785): {exc}") from exc


def digest(value: Any) -> bytes:
    """SHA-256 of the canonical bytes of ``value``."""
    return hashlib.sha256(canonical(value)).digest()
