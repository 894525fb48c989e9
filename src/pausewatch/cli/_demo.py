"""`pausewatch demo`: the simulated moratorium, end to end, through the real service."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pausewatch.cli._common import JsonOpt, fail, out, print_json, progress_display

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Shown:
    """The demo's progress on a Rich display: the act under way (with the time since the demo
    began) and, below it, the count of the act's long step."""

    def __init__(self, display: Progress) -> None:
        self.display = display
        self.acts = display.add_task("the demo starts", total=None)
        self.step: TaskID | None = None

    def act(self, title: str) -> None:
        self.display.update(self.acts, description=title, advance=1)
        if self.step is not None:
            self.display.remove_task(self.step)
            self.step = None

    def count(self, what: str, done: int, total: int) -> None:
        label = f"  {what}"
        if self.step is None:
            self.step = self.display.add_task(label, total=total)
        self.display.update(self.step, description=label, completed=done, total=total)


def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Where the demo's log lives (default: a new temporary directory). A directory "
            "of an interrupted demo resumes it.",
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Loopback port to serve on (default: a free one).")
    ] = None,
    report: Annotated[
        Path, typer.Option("--report", help="Where to write the HTML report.")
    ] = Path("pausewatch-demo-report.html"),
    seed: Annotated[int, typer.Option("--seed", help="Seed of the world's keys.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Play the scripted story through a real service on loopback, time compressed: parties,
    operators and 2,048 chips register; a declared run's projection crosses the prohibition
    before a halt could bind, so the policy proposes the halt early, and the run crosses; an
    Inspect evaluation comes back critical; a pause and the halt order are voted in and obeyed;
    undeclared training is found, its cluster ordered halted, and the ignored order escalates to
    an enforcement proposal; the pause is renewed; a lift fails while conditions are unmet; the
    safeguards are completed (every evaluation suite, three witnesses on the log) and a second
    lift passes. After the lift, chips diverted to a non-party are found by the chip balance, an
    inspection sample drawn from the log's root finds chips missing, and a hidden cluster draws
    power a facility meter sees and no chip reports. Then `pausewatch audit` recomputes
    everything from the log, telemetry batches from their records included, and an HTML report
    is written."""
    from pausewatch.demo import DemoError, play_demo

    where = data_dir or Path(tempfile.mkdtemp(prefix="pausewatch-demo-"))
    say = (lambda _line: None) if as_json else (lambda line: out.print(escape(line)))
    try:
        with progress_display() as display:
            result = play_demo(
                where,
                port=port or _free_port(),
                report=report,
                narrate=say,
                seed=seed,
                progress=_Shown(display),
            )
    except DemoError as exc:
        fail(f"the demo stopped: {exc}")
    audit = result.audit
    if as_json:
        print_json(
            {
                "data_dir": str(where),
                "seconds": round(result.seconds, 1),
                "story": result.lines,
                "audit": {
                    k: audit.get(k)
                    for k in (
                        "ok",
                        "entries",
                        "root_hash",
                        "batches_reverified",
                        "records_reverified",
                        "findings_rechecked",
                        "problems",
                    )
                },
                "report": str(result.report),
            }
        )
    else:
        verdict = "[green]passed[/]" if audit.get("ok") else "[red]FAILED[/]"
        out.print(
            f"audit {verdict}: {audit.get('entries')} entries recomputed from the log, "
            f"{len(audit.get('decisions') or [])} outcomes refolded, "
            f"{audit.get('batches_reverified', 0)} telemetry batches verified again from their "
            f"{audit.get('records_reverified', 0):,} records, "
            f"{audit.get('findings_rechecked', 0)} filed findings found again by the policy"
        )
        out.print(f"report: {escape(str(result.report))}  ({result.seconds:.0f} s in all)")
        out.print(f"data directory: {escape(str(where))}")
    if not audit.get("ok"):
        raise typer.Exit(1)


__all__ = ["demo"]
