"""The log side of C2SP tlog-witness: send each new checkpoint to the witnesses, keep their
cosignatures.

A background thread wakes after every integrated batch, takes the newest checkpoint and posts it
to each witness's ``add-checkpoint`` with a consistency proof from the size that witness last
cosigned. A 409 answer tells the true size; the request is then retried once from there.
"""

from __future__ import annotations

import base64
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx

from pausewatch.errors import ConfigurationError, Error
from pausewatch.ledger import PersistentLog, Verifier

log = logging.getLogger("pausewatch.witnessing")


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
                log.exception("witness round failed")

    def round(self) -> int:
        """Send the newest checkpoint to every witness that lacks it; return cosignatures got."""
        note = self._log.latest_note()
        size = self._log.size
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
                log.warning("witness %s unreachable: %s", name, exc)
                return False
            if resp.status_code == 200:
                self._log.add_cosignature(size, w.verifier, note + resp.text)
                self._known[name] = size
                return True
            if resp.status_code == 409 and resp.headers.get("content-type", "").startswith(
                "text/x.tlog.size"
            ):
                try:
                    self._known[name] = int(resp.text.strip())
                except ValueError:
                    break
                if self._known[name] > size:
                    log.error("witness %s claims size %s > log size %s", name, resp.text, size)
                    break
                continue
            break
        self.failures += 1
        log.warning("witness %s refused checkpoint %d: %s", name, size, resp.status_code)
        return False
