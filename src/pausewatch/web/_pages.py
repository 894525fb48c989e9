"""What each dashboard page shows, read through the same service functions as the JSON API.

Each function takes the running :class:`~pausewatch.service.LogService` and the time to read
the state at, and returns the template's context: plain JSON-like values, so that a page shows
exactly what ``/v1/...`` answers (the browser tests compare the two). Reads of the views that
no service function covers take the state's lock, as the service functions do, and copy the
rows before they leave it.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from pausewatch.compute import (
    COUNTER_TOLERANCE,
    CountingRule,
    count_flop,
    counter_interval,
    load_catalogue,
)
from pausewatch.errors import Error, NotFoundError
from pausewatch.ledger import SignedCheckpoint, format_time, leaf_hash, verify_inclusion
from pausewatch.policy import Evaluation, FindingKind, Policy, Severity
from pausewatch.policy._model import POST_TRAINING_PHASES, Basis
from pausewatch.registry import Row
from pausewatch.service import (
    Assumptions,
    LogService,
    chip_report,
    detection_evaluation,
    deterrence,
    entry_to_json,
    evaluation,
    pause_status,
    proposal_report,
    run_report,
    transcript_report,
    view_page,
)
from pausewatch.service import balance_report as daily_balances
from pausewatch.service._deterrence import DEFAULTS, DETECTION_DESCRIPTION, PARAMETERS
from pausewatch.state import evaluated, facts_from_registry
from pausewatch.statements import parse_json, parse_statement
from pausewatch.web import _charts

TOP_FINDINGS = 10
"""Findings the overview lists (most severe first); the rest are one link away."""
PAGE_SIZE = 50
"""Rows per page on the list pages."""
DARK_LISTED = 20
"""Dark chip ids listed per cluster; the count is always whole."""

SEVERITIES = [s.value for s in reversed(Severity)]
"""Severities, most serious first."""


def _rows(service: LogService, view: str) -> list[Row]:
    """Every row of a view, in primary-key order, copied out of the lock."""
    with service.state.lock:
        return [dict(row) for _, row in sorted(service.state.registry.views[view].items())]


def _evaluation(service: LogService, at: datetime) -> Evaluation | None:
    """The adopted policy's evaluation, or none while no policy is in force."""
    try:
        return evaluation(service.state, at)
    except NotFoundError:
        return None


def _policy(service: LogService, at: datetime) -> Policy | None:
    with service.state.lock:
        return service.state.registry.policy_at(at)


def _page(total: int, offset: int, limit: int) -> dict[str, Any]:
    """Pagination links' figures."""
    return {
        "offset": offset,
        "limit": limit,
        "total": total,
        "prev": max(0, offset - limit) if offset > 0 else None,
        "next": offset + limit if offset + limit < total else None,
    }


def _by_subject(result: Evaluation | None) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for finding in result.by_severity() if result is not None else ():
        out.setdefault(finding.subject, []).append(finding.to_json())
    return out


# -- overview ---------------------------------------------------------------------------------


def overview(service: LogService, at: datetime) -> dict[str, Any]:
    """The pause, the policy in force, parties with their last votes, positions, findings."""
    with service.state.lock:  # one state for both: the pause's lift conditions are the
        result = _evaluation(service, at)  # evaluation's, checked on the views it read
        pause = pause_status(service.state, at, result)
    policy: dict[str, Any] | None = None
    if result is not None:
        adoptions = [
            row for row in _rows(service, "adoptions") if row["digest"] == result.policy_digest
        ]
        adopted = max(adoptions, key=lambda r: r["idx"]) if adoptions else None
        policy = {
            "id": result.policy_id,
            "version": result.policy_version,
            "digest": result.policy_digest,
            "adopted_idx": None if adopted is None else adopted["idx"],
            "effective_at": None if adopted is None else adopted["effective_at"],
        }
    parties = _rows(service, "parties")
    names = {("party", p["party_id"]): p["name"] for p in parties}
    names.update({("operator", o["operator_id"]): o["name"] for o in _rows(service, "operators")})
    last: dict[str, Row] = {}
    for ballot in _rows(service, "ballots"):
        current = last.get(ballot["party_id"])
        if current is None or ballot["idx"] > current["idx"]:
            last[ballot["party_id"]] = ballot
    positions: dict[str, list[dict[str, Any]]] = {"backs": [], "opposes": [], "undeclared": []}
    for row in _rows(service, "positions"):
        positions.setdefault(row["stance"], []).append(
            {**row, "name": names.get((row["subject_kind"], row["subject_id"]))}
        )
    summary = result.summary() if result is not None else None
    top = [f.to_json() for f in result.by_severity()[:TOP_FINDINGS]] if result else []
    return {
        "pause": pause,
        "policy": policy,
        "parties": [{**p, "last_ballot": last.get(p["party_id"])} for p in parties],
        "positions": positions,
        "summary": summary,
        "severities": SEVERITIES,
        "total_findings": 0 if result is None else len(result.findings),
        "top_findings": top,
    }


# -- runs -------------------------------------------------------------------------------------


def runs(service: LogService, at: datetime, offset: int, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """Declared runs with their measured compute (counted under the policy's rule) against the
    plan, and the most severe finding about each."""
    page = view_page(service.state, "runs", offset, limit)
    policy = _policy(service, at)
    # The rule run_report counts by, so that this list and each run's page agree.
    rule = policy.counting.rule if policy is not None else CountingRule.FP16_EQUIVALENT_OR_ACTUAL
    findings = _by_subject(_evaluation(service, at))
    totals = {row["run_id"]: row for row in _rows(service, "tel_runs")}
    transcripts = _transcripts(service)
    out = []
    for run in page["rows"]:
        measured = totals.get(run["run_id"])
        counted = 0.0
        if measured is not None:
            flop = {p: float(v) for p, v in json.loads(measured["flop"]).items()}
            counted = count_flop(flop, rule) if flop else 0.0
        about = findings.get(f"run:{run['run_id']}", [])
        low, high = counter_interval(counted)
        out.append(
            {
                **run,
                "counted_flop": counted,
                "counted_low": low,
                "counted_high": high,
                "tolerance": COUNTER_TOLERANCE,
                "fraction": counted / run["planned_flop"] if run["planned_flop"] else None,
                "findings": len(about),
                "worst": about[0]["severity"] if about else None,
                "transcript": _transcript_summary(transcripts.get(run["run_id"]), about),
            }
        )
    return {"runs": out, "page": _page(page["total"], offset, limit)}


def _transcripts(service: LogService) -> dict[str, dict[str, Any]]:
    """Each committed run's transcript row, with its verdicts (oldest first) under
    ``verdicts``; empty where the transcript views are not folded."""
    with service.state.lock:
        views = service.state.registry.views
        rows = {str(r["run_id"]): dict(r) for r in views.get("transcripts", {}).values()}
        verdicts = sorted(
            (dict(v) for v in views.get("transcript_verdicts", {}).values()),
            key=lambda v: int(v["idx"]),
        )
    for row in rows.values():
        row["verdicts"] = []
    for verdict in verdicts:
        held = rows.get(str(verdict["run_id"]))
        if held is not None:
            held["verdicts"].append(verdict)
    return rows


def _timeliness(committed: bool, findings: list[dict[str, Any]]) -> str | None:
    """``missing``, ``late`` or ``on_time`` from the policy's transcript findings about a run;
    none when nothing is committed and no finding asks for a transcript."""
    kinds = {f["kind"] for f in findings}
    if "transcript_missing" in kinds:
        return "missing"
    if "transcript_late" in kinds:
        return "late"
    return "on_time" if committed else None


def _transcript_summary(
    row: dict[str, Any] | None, findings: list[dict[str, Any]]
) -> dict[str, Any]:
    """A run's transcript on the Runs list: committed or not, checkpoints, whether the final
    one is in, timeliness, and its last audit's verdict."""
    last = row["verdicts"][-1] if row is not None and row["verdicts"] else None
    return {
        "committed": row is not None,
        "checkpoints": 0 if row is None else row.get("checkpoints") or 0,
        "final": row is not None and row.get("final_idx") is not None,
        "timeliness": _timeliness(row is not None, findings),
        "audits": 0 if row is None else len(row["verdicts"]),
        "verdict": None if last is None else last["verdict"],
        "verdict_idx": None if last is None else last["idx"],
    }


def run_detail(service: LogService, run_id: str, at: datetime) -> dict[str, Any]:
    """One run's report (``GET /v1/runs/{id}``), its tiers, and its chart."""
    report = run_report(service.state, run_id, at)  # NotFoundError: the route's 404
    policy = _policy(service, at)
    run = report["run"]
    tiers: list[dict[str, Any]] = []
    if policy is not None:
        post = run["phase"] in {p.value for p in POST_TRAINING_PHASES}
        tierset = policy.compute.post_training if post else policy.compute.pretraining
        tiers = [
            {
                "tier": tier.value,
                "flop": t.flop,
                "per_run": Basis.RUN in t.basis,
                "source": t.source,
            }
            for tier, t in tierset.items()
        ]
    with service.state.lock:
        totals = service.state.registry.get("tel_runs", run_id)
        totals = None if totals is None else dict(totals)
    chart = _charts.run_chart(report, tiers, totals)
    # The run's findings are evaluated once, for the report; the transcript's are among them.
    transcript = transcript_report(service.state, run_id)
    about = [f for f in report["findings"] if f["subject"] == f"run:{run_id}"]
    transcript["findings"] = [f for f in about if f["kind"].startswith("transcript_")]
    transcript["timeliness"] = _timeliness(transcript["commitment"] is not None, about)
    return {
        "report": report,
        "tiers": tiers,
        "totals": totals,
        "chart": chart,
        "transcript": transcript,
    }


# -- facilities and chips ---------------------------------------------------------------------


def facilities(service: LogService, at: datetime) -> dict[str, Any]:
    """Per facility and cluster: chips installed, H100e, coverage, dark chips, undeclared
    compute, as the policy's facts have them (``facts_from_registry``)."""
    with service.state.lock:
        registry = service.state.registry
        policy = registry.policy_at(at)
        # The facts and the evaluation once: the facts are computed by evaluating the policy.
        facts, result = (
            (facts_from_registry(registry, at, None), None)
            if policy is None
            else evaluated(registry, at, policy, digest=registry.policy_digest_at(at))
        )
        chips = [dict(row) for _, row in sorted(registry.views["chips"].items())]
        facility_rows = [dict(row) for _, row in sorted(registry.views["facilities"].items())]
    catalogue = load_catalogue()
    installed: Counter[str] = Counter()
    models: dict[str, Counter[str]] = {}
    weight: dict[str, float] = {}
    for chip in chips:
        cluster = chip["cluster_id"]
        if chip["status"] != "installed" or cluster is None:
            continue
        h100e = catalogue.get(chip["model"]).h100e if chip["model"] in catalogue else 0.0
        weight[chip["chip_id"]] = h100e
        installed[cluster] += 1
        models.setdefault(cluster, Counter())[chip["model"]] += 1
    findings = _by_subject(result)
    clusters: dict[str, list[dict[str, Any]]] = {}
    for fact in facts.clusters:
        dark = list(fact.dark_chips)
        dark_h100e = sum(weight.get(c, 0.0) for c in dark)
        total = fact.h100e
        clusters.setdefault(fact.facility or "", []).append(
            {
                "cluster_id": fact.id,
                "operator_id": fact.operator,
                "chips_installed": installed.get(fact.id, 0),
                "models": dict(sorted(models.get(fact.id, Counter()).items())),
                "h100e": fact.h100e,
                "coverage": (total - dark_h100e) / total if total else None,
                "monitored": fact.monitored,
                "dark_count": len(dark),
                "dark_h100e": dark_h100e,
                "dark_listed": dark[:DARK_LISTED],
                "undeclared_flop": fact.undeclared_flop,
                "undeclared_interval": counter_interval(fact.undeclared_flop),
                "undeclared_windows": fact.undeclared_windows,
                "findings": findings.get(f"cluster:{fact.id}", []),
            }
        )
    listed = [
        {
            **f,
            "clusters": clusters.pop(f["facility_id"], []),
            "findings": findings.get(f"facility:{f['facility_id']}", []),
        }
        for f in facility_rows
    ]
    chips_report = chip_report(service.state)
    for account in (*chips_report["operators"], *chips_report["parties"]):
        account["findings"] = findings.get(f"{account['scope']}:{account['id']}", [])
    state = {k.value: v for k, v in facts.state.items()}
    return {
        "facilities": listed,
        "orphans": [c for group in clusters.values() for c in group],
        "state": state,
        "chips_total": len(chips),
        "chip_accounts": [*chips_report["operators"], *chips_report["parties"]],
        "chip_exports": chips_report["exports"],
        "chips_installed": sum(installed.values()),
        "chart": _charts.coverage_chart(
            [c for f in listed for c in f["clusters"]]
            + [c for group in clusters.values() for c in group]
        ),
    }


# -- governance -------------------------------------------------------------------------------


def governance(
    service: LogService, at: datetime, offset: int, limit: int = PAGE_SIZE
) -> dict[str, Any]:
    """Proposals with their ballot counts and outcomes, the pause and its history, seats."""
    page = view_page(service.state, "proposals", offset, limit)
    ballots: Counter[str] = Counter(b["proposal_id"] for b in _rows(service, "ballots"))
    proposals = []
    for row in page["rows"]:
        outcome = json.loads(row["outcome"]) if row["outcome"] else None
        proposals.append(
            {
                **{k: v for k, v in row.items() if k != "outcome"},
                "ballots": ballots.get(row["proposal_id"], 0),
                "reason": None if outcome is None else outcome["reason"],
            }
        )
    return {
        "proposals": proposals,
        "page": _page(page["total"], offset, limit),
        "pause": pause_status(service.state, at),
        "seats": _rows(service, "seats"),
    }


def proposal(service: LogService, proposal_id: str, at: datetime) -> dict[str, Any]:
    """One proposal (``GET /v1/proposals/{id}``): ballots, and the outcome with its reasons."""
    return {"proposal": proposal_report(service.state, proposal_id, at)}


# -- evaluations ------------------------------------------------------------------------------


def _advisories(findings: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Why the policy holds a result advisory (docs/adr/0021), by result id, from its
    ``capability_advisory`` finding (on the result, or on one metric of it: ``<id>/<metric>``,
    result ids holding no ``/``)."""
    out: dict[str, str] = {}
    for subject, found in findings.items():
        if subject.startswith("eval:"):
            for f in found:
                if f["kind"] == FindingKind.CAPABILITY_ADVISORY.value:
                    out.setdefault(subject[5:].split("/", 1)[0], str(f["explanation"]))
    return out


def _pinned(probe: dict[str, Any]) -> dict[str, Any]:
    """An adopted probe with its elicitation pin in words (``pin``; empty: none)."""
    pin = probe.get("elicitation") or {}
    words = [
        f"{k.replace('_', ' ')} {', '.join(v) if isinstance(v, list) else v}"
        for k, v in sorted(pin.items())
    ]
    return {**probe, "pin": "; ".join(words)}


def evaluations(service: LogService, at: datetime) -> dict[str, Any]:
    """Signed results per capability domain against the policy's levels, and adopted suites."""
    policy = _policy(service, at)
    results = []
    for row in _rows(service, "eval_results"):
        results.append(
            {
                **row,
                "metrics": json.loads(row["metrics"]),
                "elicitation": json.loads(row["elicitation"]),
            }
        )
    suites = [
        {**row, "probes": [_pinned(p) for p in json.loads(row["probes"])]}
        for row in _rows(service, "eval_suites")
    ]
    triggers = [] if policy is None else list(policy.capabilities)
    domains = sorted({t.domain.value for t in triggers} | {r["domain"] for r in results})
    findings = _by_subject(_evaluation(service, at))
    advised = _advisories(findings)
    named = {s[5:].split("/", 1)[0] for s in findings if s.startswith("eval:")}
    sections = []
    for domain in domains:
        mine = [t for t in triggers if t.domain.value == domain]
        in_domain = [r for r in results if r["domain"] == domain]
        sections.append(
            {
                "domain": domain,
                "triggers": [
                    {
                        "metric": t.metric,
                        "indicator": t.indicator,
                        "alert_level": t.alert_level,
                        "critical_level": t.critical_level,
                        "buffer": t.buffer,
                        "alert_line": t.alert_level - t.buffer,
                        "critical_line": t.critical_level - t.buffer,
                        "alert_bound": t.alert_bound.value,
                        "critical_bound": t.critical_bound.value,
                        "source": t.source,
                    }
                    for t in mine
                ],
                "results": [
                    {
                        **r,
                        "findings": findings.get(f"eval:{r['result_id']}", []),
                        "advisory": advised.get(r["result_id"]),
                        # The policy reads it: a finding names it, or it reports a metric a
                        # trigger there reads (a counting result under the levels files none).
                        "read": r["result_id"] in named
                        or any(m["name"] in {t.metric for t in mine} for m in r["metrics"]),
                    }
                    for r in in_domain
                ],
                "charts": [_charts.eval_chart(domain, t, in_domain) for t in mine],
            }
        )
    return {
        "sections": sections,
        "suites": suites,
        "evaluators": _rows(service, "evaluators"),
        "total_results": len(results),
    }


# -- the log ----------------------------------------------------------------------------------


def _latest_checkpoint(service: LogService) -> tuple[SignedCheckpoint | None, str | None]:
    """The newest checkpoint, its log signature verified and its witnesses' cosignatures
    checked against the roster (none with the reason when there is none or it fails)."""
    try:
        note = service.checkpoint()
    except NotFoundError as exc:
        return None, str(exc)
    try:
        signed = SignedCheckpoint.open(
            note, service.log.verifier, [w.verifier for w in service.witnesses]
        )
    except Error as exc:
        return None, f"the latest checkpoint does not verify: {exc}"
    return signed, None


def log_index(service: LogService, start: int | None, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """The latest checkpoint with its cosignatures, the witness roster, and a page of
    entries (the newest by default)."""
    info = service.info()
    signed, problem = _latest_checkpoint(service)
    first = max(0, info.size - limit) if start is None else min(start, max(0, info.size - 1))
    heads = service.log.entry_heads(first, limit) if info.size else []
    # Only entries neither folded nor listed lately by this process are read whole (a page of
    # telemetry batches is megabytes; the newest page is listed again on every view).
    kept = service.state.entry_names
    names: dict[bytes, tuple[str, str | None]] = {}
    for _, leaf, _ in heads:
        known = kept.get(leaf)  # one look: another view may drop it from the kept ones
        if known is not None:
            names[leaf] = known
    unseen = [index for index, leaf, _ in heads if leaf not in names]
    if unseen:
        for entry in service.log.entries(unseen[0], unseen[-1] - unseen[0] + 1):
            names[entry.leaf_hash] = kept.read(entry.leaf_hash, entry.data)
    entries = []
    for index, leaf, integrated_at in heads:
        kind, signer = names[leaf]
        entries.append(
            {
                "index": index,
                "kind": kind,
                "signer": signer,
                "integrated_at": format_time(integrated_at),
                "leaf_hash": leaf.hex(),
            }
        )
    entries.reverse()
    cosigned = {c.name: c for c in signed.cosignatures} if signed is not None else {}
    roster = [
        {
            "url": w.url,
            "name": w.verifier.name,
            "key": w.verifier.to_string(),
            "cosigned": w.verifier.name in cosigned,
            "timestamp": cosigned[w.verifier.name].timestamp
            if w.verifier.name in cosigned
            else None,
        }
        for w in info.witnesses
    ]
    return {
        "info": {
            "origin": info.origin,
            "verifier_key": info.verifier_key,
            "size": info.size,
            "root_hash": info.root.hex(),
            "witness_threshold": info.witness_threshold,
        },
        "checkpoint": None
        if signed is None
        else {
            "size": signed.checkpoint.size,
            "root_hash": signed.checkpoint.root_hash.hex(),
            "origin": signed.checkpoint.origin,
            "note": signed.note,
            "cosignatures": [
                {"name": c.name, "key_id": f"{c.key_id:08x}", "timestamp": c.timestamp}
                for c in signed.cosignatures
            ],
            "witnessed": signed.witnessed(info.witness_threshold) if info.witnesses else None,
        },
        "checkpoint_problem": problem,
        "roster": roster,
        "entries": entries,
        "page": {
            "first": first,
            "limit": limit,
            "total": info.size,
            "older": max(0, first - limit) if first > 0 else None,
            "newer": first + limit if first + limit < info.size else None,
        },
    }


def log_entry(service: LogService, index: int) -> dict[str, Any]:
    """One entry: its statement (signature checked again), its leaf hash recomputed, and its
    inclusion proof in the latest signed checkpoint, verified here with
    :func:`pausewatch.ledger.verify_inclusion` against that checkpoint's root."""
    entry = service.log.entry(index)  # NotFoundError: the route's 404
    shown = entry_to_json(entry)
    statement_ok, statement_problem = True, None
    try:
        parse_statement(parse_json(entry.data)["statement"])
    except Error as exc:
        statement_ok, statement_problem = False, str(exc)
    signed, problem = _latest_checkpoint(service)
    proof: dict[str, Any] | None = None
    if signed is not None and index < signed.checkpoint.size:
        size = signed.checkpoint.size
        hashes = service.log.inclusion_proof(index, size)
        verified, why = True, None
        try:
            verify_inclusion(entry.data, index, size, hashes, signed.checkpoint.root_hash)
        except Error as exc:
            verified, why = False, str(exc)
        proof = {
            "size": size,
            "root_hash": signed.checkpoint.root_hash.hex(),
            "hashes": [h.hex() for h in hashes],
            "verified": verified,
            "problem": why,
        }
    elif signed is not None:
        problem = f"entry {index} is not yet in a signed checkpoint"
    with service.state.lock:
        rejected = service.state.registry.get("rejected", index)
        rejected = None if rejected is None else dict(rejected)
    statement = shown["entry"]["statement"]
    return {
        "entry": shown,
        "statement": statement,
        "body_json": json.dumps(statement.get("body"), indent=2, ensure_ascii=False),
        "statement_ok": statement_ok,
        "statement_problem": statement_problem,
        "leaf_ok": leaf_hash(entry.data) == entry.leaf_hash,
        "proof": proof,
        "proof_problem": problem,
        "rejected": rejected,
    }


# -- detection --------------------------------------------------------------------------------

BALANCE_KINDS = ("energy", "compute_energy", "compute_counters")
"""The balances of ``GET /v1/detect/balances`` per facility, in the order the page shows them."""
BALANCE_UNITS = {"energy": "J", "compute_energy": "FLOP", "compute_counters": "FLOP"}
BALANCE_TITLES = {
    "energy": "Energy unaccounted for (meter less the chips' reported energy and overheads)",
    "compute_energy": "Compute unaccounted for, measured from energy",
    "compute_counters": "Compute unaccounted for, measured by the chips' counters",
}
TABLE_PERIODS = 14
"""Latest periods each balance's table lists (the chart draws them all; alarms are counted)."""


def balance_report(service: LogService, at: datetime) -> dict[str, Any]:
    """The balances per facility at ``at`` as ``GET /v1/detect/balances`` answers them
    (contract C4 of issue 16; docs/adr/0029): ``period``, ``false_alarms_per_facility_year``
    and, per facility, its ``balances`` (``energy``, ``compute_energy``,
    ``compute_counters``), each a list of days with their tests."""
    return daily_balances(service.state, at)


def _series(periods: list[dict[str, Any]]) -> dict[str, Any]:
    """One balance's periods in time order, with its alarms counted and its latest listed."""
    ordered = sorted(periods, key=lambda p: str(p["start"]))
    alarms = [p for p in ordered if p.get("alarm")]
    return {
        "periods": ordered,
        "listed": list(reversed(ordered[-TABLE_PERIODS:])),
        "alarms": len(alarms),
        "first_alarm": alarms[0] if alarms else None,
        "last": ordered[-1] if ordered else None,
    }


def balance_sections(
    report: dict[str, Any], findings: dict[str, list[dict[str, Any]]] | None = None
) -> list[dict[str, Any]]:
    """Per facility of a C4 balances report (:func:`balance_report`), each balance with data:
    its periods (latest first, :data:`TABLE_PERIODS` of them), its alarm count and its chart
    (the balance with its one-shot limit over the CUSUM with its decision interval)."""
    out = []
    for facility in report.get("facilities", []):
        balances = facility.get("balances") or {}
        kinds = []
        for kind in BALANCE_KINDS:
            periods = balances.get(kind) or []
            if not periods:
                continue
            series = _series(periods)
            kinds.append(
                {
                    "kind": kind,
                    "unit": BALANCE_UNITS[kind],
                    "title": BALANCE_TITLES[kind],
                    **series,
                    "chart": _charts.balance_chart(
                        facility["facility_id"], kind, BALANCE_UNITS[kind], series["periods"]
                    ),
                }
            )
        out.append(
            {
                "facility_id": facility["facility_id"],
                "operator_id": facility.get("operator_id"),
                "party_id": facility.get("party_id"),
                "meters": list(facility.get("meters") or []),
                "kinds": kinds,
                "alarms": sum(k["alarms"] for k in kinds),
                "findings": [
                    f
                    for f in (findings or {}).get(f"facility:{facility['facility_id']}", [])
                    if f["kind"] in ("energy_unaccounted", "compute_unaccounted")
                ],
            }
        )
    return out


def _series_of(finding: dict[str, Any]) -> str:
    """The balance series a balance finding is of: its kind and basis tell it."""
    if finding["kind"] == "energy_unaccounted":
        return "energy"
    basis = (finding.get("figures") or {}).get("basis")
    return "compute_counters" if basis == "counters" else "compute_energy"


def rollup_rows(
    report: dict[str, Any], findings: dict[str, list[dict[str, Any]]] | None = None
) -> list[dict[str, Any]]:
    """One row per tested series of each operator's and party's roll-up in a balances report
    (contract C8, docs/adr/0035): who, which balance, the facilities summed and left out, its
    days, its latest day's standardised residual and CUSUM, its alarms and its findings."""
    out = []
    for scope, key, items in (
        ("operator", "operator_id", report.get("operators")),
        ("party", "party_id", report.get("parties")),
    ):
        for item in items or []:
            subject = item[key]
            mine = [
                f
                for f in (findings or {}).get(f"{scope}:{subject}", [])
                if f["kind"] in ("energy_unaccounted", "compute_unaccounted")
            ]
            for kind in BALANCE_KINDS:
                periods = sorted(
                    (item.get("balances") or {}).get(kind) or [], key=lambda p: str(p["start"])
                )
                if not periods:
                    continue
                alarmed = [p for p in periods if p.get("alarm")]
                out.append(
                    {
                        "scope": scope,
                        "subject": subject,
                        "kind": kind,
                        "title": BALANCE_TITLES[kind],
                        "included": list((item.get("included") or {}).get(kind) or []),
                        "excluded": list((item.get("excluded") or {}).get(kind) or []),
                        "days": len(periods),
                        "last": periods[-1],
                        "alarms": len(alarmed),
                        "first_alarm": alarmed[0] if alarmed else None,
                        "findings": [f for f in mine if _series_of(f) == kind],
                    }
                )
    return out


def _inspections(service: LogService) -> list[dict[str, Any]]:
    """Inspection plans, newest first, each with its report where one is on the log: the chips
    drawn, found present and missing, the seals, the meters read on site, what differs from the
    registry, and the checkpoint whose root seeded the draw."""
    plans = _rows(service, "inspection_plans")
    reports = {row["plan_id"]: row for row in _rows(service, "inspection_reports")}
    out = []
    for plan in sorted(plans, key=lambda p: -int(p["idx"])):
        row = reports.get(plan["plan_id"])
        report = None
        if row is not None:
            discrepancies = json.loads(row["discrepancies"])
            report = {
                "inspected_at": row["inspected_at"],
                "idx": row["idx"],
                "seed_size": row["seed_size"],
                "seed_root": row["seed_root"],
                "sample": json.loads(row["sample"]),
                "present": [c["chip_id"] for c in json.loads(row["present"])],
                "missing": json.loads(row["missing"]),
                "seals": json.loads(row["seals"]),
                "seals_broken": row["seals_broken"],
                "meter_readings": json.loads(row["meter_readings"]),
                "discrepancies": [
                    f"{d.get('chip_id') or d.get('meter_id') or '?'}: {d.get('problem', '')}"
                    for d in discrepancies
                ],
                "activity": row["activity"],
                "note": row["note"],
            }
            report["clean"] = not (
                report["missing"] or report["seals_broken"] or report["discrepancies"]
            )
        out.append({**plan, "report": report})
    return out


def _latest_evaluation(service: LogService) -> dict[str, Any] | None:
    """The latest published evaluation of the detectors, with the columns of its per-kind table
    (every figure any row has, in first-seen order)."""
    try:
        latest = detection_evaluation(service.state)
    except NotFoundError:
        return None
    columns: list[str] = []
    for row in latest["kinds"]:
        for name in row["figures"]:
            if name not in columns:
                columns.append(name)
    return {**latest, "columns": columns}


def detection(service: LogService, at: datetime) -> dict[str, Any]:
    """The Detection page: chips unaccounted for per party and operator, exports, inspection
    plans and their results, the daily balances per facility (:func:`balance_report`) and the
    latest published evaluation of the detectors."""
    balances = balance_report(service, at)
    findings = _by_subject(_evaluation(service, at))
    chips = chip_report(service.state)
    accounts = [*chips["parties"], *chips["operators"]]
    for account in accounts:
        account["findings"] = findings.get(f"{account['scope']}:{account['id']}", [])
    inspections = _inspections(service)
    for plan in inspections:
        plan["findings"] = [
            f
            for f in findings.get(f"facility:{plan['facility_id']}", [])
            if plan["report"] is not None and f"log:{plan['report']['idx']}" in f["evidence"]
        ]
    sections = balance_sections(balances, findings)
    return {
        "accounts": accounts,
        "exports": chips["exports"],
        "certified_only": chips["certified_only"],
        "inspections": inspections,
        "inspected": sum(1 for p in inspections if p["report"] is not None),
        "with_discrepancies": sum(
            1 for p in inspections if p["report"] is not None and not p["report"]["clean"]
        ),
        "balances": sections,
        "rollups": rollup_rows(balances, findings),
        "rollup_alpha": balances.get("false_alarms_per_operator_year"),
        "balance_period": balances.get("period"),
        "balance_alpha": balances.get("false_alarms_per_facility_year"),
        "evaluation": _latest_evaluation(service),
        "unaccounted_total": sum(a["unaccounted"]["count"] for a in chips["parties"]),
    }


def deterrence_page(
    service: LogService, at: datetime, assumptions: Assumptions = DEFAULTS
) -> dict[str, Any]:
    """The Deterrence page: :func:`~pausewatch.service.deterrence` (what ``GET
    /v1/deterrence`` answers at the same assumptions), its chart of margins, and the form's
    fields (each assumption with its value, default and meaning)."""
    analysis = deterrence(service.state, at, assumptions)
    judged = [*analysis["rows"], analysis["transcript"]]
    given = analysis["assumptions"]
    fields = [
        {
            "name": name,
            "value": "" if given[name] is None else f"{given[name]:.12g}",
            "default": "" if getattr(DEFAULTS, name) is None else f"{getattr(DEFAULTS, name):g}",
            "description": spec.description,
            "integer": spec.integer,
        }
        for name, spec in PARAMETERS.items()
    ]
    fields.append(
        {
            "name": "detection",
            "value": assumptions.query(),
            "default": "",
            "description": DETECTION_DESCRIPTION,
            "integer": False,
        }
    )
    changed = [
        (name, given[name])
        for name in PARAMETERS
        if given[name] is not None and given[name] != getattr(DEFAULTS, name)
    ]
    changed += [("detection", f"{kind}:{p:.12g}") for kind, p in assumptions.detection]
    return {
        **analysis,
        "judged": judged,
        "fields": fields,
        "api_path": "/v1/deterrence" + (f"?{urlencode(changed)}" if changed else ""),
        "chart": _charts.deterrence_chart(judged),
        "error": None,
    }


def non_parties(service: LogService, at: datetime) -> dict[str, Any]:
    """What the log tells of chips that left the regime and of facilities it does not hold:
    each export to a non-party (destination, entity, licence, chips, dates) with the entries
    of those chips' supply chain; chips shipped to an operator and never installed, retired,
    exported nor seen reporting (held somewhere the registry does not name), with their
    shipments; and chips inspectors found that the registry does not hold. (Meters and
    clusters are registered only at registered facilities: the fold refuses the rest.)"""
    findings = _by_subject(_evaluation(service, at))
    chips = chip_report(service.state)
    movements = _rows(service, "chip_movements")
    exports_rows = {row["export_id"]: row for row in _rows(service, "exports")}
    exports = []
    for export in chips["exports"]:
        row = exports_rows.get(export["export_id"])
        ids: list[str] = [] if row is None else json.loads(row["chip_ids"])
        members = set(ids)
        chain = sorted(
            {int(m["idx"]) for m in movements if m["chip_id"] in members and m["kind"] != "export"}
        )
        exports.append(
            {
                **export,
                "chip_ids": ids,
                "integrated_at": None if row is None else row["integrated_at"],
                "signer": None if row is None else row["signer"],
                "evidence": [*chain, export["idx"]],
                # The party's chips_exported findings that rest on this export.
                "findings": [
                    f
                    for f in findings.get(f"party:{export['from_party']}", [])
                    if f["kind"] == "chips_exported" and f"log:{export['idx']}" in f["evidence"]
                ],
            }
        )
    shipped_by: dict[str, list[int]] = {}
    for m in movements:
        if m["kind"] in ("ship", "transfer") and m["to_operator"] is not None:
            shipped_by.setdefault(m["chip_id"], []).append(int(m["idx"]))
    unplaced = []
    for account in chips["operators"]:
        missing = account["unaccounted"]
        if not missing["count"]:
            continue
        unplaced.append(
            {
                "operator_id": account["id"],
                "party_id": account["party"],
                "count": missing["count"],
                "chips": [
                    {"chip_id": c, "evidence": sorted(shipped_by.get(c, []))}
                    for c in missing["chips"]
                ],
                "findings": [
                    f
                    for f in findings.get(f"operator:{account['id']}", [])
                    if f["kind"] == "chips_unaccounted"
                ],
            }
        )
    unknown_chips = []
    for plan in _inspections(service):
        report = plan["report"]
        if report is None:
            continue
        for problem in report["discrepancies"]:
            if problem.endswith(": not registered") or problem.endswith(": not certified"):
                unknown_chips.append(
                    {
                        "what": problem.rsplit(": ", 1)[0],
                        "problem": problem.rsplit(": ", 1)[1],
                        "facility_id": plan["facility_id"],
                        "plan_id": plan["plan_id"],
                        "idx": report["idx"],
                    }
                )
    return {
        "exports": exports,
        "exported_chips": sum(e["chips"]["count"] for e in exports),
        "destinations": sorted({e["destination_country"] for e in exports}),
        "unplaced": unplaced,
        "unknown_found": unknown_chips,
    }


__all__ = [
    "PAGE_SIZE",
    "balance_report",
    "balance_sections",
    "detection",
    "evaluations",
    "facilities",
    "governance",
    "log_entry",
    "log_index",
    "non_parties",
    "overview",
    "proposal",
    "run_detail",
    "runs",
]
