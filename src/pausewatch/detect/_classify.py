"""Workload classification: training, inference or idle from a chip's own telemetry signals.

Features (:data:`WORKLOAD_FEATURES`) are computed per chip over a sequence of its windows,
from signals the record carries only: tensor and SM activity, board power (mean, spread, the
peak-to-mean ratio, the strength of its strongest period), memory held, NVLink and network
bytes per second (level, spread, the strength of the all-reduce rhythm, the send/receive
balance). The declared ``run_id`` and the self-reported FLOP are left out on purpose: the
classifier is a second opinion on what the chip says it does, so it must not read the claim.

The model is scikit-learn's random forest with a fixed ``random_state`` and one job, so the
same traces give the same model. scikit-learn is imported inside the functions that need it,
so importing :mod:`pausewatch.detect` does not pay its load time. See ADR 0027.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pausewatch.errors import DetectionError
from pausewatch.simulate import ClusterSpec, Workload, simulate_fleet
from pausewatch.simulate.adversarial import AdversarialKind, adversarial_traces
from pausewatch.telemetry import TelemetryRecord, parse_line

WORKLOAD_FEATURES: tuple[str, ...] = (
    "tensor_mean",
    "tensor_std",
    "sm_mean",
    "power_log_mean",
    "power_cv",
    "power_peak_ratio",
    "power_period_strength",
    "memory_log_mean",
    "memory_cv",
    "nvlink_log_mean",
    "nvlink_cv",
    "nvlink_period_strength",
    "net_log_mean",
    "net_cv",
    "net_period_strength",
    "net_tx_rx_ratio",
)
"""Names of the features :func:`workload_features` returns, in order."""

CLASSIFIED_WORKLOADS: tuple[Workload, ...] = (Workload.TRAINING, Workload.INFERENCE, Workload.IDLE)
"""Classes in the order of :meth:`WorkloadClassifier.predict_proba` columns and the matrix."""

MIN_WINDOWS = 4
"""Fewest windows a trace needs (a period needs a few samples to show)."""

_MODELS = ("H100 SXM", "H200", "A100 SXM")


def _period_strength(series: npt.NDArray[np.float64]) -> float:
    """Share of the varying part's power in its strongest non-zero frequency (0 for flat)."""
    spectrum = np.abs(np.fft.rfft(series - series.mean()))[1:] ** 2
    total = float(spectrum.sum())
    return float(spectrum.max() / total) if total > 0 else 0.0


def _cv(series: npt.NDArray[np.float64]) -> float:
    mean = float(series.mean())
    return float(series.std() / mean) if mean > 0 else 0.0


def workload_features(records: Sequence[TelemetryRecord]) -> npt.NDArray[np.float64]:
    """The feature vector of one chip's windows (in ``seq`` order), named by WORKLOAD_FEATURES.

    Raises :class:`DetectionError` for fewer than :data:`MIN_WINDOWS` records or records of
    more than one chip.
    """
    if len(records) < MIN_WINDOWS:
        raise DetectionError(f"a trace needs at least {MIN_WINDOWS} windows, got {len(records)}")
    if len({r.chip_id for r in records}) != 1:
        raise DetectionError("a trace is the windows of one chip")
    ordered = sorted(records, key=lambda r: r.seq)
    secs = np.array([r.window_s for r in ordered])
    tensor = np.array([r.tensor_active for r in ordered])
    sm = np.array([r.sm_active for r in ordered])
    power = np.array([r.power_w_avg for r in ordered])
    peak = np.array([r.power_w_peak for r in ordered])
    memory = np.array([float(r.mem_used_bytes) for r in ordered])
    nvlink = np.array([float(r.nvlink_tx_bytes + r.nvlink_rx_bytes) for r in ordered]) / secs
    net_tx = np.array([float(r.net_tx_bytes) for r in ordered]) / secs
    net_rx = np.array([float(r.net_rx_bytes) for r in ordered]) / secs
    net = net_tx + net_rx
    return np.array(
        [
            tensor.mean(),
            tensor.std(),
            sm.mean(),
            np.log1p(power).mean(),
            _cv(power),
            float((peak / np.maximum(power, 1e-9)).mean()),
            _period_strength(power),
            np.log1p(memory).mean(),
            _cv(memory),
            np.log1p(nvlink).mean(),
            _cv(nvlink),
            _period_strength(nvlink),
            np.log1p(net).mean(),
            _cv(net),
            _period_strength(net),
            float(np.log1p(net_tx.sum()) - np.log1p(net_rx.sum())),
        ],
        dtype=np.float64,
    )


def records_of(lines: Sequence[bytes]) -> list[TelemetryRecord]:
    """The checked records of signed lines (signatures are the verifier's business)."""
    return [parse_line(line).record for line in lines]


class WorkloadClassifier:
    """A random forest over :func:`workload_features`; deterministic for given traces."""

    def __init__(self, *, n_estimators: int = 200, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.random_state = random_state
        self._model: Any = None
        self._forest: CompiledForest | None = None

    def fit(
        self, traces: Sequence[Sequence[TelemetryRecord]], labels: Sequence[Workload]
    ) -> WorkloadClassifier:
        """Fit on chip traces and their true workloads; returns ``self``."""
        from sklearn.ensemble import RandomForestClassifier

        if len(traces) != len(labels) or not traces:
            raise DetectionError("fit: expected as many labels as traces, and at least one")
        model = RandomForestClassifier(
            n_estimators=self.n_estimators, random_state=self.random_state, n_jobs=1
        )
        model.fit(feature_matrix(traces), [CLASSIFIED_WORKLOADS.index(w) for w in labels])
        self._model = model
        self._forest = None
        return self

    def _compiled(self) -> CompiledForest:
        forest = getattr(self, "_forest", None)  # absent on one unpickled from an older version
        if forest is None:
            forest = self._forest = CompiledForest.of(self._model)
        return forest

    def predict_proba(self, traces: Sequence[Sequence[TelemetryRecord]]) -> npt.NDArray[np.float64]:
        """Per trace, the probability of each of :data:`CLASSIFIED_WORKLOADS`, columns in order."""
        return self.predict_proba_features(feature_matrix(traces))

    def predict_proba_features(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """:meth:`predict_proba` of traces whose feature vectors are the rows of ``matrix``
        (:func:`feature_matrix`, or :func:`column_features` of their columns)."""
        if self._model is None:
            raise DetectionError("the classifier is not fitted")
        raw = self._compiled().predict_proba(matrix)
        out = np.zeros((len(matrix), len(CLASSIFIED_WORKLOADS)))
        for column, cls in enumerate(self._model.classes_):
            out[:, int(cls)] = raw[:, column]
        return out

    def predict(self, traces: Sequence[Sequence[TelemetryRecord]]) -> list[Workload]:
        """The most probable workload of each trace."""
        return [CLASSIFIED_WORKLOADS[int(i)] for i in self.predict_proba(traces).argmax(axis=1)]


class CompiledForest:
    """A fitted scikit-learn random forest's trees as flat arrays, walked for every tree and
    sample at once: :meth:`predict_proba` equals the forest's own bit for bit.

    scikit-learn walks one tree after another, each a Python call with its input checks, some
    40 µs a tree: 8 ms for the classifier's 200 shallow trees whatever the number of traces,
    paid on every read of the policy's facts after a cluster's signals change. Here each level
    of every tree is a few array operations. The results are the forest's exactly: samples are
    taken as float32, as the trees compare them (``x <= threshold``, a missing value going
    where the node says), each tree's leaf holds the class fractions the tree itself returns,
    and the trees' fractions are summed in the forest's order, then divided by their number.
    """

    def __init__(
        self,
        roots: npt.NDArray[np.intp],
        left: npt.NDArray[np.intp],
        right: npt.NDArray[np.intp],
        feature: npt.NDArray[np.intp],
        threshold: npt.NDArray[np.float64],
        missing_left: npt.NDArray[np.bool_],
        value: npt.NDArray[np.float64],
        depth: int,
    ) -> None:
        self.roots = roots
        self.left = left
        self.right = right
        self.feature = feature
        self.threshold = threshold
        self.missing_left = missing_left
        self.value = value
        self.depth = depth

    @classmethod
    def of(cls, model: Any) -> CompiledForest:
        """The trees of a fitted ``RandomForestClassifier`` (one output)."""
        if model is None or getattr(model, "n_outputs_", 1) != 1:
            raise DetectionError("expected a fitted random forest with one output")
        classes = int(model.n_classes_)
        roots, left, right, feature, threshold, missing, value = [], [], [], [], [], [], []
        offset = 0
        for estimator in model.estimators_:
            tree = estimator.tree_
            leaf = tree.children_left < 0
            nodes = np.arange(tree.node_count, dtype=np.intp) + offset
            roots.append(offset)
            # A leaf points at itself: walking past it changes nothing.
            left.append(np.where(leaf, nodes, tree.children_left + offset))
            right.append(np.where(leaf, nodes, tree.children_right + offset))
            feature.append(np.where(leaf, 0, tree.feature))
            threshold.append(np.asarray(tree.threshold, dtype=np.float64))
            missing.append(np.asarray(tree.missing_go_to_left, dtype=bool))
            value.append(np.asarray(tree.value[:, 0, :classes], dtype=np.float64))
            offset += tree.node_count
        return cls(
            roots=np.asarray(roots, dtype=np.intp),
            left=np.concatenate(left).astype(np.intp),
            right=np.concatenate(right).astype(np.intp),
            feature=np.concatenate(feature).astype(np.intp),
            threshold=np.concatenate(threshold),
            missing_left=np.concatenate(missing),
            value=np.concatenate(value),
            depth=max(int(e.tree_.max_depth) for e in model.estimators_),
        )

    def predict_proba(self, matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Per row of ``matrix`` (features), the mean of the trees' class fractions."""
        # The trees split on float32 inputs (scikit-learn's DTYPE), compared as doubles.
        with np.errstate(over="ignore"):  # past float32's range: infinite, refused below
            x = np.asarray(matrix, dtype=np.float32).astype(np.float64)
        if np.isinf(x).any():  # as the forest refuses it (a missing value, NaN, is taken)
            raise DetectionError("a feature is infinite or too large for float32")
        samples = np.arange(x.shape[0])
        node = np.repeat(self.roots[:, None], x.shape[0], axis=1)  # (trees, samples)
        for _ in range(self.depth):
            value = x[samples[None, :], self.feature[node]]
            go_left = np.where(
                np.isnan(value), self.missing_left[node], value <= self.threshold[node]
            )
            node = np.where(go_left, self.left[node], self.right[node])
        leaves = self.value[node]  # (trees, samples, classes)
        total = np.zeros(leaves.shape[1:], dtype=np.float64)
        for fractions in leaves:  # in the forest's order: the same sums, rounded alike
            total += fractions
        total /= len(self.roots)
        return total


def feature_matrix(traces: Sequence[Sequence[TelemetryRecord]]) -> npt.NDArray[np.float64]:
    """The feature vectors of ``traces``, one row each: equal bit for bit to
    ``np.vstack([workload_features(t) for t in traces])``, computed for all the traces of one
    length at once.

    :func:`workload_features` makes some forty NumPy calls a trace; a cluster's verdict reads
    32 traces, recomputed on a read of the policy whenever a batch of the cluster's changes
    its signals (docs/adr/0054). Here each call covers every trace of a length, one row per
    trace: NumPy reduces each row of a C-contiguous matrix along its last axis as it reduces
    the same values alone, and transforms each row as it transforms the row alone, so every
    feature is the float :func:`workload_features` gives (tests/detect/test_classify.py
    compares them on simulated, disguised and random traces).
    """
    if not traces:
        raise DetectionError("no traces to compute features of")
    ordered: list[list[TelemetryRecord]] = []
    for trace in traces:
        if len(trace) < MIN_WINDOWS:
            raise DetectionError(f"a trace needs at least {MIN_WINDOWS} windows, got {len(trace)}")
        if len({r.chip_id for r in trace}) != 1:
            raise DetectionError("a trace is the windows of one chip")
        ordered.append(sorted(trace, key=lambda r: r.seq))
    out = np.empty((len(ordered), len(WORKLOAD_FEATURES)), dtype=np.float64)
    by_length: dict[int, list[int]] = {}
    for row, trace in enumerate(ordered):
        by_length.setdefault(len(trace), []).append(row)
    for rows in by_length.values():
        out[rows] = _same_length_features([ordered[i] for i in rows])
    return out


def _same_length_features(traces: list[list[TelemetryRecord]]) -> npt.NDArray[np.float64]:
    """:func:`workload_features` of traces of one length, in ``seq`` order, one row each."""
    flat = [r for t in traces for r in t]
    shape = (len(traces), len(traces[0]))

    def column(values: list[float]) -> npt.NDArray[np.float64]:
        return np.array(values, dtype=np.float64).reshape(shape)  # C-contiguous rows

    return column_features(
        column([r.window_s for r in flat]),
        column([r.tensor_active for r in flat]),
        column([r.sm_active for r in flat]),
        column([r.power_w_avg for r in flat]),
        column([r.power_w_peak for r in flat]),
        column([float(r.mem_used_bytes) for r in flat]),
        column([float(r.nvlink_tx_bytes + r.nvlink_rx_bytes) for r in flat]),
        column([float(r.net_tx_bytes) for r in flat]),
        column([float(r.net_rx_bytes) for r in flat]),
    )


def column_features(
    secs: npt.NDArray[np.float64],
    tensor: npt.NDArray[np.float64],
    sm: npt.NDArray[np.float64],
    power: npt.NDArray[np.float64],
    peak: npt.NDArray[np.float64],
    memory: npt.NDArray[np.float64],
    nvlink_bytes: npt.NDArray[np.float64],
    net_tx_bytes: npt.NDArray[np.float64],
    net_rx_bytes: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """The feature vectors of traces of one length from their columns, one row a trace and one
    column a window (in ``seq`` order), each a C-contiguous float64 matrix: the window's
    seconds, tensor and SM activity, mean and peak power, memory held, NVLink bytes sent and
    received, network bytes sent, received. A matrix that is C-contiguous reduces each row as
    :func:`workload_features` reduces the trace alone (:func:`feature_matrix`)."""
    nvlink = nvlink_bytes / secs
    net_tx = net_tx_bytes / secs
    net_rx = net_rx_bytes / secs
    net = net_tx + net_rx
    return np.column_stack(
        [
            tensor.mean(axis=1),
            tensor.std(axis=1),
            sm.mean(axis=1),
            np.log1p(power).mean(axis=1),
            _rows_cv(power),
            (peak / np.maximum(power, 1e-9)).mean(axis=1),
            _rows_period_strength(power),
            np.log1p(memory).mean(axis=1),
            _rows_cv(memory),
            np.log1p(nvlink).mean(axis=1),
            _rows_cv(nvlink),
            _rows_period_strength(nvlink),
            np.log1p(net).mean(axis=1),
            _rows_cv(net),
            _rows_period_strength(net),
            np.log1p(net_tx.sum(axis=1)) - np.log1p(net_rx.sum(axis=1)),
        ]
    )


def _rows_cv(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """:func:`_cv` of each row."""
    mean = rows.mean(axis=1)
    std = rows.std(axis=1)
    out = np.zeros(len(rows))
    positive = mean > 0
    out[positive] = std[positive] / mean[positive]
    return out


def _rows_period_strength(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """:func:`_period_strength` of each row."""
    centred = rows - rows.mean(axis=1, keepdims=True)
    spectrum = np.abs(np.fft.rfft(centred, axis=1))[:, 1:] ** 2
    total = spectrum.sum(axis=1)
    out = np.zeros(len(rows))
    positive = total > 0
    out[positive] = spectrum.max(axis=1)[positive] / total[positive]
    return out


def simulated_traces(
    seeds: Sequence[int], *, windows: int = 30, chips: int = 4
) -> tuple[list[list[TelemetryRecord]], list[Workload]]:
    """Honest traces of the fleet simulator, one per chip, and their true workloads.

    Each seed makes one fleet of ``chips`` chips per workload; the chip models and the
    all-reduce interval (3-8 windows) rotate with the seed, so a fit sees several of each.
    """
    traces: list[list[TelemetryRecord]] = []
    labels: list[Workload] = []
    for seed in seeds:
        clusters = tuple(
            ClusterSpec(
                f"c{i}",
                "operator-1",
                _MODELS[(seed + i) % len(_MODELS)],
                chips,
                workload,
                allreduce_every=3 + seed % 6,
            )
            for i, workload in enumerate(CLASSIFIED_WORKLOADS)
        )
        fleet = simulate_fleet(clusters, windows=windows, seed=seed)
        by_chip: dict[str, list[TelemetryRecord]] = {}
        for line in fleet.lines:
            record = parse_line(line).record
            by_chip.setdefault(record.chip_id, []).append(record)
        workload_of = {c.cluster_id: c.workload for c in clusters}
        for chip_id in sorted(by_chip):
            traces.append(by_chip[chip_id])
            labels.append(workload_of[chip_id.split("/", 1)[0]])
    return traces, labels


def disguised_traces(
    kind: AdversarialKind, seeds: Sequence[int], *, windows: int = 30, chips: int = 4
) -> list[list[TelemetryRecord]]:
    """Traces of training disguised as ``kind``, ``chips`` per seed (all truly training)."""
    return [
        records_of(lines)
        for seed in seeds
        for lines in adversarial_traces(
            kind,
            chips=chips,
            windows=windows,
            seed=seed,
            model=_MODELS[seed % len(_MODELS)],
            allreduce_every=3 + seed % 6,
        ).values()
    ]


def fit_on_simulation(
    seeds: Sequence[int],
    *,
    windows: int = 30,
    random_state: int = 0,
    disguised: Sequence[AdversarialKind] = (),
) -> WorkloadClassifier:
    """A classifier fitted on :func:`simulated_traces` of ``seeds``.

    ``disguised`` adds, for each kind named, :func:`disguised_traces` of the same seeds,
    labelled training: a fit that has seen the disguise.
    """
    traces, labels = simulated_traces(seeds, windows=windows)
    for kind in disguised:
        extra = disguised_traces(kind, seeds, windows=windows)
        traces += extra
        labels += [Workload.TRAINING] * len(extra)
    return WorkloadClassifier(random_state=random_state).fit(traces, labels)


@dataclass(frozen=True)
class WorkloadReport:
    """How a classifier fitted on one seed range fared on another, and on disguised training."""

    fit_seeds: range
    """Seeds of the honest traces it was fitted on."""
    test_seeds: range
    """Seeds of the held-out honest and adversarial traces (disjoint from ``fit_seeds``)."""
    windows: int
    """Windows per trace."""
    confusion: tuple[tuple[int, ...], ...]
    """Held-out honest traces: rows true, columns predicted, in CLASSIFIED_WORKLOADS order."""
    adversarial: dict[str, tuple[int, int]]
    """Per adversarial kind: (traces called training, traces), all of them truly training."""

    def recall(self, workload: Workload) -> float:
        """Share of held-out honest traces of ``workload`` classified as such."""
        row = self.confusion[CLASSIFIED_WORKLOADS.index(workload)]
        return row[CLASSIFIED_WORKLOADS.index(workload)] / sum(row) if sum(row) else 0.0

    def accuracy(self) -> float:
        """Share of held-out honest traces classified correctly."""
        total = sum(sum(row) for row in self.confusion)
        return sum(self.confusion[i][i] for i in range(len(CLASSIFIED_WORKLOADS))) / total

    def adversarial_recall(self, kind: str) -> float:
        """Share of ``kind``'s traces (all training) classified as training."""
        hit, total = self.adversarial[kind]
        return hit / total if total else 0.0

    def table(self) -> str:
        """The report as plain text: recalls, the confusion matrix, the seed ranges."""

        def span(r: range) -> str:
            return f"{r.start}..{r.stop - 1}"

        lines = [
            f"fitted on seeds {span(self.fit_seeds)}, measured on seeds "
            f"{span(self.test_seeds)}, {self.windows} one-minute windows per chip trace",
            "",
            f"{'true class':<22}{'traces':>8}{'recall':>9}",
        ]
        for w in CLASSIFIED_WORKLOADS:
            n = sum(self.confusion[CLASSIFIED_WORKLOADS.index(w)])
            lines.append(f"{w.value:<22}{n:>8}{self.recall(w):>9.3f}")
        for kind, (_, total) in self.adversarial.items():
            label = f"training ({kind})"
            lines.append(f"{label:<22}{total:>8}{self.adversarial_recall(kind):>9.3f}")
        lines += ["", "confusion (rows true, columns predicted):"]
        lines.append(f"{'':<12}" + "".join(f"{w.value:>11}" for w in CLASSIFIED_WORKLOADS))
        for w, row in zip(CLASSIFIED_WORKLOADS, self.confusion, strict=True):
            lines.append(f"{w.value:<12}" + "".join(f"{n:>11}" for n in row))
        lines.append(f"accuracy on held-out honest traces: {self.accuracy():.3f}")
        return "\n".join(lines)


Predictor = Callable[[Sequence[Sequence[TelemetryRecord]]], list[Workload]]
"""Anything that names the workload of each chip trace (a fitted classifier's ``predict``)."""


def evaluate_workload_classification(
    fit_seeds: range,
    test_seeds: range,
    *,
    windows: int = 30,
    adversarial_chips: int = 4,
    predictor: Predictor | None = None,
    fit_disguised: Sequence[AdversarialKind] = (),
) -> WorkloadReport:
    """Fit on ``fit_seeds``, measure on ``test_seeds`` (honest and every AdversarialKind).

    ``predictor`` replaces the fitted classifier (a reference rule measured on the same traces);
    ``fit_disguised`` names disguises the fit also sees (from the fit seeds, labelled training).
    The seed ranges must be disjoint either way.
    """
    if set(fit_seeds) & set(test_seeds):
        raise DetectionError("fit and test seed ranges must be disjoint")
    predict = (
        predictor or fit_on_simulation(fit_seeds, windows=windows, disguised=fit_disguised).predict
    )
    traces, labels = simulated_traces(test_seeds, windows=windows)
    predicted = predict(traces)
    confusion = [[0] * len(CLASSIFIED_WORKLOADS) for _ in CLASSIFIED_WORKLOADS]
    for truth, guess in zip(labels, predicted, strict=True):
        confusion[CLASSIFIED_WORKLOADS.index(truth)][CLASSIFIED_WORKLOADS.index(guess)] += 1
    adversarial: dict[str, tuple[int, int]] = {}
    for kind in AdversarialKind:
        kind_traces = disguised_traces(kind, test_seeds, windows=windows, chips=adversarial_chips)
        calls = predict(kind_traces)
        adversarial[kind.value] = (sum(c is Workload.TRAINING for c in calls), len(calls))
    return WorkloadReport(
        fit_seeds=fit_seeds,
        test_seeds=test_seeds,
        windows=windows,
        confusion=tuple(tuple(row) for row in confusion),
        adversarial=adversarial,
    )
