"""Training suspected: the workload classifier as a detector over a cluster's windows that claim
no training (docs/adr/0032; the classifier is ADR 0027's).

A cluster's windows *claim no training* when they name no run, or name (or fall within) an
inference or serving workload its operator declared on the cluster (``workload.declare/v1``).
Each chip's such windows, in ``seq`` order, are cut into consecutive stretches of
:data:`SUSTAINED_WINDOWS` windows (a shorter remainder is left out: too short to show a
rhythm); each stretch is one trace, and the classifier's probability of training decides it at
:data:`CONFIDENCE`. What the cluster's verdict carries (traces, chip-windows, traces called
training, the classifier's measured recall and false-positive rate) becomes a policy fact; the
policy decides what share of a cluster is enough.

The classifier is fitted once per process (:func:`fitted_classifier`) on simulated traces of a
fixed seed range (:data:`FIT_SEEDS`, with throttled training among them, labelled training) and
measured on another (:data:`MEASURE_SEEDS`): never on the log under evaluation, so that what it
finds on one log does not depend on that log.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from pausewatch.detect._classify import (
    CLASSIFIED_WORKLOADS,
    WorkloadClassifier,
    column_features,
    disguised_traces,
    feature_matrix,
    fit_on_simulation,
    simulated_traces,
)
from pausewatch.simulate import Workload
from pausewatch.simulate.adversarial import AdversarialKind
from pausewatch.telemetry import Signal, TelemetryRecord, signal_values

FIT_SEEDS = range(0, 20)
"""Seeds of the simulated traces the classifier is fitted on (ADR 0027's fit range)."""
MEASURE_SEEDS = range(1000, 1010)
"""Seeds of the held-out traces its recall and false-positive rate are measured on."""
FIT_DISGUISED: tuple[AdversarialKind, ...] = (AdversarialKind.THROTTLED,)
"""Disguises the fit also sees, labelled training (ADR 0027: unseen, throttled training is
caught by accident or not at all)."""
MEASURED_DISGUISED: tuple[AdversarialKind, ...] = (
    AdversarialKind.THROTTLED,
    AdversarialKind.MISTAGGED,
)
"""Disguised training counted in the measured recall. Training *shaped* like inference is left
out: by construction telemetry cannot tell it from inference (ADR 0027); meters and inspections
answer it."""
CONFIDENCE = 0.8
"""The probability of training from which a trace is called training."""
SUSTAINED_WINDOWS = 30
"""Windows in one trace: the length of the fit's traces (30 one-minute windows)."""
CLAIMING_NO_TRAINING = frozenset({"inference", "serving"})
"""Kinds of declared workload whose windows claim no training."""

_TRAINING = CLASSIFIED_WORKLOADS.index(Workload.TRAINING)


@dataclass(frozen=True)
class DeclaredWorkload:
    """A workload an operator declared on a cluster (``workload.declare/v1``)."""

    workload_id: str
    cluster_id: str
    kind: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class FittedClassifier:
    """The classifier the detector uses, with what it was fitted and measured on."""

    classifier: WorkloadClassifier
    recall: float
    """Share of held-out training traces (honest, and :data:`MEASURED_DISGUISED`) whose
    probability of training reaches :data:`CONFIDENCE`."""
    false_positive_rate: float
    """Share of held-out inference and idle traces whose probability of training reaches it."""
    fit_seeds: range
    measure_seeds: range

    def training_probability(self, traces: Sequence[Sequence[TelemetryRecord]]) -> list[float]:
        """Per trace, the probability of training."""
        return self.training_probability_features(feature_matrix(traces)) if traces else []

    def training_probability_features(self, matrix: npt.NDArray[np.float64]) -> list[float]:
        """Per row of ``matrix`` (a trace's feature vector), the probability of training."""
        if not len(matrix):
            return []
        return [float(p) for p in self.classifier.predict_proba_features(matrix)[:, _TRAINING]]


_fitted: list[FittedClassifier] = []
_fitting = threading.Lock()


def fitted_classifier() -> FittedClassifier:
    """The detector's classifier, fitted and measured once per process (a few seconds).

    Callers at the same time wait for the one fit instead of each fitting it."""
    with _fitting:
        if not _fitted:
            _fitted.append(_fit())
        return _fitted[0]


def prime_classifier(fitted: FittedClassifier) -> None:
    """Take the classifier :func:`fitted_classifier` gave in another process (the fit is the
    same from the same seeds), so that this process does not spend the seconds of its own fit:
    the service has a worker process fit it (docs/adr/0048-ingest-workers.md)."""
    with _fitting:
        if not _fitted:
            _fitted.append(fitted)


def _fit() -> FittedClassifier:
    classifier = fit_on_simulation(FIT_SEEDS, disguised=FIT_DISGUISED)
    traces, labels = simulated_traces(MEASURE_SEEDS)
    training = [t for t, w in zip(traces, labels, strict=True) if w is Workload.TRAINING]
    for kind in MEASURED_DISGUISED:
        training += disguised_traces(kind, MEASURE_SEEDS)
    others = [t for t, w in zip(traces, labels, strict=True) if w is not Workload.TRAINING]
    proba = classifier.predict_proba(training + others)[:, _TRAINING] >= CONFIDENCE
    hits, false = proba[: len(training)], proba[len(training) :]
    return FittedClassifier(
        classifier=classifier,
        recall=float(np.mean(hits)),
        false_positive_rate=float(np.mean(false)),
        fit_seeds=FIT_SEEDS,
        measure_seeds=MEASURE_SEEDS,
    )


@dataclass(frozen=True)
class ClusterVerdict:
    """What the classifier made of one cluster's windows that claim no training."""

    cluster_id: str
    traces: int
    windows: int
    training_traces: int
    first_window: datetime | None
    last_window: datetime | None
    workloads: tuple[str, ...]
    """Declared workloads the classified windows ran under."""
    recall: float
    false_positive_rate: float

    @property
    def share_training(self) -> float:
        """Share of the traces called training (0 with no trace)."""
        return self.training_traces / self.traces if self.traces else 0.0


class _Window(Protocol):
    """What the claims read of a window: a record or a signal."""

    @property
    def run_id(self) -> str | None: ...
    @property
    def window_start(self) -> datetime: ...


def _claim(record: _Window, workloads: Sequence[DeclaredWorkload]) -> tuple[bool, str | None]:
    """Whether the window claims no training, and the declared workload it runs under."""
    for w in workloads:
        if w.kind not in CLAIMING_NO_TRAINING:
            continue
        if record.run_id == w.workload_id:
            return True, w.workload_id
        if record.run_id is None and w.starts_at <= record.window_start < w.ends_at:
            return True, w.workload_id
    return record.run_id is None, None


def _stretches(records: list[TelemetryRecord]) -> list[list[TelemetryRecord]]:
    """One chip's windows cut into consecutive stretches of SUSTAINED_WINDOWS (by ``seq``)."""
    if records:
        first = records[0].seq
        if [r.seq for r in records] == list(range(first, first + len(records))):
            # Already in order, one window a seq and none missing (a chip's chain as sent): cut.
            whole = len(records) - len(records) % SUSTAINED_WINDOWS
            return [records[i : i + SUSTAINED_WINDOWS] for i in range(0, whole, SUSTAINED_WINDOWS)]
    out: list[list[TelemetryRecord]] = []
    current: list[TelemetryRecord] = []
    for r in sorted(records, key=lambda r: r.seq):
        if current and r.seq != current[-1].seq + 1:
            current = []
        current.append(r)
        if len(current) == SUSTAINED_WINDOWS:
            out.append(current)
            current = []
    return out


def classify_cluster(
    cluster_id: str,
    records: Iterable[TelemetryRecord],
    workloads: Sequence[DeclaredWorkload] = (),
    *,
    fitted: FittedClassifier | None = None,
) -> ClusterVerdict:
    """The verdict on ``cluster_id`` from its chips' ``records`` (of that cluster only) and the
    workloads declared on it (module docstring)."""
    mine = [w for w in workloads if w.cluster_id == cluster_id]
    by_chip: dict[str, list[TelemetryRecord]] = {}
    under: set[str] = set()
    for record in records:
        claims, workload = _claim(record, mine)
        if not claims:
            continue
        by_chip.setdefault(record.chip_id, []).append(record)
        if workload is not None:
            under.add(workload)
    traces = [s for chip in sorted(by_chip) for s in _stretches(by_chip[chip])]
    model = fitted or fitted_classifier()
    calls = [p >= CONFIDENCE for p in model.training_probability(traces)]
    starts = [r.window_start for t in traces for r in t]
    ends = [r.window_end for t in traces for r in t]
    return ClusterVerdict(
        cluster_id=cluster_id,
        traces=len(traces),
        windows=sum(len(t) for t in traces),
        training_traces=sum(calls),
        first_window=min(starts, default=None),
        last_window=max(ends, default=None),
        workloads=tuple(sorted(under)),
        recall=model.recall,
        false_positive_rate=model.false_positive_rate,
    )


_WIDTH = 9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _us(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


class _SignalWindow(NamedTuple):
    """One window of the fold's window signals, as the classifier reads it."""

    run_id: str | None
    window_start: datetime
    columns: tuple[float, ...]
    """The window's values in :func:`~pausewatch.detect._classify.column_features`' order."""
    ints: tuple[int, int, int, int]
    """``seq``, 1 when it names no run (else 0), start and end in microseconds since the epoch
    (exact: an accepted record's ``seq`` is at most 2^53 - 1, its times before the year 9000)."""


@functools.lru_cache(maxsize=1 << 14)
def _signal_window(window: Signal) -> _SignalWindow:
    """One window's signals (:func:`~pausewatch.telemetry.signal_values`), kept by its text: a
    batch adds a window to a sampled chip, and the chip's other windows are the ones the last
    verdict read. Each value is taken as :func:`classify_cluster`'s records hold it: the
    counters as integers, then as floats; NVLink as one count sent and received."""
    v = signal_values(window)
    start = datetime.fromisoformat(v[1])
    end = datetime.fromisoformat(v[2])
    columns = (
        (end - start).total_seconds(),
        float(v[4]),
        float(v[5]),
        float(v[6]),
        float(v[7]),
        float(int(v[8])),
        float(int(v[9])),
        float(int(v[10])),
        float(int(v[11])),
    )
    ints = (int(v[0]), int(v[3] is None), _us(start), _us(end))
    return _SignalWindow(v[3], start, columns, ints)


class _ChipWindows(NamedTuple):
    """One sampled chip's windows in its signals' order, as two arrays (read only)."""

    texts: tuple[Signal, ...]
    """The window texts they were made from."""
    ints: npt.NDArray[np.int64]
    """One row a window: :attr:`_SignalWindow.ints`."""
    columns: npt.NDArray[np.float64]
    """One row a window, in :func:`~pausewatch.detect._classify.column_features`' order."""


_CHIPS: dict[tuple[str, str], _ChipWindows] = {}
"""The last windows read of each sampled chip, by cluster and chip id."""
_CHIPS_KEPT = 2048
"""Chips kept: 128 clusters' 16 sampled chips, some 6.5 kB of arrays each (the texts kept are
the ``tel_signals`` row's own strings while the row stays as the last look read it)."""
_CHIPS_LOCK = threading.Lock()
_MAX_DROPPED = 8
"""Most windows a chip's signals may have dropped from their start since the last read and
still be read from the kept arrays: each batch drops one a chip past SIGNAL_WINDOWS."""


def _read_only(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.flags.writeable = False
    return array


def _windows_of(texts: tuple[Signal, ...]) -> _ChipWindows:
    """A chip's windows as arrays, each window's values read once (:func:`_signal_window`)."""
    ws = [_signal_window(t) for t in texts]
    return _ChipWindows(
        texts,
        _read_only(np.array([w.ints for w in ws], dtype=np.int64).reshape(len(ws), 4)),
        _read_only(np.array([w.columns for w in ws], dtype=np.float64).reshape(len(ws), _WIDTH)),
    )


def _chip_windows(cluster_id: str, chip: str, texts: tuple[Signal, ...]) -> _ChipWindows:
    """A sampled chip's windows as arrays, from the last read's where the signals only moved
    on: a batch adds windows at the end of a chip's signals and drops as many from their start
    (each label's latest SIGNAL_WINDOWS are kept), so the rest is the same texts, checked by
    identity or value. Anything else is read afresh."""
    key = (cluster_id, chip)
    kept = _CHIPS.get(key)
    if kept is not None and (kept.texts is texts or kept.texts == texts):
        return kept
    out: _ChipWindows | None = None
    if kept is not None:
        old = kept.texts
        for dropped in range(min(len(old), _MAX_DROPPED) + 1):
            common = len(old) - dropped
            if common <= len(texts) and texts[:common] == old[dropped:]:
                added = _windows_of(texts[common:])
                out = _ChipWindows(
                    texts,
                    _read_only(np.concatenate((kept.ints[dropped:], added.ints))),
                    _read_only(np.concatenate((kept.columns[dropped:], added.columns))),
                )
                break
    if out is None:
        out = _windows_of(texts)
    with _CHIPS_LOCK:  # readers look on several threads at once
        _CHIPS.pop(key, None)
        while len(_CHIPS) >= _CHIPS_KEPT:
            _CHIPS.pop(next(iter(_CHIPS)))
        _CHIPS[key] = out
    return out


def _cut(ints: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """:func:`_stretches` of every chip at once, by position: ``ints`` holds one row a claimed
    window (chip number, ``seq``), and the result is the positions of each chip's stretches'
    windows in turn (chips in their order, each in ``seq`` order, ties in their order: a stable
    sort, as ``sorted``). A stretch is SUSTAINED_WINDOWS windows that follow on by ``seq``;
    each run that follows on gives its whole stretches from its start."""
    n = len(ints)
    if n < SUSTAINED_WINDOWS:
        return np.empty(0, dtype=np.intp)
    order = np.lexsort((ints[:, 1], ints[:, 0]))  # by chip, then seq; stable
    chip, seq = ints[order, 0], ints[order, 1]
    starts = np.flatnonzero(np.concatenate(([True], (np.diff(seq) != 1) | (np.diff(chip) != 0))))
    lengths = np.diff(np.append(starts, n))
    run = np.repeat(np.arange(len(starts)), lengths)
    within = np.arange(n) - starts[run]
    keep = within < (lengths - lengths % SUSTAINED_WINDOWS)[run]
    out: npt.NDArray[np.intp] = np.asarray(order[keep], dtype=np.intp)
    return out


def classify_signals(
    cluster_id: str,
    signals: Mapping[str, Sequence[Signal]],
    workloads: Sequence[DeclaredWorkload] = (),
    *,
    fitted: FittedClassifier | None = None,
) -> ClusterVerdict:
    """:func:`classify_cluster` of the records the fold's window signals of ``cluster_id``
    stand for (``tel_signals``: per sampled chip, its latest windows; docs/adr/0032), equal to
    it field for field, without making a record of each window.

    A look at the policy computes this whenever a batch of the cluster's has changed its
    signals since the last look. Each chip's windows are kept as arrays between looks, and a
    look reads only the windows a batch added (:func:`_chip_windows`); the cut into stretches
    (:func:`_cut`) and the traces' columns are array operations over all the cluster's chips at
    once, and so are the claims unless a workload claiming no training is declared on the
    cluster (then each window is checked against the workloads: docs/adr/0062)."""
    mine = [w for w in workloads if w.cluster_id == cluster_id]
    claiming = any(w.kind in CLAIMING_NO_TRAINING for w in mine)
    under: set[str] = set()
    chips = [_chip_windows(cluster_id, chip, tuple(signals[chip])) for chip in sorted(signals)]
    model = fitted or fitted_classifier()
    take: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
    if chips:
        ints = np.concatenate([c.ints for c in chips])
        number = np.repeat(np.arange(len(chips)), [len(c.texts) for c in chips])
        if not claiming:  # a window claims no training when it names no run
            claimed = np.flatnonzero(ints[:, 1])
        else:
            positions = []
            for i, text in enumerate(chain.from_iterable(c.texts for c in chips)):
                claims, workload = _claim(_signal_window(text), mine)
                if claims:
                    positions.append(i)
                    if workload is not None:
                        under.add(workload)
            claimed = np.array(positions, dtype=np.intp)
        keyed = np.column_stack((number[claimed], ints[claimed, 0]))
        take = claimed[_cut(keyed)]
    if not len(take):
        return ClusterVerdict(
            cluster_id,
            0,
            0,
            0,
            None,
            None,
            tuple(sorted(under)),
            model.recall,
            model.false_positive_rate,
        )
    values = np.concatenate([c.columns for c in chips])[take]
    traces = len(take) // SUSTAINED_WINDOWS
    cube = values.reshape(traces, SUSTAINED_WINDOWS, _WIDTH)
    matrix = column_features(*(np.ascontiguousarray(cube[:, :, k]) for k in range(_WIDTH)))
    calls = [p >= CONFIDENCE for p in model.training_probability_features(matrix)]
    return ClusterVerdict(
        cluster_id=cluster_id,
        traces=traces,
        windows=len(take),
        training_traces=sum(calls),
        first_window=_EPOCH + int(ints[take, 2].min()) * _MICROSECOND,
        last_window=_EPOCH + int(ints[take, 3].max()) * _MICROSECOND,
        workloads=tuple(sorted(under)),
        recall=model.recall,
        false_positive_rate=model.false_positive_rate,
    )


__all__ = [
    "CLAIMING_NO_TRAINING",
    "CONFIDENCE",
    "FIT_DISGUISED",
    "FIT_SEEDS",
    "MEASURED_DISGUISED",
    "MEASURE_SEEDS",
    "SUSTAINED_WINDOWS",
    "ClusterVerdict",
    "DeclaredWorkload",
    "FittedClassifier",
    "classify_cluster",
    "classify_signals",
    "fitted_classifier",
    "prime_classifier",
]
