"""C2SP tlog-checkpoint bodies, the log's signature and witnesses' cosignatures."""

from __future__ import annotations

import base64
import hashlib

import pytest

from pausewatch.ledger import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    NoteError,
    SignedCheckpoint,
    Signer,
    add_signature_lines,
    sign_checkpoint,
)

ORIGIN = "log.pausewatch.example/v1"
ROOT = hashlib.sha256(b"a root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()


@pytest.fixture(scope="module")
def log_key() -> Signer:
    return Signer.generate(ORIGIN)


@pytest.fixture(scope="module")
def witnesses() -> list[Signer]:
    return [Signer.generate(f"witness{i}.example") for i in range(3)]


def test_to_text_layout() -> None:
    """to_text writes origin, decimal size, base64 root and extensions, one per line."""
    cp = Checkpoint(ORIGIN, 42, ROOT, ("ext one", "ext two"))
    assert cp.to_text() == f"{ORIGIN}\n42\n{ROOT_B64}\next one\next two\n"


@pytest.mark.parametrize("extensions", [(), ("a",), ("— with a dash", "x y z")])
@pytest.mark.parametrize("size", [0, 1, 1 << 40, (1 << 64) - 1])
def test_text_round_trip(size: int, extensions: tuple[str, ...]) -> None:
    """from_text(to_text()) gives back the same checkpoint, extension lines included."""
    cp = Checkpoint(ORIGIN, size, ROOT, extensions)
    assert Checkpoint.from_text(cp.to_text()) == cp


@pytest.mark.parametrize(
    "size", ["00", "01", "007", "-1", "+1", " 1", "1 ", "", "0x10", "1e3", "\u0661"]
)
def test_from_text_refuses_non_canonical_sizes(size: str) -> None:
    """Sizes with leading zeros, signs, spaces or non-ASCII digits are refused."""
    with pytest.raises(NoteError, match="size"):
        Checkpoint.from_text(f"{ORIGIN}\n{size}\n{ROOT_B64}\n")


def test_from_text_refuses_size_beyond_uint64() -> None:
    """A size of 2^64 or more is refused (C2SP and Go parse sizes as uint64)."""
    with pytest.raises(NoteError, match="size"):
        Checkpoint.from_text(f"{ORIGIN}\n{1 << 64}\n{ROOT_B64}\n")


@pytest.mark.parametrize(
    "root_line",
    [
        ROOT_B64[:-1],
        ROOT_B64.replace("=", ""),
        "!" + ROOT_B64[1:],
        base64.b64encode(ROOT[:31]).decode(),
    ],
    ids=["truncated", "unpadded", "bad-char", "31-bytes"],
)
def test_from_text_refuses_bad_root(root_line: str) -> None:
    """A root that is not standard base64 of 32 bytes is refused."""
    with pytest.raises(NoteError, match="root"):
        Checkpoint.from_text(f"{ORIGIN}\n5\n{root_line}\n")


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n5\n{ROOT_B64}",
        f"{ORIGIN}\n5\n",
        f"\n5\n{ROOT_B64}\n",
        f"{ORIGIN}\n5\n{ROOT_B64}\n\n",
        f"{ORIGIN}\n5\n{ROOT_B64}\next\n\nmore\n",
    ],
    ids=["no-final-newline", "two-lines", "empty-origin", "empty-extension", "blank-in-extensions"],
)
def test_from_text_refuses_malformed_bodies(text: str) -> None:
    """Bodies without a final newline, with missing lines or empty lines are refused."""
    with pytest.raises(NoteError):
        Checkpoint.from_text(text)


@pytest.mark.parametrize(
    ("origin", "size", "root_hash"),
    [("", 1, ROOT), ("a\nb", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, 1, ROOT[:16])],
    ids=["empty-origin", "two-line-origin", "negative-size", "short-root"],
)
def test_constructor_refuses_invalid_fields(origin: str, size: int, root_hash: bytes) -> None:
    """Checkpoint() refuses an empty or multi-line origin, a negative size, a short root."""
    with pytest.raises(NoteError):
        Checkpoint(origin, size, root_hash)


def test_sign_and_open(log_key: Signer) -> None:
    """A checkpoint signed by the log key opens with its verifier and parses back."""
    cp = Checkpoint(ORIGIN, 7, ROOT, ("ext",))
    note = sign_checkpoint(cp, log_key)
    opened = SignedCheckpoint.open(note, log_key.verifier())
    assert opened.checkpoint == cp
    assert opened.note == note
    assert opened.cosignatures == ()
    assert SignedCheckpoint.open(note.encode(), log_key.verifier()).checkpoint == cp


def test_sign_checkpoint_refuses_other_key_name(witnesses: list[Signer]) -> None:
    """sign_checkpoint refuses a signer whose name is not the checkpoint's origin."""
    with pytest.raises(NoteError, match="origin"):
        sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), witnesses[0])


def test_open_requires_the_log_signature(log_key: Signer, witnesses: list[Signer]) -> None:
    """A checkpoint carrying only witness cosignatures is refused."""
    text = Checkpoint(ORIGIN, 3, ROOT).to_text()
    note = text + "\n" + witnesses[0].cosignature_line(text, 10)
    with pytest.raises(NoteError, match="not signed by the log key"):
        SignedCheckpoint.open(note, log_key.verifier(), [witnesses[0].verifier()])


def test_open_refuses_a_forged_log_signature(log_key: Signer) -> None:
    """A checkpoint whose log signature is over another body is refused."""
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), log_key)
    with pytest.raises(NoteError):
        SignedCheckpoint.open(note.replace("\n3\n", "\n4\n", 1), log_key.verifier())


def test_open_checks_the_origin() -> None:
    """A checkpoint signed by the log key but naming another origin is refused."""
    key = Signer.generate("other.example")
    text = Checkpoint(ORIGIN, 3, ROOT).to_text()
    note = text + "\n" + key.signature_line(text)
    with pytest.raises(NoteError, match="origin"):
        SignedCheckpoint.open(note, key.verifier())


def test_open_collects_cosignatures_of_given_witnesses(
    log_key: Signer, witnesses: list[Signer]
) -> None:
    """open() returns the verified cosignatures of the given witnesses only, with timestamps."""
    cp = Checkpoint(ORIGIN, 9, ROOT)
    text = cp.to_text()
    lines = [w.cosignature_line(text, 1000 + i) for i, w in enumerate(witnesses)]
    note = add_signature_lines(sign_checkpoint(cp, log_key), lines)
    given = [witnesses[0].verifier(), witnesses[1].verifier(ALG_COSIGNATURE_V1)]
    opened = SignedCheckpoint.open(note, log_key.verifier(), given)
    got = {(c.name, c.timestamp, c.line) for c in opened.cosignatures}
    assert got == {
        ("witness0.example", 1000, lines[0]),
        ("witness1.example", 1001, lines[1]),
    }
    assert opened.witnessed(2)
    assert not opened.witnessed(3)


def test_open_refuses_a_bad_cosignature_of_a_given_witness(
    log_key: Signer, witnesses: list[Signer]
) -> None:
    """A given witness's cosignature over another checkpoint makes open() fail."""
    cp = Checkpoint(ORIGIN, 9, ROOT)
    other = Checkpoint(ORIGIN, 8, ROOT).to_text()
    note = sign_checkpoint(cp, log_key) + witnesses[0].cosignature_line(other, 5)
    with pytest.raises(NoteError):
        SignedCheckpoint.open(note, log_key.verifier(), [witnesses[0].verifier()])


def test_add_signature_lines_skips_repeats(log_key: Signer, witnesses: list[Signer]) -> None:
    """add_signature_lines appends new lines once and ignores lines already present."""
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, ROOT), log_key)
    line = witnesses[0].cosignature_line(Checkpoint(ORIGIN, 1, ROOT).to_text(), 1)
    once = add_signature_lines(note, [line])
    assert once == note + line
    assert add_signature_lines(once, [line, line]) == once
