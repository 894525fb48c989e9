"""``pausewatch simulate`` commands: abm (issue 18)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``pausewatch simulate``."""


__all__ = ["register"]
