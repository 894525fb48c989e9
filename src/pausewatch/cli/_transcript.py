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
        "one alone by replaying segments drawn from a beacon, commit one to the log, audit a "
        "committed run."
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


@app.command("verify")
def verify_cmd(
    directory: Annotated[Path, typer.Argument(help="The transcript directory.")],
    budget: Annotated[
        float,
        typer.Option("--budget", help="Replay budget: a fraction of the run's steps, (0, 1]."),
    ],
    beacon: Annotated[
        str, typer.Option("--beacon", help="The public beacon the segments are drawn from, hex.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Audit a transcript directory on its own, with a beacon given.

    Integrity checks, the segments drawn from the beacon replayed, the data-inclusion test, a
    verdict.

    Exit status 0 whenever a verdict is reached, "pass" or "fail" alike (read the verdict);
    1 on an error that prevents an audit (no transcript there, its seed not revealed, a bad
    beacon or budget)."""
    from pausewatch.transcript import read_manifest, verify

    key = _hex_bytes(beacon, "--beacon")
    if not 0 < budget <= 1:
        fail(f"--budget must be in (0, 1], got {budget}")
    if not directory.is_dir():
        fail(f"{directory} is not a directory")
    if not (directory / "manifest.json").is_file():
        fail(f"{directory} holds no manifest.json: not a transcript directory")
    try:
        if read_manifest(directory).seed is None:
            fail(f"the seed of the transcript in {directory} is not revealed: an audit needs it")
    except Error:
        pass  # a malformed manifest is a fail verdict, not an error
    try:
        verdict = verify(directory, budget=budget, beacon=key)
    except Error as exc:
        fail(str(exc))
    if as_json:
        print_json(verdict.to_json())
        return
    colour = "green" if verdict.passed else "red"
    out.print(
        f"[bold {colour}]{verdict.verdict}[/]: {len(verdict.segments)} of "
        f"{verdict.segments_total} segments replayed, compute {verdict.compute_fraction:.1%} "
        f"of the run's"
    )
    for result in verdict.segments:
        out.print(
            f"  segment {result.segment} (steps {result.start_step}-{result.end_step}): "
            f"distance {result.distance:.3g} / tolerance {result.tolerance:.3g}, "
            f"{'passed' if result.passed else 'FAILED'}"
        )
    inclusion = verdict.inclusion
    out.print(
        f"  inclusion: W+ {inclusion.statistic:.3g}, p {inclusion.p_value:.3g}, "
        f"{'passed' if inclusion.passed else 'FAILED'}"
    )
    for reason in verdict.reasons:
        out.print(f"  [red]reason[/]: {escape(reason)}")


# Putting a transcript's commitments on the log, and an inspector's audit written back to it.
app.command("commit")(commit)
app.command("audit")(audit)

__all__ = ["app"]
