"""Telemetry records: wire form checks, canonical bytes (fast path against RFC 8785), signing."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.compute import Precision
from pausewatch.errors import EncodingError
from pausewatch.statements import KeyPair, canonical
from pausewatch.statements._canonical import fast_path_ok
from pausewatch.telemetry import (
    DOMAIN,
    MAX_SAFE_INTEGER,
    RecordError,
    TelemetryRecord,
    canonical_record_bytes,
    line_bytes,
    parse_line,
    parse_record,
    record_hash,
    sign_record,
    signing_input,
)
from pausewatch.telemetry._canonical import _record_bytes
from pausewatch.telemetry._parse import _fast_parse, _parse_slow
from pausewatch.telemetry._record import format_time

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))

WIRE: dict[str, Any] = {
    "chip_id": "c1/h100-0042",
    "seq": 9,
    "prev": "ab" * 32,
    "window_start": "2026-11-27T01:00:00Z",
    "window_end": "2026-11-27T01:01:00Z",
    "energy_j": 123_456_789,
    "power_w_avg": 543.21,
    "power_w_peak": 689.5,
    "tensor_active": 0.7123,
    "sm_active": 0.8312,
    "flop": {"bf16": "23456789012345678", "fp8": "0"},
    "nvlink_tx_bytes": 123_456_789_012,
    "nvlink_rx_bytes": 123_456_789_013,
    "net_tx_bytes": 1_234_567,
    "net_rx_bytes": 1_234_568,
    "mem_used_bytes": 70_000_000_000,
    "run_id": "run-2026-abc",
    "firmware_digest": "cd" * 32,
}


def wire(**changes: Any) -> dict[str, Any]:
    """The example record with some fields changed (``None`` values are kept as null)."""
    out = dict(WIRE)
    out.update(changes)
    return out


def signed_raw(record: Any, key: Ed25519PrivateKey = KEY) -> bytes:
    """A line signed over the RFC 8785 bytes of anything, checked or not (for bad records)."""
    sig = base64.b64encode(key.sign(DOMAIN + canonical(record))).decode()
    return json.dumps({"record": record, "sig": sig}).encode()


# -- canonical bytes ---------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=1e-9, max_value=1e-3)
    | st.floats(min_value=1e15, max_value=1e25)
    | st.sampled_from([0.0, -0.0, 1.0, 1e-4, 9.999e-5, 1e16, 1e21, 5e-324, 0.1, 1.5])
    | st.text()
    | st.text(alphabet=st.characters(max_codepoint=0x1F))
    | st.text(alphabet=st.characters(min_codepoint=0xE000))
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=4) | st.text(st.characters(min_codepoint=0xE000)), children, max_size=4
        )
    ),
    max_leaves=20,
)


def reference(value: Any) -> bytes:
    """The pure RFC 8785 encoder, without the fast path: what every fast path must equal."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EncodingError(str(exc)) from exc


@settings(max_examples=250, deadline=None)
@given(JSON_VALUES)
def test_fast_canonical_bytes_equal_rfc8785(value: Any) -> None:
    """The json.dumps fast path gives the RFC 8785 bytes, or both refuse the value."""
    try:
        expected = reference(value)
    except EncodingError:
        with pytest.raises(EncodingError):
            canonical_record_bytes(value)
        return
    assert canonical_record_bytes(value) == expected


@pytest.mark.parametrize(
    ("value", "fast"),
    [
        (0.5, True),
        (123.25, True),
        (1.0, False),  # Python "1.0", RFC 8785 "1"
        (1e-05, False),  # Python "1e-05", RFC 8785 "0.00001"
        (2**53, False),  # outside I-JSON: RFC 8785 refuses it
        ({"\U0001f600": 1, "\uff00": 2}, False),  # UTF-16 order differs from code point order
        ({"a": "\x01\u2028"}, True),
    ],
)
def test_fast_path_is_taken_exactly_where_it_is_safe(value: Any, fast: bool) -> None:
    """The fast path is refused for integral floats, exponents, big ints and astral keys."""
    assert fast_path_ok(value) is fast


def test_valid_record_bytes_are_rfc8785() -> None:
    """A checked record's template bytes equal RFC 8785's, with and without weights_digest."""
    for record in (WIRE, wire(weights_digest=None), wire(weights_digest="ef" * 32)):
        assert _record_bytes(record) == reference(record)
        fast = _fast_parse(record)
        assert fast is not None
        assert fast[1] == reference(record)


HEX = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
IDS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:/-]{0,20}\Z")
TIMES = st.integers(min_value=0, max_value=10**10).map(
    lambda s: datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
)
POWER = st.integers(min_value=0, max_value=10**6) | st.floats(
    min_value=0, max_value=1e6, allow_nan=False
)
FRACTION = st.integers(min_value=0, max_value=1) | st.floats(min_value=0, max_value=1)
COUNT = st.integers(min_value=0, max_value=MAX_SAFE_INTEGER)


@st.composite
def valid_records(draw: st.DrawFn) -> dict[str, Any]:
    """Any record the format admits (windows not checked here: that is the verifier's)."""
    seq = draw(st.integers(min_value=0, max_value=MAX_SAFE_INTEGER))
    low, high = sorted([draw(POWER), draw(POWER)])
    record = {
        "chip_id": draw(IDS),
        "seq": seq,
        "prev": None if seq == 0 else draw(HEX),
        "window_start": draw(TIMES),
        "window_end": draw(TIMES),
        "energy_j": draw(COUNT),
        "power_w_avg": low,
        "power_w_peak": high,
        "tensor_active": draw(FRACTION),
        "sm_active": draw(FRACTION),
        "flop": draw(
            st.dictionaries(
                st.sampled_from([p.value for p in Precision]),
                st.integers(min_value=0, max_value=10**30).map(str),
            )
        ),
        "nvlink_tx_bytes": draw(COUNT),
        "nvlink_rx_bytes": draw(COUNT),
        "net_tx_bytes": draw(COUNT),
        "net_rx_bytes": draw(COUNT),
        "mem_used_bytes": draw(COUNT),
        "run_id": draw(st.none() | IDS),
        "firmware_digest": draw(HEX),
    }
    weights = draw(st.sampled_from(["absent", "null", "digest"]))
    if weights != "absent":
        record["weights_digest"] = None if weights == "null" else draw(HEX)
    return record


@settings(max_examples=200, deadline=None)
@given(valid_records())
def test_every_valid_record_parses_and_encodes_canonically(record: dict[str, Any]) -> None:
    """Fast and slow paths agree on every valid record, and both give the RFC 8785 bytes."""
    slow = _parse_slow(record)
    assert parse_record(record) == slow
    assert _record_bytes(record) == reference(record)
    fast = _fast_parse(record)
    if fast is not None:
        assert fast == (slow, reference(record))
    line = signed_raw(record)
    parsed = parse_line(line)
    assert parsed.record == slow
    assert parsed.record_bytes == reference(record)


BAD_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=70)
    | st.just("ab" * 32)
    | st.just("2026-11-27T01:00:00.5Z")
    | st.just("2026-W48-5T01:00:00Z")
    | st.just("0012")
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)
)


@settings(max_examples=250, deadline=None)
@given(valid_records(), st.sampled_from([*sorted(WIRE), "weights_digest", "extra"]), BAD_VALUES)
def test_fast_path_never_admits_what_the_slow_path_refuses(
    record: dict[str, Any], name: str, value: Any
) -> None:
    """With any field set to any value, the fast path accepts only what the slow path accepts."""
    record[name] = value
    try:
        slow: TelemetryRecord | None = _parse_slow(record)
    except RecordError:
        slow = None
    fast = _fast_parse(record)
    if fast is not None:
        assert fast[0] == slow
        assert fast[1] == canonical(record)
    if slow is None:
        with pytest.raises(RecordError):
            parse_record(record)
    else:
        assert parse_record(record) == slow


# -- field checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"power_w_avg": -3}, "field power_w_avg: expected a number >= 0, got -3"),
        ({"tensor_active": 1.5}, "field tensor_active: expected a number in [0, 1], got 1.5"),
        ({"power_w_avg": 700.5}, "field power_w_avg: expected at most power_w_peak (689.5)"),
        ({"seq": -1}, "field seq: expected an integer >= 0, got -1"),
        ({"seq": True}, "field seq: expected an integer >= 0, got true"),
        ({"energy_j": 2**53}, "field energy_j: expected an integer <= 2^53-1 (I-JSON)"),
        ({"energy_j": 1.5}, "field energy_j: expected an integer >= 0, got 1.5"),
        ({"chip_id": ""}, "field chip_id: expected 1-128 characters"),
        ({"chip_id": "h100 0042"}, "field chip_id: expected 1-128 characters"),
        ({"prev": None}, "field prev: expected the previous record's hash (seq is 9), got null"),
        ({"seq": 0}, "field prev: expected null when seq is 0"),
        ({"prev": "AB" * 32}, "field prev: expected 64 lowercase hex digits"),
        ({"window_start": "2026-11-27 01:00:00"}, "field window_start: expected an RFC 3339"),
        ({"window_end": "2026-11-27T01:01:00+00:00"}, "field window_end: expected an RFC 3339"),
        ({"window_end": "2026-02-30T01:01:00Z"}, "field window_end: expected a valid UTC time"),
        ({"flop": {"BF16": "1"}}, "field flop: expected a precision name"),
        ({"flop": {"bf16": 10**17}}, "field flop.bf16: expected a non-negative integer as a"),
        ({"flop": {"bf16": "017"}}, "field flop.bf16: expected a non-negative integer as a"),
        ({"flop": {"bf16": "1e17"}}, "field flop.bf16: expected a non-negative integer as a"),
        ({"flop": {"bf16": "\u0661"}}, "field flop.bf16: expected a non-negative integer as a"),
        ({"flop": []}, "field flop: expected an object {precision: count}"),
        ({"run_id": 7}, "field run_id: expected null or a run id"),
        ({"weights_digest": "xyz"}, "field weights_digest: expected 64 lowercase hex digits"),
        ({"extra": 1}, 'unknown fields: "extra"'),
    ],
)
def test_bad_field_is_named_with_expected_and_actual(changes: dict[str, Any], message: str) -> None:
    """Each bad field is refused with its name, what was expected and what was found."""
    with pytest.raises(RecordError) as info:
        parse_record(wire(**changes))
    assert str(info.value).startswith(message)


def test_missing_and_unknown_fields_are_all_listed() -> None:
    """Missing and unknown fields are named together."""
    record = wire(color="red")
    del record["energy_j"], record["run_id"]
    with pytest.raises(
        RecordError, match=r"missing fields: energy_j, run_id; unknown fields: \"color\""
    ):
        parse_record(record)


def test_fractional_seconds_parse_for_the_verifier_to_refuse() -> None:
    """A time with a fraction of a second is well-formed; the verifier judges the window."""
    record = parse_record(wire(window_end="2026-11-27T01:01:00.5Z"))
    assert record.window_end.microsecond == 500_000


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "not a JSON line"),
        (b'{"record": {}, "sig": NaN}', "not a JSON line: NaN is not JSON"),
        (b"\xff", "not a JSON line"),
        (b"[1, 2]", 'expected an object {"record": ..., "sig": ...}'),
        (b'{"record": {}, "sig": "", "x": 1}', 'expected an object {"record": ..., "sig": ...}'),
        (b"", "not a JSON line"),
    ],
)
def test_bad_lines_are_refused(line: bytes, message: str) -> None:
    """A line that is not one JSON envelope is refused before any field is read."""
    with pytest.raises(RecordError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_line(line)


def test_infinite_number_is_refused() -> None:
    """1e400 parses as infinity in Python; it is not a number a record may carry."""
    good = sign_record(WIRE, KEY).decode()
    line = good.replace('"power_w_peak":689.5', '"power_w_peak":1e400')
    with pytest.raises(RecordError, match="field power_w_peak: expected a number >= 0, got inf"):
        parse_line(line)


def test_signature_must_be_canonical_base64_of_64_bytes() -> None:
    """One signature has one spelling: padding bits set or a short signature are refused."""
    line = json.loads(sign_record(WIRE, KEY))
    sig = line["sig"]
    assert sig.endswith("==")
    # The last character before "==" carries 2 bits of the signature and 4 unused bits; flip one.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    tweaked = sig[:-3] + alphabet[alphabet.index(sig[-3]) ^ 1] + "=="
    assert tweaked != sig
    assert base64.b64decode(tweaked) == base64.b64decode(sig)
    for bad in (tweaked, sig[:-4] + "====", base64.b64encode(b"x" * 63).decode(), 5):
        line["sig"] = bad
        with pytest.raises(RecordError, match="field sig: expected base64 of a 64-byte"):
            parse_line(json.dumps(line))


# -- signing and hashing -----------------------------------------------------------------------


def test_signed_line_is_canonical_and_verifies() -> None:
    """sign_record gives the RFC 8785 line; its signature covers DOMAIN + RFC 8785(record)."""
    line = sign_record(WIRE, KEY)
    obj = json.loads(line)
    assert line == canonical(obj)
    assert signing_input(WIRE) == DOMAIN + canonical(WIRE)
    KEY.public_key().verify(base64.b64decode(obj["sig"]), signing_input(WIRE))
    parsed = parse_line(line)
    assert parsed.line == line
    assert record_hash(line) == hashlib.sha256(canonical(obj)).hexdigest()


def test_key_pair_signs_records_too() -> None:
    """A statements KeyPair is a signing key for records."""
    key = KeyPair.generate("chip.example/c1-0001")
    parsed = parse_line(sign_record(WIRE, key))
    assert parsed.record.chip_id == WIRE["chip_id"]


def test_sign_record_refuses_malformed_records() -> None:
    """Nothing malformed is ever signed."""
    with pytest.raises(RecordError, match="field sm_active"):
        sign_record(wire(sm_active=2), KEY)


def test_non_canonical_line_is_read_into_canonical_bytes() -> None:
    """Whitespace and key order in the submitted line do not change the stored bytes or hash."""
    line = sign_record(WIRE, KEY)
    obj = json.loads(line)
    pretty = "  " + json.dumps({"sig": obj["sig"], "record": obj["record"]}, indent=2) + "\n"
    parsed = parse_line(pretty)
    assert parsed.line == line


def test_integral_and_tiny_floats_take_the_canonical_encoder() -> None:
    """A record carrying 600.0 or 5e-05 is still encoded as RFC 8785 says (600, 0.00005)."""
    record = wire(power_w_avg=600.0, tensor_active=5e-05)
    parsed = parse_line(signed_raw(record))
    assert b'"power_w_avg":600,' in parsed.record_bytes
    assert b'"tensor_active":0.00005' in parsed.record_bytes
    assert parsed.record_bytes == canonical(record)


def test_to_json_round_trips() -> None:
    """A parsed record's wire form is the one it was parsed from."""
    for record in (WIRE, wire(weights_digest="ef" * 32)):
        assert parse_record(record).to_json() == record
    assert parse_record(WIRE).window_s == 60


def test_line_bytes_splices_the_envelope() -> None:
    """line_bytes equals RFC 8785 of the envelope."""
    body = canonical(WIRE)
    sig = base64.b64encode(b"\x01" * 64).decode()
    assert line_bytes(body, sig) == canonical({"record": WIRE, "sig": sig})


@settings(max_examples=300, deadline=None, database=None)
@given(
    instant=st.datetimes(  # hypothesis takes naive bounds and zones the times it draws
        min_value=datetime(1970, 1, 2),  # noqa: DTZ001
        max_value=datetime(9999, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    offset_min=st.integers(-23 * 60, 23 * 60),
)
def test_a_time_is_written_in_utc_however_it_is_zoned_and_whatever_was_written_before(
    instant: datetime, offset_min: int
) -> None:
    """format_time keeps the latest times it wrote: the same instant in another zone, written
    after it, gives the same UTC text, and each text is the instant's own."""
    zoned = instant.astimezone(timezone(timedelta(minutes=offset_min)))
    expected = instant.replace(tzinfo=None).isoformat() + "Z"
    assert format_time(zoned) == expected
    assert format_time(instant) == expected
    assert format_time(instant + timedelta(microseconds=1)) != expected


class _Ambiguous(tzinfo):
    """A zone whose offset depends on ``fold``, as a zone's does in the hour clocks go back."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return timedelta(hours=-5 if dt is not None and dt.fold else -4)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "ambiguous"


def test_two_instants_that_compare_equal_in_a_zone_are_each_written_as_themselves() -> None:
    """In a zone's repeated hour two times an hour apart compare equal (Python ignores fold
    between times of one zone): each is written as its own instant, whichever comes first."""
    zone = _Ambiguous()
    first = datetime(2026, 11, 1, 1, 30, tzinfo=zone)
    second = first.replace(fold=1)
    assert first == second
    for pair in ((first, second), (second, first)):
        assert [format_time(t) for t in pair] == [
            t.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z" for t in pair
        ]
    assert format_time(first) == "2026-11-01T05:30:00Z"
    assert format_time(second) == "2026-11-01T06:30:00Z"
