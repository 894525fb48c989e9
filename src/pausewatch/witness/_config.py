"""Witness configuration: the witness key file and the list of trusted log keys.

The key file holds one signer key string ``PRIVATE+KEY+<name>+<hash>+<base64>`` (the format of
``golang.org/x/mod/sumdb/note``); its name is the witness name. The logs file holds one log
verifier key string ``<name>+<hash>+<base64>`` (Ed25519, type 0x01) per line, ``#`` starting a
comment; following the C2SP convention, the key name is the log's origin line
(c2sp.org/tlog-checkpoint). Several keys with one name are several trusted keys of that log.
"""

from __future__ import annotations

import re
from pathlib import Path

from pausewatch.errors import ConfigurationError, NoteError
from pausewatch.ledger import ALG_ED25519, Signer, Verifier
from pausewatch.witness._core import Witness, WitnessStore

_COMMENT = re.compile(r"(^|\s)#.*$")


def parse_trusted_logs(text: str) -> dict[str, list[Verifier]]:
    """Parse a logs file: one Ed25519 verifier key per line, keyed by origin (the key name).

    Blank lines and ``#`` comments (at the start of a line or after a space) are skipped.
    Raises :class:`ConfigurationError` naming the line of a bad key.
    """
    logs: dict[str, list[Verifier]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        try:
            key = Verifier.from_string(line)
        except NoteError as exc:
            raise ConfigurationError(f"trusted logs, line {number}: {exc}") from exc
        if key.alg != ALG_ED25519:
            raise ConfigurationError(
                f"trusted logs, line {number}: expected an Ed25519 (type 0x01) log key, "
                f"got type 0x{key.alg:02x}"
            )
        keys = logs.setdefault(key.name, [])
        if key not in keys:
            keys.append(key)
    return logs


def load_signer(key_file: Path) -> Signer:
    """Read the witness's ``PRIVATE+KEY+...`` key string from ``key_file``."""
    try:
        text = key_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"witness key file {key_file}: cannot read it: {exc}") from exc
    try:
        return Signer.from_string(text.strip())
    except NoteError as exc:
        raise ConfigurationError(f"witness key file {key_file}: {exc}") from exc


def load_trusted_logs(logs_file: Path) -> dict[str, list[Verifier]]:
    """Read and parse the trusted logs file; it must name at least one log."""
    try:
        text = logs_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"trusted logs file {logs_file}: cannot read it: {exc}") from exc
    logs = parse_trusted_logs(text)
    if not logs:
        raise ConfigurationError(f"trusted logs file {logs_file}: expected at least one log key")
    return logs


def load_witness(key_file: Path, logs_file: Path, store: WitnessStore) -> Witness:
    """A :class:`Witness` from its key file and trusted logs file, recording state in ``store``."""
    return Witness(load_signer(key_file), load_trusted_logs(logs_file), store)
