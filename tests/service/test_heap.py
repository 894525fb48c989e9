"""The serving process's long-lived heap, frozen out of the collector's full passes."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_only_a_process_that_asks_freezes_its_heap_and_later_start_up_joins_it() -> None:
    """Importing the service freezes nothing, nor does start-up work that arrives late in a
    process that did not ask; ``freeze_long_lived`` freezes what is loaded, and a later
    ``settled`` freezes what was loaded since; garbage cycles are collected first, not kept."""
    out = _run(
        """
        import gc, weakref
        from pausewatch.service import freeze_long_lived
        from pausewatch.service._heap import settled
        assert gc.get_freeze_count() == 0
        settled()
        assert gc.get_freeze_count() == 0, "froze without being asked"
        frozen = freeze_long_lived()
        assert frozen == gc.get_freeze_count() > 0
        late = [[i] for i in range(10_000)]  # start-up work that arrives later

        class Cycle:
            pass

        garbage = Cycle()
        garbage.self = garbage
        gone = weakref.ref(garbage)
        del garbage
        settled()
        assert gc.get_freeze_count() >= frozen + 10_000, "the late objects are not frozen"
        assert gone() is None, "a garbage cycle was frozen instead of collected"
        print("ok")
        """
    )
    assert out == "ok"
