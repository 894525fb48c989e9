"""What the fold keeps between batches instead of reading its own rows back: equal to reading
them (docs/adr/0052)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.registry._fold import (
    _TOTALS,
    VIEWS,
    _keep_totals,
    _kept_totals,
    _merge_totals,
    _totals_doc,
    _totals_row,
)
from pausewatch.telemetry import ChipTotals, ClusterTotals, RunTotals


def _keep_chip_totals(chip_id: str, row: dict[str, object], totals: ChipTotals) -> None:
    _keep_totals("tel_chips", chip_id, row, totals)


def _kept_chip_totals(chip_id: str, row: dict[str, object]) -> ChipTotals | None:
    kept = _kept_totals("tel_chips", chip_id, row)
    assert kept is None or isinstance(kept, ChipTotals)
    return kept


T0 = datetime(2026, 11, 27, tzinfo=UTC)


@st.composite
def chip_totals(draw: st.DrawFn) -> ChipTotals:
    start = T0 + timedelta(microseconds=draw(st.integers(0, 10**12)))
    end = start + timedelta(microseconds=draw(st.integers(1, 10**10)))
    busy = draw(st.none() | st.just(end))
    flop = draw(st.dictionaries(st.sampled_from(["bf16", "fp8", "fp16"]), st.integers(0, 2**62)))
    return ChipTotals(
        records=draw(st.integers(1, 10**9)),
        first_window_start=start,
        last_window_end=end,
        flop=flop,
        energy_j=draw(st.integers(0, 2**62)),
        tensor_active_ms=draw(st.integers(0, 2**62)),
        last_busy_end=busy,
    )


def _row(totals: ChipTotals, idx: int) -> dict[str, object]:
    row = _totals_row("chip_id", "c1/a", totals.to_json(), idx)
    row.setdefault("last_busy_end", None)
    return row


@settings(max_examples=200, deadline=None, database=None)
@given(first=chip_totals(), batch=chip_totals())
def test_a_chips_kept_totals_are_what_its_row_reads_as(
    first: ChipTotals, batch: ChipTotals
) -> None:
    """The totals kept for a tel_chips row equal the row read back, and merge and write alike:
    the fold gives the same next row whether it reads the row or takes the kept totals."""
    row = _row(first, 5)
    _keep_chip_totals("c1/a", row, first)
    kept = _kept_chip_totals("c1/a", dict(row))  # equal items, another dict: kept by value
    read = ChipTotals.from_json(_totals_doc(row, "chip_id"))
    assert kept == read
    assert kept is not None
    assert _row(kept.merge(batch), 6) == _row(read.merge(batch), 6)


def test_a_row_the_fold_did_not_write_is_read() -> None:
    """A row whose items differ in anything (another update index, a field) is not taken for
    the kept one; the kept rows are bounded."""
    first = ChipTotals(1, T0, T0 + timedelta(minutes=1), {"bf16": 5}, 10, 20, None)
    row = _row(first, 5)
    _keep_chip_totals("c1/a", row, first)
    assert _kept_chip_totals("c1/a", {**row, "updated_idx": 6}) is None
    assert _kept_chip_totals("c1/a", {**row, "records": 2}) is None
    assert _kept_chip_totals("c1/b", row) is None
    _TOTALS.clear()
    for n in range(9000):
        _keep_chip_totals(f"c/{n}", row, first)
    assert len(_TOTALS) <= 8192


class _Views:
    """The part of the fold's context ``_merge_totals`` uses: rows by view and key."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, ...], dict[str, Any]] = {}
        self.index = 0
        self.keeps = True
        self.written: list[str] = []

    def get(self, view: str, *key: Any) -> dict[str, Any] | None:
        return self.rows.get((view, *key))

    def set(self, view: str, row: dict[str, Any]) -> None:
        self.rows[(view, *(row[k] for k in VIEWS[view]))] = row
        self.written.append(view)

    def members(self, view: str, name: str) -> list[str]:
        """The members of ``name`` in the members view ``view``, sorted."""
        return sorted(key[2] for key in self.rows if key[0] == view and key[1] == name)


def _run(chips: list[str], n: int) -> RunTotals:
    return RunTotals(
        flop={"bf16": 10**18 + n},
        chip_windows=len(chips),
        chips=frozenset(chips),
        clusters=frozenset({f"c{n % 2}"}),
        first_window_start=T0 + timedelta(minutes=n),
        last_window_end=T0 + timedelta(minutes=n + 1),
    )


def _cluster(chips: list[str], n: int) -> ClusterTotals:
    return ClusterTotals(
        chip_windows=len(chips),
        chips=frozenset(chips),
        flop={"bf16": 10**18 + n},
        energy_j=n,
        unattributed_flop={},
        undeclared_flop={"bf16": n},
        undeclared_windows=n % 3,
    )


def _reference_row(
    view: str, key: str, name: str, previous: Any, batch: Any, idx: int, seen: dict[str, set[str]]
) -> Any:
    """The row as a fold that keeps nothing writes it: read the row back, merge, write every
    field but the sets, whose members are counted (``seen``: every member so far, by set)."""
    cls = RunTotals if view == "tel_runs" else ClusterTotals
    empty = {field: () for field in seen}
    new = batch if previous is None else cls.from_json(_totals_doc(previous, key) | empty)
    new = new if previous is None else new.merge(batch)
    fields = _totals_row(key, name, new.to_json(sets=False), idx)
    fields["chip_count"] = len(seen["chips"])
    if view == "tel_runs":
        fields["cluster_count"] = len(seen["clusters"])
    row = {key: name, "updated_idx": idx}
    row |= sorted((k, v) for k, v in fields.items() if k not in row)
    return row


@settings(max_examples=60, deadline=None, database=None)
@given(
    batches=st.lists(
        st.lists(st.sampled_from([f"chip-{i}" for i in range(12)]), min_size=1, max_size=6),
        min_size=1,
        max_size=12,
    ),
    forget=st.sets(st.integers(0, 11)),
)
def test_a_run_and_a_clusters_rows_are_what_reading_them_back_gives(
    batches: list[list[str]], forget: set[int]
) -> None:
    """Batch after batch, the tel_runs and tel_clusters rows the fold writes from its kept
    totals are the rows it writes when it reads each row back and writes every field, key
    order included; also when what it kept is forgotten in between (another process, a full
    cache). Their members are every chip (and cluster) the batches named, each once."""
    views = _Views()
    previous: dict[str, Any] = {"tel_runs": None, "tel_clusters": None}
    seen: dict[str, dict[str, set[str]]] = {
        "tel_runs": {"chips": set(), "clusters": set()},
        "tel_clusters": {"chips": set()},
    }
    for n, chips in enumerate(batches):
        views.index = n + 1
        if n in forget:
            _TOTALS.clear()
        for view, key, name, batch in (
            ("tel_runs", "run_id", "run-1", _run(chips, n)),
            ("tel_clusters", "cluster_id", "c1", _cluster(chips, n)),
        ):
            cls = RunTotals if view == "tel_runs" else ClusterTotals
            for field, ids in seen[view].items():
                ids |= getattr(batch, field)
            _merge_totals(views, view, key, {name: batch}, cls)  # type: ignore[arg-type]
            row = views.rows[(view, name)]
            expected = _reference_row(view, key, name, previous[view], batch, n + 1, seen[view])
            assert list(row.items()) == list(expected.items())
            previous[view] = row
    assert views.members("tel_run_chips", "run-1") == sorted(seen["tel_runs"]["chips"])
    assert views.members("tel_run_clusters", "run-1") == sorted(seen["tel_runs"]["clusters"])
    assert views.members("tel_cluster_chips", "c1") == sorted(seen["tel_clusters"]["chips"])


def test_a_batch_writes_a_row_for_each_chip_that_joins_and_none_for_the_others() -> None:
    """A run's and a cluster's chips grow with the fleet, not with the batch: each is a row of
    its own, written once, when it first reports, and the run's row keeps their count. A batch
    whose chips (and clusters: every odd batch here is cluster c1's) the run has all seen writes
    no member row. (The row held every chip as one list,
    written whole with every batch: 1.5 MB a batch at 100,000 chips; issue 19 §5.)"""
    views = _Views()
    fleet = [f"chip-{i:05d}" for i in range(5000)]
    for view, key, make, cls, members in (
        ("tel_runs", "run_id", _run, RunTotals, "tel_run_chips"),
        ("tel_clusters", "cluster_id", _cluster, ClusterTotals, "tel_cluster_chips"),
    ):
        views.index = 1
        _merge_totals(views, view, key, {"x": make(fleet, 1)}, cls)  # type: ignore[arg-type]
        first = views.rows[(view, "x")]
        assert first["chip_count"] == 5000
        assert "chips" not in first
        views.written.clear()
        views.index = 2
        _merge_totals(views, view, key, {"x": make(fleet[:200], 3)}, cls)  # type: ignore[arg-type]
        second = views.rows[(view, "x")]
        assert views.written == [view]
        assert (second["updated_idx"], second["chip_windows"]) == (2, 5200)
        assert second["chip_count"] == 5000
        views.written.clear()
        views.index = 3
        _merge_totals(views, view, key, {"x": make([*fleet[:9], "chip-new"], 5)}, cls)  # type: ignore[arg-type]
        assert views.written == [members, view]
        assert views.rows[(members, "x", "chip-new")] == {key: "x", "chip_id": "chip-new"}
        assert views.rows[(view, "x")]["chip_count"] == 5001
        assert views.members(members, "x") == sorted([*fleet, "chip-new"])


def test_a_growing_runs_row_stays_the_same_size_and_nothing_keeps_its_sets() -> None:
    """A run (and its cluster) that chips keep joining: the row the fold writes each batch is
    the same size at the 80th batch as at the first, and the totals kept for it hold no set
    (a run's set of 100,000 chips and its text are some 5 MB, rewritten over hundreds of
    batches)."""
    _TOTALS.clear()
    views = _Views()
    fleet = [f"chip-{i:06d}" for i in range(40_000)]
    sizes = []
    for n in range(80):
        views.index = n + 1
        chips = fleet[n * 500 : (n + 1) * 500]
        _merge_totals(views, "tel_runs", "run_id", {"grow": _run(chips, n)}, RunTotals)  # type: ignore[arg-type]
        _merge_totals(
            views, "tel_clusters", "cluster_id", {"grow": _cluster(chips, n)}, ClusterTotals
        )  # type: ignore[arg-type]
        sizes.append(len(json.dumps(views.rows[("tel_runs", "grow")])))
    assert max(sizes) - min(sizes) <= 8, sizes  # the counts' and the index's digits
    assert views.members("tel_run_chips", "grow") == fleet
    assert views.rows[("tel_runs", "grow")]["chip_count"] == 40_000
    for view in ("tel_runs", "tel_clusters"):
        kept = _kept_totals(view, "grow", views.rows[(view, "grow")])
        assert kept is not None
        assert kept.chips == frozenset()


def test_a_row_folds_the_same_whether_its_kept_totals_were_forgotten_or_not() -> None:
    """The kept totals stand for what their row reads back as. A secretariat's aggregate may
    give its times without an offset (``Aggregate.from_json`` reads them as naive); the row holds
    them as UTC (``...Z``), which reads back aware. Two batches of a run so written must fold the
    same with the kept totals (the service) and without them (the audit, which checks each entry
    before it folds it; another process; a full cache): here the second batch is unreadable both
    ways, not merged into the run's row by one fold and refused by the other."""
    naive = datetime.fromisoformat("2026-11-27T01:00:00")  # as from_json reads it
    outcomes = []
    for forget in (False, True):
        _TOTALS.clear()
        views = _Views()
        for n in range(2):
            views.index = n + 1
            if forget:
                _TOTALS.clear()
            batch = RunTotals(
                flop={"bf16": 10},
                chip_windows=1,
                chips=frozenset({"chip-1"}),
                clusters=frozenset({"c1"}),
                first_window_start=naive + timedelta(minutes=n),
                last_window_end=naive + timedelta(minutes=n + 1),
            )
            try:
                _merge_totals(views, "tel_runs", "run_id", {"r": batch}, RunTotals)  # type: ignore[arg-type]
            except TypeError as exc:
                outcomes.append((forget, n, "unreadable", str(exc)))
                break
        else:
            outcomes.append((forget, 2, "folded", views.rows[("tel_runs", "r")]))
    assert outcomes[0][1:3] == outcomes[1][1:3], outcomes


def test_a_runs_kept_totals_outlive_a_fleets_worth_of_chips() -> None:
    """A run's and a cluster's kept totals are bounded apart from the chips': a batch of a
    fleet larger than the chips' bound (every chip's row is kept in turn) does not push out the
    run's, which would then be read back whole on its next batch (issue 19 §5)."""
    _TOTALS.clear()
    run = _run([f"chip-{i}" for i in range(100)], 0)
    row = _totals_row("run_id", "run-1", run.to_json(), 1)
    _keep_totals("tel_runs", "run-1", row, run)
    chip = ChipTotals(1, T0, T0 + timedelta(minutes=1), {"bf16": 5}, 10, 20, None)
    chip_row = _row(chip, 1)
    for n in range(9000):
        _keep_totals("tel_chips", f"c/{n}", chip_row, chip)
    assert _kept_totals("tel_runs", "run-1", dict(row)) is run
    assert len(_TOTALS) <= 8192 + 2048


def test_a_naive_aggregate_time_folds_the_same_in_any_machines_zone() -> None:
    """A time without an offset (an aggregate may give one: ``Aggregate.from_json`` reads it
    naive) is written as UTC, as the fold's comment on kept totals says: the service, a
    follower, ``state rebuild`` and the audit, on machines in different zones, write the same
    row from the same log. ``format_time`` took such a time as the machine's local time."""
    import os
    import time

    naive = datetime.fromisoformat("2026-11-27T01:00:00")
    batch = RunTotals(
        flop={"bf16": 10},
        chip_windows=1,
        chips=frozenset({"chip-1"}),
        clusters=frozenset({"c1"}),
        first_window_start=naive,
        last_window_end=naive + timedelta(minutes=1),
    )
    rows = []
    zone = os.environ.get("TZ")
    try:
        for tz in ("UTC", "America/New_York", "Asia/Tokyo"):
            os.environ["TZ"] = tz
            time.tzset()
            _TOTALS.clear()
            views = _Views()
            views.index = 1
            _merge_totals(views, "tel_runs", "run_id", {"r": batch}, RunTotals)  # type: ignore[arg-type]
            rows.append(views.rows[("tel_runs", "r")])
    finally:
        if zone is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = zone
        time.tzset()
    assert rows[0]["first_window_start"] == "2026-11-27T01:00:00Z"
    assert rows[1] == rows[0]
    assert rows[2] == rows[0]
