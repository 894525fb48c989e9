"""Aggregates: per chip, run and cluster totals that merge exactly and serialise stably."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.statements import canonical
from pausewatch.telemetry import (
    SIGNAL_CHIPS,
    SIGNAL_WINDOWS,
    UNDECLARED_TENSOR_ACTIVE,
    AcceptedRecord,
    Aggregate,
    SignalsText,
    TelemetryError,
    TelemetryRecord,
    aggregate,
    merge_aggregates,
    signal_values,
    signals_from_json,
    signals_json,
)

T0 = datetime(2026, 11, 27, tzinfo=UTC)


def accepted(
    chip_id: str = "c1/a",
    *,
    cluster_id: str = "c1",
    window: int = 0,
    seconds: int = 60,
    flop: dict[str, int] | None = None,
    tensor_active: float = 0.7,
    run_id: str | None = "run-1",
    energy_delta_j: int | None = 36_000,
    model: str = "H100 SXM",
) -> AcceptedRecord:
    """An accepted record with just the fields aggregation reads set meaningfully."""
    start = T0 + timedelta(seconds=60 * window)
    record = TelemetryRecord(
        chip_id=chip_id,
        seq=window,
        prev=None,
        window_start=start,
        window_end=start + timedelta(seconds=seconds),
        energy_j=0,
        power_w_avg=600.0,
        power_w_peak=650.0,
        tensor_active=tensor_active,
        sm_active=0.8,
        flop={"bf16": 10**16} if flop is None else flop,
        nvlink_tx_bytes=0,
        nvlink_rx_bytes=0,
        net_tx_bytes=0,
        net_rx_bytes=0,
        mem_used_bytes=0,
        run_id=run_id,
        weights_digest=None,
        firmware_digest="00" * 32,
    )
    return AcceptedRecord(window, "00" * 32, b"", record, cluster_id, energy_delta_j, model)


def test_totals_per_chip_run_and_cluster() -> None:
    """Two chips of one run, one of them also idle without a run, add up as expected."""
    records = [
        accepted("c1/a", window=0, flop={"bf16": 3 * 10**17}),
        accepted("c1/a", window=1, flop={"bf16": 10**17, "fp8": 5}, energy_delta_j=40_000),
        accepted("c1/b", window=0, flop={"bf16": 2 * 10**17}, energy_delta_j=None),
        accepted("c1/b", window=1, flop={"bf16": 0}, tensor_active=0.01, run_id=None),
    ]
    result = aggregate(records)
    a = result.chips["c1/a"]
    assert a.records == 2
    assert a.first_window_start == T0
    assert a.last_window_end == T0 + timedelta(seconds=120)
    assert a.flop == {"bf16": 4 * 10**17, "fp8": 5}
    assert a.energy_j == 76_000
    assert a.tensor_active_ms == 2 * 42_000
    assert result.chips["c1/b"].energy_j == 36_000  # the first record ever adds no energy
    run = result.runs["run-1"]
    assert run.chip_windows == 3
    assert run.chips == {"c1/a", "c1/b"}
    assert run.clusters == {"c1"}
    assert run.flop == {"bf16": 6 * 10**17, "fp8": 5}
    cluster = result.clusters["c1"]
    assert cluster.chip_windows == 4
    assert cluster.energy_j == 112_000
    assert cluster.unattributed_flop == {"bf16": 0}
    assert cluster.undeclared_flop == {}
    assert cluster.undeclared_windows == 0


def test_undeclared_compute_needs_no_run_and_busy_tensor_pipes() -> None:
    """Windows with no run count as undeclared at tensor_active >= the threshold, not below."""
    records = [
        accepted(run_id=None, tensor_active=UNDECLARED_TENSOR_ACTIVE, flop={"bf16": 7}),
        accepted(run_id=None, tensor_active=0.29, flop={"bf16": 11}, window=1),
        accepted(run_id="run-1", tensor_active=0.9, flop={"bf16": 13}, window=2),
    ]
    cluster = aggregate(records).clusters["c1"]
    assert cluster.undeclared_flop == {"bf16": 7}
    assert cluster.undeclared_windows == 1
    assert cluster.unattributed_flop == {"bf16": 18}
    assert cluster.flop == {"bf16": 31}
    stricter = aggregate(records, undeclared_tensor_active=0.2).clusters["c1"]
    assert stricter.undeclared_windows == 2


def test_json_is_deterministic_exact_and_round_trips() -> None:
    """FLOP beyond 2^53 travels as decimal strings; equal aggregates give equal bytes."""
    big = 2**80 + 1
    result = aggregate([accepted("c1/b", flop={"fp8": big}), accepted("c1/a", cluster_id="c2")])
    data = result.to_json()
    assert data["chips"]["c1/b"]["flop"] == {"fp8": str(big)}
    assert list(data["chips"]) == ["c1/a", "c1/b"]
    assert data["runs"]["run-1"]["chips"] == ["c1/a", "c1/b"]
    assert json.loads(json.dumps(data)) == data
    restored = Aggregate.from_json(json.loads(json.dumps(data)))
    assert restored == result
    assert canonical(restored.to_json()) == canonical(data)


def test_from_json_refuses_garbage() -> None:
    """A damaged stored aggregate is an error."""
    with pytest.raises(TelemetryError, match="invalid telemetry aggregate"):
        Aggregate.from_json({"chips": {"x": {"records": 1}}, "runs": {}, "clusters": {}})


def test_merge_refuses_different_thresholds() -> None:
    """Undeclared figures counted with different thresholds do not add up."""
    with pytest.raises(TelemetryError, match="different undeclared thresholds"):
        merge_aggregates(aggregate([]), aggregate([], undeclared_tensor_active=0.5))


ACCEPTED = st.builds(
    accepted,
    st.sampled_from(["c1/a", "c1/b", "c2/a"]),
    cluster_id=st.sampled_from(["c1", "c2"]),
    window=st.integers(min_value=0, max_value=50),
    seconds=st.integers(min_value=1, max_value=3600),
    flop=st.dictionaries(
        st.sampled_from(["bf16", "fp8", "fp32"]), st.integers(min_value=0, max_value=2**90)
    ),
    tensor_active=st.floats(min_value=0, max_value=1),
    run_id=st.sampled_from([None, "run-1", "run-2"]),
    energy_delta_j=st.none() | st.integers(min_value=0, max_value=10**12),
)
BATCHES = st.lists(ACCEPTED, max_size=12)


@settings(max_examples=120, deadline=None)
@given(BATCHES, BATCHES)
def test_aggregate_of_concatenation_is_merge_of_aggregates(
    a: list[AcceptedRecord], b: list[AcceptedRecord]
) -> None:
    """aggregate(A + B) == merge(aggregate(A), aggregate(B)), as values and as bytes."""
    whole = aggregate(a + b)
    merged = merge_aggregates(aggregate(a), aggregate(b))
    assert merged == whole
    assert canonical(merged.to_json()) == canonical(whole.to_json())


@settings(max_examples=120, deadline=None)
@given(BATCHES, BATCHES, BATCHES)
def test_merge_is_associative_and_commutative(
    a: list[AcceptedRecord], b: list[AcceptedRecord], c: list[AcceptedRecord]
) -> None:
    """Batches may be merged in any grouping and any order."""
    x, y, z = aggregate(a), aggregate(b), aggregate(c)
    left = merge_aggregates(merge_aggregates(x, y), z)
    right = merge_aggregates(x, merge_aggregates(y, z))
    assert left == right == merge_aggregates(z, y, x)
    assert merge_aggregates(x, aggregate([])) == x


def test_a_chip_keeps_its_last_busy_window_whatever_run_it_names() -> None:
    """``last_busy_end`` is the end of a chip's latest window with busy tensor pipes, whether
    the record names a run, another run or none; idle windows after it do not move it."""
    agg = aggregate(
        [
            accepted(window=0, run_id="run-1"),
            accepted(window=1, run_id="run-2"),
            accepted(window=2, run_id=None, tensor_active=0.9),
            accepted(window=3, run_id=None, tensor_active=0.01, flop={}),
        ]
    )
    assert agg.chips["c1/a"].last_busy_end == T0 + timedelta(minutes=3)
    idle = aggregate([accepted(window=0, run_id=None, tensor_active=0.01, flop={})])
    assert idle.chips["c1/a"].last_busy_end is None
    assert "last_busy_end" not in idle.to_json()["chips"]["c1/a"]
    merged = merge_aggregates(idle, agg)
    assert merged.chips["c1/a"].last_busy_end == T0 + timedelta(minutes=3)
    assert Aggregate.from_json(json.loads(canonical(agg.to_json()))) == agg


def test_an_aggregate_from_before_busy_windows_were_kept_still_reads() -> None:
    """An aggregate logged without ``last_busy_end`` reads, its chips' busy end unknown."""
    doc = aggregate([accepted()]).to_json()
    del doc["chips"]["c1/a"]["last_busy_end"]
    assert Aggregate.from_json(doc).chips["c1/a"].last_busy_end is None


def test_a_window_that_ends_at_midnight_counts_in_the_day_it_covers() -> None:
    """A window is [start, end): the last hour of a day, ending at the next midnight, is that
    day's, as a meter reading over the same hour is; busy windows' energy is kept apart from
    the rest of the day's."""
    evening = accepted("c1/a", window=23 * 60, seconds=3600, energy_delta_j=2_000_000)
    idle = accepted(
        "c1/b", window=23 * 60, seconds=3600, tensor_active=0.01, energy_delta_j=300_000
    )
    days = aggregate([evening, idle]).clusters["c1"].days
    assert list(days) == ["2026-11-27"]
    assert days["2026-11-27"].energy_j == 2_300_000
    assert days["2026-11-27"].busy_energy_j == 2_000_000


def test_window_signals_are_bounded_per_cluster_chip_and_run_label() -> None:
    """A cluster's aggregate keeps the signals of SIGNAL_CHIPS chips (the smallest id hashes)
    and, per chip, the latest SIGNAL_WINDOWS windows of each run label, in seq order; merging
    batches keeps the same bounds as aggregating them at once, and JSON round-trips them."""
    chips = [f"c1/{i}" for i in range(SIGNAL_CHIPS + 4)]
    windows = SIGNAL_WINDOWS + 10
    records = [
        accepted(chip, window=w, run_id=None if w % 2 else "run-1", tensor_active=0.7)
        for chip in chips
        for w in range(2 * windows)
    ]
    whole = aggregate(records)
    signals = whole.clusters["c1"].signals
    by_hash = sorted(chips, key=lambda c: hashlib.sha256(c.encode()).digest())
    assert sorted(signals) == sorted(by_hash[:SIGNAL_CHIPS])
    for texts in signals.values():
        kept = [signal_values(w) for w in texts]
        assert [w[0] for w in kept] == list(range(2 * windows - 2 * SIGNAL_WINDOWS, 2 * windows))
        assert sum(1 for w in kept if w[3] is None) == SIGNAL_WINDOWS
    half = len(records) // 2
    merged = merge_aggregates(aggregate(records[half:]), aggregate(records[:half]))
    assert merged == whole
    assert Aggregate.from_json(json.loads(canonical(whole.to_json()))) == whole


def test_a_chips_first_record_counts_its_own_draw_in_the_day() -> None:
    """A chip's first record has no earlier count to take its energy from: the cluster's total
    adds nothing for it, but its day counts the mean power the chip signed times its window, so
    that a chip installed that day is not energy no chip reported."""
    first = accepted("c1/a", window=0, seconds=3600, energy_delta_j=None)
    result = aggregate([first])
    assert result.clusters["c1"].energy_j == 0
    day = result.clusters["c1"].days["2026-11-27"]
    assert day.energy_j == 600 * 3600
    assert day.busy_energy_j == 600 * 3600


def test_a_day_keeps_the_flop_and_tensor_time_of_its_busy_windows_per_chip_model() -> None:
    """Busy windows (tensor_active at or above the threshold), whatever run they name, add
    their FLOP and their tensor-active milliseconds to the day under their chip's model; windows
    below it add neither, and a model with no busy window is absent; the JSON keeps them exact
    (FLOP as decimal text, milliseconds as integers); merging batches gives the same day as
    aggregating them at once (docs/adr/0033)."""
    records = [
        accepted("c1/a", window=0, seconds=3600, flop={"bf16": 7 * 10**17}, tensor_active=0.6),
        accepted(
            "c1/b", window=0, seconds=3600, flop={"fp8": 10**17}, tensor_active=0.5, run_id=None
        ),
        accepted("c1/d", seconds=3600, flop={"bf16": 3 * 10**18}, model="B200"),
        accepted("c1/c", window=0, seconds=3600, flop={"bf16": 10**16}, tensor_active=0.2),
        accepted("c1/e", seconds=3600, flop={"bf16": 10**15}, tensor_active=0.1, model="A100 SXM"),
    ]
    whole = aggregate(records)
    day = whole.clusters["c1"].days["2026-11-27"]
    assert {m: dict(f) for m, f in day.busy_flop.items()} == {
        "B200": {"bf16": 3 * 10**18},
        "H100 SXM": {"bf16": 7 * 10**17, "fp8": 10**17},
    }
    assert dict(day.busy_tensor_ms) == {
        "B200": round(0.7 * 3600 * 1000),
        "H100 SXM": round(0.6 * 3600 * 1000) + round(0.5 * 3600 * 1000),
    }
    doc = whole.to_json()["clusters"]["c1"]["days"]["2026-11-27"]
    assert doc["busy_flop"] == {
        "B200": {"bf16": "3000000000000000000"},
        "H100 SXM": {"bf16": "700000000000000000", "fp8": "100000000000000000"},
    }
    assert doc["busy_tensor_ms"] == {"B200": 2_520_000, "H100 SXM": 3_960_000}
    for cut in range(1, len(records)):
        merged = merge_aggregates(aggregate(records[cut:]), aggregate(records[:cut]))
        assert merged.clusters["c1"].days == whole.clusters["c1"].days
    assert Aggregate.from_json(json.loads(canonical(whole.to_json()))) == whole


def test_busy_figures_not_keyed_by_chip_model_are_refused() -> None:
    """A day's busy figures in a form not keyed by chip model (FLOP per precision, one total of
    milliseconds) are a malformed aggregate, not figures read under a wrong model."""
    doc = aggregate([accepted()]).to_json()
    day = doc["clusters"]["c1"]["days"]["2026-11-27"]
    day["busy_flop"], day["busy_tensor_ms"] = {"bf16": "10000000000000000"}, 42_000
    with pytest.raises(TelemetryError, match="invalid telemetry aggregate"):
        Aggregate.from_json(doc)


def test_a_day_without_busy_windows_reads_and_writes_as_before() -> None:
    """A day with no busy window writes neither busy_flop nor busy_tensor_ms, so its JSON is
    what it was before they were kept; a day logged before reads as none."""
    idle = aggregate([accepted(tensor_active=0.01, flop={})])
    doc = idle.to_json()["clusters"]["c1"]["days"]["2026-11-27"]
    assert sorted(doc) == [
        "busy_energy_j", "chip_windows", "energy_j", "flop", "unattributed_flop"
    ]  # fmt: skip
    busy = aggregate([accepted()]).to_json()
    old = busy["clusters"]["c1"]["days"]["2026-11-27"]
    del old["busy_flop"], old["busy_tensor_ms"]
    day = Aggregate.from_json(busy).clusters["c1"].days["2026-11-27"]
    assert (dict(day.busy_flop), dict(day.busy_tensor_ms)) == ({}, {})


def test_a_signals_row_reads_back_as_it_was_written_and_any_other_text_is_parsed() -> None:
    """SignalsText: the text it wrote (the same object) reads as the signals it was written
    from, exactly what parsing the text gives; an equal text that is another object, and a
    text it never saw, are parsed; a malformed one is refused as parsing refuses it; it keeps
    a bounded number of texts."""
    records = [accepted(f"c1/{i}", window=w) for i in range(5) for w in range(8)]
    signals = aggregate(records).clusters["c1"].signals
    kept = SignalsText(kept=4)
    text = kept.write(signals)
    parsed = signals_from_json(json.loads(text))
    assert text == json.dumps(signals_json(signals), sort_keys=True, separators=(",", ":"))
    assert kept.read(text) == parsed == dict(signals)
    assert list(kept.read(text)) == list(parsed)  # chips in the text's order
    copy = "".join(list(text))  # equal, another object: parsed, and equal
    assert copy is not text
    assert kept.read(copy) == parsed
    with pytest.raises(TypeError):
        kept.read('{"c1/0": [1]}')
    for n in range(10):
        kept.write({"c1/0": signals["c1/0"][: n % 8 + 1]})
    assert len(kept._by_id) <= 4
    assert kept.read(text) == parsed  # dropped from the kept ones: parsed again
