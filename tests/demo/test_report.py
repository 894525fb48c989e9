"""The demo report's deterrence section, fast: written from story facts shaped as the demo's
acts record them (the inspection plan the detection act files, the transcript act's draw, the
energy balance the service tested), without playing the world (issue 18, section 4)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from pausewatch.demo._detection import DEFECT_SHARE, DETECTION, HIDDEN_CHIPS, population
from pausewatch.demo._deterrence import SMALL_HIDDEN_CHIPS, deterrence_rows
from pausewatch.demo._report import write_report
from pausewatch.demo._scenario import Story
from pausewatch.demo._transcripts import BUDGET, EVERY, SPOOF, STEPS
from pausewatch.detect import plan
from pausewatch.transcript import draw_segments, segment_count, segments_for_budget

SIGMA_J = 2.5e9
"""The honest day's sigma of the energy balance (J), as GET /v1/detect/balances gives it."""
LIMIT = 3.3
"""Its one-shot limit on the standardised residual."""
W_PER_CHIP = 630.0


def facts() -> dict[str, Any]:
    """The facts the demo's acts record, from the demo's own plan and draw."""
    chips = population()
    sampling = plan(
        population=len(chips), defects=math.ceil(DEFECT_SHARE * len(chips)), detection=DETECTION
    )
    segments = segment_count(STEPS, EVERY)
    drawn = draw_segments(b"beacon", segments, segments_for_budget(BUDGET, STEPS, EVERY))
    return {
        "inspection": {
            "population": len(chips),
            "sample": chips[: sampling.sample_size],
            "detection": sampling.detection,
        },
        "hidden_cluster": {
            "meter": "dr-ningxia-meter-1",
            "days": [],
            "hidden_w": HIDDEN_CHIPS * W_PER_CHIP,
            "hidden_w_per_chip": W_PER_CHIP,
            "balance": [
                {
                    "day": "2027-06-02",
                    "value_j": 1e8,
                    "sigma_j": SIGMA_J,
                    "one_shot_limit": LIMIT,
                    "alarm": None,
                },
                {
                    "day": "2027-06-03",
                    "value_j": 1.4e10,
                    "sigma_j": SIGMA_J,
                    "one_shot_limit": LIMIT,
                    "alarm": "one_shot",
                },
            ],
        },
        "transcripts": {
            "budget": BUDGET,
            "honest": {
                "run_id": "frontier-lab/transcribed",
                "verdict": "pass",
                "verdict_idx": 4320,
                "segments": list(drawn),
                "segments_total": segments,
                "compute_fraction": 0.23,
                "reasons": [],
            },
            "spoof": {
                "run_id": "dragon-ai/transcribed",
                "spoof": SPOOF,
                "verdict": "fail",
                "verdict_idx": 4321,
                "segments": list(drawn),
                "segments_total": segments,
                "compute_fraction": 0.23,
                "reasons": ["a replay out of tolerance"],
            },
        },
    }


def phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_each_demo_figure_is_judged_against_the_threshold() -> None:
    """The inspection plan's P(detect), the energy balance's power against the act's hidden
    cluster and a 16-chip one over 30 days, the audit draw's theory and the act's forgery are
    each judged at the page's default stakes (threshold (1 + 0.5 alpha) / 2)."""
    rows = {r["kind"]: r for r in deterrence_rows(facts())}
    assert list(rows) == [
        "inspection_sample",
        f"hidden_cluster_{HIDDEN_CHIPS}_chips",
        f"hidden_cluster_{SMALL_HIDDEN_CHIPS}_chips",
        "transcript_forgery",
        f"transcript_{SPOOF}",
    ]
    inspection = rows["inspection_sample"]
    assert inspection["detection"] >= DETECTION
    assert (inspection["required_detection"], inspection["deterred"]) == (0.5, True)
    assert "hypergeometric" in inspection["source"]
    alpha_day = 1 - phi(LIMIT)
    for chips in (HIDDEN_CHIPS, SMALL_HIDDEN_CHIPS):
        row = rows[f"hidden_cluster_{chips}_chips"]
        per_day = phi(chips * W_PER_CHIP * 86_400 / SIGMA_J - LIMIT)
        assert row["per_day"] == pytest.approx(per_day)
        assert row["detection"] == pytest.approx(1 - (1 - per_day) ** 30)
        alpha = 1 - (1 - alpha_day) ** 30
        assert row["required_detection"] == pytest.approx((1 + 0.5 * alpha) / 2)
        assert "sigma 2.5 GJ" in row["source"]
    # With 20 segments at a 10% budget an audit replays only the first and the last: a
    # forgery of middle segments is never drawn, and the row says what budget would do.
    theory = rows["transcript_forgery"]
    assert theory["theory"]["drawn_segments"] == 2
    assert theory["detection"] == 0.0
    assert theory["deterred"] is False
    assert theory["needed"]["budget"] is not None
    assert rows[f"transcript_{SPOOF}"]["deterred"] is True
    assert "entry 4321" in rows[f"transcript_{SPOOF}"]["source"]


def test_an_act_not_played_gives_no_row() -> None:
    """Without the acts' facts (a skipped transcript act, no inspection) there is no row for
    them: the section invents no figure."""
    partial = facts()
    del partial["inspection"]
    partial["transcripts"] = {"skipped": "no torch"}
    kinds = [r["kind"] for r in deterrence_rows(partial)]
    assert kinds == [
        f"hidden_cluster_{HIDDEN_CHIPS}_chips",
        f"hidden_cluster_{SMALL_HIDDEN_CHIPS}_chips",
    ]
    assert deterrence_rows({}) == []


def test_the_report_has_the_deterrence_section(tmp_path: Path) -> None:
    """The written report holds the section: a row per figure with its detection, required
    detection and verdict, where each figure came from, and the chart of margins."""
    story = Story(facts=facts())
    path = write_report(
        tmp_path / "r.html",
        story,
        proposals=[],
        results=[],
        levels={},
        audit={"ok": True},
        lines=[],
    )
    page = path.read_text()
    assert '<h2 id="deterrence">Deterrence</h2>' in page
    rows = dict(re.findall(r'<tr data-kind="([^"]+)">(.*?)</tr>', page, re.S))
    expected = {r["kind"]: r for r in deterrence_rows(facts())}
    assert set(rows) == set(expected)
    for kind, r in expected.items():
        assert f"<td>{r['detection']:.3f}</td>" in rows[kind]
        assert f"<td>{r['required_detection']:.3f}</td>" in rows[kind]
        assert ("<td>deterred</td>" if r["deterred"] else "<td>not deterred</td>") in rows[kind]
    assert "the inspection plan:" in rows["inspection_sample"]
    assert '"role":"margin"' in page
