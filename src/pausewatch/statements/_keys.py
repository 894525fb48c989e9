"""Ed25519 keys for actors and logs, on disk as C2SP / Go ``note`` key strings.

A key pair is two files in a keys directory: ``NAME.key`` (mode 0600) holds the signer key string
``PRIVATE+KEY+NAME+hash+base64``; ``NAME.pub`` holds the verifier key string
``NAME+hash+base64``. The same key signs statements and, for a log, checkpoints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pausewatch.errors import ConfigurationError, NoteError, SignatureError
from pausewatch.ledger._note import Signer, Verifier

SIGNER_PREFIX = "ed25519:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")


def signer_id(public_key: bytes) -> str:
    """The ``signer`` field of a statement: ``ed25519:`` and the base64 of the public key."""
    return SIGNER_PREFIX + base64.b64encode(public_key).decode()


def public_key_of(signer: str) -> bytes:
    """The 32-byte public key named by a statement's ``signer`` field."""
    if not signer.startswith(SIGNER_PREFIX):
        raise SignatureError(f"signer: expected '{SIGNER_PREFIX}<base64 key>', got {signer!r}")
    try:
        raw = base64.b64decode(signer[len(SIGNER_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(f"signer: expected base64 after '{SIGNER_PREFIX}'") from exc
    if len(raw) != 32:
        raise SignatureError(f"signer: expected a 32-byte Ed25519 key, got {len(raw)} bytes")
    if signer_id(raw) != signer:
        raise SignatureError("signer: not canonical base64 (unused bits must be zero)")
    return raw


def key_fingerprint(public_key: bytes) -> str:
    """A short stable id for people: the first 16 hex digits of SHA-256 of the public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def verify_raw(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Verify an Ed25519 signature; raise :class:`SignatureError` when it does not hold."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError(
            f"signature does not verify for key {key_fingerprint(public_key)}"
        ) from exc


@dataclass(frozen=True)
class KeyPair:
    """A named Ed25519 key able to sign statements and notes."""

    signer: Signer

    @property
    def name(self) -> str:
        """The key's name (also its note key name)."""
        return self.signer.name

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key."""
        return self.signer.public_key

    @property
    def signer_id(self) -> str:
        """The value of a statement's ``signer`` field for this key."""
        return signer_id(self.public_key)

    @property
    def fingerprint(self) -> str:
        """Short key id for people."""
        return key_fingerprint(self.public_key)

    @property
    def verifier(self) -> Verifier:
        """The note verifier (type 0x01) for this key."""
        return self.signer.verifier()

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature over ``message``."""
        return self.signer.private_key.sign(message)

    @classmethod
    def generate(cls, name: str) -> KeyPair:
        """A fresh key named ``name``."""
        check_name(name)
        return cls(Signer.generate(name))

    @classmethod
    def from_signer_string(cls, skey: str) -> KeyPair:
        """Load from a ``PRIVATE+KEY+...`` string."""
        return cls(Signer.from_string(skey))


def check_name(name: str) -> None:
    """Key names: letters, digits, '.', '_', '-', '/'; they name files and note keys."""
    if not _NAME.match(name) or ".." in name:
        raise ConfigurationError(
            f"key name: expected letters, digits, '.', '_', '-' or '/', got {name!r}"
        )


def _paths(keys_dir: Path, name: str) -> tuple[Path, Path]:
    check_name(name)
    safe = name.replace("/", "_")
    return keys_dir / f"{safe}.key", keys_dir / f"{safe}.pub"


def write_key(keys_dir: Path, key: KeyPair, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``NAME.key`` (0600, created exclusively) and ``NAME.pub``; return both paths."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private, public = _paths(keys_dir, key.name)
    if private.exists() and not overwrite:
        raise ConfigurationError(f"key {key.name!r} already exists at {private}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(private, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.signer.to_string() + "\n")
    os.chmod(private, 0o600)
    public.write_text(key.verifier.to_string() + "\n")
    return private, public


def load_key(keys_dir: Path, name: str) -> KeyPair:
    """Load the private key ``name`` from ``keys_dir``."""
    private, _ = _paths(keys_dir, name)
    try:
        text = private.read_text()
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"no key {name!r} in {keys_dir} (create it: pausewatch keys new {name})"
        ) from exc
    try:
        key = KeyPair.from_signer_string(text)
    except NoteError as exc:
        raise ConfigurationError(f"key file {private} is malformed: {exc}") from exc
    # Distinct names can share a file ('a/b' and 'a_b' are both a_b.key): refuse the other's key.
    if key.name != name:
        raise ConfigurationError(f"key file {private} holds key {key.name!r}, expected {name!r}")
    return key


def load_or_create_key(keys_dir: Path, name: str) -> KeyPair:
    """Load ``name`` or create it when absent (used for the log's own key)."""
    private, _ = _paths(keys_dir, name)
    if private.exists():
        return load_key(keys_dir, name)
    key = KeyPair.generate(name)
    write_key(keys_dir, key)
    return key


def load_public(keys_dir: Path, name: str) -> Verifier:
    """Load the verifier key ``name`` from ``NAME.pub``."""
    _, public = _paths(keys_dir, name)
    try:
        verifier = Verifier.from_string(public.read_text())
    except FileNotFoundError as exc:
        raise ConfigurationError(f"no public key {name!r} in {keys_dir}") from exc
    except NoteError as exc:
        raise ConfigurationError(f"public key file {public} is malformed: {exc}") from exc
    if verifier.name != name:
        raise ConfigurationError(
            f"public key file {public} holds key {verifier.name!r}, expected {name!r}"
        )
    return verifier
