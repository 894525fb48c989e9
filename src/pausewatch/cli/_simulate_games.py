"""``pausewatch simulate`` commands: the inspection games (issue 18, docs/deterrence.md,
docs/adr/0045-inspection-games.md)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pausewatch.cli._common import JsonOpt, fail, out, print_json

if TYPE_CHECKING:
    from pausewatch.simulate.games import Sweep
    from pausewatch.simulate.inspection import RocPoint

GainOpt = Annotated[
    float, typer.Option("--gain", help="d: the inspectee's gain from an undetected violation.")
]
PenaltyOpt = Annotated[
    float, typer.Option("--penalty", help="b: the inspectee's loss when a violation is caught.")
]
FalseAlarmCostOpt = Annotated[
    float,
    typer.Option("--false-alarm-cost", help="h: the inspectee's cost of a false alarm."),
]

DEFAULT_POLICY = "miri-2025"
"""The preset whose thresholds an evaluation file is judged under by default: the one the demo
(``make run``) adopts."""

ROC_HELP = (
    'A JSON file holding the detector\'s ROC: a list of {"false_alarm_rate": A, "detection": P} '
    "objects. Points between two given ones are reached by randomising between their "
    "thresholds (the concave envelope); nothing past the largest rate is assumed. Without "
    "--false-alarm-rate the rate that maximises the margin is chosen."
)


def _load_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {what}: {exc.strerror}")
    except UnicodeDecodeError as exc:
        fail(f"{what} is not JSON: {exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not JSON: {exc}")
    except RecursionError:
        fail(f"{what} is not JSON this reader takes: it is nested too deeply")
    except ValueError:
        # Python refuses to read an integer of more than 4,300 digits.
        fail(f"{what} is not JSON this reader takes: it holds a number too long to read")


def _number(value: Any) -> float | None:
    # A JSON number as a float: None for anything else. An integer past the float range becomes
    # inf, which the games refuse in one line naming the field.
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _read_roc(path: Path) -> list[RocPoint]:
    from pausewatch.simulate.inspection import RocPoint

    raw = _load_json(path, f"the ROC file {path}")
    if not isinstance(raw, list):
        fail(f'the ROC file {path} must hold a list of {{"false_alarm_rate", "detection"}} objects')
    points = []
    for i, item in enumerate(raw):
        alpha, detection = (
            (_number(item.get("false_alarm_rate")), _number(item.get("detection")))
            if isinstance(item, dict)
            else (None, None)
        )
        if (
            not isinstance(item, dict)
            or set(item) != {"false_alarm_rate", "detection"}
            or alpha is None
            or detection is None
        ):
            fail(
                f"the ROC file {path}: item {i} must be an object with the numbers "
                '"false_alarm_rate" and "detection" and nothing else'
            )
        points.append(RocPoint(alpha, detection))
    return points


def _read_times(path: Path) -> list[float | None]:
    raw = _load_json(path, str(path))
    if not isinstance(raw, list):
        fail(f"{path} must hold a list of numbers of days (null: never detected)")
    times: list[float | None] = []
    for t in raw:
        days = _number(t)
        if t is not None and days is None:
            fail(f"{path} must hold a list of numbers of days (null: never detected)")
        times.append(days)
    return times


def _finite(**values: float | None) -> None:
    # Names the flag (--false-alarm-cost) where the games would name the parameter.
    for name, value in values.items():
        if value is not None and math.isinf(value):
            fail(f"--{name.replace('_', '-')} must be a finite number, got {value}")


def _figure(value: float | None) -> str:
    return "none" if value is None or math.isinf(value) else f"{value:.4g}"


def _print_assessment(data: dict[str, Any]) -> None:
    verdict = "deterred" if data["deterred"] else "NOT deterred"
    out.print(
        f"{verdict}: detection {data['detection']:.4g} against {data['required_detection']:.4g} "
        f"required (margin {data['margin']:+.4g}) at false-alarm rate "
        f"{data['false_alarm_rate']:.4g}; the penalty that would just deter: "
        + (
            f"beyond the float range ({sys.float_info.max:.4g})"
            if data["needed_penalty"] is None and data["detection"] > 0
            else _figure(data["needed_penalty"])
        )
    )


def _deterrence(
    gain: float,
    penalty: float,
    false_alarm_cost: float,
    false_alarm_rate: float | None,
    detection: float | None,
    roc: Path | None,
    balance_sigma: float | None,
    loss: float | None,
    max_false_alarm_rate: float,
) -> dict[str, Any]:
    from pausewatch.simulate.inspection import (
        assess,
        balance_detection,
        best_balance_threshold,
        best_on_roc,
        required_detection,
        roc_detection,
        roc_hull,
    )

    _finite(gain=gain, penalty=penalty, false_alarm_cost=false_alarm_cost, loss=loss)
    sources = [
        detection is not None,
        roc is not None,
        balance_sigma is not None or loss is not None,
    ]
    if sum(sources) > 1:
        fail("give at most one of --detection, --roc and --balance-sigma with --loss")
    if (balance_sigma is None) != (loss is None):
        fail("--balance-sigma and --loss go together")
    alpha = 0.0 if false_alarm_rate is None else false_alarm_rate
    if detection is not None:
        return {
            "source": "detection",
            **assess(gain, penalty, false_alarm_cost, alpha, detection).to_json(),
        }
    if roc is not None:
        points = _read_roc(roc)
        if false_alarm_rate is None:
            a = best_on_roc(gain, penalty, false_alarm_cost, points)
        else:
            a = assess(gain, penalty, false_alarm_cost, alpha, roc_detection(points, alpha))
        hull = [
            {"false_alarm_rate": p.false_alarm_rate, "detection": p.detection}
            for p in roc_hull(points)
        ]
        return {
            "source": "roc",
            "chosen": false_alarm_rate is None,
            **a.to_json(),
            "roc_hull": hull,
        }
    if balance_sigma is not None and loss is not None:
        if false_alarm_rate is None:
            a = best_balance_threshold(
                gain, penalty, false_alarm_cost, loss, balance_sigma, max_false_alarm_rate
            )
        else:
            a = assess(
                gain,
                penalty,
                false_alarm_cost,
                alpha,
                balance_detection(loss, balance_sigma, alpha),
            )
        return {
            "source": "balance",
            "chosen": false_alarm_rate is None,
            "loss": loss,
            "balance_sigma": balance_sigma,
            **a.to_json(),
        }
    return {
        "source": None,
        "gain": gain,
        "penalty": penalty,
        "false_alarm_cost": false_alarm_cost,
        "false_alarm_rate": alpha,
        "required_detection": required_detection(gain, penalty, false_alarm_cost, alpha),
    }


def _plot(result: Sweep, path: Path) -> None:
    curves = result.to_json()["curves"]
    ratios = [float(x) for x in result.gain_ratio]
    title = "Detection needed to deter (inspector leadership)"
    if path.suffix.lower() == ".html":
        import plotly.graph_objects as go

        fig = go.Figure()
        for c in curves:
            fig.add_trace(
                go.Scatter(
                    x=ratios,
                    y=c["required_detection"],
                    mode="lines",
                    name=f"alpha {c['false_alarm_rate']:g}, h/b {c['false_alarm_cost_ratio']:g}",
                )
            )
        fig.add_hline(y=1.0, line_dash="dot", annotation_text="no detector deters above")
        fig.update_layout(
            title=title,
            xaxis={"title": "gain / penalty (d/b)", "type": "log"},
            yaxis={"title": "required detection (d + h alpha)/(d + b)"},
        )
        # The whole plotly.js inside, so that the report opens with no network.
        fig.write_html(str(path), include_plotlyjs=True, full_html=True)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig2, ax = plt.subplots(figsize=(8, 5))
    for c in curves:
        ax.plot(
            ratios,
            c["required_detection"],
            label=f"alpha {c['false_alarm_rate']:g}, h/b {c['false_alarm_cost_ratio']:g}",
        )
    ax.axhline(1.0, linestyle=":", color="grey")
    ax.set_xscale("log")
    ax.set_xlabel("gain / penalty (d/b)")
    ax.set_ylabel("required detection (d + h alpha)/(d + b)")
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig2.tight_layout()
    fig2.savefig(path, format="png", dpi=120)
    plt.close(fig2)


def _floats(name: str, text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        fail(f"{name} must be a comma-separated list of numbers, got {text!r}")
    if not values:
        fail(f"{name} must hold at least one number")
    return values


EVALUATION_HELP = (
    "The JSON report of `pausewatch detect evaluate DIR --json`: judge each defection kind it "
    "measured, as the Deterrence page judges the published one (docs/deterrence.md)."
)


def read_evaluation(path: Path) -> dict[str, Any]:
    """The report at ``path`` as the log would keep it once published
    (:func:`pausewatch.service.evaluation_of_report`: the mapping of ``pausewatch detect
    publish``); one line and exit 1 for a file that is not such a report."""
    from pausewatch.service import evaluation_of_report

    report = _load_json(path, f"the evaluation report {path}")
    try:
        return evaluation_of_report(report)
    except ValueError as exc:
        fail(f"the evaluation report {path}: {str(exc).splitlines()[0]}")


def _verdict(value: bool | None) -> str:
    return {True: "yes", False: "NO", None: "-"}[value]


def _print_rows(answer: dict[str, Any], path: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    evaluation = answer["evaluation"]
    policy = answer["policy"]
    alarms = answer["false_alarms"]
    a = answer["assumptions"]
    out.print(
        f"evaluation {escape(str(evaluation['evaluation_id']))} from {escape(str(path))}; "
        f"policy {escape(policy['id']) if policy else 'none'}; d={a['gain']:g}, "
        f"b={a['penalty']:g}, h={a['false_alarm_cost']:g}; false alarms "
        f"{alarms['per_facility_year']:.4g} per facility-year ({alarms['source']}) over "
        f"{alarms['days']:g} days: alpha {alarms['probability']:.4g}"
    )
    table = Table(title="deterrence per defection kind (95% intervals)")
    table.add_column("kind", no_wrap=True)
    for column in (
        "detection",
        "interval",
        "required",
        "margin",
        "deterred",
        "at low",
        "needed penalty",
        "source",
    ):
        table.add_column(column)
    rows = [*answer["rows"], answer["transcript"]]
    if answer["overall"] is not None:
        rows.append(answer["overall"])
    for row in rows:
        interval = row["interval"]
        needed = row["needed"] or {}
        table.add_row(
            escape(row["kind"]),
            _figure(row["detection"]),
            "-" if interval is None else f"[{interval[0]:.3g}, {interval[1]:.3g}]",
            _figure(row["required_detection"]),
            "-" if row["margin"] is None else f"{row['margin']:+.3g}",
            _verdict(row["deterred"]),
            _verdict(row["deterred_low"]),
            _figure(needed.get("penalty")),
            escape(row["source"] + (f" ({row['judged_on']})" if row.get("judged_on") else "")),
        )
    out.print(table)
    summary = answer["summary"]
    out.print(
        f"deterred: {', '.join(summary['deterred']) or 'none'}; not deterred: "
        f"{', '.join(summary['not_deterred']) or 'none'}; without a figure: "
        f"{', '.join(summary['without_figure']) or 'none'}"
    )


def _from_evaluation(
    path: Path,
    policy_id: str,
    at: str | None,
    assumptions: dict[str, Any],
    kind_detection: list[str],
) -> dict[str, Any]:
    """``GET /v1/deterrence``'s document for the report at ``path`` under the preset (or
    policy file) ``policy_id``."""
    from pausewatch.cli._policy import parse_time, resolve_policy
    from pausewatch.errors import Error
    from pausewatch.service import Assumptions, DeterrenceError, deterrence_of, policy_summary
    from pausewatch.service._deterrence import parse_detection

    evaluation = read_evaluation(path)
    try:
        policy = resolve_policy(policy_id)
        when = parse_time(at)
        given = {k: v for k, v in assumptions.items() if v is not None}
        chosen = Assumptions(**given, detection=parse_detection(kind_detection))
    except DeterrenceError as exc:
        option = "kind-detection" if exc.parameter == "detection" else exc.parameter
        fail(f"--{option.replace('_', '-')}: {str(exc).partition(': ')[2]}")
    except Error as exc:
        fail(str(exc).splitlines()[0])
    return deterrence_of(evaluation, policy_summary(policy), chosen, when)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``pausewatch simulate``."""
    game = typer.Typer(
        help="Equilibria of the inspection games: Dresher's sequential game, the simultaneous one.",
        no_args_is_help=True,
    )
    app.add_typer(game, name="game")

    @app.command(
        "deterrence",
        short_help="Whether a detection figure deters: (d + h*alpha)/(d + b) and the margin.",
    )
    def deterrence_cmd(
        gain: Annotated[
            float | None,
            typer.Option(
                "--gain",
                help="d: the inspectee's gain from an undetected violation (required without "
                "--evaluation; with it, default 1).",
            ),
        ] = None,
        penalty: Annotated[
            float | None,
            typer.Option(
                "--penalty",
                help="b: the inspectee's loss when a violation is caught (required without "
                "--evaluation; with it, default 1).",
            ),
        ] = None,
        false_alarm_cost: Annotated[
            float | None,
            typer.Option(
                "--false-alarm-cost",
                help="h: the inspectee's cost of a false alarm (default 0; with --evaluation, "
                "0.5 as on the Deterrence page).",
            ),
        ] = None,
        false_alarm_rate: Annotated[
            float | None,
            typer.Option(
                "--false-alarm-rate",
                help="alpha: the false-alarm probability (default 0; with --roc or a balance, "
                "leave it out to have the best one chosen).",
            ),
        ] = None,
        detection: Annotated[
            float | None, typer.Option("--detection", help="The measured probability of detection.")
        ] = None,
        roc: Annotated[Path | None, typer.Option("--roc", help=ROC_HELP)] = None,
        balance_sigma: Annotated[
            float | None,
            typer.Option(
                "--balance-sigma", help="A Gaussian balance's standard deviation (with --loss)."
            ),
        ] = None,
        loss: Annotated[
            float | None,
            typer.Option(
                "--loss", help="The diversion the balance must catch (with --balance-sigma)."
            ),
        ] = None,
        max_false_alarm_rate: Annotated[
            float,
            typer.Option(
                "--max-false-alarm-rate",
                help="The largest alpha a balance may be run at when it is chosen.",
            ),
        ] = 1.0,
        evaluation: Annotated[
            Path | None, typer.Option("--evaluation", metavar="REPORT.json", help=EVALUATION_HELP)
        ] = None,
        policy: Annotated[
            str | None,
            typer.Option(
                "--policy",
                help="With --evaluation: the policy preset (or file) whose thresholds are shown "
                f"(default {DEFAULT_POLICY}, the one the demo adopts).",
            ),
        ] = None,
        run_days: Annotated[
            float | None,
            typer.Option(
                "--run-days",
                help="With --evaluation: days a prohibited run takes, over which false alarms "
                "accrue (default 30).",
            ),
        ] = None,
        false_alarms: Annotated[
            float | None,
            typer.Option(
                "--false-alarms",
                help="With --evaluation: false alarms per facility-year (default: the report's).",
            ),
        ] = None,
        forged_fraction: Annotated[
            float | None,
            typer.Option(
                "--forged-fraction",
                help="With --evaluation: the share of a forged transcript's segments fabricated "
                "(default 0.1).",
            ),
        ] = None,
        transcript_budget: Annotated[
            float | None,
            typer.Option(
                "--transcript-budget",
                help="With --evaluation: the audit's replay budget (default 0.05).",
            ),
        ] = None,
        transcript_segments: Annotated[
            int | None,
            typer.Option(
                "--transcript-segments",
                help="With --evaluation: segments of an audited transcript (default 200).",
            ),
        ] = None,
        kind_detection: Annotated[
            list[str] | None,
            typer.Option(
                "--kind-detection",
                help="With --evaluation: KIND:P overrides one kind's detection (repeatable).",
            ),
        ] = None,
        at: Annotated[
            str | None,
            typer.Option(
                "--at", help="With --evaluation: the time the answer states (default now)."
            ),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The detection probability that deters under inspector leadership, (d + h*alpha)/(d + b),
        and, given a detection figure, a detector's ROC or a Gaussian balance, whether the
        inspectee is deterred and by what margin; given an evaluation report, the Deterrence
        page's table for each defection kind it measured."""
        from pausewatch.simulate.inspection import GameError

        only_with_evaluation = {
            "--policy": policy,
            "--run-days": run_days,
            "--false-alarms": false_alarms,
            "--forged-fraction": forged_fraction,
            "--transcript-budget": transcript_budget,
            "--transcript-segments": transcript_segments,
            "--kind-detection": kind_detection,
            "--at": at,
        }
        if evaluation is not None:
            single = {
                "--false-alarm-rate": false_alarm_rate,
                "--detection": detection,
                "--roc": roc,
                "--balance-sigma": balance_sigma,
                "--loss": loss,
            }
            clash = [name for name, value in single.items() if value is not None]
            if clash:
                fail(
                    f"{clash[0]} does not go with --evaluation (the report gives the detection, "
                    "and --false-alarms per facility-year over --run-days the false alarms)"
                )
            _finite(gain=gain, penalty=penalty, false_alarm_cost=false_alarm_cost)
            answer = _from_evaluation(
                evaluation,
                policy or DEFAULT_POLICY,
                at,
                {
                    "gain": gain,
                    "penalty": penalty,
                    "false_alarm_cost": false_alarm_cost,
                    "run_days": run_days,
                    "false_alarms": false_alarms,
                    "forged_fraction": forged_fraction,
                    "transcript_budget": transcript_budget,
                    "transcript_segments": transcript_segments,
                },
                kind_detection or [],
            )
            if as_json:
                print_json(answer)
            else:
                _print_rows(answer, evaluation)
            return
        given = [name for name, value in only_with_evaluation.items() if value]
        if given:
            fail(f"{given[0]} goes only with --evaluation REPORT.json")
        if gain is None or penalty is None:
            fail("give --gain and --penalty (or --evaluation REPORT.json)")
        if false_alarm_cost is None:
            false_alarm_cost = 0.0
        try:
            data = _deterrence(
                gain,
                penalty,
                false_alarm_cost,
                false_alarm_rate,
                detection,
                roc,
                balance_sigma,
                loss,
                max_false_alarm_rate,
            )
        except GameError as exc:
            fail(str(exc))
        if as_json:
            print_json(data)
        elif data["source"] is None:
            out.print(
                f"required detection: {data['required_detection']:.4g} "
                f"(d={gain:g}, b={penalty:g}, h={false_alarm_cost:g}, "
                f"alpha={data['false_alarm_rate']:g})"
                + (
                    "; no detector can deter at these stakes"
                    if data["required_detection"] > 1
                    else ""
                )
            )
        else:
            _print_assessment(data)

    @game.command(
        "dresher",
        short_help="Dresher's sequential game: value and first-period strategies, two ways.",
    )
    def dresher_cmd(
        periods: Annotated[int, typer.Option("--periods", help="n: the number of periods.")],
        inspections: Annotated[
            int, typer.Option("--inspections", help="m: the number of inspections.")
        ],
        penalty: Annotated[
            str,
            typer.Option(
                "--penalty",
                help="b: a caught violation scores -b (a number or a fraction such as 1/3).",
            ),
        ],
        as_json: JsonOpt = False,
    ) -> None:
        """Dresher's sequential inspection game (von Stengel 2016): its value to the inspectee and
        the first period's equilibrium, by backward induction and by the closed form."""
        from pausewatch.simulate.games import dresher
        from pausewatch.simulate.inspection import GameError

        try:
            result = dresher(periods, inspections, penalty)
        except GameError as exc:
            fail(str(exc))
        if as_json:
            print_json(result.to_json())
            return
        out.print(
            f"value {result.value} = {float(result.value):.6g} (closed form "
            f"{result.value_closed_form}: {'agrees' if result.agree else 'DISAGREES'}); "
            f"first period: inspect with {float(result.inspect_probability):.4g}, "
            f"violate with {float(result.violate_probability):.4g}"
        )

    @game.command(
        "simultaneous",
        short_help="The simultaneous game's equilibrium beside inspector leadership's.",
    )
    def simultaneous_cmd(
        gain: GainOpt,
        penalty: PenaltyOpt,
        inspection_cost: Annotated[
            float,
            typer.Option("--inspection-cost", help="e: the inspector's cost of an inspection."),
        ],
        damage: Annotated[
            float,
            typer.Option("--damage", help="c: the inspector's loss from an undetected violation."),
        ],
        detected_loss: Annotated[
            float,
            typer.Option(
                "--detected-loss",
                help="a: the inspector's loss from a detected violation (at most c).",
            ),
        ] = 0.0,
        detection: Annotated[
            float,
            typer.Option("--detection", help="1-beta: detection when inspecting a violation."),
        ] = 1.0,
        false_alarm_rate: Annotated[
            float,
            typer.Option(
                "--false-alarm-rate", help="alpha: a false alarm when inspecting compliance."
            ),
        ] = 0.0,
        false_alarm_cost: FalseAlarmCostOpt = 0.0,
        as_json: JsonOpt = False,
    ) -> None:
        """The simultaneous inspection game's equilibrium (checked with nashpy where installed)
        beside inspector leadership's: a larger penalty lowers the inspection rate, not the
        violation rate, unless the inspector commits in advance."""
        from pausewatch.simulate.games import simultaneous
        from pausewatch.simulate.inspection import GameError

        try:
            g = simultaneous(
                gain,
                penalty,
                detection=detection,
                false_alarm_rate=false_alarm_rate,
                false_alarm_cost=false_alarm_cost,
                inspection_cost=inspection_cost,
                damage=damage,
                detected_loss=detected_loss,
            )
        except GameError as exc:
            fail(str(exc))
        if g.nashpy_agrees is False:
            fail("nashpy does not find the closed form's equilibrium (please report these inputs)")
        if as_json:
            print_json(g.to_json())
            return
        checked = "checked with nashpy" if g.nashpy_agrees else g.nashpy_note or "not checked"
        out.print(
            f"simultaneous ({g.kind}, {checked}): inspect {g.inspect_probability:.4g}, violate "
            f"{g.violate_probability:.4g}; inspector leadership: inspect "
            f"{g.leader_inspect_probability:.4g}, violate {g.leader_violate_probability:.4g}"
        )

    @app.command("power", short_help="The power of a Gaussian balance test (Neyman-Pearson).")
    def power_cmd(
        loss: Annotated[float, typer.Option("--loss", help="M: the loss (diversion) to detect.")],
        sigma: Annotated[float, typer.Option("--sigma", help="The balance's standard deviation.")],
        false_alarm_rate: Annotated[
            float,
            typer.Option(
                "--false-alarm-rate", help="alpha: the balance's false-alarm probability."
            ),
        ],
        target: Annotated[
            float,
            typer.Option(
                "--target",
                help="A detection probability 1-beta: the loss detectable with it is printed.",
            ),
        ] = 0.95,
        as_json: JsonOpt = False,
    ) -> None:
        """The power of a Gaussian balance test (Neyman-Pearson):
        1-beta = Phi(M/sigma - z(1-alpha)), and the loss it detects with --target,
        (z(1-alpha) + z(target))*sigma."""
        from statistics import NormalDist

        from pausewatch.simulate.inspection import GameError, balance_detection

        try:
            detection = balance_detection(loss, sigma, false_alarm_rate)
        except GameError as exc:
            fail(str(exc))
        if not 0 < target < 1:
            fail(f"target must be between 0 and 1 (exclusive), got {target}")
        if 0 < false_alarm_rate < 1:
            unit = NormalDist()
            detectable: float | None = (
                unit.inv_cdf(1 - false_alarm_rate) + unit.inv_cdf(target)
            ) * sigma
        else:
            detectable = None
        data = {
            "loss": loss,
            "sigma": sigma,
            "false_alarm_rate": false_alarm_rate,
            "detection": detection,
            "target": target,
            "detectable_loss": detectable,
        }
        if as_json:
            print_json(data)
            return
        out.print(
            f"detection {detection:.4g} of a loss {loss:g} "
            f"(sigma {sigma:g}, alpha {false_alarm_rate:g}); "
            f"loss detected with {target:g}: {_figure(detectable)}"
        )

    @app.command(
        "timeliness", short_help="The probability that a run is detected before it completes."
    )
    def timeliness_cmd(
        detection: Annotated[
            float | None,
            typer.Option("--detection", help="p: the chance of detection in each period."),
        ] = None,
        periods: Annotated[
            float | None, typer.Option("--periods", help="T: the periods a run needs to complete.")
        ] = None,
        times: Annotated[
            Path | None,
            typer.Option(
                "--times",
                help="A JSON list of measured days to detection (null: never detected), "
                "instead of --detection.",
            ),
        ] = None,
        run_days: Annotated[
            float | None, typer.Option("--run-days", help="The days a run needs (with --times).")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """The probability that a run is detected before it completes: 1 - (1-p)^T, or the share of
        measured times to detection below the run's length, with a Wilson 95% interval."""
        from pausewatch.simulate.inspection import (
            GameError,
            timely_detection,
            timely_detection_from,
        )

        data: dict[str, Any]
        try:
            if times is not None:
                if detection is not None or periods is not None or run_days is None:
                    fail("--times goes with --run-days (and not with --detection or --periods)")
                measured = _read_times(times)
                data = {
                    "source": "measured",
                    **timely_detection_from(measured, run_days).to_json(),
                }
                data["timely_detection"] = data["probability"]
            else:
                if detection is None or periods is None:
                    fail("give --detection and --periods, or --times and --run-days")
                data = {
                    "source": "per_period",
                    "detection": detection,
                    "periods": periods,
                    "timely_detection": timely_detection(detection, periods),
                }
        except GameError as exc:
            fail(str(exc))
        if as_json:
            print_json(data)
        elif data["source"] == "measured":
            out.print(
                f"detected before completion in {data['detected']} of {data['runs']} runs: "
                f"{data['probability']:.4g} (95% {data['low']:.4g} to {data['high']:.4g})"
            )
        else:
            out.print(f"detected before completion with probability {data['timely_detection']:.4g}")

    @app.command(
        "sweep",
        short_help="The threshold over a grid of stakes, with a plot (at least 10,000 points).",
    )
    def sweep_cmd(
        detection_points: Annotated[
            int,
            typer.Option(
                "--detection-points",
                help="Detection probabilities from 0 to 1 (the grid holds at most 1,000,000 "
                "points).",
            ),
        ] = 51,
        ratio_min: Annotated[
            float, typer.Option("--ratio-min", help="The smallest gain/penalty d/b.")
        ] = 0.01,
        ratio_max: Annotated[
            float, typer.Option("--ratio-max", help="The largest gain/penalty d/b.")
        ] = 100.0,
        ratio_points: Annotated[
            int,
            typer.Option(
                "--ratio-points",
                help="Gain/penalty ratios, log-spaced (the grid holds at most 1,000,000 points).",
            ),
        ] = 41,
        false_alarm_rates: Annotated[
            str, typer.Option("--false-alarm-rates", help="Comma-separated false-alarm rates.")
        ] = "0,0.01,0.05,0.1,0.2",
        false_alarm_cost_ratios: Annotated[
            str, typer.Option("--false-alarm-cost-ratios", help="Comma-separated h/b.")
        ] = "0,1",
        plot: Annotated[
            Path | None,
            typer.Option("--plot", help="Write a plot: .html (Plotly, self-contained) or .png."),
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Sweep the inspector-leadership threshold over a grid (by default 51 x 41 x 5 x 2 =
        20,910 points; at most 1,000,000): the share of points deterred and the threshold
        curves."""
        import numpy as np

        from pausewatch.cli._common import progress_display
        from pausewatch.simulate.games import MAX_SWEEP_POINTS, sweep
        from pausewatch.simulate.inspection import GameError

        if plot is not None and plot.suffix.lower() not in (".html", ".png"):
            fail(f"--plot must end in .html or .png, got {plot.name}")
        if detection_points < 1 or ratio_points < 1:
            fail("--detection-points and --ratio-points must be at least 1")
        if not 0 < ratio_min <= ratio_max or not math.isfinite(ratio_max):
            fail("the gain/penalty ratios must satisfy 0 < --ratio-min <= --ratio-max (finite)")
        alphas = _floats("--false-alarm-rates", false_alarm_rates)
        etas = _floats("--false-alarm-cost-ratios", false_alarm_cost_ratios)
        points = detection_points * ratio_points * len(alphas) * len(etas)
        if points > MAX_SWEEP_POINTS:
            # Before the axes are built: --detection-points 1e12 would allocate first.
            fail(
                f"the grid must hold at most {MAX_SWEEP_POINTS:,} points, got {points:,}: "
                "lower --detection-points, --ratio-points or the lists of rates and costs"
            )
        detections = (
            np.linspace(0.0, 1.0, detection_points) if detection_points > 1 else np.array([1.0])
        )
        ratios = np.geomspace(ratio_min, ratio_max, ratio_points)
        try:
            with progress_display() as display:
                task = display.add_task(
                    "sweep", total=detection_points * ratio_points * len(alphas) * len(etas)
                )
                display.update(task, visible=not as_json)
                result = sweep(
                    list(detections),
                    list(ratios),
                    alphas,
                    etas,
                    progress=lambda done, _total: display.update(task, completed=done),
                )
        except GameError as exc:
            fail(str(exc))
        if plot is not None:
            try:
                _plot(result, plot)
            except OSError as exc:
                fail(f"cannot write {plot}: {exc.strerror}")
        data = result.to_json()
        data["plot"] = None if plot is None else str(plot)
        if as_json:
            print_json(data)
            return
        out.print(
            f"{data['points']:,} points: {data['deterred']:,} deterred "
            f"({data['share_deterred']:.1%})"
            + (f"; plot written to {plot}" if plot is not None else "")
        )


__all__ = ["register"]
