"""`pausewatch serve`: the log service on the embedded default or a database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pausewatch.cli._common import DataDirOpt, out


def serve(
    data_dir: DataDirOpt = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="PAUSEWATCH_DATABASE_URL",
            help="SQLAlchemy URL (default: SQLite file in the data directory).",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Listen address (default $PAUSEWATCH_HOST, else 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Listen port (default $PAUSEWATCH_PORT, else 8080).")
    ] = None,
    origin: Annotated[
        str | None, typer.Option("--origin", help="Log origin (default pausewatch.local/log).")
    ] = None,
    witnesses: Annotated[
        Path | None,
        typer.Option("--witnesses", help="Witness roster: '<url> <verifier key>' per line."),
    ] = None,
    threshold: Annotated[
        int | None, typer.Option("--witness-threshold", help="Cosignatures needed (default: all).")
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Seed the simulated world and stream its story through the API while you "
            "watch; the service's clock is the demo's world clock. Use a data directory of "
            "its own: a restarted demo resumes where its log stopped.",
        ),
    ] = False,
    demo_pace: Annotated[
        float, typer.Option("--demo-pace", min=0, help="Real seconds between the demo's acts.")
    ] = 4.0,
    replica_id: Annotated[
        str | None,
        typer.Option(
            "--replica-id",
            envvar="PAUSEWATCH_REPLICA_ID",
            help="Run as one of several replicas of the log on one PostgreSQL database, under "
            "this name: one replica at a time sequences, the others serve reads and hand "
            "their submissions to it (docs/adr/0047-replicas.md). Each replica has its own "
            "data directory holding the same keys.",
        ),
    ] = None,
    unsafe_trust_database: Annotated[
        bool,
        typer.Option(
            "--unsafe-trust-database",
            help="Start even if the database is behind the checkpoint the log kept in its data "
            "directory, or disagrees with it, and keep the database's newest checkpoint instead; "
            "and sequence even if a witness cosigned a checkpoint the database lacks. If the "
            "database lost entries the log then signs a second checkpoint of a size it already "
            "signed: a fork witnesses refuse and auditors report (ADR 0014, ADR 0063).",
        ),
    ] = False,
) -> None:
    """Start the log service and print its URL. Ctrl-C stops it after the queue is integrated.

    Without --demo the service starts on its data directory as it is (empty the first time)."""
    if demo:
        _serve_demo(data_dir, host, port, demo_pace)
        return
    import uvicorn

    from pausewatch.api import create_app
    from pausewatch.api.server import uvicorn_config
    from pausewatch.service import LogService, freeze_long_lived
    from pausewatch.settings import Settings

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "data_dir": data_dir,
            "database_url": database_url,
            "host": host,
            "port": port,
            "log_origin": origin,
            "witnesses_file": witnesses,
            "witness_threshold": threshold,
            "replica_id": replica_id,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    service = LogService(settings, unsafe_trust_database=unsafe_trust_database)
    url = f"http://{settings.host}:{settings.port}"
    out.print(f"pausewatch log service: {url}  (API docs: {url}/docs)")
    out.print(f"data directory: {settings.data_dir}")
    out.print(f"log: {service.log.origin}, {service.log.size} entries")
    out.print(f"log key: {service.log.verifier.to_string()}")
    if settings.replica_id is not None:
        out.print(f"replica: {settings.replica_id} (the sequencer is elected through the database)")
    if service.witnesses:
        out.print(f"witnesses: {len(service.witnesses)} (threshold {service.witness_threshold})")
    app = create_app(service)
    # What start-up loaded (modules, the state) lives as long as the process: the cyclic
    # collector's full passes need not scan it again (docs/adr/0052-serving-heap.md).
    freeze_long_lived()
    uvicorn.Server(uvicorn_config(app, settings, log_level="warning")).run()


def _serve_demo(data_dir: Path | None, host: str | None, port: int | None, pace: float) -> None:
    from pausewatch.demo import serve_demo
    from pausewatch.settings import Settings

    # The address comes from the settings like plain `serve`'s (PAUSEWATCH_HOST/PORT),
    # so that `make run` listens where the environment says.
    settings = Settings()
    where = data_dir or settings.data_dir.parent / "pausewatch-demo"
    running = serve_demo(
        where,
        host_name=host or settings.host,
        port=settings.port if port is None else port,
        pace_s=pace,
        narrate=lambda line: out.print(escape(line)),
    )
    out.print(f"pausewatch demo world: {running.url}/ui/  (API docs: {running.url}/docs)")
    out.print(f"data directory: {where}  (the story streams below; Ctrl-C stops)")
    try:
        running.wait()
    except KeyboardInterrupt:
        running.stop()
