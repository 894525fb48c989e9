"""A logged statement re-spelled (base64 with non-zero unused bits) is not a new statement."""

from __future__ import annotations

import base64

import pytest

from pausewatch.errors import SignatureError
from pausewatch.statements import KeyPair, parse_statement, sign_statement


def respell(text: str) -> str:
    """The same bytes in base64 with one unused bit of the last character set."""
    raw = base64.b64decode(text)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    body = text.rstrip("=")
    last = alphabet.index(body[-1]) | 1  # the lowest bit is unused before the padding
    out = body[:-1] + alphabet[last] + "=" * (len(text) - len(body))
    assert base64.b64decode(out) == raw
    assert out != text
    return out


def test_a_respelled_signature_or_signer_is_refused() -> None:
    key = KeyPair.generate("k")
    statement = sign_statement("notice/v1", {"title": "t"}, key).to_json()
    assert parse_statement(statement)
    with pytest.raises(SignatureError, match="not canonical base64"):
        parse_statement({**statement, "sig": respell(statement["sig"])})
    signer = statement["signer"]
    with pytest.raises(SignatureError, match="not canonical base64"):
        parse_statement({**statement, "signer": "ed25519:" + respell(signer.split(":", 1)[1])})
