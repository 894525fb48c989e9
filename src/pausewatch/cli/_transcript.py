"""``pausewatch transcript``: train reference recipes into transcripts and verify them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pausewatch.cli._common import JsonOpt, fail, out, print_json
from pausewatch.cli._transcript_log import audit, commit
from pausewatch.errors import Error

# torch is imported by the commands that train or replay (through pausewatch.transcript's
# functions), so that the rest of the CLI starts as fast as before.

app = typer.Typer(
    help=(
        "Training transcripts: train a reference recipe into a transcript directory, verify "
        "one by replaying segments drawn from a beacon."
    ),
    no_args_is_help=True,
)

_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")


def _hex_bytes(value: str, what: str) -> bytes:
    if not _HEX.match(value):
        fail(f"{what} must be an even number of hex digits, got {value!r}")
    return bytes.fromhex(value)


@app.command("recipes")
def recipes_cmd(as_json: JsonOpt = False) -> None:
    """List the shipped reference recipes."""
    from pausewatch.transcript import RECIPES

    rows = [
        {
            "name": r.name,
            "description": r.description,
            "dataset": r.dataset_name,
            "hyperparameters": dict(r.defaults),
        }
        for r in RECIPES.values()
    ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        out.print(f"[bold]{row['name']}[/]  {escape(str(row['description']))}")
        out.print(f"    dataset {row['dataset']}, defaults {escape(str(row['hyperparameters']))}")


@app.command("train")
def train_cmd(
    recipe: Annotated[str, typer.Option("--recipe", help="A recipe name (see `recipes`).")],
    steps: Annotated[int, typer.Option("--steps", help="Optimiser steps of the whole run.")],
    every: Annotated[int, typer.Option("--every", help="Steps between checkpoints.")],
    out_dir: Annotated[Path, typer.Option("--out", help="The transcript directory to write.")],
    seed: Annotated[
        str | None,
        typer.Option("--seed", help="The secret seed, hex. Default: 32 random bytes."),
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", help="Intra-op threads (recorded in the manifest).")
    ] = 1,
    run_id: Annotated[
        str | None, typer.Option("--run-id", help="The run declaration it belongs to.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a recipe honestly and deterministically on CPU into a transcript directory."""
    from pausewatch.transcript import train

    secret = None if seed is None else _hex_bytes(seed, "--seed")
    try:
        manifest = train(
            recipe,
            steps=steps,
            every=every,
            out=out_dir,
            seed=secret,
            threads=threads,
            run_id=run_id,
        )
    except Error as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {out_dir}: {exc.strerror or exc}")
    if as_json:
        print_json(manifest.to_json())
        return
    out.print(
        f"trained [bold]{manifest.recipe}[/] for {manifest.steps} steps into "
        f"{escape(str(out_dir))}: {len(manifest.checkpoints)} checkpoints, "
        f"final {manifest.final_digest}"
    )


# Putting a transcript's commitments on the log, and an inspector's audit written back to it.
app.command("commit")(commit)
app.command("audit")(audit)

__all__ = ["app"]
