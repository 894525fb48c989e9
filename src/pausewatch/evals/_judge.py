"""The trigger rule's input: evaluation facts from signed results.

One fact per result and metric a trigger of the policy reads. A failed or incomplete result
stands for every metric its domain's triggers read, with no value, so that the policy evaluation
counts it as "not ruled out" (never as a pass). The rule itself (alert on the upper bound,
critical on the lower, the buffer) lives in the policy evaluation, so that the CLI's verdict on a
log and the service's findings are the same computation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pausewatch.evals._statements import EvalResult
from pausewatch.policy import Evaluation, Facts, Policy, evaluate
from pausewatch.policy._findings import FindingKind


def trigger_metrics(policy: Policy | None) -> dict[str, set[str]]:
    """The metrics the policy's triggers read, per domain."""
    wanted: dict[str, set[str]] = {}
    for trig in policy.capabilities if policy is not None else ():
        wanted.setdefault(trig.domain.value, set()).add(trig.metric)
    return wanted


def eval_facts(
    *,
    result_id: str,
    model: str,
    domain: str,
    status: str,
    metrics: Sequence[Mapping[str, Any]],
    completed_at: str | None,
    evidence: Sequence[str],
    wanted: Mapping[str, set[str]],
    probe: str | None = None,
    task_version: int | None = None,
    elicitation: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The ``EvalFact`` documents one result gives (see the module docstring), with the
    probe, task version and elicitation that decide whether it counts (docs/adr/0021)."""
    by_name = {m["name"]: m for m in metrics}
    success = status == "success"
    read = wanted.get(domain, set())
    names = sorted(read & by_name.keys() if success else read)
    out: list[dict[str, Any]] = []
    for name in names:
        fact: dict[str, Any] = {
            "id": result_id if len(names) == 1 else f"{result_id}/{name}",
            "model": model,
            "domain": domain,
            "metric": name,
            "status": status,
            "completed_at": completed_at,
            "evidence": list(evidence),
        }
        if probe is not None:
            fact.update(probe=probe, task_version=task_version)
        if elicitation is not None:
            fact["elicitation"] = dict(elicitation)
        metric = by_name.get(name)
        if success and metric is not None:
            fact.update(value=metric["value"], ci_low=metric["ci_low"], ci_high=metric["ci_high"])
        out.append(fact)
    return out


def elicitation_fact(
    *, epochs: int, completed_samples: int, elicitation: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``ElicitationFact`` document of a result: its epochs and samples scored, and the
    agent, tools and attempts of its signed elicitation."""
    fact: dict[str, Any] = {
        "epochs": epochs,
        "samples": completed_samples,
        "agent": elicitation.get("agent"),
        "tools": list(elicitation.get("tools") or ()),
    }
    if elicitation.get("attempts") is not None:
        fact["attempts"] = elicitation["attempts"]
    return fact


def judge(policy: Policy, results: Sequence[EvalResult], at: datetime) -> Evaluation:
    """The policy's capability findings on ``results`` alone (what the service would find
    if these were the only evidence): for ``pausewatch eval run|import --policy``.

    Whether a result counts depends on the log (the adopted suite, the declared runs), which
    a verdict on files cannot see: the verdict judges the levels, and leaves out the
    ``capability_advisory`` findings the missing suite and runs would give."""
    wanted = trigger_metrics(policy)
    facts: list[dict[str, Any]] = []
    for r in results:
        facts.extend(
            eval_facts(
                result_id=r.result_id,
                model=r.model,
                domain=r.domain.value,
                status=r.status.value,
                metrics=[m.model_dump(mode="json") for m in r.metrics],
                completed_at=r.completed_at.isoformat() if r.completed_at else None,
                evidence=(),
                wanted=wanted,
            )
        )
    verdict = evaluate(policy, Facts.model_validate({"evaluations": facts}), at)
    kept = tuple(f for f in verdict.findings if f.kind is not FindingKind.CAPABILITY_ADVISORY)
    return replace(verdict, findings=kept)


__all__ = ["elicitation_fact", "eval_facts", "judge", "trigger_metrics"]
