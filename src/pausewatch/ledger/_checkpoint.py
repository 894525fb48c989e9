"""C2SP tlog-checkpoint bodies, signed by the log and cosigned by witnesses.

A checkpoint body is ``<origin>\\n<size>\\n<base64 root>\\n`` followed by optional extension
lines (c2sp.org/tlog-checkpoint). It travels as a signed note (c2sp.org/signed-note) carrying the
log's Ed25519 signature and any tlog-cosignature/v1 cosignatures from witnesses.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from pausewatch.errors import NoteError
from pausewatch.ledger._merkle import HASH_SIZE
from pausewatch.ledger._note import Note, Signer, Verifier

_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin line, tree size and root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise NoteError(f"checkpoint origin: expected one non-empty line, got {self.origin!r}")
        if not 0 <= self.size < 1 << 64:
            raise NoteError(f"checkpoint size: expected 0 <= size < 2^64, got {self.size}")
        if len(self.root_hash) != HASH_SIZE:
            raise NoteError(
                f"checkpoint root: expected {HASH_SIZE} bytes, got {len(self.root_hash)}"
            )

    def to_text(self) -> str:
        """The checkpoint body, ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (the text of a note, without signatures)."""
        if not text.endswith("\n"):
            raise NoteError("checkpoint: expected a final newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError(f"checkpoint: expected at least 3 lines, got {len(lines)}")
        origin, size_s, root_s, *ext = lines
        if not _SIZE.match(size_s):
            raise NoteError(
                f"checkpoint size: expected a decimal without leading zeros, got {size_s!r}"
            )
        try:
            root_hash = base64.b64decode(root_s, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError(f"checkpoint root: expected base64, got {root_s!r}") from exc
        if any(not line for line in ext):
            raise NoteError("checkpoint: extension lines must not be empty")
        return cls(origin, int(size_s), root_hash, tuple(ext))


@dataclass(frozen=True)
class Cosignature:
    """A witness's verified cosignature on a checkpoint."""

    name: str
    key_id: int
    timestamp: int
    line: str


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint note whose log signature verified, with its verified cosignatures."""

    checkpoint: Checkpoint
    note: str
    cosignatures: tuple[Cosignature, ...] = field(default=())

    @classmethod
    def open(
        cls,
        note: str | bytes,
        log_verifier: Verifier,
        witnesses: list[Verifier] | None = None,
    ) -> SignedCheckpoint:
        """Parse ``note``, require the log's signature and verify any known witnesses' ones.

        Witness verifiers may be given as type 0x01 or 0x04 keys; both check cosignatures.
        """
        parsed = Note.from_text(note)
        if not parsed.verified_by([log_verifier]):
            raise NoteError(
                f"checkpoint is not signed by the log key {log_verifier.name}+"
                f"{log_verifier.key_id:08x}"
            )
        checkpoint = Checkpoint.from_text(parsed.text)
        if checkpoint.origin != log_verifier.name:
            raise NoteError(
                f"checkpoint origin: expected {log_verifier.name!r}, got {checkpoint.origin!r}"
            )
        cosigs: list[Cosignature] = []
        cosigners = [w.as_cosigner() for w in witnesses or []]
        by_key = {(s.name, s.key_id): s for s in parsed.signatures}
        for v, ts in parsed.verified_by(cosigners):
            sig = by_key[(v.name, v.key_id)]
            cosigs.append(Cosignature(v.name, v.key_id, ts or 0, sig.line))
        text = note.decode() if isinstance(note, bytes) else note
        return cls(checkpoint, text, tuple(cosigs))

    def witnessed(self, threshold: int) -> bool:
        """True when at least ``threshold`` distinct witnesses cosigned."""
        return len({c.name for c in self.cosignatures}) >= threshold


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a signed note carrying the log's signature."""
    if signer.name != checkpoint.origin:
        raise NoteError(
            f"log key name: expected the origin {checkpoint.origin!r}, got {signer.name!r}"
        )
    text = checkpoint.to_text()
    return text + "\n" + signer.signature_line(text)


def add_signature_lines(note: str, lines: list[str]) -> str:
    """Append signature lines (e.g. a witness's response) to a signed note, skipping repeats."""
    have = set(note.splitlines(keepends=True))
    return note + "".join(line for line in lines if line not in have)
