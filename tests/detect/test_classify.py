"""Workload classification from a chip's own telemetry signals, measured on held-out seeds."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from pausewatch.detect import (
    CLASSIFIED_WORKLOADS,
    WORKLOAD_FEATURES,
    WorkloadReport,
    disguised_traces,
    evaluate_workload_classification,
    feature_matrix,
    fit_on_simulation,
    records_of,
    simulated_traces,
    workload_features,
)
from pausewatch.errors import DetectionError
from pausewatch.simulate import AdversarialKind, Workload, adversarial_traces, chip_private_key
from pausewatch.telemetry import DOMAIN, TelemetryRecord, parse_line

FIT = range(0, 8)
HELD_OUT = range(100, 106)


@pytest.fixture(scope="module")
def report() -> WorkloadReport:
    return evaluate_workload_classification(FIT, HELD_OUT, windows=20, adversarial_chips=3)


def test_held_out_honest_traces_are_classified_accurately(report: WorkloadReport) -> None:
    """Honest traces from seeds the fit never saw are classified with at least 90% accuracy."""
    assert sum(sum(row) for row in report.confusion) == 3 * 4 * len(HELD_OUT)
    assert report.accuracy() >= 0.9
    for workload in CLASSIFIED_WORKLOADS:
        assert report.recall(workload) >= 0.85


def test_report_names_every_adversarial_kind_with_a_measured_recall(
    report: WorkloadReport,
) -> None:
    """The report gives throttled (and every other disguise) a recall in [0, 1], and names it."""
    assert set(report.adversarial) == {k.value for k in AdversarialKind}
    for kind in AdversarialKind:
        assert 0.0 <= report.adversarial_recall(kind.value) <= 1.0
        assert report.adversarial[kind.value][1] == 3 * len(HELD_OUT)
    table = report.table()
    assert "training (throttled)" in table
    assert "seeds 0..7" in table
    assert "seeds 100..105" in table


def test_training_tagged_to_another_run_is_still_training(report: WorkloadReport) -> None:
    """The classifier reads the signals, not the run id: mistagged training is called training."""
    assert report.adversarial_recall(AdversarialKind.MISTAGGED.value) >= 0.9


def test_the_fit_is_deterministic() -> None:
    """Two fits on the same seeds give the same probabilities for the same traces."""
    traces, _ = simulated_traces(range(50, 52), windows=12, chips=2)
    first = fit_on_simulation(range(0, 3), windows=12).predict_proba(traces)
    second = fit_on_simulation(range(0, 3), windows=12).predict_proba(traces)
    assert np.array_equal(first, second)
    assert first.shape == (len(traces), len(CLASSIFIED_WORKLOADS))
    assert np.allclose(first.sum(axis=1), 1.0)


def test_features_come_from_one_chips_windows_only() -> None:
    """A trace shorter than the minimum, or mixing chips, is refused with a DetectionError."""
    traces, labels = simulated_traces(range(1), windows=6, chips=1)
    assert labels == list(CLASSIFIED_WORKLOADS)
    assert workload_features(traces[0]).shape == (len(WORKLOAD_FEATURES),)
    with pytest.raises(DetectionError, match="at least"):
        workload_features(traces[0][:3])
    with pytest.raises(DetectionError, match="one chip"):
        workload_features(traces[0][:3] + traces[1][:3])


def test_overlapping_seed_ranges_are_refused() -> None:
    """Measuring on seeds the classifier was fitted on is refused."""
    with pytest.raises(DetectionError, match="disjoint"):
        evaluate_workload_classification(range(0, 3), range(2, 4))


@pytest.mark.parametrize("kind", list(AdversarialKind))
def test_adversarial_traces_are_chained_and_signed_by_the_chip_key(kind: AdversarialKind) -> None:
    """Disguised training lines are chip-signed records, in seq order, of training chips."""
    by_chip = adversarial_traces(kind, chips=2, windows=5, seed=7)
    assert len(by_chip) == 2
    for index, (chip_id, lines) in enumerate(sorted(by_chip.items())):
        records = records_of(lines)
        assert [r.seq for r in records] == list(range(5))
        assert {r.chip_id for r in records} == {chip_id}
        public = chip_private_key(7, index).public_key()
        for line in lines:
            parsed = parse_line(line)
            public.verify(parsed.signature, DOMAIN + parsed.record_bytes)
        if kind is AdversarialKind.MISTAGGED:
            assert all(r.run_id not in (None, "run-adv-mistagged") for r in records)
        if kind is AdversarialKind.THROTTLED:
            assert max(r.tensor_active for r in records) < 0.3


def test_importing_detect_does_not_load_scikit_learn() -> None:
    """scikit-learn is loaded only when a classifier is fitted, not by importing the package."""
    code = "import sys, pausewatch.detect; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_labels_are_the_simulators_workloads() -> None:
    """The classes are exactly the simulator's workloads, training first."""
    assert CLASSIFIED_WORKLOADS == (Workload.TRAINING, Workload.INFERENCE, Workload.IDLE)


def test_a_fit_that_has_seen_throttled_training_catches_it() -> None:
    """Fitted also on throttled training of the fit seeds, the forest calls held-out throttled
    training training, and still calls held-out serving inference."""
    report = evaluate_workload_classification(
        range(0, 6),
        range(200, 204),
        windows=20,
        adversarial_chips=3,
        fit_disguised=(AdversarialKind.THROTTLED,),
    )
    assert report.adversarial_recall(AdversarialKind.THROTTLED.value) >= 0.9
    assert report.recall(Workload.INFERENCE) >= 0.85


# -- the compiled forest: the forest's own answers, bit for bit -----------------------------


@pytest.fixture(scope="module")
def forest() -> Any:
    from pausewatch.detect import fitted_classifier

    return fitted_classifier().classifier._model


def _edges(forest: Any) -> np.ndarray:
    """Rows that sit on every split of every tree: at its threshold (as float32 rounds it) and
    the floats either side, the other features drawn at random."""
    rng = np.random.default_rng(7)
    rows = []
    for estimator in forest.estimators_:
        tree = estimator.tree_
        for node in np.flatnonzero(tree.children_left >= 0):
            at = np.float32(tree.threshold[node])
            for value in (np.nextafter(at, np.float32(-np.inf)), at, np.nextafter(at, np.inf)):
                row = rng.normal(size=len(WORKLOAD_FEATURES))
                row[tree.feature[node]] = value
                rows.append(row)
    return np.array(rows)


def test_the_compiled_forest_answers_as_the_forest_does(forest: Any) -> None:
    """On real traces' features, on rows that sit on every split (threshold and the floats next
    to it), on missing values and on wide random rows, the compiled forest's probabilities equal
    scikit-learn's exactly, and so do the classifier's."""
    from pausewatch.detect._classify import CompiledForest

    traces, _ = simulated_traces(range(200, 203), windows=12, chips=3)
    real = np.vstack([workload_features(t) for t in traces])
    rng = np.random.default_rng(1)
    missing = rng.normal(size=(64, len(WORKLOAD_FEATURES)))
    missing[rng.random(missing.shape) < 0.2] = np.nan
    compiled = CompiledForest.of(forest)
    for matrix in (real, _edges(forest), missing, rng.normal(scale=50, size=(256, 16))):
        ours = compiled.predict_proba(matrix)
        theirs = forest.predict_proba(matrix)
        assert ours.dtype == theirs.dtype
        assert ours.shape == theirs.shape
        assert np.array_equal(ours, theirs)
    classifier = fit_on_simulation(range(0, 2), windows=12)
    expected = np.zeros((len(traces), len(CLASSIFIED_WORKLOADS)))
    raw = classifier._model.predict_proba(real)
    for column, cls in enumerate(classifier._model.classes_):
        expected[:, int(cls)] = raw[:, column]
    assert np.array_equal(classifier.predict_proba(traces), expected)


def test_the_compiled_forest_refuses_what_the_forest_refuses(forest: Any) -> None:
    """An infinite feature (or one past float32's range) is refused, as scikit-learn refuses
    it; a forest that is not fitted cannot be compiled."""
    from pausewatch.detect._classify import CompiledForest

    compiled = CompiledForest.of(forest)
    for bad in (np.inf, -np.inf, 1e39):
        row = np.zeros((1, len(WORKLOAD_FEATURES)))
        row[0, 5] = bad
        with pytest.raises(ValueError, match="infinity"), np.errstate(over="ignore"):
            forest.predict_proba(row)  # its own cast of 1e39 to float32 overflows first
        with pytest.raises(DetectionError, match="infinite"):
            compiled.predict_proba(row)
    with pytest.raises(DetectionError, match="fitted"):
        CompiledForest.of(None)


def _random_trace(rng: np.random.Generator, chip: str, length: int) -> list[TelemetryRecord]:
    """Windows of wide-ranging signals, some of them flat zeros, in shuffled ``seq`` order."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    flat = rng.random() < 0.3  # a chip that sends nothing, uses no power: the zero branches
    records = []
    for seq in rng.permutation(length):
        begin = start + timedelta(seconds=60 * int(seq))
        scale = 0.0 if flat else float(10 ** rng.uniform(0, 12))
        records.append(
            TelemetryRecord(
                chip_id=chip,
                seq=int(seq),
                prev=None,
                window_start=begin,
                window_end=begin + timedelta(seconds=float(rng.choice([1, 60, 61.5]))),
                energy_j=0,
                power_w_avg=0.0 if flat else float(rng.uniform(0, 1000)),
                power_w_peak=0.0 if flat else float(rng.uniform(0, 2000)),
                tensor_active=float(rng.random()),
                sm_active=float(rng.random()),
                flop={},
                nvlink_tx_bytes=int(scale * rng.random()),
                nvlink_rx_bytes=int(scale * rng.random()),
                net_tx_bytes=int(scale * rng.random()),
                net_rx_bytes=int(scale * rng.random()),
                mem_used_bytes=int(scale * rng.random()),
                run_id=None,
                weights_digest=None,
                firmware_digest="",
            )
        )
    return records


def test_the_feature_matrix_equals_each_traces_features_bit_for_bit() -> None:
    """feature_matrix computes all traces of a length at once; every feature of every trace is
    the float workload_features gives for that trace alone: honest and disguised simulated
    traces of several lengths mixed in one call, and random ones (shuffled windows, flat zeros,
    values across twelve orders of magnitude, windows of different lengths)."""
    traces: list[list[TelemetryRecord]] = []
    for windows in (4, 7, 30, 61):
        traces += simulated_traces(range(windows, windows + 3), windows=windows, chips=3)[0]
    for kind in AdversarialKind:
        traces += [list(t) for t in disguised_traces(kind, range(2), windows=30, chips=2)]
    rng = np.random.default_rng(7)
    traces += [_random_trace(rng, f"chip-{i}", int(rng.integers(4, 70))) for i in range(200)]
    order = rng.permutation(len(traces))
    traces = [traces[i] for i in order]
    expected = np.vstack([workload_features(t) for t in traces])
    got = feature_matrix(traces)
    assert got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()  # NaNs included, had any arisen


def test_the_feature_matrix_is_exact_for_counters_past_what_a_float_or_64_bits_hold() -> None:
    """Counters past 2^53 (where float() rounds), past 2^62 (where two of them no longer add in
    64 bits) and past 2^64: the features are still those workload_features gives, bit for bit
    (the counters are read in 64-bit integers where they fit, as Python's ints otherwise)."""
    rng = np.random.default_rng(11)
    traces = []
    for n, big in enumerate((2**53 + 1, 2**62 - 1, 2**62 + 3, 2**63 + 5, 2**64 + 7)):
        trace = _random_trace(rng, f"big-{n}", 8)
        trace[3] = trace[3]._replace(nvlink_tx_bytes=big, nvlink_rx_bytes=big, mem_used_bytes=big)
        traces.append(trace)
    for trace in traces:
        expected = workload_features(trace)
        got = feature_matrix([trace, *traces[:1]])[0]
        assert got.tobytes() == np.asarray(expected, dtype=np.float64).tobytes()
    expected_all = np.vstack([workload_features(t) for t in traces])
    assert feature_matrix(traces).tobytes() == expected_all.tobytes()


def test_the_feature_matrix_refuses_what_workload_features_refuses() -> None:
    """No traces, a short trace or one mixing chips anywhere in the call: a DetectionError."""
    traces, _ = simulated_traces(range(1), windows=6, chips=1)
    with pytest.raises(DetectionError, match="no traces"):
        feature_matrix([])
    with pytest.raises(DetectionError, match="at least"):
        feature_matrix([traces[0], traces[1][:3]])
    with pytest.raises(DetectionError, match="one chip"):
        feature_matrix([traces[0], traces[0][:3] + traces[1][:3]])
