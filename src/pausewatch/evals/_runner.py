"""Running a suite through Inspect and keeping its logs.

:func:`run_suite` evaluates one model on a capability domain's offline suite (or on chosen
probes) with ``inspect_ai.eval`` and returns the paths of the logs Inspect wrote, one per task.
Inspect reports a failed evaluation in its log (``status == "error"``), not by raising, so a
failure is evidence like any other result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pausewatch.errors import Error
from pausewatch.evals._probes import Probe, suite
from pausewatch.policy._model import Domain


class RunError(Error):
    """Inspect could not start the evaluation (an unknown model provider, a bad argument)."""


class _SampleCounter:
    """Counts the samples Inspect completes for :func:`run_suite`'s ``on_sample`` through an
    Inspect hook (hooks are process-wide: one registered on first use, listening to one run
    at a time)."""

    listener: Callable[[int, int], None] | None = None
    done = 0
    total = 0
    registered = False

    @classmethod
    def listen(cls, listener: Callable[[int, int], None] | None, total: int) -> None:
        cls.listener, cls.done, cls.total = listener, 0, total
        if listener is not None and not cls.registered:
            _register_hook()
            cls.registered = True

    @classmethod
    def sample_done(cls) -> None:
        cls.done += 1
        if cls.listener is not None:
            cls.listener(cls.done, cls.total)


def _register_hook() -> None:
    from inspect_ai.hooks import Hooks, SampleEnd, hooks

    # Inspect lists the hooks it finds when it first starts, on stdout (where --json output
    # goes); it looks once a process, so let it look before this one exists.
    try:
        from inspect_ai.hooks._startup import init_hooks
    except ImportError:  # a later Inspect: at worst, the list is printed
        pass
    else:
        init_hooks()

    @hooks(name="pausewatch_progress", description="Counts samples for pausewatch's progress.")
    class _Progress(Hooks):
        def enabled(self) -> bool:
            return _SampleCounter.listener is not None

        async def on_sample_end(self, data: SampleEnd) -> None:
            _SampleCounter.sample_done()


def plain_message(exc: BaseException) -> str:
    """An exception's whole message as one plain line: Inspect writes some of its errors in
    Rich markup over several lines (``[bold]ERROR[/bold]: ... Install with:`` and the command
    on a line of its own), which a one-line error must neither show raw nor cut short."""
    text = str(exc) or type(exc).__name__
    from rich.errors import MarkupError
    from rich.text import Text

    # Not markup after all (a stray closing tag): keep the text as it is.
    with contextlib.suppress(MarkupError):
        text = Text.from_markup(text).plain
    line = " ".join(text.split())
    return line.removeprefix("ERROR: ") or type(exc).__name__


def run_suite(
    model: str,
    log_dir: Path,
    *,
    domain: Domain | None = None,
    probes: Sequence[Probe] = (),
    epochs: int = 1,
    model_args: Mapping[str, Any] | None = None,
    limit: int | None = None,
    message_limit: int | None = None,
    token_limit: int | None = None,
    time_limit: int | None = None,
    on_sample: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Run ``probes`` (default: the offline suite of ``domain``) against ``model``
    (``provider/name``, as Inspect names models) and return the logs' paths.

    ``on_sample(done, total)`` is called as each sample completes (from Inspect's event loop:
    it must return quickly), for a progress display."""
    chosen = list(probes) or (suite(domain) if domain is not None else [])
    if not chosen:
        raise RunError("nothing to run: name a domain or at least one probe")
    tasks = [p.task() for p in chosen]
    import inspect_ai

    import pausewatch.evals._providers  # noqa: F401  (registers the pausewatch/ providers)

    total = epochs * sum(
        len(t.dataset) if limit is None else min(limit, len(t.dataset)) for t in tasks
    )
    _SampleCounter.listen(on_sample, total)

    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        logs = inspect_ai.eval(
            tasks,
            model=model,
            model_args=dict(model_args or {}),
            log_dir=str(log_dir),
            display="none",
            epochs=epochs,
            limit=limit,
            message_limit=message_limit,
            token_limit=token_limit,
            time_limit=time_limit,
            log_format="eval",
        )
    except Exception as exc:  # Inspect raises before any log exists: no evidence to keep
        raise RunError(f"Inspect could not run {model}: {plain_message(exc)}") from None
    finally:
        _SampleCounter.listen(None, 0)
    paths: list[Path] = []
    for log in logs:
        location = str(log.location or "")
        if location.startswith("file://"):
            location = location[len("file://") :]
        paths.append(Path(location))
    return paths


__all__ = ["RunError", "plain_message", "run_suite"]
