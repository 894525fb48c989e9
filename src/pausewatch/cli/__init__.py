"""The ``pausewatch`` command line (Typer + Rich)."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from pausewatch import __version__
from pausewatch.cli import (
    _compute,
    _detect,
    _evals,
    _governance,
    _keys,
    _log,
    _operations,
    _policy,
    _simulate,
    _state,
    _statement,
    _transcript,
    _witness,
)
from pausewatch.cli._audit import audit
from pausewatch.cli._common import err
from pausewatch.cli._demo import demo
from pausewatch.cli._serve import serve
from pausewatch.errors import Error

app = typer.Typer(
    name="pausewatch",
    help="pausewatch: signed statements, one transparency log, state anyone can recompute.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("serve")(serve)
app.command("audit")(audit)
app.command("demo")(demo)
app.add_typer(_compute.app, name="compute")
app.add_typer(_operations.declare_app, name="declare")
app.add_typer(_detect.app, name="detect")
app.add_typer(_evals.app, name="eval")
app.add_typer(_governance.gov_app, name="gov")
app.add_typer(_governance.pause_app, name="pause")
app.add_typer(_operations.runs_app, name="runs")
app.add_typer(_operations.telemetry_app, name="telemetry")
app.add_typer(_keys.app, name="keys")
app.add_typer(_log.app, name="log")
app.add_typer(_policy.app, name="policy")
app.add_typer(_simulate.app, name="simulate")
app.add_typer(_state.app, name="state")
app.add_typer(_statement.app, name="statement")
app.add_typer(_transcript.app, name="transcript")
app.add_typer(_witness.app, name="witness")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pausewatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """pausewatch: signed statements, one transparency log, state anyone can recompute."""


def main() -> None:
    """Entry point: pausewatch errors become one line on stderr and exit code 1."""
    try:
        app(standalone_mode=True)
    except Error as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
        sys.exit(1)


__all__ = ["app", "main"]
