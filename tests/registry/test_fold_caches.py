"""What the fold keeps between batches instead of reading its own rows back: equal to reading
them (docs/adr/0052)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.registry._fold import (
    _CHIP_TOTALS,
    _keep_chip_totals,
    _kept_chip_totals,
    _totals_doc,
    _totals_row,
)
from pausewatch.telemetry import ChipTotals

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
    for n in range(9000):
        _keep_chip_totals(f"c/{n}", row, first)
    assert len(_CHIP_TOTALS) <= 8192
