"""The demo world: a simulated moratorium played end to end through the real service.

    play_demo(data_dir)       `pausewatch demo`: start the service in-process on a loopback
                              port, play the story as fast as it goes, audit the log, print a
                              summary and write an HTML report
    serve_demo(data_dir)      `pausewatch serve --demo`: serve, and stream the story through
                              the API at a watchable pace while the dashboard moves

The story and its acts are in :mod:`pausewatch.demo._scenario`; the world (parties, operators,
chips, the demo policy) in :mod:`pausewatch.demo._world`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pausewatch.demo._host import DemoClock, Host
from pausewatch.demo._progress import DemoProgress, NoProgress
from pausewatch.demo._scenario import DemoError, Scenario, Story
from pausewatch.demo._world import T0, demo_policy

_CLI = (sys.executable, "-m", "pausewatch.cli")


@dataclass
class DemoResult:
    """What a played demo produced."""

    url: str
    story: Story
    lines: list[str]
    audit: dict[str, Any]
    report: Path
    seconds: float


def _audit(url: str, secretariat: str) -> dict[str, Any]:
    """`pausewatch audit` against the service, as an outside checker would run it."""
    done = subprocess.run(
        [*_CLI, "audit", "--url", url, "--secretariat", secretariat, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"ok": False, "problems": [done.stderr.strip() or "the audit printed nothing"]}
    return report


def _levels() -> dict[str, tuple[float, float]]:
    from pausewatch.policy import Policy

    policy = Policy.model_validate(demo_policy())
    return {
        t.domain.value: (t.alert_level - t.buffer, t.critical_level - t.buffer)
        for t in policy.capabilities
        if t.metric == "accuracy"
    }


def finish(
    scenario: Scenario, host: Host, lines: list[str], report_path: Path, started: float
) -> DemoResult:
    """Audit the log, gather what the report shows and write it."""
    from pausewatch.demo._report import write_report

    scenario.progress.act(f"the audit recomputes the log ({host.service.log.size:,} entries)")
    audit = _audit(host.url, host.service.secretariat_key.signer_id)
    scenario.progress.act("the report")
    proposals = scenario.client.proposals()
    results = scenario.view_rows("eval_results")
    report = write_report(
        report_path,
        scenario.story,
        proposals=proposals,
        results=results,
        levels=_levels(),
        audit=audit,
        lines=lines,
    )
    return DemoResult(host.url, scenario.story, lines, audit, report, time.monotonic() - started)


def _scenario(
    host: Host,
    data_dir: Path,
    seed: int,
    pace_s: float,
    lines: list[str],
    narrate: Callable[[str], None],
    progress: DemoProgress | None = None,
) -> Scenario:
    """The story against ``host``, narrating each act and keeping its line in ``lines``."""

    def say(line: str) -> None:
        lines.append(line)
        narrate(line)

    return Scenario(
        host.url,
        host.clock,
        host.service.secretariat_key,
        seed=seed,
        pace_s=pace_s,
        log_dir=data_dir / "inspect-logs",
        narrate=say,
        bulk=host.submit_all,
        progress=progress,
        clerk=host.service.run_clerk,
    )


def play_demo(
    data_dir: Path,
    *,
    port: int = 8080,
    report: Path | None = None,
    narrate: Callable[[str], None] = print,
    seed: int = 0,
    progress: DemoProgress | None = None,
) -> DemoResult:
    """Play the whole story against a service on ``data_dir`` (see the module docstring),
    reporting each act and the counts of its long steps to ``progress``."""
    started = time.monotonic()
    (progress or NoProgress()).act("the service starts")
    # The story runs the clerk itself whenever it waits for the clerk's work; its own rounds
    # (a full policy evaluation each) can then be rare, which matters on a busy machine.
    host = Host(data_dir, port=port, seed=seed, clerk_interval_s=2.0).start()
    lines: list[str] = []
    scenario = _scenario(host, data_dir, seed, 0.0, lines, narrate, progress)
    try:
        scenario.play()
        return finish(scenario, host, lines, report or data_dir / "demo-report.html", started)
    finally:
        scenario.close()
        host.stop()


def serve_demo(
    data_dir: Path,
    *,
    host_name: str = "127.0.0.1",
    port: int = 8080,
    pace_s: float = 4.0,
    speed: float = 60.0,
    narrate: Callable[[str], None] = print,
    seed: int = 0,
) -> Host:
    """Serve on ``data_dir`` and stream the story through the API in the background, one act
    every ``pace_s`` seconds, the world clock running ``speed`` times real time in between.
    Returns the running host (``wait()`` blocks until it is stopped)."""
    host = Host(data_dir, host=host_name, port=port, speed=speed, seed=seed).start()

    def stream() -> None:
        started = time.monotonic()
        lines: list[str] = []
        scenario = _scenario(host, data_dir, seed, pace_s, lines, narrate)
        try:
            scenario.play()
            result = finish(scenario, host, lines, data_dir / "demo-report.html", started)
            narrate(
                f"the story is over; audit {'passed' if result.audit.get('ok') else 'FAILED'}; "
                f"report: {result.report}"
            )
        except Exception as exc:  # the service goes on serving what was played
            narrate(f"the demo stopped: {exc}")
        finally:
            scenario.close()

    threading.Thread(target=stream, name="pausewatch-demo-story", daemon=True).start()
    return host


__all__ = [
    "T0",
    "DemoClock",
    "DemoError",
    "DemoProgress",
    "DemoResult",
    "Host",
    "NoProgress",
    "Scenario",
    "Story",
    "play_demo",
    "serve_demo",
]
