"""Daily balances: alarms of a facility's energy and compute balances as findings
(docs/adr/0029)."""

from __future__ import annotations

from pausewatch.policy._evaluator._base import State, _entries
from pausewatch.policy._facts import BalanceAlarmFact, BalanceName
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import Action

_SHOWN = 8
"""How many evidence entries an explanation names before "and N more"."""

_WHAT = {
    BalanceName.ENERGY: "energy unaccounted for (its meters against its reporting chips' "
    "energy and stated overheads)",
    BalanceName.COMPUTE_ENERGY: "compute unaccounted for measured from its meters' energy "
    "(net of overheads, at the fleet's efficiency) against the FLOP its chips counted",
    BalanceName.COMPUTE_COUNTERS: "compute unaccounted for measured by its counters (FLOP "
    "tagged to no run beyond what its declared workloads cover)",
}

_TEST = {
    "one_shot": "the one-shot test on the standardised balance (SITMUF)",
    "cusum": "Page's CUSUM on the standardised balances (SITMUF)",
}


_SCOPES = ("facility", "operator", "party")


def _key(a: BalanceAlarmFact) -> tuple[int, str, str, str]:
    return (_SCOPES.index(a.scope), a.subject, a.balance.value, a.test.value)


def _whose(a: BalanceAlarmFact) -> str:
    """Who the balance is of, as the explanation opens."""
    if a.scope == "facility":
        operator = f" of operator {a.operator}" if a.operator else ""
        return f"facility {a.facility}{operator}"
    shown = ", ".join(a.facilities[:_SHOWN])
    more = len(a.facilities) - _SHOWN
    listed = f"{shown} and {more} more" if more > 0 else shown
    party = f" of party {a.party}" if a.scope == "operator" and a.party else ""
    # A party's sum also leaves out the operators whose own sum alarms (docs/adr/0035).
    whose = "own balance" if a.scope == "operator" else "own balance or operator's sum"
    return (
        f"{a.scope} {a.subject.partition(':')[2]}{party}, its facilities summed ({listed}; "
        f"those whose {whose} alarms are left out, their findings stand)"
    )


class BalanceRules(State):
    """Balance alarms: facilities', then operators' and parties' roll-ups (docs/adr/0035), in
    subject, balance and test order."""

    def balances(self) -> None:
        for a in sorted(self.facts.balance_alarms, key=_key):
            energy = a.balance is BalanceName.ENERGY
            basis = "counters" if a.balance is BalanceName.COMPUTE_COUNTERS else "meter"
            day = f"{a.period_start:%Y-%m-%d}"
            again = (
                f"; it alarmed on {a.alarms} day(s) up to {a.last_period_start:%Y-%m-%d}"
                if a.alarms > 1 and a.last_period_start is not None
                else ""
            )
            self.finding(
                FindingKind.ENERGY_UNACCOUNTED if energy else FindingKind.COMPUTE_UNACCOUNTED,
                Severity.SERIOUS,
                a.subject,
                f"{_whose(a)}: {_WHAT[a.balance]} on {day} (UTC) was "
                f"{a.value:.4g} {a.unit} (sigma {a.sigma:.3g} {a.unit}); "
                f"{_TEST[a.test.value]} reached {a.statistic:.2f} > {a.limit:.2f}, a limit set "
                f"for a false-alarm probability of {a.alpha:g} per {a.scope}-year{again}. "
                f"Evidence: log entries {_entries(a.evidence, _SHOWN)} (meter readings and "
                "telemetry batches); an inspection is asked for",
                a.evidence,
                action=Action.INSPECTION,
                figures=(
                    ("test", a.test.value),
                    ("period_start", day),
                    ("value", a.value),
                    ("sigma", a.sigma),
                    ("statistic", a.statistic),
                    ("limit", a.limit),
                    ("alpha", a.alpha),
                    ("basis", basis),
                    ("unit", a.unit),
                    ("alarms", a.alarms),
                    ("scope", a.scope),
                ),
            )
