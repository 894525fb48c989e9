"""Workload classification measured: fitted on simulated seeds, scored on disjoint ones.

No target in the issue: a figure to read, with its reference measured in the same run.

1. The figure: :func:`pausewatch.detect.evaluate_workload_classification`, a random forest
   (scikit-learn, ``random_state=0``) fitted on the fleet simulator's honest traces of seeds
   ``--fit-from .. --fit-from + --fit-seeds - 1`` (3 workloads x 4 chips per seed), scored on
   the honest traces of the disjoint seeds ``--test-from ..`` and on training disguised as
   each :class:`pausewatch.simulate.AdversarialKind` (throttled, shaped, mistagged).
2. Reference, on the same traces: the rule the telemetry aggregate already applies to one
   window (``UNDECLARED_TENSOR_ACTIVE``): a trace is training when its mean tensor activity is
   at least 0.3, idle when under 0.01, inference otherwise.

3. What seeing the disguise buys: the same forest fitted also on throttled training of the fit
   seeds (labelled training), scored on the same held-out traces: does throttled recall rise,
   and does serving start being called training?

Per true class and per adversarial kind the recall, the confusion matrix and the seed ranges
are printed for both. Run ``.venv/bin/python benchmarks/workload_classification.py``
(about 8 s on one core); ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from _common import write_json
from pausewatch.detect import WorkloadReport, evaluate_workload_classification
from pausewatch.simulate import AdversarialKind, Workload
from pausewatch.telemetry import UNDECLARED_TENSOR_ACTIVE, TelemetryRecord


def tensor_rule(traces: Sequence[Sequence[TelemetryRecord]]) -> list[Workload]:
    """The reference: mean tensor activity against the aggregate's training threshold."""
    out: list[Workload] = []
    for trace in traces:
        mean = sum(r.tensor_active for r in trace) / len(trace)
        if mean >= UNDECLARED_TENSOR_ACTIVE:
            out.append(Workload.TRAINING)
        elif mean < 0.01:
            out.append(Workload.IDLE)
        else:
            out.append(Workload.INFERENCE)
    return out


def figures(report: WorkloadReport) -> dict[str, object]:
    """The report as JSON-ready figures."""
    return {
        "accuracy": report.accuracy(),
        "recall": {w.value: report.recall(w) for w in Workload},
        "adversarial_recall": {k: report.adversarial_recall(k) for k in report.adversarial},
        "confusion": [list(row) for row in report.confusion],
    }


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-from", type=int, default=0)
    parser.add_argument("--fit-seeds", type=int, default=20)
    parser.add_argument("--test-from", type=int, default=1000)
    parser.add_argument("--test-seeds", type=int, default=20)
    parser.add_argument("--windows", type=int, default=30)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    fit = range(args.fit_from, args.fit_from + args.fit_seeds)
    test = range(args.test_from, args.test_from + args.test_seeds)

    forest = evaluate_workload_classification(fit, test, windows=args.windows)
    rule = evaluate_workload_classification(fit, test, windows=args.windows, predictor=tensor_rule)
    seen = evaluate_workload_classification(
        fit, test, windows=args.windows, fit_disguised=(AdversarialKind.THROTTLED,)
    )
    print("== random forest (the figure) ==")
    print(forest.table())
    print()
    print(f"== reference: mean tensor activity >= {UNDECLARED_TENSOR_ACTIVE} (same traces) ==")
    print(rule.table())
    print()
    print("== random forest also fitted on throttled training of the fit seeds ==")
    print(seen.table())
    write_json(
        args.json,
        {
            "fit_seeds": [fit.start, fit.stop - 1],
            "test_seeds": [test.start, test.stop - 1],
            "windows": args.windows,
            "forest": figures(forest),
            "reference": figures(rule),
            "forest_fitted_on_throttled": figures(seen),
        },
    )


if __name__ == "__main__":
    main()
