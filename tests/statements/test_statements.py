"""Signed statements: envelope checks, body validation, signatures and RFC 8785 bytes."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.errors import (
    EncodingError,
    SignatureError,
    StatementError,
    UnknownFieldError,
    UnknownKindError,
    VerificationError,
)
from pausewatch.statements import (
    DOMAIN,
    KeyPair,
    Notice,
    canonical,
    digest,
    kinds,
    parse_statement,
    sign_statement,
    signing_input,
    statement_kind,
)

BODY: dict[str, Any] = {
    "title": "Log established",
    "text": "The secretariat opens the log.",
    "references": ["https://example.org/a", "log:0"],
    "issued_at": "2025-03-01T12:00:00Z",
}


@pytest.fixture(scope="module")
def key() -> KeyPair:
    return KeyPair.generate("secretariat")


@pytest.fixture
def envelope(key: KeyPair) -> dict[str, Any]:
    return sign_statement("notice/v1", BODY, key).to_json()


# ---------------------------------------------------------------------------------------------
# RFC 8785.


def test_canonical_sorts_keys_and_drops_whitespace() -> None:
    """canonical() sorts object keys and writes no whitespace."""
    assert canonical({"b": 1, "a": [1.5, "x"]}) == b'{"a":[1.5,"x"],"b":1}'


@pytest.mark.parametrize(
    ("number", "expected"),
    [(1e21, b"1e+21"), (1e-7, b"1e-7"), (333333333.33333329, b"333333333.3333333"), (-0.0, b"0")],
)
def test_canonical_numbers_follow_rfc8785(number: float, expected: bytes) -> None:
    """canonical() serialises numbers as RFC 8785 (ECMAScript) requires."""
    assert canonical(number) == expected


def test_canonical_string_escapes_follow_rfc8785() -> None:
    """canonical() escapes strings as in the RFC 8785 §3.2.2.2 example."""
    value = "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"
    assert canonical(value) == '"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"'.encode()


def test_canonical_sorts_keys_by_utf16_code_units() -> None:
    """canonical() orders keys by UTF-16 code units, not by code points."""
    assert canonical({"\U0001f600": 1, "\ufb01": 2}) == '{"\U0001f600":1,"\ufb01":2}'.encode()


@pytest.mark.parametrize("value", [float("nan"), 2**53, {1: "a"}, b"bytes"])
def test_canonical_refuses_unencodable_values(value: object) -> None:
    """canonical() raises EncodingError for values RFC 8785 cannot represent."""
    with pytest.raises(EncodingError):
        canonical(value)


def test_digest_is_sha256_of_canonical_bytes() -> None:
    """digest() does not depend on key order."""
    assert digest({"b": 1, "a": 2}) == digest({"a": 2, "b": 1})
    assert digest({"a": 1}) != digest({"a": 2})


# ---------------------------------------------------------------------------------------------
# Round trip and signatures.


def test_sign_parse_round_trip(key: KeyPair, envelope: dict[str, Any]) -> None:
    """A signed statement's JSON parses back to the same kind, body, signer and digest."""
    parsed = parse_statement(json.loads(json.dumps(envelope)))
    assert parsed.kind == "notice/v1"
    assert parsed.signer == key.signer_id
    assert parsed.body == Notice(
        title=BODY["title"],
        text=BODY["text"],
        references=tuple(BODY["references"]),
        issued_at=datetime(2025, 3, 1, 12, tzinfo=UTC),
    )
    assert parsed.digest == sign_statement("notice/v1", BODY, key).digest


def test_signing_a_model_equals_signing_its_json(key: KeyPair) -> None:
    """Signing a Notice model signs the same body bytes as signing its JSON form."""
    model = Notice(title="t", issued_at=datetime(2025, 1, 1, tzinfo=UTC))
    statement = sign_statement("notice/v1", model, key)
    assert statement.raw_body == {"title": "t", "issued_at": "2025-01-01T00:00:00Z"}
    assert parse_statement(statement.to_json()).body == model


def test_signature_covers_domain_kind_and_canonical_body(key: KeyPair) -> None:
    """The signature is over the domain prefix, the kind, a newline and the RFC 8785 body."""
    envelope = sign_statement("notice/v1", BODY, key).to_json()
    expected = key.sign(DOMAIN + b"notice/v1\n" + canonical(BODY))
    assert base64.b64decode(envelope["sig"]) == expected  # Ed25519 is deterministic
    assert signing_input("notice/v1", canonical(BODY)) == DOMAIN + b"notice/v1\n" + canonical(BODY)


def test_key_order_and_whitespace_do_not_matter(envelope: dict[str, Any]) -> None:
    """A body submitted with other key order and whitespace verifies (RFC 8785 bytes are signed)."""
    reordered = dict(reversed(list(envelope["body"].items())))
    text = json.dumps({**envelope, "body": reordered}, indent=4, sort_keys=False)
    assert list(json.loads(text)["body"]) != list(envelope["body"])
    parse_statement(json.loads(text))


def test_changed_body_fails_signature(envelope: dict[str, Any]) -> None:
    """A signature over one body fails for a changed body."""
    changed = {**envelope, "body": {**envelope["body"], "title": "Log closed"}}
    with pytest.raises(SignatureError):
        parse_statement(changed)


def test_signature_by_other_key_fails(envelope: dict[str, Any]) -> None:
    """A statement whose signer field names another key fails."""
    other = KeyPair.generate("other")
    with pytest.raises(SignatureError):
        parse_statement({**envelope, "signer": other.signer_id})


def test_signature_error_is_a_verification_error() -> None:
    """SignatureError is both a StatementError and a VerificationError."""
    assert issubclass(SignatureError, StatementError)
    assert issubclass(SignatureError, VerificationError)


@pytest.mark.parametrize(
    "sig", ["not base64!", "QUJD", "", "AAAA" * 22], ids=["chars", "3-bytes", "empty", "66-bytes"]
)
def test_bad_sig_encoding_or_length_is_refused(envelope: dict[str, Any], sig: str) -> None:
    """A sig that is not base64 of exactly 64 bytes is refused with SignatureError."""
    with pytest.raises(SignatureError):
        parse_statement({**envelope, "sig": sig})


@pytest.mark.parametrize(
    "signer",
    ["ed25519:", "rsa:" + base64.b64encode(bytes(32)).decode(), "ed25519:AAAA", "ed25519:!!"],
)
def test_bad_signer_is_refused(envelope: dict[str, Any], signer: str) -> None:
    """A signer that is not 'ed25519:' and base64 of a 32-byte key is refused."""
    with pytest.raises(SignatureError):
        parse_statement({**envelope, "signer": signer})


# ---------------------------------------------------------------------------------------------
# Envelope and body validation.


def test_unknown_kind_names_it_and_lists_known_kinds(envelope: dict[str, Any]) -> None:
    """An unknown kind is refused with an error naming it and every registered kind."""
    with pytest.raises(UnknownKindError) as info:
        parse_statement({**envelope, "kind": "launch.order/v1"})
    message = str(info.value)
    assert "launch.order/v1" in message
    assert "notice/v1" in message
    assert all(kind in message for kind in kinds())


def test_sign_refuses_unknown_kind(key: KeyPair) -> None:
    """sign_statement refuses a kind that is not registered."""
    with pytest.raises(UnknownKindError, match="notice/v2"):
        sign_statement("notice/v2", BODY, key)


def test_unknown_body_field_is_named(envelope: dict[str, Any]) -> None:
    """A body field the kind does not define is refused with UnknownFieldError naming it."""
    with pytest.raises(UnknownFieldError, match="severity"):
        parse_statement({**envelope, "body": {**envelope["body"], "severity": "high"}})


def test_sign_refuses_unknown_body_field(key: KeyPair) -> None:
    """sign_statement refuses a body with a field the kind does not define."""
    with pytest.raises(UnknownFieldError, match="titel"):
        sign_statement("notice/v1", {"titel": "typo"}, key)


def test_unknown_envelope_field_is_named(envelope: dict[str, Any]) -> None:
    """An envelope field other than kind, body, signer, sig is refused, naming the field."""
    with pytest.raises(UnknownFieldError, match="timestamp"):
        parse_statement({**envelope, "timestamp": "2025-01-01T00:00:00Z"})


@pytest.mark.parametrize("field", ["kind", "body", "signer", "sig"])
def test_missing_envelope_field_is_named(envelope: dict[str, Any], field: str) -> None:
    """An envelope missing one of its four fields is refused, naming the field."""
    del envelope[field]
    with pytest.raises(StatementError, match=f"missing field.*{field}"):
        parse_statement(envelope)


def test_missing_required_body_field(key: KeyPair) -> None:
    """A body without its required title is refused, naming the field."""
    with pytest.raises(StatementError, match="title"):
        sign_statement("notice/v1", {"text": "no title"}, key)


@pytest.mark.parametrize(
    ("field", "value"),
    [("kind", 1), ("signer", None), ("sig", ["x"])],
)
def test_non_string_envelope_fields_are_refused(
    envelope: dict[str, Any], field: str, value: object
) -> None:
    """kind, signer and sig must be strings."""
    with pytest.raises(StatementError, match=field):
        parse_statement({**envelope, field: value})


@pytest.mark.parametrize("obj", [[], "statement", None, 3])
def test_non_object_statement_is_refused(obj: object) -> None:
    """A statement that is not a JSON object is refused."""
    with pytest.raises(StatementError):
        parse_statement(obj)


def test_non_object_body_is_refused(envelope: dict[str, Any]) -> None:
    """A body that is not a JSON object is refused."""
    with pytest.raises(StatementError, match="body"):
        parse_statement({**envelope, "body": ["title"]})


@pytest.mark.parametrize(
    "body",
    [{"title": 5}, {"title": ""}, {"title": "x" * 201}, {"title": "t", "references": "not-a-list"}],
    ids=["int-title", "empty-title", "long-title", "string-references"],
)
def test_invalid_body_values_are_refused(key: KeyPair, body: dict[str, Any]) -> None:
    """Body values of the wrong type or length are refused (strict validation)."""
    with pytest.raises(StatementError):
        sign_statement("notice/v1", body, key)


@pytest.mark.parametrize(
    "issued_at",
    ["2025-03-01T12:00:00", "2025-03-01T12:00:00+01:00", "2025-03-01T07:00:00-05:00", "yesterday"],
    ids=["naive", "plus-one", "minus-five", "not-a-date"],
)
def test_non_utc_issued_at_is_refused(key: KeyPair, issued_at: str) -> None:
    """notice/v1 issued_at must be a UTC timestamp: naive or offset times are refused."""
    with pytest.raises(StatementError, match="issued_at"):
        sign_statement("notice/v1", {"title": "t", "issued_at": issued_at}, key)


def test_utc_offset_zero_is_accepted(key: KeyPair) -> None:
    """An issued_at with offset +00:00 is accepted as UTC."""
    statement = sign_statement(
        "notice/v1", {"title": "t", "issued_at": "2025-03-01T12:00:00+00:00"}, key
    )
    assert statement.body.issued_at == datetime(2025, 3, 1, 12, tzinfo=UTC)  # type: ignore[attr-defined]


def test_notice_model_refuses_naive_datetime() -> None:
    """The Notice model itself refuses a naive or non-UTC datetime."""
    with pytest.raises(ValueError, match="UTC"):
        Notice(title="t", issued_at=datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="UTC"):
        Notice(title="t", issued_at=datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=2))))


@pytest.mark.parametrize("name", ["Notice/v1", "notice", "notice/v0", "notice/1", "a..b/v1"])
def test_statement_kind_refuses_bad_names(name: str) -> None:
    """Kind names must be '<dotted.name>/v<N>' in lower case."""
    with pytest.raises(StatementError, match="kind name"):
        statement_kind(name)


def test_statement_kind_refuses_reregistering_a_name() -> None:
    """A kind name already registered to one model cannot be registered to another."""

    class Impostor(Notice):
        pass

    with pytest.raises(StatementError, match="already registered"):
        statement_kind("notice/v1")(Impostor)


_TEXT = st.characters(exclude_categories=("Cc", "Cs")) | st.sampled_from('"\\/\u2028\U0001f600')


@settings(max_examples=200, deadline=None, database=None)
@given(
    title=st.text(_TEXT, min_size=1, max_size=40).filter(str.strip),
    text=st.text(_TEXT | st.sampled_from("\t\n"), max_size=200),
)
def test_a_statements_bytes_are_the_canonical_bytes_of_its_envelope(
    key: KeyPair, title: str, text: str
) -> None:
    """canonical_bytes() puts the signed body's bytes into the envelope instead of encoding the
    body again: for any text (escapes, characters outside the BMP), signed or parsed, they are
    RFC 8785's bytes of the whole envelope, as a statement built without them gives."""
    body = dict(BODY, title=title, text=text, references=[title, "log:0"])
    signed = sign_statement("notice/v1", body, key)
    parsed = parse_statement(json.loads(signed.canonical_bytes()))
    for statement in (signed, parsed):
        assert statement.canonical_bytes() == canonical(statement.to_json())
        bare = replace(statement, body_bytes=b"")
        assert bare == statement
        assert bare.canonical_bytes() == statement.canonical_bytes()


def test_a_signed_statement_holds_its_body_as_signed_not_the_callers_object(
    key: KeyPair,
) -> None:
    """sign_statement keeps the body as its signed bytes read back: the caller changing its
    object afterwards changes nothing of the statement, and the body holds what a reader of
    the logged statement gets (an integral float reads back as an integer)."""
    body: dict[str, Any] = dict(BODY, references=["log:0"])
    statement = sign_statement("notice/v1", body, key)
    logged = statement.canonical_bytes()
    body["title"] = "Changed after signing"
    body["references"].append("log:1")
    assert statement.canonical_bytes() == logged
    assert statement.raw_body["title"] == BODY["title"]
    assert statement.raw_body["references"] == ["log:0"]
    read = parse_statement(json.loads(logged))
    assert statement.raw_body == read.raw_body
    assert json.dumps(statement.raw_body) == json.dumps(read.raw_body)
