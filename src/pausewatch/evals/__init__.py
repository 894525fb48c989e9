"""Capability evaluations as pause triggers, through UK AISI's Inspect.

    probes(domain) / probe(id) / suite(domain)     the probe registry: our offline suite per
                                                   capability domain and adapters for the
                                                   established suites (inspect_evals, METR)
    run_suite(model, log_dir, domain=...)          run a suite through Inspect, keep its logs
    read_evidence(log, evaluator_id=...)           an Inspect log -> eval.result/v1 body
    time_horizon / horizon_trend                   METR-style 50% time horizon and its trend

Inspect itself (the ``evals`` extra) is imported only when a probe is built or a log is read.
Statements: ``evaluator.register/v1``, ``eval.suite/v1`` and ``eval.result/v1``; the policy's
trigger rule reads signed results as facts (see ``docs/adr/0009-capability-evaluations.md``).
"""

from pausewatch.evals._evidence import (
    HORIZON_METRIC,
    EvidenceError,
    read_evidence,
    task_outcomes,
    wilson,
)
from pausewatch.evals._horizon import (
    Horizon,
    HorizonError,
    Logistic,
    Trend,
    fit_logistic,
    horizon_trend,
    time_horizon,
)
from pausewatch.evals._probes import Probe, ProbeUnavailableError, probe, probes, suite
from pausewatch.evals._runner import RunError, run_suite
from pausewatch.evals._statements import (
    EVAL_KINDS,
    Elicitation,
    ElicitationPin,
    EvalResult,
    EvalSuite,
    EvaluatorRegister,
    MetricResult,
    ResultStatus,
)

__all__ = [
    "EVAL_KINDS",
    "HORIZON_METRIC",
    "Elicitation",
    "ElicitationPin",
    "EvalResult",
    "EvalSuite",
    "EvaluatorRegister",
    "EvidenceError",
    "Horizon",
    "HorizonError",
    "Logistic",
    "MetricResult",
    "Probe",
    "ProbeUnavailableError",
    "ResultStatus",
    "RunError",
    "Trend",
    "fit_logistic",
    "horizon_trend",
    "probe",
    "probes",
    "read_evidence",
    "run_suite",
    "suite",
    "task_outcomes",
    "time_horizon",
    "wilson",
]
