"""What one page of a large view costs (``GET /v1/views/{view}``'s work, under the state's lock).

Issue 19 §6 (fleet scale): a view can hold a fleet's chips (``tel_chips``, ``tel_run_chips``:
a million rows at a million chips). A page used to sort every row of the view for each request,
holding the state's lock, which the fold's commit waits on. The keys' order is now kept until a
key is added or removed (``Registry.sorted_keys``; docs/adr/0064).

A registry's ``tel_run_chips`` is filled with ``--rows`` members (default 1,000,000: 100 runs of
10,000 chips), then, in the same run:

- **now**: ``view_page`` for ``--pages`` pages of ``--limit`` rows at offsets spread over the
  view: the first (which sorts the keys), then the others (which reuse them); and the first page
  after one member joins (sorts again);
- **reference**: the page as it was read before, written out here: every row sorted, then
  sliced.

Every page of the two must be equal, else exit 1. Printed: ms a page (median of the pages
after the first) both ways, and the first pages.

Run ``PYTHONPATH=src .venv/bin/python benchmarks/view_pages.py`` (about a minute).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from typing import Any

from pausewatch.registry import Registry
from pausewatch.service._views import view_page
from pausewatch.state import new_registry

VIEW = "tel_run_chips"


class _State:
    def __init__(self, registry: Registry) -> None:
        self.lock = threading.RLock()
        self.registry = registry


def _reference(state: _State, offset: int, limit: int) -> list[Any]:
    with state.lock:
        rows = [row for _, row in sorted(state.registry.views[VIEW].items())]
    return rows[offset : offset + limit]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="members in the view (1,000,000)")
    p.add_argument("--runs", type=int, default=100, help="runs they are dealt over (100)")
    p.add_argument("--pages", type=int, default=20, help="pages read each way (20)")
    p.add_argument("--limit", type=int, default=100, help="rows a page (100)")
    args = p.parse_args(argv)
    registry = new_registry({"secretariat"})
    members = registry.views[VIEW]
    for n in range(args.rows):
        run, chip = f"run-{n % args.runs:04d}", f"chip-{n:08d}"
        members[(run, chip)] = {"run_id": run, "chip_id": chip}
    state = _State(registry)
    offsets = [i * max(1, args.rows // args.pages) for i in range(args.pages)]

    def now(offset: int) -> tuple[float, list[Any]]:
        start = time.perf_counter()
        rows = view_page(state, VIEW, offset, args.limit)["rows"]  # type: ignore[arg-type]
        return (time.perf_counter() - start) * 1000, rows

    def reference(offset: int) -> tuple[float, list[Any]]:
        start = time.perf_counter()
        rows = _reference(state, offset, args.limit)
        return (time.perf_counter() - start) * 1000, rows

    same = True
    results = {}
    for name, read in (("now", now), ("reference", reference)):
        first_ms, first = read(offsets[0])
        timed = [read(o) for o in offsets[1:]]
        members[("run-0000", "chip-joined")] = {"run_id": "run-0000", "chip_id": "chip-joined"}
        joined_ms, _ = read(offsets[0])
        del members[("run-0000", "chip-joined")]
        results[name] = (first_ms, statistics.median(t for t, _ in timed), joined_ms)
        pages = [first, *(rows for _, rows in timed)]
        if name == "now":
            expected = pages
        else:
            same = pages == expected
    print(
        f"view_pages: {VIEW} of {args.rows:,} rows ({args.runs} runs), pages of {args.limit} "
        f"rows at {args.pages} offsets"
    )
    for name, (first_ms, median_ms, joined_ms) in results.items():
        label = "now (the keys' order kept)" if name == "now" else "reference (sort every row)"
        print(
            f"  {label:<28} first page {first_ms:9.1f} ms; each page after it {median_ms:9.3f} "
            f"ms (median); the first page after a member joins {joined_ms:9.1f} ms"
        )
    print(f"  pages equal: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
