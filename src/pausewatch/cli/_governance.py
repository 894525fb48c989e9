"""`pausewatch gov` (propose, vote, show, list) and `pausewatch pause status`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.markup import escape

from pausewatch.cli._common import (
    DataDirOpt,
    JsonOpt,
    KeysDirOpt,
    UrlOpt,
    keys_dir,
    out,
    print_json,
)
from pausewatch.client import PausewatchClient
from pausewatch.governance._statements import ProposalKind
from pausewatch.governance._tally import Choice
from pausewatch.statements import load_key, sign_statement

gov_app = typer.Typer(help="Proposals and votes: decisions that bind.", no_args_is_help=True)
pause_app = typer.Typer(help="The time-limited pause.", no_args_is_help=True)

KeyOpt = Annotated[
    str, typer.Option("--key", help="Name of the signing key (a party's or delegate's).")
]


@gov_app.command("propose")
def propose(
    proposal_id: Annotated[str, typer.Argument(help="An id for the proposal.")],
    kind: Annotated[ProposalKind, typer.Argument(help="What the proposal asks for.")],
    key: KeyOpt,
    subject: Annotated[
        str | None, typer.Option(help="What it concerns: run:<id>, cluster:<id>, party:<id>.")
    ] = None,
    days: Annotated[
        float | None, typer.Option(help="Days: a pause's duration, an extension, an exemption.")
    ] = None,
    deadline: Annotated[
        str | None, typer.Option(help="For a halt order: RFC 3339 UTC time, e.g. ...Z.")
    ] = None,
    policy_digest: Annotated[
        str | None, typer.Option("--policy-digest", help="For a policy: its SHA-256 digest.")
    ] = None,
    text: Annotated[str, typer.Option(help="The proposal in words.")] = "",
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = "http://127.0.0.1:8080",
    as_json: JsonOpt = False,
) -> None:
    """File a proposal; it is open for the policy's vote window from its integration."""
    body: dict[str, Any] = {"proposal_id": proposal_id, "kind": kind.value, "text": text}
    for name, value in (
        ("subject", subject),
        ("days", days),
        ("deadline", deadline),
        ("policy_digest", policy_digest),
    ):
        if value is not None:
            body[name] = value
    signer = load_key(keys_dir(keys_dir_opt, data_dir), key)
    with PausewatchClient(url) as client:
        accepted = client.submit(sign_statement("gov.proposal/v1", body, signer))
        report = client.proposal(proposal_id)
    if as_json:
        print_json(report)
        return
    out.print(
        f"proposal {escape(proposal_id)} ({kind.value}) filed at entry {accepted['index']}: "
        f"{report['body']} decides by {report['rule']}, votes until {report['closes_at']}"
    )


@gov_app.command("vote")
def vote(
    proposal_id: Annotated[str, typer.Argument(help="The proposal.")],
    choice: Annotated[Choice, typer.Argument(help="yes, no or abstain.")],
    key: KeyOpt,
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    url: UrlOpt = "http://127.0.0.1:8080",
    as_json: JsonOpt = False,
) -> None:
    """Cast a ballot; a party's last ballot before the close counts."""
    signer = load_key(keys_dir(keys_dir_opt, data_dir), key)
    body = {
        "proposal_id": proposal_id,
        "choice": choice.value,
        "cast_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    with PausewatchClient(url) as client:
        accepted = client.submit(sign_statement("gov.vote/v1", body, signer))
    if as_json:
        print_json(accepted)
        return
    again = " (already on the log)" if accepted.get("duplicate") else ""
    out.print(f"{choice.value} on {escape(proposal_id)}: entry {accepted['index']}{again}")


def _outcome_line(report: dict[str, Any]) -> str:
    result = report["outcome"]
    state = report["status"] if report["status"] == "decided" else "count so far"
    return f"{state}: {escape(result['reason'])}"


@gov_app.command("show")
def show(
    proposal_id: Annotated[str, typer.Argument(help="The proposal.")],
    url: UrlOpt = "http://127.0.0.1:8080",
    as_json: JsonOpt = False,
) -> None:
    """A proposal, its ballots and its outcome (with the lift conditions, for a lift)."""
    with PausewatchClient(url) as client:
        report = client.proposal(proposal_id)
    if as_json:
        print_json(report)
        return
    out.print(
        f"{escape(report['proposal_id'])}: {report['kind']} by {escape(report['proposer'])}, "
        f"{report['body']} by {report['rule']}, open {report['opens_at']} to "
        f"{report['closes_at']}"
    )
    if report["text"]:
        out.print(f"  {escape(report['text'])}")
    for b in report["ballots"]:
        out.print(f"  {b['integrated_at']}  {escape(b['party_id'])}: {b['choice']}")
    out.print(f"  {_outcome_line(report)}")
    for c in report["outcome"].get("conditions", []):
        mark = "holds" if c["held"] else "unmet"
        out.print(f"  condition {mark}: {escape(c['description'])} (actual {c['actual']})")


@gov_app.command("list")
def list_proposals(url: UrlOpt = "http://127.0.0.1:8080", as_json: JsonOpt = False) -> None:
    """Every proposal with its status."""
    with PausewatchClient(url) as client:
        rows = client.proposals()
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no proposals")
    for r in rows:
        verdict = {True: "passed", False: "failed", None: "open"}[r["passed"]]
        out.print(f"{escape(r['proposal_id'])}  {r['kind']}  {verdict}  closes {r['closes_at']}")


@pause_app.command("status")
def status(url: UrlOpt = "http://127.0.0.1:8080", as_json: JsonOpt = False) -> None:
    """The pause now: state, expiry countdown, and the lift conditions."""
    with PausewatchClient(url) as client:
        report = client.pause()
    if as_json:
        print_json(report)
        return
    line = f"pause: {report['status']}"
    if report["in_force"]:
        left = report["seconds_left"] / 86_400
        line += f", expires {report['expires_at']} ({left:.1f} days left)"
    elif report["status"] == "lifted":
        line += f" on {report['lifted_at']}"
    elif report["status"] == "expired":
        line += f" on {report['expires_at']}"
    out.print(line)
    for c in report["lift_conditions"]:
        mark = "holds" if c["held"] else "unmet"
        out.print(f"  lift condition {mark}: {escape(c['description'])} (actual {c['actual']})")
