"""Times each read handler inside ``pausewatch serve``, for ``benchmarks/load.py --time-reads``.

Python imports the first ``sitecustomize`` module on its path as it starts. ``load.py`` puts
this directory first on the server's ``PYTHONPATH`` and names a file in ``LOAD_READ_TIMES``.
In a process started with the ``serve`` argument, FastAPI's thread-pool call is then wrapped.
Each endpoint run in a worker thread (every synchronous route: the pages, the JSON reads,
``/metrics``) appends one line to that file: its function's name, wall ms and thread CPU ms
(``time.thread_time``, the CPU its own thread used). The gap between the two is time the
handler's thread waited (for a core, or for the interpreter's lock). Other processes and
other runs are untouched. It times; it changes no answer. It is a benchmark's instrument, not
part of pausewatch (docs/adr/0061 has what it measured).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

_PATH = os.environ.get("LOAD_READ_TIMES")


def _install(path: str) -> None:
    import fastapi.routing as routing

    original = routing.run_in_threadpool
    out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - for the process's life
    lock = threading.Lock()

    async def run_in_threadpool(func: Any, *args: Any, **kwargs: Any) -> Any:
        endpoint = kwargs.get("function")  # FastAPI passes a sync endpoint as function=
        if endpoint is None:
            return await original(func, *args, **kwargs)
        name = getattr(endpoint, "__name__", "?")

        def timed(*a: Any, **k: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return func(*a, **k)
            finally:
                line = (
                    f"{name} {(time.perf_counter() - wall) * 1e3:.3f} "
                    f"{(time.thread_time() - cpu) * 1e3:.3f}\n"
                )
                with lock:
                    out.write(line)

        return await original(timed, *args, **kwargs)

    routing.run_in_threadpool = run_in_threadpool


if _PATH and "serve" in sys.argv[1:]:
    _install(_PATH)
