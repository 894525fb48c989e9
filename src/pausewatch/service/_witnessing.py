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
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
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
"""How long :func:`check_witnesses` waits for the witnesses in each of its two steps (they are
asked at once; one that has not answered by then is taken as out of reach)."""

_CHECK_ROUNDS = 3
"""Requests a lagging witness is sent at most while it moves (another process sends it
checkpoints meanwhile)."""

_CHECK_ADR = "docs/adr/0063-witnesses-checked-before-sequencing.md"
_SIZE_TYPE = "text/x.tlog.size"
_SIZE = re.compile(r"[0-9]{1,20}\n?")


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
    """The size a witness's 409 answer gives (c2sp.org/tlog-witness: a decimal and a newline,
    ``text/x.tlog.size``), None for any other answer; :class:`ValueError` for a size answer
    that holds no size. A 409 whose body is a size is read as one whatever its content type
    says: since the spec's 2026 revision every 409 carries the witness's size."""
    if resp.status_code != 409:
        return None
    if _SIZE.fullmatch(resp.text):
        return int(resp.text)
    if resp.headers.get("content-type", "").startswith(_SIZE_TYPE):
        raise ValueError(f"not a tree size: {_said(resp.text)!r}")
    return None


def _position(w: WitnessEndpoint, size: int | None, **why: str) -> WitnessPosition:
    return WitnessPosition(w.verifier.name, w.url, size, **why)


def _probe(client: httpx.Client, size: int, note: str, w: WitnessEndpoint) -> WitnessPosition | int:
    """The first step: witness ``w`` is shown ``note`` (the checkpoint of ``size``) with old
    size ``size`` and no proof, which changes nothing unless it stands at that checkpoint (it
    cosigns it again). Returns where it stands, or the smaller size it cosigned (a witness
    behind, whose checkpoint there is checked in the second step)."""
    try:
        resp = client.post(f"{w.url}/add-checkpoint", content=add_checkpoint_body(size, [], note))
    except httpx.HTTPError as exc:
        return _position(w, None, unknown=f"unreachable: {_said(str(exc))}")
    if resp.status_code == 200:  # it cosigned this very checkpoint (again)
        return _position(w, size)
    if resp.status_code == 422:  # same size, another root (c2sp.org/tlog-witness)
        return _position(
            w, size, conflict=f"it cosigned another checkpoint of size {size} ({_said(resp.text)})"
        )
    try:
        theirs = _size_in(resp)
    except ValueError as exc:
        return _position(w, None, unknown=f"answered 409 with {exc}")
    if theirs is not None:
        if theirs > size:
            return _position(w, theirs, conflict=f"it cosigned a checkpoint of size {theirs}")
        return theirs
    if resp.status_code == 409:  # the same, as the spec answered it before its 2026 revision
        return _position(
            w, size, conflict=f"it cosigned another checkpoint of size {size} ({_said(resp.text)})"
        )
    return _position(w, None, unknown=f"answered {resp.status_code}: {_said(resp.text)}")


def _catch_up(
    client: httpx.Client,
    log: PersistentLog,
    size: int,
    note: str,
    w: WitnessEndpoint,
    theirs: int,
) -> WitnessPosition:
    """The second step, for a witness behind at ``theirs``: the database's checkpoint must
    extend the one it cosigned there. It is sent the consistency proof from ``theirs``; a
    witness whose checkpoint is not a prefix of the database's tree refuses it (422). A witness
    that moved meanwhile is asked again from where it says it is."""
    for _round in range(_CHECK_ROUNDS):
        try:
            proof = log.consistency_proof(theirs, size)
        except Error as exc:
            return _position(w, theirs, unknown=f"no proof from its size: {exc}")
        try:
            resp = client.post(
                f"{w.url}/add-checkpoint", content=add_checkpoint_body(theirs, proof, note)
            )
        except httpx.HTTPError as exc:
            return _position(w, theirs, unknown=f"unreachable: {_said(str(exc))}")
        if resp.status_code == 200:  # it had cosigned a prefix of this tree, and now this one
            return _position(w, theirs)
        if resp.status_code == 422:
            return _position(
                w,
                theirs,
                conflict=(
                    f"the checkpoint of size {theirs} it cosigned is not a prefix of the "
                    f"database's tree ({_said(resp.text)})"
                ),
            )
        try:
            moved = _size_in(resp)
        except ValueError as exc:
            return _position(w, theirs, unknown=f"answered 409 with {exc}")
        if moved is None:
            if resp.status_code == 409 and theirs == size:  # before the spec's 2026 revision
                return _position(w, size, conflict=f"it cosigned another checkpoint of size {size}")
            return _position(w, theirs, unknown=f"answered {resp.status_code}: {_said(resp.text)}")
        if moved > size:
            return _position(w, moved, conflict=f"it cosigned a checkpoint of size {moved}")
        theirs = moved
    return _position(w, theirs, unknown=f"it kept moving while asked (last at size {theirs})")


def _each(
    witnesses: list[WitnessEndpoint],
    ask: Callable[[httpx.Client, WitnessEndpoint], WitnessPosition | int],
    *,
    transport: httpx.BaseTransport | None,
    timeout: float,
) -> list[WitnessPosition | int]:
    """``ask`` each witness at once, each with a client of its own; a witness that has not
    answered within ``timeout`` in all is taken as out of reach (its request is left to end on
    its own: nothing waits for it)."""

    def one(w: WitnessEndpoint) -> WitnessPosition | int:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            return ask(client, w)

    pool = ThreadPoolExecutor(len(witnesses), thread_name_prefix="pausewatch-witness-check")
    try:
        futures = [pool.submit(one, w) for w in witnesses]
        wait(futures, timeout)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    out: list[WitnessPosition | int] = []
    for w, fut in zip(witnesses, futures, strict=True):
        if not fut.done():
            out.append(_position(w, None, unknown=f"no answer within {timeout:g} s"))
        elif (exc := fut.exception()) is not None:
            out.append(_position(w, None, unknown=f"not asked: {_said(str(exc))}"))
        else:
            out.append(fut.result())
    return out


def witness_positions(
    log: PersistentLog,
    witnesses: list[WitnessEndpoint],
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = CHECK_TIMEOUT_S,
) -> list[WitnessPosition]:
    """Ask every witness, all at once, where it stands on this log, in two steps.

    First each is sent the log's newest checkpoint (:meth:`PersistentLog.current_note`) with an
    old size equal to its size and no proof. A witness at that checkpoint cosigns it again
    (200); one at another size answers 409 with that size; one that cosigned another root at
    that size answers 422 (409 before the spec's 2026 revision). None of this changes a
    witness that is not at the checkpoint.

    Then, only if no witness contradicted the database, each witness behind is sent the
    consistency proof from its size, which it checks against the root it cosigned there (and
    cosigns the newest checkpoint when it holds). A witness is never moved onto the database's
    tree while another says that tree lost what the log signed."""
    if not witnesses:
        return []
    size, note = log.current_note()
    first = _each(
        witnesses,
        lambda client, w: _probe(client, size, note, w),
        transport=transport,
        timeout=timeout,
    )
    conflicted = any(isinstance(a, WitnessPosition) and a.conflict for a in first)
    behind = {
        w.verifier.name: a for w, a in zip(witnesses, first, strict=True) if isinstance(a, int)
    }
    second: dict[str, WitnessPosition | int] = {}
    if behind and not conflicted:
        lagging = [w for w in witnesses if w.verifier.name in behind]
        answers = _each(
            lagging,
            lambda client, w: _catch_up(client, log, size, note, w, behind[w.verifier.name]),
            transport=transport,
            timeout=timeout,
        )
        second = {w.verifier.name: a for w, a in zip(lagging, answers, strict=True)}
    out: list[WitnessPosition] = []
    for w, a in zip(witnesses, first, strict=True):
        a = second.get(w.verifier.name, a)
        if isinstance(a, int):  # behind, not asked further: another witness contradicted
            a = _position(w, a, unknown="behind; not sent a proof, another witness conflicts")
        out.append(a)
    return out


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
