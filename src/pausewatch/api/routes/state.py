"""Reading the folded state: registry and telemetry views, the evaluation, a run's report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pausewatch.api.deps import AtQuery, Limit, Offset, ServiceDep, next_offset, resolve_at
from pausewatch.registry import VIEWS
from pausewatch.service import (
    balance_report,
    chip_report,
    detection_evaluation,
    evaluation,
    run_report,
    view_page,
)

router = APIRouter(tags=["state"])


@router.get(
    "/v1/views/{view}",
    summary="A registry or telemetry view, paginated",
    description=(
        "Rows of a view folded from the log, in primary-key order: "
        + ", ".join(f"`{v}`" for v in sorted(VIEWS))
        + ". Up to `limit` rows from `offset`; follow `next` until it is null. 404 for an "
        "unknown view."
    ),
)
def get_view(
    view: str, service: ServiceDep, offset: Offset = 0, limit: Limit = 100
) -> dict[str, Any]:
    """One page of a view."""
    return view_page(service.state, view, offset, limit)


@router.get(
    "/v1/findings",
    summary="The adopted policy evaluated over the current accounting",
    description=(
        "Findings (kind, severity, subject, explanation, evidence, action) and obligations "
        "(duty, deadline, status) of the policy in force at `at`, over the registry and the "
        "telemetry folded from the log; the lift conditions with the state's figures. Findings "
        "are paginated (`offset`, `limit`; `next`, `total_findings`), and so are obligations "
        "(`obligations_offset`, `obligations_limit`; `obligations_next`, `total_obligations`); "
        "the summary counts them all. 404 when no policy is in force."
    ),
)
def get_findings(
    service: ServiceDep,
    at: AtQuery = None,
    offset: Offset = 0,
    limit: Limit = 100,
    obligations_offset: Offset = 0,
    obligations_limit: Limit = 1000,
) -> dict[str, Any]:
    """The evaluation, findings and obligations paginated."""
    result = evaluation(service.state, resolve_at(service, at)).to_json()
    findings = result["findings"]
    result["findings"] = findings[offset : offset + limit]
    result["total_findings"] = len(findings)
    result["next"] = next_offset(offset, limit, len(findings))
    obligations = result["obligations"]
    end = obligations_offset + obligations_limit
    result["obligations"] = obligations[obligations_offset:end]
    result["total_obligations"] = len(obligations)
    result["obligations_next"] = next_offset(
        obligations_offset, obligations_limit, len(obligations)
    )
    return result


@router.get(
    "/v1/runs/{run_id:path}",
    summary="A declared run: plan against measured compute, and its findings",
    description=(
        "The run's declaration as folded, the FLOP its chips reported per precision and as "
        "the policy counts them, the fraction of the plan used, and the findings and "
        "obligations about the run and its model under the policy in force at `at`. 404 when "
        "the run is not declared."
    ),
)
def get_run(run_id: str, service: ServiceDep, at: AtQuery = None) -> dict[str, Any]:
    """One run's report."""
    return run_report(service.state, run_id, resolve_at(service, at))


@router.get(
    "/v1/detect/chips",
    summary="Chips unaccounted for, per operator and party; exports; inspection results",
    description=(
        "The chip balance of every operator and party the supply chain reached (docs/adr/0026): "
        "chips `shipped` to it (a shipment or a sale to it, or a chip it put to use), less "
        "`transferred_out`, `installed`, `retired`, `exported` (to non-parties) and "
        "`reporting` (an accepted telemetry record), leaves `unaccounted`; `dark` counts the "
        "installed chips that never reported (not in `unaccounted`). Each figure is a `count` "
        "and the first `chips` behind it; `evidence` holds the log indices of the arrivals of "
        "the chips unaccounted for. `exports` lists the chips that reached a non-party "
        "(destination, date, log index); `inspections`, per report, the chips found missing, "
        "the discrepancies with the registry and the seals found broken; `certified_only`, "
        "chips certified with a buyer and never shipped nor used (still the maker's)."
    ),
)
def get_chip_accounts(service: ServiceDep) -> dict[str, Any]:
    """The chip balances, exports and inspection results."""
    return chip_report(service.state)


@router.get(
    "/v1/detect/evaluation",
    summary="The latest published evaluation of the detectors",
    description=(
        "The latest `detect.evaluation/v1` statement on the log (docs/adr/0031), as folded: "
        "`detection_before_completion` (overall probability of detecting a defection before "
        "its run could complete) and `false_alarms_per_facility_year` (on the honest "
        "scenarios), `kinds` (the per-kind table: each `kind` with its `figures` as the report "
        "has them), `fit_seeds` and `evaluation_seeds`, `corpus_digest`, `report` (every other "
        "key of the report), `idx` (its log entry) and `published` (how many are on the log). "
        "404 while none is published."
    ),
)
def get_detection_evaluation(service: ServiceDep) -> dict[str, Any]:
    """The latest published evaluation of the detectors."""
    return detection_evaluation(service.state)


@router.get(
    "/v1/detect/balances",
    summary="Daily energy and compute balances per facility, operator and party, with their "
    "alarm limits",
    description=(
        "Per facility and UTC day (`period` P1D) closed at `at` (docs/adr/0029): `energy` "
        "(energy unaccounted for: the meters' energy less the chips' reported energy times "
        "1 + `overhead_ratio` and `overhead_w` times the seconds metered, in J), "
        "`compute_energy` (compute unaccounted for: the meters' net energy converted to FLOP "
        "with the fleet's efficiency, less the FLOP the chips counted) and `compute_counters` "
        "(FLOP in windows naming no run, less what declared workloads cover). The first two "
        "exist only where a meter is installed. Each day gives `start`, `end`, `value`, "
        "`sigma`, `standardised` (its SITMUF residual), `cusum` (Page's CUSUM after it), "
        "`one_shot_limit`, `cusum_limit` and `alarm` (null, `one_shot` or `cusum`), with its "
        "`evidence` (log entries). Each test is set for an equal share of "
        "`false_alarms_per_facility_year`. `operators` and `parties` (docs/adr/0035) roll "
        "the facilities' days up per operator and per party: each item has `operator_id` "
        "(with its `party_id`) or `party_id`, `facilities` (all of its facilities), "
        "`included` and `excluded` per series (the facilities summed, and those left out "
        "because their own series alarms or, in a party's, their operator's sum of it "
        "alarms) and `balances` with the same three series of "
        "summed days, each standardised and tested like a facility's, at "
        "`false_alarms_per_operator_year` / `false_alarms_per_party_year` for all tests "
        "together. A roll-up that would repeat a smaller one (an operator with one "
        "facility summed, a party with one operator's) has empty series. `facility` narrows "
        "the answer to one facility and the roll-ups holding it; 404 (a problem document) "
        "for an unknown one."
    ),
)
def get_balances(
    service: ServiceDep, facility: str | None = None, at: AtQuery = None
) -> dict[str, Any]:
    """The daily balances and their tests."""
    return balance_report(service.state, resolve_at(service, at), facility)
