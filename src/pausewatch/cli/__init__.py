"""The ``pausewatch`` command line (Typer + Rich)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer
from rich.markup import escape

from pausewatch import __version__
from pausewatch.errors import Error

HELP = "pausewatch: signed statements, one transparency log, state anyone can recompute."

COMMANDS: dict[str, tuple[str, str, bool]] = {
    "serve": ("pausewatch.cli._serve", "serve", False),
    "audit": ("pausewatch.cli._audit", "audit", False),
    "demo": ("pausewatch.cli._demo", "demo", False),
    "compute": ("pausewatch.cli._compute", "app", True),
    "declare": ("pausewatch.cli._operations", "declare_app", True),
    "detect": ("pausewatch.cli._detect", "app", True),
    "eval": ("pausewatch.cli._evals", "app", True),
    "gov": ("pausewatch.cli._governance", "gov_app", True),
    "pause": ("pausewatch.cli._governance", "pause_app", True),
    "runs": ("pausewatch.cli._operations", "runs_app", True),
    "telemetry": ("pausewatch.cli._operations", "telemetry_app", True),
    "keys": ("pausewatch.cli._keys", "app", True),
    "log": ("pausewatch.cli._log", "app", True),
    "policy": ("pausewatch.cli._policy", "app", True),
    "simulate": ("pausewatch.cli._simulate", "app", True),
    "state": ("pausewatch.cli._state", "app", True),
    "statement": ("pausewatch.cli._statement", "app", True),
    "transcript": ("pausewatch.cli._transcript", "app", True),
    "witness": ("pausewatch.cli._witness", "app", True),
}
"""Every top-level command, in the order ``pausewatch --help`` lists them: its name, the module
that defines it, the attribute there, and whether it is a group of subcommands. A command's
module is imported only when it is registered: ``pausewatch keys new`` loads the key commands,
not the audit, the policy engine and the classifier stack (docs/adr/0055-lazy-cli.md)."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pausewatch {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """pausewatch: signed statements, one transparency log, state anyone can recompute."""


def build_app(names: Sequence[str] | None = None) -> typer.Typer:
    """The ``pausewatch`` Typer app with the commands ``names`` (every one by default),
    importing only their modules."""
    app = typer.Typer(
        name="pausewatch",
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.callback()(_root)
    wanted = COMMANDS if names is None else names
    for name in COMMANDS:
        if name not in wanted:
            continue
        module, attribute, group = COMMANDS[name]
        command = getattr(importlib.import_module(module), attribute)
        if group:
            app.add_typer(command, name=name)
        else:
            app.command(name)(command)
    return app


def _chosen(args: Sequence[str]) -> list[str] | None:
    """The one command ``args`` run, when its first word names one; otherwise every command
    (``--help``, ``--version``, a mistyped name: what lists them or says which exist)."""
    if args and args[0] in COMMANDS:
        return [args[0]]
    return None


def __getattr__(name: str) -> typer.Typer:
    """``pausewatch.cli.app``: the whole app, built on first use."""
    if name == "app":
        app = build_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Entry point: pausewatch errors become one line on stderr and exit code 1."""
    app = build_app(_chosen(sys.argv[1:]))
    try:
        app(standalone_mode=True)
    except Error as exc:
        from pausewatch.cli._common import err

        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
        sys.exit(1)


__all__ = ["COMMANDS", "app", "build_app", "main"]
