"""Workloads: windows that claim no training but look like training to the workload classifier
(docs/adr/0032).

The classifier itself is the detector's (``pausewatch.detect``, ADR 0027), above the policy; it
reaches the evaluator as :class:`~pausewatch.policy._facts.ClassifiedClusterFact` values built
above it, and the evaluator only decides what share of a cluster's traces is enough and words
the finding.
"""

from __future__ import annotations

from pausewatch.policy._evaluator._base import _BY_ID, State, _fmt_time
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import Action

TRAINING_SHARE = 0.5
"""The share of a cluster's classified traces called training from which training is
suspected: most of its chips, so that one chip's odd stretch is not enough, and a cluster that
hides training on half its chips is not missed."""


class WorkloadRules(State):
    """Suspected training, one finding per cluster, in cluster order."""

    def workloads(self) -> None:
        for cl in sorted(self.facts.classified_clusters, key=_BY_ID):
            if cl.traces == 0 or cl.training_traces == 0:
                continue
            share = cl.training_traces / cl.traces
            if share < TRAINING_SHARE:
                continue
            span = (
                f" from {_fmt_time(cl.first_window)} to {_fmt_time(cl.last_window)}"
                if cl.first_window is not None and cl.last_window is not None
                else ""
            )
            claim = (
                f"run under declared workload(s) {', '.join(cl.workloads)}"
                if cl.workloads
                else "name no run"
            )
            self.finding(
                FindingKind.TRAINING_SUSPECTED,
                Severity.SERIOUS,
                f"cluster:{cl.id}",
                f"{cl.training_traces} of the {cl.traces} chip traces of cluster {cl.id} of "
                f"{cl.operator} whose windows {claim} ({cl.windows} chip-windows{span}) look like "
                f"training to the workload classifier ({share:.0%}; on held-out simulated traces "
                f"it finds {cl.recall:.0%} of training and calls {cl.false_positive_rate:.1%} of "
                f"inference and idle training); an inspection is asked for",
                cl.evidence,
                action=Action.INSPECTION,
                figures=(
                    ("windows", cl.windows),
                    ("traces", cl.traces),
                    ("training_traces", cl.training_traces),
                    ("share_training", round(share, 6)),
                    ("recall", cl.recall),
                    ("false_positive_rate", cl.false_positive_rate),
                ),
            )


__all__ = ["TRAINING_SHARE", "WorkloadRules"]
