"""Reading a run's training transcript: its commitments on the log, its audits and verdicts
(issue 17 §1, §3; docs/transcripts.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from pausewatch.api.deps import AtQuery, Limit, Offset, ServiceDep, next_offset, resolve_at
from pausewatch.service import transcript_report

router = APIRouter(tags=["transcripts"])


@router.get(
    "/v1/runs/{run_id:path}/transcript",
    summary="A run's transcript: commitments, checkpoints, audits and verdicts",
    description=(
        "What the log holds of a declared run's training transcript. `commitment`: the "
        "`transcript.commit/v1` as folded (recipe, `hyperparameters_digest`, "
        "`seed_commitment`, `dataset_root`, `dataset_records`, `every`, `steps`, `framework`, "
        "its log entry `committed_idx` and time `committed_at`, and the checkpoint summary the "
        "fold keeps: `checkpoints`, `last_step`, `final_digest`, `final_idx`, `final_at`), or "
        "null before the run committed one. `checkpoints`: `count`, `last_step`, `final` (the "
        "final weights are committed), `final_digest`, and `items` (each committed checkpoint's "
        "`step`, `digest`, log entry `idx` and `integrated_at`), paginated by `offset` and "
        "`limit` (`next`, `total`). `audits`: each audit in log order with `audit_id`, "
        "`inspector_id`, its `replays` (`transcript.replay/v1` as folded: segment, steps, "
        "distance, tolerance, passed, loss drops, log entry), `segments_replayed`, "
        "`passed_replays` and `verdict` (the `transcript.verdict/v1` as folded: budget, "
        "`beacon_size`, `beacon`, drawn `segments`, `verdict` pass or fail, the inclusion "
        "test's statistic, p-value and outcome, `compute_fraction`, `reasons`, "
        "`manifest_digest`, log entry), null while the audit is under way. `findings`: the "
        "policy's transcript findings about the run at `at` (`transcript_missing`, "
        "`transcript_late`, `transcript_failed`) and `timeliness` (`on_time`, `late`, "
        "`missing`, or null where no policy is in force or nothing is committed). 404 (a "
        "problem document) when the run is not declared."
    ),
)
def get_transcript(
    run_id: str,
    service: ServiceDep,
    at: AtQuery = None,
    offset: Offset = 0,
    limit: Limit = 1000,
) -> dict[str, Any]:
    """One run's transcript, its checkpoints paginated."""
    report = transcript_report(service.state, run_id, resolve_at(service, at))
    checkpoints = report["checkpoints"]
    items = checkpoints["items"]
    checkpoints["items"] = items[offset : offset + limit]
    checkpoints["total"] = len(items)
    checkpoints["next"] = next_offset(offset, limit, len(items))
    return report
