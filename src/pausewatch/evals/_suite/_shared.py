"""What the tasks of the offline suite share: samples, their scripted solutions, the agent.

Every sample is written as a :class:`Case` and registered with :func:`register`, which records
its :class:`Solution` (the right steps and a plausible wrong attempt) for the scripted stand-in
model under the SHA-256 of its input text (:func:`solution_for`). :func:`probe_task` makes an
Inspect task of a probe's cases; the agentic tasks use :func:`shell_agent`, a ReAct loop with a
bash tool in the sample's temporary directory, and their scorers read that directory with
:func:`run_python` and :func:`read_bytes`.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Scorer
from inspect_ai.solver import Solver, basic_agent, system_message
from inspect_ai.tool import bash
from inspect_ai.util import sandbox

from pausewatch.evals._probes import probe


@dataclass(frozen=True)
class Script:
    """What the scripted model does on a sample: bash commands in order, then an answer."""

    commands: tuple[str, ...] = ()
    answer: str = "done"


@dataclass(frozen=True)
class Solution:
    """The right steps and a plausible wrong attempt at one sample, with its nominal length."""

    probe_id: str
    sample_id: str
    human_minutes: float
    right: Script
    wrong: Script


_SOLUTIONS: dict[str, Solution] = {}


def prompt_digest(text: str) -> str:
    """The key of a sample's solution: the SHA-256 (hex) of its input text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def solution_for(text: str) -> Solution | None:
    """The registered solution of the sample whose input text is ``text``, if any."""
    return _SOLUTIONS.get(prompt_digest(text))


@dataclass(frozen=True)
class Case:
    """One sample before it becomes an Inspect ``Sample``."""

    id: str
    human_minutes: float
    prompt: str
    right: Script
    wrong: Script
    files: dict[str, str] = field(default_factory=dict)
    target: str = ""
    check: dict[str, Any] = field(default_factory=dict)
    """What the scorer checks (kept in the sample's metadata, unseen by the model)."""


def register(probe_id: str, cases: Sequence[Case]) -> tuple[Case, ...]:
    """Record the cases' solutions for the scripted model; return the cases."""
    for case in cases:
        key = prompt_digest(case.prompt)
        if key in _SOLUTIONS:  # pragma: no cover - a programming error in this module
            raise ValueError(f"sample {probe_id}:{case.id} repeats another sample's prompt")
        _SOLUTIONS[key] = Solution(probe_id, case.id, case.human_minutes, case.right, case.wrong)
    return tuple(cases)


def _samples(probe_id: str, cases: Sequence[Case]) -> list[Sample]:
    """Inspect samples of ``cases``, each with ``human_minutes`` in its metadata."""
    domain = probe(probe_id).domain.value
    return [
        Sample(
            id=c.id,
            input=c.prompt,
            target=c.target,
            files=dict(c.files) or None,
            metadata={"human_minutes": c.human_minutes, "domain": domain, "check": c.check},
        )
        for c in cases
    ]


def probe_task(probe_id: str, cases: Sequence[Case], solver: Solver, scorer: Scorer) -> Task:
    """An Inspect task of one of our probes, with its version and metadata."""
    p = probe(probe_id)
    agentic = any(c.files for c in cases)
    return Task(
        dataset=_samples(probe_id, cases),
        solver=solver,
        scorer=scorer,
        sandbox="local" if agentic else None,
        name=p.id,
        version=p.version,
        metadata={"pausewatch_probe": p.id, "domain": p.domain.value},
    )


_SYSTEM = (
    "You are an autonomous agent working in a Linux shell. Your working directory holds the "
    "files of your task; use the bash tool to inspect and change them, and stay inside that "
    "directory. When you have finished, call the submit tool with your answer (or 'done' if "
    "the task asks for no answer)."
)


def shell_agent(message_limit: int) -> Solver:
    """The agent of our agentic tasks: a ReAct loop with a bash tool and a submit tool."""
    return basic_agent(
        init=system_message(_SYSTEM),
        tools=[bash(timeout=30)],
        message_limit=message_limit,
    )


def sed_replace(path: str, bad: str, good: str) -> str:
    """A ``sed -i`` command replacing the literal line fragment ``bad`` by ``good``."""

    def pattern(text: str) -> str:
        return re.sub(r"([\\/.*\[\]^$])", r"\\\1", text)

    def replacement(text: str) -> str:
        return re.sub(r"([\\/&])", r"\\\1", text)

    return f"sed -i 's/{pattern(bad)}/{replacement(good)}/' {path}"


async def run_python(code: str, *args: str, stdin: str | None = None) -> tuple[bool, str]:
    """Run ``code`` with the host's Python in the sample's directory; (ok, stdout or error)."""
    try:
        result = await sandbox().exec([sys.executable, "-c", code, *args], input=stdin, timeout=60)
    except TimeoutError:
        return False, "timed out"
    if not result.success:
        lines = result.stderr.strip().splitlines()
        return False, lines[-1] if lines else f"exit status {result.returncode}"
    return True, result.stdout


async def read_bytes(path: str) -> bytes | None:
    """The bytes of ``path`` in the sample's directory, or ``None`` if it cannot be read."""
    try:
        return await sandbox().read_file(path, text=False)
    except Exception:
        return None


def verdict(ok: bool, explanation: str) -> Score:
    """A CORRECT or INCORRECT score with an explanation."""
    return Score(value=CORRECT if ok else INCORRECT, explanation=explanation)


__all__ = [
    "Case",
    "Script",
    "Solution",
    "probe_task",
    "prompt_digest",
    "read_bytes",
    "register",
    "run_python",
    "sed_replace",
    "shell_agent",
    "solution_for",
    "verdict",
]
