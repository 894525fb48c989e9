"""``pausewatch simulate`` commands: abm (issue 18, docs/deterrence-abm.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pausewatch.cli._common import JsonOpt, fail, out, print_json

if TYPE_CHECKING:
    from pausewatch.simulate.abm import AbmSummary, Range
    from pausewatch.simulate.scenario import DefectionKind


def _range(text: str, name: str) -> Range:
    from pausewatch.simulate.abm import Range

    return Range.parse(text, name)


def _kind_detection(items: list[str]) -> dict[DefectionKind, Range]:
    from pausewatch.simulate.abm import AbmError
    from pausewatch.simulate.scenario import DefectionKind

    known = ", ".join(k.value for k in DefectionKind)
    chosen: dict[DefectionKind, Range] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise AbmError(f"--kind-detection must be KIND=P or KIND=LOW:HIGH, got {item!r}")
        try:
            kind = DefectionKind(name.strip())
        except ValueError:
            raise AbmError(f"--kind-detection: unknown kind {name!r}; kinds: {known}") from None
        chosen[kind] = _range(value, f"--kind-detection {kind.value}")
    return chosen


FIGURES = {"estimate": "estimate", "pessimistic": "lower_bound", "range": "interval"}
"""Which of an evaluation's figures ``--evaluation`` takes, by flag, as the JSON names it."""


def _evaluation_detection(
    evaluation: dict[str, Any],
    figure: str,
    inspections: int,
    run_periods: int,
) -> tuple[dict[DefectionKind, Range], dict[str, Any]]:
    """Per ABM kind, the detection per inspection that an evaluation's detection before
    completion implies (its estimate, its interval's lower bound, or its interval as a range),
    and what was taken: each kind's figure, the ABM's kinds the evaluation gives no figure for,
    and the evaluation's kinds the ABM does not model."""
    from pausewatch.service._deterrence import kind_figure
    from pausewatch.simulate.abm import KINDS, Range, per_inspection
    from pausewatch.simulate.scenario import DefectionKind

    def per_look(d: float) -> float:
        return per_inspection(d, inspections, run_periods)

    taken: dict[DefectionKind, Range] = {}
    kinds: dict[str, Any] = {}
    not_modelled: list[str] = []
    without_interval: list[str] = []
    for item in evaluation["kinds"]:
        name = str(item.get("kind"))
        try:
            kind = DefectionKind(name)
        except ValueError:
            not_modelled.append(name)
            continue
        figures = item.get("figures")
        found, population = kind_figure(figures if isinstance(figures, dict) else {})
        if found is None:
            continue
        if figure != "estimate" and found.interval is None:
            without_interval.append(name)
        if figure == "lower_bound" and found.interval is not None:
            chosen: float | list[float] = found.interval[0]
            taken[kind] = Range.fixed(per_look(found.interval[0]))
        elif figure == "interval" and found.interval is not None:
            chosen = list(found.interval)
            taken[kind] = Range(per_look(found.interval[0]), per_look(found.interval[1]))
        else:
            chosen = found.estimate
            taken[kind] = Range.fixed(per_look(found.estimate))
        kinds[name] = {
            "detection_before_completion": chosen,
            "judged_on": population,
            "per_inspection": taken[kind].to_json(),
        }
    return taken, {
        "evaluation_id": evaluation["evaluation_id"],
        "figure": figure,
        "kinds": kinds,
        "lacking": [k.value for k in KINDS if k not in taken],
        "not_modelled": not_modelled,
        "without_interval": without_interval,
    }


def _text(summary: AbmSummary) -> None:
    figures = summary.to_json()
    closed = figures["closed_form"]

    def share(key: str) -> str:
        s = figures[key]
        if s["rate"] is None:
            return f"n/a ({s['count']}/{s['of']})"
        interval = f"[{s['low']:.4g}, {s['high']:.4g}]"
        if "replications" in s:
            # A share within replications: its interval is across them, its count pooled.
            return (
                f"mean {s['rate']:.4g}, 95% of replications in {interval} "
                f"(pooled {s['count']}/{s['of']})"
            )
        return f"{s['rate']:.4g} {interval} ({s['count']}/{s['of']})"

    rate = figures["violation_rate"]
    lags = figures["time_to_detection"]["lag_periods"]
    out.print(
        f"{summary.replications} replication(s) of {summary.config.agents} labs in "
        f"{summary.config.parties} parties over {summary.config.periods} periods "
        f"(seed {summary.seed})"
    )
    out.print(
        f"violation rate (share of lab-periods): {rate['mean']:.4f} "
        f"[{rate['low']:.4f}, {rate['high']:.4f}]; closed form (no contagion, each "
        f"replication's draw): "
        f"{closed['predicted_violation_rate']:.4f}"
    )
    out.print(f"decisions to defect: {share('defect_decisions')}")
    out.print(f"defections detected before completion: {share('detected')}")
    withdrawn = figures["withdrawn_runs"]["count"]
    if withdrawn:
        out.print(f"runs in progress when their party left (outside the agreement): {withdrawn}")
    if lags["mean"] is not None:
        out.print(
            f"time to detection: mean {lags['mean']:.2f} period(s), 95% within "
            f"[{lags['low']:.0f}, {lags['high']:.0f}]"
        )
    out.print(f"pause held to expiry: {share('pause_held')}")
    out.print(f"a party gave notice of withdrawal: {share('withdrawals')}")
    out.print(f"a seen detection triggered others: {share('cascades')}")
    verdict = "deterred" if closed["deterred"] else "NOT deterred"
    out.print(
        f"closed form at the central inputs: weakest kind {closed['weakest_kind']} detected "
        f"before completion with {closed['detection_before_completion']:.3f}, needs "
        f"{closed['required_detection']:.3f}: the median lab is {verdict}"
    )
    deterred = closed["replications_deterred"]
    out.print(
        f"replications whose own inputs deter the median lab (closed form): "
        f"{deterred['count']}/{deterred['of']}"
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``pausewatch simulate``."""

    @app.command("abm")
    def abm_cmd(
        agents: Annotated[int, typer.Option("--agents", help="Labs.")] = 100,
        parties: Annotated[
            int, typer.Option("--parties", help="Parties (labs spread evenly).")
        ] = 10,
        periods: Annotated[
            int, typer.Option("--periods", help="Periods (months) until the pause expires.")
        ] = 120,
        replications: Annotated[
            int, typer.Option("--replications", help="Monte Carlo replications.")
        ] = 100,
        seed: Annotated[int, typer.Option("--seed", help="The Monte Carlo's seed.")] = 0,
        detection: Annotated[
            str,
            typer.Option(
                "--detection",
                help="Per inspection, the probability of detecting a run in progress, for every "
                "kind: P or LOW:HIGH (drawn per replication).",
            ),
        ] = "0.2",
        kind_detection: Annotated[
            list[str] | None,
            typer.Option(
                "--kind-detection",
                help="KIND=P or KIND=LOW:HIGH for one defection kind (repeatable; overrides "
                "--detection for it).",
            ),
        ] = None,
        inspections: Annotated[
            int, typer.Option("--inspections", help="Independent inspections per period.")
        ] = 1,
        run_periods: Annotated[
            int, typer.Option("--run-periods", help="Periods a frontier run needs to complete.")
        ] = 3,
        prize: Annotated[
            str, typer.Option("--prize", help="Median gain of an undetected run: X or LOW:HIGH.")
        ] = "1",
        penalty: Annotated[
            str, typer.Option("--penalty", help="Sanction on a detected run: X or LOW:HIGH.")
        ] = "3",
        false_alarm_cost: Annotated[
            str,
            typer.Option("--false-alarm-cost", help="Cost of a false alarm: X or LOW:HIGH."),
        ] = "0",
        false_alarm_rate: Annotated[
            str,
            typer.Option(
                "--false-alarm-rate",
                help="Per inspection, the probability of a false alarm: X or LOW:HIGH.",
            ),
        ] = "0",
        prize_spread: Annotated[
            float,
            typer.Option("--prize-spread", help="Std. dev. of the log of a lab's prize."),
        ] = 0.3,
        contagion: Annotated[
            float,
            typer.Option(
                "--contagion", help="Rise in the belief of collapse per seen event (0 to 1)."
            ),
        ] = 0.05,
        memory: Annotated[
            float, typer.Option("--memory", help="Share of seen events remembered a period on.")
        ] = 0.9,
        withdrawal_notice: Annotated[
            int | None,
            typer.Option(
                "--withdrawal-notice",
                help="Periods of notice before a withdrawal takes effect (default: the policy's, "
                "else 12).",
            ),
        ] = None,
        withdrawal_cost: Annotated[
            float,
            typer.Option("--withdrawal-cost", help="Median cost of leaving per lab, in prizes."),
        ] = 0.5,
        collapse_share: Annotated[
            float,
            typer.Option(
                "--collapse-share",
                help="The pause collapses when more than this share of labs defects at once.",
            ),
        ] = 0.5,
        policy: Annotated[
            str | None,
            typer.Option("--policy", help="Take the withdrawal notice from this preset or file."),
        ] = None,
        plot: Annotated[
            Path | None,
            typer.Option(
                "--plot", help="Write the plots to FILE.html (Plotly, offline) or FILE.png."
            ),
        ] = None,
        evaluation: Annotated[
            Path | None,
            typer.Option(
                "--evaluation",
                metavar="REPORT.json",
                help="Take each kind's detection from the report of `pausewatch detect evaluate "
                "DIR --json`: its detection before completion, turned into the detection per "
                "inspection that gives it over --run-periods x --inspections looks. Kinds the "
                "report lacks keep --detection; --kind-detection still overrides.",
            ),
        ] = None,
        pessimistic: Annotated[
            bool,
            typer.Option(
                "--pessimistic",
                help="With --evaluation: take each kind's interval's lower bound, not its "
                "estimate.",
            ),
        ] = False,
        evaluation_range: Annotated[
            bool,
            typer.Option(
                "--evaluation-range",
                help="With --evaluation: draw each kind's detection per replication from its "
                "interval (LOW:HIGH), so that the figures' intervals include the measurement's.",
            ),
        ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Run the agent-based model of the pause over Monte Carlo replications.

        Labs comply, defect in one of the detection kinds, or (their party) withdraw; each
        replication draws the uncertain inputs from their ranges. Prints the violation rate,
        time to detection, how often the pause holds and how often one defection triggers
        others, each with a 95% interval (docs/deterrence-abm.md)."""
        from pausewatch.errors import Error
        from pausewatch.simulate.abm import KINDS, MESA_MISSING, AbmConfig, monte_carlo
        from pausewatch.simulate.inspection import GameError

        if plot is not None and plot.suffix.lower() not in (".html", ".png"):
            fail(f"--plot must name a .html or .png file, got {plot}")
        try:
            import pausewatch.simulate.abm_model  # noqa: F401
        except ImportError:
            fail(MESA_MISSING)
        measured: dict[DefectionKind, Range] = {}
        taken: dict[str, Any] | None = None
        if evaluation is None and (pessimistic or evaluation_range):
            fail(
                f"{'--pessimistic' if pessimistic else '--evaluation-range'} goes only with "
                "--evaluation REPORT.json"
            )
        if evaluation is not None:
            from pausewatch.cli._simulate_games import read_evaluation

            if pessimistic and evaluation_range:
                fail("give at most one of --pessimistic and --evaluation-range")
            if inspections < 1:
                fail("--evaluation needs --inspections at least 1: no inspection detects nothing")
            figure = (
                "lower_bound" if pessimistic else "interval" if evaluation_range else "estimate"
            )
            try:
                measured, taken = _evaluation_detection(
                    read_evaluation(evaluation), figure, inspections, max(run_periods, 1)
                )
            except GameError as exc:
                fail(str(exc).splitlines()[0])
            taken["report"] = str(evaluation)
        try:
            every = _range(detection, "--detection")
            overrides = _kind_detection(kind_detection or [])
            per_kind = {kind: every for kind in KINDS} | measured | overrides
            if taken is not None:
                taken["overridden"] = [k.value for k in KINDS if k in overrides]
            values = {
                "agents": agents,
                "parties": parties,
                "periods": periods,
                "run_periods": run_periods,
                "inspections": inspections,
                "detection": per_kind,
                "prize": _range(prize, "--prize"),
                "penalty": _range(penalty, "--penalty"),
                "false_alarm_cost": _range(false_alarm_cost, "--false-alarm-cost"),
                "false_alarm_rate": _range(false_alarm_rate, "--false-alarm-rate"),
                "prize_spread": prize_spread,
                "contagion": contagion,
                "memory": memory,
                "withdrawal_cost": withdrawal_cost,
                "collapse_share": collapse_share,
            }
            if withdrawal_notice is not None:
                values["withdrawal_notice"] = withdrawal_notice
            if policy is not None:
                from pausewatch.cli._policy import resolve_policy

                config = AbmConfig.from_policy(resolve_policy(policy), **values)
            else:
                config = AbmConfig(**values)  # type: ignore[arg-type]
            if replications < 1:
                fail(f"--replications must be at least 1, got {replications}")
            if seed < 0:
                fail(f"--seed must be a whole number at least 0, got {seed}")
        except (GameError, Error) as exc:
            fail(str(exc).splitlines()[0])

        from pausewatch.cli._common import progress_display

        # The run and its summary are guarded too: whatever the model refuses is one line.
        try:
            with progress_display() as display:
                task = display.add_task("replications", total=replications)
                summary = monte_carlo(
                    config, replications, seed, progress=lambda n: display.update(task, completed=n)
                )
            figures = summary.to_json()
        except (GameError, Error) as exc:
            fail(str(exc).splitlines()[0])
        if plot is not None:
            _write_plot(summary, plot)
        if as_json:
            if taken is not None:
                figures["evaluation"] = taken
            print_json(figures)
            return
        if taken is not None:
            _taken_text(taken, detection)
        _text(summary)
        if plot is not None:
            out.print(f"plots written to {plot}")


def _shown(value: float | list[float]) -> str:
    if isinstance(value, list):
        return f"[{value[0]:.3g}, {value[1]:.3g}]"
    return f"{value:.3g}"


def _taken_text(taken: dict[str, Any], detection: str) -> None:
    from rich.markup import escape

    name = {
        "estimate": "estimates",
        "lower_bound": "intervals' lower bounds",
        "interval": "intervals",
    }
    out.print(
        f"detection from evaluation {escape(str(taken['evaluation_id']))} "
        f"({name[taken['figure']]}) for {len(taken['kinds'])} kind(s): "
        + ", ".join(
            f"{kind} {_shown(row['detection_before_completion'])}"
            for kind, row in taken["kinds"].items()
        )
    )
    if taken["lacking"]:
        fallback = [k for k in taken["lacking"] if k not in taken["overridden"]]
        which = "them" if fallback == taken["lacking"] else ", ".join(fallback)
        out.print(
            f"the report gives no figure for {', '.join(taken['lacking'])}"
            + (f": --detection {escape(detection)} per inspection for {which}" if fallback else "")
        )
    if taken["not_modelled"]:
        out.print(f"not modelled by the ABM: {escape(', '.join(taken['not_modelled']))}")
    if taken["overridden"]:
        out.print(f"--kind-detection overrides: {', '.join(taken['overridden'])}")


def _write_plot(summary: AbmSummary, path: Path) -> None:
    from pausewatch.simulate.abm_plots import abm_html, abm_png

    try:
        if path.suffix.lower() == ".png":
            try:
                data = abm_png(summary)
            except ImportError:
                fail("a PNG needs matplotlib: install the simulate extra (pausewatch[simulate])")
            path.write_bytes(data)
        else:
            path.write_text(abm_html(summary), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")


__all__ = ["register"]
