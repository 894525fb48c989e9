"""``pausewatch policy``: presets, validation, schema, evaluation and adoption of policies."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape as esc
from rich.table import Table

from pausewatch.cli._common import (
    DataDirOpt,
    JsonOpt,
    KeysDirOpt,
    UrlOpt,
    keys_dir,
    out,
    print_json,
)
from pausewatch.errors import Error, PolicyError
from pausewatch.policy import (
    Policy,
    dump_policy,
    load_policy,
    load_preset,
    policy_digest,
    policy_to_json,
    preset_names,
)
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._facts import load_facts, parse_facts
from pausewatch.policy._findings import Evaluation, ObligationStatus, Severity
from pausewatch.policy._statements import ADOPT_KIND, adoption_of, effective_policy

app = typer.Typer(
    help="Moratorium policies: presets, validation, schema, evaluation and adoption.",
    no_args_is_help=True,
)

PolicyArg = Annotated[
    str, typer.Argument(help="A policy file (YAML) or the name of a preset (see `policy presets`).")
]
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at", help="Evaluation time, ISO 8601 UTC (e.g. 2026-12-01T00:00:00Z). Default: now."
    ),
]

_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.SERIOUS: "red",
    Severity.WARNING: "yellow",
    Severity.NOTICE: "cyan",
    Severity.INFO: "dim",
}


def resolve_policy(arg: str) -> Policy:
    """A policy from a file path or a preset name."""
    path = Path(arg)
    if path.exists():
        return load_policy(path)
    if arg in preset_names():
        return load_preset(arg)
    raise PolicyError(
        f"no policy file or preset named {arg!r}; presets: {', '.join(preset_names())}"
    )


def parse_time(value: str | None) -> datetime:
    """An ISO 8601 UTC time from the command line; the current time when none is given."""
    if value is None:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PolicyError(f"--at: expected an ISO 8601 time, got {value!r}") from exc
    if t.tzinfo is None:
        raise PolicyError(f"--at: expected a UTC time ending in Z, got {value!r}")
    return t.astimezone(UTC)


@app.command("presets")
def presets(as_json: JsonOpt = False) -> None:
    """List the policy presets shipped with pausewatch."""
    rows = []
    for name in preset_names():
        p = load_preset(name)
        rows.append({"name": name, "id": p.id, "version": p.version, "title": p.title})
    if as_json:
        print_json(rows)
        return
    table = Table("preset", "version", "title", box=None)
    for r in rows:
        table.add_row(esc(r["name"]), r["version"], esc(r["title"]))
    out.print(table)


@app.command("show")
def show(
    policy: PolicyArg,
    as_json: JsonOpt = False,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Print the normalised YAML.")] = False,
) -> None:
    """Show a policy: its tiers, duties and triggers with their sources."""
    p = resolve_policy(policy)
    if as_json:
        print_json({"digest": policy_digest(p), "policy": policy_to_json(p)})
        return
    if as_yaml:
        sys.stdout.write(dump_policy(p))
        return
    _print_summary(p)


def _print_summary(p: Policy) -> None:
    out.print(f"[bold]{esc(p.title)}[/]  ({p.id} {p.version})")
    out.print(f"digest  {policy_digest(p)}")
    out.print(f"counting  {p.counting.rule.value}  [dim]\\[{p.counting.source}][/]")
    table = Table("class", "tier", "FLOP above", "basis", "source", box=None)
    for cls, ts in (
        ("pre-training", p.compute.pretraining),
        ("post-training", p.compute.post_training),
    ):
        for tier, t in ts.items():
            basis = "+".join(b.value for b in t.basis)
            extra = ""
            if t.min_cost_usd is not None:
                extra += f", cost > ${t.min_cost_usd:,.0f}"
            if t.min_developer_revenue_usd is not None:
                extra += f", revenue > ${t.min_developer_revenue_usd:,.0f}"
            table.add_row(cls, tier.value, f"{t.flop:.3g}{extra}", basis, t.source)
    for sp in p.compute.special:
        table.add_row(
            f"data={sp.data}", sp.tier.value, f"{sp.flop:.3g}", "+".join(sp.basis), sp.source
        )
    if table.row_count:
        out.print(table)
    if p.compute.modification:
        m = p.compute.modification
        out.print(f"modification  a derivative above {m.fraction:.3g} of its base is a new model")
    if p.approvals:
        a = p.approvals
        deemed = (
            f", deemed approved after {a.deemed_after_days:g} days" if a.deemed_after_days else ""
        )
        out.print(f"approvals  {', '.join(t.value for t in a.tiers)}{deemed}")
    if p.clusters.monitoring:
        out.print(
            f"clusters  unmonitored at most {p.clusters.monitoring.max_unmonitored_h100e:g} H100e"
        )
    if p.clusters.reporting:
        r = p.clusters.reporting
        out.print(
            f"clusters  report above {r.min_flops_per_s:.3g} FLOP/s and "
            f"{r.min_network_gbps:g} Gbit/s within {r.within_days:g} days"
        )
    for c in p.capabilities:
        out.print(
            f"capability  {c.domain.value}: alert {c.alert_level:g} "
            f"({c.alert_bound.value} bound), critical {c.critical_level:g} "
            f"({c.critical_bound.value} bound) -> {c.on_critical.value}"
        )
    if p.pause:
        pz = p.pause
        out.print(
            f"pause  prohibits training above {pz.prohibits.training_above_flop:.3g} FLOP for "
            f"{pz.default_duration_days:g} days; renewed by {pz.renewal.body} "
            f"({pz.renewal.rule.value}); lifted by {pz.lift.body} ({pz.lift.rule.value}) when:"
        )
        for cond in pz.lift.conditions:
            out.print(
                f"  {cond.fact.value} {cond.op.value} {cond.value:g}  "
                f"[dim]{esc(cond.description)}[/]"
            )
    for n in p.notifications:
        on = f" ({n.tier.value})" if n.tier else ""
        out.print(f"notify  {n.event.value}{on} within {n.within_hours:g} h: {esc(n.duty)}")
    if p.withdrawal:
        out.print(f"withdrawal  {p.withdrawal.notice_days:g} days' notice")


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Policy files to check.")],
    as_json: JsonOpt = False,
) -> None:
    """Check policy files; list every problem (file:line: path: reason) and exit 1 if any."""
    results: list[dict[str, Any]] = []
    failed = False
    for f in files:
        try:
            p = load_policy(f)
        except Error as exc:  # every file is checked, whatever went wrong with one
            failed = True
            problems = exc.problems if isinstance(exc, PolicyError) else []
            results.append({"file": str(f), "valid": False, "problems": problems or [str(exc)]})
            continue
        results.append(
            {
                "file": str(f),
                "valid": True,
                "id": p.id,
                "version": p.version,
                "digest": policy_digest(p),
            }
        )
    if as_json:
        print_json(results)
    else:
        for r in results:
            if r["valid"]:
                out.print(
                    f"[green]valid[/]  {esc(r['file'])}  {r['id']} {r['version']}  {r['digest']}"
                )
            else:
                n = len(r["problems"])
                out.print(
                    f"[red]invalid[/]  {esc(r['file'])}  ({n} problem{'s' if n != 1 else ''})"
                )
                for line in r["problems"]:
                    out.print(f"  {line}", markup=False)
    if failed:
        raise typer.Exit(1)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of policy documents (for editors and CI checks)."""
    doc = Policy.model_json_schema(mode="validation")
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["$id"] = "https://pausewatch.org/schema/policy.json"
    print_json(doc)


@app.command("check")
def check(
    policy: PolicyArg,
    facts: Annotated[
        str, typer.Argument(help="A facts file (YAML): runs, clusters, evaluations; - for stdin.")
    ],
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate POLICY over FACTS and print the findings and obligations."""
    when = parse_time(at)
    p = resolve_policy(policy)
    f = parse_facts(sys.stdin.read(), "<stdin>") if facts == "-" else load_facts(facts)
    result = evaluate(p, f, when)
    if as_json:
        print_json(result.to_json())
        return
    _print_evaluation(result)


def _print_evaluation(result: Evaluation) -> None:
    out.print(
        f"[bold]{result.policy_id} {result.policy_version}[/] at "
        f"{result.at.isoformat().replace('+00:00', 'Z')}: {len(result.findings)} findings, "
        f"{len(result.obligations)} obligations"
    )
    for finding in result.by_severity():
        style = _SEVERITY_STYLE[finding.severity]
        action = f"  -> {finding.action.value}" if finding.action.value != "finding" else ""
        head = f"{finding.severity.value:8}"
        out.print(f"[{style}]{head}[/] {finding.kind.value:26} {esc(finding.subject)}{action}")
        out.print(f"         {finding.explanation}", markup=False)
        if finding.evidence:
            out.print(f"         evidence: {', '.join(finding.evidence)}", markup=False)
    if result.obligations:
        out.print("[bold]obligations[/]")
    for o in result.by_deadline():
        deadline = o.deadline.isoformat().replace("+00:00", "Z") if o.deadline else "at once"
        style = {ObligationStatus.OVERDUE: "red", ObligationStatus.MET: "green"}.get(o.status, "")
        status = f"[{style}]{o.status.value:8}[/]" if style else f"{o.status.value:8}"
        out.print(f"{status} {deadline:22} {esc(o.duty)}  [dim]\\[{o.basis}][/]")
    if result.lift_conditions:
        out.print("[bold]lift conditions[/]")
        for c in result.lift_conditions:
            mark = "[green]holds[/]" if c.held else "[red]fails[/]"
            actual = "unknown" if c.actual is None else f"{c.actual:g}"
            out.print(
                f"{mark}  {c.condition.fact.value} {c.condition.op.value} {c.condition.value:g} "
                f"(is {actual})  [dim]{esc(c.condition.description)}[/]"
            )


@app.command("adopt")
def adopt(
    policy: PolicyArg,
    url: UrlOpt = "http://127.0.0.1:8080",
    key: Annotated[
        str, typer.Option("--key", help="Name of the signing key (the secretariat's).")
    ] = "secretariat",
    effective_at: Annotated[
        str | None,
        typer.Option("--effective-at", help="When it takes effect, ISO 8601 UTC. Default: now."),
    ] = None,
    supersedes: Annotated[
        str | None, typer.Option("--supersedes", help="Digest of the policy it replaces.")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why it is adopted.")] = None,
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate POLICY, sign a policy.adopt/v1 statement and submit it to the log."""
    from pausewatch.client import PausewatchClient
    from pausewatch.statements import load_key, sign_statement

    p = resolve_policy(policy)
    digest = policy_digest(p)
    body: dict[str, Any] = {
        "policy": policy_to_json(p),
        "digest": digest,
        "effective_at": parse_time(effective_at).isoformat().replace("+00:00", "Z"),
    }
    if supersedes:
        body["supersedes"] = supersedes
    if note:
        body["note"] = note
    signing_key = load_key(keys_dir(keys_dir_opt, data_dir), key)
    statement = sign_statement(ADOPT_KIND, body, signing_key)
    with PausewatchClient(url) as client:
        accepted = client.submit(statement)
    if as_json:
        print_json({"digest": digest, "accepted": accepted})
        return
    out.print(
        f"adopted {p.id} {p.version} (digest {digest}) at log index {accepted['index']}"
        + (" (already on the log)" if accepted.get("duplicate") else "")
    )


@app.command("current")
def current(
    url: UrlOpt = "http://127.0.0.1:8080",
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the policy in force on the log at a time, read and verified from its entries;
    adoptions not signed by the secretariat key the log names are ignored."""
    from pausewatch.client import PausewatchClient
    from pausewatch.statements import parse_statement

    when = parse_time(at)
    adoptions = []
    ignored = 0
    with PausewatchClient(url) as client:
        secretariat = (client.info().get("roles") or {}).get("secretariat")
        for e in client.entries():
            entry = e["entry"]
            if entry.get("statement", {}).get("kind") != ADOPT_KIND:
                continue
            statement = parse_statement(entry["statement"])
            a = adoption_of(e["index"], parse_time(entry["integrated_at"]), statement)
            if a is None:
                continue
            if secretariat is not None and a.signer != secretariat:
                ignored += 1  # not the secretariat's: it does not count, whatever served it
                continue
            adoptions.append(a)
    found = effective_policy(adoptions, when)
    if found is None:
        raise PolicyError(f"no policy is in force on the log at {when.isoformat()}")
    info = {
        "index": found.index,
        "id": found.body.policy.id,
        "version": found.body.policy.version,
        "title": found.body.policy.title,
        "digest": found.body.digest,
        "effective_at": found.body.effective_at.isoformat().replace("+00:00", "Z"),
        "signer": found.signer,
        "adoptions": len(adoptions),
        "ignored": ignored,
    }
    if as_json:
        print_json(info)
        return
    out.print(
        f"{info['id']} {info['version']}  {esc(str(info['title']))}\n"
        f"digest {info['digest']}, effective {info['effective_at']}, log index {info['index']}, "
        f"signed by {info['signer']}"
    )
