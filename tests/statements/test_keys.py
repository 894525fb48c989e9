"""Key files: NAME.key (0600, PRIVATE+KEY string) and NAME.pub (verifier string)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pausewatch.errors import ConfigurationError, SignatureError
from pausewatch.ledger import Signer, Verifier, open_note, sign_note
from pausewatch.statements import (
    KeyPair,
    check_name,
    key_fingerprint,
    load_key,
    load_or_create_key,
    load_public,
    public_key_of,
    signer_id,
    write_key,
)


def test_write_key_creates_private_and_public_files(tmp_path: Path) -> None:
    """write_key writes NAME.key (mode 0600, PRIVATE+KEY string) and NAME.pub (verifier)."""
    key = KeyPair.generate("alice")
    private, public = write_key(tmp_path / "keys", key)
    assert (private.name, public.name) == ("alice.key", "alice.pub")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("PRIVATE+KEY+alice+")
    assert Signer.from_string(private.read_text()).public_key == key.public_key
    verifier = Verifier.from_string(public.read_text())
    assert (verifier.name, verifier.public_key) == ("alice", key.public_key)
    assert public.read_text().startswith("alice+")


def test_write_key_refuses_to_overwrite(tmp_path: Path) -> None:
    """write_key refuses to replace an existing key, and leaves it untouched."""
    first = KeyPair.generate("alice")
    private, _ = write_key(tmp_path, first)
    before = private.read_text()
    with pytest.raises(ConfigurationError, match="already exists"):
        write_key(tmp_path, KeyPair.generate("alice"))
    assert private.read_text() == before


def test_write_key_overwrites_when_asked(tmp_path: Path) -> None:
    """write_key(overwrite=True) replaces the key and keeps mode 0600."""
    write_key(tmp_path, KeyPair.generate("alice"))
    second = KeyPair.generate("alice")
    private, _ = write_key(tmp_path, second, overwrite=True)
    assert load_key(tmp_path, "alice").public_key == second.public_key
    assert stat.S_IMODE(private.stat().st_mode) == 0o600


def test_load_key_round_trips(tmp_path: Path) -> None:
    """load_key returns a key with the same name and public key that signs verifiably."""
    key = KeyPair.generate("org.example/actor-1")
    write_key(tmp_path, key)
    loaded = load_key(tmp_path, "org.example/actor-1")
    assert (loaded.name, loaded.public_key) == (key.name, key.public_key)
    note = sign_note("hello\n", loaded.signer.to_string())
    assert open_note(note, key.verifier.to_string()) == "hello\n"


def test_load_public_round_trips(tmp_path: Path) -> None:
    """load_public returns the verifier written to NAME.pub."""
    key = KeyPair.generate("alice")
    write_key(tmp_path, key)
    assert load_public(tmp_path, "alice") == key.verifier


def test_load_key_refuses_a_file_holding_another_name(tmp_path: Path) -> None:
    """load_key refuses a key file whose key carries another name ('a/b' and 'a_b' share a file)."""
    write_key(tmp_path, KeyPair.generate("a_b"))
    with pytest.raises(ConfigurationError, match="a_b"):
        load_key(tmp_path, "a/b")


def test_load_missing_key_hints_at_keys_new(tmp_path: Path) -> None:
    """Loading a missing key raises ConfigurationError that says how to create it."""
    with pytest.raises(ConfigurationError, match="pausewatch keys new bob"):
        load_key(tmp_path, "bob")


def test_load_missing_public_key(tmp_path: Path) -> None:
    """Loading a missing public key raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match="bob"):
        load_public(tmp_path, "bob")


def test_load_malformed_key_file(tmp_path: Path) -> None:
    """A key file that is not a signer key string raises ConfigurationError."""
    (tmp_path / "alice.key").write_text("not a key\n")
    with pytest.raises(ConfigurationError, match="malformed"):
        load_key(tmp_path, "alice")


def test_load_or_create_key_creates_once(tmp_path: Path) -> None:
    """load_or_create_key creates the key the first time and loads the same key afterwards."""
    created = load_or_create_key(tmp_path, "log")
    assert (tmp_path / "log.key").exists()
    assert load_or_create_key(tmp_path, "log").public_key == created.public_key


@pytest.mark.parametrize(
    "name",
    ["", "../evil", "a..b", "a b", "-dash", ".hidden", "/abs", "a+b", "é", "x" * 129, "a\nb"],
)
def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    """Names that are empty, traverse, contain spaces, '+' or non-ASCII are refused."""
    with pytest.raises(ConfigurationError):
        check_name(name)
    with pytest.raises(ConfigurationError):
        KeyPair.generate(name)
    with pytest.raises(ConfigurationError):
        load_key(tmp_path, name)
    assert list(tmp_path.iterdir()) == []


def test_signer_id_round_trips() -> None:
    """signer_id and public_key_of are inverse; the fingerprint is 16 hex digits."""
    key = KeyPair.generate("alice")
    assert key.signer_id == signer_id(key.public_key)
    assert key.signer_id.startswith("ed25519:")
    assert public_key_of(key.signer_id) == key.public_key
    assert key.fingerprint == key_fingerprint(key.public_key)
    assert len(key.fingerprint) == 16
    int(key.fingerprint, 16)


def test_public_key_of_refuses_other_prefix() -> None:
    """public_key_of refuses a signer that does not start with 'ed25519:'."""
    with pytest.raises(SignatureError):
        public_key_of("ssh-ed25519:" + "A" * 44)


def test_load_public_refuses_a_file_holding_another_name(tmp_path: Path) -> None:
    """load_public refuses a NAME.pub whose verifier carries another name."""
    write_key(tmp_path, KeyPair.generate("a_b"))
    with pytest.raises(ConfigurationError, match="a_b"):
        load_public(tmp_path, "a/b")


def test_load_malformed_public_key_file(tmp_path: Path) -> None:
    """A NAME.pub that is not a verifier key string raises ConfigurationError."""
    (tmp_path / "alice.pub").write_text("alice+00000000+AAAA\n")
    with pytest.raises(ConfigurationError, match="malformed"):
        load_public(tmp_path, "alice")
