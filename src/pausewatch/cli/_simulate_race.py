"""``pausewatch simulate race``: the Armstrong-Bostrom-Shulman race, with a pause regime (issue
18, docs/deterrence-race.md, ADR 0042)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from pausewatch.cli._common import JsonOpt, fail, out, print_json, progress_display


def _figure(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``pausewatch simulate``."""

    @app.command(
        "race",
        short_help="The AI race's equilibrium safety and chance of disaster under a pause regime.",
    )
    def race_cmd(
        teams: Annotated[int, typer.Option("--teams", help="Number of teams n (2 to 50).")] = 2,
        enmity: Annotated[
            float,
            typer.Option("--enmity", help="Enmity e in [0, 1]: another team's safe AI is 1 - e."),
        ] = 1.0,
        capability: Annotated[
            float,
            typer.Option(
                "--capability",
                help="mu in [1e-6, 1e6]: capabilities are uniform on [0, mu] "
                "(large: skill decides).",
            ),
        ] = 1.0,
        information: Annotated[
            str,
            typer.Option("--information", help="none, private or public."),
        ] = "none",
        detection: Annotated[
            float,
            typer.Option("--detection", help="q: probability a team racing the pause is caught."),
        ] = 0.0,
        sanction: Annotated[
            float, typer.Option("--sanction", help="S: what a caught team loses (>= 0).")
        ] = 0.0,
        false_alarm_cost: Annotated[
            float, typer.Option("--false-alarm-cost", help="h: a false alarm's cost.")
        ] = 0.0,
        false_alarm_rate: Annotated[
            float, typer.Option("--false-alarm-rate", help="alpha: a false alarm's probability.")
        ] = 0.0,
        sweep: Annotated[
            str | None,
            typer.Option(
                "--sweep",
                help="Sweep teams, detection or sanction, for all three information cases.",
            ),
        ] = None,
        values: Annotated[
            str | None,
            typer.Option(
                "--values",
                help="The swept values, comma-separated (default: 2..10 teams, "
                "detection 0..1 by 0.05, sanction 0..2 by 0.1).",
            ),
        ] = None,
        plot: Annotated[
            Path | None,
            typer.Option("--plot", help="Write the sweep's plot: FILE.png or FILE.html."),
        ] = None,
        resolution: Annotated[
            int,
            typer.Option(
                "--resolution",
                help="Safety-grid steps, 20 to 2000 (more is slower; none and public "
                "information use at most 400).",
            ),
        ] = 400,
        as_json: JsonOpt = False,
    ) -> None:
        """The race's equilibrium (safety, chance of disaster) under a pause regime, and whether
        the regime deters; with --sweep, how the number of teams, the detection probability or
        the sanction moves them (with --plot, as a figure)."""
        from pausewatch.simulate import race as model
        from pausewatch.simulate.inspection import GameError

        try:
            case = model.Information(information)
        except ValueError:
            fail(f"information must be one of none, private, public, got {information!r}")
        try:
            race = model.Race(teams=teams, enmity=enmity, capability=capability, information=case)
            regime = model.Regime(
                detection=detection,
                sanction=sanction,
                false_alarm_cost=false_alarm_cost,
                false_alarm_rate=false_alarm_rate,
            )
        except GameError as exc:
            fail(str(exc))
        if not 20 <= resolution <= model.MAX_RESOLUTION:
            fail(f"resolution must be between 20 and {model.MAX_RESOLUTION}, got {resolution}")
        if sweep is None:
            if values is not None or plot is not None:
                fail("--values and --plot need --sweep teams|detection|sanction")
            try:
                eq = model.equilibrium(race, regime, resolution=resolution)
                deterrence = model.deterrence(race, regime)
            except GameError as exc:
                fail(str(exc))
            body = eq.to_json()
            body["deterrence"] = deterrence.to_json()
            if as_json:
                print_json(body)
                return
            _print_equilibrium(body)
            return
        if sweep not in model.SWEEPS:
            fail(f"--sweep must be one of {', '.join(model.SWEEPS)}, got {sweep!r}")
        if plot is not None:
            _check_plot(plot)
        try:
            chosen = (
                None if values is None else tuple(float(v) for v in values.split(",") if v.strip())
            )
        except ValueError:
            fail(f"--values must be numbers separated by commas, got {values!r}")
        if chosen is not None and not all(math.isfinite(v) for v in chosen):
            fail(f"--values must be finite numbers, got {values!r}")
        try:
            points = model.default_values(sweep, race, regime) if chosen is None else chosen
            # Check every point's parameters before the long computation starts.
            for v in points:
                if sweep == "teams":
                    if float(v) != int(v):
                        raise GameError(f"teams must be whole numbers, got {v}")
                    model.Race(int(v), race.enmity, race.capability, race.information)
                else:
                    model.Regime(**{**_regime_args(regime), sweep: v})
            with progress_display() as display:
                task = display.add_task(
                    f"race: sweeping {sweep}", total=len(points) * len(model.Information)
                )
                result = model.curve(
                    sweep,
                    race,
                    regime,
                    points,
                    resolution=resolution,
                    progress=lambda: display.advance(task),
                )
        except GameError as exc:
            fail(str(exc))
        if plot is not None:
            try:
                if plot.suffix.lower() == ".png":
                    model.write_png(result, str(plot))
                else:
                    model.write_html(result, str(plot))
            except OSError as exc:
                fail(f"cannot write {plot}: {exc.strerror}")
        if as_json:
            body = result.to_json()
            if plot is not None:
                body["plot"] = str(plot)
            print_json(body)
            return
        _print_curve(result)
        if plot is not None:
            out.print(f"wrote {plot}")


def _check_plot(plot: Path) -> None:
    """Refuse a plot that cannot be written before the sweep, which takes a minute, starts."""
    if plot.suffix.lower() not in {".png", ".html"}:
        fail(f"--plot must name a .png or .html file, got {plot}")
    folder = plot.parent if str(plot.parent) else Path(".")
    if not folder.is_dir():
        fail(f"cannot write {plot}: no folder {folder}")
    if not os.access(folder, os.W_OK) or (plot.exists() and not os.access(plot, os.W_OK)):
        fail(f"cannot write {plot}: permission denied")
    if plot.is_dir():
        fail(f"cannot write {plot}: it is a folder")


def _regime_args(regime: Any) -> dict[str, float]:
    return {
        "detection": regime.detection,
        "sanction": regime.sanction,
        "false_alarm_cost": regime.false_alarm_cost,
        "false_alarm_rate": regime.false_alarm_rate,
    }


def _print_equilibrium(body: dict[str, Any]) -> None:
    d = body["deterrence"]
    out.print(
        f"{body['teams']} teams, enmity {body['enmity']:g}, capability {body['capability']:g}, "
        f"information {body['information']}; detection {body['detection']:g}, "
        f"sanction {body['sanction']:.4g}"
    )
    out.print(
        f"safety of the AI built  {_figure(body['safety'])}"
        f"  (closed form {_figure(body['closed_form_safety'])})"
    )
    out.print(
        f"probability of disaster {_figure(body['disaster'])}"
        f"  (closed form {_figure(body['closed_form_disaster'])})"
    )
    out.print(f"a team's safety         {_figure(body['team_safety'])}")
    out.print(f"violation               {_figure(body['violation'])}")
    status = "converged" if body["converged"] else "NOT converged"
    out.print(f"solver                  {status} (regret {_figure(body['regret'])})")
    verdict = "deterred" if d["deterred"] else "not deterred"
    out.print(
        f"regime: {verdict}: required detection {_figure(d['required_detection'])} "
        f"(gain {_figure(d['gain'])}, penalty {d['penalty']:.4g}; most tempted: "
        f"{d['tempted']})"
    )


def _print_curve(result: Any) -> None:
    out.print(f"{result.parameter:>10}  case      safety  disaster  violation")
    for case, points in result.points.items():
        for value, p in zip(result.values, points, strict=True):
            mark = "" if p.converged else "  (not converged)"
            out.print(
                f"{value:>10g}  {case:<8}  {p.safety:.4f}  {p.disaster:.4f}    "
                f"{p.violation:.4f}{mark}"
            )


__all__ = ["register"]
