"""Capabilities: evaluation results against the policy's triggers, and missing evaluations.

A result whose chosen bound reaches a trigger's critical level (lowered by its buffer) is a
critical finding, one that reaches the alert level an alert; a failed evaluation never rules a
capability out. A model above a trigger's compute floor without a result in its domain is a
finding that names every domain it lacks.

Any result can raise an alert, but only one that *counts* can rule a capability out
(docs/adr/0021): its probe and task version are in the suite adopted for its domain, its
elicitation meets what the adoption pins for that probe, and its model is one a declared run
trains. Any other result is *advisory*: an ``info`` finding says why, and for the domain's
evaluation duty it is as if it were not there.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from pausewatch.policy._evaluator._base import _ACTION_RANK, _BY_ID, Compute, State
from pausewatch.policy._facts import (
    EvalFact,
    EvalStatus,
    Facts,
    PinFact,
    SuiteFact,
)
from pausewatch.policy._findings import Finding, FindingKind, Obligation, Severity
from pausewatch.policy._model import Action, Bound, CapabilityTrigger, Domain, Event, Policy


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _short_of(ev: EvalFact, pin: PinFact) -> list[str]:
    """How the result's elicitation falls short of ``pin`` (empty: it meets it)."""
    e = ev.elicitation
    if e is None:
        return ["elicitation: not reported, and the adoption pins one"]
    out: list[str] = []
    if pin.min_epochs is not None and (e.epochs or 0) < pin.min_epochs:
        got = "unknown epochs" if e.epochs is None else _count(e.epochs, "epoch")
        out.append(f"elicitation: {got}, the adoption pins {pin.min_epochs}")
    if pin.min_samples is not None and (e.samples or 0) < pin.min_samples:
        got = "unknown samples" if e.samples is None else _count(e.samples, "sample")
        out.append(f"elicitation: {got} scored, the adoption pins {pin.min_samples}")
    if pin.agent is not None and e.agent is not pin.agent:
        acted = {
            None: "not reported whether the model acted",
            True: "the model acted",
            False: "the model did not act",
        }[e.agent]
        wanted = "an agent" if pin.agent else "no agent"
        out.append(f"elicitation: {acted} through tools, the adoption pins {wanted}")
    missing = sorted(set(pin.tools) - set(e.tools))
    if missing:
        out.append(f"elicitation: without {', '.join(missing)}, which the adoption pins")
    attempts = e.attempts or 1
    if pin.min_attempts is not None and attempts < pin.min_attempts:
        out.append(
            f"elicitation: {_count(attempts, 'attempt')}, the adoption pins {pin.min_attempts}"
        )
    return out


def advisory_reason(
    ev: EvalFact, suites: Mapping[Domain, SuiteFact], declared: Collection[str]
) -> str | None:
    """Why ``ev`` does not count (it is advisory), or none when it counts: its probe and task
    version are in the suite adopted for its domain (``suites``), its elicitation meets the
    probe's pin, and its model is in ``declared`` (the models declared runs train)."""
    reasons: list[str] = []
    domain = ev.domain.value
    task = ev.probe or "unnamed"
    if ev.task_version is not None:
        task += f"/v{ev.task_version}"
    suite = suites.get(ev.domain)
    if suite is None or not suite.probes:
        reasons.append(f"no suite is adopted for {domain}")
    else:
        pinned = next((p for p in suite.probes if p.probe == ev.probe), None)
        if pinned is None:
            reasons.append(f"task {task} is not in the adopted {domain} suite")
        elif pinned.version != ev.task_version:
            reasons.append(
                f"task {task} is not in the adopted {domain} suite, which pins v{pinned.version}"
            )
        elif pinned.elicitation is not None:
            reasons.extend(_short_of(ev, pinned.elicitation))
    if ev.model not in declared:
        reasons.append(f"model {ev.model} is not declared by any run")
    return "; ".join(reasons) or None


def advisory(facts: Facts) -> dict[str, str]:
    """The advisory results among ``facts.evaluations``: id to the reason it does not count."""
    suites = {s.domain: s for s in facts.suites}
    declared = {r.model for r in facts.runs}
    return {
        ev.id: reason
        for ev in facts.evaluations
        if (reason := advisory_reason(ev, suites, declared)) is not None
    }


_RAISED = (FindingKind.CAPABILITY_ALERT, FindingKind.CAPABILITY_CRITICAL)


def ruled_out(
    policy: Policy, facts: Facts, findings: Iterable[Finding], obligations: Iterable[Obligation]
) -> tuple[Domain, ...]:
    """The capability domains the evidence rules out, from an evaluation of ``policy`` over
    ``facts`` (its ``findings`` and ``obligations``): every trigger there has a successful
    result that counts; no result there, counting or advisory, reached an alert or failed;
    and no model that must be evaluated there lacks a result that counts."""
    advised = advisory(facts)
    by_id = {ev.id: ev for ev in facts.evaluations}
    raised = {
        ev.domain
        for f in findings
        if f.kind in _RAISED
        and f.subject.startswith("eval:")
        and (ev := by_id.get(f.subject[5:])) is not None
    }
    owed = {o.basis for o in obligations}
    out: list[Domain] = []
    for domain in Domain:
        trigs = [t for t in policy.capabilities if t.domain is domain]
        if not trigs or domain in raised or f"capabilities.{domain.value}" in owed:
            continue
        if all(
            any(
                ev.domain is domain
                and ev.metric == t.metric
                and ev.status is EvalStatus.SUCCESS
                and ev.id not in advised
                for ev in facts.evaluations
            )
            for t in trigs
        ):
            out.append(domain)
    return tuple(out)


class CapabilityRules(State):
    """Findings and obligations from capability evaluations."""

    def capabilities(self, cumulative: dict[str, Compute]) -> None:
        required: list[tuple[CapabilityTrigger, float, set[str]]] = []
        evaluations = sorted(self.facts.evaluations, key=_BY_ID)
        advised = advisory(self.facts) if self.policy.capabilities else {}
        shown: set[str] = set()
        for trig in self.policy.capabilities:
            evaluated: set[str] = set()
            for ev in evaluations:
                if ev.domain is not trig.domain or ev.metric != trig.metric:
                    continue
                # A warning is a warning, whatever its source; only counting evidence
                # discharges the duty to evaluate the model there.
                self.capability(trig, ev)
                reason = advised.get(ev.id)
                if reason is None:
                    evaluated.add(ev.model)
                elif ev.id not in shown:
                    shown.add(ev.id)
                    self.finding(
                        FindingKind.CAPABILITY_ADVISORY,
                        Severity.INFO,
                        f"eval:{ev.id}",
                        f"the {trig.domain.value} result of {ev.model} is advisory: {reason}; "
                        "it can raise an alert but rules nothing out",
                        tuple(sorted({*ev.evidence, f"eval:{ev.id}"})),
                    )
            if trig.required_above_flop is not None:
                required.append((trig, trig.required_above_flop, evaluated))
        if not required:
            return
        # One finding per model names every domain it lacks; one obligation per domain. The
        # few combinations of missing domains are worded once each.
        worded: dict[tuple[int, ...], tuple[str, str, Action, list[tuple[str, str, str]]]] = {}
        for model, c in cumulative.items():
            value = c.value
            missing = tuple(
                i
                for i, (_, floor, evaluated) in enumerate(required)
                if value > floor and model not in evaluated
            )
            if not missing:
                continue
            words = worded.get(missing)
            if words is None:
                trigs = [(required[i][0], required[i][1]) for i in missing]
                names = [f"{trig.domain.value} ({trig.metric})" for trig, _ in trigs]
                words = worded[missing] = (
                    ", ".join(names),
                    f"{min(floor for _, floor in trigs):.3g}",
                    max((trig.on_alert for trig, _ in trigs), key=_ACTION_RANK.__getitem__),
                    [
                        (name, f"capabilities.{trig.domain.value}", trig.source)
                        for name, (trig, _) in zip(names, trigs, strict=True)
                    ],
                )
            names_text, floor_text, action, duties = words
            subject = f"model:{model}"
            self.finding(
                FindingKind.CAPABILITY_UNEVALUATED,
                Severity.WARNING,
                subject,
                f"model {model} ({c.describe()}) has no result of the adopted suite in "
                f"{names_text}, required above {floor_text} FLOP; the capability is not ruled "
                "out",
                (),
                action=action,
            )
            for name, basis, source in duties:
                self.obligation(
                    f"evaluate model {model} for {name}", subject, None, None, basis, source
                )

    def capability(self, trig: CapabilityTrigger, ev: EvalFact) -> None:
        subject = f"eval:{ev.id}"
        evidence = tuple(sorted({*ev.evidence, f"eval:{ev.id}"}))
        alert = trig.alert_level - trig.buffer
        critical = trig.critical_level - trig.buffer
        buffer = f" (levels lowered by a buffer of {trig.buffer:g})" if trig.buffer else ""
        if ev.status is not EvalStatus.SUCCESS or ev.value is None:
            self.finding(
                FindingKind.CAPABILITY_ALERT,
                Severity.WARNING,
                subject,
                f"the {trig.domain.value} evaluation of {ev.model} ended with status "
                f"{ev.status.value}: a failed evaluation does not rule the capability out",
                evidence,
                action=trig.on_alert,
            )
            self.alert_clock(ev, subject)
            return
        lo = ev.value if ev.ci_low is None else ev.ci_low
        hi = ev.value if ev.ci_high is None else ev.ci_high
        pick = {Bound.LOWER: lo, Bound.POINT: ev.value, Bound.UPPER: hi}
        shown = f"{trig.metric} {ev.value:g} (CI {lo:g} to {hi:g})"
        if pick[trig.critical_bound] >= critical:
            self.finding(
                FindingKind.CAPABILITY_CRITICAL,
                Severity.CRITICAL,
                subject,
                f"{ev.model} scores {shown} in {trig.domain.value}; its "
                f"{trig.critical_bound.value} bound reaches the critical level "
                f"{critical:g}{buffer}: {trig.indicator}",
                evidence,
                action=trig.on_critical,
                figures=(("value", ev.value), ("level", critical)),
            )
        elif pick[trig.alert_bound] >= alert:
            self.finding(
                FindingKind.CAPABILITY_ALERT,
                Severity.WARNING,
                subject,
                f"{ev.model} scores {shown} in {trig.domain.value}; its "
                f"{trig.alert_bound.value} bound reaches the alert level {alert:g}{buffer}: "
                f"the capability cannot be ruled out",
                evidence,
                action=trig.on_alert,
                figures=(("value", ev.value), ("level", alert)),
            )
            self.alert_clock(ev, subject)

    def alert_clock(self, ev: EvalFact, subject: str) -> None:
        self.clock(
            Event.CAPABILITY_ALERT,
            None,
            about=f"model {ev.model}, {ev.domain.value}",
            subject=subject,
            start=ev.completed_at or self.at,
            done_at=None,
        )


__all__ = ["CapabilityRules", "advisory", "advisory_reason", "ruled_out"]
