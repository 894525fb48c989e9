"""`pausewatch state`: the registry views folded from the log."""

from __future__ import annotations

import typer

from pausewatch.cli._common import DataDirOpt, JsonOpt, out, print_json, progress_display

app = typer.Typer(help="The state folded from the log: registry views.", no_args_is_help=True)


@app.command("rebuild")
def rebuild(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Recompute every registry view from the log alone, replace the stored views with the
    result, and say whether they differed (they should not). Stop the service first."""
    from pausewatch.ledger import PersistentLog
    from pausewatch.service import SECRETARIAT_KEY_NAME
    from pausewatch.settings import Settings
    from pausewatch.state import StateStore
    from pausewatch.statements import load_or_create_key
    from pausewatch.store import CheckpointFile, make_engine, upgrade

    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade(engine)
        log_key = load_or_create_key(settings.keys_dir, settings.log_origin)
        secretariat = load_or_create_key(settings.keys_dir, SECRETARIAT_KEY_NAME)
        log = PersistentLog(
            engine, log_key.signer, kept=CheckpointFile(settings.kept_checkpoint_file)
        )
        store = StateStore(engine, [secretariat.signer_id], for_rebuild=True)
        with progress_display() as display:
            task = display.add_task("folding entries", total=log.size)

            def folded(n: int) -> None:
                if n % 100 == 0 or n == log.size:
                    display.update(task, completed=n)

            report = store.rebuild(log, folded)
    finally:
        engine.dispose()
    if as_json:
        print_json(
            {
                "entries": report.entries,
                "identical": report.identical,
                "rows": report.rows,
                "differences": report.differences,
            }
        )
        return
    rows = ", ".join(f"{view} {n}" for view, n in report.rows.items() if n)
    out.print(f"folded {report.entries} entries; rows: {rows or 'none'}")
    if report.identical:
        out.print("views identical to the ones kept")
    else:
        changed = ", ".join(f"{v} ({n} rows)" for v, n in report.differences.items())
        out.print(f"views differed and were replaced: {changed}")
