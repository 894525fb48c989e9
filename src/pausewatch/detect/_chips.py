"""Chips unaccounted for, per operator and per party, and what inspections found (issue 16).

The chip balance of an operator (or of a party: the union of its operators) follows each chip's
supply chain as the log records it (``det_chip_movements``, docs/adr/0026):

* **shipped**: chips that reached it: a shipment from their maker (``chip.ship/v1``) or a sale
  (``chip.transfer/v1``) to it, or a chip it holds that it installed, retired or exported (a
  chip certified with it as buyer arrives before shipments were recorded only if it was used).
  A chip certified with a buyer and never shipped is still the maker's: it is counted apart
  (``certified_only``) and in no balance;
* **transferred out**: of those, chips now answered for by another operator (another party, for
  a party's balance);
* **installed**, **retired**, **exported** (to a non-party, :class:`Export`), and **reporting**
  (an accepted telemetry record: a ``tel_chains`` head);
* **unaccounted for** = shipped - transferred out - installed - retired - exported - reporting,
  as sets of chips, so that no chip is counted twice. An installed chip that never reported is
  *dark*: counted (``dark``) but not unaccounted for; the policy's ``dark_chips`` finding covers it.

Inspection reports give, per facility, the chips the inspectors found missing, the discrepancies
between what they saw and the registry, and the seals they found broken.

Pure: reads the views of a :class:`~pausewatch.registry.Registry` and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pausewatch.registry import Registry, Row

SHOWN = 20
"""How many chip ids each figure lists (the count is always whole)."""

_ARRIVALS = ("ship", "transfer")


@dataclass(frozen=True, slots=True)
class ChipCount:
    """A figure of the balance: how many chips, and the first :data:`SHOWN` of their ids."""

    count: int
    chips: tuple[str, ...]

    @classmethod
    def of(cls, ids: Iterable[str]) -> ChipCount:
        """The figure of a set of chip ids (listed in id order)."""
        ordered = sorted(set(ids))
        return cls(len(ordered), tuple(ordered[:SHOWN]))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {"count": self.count, "chips": list(self.chips)}


@dataclass(frozen=True, slots=True)
class ChipAccount:
    """The chip balance of one operator or one party."""

    scope: str
    """``operator`` or ``party``."""
    id: str
    """The operator's or party's id."""
    party: str | None
    """The operator's party (a party's own id for a party)."""
    shipped: ChipCount
    transferred_out: ChipCount
    installed: ChipCount
    retired: ChipCount
    exported: ChipCount
    reporting: ChipCount
    dark: ChipCount
    """Installed and never reported (not in ``unaccounted``)."""
    unaccounted: ChipCount
    evidence: tuple[int, ...]
    """Log indices of the arrivals of the chips unaccounted for (the first :data:`SHOWN`)."""

    @property
    def subject(self) -> str:
        """``operator:<id>`` or ``party:<id>``."""
        return f"{self.scope}:{self.id}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        figures = ("shipped", "transferred_out", "installed", "retired", "exported")
        more = ("reporting", "dark", "unaccounted")
        out: dict[str, Any] = {"scope": self.scope, "id": self.id, "party": self.party}
        for name in figures + more:
            out[name] = getattr(self, name).to_json()
        out["evidence"] = list(self.evidence)
        return out


@dataclass(frozen=True, slots=True)
class Export:
    """Chips that reached a non-party: where, when, from whom."""

    export_id: str
    chips: ChipCount
    from_operator: str | None
    """The operator that held them (none: their maker)."""
    from_party: str | None
    destination_country: str
    destination_entity: str
    licence: str | None
    at: str | None
    """When they left (as the export states it), else when the log took it."""
    idx: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "export_id": self.export_id,
            "chips": self.chips.to_json(),
            "from_operator": self.from_operator,
            "from_party": self.from_party,
            "destination_country": self.destination_country,
            "destination_entity": self.destination_entity,
            "licence": self.licence,
            "at": self.at,
            "idx": self.idx,
        }


@dataclass(frozen=True, slots=True)
class InspectionResult:
    """What one inspection report found at a facility that the registry does not say."""

    plan_id: str
    facility_id: str
    operator_id: str | None
    inspected_at: str
    missing: tuple[str, ...]
    """Chips the inspectors looked for and did not find."""
    discrepancies: tuple[str, ...]
    """Chips or meters seen otherwise than the registry says (``id: problem``)."""
    seals_broken: tuple[str, ...]
    idx: int

    @property
    def clean(self) -> bool:
        """Whether it found nothing amiss."""
        return not (self.missing or self.discrepancies or self.seals_broken)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "plan_id": self.plan_id,
            "facility_id": self.facility_id,
            "operator_id": self.operator_id,
            "inspected_at": self.inspected_at,
            "missing": list(self.missing),
            "discrepancies": list(self.discrepancies),
            "seals_broken": list(self.seals_broken),
            "idx": self.idx,
        }


@dataclass(frozen=True, slots=True)
class ChipAccounts:
    """The chip balances per operator and per party, the exports, and the inspections."""

    operators: tuple[ChipAccount, ...]
    parties: tuple[ChipAccount, ...]
    exports: tuple[Export, ...]
    inspections: tuple[InspectionResult, ...]
    certified_only: ChipCount
    """Chips certified with a buyer and never shipped, installed or used: still the maker's."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "operators": [a.to_json() for a in self.operators],
            "parties": [a.to_json() for a in self.parties],
            "exports": [e.to_json() for e in self.exports],
            "inspections": [i.to_json() for i in self.inspections],
            "certified_only": self.certified_only.to_json(),
        }


def _account(
    scope: str,
    scope_id: str,
    party: str | None,
    members: frozenset[str],
    arrivals: Mapping[str, dict[str, int]],
    chips: Mapping[str, Row],
    exported: Mapping[str, str | None],
    reporting: frozenset[str],
) -> ChipAccount:
    received: dict[str, int] = {}
    for op in members:
        for chip_id, idx in arrivals.get(op, {}).items():
            received[chip_id] = max(idx, received.get(chip_id, -1))
    held = {c for c in received if chips[c]["operator_id"] in members}
    out = set(received) - held
    installed = {c for c in held if chips[c]["status"] == "installed"}
    gone = {c for c in held if c in exported}
    retired = {c for c in held if chips[c]["status"] == "retired"} - gone
    seen = held & reporting
    dark = installed - reporting
    missing = held - installed - retired - gone - seen
    evidence = sorted({received[c] for c in sorted(missing)[:SHOWN]})
    return ChipAccount(
        scope=scope,
        id=scope_id,
        party=party,
        shipped=ChipCount.of(received),
        transferred_out=ChipCount.of(out),
        installed=ChipCount.of(installed),
        retired=ChipCount.of(retired),
        exported=ChipCount.of(gone),
        reporting=ChipCount.of(seen),
        dark=ChipCount.of(dark),
        unaccounted=ChipCount.of(missing),
        evidence=tuple(evidence),
    )


def _inspection(row: Row) -> InspectionResult:
    found = []
    for d in json.loads(row["discrepancies"]):
        what = d.get("chip_id") or d.get("meter_id") or "?"
        found.append(f"{what}: {d.get('problem', '')}")
    seals = [s["seal_id"] for s in json.loads(row["seals"]) if not s.get("intact", True)]
    return InspectionResult(
        plan_id=row["plan_id"],
        facility_id=row["facility_id"],
        operator_id=None,
        inspected_at=row["inspected_at"],
        missing=tuple(sorted(json.loads(row["missing"]))),
        discrepancies=tuple(sorted(found)),
        seals_broken=tuple(sorted(seals)),
        idx=int(row["idx"]),
    )


CHIP_VIEWS = (
    "chips",
    "operators",
    "chip_movements",
    "exports",
    "inspection_plans",
    "inspection_reports",
)
"""The views whose rows :func:`chip_accounts` reads; of ``tel_chains`` it reads only the keys
(which chips have reported)."""


def chip_accounts(registry: Registry) -> ChipAccounts:
    """The chip balances of every operator and party the supply chain reached, the exports to
    non-parties and the inspection results, from the registry's views (module docstring).

    Kept by the registry until one of the views it reads changes (:meth:`Registry.derived`):
    under telemetry ingest only a chip's first report changes them, so the many reads of the
    policy's facts in between do not count every chip again (docs/adr/0056)."""
    return registry.derived(
        "chip_accounts", _chip_accounts, rows_of=CHIP_VIEWS, keys_of=("tel_chains",)
    )


def _chip_accounts(registry: Registry) -> ChipAccounts:
    views = registry.views
    chips: dict[str, Row] = {k[0]: row for k, row in views["chips"].items()}
    reporting = frozenset(k[0] for k in views["tel_chains"])
    operators: dict[str, str | None] = {
        k[0]: row.get("party_id") for k, row in views["operators"].items()
    }
    arrivals: dict[str, dict[str, int]] = {}
    exported: dict[str, str | None] = {}
    moved: set[str] = set()
    # In any order: an arrival keeps its latest index, and a chip is exported at most once.
    for (chip_id, idx), move in views["chip_movements"].items():
        moved.add(chip_id)
        if move["kind"] in _ARRIVALS and move["to_operator"] is not None:
            got = arrivals.setdefault(move["to_operator"], {})
            got[chip_id] = max(int(idx), got.get(chip_id, -1))
        elif move["kind"] == "export":
            exported[chip_id] = move["from_operator"]
    certified_only = set()
    arrived = {chip_id for got in arrivals.values() for chip_id in got}
    for chip_id, chip in chips.items():
        holder = chip["operator_id"]
        if holder is None:
            continue
        used = chip["status"] in ("installed", "retired") or chip_id in reporting
        if chip_id not in moved and not used:
            certified_only.add(chip_id)
            continue
        if chip_id not in arrived and used:
            # Certified with this buyer before shipments were recorded, and put to use.
            arrivals.setdefault(holder, {})[chip_id] = int(chip["certified_idx"])
    ops = sorted(set(arrivals))
    by_operator = tuple(
        _account(
            "operator",
            op,
            operators.get(op),
            frozenset({op}),
            arrivals,
            chips,
            exported,
            reporting,
        )
        for op in ops
    )
    parties: dict[str, set[str]] = {}
    for op, party in operators.items():
        if party is not None:
            parties.setdefault(party, set()).add(op)
    by_party = tuple(
        _account(
            "party",
            party,
            party,
            frozenset(members),
            arrivals,
            chips,
            exported,
            reporting,
        )
        for party, members in sorted(parties.items())
        if members & set(arrivals)
    )
    exports = tuple(
        Export(
            export_id=row["export_id"],
            chips=ChipCount.of(json.loads(row["chip_ids"])),
            from_operator=_export_holder(row, exported),
            from_party=operators.get(_export_holder(row, exported) or ""),
            destination_country=row["destination_country"],
            destination_entity=row["destination_entity"],
            licence=row["licence"],
            at=row["at"] or row["integrated_at"],
            idx=int(row["idx"]),
        )
        for _, row in sorted(views["exports"].items(), key=lambda kv: int(kv[1]["idx"]))
    )
    plans = views["inspection_plans"]
    inspections = []
    for _, row in sorted(views["inspection_reports"].items(), key=lambda kv: int(kv[1]["idx"])):
        result = _inspection(row)
        plan = plans.get((row["plan_id"],))
        operator = None if plan is None else plan["operator_id"]
        inspections.append(replace(result, operator_id=operator))
    return ChipAccounts(
        operators=by_operator,
        parties=by_party,
        exports=exports,
        inspections=tuple(inspections),
        certified_only=ChipCount.of(certified_only),
    )


def _export_holder(row: Row, exported: Mapping[str, str | None]) -> str | None:
    ids: list[str] = json.loads(row["chip_ids"])
    return exported.get(ids[0]) if ids else None


__all__ = [
    "SHOWN",
    "ChipAccount",
    "ChipAccounts",
    "ChipCount",
    "Export",
    "InspectionResult",
    "chip_accounts",
]
