"""`pausewatch statement`: sign statements and submit them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pausewatch.cli._common import (
    DataDirOpt,
    JsonOpt,
    KeysDirOpt,
    UrlOpt,
    fail,
    keys_dir,
    out,
    print_json,
)
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
def list_kinds(
    only: Annotated[
        list[str] | None, typer.Argument(help="Describe only these kinds (default: all).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the statement kinds this version knows: for each, the role whose key signs it and
    its body's fields (name, type, required or optional, what it holds)."""
    from pausewatch.statements._describe import describe_kind

    described = [describe_kind(k) for k in (only or kinds())]
    if as_json:
        print_json([d.to_json() for d in described])
        return
    for d in described:
        out.print(f"[bold]{escape(d.kind)}[/]  signed by: {escape(d.signed_by)}")
        if d.description:
            out.print(f"  {escape(d.description)}")
        width = max((len(f.name) for f in d.fields), default=0)
        for f in d.fields:
            need = "required" if f.required else "optional"
            text = f"    {f.name:<{width}}  {f.type}  ({need})"
            out.print(escape(text + (f": {f.description}" if f.description else "")))
        out.print("")


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
    as_json: JsonOpt = False,
) -> None:
    """Submit a signed statement; print the accepted entry (its index, leaf hash, integration
    time), once it is durable."""
    raw = _read_json(statement)
    if not isinstance(raw, dict):
        fail("statement: expected a JSON object")
    with PausewatchClient(url) as client:
        accepted = client.submit(raw)
    if as_json:
        print_json(accepted)
        return
    already = "already on the log as" if accepted.get("duplicate") else "logged as"
    out.print(
        escape(
            f"{already} entry {accepted['index']} (leaf {accepted['leaf_hash']}, integrated "
            f"{accepted['integrated_at']}; first checkpoint covering it: "
            f"{accepted.get('checkpoint_size')})"
        )
    )
