"""Response schemas of the API (hashes are lowercase hex; entry bytes are base64)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Accepted(BaseModel):
    """A statement as integrated into the log."""

    index: int = Field(description="Position of the entry in the log.")
    leaf_hash: str = Field(description="RFC 9162 leaf hash of the entry bytes, hex.")
    integrated_at: str = Field(description="The log's integration time, RFC 3339 UTC.")
    duplicate: bool = Field(
        description="True when the same statement was already on the log; nothing was appended."
    )
    checkpoint_size: int = Field(description="Size of the first checkpoint that includes it.")
    effect: EffectPublic | None = Field(
        default=None,
        description=(
            "Whether what the statement did still stands, for kinds a later entry can undo "
            "(a registered key revoked or rotated, a run ended, a chip moved on or sold, a "
            "position or a policy superseded); null for kinds no entry undoes."
        ),
    )


class EffectPublic(BaseModel):
    """The current effect of an accepted statement."""

    stands: bool = Field(description="Whether its effect is still in force.")
    undone_by: int | None = Field(
        description="The later entry that undid or superseded it, if one did."
    )
    detail: str = Field(description="What stands, or what undid it, in words.")


class EntryPublic(BaseModel):
    """One log entry."""

    index: int
    leaf_hash: str = Field(description="SHA-256(0x00 || data), hex.")
    integrated_at: str
    entry: dict[str, Any] = Field(description="The entry decoded: integrated_at and statement.")
    data: str = Field(description="The exact entry bytes (RFC 8785 JSON), base64.")


class EntryPage(BaseModel):
    """A page of entries."""

    entries: list[EntryPublic]
    next: int | None = Field(description="Index to ask for next, or null at the end.")
    size: int = Field(description="Log size when the page was read.")


class LogPublic(BaseModel):
    """The log's identity and tree head."""

    origin: str
    verifier_key: str = Field(description="C2SP verifier key string of the log key.")
    size: int
    root_hash: str = Field(description="Root hash of the current tree, hex.")
    witnesses: list[dict[str, str]]
    witness_threshold: int = Field(description="Cosignatures needed to count as witnessed.")
    roles: dict[str, str] = Field(
        description=(
            "Signer ids (`ed25519:<base64 public key>`) of the keys that hold a role, e.g. "
            "`secretariat`, the only key that may sign `policy.adopt/v1` until governance "
            "assigns roles by vote."
        )
    )


class InclusionProofPublic(BaseModel):
    """An RFC 9162 inclusion proof."""

    index: int
    size: int
    leaf_hash: str
    root_hash: str = Field(description="Root of the tree of `size` entries, hex.")
    proof: list[str] = Field(description="Audit path, leaf to root, hex.")


class ConsistencyProofPublic(BaseModel):
    """An RFC 9162 consistency proof."""

    old_size: int
    new_size: int
    old_root_hash: str
    new_root_hash: str
    proof: list[str] = Field(description="Consistency path, hex.")


class CheckpointList(BaseModel):
    """Sizes of signed checkpoints, oldest first."""

    sizes: list[int]
    next: int | None


class BatchRecordPublic(BaseModel):
    """A stored record of a telemetry batch, as the chip signed it."""

    position: int = Field(
        description="Its place among the batch's accepted records, from 0: the order the "
        "batch's `records_root` commits to."
    )
    hash: str = Field(description="SHA-256 of `line`, hex: the record's content address.")
    chip_id: str
    seq: int = Field(description="Its place in the chip's hash chain.")
    line: str = Field(
        description='The exact stored line, `{"record": {...}, "sig": ...}`, with the '
        "chip's signature: verify it, and the root over the lines, yourself."
    )


class BatchRecordPage(BaseModel):
    """A page of a telemetry batch's stored records."""

    index: int = Field(description="The batch's log entry index.")
    records: list[BatchRecordPublic]
    total: int = Field(description="Records the batch accepted (its `accepted`).")
    next: int | None = Field(description="`offset` of the next page, or null at the end.")


class BatchRejectionPublic(BaseModel):
    """A record the service refused."""

    index: int = Field(description="Its line in the upload, from 0.")
    chip_id: str | None = None
    seq: int | None = None
    rule: str = Field(
        description="The rule it failed: line_too_long, malformed, chip_unknown, chip_revoked, "
        "chip_key_invalid, chip_not_installed, signature, replay, chain_broken, "
        "window_invalid, window_future, window_overlap, energy_fell, flop_impossible, "
        "energy_impossible, run_undeclared."
    )
    reason: str = Field(description="Why, in words.")


class BatchGapPublic(BaseModel):
    """Windows a chip's chain skipped (recorded as missed)."""

    chip_id: str
    from_seq: int = Field(description="First missing seq.")
    to_seq: int = Field(description="Last missing seq.")
    missing: int


class BatchAccepted(BaseModel):
    """A telemetry batch as integrated."""

    index: int = Field(description="Log index of its telemetry.batch/v1 entry.")
    integrated_at: str = Field(description="The log's integration time, RFC 3339 UTC.")
    duplicate: bool = Field(
        description="True when this exact upload was integrated before; nothing was counted "
        "again and the earlier entry is returned."
    )
    accepted: int = Field(description="Records accepted.")
    duplicates: int = Field(description="Records already accepted before: counted once.")
    rejected: list[BatchRejectionPublic] = Field(
        description="The first rejections by line number (at most 20), with their reasons."
    )
    rejected_total: int = Field(default=0, description="Records rejected in all.")
    rejected_by_rule: dict[str, int] = Field(
        default_factory=dict, description="Records rejected per rule."
    )
    gaps: list[BatchGapPublic]
    records_root: str = Field(description="RFC 9162 Merkle root of the accepted lines, hex.")
