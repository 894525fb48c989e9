"""Scenarios played through the real ingest, and the detectors' record over them
(docs/adr/0030): detections matched to the defection, false alarms counted on honest
scenarios, the seed split enforced, and ``detect evaluate`` as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from pausewatch.errors import DetectionError
from pausewatch.simulate.scenario import (
    DefectionKind,
    Scenario,
    Workload,
    generate_scenario,
    scenario_json,
    write_corpus,
)
from pausewatch.trial import (
    FIT_SEEDS,
    Outcome,
    check_seeds,
    defection_subjects,
    evaluate_corpus,
    play,
    summarise,
)

PAUSEWATCH = [sys.executable, "-m", "pausewatch.cli"]
SEED = 6_000_000


def small_honest(seed: int, *, days: int = 6, facilities: int = 2) -> Scenario:
    """An honest scenario cut to a few facilities and days."""
    s = generate_scenario(seed, None)
    return s.model_copy(update={"days": days, "facilities": s.facilities[:facilities]})


def test_an_honest_scenario_raises_no_alarm_and_counts_its_facility_days(tmp_path: Path) -> None:
    """Honest metered facilities that train, serve or idle within their declarations, with
    short outages, draw no finding of a detection kind over sixteen days (their daily energy
    balances included); every record is accepted by the ingest; an honest scenario is
    evaluated weekly and on its last day."""
    s = small_honest(SEED, days=16)
    assert all(f.meter is not None for f in s.facilities)
    outcome = play(s, workdir=tmp_path)
    assert outcome.alarms == []
    assert outcome.detected_at is None
    assert outcome.facility_days == 2 * 16
    chips = sum(c.chips for f in s.facilities for c in f.clusters)
    assert outcome.records == chips * 16
    assert outcome.evaluations == 3  # days 7, 14 and 16


def test_more_sampled_hours_report_more_windows_and_still_no_alarm(tmp_path: Path) -> None:
    """With three sampled hours a day each chip signs three chained windows a day, all
    accepted, and the honest world still draws no detection finding."""
    s = small_honest(SEED + 2, days=3, facilities=1).model_copy(update={"sample_hours": 3})
    outcome = play(s, workdir=tmp_path)
    chips = sum(c.chips for f in s.facilities for c in f.clusters)
    assert outcome.records == chips * 3 * 3
    assert outcome.alarms == []


def test_a_detection_finding_on_an_honest_scenario_is_a_false_alarm(tmp_path: Path) -> None:
    """An honest operator whose training outruns its declared plan draws exceeds_declaration:
    a detection kind, so it is counted once (an episode) as a false alarm, and the rate is
    alarms over honest facility-years."""
    s = small_honest(SEED + 1, days=4, facilities=1)
    cluster = (
        s.facilities[0]
        .clusters[0]
        .model_copy(
            update={
                "workload": Workload.TRAINING,
                "run_id": "run-1",
                "planned_flop": 1e15,
                "run_days": None,
            }
        )
    )
    facility = s.facilities[0].model_copy(update={"clusters": [cluster]})
    s = s.model_copy(update={"facilities": [facility]})
    outcome = play(s, workdir=tmp_path)
    assert [(a.kind, a.subject) for a in outcome.alarms] == [("exceeds_declaration", "run:run-1")]
    report = summarise([outcome], seeds=[s.seed])
    overall = report["overall"]
    assert overall["false_alarms"] == 1
    assert overall["facility_years"] == pytest.approx(4 / 365)
    assert overall["false_alarms_per_facility_year"] == pytest.approx(365 / 4)
    low, high = overall["false_alarms_interval"]
    assert low < overall["false_alarms_per_facility_year"] < high


def test_undeclared_training_is_detected_on_its_first_day_by_its_cluster(tmp_path: Path) -> None:
    """Undeclared training on registered chips is named by undeclared_compute on its cluster
    at the first evaluation after it starts, before it could complete; the play stops there."""
    s = generate_scenario(SEED, DefectionKind.UNDECLARED_TRAINING)
    d = s.defection
    assert d is not None
    outcome = play(s, workdir=tmp_path)
    assert outcome.detected_at == d.start + timedelta(days=1, minutes=1)
    assert ("undeclared_compute", "cluster:cl-x") in {
        (a.kind, a.subject) for a in outcome.detected_by
    }
    assert outcome.completes_at is not None
    assert outcome.detected_at <= outcome.completes_at
    assert outcome.alarms == []
    assert outcome.played_until == outcome.detected_at


def test_scaled_counters_are_detected_as_implausible_on_their_cluster(tmp_path: Path) -> None:
    """A declared run whose counters alone report a fraction of the work (strategy scaled) is
    named by counters_implausible on its cluster at the first evaluation after its first day
    closes, before it could complete; no honest facility beside it alarms."""
    s = generate_scenario(SEED + 9, DefectionKind.UNDERREPORTED_COUNTERS)
    d = s.defection
    assert d is not None
    assert d.strategy == "scaled"
    outcome = play(s, workdir=tmp_path)
    assert ("counters_implausible", "cluster:cl-x") in {
        (a.kind, a.subject) for a in outcome.detected_by
    }
    assert outcome.detected_at == d.start + timedelta(days=2, minutes=1)
    assert outcome.completes_at is not None
    assert outcome.detected_at <= outcome.completes_at
    assert outcome.alarms == []


def test_scaled_sensors_look_plausible_and_only_the_meter_shows_them(tmp_path: Path) -> None:
    """Chips that scale their tensor activity and power with their counters (strategy
    scaled_sensors) raise no counters_implausible; the facility meter, which reads their true
    draw, shows the energy they did not report (energy_unaccounted)."""
    s = generate_scenario(SEED + 1, DefectionKind.UNDERREPORTED_COUNTERS)
    d = s.defection
    assert d is not None
    assert d.strategy == "scaled_sensors"
    outcome = play(s, workdir=tmp_path)
    kinds = {(a.kind, a.subject) for a in outcome.detected_by}
    assert ("energy_unaccounted", "facility:fac-x") in kinds
    assert not any(kind == "counters_implausible" for kind, _ in kinds)
    assert outcome.alarms == []


def test_going_dark_is_told_apart_from_short_outages(tmp_path: Path) -> None:
    """Chips that withhold their telemetry are dark the first evaluation after they stop; the
    honest facilities beside them, with outages under the silence limit, are not."""
    s = generate_scenario(SEED + 3, DefectionKind.GOING_DARK)
    outcome = play(s, workdir=tmp_path)
    assert ("dark_chips", "cluster:cl-x") in {(a.kind, a.subject) for a in outcome.detected_by}
    assert outcome.alarms == []


def test_a_split_whose_pieces_declare_distinct_recipes_is_detected_at_its_start(
    tmp_path: Path,
) -> None:
    """A prohibited run (1.6e24 FLOP) split in three pieces on three facilities of two
    operators of one party, each declaring its own recipe at 54% of the prohibition, all
    starting together, is named ``split_run_suspected`` on the party by the structuring link
    from its declarations, counted at the start, before it could complete; no false alarm."""
    s = generate_scenario(SEED + 11, DefectionKind.SPLIT_RUN)
    d = s.defection
    assert d is not None
    assert (d.strategy, len(d.clusters)) == ("distinct_recipe", 3)
    assert d.size_flop > 1e24
    outcome = play(s, workdir=tmp_path)
    assert outcome.detected_at == d.start
    assert ("split_run_suspected", "party:party-2") in {
        (a.kind, a.subject) for a in outcome.detected_by
    }
    assert outcome.completes_at is not None
    assert outcome.detected_at < outcome.completes_at
    assert outcome.alarms == []


def test_the_subjects_of_a_defection_name_its_places_runs_and_owners() -> None:
    """A mistagging defection is named by its cluster, facility, operator, party, chips and the
    decoy run it tags; not by an honest facility's."""
    s = generate_scenario(SEED, DefectionKind.MISTAGGED)
    subjects = defection_subjects(s)
    assert {
        "cluster:cl-x",
        "facility:fac-x",
        "operator:op-x",
        "party:party-2",
        "run:run-decoy",
        "chip:cl-x/0000",
    } <= subjects
    assert "facility:fac-1" not in subjects
    assert "party:party-1" not in subjects


def _outcome(kind: str | None, size: float, detected_after_days: float | None) -> Outcome:
    start = generate_scenario(SEED, DefectionKind.GOING_DARK).start
    completes = start + timedelta(days=10)
    crosses = start + timedelta(days=10 * 1e24 / size) if size >= 1e24 else None
    o = Outcome(
        "x", SEED, kind, "s" if kind else None, size if kind else None,
        start if kind else None, completes if kind else None, crosses,
    )  # fmt: skip
    if detected_after_days is not None:
        o.detected_at = start + timedelta(days=detected_after_days)
    o.facility_days = 0.0 if kind else 365.0
    return o


def test_the_summary_counts_detection_before_completion_and_before_crossing() -> None:
    """Of three prohibited runs (10 days each), one found on day 1 (before crossing), one on
    day 8 (after crossing a 2e24 run's threshold at day 5, before completion) and one never:
    2/3 before completion, 1/3 before crossing; an under-threshold run counts only in all
    sizes; the median days to detection is over detected runs."""
    outcomes = [
        _outcome("going_dark", 2e24, 1),
        _outcome("going_dark", 2e24, 8),
        _outcome("going_dark", 3e24, None),
        _outcome("going_dark", 1e22, 12),
        _outcome(None, 0, None),
    ]
    report = summarise(outcomes, seeds=[SEED])
    row = report["kinds"]["going_dark"]
    assert row["detection_before_completion"]["detected"] == 2
    assert row["detection_before_completion"]["runs"] == 3
    assert row["detection_before_crossing"]["detected"] == 1
    assert row["detection_before_completion_all_sizes"]["runs"] == 4
    assert row["detection_before_completion_all_sizes"]["detected"] == 2
    assert row["median_days_to_detection"]["estimate"] == 8
    overall = report["overall"]
    assert overall["detection_before_completion"] == pytest.approx(2 / 3)
    assert overall["false_alarms_per_facility_year"] == 0.0
    assert report["cannot_detect"][0]["kind"] == "going_dark"
    # The 3e24 run escaped: no size above which every run was found.
    assert row["detected_from_flop"] is None
    found = summarise(outcomes[:2] + outcomes[3:], seeds=[SEED])["kinds"]["going_dark"]
    assert found["detected_from_flop"] == 2e24  # the 1e22 run, found after completion, escaped
    assert report["seeds"] == {"fit": [0, FIT_SEEDS.stop - 1], "evaluated": [SEED, SEED]}


def test_a_run_missed_at_a_size_keeps_that_size_out_of_detected_from() -> None:
    """Two runs of one size, one found and one missed, and a larger run found: every run is
    found only above that size, whatever order the outcomes come in."""
    found, missed = _outcome("going_dark", 2e24, 1), _outcome("going_dark", 2e24, None)
    larger = _outcome("going_dark", 5e24, 1)
    for order in ([found, missed, larger], [missed, found, larger], [larger, found, missed]):
        row = summarise(order, seeds=[SEED])["kinds"]["going_dark"]
        assert row["detected_from_flop"] == 5e24


def test_a_corpus_from_the_fit_seeds_is_refused() -> None:
    """Seeds inside the range the detectors were fit on are refused with one line."""
    with pytest.raises(DetectionError, match="overlap the range the detectors were fit on"):
        check_seeds([FIT_SEEDS.stop + 1, FIT_SEEDS.stop - 1])
    check_seeds([FIT_SEEDS.stop])


def test_detect_evaluate_refuses_a_corpus_that_overlaps_the_fit_range(tmp_path: Path) -> None:
    """``detect evaluate`` on a corpus drawn from seed 7 prints one line and exits 1."""
    write_corpus([generate_scenario(7, None)], tmp_path)
    result = subprocess.run(
        [*PAUSEWATCH, "detect", "evaluate", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "overlap" in lines[0]
    assert result.stdout == ""


def test_detect_evaluate_refuses_a_bad_scenario_file(tmp_path: Path) -> None:
    """A corpus holding an invalid file is refused with one line naming it, exit 1."""
    doc = json.loads(scenario_json(small_honest(SEED)))
    doc["days"] = 0
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    result = subprocess.run(
        [*PAUSEWATCH, "detect", "evaluate", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "bad.json" in lines[0]
    assert "days" in lines[0]


@pytest.mark.slow
def test_detect_evaluate_over_a_small_corpus_gives_the_contract_keys(tmp_path: Path) -> None:
    """A small corpus (two honest scenarios, three defections the detectors on this branch
    find) played through the real ingest by ``detect evaluate --json`` in a subprocess: the
    overall figures are numbers in [0, 1] and >= 0, every kind has its row, and the seeds fit
    on and evaluated on are stated."""
    corpus = [
        small_honest(SEED + 10, days=5, facilities=3),
        small_honest(SEED + 11, days=5, facilities=2),
        generate_scenario(SEED + 12, DefectionKind.UNDECLARED_TRAINING),
        generate_scenario(SEED + 13, DefectionKind.MISTAGGED),
        generate_scenario(SEED + 14, DefectionKind.GOING_DARK),
    ]
    write_corpus(corpus, tmp_path / "corpus")
    result = subprocess.run(
        [
            *PAUSEWATCH, "detect", "evaluate", str(tmp_path / "corpus"), "--json",
            "--workdir", str(tmp_path), "--outcomes", str(tmp_path / "outcomes.jsonl"),
            "--workers", "2",
        ],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    overall = report["overall"]
    assert isinstance(overall["detection_before_completion"], float)
    assert isinstance(overall["false_alarms_per_facility_year"], float)
    assert 0.0 <= overall["detection_before_completion"] <= 1.0
    assert overall["detection_population"] in ("prohibited_runs", "all_sizes")
    assert overall["false_alarms_per_facility_year"] == 0.0
    assert overall["facility_years"] == pytest.approx((3 * 5 + 2 * 5) / 365)
    assert overall["detection_before_completion_all_sizes"]["estimate"] == 1.0
    assert set(report["kinds"]) == {k.value for k in DefectionKind}
    assert report["kinds"]["mistagged"]["found_by"] == {"tag_mismatch": 1}
    assert report["seeds"]["evaluated"] == [SEED + 10, SEED + 14]
    assert report["seeds"]["fit"] == [0, FIT_SEEDS.stop - 1]
    assert "energy_unaccounted" in report["detection_kinds"]
    assert report["cost"]["records"] > 0
    lines = (tmp_path / "outcomes.jsonl").read_text().splitlines()
    assert len(lines) == 5
    # Played two at a time (--workers 2), the outcomes are still in the corpus's order.
    assert [json.loads(line)["seed"] for line in lines] == [s.seed for s in corpus]


def test_detect_evaluate_refuses_fewer_than_one_worker(tmp_path: Path) -> None:
    """``--workers 0`` is a usage error (exit 2, nothing played); the library says so too."""
    write_corpus([small_honest(SEED)], tmp_path)
    result = subprocess.run(
        [*PAUSEWATCH, "detect", "evaluate", str(tmp_path), "--workers", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--workers" in result.stderr
    with pytest.raises(ValueError, match="at least 1"):
        evaluate_corpus([small_honest(SEED)], workers=0)
