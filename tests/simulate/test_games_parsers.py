"""The inspection-game commands' file readers (the --roc and --times files) under any input:
a value the games take, or one error line and exit 1, never another exception."""

from __future__ import annotations

import json
import math
import tempfile
from contextlib import redirect_stderr
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pausewatch.cli._simulate_games import _read_roc, _read_times
from pausewatch.simulate.inspection import GameError, RocPoint, roc_hull, timely_detection_from

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**500), max_value=10**500)
    | st.floats()
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["false_alarm_rate", "detection", "x"]) | st.text(max_size=5),
            inner,
            max_size=3,
        )
    ),
    max_leaves=12,
)
garbage = st.one_of(
    json_values.map(json.dumps),
    st.text(max_size=60),
    st.binary(max_size=60),
)


def _read(reader: Any, content: str | bytes) -> Any:
    """The reader's result on a file holding ``content``, or the exit it took (its error line
    swallowed)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.json"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        with redirect_stderr(StringIO()):
            try:
                return reader(path)
            except typer.Exit as exc:
                exited = exc
    assert exited.exit_code == 1
    return exited


def _one_line_or_nothing(call: Any) -> None:
    message = ""
    try:
        call()
    except GameError as exc:
        message = str(exc)
    assert "\n" not in message


@given(garbage)
@settings(max_examples=300, deadline=None)
@example("[" * 100_000)
@example('[{"false_alarm_rate": 0.1, "detection": 1' + "0" * 400 + "}]")
@example('[{"false_alarm_rate": 0.1, "detection": 1' + "0" * 5000 + "}]")
@example(b"\xff\xfe")
def test_roc_reader_gives_points_or_one_exit(content: str | bytes) -> None:
    """A --roc file is a list of points the hull takes or refuses with one GameError, or the
    reader exits 1 with one line: never another exception."""
    result = _read(_read_roc, content)
    if isinstance(result, typer.Exit):
        return
    assert all(isinstance(p, RocPoint) for p in result)
    _one_line_or_nothing(lambda: roc_hull(result))


@given(
    st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 1))
        | st.tuples(st.integers(0, 1), st.integers(0, 1)),
        min_size=1,
        max_size=6,
    )
)
def test_roc_reader_round_trips(points: list[tuple[float, float]]) -> None:
    """A valid ROC file is read back exactly."""
    text = json.dumps([{"false_alarm_rate": a, "detection": d} for a, d in points])
    assert _read(_read_roc, text) == [RocPoint(float(a), float(d)) for a, d in points]


@given(garbage)
@settings(max_examples=300, deadline=None)
@example("[" * 100_000)
@example("[1" + "0" * 400 + "]")
@example("[1" + "0" * 5000 + "]")
@example("[NaN, Infinity]")
def test_times_reader_gives_times_or_one_exit(content: str | bytes) -> None:
    """A --times file is a list of days the estimate takes or refuses with one GameError, or
    the reader exits 1 with one line: never another exception."""
    result = _read(_read_times, content)
    if isinstance(result, typer.Exit):
        return
    _one_line_or_nothing(lambda: timely_detection_from(result, 5.0))


@given(st.lists(st.none() | st.floats(0, 1e6) | st.integers(0, 10**6), min_size=1, max_size=8))
def test_times_reader_round_trips(times: list[float | int | None]) -> None:
    """A valid --times file is read back exactly (numbers as floats)."""
    got = _read(_read_times, json.dumps(times))
    assert got == [None if t is None else float(t) for t in times]
    assert all(t is None or not math.isnan(t) for t in got)


def test_readers_exit_on_a_missing_file(tmp_path: Path) -> None:
    """A file that cannot be read is one exit, not an OSError."""
    for reader in (_read_roc, _read_times):
        with redirect_stderr(StringIO()), pytest.raises(typer.Exit):
            reader(tmp_path / "missing.json")
