"""Signed statements: ``{kind, body, signer, sig}``.

The signature covers the domain-separation prefix ``pausewatch/statement/v1``, a newline, the
kind, a newline and the RFC 8785 bytes of the body. Bodies are validated by the model registered
for their kind; unknown kinds and unknown fields are refused with errors that name them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from pausewatch.errors import SignatureError, StatementError, UnknownFieldError
from pausewatch.statements._canonical import canonical
from pausewatch.statements._keys import KeyPair, public_key_of, verify_raw
from pausewatch.statements._kinds import Body, body_model

DOMAIN = b"pausewatch/statement/v1\n"
ENVELOPE_FIELDS = ("kind", "body", "signer", "sig")
MAX_STATEMENT_BYTES = 256 * 1024


def signing_input(kind: str, body_bytes: bytes) -> bytes:
    """The exact bytes a statement's signature covers."""
    return DOMAIN + kind.encode() + b"\n" + body_bytes


@dataclass(frozen=True)
class Statement:
    """A statement whose envelope, body and signature have all been checked."""

    kind: str
    body: Body
    signer: str
    sig: str
    raw_body: dict[str, Any]
    body_bytes: bytes = field(default=b"", repr=False, compare=False)
    """The RFC 8785 bytes of ``raw_body``, the ones the signature covers, when the statement
    was made by :func:`parse_statement` or :func:`sign_statement` (empty otherwise)."""

    def to_json(self) -> dict[str, Any]:
        """The envelope as a JSON object (the body exactly as it was signed)."""
        return {"kind": self.kind, "body": self.raw_body, "signer": self.signer, "sig": self.sig}

    def canonical_bytes(self) -> bytes:
        """RFC 8785 bytes of the envelope, as stored in a log entry.

        An RFC 8785 object is its members in key order, each value's own canonical bytes: the
        envelope's are the signed body's bytes between its other three members', not a second
        encoding of the body (a telemetry batch's body runs to hundreds of kilobytes)."""
        if not self.body_bytes:
            return canonical(self.to_json())
        return b"".join(
            (
                b'{"body":',
                self.body_bytes,
                b',"kind":',
                canonical(self.kind),
                b',"sig":',
                canonical(self.sig),
                b',"signer":',
                canonical(self.signer),
                b"}",
            )
        )

    @property
    def digest(self) -> bytes:
        """SHA-256 of the canonical envelope; equal statements share it."""
        return hashlib.sha256(self.canonical_bytes()).digest()


def _validate_body(kind: str, raw: Any) -> tuple[Body, bytes]:
    """Validate ``raw`` against the kind's model (JSON mode, strict); return it and its bytes."""
    model = body_model(kind)
    if not isinstance(raw, dict):
        raise StatementError(f"body of {kind}: expected a JSON object, got {type(raw).__name__}")
    body_bytes = canonical(raw)
    try:
        return model.model_validate_json(body_bytes), body_bytes
    except ValidationError as exc:
        extra = [
            ".".join(str(p) for p in e["loc"])
            for e in exc.errors()
            if e["type"] == "extra_forbidden"
        ]
        if extra:
            raise UnknownFieldError(
                f"unknown field(s) in body of {kind}: {', '.join(extra)}; "
                f"allowed: {', '.join(model.model_fields)}"
            ) from exc
        problems = []
        for e in exc.errors()[:5]:
            where = ".".join(str(p) for p in e["loc"]) or "body"
            msg = str(e["msg"]).removeprefix("Value error, ")
            value = e.get("input")
            # Echo a scalar the signer sent; a whole object would drown the reason.
            got = f" (got {value!r})"[:120] if not isinstance(value, dict | list) else ""
            problems.append(f"{where}: {msg}{got}")
        more = f"; and {exc.error_count() - 5} more" if exc.error_count() > 5 else ""
        raise StatementError(f"invalid body of {kind}: {'; '.join(problems)}{more}"[:2000]) from exc


def parse_statement(obj: Any) -> Statement:
    """Check an envelope (a decoded JSON value) and return the verified :class:`Statement`."""
    if not isinstance(obj, dict):
        raise StatementError(f"statement: expected a JSON object, got {type(obj).__name__}")
    extra = sorted(set(obj) - set(ENVELOPE_FIELDS))
    if extra:
        raise UnknownFieldError(
            f"unknown field(s) in statement: {', '.join(extra)}; "
            f"allowed: {', '.join(ENVELOPE_FIELDS)}"
        )
    missing = [f for f in ENVELOPE_FIELDS if f not in obj]
    if missing:
        raise StatementError(f"statement: missing field(s): {', '.join(missing)}")
    kind, raw_body, signer, sig = (obj[f] for f in ENVELOPE_FIELDS)
    for name, value in (("kind", kind), ("signer", signer), ("sig", sig)):
        if not isinstance(value, str):
            raise StatementError(f"statement {name}: expected a string, got {type(value).__name__}")
    body, body_bytes = _validate_body(kind, raw_body)
    public = public_key_of(signer)
    try:
        sig_bytes = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("sig: expected base64 of a 64-byte Ed25519 signature") from exc
    if len(sig_bytes) != 64:
        raise SignatureError(f"sig: expected 64 bytes, got {len(sig_bytes)}")
    if base64.b64encode(sig_bytes).decode() != sig:
        # Base64 lets the unused bits of the last character vary: one signature would have
        # several spellings, hence several statements' bytes, and a copy of a logged statement
        # re-spelled would pass as new. Only the canonical spelling is accepted.
        raise SignatureError("sig: not canonical base64 (unused bits must be zero)")
    verify_raw(public, sig_bytes, signing_input(kind, body_bytes))
    return Statement(kind, body, signer, sig, raw_body, body_bytes)


def sign_statement(kind: str, body: Body | dict[str, Any], key: KeyPair) -> Statement:
    """Sign ``body`` as a statement of ``kind``; the body is validated first."""
    raw = body.model_dump(mode="json", exclude_defaults=True) if isinstance(body, Body) else body
    validated, body_bytes = _validate_body(kind, raw)
    sig = key.sign(signing_input(kind, body_bytes))
    # The body as the log will hold it, read back from the signed bytes: not the caller's
    # object, which it may still change, and with the same values a reader of the entry gets
    # (an integral float reads back as an integer), since the fold may take this statement
    # instead of reading its entry (StateStore.expect).
    return Statement(
        kind,
        validated,
        key.signer_id,
        base64.b64encode(sig).decode(),
        json.loads(body_bytes),
        body_bytes,
    )
