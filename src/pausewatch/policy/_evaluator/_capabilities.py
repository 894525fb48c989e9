"""Capabilities: evaluation results against the policy's triggers, and missing evaluations.

A result whose chosen bound reaches a trigger's critical level (lowered by its buffer) is a
critical finding, one that reaches the alert level an alert; a failed evaluation never rules a
capability out. A model above a trigger's compute floor without a result in its domain is a
finding that names every domain it lacks.
"""

from __future__ import annotations

from pausewatch.policy._evaluator._base import _ACTION_RANK, _BY_ID, Compute, State
from pausewatch.policy._facts import EvalFact, EvalStatus
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import Action, Bound, CapabilityTrigger, Event


class CapabilityRules(State):
    """Findings and obligations from capability evaluations."""

    def capabilities(self, cumulative: dict[str, Compute]) -> None:
        required: list[tuple[CapabilityTrigger, float, set[str]]] = []
        evaluations = sorted(self.facts.evaluations, key=_BY_ID)
        for trig in self.policy.capabilities:
            evaluated: set[str] = set()
            for ev in evaluations:
                if ev.domain is not trig.domain or ev.metric != trig.metric:
                    continue
                evaluated.add(ev.model)
                self.capability(trig, ev)
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
                f"model {model} ({c.describe()}) has no result in {names_text}, required above "
                f"{floor_text} FLOP; the capability is not ruled out",
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


__all__ = ["CapabilityRules"]
