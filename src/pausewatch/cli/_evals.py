"""`pausewatch eval`: probes, running suites through Inspect, importing logs, time horizons."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    progress_display,
)
from pausewatch.policy._model import Domain

if TYPE_CHECKING:
    from pausewatch.evals._statements import EvalResult

app = typer.Typer(
    help="Capability evaluations through Inspect: probes, runs, imports, time horizons.",
    no_args_is_help=True,
)

DomainOpt = Annotated[
    Domain | None,
    typer.Option("--domain", help="Capability domain (default: the task's own metadata)."),
]
SubjectOpt = Annotated[
    str | None,
    typer.Option(
        "--subject",
        help="The model's id as run declarations name it (default: Inspect's model name).",
    ),
]
EvaluatorOpt = Annotated[
    str, typer.Option("--evaluator", help="Your evaluator id, as registered on the log.")
]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy", help="Judge the results by this policy's triggers (preset id or YAML)."
    ),
]
SubmitOpt = Annotated[
    bool,
    typer.Option("--submit", help="Sign each result with --key and put it on the log at --url."),
]
KeyOpt = Annotated[
    str | None, typer.Option("--key", help="Name of the evaluator's signing key (for --submit).")
]
ConfidenceOpt = Annotated[
    float,
    typer.Option(
        "--confidence",
        min=0.95,
        max=0.999,
        help="Confidence level of the intervals (0.95 or more).",
    ),
]


@app.command("probes")
def list_probes(domain: DomainOpt = None, as_json: JsonOpt = False) -> None:
    """List the probes: pausewatch's offline suite and the adapters for established suites."""
    from pausewatch.evals._probes import probes

    found = probes(domain)
    if as_json:
        print_json(
            [
                {
                    "id": p.id,
                    "domain": p.domain.value,
                    "version": p.version,
                    "measures": p.measures,
                    "metric": p.metric,
                    "human_baseline_minutes": p.human_baseline_minutes,
                    "offline": p.offline,
                    "requires": list(p.requires),
                    "source": p.source,
                }
                for p in found
            ]
        )
        return
    for p in found:
        where = "offline" if p.offline else "needs " + ", ".join(p.requires)
        out.print(
            f"[bold]{escape(p.id)}[/] v{p.version}  {p.domain.value}  {p.metric}  [dim]{where}[/]"
        )
        out.print(f"    {escape(p.measures)}")


def _model_args(pairs: list[str]) -> dict[str, Any]:
    from pausewatch.statements import parse_json

    args: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            fail(f"--model-arg {pair!r}: expected NAME=VALUE")
        try:
            args[name] = parse_json(text)
        except ValueError:
            args[name] = text
    return args


def _report(
    results: list[EvalResult],
    paths: list[Path],
    policy: str | None,
    submit: bool,
    key: str | None,
    url: str,
    keys_dir_opt: Path | None,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Print the evidence, the policy's verdict on it, and submit it when asked."""
    from pausewatch.evals._judge import judge

    findings: list[dict[str, Any]] = []
    if policy is not None:
        from pausewatch.cli._policy import resolve_policy

        verdict = judge(resolve_policy(policy), results, datetime.now(UTC))
        findings = [
            {"kind": f.kind.value, "severity": f.severity.value, "subject": f.subject}
            | {"explanation": f.explanation, "action": f.action.value}
            for f in verdict.findings
        ]
    accepted: list[dict[str, Any]] = []
    if submit:
        if key is None:
            fail("--submit needs --key: the evaluator's signing key")
        from pausewatch.client import PausewatchClient
        from pausewatch.statements import load_key, sign_statement

        signer = load_key(keys_dir(keys_dir_opt, data_dir), key)
        with PausewatchClient(url) as client:
            for r in results:
                statement = sign_statement(
                    "eval.result/v1", r.model_dump(mode="json", exclude_none=True), signer
                )
                accepted.append(client.submit(statement))
    if as_json:
        print_json(
            {
                "results": [
                    {"log": str(p), **r.model_dump(mode="json", exclude_none=True)}
                    for p, r in zip(paths, results, strict=True)
                ],
                "findings": findings,
                "accepted": accepted,
            }
        )
        return
    for p, r in zip(paths, results, strict=True):
        out.print(
            f"[bold]{escape(r.probe_id)}[/] v{r.task_version} on {escape(r.inspect_model)}: "
            f"{r.status.value}, {r.completed_samples}/{r.samples} samples, {r.epochs} epoch(s)"
        )
        for m in r.metrics:
            out.print(
                f"    {escape(m.name)} {m.value:.4g} ({r.confidence:.0%} CI {m.ci_low:.4g} to "
                f"{m.ci_high:.4g}, {m.method})"
            )
        if r.error:
            out.print(f"    [red]error:[/] {escape(r.error)}")
        out.print(f"    [dim]log {escape(str(p))} sha256 {r.log_digest}[/]")
    if policy is not None:
        if not findings:
            out.print("[green]no capability finding under the policy[/]")
        for f in findings:
            out.print(f"[bold]{f['severity']}[/] {f['kind']}: {escape(f['explanation'])}")
    for a in accepted:
        again = " (already on the log)" if a.get("duplicate") else ""
        out.print(f"submitted: entry {a['index']} at {a['integrated_at']}{again}")


@app.command("run")
def run(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Inspect model, PROVIDER/MODEL (offline: pausewatch/scripted, "
            "pausewatch/glassllm).",
        ),
    ],
    suite: Annotated[
        Domain | None, typer.Option("--suite", help="Run this domain's offline suite.")
    ] = None,
    probe_ids: Annotated[
        list[str] | None,
        typer.Option("--probe", help="Run this probe (repeatable; instead of --suite)."),
    ] = None,
    model_arg: Annotated[
        list[str] | None,
        typer.Option("--model-arg", "-M", help="Model argument NAME=VALUE (repeatable)."),
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Epochs per sample.")] = 1,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many samples per task.")
    ] = None,
    log_dir: Annotated[
        Path, typer.Option("--log-dir", help="Where Inspect keeps its logs.")
    ] = Path("inspect-logs"),
    evaluator: EvaluatorOpt = "local",
    subject: SubjectOpt = None,
    policy: PolicyOpt = None,
    confidence: ConfidenceOpt = 0.95,
    submit: SubmitOpt = False,
    key: KeyOpt = None,
    url: UrlOpt = "http://127.0.0.1:8080",
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a domain's suite (or chosen probes) through Inspect, keep the logs, and print the
    evidence each log gives (and, with --policy, what the policy's triggers make of it).

    A failed evaluation is evidence too: Inspect records it in its log and the policy never
    reads it as a pass."""
    from pausewatch.evals._evidence import read_evidence
    from pausewatch.evals._probes import probe
    from pausewatch.evals._runner import run_suite

    if (suite is None) == (not probe_ids):
        fail("name either --suite DOMAIN or at least one --probe ID")
    chosen = [probe(p) for p in probe_ids or []]
    what = ", ".join(p.id for p in chosen) if chosen else f"the {suite} suite"
    with progress_display() as display:
        running = display.add_task(f"Inspect: {what} on {model} (samples)", total=None)
        paths = run_suite(
            model,
            log_dir,
            domain=suite,
            probes=chosen,
            epochs=epochs,
            model_args=_model_args(model_arg or []),
            limit=limit,
            on_sample=lambda done, total: display.update(running, completed=done, total=total),
        )
    results = [
        read_evidence(p, evaluator_id=evaluator, model=subject, confidence=confidence)
        for p in paths
    ]
    _report(results, paths, policy, submit, key, url, keys_dir_opt, data_dir, as_json)


@app.command("import")
def import_logs(
    logs: Annotated[list[Path], typer.Argument(help="Inspect logs (.eval or .json).")],
    evaluator: EvaluatorOpt = "local",
    subject: SubjectOpt = None,
    domain: DomainOpt = None,
    policy: PolicyOpt = None,
    confidence: ConfidenceOpt = 0.95,
    submit: SubmitOpt = False,
    key: KeyOpt = None,
    url: UrlOpt = "http://127.0.0.1:8080",
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read Inspect logs (from pausewatch or produced elsewhere) and print the evidence each
    gives; with --submit, sign it as eval.result/v1 and put it on the log. Importing the same
    log twice signs the same result: the log answers with its entry and counts it once."""
    from pausewatch.evals._evidence import read_evidence

    results = [
        read_evidence(
            p, evaluator_id=evaluator, model=subject, domain=domain, confidence=confidence
        )
        for p in logs
    ]
    _report(results, list(logs), policy, submit, key, url, keys_dir_opt, data_dir, as_json)


@app.command("adopt")
def adopt(
    domain: Annotated[Domain, typer.Argument(help="The capability domain.")],
    probe_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--probe",
            help="A probe of the suite (repeatable; default: our offline suite for the domain).",
        ),
    ] = None,
    withdraw: Annotated[
        bool, typer.Option("--withdraw", help="Adopt an empty suite: no suite for the domain.")
    ] = False,
    note: Annotated[str | None, typer.Option("--note", help="Why it is adopted.")] = None,
    min_epochs: Annotated[
        int | None,
        typer.Option("--min-epochs", min=1, help="Pin: a result counts with this many epochs."),
    ] = None,
    min_samples: Annotated[
        int | None,
        typer.Option(
            "--min-samples", min=1, help="Pin: a result counts with this many samples scored."
        ),
    ] = None,
    tools: Annotated[
        list[str] | None,
        typer.Option("--tool", help="Pin: a tool the model must have had (repeatable)."),
    ] = None,
    key: Annotated[
        str, typer.Option("--key", help="Name of the signing key (the secretariat's).")
    ] = "secretariat",
    url: UrlOpt = "http://127.0.0.1:8080",
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Adopt the suite that counts as an evaluation of DOMAIN (eval.suite/v1, signed by the
    secretariat), each probe pinned to its current version and, with --min-epochs,
    --min-samples or --tool, to the least elicitation a result must show. Only results of the
    suite can rule the capability out (docs/adr/0021). The number of domains with an adopted
    suite is the state figure eval_domains_adopted that lift conditions test."""
    from pausewatch.client import PausewatchClient
    from pausewatch.evals._probes import probe, suite
    from pausewatch.statements import load_key, sign_statement

    if withdraw and probe_ids:
        fail("--withdraw adopts an empty suite: name no --probe with it")
    chosen = [] if withdraw else [probe(p) for p in probe_ids or []] or suite(domain)
    wrong = [p.id for p in chosen if p.domain is not domain]
    if wrong:
        fail(f"{', '.join(wrong)}: not a probe of {domain.value}")
    pin: dict[str, Any] = {}
    if min_epochs is not None:
        pin["min_epochs"] = min_epochs
    if min_samples is not None:
        pin["min_samples"] = min_samples
    if tools:
        pin["tools"] = sorted(set(tools))
    body: dict[str, Any] = {
        "domain": domain.value,
        "probes": [
            {"probe_id": p.id, "version": p.version} | ({"elicitation": pin} if pin else {})
            for p in chosen
        ],
    }
    if note:
        body["note"] = note
    statement = sign_statement(
        "eval.suite/v1", body, load_key(keys_dir(keys_dir_opt, data_dir), key)
    )
    with PausewatchClient(url) as client:
        accepted = client.submit(statement)
    if as_json:
        print_json({"suite": body, "accepted": accepted})
        return
    names = ", ".join(f"{p.id} v{p.version}" for p in chosen) or "no probe (withdrawn)"
    out.print(f"{domain.value}: {escape(names)} at log index {accepted['index']}")


@app.command("horizon")
def horizon(
    logs: Annotated[list[Path], typer.Argument(help="Inspect logs of one model.")],
    p: Annotated[
        float, typer.Option("--p", min=0.01, max=0.99, help="Success probability (0.5: METR's).")
    ] = 0.5,
    confidence: ConfidenceOpt = 0.95,
    resamples: Annotated[int, typer.Option("--resamples", min=100, help="Bootstrap draws.")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """The model's time horizon over the samples of LOGS that carry human_minutes: a logistic
    fit of success against log2 human minutes, with a percentile bootstrap over tasks."""
    from pausewatch.evals._evidence import task_outcomes
    from pausewatch.evals._horizon import time_horizon

    pairs = [pair for path in logs for pair in task_outcomes(path)]
    if not pairs:
        fail("no sample of these logs carries human_minutes: no time horizon to fit")
    fitted = time_horizon(
        [m for m, _ in pairs], [s for _, s in pairs], p=p, level=confidence, resamples=resamples
    )
    if as_json:
        print_json(
            {
                "tasks": len(pairs),
                "p": p,
                "minutes": fitted.minutes,
                "ci_low": fitted.low,
                "ci_high": fitted.high,
                "confidence": confidence,
                "fit": {"a": fitted.fit.a, "b_per_log2_minute": fitted.fit.b},
            }
        )
        return
    out.print(
        f"{p:.0%} time horizon {fitted.minutes:.3g} minutes ({confidence:.0%} CI "
        f"{fitted.low:.3g} to {fitted.high:.3g}) over {len(pairs)} tasks"
    )


@app.command("trend")
def trend(
    points: Annotated[
        list[str],
        typer.Argument(help="Models as RELEASE_DATE=HORIZON_MINUTES (e.g. 2025-02-24=59)."),
    ],
    level: Annotated[
        float | None,
        typer.Option("--level", min=0, help="Horizon level (minutes) to project a crossing of."),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Project the crossings of this policy's horizon_minutes triggers (alert and "
            "critical levels, less the buffer).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The doubling time of the 50% time horizon across models with release dates, and when
    the trend reaches --level or a policy's horizon levels."""
    from pausewatch.evals._evidence import HORIZON_METRIC
    from pausewatch.evals._horizon import horizon_trend

    parsed: list[tuple[datetime, float]] = []
    for point in points:
        date, sep, minutes = point.partition("=")
        try:
            when = datetime.fromisoformat(date)
            value = float(minutes)
        except ValueError:
            fail(f"{point!r}: expected RELEASE_DATE=HORIZON_MINUTES, e.g. 2025-02-24=59")
        if not sep or not value > 0:
            fail(f"{point!r}: expected RELEASE_DATE=HORIZON_MINUTES with minutes above 0")
        parsed.append((when if when.tzinfo else when.replace(tzinfo=UTC), value))
    fitted = horizon_trend(parsed)
    levels: list[tuple[str, float]] = [] if level is None else [("level", level)]
    if policy is not None:
        from pausewatch.cli._policy import resolve_policy

        for trig in resolve_policy(policy).capabilities:
            if trig.metric == HORIZON_METRIC:
                name = f"{trig.domain.value} "
                levels.append((name + "alert", trig.alert_level - trig.buffer))
                levels.append((name + "critical", trig.critical_level - trig.buffer))
        if len(levels) == (level is not None):
            fail(f"policy {policy!r} has no trigger on {HORIZON_METRIC}")
    crossings = [(name, value, fitted.crossing(value)) for name, value in levels]
    if as_json:
        print_json(
            {
                "doubling_days": fitted.doubling_days,
                "crossings": [
                    {"level": name, "minutes": value, "at": at.isoformat()}
                    for name, value, at in crossings
                ],
            }
        )
        return
    out.print(f"the 50% time horizon doubles every {fitted.doubling_days:.0f} days")
    for name, value, at in crossings:
        out.print(f"it reaches {value:g} minutes ({escape(name)}) on {at:%Y-%m-%d}")


__all__ = ["app"]
