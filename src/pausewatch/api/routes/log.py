"""Reading the log: entries, checkpoints and proofs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse

from pausewatch.api.deps import MAX_INDEX, ServiceDep
from pausewatch.api.schemas import (
    CheckpointList,
    ConsistencyProofPublic,
    EntryPage,
    EntryPublic,
    InclusionProofPublic,
    LogPublic,
)
from pausewatch.errors import NotFoundError, ProofError
from pausewatch.service import entry_to_json

router = APIRouter(tags=["log"])

NOTE = {"content": {"text/plain": {"example": "origin\n12\nbase64root=\n\n— origin sig\n"}}}


@router.get("/v1/log", response_model=LogPublic, summary="The log's identity and tree head")
def log_info(service: ServiceDep) -> LogPublic:
    """Origin, verifier key, size, root, the witness roster and the role holders' keys."""
    info = service.info()
    return LogPublic(
        origin=info.origin,
        verifier_key=info.verifier_key,
        size=info.size,
        root_hash=info.root.hex(),
        witnesses=[{"url": w.url, "verifier_key": w.verifier.to_string()} for w in info.witnesses],
        witness_threshold=info.witness_threshold,
        roles=dict(info.roles),
    )


@router.get(
    "/v1/entries/{index}",
    response_model=EntryPublic,
    summary="One entry",
    description="The entry at `index`, decoded and as its exact bytes (base64). 404 if absent.",
)
def get_entry(index: Annotated[int, Path(ge=0, le=MAX_INDEX)], service: ServiceDep) -> EntryPublic:
    """One entry by index."""
    return EntryPublic.model_validate(service.entry_json(index))


@router.get(
    "/v1/entries",
    response_model=EntryPage,
    summary="Entries in order, paginated",
    description="Up to `limit` entries from `start`; follow `next` until it is null.",
)
def list_entries(
    service: ServiceDep,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX, description="First index.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
) -> EntryPage:
    """A page of entries."""
    size = service.log.size
    entries = service.log.entries(start, limit)
    nxt = entries[-1].index + 1 if entries and entries[-1].index + 1 < size else None
    return EntryPage(
        entries=[EntryPublic.model_validate(entry_to_json(e)) for e in entries],
        next=nxt,
        size=size,
    )


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="Latest checkpoint (C2SP tlog-checkpoint)",
    description=(
        "The newest checkpoint as a C2SP signed note, with every witness cosignature it has. "
        "With `witnessed=true`, the newest that reached the witness threshold (404 if none). "
        "Also served at `/v1/checkpoint`."
    ),
    responses={200: NOTE},
)
@router.get("/v1/checkpoint", response_class=PlainTextResponse, include_in_schema=False)
def checkpoint(
    service: ServiceDep, witnessed: Annotated[bool, Query()] = False
) -> PlainTextResponse:
    """The latest checkpoint note."""
    # Mutable: C2SP tlog-tiles asks that it not be cached beyond a few seconds.
    return PlainTextResponse(
        service.checkpoint(witnessed=witnessed), headers={"Cache-Control": "no-cache"}
    )


@router.get(
    "/v1/checkpoints",
    response_model=CheckpointList,
    summary="Sizes of every signed checkpoint",
    description="Oldest first, paginated; fetch a note with `/v1/checkpoints/{size}`.",
)
def list_checkpoints(
    service: ServiceDep,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> CheckpointList:
    """Checkpoint sizes."""
    sizes = service.log.checkpoint_sizes(start, limit + 1)
    more = len(sizes) > limit
    return CheckpointList(sizes=sizes[:limit], next=start + limit if more else None)


@router.get(
    "/v1/checkpoints/{size}",
    response_class=PlainTextResponse,
    summary="The checkpoint of one size",
    description="The signed note of the checkpoint of `size`, with its cosignatures.",
    responses={200: NOTE},
)
def get_checkpoint(
    size: Annotated[int, Path(ge=0, le=MAX_INDEX)], service: ServiceDep
) -> PlainTextResponse:
    """One checkpoint note."""
    return PlainTextResponse(service.log.checkpoint_note(size))


def _hex32(value: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise ProofError(f"{what}: expected 64 hex digits, got {value!r}") from exc
    if len(raw) != 32:
        raise ProofError(f"{what}: expected 32 bytes, got {len(raw)}")
    return raw


@router.get(
    "/v1/proofs/inclusion",
    response_model=InclusionProofPublic,
    summary="Inclusion proof",
    description=(
        "RFC 9162 inclusion proof of the entry at `index` (or with `leaf_hash`) in the tree of "
        "`size` entries (default: the current size). Verify it against a signed checkpoint of "
        "that size, never against the `root_hash` this answer carries."
    ),
)
def inclusion(
    service: ServiceDep,
    index: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
    leaf_hash: Annotated[str | None, Query(description="Leaf hash, hex.")] = None,
    size: Annotated[int | None, Query(ge=1, le=MAX_INDEX)] = None,
) -> InclusionProofPublic:
    """Inclusion proof by index or leaf hash."""
    log = service.log
    tree_size = log.size if size is None else size
    if (index is None) == (leaf_hash is None):
        raise ProofError("give exactly one of index and leaf_hash")
    if index is None:
        assert leaf_hash is not None
        index = log.index_of(_hex32(leaf_hash, "leaf_hash"))
    if index >= tree_size:
        raise NotFoundError(f"entry {index} is not in the tree of size {tree_size}")
    proof = log.inclusion_proof(index, tree_size)
    return InclusionProofPublic(
        index=index,
        size=tree_size,
        leaf_hash=log.entry(index).leaf_hash.hex(),
        root_hash=log.root_at(tree_size).hex(),
        proof=[h.hex() for h in proof],
    )


@router.get(
    "/v1/proofs/consistency",
    response_model=ConsistencyProofPublic,
    summary="Consistency proof",
    description="RFC 9162 consistency proof from the tree of `old` entries to that of `new`.",
)
def consistency(
    service: ServiceDep,
    old: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    new: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> ConsistencyProofPublic:
    """Consistency proof between two sizes."""
    log = service.log
    new_size = log.size if new is None else new
    proof = log.consistency_proof(old, new_size)
    return ConsistencyProofPublic(
        old_size=old,
        new_size=new_size,
        old_root_hash=log.root_at(old).hex(),
        new_root_hash=log.root_at(new_size).hex(),
        proof=[h.hex() for h in proof],
    )
