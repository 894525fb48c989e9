"""Shared CLI plumbing: options, output, one-line errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from pausewatch.errors import ConfigurationError
from pausewatch.ledger import Verifier

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

_T = TypeVar("_T")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DEFAULT_URL = "http://127.0.0.1:8080"

UrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="PAUSEWATCH_URL", help="Base URL of the pausewatch service."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="PAUSEWATCH_DATA_DIR",
        help="Data directory (database and keys). Default: ~/.local/share/pausewatch.",
    ),
]
KeysDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys-dir",
        envvar="PAUSEWATCH_KEYS_DIR",
        help="Where key pairs live. Default: <data dir>/keys.",
    ),
]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line and exit."""
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise typer.Exit(code)


def progress_display() -> Progress:
    """A Rich progress display for a long command: on stderr, so that the output on stdout
    (``--json`` above all) stays clean, and only when stderr is a terminal (nothing at all in a
    pipe, a log file or a test). Use it as a context manager; it vanishes when done."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
        # Lines printed to stdout go above the display only when both share the terminal;
        # stdout sent to a file or a pipe stays there.
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=False,
    )


def counted(items: Iterable[_T], display: Progress, task: TaskID, every: int = 100) -> Iterator[_T]:
    """``items``, advancing ``task`` on ``display`` as they pass (every ``every`` items, so
    that a million entries do not mean a million redraws)."""
    n = 0
    for n, item in enumerate(items, 1):
        if n % every == 0:
            display.update(task, completed=n)
        yield item
    display.update(task, completed=n)


def print_json(value: Any) -> None:
    """JSON on stdout, exactly (no Rich markup processing)."""
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=True) + "\n")


def keys_dir(keys_dir_opt: Path | None, data_dir_opt: Path | None) -> Path:
    """Resolve the keys directory from the options and settings."""
    if keys_dir_opt is not None:
        return keys_dir_opt
    from pausewatch.settings import Settings

    settings = Settings() if data_dir_opt is None else Settings(data_dir=data_dir_opt)
    return settings.keys_dir


def read_verifier(value: str) -> Verifier:
    """A verifier key string, or a path to a file holding one."""
    candidate = Path(value)
    text = value
    if "+" not in value or (candidate.exists() and candidate.is_file()):
        try:
            text = candidate.read_text().strip()
        except OSError as exc:
            raise ConfigurationError(f"cannot read key file {value}: {exc}") from exc
    return Verifier.from_string(text)


def env_flag(name: str) -> bool:
    """True when an environment variable is set to a true value."""
    return os.environ.get(name, "").lower() in ("1", "true", "yes")
