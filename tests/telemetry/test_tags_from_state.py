"""Tags weighed through the state (issue 16 item 3; docs/adr/0028): a registry folded from
signed statements and verified telemetry yields ``tag_mismatch`` for chips a declaration does
not name, and ``split_run_suspected`` for runs that declare one recipe on two clusters, or
distinct recipes just under the prohibition (docs/adr/0034)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pausewatch.policy import Finding, load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService, evaluation
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Fleet, Workload, fleet_world, simulate_fleet
from pausewatch.statements import Statement, load_key, sign_statement

from .test_ingest import submission, ticking

CLUSTERS = (
    ClusterSpec("train-1", "lab", "H100 SXM", 4, Workload.TRAINING),
    ClusterSpec("train-2", "lab", "H100 SXM", 4, Workload.TRAINING),
)


@pytest.fixture
def fleet() -> Fleet:
    return simulate_fleet(CLUSTERS, windows=4, seed=5)


def _findings(
    tmp_path: Path,
    fleet: Fleet,
    *,
    same_recipe: bool,
    chip_ids: tuple[str, ...] | None = None,
    planned_flop: float = 6e23,
) -> list[Finding]:
    """The findings over the fleet's log, its runs declared at ``planned_flop`` each (with
    ``chip_ids``: run-train-1's declaration names only these chips)."""
    settings = Settings(data_dir=tmp_path, batch_latency_ms=1)
    svc = LogService(settings, clock=ticking(fleet.end + timedelta(minutes=1))).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        policy = load_preset("miri-2025")
        body = {
            "policy": policy_to_json(policy),
            "digest": policy_digest(policy),
            "effective_at": "2026-01-01T00:00:00Z",
        }
        svc.submit(sign_statement("policy.adopt/v1", body, secretariat)).result(30)
        world = fleet_world(fleet, secretariat, planned_flop=planned_flop, same_recipe=same_recipe)
        operator = world.operators["lab"]
        for stage in world.stages:
            statements: list[Statement] = list(stage)
            if chip_ids is not None and stage[0].kind == "run.declaration/v1":
                statements = [_naming(s, chip_ids, operator) for s in stage]
            for future in [svc.submit(s) for s in statements]:
                future.result(60)
        data = fleet.jsonl()
        svc.ingest_telemetry(data, submission(data, operator))
        return list(evaluation(svc.state, fleet.end + timedelta(minutes=2)).findings)
    finally:
        svc.close()


def _naming(statement: Statement, chip_ids: tuple[str, ...], key: object) -> Statement:
    body = dict(statement.raw_body)
    if body["run_id"] != "run-train-1":
        return statement
    body["chip_ids"] = list(chip_ids)
    body["chips"] = len(chip_ids)
    return sign_statement("run.declaration/v1", body, key)  # type: ignore[arg-type]


def test_chips_outside_the_declaration_are_a_tag_mismatch(tmp_path: Path, fleet: Fleet) -> None:
    """A run declared on three of its cluster's four chips, whose records came from all four,
    is a serious tag mismatch naming the fourth chip (a quarter of its chips)."""
    chips = sorted(c.chip_id for c in fleet.chips if c.cluster_id == "train-1")
    # Declared at honest sizes: at 6e23 each the two runs would be structuring (ADR 0034).
    found = _findings(
        tmp_path, fleet, same_recipe=False, chip_ids=tuple(chips[:3]), planned_flop=5e21
    )
    (f,) = [f for f in found if f.kind.value == "tag_mismatch"]
    assert f.subject == "run:run-train-1"
    assert f.severity.value == "serious"
    assert chips[3] in f.explanation
    assert dict(f.figures)["foreign_share"] == 0.25
    assert not [f for f in found if f.kind.value == "split_run_suspected"]


def test_one_recipe_on_two_clusters_is_a_suspected_split(tmp_path: Path, fleet: Fleet) -> None:
    """Two runs of one operator, on two clusters at once, distinct models, one declared recipe,
    each at 6e23 FLOP and 1.2e24 together: a split under the prohibition is suspected and an
    inspection asked for, on the basis of the shared recipe."""
    found = _findings(tmp_path, fleet, same_recipe=True)
    (f,) = [f for f in found if f.kind.value == "split_run_suspected"]
    assert f.subject == "party:party-1"
    assert f.action.value == "inspection"
    assert "runs run-train-1, run-train-2" in f.explanation
    assert dict(f.figures)["threshold"] == 1e24
    assert dict(f.figures)["basis"] == "recipe"
    assert not [f for f in found if f.kind.value == "tag_mismatch"]


def test_distinct_recipes_just_under_the_prohibition_are_structuring(
    tmp_path: Path, fleet: Fleet
) -> None:
    """The same two runs, each declaring its own recipe, started together at 6e23 FLOP each:
    a serious split suspected on the basis of structuring (docs/adr/0034); the same fleet
    declared at honest sizes (5e21 FLOP a run) draws no split and no tag mismatch."""
    found = _findings(tmp_path, fleet, same_recipe=False)
    (f,) = [f for f in found if f.kind.value == "split_run_suspected"]
    assert (f.subject, f.severity.value) == ("party:party-1", "serious")
    assert dict(f.figures)["basis"] == "structuring"
    assert "runs run-train-1, run-train-2" in f.explanation
    honest = _findings(tmp_path / "honest", fleet, same_recipe=False, planned_flop=5e21)
    assert not [f for f in honest if f.kind.value in ("split_run_suspected", "tag_mismatch")]
