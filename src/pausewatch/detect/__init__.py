"""Detecting defection: the standard mathematics of safeguards accounting, applied to compute.

A pause is only as credible as the chance that a violation is found before a prohibited run
could finish. ``pausewatch.detect`` computes that chance from the log, in the manner of nuclear
material accounting (../shared/DESIGN.md, "Detection and deterrence: the standard mathematics";
issue 16). Its parts, each pure (no database, clock or network; time is a parameter):

- **Inspections: sampling plans** (:mod:`._sampling`): how many chips to verify so that a
  falsification of at least ``M`` of ``N`` items is found with probability ``1 - beta``, under
  the exact hypergeometric law, beside the IAEA's approximation ``N (1 - beta^(1/M))``
  (``pausewatch detect plan``).
- **Which items are inspected** (:mod:`._draw`): a deterministic, unbiased draw from a seed that
  the prover cannot know in advance, the root of a log checkpoint whose tree already holds the
  plan's commitment.
- **Sequential tests** (:mod:`._arl`): the average run length of Page's one-sided CUSUM on
  standard normal residuals, exact to the published tables (integral equation, with Brook and
  Evans's Markov chain as a cross-check), and the decision interval for a target false-alarm
  rate per period (``pausewatch detect arl``).
- **Balances** (compute, energy and chips unaccounted for, their error models, SITMUF and
  Page's test on the standardised balances) and the **signed sources** they compare (meters,
  the supply chain, inspections, declared workloads) live in the sibling private modules.

Decisions and the accuracy of each method: docs/adr/0023-sampling-draws-and-run-lengths.md.
"""

from pausewatch.detect._arl import (
    RunLength,
    cusum_arl,
    cusum_arl_markov,
    cusum_run_length,
    decision_interval,
    two_sided_arl,
)
from pausewatch.detect._draw import (
    DRAW_DOMAIN,
    checkpoint_seed,
    draw,
    draw_from_checkpoint,
    draw_indices,
)
from pausewatch.detect._sampling import (
    SamplingPlan,
    approximate_sample_size,
    detection_probability,
    plan,
    sample_size,
)
from pausewatch.errors import DetectionError

__all__ = [
    "DRAW_DOMAIN",
    "DetectionError",
    "RunLength",
    "SamplingPlan",
    "approximate_sample_size",
    "checkpoint_seed",
    "cusum_arl",
    "cusum_arl_markov",
    "cusum_run_length",
    "decision_interval",
    "detection_probability",
    "draw",
    "draw_from_checkpoint",
    "draw_indices",
    "plan",
    "sample_size",
    "two_sided_arl",
]
