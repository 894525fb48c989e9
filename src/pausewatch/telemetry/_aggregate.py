"""Totals over accepted telemetry: per chip, per declared run and per cluster.

A batch's log entry carries its aggregate; the state's totals are the merge of every batch's.
So aggregates merge associatively and exactly: every figure is an integer (FLOP per precision,
joules, milliseconds of tensor activity, counts), a set (chip and cluster ids) or an extreme
(first and last window), never a float sum whose value would depend on the order of merging.
In JSON, FLOP counts are decimal strings (they exceed 2^53) and keys are sorted.

**Undeclared compute.** A window counts as undeclared compute when its record names no run
and its tensor pipes were busy at least :data:`UNDECLARED_TENSOR_ACTIVE` of the time. Training
at 35-45% of peak keeps them busy 60-80% of the time; serving and idle chips average under 30%
over a minute (decoding is memory-bound), so the threshold separates the two with margin on
both sides. All FLOP with no run stays visible apart as ``unattributed_flop``, so a policy can
judge windows below the threshold too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pausewatch.telemetry._record import TelemetryError, format_time
from pausewatch.telemetry._verify import AcceptedRecord

UNDECLARED_TENSOR_ACTIVE = 0.3
"""Tensor-pipe activity at or above which a window with no run counts as undeclared compute."""

SIGNAL_CHIPS = 16
"""Chips per cluster whose windows' signals an aggregate keeps: those whose ids have the
smallest SHA-256, so that every batch keeps the same ones (docs/adr/0032)."""
SIGNAL_WINDOWS = 60
"""Windows per sampled chip and run label (the run a window names, or none) whose signals an
aggregate keeps: the latest by ``seq``, two of the workload classifier's traces."""

Signal = str
"""One window's signals, as the workload classifier reads them: the compact JSON text of
``[seq, window_start, window_end, run_id, tensor_active, sm_active, power_w_avg, power_w_peak,
mem_used_bytes, nvlink_bytes, net_tx_bytes, net_rx_bytes]`` (times as RFC 3339 text, NVLink both
ways summed; :func:`signal_values` reads it). Text, not numbers, in the log entry and the view:
exact (a float's shortest repr round-trips), and a merge moves it without writing it again
(docs/adr/0032)."""

_INSTANT = timedelta(microseconds=1)
"""The smallest step of a time: a window's last instant is its end less this."""


def _add_flop(into: dict[str, int], flop: Mapping[str, int]) -> None:
    for precision, count in flop.items():
        into[precision] = into.get(precision, 0) + count


def _union(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    """``a | b``, and the very set ``a`` (or ``b``) when it holds the other: a batch's chips are
    most often all in the run's already, and the union of a run's set of chips with them would
    copy the whole set (issue 19 §5: work that grows with the fleet stays out of each batch)."""
    if len(b) <= len(a):
        return a if b <= a else a | b
    return b if a <= b else a | b


def _sum_flop(*parts: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in parts:
        _add_flop(out, part)
    return out


def _sum_per_model(*parts: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for part in parts:
        for model, flop in part.items():
            _add_flop(out.setdefault(model, {}), flop)
    return out


def _sum_counts(*parts: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in parts:
        for key, count in part.items():
            out[key] = out.get(key, 0) + count
    return out


def _object(data: Any) -> Iterable[tuple[Any, Any]]:
    if not isinstance(data, dict):
        raise TypeError("expected an object keyed by chip model")
    return data.items()


def _flop_json(flop: Mapping[str, int]) -> dict[str, str]:
    return {p: str(flop[p]) for p in sorted(flop)}


def _flop_from(data: Any) -> dict[str, int]:
    if not isinstance(data, dict):
        raise TypeError("flop must be an object")
    return {str(p): int(v) for p, v in data.items()}


@dataclass(frozen=True, slots=True)
class ChipTotals:
    """What one chip's accepted records add up to."""

    records: int
    """Accepted records (chip-windows)."""
    first_window_start: datetime
    """Start of its earliest accepted window."""
    last_window_end: datetime
    """End of its latest accepted window."""
    flop: Mapping[str, int]
    """Operations per precision."""
    energy_j: int
    """Energy between its accepted records (a chip's first record ever adds none: it has no
    earlier reading to subtract)."""
    tensor_active_ms: int
    """Milliseconds its tensor pipes were busy: sum of tensor_active x window (rounded per
    record)."""
    last_busy_end: datetime | None = None
    """End of its latest window with tensor activity at or above the undeclared-compute
    threshold, whatever run the record names (none: no such window, or an aggregate from
    before this figure was kept). Halt confirmation reads it (docs/adr/0020)."""

    def merge(self, other: ChipTotals) -> ChipTotals:
        """The totals of both sets of records."""
        busy = self.last_busy_end
        if other.last_busy_end is not None and (busy is None or other.last_busy_end > busy):
            busy = other.last_busy_end
        return ChipTotals(
            records=self.records + other.records,
            first_window_start=min(self.first_window_start, other.first_window_start),
            last_window_end=max(self.last_window_end, other.last_window_end),
            flop=_sum_flop(self.flop, other.flop),
            energy_j=self.energy_j + other.energy_j,
            tensor_active_ms=self.tensor_active_ms + other.tensor_active_ms,
            last_busy_end=busy,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping with sorted keys (``last_busy_end`` only when known, so that an
        idle chip's totals read as they did before the figure was kept)."""
        doc: dict[str, Any] = {
            "energy_j": self.energy_j,
            "first_window_start": format_time(self.first_window_start),
            "flop": _flop_json(self.flop),
            "last_window_end": format_time(self.last_window_end),
            "records": self.records,
            "tensor_active_ms": self.tensor_active_ms,
        }
        if self.last_busy_end is not None:
            doc["last_busy_end"] = format_time(self.last_busy_end)
        return dict(sorted(doc.items()))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChipTotals:
        """Inverse of :meth:`to_json`; an aggregate without ``last_busy_end`` (logged before it
        was kept) reads as none."""
        busy = data.get("last_busy_end")
        return cls(
            records=int(data["records"]),
            first_window_start=datetime.fromisoformat(data["first_window_start"]),
            last_window_end=datetime.fromisoformat(data["last_window_end"]),
            flop=_flop_from(data["flop"]),
            energy_j=int(data["energy_j"]),
            tensor_active_ms=int(data["tensor_active_ms"]),
            last_busy_end=None if busy is None else datetime.fromisoformat(busy),
        )


@dataclass(frozen=True, slots=True)
class RunTotals:
    """What the records naming one declared run add up to."""

    flop: Mapping[str, int]
    """Operations per precision."""
    chip_windows: int
    """Accepted records naming the run."""
    chips: frozenset[str]
    """Chips that worked on it."""
    clusters: frozenset[str]
    """Clusters those chips were installed in."""
    first_window_start: datetime
    """Start of the earliest window that named the run."""
    last_window_end: datetime
    """End of the latest window that named the run (with the first: its measured pace)."""

    def merge(self, other: RunTotals) -> RunTotals:
        """The totals of both sets of records."""
        return RunTotals(
            flop=_sum_flop(self.flop, other.flop),
            chip_windows=self.chip_windows + other.chip_windows,
            chips=_union(self.chips, other.chips),
            clusters=_union(self.clusters, other.clusters),
            first_window_start=min(self.first_window_start, other.first_window_start),
            last_window_end=max(self.last_window_end, other.last_window_end),
        )

    def to_json(self, *, sets: bool = True) -> dict[str, Any]:
        """A JSON-ready mapping with sorted keys and lists; without ``sets``, without the
        chips and clusters (the fold writes them as views of their own: ``tel_run_chips``,
        ``tel_run_clusters``; issue 19 §5)."""
        doc: dict[str, Any] = {
            "chip_windows": self.chip_windows,
            "first_window_start": format_time(self.first_window_start),
            "flop": _flop_json(self.flop),
            "last_window_end": format_time(self.last_window_end),
        }
        if sets:
            doc |= {"chips": sorted(self.chips), "clusters": sorted(self.clusters)}
        return dict(sorted(doc.items()))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunTotals:
        """Inverse of :meth:`to_json`."""
        return cls(
            flop=_flop_from(data["flop"]),
            chip_windows=int(data["chip_windows"]),
            chips=frozenset(str(c) for c in data["chips"]),
            clusters=frozenset(str(c) for c in data["clusters"]),
            first_window_start=datetime.fromisoformat(data["first_window_start"]),
            last_window_end=datetime.fromisoformat(data["last_window_end"]),
        )


@dataclass(frozen=True, slots=True)
class DayTotals:
    """What one cluster's chips did on one UTC day (windows counted by the day of their end):
    the inputs of the daily balances (docs/adr/0029)."""

    chip_windows: int
    """Accepted records whose window ended that day."""
    energy_j: int
    """Energy of those records (as the cluster's total counts it, except a chip's first record,
    which counts its mean power times its window)."""
    flop: Mapping[str, int]
    """All operations per precision."""
    unattributed_flop: Mapping[str, int]
    """Operations in windows that name no run."""
    busy_energy_j: int = 0
    """Energy of the records whose tensor pipes were busy at or above the undeclared-compute
    threshold, whatever run they name: the energy that paid for compute (ADR 0029)."""
    busy_flop: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Per chip model (the catalogue's name), operations per precision of those busy records:
    what the counters of the chips that did the busy work say they did (docs/adr/0033)."""
    busy_tensor_ms: Mapping[str, int] = field(default_factory=dict)
    """Per chip model, milliseconds the tensor pipes of those busy records were active
    (tensor_active x window, rounded per record): what the same chips' activity sensors say
    they did (docs/adr/0033). Its models are those of :attr:`busy_flop`."""

    def merge(self, other: DayTotals) -> DayTotals:
        """The totals of both sets of records."""
        return DayTotals(
            chip_windows=self.chip_windows + other.chip_windows,
            energy_j=self.energy_j + other.energy_j,
            flop=_sum_flop(self.flop, other.flop),
            unattributed_flop=_sum_flop(self.unattributed_flop, other.unattributed_flop),
            busy_energy_j=self.busy_energy_j + other.busy_energy_j,
            busy_flop=_sum_per_model(self.busy_flop, other.busy_flop),
            busy_tensor_ms=_sum_counts(self.busy_tensor_ms, other.busy_tensor_ms),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping with sorted keys (``busy_flop`` and ``busy_tensor_ms`` only when
        some window was busy, so that a day without any reads as it did before they were
        kept)."""
        doc: dict[str, Any] = {
            "busy_energy_j": self.busy_energy_j,
            "chip_windows": self.chip_windows,
            "energy_j": self.energy_j,
            "flop": _flop_json(self.flop),
            "unattributed_flop": _flop_json(self.unattributed_flop),
        }
        if self.busy_flop or self.busy_tensor_ms:
            doc["busy_flop"] = {m: _flop_json(self.busy_flop.get(m, {})) for m in self._models()}
            doc["busy_tensor_ms"] = {m: self.busy_tensor_ms.get(m, 0) for m in self._models()}
        return dict(sorted(doc.items()))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DayTotals:
        """Inverse of :meth:`to_json`."""
        return cls(
            chip_windows=int(data["chip_windows"]),
            energy_j=int(data["energy_j"]),
            flop=_flop_from(data["flop"]),
            unattributed_flop=_flop_from(data["unattributed_flop"]),
            busy_energy_j=int(data.get("busy_energy_j", 0)),
            busy_flop={str(m): _flop_from(f) for m, f in _object(data.get("busy_flop", {}))},
            busy_tensor_ms={str(m): int(ms) for m, ms in _object(data.get("busy_tensor_ms", {}))},
        )

    def _models(self) -> list[str]:
        return sorted(self.busy_flop.keys() | self.busy_tensor_ms.keys())


@dataclass(frozen=True, slots=True)
class ClusterTotals:
    """What one cluster's chips did, declared or not."""

    chip_windows: int
    """Accepted records from its chips."""
    chips: frozenset[str]
    """Chips that reported."""
    flop: Mapping[str, int]
    """All operations per precision."""
    energy_j: int
    """Energy of its chips between their accepted records."""
    unattributed_flop: Mapping[str, int]
    """Operations in windows that name no run (serving, idle, and undeclared training)."""
    undeclared_flop: Mapping[str, int]
    """Operations in windows that name no run with tensor activity at or above the threshold."""
    undeclared_windows: int
    """How many such windows."""
    days: Mapping[str, DayTotals] = field(default_factory=dict)
    """The same records per UTC day of their window's end (ISO date; none in an aggregate
    logged before the days were kept)."""
    signals: Mapping[str, tuple[Signal, ...]] = field(default_factory=dict)
    """Per sampled chip (:data:`SIGNAL_CHIPS`), the signals of its latest windows
    (:data:`SIGNAL_WINDOWS` per run label) in ``seq`` order: what the workload classifier
    reads (docs/adr/0032; none in an aggregate logged before they were kept)."""

    def merge(self, other: ClusterTotals) -> ClusterTotals:
        """The totals of both sets of records."""
        return ClusterTotals(
            chip_windows=self.chip_windows + other.chip_windows,
            chips=_union(self.chips, other.chips),
            flop=_sum_flop(self.flop, other.flop),
            energy_j=self.energy_j + other.energy_j,
            unattributed_flop=_sum_flop(self.unattributed_flop, other.unattributed_flop),
            undeclared_flop=_sum_flop(self.undeclared_flop, other.undeclared_flop),
            undeclared_windows=self.undeclared_windows + other.undeclared_windows,
            days=_merge_maps(self.days, other.days),
            signals=merge_signals(self.signals, other.signals),
        )

    def to_json(self, *, sets: bool = True) -> dict[str, Any]:
        """A JSON-ready mapping with sorted keys and lists (``days`` only when it holds any, so
        that totals without them read as they did before they were kept); without ``sets``,
        without the chips, the days and the signals (a view writes those apart)."""
        doc: dict[str, Any] = {
            "chip_windows": self.chip_windows,
            "energy_j": self.energy_j,
            "flop": _flop_json(self.flop),
            "unattributed_flop": _flop_json(self.unattributed_flop),
            "undeclared_flop": _flop_json(self.undeclared_flop),
            "undeclared_windows": self.undeclared_windows,
        }
        if not sets:
            return dict(sorted(doc.items()))
        doc["chips"] = sorted(self.chips)
        if self.days:
            doc["days"] = {d: self.days[d].to_json() for d in sorted(self.days)}
        if self.signals:
            doc["signals"] = signals_json(self.signals)
        return dict(sorted(doc.items()))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterTotals:
        """Inverse of :meth:`to_json`; an aggregate without ``days`` reads as none."""
        return cls(
            chip_windows=int(data["chip_windows"]),
            chips=frozenset(str(c) for c in data["chips"]),
            flop=_flop_from(data["flop"]),
            energy_j=int(data["energy_j"]),
            unattributed_flop=_flop_from(data["unattributed_flop"]),
            undeclared_flop=_flop_from(data["undeclared_flop"]),
            undeclared_windows=int(data["undeclared_windows"]),
            days={str(d): DayTotals.from_json(v) for d, v in data.get("days", {}).items()},
            signals=signals_from_json(data.get("signals", {})),
        )


@dataclass(frozen=True)
class Aggregate:
    """Totals per chip, per run and per cluster over a set of accepted records."""

    chips: Mapping[str, ChipTotals] = field(default_factory=dict)
    """Per chip id."""
    runs: Mapping[str, RunTotals] = field(default_factory=dict)
    """Per declared run id (records with no run are not here; see the clusters)."""
    clusters: Mapping[str, ClusterTotals] = field(default_factory=dict)
    """Per cluster id."""
    undeclared_tensor_active: float = UNDECLARED_TENSOR_ACTIVE
    """The threshold the undeclared figures were counted with; only equal ones merge."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping with sorted keys: equal aggregates give equal RFC 8785 bytes."""
        return {
            "chips": {c: self.chips[c].to_json() for c in sorted(self.chips)},
            "clusters": {c: self.clusters[c].to_json() for c in sorted(self.clusters)},
            "runs": {r: self.runs[r].to_json() for r in sorted(self.runs)},
            "undeclared_tensor_active": self.undeclared_tensor_active,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Aggregate:
        """Inverse of :meth:`to_json`; a malformed document is a TelemetryError."""
        try:
            return cls(
                chips={str(k): ChipTotals.from_json(v) for k, v in data["chips"].items()},
                runs={str(k): RunTotals.from_json(v) for k, v in data["runs"].items()},
                clusters={str(k): ClusterTotals.from_json(v) for k, v in data["clusters"].items()},
                undeclared_tensor_active=float(data["undeclared_tensor_active"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise TelemetryError(f"invalid telemetry aggregate: {exc!r}") from exc


def signal_chip_rank(chip_id: str) -> bytes:
    """The order in which an aggregate samples a cluster's chips for their signals: by the
    SHA-256 of the chip id, so that every batch keeps the same :data:`SIGNAL_CHIPS` (ADR 0032)."""
    return hashlib.sha256(chip_id.encode()).digest()


@functools.lru_cache(maxsize=1 << 16)
def signal_values(window: Signal) -> tuple[Any, ...]:
    """The values of one window's signals (:data:`Signal`); a malformed text is a TypeError."""
    values = json.loads(window)
    if not isinstance(values, list) or len(values) != 12:
        raise TypeError("a window's signals are the JSON text of a list of 12 values")
    return tuple(values)


def _order(w: Signal) -> tuple[Any, ...]:
    """A total order of windows: by ``seq``, then (for the same window sent twice, which an
    accepted chain never holds) by run label and text, so that no merge depends on its order."""
    values = signal_values(w)
    return (values[0], values[3] or "", w)


def _latest(windows: Iterable[Signal]) -> tuple[Signal, ...]:
    """The latest :data:`SIGNAL_WINDOWS` of each run label, in ``seq`` order."""
    by_label: dict[str, list[Signal]] = {}
    for w in sorted(windows, key=_order):
        by_label.setdefault(signal_values(w)[3] or "", []).append(w)
    kept = [w for ws in by_label.values() for w in ws[-SIGNAL_WINDOWS:]]
    return tuple(sorted(kept, key=_order))


def merge_signals(
    a: Mapping[str, tuple[Signal, ...]], b: Mapping[str, tuple[Signal, ...]]
) -> dict[str, tuple[Signal, ...]]:
    """Both sets of chips' window signals, bounded as one aggregate keeps them: the
    :data:`SIGNAL_CHIPS` chips of smallest id hash, and each one's latest windows. Associative
    and commutative, as the aggregate's merge must be."""
    if not b:
        return dict(a)
    if not a:
        return dict(b)
    chips = sorted(set(a) | set(b), key=signal_chip_rank)[:SIGNAL_CHIPS]
    out: dict[str, tuple[Signal, ...]] = {}
    for chip in chips:
        mine, theirs = a.get(chip, ()), b.get(chip, ())
        out[chip] = _latest((*mine, *theirs)) if mine and theirs else (mine or theirs)
    return out


def signals_json(signals: Mapping[str, tuple[Signal, ...]]) -> dict[str, list[str]]:
    """A JSON-ready mapping of chips' window signals (sorted chip ids)."""
    return {c: list(signals[c]) for c in sorted(signals)}


def signals_from_json(data: Any) -> dict[str, tuple[Signal, ...]]:
    """Inverse of :func:`signals_json`; each window's text is checked (:func:`signal_values`)."""
    if not isinstance(data, dict):
        raise TypeError("signals must be an object")
    out: dict[str, tuple[Signal, ...]] = {}
    for chip, windows in data.items():
        if not isinstance(windows, list) or not all(isinstance(w, str) for w in windows):
            raise TypeError("a chip's signals are a list of texts")
        for w in windows:
            signal_values(w)
        out[str(chip)] = tuple(windows)
    return out


class SignalsText:
    """The window signals a ``tel_signals`` row keeps, between its JSON text and the chips'
    signals, with the last texts read or written kept by identity.

    The fold reads a cluster's row back and writes it anew for every batch of the cluster's, and
    the workload classifier reads it on the next look at the policy: some 100 kB of JSON and
    960 windows' checks each time (docs/adr/0054). A text this object wrote or read, the very
    same ``str`` object, reads as what it was made from; any other text is parsed. Strings are
    immutable, and a kept text is referenced, so its identity cannot pass to another."""

    def __init__(self, kept: int = 256) -> None:
        self._kept = kept
        self._by_id: dict[int, tuple[str, dict[str, tuple[Signal, ...]]]] = {}
        self._lock = threading.Lock()

    def read(self, text: str) -> dict[str, tuple[Signal, ...]]:
        """:func:`signals_from_json` of the JSON ``text`` (the mapping is not to be changed)."""
        with self._lock:
            hit = self._by_id.get(id(text))
        if hit is not None and hit[0] is text:
            return hit[1]
        signals = signals_from_json(json.loads(text))
        self._keep(text, signals)
        return signals

    def write(self, signals: Mapping[str, tuple[Signal, ...]], *, keep: bool = True) -> str:
        """The row's JSON text of ``signals`` (sorted chips, no spaces); not kept without
        ``keep`` (a row that is only checked, never made: :meth:`Registry.check`)."""
        data = signals_json(signals)
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        if keep:
            self._keep(text, {c: tuple(ws) for c, ws in data.items()})
        return text

    def _keep(self, text: str, signals: dict[str, tuple[Signal, ...]]) -> None:
        with self._lock:
            while len(self._by_id) >= self._kept:
                self._by_id.pop(next(iter(self._by_id)))
            self._by_id[id(text)] = (text, signals)


SIGNALS_TEXT = SignalsText()
"""The process's :class:`SignalsText`: the fold writes the rows, the classifier reads them."""


def _signal(record: Any) -> Signal:
    values = (
        record.seq,
        format_time(record.window_start),
        format_time(record.window_end),
        record.run_id,
        record.tensor_active,
        record.sm_active,
        record.power_w_avg,
        record.power_w_peak,
        record.mem_used_bytes,
        record.nvlink_tx_bytes + record.nvlink_rx_bytes,
        record.net_tx_bytes,
        record.net_rx_bytes,
    )
    return json.dumps(values, separators=(",", ":"), allow_nan=False)


def _sampled(pending: Mapping[str, list[Any]]) -> dict[str, tuple[Signal, ...]]:
    """The signals a cluster's aggregate keeps from its chips' records (``pending``: per chip,
    the records not yet cut down)."""
    chips = sorted(pending, key=signal_chip_rank)[:SIGNAL_CHIPS]
    return {c: _latest(_signal(r) for r in _cut(pending[c])) for c in chips}


def _cut(records: list[Any]) -> list[Any]:
    """The records among which :func:`_latest` will choose: per run label, those from the
    SIGNAL_WINDOWS-th latest ``seq`` on (ties kept, so that the choice stays its)."""
    by_label: dict[str, list[Any]] = {}
    for r in records:
        by_label.setdefault(r.run_id or "", []).append(r)
    out: list[Any] = []
    for rs in by_label.values():
        if len(rs) > SIGNAL_WINDOWS:
            first = sorted(r.seq for r in rs)[-SIGNAL_WINDOWS]
            rs = [r for r in rs if r.seq >= first]
        out += rs
    return out


def _merge_maps(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        mine = out.get(key)
        out[key] = value if mine is None else mine.merge(value)
    return out


def merge_aggregates(first: Aggregate, *rest: Aggregate) -> Aggregate:
    """The aggregate of all the records the given aggregates were made from.

    Associative and commutative: ``merge(aggregate(A), aggregate(B)) == aggregate(A + B)``.
    Aggregates counted with different undeclared-compute thresholds cannot be merged.
    """
    chips, runs, clusters = dict(first.chips), dict(first.runs), dict(first.clusters)
    for other in rest:
        if other.undeclared_tensor_active != first.undeclared_tensor_active:
            raise TelemetryError(
                "cannot merge aggregates counted with different undeclared thresholds: "
                f"{first.undeclared_tensor_active} and {other.undeclared_tensor_active}"
            )
        chips = _merge_maps(chips, other.chips)
        runs = _merge_maps(runs, other.runs)
        clusters = _merge_maps(clusters, other.clusters)
    return Aggregate(chips, runs, clusters, first.undeclared_tensor_active)


def aggregate(
    records: Iterable[AcceptedRecord],
    *,
    undeclared_tensor_active: float = UNDECLARED_TENSOR_ACTIVE,
) -> Aggregate:
    """Add up accepted records per chip, per declared run and per cluster."""
    # Mutable accumulators first (lists and dicts), frozen into totals at the end: building a
    # frozen dataclass per record would cost more than the adding.
    chips: dict[str, list[Any]] = {}
    runs: dict[str, list[Any]] = {}
    clusters: dict[str, list[Any]] = {}
    for accepted in records:
        record = accepted.record
        chip_id, flop = record.chip_id, record.flop
        energy = accepted.energy_delta_j or 0
        seconds = (record.window_end - record.window_start).total_seconds()
        chip = chips.get(chip_id)
        if chip is None:
            chip = chips[chip_id] = [0, record.window_start, record.window_end, {}, 0, 0, None]
        chip[0] += 1
        if record.window_start < chip[1]:
            chip[1] = record.window_start
        if record.window_end > chip[2]:
            chip[2] = record.window_end
        _add_flop(chip[3], flop)
        chip[4] += energy
        chip[5] += round(record.tensor_active * seconds * 1000)
        if record.tensor_active >= undeclared_tensor_active and (
            chip[6] is None or record.window_end > chip[6]
        ):
            # Busy, whatever run the record names: what a halt order's confirmation reads.
            chip[6] = record.window_end

        cluster = clusters.get(accepted.cluster_id)
        if cluster is None:
            cluster = clusters[accepted.cluster_id] = [0, set(), {}, 0, {}, {}, 0, {}, {}]
        cluster[0] += 1
        cluster[1].add(chip_id)
        _add_flop(cluster[2], flop)
        cluster[3] += energy
        # A window is [start, end): one that ends at midnight belongs to the day before.
        day_key = (record.window_end - _INSTANT).date().isoformat()
        day = cluster[7].get(day_key)
        if day is None:
            day = cluster[7][day_key] = [0, 0, {}, {}, 0, {}, {}]
        # Kept as references and cut down now and then: signals are built only for the
        # windows the aggregate keeps, so that a record costs an append here (docs/adr/0032).
        pending = cluster[8].get(chip_id)
        if pending is None:
            pending = cluster[8][chip_id] = []
        pending.append(record)
        n = len(pending)
        if n > 4 * SIGNAL_WINDOWS and not n & (n - 1):
            # At each power of two: however many run labels a chip's windows name (each keeps
            # its own latest), the cutting costs a constant per record.
            pending[:] = _cut(pending)
        day[0] += 1
        # A chip's first record has no record before it to take its energy from: the day
        # counts what the chip says it drew over the window, or a chip installed that day would
        # show as a day of energy the chips did not report (ADR 0029).
        day_energy = (
            energy if accepted.energy_delta_j is not None else round(record.power_w_avg * seconds)
        )
        day[1] += day_energy
        _add_flop(day[2], flop)
        if record.tensor_active >= undeclared_tensor_active:
            day[4] += day_energy
            # Per model: the plausibility test holds busy work to the peak of the chips that
            # did it, not of every chip installed (docs/adr/0033).
            model = accepted.model
            _add_flop(day[5].setdefault(model, {}), flop)
            day[6][model] = day[6].get(model, 0) + round(record.tensor_active * seconds * 1000)
        if record.run_id is None:
            _add_flop(day[3], flop)
            _add_flop(cluster[4], flop)
            if record.tensor_active >= undeclared_tensor_active:
                _add_flop(cluster[5], flop)
                cluster[6] += 1
        else:
            run = runs.get(record.run_id)
            if run is None:
                run = runs[record.run_id] = [
                    {}, 0, set(), set(), record.window_start, record.window_end,
                ]  # fmt: skip
            _add_flop(run[0], flop)
            run[1] += 1
            run[2].add(chip_id)
            run[3].add(accepted.cluster_id)
            if record.window_start < run[4]:
                run[4] = record.window_start
            if record.window_end > run[5]:
                run[5] = record.window_end
    return Aggregate(
        chips={k: ChipTotals(*v) for k, v in chips.items()},
        runs={
            k: RunTotals(v[0], v[1], frozenset(v[2]), frozenset(v[3]), v[4], v[5])
            for k, v in runs.items()
        },
        clusters={
            k: ClusterTotals(
                v[0],
                frozenset(v[1]),
                v[2],
                v[3],
                v[4],
                v[5],
                v[6],
                {d: DayTotals(*t) for d, t in v[7].items()},
                _sampled(v[8]),
            )
            for k, v in clusters.items()
        },
        undeclared_tensor_active=undeclared_tensor_active,
    )
