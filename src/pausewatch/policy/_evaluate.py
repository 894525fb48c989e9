"""Policy evaluation: a pure function of (policy, facts, time) to findings and obligations.

The rules, in the order they are applied (docs/adr/0005-policy-document-and-evaluation.md
explains each):

* A run's compute is the higher of its declared plan and its measured compute, bound by bound,
  counted under the policy's counting rule. Phases the policy does not count are skipped.
* A threshold applies when compute is *above* it (the legal texts say "exceeds" / "greater
  than"). The central value decides whether a tier is reached; for the prohibited tier a high
  bound above it is a finding of its own ("cannot be ruled out").
* Run thresholds use the pre-training tiers for pre-training and hyper-parameter searches and the
  post-training tiers for fine-tuning and RL. Lineage thresholds compare a model's cumulative
  compute (its runs and its ancestors') with the pre-training tiers, and its cumulative
  post-training compute with the post-training tiers.
* A running job with a rate is projected to its next stricter tier; it is "approaching" when it
  is expected to cross before its declared end or within the horizon.

Nothing here reads the clock, the disk or the network; ``at`` is a parameter.

The rules live in :mod:`pausewatch.policy._evaluator`, one module per family; the evaluator
class here composes them and :func:`evaluate` runs them in that order.
"""

from __future__ import annotations

import gc
from datetime import datetime, timedelta

from pausewatch.policy._evaluator._balances import BalanceRules
from pausewatch.policy._evaluator._base import Compute
from pausewatch.policy._evaluator._capabilities import CapabilityRules
from pausewatch.policy._evaluator._chips import ChipRules
from pausewatch.policy._evaluator._clusters import ClusterRules
from pausewatch.policy._evaluator._conditions import check_conditions
from pausewatch.policy._evaluator._counters import CounterRules
from pausewatch.policy._evaluator._incidents import IncidentRules
from pausewatch.policy._evaluator._lineages import LineageRules
from pausewatch.policy._evaluator._phases import PhaseRules
from pausewatch.policy._evaluator._runs import RunRules
from pausewatch.policy._evaluator._tags import TagRules
from pausewatch.policy._evaluator._transcripts import TranscriptRules
from pausewatch.policy._evaluator._workloads import WorkloadRules
from pausewatch.policy._facts import Facts
from pausewatch.policy._findings import Evaluation
from pausewatch.policy._load import policy_digest
from pausewatch.policy._model import Policy

DEFAULT_HORIZON = timedelta(days=30)
"""How far ahead a running job's projection looks for an "approaching" finding."""


class _Evaluator(
    RunRules,
    LineageRules,
    ClusterRules,
    CapabilityRules,
    IncidentRules,
    ChipRules,
    TagRules,
    BalanceRules,
    CounterRules,
    WorkloadRules,
    PhaseRules,
    TranscriptRules,
):
    """One evaluation's working state and every rule family; :func:`evaluate` is its only
    user."""


def evaluate(
    policy: Policy,
    facts: Facts,
    at: datetime,
    *,
    horizon: timedelta = DEFAULT_HORIZON,
    digest: str | None = None,
) -> Evaluation:
    """Evaluate ``policy`` over ``facts`` at time ``at``.

    Pure and deterministic: equal arguments give equal :meth:`Evaluation.canonical_bytes`.
    ``digest`` may pass the policy's precomputed digest (it is computed otherwise).
    """
    # The evaluation allocates hundreds of thousands of small acyclic records (findings,
    # obligations, intermediate tuples); reference counting frees all of its garbage. The cyclic
    # collector, left on, would repeatedly walk every live object -- the facts included -- for
    # nothing. It is paused for the evaluation and restored as it was (docs/adr/0005).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _evaluate(policy, facts, at, horizon, digest)
    finally:
        if collecting:
            gc.enable()


def _evaluate(
    policy: Policy, facts: Facts, at: datetime, horizon: timedelta, digest: str | None
) -> Evaluation:
    ev = _Evaluator(policy, facts, at, horizon)
    ev.runs()
    cumulative = ev.lineages()
    ev.clusters()
    ev.capabilities(cumulative)
    ev.orders()
    ev.incidents()
    ev.unreadable()
    ev.chips()
    ev.tags()
    ev.balances()
    ev.counters()
    ev.workloads()
    ev.phases()
    ev.transcripts()
    lift = (
        check_conditions(policy.pause.lift.conditions, dict(facts.state))
        if policy.pause is not None
        else ()
    )
    return Evaluation(
        policy_id=policy.id,
        policy_version=policy.version,
        policy_digest=digest if digest is not None else policy_digest(policy),
        at=at,
        findings=tuple(ev.findings),
        obligations=tuple(ev.obligations),
        lift_conditions=lift,
    )


__all__ = ["DEFAULT_HORIZON", "Compute", "check_conditions", "evaluate"]
