"""The independent sources of truth in the fold: meters and their readings, the supply chain,
inspectors and inspections, declared non-training work (docs/adr/0025-independent-sources.md).

Like the registry's handlers, each checks who signs (a refusal of the signer is ``forbidden``:
403 at the edge) and what must already be on the log (else a conflict: 409, with the reason),
and sets view rows. A meter's readings form a hash chain per meter, checked here as a chip's
telemetry is: ``seq`` one past the head, ``prev`` the head's digest, energy that never falls,
periods that never overlap. A reading past a missing one is taken, and the gap recorded
(``meter_gaps``): the meter's cumulative count still carries the energy of the readings lost.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pausewatch.detect._published import HANDLERS as PUBLISHED_HANDLERS
from pausewatch.detect._statements import (
    ChipExport,
    ChipShip,
    InspectionPlan,
    InspectionReport,
    InspectorRegister,
    MeterCertify,
    MeterInstall,
    MeterReading,
    WorkloadDeclare,
    reading_digest,
)
from pausewatch.fields import format_time
from pausewatch.registry._fold import (
    Handler,
    RejectedError,
    Row,
    _Context,
    _time,
    record_movement,
)
from pausewatch.registry._kinds import SubjectKind
from pausewatch.statements import Body

MAX_SEED_LAG = 1_000_000
"""A report is folded at most this many entries after its plan's seed (the tree at the plan's
index + 1), so that an audit computes the seed from the window of recent roots it keeps for
witness cosignatures (``MAX_COSIGNATURE_LAG``, the same figure): a plan older than that is
planned again."""


def _describe(ctx: _Context) -> str:
    holder = ctx.holder()
    if holder is not None:
        return f"{holder[0]} {holder[1]!r}"
    if ctx.signer in ctx.registry.secretariat:
        return "the secretariat"
    return f"{ctx.signer} (not a live registered key)"


def _facility_cluster(ctx: _Context, facility_id: str, cluster_id: str | None) -> Row:
    """The facility (which must exist), after checking that ``cluster_id`` is one of its."""
    facility = ctx.must_exist("facilities", "facility", facility_id)
    if cluster_id is not None:
        cluster = ctx.must_exist("clusters", "cluster", cluster_id)
        if cluster["facility_id"] != facility_id:
            raise RejectedError(
                f"cluster {cluster_id!r} is in facility {cluster['facility_id']!r}, "
                f"not {facility_id!r}"
            )
    return facility


# -- meters --------------------------------------------------------------------------------------


def _meter_certify(ctx: _Context, body: Body) -> None:
    assert isinstance(body, MeterCertify)
    if body.inspector_id is None:
        ctx.require_secretariat()
    else:
        ctx.must_exist("inspectors", "inspector", body.inspector_id)
        ctx.require(SubjectKind.INSPECTOR, body.inspector_id)
    ctx.must_be_new("meters", "meter", body.meter_id)
    ctx.new_key(body.key, SubjectKind.METER, body.meter_id)
    ctx.set(
        "meters",
        {
            "meter_id": body.meter_id,
            "inspector_id": body.inspector_id,
            "model": body.model,
            "serial": body.serial,
            "key": body.key,
            "random_sigma": body.random_sigma,
            "systematic_sigma": body.systematic_sigma,
            "status": "certified",
            "operator_id": None,
            "facility_id": None,
            "cluster_id": None,
            "installed_at": None,
            "overhead_w": 0.0,
            "overhead_ratio": 0.0,
            "overhead_sigma": 0.05,
            "head_seq": None,
            "head_digest": None,
            "head_energy_j": None,
            "head_window_end": None,
            "readings": 0,
            "gaps": 0,
            "certified_idx": ctx.index,
            "updated_idx": ctx.index,
            "updated_at": ctx.when,
        },
    )


def _meter_install(ctx: _Context, body: Body) -> None:
    assert isinstance(body, MeterInstall)
    meter = ctx.must_exist("meters", "meter", body.meter_id)
    facility = _facility_cluster(ctx, body.facility_id, body.cluster_id)
    ctx.require(SubjectKind.OPERATOR, facility["operator_id"])
    key = ctx.get("keys", meter["key"])
    if key is not None and key["revoked_idx"] is not None:
        raise RejectedError(f"meter {body.meter_id!r}'s key is revoked: it must be certified anew")
    holder = meter["operator_id"]
    if holder is not None and holder != facility["operator_id"]:
        raise RejectedError(
            f"meter {body.meter_id!r} is installed at facility {meter['facility_id']!r} of "
            f"operator {holder!r}"
        )
    ctx.update(
        "meters",
        meter,
        status="installed",
        operator_id=facility["operator_id"],
        facility_id=body.facility_id,
        cluster_id=body.cluster_id,
        installed_at=_time(body.at) or ctx.when,
        overhead_w=body.overhead_w,
        overhead_ratio=body.overhead_ratio,
        overhead_sigma=body.overhead_sigma,
        updated_idx=ctx.index,
        updated_at=ctx.when,
    )


def _meter_reading(ctx: _Context, body: Body) -> None:
    assert isinstance(body, MeterReading)
    meter = ctx.must_exist("meters", "meter", body.meter_id)
    ctx.require(SubjectKind.METER, body.meter_id)
    if meter["status"] != "installed":
        raise RejectedError(
            f"meter {body.meter_id!r} is not installed: its readings measure no facility"
        )
    head = meter["head_seq"]
    digest = reading_digest(ctx.statement.raw_body)
    where = f"meter {body.meter_id!r} reading {body.seq}"
    if head is not None:
        if body.seq <= head:
            raise RejectedError(
                f"{where}: not past the meter's head (reading {head}, digest "
                f"{meter['head_digest']}): a replayed or conflicting reading"
            )
        if body.seq == head + 1 and body.prev != meter["head_digest"]:
            raise RejectedError(
                f"{where}: broken chain: prev is {body.prev}, expected {meter['head_digest']}, "
                f"the digest of reading {head}"
            )
        if body.energy_j < meter["head_energy_j"]:
            raise RejectedError(
                f"{where}: the energy count falls from {meter['head_energy_j']!r} J (reading "
                f"{head}) to {body.energy_j!r} J"
            )
        start = format_time(body.window_start)
        if start < meter["head_window_end"]:
            raise RejectedError(
                f"{where}: its window starts at {start}, before reading {head}'s ends "
                f"({meter['head_window_end']})"
            )
    first_missing = 0 if head is None else head + 1
    gap = body.seq > first_missing
    if gap:
        ctx.set(
            "meter_gaps",
            {
                "meter_id": body.meter_id,
                "from_seq": first_missing,
                "to_seq": body.seq - 1,
                "idx": ctx.index,
                "integrated_at": ctx.when,
            },
        )
    ctx.set(
        "meter_readings",
        {
            "meter_id": body.meter_id,
            "seq": body.seq,
            "digest": digest,
            "prev": body.prev,
            "facility_id": meter["facility_id"],
            "cluster_id": meter["cluster_id"],
            "window_start": format_time(body.window_start),
            "window_end": format_time(body.window_end),
            "energy_j": body.energy_j,
            # Since the reading before on the log: after a gap, it spans the missing ones too.
            "delta_j": None if head is None else body.energy_j - meter["head_energy_j"],
            "after_gap": gap,
            "idx": ctx.index,
            "integrated_at": ctx.when,
        },
    )
    ctx.update(
        "meters",
        meter,
        head_seq=body.seq,
        head_digest=digest,
        head_energy_j=body.energy_j,
        head_window_end=format_time(body.window_end),
        readings=meter["readings"] + 1,
        gaps=meter["gaps"] + (1 if gap else 0),
        updated_idx=ctx.index,
        updated_at=ctx.when,
    )


# -- supply chain --------------------------------------------------------------------------------


def _ship(ctx: _Context, body: Body) -> None:
    assert isinstance(body, ChipShip)
    ctx.must_exist("chip_makers", "chip maker", body.maker_id)
    if ctx.signer not in ctx.registry.secretariat:
        ctx.require(SubjectKind.CHIP_MAKER, body.maker_id)
    ctx.must_be_new("shipments", "shipment", body.shipment_id)
    buyer = ctx.must_exist("operators", "operator", body.to_operator)
    if buyer["party_id"] != body.receiving_party:
        raise RejectedError(
            f"operator {body.to_operator!r} is registered under party {buyer['party_id']!r}, "
            f"not {body.receiving_party!r}"
        )
    chips = [ctx.must_exist("chips", "chip", chip_id) for chip_id in body.chip_ids]
    for chip in chips:
        name = chip["chip_id"]
        if chip["maker_id"] != body.maker_id:
            raise RejectedError(f"chip {name!r} is made by {chip['maker_id']!r}, not this maker")
        if chip["status"] in ("retired", "installed"):
            raise RejectedError(f"chip {name!r} is {chip['status']}: it is no longer shipped")
        if chip["operator_id"] is not None and chip["operator_id"] != body.to_operator:
            raise RejectedError(
                f"chip {name!r} is sold to operator {chip['operator_id']!r}: it ships to its "
                f"buyer, not to {body.to_operator!r}"
            )
    for chip in chips:
        record_movement(
            ctx,
            chip,
            "ship",
            to_operator=body.to_operator,
            to_party=body.receiving_party,
            destination_country=body.to_country,
            ref=body.shipment_id,
            at=format_time(body.shipped_at),
        )
    ctx.set(
        "shipments",
        {
            "shipment_id": body.shipment_id,
            "maker_id": body.maker_id,
            "to_operator": body.to_operator,
            "receiving_party": body.receiving_party,
            "chips": len(body.chip_ids),
            "chip_ids": json.dumps(list(body.chip_ids)),
            "from_country": body.from_country,
            "to_country": body.to_country,
            "shipped_at": format_time(body.shipped_at),
            "idx": ctx.index,
            "integrated_at": ctx.when,
        },
    )


def _export(ctx: _Context, body: Body) -> None:
    assert isinstance(body, ChipExport)
    if ctx.get("exports", body.export_id) is not None:
        raise RejectedError(f"export {body.export_id!r} is already on the log")
    chips = [ctx.must_exist("chips", "chip", chip_id) for chip_id in body.chip_ids]
    signer = ctx.holder()
    for chip in chips:
        name, holder = chip["chip_id"], chip["operator_id"]
        if chip["status"] == "retired":
            raise RejectedError(f"chip {name!r} is retired (or already exported)")
        right = (
            (SubjectKind.CHIP_MAKER.value, chip["maker_id"])
            if holder is None
            else (SubjectKind.OPERATOR.value, holder)
        )
        if signer != right:
            raise RejectedError(
                f"chip {name!r} may be exported only by {right[0]} {right[1]!r}, which holds "
                f"the right to it; the signer is {_describe(ctx)}",
                forbidden=True,
            )
    reason = f"exported to {body.destination_entity} ({body.destination_country})"
    for chip in chips:
        holder = chip["operator_id"]
        owner = None if holder is None else ctx.get("operators", holder)
        record_movement(
            ctx,
            chip,
            "export",
            from_operator=holder,
            from_party=None if owner is None else owner["party_id"],
            destination_country=body.destination_country,
            destination_entity=body.destination_entity,
            ref=body.export_id,
            at=_time(body.at),
        )
        # The registry's chip states have no "exported" (every reader knows its four states):
        # an exported chip leaves the regime as a retired one does; chip_movements tells them
        # apart.
        ctx.update(
            "chips",
            chip,
            status="retired",
            cluster_id=None,
            updated_idx=ctx.index,
            updated_at=ctx.when,
        )
        ctx.revoke_key(chip["key"], reason)
    ctx.set(
        "exports",
        {
            "export_id": body.export_id,
            "signer": ctx.signer,
            "chips": len(body.chip_ids),
            "chip_ids": json.dumps(list(body.chip_ids)),
            "destination_country": body.destination_country,
            "destination_entity": body.destination_entity,
            "licence": body.licence,
            "at": _time(body.at),
            "idx": ctx.index,
            "integrated_at": ctx.when,
        },
    )


# -- inspectors and inspections ------------------------------------------------------------------


def _inspector(ctx: _Context, body: Body) -> None:
    assert isinstance(body, InspectorRegister)
    ctx.require_secretariat()
    ctx.must_be_new("inspectors", "inspector", body.inspector_id)
    ctx.new_key(body.key, SubjectKind.INSPECTOR, body.inspector_id)
    ctx.set(
        "inspectors",
        {
            "inspector_id": body.inspector_id,
            "name": body.name,
            "body": body.body,
            "key": body.key,
            "registered_idx": ctx.index,
            "registered_at": ctx.when,
        },
    )


def _population(ctx: _Context, facility_id: str, cluster_id: str | None) -> int:
    """Chips installed, at this entry, where a plan draws from."""
    clusters = ctx.registry.views["clusters"]
    count = 0
    for chip in ctx.registry.views["chips"].values():
        where = chip["cluster_id"]
        if chip["status"] != "installed" or where is None:
            continue
        cluster = clusters.get((where,))
        if cluster is None or cluster["facility_id"] != facility_id:
            continue
        if cluster_id is None or where == cluster_id:
            count += 1
    return count


def _plan(ctx: _Context, body: Body) -> None:
    assert isinstance(body, InspectionPlan)
    ctx.must_exist("inspectors", "inspector", body.inspector_id)
    ctx.require(SubjectKind.INSPECTOR, body.inspector_id)
    if ctx.get("inspection_plans", body.plan_id) is not None:
        raise RejectedError(f"inspection plan {body.plan_id!r} is already on the log")
    facility = _facility_cluster(ctx, body.facility_id, body.cluster_id)
    ctx.set(
        "inspection_plans",
        {
            "plan_id": body.plan_id,
            "inspector_id": body.inspector_id,
            "facility_id": body.facility_id,
            "cluster_id": body.cluster_id,
            "operator_id": facility["operator_id"],
            "chips_drawn": body.chips_drawn,
            "population": _population(ctx, body.facility_id, body.cluster_id),
            "seed_rule": body.seed_rule.value,
            "commitment": body.commitment,
            "read_meters": body.read_meters,
            "scheduled_at": _time(body.scheduled_at),
            "note": body.note,
            "idx": ctx.index,
            "integrated_at": ctx.when,
            "seed_size": ctx.index + 1,
            "reported_idx": None,
        },
    )


def _discrepancies(ctx: _Context, body: InspectionReport, facility_id: str) -> list[dict[str, Any]]:
    """What the inspectors found that the registry does not say: a chip unknown, with another
    serial or key, or installed elsewhere; a meter unknown or not at this facility."""
    found: list[dict[str, Any]] = []
    for seen in body.chips_present:
        chip = ctx.get("chips", seen.chip_id)
        if chip is None:
            found.append({"chip_id": seen.chip_id, "problem": "not registered"})
            continue
        if chip["serial"] != seen.serial:
            found.append({"chip_id": seen.chip_id, "problem": "serial differs"})
        if chip["key"] != seen.key:
            found.append({"chip_id": seen.chip_id, "problem": "key differs"})
        cluster = None if chip["cluster_id"] is None else ctx.get("clusters", chip["cluster_id"])
        if chip["status"] != "installed" or cluster is None:
            found.append({"chip_id": seen.chip_id, "problem": f"registered as {chip['status']}"})
        elif cluster["facility_id"] != facility_id:
            found.append(
                {"chip_id": seen.chip_id, "problem": f"installed in {cluster['facility_id']}"}
            )
    for reading in body.meter_readings:
        meter = ctx.get("meters", reading.meter_id)
        if meter is None:
            found.append({"meter_id": reading.meter_id, "problem": "not certified"})
        elif meter["facility_id"] != facility_id:
            found.append({"meter_id": reading.meter_id, "problem": "not installed here"})
    return found


def _seed(ctx: _Context, plan: Row) -> str:
    """The plan's seed: the root (hex) of the log's tree at the plan's index + 1."""
    what = f"inspection report of plan {plan['plan_id']!r} (plan the inspection again if old)"
    return ctx.log_root(int(plan["seed_size"]), lag=MAX_SEED_LAG, what=what)


def _report(ctx: _Context, body: Body) -> None:
    assert isinstance(body, InspectionReport)
    plan = ctx.must_exist("inspection_plans", "inspection plan", body.plan_id)
    ctx.require(SubjectKind.INSPECTOR, plan["inspector_id"])
    earlier = ctx.get("inspection_reports", body.plan_id)
    if earlier is not None:
        raise RejectedError(
            f"inspection plan {body.plan_id!r} already has its report (entry {earlier['idx']})"
        )
    inspected = format_time(body.inspected_at)
    if inspected < plan["integrated_at"]:
        raise RejectedError(
            f"inspected at {inspected}, before the plan was on the log ({plan['integrated_at']}):"
            " its sample could not have been drawn yet"
        )
    seed = _seed(ctx, plan)
    found = _discrepancies(ctx, body, plan["facility_id"])
    ctx.set(
        "inspection_reports",
        {
            "plan_id": body.plan_id,
            "inspector_id": plan["inspector_id"],
            "facility_id": plan["facility_id"],
            "inspected_at": inspected,
            "seed_size": plan["seed_size"],
            "seed_root": seed,
            "sample": json.dumps(list(body.sample)),
            "chips_present": len(body.chips_present),
            "chips_missing": len(body.chips_missing),
            "present": json.dumps([c.model_dump(mode="json") for c in body.chips_present]),
            "missing": json.dumps(list(body.chips_missing)),
            "seals": json.dumps([s.model_dump(mode="json") for s in body.seals]),
            "seals_broken": sum(1 for s in body.seals if not s.intact),
            "meter_readings": json.dumps([r.model_dump(mode="json") for r in body.meter_readings]),
            "discrepancies": json.dumps(found),
            "activity": body.activity.value,
            "note": body.note,
            "idx": ctx.index,
            "integrated_at": ctx.when,
        },
    )
    ctx.update("inspection_plans", plan, reported_idx=ctx.index)


# -- declared non-training work ------------------------------------------------------------------


def _workload(ctx: _Context, body: Body) -> None:
    assert isinstance(body, WorkloadDeclare)
    ctx.must_exist("operators", "operator", body.operator_id)
    ctx.require(SubjectKind.OPERATOR, body.operator_id)
    cluster = ctx.must_exist("clusters", "cluster", body.cluster_id)
    if cluster["operator_id"] != body.operator_id:
        raise RejectedError(f"cluster {body.cluster_id!r} belongs to {cluster['operator_id']!r}")
    if ctx.get("workloads", body.workload_id) is not None:
        raise RejectedError(f"workload {body.workload_id!r} is already declared")
    ctx.set(
        "workloads",
        {
            "workload_id": body.workload_id,
            "operator_id": body.operator_id,
            "cluster_id": body.cluster_id,
            "facility_id": cluster["facility_id"],
            "kind": body.kind.value,
            "starts_at": format_time(body.starts_at),
            "ends_at": format_time(body.ends_at),
            "chips": body.chips,
            "power_w_max": body.power_w_max,
            "flop_max": body.flop_max,
            "description": body.description,
            "idx": ctx.index,
            "integrated_at": ctx.when,
        },
    )


HANDLERS: Mapping[str, Handler] = {
    "meter.certify/v1": _meter_certify,
    "meter.install/v1": _meter_install,
    "meter.reading/v1": _meter_reading,
    "chip.ship/v1": _ship,
    "chip.export/v1": _export,
    "inspector.register/v1": _inspector,
    "inspection.plan/v1": _plan,
    "inspection.report/v1": _report,
    "workload.declare/v1": _workload,
    **PUBLISHED_HANDLERS,
}
"""How the detection sources fold; composed with the other domains' in :mod:`pausewatch.state`."""
