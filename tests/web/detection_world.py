"""A small real world for the Detection page's tests, built once per session through the service.

Every fact is a signed statement on the log: the web tests' policy, party ``us`` with operator
``lab`` (facility ``f1``, cluster ``c1``), chip maker ``nv`` with chips ``chip-1`` to ``chip-6``
bought by ``lab`` and shipped to it (``ship-1``); ``chip-1`` to ``chip-3`` and ``chip-6`` are
installed in ``c1``, ``chip-4`` is never placed (unaccounted for), ``chip-5`` is exported to a
non-party (``exp-1``). Inspector ``insp-1`` plans two inspections of ``f1``: ``plan-1`` is
reported (``chip-2`` present, ``chip-3`` missing, seal ``rack-1`` broken, ``meter-1`` read on
site, and an unregistered chip ``ghost-1`` found), ``plan-2`` is not. Meter ``meter-1`` is
installed on ``f1`` and signs two readings. The secretariat publishes an evaluation of the
detectors (``detect.evaluation/v1``) whose ``report`` holds a hostile string.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pausewatch.detect import evaluation_body, next_reading
from pausewatch.policy import Policy, policy_digest
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import KeyPair, sign_statement
from web.world import HOSTILE_TEXT, Clock, _policy

START = datetime(2027, 3, 1, tzinfo=UTC)
CHIPS = tuple(f"chip-{i}" for i in range(1, 7))
INSTALLED = ("chip-1", "chip-2", "chip-3", "chip-6")

REPORT: dict[str, Any] = {
    "overall": {
        "detection_before_completion": 0.962,
        "false_alarms_per_facility_year": 0.031,
        "detection_before_completion_interval": [0.94, 0.977],
        "false_alarms_interval": [0.01, 0.07],
        "meets_target": True,
    },
    "kinds": {
        "undeclared_training": {
            "runs": 40,
            "detection_before_completion": {
                "detected": 39,
                "runs": 40,
                "estimate": 0.975,
                "wilson": [0.87, 0.996],
            },
            "median_days_to_detection": {"estimate": 1.5, "interval": [1.0, 2.0], "runs": 39},
            "found_by": {"undeclared_compute": 30, "energy_unaccounted": 9},
            "largest_undetected_flop": None,
        },
        "diversion_to_non_party": {
            "runs": 20,
            "detection_before_completion": None,
            "median_days_to_detection": None,
            "found_by": {},
            "largest_undetected_flop": 1e25,
        },
    },
    "cannot_detect": [
        {"kind": "throttled_training", "detection_before_completion": 0.7, "why": HOSTILE_TEXT}
    ],
    "seeds": {"fit": [0, 199], "evaluated": [10_000, 10_299]},
    "corpus_digest": "ab" * 32,
}
"""The evaluation the secretariat publishes (the shape of ``pausewatch detect evaluate``'s
report: per-kind proportions with their intervals, seeds fitted and evaluated on)."""


@dataclass
class DetectionWorld:
    """The seeded service and the log indices the tests name."""

    service: LogService
    clock: Clock
    indices: dict[str, int]
    """Log index of each named statement (``ship-1``, ``exp-1``, ``plan-1``, ``report-1``,
    ``evaluation``...)."""


def build_detection_world(data_dir: Path) -> DetectionWorld:
    """Seed a fresh service in ``data_dir`` (see the module docstring)."""
    clock = Clock(START)
    settings = Settings(data_dir=data_dir, batch_latency_ms=1, clerk_interval_s=0)
    service = LogService(settings, clock=clock).start()
    secretariat = service.secretariat_key
    keys = {n: KeyPair.generate(n) for n in ("us", "lab", "nv", "insp", "meter", *CHIPS)}
    keys["secretariat"] = secretariat
    indices: dict[str, int] = {}

    def submit(kind: str, body: dict[str, Any], signer: str, name: str | None = None) -> None:
        receipt = service.submit(sign_statement(kind, body, keys[signer])).result(timeout=30)
        if name is not None:
            indices[name] = receipt.index

    doc = _policy()
    submit(
        "policy.adopt/v1",
        {
            "policy": doc,
            "digest": policy_digest(Policy.model_validate(doc)),
            "effective_at": "2027-01-01T00:00:00Z",
        },
        "secretariat",
    )
    submit(
        "party.register/v1",
        {"party_id": "us", "name": "United States", "key": keys["us"].signer_id},
        "secretariat",
    )
    submit(
        "operator.register/v1",
        {"operator_id": "lab", "party_id": "us", "name": "Lab", "key": keys["lab"].signer_id},
        "us",
    )
    submit(
        "facility.register/v1",
        {
            "facility_id": "f1",
            "operator_id": "lab",
            "name": "F1",
            "location": {"country": "US"},
            "power_capacity_mw": 50.0,
        },
        "lab",
    )
    submit(
        "cluster.register/v1",
        {"cluster_id": "c1", "facility_id": "f1", "name": "C1", "network_gbps": 400.0},
        "lab",
    )
    submit(
        "chip_maker.register/v1",
        {"maker_id": "nv", "name": "NV", "key": keys["nv"].signer_id},
        "secretariat",
    )
    for chip in CHIPS:
        body = {
            "chip_id": chip,
            "maker_id": "nv",
            "model": "H100 SXM",
            "serial": f"SN-{chip}",
            "key": keys[chip].signer_id,
            "operator_id": "lab",
        }
        submit("chip.certify/v1", body, "nv")
    ship = {
        "shipment_id": "ship-1",
        "maker_id": "nv",
        "chip_ids": list(CHIPS),
        "to_operator": "lab",
        "receiving_party": "us",
        "shipped_at": "2027-02-01T00:00:00Z",
    }
    submit("chip.ship/v1", ship, "nv", "ship-1")
    for chip in INSTALLED:
        submit("chip.custody/v1", {"chip_id": chip, "action": "install", "cluster_id": "c1"}, "lab")
    export = {
        "export_id": "exp-1",
        "chip_ids": ["chip-5"],
        "destination_country": "ZZ",
        "destination_entity": "Elsewhere Compute Ltd",
        "licence": "LIC-0042",
        "at": "2027-02-20T00:00:00Z",
    }
    submit("chip.export/v1", export, "lab", "exp-1")
    submit(
        "inspector.register/v1",
        {
            "inspector_id": "insp-1",
            "name": "Inspector",
            "body": "Agency",
            "key": keys["insp"].signer_id,
        },
        "secretariat",
    )
    submit(
        "meter.certify/v1",
        {
            "meter_id": "meter-1",
            "model": "Acme 9000",
            "serial": "SN-meter-1",
            "key": keys["meter"].signer_id,
            "random_sigma": 0.005,
            "systematic_sigma": 0.01,
        },
        "secretariat",
    )
    submit("meter.install/v1", {"meter_id": "meter-1", "facility_id": "f1"}, "lab")
    previous = None
    for day in range(2):
        reading = next_reading(
            "meter-1",
            previous,
            START - timedelta(days=2 - day),
            START - timedelta(days=1 - day),
            3.6e12 * (day + 1),
        )
        submit("meter.reading/v1", reading, "meter")
        previous = reading
    digest = "cd" * 32
    for plan_id in ("plan-1", "plan-2"):
        plan = {
            "plan_id": plan_id,
            "inspector_id": "insp-1",
            "facility_id": "f1",
            "chips_drawn": 2,
            "commitment": digest,
        }
        submit("inspection.plan/v1", plan, "insp", plan_id)
    report = {
        "plan_id": "plan-1",
        "inspected_at": "2027-03-01T12:00:00Z",
        "sample": ["chip-2", "chip-3"],
        "chips_present": [
            {"chip_id": "chip-2", "serial": "SN-chip-2", "key": keys["chip-2"].signer_id},
            {"chip_id": "ghost-1", "serial": "SN-ghost", "key": KeyPair.generate("g").signer_id},
        ],
        "chips_missing": ["chip-3"],
        "seals": [{"seal_id": "rack-1", "intact": False}, {"seal_id": "rack-2", "intact": True}],
        "meter_readings": [
            {"meter_id": "meter-1", "energy_j": 7.3e12, "read_at": "2027-03-01T12:00:00Z"}
        ],
        "activity": "training",
    }
    clock.now = datetime(2027, 3, 1, 13, tzinfo=UTC)
    submit("inspection.report/v1", report, "insp", "report-1")
    submit(
        "detect.evaluation/v1", evaluation_body(REPORT, "eval-2027-03"), "secretariat", "evaluation"
    )
    clock.freeze()
    return DetectionWorld(service, clock, indices)


def period(day: int, value: float, cusum: float, alarm: str | None = None) -> dict[str, Any]:
    """One period of a C4 balance: a day of March 2027 with sigma 1e9 J, its limits on the
    standardised residual (one-shot) and on the CUSUM."""
    return {
        "start": f"2027-03-{day:02d}T00:00:00+00:00",
        "end": f"2027-03-{day + 1:02d}T00:00:00+00:00",
        "value": value,
        "sigma": 1e9,
        "standardised": value / 1e9,
        "cusum": cusum,
        "one_shot_limit": 3.4,
        "cusum_limit": 4.1,
        "alarm": alarm,
        "evidence": [f"log:{day}"],
    }


def c4_report() -> dict[str, Any]:
    """Balances in the JSON of ``GET /v1/detect/balances``: facility f1's energy balance over
    five days, the fourth alarming the one-shot test and the fifth the CUSUM; no compute;
    operator lab's energy summed over f2 and f3 (f1 left out) for two days, the second
    alarming; party us with no tested series (contract C8)."""
    energy = [
        period(1, 2e8, 0.0),
        period(2, -5e8, 0.0),
        period(3, 1.5e9, 1.0),
        period(4, 4.0e9, 4.5, "one_shot"),
        period(5, 2.5e9, 6.5, "cusum"),
    ]
    return {
        "period": "P1D",
        "false_alarms_per_facility_year": 0.05,
        "facilities": [
            {
                "facility_id": "f1",
                "operator_id": "lab",
                "party_id": "us",
                "meters": ["meter-1"],
                "balances": {"energy": energy, "compute_energy": [], "compute_counters": []},
            }
        ],
        "false_alarms_per_operator_year": 0.03,
        "false_alarms_per_party_year": 0.03,
        "operators": [
            {
                "operator_id": "lab",
                "party_id": "us",
                "facilities": ["f1", "f2", "f3"],
                "included": {"energy": ["f2", "f3"], "compute_energy": [], "compute_counters": []},
                "excluded": {"energy": ["f1"], "compute_energy": [], "compute_counters": []},
                "balances": {
                    "energy": [period(1, 1e9, 0.5), period(2, 5.2e9, 4.7, "one_shot")],
                    "compute_energy": [],
                    "compute_counters": [],
                },
            }
        ],
        "parties": [
            {
                "party_id": "us",
                "facilities": ["f1", "f2", "f3"],
                "included": {"energy": ["f2", "f3"], "compute_energy": [], "compute_counters": []},
                "excluded": {"energy": ["f1"], "compute_energy": [], "compute_counters": []},
                "balances": {"energy": [], "compute_energy": [], "compute_counters": []},
            }
        ],
    }
