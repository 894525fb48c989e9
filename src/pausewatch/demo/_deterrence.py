"""The demo report's deterrence section: the demo world's own detection figures against the
inspection game's threshold (issue 18, section 4; docs/adr/0044-deterrence-page.md).

Each row takes one figure the story measured or set, says where it came from, and is judged
by :func:`pausewatch.service._deterrence.assess_figure` (the page's rows) at the page's default
stakes (:data:`~pausewatch.service._deterrence.DEFAULTS`):

* the inspection sample's probability of finding a diversion of 5% of the cluster's chips
  (the plan the inspector filed, exact hypergeometric law);
* the metered facility's energy balance: the power of its one-shot test
  (:func:`~pausewatch.simulate.inspection.balance_detection`) at the sigma and limit the service
  computed for the honest day, against a hidden cluster of the act's 256 chips and of 16 (what
  an unmonitored cluster may hold), compounded over the run's days
  (:func:`~pausewatch.simulate.inspection.timely_detection`);
* the transcript audit's draw at the act's budget and segments against a forgery that
  fabricated 10% of them (the draw's theory), and the forgery the act played (its final model
  swapped in), which every audit replays.

Only numpy and scipy are needed (no Mesa): the closed forms are
:mod:`pausewatch.simulate.inspection`'s.
"""

from __future__ import annotations

from typing import Any

from pausewatch.service._deterrence import (
    DEFAULTS,
    Assumptions,
    assess_figure,
    transcript_row,
)
from pausewatch.simulate.inspection import balance_detection, timely_detection

SMALL_HIDDEN_CHIPS = 16
"""A hidden cluster as small as an unmonitored cluster may be (DESIGN, "Timeliness")."""
DIVERTED_SHARE = 0.05
"""The diversion the inspection plan is sized for (``DEFECT_SHARE`` of the detection act)."""


def _inspection(facts: dict[str, Any]) -> dict[str, Any] | None:
    inspection = facts.get("inspection")
    if not inspection:
        return None
    drawn, population = len(inspection["sample"]), inspection["population"]
    return assess_figure(
        kind="inspection_sample",
        detection=float(inspection["detection"]),
        interval=None,
        # A chip the inspectors cannot find is seen missing, not inferred from noise.
        false_alarm_probability=0.0,
        assumptions=DEFAULTS,
        source=(
            f"the inspection plan: {drawn} of {population} chips drawn, P(detect) for a "
            f"diversion of {DIVERTED_SHARE:.0%} of them (hypergeometric)"
        ),
        looks=1.0,
        note="looks: inspections of the same size",
    )


def _balance(facts: dict[str, Any]) -> list[dict[str, Any]]:
    hidden = facts.get("hidden_cluster")
    if not hidden or not hidden.get("balance"):
        return []
    from scipy.stats import norm

    # The act's honest day (the meter agrees with the chips), else the first day without an
    # alarm: the balance's sigma there is the one a hidden draw must stand out from.
    honest = {d["day"] for d in hidden.get("days", [])[:1]}
    quiet = [d for d in hidden["balance"] if d["alarm"] is None] or hidden["balance"]
    day = next((d for d in quiet if d["day"] in honest), quiet[0])
    sigma, limit = float(day["sigma_j"]), float(day["one_shot_limit"])
    alpha_day = float(norm.sf(limit))
    days = DEFAULTS.run_days
    per_chip = float(hidden.get("hidden_w_per_chip", 630.0))
    chips_seen = round(float(hidden["hidden_w"]) / per_chip)
    rows = []
    for chips in (chips_seen, SMALL_HIDDEN_CHIPS):
        loss = chips * per_chip * 86_400
        per_day = balance_detection(loss, sigma, alpha_day)
        rows.append(
            assess_figure(
                kind=f"hidden_cluster_{chips}_chips",
                detection=timely_detection(per_day, days),
                interval=None,
                false_alarm_probability=1.0 - (1.0 - alpha_day) ** days,
                assumptions=DEFAULTS,
                source=(
                    f"the energy balance of {hidden['meter']}'s facility on {day['day']}: "
                    f"sigma {sigma / 1e9:.3g} GJ, one-shot limit {limit:.3g} (alpha "
                    f"{alpha_day:.2g} a day), against {chips} chips at {per_chip:g} W "
                    f"({loss / 1e9:.3g} GJ a day): {per_day:.3g} a day over {days:g} days"
                ),
                looks=days,
                note="days taken as independent tests (an approximation)",
                per_day=per_day,
                sigma_j=sigma,
                loss_j=loss,
            )
        )
    return rows


def _transcripts(facts: dict[str, Any]) -> list[dict[str, Any]]:
    transcripts = facts.get("transcripts")
    if not transcripts or "skipped" in transcripts:
        return []
    spoof = transcripts["spoof"]
    segments, drawn = int(spoof["segments_total"]), len(spoof["segments"])
    rows = []
    if segments >= 3:
        theory = transcript_row(
            Assumptions(transcript_segments=segments, transcript_budget=drawn / segments),
            None,
        )
        theory["source"] = (
            f"the audit's draw ({drawn} of {segments} segments, budget "
            f"{transcripts['budget']:g}) against {theory['theory']['forged_segments']} "
            f"fabricated (f = {DEFAULTS.forged_fraction:g}): the draw's theory"
        )
        rows.append(theory)
    rows.append(
        assess_figure(
            kind=f"transcript_{spoof['spoof']}",
            detection=1.0,
            interval=None,
            false_alarm_probability=0.0,
            assumptions=DEFAULTS,
            source=(
                f"the act's forgery ({spoof['spoof']}): the last segment is replayed by every "
                f"audit (ADR 0041); its verdict {spoof['verdict']} is entry "
                f"{spoof['verdict_idx']}"
            ),
            looks=1.0,
        )
    )
    return rows


def deterrence_rows(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The section's rows from the story's facts (an act not played gives no row)."""
    rows = []
    inspection = _inspection(facts)
    if inspection is not None:
        rows.append(inspection)
    rows += _balance(facts)
    rows += _transcripts(facts)
    return rows


__all__ = ["DIVERTED_SHARE", "SMALL_HIDDEN_CHIPS", "deterrence_rows"]
