"""Training transcripts: commitments on the log before and while a run trains, spot-check replay
of segments drawn from a later checkpoint's root, a data-inclusion test, and the published spoofs
against proof-of-learning (issue 17; docs/transcripts.md).

The package imports torch, safetensors and Ray only inside the functions that need them (the
``transcript`` and ``ray`` extras): the statement kinds, the fold and the draw are pure.
"""

from __future__ import annotations

from pausewatch.transcript._distribute import run_keyed
from pausewatch.transcript._draw import (
    draw_segments,
    miss_probability,
    segment_count,
    segments_for_budget,
)
from pausewatch.transcript._statements import (
    TRANSCRIPT_KINDS,
    CheckpointDigest,
    TranscriptCheckpoint,
    TranscriptCommit,
    TranscriptReplay,
    TranscriptVerdict,
)

__all__ = [
    "TRANSCRIPT_KINDS",
    "CheckpointDigest",
    "TranscriptCheckpoint",
    "TranscriptCommit",
    "TranscriptReplay",
    "TranscriptVerdict",
    "draw_segments",
    "miss_probability",
    "run_keyed",
    "segment_count",
    "segments_for_budget",
]
