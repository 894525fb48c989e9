"""The witness state machine of c2sp.org/tlog-witness, as pure code over a storage protocol.

A witness keeps, for every log it trusts, the latest checkpoint it cosigned. It cosigns a new
checkpoint only when it is signed by a trusted key for its origin and is consistent (RFC 6962
§2.1.2 / RFC 9162 §2.1.4) with that latest checkpoint, and it records the new checkpoint with an
atomic compare-and-set on the old size before it answers, so that it never cosigns a tree smaller
than one it cosigned before, nor two trees that fork.

:meth:`Witness.add_checkpoint` maps one ``add-checkpoint`` request body to the HTTP status,
content type and body the spec prescribes; it performs no I/O of its own beyond the
:class:`WitnessStore` it is given, and takes the current time as an argument.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from pausewatch.errors import Error, NoteError, ProofError
from pausewatch.ledger import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    EMPTY_ROOT,
    HASH_SIZE,
    Checkpoint,
    Note,
    Signer,
    Verifier,
    verify_consistency,
)

MAX_PROOF_LINES = 63
"""c2sp.org/tlog-witness: clients MUST NOT send more than 63 consistency proof lines."""

MAX_TREE_SIZE = (1 << 63) - 1
"""The largest tree size the witness records (a signed 64-bit database column)."""

CONTENT_TYPE_TEXT = "text/plain; charset=utf-8"
CONTENT_TYPE_SIZE = "text/x.tlog.size"
"""The content type of a 409 answer that carries the latest cosigned size (tlog-witness)."""

_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,19})")


class WitnessError(Error):
    """The witness is misconfigured or was called with unusable arguments."""


class WitnessState(NamedTuple):
    """The latest checkpoint a witness cosigned for one log: its size, root hash and note."""

    size: int
    root: bytes
    note: str


class WitnessStore(Protocol):
    """Durable record of the latest cosigned checkpoint per log origin.

    tlog-witness requires checking the old size and persisting the new checkpoint atomically;
    :meth:`compare_and_set` is that single atomic step.
    """

    def get(self, origin: str) -> WitnessState | None:
        """The latest cosigned checkpoint for ``origin``, or None if it never cosigned one."""
        ...

    def compare_and_set(
        self,
        origin: str,
        expected_old_size: int,
        new_size: int,
        root: bytes,
        note: str,
        now: datetime,
    ) -> bool:
        """Atomically record ``(new_size, root, note)`` if the latest size is ``expected_old_size``.

        An expected size of 0 also matches an origin with no record yet. Returns False, writing
        nothing, when the record changed meanwhile.
        """
        ...


@dataclass(frozen=True)
class WitnessResponse:
    """The HTTP answer to an ``add-checkpoint`` request: status code, content type and body."""

    status: int
    content_type: str
    body: str

    @property
    def ok(self) -> bool:
        """True for 200: the body holds the witness's cosignature line(s)."""
        return self.status == 200


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A parsed ``add-checkpoint`` body: old size, consistency proof and checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: Note
    note_text: str
    checkpoint: Checkpoint


class RequestError(WitnessError):
    """An ``add-checkpoint`` body is malformed (answered with 400 Bad Request)."""


def _text(status: int, message: str) -> WitnessResponse:
    return WitnessResponse(status, CONTENT_TYPE_TEXT, message.rstrip("\n") + "\n")


def _conflict_size(size: int) -> WitnessResponse:
    return WitnessResponse(409, CONTENT_TYPE_SIZE, f"{size}\n")


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse an ``add-checkpoint`` request body (c2sp.org/tlog-witness).

    The body is an ``old <size>`` line (ASCII decimal, no leading zeroes unless 0), at most 63
    lines of one base64 hash each, an empty line, then the checkpoint as a signed note
    (c2sp.org/signed-note, c2sp.org/tlog-checkpoint). Every line ends in U+000A. Raises
    :class:`RequestError` when the body does not have that shape; no signature is checked here.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError("request body: expected UTF-8") from exc
    end = text.find("\n")
    if end < 0:
        raise RequestError("request body: expected an 'old <size>' line ending in a newline")
    m = _OLD_LINE.fullmatch(text[:end])
    if m is None:
        raise RequestError(
            f"old size line: expected 'old <decimal without leading zeroes>', got {text[:end]!r}"
        )
    old_size = int(m.group(1))
    if old_size > MAX_TREE_SIZE:
        raise RequestError(f"old size: expected at most {MAX_TREE_SIZE}, got {old_size}")
    proof: list[bytes] = []
    pos = end + 1
    while True:
        end = text.find("\n", pos)
        if end < 0:
            raise RequestError("request body: expected an empty line before the checkpoint")
        line = text[pos:end]
        pos = end + 1
        if not line:
            break
        if len(proof) == MAX_PROOF_LINES:
            raise RequestError(
                f"consistency proof: expected at most {MAX_PROOF_LINES} lines, got more"
            )
        try:
            node = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RequestError(f"consistency proof line {len(proof) + 1}: expected base64") from exc
        if len(node) != HASH_SIZE:
            raise RequestError(
                f"consistency proof line {len(proof) + 1}: expected a {HASH_SIZE}-byte hash, "
                f"got {len(node)} bytes"
            )
        proof.append(node)
    note_text = text[pos:]
    try:
        note = Note.from_text(note_text)
        checkpoint = Checkpoint.from_text(note.text)
    except NoteError as exc:
        raise RequestError(f"checkpoint: {exc}") from exc
    if checkpoint.size > MAX_TREE_SIZE:
        raise RequestError(
            f"checkpoint size: expected at most {MAX_TREE_SIZE}, got {checkpoint.size}"
        )
    return AddCheckpointRequest(old_size, tuple(proof), note, note_text, checkpoint)


class Witness:
    """A tlog-witness: cosigns checkpoints of trusted logs that extend what it cosigned before.

    ``signer`` is the witness key (its name is the witness name; cosignatures are type 0x04,
    c2sp.org/tlog-cosignature). ``logs`` maps each trusted origin to the log's Ed25519 (type
    0x01) verifier keys; a checkpoint needs a valid signature from one of them.
    """

    def __init__(
        self,
        signer: Signer,
        logs: Mapping[str, Sequence[Verifier]],
        store: WitnessStore,
    ) -> None:
        trusted: dict[str, tuple[Verifier, ...]] = {}
        for origin, keys in logs.items():
            if not origin or "\n" in origin:
                raise WitnessError(f"log origin: expected one non-empty line, got {origin!r}")
            if not keys:
                raise WitnessError(f"log {origin}: expected at least one verifier key, got none")
            for key in keys:
                if key.alg != ALG_ED25519:
                    raise WitnessError(
                        f"log {origin}: expected Ed25519 (type 0x01) keys, got type "
                        f"0x{key.alg:02x} for {key.name}"
                    )
            trusted[origin] = tuple(dict.fromkeys(keys))
        self._signer = signer
        self._logs = trusted
        self._store = store

    @property
    def name(self) -> str:
        """The witness name (its key's name)."""
        return self._signer.name

    @property
    def verifier(self) -> Verifier:
        """The witness's tlog-cosignature/v1 (type 0x04) verifier key."""
        return self._signer.verifier(ALG_COSIGNATURE_V1)

    @property
    def origins(self) -> list[str]:
        """The trusted log origins, sorted."""
        return sorted(self._logs)

    def log_keys(self, origin: str) -> tuple[Verifier, ...]:
        """The trusted verifier keys of ``origin`` (empty when the origin is unknown)."""
        return self._logs.get(origin, ())

    def latest(self, origin: str) -> WitnessState | None:
        """The latest checkpoint cosigned for ``origin``, or None."""
        return self._store.get(origin)

    def add_checkpoint(self, body: bytes, now: datetime) -> WitnessResponse:
        """Answer one ``add-checkpoint`` request (c2sp.org/tlog-witness), checks in spec order.

        400 malformed body or old size above the checkpoint size; 404 unknown origin; 403 no
        valid signature by a trusted key (or an invalid one by a trusted key); 409 with
        ``text/x.tlog.size`` when the old size is not the latest cosigned size; 422 when the
        old size equals the checkpoint size and the roots differ (409 before the spec's 2026
        revision), or when the consistency proof fails. On success
        the checkpoint is recorded (compare-and-set on the old size) and the body is the
        witness's cosignature line, timestamped ``int(now.timestamp())``.
        """
        if now.tzinfo is None:
            raise WitnessError("now: expected a timezone-aware datetime")
        timestamp = int(now.timestamp())
        if timestamp < 0:
            raise WitnessError(f"now: expected a time after the Unix epoch, got {now.isoformat()}")
        try:
            req = parse_add_checkpoint(body)
        except RequestError as exc:
            return _text(400, str(exc))
        cp = req.checkpoint
        keys = self._logs.get(cp.origin)
        if keys is None:
            return _text(404, f"unknown log origin {cp.origin!r}")
        try:
            verified = req.note.verified_by(list(keys))
        except NoteError as exc:
            return _text(403, str(exc))
        if not verified:
            return _text(403, f"checkpoint for {cp.origin} is not signed by a trusted log key")
        if req.old_size > cp.size:
            return _text(
                400, f"old size {req.old_size} is greater than the checkpoint size {cp.size}"
            )
        state = self._store.get(cp.origin)
        latest_size = 0 if state is None else state.size
        latest_root = EMPTY_ROOT if state is None else state.root
        if req.old_size != latest_size:
            return _conflict_size(latest_size)
        if req.old_size == cp.size and cp.root_hash != latest_root:
            return _text(
                422,
                f"checkpoint of size {cp.size} has root {cp.root_hash.hex()}, but the witness "
                f"cosigned root {latest_root.hex()} at that size",
            )
        try:
            verify_consistency(req.old_size, cp.size, req.proof, latest_root, cp.root_hash)
        except ProofError as exc:
            return _text(422, str(exc))
        # Sign before recording, so that nothing is recorded that the witness cannot answer for.
        line = self._signer.cosignature_line(req.note.text, timestamp)
        if not self._store.compare_and_set(
            cp.origin, req.old_size, cp.size, cp.root_hash, req.note_text, now
        ):
            state = self._store.get(cp.origin)
            return _conflict_size(0 if state is None else state.size)
        return WitnessResponse(200, CONTENT_TYPE_TEXT, line)
