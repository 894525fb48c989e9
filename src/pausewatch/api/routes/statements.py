"""Submitting signed statements."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from pausewatch.api.deps import MetricsDep, ServiceDep
from pausewatch.api.schemas import Accepted, EffectPublic
from pausewatch.ledger import format_time
from pausewatch.service import decode_statement

router = APIRouter(tags=["statements"])

_EXAMPLE = {
    "kind": "notice/v1",
    "body": {"title": "Log established"},
    "signer": "ed25519:<base64 public key>",
    "sig": "<base64 Ed25519 signature>",
}


@router.post(
    "/v1/statements",
    response_model=Accepted,
    status_code=201,
    summary="Submit a signed statement",
    description=(
        "Verifies the statement (known kind, body valid for its kind with no unknown fields, "
        "Ed25519 signature over `pausewatch/statement/v1\\n<kind>\\n<RFC 8785 body>`) and "
        "appends it to the log. The answer comes only once the entry is durable. A statement "
        "already on the log is not appended again: the answer is 200 with its existing entry, "
        "`duplicate: true`, and `effect`, which says whether what it did still stands or which "
        "later entry undid it (a key revoked, a run ended, a chip sold on...). Errors are "
        "RFC 9457 problem documents: 400 malformed JSON, "
        "413 body too large, 422 unknown kind / unknown field / invalid body / bad signature, "
        "403 when the signer does not hold the role the kind requires (`policy.adopt/v1`: the "
        "secretariat key; registry kinds: the registered key of the party, operator or chip maker "
        "the statement speaks for), 409 when the registry refuses it (something it names is not "
        "registered, or it contradicts the registry: a second registration of an id, a chip "
        "held by another operator), 503 when the log's queue is full or its storage is full "
        "(retry after the `Retry-After` seconds). `notice/v1` is taken only from a live key of "
        "the registry (403 otherwise), at most `notice_max_bytes` long (413), and within its "
        "signer's quota of notices per window of the log's time (429 with `Retry-After`)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}, "example": _EXAMPLE}},
        }
    },
    responses={200: {"model": Accepted, "description": "Already on the log."}},
)
async def submit_statement(
    request: Request, response: Response, service: ServiceDep, metrics: MetricsDep
) -> Accepted:
    """Submit one statement."""
    raw = await request.body()  # outside the try: a body over the limit is no statement
    kind: str | None = None
    try:
        # Parsing checks the signature: CPU the event loop should not spend (docs/adr/0048).
        statement = await asyncio.to_thread(decode_statement, raw)
        kind = statement.kind
        # The registry check may wait for the state's lock (a telemetry batch being
        # verified): it runs off the event loop, which keeps serving other requests meanwhile.
        future = await asyncio.to_thread(service.submit, statement)
        appended = await asyncio.wrap_future(future)
    except Exception as exc:
        metrics.statement_refused(raw, kind, exc)
        raise
    metrics.statement(statement.kind, "duplicate" if appended.duplicate else "accepted")
    if appended.duplicate:
        response.status_code = 200
    # The effect takes the state's lock and the checkpoint is a query: off the event loop, so
    # that a fold or a policy read holding the lock does not stop every other request.
    effect, checkpoint_size = await asyncio.to_thread(
        lambda: (
            service.effect(appended.index, statement),
            service.log.first_checkpoint_covering(appended.index),
        )
    )
    return Accepted(
        index=appended.index,
        leaf_hash=appended.leaf_hash.hex(),
        integrated_at=format_time(appended.integrated_at),
        duplicate=appended.duplicate,
        checkpoint_size=checkpoint_size,
        effect=None if effect is None else EffectPublic(**effect.to_json()),
    )
