"""The workload classifier's inference: the compiled forest against scikit-learn's, same run.

No target in the issue: issue 19, section 4 (reads under ingest) is the reason. A read of the
policy's facts classifies each cluster whose window signals changed since the last read, and
scikit-learn's ``predict_proba`` walks the forest's 200 shallow trees one Python call at a time
(docs/adr/0052-serving-heap.md).

1. The figure: :class:`pausewatch.detect._classify.CompiledForest` (every tree as flat arrays,
   walked one level at a time for all trees and samples), per call, on the feature rows of 1,
   20 and 200 traces.
2. Reference, measured in the same run on the same rows: the fitted forest's own
   ``predict_proba`` (scikit-learn, ``n_jobs=1``).

Both answers are compared bit for bit on every batch (``np.array_equal``); a difference exits 1.
The forest is the service's (:func:`pausewatch.detect.fitted_classifier`, fitted once, a few
seconds); the rows are the features of simulated traces outside its fit and measurement seeds.
Run ``PYTHONPATH=src .venv/bin/python benchmarks/forest_inference.py`` (about 20 s).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _common import write_json
from pausewatch.detect import fitted_classifier, simulated_traces, workload_features
from pausewatch.detect._classify import CompiledForest


def per_call_ms(call: Callable[[], Any], seconds: float) -> float:
    """Mean milliseconds per call over at least ``seconds`` (and 20 calls)."""
    call()
    calls, start = 0, time.perf_counter()
    while calls < 20 or time.perf_counter() - start < seconds:
        call()
        calls += 1
    return (time.perf_counter() - start) / calls * 1000


def main(argv: list[str] | None = None) -> int:
    """Fit, time both, compare; 1 when the answers differ."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=1.0, help="time per measurement (1.0)")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the figures")
    args = p.parse_args(argv)

    forest = fitted_classifier().classifier._model
    compiled = CompiledForest.of(forest)
    traces, _ = simulated_traces(range(900, 920), windows=24, chips=4)
    rows = np.vstack([workload_features(t) for t in traces])
    print(
        f"forest: {len(forest.estimators_)} trees, depth <= {compiled.depth}, "
        f"{len(compiled.left)} nodes; {len(rows)} feature rows of simulated traces"
    )
    figures: dict[str, Any] = {"rows": {}}
    same = True
    for n in (1, 20, 200):
        batch = rows[np.arange(n) % len(rows)]
        equal = bool(np.array_equal(compiled.predict_proba(batch), forest.predict_proba(batch)))
        same = same and equal
        ours = per_call_ms(lambda b=batch: compiled.predict_proba(b), args.seconds)
        theirs = per_call_ms(lambda b=batch: forest.predict_proba(b), args.seconds)
        figures["rows"][n] = {"compiled_ms": ours, "sklearn_ms": theirs, "equal": equal}
        print(
            f"  {n:>4} traces: compiled {ours:7.3f} ms a call   scikit-learn {theirs:7.3f} ms "
            f"(reference, same run)   {theirs / ours:5.1f}x   answers "
            f"{'equal bit for bit' if equal else 'DIFFER'}"
        )
    write_json(args.json, figures)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
