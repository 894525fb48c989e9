"""Evaluation statement kinds: evaluators, adopted suites and signed results.

A safety institute is registered as an *evaluator* by its party (or by the secretariat, for an
international one); its key signs ``eval.result/v1`` statements, each the evidence extracted from
one Inspect log (task, model, samples, metrics with their intervals, elicitation, the log's
digest). The secretariat adopts, per capability domain, the suite of probes that counts as an
evaluation of that domain (``eval.suite/v1``); the number of domains with an adopted suite is the
state figure ``eval_domains_adopted`` that lift conditions test.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from pausewatch.fields import ONE_LINE, Count, Digest, Finite, Id, KeyId, Name, PositiveCount, Text
from pausewatch.policy._model import Domain
from pausewatch.statements import Body, UtcDatetime, statement_kind

ResultId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,95}$")]
"""A result's id: no ``/``, so that ``<result_id>/<metric>`` names one metric of one result."""
Label = Annotated[str, Field(min_length=1, max_length=200), ONE_LINE]


@statement_kind("evaluator.register/v1")
class EvaluatorRegister(Body):
    """A safety institute or other evaluator whose signed results count as evidence.

    Registered by its party (``party_id`` set; the party signs) or, for an international body,
    by the secretariat (``party_id`` omitted)."""

    signed_by: ClassVar[str] = "party or secretariat"

    evaluator_id: Id
    party_id: Id | None = None
    """The party that registers it and signs this statement; none: the secretariat does."""
    name: Name
    key: KeyId
    """The key that signs its results."""


class ElicitationPin(Body):
    """The least elicitation a result of the probe must show to count (docs/adr/0021): each
    part optional, every part given must be met."""

    min_epochs: PositiveCount | None = None
    """Epochs at least."""
    min_samples: PositiveCount | None = None
    """Samples scored at least (times epochs)."""
    agent: bool | None = None
    """The model must (true) or must not (false) have acted through tools."""
    tools: tuple[Label, ...] = Field(default=(), max_length=50)
    """Tools the model must have been given, every one of them."""
    min_attempts: PositiveCount | None = None
    """Attempts per sample at least."""


class SuiteProbe(Body):
    """One probe of an adopted suite, pinned to its version (and, optionally, to the least
    elicitation its results must show)."""

    probe_id: Label
    version: Count
    elicitation: ElicitationPin | None = None
    """What a result must show to count (none: any elicitation)."""


@statement_kind("eval.suite/v1")
class EvalSuite(Body):
    """The secretariat adopts the probes that count as an evaluation of one capability domain
    (a later adoption for the same domain replaces the earlier one; an empty list withdraws
    it). Only results of these probes, at these versions, with the elicitation a probe pins,
    can rule the capability out (docs/adr/0021)."""

    signed_by: ClassVar[str] = "secretariat"

    domain: Domain
    probes: tuple[SuiteProbe, ...] = Field(max_length=100)
    note: Text | None = None

    @model_validator(mode="after")
    def _distinct(self) -> EvalSuite:
        ids = [p.probe_id for p in self.probes]
        if len(set(ids)) != len(ids):
            raise ValueError("probes: each probe may appear once")
        return self


class ResultStatus(StrEnum):
    """How the evaluation ended. Anything but ``success`` does not rule a capability out."""

    SUCCESS = "success"
    INCOMPLETE = "incomplete"
    """Inspect says success, but fewer samples were scored than the task holds."""
    ERROR = "error"
    CANCELLED = "cancelled"
    STARTED = "started"


class MetricResult(Body):
    """One metric of the result with its standard error and confidence interval."""

    name: Label
    """The metric's name, as a policy's trigger names it (``accuracy``, ``horizon_minutes``)."""
    value: Finite
    stderr: Annotated[Finite, Field(ge=0)] | None = None
    ci_low: Finite
    ci_high: Finite
    method: Label
    """How the interval was computed (``wilson``, ``normal``, ``bootstrap``, ``none``)."""

    @model_validator(mode="after")
    def _interval(self) -> MetricResult:
        if not self.ci_low <= self.value <= self.ci_high:
            raise ValueError(
                f"interval must hold the value: {self.ci_low} <= {self.value} <= {self.ci_high}"
            )
        return self


class Elicitation(Body):
    """How hard the model was pushed: solver or agent, its limits and attempts."""

    solver: Annotated[str, Field(max_length=2000), ONE_LINE]
    """The plan's steps, as Inspect names them (``basic_agent``, ``generate``, ...)."""
    agent: bool
    """Whether the model acted through tools."""
    tools: tuple[Label, ...] = ()
    attempts: PositiveCount | None = None
    message_limit: Count | None = None
    token_limit: Count | None = None
    time_limit_s: Count | None = None
    working_limit_s: Count | None = None


@statement_kind("eval.result/v1")
class EvalResult(Body):
    """The evidence from one Inspect evaluation log, signed by the evaluator that ran it."""

    signed_by: ClassVar[str] = "evaluator"

    result_id: ResultId
    evaluator_id: Id
    model: Id
    """The model evaluated, as run declarations name it (its lineage id)."""
    inspect_model: Label
    """The model as Inspect named it (``provider/model``)."""
    domain: Domain
    probe_id: Label
    """The probe (``pausewatch/...``, ``inspect_evals/...``) or, for a task of no known probe,
    the Inspect task's name."""
    task: Label
    task_version: Count
    status: ResultStatus
    error: Text | None = None
    """Inspect's error message when the evaluation failed."""
    samples: Count
    """Samples the task holds (times epochs)."""
    completed_samples: Count
    epochs: PositiveCount
    metrics: tuple[MetricResult, ...] = Field(default=(), max_length=50)
    confidence: Annotated[float, Field(ge=0.95, lt=1)] = 0.95
    """Confidence level of every interval: 95% or more, so that a narrower interval cannot
    keep an upper bound under an alert level."""
    elicitation: Elicitation
    log_digest: Digest
    """SHA-256 of the Inspect log file's bytes, so that the log can be matched to this result."""
    log_name: Annotated[str, Field(max_length=500), ONE_LINE] | None = None
    started_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None
    weights_digest: Digest | None = None
    """SHA-256 of the weights file evaluated: where the model's declaring run committed a
    final checkpoint, it must be that checkpoint's digest (the model evaluated is the model
    trained, issue 17)."""

    @model_validator(mode="after")
    def _consistent(self) -> EvalResult:
        if self.completed_samples > self.samples:
            raise ValueError("completed_samples exceeds samples")
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError("metrics: each metric may appear once")
        if self.status is ResultStatus.SUCCESS and not self.metrics:
            raise ValueError("a successful evaluation must report at least one metric")
        return self


EVAL_KINDS: tuple[str, ...] = ("evaluator.register/v1", "eval.suite/v1", "eval.result/v1")
"""The evaluation kinds, in the order a world registers them."""

__all__ = [
    "EVAL_KINDS",
    "Elicitation",
    "ElicitationPin",
    "EvalResult",
    "EvalSuite",
    "EvaluatorRegister",
    "MetricResult",
    "ResultStatus",
    "SuiteProbe",
]
