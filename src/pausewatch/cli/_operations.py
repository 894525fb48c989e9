"""Operator commands: `declare run`, `telemetry send` and `runs show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pausewatch.cli._common import (
    DataDirOpt,
    JsonOpt,
    KeysDirOpt,
    UrlOpt,
    fail,
    keys_dir,
    out,
    print_json,
)
from pausewatch.client import PausewatchClient
from pausewatch.statements import load_key, parse_json, sign_statement

declare_app = typer.Typer(help="Declare what you intend to train.", no_args_is_help=True)
telemetry_app = typer.Typer(help="Send chip-signed telemetry.", no_args_is_help=True)
runs_app = typer.Typer(help="Read declared runs and what was measured.", no_args_is_help=True)

KeyOpt = Annotated[str, typer.Option("--key", help="Name of the operator's signing key.")]


def _read_body(path: Path) -> dict[str, Any]:
    """A JSON or YAML object from ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot read ({exc.strerror})")
    except UnicodeDecodeError:
        fail(f"{path}: not UTF-8 text")
    try:
        value = parse_json(text)
    except ValueError:
        import yaml

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            fail(f"{path}: neither JSON nor YAML ({str(exc).splitlines()[0]})")
    if not isinstance(value, dict):
        fail(f"{path}: expected an object with the declaration's fields")
    return value


@declare_app.command("run")
def declare_run(
    file: Annotated[
        Path, typer.Argument(help="The declaration: JSON or YAML (run.declaration/v1 fields).")
    ],
    key: KeyOpt,
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = "http://127.0.0.1:8080",
    as_json: JsonOpt = False,
) -> None:
    """Sign a run declaration with the operator's key and put it on the log.

    Times in YAML must be quoted strings ending in Z. The service refuses a declaration on a
    cluster the operator does not hold (409) or signed by another key (403)."""
    body = _read_body(file)
    statement = sign_statement(
        "run.declaration/v1", body, load_key(keys_dir(keys_dir_opt, data_dir), key)
    )
    with PausewatchClient(url) as client:
        accepted = client.submit(statement)
    if as_json:
        print_json(accepted)
        return
    out.print(
        f"run {escape(str(body.get('run_id')))} declared: entry {accepted['index']} "
        f"at {accepted['integrated_at']}"
    )


@telemetry_app.command("send")
def telemetry_send(
    file: Annotated[Path, typer.Argument(help="JSONL: one chip-signed record per line.")],
    operator: Annotated[str, typer.Option("--operator", help="The submitting operator's id.")],
    key: KeyOpt,
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = "http://127.0.0.1:8080",
    as_json: JsonOpt = False,
) -> None:
    """Upload a batch of records; print what was accepted, rejected (with reasons) and missed.

    The same file sent twice is counted once (the answer then says duplicate)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: cannot read ({exc.strerror})")
    signer = load_key(keys_dir(keys_dir_opt, data_dir), key)
    with PausewatchClient(url) as client:
        receipt = client.send_telemetry(data, operator, signer)
    if as_json:
        print_json(receipt)
        return
    again = " (already integrated: nothing counted again)" if receipt["duplicate"] else ""
    total = receipt.get("rejected_total", len(receipt["rejected"]))
    out.print(
        f"batch at entry {receipt['index']}{again}: {receipt['accepted']} accepted, "
        f"{receipt['duplicates']} duplicate, {total} rejected, "
        f"{sum(g['missing'] for g in receipt['gaps'])} missed window(s)"
    )
    for rej in receipt["rejected"]:
        out.print(f"  line {rej['index'] + 1}: {rej['rule']}: {escape(rej['reason'])}")
    if total > len(receipt["rejected"]):
        by_rule = ", ".join(f"{n} {r}" for r, n in receipt.get("rejected_by_rule", {}).items())
        out.print(f"  ... and {total - len(receipt['rejected'])} more ({by_rule} in all)")


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    url: UrlOpt = "http://127.0.0.1:8080",
    as_json: JsonOpt = False,
) -> None:
    """A run's declaration against its measured compute, and the findings about it."""
    with PausewatchClient(url) as client:
        report = client.run(run_id)
    if as_json:
        print_json(report)
        return
    run, measured = report["run"], report["measured"]
    out.print(
        f"run {escape(run['run_id'])} of {escape(run['operator_id'])} on "
        f"{escape(run['cluster_id'])}: {run['phase']}, {run['status']}, "
        f"approval {run['approval']}"
    )
    fraction = measured["fraction_of_plan"]
    share = f" ({fraction:.1%} of the plan)" if fraction is not None else ""
    # Counter figures are quoted with their interval (docs/adr/0022): the counters are
    # trusted only to within their stated accuracy.
    interval = ""
    if measured["counted_flop"] > 0:
        interval = (
            f" ±{100 * measured['counter_tolerance']:g}% "
            f"({measured['counted_flop_low']:.3g} to {measured['counted_flop_high']:.3g})"
        )
    out.print(
        f"  planned   {run['planned_flop']:.3g} FLOP ({run['estimate_method']})\n"
        f"  measured  {measured['counted_flop']:.3g} FLOP{interval} under "
        f"{measured['counting_rule']}{share}, {measured['chip_windows']:,} chip-windows from "
        f"{measured['chips']:,} chips"
    )
    projection = report.get("projection")
    if projection is not None:
        straddles = (
            "; the measured interval already straddles it" if projection["straddles"] else ""
        )
        out.print(
            f"  pace      {projection['rate_flop_per_s']:.3g} FLOP/s "
            f"({projection['rate_low']:.3g} to {projection['rate_high']:.3g}): crosses the "
            f"{projection['threshold_flop']:.3g} FLOP {projection['tier']} tier on "
            f"{projection['expected'] or 'never'} (between {projection['earliest'] or 'never'} "
            f"and {projection['latest'] or 'never'}){straddles}"
        )
    if report["policy"] is None:
        out.print("  no policy in force: no findings")
        return
    out.print(
        f"  findings under {report['policy']['id']} {report['policy']['version']}: "
        f"{len(report['findings'])}"
    )
    for f in report["findings"]:
        out.print(f"  [{f['severity']}] {escape(f['explanation'])}")
    for o in report["obligations"]:
        due = f" by {o['deadline']}" if o["deadline"] else ""
        out.print(f"  duty ({o['status']}): {escape(o['duty'])}{due}")
