"""Serving the API with uvicorn, with deadlines on slow clients.

uvicorn closes a kept-alive connection that stays idle after a response
(``timeout_keep_alive``), but its HTTP/1.1 protocol (h11) sets no deadline on a request while it
arrives: a client that opens a connection and sends nothing, or trickles its head or its body a
byte at a time, holds a socket and a slot for as long as it likes (400 such sockets stayed open
for 70 s). :class:`GuardedH11Protocol` gives each request a deadline for its head, counted from
the connection's start or from the previous response, and one for its body, counted from its
head. A request that misses one is answered ``408`` (a problem document) when no response has
started, and its connection is closed. Deadlines are totals, not idle times, so trickling does
not extend them.

The class extends uvicorn's own h11 protocol and reads its per-request state (``cycle``,
``conn``); ``tests/e2e/test_limits.py`` holds it to its behaviour against a real ``pausewatch
serve``, so an uvicorn upgrade that changes those internals fails there, not in production.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from pausewatch.settings import Settings

_logger = logging.getLogger("pausewatch.api.server")
_RECEIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


def _timeout_response(what: str, seconds: float) -> bytes:
    body = json.dumps(
        {
            "type": "https://pausewatch.dev/problems/request-timeout",
            "title": "Request timeout",
            "status": 408,
            "detail": f"the request's {what} did not arrive within {seconds:g} s",
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n"
        "x-content-type-options: nosniff\r\n\r\n"
    ).encode()
    return head + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request's head and body."""

    head_timeout_s: float = 10.0
    """Seconds a request's head may take, from the connection's start or the last response."""
    body_timeout_s: float = 60.0
    """Seconds a request's body may take, from the end of its head."""

    _guard: asyncio.TimerHandle | None = None
    _phase: str = "head"
    _idle: bool = False
    """Kept alive after a response, and no byte of a next request yet."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head's deadline with the connection."""
        super().connection_made(transport)
        self._arm("head", self.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed h11, then move the deadline on if the request reached its body or its end."""
        self._idle = False
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        """The next request's head has its deadline from now (a pipelined one may be here)."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm("head", self.head_timeout_s)
            self._idle = True
            self._watch()

    def _watch(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY and self._phase == "head":
            self._arm("body", self.body_timeout_s)
        elif state in _RECEIVED and self._phase != "app":
            self._disarm()
            self._phase = "app"

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._guard = self.loop.call_later(seconds, self._too_slow, phase, seconds)

    def _disarm(self) -> None:
        if self._guard is not None:
            self._guard.cancel()
            self._guard = None

    def _too_slow(self, phase: str, seconds: float) -> None:
        self._guard = None
        if self.transport.is_closing():
            return
        cycle = self.cycle if phase == "body" else None
        started = cycle is not None and cycle.response_started
        # A kept-alive connection with no request begun is simply closed, as on keep-alive's
        # own timeout: a 408 there could be read as the answer to a request sent meanwhile.
        if not started and not self._idle:
            self.transport.write(_timeout_response(phase, seconds))
        if cycle is not None:
            # The app waiting for the body hears the client has gone; what it sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        _logger.info("closed a connection whose request %s took over %g s", phase, seconds)
        self.transport.close()


def guarded_protocol(settings: Settings) -> type[GuardedH11Protocol]:
    """:class:`GuardedH11Protocol` with the deadlines of ``settings``."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {
            "head_timeout_s": settings.request_head_timeout_s,
            "body_timeout_s": settings.request_body_timeout_s,
        },
    )


def uvicorn_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration pausewatch serves ``app`` with: its host and port, the
    deadlines on slow clients, and the keep-alive timeout of ``settings``."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(settings),
        timeout_keep_alive=settings.keep_alive_timeout_s,
        **options,
    )


__all__ = ["GuardedH11Protocol", "guarded_protocol", "uvicorn_config"]
