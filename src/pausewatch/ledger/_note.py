"""C2SP signed notes, signer and verifier key strings, and tlog-cosignature/v1.

Implements c2sp.org/signed-note (note text, signature lines ``— <name> base64(keyID || sig)``,
Ed25519 signature type 0x01, key IDs ``SHA-256(name || 0x0A || type || pubkey)[:4]``) with the
key string formats of Go's ``golang.org/x/mod/sumdb/note``: verifier keys
``<name>+<hex key ID>+base64(type || pubkey)`` and signer keys
``PRIVATE+KEY+<name>+<hex key ID>+base64(type || seed)``. It also implements
c2sp.org/tlog-cosignature (type 0x04: a big-endian u64 timestamp then an Ed25519 signature over
``cosignature/v1\\ntime <t>\\n`` followed by the note text).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pausewatch.errors import NoteError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
EM_DASH = "\u2014"
MAX_SIGNATURES = 100
_SIG_LINE = re.compile(r"^\u2014 (\S+) (\S+)$")


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what}: expected standard base64, got {value!r}") from exc


def check_key_name(name: str) -> None:
    """Key names are non-empty and contain no Unicode space and no '+' (signed-note)."""
    if not name or "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        raise NoteError(f"key name: expected non-empty, no spaces and no '+', got {name!r}")


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """The 32-bit key ID ``SHA-256(name || 0x0A || alg || public key)[:4]`` as an integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A trusted public key: its name, signature type and the 32-byte Ed25519 key."""

    name: str
    alg: int
    public_key: bytes

    @property
    def key_id(self) -> int:
        """The key ID a signature line from this key carries."""
        return key_id(self.name, self.alg, self.public_key)

    def to_string(self) -> str:
        """The verifier key string ``name+hash+base64(alg || key)``."""
        material = base64.b64encode(bytes([self.alg]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{material}"

    @classmethod
    def from_string(cls, vkey: str) -> Verifier:
        """Parse a verifier key string; the key ID must match the name and key it carries."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError(f"verifier key: expected 'name+hash+base64', got {vkey!r}")
        name, hash_hex, material_b64 = parts
        check_key_name(name)
        if not re.fullmatch(r"[0-9a-f]{8}", hash_hex):
            raise NoteError(
                f"verifier key {name}: expected an 8-digit hex key ID, got {hash_hex!r}"
            )
        material = _b64decode(material_b64, f"verifier key {name}")
        if len(material) != 33 or material[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
            raise NoteError(
                f"verifier key {name}: expected type 0x01 or 0x04 and 32 key bytes, got "
                f"{len(material)} bytes of type {material[:1].hex() or 'none'}"
            )
        verifier = cls(name, material[0], material[1:])
        try:
            Ed25519PublicKey.from_public_bytes(verifier.public_key)
        except ValueError as exc:
            raise NoteError(f"verifier key {name}: not an Ed25519 public key") from exc
        if f"{verifier.key_id:08x}" != hash_hex:
            raise NoteError(
                f"verifier key {name}: key ID {hash_hex} does not match its key, "
                f"expected {verifier.key_id:08x}"
            )
        return verifier

    def as_cosigner(self) -> Verifier:
        """The same key as a tlog-cosignature/v1 (type 0x04) verifier."""
        return Verifier(self.name, ALG_COSIGNATURE_V1, self.public_key)

    def verify(self, text: str, signature: bytes) -> int | None:
        """Verify a signature (without its key ID) over note ``text``.

        Returns the cosignature timestamp for type 0x04, None for type 0x01; raises
        :class:`NoteError` when the signature does not hold.
        """
        pub = Ed25519PublicKey.from_public_bytes(self.public_key)
        timestamp: int | None = None
        if self.alg == ALG_COSIGNATURE_V1:
            if len(signature) != 72:
                raise NoteError(
                    f"cosignature by {self.name}: expected 72 bytes, got {len(signature)}"
                )
            (timestamp,) = struct.unpack(">Q", signature[:8])
            if timestamp >= 1 << 63:
                raise NoteError(f"cosignature by {self.name}: timestamp {timestamp} exceeds 2^63-1")
            message = cosignature_message(text, timestamp)
            signature = signature[8:]
        else:
            if len(signature) != 64:
                raise NoteError(
                    f"signature by {self.name}: expected 64 bytes, got {len(signature)}"
                )
            message = text.encode()
        try:
            pub.verify(signature, message)
        except InvalidSignature as exc:
            raise NoteError(
                f"signature by {self.name} ({self.key_id:08x}) does not verify"
            ) from exc
        return timestamp


@dataclass(frozen=True)
class Signer:
    """A private key able to sign notes (type 0x01) or cosign checkpoints (type 0x04)."""

    name: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return _raw_public(self.private_key.public_key())

    def verifier(self, alg: int = ALG_ED25519) -> Verifier:
        """The matching verifier for signature type ``alg``."""
        return Verifier(self.name, alg, self.public_key)

    def to_string(self) -> str:
        """The signer key string ``PRIVATE+KEY+name+hash+base64(0x01 || seed)``."""
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        kid = key_id(self.name, ALG_ED25519, self.public_key)
        material = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{kid:08x}+{material}"

    @classmethod
    def from_string(cls, skey: str) -> Signer:
        """Parse a signer key string; the key ID must match the name and the derived public key."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise NoteError("signer key: expected 'PRIVATE+KEY+name+hash+base64'")
        _, _, name, hash_hex, material_b64 = parts
        check_key_name(name)
        material = _b64decode(material_b64, f"signer key {name}")
        if len(material) != 33 or material[0] != ALG_ED25519:
            raise NoteError(f"signer key {name}: expected type 0x01 and a 32-byte seed")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(material[1:]))
        expected = f"{key_id(name, ALG_ED25519, signer.public_key):08x}"
        if hash_hex != expected:
            raise NoteError(
                f"signer key {name}: key ID {hash_hex} does not match, expected {expected}"
            )
        return signer

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A fresh random key named ``name``."""
        check_key_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    def signature_line(self, text: str) -> str:
        """A type 0x01 signature line over note ``text``."""
        sig = self.private_key.sign(text.encode())
        kid = key_id(self.name, ALG_ED25519, self.public_key)
        return f"{EM_DASH} {self.name} {base64.b64encode(kid.to_bytes(4, 'big') + sig).decode()}\n"

    def cosignature_line(self, text: str, timestamp: int) -> str:
        """A tlog-cosignature/v1 (type 0x04) signature line over checkpoint ``text``."""
        if not 0 <= timestamp < 1 << 63:
            raise NoteError(f"cosignature timestamp: expected 0 <= t < 2^63, got {timestamp}")
        sig = self.private_key.sign(cosignature_message(text, timestamp))
        kid = key_id(self.name, ALG_COSIGNATURE_V1, self.public_key)
        blob = kid.to_bytes(4, "big") + struct.pack(">Q", timestamp) + sig
        return f"{EM_DASH} {self.name} {base64.b64encode(blob).decode()}\n"


def cosignature_message(text: str, timestamp: int) -> bytes:
    """The message a tlog-cosignature/v1 signs."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


@dataclass(frozen=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: int
    signature: bytes
    line: str


@dataclass(frozen=True)
class Note:
    """A parsed (not yet verified) signed note."""

    text: str
    signatures: tuple[Signature, ...]

    @classmethod
    def from_text(cls, note: str | bytes) -> Note:
        """Parse a signed note; raise :class:`NoteError` if it is malformed."""
        if isinstance(note, bytes):
            try:
                note = note.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NoteError("note: expected UTF-8") from exc
        if any(ord(c) < 0x20 and c != "\n" for c in note):
            raise NoteError("note: control characters other than newline are not allowed")
        if not note.endswith("\n"):
            raise NoteError("note: expected a final newline")
        split = note.rfind("\n\n")
        if split < 0:
            raise NoteError("note: expected text, a blank line, then signature lines")
        text = note[: split + 1]
        # Split on "\n" only, as Go's note.Open does: str.splitlines() would also split on
        # U+0085, U+2028 and U+2029 and so accept signature blocks that other verifiers refuse.
        block = note[split + 2 :]
        lines = block[:-1].split("\n") if block else []
        if not lines:
            raise NoteError("note: expected at least one signature line")
        if len(lines) > MAX_SIGNATURES:
            raise NoteError(f"note: expected at most {MAX_SIGNATURES} signatures, got {len(lines)}")
        sigs = []
        for line in lines:
            m = _SIG_LINE.match(line)
            if not m:
                raise NoteError(f"note: malformed signature line {line!r}")
            name, blob_b64 = m.groups()
            check_key_name(name)
            blob = _b64decode(blob_b64, f"signature by {name}")
            if len(blob) < 5:
                raise NoteError(f"signature by {name}: expected a key ID and a signature")
            sigs.append(Signature(name, int.from_bytes(blob[:4], "big"), blob[4:], line + "\n"))
        return cls(text, tuple(sigs))

    def verified_by(self, verifiers: list[Verifier]) -> list[tuple[Verifier, int | None]]:
        """The trusted keys whose signatures verify, with cosignature timestamps.

        Signatures from unknown keys are ignored; a signature from a known key that fails makes
        the whole note invalid.
        """
        known = {(v.name, v.key_id): v for v in verifiers}
        ok: list[tuple[Verifier, int | None]] = []
        for sig in self.signatures:
            v = known.get((sig.name, sig.key_id))
            if v is not None:
                ok.append((v, v.verify(self.text, sig.signature)))
        return ok


def _verifiers(keys: list[str] | list[Verifier] | str | Verifier) -> list[Verifier]:
    items: list[str | Verifier] = [keys] if isinstance(keys, str | Verifier) else list(keys)
    return [k if isinstance(k, Verifier) else Verifier.from_string(k) for k in items]


def sign_note(text: str, signer_key_string: str) -> str:
    """Sign ``text`` (which must end in a newline) with a ``PRIVATE+KEY+...`` key string.

    Returns the signed note: the text, a blank line and one signature line.
    """
    if not text.endswith("\n"):
        raise NoteError("note text: expected a final newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text: control characters other than newline are not allowed")
    signer = Signer.from_string(signer_key_string)
    return text + "\n" + signer.signature_line(text)


def open_note(note: str | bytes, verifier_key_strings: list[str] | str) -> str:
    """Verify ``note`` against trusted verifier key strings and return its text.

    Accepts Ed25519 (0x01) and tlog-cosignature/v1 (0x04) verifier keys. Raises
    :class:`pausewatch.ledger.VerificationError` (a :class:`NoteError`) when the note is malformed,
    when a known key's signature fails, or when no known key signed it.
    """
    parsed = Note.from_text(note)
    verifiers = _verifiers(verifier_key_strings)
    if not verifiers:
        raise NoteError("open_note: expected at least one verifier key, got none")
    if not parsed.verified_by(verifiers):
        names = ", ".join(sorted({s.name for s in parsed.signatures}))
        raise NoteError(f"note is not signed by any trusted key (signed by: {names})")
    return parsed.text
