"""``pausewatch detect``: sampling plans for inspections and run lengths of sequential tests."""

from __future__ import annotations

import json
import sys
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pausewatch.cli._common import (
    DEFAULT_URL,
    DataDirOpt,
    JsonOpt,
    KeysDirOpt,
    UrlOpt,
    fail,
    keys_dir,
    out,
    print_json,
    progress_display,
    read_verifier,
)
from pausewatch.errors import DetectionError, Error

# pausewatch.detect (numpy, and scipy once a run length is computed) is imported by the commands
# that use it, so that every other command starts as fast as before.

app = typer.Typer(
    help=(
        "Detection: inspection sampling plans and draws, CUSUM run lengths, chip balances, "
        "published evaluations."
    ),
    no_args_is_help=True,
)


@app.command("plan")
def plan_cmd(
    population: Annotated[
        int, typer.Option("--population", help="N: items a falsification could hide among.")
    ],
    defects: Annotated[
        int, typer.Option("--defects", help="M: the fewest items a falsification needs.")
    ],
    detection: Annotated[
        float | None,
        typer.Option("--detection", help="1 - beta: probability of detection asked for."),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample-size", help="Instead of --detection: the detection of a sample this size."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """How many items an inspection verifies (exact hypergeometric law).

    The smallest sample that finds a falsification of at least M of N items with the
    probability asked for (--detection), or the detection of a given sample (--sample-size).
    """
    from pausewatch.detect import detection_probability, plan

    if (detection is None) == (sample is None):
        fail("expected exactly one of --detection P and --sample-size n")
    result: dict[str, Any]
    try:
        if detection is not None:
            p = plan(population=population, defects=defects, detection=detection)
            result = {
                "population": p.population,
                "defects": p.defects,
                "detection_target": p.detection_target,
                "sample_size": p.sample_size,
                "detection": p.detection,
                "miss": p.miss,
                "approximate_sample_size": p.approximate_sample_size,
                "law": "hypergeometric",
            }
        else:
            assert sample is not None
            found = detection_probability(
                population=population, defects=defects, sample_size=sample
            )
            result = {
                "population": population,
                "defects": defects,
                "sample_size": sample,
                "detection": found,
                "miss": 1.0 - found,
                "law": "hypergeometric",
            }
    except DetectionError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
        return
    out.print(
        f"verify {result['sample_size']} of {population} items: a falsification of at least "
        f"{defects} is found with probability {result['detection']:.6f} (exact, hypergeometric)"
    )
    if "approximate_sample_size" in result:
        out.print(
            f"  asked for {result['detection_target']:g}; the approximation N(1 - beta^(1/M)) "
            f"gives {result['approximate_sample_size']}"
        )


@app.command("arl")
def arl_cmd(
    k: Annotated[float, typer.Option("--k", help="Reference value, in standard deviations.")],
    h: Annotated[float, typer.Option("--h", help="Decision interval, in standard deviations.")],
    shift: Annotated[
        float, typer.Option("--shift", help="Mean shift of the residuals (0: in control).")
    ] = 0.0,
    start: Annotated[
        float, typer.Option("--start", help="Head start S_0 (fast initial response).")
    ] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Average run length of a one-sided CUSUM on standard normal residuals.

    S_t = max(0, S_t-1 + X_t - k), alarm when S_t > h, for X_t ~ N(shift, 1); with the
    in-control ARL and its false-alarm probability per period.
    """
    from pausewatch.detect import cusum_arl_markov, cusum_run_length, two_sided_arl

    try:
        run = cusum_run_length(k=k, h=h, shift=shift, start=start)
        in_control: float | None
        if shift == 0.0 and start == 0.0:
            in_control = run.arl
        else:
            try:
                in_control = cusum_run_length(k=k, h=h).arl
            except DetectionError:
                in_control = None  # beyond 1e12 periods: no false alarm worth a figure
        result: dict[str, Any] = {
            "k": k,
            "h": h,
            "shift": shift,
            "start": start,
            "arl": run.arl,
            "in_control_arl": in_control,
            "false_alarm_per_period": None if in_control is None else 1.0 / in_control,
            "two_sided_arl": two_sided_arl(k=k, h=h, shift=shift) if start == 0.0 else None,
            "markov_chain_arl": cusum_arl_markov(k=k, h=h, shift=shift) if start == 0.0 else None,
            "method": run.method,
            "nodes": run.nodes,
            "relative_accuracy": run.accuracy,
        }
    except DetectionError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
        return
    out.print(
        f"ARL {run.arl:.6g} periods (one-sided CUSUM, k={k:g}, h={h:g}, shift={shift:g}"
        + (f", head start {start:g}" if start else "")
        + ")"
    )
    if in_control is None:
        out.print("  in control: ARL beyond 1e12 periods")
    else:
        out.print(
            f"  in control: ARL {in_control:.6g}, false alarms {1.0 / in_control:.3g} per period"
        )
    if result["two_sided_arl"] is not None:
        out.print(f"  two-sided scheme (same k, h): ARL {result['two_sided_arl']:.6g}")
    out.print(f"  {escape(run.method)}, {run.nodes} nodes, relative accuracy {run.accuracy:.1g}")


@app.command("interval")
def interval_cmd(
    k: Annotated[float, typer.Option("--k", help="Reference value, in standard deviations.")],
    in_control_arl: Annotated[
        float,
        typer.Option("--in-control-arl", help="Target ARL in control (1 / false-alarm rate)."),
    ],
    as_json: JsonOpt = False,
) -> None:
    """The decision interval h for a target in-control ARL (one-sided CUSUM)."""
    from pausewatch.detect import cusum_run_length, decision_interval

    try:
        h = decision_interval(k=k, in_control_arl=in_control_arl)
        run = cusum_run_length(k=k, h=h)
    except DetectionError as exc:
        fail(str(exc))
    result = {
        "k": k,
        "in_control_arl_target": in_control_arl,
        "h": h,
        "in_control_arl": run.arl,
        "false_alarm_per_period": 1.0 / run.arl,
    }
    if as_json:
        print_json(result)
        return
    out.print(f"h = {h:.6g} gives ARL {run.arl:.6g} in control (k={k:g})")


@app.command("evaluate")
def evaluate_cmd(
    corpus: Annotated[
        Path, typer.Argument(help="A directory of scenario files (pausewatch simulate scenarios).")
    ],
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir", help="Where each scenario's temporary log goes (default: the system's)."
        ),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option("--outcomes", help="Also write each scenario's outcome here (JSON lines)."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Scenarios played at once, each in a process of its own (one per core is "
            "the fastest); the report is the same but for its timings.",
        ),
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Play every scenario of a corpus through the real ingest and measure the detectors.

    Per defection kind and overall: detection before the defecting run could have completed
    and before it crossed the prohibited threshold, the median days to detection, false alarms
    per facility-year on the honest scenarios, each with its 95% interval; the kinds it cannot
    detect; the seeds fit on and evaluated on (a corpus that overlaps the fit range is refused).
    """
    from pausewatch.simulate.scenario import ScenarioError, load_corpus
    from pausewatch.trial import check_seeds, evaluate_corpus

    try:
        scenarios = load_corpus(corpus)
        check_seeds([s.seed for s in scenarios])
    except (ScenarioError, DetectionError) as exc:
        fail(str(exc))
    if workdir is not None and not workdir.is_dir():
        fail(f"--workdir {workdir}: not a directory")
    if outcomes is not None and not outcomes.parent.is_dir():
        fail(f"--outcomes {outcomes}: its directory {outcomes.parent} does not exist")
    display = progress_display()
    with display:
        task = display.add_task("scenarios", total=len(scenarios))
        try:
            report, played = evaluate_corpus(
                scenarios,
                workdir=workdir,
                progress=lambda _: display.advance(task),
                workers=workers,
            )
        except BrokenProcessPool as exc:
            fail(f"a process playing the scenarios died ({exc}); nothing was reported")
    if outcomes is not None:
        outcomes.write_text(
            "".join(json.dumps(o.to_json(), sort_keys=True) + "\n" for o in played),
            encoding="utf-8",
        )
    if as_json:
        print_json(report)
        return
    _print_evaluation(report)


def _flop(value: float | None) -> str:
    return "none" if value is None else f"{value:.3g} FLOP"


def _pct(p: dict[str, Any] | None) -> str:
    if p is None:
        return "-"
    low, high = p["wilson"]
    return f"{p['estimate']:.0%} [{low:.0%}, {high:.0%}] of {p['runs']}"


def _print_evaluation(report: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="detection, measured (95% intervals)")
    for column in (
        "kind",
        "runs",
        "before completion (>= threshold)",
        "all sizes",
        "before crossing",
        "median days",
    ):
        table.add_column(column)
    rows = [*report["kinds"].items(), ("overall", None)]
    for kind, row in rows:
        if row is None:
            overall = report["overall"]
            row = {
                "runs": overall["runs"],
                "detection_before_completion": None,
                "detection_before_completion_all_sizes": overall[
                    "detection_before_completion_all_sizes"
                ],
                "detection_before_crossing": overall["detection_before_crossing"],
                "median_days_to_detection": overall["median_days_to_detection"],
            }
            low, high = overall["detection_before_completion_interval"]
            counted = (
                overall["prohibited_runs"]
                if overall["detection_population"] == "prohibited_runs"
                else f"{overall['runs']} (all sizes: no prohibited run)"
            )
            first = (
                f"{overall['detection_before_completion']:.0%} [{low:.0%}, {high:.0%}] of {counted}"
            )
        else:
            first = _pct(row["detection_before_completion"])
        median = row["median_days_to_detection"]
        table.add_row(
            escape(kind),
            str(row["runs"]),
            first,
            _pct(row["detection_before_completion_all_sizes"]),
            _pct(row["detection_before_crossing"]),
            "-" if median is None else f"{median['estimate']:.1f}",
        )
    out.print(table)
    o = report["overall"]
    interval = o["false_alarms_interval"] or [0.0, 0.0]
    out.print(
        f"false alarms: {o['false_alarms']} over {o['facility_years']:.3g} honest facility-years"
        f" = {o['false_alarms_per_facility_year']:.3g} per facility-year "
        f"[{interval[0]:.3g}, {interval[1]:.3g}]"
    )
    target = report["target"]
    out.print(
        f"target: >= {target['detection_before_completion']:.0%} of prohibited runs detected "
        f"before completion at <= {target['false_alarms_per_facility_year']:g} false alarms per "
        f"facility-year: {'met' if o['meets_target'] else 'not met'}"
    )
    for miss in report["cannot_detect"]:
        rate = miss["detection_before_completion"]
        shown = "-" if rate is None else f"{rate:.0%}"
        runs = miss["judged_on"].replace("_", " ")
        out.print(
            f"short of the target: {escape(miss['kind'])} ({shown} of {runs}; "
            f"strategies {escape(', '.join(miss['strategies_missed']) or '-')}; largest run "
            f"missed {miss['largest_undetected_flop'] or 0:.3g} FLOP; every run found from "
            f"{_flop(miss['detected_from_flop'])})"
        )
    seeds = report["seeds"]
    out.print(
        f"fit on seeds {seeds['fit'][0]}..{seeds['fit'][1]}; evaluated on seeds "
        f"{seeds['evaluated'][0]}..{seeds['evaluated'][1]}"
    )


def _read_items(source: str) -> list[str]:
    """One item a line from a file, or stdin for ``-``; blank lines skipped, duplicates refused
    (the population a plan commits to is a list of distinct items)."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the items from {source}: {exc}")
    items = [line.strip() for line in text.splitlines() if line.strip()]
    seen: set[str] = set()
    for item in items:
        if item in seen:
            fail(f"items: expected distinct items, got {item!r} twice")
        seen.add(item)
    return items


@app.command("draw")
def draw_cmd(
    items_source: Annotated[
        str,
        typer.Argument(
            metavar="ITEMS", help="File of items, one a line, in the plan's order ('-': stdin)."
        ),
    ],
    count: Annotated[int, typer.Option("--count", help="How many items to draw.")],
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="A signed checkpoint note published after the plan's commitment: its root is "
            "the seed.",
        ),
    ] = None,
    log_key: Annotated[
        str | None,
        typer.Option("--log-key", help="The log's verifier key (string or .pub file)."),
    ] = None,
    commitment_index: Annotated[
        int | None,
        typer.Option("--commitment-index", help="Log index of the plan's commitment."),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option("--witness", help="A witness verifier key (string or file); repeatable."),
    ] = None,
    threshold: Annotated[
        int, typer.Option("--threshold", help="Witness cosignatures the checkpoint needs.")
    ] = 0,
    seed_hex: Annotated[
        str | None,
        typer.Option("--seed", help="Instead of a checkpoint: the seed, in hex (to recompute)."),
    ] = None,
    context: Annotated[
        str, typer.Option("--context", help="What is drawn (e.g. 'plan 7f3a: chips').")
    ] = "",
    as_json: JsonOpt = False,
) -> None:
    """Draw the items an inspection verifies.

    The seed is the root of a checkpoint whose tree holds the plan's commitment (an earlier
    one is refused), or a given seed to recompute a draw.
    """
    from pausewatch.detect import checkpoint_seed, draw_indices

    if (checkpoint is None) == (seed_hex is None):
        fail("expected exactly one of --checkpoint NOTE and --seed HEX")
    items = _read_items(items_source)
    try:
        if seed_hex is not None:
            try:
                seed = bytes.fromhex(seed_hex)
            except ValueError as exc:
                raise DetectionError(f"seed: expected hex, got {seed_hex!r}") from exc
        else:
            assert checkpoint is not None
            if log_key is None or commitment_index is None:
                fail("--checkpoint needs --log-key and --commitment-index")
            try:
                note = checkpoint.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise DetectionError(f"cannot read the checkpoint {checkpoint}: {exc}") from exc
            seed = checkpoint_seed(
                note,
                read_verifier(log_key),
                commitment_index=commitment_index,
                witnesses=[read_verifier(w) for w in witness or []],
                witness_threshold=threshold,
            )
        indices = draw_indices(len(items), count, seed, context=context)
    except Error as exc:
        fail(str(exc))
    chosen = [items[i] for i in indices]
    if as_json:
        print_json(
            {
                "items": chosen,
                "indices": indices,
                "population": len(items),
                "count": count,
                "seed": seed.hex(),
                "context": context,
                "draw": "pausewatch/detect/draw/v1",
            }
        )
        return
    for item in chosen:
        out.print(escape(item))


_FIGURES = (
    ("shipped", "shipped"),
    ("transferred_out", "out"),
    ("installed", "inst"),
    ("retired", "ret"),
    ("exported", "exp"),
    ("reporting", "rep"),
    ("dark", "dark"),
    ("unaccounted", "unacc"),
)
"""The balance's figures and their (short: the table fits 80 columns) headings."""


@app.command("chips")
def chips_cmd(url: UrlOpt = DEFAULT_URL, as_json: JsonOpt = False) -> None:
    """Chips unaccounted for per operator and party (shipped less transferred out, installed,
    retired, exported and seen reporting), chips that reached a non-party, and what inspections
    found (docs/adr/0026)."""
    from rich import box
    from rich.table import Table

    from pausewatch.client import PausewatchClient

    with PausewatchClient(url) as client:
        report = client.chip_accounts()
    if as_json:
        print_json(report)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("balance", no_wrap=True)
    for _, label in _FIGURES:
        table.add_column(label, justify="right", no_wrap=True)
    table.add_column("unaccounted for")
    for account in (*report["operators"], *report["parties"]):
        missing = account["unaccounted"]
        shown = ", ".join(missing["chips"])
        if missing["count"] > len(missing["chips"]):
            shown += f" and {missing['count'] - len(missing['chips'])} more"
        table.add_row(
            escape(f"{account['scope']} {account['id']}"),
            *(str(account[name]["count"]) for name, _ in _FIGURES),
            escape(shown),
        )
    if report["operators"] or report["parties"]:
        out.print(table)
    else:
        out.print("no chips shipped, sold or put to use on the log")
    for export in report["exports"]:
        source = export["from_operator"] or "its maker"
        party = f" (party {export['from_party']})" if export["from_party"] else ""
        out.print(
            f"exported: {export['chips']['count']} chip(s) of {escape(source)}{escape(party)} to "
            f"{escape(export['destination_entity'])} ({export['destination_country']}) on "
            f"{export['at']}, log entry {export['idx']}"
        )
    for found in report["inspections"]:
        parts = []
        if found["missing"]:
            parts.append(f"missing {', '.join(found['missing'])}")
        if found["seals_broken"]:
            parts.append(f"seals broken {', '.join(found['seals_broken'])}")
        parts.extend(found["discrepancies"])
        out.print(
            f"inspection {escape(found['plan_id'])} of facility {escape(found['facility_id'])} "
            f"on {found['inspected_at']}: {escape('; '.join(parts) or 'nothing amiss')}, "
            f"log entry {found['idx']}"
        )


@app.command("publish")
def publish_cmd(
    report_path: Annotated[
        Path,
        typer.Argument(
            metavar="REPORT.json",
            help="The JSON report of `pausewatch detect evaluate DIR --json` ('-': stdin).",
        ),
    ],
    evaluation_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="The evaluation's id (default: detect-eval- and the report's digest)."
        ),
    ] = None,
    key: Annotated[
        str, typer.Option("--key", help="Name of the signing key (the secretariat's).")
    ] = "secretariat",
    url: UrlOpt = DEFAULT_URL,
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """File an evaluation of the detectors on the log (detect.evaluation/v1, signed by the
    secretariat): its overall figures, its per-kind table, the seed ranges it was fitted and
    evaluated on and the corpus digest, so that the dashboard's Detection page shows it and
    anyone can rerun it (docs/adr/0031)."""
    from pydantic import ValidationError

    from pausewatch.client import PausewatchClient
    from pausewatch.detect._published import KIND, DetectionEvaluation, evaluation_body
    from pausewatch.statements import load_key, sign_statement

    try:
        raw = sys.stdin.read() if str(report_path) == "-" else report_path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {report_path}: {exc}")
    try:
        report = json.loads(raw)
    except ValueError as exc:
        fail(f"{report_path}: not JSON: {exc}")
    try:
        body = evaluation_body(report, evaluation_id)
        DetectionEvaluation.model_validate_json(json.dumps(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        fail(f"{report_path}: {where}: {first['msg']}")
    except ValueError as exc:
        fail(f"{report_path}: {exc}")
    statement = sign_statement(KIND, body, load_key(keys_dir(keys_dir_opt, data_dir), key))
    with PausewatchClient(url) as client:
        accepted = client.submit(statement)
    if as_json:
        print_json({"evaluation": body, "accepted": accepted})
        return
    already = " (already on the log: the same statement)" if accepted.get("duplicate") else ""
    out.print(
        f"evaluation {escape(body['evaluation_id'])}: detection before completion "
        f"{body['detection_before_completion']:.3g}, false alarms per facility-year "
        f"{body['false_alarms_per_facility_year']:.3g}, {len(body.get('kinds', []))} kind(s), "
        f"at log index {accepted['index']}{already}"
    )


@app.command("balances")
def balances_cmd(
    facility: Annotated[
        str | None, typer.Option("--facility", help="Only this facility's balances.")
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    as_json: JsonOpt = False,
) -> None:
    """Daily energy and compute balances per facility, and rolled up per operator and party,
    the latest day of each with its standardised value, CUSUM and alarm limits, and every day
    that alarmed (docs/adr/0029, docs/adr/0035)."""
    from rich import box
    from rich.table import Table

    from pausewatch.client import PausewatchClient

    with PausewatchClient(url) as client:
        report = client.balances(facility)
    if as_json:
        print_json(report)
        return
    if not report["facilities"]:
        out.print("no facilities on the log")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("facility", "balance", "days", "last day", "value", "z", "cusum", "alarms"):
        table.add_column(name, justify="left" if name in ("facility", "balance") else "right")
    alarmed: list[str] = []
    for fac in report["facilities"]:
        for name, points in fac["balances"].items():
            if not points:
                continue
            last = points[-1]
            hits = [p for p in points if p["alarm"] is not None]
            table.add_row(
                escape(fac["facility_id"]),
                name,
                str(len(points)),
                last["start"][:10],
                f"{last['value']:.3g}",
                f"{last['standardised']:.2f}",
                f"{last['cusum']:.2f}/{last['cusum_limit']:.2f}",
                str(len(hits)),
            )
            alarmed.extend(
                f"{fac['facility_id']} {name} {p['start'][:10]}: {p['alarm']} "
                f"(value {p['value']:.4g}, z {p['standardised']:.2f}, cusum {p['cusum']:.2f})"
                for p in hits[:5]
            )
    out.print(table)
    out.print(
        f"false alarms per facility-year, all tests: {report['false_alarms_per_facility_year']:g}"
    )
    for line in alarmed:
        out.print(f"alarm: {escape(line)}")
    _print_rollups(report)


def _print_rollups(report: dict[str, Any]) -> None:
    """The roll-ups per operator and party (docs/adr/0035): one row per tested series."""
    from rich import box
    from rich.table import Table

    rows = [
        (scope, item, name, points)
        for scope, items in (
            ("operator", report.get("operators") or []),
            ("party", report.get("parties") or []),
        )
        for item in items
        for name, points in item["balances"].items()
        if points
    ]
    if not rows:
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in (
        "scope",
        "id",
        "balance",
        "facilities",
        "days",
        "last day",
        "z",
        "cusum",
        "alarms",
    ):
        table.add_column(name, justify="left" if name in ("scope", "id", "balance") else "right")
    alarmed: list[str] = []
    for scope, item, name, points in rows:
        subject = item["operator_id"] if scope == "operator" else item["party_id"]
        last = points[-1]
        hits = [p for p in points if p["alarm"] is not None]
        summed = len(item.get("included", {}).get(name, []))
        table.add_row(
            scope,
            escape(subject),
            name,
            str(summed),
            str(len(points)),
            last["start"][:10],
            f"{last['standardised']:.2f}",
            f"{last['cusum']:.2f}/{last['cusum_limit']:.2f}",
            str(len(hits)),
        )
        alarmed.extend(
            f"{scope} {subject} {name} {p['start'][:10]}: {p['alarm']} "
            f"(value {p['value']:.4g}, z {p['standardised']:.2f}, cusum {p['cusum']:.2f})"
            for p in hits[:5]
        )
    out.print(table)
    out.print(
        "false alarms per operator-year and per party-year, all tests: "
        f"{report.get('false_alarms_per_operator_year', 0):g}"
    )
    for line in alarmed:
        out.print(f"alarm: {escape(line)}")
