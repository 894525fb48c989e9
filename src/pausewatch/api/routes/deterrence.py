"""The deterrence analysis (issue 18, section 4; docs/adr/0044-deterrence-page.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError

from pausewatch.api.deps import AtQuery, ServiceDep, resolve_at
from pausewatch.service import Assumptions, DeterrenceError, deterrence
from pausewatch.service._deterrence import (
    DEFAULTS,
    DETECTION_DESCRIPTION,
    PARAMETERS,
    parse_detection,
)

router = APIRouter(tags=["state"])


def _described(name: str) -> str:
    spec = PARAMETERS[name]
    low = f"> {spec.low:g}" if spec.low_open else f">= {spec.low:g}"
    return f"{spec.description} Range: {low}, <= {spec.high:g}."


def _number(name: str) -> Any:
    spec = PARAMETERS[name]
    # nan and the infinities are refused as what they are, before any range is checked.
    finite: dict[str, Any] = {} if spec.integer else {"allow_inf_nan": False}
    if spec.low_open:
        return Query(description=_described(name), gt=spec.low, le=spec.high, **finite)
    return Query(description=_described(name), ge=spec.low, le=spec.high, **finite)


@router.get(
    "/v1/deterrence",
    summary="Which defection kinds the regime deters, by what margin, and what would close "
    "each gap",
    description=(
        "For the policy in force at `at` and the latest `detect.evaluation/v1` on the log: one "
        "row per defection kind of the evaluation (its detection before completion over the "
        "prohibited runs, else over every size, with its interval), judged against the "
        "inspection game's threshold `(d + h*alpha) / (d + b)` (inspector leadership with "
        "false alarms; `alpha` is the false alarms per facility-year over `run_days`, "
        "`1 - exp(-rate * run_days / 365)`): `required_detection`, `margin` and `deterred` on "
        "the estimate, `margin_low` and `deterred_low` on the interval's lower bound, and "
        "`needed` (the detection, the `inspections` at the measured power per daily look and "
        "their `inspection_factor` against the run's days, the `penalty` in units of d); a "
        "`transcript` row from the audit draw's theory (`1 - C(N-2-F, Q-2) / C(N-2, Q-2)`, "
        "with the `budget` needed); the `overall` figure's row; the `assumptions` with their "
        "`defaults` (docs/adr/0044). Without an evaluation on the log the only per-kind rows "
        "are the `detection` parameters'. A parameter out of range is a 422 problem."
    ),
)
def get_deterrence(
    request: Request,
    service: ServiceDep,
    at: AtQuery = None,
    gain: Annotated[float, _number("gain")] = DEFAULTS.gain,
    penalty: Annotated[float, _number("penalty")] = DEFAULTS.penalty,
    false_alarm_cost: Annotated[float, _number("false_alarm_cost")] = DEFAULTS.false_alarm_cost,
    run_days: Annotated[float, _number("run_days")] = DEFAULTS.run_days,
    false_alarms: Annotated[float | None, _number("false_alarms")] = None,
    forged_fraction: Annotated[float, _number("forged_fraction")] = DEFAULTS.forged_fraction,
    transcript_budget: Annotated[float, _number("transcript_budget")] = DEFAULTS.transcript_budget,
    transcript_segments: Annotated[
        int, _number("transcript_segments")
    ] = DEFAULTS.transcript_segments,
    detection: Annotated[list[str], Query(description=DETECTION_DESCRIPTION)] = [],  # noqa: B006
) -> dict[str, Any]:
    """The deterrence analysis at the given assumptions."""
    try:
        for name in PARAMETERS:
            # A scalar query parameter would silently take the last of two values.
            if len(request.query_params.getlist(name)) > 1:
                raise DeterrenceError(name, "given twice: give it once")
        assumptions = Assumptions(
            gain=gain,
            penalty=penalty,
            false_alarm_cost=false_alarm_cost,
            run_days=run_days,
            false_alarms=false_alarms,
            forged_fraction=forged_fraction,
            transcript_budget=transcript_budget,
            transcript_segments=transcript_segments,
            detection=parse_detection(detection),
        )
    except DeterrenceError as exc:
        raise RequestValidationError(
            [{"loc": ("query", exc.parameter), "msg": str(exc), "type": "value_error"}]
        ) from exc
    return deterrence(service.state, resolve_at(service, at), assumptions)
