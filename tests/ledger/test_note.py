"""C2SP signed notes, key strings and tlog-cosignature/v1 lines.

Vectors: golang.org/x/mod/sumdb/note (note_test.go, the PeterNeumann key) and
transparency-dev/formats (verifier key strings of type 0x01 and 0x04).
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.ledger import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Note,
    NoteError,
    Signer,
    VerificationError,
    Verifier,
    key_id,
    open_note,
    sign_note,
)

GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZS"
    "NXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
FORMATS_ED25519 = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
FORMATS_COSIGNER = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
GO_MATERIAL = GO_VERIFIER.split("+", 2)[2]


def _unknown_line(i: int = 0) -> str:
    blob = (0xDEAD0000 + i).to_bytes(4, "big") + bytes(64)
    return f"\u2014 stranger{i} {base64.b64encode(blob).decode()}\n"


# ---------------------------------------------------------------------------------------------
# Go vector.


def test_sign_note_reproduces_go_vector() -> None:
    """sign_note with the Go test key reproduces Go's signed note byte for byte."""
    assert sign_note(GO_TEXT, GO_SIGNER) == GO_NOTE


def test_open_note_returns_go_vector_text() -> None:
    """open_note verifies Go's signed note and returns its text."""
    assert open_note(GO_NOTE, GO_VERIFIER) == GO_TEXT
    assert open_note(GO_NOTE.encode(), [GO_VERIFIER]) == GO_TEXT


def test_open_note_refuses_altered_text() -> None:
    """Changing the text of Go's note makes the signature fail."""
    altered = GO_NOTE.replace("cryptography", "cryptograph", 1)
    with pytest.raises(VerificationError):
        open_note(altered, GO_VERIFIER)


def test_go_signer_key_round_trips() -> None:
    """The Go signer key string parses, re-serialises identically and yields the Go verifier."""
    signer = Signer.from_string(GO_SIGNER)
    assert signer.name == "PeterNeumann"
    assert signer.to_string() == GO_SIGNER
    assert signer.verifier().to_string() == GO_VERIFIER


# ---------------------------------------------------------------------------------------------
# Verifier key strings.


def test_formats_ed25519_key_with_plus_in_base64_parses() -> None:
    """A type 0x01 verifier key whose base64 contains '+' parses and round-trips."""
    v = Verifier.from_string(FORMATS_ED25519)
    assert (v.name, v.alg, v.key_id) == ("TEST", ALG_ED25519, 0x7997405C)
    assert v.to_string() == FORMATS_ED25519


def test_formats_cosignature_key_parses() -> None:
    """A type 0x04 (cosignature/v1) verifier key parses and round-trips."""
    v = Verifier.from_string(FORMATS_COSIGNER)
    assert (v.name, v.alg, v.key_id) == ("remora.n621.de", ALG_COSIGNATURE_V1, 0xDA77ADE7)
    assert v.to_string() == FORMATS_COSIGNER


def test_verifier_refuses_wrong_key_hash() -> None:
    """A verifier key whose key ID does not match its name and key is refused."""
    with pytest.raises(NoteError, match="does not match"):
        Verifier.from_string("rekor.sigstore.dev+00000000+" + GO_MATERIAL)


def test_verifier_refuses_non_base64_material() -> None:
    """A verifier key whose material is not standard base64 is refused."""
    with pytest.raises(NoteError, match="base64"):
        Verifier.from_string("PeterNeumann+c74f20a3+ARpc2QcU!!!not*base64")


def test_verifier_refuses_unknown_type() -> None:
    """A verifier key of a type other than 0x01 or 0x04 is refused even with a matching ID."""
    public = Signer.from_string(GO_SIGNER).public_key
    material = base64.b64encode(b"\x02" + public).decode()
    with pytest.raises(NoteError, match="type"):
        Verifier.from_string(f"Name+{key_id('Name', 0x02, public):08x}+{material}")


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a3",
        "PeterNeumann",
        "+c74f20a3+" + GO_MATERIAL,
        "Peter Neumann+c74f20a3+" + GO_MATERIAL,
        "PeterNeumann+c74f20a+" + GO_MATERIAL,
        "PeterNeumann+c74f20a3+" + base64.b64encode(b"\x01" + bytes(31)).decode(),
    ],
    ids=["no-key", "name-only", "empty-name", "space-in-name", "short-hash", "short-key"],
)
def test_verifier_refuses_malformed_key_strings(vkey: str) -> None:
    """Malformed verifier key strings are refused with NoteError."""
    with pytest.raises(NoteError):
        Verifier.from_string(vkey)


@pytest.mark.parametrize(
    "skey",
    [
        GO_SIGNER.replace("PRIVATE+KEY", "PRIVATE+KEZ"),
        GO_SIGNER.replace("c74f20a3", "c74f20a4"),
        GO_SIGNER.replace("+AYEK", "+AoEK"),
        "PRIVATE+KEY+PeterNeumann+c74f20a3+%%%",
    ],
    ids=["prefix", "hash", "type", "base64"],
)
def test_signer_refuses_malformed_key_strings(skey: str) -> None:
    """Signer key strings with a bad prefix, key ID, type or base64 are refused."""
    with pytest.raises(NoteError):
        Signer.from_string(skey)


def test_sign_note_refuses_text_without_final_newline() -> None:
    """sign_note refuses a text that does not end in a newline."""
    with pytest.raises(NoteError):
        sign_note(GO_TEXT.rstrip("\n"), GO_SIGNER)


# ---------------------------------------------------------------------------------------------
# Cosignatures.


@pytest.mark.parametrize("timestamp", [0, 1_700_000_000, (1 << 63) - 1])
def test_cosignature_line_verifies_and_timestamp_round_trips(timestamp: int) -> None:
    """A Signer.cosignature_line verifies via the witness's 0x04 key and returns its timestamp."""
    log = Signer.from_string(GO_SIGNER)
    witness = Signer.generate("witness.example")
    note = sign_note(GO_TEXT, GO_SIGNER) + witness.cosignature_line(GO_TEXT, timestamp)
    cosigner = witness.verifier(ALG_COSIGNATURE_V1).to_string()
    assert open_note(note, cosigner) == GO_TEXT
    verified = Note.from_text(note).verified_by([log.verifier(), Verifier.from_string(cosigner)])
    assert [(v.name, ts) for v, ts in verified] == [
        ("PeterNeumann", None),
        ("witness.example", timestamp),
    ]


def test_cosignature_does_not_count_as_ed25519_signature() -> None:
    """A cosignature line is not accepted as a type 0x01 signature by the same key."""
    witness = Signer.generate("witness.example")
    note = GO_TEXT + "\n" + witness.cosignature_line(GO_TEXT, 5)
    with pytest.raises(NoteError, match="not signed by any trusted key"):
        open_note(note, witness.verifier(ALG_ED25519).to_string())


def test_cosignature_over_other_timestamp_fails() -> None:
    """Changing the timestamp inside a cosignature makes it fail."""
    witness = Signer.generate("witness.example")
    line = witness.cosignature_line(GO_TEXT, 5)
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[11] ^= 1  # the last byte of the big-endian timestamp
    forged = f"\u2014 witness.example {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(NoteError):
        open_note(GO_TEXT + "\n" + forged, witness.verifier(ALG_COSIGNATURE_V1).to_string())


@pytest.mark.parametrize("timestamp", [-1, 1 << 63])
def test_cosignature_line_refuses_out_of_range_timestamp(timestamp: int) -> None:
    """cosignature_line refuses timestamps outside [0, 2^63)."""
    with pytest.raises(NoteError):
        Signer.generate("w").cosignature_line(GO_TEXT, timestamp)


# ---------------------------------------------------------------------------------------------
# Which signatures count.


def test_note_signed_only_by_unknown_key_is_refused() -> None:
    """A note whose only signature is from a key not given is refused."""
    other = Signer.generate("other")
    with pytest.raises(NoteError, match="not signed by any trusted key"):
        open_note(GO_TEXT + "\n" + other.signature_line(GO_TEXT), GO_VERIFIER)


def test_unknown_signatures_are_ignored() -> None:
    """Signatures from keys not given (even garbage ones) do not prevent opening."""
    note = GO_NOTE + _unknown_line()
    assert open_note(note, GO_VERIFIER) == GO_TEXT


def test_bad_signature_from_known_key_is_refused_despite_a_good_one() -> None:
    """A known key's bad signature makes the note invalid even if another known key signed it."""
    good = Signer.generate("good")
    bad = Signer.generate("bad")
    forged = bad.signature_line("some other text\n")  # right key ID, wrong message
    note = GO_TEXT + "\n" + good.signature_line(GO_TEXT) + forged
    assert open_note(note, good.verifier().to_string()) == GO_TEXT
    with pytest.raises(NoteError, match="does not verify"):
        open_note(note, [good.verifier().to_string(), bad.verifier().to_string()])


def test_open_note_needs_a_verifier() -> None:
    """open_note with no verifier keys is refused."""
    with pytest.raises(NoteError):
        open_note(GO_NOTE, [])


# ---------------------------------------------------------------------------------------------
# Malformed notes.

_SIG = GO_NOTE[len(GO_TEXT) + 1 :]

MALFORMED = {
    "no-blank-line": GO_TEXT + _SIG,
    "no-final-newline": GO_NOTE[:-1],
    "tab-in-text": GO_TEXT.replace(" ", "\t", 1) + "\n" + _SIG,
    "carriage-return": GO_NOTE.replace("\n", "\r\n"),
    "nul-in-text": "\x00" + GO_NOTE,
    "no-signatures": GO_TEXT + "\n",
    "ascii-dash": GO_TEXT + "\n" + _SIG.replace("\u2014", "-"),
    "missing-base64": GO_TEXT + "\n\u2014 PeterNeumann\n",
    "bad-base64": GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJk!\n",
    "blob-too-short": GO_TEXT + "\n\u2014 PeterNeumann AAAA\n",
    "two-spaces": GO_TEXT + "\n" + _SIG.replace(" ", "  ", 1),
    "trailing-space": GO_TEXT + "\n" + _SIG[:-1] + " \n",
    "empty-signature-line": GO_NOTE + "\n",
    "plus-in-name": GO_TEXT + "\n" + _SIG.replace("PeterNeumann", "Peter+Neumann"),
    "line-separator-in-signatures": GO_NOTE[:-1] + "\u2028" + _unknown_line(),
    "next-line-in-signatures": GO_NOTE[:-1] + "\x85" + _unknown_line(),
    "101-signatures": GO_NOTE + "".join(_unknown_line(i) for i in range(100)),
}


@pytest.mark.parametrize("note", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_notes_are_refused(note: str) -> None:
    """Malformed notes raise NoteError, both when parsed and when opened."""
    with pytest.raises(NoteError):
        Note.from_text(note)
    with pytest.raises(NoteError):
        open_note(note, GO_VERIFIER)


def test_hundred_signatures_are_allowed() -> None:
    """A note with exactly 100 signature lines parses (the limit is inclusive)."""
    note = GO_NOTE + "".join(_unknown_line(i) for i in range(99))
    assert len(Note.from_text(note).signatures) == 100
    assert open_note(note, GO_VERIFIER) == GO_TEXT


def test_invalid_utf8_is_refused() -> None:
    """A note given as bytes that are not UTF-8 is refused."""
    with pytest.raises(NoteError):
        Note.from_text(b"\xff" + GO_NOTE.encode())


def test_text_may_contain_blank_lines() -> None:
    """Only the last blank line separates the text from the signatures."""
    text = "a\n\nb\n"
    note = sign_note(text, GO_SIGNER)
    assert Note.from_text(note).text == text
    assert open_note(note, GO_VERIFIER) == text


_PIECES = ["\n", "\n\n", " ", "\u2014 ", "\u2014", "+", "=", "/", "a", "Z", "0", "\t"]
_ALPHABET = st.sampled_from([*_PIECES, "\u2028", "\x85", _SIG, GO_TEXT, "AAAAAAAA", "x08go"])


@settings(max_examples=400, deadline=None)
@given(
    note=st.one_of(
        st.text(),
        st.lists(_ALPHABET, max_size=20).map("".join),
        st.binary(),
        st.lists(_ALPHABET, max_size=20).map(lambda parts: GO_TEXT + "\n" + "".join(parts)),
    )
)
def test_from_text_raises_only_note_error(note: str | bytes) -> None:
    """Note.from_text on arbitrary input either parses or raises NoteError, nothing else."""
    try:
        parsed = Note.from_text(note)
    except NoteError:
        return
    assert parsed.text.endswith("\n")
    assert parsed.signatures
