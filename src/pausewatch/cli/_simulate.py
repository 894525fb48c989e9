"""``pausewatch simulate``: detection scenarios (docs/scenarios.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pausewatch.cli._common import JsonOpt, fail, out, print_json

app = typer.Typer(
    help=(
        "Simulations: corpora of detection scenarios, and whether the regime deters "
        "(inspection games, a race model, an agent-based model)."
    ),
    no_args_is_help=True,
)


@app.command("scenarios")
def scenarios_cmd(
    seed: Annotated[int, typer.Option("--seed", help="The first scenario's seed.")],
    count: Annotated[int, typer.Option("--count", help="How many scenarios.")],
    out_dir: Annotated[Path, typer.Option("--out", help="The directory to write them to.")],
    as_json: JsonOpt = False,
) -> None:
    """Generate a corpus of scenarios, honest and defecting, one per seed from --seed.

    One in four is honest; the others cycle through every defection kind, at sizes from a
    hundredth of the prohibited threshold to twenty times it."""
    from pausewatch.simulate.scenario import ScenarioError, generate_corpus, write_corpus

    try:
        scenarios = generate_corpus(seed, count)
    except ScenarioError as exc:
        fail(str(exc))
    try:
        paths = write_corpus(scenarios, out_dir)
    except OSError as exc:
        fail(f"cannot write to {out_dir}: {exc.strerror}")
    kinds: dict[str, int] = {}
    for s in scenarios:
        name = s.defection.kind.value if s.defection else "honest"
        kinds[name] = kinds.get(name, 0) + 1
    if as_json:
        print_json({"written": [str(p) for p in paths], "kinds": kinds})
        return
    out.print(
        f"wrote {len(paths)} scenario(s) to {out_dir}: "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    )


@app.command("check")
def check_cmd(
    files: Annotated[list[Path], typer.Argument(help="Scenario files to validate.")],
) -> None:
    """Validate scenario files against the format (one line for the first fault)."""
    from pausewatch.simulate.scenario import ScenarioError, load_scenario

    for path in files:
        try:
            load_scenario(path)
        except ScenarioError as exc:
            fail(str(exc))
    out.print(f"{len(files)} scenario file(s) valid")


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of a scenario file."""
    from pausewatch.simulate.scenario import scenario_schema

    typer.echo(json.dumps(scenario_schema(), indent=2, sort_keys=True))


# The deterrence analysis (issue 18) lives in its own modules, each adding its commands here.
from pausewatch.cli import _simulate_abm, _simulate_games, _simulate_race  # noqa: E402

_simulate_games.register(app)
_simulate_race.register(app)
_simulate_abm.register(app)

__all__ = ["app"]
