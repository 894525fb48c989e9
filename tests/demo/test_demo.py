"""The demo world end to end: the story through a real service on loopback, the audit from the
log, the report; and the world clock's rules."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pausewatch.demo import T0, DemoClock, play_demo
from pausewatch.demo._detection import (
    EXPORTED,
    HIDDEN_CHIPS,
    PLAN_ID,
    VANISHED,
    draw_context,
    moved,
    population,
)
from pausewatch.demo._host import Host
from pausewatch.demo._transcripts import SPOOF_RUN
from pausewatch.demo._world import RUN_ID
from pausewatch.detect import draw
from pausewatch.policy import load_preset


def test_the_world_clock_only_moves_forward() -> None:
    clock = DemoClock(T0, speed=0.0)
    first, second = clock(), clock()
    assert T0 <= first < second  # strictly increasing, even at speed 0
    clock.advance_to(T0 + timedelta(days=3))
    jumped = clock()
    assert jumped >= T0 + timedelta(days=3)
    clock.advance_to(T0)  # never back
    assert clock() > jumped


@pytest.mark.slow
@pytest.mark.timeout(600)  # the whole demo and its audit: 97 s beside another (ADR 0058)
def test_the_story_plays_and_the_log_recomputes_it(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    lines: list[str] = []
    result = play_demo(
        tmp_path / "world", port=port, report=tmp_path / "r.html", narrate=lines.append
    )
    assert result.audit["ok"], result.audit["problems"]
    assert result.audit["entries"] > 4000  # 2,048 chips certified and installed, and the rest
    # The compute too: every batch from its records, every finding the policy's proposals carry.
    assert result.audit["batches_reverified"] > 0
    assert result.audit["batches_not_reverified"] == 0
    assert result.audit["findings_rechecked"] > 0, result.audit
    acts = [s.act for s in result.story.snapshots]
    assert acts[0] == "the agreement"
    assert acts[-7:] == [
        "a lift fails",
        "the safeguards are completed",
        "the pause is lifted",
        "chips are diverted to a non-party",
        "an inspection finds chips missing",
        "a hidden cluster draws power",
        "a spoofed transcript is caught",
    ]
    by_act = {s.act: s for s in result.story.snapshots}
    assert by_act["the pause is voted in"].pause == "active"
    assert by_act["the pause is renewed"].pause == "renewed"
    assert by_act["a lift fails"].pause == "renewed"
    assert by_act["the pause is lifted"].pause == "lifted"
    assert by_act["the run crosses the prohibition"].run_flop > 1e23
    assert by_act["the run approaches the prohibition"].run_flop < 1e23
    assert result.story.facts["order"] == "confirmed"
    # The halt was proposed while the run was still below the prohibition, and it is the order
    # the parties voted and the run obeyed.
    facts = result.story.facts
    assert facts["early_halt_flop"] < 1e23
    assert facts["early_halt"] == facts["halt"]
    assert by_act["a halt is proposed before the run crosses"].run_flop < 1e23
    # Dragon AI's cluster was ordered halted, never acknowledged it, and the enforcement
    # proposal the policy filed was voted in.
    assert facts["escalation"]["status"] == "unacknowledged"
    assert facts["escalation"]["enforcement"].startswith("auto-enforcement-")
    assert facts["escalation"]["passed"] is True
    # The demo's lift conditions are its preset's own (miri-2025's).
    own = [c.description for c in load_preset("miri-2025").pause.lift.conditions]  # type: ignore[union-attr]
    assert result.story.facts["lift_unmet"] == [
        "an adopted evaluation suite exists for every capability domain",
        "at least three independent witnesses cosign the log",
    ]
    assert result.story.facts["lift_held"] == own
    # The detection acts (docs/adr/0032): each found by its own source, and said in its line.
    assert facts["diversion"]["findings"] == [
        ("chips_exported", "party:cn"),
        ("chips_unaccounted", "operator:dragon-ai"),
        ("chips_unaccounted", "party:cn"),
    ]
    diverted, inspected, metered, transcribed = lines[-4:]
    assert "chips_exported" in diverted
    assert "chips_unaccounted" in diverted
    assert VANISHED[0] in diverted
    assert EXPORTED[0] in diverted
    # The sample is the draw from the seed the fold computed, which no one knew at the plan;
    # it found exactly the sampled chips that were off the racks.
    inspection = facts["inspection"]
    assert inspection["seed_root"] == inspection["seed_root_folded"]
    seed = bytes.fromhex(inspection["seed_root_folded"])
    sample = draw(population(), len(inspection["sample"]), seed, context=draw_context(PLAN_ID))
    assert inspection["sample"] == sample
    assert inspection["missing"] == [c for c in sample if c in moved()]
    assert inspection["missing"]
    assert inspection["findings"] == [("inspection_discrepancy", "facility:dr-ningxia")]
    assert "inspection_discrepancy" in inspected
    # The metered facility: the first day the meter agrees with the chips and the stated
    # overhead within its accuracy, the second it sees the hidden cluster's draw, and the
    # energy balance finds that day and no other.
    honest, hidden = facts["hidden_cluster"]["days"]
    assert honest["metered_j"] == pytest.approx(honest["chips_j"] + honest["overhead_j"], rel=0.01)
    assert hidden["metered_j"] - hidden["chips_j"] - hidden["overhead_j"] == pytest.approx(
        facts["hidden_cluster"]["hidden_w"] * 86_400, rel=0.01
    )
    periods = facts["hidden_cluster"]["periods"]
    assert ("energy_unaccounted", hidden["day"]) in periods
    assert {day for _, day in periods} == {hidden["day"]}
    assert "energy_unaccounted" in metered
    # What was trained (issue 17): the honest transcript passes its audit, the forged one
    # (its final model swapped in: the segment every audit replays) fails, and the policy's
    # transcript_failed is a halt order proposal for the run.
    transcripts = facts["transcripts"]
    assert transcripts["honest"]["verdict"] == "pass"
    assert transcripts["spoof"]["verdict"] == "fail"
    assert transcripts["spoof"]["segments_total"] - 1 in transcripts["spoof"]["segments"]
    assert transcripts["findings"] == [("transcript_failed", f"run:{SPOOF_RUN}")]
    assert transcripts["halt"].startswith("auto-halt_order-")
    assert "pass" in transcribed
    assert "fail" in transcribed
    assert transcripts["halt"] in transcribed
    html = result.report.read_text()
    assert "inspection_discrepancy" in html
    assert "chips_unaccounted" in html
    assert "Plotly.newPlot" in html
    assert "the facility's energy per day, metered and reported" in html
    assert "compute counted from chip-signed telemetry" in html
    assert "every check passed" in html
    assert "<h2>Transcripts</h2>" in html
    assert "swapped_final" in html
    assert "but lift conditions did not hold at the close" in html
    # The deterrence section judges the world's own figures (the energy balance the service
    # tested on the metered facility's days among them).
    assert '<h2 id="deterrence">Deterrence</h2>' in html
    tested = {d["day"]: d for d in facts["hidden_cluster"]["balance"]}
    assert tested[honest["day"]]["alarm"] is None
    assert tested[hidden["day"]]["alarm"] is not None
    assert 'data-kind="inspection_sample"' in html
    assert f'data-kind="hidden_cluster_{HIDDEN_CHIPS}_chips"' in html

    # Restarted on the same directory, the service serves the same world, and the story's
    # outcomes are on the log: the critical evaluation, the undeclared compute, the decisions.
    host = Host(tmp_path / "world", port=port).start()
    try:
        findings = httpx.get(f"{host.url}/v1/findings", params={"limit": 1000}).json()["findings"]
        kinds = {f["kind"] for f in findings}
        assert {"capability_critical", "undeclared_compute", "prohibited_compute"} <= kinds
        assert {"chips_exported", "chips_unaccounted", "inspection_discrepancy"} <= kinds
        [discrepancy] = [f for f in findings if f["kind"] == "inspection_discrepancy"]
        assert discrepancy["figures"]["missing"] == len(inspection["missing"])
        energy = [f for f in findings if f["kind"] == "energy_unaccounted"]
        assert {f["subject"] for f in energy} == {"facility:dr-ningxia"}
        assert {f["figures"]["period_start"] for f in energy} == {hidden["day"]}
        # The only order not obeyed is Dragon AI's: the run's halt was confirmed.
        assert {f["subject"] for f in findings if f["kind"] == "order_not_obeyed"} == {
            "cluster:dr-ningxia-1"
        }
        # The institute evaluates the declared model on the adopted suites' probes: its
        # results count, none is merely advisory (docs/adr/0021).
        assert "capability_advisory" not in kinds
        # The story declares no hyper-parameter search: no phase is checked (docs/adr/0036).
        assert "phase_mismatch" not in kinds
        [undeclared] = [f for f in findings if f["kind"] == "undeclared_compute"]
        assert "over 1,536 chip-windows" in undeclared["explanation"]  # 512 chips, 3 hours
        proposals: list[dict[str, Any]] = httpx.get(f"{host.url}/v1/proposals").json()["rows"]
        outcome = sorted((p["kind"], str(p["passed"])) for p in proposals)
        # No pause proposal after the lift: the findings that triggered the pause are answered
        # (the run halted and confirmed, the pause decided after the critical evaluation). The
        # run's halt order is the one filed before it crossed, for the projected crossing.
        [run_halt] = [p for p in proposals if p["subject"] == f"run:{RUN_ID}"]
        assert run_halt["text"].startswith("filed by the policy for finding prohibition_projected")
        # The forged transcript's halt order is filed, and open (nobody votes on it).
        [spoof_halt] = [p for p in proposals if p["subject"] == f"run:{SPOOF_RUN}"]
        assert spoof_halt["proposal_id"] == transcripts["halt"]
        assert outcome == [
            ("enforcement", "True"),
            ("halt_order", "None"),
            ("halt_order", "True"),
            ("halt_order", "True"),
            ("pause_lift", "False"),
            ("pause_lift", "True"),
            ("pause_renew", "True"),
            ("pause_start", "True"),
        ]
        run = httpx.get(f"{host.url}/v1/runs/frontier-lab/rl-7").json()["measured"]
        history = run["history"]
        hours = result.story.facts["approach_hours"] + result.story.facts["cross_hours"]
        assert len(history) == hours  # one telemetry batch an hour while it trained
        totals = [h["cumulative_flop"] for h in history]
        assert totals == sorted(totals)
        assert totals[-1] == pytest.approx(run["counted_flop"])
        assert [f for _, f in result.story.run_series] == pytest.approx(totals)
        lift = next(p for p in proposals if p["proposal_id"] == "lift-1")
        assert "lift conditions did not hold" in json.loads(lift["outcome"])["reason"]
        lifted = json.loads(next(p for p in proposals if p["proposal_id"] == "lift-2")["outcome"])
        figures = {c["fact"]: c["actual"] for c in lifted["conditions"]}
        assert figures["witnesses"] == 3
        assert figures["open_critical_findings"] == 0
        assert figures["eval_domains_adopted"] == 5
        assert figures["monitoring_coverage"] >= 0.95
        assert httpx.get(f"{host.url}/v1/pause").json()["status"] == "lifted"
    finally:
        host.stop()


def test_the_chips_sign_the_same_bytes_as_ever() -> None:
    """A demo chip's records are byte for byte those of earlier versions (a restarted demo
    replays its chains onto an older log): the same seed, windows and utilisation give the
    same signed lines, idle windows included."""
    import hashlib

    from pausewatch.demo._chips import ClusterChips
    from pausewatch.demo._world import CLUSTERS, at

    digest = hashlib.sha256()
    for plan in CLUSTERS:
        chips = ClusterChips.build(plan, 0)
        for hour, (run_id, utilisation) in enumerate(
            [("x/y", 0.7), (None, 0.0), (None, 0.45), (None, 0.0)]
        ):
            digest.update(chips.window(at(1, hour), run_id=run_id, utilisation=utilisation))
    # Measured on the version before the records' integral numbers became ints.
    assert digest.hexdigest() == "3fa994e4cbc45071b77f6e2a2478e9b48e2c0f77a52b32df36b023488407d58f"


def test_the_transcript_act_is_skipped_without_torch(tmp_path: Path) -> None:
    """Without torch (the transcript extra not installed), the transcript act trains nothing,
    posts nothing, says it was skipped in its line and in the story's facts, and logs why, so
    that the demo's other acts play on."""
    import subprocess
    import sys

    script = f"""
import importlib.abc, logging, sys
from datetime import datetime

class NoTorch(importlib.abc.MetaPathFinder):
    # As if the transcript extra were not installed: torch cannot be imported.
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NoTorch())
logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
from pausewatch.demo._scenario import Story
from pausewatch.demo._transcripts import transcripts

class Stage:
    seed = 0
    log_dir = __import__("pathlib").Path({str(tmp_path / "inspect-logs")!r})
    story = Story(facts={{"detection_day": "2027-06-01T00:00:00+00:00"}})
    def advance(self, when: datetime) -> None:
        pass
    def post(self, *args: object) -> None:
        raise AssertionError("nothing is posted")

stage = Stage()
print(transcripts(stage))
print(stage.story.facts["transcripts"])
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    line, facts = done.stdout.splitlines()
    assert line.startswith("skipped: training needs the transcript extra")
    assert "skipped" in facts
    assert "pausewatch.demo: the transcript act is skipped" in done.stderr
    assert not (tmp_path / "transcripts" / "frontier-honest" / "manifest.json").exists()
