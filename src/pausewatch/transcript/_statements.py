"""Statement kinds of training transcripts (issue 17, §1; docs/adr/0038-transcript-beacon.md).

``transcript.commit/v1`` (the run's operator)
    Before training: the recipe, the hyper-parameters' digest, the seed's commitment, the
    dataset's Merkle root and size, the checkpoint interval and the steps, bound to the run's
    declaration (the fold requires the declaration's digests and interval).
``transcript.checkpoint/v1`` (the run's operator)
    While training: the digests of checkpoints as they are written (step 0 first, then every
    ``every`` steps), the last one ``final`` (the final weights, at ``steps``).
``transcript.replay/v1`` (an inspector)
    One replayed segment of an audit: its distance to the committed checkpoint, the tolerance,
    and the data-inclusion figures.
``transcript.verdict/v1`` (an inspector)
    The audit's verdict, with the beacon its segments were drawn from: the log's root just
    after the final commitment, which the prover could not know when it committed.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise
from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from pausewatch.fields import Count, Digest, Finite, Fraction, Id, Label, PositiveCount, Text
from pausewatch.statements import Body, statement_kind
from pausewatch.transcript._draw import MAX_DRAWN, segment_count

MAX_SEGMENTS = 1_000_000
"""The most segments a committed transcript may have (``ceil(steps / every)``): an audit draws
from them in memory, and a million checkpoints is far beyond any run's."""

Distance = Annotated[float, Field(ge=0, le=1e300, allow_inf_nan=False)]
"""A distance between weights, or its tolerance (non-negative)."""


@statement_kind("transcript.commit/v1")
class TranscriptCommit(Body):
    """What a run will train, committed before it trains: every degree of freedom of the
    transcript that a forger could otherwise choose after the fact."""

    signed_by: ClassVar[str] = "operator"

    run_id: Id
    """The declared run (its operator signs this statement)."""
    recipe: Label
    """The training recipe (``mlp``, ``tinylm``, or the lab's own name)."""
    hyperparameters_digest: Digest
    """SHA-256 of the RFC 8785 bytes of the hyper-parameters: the declaration's."""
    seed_commitment: Digest
    """SHA-256 of the secret seed the initial weights and the batch order derive from: the
    declaration's ``data_order_seed_digest``."""
    dataset_root: Digest
    """The RFC 9162 Merkle root over the dataset's records."""
    dataset_records: PositiveCount
    """How many records the dataset holds."""
    every: PositiveCount
    """A checkpoint every this many optimiser steps: the declaration's interval."""
    steps: PositiveCount
    """Optimiser steps the run will take: the final checkpoint is at this step."""
    framework: Label | None = None
    """The training framework (``torch``), if the operator says."""

    @model_validator(mode="after")
    def _consistent(self) -> TranscriptCommit:
        segments = segment_count(self.steps, self.every)
        if segments > MAX_SEGMENTS:
            raise ValueError(
                f"{self.steps} steps checkpointed every {self.every} make {segments:,} "
                f"segments; at most {MAX_SEGMENTS:,}"
            )
        return self


class CheckpointDigest(Body):
    """One checkpoint: its step and the SHA-256 of its file's bytes."""

    step: Count
    """The optimiser step after which the weights were saved (0: the initial weights)."""
    digest: Digest
    """SHA-256 of the checkpoint file's bytes, lowercase hex."""


@statement_kind("transcript.checkpoint/v1")
class TranscriptCheckpoint(Body):
    """Checkpoints committed as the run trains, in step order, continuing the run's last."""

    signed_by: ClassVar[str] = "operator"

    run_id: Id
    """The run (its operator signs this statement)."""
    checkpoints: Annotated[tuple[CheckpointDigest, ...], Field(min_length=1, max_length=1_000)]
    """1 to 1,000 checkpoints, steps strictly increasing; each step a multiple of the
    transcript's ``every`` or its ``steps``."""
    final: bool = False
    """The last checkpoint is the final weights (at the transcript's ``steps``): nothing may
    follow it."""

    @model_validator(mode="after")
    def _consistent(self) -> TranscriptCheckpoint:
        steps = [c.step for c in self.checkpoints]
        for before, after in pairwise(steps):
            if after <= before:
                raise ValueError(
                    f"checkpoint steps must increase strictly: {after} follows {before}"
                )
        return self


@statement_kind("transcript.replay/v1")
class TranscriptReplay(Body):
    """One segment of an audit replayed from its committed starting checkpoint."""

    signed_by: ClassVar[str] = "inspector"

    audit_id: Id
    """The audit this replay belongs to (its verdict names the same id)."""
    run_id: Id
    """The run whose transcript is audited."""
    inspector_id: Id
    """The inspector that replayed it (signs this statement)."""
    segment: Count
    """The segment's number: it runs from checkpoint ``segment * every``."""
    start_step: Count
    """The step of the checkpoint the replay started from."""
    end_step: PositiveCount
    """The step of the committed checkpoint the replay is compared with."""
    distance: Distance
    """The distance between the replayed weights and the committed checkpoint's."""
    tolerance: Distance
    """The largest distance an honest replay reaches (calibrated from honest replays)."""
    passed: bool
    """Whether the distance is within the tolerance."""
    train_loss_drop: Finite
    """How much the segment's training lowered the loss on the data it trained on."""
    heldout_loss_drop: Finite
    """How much it lowered the loss on held-out data (the inclusion test compares them)."""
    steps_replayed: Count
    """Optimiser steps the replay took."""

    @model_validator(mode="after")
    def _consistent(self) -> TranscriptReplay:
        if self.end_step <= self.start_step:
            raise ValueError(f"end_step {self.end_step} must be after start_step {self.start_step}")
        within = self.distance <= self.tolerance
        if self.passed != within:
            raise ValueError(
                f"passed is {str(self.passed).lower()}, but the distance {self.distance!r} is "
                f"{'within' if within else 'beyond'} the tolerance {self.tolerance!r}"
            )
        return self


class Outcome(StrEnum):
    """An audit's verdict."""

    PASS = "pass"  # noqa: S105 (a verdict, not a password)
    FAIL = "fail"


@statement_kind("transcript.verdict/v1")
class TranscriptVerdict(Body):
    """An audit's verdict on a run's transcript, from segments drawn from a beacon the prover
    could not know when it committed."""

    signed_by: ClassVar[str] = "inspector"

    audit_id: Id
    """The audit (its replays name the same id)."""
    run_id: Id
    """The run whose transcript was audited."""
    inspector_id: Id
    """The inspector that audited it (signs this statement)."""
    budget: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    """The replay budget, as a fraction of the run's training steps."""
    beacon_size: PositiveCount
    """The size of the log's tree whose root is the beacon: the final checkpoint commitment's
    index + 1."""
    beacon: Digest
    """The log's root at ``beacon_size`` (hex): the seed of the draw."""
    segments: Annotated[tuple[Count, ...], Field(min_length=1, max_length=MAX_DRAWN)]
    """The segments drawn, ascending (``draw_segments``): each has its replay on the log, but
    for a ``fail`` whose reasons say why the audit stopped before replaying them."""
    verdict: Outcome
    """``pass`` iff every replay passed, the inclusion test passed and there is no reason to
    fail."""
    inclusion_statistic: Finite
    """The data-inclusion test's statistic."""
    inclusion_p_value: Fraction
    """Its p-value."""
    inclusion_passed: bool
    """Whether the segments' own data were learnt more than held-out data."""
    compute_fraction: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
    """The compute the audit spent, as a fraction of the run's."""
    reasons: Annotated[tuple[Text, ...], Field(max_length=100)] = ()
    """Why it failed beyond the replays (an integrity check of the transcript)."""
    manifest_digest: Digest
    """SHA-256 of the transcript's ``manifest.json`` the audit read."""

    @model_validator(mode="after")
    def _consistent(self) -> TranscriptVerdict:
        for before, after in pairwise(self.segments):
            if after <= before:
                raise ValueError(f"segments must increase strictly: {after} follows {before}")
        if self.verdict is Outcome.PASS and not self.inclusion_passed:
            raise ValueError("a verdict of pass needs the inclusion test passed")
        if self.verdict is Outcome.PASS and self.reasons:
            raise ValueError("a verdict of pass gives no reasons")
        return self


TRANSCRIPT_KINDS: tuple[str, ...] = (
    "transcript.commit/v1",
    "transcript.checkpoint/v1",
    "transcript.replay/v1",
    "transcript.verdict/v1",
)
"""Every kind this module registers, in the order a transcript goes through them."""

__all__ = [
    "MAX_DRAWN",
    "MAX_SEGMENTS",
    "TRANSCRIPT_KINDS",
    "CheckpointDigest",
    "Outcome",
    "TranscriptCheckpoint",
    "TranscriptCommit",
    "TranscriptReplay",
    "TranscriptVerdict",
]
