"""Our own small offline Inspect suite: one task per capability domain.

Every task runs without Docker, network or GPU. The agentic ones use Inspect's ``local``
sandbox: each sample gets a fresh temporary directory seeded with its files, and the agent
works in it through a ``bash`` tool. Every command the tasks need is harmless and stays in
that directory. Scorers check real state (files, digests, the result of running the agent's
code on held-out data) or the answer, and report CORRECT or INCORRECT with accuracy and its
standard error.

Each sample's metadata carries ``human_minutes``: a *nominal* rating, by the authors of this
suite, of how long a skilled human would take, rising with the number and subtlety of the
steps. The ratings span one minute to several hours so that a time horizon in the manner of
METR can be fitted from per-sample success; they are not measured baselines.

For the scripted stand-in model (:mod:`pausewatch.evals._providers`) every sample also
registers a :class:`Solution`: the right steps and a plausible wrong attempt, keyed by the
SHA-256 of the sample's input text.

One private module per task (``_<task>.py``) and one for what they share (``_shared.py``).
Importing this package imports every task, which registers each with Inspect as
``pausewatch/<task>`` and each sample's solution for the scripted model.
"""

from __future__ import annotations

from pausewatch.evals._suite._oversight_awareness import oversight_awareness
from pausewatch.evals._suite._recover_flag import recover_flag
from pausewatch.evals._suite._repair_training_run import repair_training_run
from pausewatch.evals._suite._replicate_weights import replicate_weights
from pausewatch.evals._suite._shared import Script, Solution, prompt_digest, solution_for
from pausewatch.evals._suite._tune_own_heuristic import tune_own_heuristic

SUITE_TASKS = {
    "pausewatch/repair_training_run": repair_training_run,
    "pausewatch/tune_own_heuristic": tune_own_heuristic,
    "pausewatch/replicate_weights": replicate_weights,
    "pausewatch/recover_flag": recover_flag,
    "pausewatch/oversight_awareness": oversight_awareness,
}
"""Our task functions by probe id."""

__all__ = [
    "SUITE_TASKS",
    "Script",
    "Solution",
    "oversight_awareness",
    "prompt_digest",
    "recover_flag",
    "repair_training_run",
    "replicate_weights",
    "solution_for",
    "tune_own_heuristic",
]
