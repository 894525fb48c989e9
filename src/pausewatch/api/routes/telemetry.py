"""Uploading telemetry batches, and reading the records behind each."""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated

import anyio
from fastapi import APIRouter, Header, Path, Request, Response

from pausewatch.api.deps import MAX_INDEX, Limit, MetricsDep, Offset, ServiceDep, next_offset
from pausewatch.api.schemas import (
    BatchAccepted,
    BatchGapPublic,
    BatchRecordPage,
    BatchRecordPublic,
    BatchRejectionPublic,
)
from pausewatch.ledger import format_time
from pausewatch.service import MalformedJSONError, Upload, decode_statement
from pausewatch.statements import Statement

router = APIRouter(tags=["telemetry"])

BATCHES_PATH = "/v1/telemetry/batches"
SUBMISSION_HEADER = "Pausewatch-Submission"

INGEST_UPLOADS = 8
"""Uploads ingested at once by one app; more wait their turn without holding a thread. An
upload holds its thread for its whole verification: on the threads statements and reads use,
a few uploads would queue everything else behind them (docs/adr/0048)."""


def _ingest_limiter(request: Request) -> anyio.CapacityLimiter:
    """The app's own limit on uploads being ingested (made in the event loop, on first use)."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "ingest_limiter", None)
    if limiter is None:
        limiter = state.ingest_limiter = anyio.CapacityLimiter(INGEST_UPLOADS)
    return limiter


@router.post(
    BATCHES_PATH,
    response_model=BatchAccepted,
    status_code=201,
    summary="Upload a batch of chip-signed telemetry records",
    description=(
        'The body is JSONL: one signed record per line, `{"record": {...}, "sig": ...}` '
        "(DESIGN.md, telemetry record). The `Pausewatch-Submission` header carries the base64 "
        "of the operator's `telemetry.submission/v1` statement (JSON), signed by a live key "
        "of that operator, naming the SHA-256 of the exact body and its number of lines. "
        "Every record is verified (chip certified, with a usable key, and installed in the "
        "operator's cluster, signature, chain, windows, energy, physically possible FLOP for "
        "the window as a whole, declared run); the batch becomes one `telemetry.batch/v1` log "
        "entry with the root of the accepted records, a summary of the rejections, the gaps "
        "and the aggregates. The answer comes once it is durable. **Rejections are "
        "summarised**, in the answer as in the entry, whatever the upload's size: "
        "`rejected_total`, `rejected_by_rule` (counts per rule) and `rejected`, the first 20 "
        "by line number with their reasons. A line longer than 65,536 bytes is refused "
        "(`line_too_long`) unread. The body is streamed to a temporary file and verified line "
        "by line, so the service's memory per upload is bounded whatever its size. The same "
        "upload again from the same operator is answered 200 with the earlier entry and "
        "`duplicate: true`: nothing is counted twice (the same bytes from another operator "
        "are that operator's own batch). Errors: 400 malformed "
        "submission header, 403 submission not signed by the operator, 413 too large, 422 "
        "digest or line count does not match, 503 with `Retry-After` nothing accepted, send it "
        "again (`upload-busy`: on PostgreSQL, another process held the same upload longer "
        "than `PAUSEWATCH_UPLOAD_LOCK_TIMEOUT_S`)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
    responses={200: {"model": BatchAccepted, "description": "Integrated before."}},
)
async def upload_batch(
    request: Request,
    response: Response,
    service: ServiceDep,
    metrics: MetricsDep,
    submission: Annotated[
        str,
        Header(
            alias=SUBMISSION_HEADER,
            description="Base64 of the telemetry.submission/v1 statement JSON.",
        ),
    ],
) -> BatchAccepted:
    """Upload one batch."""
    with metrics.batch_refusals():
        # Before the body: a bad header costs no upload. Off the event loop: parsing checks
        # the signature.
        statement = await asyncio.to_thread(_submission, submission)
    upload = Upload()
    try:
        # Chunk by chunk into a spooled file: the upload is never one object in memory. Not
        # counted: a body over the limit is no upload.
        async for chunk in request.stream():
            upload.write(chunk)
        upload.finish()
        with metrics.batch_refusals():
            # Not asyncio's default executor, which statements use: threads of their own.
            receipt = await anyio.to_thread.run_sync(
                service.ingest_telemetry, upload, statement, limiter=_ingest_limiter(request)
            )
    finally:
        upload.close()
    metrics.batch(receipt)
    if receipt.duplicate:
        response.status_code = 200
    return BatchAccepted(
        index=receipt.index,
        integrated_at=format_time(receipt.integrated_at),
        duplicate=receipt.duplicate,
        accepted=receipt.accepted,
        duplicates=receipt.duplicates,
        rejected=[BatchRejectionPublic(**r) for r in receipt.rejected],
        rejected_total=receipt.rejected_total,
        rejected_by_rule=receipt.rejected_by_rule,
        gaps=[BatchGapPublic(**g) for g in receipt.gaps],
        records_root=receipt.records_root,
    )


@router.get(
    BATCHES_PATH + "/{index}/records",
    response_model=BatchRecordPage,
    summary="The stored records of a telemetry batch, paginated",
    description=(
        "The records the `telemetry.batch/v1` entry at log index `index` accepted, in the "
        "order its `records_root` commits to (`position` from 0), each as the exact line the "
        "chip signed (with its `sig`), its content hash, chip and seq. Up to `limit` from "
        "`offset`; follow `next` until it is null. With them anyone can verify every record, "
        "recompute the root, the chain heads, the gaps and the aggregates the entry asserts "
        "(`pausewatch audit` does). Rejected records are not stored. 404 (problem document) "
        "when no telemetry batch the log accepted is at `index`."
    ),
)
def batch_records(
    index: Annotated[int, Path(ge=0, le=MAX_INDEX, description="The batch's log index.")],
    service: ServiceDep,
    offset: Offset = 0,
    limit: Limit = 100,
) -> BatchRecordPage:
    """A page of one batch's stored records."""
    records, total = service.batch_records(index, offset, limit)
    return BatchRecordPage(
        index=index,
        records=[
            BatchRecordPublic(
                position=r["position"],
                hash=r["hash"],
                chip_id=r["chip_id"],
                seq=r["seq"],
                line=bytes(r["line"]).decode(),
            )
            for r in records
        ],
        total=total,
        next=next_offset(offset, limit, total),
    )


def _submission(header: str) -> Statement:
    """The operator's submission statement, from the base64 header."""
    try:
        raw = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedJSONError(f"{SUBMISSION_HEADER}: expected base64 of a statement") from exc
    return decode_statement(raw)
