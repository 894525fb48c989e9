"""Chips: balances with chips unaccounted for, exports to non-parties, inspections that found
chips missing or seals broken (docs/adr/0026)."""

from __future__ import annotations

from pausewatch.policy._evaluator._base import _BY_ID, State, _entries, _fmt_time
from pausewatch.policy._findings import FindingKind, Severity
from pausewatch.policy._model import Action

_SHOWN = 5
"""How many ids an explanation names before "and N more"."""


def _listed(ids: tuple[str, ...], total: int) -> str:
    shown = ", ".join(ids[:_SHOWN])
    more = total - min(len(ids), _SHOWN)
    return f"{shown} and {more} more" if more > 0 else shown


class ChipRules(State):
    """Chip balances, exports and inspection results, each in a fixed order."""

    def chips(self) -> None:
        for acc in sorted(self.facts.chip_accounts, key=lambda a: (a.scope.value, a.id)):
            if acc.unaccounted == 0:
                continue
            subject = f"{acc.scope.value}:{acc.id}"
            of = f"operator {acc.id}" if acc.scope.value == "operator" else f"party {acc.id}"
            self.finding(
                FindingKind.CHIPS_UNACCOUNTED,
                Severity.SERIOUS,
                subject,
                f"{acc.unaccounted} chip(s) shipped to {of} are unaccounted for: "
                f"{acc.shipped} shipped, less {acc.transferred_out} transferred out, "
                f"{acc.installed} installed, {acc.retired} retired, {acc.exported} exported and "
                f"{acc.reporting} seen reporting ({_listed(acc.unaccounted_chips, acc.unaccounted)}"
                f"; log entries {_entries(acc.evidence)}); an inspection is asked for",
                acc.evidence,
                action=Action.INSPECTION,
                figures=(
                    ("unaccounted", acc.unaccounted),
                    ("shipped", acc.shipped),
                    ("transferred_out", acc.transferred_out),
                    ("installed", acc.installed),
                    ("retired", acc.retired),
                    ("exported", acc.exported),
                    ("reporting", acc.reporting),
                ),
            )
        for ex in sorted(self.facts.chip_exports, key=_BY_ID):
            if ex.party is None:
                continue  # a maker's export: no party answers for it
            when = f" on {_fmt_time(ex.at)}" if ex.at is not None else ""
            licence = f" under licence {ex.licence}" if ex.licence else " with no licence stated"
            self.finding(
                FindingKind.CHIPS_EXPORTED,
                Severity.INFO if ex.licence else Severity.WARNING,
                f"party:{ex.party}",
                f"{ex.chips} chip(s) of operator {ex.operator} left party {ex.party} for "
                f"{ex.destination_entity} ({ex.destination_country}){when}{licence} "
                f"({_listed(ex.chip_ids, ex.chips)}; export {ex.id}, log entries "
                f"{_entries(ex.evidence)})",
                ex.evidence,
                figures=(
                    ("chips", ex.chips),
                    ("destination_country", ex.destination_country),
                    ("destination_entity", ex.destination_entity),
                ),
            )
        for ins in sorted(self.facts.inspections, key=_BY_ID):
            grave = bool(ins.missing or ins.seals_broken)
            if not (grave or ins.discrepancies):
                continue
            found = []
            if ins.missing:
                found.append(
                    f"{len(ins.missing)} chip(s) missing ({_listed(ins.missing, len(ins.missing))})"
                )
            if ins.seals_broken:
                found.append(
                    f"{len(ins.seals_broken)} seal(s) broken "
                    f"({_listed(ins.seals_broken, len(ins.seals_broken))})"
                )
            if ins.discrepancies:
                found.append(
                    f"{len(ins.discrepancies)} discrepancy(ies) with the registry "
                    f"({'; '.join(ins.discrepancies[:_SHOWN])})"
                )
            operator = f" of operator {ins.operator}" if ins.operator else ""
            self.finding(
                FindingKind.INSPECTION_DISCREPANCY,
                Severity.SERIOUS if grave else Severity.WARNING,
                f"facility:{ins.facility}",
                f"the inspection {ins.id} of facility {ins.facility}{operator} on "
                f"{_fmt_time(ins.inspected_at)} found {', '.join(found)} (log entries "
                f"{_entries(ins.evidence)})",
                ins.evidence,
                action=Action.INSPECTION if grave else Action.FINDING,
                figures=(
                    ("missing", len(ins.missing)),
                    ("seals_broken", len(ins.seals_broken)),
                    ("discrepancies", len(ins.discrepancies)),
                ),
            )


__all__ = ["ChipRules"]
