"""Training suspected (docs/adr/0032): the workload classifier as a detector over a cluster's
windows that claim no training, from simulated signed telemetry through the state's facts to the
policy's finding. The traces come from seeds the classifier was neither fitted nor measured on."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pausewatch.detect import (
    ClusterVerdict,
    DeclaredWorkload,
    classify_cluster,
    classify_signals,
    fitted_classifier,
    records_of,
)
from pausewatch.detect._training import _CHIPS, FIT_SEEDS, MEASURE_SEEDS, SUSTAINED_WINDOWS
from pausewatch.policy import Facts, evaluate, load_preset
from pausewatch.simulate import ClusterSpec, Workload, simulate_fleet
from pausewatch.simulate.fleet import Misbehaviour
from pausewatch.state import classified_clusters, evaluated
from pausewatch.state._facts import signal_records
from pausewatch.telemetry import (
    AcceptedRecord,
    Signal,
    TelemetryRecord,
    aggregate,
    merge_signals,
)
from registry.world import World  # type: ignore[import-not-found]

SEED = 7_000
"""Outside FIT_SEEDS and MEASURE_SEEDS."""
AT = datetime(2027, 6, 1, tzinfo=UTC)


def records(workload: Workload, *, hidden: bool = False, chips: int = 4) -> list[TelemetryRecord]:
    """Two sustained stretches of ``chips`` chips of cluster c1 doing ``workload`` (training
    with no run named when ``hidden``)."""
    spec = ClusterSpec("c1", "lab", "H100 SXM", chips, workload, allreduce_every=4)
    bad = Misbehaviour(undeclared_clusters=frozenset({"c1"})) if hidden else Misbehaviour()
    fleet = simulate_fleet((spec,), windows=2 * SUSTAINED_WINDOWS, seed=SEED, misbehaviour=bad)
    return records_of(fleet.lines)


@pytest.fixture
def world() -> World:
    w = World()
    w.basic()
    return w


def declare_inference(w: World) -> None:
    body = {
        "workload_id": "w1",
        "operator_id": "lab",
        "cluster_id": "c1",
        "kind": "inference",
        "starts_at": "2020-01-01T00:00:00Z",
        "ends_at": "2030-01-01T00:00:00Z",
        "chips": 4,
    }
    w.ok("workload.declare/v1", body, "lab")


def findings(classified: list[dict[str, Any]]) -> list[Any]:
    facts = Facts.model_validate({"classified_clusters": classified})
    result = evaluate(load_preset("miri-2025"), facts, AT)
    return [f for f in result.findings if f.kind.value == "training_suspected"]


def test_the_detector_is_fitted_once_on_seeds_apart_from_any_log() -> None:
    """The classifier is fitted once per process on a fixed simulated seed range and measured on
    another, disjoint one; its measured recall and false-positive rate travel with it."""
    fitted = fitted_classifier()
    assert fitted is fitted_classifier()
    assert (fitted.fit_seeds, fitted.measure_seeds) == (FIT_SEEDS, MEASURE_SEEDS)
    assert not set(FIT_SEEDS) & set(MEASURE_SEEDS)
    assert SEED not in FIT_SEEDS
    assert SEED not in MEASURE_SEEDS
    assert fitted.recall >= 0.9
    assert fitted.false_positive_rate <= 0.05


def test_honest_inference_under_a_declared_workload_is_not_suspected(world: World) -> None:
    """Inference windows, naming no run, under the cluster's declared inference workload, are
    classified, and none is called training: no finding."""
    declare_inference(world)
    [fact] = classified_clusters(world.registry, {"c1": records(Workload.INFERENCE)})
    assert fact["traces"] == 8  # 4 chips, two stretches each
    assert fact["windows"] == 8 * SUSTAINED_WINDOWS
    assert fact["workloads"] == ["w1"]
    assert fact["training_traces"] == 0
    assert findings([fact]) == []


def test_idle_windows_naming_no_run_are_not_suspected(world: World) -> None:
    """Idle chips naming no run are classified and not called training."""
    [fact] = classified_clusters(world.registry, {"c1": records(Workload.IDLE)})
    assert fact["training_traces"] == 0
    assert findings([fact]) == []


def test_hidden_training_naming_no_run_is_suspected(world: World) -> None:
    """Training whose windows name no run is called training on most of the cluster's traces:
    a serious finding on the cluster that asks for an inspection, with the classifier's
    measured recall and false-positive rate among its figures."""
    [fact] = classified_clusters(world.registry, {"c1": records(Workload.TRAINING, hidden=True)})
    assert fact["training_traces"] == fact["traces"] == 8
    [finding] = findings([fact])
    assert finding.subject == "cluster:c1"
    assert finding.severity.value == "serious"
    assert finding.action.value == "inspection"
    figures = dict(finding.figures)
    assert figures["windows"] == 8 * SUSTAINED_WINDOWS
    assert figures["share_training"] == 1.0
    assert figures["recall"] == fitted_classifier().recall
    assert figures["false_positive_rate"] == fitted_classifier().false_positive_rate
    assert "log:" in finding.evidence[0]


def test_training_tagged_to_a_declared_inference_workload_is_suspected(world: World) -> None:
    """Training whose windows name the cluster's declared inference workload claims no
    training, and is found."""
    declare_inference(world)
    tagged = [r._replace(run_id="w1") for r in records(Workload.TRAINING)]
    [fact] = classified_clusters(world.registry, {"c1": tagged})
    assert fact["workloads"] == ["w1"]
    [finding] = findings([fact])
    assert "declared workload(s) w1" in finding.explanation


def test_windows_of_a_declared_run_are_not_classified(world: World) -> None:
    """Windows that name a run (not a declared workload) claim training already: the detector
    leaves them to the run's accounting and gives no fact."""
    assert classified_clusters(world.registry, {"c1": records(Workload.TRAINING)}) == []


def test_a_stretch_shorter_than_sustained_is_not_classified() -> None:
    """Fewer consecutive windows than a sustained stretch give no trace."""
    short = [r for r in records(Workload.TRAINING, hidden=True) if r.seq < SUSTAINED_WINDOWS - 1]
    verdict = classify_cluster("c1", short)
    assert verdict == ClusterVerdict(
        "c1", 0, 0, 0, None, None, (), verdict.recall, verdict.false_positive_rate
    )


def test_a_minority_of_training_traces_is_not_enough() -> None:
    """Below half the cluster's traces called training, the policy files nothing; at half, it
    does."""
    base = {
        "id": "c1",
        "operator": "lab",
        "traces": 10,
        "windows": 300,
        "recall": 1.0,
        "false_positive_rate": 0.0,
    }
    assert findings([{**base, "training_traces": 4}]) == []
    assert len(findings([{**base, "training_traces": 5}])) == 1


def test_the_state_files_the_finding_from_records_it_is_given(world: World) -> None:
    """The state's evaluation, given a cluster's records, files training_suspected for hidden
    training; without records, over a log with no telemetry (so no window signals in the
    fold), it files none."""
    policy = load_preset("miri-2025")
    hidden = {"c1": records(Workload.TRAINING, hidden=True)}
    facts, result = evaluated(world.registry, AT, policy, records=hidden)
    assert [c.id for c in facts.classified_clusters] == ["c1"]
    assert [f.subject for f in result.findings if f.kind.value == "training_suspected"] == [
        "cluster:c1"
    ]
    _, bare = evaluated(world.registry, AT, policy)
    assert not [f for f in bare.findings if f.kind.value == "training_suspected"]


def window_signals(cluster: str, recs: list[TelemetryRecord]) -> dict[str, tuple[Signal, ...]]:
    """The window signals the fold keeps of ``recs`` (the aggregate of one batch of them)."""
    accepted = [
        AcceptedRecord(i, "", b"", r, cluster, None, "H100 SXM") for i, r in enumerate(recs)
    ]
    return dict(aggregate(accepted).clusters[cluster].signals)


def test_a_verdict_on_window_signals_equals_the_verdict_on_their_records() -> None:
    """classify_signals, which the state's look at the policy runs on the fold's window signals
    without making a record of each window, gives the verdict classify_cluster gives on the
    records those signals stand for, field for field: for every workload, with windows naming
    a run, a declared workload or none, gaps in a chip's chain, a chip with too few windows,
    and workloads declared by run label and by time."""
    rng = random.Random(5)
    start = min(r.window_start for r in records(Workload.IDLE))
    declared = [
        DeclaredWorkload("w1", "c1", "inference", start, start + timedelta(minutes=20)),
        DeclaredWorkload(
            "w2", "c1", "serving", start + timedelta(minutes=35), start + timedelta(days=1)
        ),
        DeclaredWorkload("run-x", "c1", "training", start, start + timedelta(days=1)),
        DeclaredWorkload("w9", "c9", "inference", start, start + timedelta(days=1)),
    ]
    compared = 0
    for workload, hidden in (
        (Workload.TRAINING, False),
        (Workload.TRAINING, True),
        (Workload.INFERENCE, False),
        (Workload.IDLE, False),
    ):
        base = records(workload, hidden=hidden, chips=6)
        variants = [base]
        mixed = []
        for r in base:
            label = rng.choice([None, None, "w1", "w2", "run-x", r.run_id])
            if rng.random() < 0.03:
                continue  # a gap in the chip's chain
            mixed.append(r._replace(run_id=label))
        variants.append(mixed)
        variants.append([r for r in base if not r.chip_id.endswith("-0") or r.seq < 20])
        for recs in variants:
            signals = window_signals("c1", recs)
            for workloads in ([], declared):
                expected = classify_cluster("c1", signal_records(signals), workloads)
                assert classify_signals("c1", signals, workloads) == expected
                compared += expected.traces
    assert compared > 100  # traces were classified, not only empty verdicts compared


def test_a_clusters_records_in_any_order_give_one_verdict() -> None:
    """A chip's windows are cut into stretches by ``seq`` whatever order they come in: shuffled
    records, with a gap, give the verdict of the same records in order."""
    recs = records(Workload.TRAINING, hidden=True)
    first = min(r.chip_id for r in recs)
    recs = [r for r in recs if not (r.chip_id == first and r.seq == recs[0].seq + 45)]
    shuffled = list(recs)
    random.Random(3).shuffle(shuffled)
    verdict = classify_cluster("c1", recs)
    assert verdict.traces == 3 * 2 + 1  # 4 chips of 60 windows; the gap costs its chip one
    assert classify_cluster("c1", shuffled) == verdict


def test_a_verdict_after_each_batch_equals_the_verdict_on_the_records() -> None:
    """Batch after batch, as the fold merges them into a cluster's signals (each a window of
    some chips, the oldest windows dropping out past SIGNAL_WINDOWS, a chip's run label
    changing on the way), the verdict on the signals read from the last look's arrays equals
    classify_cluster's on the records, and the verdict read afresh."""
    recs = records(Workload.IDLE, chips=6) + [
        r._replace(seq=r.seq + 2 * SUSTAINED_WINDOWS)
        for r in records(Workload.TRAINING, hidden=True, chips=6)
    ]
    chips = sorted({r.chip_id for r in recs})
    by_seq: dict[int, list[TelemetryRecord]] = {}
    for r in recs:
        if r.chip_id == chips[0] and r.seq % 17 == 5:
            r = r._replace(run_id="run-x")  # a second label on one chip's windows
        by_seq.setdefault(r.seq, []).append(r)
    batches = [
        [r for r in by_seq[seq] if chips.index(r.chip_id) % 2 == half]
        for seq in sorted(by_seq)
        for half in (0, 1)
    ]
    kept: dict[str, tuple[Signal, ...]] = {}
    checked = 0
    for step, batch in enumerate(batches):
        kept = merge_signals(kept, window_signals("c1", batch))
        if step % 3:
            continue  # reads come after some batches, not all
        verdict = classify_signals("c1", kept)
        assert verdict == classify_cluster("c1", signal_records(kept))
        _CHIPS.clear()
        assert classify_signals("c1", kept) == verdict
        checked += verdict.traces
    assert checked > 200


def test_signals_that_did_not_move_on_from_the_last_look_are_read_afresh() -> None:
    """A chip whose signals are not the last look's moved on (another chip's, reordered, or
    dropped by more than a few windows) is read afresh, not from the kept arrays."""
    signals = window_signals("c1", records(Workload.INFERENCE))
    chips = sorted(signals)
    expected = classify_cluster("c1", signal_records(signals))
    assert classify_signals("c1", signals) == expected
    swapped = {chips[0]: signals[chips[1]], chips[1]: signals[chips[0]]}
    assert classify_signals("c1", swapped) == classify_cluster("c1", signal_records(swapped))
    shuffled = {c: tuple(reversed(ws)) for c, ws in signals.items()}
    assert classify_signals("c1", shuffled) == classify_cluster("c1", signal_records(shuffled))
    late = {c: ws[20:] + ws[:20] for c, ws in signals.items()}
    assert classify_signals("c1", late) == classify_cluster("c1", signal_records(late))
    assert classify_signals("c1", signals) == expected


def test_a_stretch_never_joins_two_chips_windows() -> None:
    """One chip's windows that end where another chip's begin (by seq) make no stretch
    together: each chip is cut alone."""
    recs = records(Workload.INFERENCE, chips=2)
    first, second = sorted({r.chip_id for r in recs})
    joined = [r for r in recs if r.chip_id == first and r.seq < 45] + [
        r._replace(seq=r.seq + 45) for r in recs if r.chip_id == second and r.seq < 15
    ]
    signals = window_signals("c1", joined)
    verdict = classify_signals("c1", signals)
    assert verdict == classify_cluster("c1", signal_records(signals))
    assert verdict.traces == 1  # the first chip's 0-29; 30-44 and the second's 15 are short
