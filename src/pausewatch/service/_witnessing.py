"""The log side of C2SP tlog-witness: send each new checkpoint to the witnesses, keep their
cosignatures.

A background thread wakes after every integrated batch, takes the newest checkpoint and posts it
to each witness's ``add-checkpoint`` with a consistency proof from the size that witness last
cosigned. A 409 answer tells the true size; the request is then retried once from there.

Before a process starts to sequence (a single server at start, a replica at takeover), it asks
every witness where it stands on this log (:func:`check_witnesses`): a witness that cosigned a
checkpoint the database does not hold means the database lost entries the log had signed, and
the process refuses to sequence rather than sign a second checkpoint of a size already signed
(docs/adr/0063-witnesses-checked-before-sequencing.md).
"""

from __future__ import annotations

import base64
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from pausewatch.errors import ConfigurationError, ConsistencyError, Error
from pausewatch.ledger import UNSAFE_FLAG, PersistentLog, Verifier

_logger = logging.getLogger("pausewatch.witnessing")


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the log asks for cosignatures: its submission prefix and its key."""

    url: str
    verifier: Verifier


def parse_roster(text: str) -> list[WitnessEndpoint]:
    """Parse ``<url> <verifier key>`` lines ('#' starts a comment)."""
    out: list[WitnessEndpoint] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].startswith(("http://", "https://")):
            raise ConfigurationError(
                f"witness roster line {n}: expected '<http(s) url> <verifier key>', got {raw!r}"
            )
        try:
            verifier = Verifier.from_string(parts[1])
        except Error as exc:
            raise ConfigurationError(f"witness roster line {n}: {exc}") from exc
        out.append(WitnessEndpoint(parts[0].rstrip("/"), verifier))
    names = [w.verifier.name for w in out]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"witness roster: duplicate witness names in {names}")
    return out


def load_roster(path: Path | None) -> list[WitnessEndpoint]:
    """The roster in ``path`` (none if ``path`` is None)."""
    if path is None:
        return []
    try:
        return parse_roster(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigurationError(f"witness roster {path} does not exist") from exc


def add_checkpoint_body(old_size: int, proof: list[bytes], note: str) -> bytes:
    """The request body of tlog-witness ``add-checkpoint``."""
    lines = [f"old {old_size}\n"] + [base64.b64encode(h).decode() + "\n" for h in proof]
    return ("".join(lines) + "\n" + note).encode()


CHECK_TIMEOUT_S = 5.0
"""How long :func:`check_witnesses` waits for each witness (they are asked at once)."""

_CHECK_ADR = "docs/adr/0063-witnesses-checked-before-sequencing.md"
_SIZE_TYPE = "text/x.tlog.size"


@dataclass(frozen=True)
class WitnessPosition:
    """Where one witness stands on this log, as it answered ``add-checkpoint`` with the log's
    newest checkpoint and an old size equal to that checkpoint's."""

    witness: str
    url: str
    size: int | None
    """The size of the newest checkpoint of this log the witness cosigned, as it said (None:
    it could not be asked, or did not say)."""
    conflict: str | None = None
    """Why this witness's answer contradicts the database (None: it does not)."""
    unknown: str | None = None
    """Why the witness could not tell where it stands (unreachable, an answer the protocol
    does not give for this request); None when it told."""


def _said(text: str) -> str:
    """A witness's answer as a short single line (it is quoted in a one-line refusal)."""
    return " ".join(text.split())[:200]


def _size_in(resp: httpx.Response) -> int | None:
    """The size a witness's 409 answer gives (c2sp.org/tlog-witness: ``text/x.tlog.size``),
    None for any other answer; :class:`ValueError` for a size answer that holds no number."""
    if resp.status_code != 409 or not resp.headers.get("content-type", "").startswith(_SIZE_TYPE):
        return None
    return int(resp.text.strip())


def _ask(
    client: httpx.Client, log: PersistentLog, size: int, note: str, w: WitnessEndpoint
) -> WitnessPosition:
    """Where witness ``w`` stands: shown ``note`` (the checkpoint of ``size``) with old size
    ``size``, and, if it lags, the consistency proof from where it is (:func:`_ask_from`)."""
    name = w.verifier.name
    try:
        resp = client.post(f"{w.url}/add-checkpoint", content=add_checkpoint_body(size, [], note))
    except httpx.HTTPError as exc:
        return WitnessPosition(name, w.url, None, unknown=f"unreachable: {_said(str(exc))}")
    if resp.status_code == 200:  # it cosigned this very checkpoint (again)
        return WitnessPosition(name, w.url, size)
    try:
        theirs = _size_in(resp)
    except ValueError:
        return WitnessPosition(
            name, w.url, None, unknown=f"answered 409 with no size: {_said(resp.text)!r}"
        )
    if theirs is not None:
        if theirs > size:
            return WitnessPosition(
                name, w.url, theirs, conflict=f"it cosigned a checkpoint of size {theirs}"
            )
        return _ask_from(client, log, size, note, w, theirs)
    if resp.status_code == 409:  # same size, another root (c2sp.org/tlog-witness)
        return WitnessPosition(
            name,
            w.url,
            size,
            conflict=f"it cosigned another checkpoint of size {size} ({_said(resp.text)})",
        )
    return WitnessPosition(
        name, w.url, None, unknown=f"answered {resp.status_code}: {_said(resp.text)}"
    )


def _ask_from(
    client: httpx.Client, log: PersistentLog, size: int, note: str, w: WitnessEndpoint, theirs: int
) -> WitnessPosition:
    """A witness that lags, at ``theirs``: the database's checkpoint must extend the one it
    cosigned there. It is sent the consistency proof from ``theirs``; a witness whose checkpoint
    is not a prefix of the database's tree refuses it (422)."""
    name = w.verifier.name
    try:
        proof = log.consistency_proof(theirs, size)
        resp = client.post(
            f"{w.url}/add-checkpoint", content=add_checkpoint_body(theirs, proof, note)
        )
    except httpx.HTTPError as exc:
        return WitnessPosition(name, w.url, theirs, unknown=f"unreachable: {_said(str(exc))}")
    if resp.status_code == 200:  # it had cosigned a prefix of this tree, and now this one
        return WitnessPosition(name, w.url, theirs)
    if resp.status_code == 422:
        return WitnessPosition(
            name,
            w.url,
            theirs,
            conflict=(
                f"the checkpoint of size {theirs} it cosigned is not a prefix of the database's "
                f"tree ({_said(resp.text)})"
            ),
        )
    # Moved meanwhile (another process sends it checkpoints), or another answer: it said where
    # it stood, and that does not contradict the database.
    return WitnessPosition(name, w.url, theirs)


def witness_positions(
    log: PersistentLog,
    witnesses: list[WitnessEndpoint],
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = CHECK_TIMEOUT_S,
) -> list[WitnessPosition]:
    """Ask every witness, all at once, where it stands on this log: each is sent the log's
    newest checkpoint (:meth:`PersistentLog.current_note`) with an old size equal to its size.
    A witness at that checkpoint cosigns it again (200); one at another size answers 409 with
    that size; one that cosigned another root at that size answers 409 without a size. A
    witness behind is then sent the consistency proof from its size, which it checks against
    the root it cosigned there."""
    if not witnesses:
        return []
    size, note = log.current_note()
    with (
        httpx.Client(timeout=timeout, transport=transport) as client,
        ThreadPoolExecutor(len(witnesses), thread_name_prefix="pausewatch-witness-check") as pool,
    ):
        return list(pool.map(lambda w: _ask(client, log, size, note, w), witnesses))


def check_witnesses(
    log: PersistentLog,
    witnesses: list[WitnessEndpoint],
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = CHECK_TIMEOUT_S,
    unsafe: bool = False,
) -> list[WitnessPosition]:
    """Before this process sequences the log: refuse (:class:`ConsistencyError`, one line) if
    any witness cosigned a checkpoint the database does not hold: a larger size, another root at
    its size, or a smaller checkpoint its tree does not extend. The log signed it, so the
    database lost entries it had acknowledged (or holds another history), and sequencing on it
    would sign a second checkpoint of a size already signed (a fork). ``unsafe``
    (``--unsafe-trust-database``) logs the contradiction and goes on. A witness that cannot be
    asked is logged and does not stop the start. Returns every witness's answer."""
    positions = witness_positions(log, witnesses, transport=transport, timeout=timeout)
    for p in positions:
        if p.unknown is not None:
            _logger.warning(
                "witness %s (%s) could not say where it stands on the log (%s); starting to "
                "sequence at %d entries without its word",
                p.witness,
                p.url,
                p.unknown,
                log.size,
            )
    conflicts = [p for p in positions if p.conflict is not None]
    if not conflicts:
        return positions
    said = "; ".join(f"witness {p.witness} ({p.url}): {p.conflict}" for p in conflicts)
    problem = (
        f"the database holds {log.size} entries of log {log.origin}, but {said}: the log signed "
        "a checkpoint this database does not hold, so the database was rolled back or replaced "
        "(docs/deployment.md, How to restore)"
    )
    if not unsafe:
        raise ConsistencyError(
            f"{problem}; restore the newest copy of the database, or start once with "
            f"{UNSAFE_FLAG} to fork the log from this one ({_CHECK_ADR})"
        )
    _logger.error(
        "%s: sequencing anyway; this log will sign a second checkpoint of a size it already "
        "signed, a fork that witnesses refuse and auditors report: %s",
        UNSAFE_FLAG,
        problem,
    )
    return positions


class WitnessDistributor:
    """Background sender of checkpoints to witnesses."""

    def __init__(
        self,
        log: PersistentLog,
        witnesses: list[WitnessEndpoint],
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._log = log
        self.witnesses = witnesses
        self._known: dict[str, int] = {}
        for w in witnesses:
            self._known[w.verifier.name] = log.cosigned_sizes(w.verifier.name) or 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self.failures = 0

    def notify(self, _size: int = 0) -> None:
        """Ask for a round (called after each integrated batch)."""
        self._wake.set()

    def start(self) -> WitnessDistributor:
        """Start the background thread (a no-op without witnesses)."""
        if self.witnesses and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="pausewatch-witnessing", daemon=True
            )
            self._thread.start()
            self._wake.set()
        return self

    def stop(self) -> None:
        """Stop the thread and close connections."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        self._client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(5.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.round()
            except Exception:
                self.failures += 1
                _logger.exception("witness round failed")

    def round(self) -> int:
        """Send the newest checkpoint to every witness that lacks it; return cosignatures got."""
        size, note = self._log.latest()  # together: the sequencer may append meanwhile
        if note is None or size == 0:
            return 0
        got = 0
        for w in self.witnesses:
            if self._known.get(w.verifier.name, 0) >= size:
                continue
            if self._send(w, size, note):
                got += 1
        return got

    def _send(self, w: WitnessEndpoint, size: int, note: str) -> bool:
        name = w.verifier.name
        for _attempt in range(2):
            old = min(self._known.get(name, 0), size)
            proof = self._log.consistency_proof(old, size)
            try:
                resp = self._client.post(
                    f"{w.url}/add-checkpoint", content=add_checkpoint_body(old, proof, note)
                )
            except httpx.HTTPError as exc:
                self.failures += 1
                _logger.warning("witness %s unreachable: %s", name, exc)
                return False
            if resp.status_code == 200:
                self._log.add_cosignature(size, w.verifier, note + resp.text)
                self._known[name] = size
                return True
            try:
                theirs = _size_in(resp)
            except ValueError:
                break
            if theirs is not None:
                self._known[name] = theirs
                if theirs > size:
                    _logger.error("witness %s claims size %s > log size %s", name, resp.text, size)
                    break
                continue
            break
        self.failures += 1
        _logger.warning("witness %s refused checkpoint %d: %s", name, size, resp.status_code)
        return False
