"""`pausewatch witness`: run a C2SP tlog-witness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pausewatch.cli._common import DataDirOpt, KeysDirOpt, keys_dir, out

app = typer.Typer(help="Run a transparency-log witness (C2SP tlog-witness).", no_args_is_help=True)


@app.command("serve")
def serve(
    key: Annotated[
        str, typer.Option("--key", help="Name of the witness's key (pausewatch keys new).")
    ],
    logs: Annotated[
        Path, typer.Option("--logs", help="Trusted logs: one log verifier key string a line.")
    ],
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Witness state database (default: SQLite in the data directory)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8081,
) -> None:
    """Cosign checkpoints of the trusted logs that are consistent with what it saw before."""
    from pausewatch.settings import Settings
    from pausewatch.store import sqlite_url
    from pausewatch.witness import serve_witness

    directory = keys_dir(keys_dir_opt, data_dir)
    settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
    key_file = directory / f"{key.replace('/', '_')}.key"
    if not key_file.exists():
        raise typer.BadParameter(f"no key {key!r} in {directory}", param_hint="--key")
    url = database_url or sqlite_url(settings.data_dir / "witness.db")
    out.print(f"pausewatch witness {key}: http://{host}:{port}/add-checkpoint")
    serve_witness(key_file, logs, url, host, port)
