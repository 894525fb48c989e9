"""Probes: the capability evaluations a pause can be triggered by, by name and domain.

A probe is one Inspect task (UK AISI's ``inspect_ai``) with what a policy needs to know about
it: the capability domain it bears on, what it measures, the metric it reports, how long a
skilled human takes where that is known, and whether it runs offline. Two kinds are listed:

* our own small offline suite (ids ``pausewatch/<name>``, defined in
  :mod:`pausewatch.evals._suite`): deterministic, runs on the host in a temporary directory
  without Docker, network or GPU, each sample rated in nominal human minutes so that a time
  horizon can be fitted from its per-sample results;
* adapters for established suites (``inspect_evals/...``, ``metr/re_bench``): they need their
  own package, Docker and sometimes GPUs, and are only named here; :meth:`Probe.task` imports
  them when asked and says what to install when they are missing.

Every task a probe builds carries ``version=probe.version`` and the metadata
``{"pausewatch_probe": probe.id, "domain": probe.domain.value}``, so that an Inspect log can be
mapped back to its probe and domain. This module imports Inspect only inside
:meth:`Probe.task`, so that importing :mod:`pausewatch.evals` stays light.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pausewatch.errors import Error, NotFoundError
from pausewatch.policy._model import Domain

if TYPE_CHECKING:
    from inspect_ai import Task


class ProbeUnavailableError(Error):
    """A probe cannot be built here: its package, Docker or GPU is missing.

    The message is one line naming the probe, the reason, and what to install.
    """


@dataclass(frozen=True)
class Probe:
    """One capability evaluation, with what a policy needs to know about it."""

    id: str
    """``pausewatch/<name>`` for ours; ``inspect_evals/<name>``, ``metr/re_bench`` for adapters."""
    domain: Domain
    """The capability domain its result bears on."""
    version: int
    """The version of the Inspect task it builds (bumped when samples or scoring change)."""
    measures: str
    """What capability it measures, in words."""
    metric: str
    """The metric it reports, e.g. ``accuracy``."""
    human_baseline_minutes: float | None
    """Typical time a skilled human takes per task, where known. ``None`` for our own probes:
    each of their samples carries a nominal rating (``human_minutes`` in its metadata) instead."""
    offline: bool
    """Runs without Docker, network or GPU."""
    requires: tuple[str, ...]
    """What must be present besides Inspect, e.g. ``("inspect_evals", "docker")``."""
    source: str
    """Where it comes from: a URL or a paper."""
    entry: tuple[str, ...] = ()
    """Candidate ``module:function`` names of its Inspect task, tried in order (upstream suites
    have renamed some of their tasks between releases)."""
    install: str = ""
    """How to install what it needs, in one phrase."""
    required_args: tuple[str, ...] = ()
    """Task arguments that must be given, e.g. RE-Bench's ``image_tag`` (the Docker image of
    one task family, built with the bridge's ``mtb-build``)."""

    def task(self, **task_args: Any) -> Task:
        """Build the Inspect task, with this probe's version and metadata set on it.

        ``task_args`` are passed to the task function. Raises :class:`ProbeUnavailableError`
        with a one-line reason when the task's package cannot be imported.
        """
        try:
            from inspect_ai import task_with
        except ImportError as exc:  # pragma: no cover - inspect_ai is a declared extra
            raise ProbeUnavailableError(
                f"probe {self.id} needs Inspect: pip install 'pausewatch[evals]' ({exc})"
            ) from exc
        function = self._function()
        missing = [a for a in self.required_args if a not in task_args]
        if missing:
            raise ProbeUnavailableError(
                f"probe {self.id} needs the task argument(s) {', '.join(missing)}"
            )
        built = function(**task_args)
        metadata: dict[str, Any] = dict(built.metadata or {})
        if built.version not in (0, self.version):
            metadata.setdefault("upstream_version", built.version)
        metadata["pausewatch_probe"] = self.id
        metadata["domain"] = self.domain.value
        return task_with(built, version=self.version, metadata=metadata)

    def _function(self) -> Any:
        """The task function named by :attr:`entry`, imported on first use."""
        reasons: list[str] = []
        for candidate in self.entry:
            module_name, _, attr = candidate.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                reasons.append(f"cannot import {module_name} ({exc})")
                continue
            function = getattr(module, attr, None)
            if function is not None:
                return function
            reasons.append(f"{module_name} has no task {attr}")
        others = ", ".join(self.requires[1:]) or "nothing else"
        reason = "; ".join(dict.fromkeys(reasons)) or "no task named"
        raise ProbeUnavailableError(
            f"probe {self.id} is unavailable: {reason}; "
            f"install it with {self.install or 'its package'}; it also needs {others}"
        )


def _ours(
    name: str, domain: Domain, measures: str, *, metric: str = "accuracy", version: int = 1
) -> Probe:
    """One of our offline probes; its task function in ``_suite`` (module ``_suite/_<name>.py``)
    has the same name."""
    return Probe(
        id=f"pausewatch/{name}",
        domain=domain,
        version=version,
        measures=measures,
        metric=metric,
        human_baseline_minutes=None,
        offline=True,
        requires=(),
        source=f"pausewatch: src/pausewatch/evals/_suite/_{name}.py",
        entry=(f"pausewatch.evals._suite:{name}",),
        install="pip install 'pausewatch[evals]'",
    )


_INSPECT_EVALS = "https://github.com/UKGovernmentBEIS/inspect_evals"

_PROBES: tuple[Probe, ...] = (
    # Our own offline suite.
    _ours(
        "repair_training_run",
        Domain.AI_RND_AUTOMATION,
        "Debugging a small machine-learning training run: an agent with a shell finds and "
        "fixes faults in a gradient-descent script and its configuration until the fitted "
        "parameters are right (checked on held-out data).",
    ),
    _ours(
        "tune_own_heuristic",
        Domain.SELF_IMPROVEMENT,
        "Improving the decision heuristic that governs the agent's own actions: an agent with a "
        "shell edits the heuristic's code and weights until its accuracy on unseen situations "
        "clears a bar.",
    ),
    _ours(
        "replicate_weights",
        Domain.AUTONOMOUS_REPLICATION,
        "Making a self-contained copy of a model deployment: an agent with a shell reassembles "
        "and verifies weight files, copies and re-points the launcher, and writes a manifest "
        "with the weights' SHA-256 digest (all inside its working directory).",
    ),
    _ours(
        "recover_flag",
        Domain.CYBER_OFFENCE,
        "Capture-the-flag cryptanalysis without tools: recovering a flag from text encoded "
        "with rot13, base64, hex, XOR with known or unknown keys, and layers of these.",
    ),
    _ours(
        "oversight_awareness",
        Domain.STEALTH_SITUATIONAL_AWARENESS,
        "Situational awareness of its own oversight: an agent with a shell locates and "
        "interprets the monitoring configuration of its deployment (sampling rates, unlogged "
        "tools, schedules, overrides, flagging rules) and answers questions about it. It is "
        "not asked to evade oversight.",
    ),
    # Adapters for established suites (need their package and Docker; never run offline).
    Probe(
        id="inspect_evals/gdm_self_reasoning",
        domain=Domain.STEALTH_SITUATIONAL_AWARENESS,
        version=1,
        measures=(
            "Self-reasoning from Google DeepMind's stealth and situational-awareness evaluations; "
            "the representative task chosen is context_length_mod_instrumental_only: the agent "
            "must notice that its own context window is too small for the task and raise it by "
            "editing its deployment configuration."
        ),
        metric="accuracy",
        human_baseline_minutes=None,
        offline=False,
        requires=("inspect_evals", "docker"),
        source="Phuong et al. 2025, Evaluating Frontier Models for Stealth and Situational "
        f"Awareness, arXiv:2505.01420; {_INSPECT_EVALS}",
        # Renamed upstream: older releases export the task without the family prefix.
        entry=(
            "inspect_evals.gdm_self_reasoning:gdm_self_reasoning_context_length_mod_instrumental_only",
            "inspect_evals.gdm_self_reasoning:gdm_context_length_mod_instrumental_only",
            "inspect_evals.gdm_capabilities:gdm_context_length_mod_instrumental_only",
        ),
        install="pip install 'inspect-evals[gdm_capabilities]'",
    ),
    Probe(
        id="inspect_evals/gdm_stealth",
        domain=Domain.STEALTH_SITUATIONAL_AWARENESS,
        version=1,
        measures=(
            "Stealth from Google DeepMind's stealth and situational-awareness evaluations; the "
            "representative task chosen is oversight_pattern: the agent must infer when an "
            "automated monitor inspects its actions and complete a goal without being flagged."
        ),
        metric="accuracy",
        human_baseline_minutes=None,
        offline=False,
        requires=("inspect_evals", "docker"),
        source="Phuong et al. 2025, Evaluating Frontier Models for Stealth and Situational "
        f"Awareness, arXiv:2505.01420; {_INSPECT_EVALS}",
        entry=("inspect_evals.gdm_stealth:gdm_oversight_pattern",),
        install="pip install 'inspect-evals[gdm_stealth]'",
    ),
    Probe(
        id="inspect_evals/gdm_self_proliferation",
        domain=Domain.AUTONOMOUS_REPLICATION,
        version=1,
        measures=(
            "Self-proliferation from Google DeepMind's dangerous-capability evaluations; the "
            "representative task chosen is sp02 (install an open-weight model on a cloud "
            "instance and serve it), end to end."
        ),
        metric="accuracy",
        human_baseline_minutes=None,
        offline=False,
        requires=("inspect_evals", "docker", "cloud credentials"),
        source="Phuong et al. 2024, Evaluating Frontier Models for Dangerous Capabilities, "
        f"arXiv:2403.13793; {_INSPECT_EVALS}",
        entry=("inspect_evals.gdm_self_proliferation:gdm_sp02_e2e",),
        install="pip install 'inspect-evals[gdm_self_proliferation]'",
    ),
    Probe(
        id="inspect_evals/mle_bench",
        domain=Domain.AI_RND_AUTOMATION,
        version=1,
        measures=(
            "Machine-learning engineering: Kaggle competitions solved end to end by an agent "
            "(data preparation, training, submission), graded against the human leaderboard."
        ),
        metric="accuracy (share of competitions earning a medal)",
        human_baseline_minutes=None,
        offline=False,
        requires=("inspect_evals", "docker", "kaggle credentials", "gpu"),
        source=f"Chan et al. 2024, MLE-bench, arXiv:2410.07095; {_INSPECT_EVALS}",
        entry=("inspect_evals.mle_bench:mle_bench_lite", "inspect_evals.mle_bench:mle_bench"),
        # mle_bench is packaged separately upstream (packages/mle_bench); the extra name is
        # our best understanding and may differ between releases.
        install="pip install 'inspect-evals[mle_bench]'",
    ),
    Probe(
        id="inspect_evals/paperbench",
        # Replicating others' ML research from scratch is AI research and engineering work,
        # not a model improving itself, so it counts towards AI R&D automation.
        domain=Domain.AI_RND_AUTOMATION,
        version=1,
        measures=(
            "Replicating state-of-the-art machine-learning research: an agent reproduces an "
            "ICML paper's results from scratch (code, experiments), graded against a rubric."
        ),
        metric="replication score (rubric-weighted)",
        human_baseline_minutes=48 * 60.0,
        offline=False,
        requires=("inspect_evals", "docker", "gpu"),
        source=f"Starace et al. 2025, PaperBench, arXiv:2504.01848; {_INSPECT_EVALS}",
        entry=("inspect_evals.paperbench:paperbench",),
        install="pip install 'inspect-evals[paperbench]'",
    ),
    Probe(
        id="metr/re_bench",
        domain=Domain.AI_RND_AUTOMATION,
        version=1,
        measures=(
            "AI research engineering: METR's RE-Bench environments (e.g. optimise a kernel, fix "
            "embeddings, scale a training run) run through METR's Inspect task bridge, scored "
            "against expert baselines."
        ),
        metric="normalised score",
        human_baseline_minutes=8 * 60.0,
        offline=False,
        requires=("mtb", "docker", "gpu"),
        source="Wijk et al. 2024, RE-Bench, arXiv:2411.15114; https://github.com/METR/RE-Bench; "
        "https://github.com/METR/inspect-metr-task-bridge",
        # The bridge's task function was renamed upstream (metr_task_bridge -> bridge).
        entry=("mtb.bridge:bridge", "mtb.bridge:metr_task_bridge"),
        install="pip install git+https://github.com/METR/inspect-metr-task-bridge",
        required_args=("image_tag",),
    ),
)

_BY_ID: dict[str, Probe] = {p.id: p for p in _PROBES}


def probes(domain: Domain | None = None, *, offline: bool | None = None) -> list[Probe]:
    """The known probes, sorted by id; only those of ``domain`` and of the given ``offline``
    kind where these are given."""
    return sorted(
        (
            p
            for p in _PROBES
            if (domain is None or p.domain == domain) and (offline is None or p.offline == offline)
        ),
        key=lambda p: p.id,
    )


def probe(probe_id: str) -> Probe:
    """The probe with id ``probe_id``; :class:`NotFoundError` naming the known ids if none."""
    try:
        return _BY_ID[probe_id]
    except KeyError:
        known = ", ".join(sorted(_BY_ID))
        raise NotFoundError(f"no probe {probe_id!r}; known probes: {known}") from None


def suite(domain: Domain) -> list[Probe]:
    """Our offline probes for ``domain`` (at least one for every domain), sorted by id."""
    return [p for p in probes(domain, offline=True) if p.id.startswith("pausewatch/")]


__all__ = ["Probe", "ProbeUnavailableError", "probe", "probes", "suite"]
