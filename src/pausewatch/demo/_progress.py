"""What the demo reports while it plays, for a progress display (the CLI draws it with Rich).

The story calls :meth:`DemoProgress.act` as each act begins and :meth:`DemoProgress.count` as a
long step advances (thousands of chip registrations, the evaluation's probes, the audit), so a
user sees at every moment what is running and how far it has gone.
"""

from __future__ import annotations

from typing import Protocol


class DemoProgress(Protocol):
    """Receives the demo's progress; every method must return quickly."""

    def act(self, title: str) -> None:
        """The act (or closing step) ``title`` begins."""

    def count(self, what: str, done: int, total: int) -> None:
        """``done`` of the ``total`` items of the current long step ``what`` are done."""


class NoProgress:
    """Shows nothing (the default; a test, or output that is not a terminal)."""

    def act(self, title: str) -> None:
        """Nothing."""

    def count(self, what: str, done: int, total: int) -> None:
        """Nothing."""


__all__ = ["DemoProgress", "NoProgress"]
