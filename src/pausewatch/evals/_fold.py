"""Evaluations in the fold: evaluators, adopted suites and signed results as views.

A result takes effect only when a live key of the evaluator it names signs it. A failed or
incomplete result stays on the record, and counts as "not ruled out", until a later successful
result of the same evaluator, model, probe and domain supersedes it (the row's
``superseded_by``; the policy's facts also require that success to report every metric the
policy's triggers read there); a successful result is never superseded, so a lower score later
does not erase a higher one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pausewatch.evals._statements import (
    EvalResult,
    EvalSuite,
    EvaluatorRegister,
    ResultStatus,
    SuiteProbe,
)
from pausewatch.ledger import format_time
from pausewatch.registry._fold import Handler, RejectedError, _Context
from pausewatch.registry._kinds import SubjectKind
from pausewatch.statements import Body


def _evaluator(ctx: _Context, body: Body) -> None:
    assert isinstance(body, EvaluatorRegister)
    if body.party_id is None:
        ctx.require_secretariat()
    else:
        ctx.must_exist("parties", "party", body.party_id)
        ctx.require(SubjectKind.PARTY, body.party_id)
    ctx.must_be_new("evaluators", "evaluator", body.evaluator_id)
    ctx.new_key(body.key, SubjectKind.EVALUATOR, body.evaluator_id)
    ctx.set(
        "evaluators",
        {
            "evaluator_id": body.evaluator_id,
            "party_id": body.party_id,
            "name": body.name,
            "key": body.key,
            "registered_idx": ctx.index,
            "registered_at": ctx.when,
        },
    )


def _probe(probe: SuiteProbe) -> dict[str, Any]:
    """An adopted probe as ``ev_suites.probes`` holds it: its pin joins it only when adopted,
    so suites adopted without one read as before."""
    out: dict[str, Any] = {"probe_id": probe.probe_id, "version": probe.version}
    if probe.elicitation is not None:
        out["elicitation"] = probe.elicitation.model_dump(mode="json", exclude_defaults=True)
    return out


def _suite(ctx: _Context, body: Body) -> None:
    assert isinstance(body, EvalSuite)
    ctx.require_secretariat()
    ctx.set(
        "eval_suites",
        {
            "domain": body.domain.value,
            "probes": json.dumps([_probe(p) for p in body.probes]),
            "note": body.note,
            "adopted_idx": ctx.index,
            "adopted_at": ctx.when,
        },
    )


def _in_suite(ctx: _Context, body: EvalResult) -> bool:
    suite = ctx.get("eval_suites", body.domain.value)
    if suite is None:
        return False
    pinned = {(p["probe_id"], p["version"]) for p in json.loads(suite["probes"])}
    return (body.probe_id, body.task_version) in pinned


def _result(ctx: _Context, body: Body) -> None:
    assert isinstance(body, EvalResult)
    ctx.must_exist("evaluators", "evaluator", body.evaluator_id)
    ctx.require(SubjectKind.EVALUATOR, body.evaluator_id)
    if ctx.get("eval_results", body.result_id) is not None:
        raise RejectedError(f"result {body.result_id!r} is already on the log")
    if body.status is ResultStatus.SUCCESS:
        for row in list(ctx.registry.views["eval_results"].values()):
            if (
                row["superseded_by"] is None
                and row["status"] != ResultStatus.SUCCESS.value
                and (row["evaluator_id"], row["model"], row["probe_id"], row["domain"])
                == (body.evaluator_id, body.model, body.probe_id, body.domain.value)
            ):
                ctx.update("eval_results", row, superseded_by=body.result_id)
    ctx.set(
        "eval_results",
        {
            "result_id": body.result_id,
            "evaluator_id": body.evaluator_id,
            "model": body.model,
            "inspect_model": body.inspect_model,
            "domain": body.domain.value,
            "probe_id": body.probe_id,
            "task": body.task,
            "task_version": body.task_version,
            "in_suite": _in_suite(ctx, body),
            "status": body.status.value,
            "error": body.error,
            "samples": body.samples,
            "completed_samples": body.completed_samples,
            "epochs": body.epochs,
            "metrics": json.dumps([m.model_dump(mode="json") for m in body.metrics]),
            "confidence": body.confidence,
            "elicitation": json.dumps(body.elicitation.model_dump(mode="json")),
            "log_digest": body.log_digest,
            "log_name": body.log_name,
            "started_at": format_time(body.started_at) if body.started_at else None,
            "completed_at": format_time(body.completed_at) if body.completed_at else None,
            "idx": ctx.index,
            "integrated_at": ctx.when,
            "superseded_by": None,
            "weights_digest": body.weights_digest,
        },
    )


HANDLERS: Mapping[str, Handler] = {
    "evaluator.register/v1": _evaluator,
    "eval.suite/v1": _suite,
    "eval.result/v1": _result,
}
"""How evaluation statements fold; composed with the other domains' in :mod:`pausewatch.state`."""
