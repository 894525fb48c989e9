"""One definition per kind of value, shared by every layer that holds it.

A statement's body model, the registry's views, the policy's facts, the API and the dashboard all
read the same kinds of values: times, identifiers, labels, keys, digests, counts, compute, power
and money. Each kind is defined here once, with its bounds, so that **what a statement model
accepts is exactly what every later layer can read** (ADR 0017). A value outside these bounds is
refused where it enters (a 422 problem for a statement body), never accepted and then found
unreadable by a view, a fact or a page.

Times
    RFC 3339 date-times (``2027-01-01T00:00:00Z``), four-digit years, at most microseconds, from
    :data:`EARLIEST` (1970) up to but excluding :data:`LATEST` (year 9000, far enough from 9999 that
    deadlines and pauses added to a time stay representable). Statement and fact times must be in
    UTC (``Z`` or ``+00:00``); a numeric string is never read as a Unix time. :func:`format_time`
    is the one writer: microseconds and a ``Z``, always four year digits.
Identifiers (:data:`Id`)
    1 to 128 characters: ASCII letters and digits, then also ``. _ : / -``.
Labels (:data:`Label`)
    An enumeration-like token chosen by a document (a kind of data, a proposal kind): lower case
    ASCII letters, digits and ``_``, starting with a letter, at most 64 characters. Compared
    exactly: ``Biological`` is not ``biological`` and is refused.
Keys (:data:`KeyId`)
    ``ed25519:`` and the canonical base64 of a usable Ed25519 public key: its canonical encoding
    (RFC 8032 §5.1.3: ``y`` below the field prime, a point on the curve) and of large order (a
    small-order key makes signatures that hold for any message).
Text (:data:`Name`, :data:`Text`)
    Unicode without control characters (``Text`` keeps tab and newline) and without unpaired
    surrogates, which no canonical JSON encoder can write.
Numbers
    Finite floats within stated bounds (:data:`Flop`, :data:`Watts`, ...); counts are integers from
    0 to 2**53 - 1 (:data:`Count`), which every JSON reader and every database integer holds
    exactly.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest time any statement, fact or query may name."""
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Times are before this (year 9000), so that adding any deadline or term stays representable."""

MAX_COUNT = 2**53 - 1
"""The largest count: held exactly by every JSON reader and every database integer."""

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,6})?"
    r"(?P<offset>Z|[+-]\d{2}:\d{2})"
)
_UTC_OFFSETS = ("Z", "+00:00")
_UTC_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|\+00:00)"
).fullmatch


def check_time(value: datetime) -> datetime:
    """``value`` as an aware UTC time within [:data:`EARLIEST`, :data:`LATEST`); else ValueError."""
    if value.tzinfo is not UTC:
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("expected a time with its offset, in UTC ('Z')")
        if offset:
            raise ValueError("expected a UTC time ending in 'Z' or '+00:00'")
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError(
            f"expected a time from {EARLIEST.year} up to {LATEST.year}, got {format_time(value)}"
        )
    return value


def parse_time(text: str, *, utc_only: bool = True) -> datetime:
    """An RFC 3339 date-time string as an aware UTC datetime; ValueError for anything else.

    With ``utc_only`` (statements, facts, stored rows) the offset must be ``Z`` or ``+00:00``;
    without it (a query's ``at``) any offset is taken and converted to UTC."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(
            f"expected an RFC 3339 date-time such as 2027-01-01T00:00:00Z, got {text[:40]!r}"
        )
    offset = match["offset"]
    if utc_only and offset not in _UTC_OFFSETS:
        raise ValueError(f"expected a UTC time ending in 'Z' or '+00:00', got {text[:40]!r}")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        utc = parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a valid date-time: {text[:40]!r}") from exc
    return check_time(utc)


def format_time(t: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z``, the one time format of the log and its
    views; the year always has four digits (``strftime`` drops leading zeros)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware time, got {t!r}")
    u = t.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond:06d}Z"
    )


def _time_in(value: object) -> object:
    if isinstance(value, str):
        if _UTC_RFC3339(value) is not None:
            # The common case, kept fast (facts hold hundreds of thousands of times):
            # check_time, the after-validator, checks the range.
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
        return parse_time(value)  # raises with the reason
    if isinstance(value, datetime):
        return value
    raise ValueError("expected an RFC 3339 date-time string such as 2027-01-01T00:00:00Z")


Time = Annotated[datetime, BeforeValidator(_time_in), AfterValidator(check_time)]
"""A time (see the module docstring): RFC 3339 in UTC, four-digit year, 1970 up to 9000."""

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")]
"""A registry identifier: 1-128 characters, letters, digits and ``. _ : / -``."""

Ref = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}:[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")]
"""A reference to something by kind and identifier: ``run:<id>``, ``cluster:<id>``."""

Label = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
"""An enumeration-like token: lower case letters, digits and ``_``, from a letter, <= 64."""

Digest = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
"""A lowercase hex SHA-256."""

# RFC 8032 §5.1.3: decoding a point. p = 2^255 - 19, d = -121665/121666.
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


@functools.lru_cache(maxsize=1 << 12)
def ed25519_key_problem(raw: bytes) -> str | None:
    """Why ``raw`` is not a usable Ed25519 public key, or ``None`` when it is.

    Usable: 32 bytes, the canonical encoding of a point on the curve (``y < p``, no sign bit on
    ``x = 0``; RFC 8032 §5.1.3), of large order. A point of small order is refused: with it
    signatures that hold for every message exist, so the chip's records would prove nothing.
    OpenSSL loads all 32-byte strings, so this is checked here.
    """
    if len(raw) != 32:
        return f"expected 32 bytes, got {len(raw)}"
    y = int.from_bytes(raw, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return "not canonical: y is not below 2^255-19"
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x2 = u * pow(v, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
        if (x * x - x2) % _P:
            return "not the encoding of a point on the curve"
    if x == 0 and sign:
        return "not canonical: x is 0 but its sign bit is set"
    if x & 1 != sign:
        x = _P - x
    # [8]P is the identity exactly when P has small order (the curve's cofactor is 8).
    px, py, pz = x, y, 1
    for _ in range(3):
        a, b, c = px * px % _P, py * py % _P, 2 * pz * pz % _P
        h = (a + b) % _P
        e = (h - (px + py) ** 2) % _P
        g = (a - b) % _P
        f = (c + g) % _P
        px, py, pz = e * f % _P, g * h % _P, f * g % _P
    if px == 0 and py == pz:
        return "a point of small order (signatures by it hold for any message)"
    return None


def is_canonical_ed25519(public: bytes) -> bool:
    """Whether ``public`` is a usable Ed25519 public key (:func:`ed25519_key_problem`)."""
    return ed25519_key_problem(public) is None


def _key_id(value: str) -> str:
    raw = value[len("ed25519:") :]
    try:
        public = base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise ValueError("expected 'ed25519:' and the base64 of a 32-byte public key") from exc
    if base64.b64encode(public).decode("ascii") != raw:
        raise ValueError("the key's base64 is not canonical (its unused bits must be zero)")
    problem = ed25519_key_problem(public)
    if problem is not None:
        raise ValueError(f"not a usable Ed25519 public key: {problem}")
    return value


KeyId = Annotated[str, Field(pattern=r"^ed25519:[A-Za-z0-9+/]{43}=$"), AfterValidator(_key_id)]
"""A public key as a statement signer id: ``ed25519:`` and the canonical base64 of a canonical
Ed25519 public key."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _plain(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters and unpaired surrogates are not allowed")
    return value


def _lines(value: str) -> str:
    if _CONTROL_BUT_LINES.search(value):
        raise ValueError("control characters (but tab and newline) are not allowed")
    return value


ONE_LINE = AfterValidator(_plain)
"""Marker for a string on one line: ``Annotated[str, Field(max_length=...), ONE_LINE]``."""
LINES = AfterValidator(_lines)
"""Marker for a string of several lines: ``Annotated[str, Field(max_length=...), LINES]``."""

Name = Annotated[str, Field(min_length=1, max_length=200), ONE_LINE]
"""A name for people: 1-200 characters on one line."""
Line = Annotated[str, Field(max_length=2_000), ONE_LINE]
"""A short text on one line (a subject, a source, a reason), at most 2,000 characters."""
Text = Annotated[str, Field(max_length=4_000), LINES]
"""Free text, at most 4,000 characters, lines allowed."""

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
"""A count: an integer from 0 to 2**53 - 1."""
PositiveCount = Annotated[int, Field(ge=1, le=MAX_COUNT)]
"""A count of at least one."""
Flop = Annotated[float, Field(ge=0, le=1e40, allow_inf_nan=False)]
"""A compute figure in FLOP (or FLOP/s for a rate): finite, from 0 to 1e40 (sums stay finite)."""
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
"""A share from 0 to 1."""
Days = Annotated[float, Field(gt=0, le=36_500, allow_inf_nan=False)]
"""A positive number of days, at most a hundred years."""
Watts = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
"""A power in watts."""
Megawatts = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
"""A facility's power capacity in megawatts."""
Gbps = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
"""A network bandwidth in Gbit/s."""
Usd = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
"""An amount of money in US dollars."""
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e300, le=1e300)]
"""Any finite number (a metric value)."""

__all__ = [
    "EARLIEST",
    "LATEST",
    "LINES",
    "MAX_COUNT",
    "ONE_LINE",
    "Count",
    "Days",
    "Digest",
    "Finite",
    "Flop",
    "Fraction",
    "Gbps",
    "Id",
    "KeyId",
    "Label",
    "Line",
    "Megawatts",
    "Name",
    "PositiveCount",
    "Ref",
    "Text",
    "Time",
    "Usd",
    "Watts",
    "check_time",
    "ed25519_key_problem",
    "format_time",
    "is_canonical_ed25519",
    "parse_time",
]
