"""Detection measured, not asserted: scenarios played through the real ingest, and the
detectors' record over them (issue 16, item 6; docs/adr/0030-detection-measured.md).

Public API::

    play(scenario, *, workdir=None) -> Outcome        one scenario through a real LogService
    evaluate_corpus(scenarios, *, workdir=None, progress=None) -> dict   the report (JSON)
    summarise(outcomes, *, seeds) -> dict                                the report of outcomes
    check_seeds(seeds)                                 refuse seeds the detectors were fit on
    wilson, clopper_pearson, garwood, median_interval  the intervals
    DETECTION_KINDS, FIT_SEEDS, TARGET_DETECTION, TARGET_FALSE_ALARMS

Rank 9 (beside ``web`` and ``client``, above ``service``): it runs the service in process and
reads the state.
"""

from pausewatch.trial._evaluate import (
    FIT_SEEDS,
    TARGET_DETECTION,
    TARGET_FALSE_ALARMS,
    check_seeds,
    evaluate_corpus,
    summarise,
)
from pausewatch.trial._intervals import (
    Interval,
    clopper_pearson,
    garwood,
    median_interval,
    wilson,
)
from pausewatch.trial._runner import (
    DETECTION_KINDS,
    Alarm,
    Outcome,
    chip_ids,
    defection_subjects,
    play,
)

__all__ = [
    "DETECTION_KINDS",
    "FIT_SEEDS",
    "TARGET_DETECTION",
    "TARGET_FALSE_ALARMS",
    "Alarm",
    "Interval",
    "Outcome",
    "check_seeds",
    "chip_ids",
    "clopper_pearson",
    "defection_subjects",
    "evaluate_corpus",
    "garwood",
    "median_interval",
    "play",
    "summarise",
    "wilson",
]
