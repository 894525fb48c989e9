"""The serving process's long-lived heap, kept out of the cyclic collector's full passes.

CPython's full (generation 2) collection scans every container object the process holds, with
the interpreter lock held: in a serving process that has imported the API, the policy engine
and the classifier stack (scikit-learn, SciPy, pandas), some 280,000 objects, 50 to 180 ms
per pass on this project's reference machine, every few seconds under ingest. Every request in
flight waits for it: it was the periodic stall behind reads' p99 under load
(docs/adr/0052-serving-heap.md). What start-up loads lives as long as the process, so once it
is loaded the collector is told to leave it alone (:func:`gc.freeze`): later full passes scan
only what was made since.

:func:`freeze_long_lived` is called by ``pausewatch serve`` once its service is built, and
again by :func:`settled` when a later piece of start-up arrives (the workload classifier,
fitted in another process). Nothing freezes in a process that did not ask (tests, library
use). Each freeze first runs a full collection, so no garbage of the start-up is kept forever.
"""

from __future__ import annotations

import gc
import threading

_enabled = threading.Event()


def freeze_long_lived() -> int:
    """Collect the garbage there is, then move every object the process holds out of the
    collector's passes; from now on, :func:`settled` does so again. Returns how many objects
    are frozen."""
    _enabled.set()
    return _freeze()


def settled() -> None:
    """Start-up work that arrived late is loaded: freeze again, if this process asked to."""
    if _enabled.is_set():
        _freeze()


def _freeze() -> int:
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


__all__ = ["freeze_long_lived", "settled"]
