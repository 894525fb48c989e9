"""Phase mismatch (docs/adr/0036): a run declared a hyper-parameter search whose chips move as
one synchronous job, from simulated signed telemetry to the policy's finding. The traces come
from seeds outside the thresholds' fit range (FIT_SEEDS) and the benchmark's evaluation seeds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pausewatch.compute import Phase
from pausewatch.detect import records_of
from pausewatch.detect._phase import (
    FIT_SEEDS,
    MIN_CHIPS,
    SYNC_CORRELATION,
    SYNC_SHARE,
    measure_phase_check,
    run_pattern,
    simulated_runs,
)
from pausewatch.errors import DetectionError
from pausewatch.policy import Facts, FindingKind, Severity, evaluate, load_preset
from pausewatch.policy._model import Action
from pausewatch.simulate import AdversarialKind, adversarial_traces, chip_private_key
from pausewatch.simulate.adversarial import search_traces
from pausewatch.state import run_patterns
from pausewatch.telemetry import DOMAIN, SIGNAL_CHIPS, TelemetryRecord, parse_line
from registry.world import World, declaration  # type: ignore[import-not-found]

HELD_OUT = range(3_100_500, 3_100_506)
"""Outside FIT_SEEDS and the scenario benchmark's seeds."""
AT = datetime(2027, 6, 1, tzinfo=UTC)
MISLABELLED = f"run-adv-{AdversarialKind.PHASE_MISLABELLED.value}"


def _job(seed: int, chips: int = 16) -> list[TelemetryRecord]:
    by_chip = adversarial_traces(
        AdversarialKind.PHASE_MISLABELLED, chips=chips, windows=40, seed=seed, allreduce_every=4
    )
    return [r for lines in by_chip.values() for r in records_of(lines)]


def _search(seed: int, chips: int = 48) -> list[TelemetryRecord]:
    return [
        r
        for lines in search_traces(chips=chips, windows=40, seed=seed).values()
        for r in records_of(lines)
    ]


@pytest.mark.parametrize("seed", HELD_OUT)
def test_a_synchronous_job_declared_a_search_is_one_job_and_a_search_is_not(seed: int) -> None:
    """On held-out seeds, the mislabelled job's sampled chips are one synchronous job and an
    honest search's are not, both declared hyper-parameter searches."""
    job, search = simulated_runs(seed)
    assert job.mismatch
    assert job.share_synchronous >= SYNC_SHARE
    assert job.chips >= MIN_CHIPS
    assert job.pairs == job.chips * (job.chips - 1) // 2
    assert not search.mismatch
    assert search.share_synchronous < SYNC_SHARE
    assert search.chips >= MIN_CHIPS


@pytest.mark.parametrize("phase", [Phase.PRETRAINING, Phase.FINE_TUNING, Phase.RL])
def test_a_synchronous_job_declared_a_training_phase_is_not_a_mismatch(phase: Phase) -> None:
    """The same synchronous job, declared pre-training, fine-tuning or RL, is honest: one job is
    what those phases are."""
    pattern = run_pattern(MISLABELLED, phase, _job(HELD_OUT[0]))
    assert pattern.share_synchronous == 1.0
    assert not pattern.mismatch


def test_an_honest_search_declared_a_search_is_not_a_mismatch() -> None:
    """A search of independent trials (some over two nodes) shares few synchronous pairs; of its
    48 chips, the 16 the aggregate would sample are compared."""
    pattern = run_pattern("run-search", Phase.HYPERPARAMETER_SEARCH, _search(HELD_OUT[1]))
    assert pattern.chips == SIGNAL_CHIPS
    assert pattern.pairs == SIGNAL_CHIPS * (SIGNAL_CHIPS - 1) // 2
    assert not pattern.mismatch


def test_only_the_runs_own_windows_count_and_too_few_chips_decide_nothing() -> None:
    """Windows naming another run are left out, and fewer than MIN_CHIPS chips give no mismatch
    however synchronous they are."""
    records = _job(HELD_OUT[2], chips=MIN_CHIPS - 1)
    assert run_pattern("run-other", Phase.HYPERPARAMETER_SEARCH, records).chips == 0
    few = run_pattern(MISLABELLED, Phase.HYPERPARAMETER_SEARCH, records)
    assert few.chips == MIN_CHIPS - 1
    assert few.share_synchronous == 1.0
    assert not few.mismatch


def test_measuring_on_the_fit_seeds_is_refused() -> None:
    """The check's figures are measured only on seeds its thresholds were not chosen on."""
    with pytest.raises(DetectionError, match="not fitted on"):
        measure_phase_check(range(FIT_SEEDS.stop - 1, FIT_SEEDS.stop + 1))


def test_the_measurement_finds_the_jobs_and_spares_the_searches() -> None:
    """On a few held-out seeds every mislabelled job is found and no honest search is."""
    report = measure_phase_check(range(3_100_510, 3_100_513), windows=30)
    assert report.recall == 1.0
    assert report.false_positive_rate == 0.0
    assert "recall 1.000" in report.table()


def test_search_traces_are_chained_and_signed_by_the_chip_key() -> None:
    """An honest search's lines are chip-signed records in seq order, naming run-search."""
    by_chip = search_traces(chips=3, windows=5, seed=7)
    assert sorted(by_chip) == ["search/0000", "search/0001", "search/0002"]
    for index, (chip_id, lines) in enumerate(sorted(by_chip.items())):
        records = records_of(lines)
        assert [r.seq for r in records] == list(range(5))
        assert {r.chip_id for r in records} == {chip_id}
        assert {r.run_id for r in records} == {"run-search"}
        public = chip_private_key(7, index).public_key()
        for line in lines:
            parsed = parse_line(line)
            public.verify(parsed.signature, DOMAIN + parsed.record_bytes)


def _fact(**change: Any) -> dict[str, Any]:
    fact: dict[str, Any] = {
        "id": "r1",
        "operator": "lab",
        "cluster": "c1",
        "phase": "hyperparameter_search",
        "chips": 16,
        "windows": 960,
        "pairs": 120,
        "synchronous_pairs": 120,
        "correlation": SYNC_CORRELATION,
        "share_limit": SYNC_SHARE,
        "one_job": True,
        "evidence": ["log:7"],
    }
    return {**fact, **change}


def _phase_findings(preset: str, fact: dict[str, Any]) -> list[Any]:
    facts = Facts.model_validate({"run_patterns": [fact]})
    found = evaluate(load_preset(preset), facts, AT).findings
    return [f for f in found if f.kind is FindingKind.PHASE_MISMATCH]


def test_a_mismatch_is_serious_where_the_policy_does_not_count_searches() -> None:
    """Under a policy that does not count hyper-parameter searches (eu-ai-act), one job declared
    a search is a serious phase_mismatch on the run asking for an inspection, with its figures
    and the declaration as evidence."""
    [finding] = _phase_findings("eu-ai-act", _fact())
    assert finding.subject == "run:r1"
    assert finding.severity is Severity.SERIOUS
    assert finding.action is Action.INSPECTION
    assert finding.evidence == ("log:7",)
    figures = dict(finding.figures)
    assert figures["share_synchronous"] == 1.0
    assert figures["counted"] is False
    assert "one synchronous job" in finding.explanation


def test_a_mismatch_is_a_warning_where_the_policy_counts_searches() -> None:
    """Under a policy that counts searches as training (miri-2025) the mislabel changes no tier:
    a warning, no inspection; a run that is not one job gives no finding."""
    [finding] = _phase_findings("miri-2025", _fact())
    assert finding.severity is Severity.WARNING
    assert finding.action is Action.FINDING
    assert _phase_findings("eu-ai-act", _fact(one_job=False, synchronous_pairs=10)) == []


@pytest.mark.parametrize(
    ("phase", "expected"), [("hyperparameter_search", True), ("pretraining", None)]
)
def test_the_state_builds_the_pattern_of_a_declared_search_from_records(
    phase: str, expected: bool | None
) -> None:
    """Through the registry: a run declared a search whose records are one synchronous job has
    a run_patterns fact with one_job set, naming its declaration; declared pre-training, the
    same records give no fact (no phase to check)."""
    world = World()
    world.basic()
    world.ok("run.declaration/v1", declaration(MISLABELLED, phase=phase), "lab")
    records = _job(HELD_OUT[3], chips=8)
    patterns = run_patterns(world.registry, {"c1": records})
    if expected is None:
        assert patterns == []
        return
    [fact] = patterns
    assert fact["id"] == MISLABELLED
    assert fact["one_job"] is expected
    assert fact["chips"] == 8
    assert fact["synchronous_pairs"] == fact["pairs"] == 28
    assert fact["evidence"][0].startswith("log:")
