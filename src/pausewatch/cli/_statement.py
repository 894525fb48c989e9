"""`pausewatch statement`: sign statements and submit them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from pausewatch.cli._common import DataDirOpt, KeysDirOpt, UrlOpt, fail, keys_dir, out, print_json
from pausewatch.client import PausewatchClient
from pausewatch.statements import kinds, load_key, parse_json, sign_statement

app = typer.Typer(help="Sign statements and submit them to the log.", no_args_is_help=True)


def _read_json(source: str) -> object:
    text = sys.stdin.read() if source == "-" else None
    if text is None:
        path = Path(source)
        text = path.read_text() if path.exists() else source
    try:
        return parse_json(text)
    except json.JSONDecodeError as exc:
        fail(f"not JSON ({exc})")


@app.command("kinds")
def list_kinds() -> None:
    """List the statement kinds this version knows."""
    for k in kinds():
        out.print(k)


@app.command("sign")
def sign(
    kind: Annotated[str, typer.Argument(help="Statement kind, e.g. notice/v1.")],
    body: Annotated[str, typer.Argument(help="Body: a JSON text, a file, or - for stdin.")],
    key: Annotated[str, typer.Option("--key", help="Name of the signing key.")],
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Sign BODY as a statement of KIND and print the statement as JSON."""
    raw = _read_json(body)
    if not isinstance(raw, dict):
        fail("body: expected a JSON object")
    statement = sign_statement(kind, raw, load_key(keys_dir(keys_dir_opt, data_dir), key))
    print_json(statement.to_json())


@app.command("submit")
def submit(
    statement: Annotated[
        str, typer.Argument(help="Statement JSON: a file, a JSON text or - for stdin.")
    ],
    url: UrlOpt = "http://127.0.0.1:8080",
) -> None:
    """Submit a signed statement; print the accepted entry."""
    raw = _read_json(statement)
    if not isinstance(raw, dict):
        fail("statement: expected a JSON object")
    with PausewatchClient(url) as client:
        print_json(client.submit(raw))
