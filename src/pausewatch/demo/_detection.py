"""The demo's detection acts: what the independent sources of truth find after the pause is
lifted (issue 16, item 7; docs/adr/0032-demo-acts-and-suspected-training.md).

1. **A diversion, found by the chip balance.** The maker ships eight H100s to Dragon AI
   (``chip.ship/v1``); six are installed and report, one is exported to a buyer outside the
   agreement with no licence (``chips_exported``), one is never installed, retired, exported nor
   seen again (``chips_unaccounted``, for the operator and for its party).
2. **An inspection sample that finds chips missing.** An inspector is registered; the plan
   (``inspection.plan/v1``) commits to the population and the draw before the seed exists; the
   sample is drawn from the root of the log's tree just past the plan's entry, which the
   inspector computes from an inclusion proof (RFC 9162 §2.1.3.2) and the fold computes again;
   a quarter of the cluster's chips are off its racks, so the sample finds some missing
   (``inspection_discrepancy``).
3. **A hidden cluster, found by its facility's energy balance.** A meter certified by the
   inspector is installed on the whole supply of Dragon AI's facility and signs hash-chained
   hourly readings (``meter.certify/v1``, ``meter.install/v1``, ``meter.reading/v1``). On the
   first metered day the meter agrees with the energy the chips report, within its stated
   accuracy; on the second, 256 unregistered chips in the same facility draw power that no chip
   reports, and the day's energy balance (docs/adr/0029) is out by many times its sigma
   (``energy_unaccounted``, and ``compute_unaccounted`` from the meter's energy).

Every statement is deterministic given the seed, and every time is counted from the close of
the successful lift vote, so a replay re-sends the same bytes.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pausewatch.demo._chips import WINDOW
from pausewatch.demo._world import CLUSTERS, chip_ids, chip_key, iso, key
from pausewatch.statements import canonical, signer_id

if TYPE_CHECKING:
    from pausewatch.demo._scenario import Scenario

DRAGON = CLUSTERS[1]
"""Dragon AI's cluster plan: the operator the acts concern."""
SHIPPED = [f"{DRAGON.cluster_id}/{n:05d}" for n in range(DRAGON.chips, DRAGON.chips + 8)]
"""Chips the maker ships to Dragon AI after the lift."""
INSTALLED = SHIPPED[:6]
"""Shipped chips Dragon AI installs in its cluster (they report from then on)."""
EXPORTED = SHIPPED[6:7]
"""A shipped chip Dragon AI exports to a non-party, with no licence."""
VANISHED = SHIPPED[7:]
"""A shipped chip that is never seen again."""
NON_PARTY_COUNTRY = "ZZ"
"""The destination of the export: a code no party of the demo holds (ISO 3166 leaves ZZ to
users), so that no real country is named as a diverter's buyer."""
NON_PARTY_ENTITY = "a trading company outside the agreement (simulated)"
INSPECTOR = "inspector-1"
PLAN_ID = f"inspect-{DRAGON.cluster_id}"
MOVED_EVERY = 4
"""Every fourth of the cluster's original chips is off its racks when the inspectors come."""
DEFECT_SHARE = 0.05
"""The plan is sized to find a falsification of at least 5% of the chips..."""
DETECTION = 0.95
"""...with probability at least 95% (exact hypergeometric law, ``pausewatch detect plan``)."""
METER = f"{DRAGON.facility_id}-meter-1"
METER_RANDOM_SIGMA = 0.01
METER_SYSTEMATIC_SIGMA = 0.005
METER_START_J = 4.2e12
"""The meter's register when installed, in joules."""
METER_BIAS = 0.002
"""The meter's calibration bias (within its stated systematic sigma)."""
OVERHEAD_W = 40_000.0
"""The facility's stated constant draw beside the chips (hosts, network, cooling), in watts:
``overhead_w`` of the meter's installation (contract C1)."""
HIDDEN_CHIPS = 256
HIDDEN_W_PER_CHIP = 630.0
"""Power of one hidden chip training, with its share of hosts and network, in watts."""


def _kinds(found: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [f for f in found if f["kind"] in kinds]


def _excerpt(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _said(findings: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{f['kind']} ({f['subject']}): {_excerpt(f['explanation'])}" for f in findings
    )


def start_of_detection(scenario: Scenario) -> datetime:
    """Midnight after the day on which the successful lift vote closed: where the detection
    acts begin (deterministic on a replay, as the vote's close is on the log)."""
    closes = datetime.fromisoformat(scenario.client.proposal("lift-2")["closes_at"])
    return closes.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def divert(scenario: Scenario) -> str:
    """Act 1: chips shipped to Dragon AI; one exported to a non-party, one vanishes."""
    day = start_of_detection(scenario)
    scenario.story.facts["detection_day"] = iso(day)
    operator = DRAGON.operator_id
    scenario.advance(day + timedelta(hours=1))
    scenario.post_many(
        [
            (
                "chip.certify/v1",
                {
                    "chip_id": c,
                    "maker_id": "maker",
                    "model": DRAGON.model,
                    "serial": f"SN-{c}",
                    "key": signer_id(chip_key(scenario.seed, c).public_key().public_bytes_raw()),
                    "operator_id": operator,
                },
                "maker",
            )
            for c in SHIPPED
        ]
    )
    shipment = {
        "shipment_id": f"ship-{operator}-1",
        "maker_id": "maker",
        "chip_ids": SHIPPED,
        "to_operator": operator,
        "receiving_party": DRAGON.party_id,
        "to_country": DRAGON.country,
        "shipped_at": iso(day + timedelta(hours=1)),
    }
    scenario.post("chip.ship/v1", shipment, "maker")
    scenario.post_many(
        [
            (
                "chip.custody/v1",
                {"chip_id": c, "action": "install", "cluster_id": DRAGON.cluster_id},
                operator,
            )
            for c in INSTALLED
        ]
    )
    scenario.chips[DRAGON.cluster_id].add(INSTALLED, scenario.seed)
    scenario.telemetry(DRAGON.cluster_id, day + 2 * WINDOW, run_id=None, utilisation=0.0)
    export = {
        "export_id": f"export-{operator}-1",
        "chip_ids": EXPORTED,
        "destination_country": NON_PARTY_COUNTRY,
        "destination_entity": NON_PARTY_ENTITY,
        "at": iso(day + 3 * WINDOW),
    }
    scenario.advance(day + 3 * WINDOW + timedelta(minutes=5))
    scenario.post("chip.export/v1", export, operator)
    found = _kinds(
        scenario.client.findings(limit=1000)["findings"], "chips_exported", "chips_unaccounted"
    )
    scenario.story.facts["diversion"] = {
        "shipped": SHIPPED,
        "exported": EXPORTED,
        "vanished": VANISHED,
        "findings": sorted({(f["kind"], f["subject"]) for f in found}),
    }
    return (
        f"{len(SHIPPED)} H100s shipped to {operator}: {len(INSTALLED)} installed and reporting, "
        f"{len(EXPORTED)} exported to a non-party, {len(VANISHED)} never seen again; the chip "
        f"balance finds: {_said(found) or 'nothing'}"
    )


def population() -> list[str]:
    """The chips an inspection of Dragon AI's cluster draws from, in the order the plan
    commits to (their ids, sorted): every chip installed there when the plan is logged."""
    return sorted(chip_ids(DRAGON) + INSTALLED)


def moved() -> set[str]:
    """The cluster's chips that are off its racks when the inspectors come."""
    return set(chip_ids(DRAGON)[MOVED_EVERY - 1 :: MOVED_EVERY])


def draw_context(plan_id: str) -> str:
    """What the draw names as its context (module :mod:`pausewatch.detect._draw`)."""
    return f"plan {plan_id}: chips"


def _seed_root(scenario: Scenario, accepted: dict[str, Any]) -> bytes:
    """The root of the log's tree just past the plan's entry, from the entry's leaf hash and an
    inclusion proof in the tree of that size (RFC 9162 §2.1.3.2): the inspector needs no root
    the log states, only the proof's hashes."""
    from pausewatch.ledger import root_from_inclusion_proof

    index = int(accepted["index"])
    proof = scenario.client.inclusion_proof(index=index, size=index + 1)
    return root_from_inclusion_proof(
        bytes.fromhex(accepted["leaf_hash"]),
        index,
        index + 1,
        [bytes.fromhex(h) for h in proof["proof"]],
    )


def inspect(scenario: Scenario) -> str:
    """Act 2: an inspector's plan, its sample drawn from the next tree's root, chips missing."""
    from pausewatch.detect import draw, plan

    day = datetime.fromisoformat(scenario.story.facts["detection_day"])
    scenario.keys[INSPECTOR] = inspector = key(scenario.seed, INSPECTOR)
    scenario.advance(day + 4 * WINDOW)
    scenario.post(
        "inspector.register/v1",
        {
            "inspector_id": INSPECTOR,
            "name": "Inspector One (simulated)",
            "body": "Compute Inspectorate (simulated)",
            "key": inspector.signer_id,
        },
        scenario.secretariat,
    )
    chips = population()
    sampling = plan(
        population=len(chips),
        defects=math.ceil(DEFECT_SHARE * len(chips)),
        detection=DETECTION,
    )
    context = draw_context(PLAN_ID)
    procedure = {
        "draw": "pausewatch/detect/draw/v1",
        "context": context,
        "chips_drawn": sampling.sample_size,
        "population": chips,
    }
    body = {
        "plan_id": PLAN_ID,
        "inspector_id": INSPECTOR,
        "facility_id": DRAGON.facility_id,
        "cluster_id": DRAGON.cluster_id,
        "chips_drawn": sampling.sample_size,
        "commitment": hashlib.sha256(canonical(procedure)).hexdigest(),
        "read_meters": False,
        "scheduled_at": iso(day + 8 * WINDOW),
    }
    accepted = scenario.post("inspection.plan/v1", body, INSPECTOR)
    seed = _seed_root(scenario, accepted)
    sample = draw(chips, sampling.sample_size, seed, context=context)
    away = moved()
    missing = [c for c in sample if c in away]
    present = [
        {
            "chip_id": c,
            "serial": f"SN-{c}",
            "key": signer_id(chip_key(scenario.seed, c).public_key().public_bytes_raw()),
        }
        for c in sample
        if c not in away
    ]
    scenario.advance(day + 8 * WINDOW)
    report = {
        "plan_id": PLAN_ID,
        "inspected_at": iso(day + 8 * WINDOW),
        "sample": sample,
        "chips_present": present,
        "chips_missing": missing,
        "seals": [{"seal_id": f"{DRAGON.cluster_id}/hall-seal-1", "intact": True}],
        "activity": "idle",
    }
    scenario.post("inspection.report/v1", report, INSPECTOR)
    [row] = [r for r in scenario.view_rows("inspection_reports") if r["plan_id"] == PLAN_ID]
    found = _kinds(scenario.client.findings(limit=1000)["findings"], "inspection_discrepancy")
    scenario.story.facts["inspection"] = {
        "population": len(chips),
        "sample": sample,
        "missing": missing,
        "seed_root": seed.hex(),
        "seed_root_folded": row["seed_root"],
        "detection": sampling.detection,
        "findings": sorted({(f["kind"], f["subject"]) for f in found}),
    }
    agrees = "the fold computed the same seed" if row["seed_root"] == seed.hex() else "SEED DIFFERS"
    return (
        f"{sampling.sample_size} of {len(chips)} chips drawn (P(detect) {sampling.detection:.3f} "
        f"for {math.ceil(DEFECT_SHARE * len(chips))} falsified) from the root of the tree of "
        f"size {int(accepted['index']) + 1} ({agrees}); {len(missing)} not found; "
        f"{_said(found) or 'no finding'}"
    )


def _hour_error(n: int) -> float:
    """The meter's random error on hour ``n``: deterministic, within about +-0.6%."""
    return ((n * 7919) % 13 - 6) / 1000


def _energy_days(scenario: Scenario) -> list[dict[str, Any]]:
    """The metered facility's energy balance per day as the service tests it: day, value,
    sigma (J) and the one-shot test's limit on the standardised residual."""
    report = scenario.client.balances(DRAGON.facility_id)
    return [
        {
            "day": p["start"][:10],
            "value_j": p["value"],
            "sigma_j": p["sigma"],
            "one_shot_limit": p["one_shot_limit"],
            "alarm": p["alarm"],
        }
        for facility in report["facilities"]
        for p in facility["balances"].get("energy", [])
    ]


def hidden_cluster(scenario: Scenario) -> str:
    """Act 3: a metered facility; a day in balance, then a day with a hidden cluster drawing
    power that no chip reports."""
    from pausewatch.detect import next_reading
    from pausewatch.detect._daily import DAY_CLOSES_AFTER

    day = datetime.fromisoformat(scenario.story.facts["detection_day"])
    scenario.keys[METER] = meter_key = key(scenario.seed, METER)
    scenario.advance(day + 12 * WINDOW)
    scenario.post(
        "meter.certify/v1",
        {
            "meter_id": METER,
            "inspector_id": INSPECTOR,
            "model": "revenue-grade three-phase meter (simulated)",
            "serial": f"MTR-{METER}",
            "key": meter_key.signer_id,
            "random_sigma": METER_RANDOM_SIGMA,
            "systematic_sigma": METER_SYSTEMATIC_SIGMA,
        },
        INSPECTOR,
    )
    # On the facility's whole supply: a hidden hall inside the facility draws through it.
    install = {
        "meter_id": METER,
        "facility_id": DRAGON.facility_id,
        "at": iso(day + 12 * WINDOW),
        "overhead_w": OVERHEAD_W,
    }
    scenario.post("meter.install/v1", install, DRAGON.operator_id)
    first = day + timedelta(days=1)
    register = METER_START_J
    reading = next_reading(METER, None, day + 12 * WINDOW, first, register)
    scenario.post("meter.reading/v1", reading, meter_key)
    chips = scenario.chips[DRAGON.cluster_id]
    hidden_w = HIDDEN_CHIPS * HIDDEN_W_PER_CHIP
    hour = WINDOW.total_seconds()
    days: list[dict[str, Any]] = []
    for d in range(2):
        metered = reported = 0.0
        # The day's telemetry goes up in one batch after the day, each hour's reading after it.
        # A chip's window counts on the day it covers, up to the midnight it ends at (ADR 0029).
        data: list[bytes] = []
        readings: list[dict[str, Any]] = []
        for h in range(24):
            start = first + timedelta(days=d, hours=h)
            before = chips.energy_j
            data.append(chips.window(start, run_id=None, utilisation=0.0))
            chips_j = chips.energy_j - before
            delta = (chips_j + OVERHEAD_W * hour) * (1 + METER_BIAS + _hour_error(24 * d + h))
            if d == 1:
                delta += hidden_w * hour
            register = float(round(register + delta))
            reading = next_reading(METER, reading, start, start + WINDOW, register)
            readings.append(reading)
            metered += delta
            reported += chips_j
        scenario.advance(first + timedelta(days=d + 1, minutes=1))
        scenario.send(DRAGON.cluster_id, b"".join(data))
        for body in readings:
            scenario.post("meter.reading/v1", body, meter_key)
        days.append(
            {
                "day": iso(first + timedelta(days=d))[:10],
                "metered_j": metered,
                "chips_j": reported,
                "overhead_j": OVERHEAD_W * 24 * hour,
            }
        )
    # The balance takes a day once it has been closed for a while (late uploads).
    scenario.advance(first + timedelta(days=2) + DAY_CLOSES_AFTER + timedelta(minutes=5))
    found = [
        f
        for f in _kinds(
            scenario.client.findings(limit=1000)["findings"],
            "energy_unaccounted",
            "compute_unaccounted",
        )
        if f["subject"] == f"facility:{DRAGON.facility_id}" and f["figures"].get("basis") == "meter"
    ]
    scenario.story.facts["hidden_cluster"] = {
        "meter": METER,
        "days": days,
        "hidden_w": hidden_w,
        "hidden_w_per_chip": HIDDEN_W_PER_CHIP,
        "findings": sorted({(f["kind"], f["subject"]) for f in found}),
        "periods": sorted({(f["kind"], f["figures"]["period_start"]) for f in found}),
        # The energy balance as GET /v1/detect/balances tests it, for the report's deterrence
        # section: each day's sigma and one-shot limit (the power of the test follows).
        "balance": _energy_days(scenario),
    }
    honest, hidden = days
    return (
        f"meter {METER} on {DRAGON.facility_id}'s supply, {OVERHEAD_W / 1e3:.0f} kW of overhead "
        f"stated: {honest['day']} metered {honest['metered_j'] / 1e9:.2f} GJ against "
        f"{honest['chips_j'] / 1e9:.2f} GJ reported by the chips and "
        f"{honest['overhead_j'] / 1e9:.2f} GJ of overhead; {hidden['day']} metered "
        f"{hidden['metered_j'] / 1e9:.2f} GJ ({HIDDEN_CHIPS} unregistered chips draw power no chip "
        f"reports); the energy balance finds: {_said(found) or 'nothing'}"
    )


__all__ = [
    "DRAGON",
    "EXPORTED",
    "HIDDEN_CHIPS",
    "INSTALLED",
    "METER",
    "PLAN_ID",
    "SHIPPED",
    "VANISHED",
    "divert",
    "draw_context",
    "hidden_cluster",
    "inspect",
    "moved",
    "population",
    "start_of_detection",
]
