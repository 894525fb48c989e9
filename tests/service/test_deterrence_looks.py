"""What the Deterrence analysis says would close a gap with more looks: looking more often also
raises more false alarms, which raises the detection the inspection game requires, so the looks
needed are the fixed point of both, not the count at today's false-alarm probability."""

from __future__ import annotations

import math

from pausewatch.service._deterrence import Assumptions, assess_figure
from pausewatch.simulate.inspection import required_detection


def _row(detection: float, alpha: float, assumptions: Assumptions) -> dict[str, object]:
    return assess_figure(
        kind="k",
        detection=detection,
        interval=None,
        false_alarm_probability=alpha,
        assumptions=assumptions,
        source="query",
        looks=30.0,
    )


def test_the_looks_needed_meet_the_threshold_at_the_false_alarms_they_raise() -> None:
    """With a costly false alarm and a high rate, the looks needed reach the threshold that
    holds at the false alarms those looks raise (the rate scales with the looks), and one look
    fewer does not."""
    a = Assumptions(gain=1.0, penalty=1.0, false_alarm_cost=0.5)
    alpha = 1.0 - math.exp(-5.0 * 30 / 365)  # five false alarms a facility-year, over 30 days
    row = _row(0.3, alpha, a)
    needed = row["needed"]
    assert isinstance(needed, dict)
    looks = needed["inspections"]
    per_look = needed["per_look"]
    rate = -math.log1p(-alpha)  # false alarms expected over today's 30 looks

    def meets(n: float) -> bool:
        alpha_n = -math.expm1(-rate * n / 30.0)
        return 1.0 - (1.0 - per_look) ** n >= required_detection(1.0, 1.0, 0.5, alpha_n)

    assert looks is not None
    assert meets(looks)
    assert not meets(looks - 1)
    assert needed["inspection_factor"] == looks / 30.0


def test_looks_cannot_close_a_gap_that_their_false_alarms_keep_open() -> None:
    """When false alarms cost as much as the sanction gains, more looks raise the threshold
    towards 1 as fast as they raise detection: no number of looks is given."""
    a = Assumptions(gain=1.0, penalty=1.0, false_alarm_cost=1.0)
    row = _row(0.3, 1.0 - math.exp(-5.0 * 30 / 365), a)
    needed = row["needed"]
    assert isinstance(needed, dict)
    assert needed["inspections"] is None
    assert needed["inspection_factor"] is None
