"""The service the demo plays against: a real `LogService` and API on loopback, whose clock is
the demo's world clock, with the demo's three witnesses cosigning its checkpoints.

The world clock runs ``speed`` world seconds per real second and jumps forward when the story
says days pass. A service restarted on the same data directory starts its clock at the last
entry's integration time, so the story resumes where the log stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pausewatch.demo._witnesses import DemoWitnesses
from pausewatch.demo._world import T0

if TYPE_CHECKING:
    from pausewatch.ledger import Appended
    from pausewatch.statements import Statement


class DemoClock:
    """World time: ``start``, plus ``speed`` x real time elapsed, plus the jumps the story makes.
    Strictly increasing (by at least a microsecond a reading), never moved back."""

    def __init__(self, start: datetime = T0, speed: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._base = start
        self._real = time.monotonic()
        self._last = start
        self.speed = speed

    def __call__(self) -> datetime:
        with self._lock:
            elapsed = (time.monotonic() - self._real) * self.speed
            now = self._base + timedelta(seconds=elapsed)
            if now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            return now

    def advance_to(self, when: datetime) -> None:
        """Jump to ``when`` if it is ahead; otherwise nothing (time never runs back)."""
        with self._lock:
            if when > self._last:
                self._base = when
                self._real = time.monotonic()
                self._last = when


class Host:
    """A `LogService` with its API served by uvicorn on a thread, its clock a `DemoClock`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        speed: float = 0.0,
        clerk_interval_s: float = 0.5,
        seed: int = 0,
    ) -> None:
        from pausewatch.service import LogService
        from pausewatch.settings import Settings
        from pausewatch.statements import load_or_create_key

        self.clock = DemoClock(T0, speed)
        # Three witnesses cosign the log's checkpoints, in process (demo._witnesses).
        self.witnesses = DemoWitnesses(seed, self.clock)
        data_dir.mkdir(parents=True, exist_ok=True)
        # Not witnesses.txt, which a plain `pausewatch serve` on this directory would read.
        roster = data_dir / "demo-witnesses.txt"
        roster.write_text(self.witnesses.roster())
        self.settings = Settings(
            data_dir=data_dir,
            host=host,
            port=port,
            clerk_interval_s=clerk_interval_s,
            witnesses_file=roster,
        )
        # The witnesses know the log's key before the service asks them where they stand on
        # it, as it does before it sequences (docs/adr/0063).
        log_key = load_or_create_key(self.settings.keys_dir, self.settings.log_origin)
        self.witnesses.trust(log_key.signer.verifier())
        self.service = LogService(
            self.settings, clock=self.clock, witness_transport=self.witnesses.transport()
        )
        size = self.service.log.size
        if size:
            last = self.service.log.entry(size - 1).integrated_at
            self.clock.advance_to(last + timedelta(seconds=1))
        self.url = f"http://{host}:{port}"
        self._server: object | None = None
        self._thread: threading.Thread | None = None

    def start(self, timeout_s: float = 30.0) -> Host:
        """Serve the API; returns once it answers."""
        import httpx
        import uvicorn

        from pausewatch.api import create_app
        from pausewatch.api.server import uvicorn_config

        config = uvicorn_config(
            create_app(self.service), self.settings, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="pausewatch-demo-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if not self._thread.is_alive():
                break
            time.sleep(0.05)
        raise RuntimeError(f"the demo's service did not start on {self.url}")

    def submit_all(self, statements: Sequence[Statement]) -> list[Appended]:
        """Submit many independent statements to the service in-process, as one batch: each is
        authorised, logged and folded like any other (the fold checks every entry's signature
        again, as the audit does); returns once all are durable and folded.

        For the demo's bulk registrations (thousands of chips): one HTTP request each cost
        most of the demo's time, and the log, the views and the audit are the same either way.
        """
        pending = [self.service.submit(s) for s in statements]
        return [future.result(timeout=300) for future in pending]

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C)."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        """Stop serving; the service integrates its queue and closes."""
        server = self._server
        if server is not None:
            server.should_exit = True  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=30)


__all__ = ["DemoClock", "Host"]
