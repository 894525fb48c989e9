"""The tlog-witness state machine over the in-memory store, with real keys, trees and notes."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pausewatch.errors import ConfigurationError
from pausewatch.ledger import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    MerkleTree,
    SignedCheckpoint,
    Signer,
    Verifier,
    open_note,
    sign_checkpoint,
)
from pausewatch.witness import (
    CONTENT_TYPE_SIZE,
    CONTENT_TYPE_TEXT,
    MemoryWitnessStore,
    RequestError,
    Witness,
    WitnessError,
    load_witness,
    parse_add_checkpoint,
    parse_trusted_logs,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
ORIGIN = "example.org/pausewatch-log"


class FakeLog:
    """A log: a real Merkle tree and a real Ed25519 key named after its origin."""

    def __init__(self, origin: str = ORIGIN, signer: Signer | None = None, seed: str = "") -> None:
        self.signer = signer or Signer.generate(origin)
        self.origin = origin
        self.tree = MerkleTree()
        self.seed = seed

    def grow(self, n: int) -> None:
        for _ in range(n):
            self.tree.append(f"{self.seed}entry {self.tree.size}".encode())

    def checkpoint(self, size: int | None = None) -> Checkpoint:
        size = self.tree.size if size is None else size
        return Checkpoint(self.origin, size, self.tree.root(size))

    def note(self, size: int | None = None) -> str:
        return sign_checkpoint(self.checkpoint(size), self.signer)

    def body(self, old: int, size: int | None = None, note: str | None = None) -> bytes:
        size = self.tree.size if size is None else size
        proof = self.tree.consistency_proof(old, size) if old else []
        return request(old, proof, note or self.note(size))


def request(old: int | str, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}", *(base64.b64encode(p).decode() for p in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


@pytest.fixture
def log() -> FakeLog:
    log = FakeLog()
    log.grow(8)
    return log


@pytest.fixture
def witness_key() -> Signer:
    return Signer.generate("witness.example/w1")


@pytest.fixture
def witness(witness_key: Signer, log: FakeLog) -> Witness:
    return Witness(witness_key, {ORIGIN: [log.signer.verifier()]}, MemoryWitnessStore())


def test_first_checkpoint_is_cosigned(witness: Witness, witness_key: Signer, log: FakeLog) -> None:
    """A first checkpoint with old 0 gets 200 and a cosignature line that verifies."""
    note = log.note(5)
    resp = witness.add_checkpoint(request(0, [], note), NOW)
    assert (resp.status, resp.content_type) == (200, CONTENT_TYPE_TEXT)
    assert resp.body.startswith("\u2014 witness.example/w1 ")
    assert resp.body.endswith("\n")
    vkey = witness_key.verifier(ALG_COSIGNATURE_V1).to_string()
    assert open_note(note + resp.body, [vkey]) == log.checkpoint(5).to_text()
    signed = SignedCheckpoint.open(note + resp.body, log.signer.verifier(), [witness.verifier])
    assert [c.timestamp for c in signed.cosignatures] == [int(NOW.timestamp())]
    assert witness.latest(ORIGIN) is not None


def test_growth_with_valid_proof(witness: Witness, log: FakeLog) -> None:
    """Growing from the latest cosigned size with a valid consistency proof gets 200."""
    assert witness.add_checkpoint(log.body(0, 3), NOW).status == 200
    assert witness.add_checkpoint(log.body(3, 8), NOW).status == 200
    log.grow(9)
    assert witness.add_checkpoint(log.body(8), NOW).status == 200
    state = witness.latest(ORIGIN)
    assert state is not None
    assert (state.size, state.root) == (17, log.tree.root())


def test_same_checkpoint_again_is_cosigned(witness: Witness, log: FakeLog) -> None:
    """Resubmitting the latest checkpoint (old == size, same root, no proof) gets 200."""
    assert witness.add_checkpoint(log.body(0, 4), NOW).status == 200
    assert witness.add_checkpoint(log.body(4, 4), NOW).status == 200


def test_empty_tree_checkpoint(witness: Witness, log: FakeLog) -> None:
    """A size-0 checkpoint with the empty-tree root is cosigned, and growth from it works."""
    assert witness.add_checkpoint(log.body(0, 0), NOW).status == 200
    assert witness.add_checkpoint(log.body(0, 8), NOW).status == 200


def test_wrong_old_size_when_never_cosigned(witness: Witness, log: FakeLog) -> None:
    """An old size other than 0 for a never-cosigned log gets 409 with body '0'."""
    resp = witness.add_checkpoint(log.body(4, 8), NOW)
    assert (resp.status, resp.content_type, resp.body) == (409, CONTENT_TYPE_SIZE, "0\n")


def test_wrong_old_size_reports_latest(witness: Witness, log: FakeLog) -> None:
    """An old size that is not the latest cosigned one gets 409 text/x.tlog.size with it."""
    assert witness.add_checkpoint(log.body(0, 5), NOW).status == 200
    for old in (0, 3, 6):
        resp = witness.add_checkpoint(log.body(old, 8), NOW)
        assert (resp.status, resp.content_type, resp.body) == (409, CONTENT_TYPE_SIZE, "5\n")


def test_never_cosigns_smaller(witness: Witness, log: FakeLog) -> None:
    """After cosigning size 8, a checkpoint of size 4 is refused whatever the old size."""
    assert witness.add_checkpoint(log.body(0, 8), NOW).status == 200
    assert witness.add_checkpoint(log.body(4, 4), NOW).body == "8\n"
    assert witness.add_checkpoint(log.body(0, 4), NOW).status == 409
    assert witness.add_checkpoint(request(8, [], log.note(4)), NOW).status == 400


def test_same_size_different_root(witness: Witness, log: FakeLog) -> None:
    """Old size equal to the checkpoint size with a different root gets 422 (c2sp.org/tlog-witness
    since its 2026 revision; 409 before it, which logs' witness checks still read as the same)."""
    assert witness.add_checkpoint(log.body(0, 4), NOW).status == 200
    fork = FakeLog(signer=log.signer, seed="fork ")
    fork.grow(4)
    resp = witness.add_checkpoint(fork.body(4, 4), NOW)
    assert (resp.status, resp.content_type) == (422, CONTENT_TYPE_TEXT)


def test_size_zero_with_wrong_root(witness: Witness, log: FakeLog) -> None:
    """A size-0 checkpoint whose root is not the empty-tree root gets 422 (c2sp.org/tlog-witness:
    "A checkpoint of size zero MUST have the root hash of the empty tree")."""
    note = sign_checkpoint(Checkpoint(ORIGIN, 0, b"\x01" * 32), log.signer)
    assert witness.add_checkpoint(request(0, [], note), NOW).status == 422


def test_bad_proof(witness: Witness, log: FakeLog) -> None:
    """A consistency proof with a flipped byte gets 422 and records nothing."""
    assert witness.add_checkpoint(log.body(0, 3), NOW).status == 200
    proof = log.tree.consistency_proof(3, 8)
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    resp = witness.add_checkpoint(request(3, proof, log.note(8)), NOW)
    assert (resp.status, resp.content_type) == (422, CONTENT_TYPE_TEXT)
    state = witness.latest(ORIGIN)
    assert state is not None
    assert state.size == 3


@pytest.mark.parametrize("proof_len", [0, 1, 10])
def test_wrong_length_proof(witness: Witness, log: FakeLog, proof_len: int) -> None:
    """A proof with the wrong number of hashes gets 422."""
    assert witness.add_checkpoint(log.body(0, 3), NOW).status == 200
    proof = (log.tree.consistency_proof(3, 8) * 10)[:proof_len]
    assert witness.add_checkpoint(request(3, proof, log.note(8)), NOW).status == 422


def test_nonempty_proof_from_zero(witness: Witness, log: FakeLog) -> None:
    """A non-empty proof with old size 0 gets 422."""
    body = request(0, [log.tree.root(1)], log.note(8))
    assert witness.add_checkpoint(body, NOW).status == 422


def test_fork_is_refused(witness: Witness, log: FakeLog) -> None:
    """A larger tree that does not extend the cosigned one (a fork) gets 422."""
    assert witness.add_checkpoint(log.body(0, 4), NOW).status == 200
    fork = FakeLog(signer=log.signer, seed="fork ")
    fork.grow(8)
    assert witness.add_checkpoint(fork.body(4, 8), NOW).status == 422


def test_unknown_origin(witness: Witness) -> None:
    """A checkpoint from an origin the witness does not trust gets 404."""
    other = FakeLog("other.example/log")
    other.grow(2)
    resp = witness.add_checkpoint(other.body(0), NOW)
    assert (resp.status, resp.content_type) == (404, CONTENT_TYPE_TEXT)


def test_untrusted_key(witness: Witness, log: FakeLog) -> None:
    """A checkpoint signed only by an untrusted key (same name, other key) gets 403."""
    impostor = FakeLog(signer=Signer.generate(ORIGIN))
    impostor.grow(8)
    assert witness.add_checkpoint(impostor.body(0), NOW).status == 403


def test_invalid_signature_by_trusted_key(witness: Witness, log: FakeLog) -> None:
    """A trusted key's signature line that does not verify gets 403."""
    note = log.note(8)
    text, sig_line = note.rsplit("\n\n", 1)
    prefix, blob = sig_line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    bad = f"{text}\n\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    assert witness.add_checkpoint(request(0, [], bad), NOW).status == 403


def test_unknown_extra_signatures_ignored(witness: Witness, log: FakeLog) -> None:
    """Signatures from unknown keys next to a trusted one are ignored: 200."""
    note = log.note(8)
    extra = Signer.generate("someone.else").signature_line(log.checkpoint(8).to_text())
    assert witness.add_checkpoint(request(0, [], note + extra), NOW).status == 200


def test_any_trusted_key_suffices(witness_key: Signer, log: FakeLog) -> None:
    """With two trusted keys for one origin, a checkpoint signed by the second gets 200."""
    second = Signer.generate(ORIGIN)
    w = Witness(
        witness_key, {ORIGIN: [log.signer.verifier(), second.verifier()]}, MemoryWitnessStore()
    )
    note = sign_checkpoint(log.checkpoint(8), second)
    assert w.add_checkpoint(request(0, [], note), NOW).status == 200


def test_old_greater_than_size(witness: Witness, log: FakeLog) -> None:
    """An old size greater than the checkpoint size gets 400."""
    assert witness.add_checkpoint(request(9, [], log.note(8)), NOW).status == 400


MALFORMED: dict[str, Callable[[str], bytes]] = {
    "missing old line": lambda n: ("\n" + n).encode(),
    "no old line at all": lambda n: n.encode(),
    "leading zeros": lambda n: ("old 00\n\n" + n).encode(),
    "leading zero": lambda n: ("old 01\n\n" + n).encode(),
    "negative": lambda n: ("old -1\n\n" + n).encode(),
    "two spaces": lambda n: ("old  0\n\n" + n).encode(),
    "capitalised": lambda n: ("Old 0\n\n" + n).encode(),
    "huge old size": lambda n: ("old " + "9" * 25 + "\n\n" + n).encode(),
    "non-base64 proof line": lambda n: ("old 0\nnot base64!\n\n" + n).encode(),
    "short proof hash": lambda n: (
        "old 0\n" + base64.b64encode(b"x" * 31).decode() + "\n\n" + n
    ).encode(),
    "too many proof lines": lambda n: request(0, [b"\x00" * 32] * 64, n),
    "no blank line": lambda n: b"old 0\n",
    "no newline at all": lambda n: b"old 0",
    "empty body": lambda n: b"",
    "crlf": lambda n: ("old 0\r\n\r\n" + n).encode(),
    "note without signatures": lambda n: b"old 0\n\n" + n.split("\n\n")[0].encode() + b"\n",
    "garbage note": lambda n: b"old 0\n\nhello\n\nworld\n",
    "not utf-8": lambda n: b"old 0\n\n\xff\xfe" + n.encode(),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_bodies(witness: Witness, log: FakeLog, case: str) -> None:
    """Each malformed request body gets 400 text/plain."""
    resp = witness.add_checkpoint(MALFORMED[case](log.note(8)), NOW)
    assert (resp.status, resp.content_type) == (400, CONTENT_TYPE_TEXT), resp.body


def test_malformed_checkpoint_body(witness: Witness, log: FakeLog) -> None:
    """A validly signed note whose text is not a checkpoint gets 400."""
    text = f"{ORIGIN}\n8\n"
    note = text + "\n" + log.signer.signature_line(text)
    assert witness.add_checkpoint(request(0, [], note), NOW).status == 400


def test_63_proof_lines_parse() -> None:
    """Exactly 63 proof lines are accepted by the parser; 64 are not."""
    log = FakeLog()
    log.grow(1)
    assert len(parse_add_checkpoint(request(0, [b"\x00" * 32] * 63, log.note())).proof) == 63
    with pytest.raises(RequestError):
        parse_add_checkpoint(request(0, [b"\x00" * 32] * 64, log.note()))


def test_naive_time_rejected(witness: Witness, log: FakeLog) -> None:
    """A naive datetime for ``now`` is a programming error (WitnessError)."""
    with pytest.raises(WitnessError):
        witness.add_checkpoint(log.body(0), datetime(2025, 1, 1))  # noqa: DTZ001


def test_bad_configuration(witness_key: Signer, log: FakeLog) -> None:
    """A log key of cosignature type or an empty key list is refused."""
    with pytest.raises(WitnessError):
        Witness(
            witness_key, {ORIGIN: [log.signer.verifier(ALG_COSIGNATURE_V1)]}, MemoryWitnessStore()
        )
    with pytest.raises(WitnessError):
        Witness(witness_key, {ORIGIN: []}, MemoryWitnessStore())


def test_parse_trusted_logs(log: FakeLog) -> None:
    """The logs file groups keys by name (the origin), skipping blanks and '#' comments."""
    second = Signer.generate(ORIGIN).verifier()
    other = Signer.generate("other.example/log").verifier()
    text = (
        "# trusted logs\n\n"
        f"{log.signer.verifier().to_string()}  # current key\n"
        f"{second.to_string()}\n{other.to_string()}\n{other.to_string()}\n"
    )
    logs = parse_trusted_logs(text)
    assert logs == {ORIGIN: [log.signer.verifier(), second], "other.example/log": [other]}


def test_parse_trusted_logs_errors(log: FakeLog) -> None:
    """A bad or cosignature-type key line is a ConfigurationError naming the line."""
    with pytest.raises(ConfigurationError, match="line 2"):
        parse_trusted_logs("# x\nnot-a-key\n")
    cosig = log.signer.verifier(ALG_COSIGNATURE_V1).to_string()
    with pytest.raises(ConfigurationError, match="type 0x04"):
        parse_trusted_logs(cosig + "\n")


def test_load_witness(tmp_path: Path, witness_key: Signer, log: FakeLog) -> None:
    """load_witness reads the key file and logs file into a working Witness."""
    key_file = tmp_path / "witness.key"
    key_file.write_text(witness_key.to_string() + "\n")
    logs_file = tmp_path / "logs.txt"
    logs_file.write_text(log.signer.verifier().to_string() + "\n")
    w = load_witness(key_file, logs_file, MemoryWitnessStore())
    assert (w.name, w.origins) == ("witness.example/w1", [ORIGIN])
    assert w.verifier == Verifier(w.name, ALG_COSIGNATURE_V1, witness_key.public_key)
    assert w.add_checkpoint(log.body(0), NOW).status == 200


def test_load_witness_errors(tmp_path: Path, witness_key: Signer) -> None:
    """Missing files, a bad key and an empty logs file are ConfigurationErrors."""
    key_file = tmp_path / "witness.key"
    logs_file = tmp_path / "logs.txt"
    with pytest.raises(ConfigurationError):
        load_witness(key_file, logs_file, MemoryWitnessStore())
    key_file.write_text("PRIVATE+KEY+nonsense\n")
    logs_file.write_text("# nothing\n")
    with pytest.raises(ConfigurationError):
        load_witness(key_file, logs_file, MemoryWitnessStore())
    key_file.write_text(witness_key.to_string())
    with pytest.raises(ConfigurationError, match="at least one"):
        load_witness(key_file, logs_file, MemoryWitnessStore())
