"""The demo's transcript act: what was trained, checked by replay (issue 17 §5).

Frontier Lab declares a small run whose declaration binds the hyper-parameters, the seed's
commitment and the checkpoint interval, trains it (the shipped ``mlp`` recipe, a few seconds on
one CPU thread) and commits its transcript on the log; the inspector audits it, drawing the
segments to replay from the root of the log's tree just past the final commitment, and the
verdict is ``pass``. Dragon AI declares and commits a forged transcript (a published spoof: its
final weights swapped in from another run, the segment every audit replays); the audit's
verdict is ``fail``, the policy finds ``transcript_failed`` and files a halt order proposal for
the run.

Training is deterministic (the seeds come from the demo's seed), so the transcripts, their
digests and every statement are the same on a replay; a directory already trained is reused.
Without torch (the ``transcript`` extra) the act is skipped with a line that says so.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pausewatch.demo._world import iso

if TYPE_CHECKING:
    from pausewatch.demo._scenario import Scenario

_logger = logging.getLogger("pausewatch.demo")

RECIPE = "mlp"
STEPS = 40
EVERY = 2
"""Forty steps, a checkpoint every two: twenty segments."""
BUDGET = 0.1
"""The audit replays a tenth of the run's steps: two of its twenty segments, the last always."""
SPOOF = "swapped_final"
"""The forgery Dragon AI commits: a final model swapped in from another run. The last segment is
replayed by every audit, so this spoof is caught at any budget."""
HONEST_RUN = "frontier-lab/transcript-1"
SPOOF_RUN = "dragon-ai/transcript-1"
INSPECTOR = "inspector-1"
"""The inspector registered by the inspection act (:mod:`pausewatch.demo._detection`)."""


def _seed(scenario: Scenario, what: str) -> bytes:
    return hashlib.sha256(f"pausewatch/demo/{scenario.seed}/transcript/{what}".encode()).digest()


def _workdir(scenario: Scenario) -> Path:
    base = scenario.log_dir.parent if scenario.log_dir is not None else Path(".")
    return base / "transcripts"


def _train(scenario: Scenario, out: Path, what: str, run_id: str) -> Path:
    """An honest transcript of the demo's recipe in ``out`` (reused when already there)."""
    from pausewatch.transcript import train

    if not (out / "manifest.json").is_file():
        train(
            RECIPE,
            steps=STEPS,
            every=EVERY,
            out=out,
            seed=_seed(scenario, what),
            threads=1,
            run_id=run_id,
        )
    return out


def _forge(scenario: Scenario, honest: Path, out: Path) -> Path:
    """Dragon AI's forged transcript, made from its own honest one by :data:`SPOOF`."""
    from pausewatch.transcript import SPOOFS

    if not (out / "manifest.json").is_file():
        seed = int.from_bytes(_seed(scenario, "spoof")[:4], "big")
        return Path(SPOOFS[SPOOF](honest, out, rng_seed=seed))
    return out


def _declare(
    scenario: Scenario, run_id: str, operator: str, cluster: str, directory: Path, at: datetime
) -> None:
    """Declare a run whose declaration binds the transcript's commitments."""
    from pausewatch.service import read_transcript_manifest

    manifest = read_transcript_manifest(directory)
    body = {
        "run_id": run_id,
        "operator_id": operator,
        "cluster_id": cluster,
        "model": run_id.replace("/", "-"),
        "phase": "pretraining",
        "planned_flop": 1e15,
        "estimate_method": "hardware",
        "chips": 1,
        "starts_at": iso(at + timedelta(hours=1)),
        "ends_at": iso(at + timedelta(hours=2)),
        "hyperparameters_digest": manifest.hyperparameters_digest,
        "data_order_seed_digest": manifest.seed_commitment,
        "checkpoint_interval_steps": manifest.every,
    }
    scenario.post("run.declaration/v1", body, operator)


def _summary(outcome: Any) -> dict[str, Any]:
    verdict = outcome.verdict
    return {
        "audit_id": outcome.audit_id,
        "verdict": verdict["verdict"],
        "segments": [s["segment"] for s in verdict["segments"]],
        "segments_total": verdict["segments_total"],
        "compute_fraction": verdict["compute_fraction"],
        "reasons": list(verdict["reasons"]),
        "verdict_idx": outcome.verdict_index,
        "beacon_size": outcome.beacon_size,
    }


def transcripts(scenario: Scenario) -> str:
    """The act: an honest transcript passes its audit, a forged one fails and the policy
    proposes to halt its run."""
    from pausewatch.client import RemoteTranscriptLog
    from pausewatch.service import audit_transcript, commit_transcript

    day = datetime.fromisoformat(scenario.story.facts["detection_day"]) + timedelta(days=5)
    scenario.advance(day)
    work = _workdir(scenario)
    try:
        honest = _train(scenario, work / "frontier-honest", "frontier", HONEST_RUN)
        base = _train(scenario, work / "dragon-honest", "dragon", SPOOF_RUN)
        forged = _forge(scenario, base, work / "dragon-forged")
    except ImportError as exc:
        line = f"skipped: training needs the transcript extra ({exc})"
        _logger.warning("the transcript act is %s", line)
        scenario.story.facts["transcripts"] = {"skipped": str(exc)}
        return line
    log = RemoteTranscriptLog(scenario.client)
    _declare(scenario, HONEST_RUN, "frontier-lab", "fl-iowa-1", honest, day)
    _declare(scenario, SPOOF_RUN, "dragon-ai", "dr-ningxia-1", forged, day)
    scenario.advance(day + timedelta(minutes=10))
    commit_transcript(
        directory=honest, key=scenario.keys["frontier-lab"], log=log, run_id=HONEST_RUN
    )
    commit_transcript(directory=forged, key=scenario.keys["dragon-ai"], log=log, run_id=SPOOF_RUN)
    scenario.advance(day + timedelta(minutes=30))
    inspector = scenario.keys[INSPECTOR]
    passed = audit_transcript(
        run_id=HONEST_RUN, directory=honest, budget=BUDGET, key=inspector, log=log, use_ray=False
    )
    failed = audit_transcript(
        run_id=SPOOF_RUN, directory=forged, budget=BUDGET, key=inspector, log=log, use_ray=False
    )
    subject = f"run:{SPOOF_RUN}"

    def halt() -> dict[str, Any] | None:
        return next(
            (
                p
                for p in scenario.client.proposals()
                if p["kind"] == "halt_order" and p.get("subject") == subject
            ),
            None,
        )

    proposal = scenario.wait_for(f"the halt order proposal for {SPOOF_RUN}", halt)
    found = [
        f
        for f in scenario.client.findings(limit=1000)["findings"]
        if f["kind"] == "transcript_failed" and f["subject"] == subject
    ]
    scenario.story.facts["transcripts"] = {
        "honest": {"run_id": HONEST_RUN, **_summary(passed)},
        "spoof": {"run_id": SPOOF_RUN, "spoof": SPOOF, **_summary(failed)},
        "halt": proposal["proposal_id"],
        "findings": sorted({(f["kind"], f["subject"]) for f in found}),
        "recipe": RECIPE,
        "steps": STEPS,
        "every": EVERY,
        "budget": BUDGET,
    }
    p, f = _summary(passed), _summary(failed)
    return (
        f"{HONEST_RUN}'s transcript ({RECIPE}, {STEPS} steps, a checkpoint every {EVERY}) "
        f"committed and audited: {p['verdict']} ({len(p['segments'])} of "
        f"{p['segments_total']} segments replayed, {p['compute_fraction']:.0%} of its compute); "
        f"{SPOOF_RUN} committed a forged transcript ({SPOOF}): {f['verdict']} "
        f"({'; '.join(f['reasons'])[:200] or 'a replay out of tolerance'}); the policy files "
        f"{proposal['proposal_id']} to halt it"
    )


__all__ = ["BUDGET", "EVERY", "HONEST_RUN", "RECIPE", "SPOOF", "SPOOF_RUN", "STEPS", "transcripts"]
