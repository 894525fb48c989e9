"""Read use cases over the folded state: views, the policy evaluation, one run's report."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pausewatch.compute import (
    COUNTER_TOLERANCE,
    CountingRule,
    Estimate,
    Method,
    count_flop,
    counter_interval,
    project_crossing,
)
from pausewatch.detect import (
    FALSE_ALARMS_PER_FACILITY_YEAR,
    chip_accounts,
    facility_balances,
    rollup_balances,
)
from pausewatch.errors import NotFoundError
from pausewatch.ledger import format_time
from pausewatch.policy import Evaluation, Policy
from pausewatch.policy._facts import RunFact
from pausewatch.policy._model import POST_TRAINING_PHASES, Basis
from pausewatch.registry import VIEWS, Registry
from pausewatch.state import StateStore, evaluated


def _policy(registry: Registry, at: datetime) -> Policy:
    policy = registry.policy_at(at)
    if policy is None:
        raise NotFoundError(
            "no policy is in force: adopt one on the log first (pausewatch policy adopt)"
        )
    return policy


def evaluation(state: StateStore, at: datetime) -> Evaluation:
    """The adopted policy evaluated over the accounting the views hold at ``at``."""
    with state.lock:
        policy = _policy(state.registry, at)
        digest = state.registry.policy_digest_at(at)
        _, result = evaluated(state.registry, at, policy, digest=digest)
    return result


def chip_report(state: StateStore) -> dict[str, Any]:
    """The chip balances per operator and party, the exports to non-parties and the inspection
    results the views hold (docs/adr/0026)."""
    with state.lock:
        accounts = chip_accounts(state.registry)
    return accounts.to_json()


def balance_report(state: StateStore, at: datetime, facility: str | None = None) -> dict[str, Any]:
    """Every facility's daily balances over the days closed at ``at`` (or one facility's), each
    day tested (contract C4, docs/adr/0029), and their roll-ups per operator and party (those
    holding the facility, if one is named; contract C8, docs/adr/0035); an unknown facility is
    a NotFoundError."""
    with state.lock:
        if facility is not None and state.registry.get("facilities", facility) is None:
            raise NotFoundError(f"unknown facility {facility!r}")
        found = facility_balances(state.registry, at, facility=facility)
        rollups = rollup_balances(state.registry, at)
    if facility is not None:
        rollups = rollups.containing(facility)
    return {
        "period": "P1D",
        "false_alarms_per_facility_year": FALSE_ALARMS_PER_FACILITY_YEAR,
        "false_alarms_per_operator_year": FALSE_ALARMS_PER_FACILITY_YEAR,
        "false_alarms_per_party_year": FALSE_ALARMS_PER_FACILITY_YEAR,
        "at": format_time(at),
        "facilities": [f.to_json() for f in found],
        "operators": [r.to_json() for r in rollups.operators],
        "parties": [r.to_json() for r in rollups.parties],
    }


def detection_evaluation(state: StateStore) -> dict[str, Any]:
    """The latest evaluation of the detectors on the log (``detect.evaluation/v1``,
    docs/adr/0031): its overall figures, per-kind table, seed ranges, corpus digest and the rest
    of its report, with its log index; :class:`NotFoundError` while none is published."""
    with state.lock:
        rows = list(state.registry.views["detection_evaluations"].values())
        latest = dict(max(rows, key=lambda r: int(r["idx"]))) if rows else None
    if latest is None:
        raise NotFoundError(
            "no evaluation of the detectors is on the log: publish one with "
            "pausewatch detect publish REPORT.json"
        )
    latest["kinds"] = json.loads(latest["kinds"])
    latest["report"] = json.loads(latest["report"])
    latest["published"] = len(rows)
    return latest


def view_page(state: StateStore, view: str, offset: int, limit: int) -> dict[str, Any]:
    """Rows ``offset`` to ``offset + limit`` of a view, in primary-key order. The keys' order is
    kept until a key is added or removed (:meth:`Registry.sorted_keys`), so that a page of a
    view as large as a fleet's chips reads its rows alone, not every row sorted, under the
    state's lock."""
    if view not in VIEWS:
        raise NotFoundError(f"unknown view {view!r}; views: {', '.join(sorted(VIEWS))}")
    with state.lock:
        rows = state.registry.views[view]
        keys = state.registry.sorted_keys(view)
        page = [rows[key] for key in keys[offset : offset + limit]]
    return {
        "view": view,
        "key": list(VIEWS[view]),
        "total": len(keys),
        "offset": offset,
        "rows": page,
        "next": offset + limit if offset + limit < len(keys) else None,
    }


def _history(batches: list[dict[str, Any]], rule: CountingRule) -> list[dict[str, Any]]:
    """The run's measured compute after each telemetry batch, counted under ``rule``: entry,
    end of its last window, the batch's part and the total so far."""
    out: list[dict[str, Any]] = []
    total = 0.0
    for row in batches:
        flop = {p: float(v) for p, v in json.loads(row["flop"]).items()}
        part = count_flop(flop, rule) if flop else 0.0
        total += part
        out.append(
            {
                "idx": row["idx"],
                "window_end": row["last_window_end"],
                "counted_flop": part,
                "cumulative_flop": total,
            }
        )
    return out


def run_report(state: StateStore, run_id: str, at: datetime) -> dict[str, Any]:
    """A declared run: its declaration, the compute its chips measured (per precision and as
    the policy counts it) against the plan, and the findings about it and its model."""
    with state.lock:
        registry = state.registry
        run = registry.get("runs", run_id)
        if run is None:
            raise NotFoundError(f"run {run_id!r} is not declared")
        totals = registry.get("tel_runs", run_id)
        batches = sorted(
            (row for (rid, _), row in registry.views["tel_run_batches"].items() if rid == run_id),
            key=lambda row: int(row["idx"]),
        )
        policy = registry.policy_at(at)
        # The facts and the evaluation once (the facts' open critical findings come from the
        # same evaluation), for both the projection and the findings.
        facts, result = (
            (None, None)
            if policy is None
            else evaluated(registry, at, policy, digest=registry.policy_digest_at(at))
        )
    measured = {} if totals is None else {p: int(v) for p, v in json.loads(totals["flop"]).items()}
    rule = policy.counting.rule if policy is not None else CountingRule.FP16_EQUIVALENT_OR_ACTUAL
    history = _history(batches, rule)
    counted = count_flop({p: float(v) for p, v in measured.items()}, rule) if measured else 0.0
    counted_low, counted_high = counter_interval(counted)
    report: dict[str, Any] = {
        "run": run,
        "measured": {
            "flop_by_precision": {p: str(v) for p, v in sorted(measured.items())},
            "counted_flop": counted,
            # The counters are trusted to within their stated accuracy (docs/adr/0022).
            "counted_flop_low": counted_low,
            "counted_flop_high": counted_high,
            "counter_tolerance": COUNTER_TOLERANCE,
            "counting_rule": rule.value,
            "chip_windows": 0 if totals is None else totals["chip_windows"],
            "chips": 0 if totals is None else int(totals["chip_count"]),
            "fraction_of_plan": counted / run["planned_flop"] if run["planned_flop"] else None,
            "history": history,
        },
        "policy": None,
        "projection": None,
        "findings": [],
        "obligations": [],
    }
    if policy is not None and facts is not None and result is not None:
        fact = next((r for r in facts.runs if r.id == run_id), None)
        report["projection"] = None if fact is None else _projection(fact, policy, at)
        subjects = {f"run:{run_id}", f"model:{run['model']}"}
        report["policy"] = {"id": result.policy_id, "version": result.policy_version}
        report["findings"] = [f.to_json() for f in result.findings if f.subject in subjects]
        report["obligations"] = [o.to_json() for o in result.obligations if o.subject in subjects]
    return report


def _projection(fact: RunFact, policy: Policy, at: datetime) -> dict[str, Any] | None:
    """When the run, at its measured pace, crosses the next per-run tier of the policy (none
    without a pace or a tier above it)."""
    if fact.rate is None or not fact.measured_by_precision:
        return None
    counted = count_flop(fact.measured_by_precision, policy.counting.rule)
    tiers = (
        policy.compute.post_training
        if fact.phase in POST_TRAINING_PHASES
        else policy.compute.pretraining
    )
    ahead = [(tier, t) for tier, t in tiers.items() if Basis.RUN in t.basis and t.flop > counted]
    if not ahead:
        return None
    tier, threshold = ahead[0]
    # Both the total and the pace come from the counters: both carry their tolerance, and the
    # earliest and latest crossings follow from it.
    measured = Estimate(counted, *counter_interval(counted), Method.TELEMETRY)
    rate = fact.rate
    pace = Estimate(
        rate.value, *counter_interval(rate.value, rate.low, rate.high), Method.TELEMETRY
    )
    crossing = project_crossing(measured=measured, rate=pace, threshold=threshold.flop, now=at)
    return {
        "tier": tier.value,
        "threshold_flop": threshold.flop,
        "rate_flop_per_s": pace.value,
        "rate_low": pace.low,
        "rate_high": pace.high,
        "measured_low": measured.low,
        "measured_high": measured.high,
        "straddles": measured.low <= threshold.flop < measured.high,
        **crossing.to_json(),
    }


__all__ = ["evaluation", "run_report", "view_page"]
