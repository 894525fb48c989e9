"""A page of a view (``GET /v1/views/{view}``): its rows in key order, read live, with the key
order kept between pages until a key is added or removed (docs/adr/0064)."""

from __future__ import annotations

import threading

from pausewatch.registry import Registry
from pausewatch.service._views import view_page
from pausewatch.state import new_registry


class _State:
    """What ``view_page`` reads of the state: its lock and its registry."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.registry: Registry = new_registry({"secretariat"})


def _member(run: str, chip: str) -> tuple[tuple[str, str], dict[str, str]]:
    return (run, chip), {"run_id": run, "chip_id": chip}


def _walk(state: _State, view: str, limit: int) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    offset: int | None = 0
    while offset is not None:
        page = view_page(state, view, offset, limit)  # type: ignore[arg-type]
        assert page["total"] >= len(page["rows"])
        rows += page["rows"]
        offset = page["next"]
    return rows


def test_pages_walk_the_view_in_key_order_as_keys_come_and_go() -> None:
    """Pages walk every row once, in key order; a key added between two others, or removed,
    is where it belongs on the next walk (the kept order is dropped with the change)."""
    state = _State()
    members = state.registry.views["tel_run_chips"]
    for chip in ("c-09", "c-03", "c-07", "c-01", "c-05"):
        key, row = _member("run-b", chip)
        members[key] = row
    key, row = _member("run-a", "c-99")
    members[key] = row
    assert [(r["run_id"], r["chip_id"]) for r in _walk(state, "tel_run_chips", 2)] == [
        ("run-a", "c-99"),
        ("run-b", "c-01"),
        ("run-b", "c-03"),
        ("run-b", "c-05"),
        ("run-b", "c-07"),
        ("run-b", "c-09"),
    ]
    key, row = _member("run-b", "c-04")
    members[key] = row
    del members[("run-a", "c-99")]
    assert [r["chip_id"] for r in _walk(state, "tel_run_chips", 4)] == [
        "c-01",
        "c-03",
        "c-04",
        "c-05",
        "c-07",
        "c-09",
    ]


def test_the_key_order_is_kept_until_a_key_changes_and_rows_are_read_live() -> None:
    """Two pages with no key added or removed between them share one sorted order (a view of a
    fleet's chips is not sorted again for each page under the state's lock); a row changed
    under its key keeps the order and reads as changed; a new key makes a new order."""
    state = _State()
    chips = state.registry.views["tel_chips"]
    for n in range(5):
        chips[(f"chip-{n}",)] = {"chip_id": f"chip-{n}", "records": n}
    first = state.registry.sorted_keys("tel_chips")
    chips[("chip-2",)] = {"chip_id": "chip-2", "records": 100}
    assert state.registry.sorted_keys("tel_chips") is first
    page = view_page(state, "tel_chips", 2, 1)  # type: ignore[arg-type]
    assert page["rows"] == [{"chip_id": "chip-2", "records": 100}]
    chips[("chip-10",)] = {"chip_id": "chip-10", "records": 0}
    again = state.registry.sorted_keys("tel_chips")
    assert again is not first
    assert again == tuple(sorted(chips))


def test_the_benchmark_reads_the_same_pages_both_ways() -> None:
    """benchmarks/view_pages.py runs end to end, small, and finds its pages equal to the pages
    of every row sorted."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "view_pages.py"), "--rows", "3000"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root / "src")},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pages equal: yes" in done.stdout
