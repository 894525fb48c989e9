"""Training transcripts: commitments on the log before and while a run trains, spot-check replay
of segments drawn from a later checkpoint's root, a data-inclusion test, and the published spoofs
against proof-of-learning (issue 17; docs/transcripts.md).

The package imports torch, safetensors and Ray only inside the functions that need them (the
``transcript`` and ``ray`` extras): the statement kinds, the fold and the draw are pure.
"""

from __future__ import annotations

from pausewatch.transcript._distribute import in_process_runner, ray_runner, run_keyed
from pausewatch.transcript._draw import (
    draw_segments,
    miss_probability,
    segment_count,
    segments_for_budget,
)

# The engine: format, recipes, training, replay and verification (contracts T1, T2).
from pausewatch.transcript._format import (
    FORMAT,
    CheckpointRef,
    DatasetRef,
    Manifest,
    TranscriptError,
    checkpoint_path,
    file_digest,
    hyperparameters_digest,
    read_manifest,
    seed_commitment,
    write_manifest,
)
from pausewatch.transcript._inclusion import compute_fraction
from pausewatch.transcript._recipes import RECIPES, Recipe
from pausewatch.transcript._replay import SegmentResult, SegmentTask, replay_segment
from pausewatch.transcript._spoofs import SPOOFS
from pausewatch.transcript._statements import (
    TRANSCRIPT_KINDS,
    CheckpointDigest,
    TranscriptCheckpoint,
    TranscriptCommit,
    TranscriptReplay,
    TranscriptVerdict,
)
from pausewatch.transcript._tolerance import cosine_distance, relative_l2, tolerance_for
from pausewatch.transcript._train import train
from pausewatch.transcript._verify import (
    ALPHA,
    MIN_PAIRS,
    AuditPlan,
    Check,
    Inclusion,
    Runner,
    Verdict,
    conclude,
    inclusion_test,
    plan_audit,
    replay_in_process,
    verify,
)

__all__ = [
    "ALPHA",
    "FORMAT",
    "MIN_PAIRS",
    "RECIPES",
    "SPOOFS",
    "TRANSCRIPT_KINDS",
    "AuditPlan",
    "Check",
    "CheckpointDigest",
    "CheckpointRef",
    "DatasetRef",
    "Inclusion",
    "Manifest",
    "Recipe",
    "Runner",
    "SegmentResult",
    "SegmentTask",
    "TranscriptCheckpoint",
    "TranscriptCommit",
    "TranscriptError",
    "TranscriptReplay",
    "TranscriptVerdict",
    "Verdict",
    "checkpoint_path",
    "compute_fraction",
    "conclude",
    "cosine_distance",
    "draw_segments",
    "file_digest",
    "hyperparameters_digest",
    "in_process_runner",
    "inclusion_test",
    "miss_probability",
    "plan_audit",
    "ray_runner",
    "read_manifest",
    "relative_l2",
    "replay_in_process",
    "replay_segment",
    "run_keyed",
    "seed_commitment",
    "segment_count",
    "segments_for_budget",
    "tolerance_for",
    "train",
    "verify",
    "write_manifest",
]
