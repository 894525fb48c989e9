"""The log's witnesses in the fold: who they are, and the cosignatures of theirs on the log.

The ``witnesses`` fact that lift conditions test must be recomputable from the log alone
(docs/adr/0012), so cosignatures that live only in the service's checkpoint store do not count.
The secretariat registers each witness's C2SP verifier key (``witness.register/v1``) and records
the cosignatures it collects (``witness.cosignature/v1``); the fold accepts one only if it
verifies under the witness's registered key (c2sp.org/tlog-cosignature) and the checkpoint it
cosigns carries the root the log's own tree had at that size (RFC 9162 §2.1), which
:attr:`~pausewatch.registry.Registry.roots` answers: the log itself in the service, the tree it
recomputed from the entries in an audit.

A witness **counts** at ``at`` (:func:`witnesses_at`) when it was registered and not removed by
then and the log recorded one of its cosignatures, integrated no later than ``at`` and no
earlier than :data:`WITNESS_FRESHNESS` before it: a witness that stopped cosigning stops
counting.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from pausewatch.errors import Error
from pausewatch.governance._statements import WitnessAction, WitnessCosignature, WitnessRegister
from pausewatch.ledger import Checkpoint, Note, Verifier, format_time
from pausewatch.registry._fold import (
    FoldInterruptedError,
    Handler,
    Registry,
    RejectedError,
    _Context,
)
from pausewatch.statements import Body

WITNESS_FRESHNESS = timedelta(days=1)
"""How recent a witness's newest recorded cosignature must be for it to count (a pausewatch
default: the log grows every hour with telemetry, so a working witness cosigns far more often)."""


MAX_COSIGNATURE_LAG = 1_000_000
"""A recorded cosignature covers a checkpoint at most this many entries behind its own entry,
so that an auditor checks it against the roots of a bounded window of recent sizes instead of
keeping every root of the log (``pausewatch audit`` streams)."""


def _register(ctx: _Context, body: Body) -> None:
    assert isinstance(body, WitnessRegister)
    ctx.require_secretariat()
    try:
        verifier = Verifier.from_string(body.key)
    except Error as exc:
        raise RejectedError(f"witness key: {exc}") from exc
    row = ctx.get("witnesses", verifier.name)
    if body.action is WitnessAction.ADD:
        if row is not None and row["removed_idx"] is None:
            raise RejectedError(f"witness {verifier.name!r} is already registered")
        ctx.set(
            "witnesses",
            {
                "name": verifier.name,
                "key": verifier.to_string(),
                "added_idx": ctx.index,
                "added_at": ctx.when,
                "removed_idx": None,
                "removed_at": None,
            },
        )
        return
    if row is None or row["removed_idx"] is not None or row["key"] != verifier.to_string():
        raise RejectedError(f"{body.key} is not the key of a registered witness")
    ctx.update("witnesses", row, removed_idx=ctx.index, removed_at=ctx.when)


def _cosignature(ctx: _Context, body: Body) -> None:
    assert isinstance(body, WitnessCosignature)
    ctx.require_secretariat()
    try:
        checkpoint = Checkpoint.from_text(body.checkpoint)
        note = Note.from_text(body.checkpoint + "\n" + body.cosignature.rstrip("\n") + "\n")
    except Error as exc:
        raise RejectedError(f"witness cosignature: {exc}") from exc
    if len(note.signatures) != 1:
        raise RejectedError("witness cosignature: expected exactly one signature line")
    name = note.signatures[0].name
    row = ctx.get("witnesses", name)
    if row is None or row["removed_idx"] is not None:
        raise RejectedError(f"{name!r} is not a registered witness of this log")
    cosigner = Verifier.from_string(row["key"]).as_cosigner()
    try:
        verified = note.verified_by([cosigner])
    except Error as exc:
        raise RejectedError(f"witness cosignature: {exc}") from exc
    if not verified or verified[0][1] is None:
        raise RejectedError(
            f"witness cosignature: not a tlog-cosignature/v1 by {name}'s registered key"
        )
    timestamp = verified[0][1]
    if not 1 <= checkpoint.size <= ctx.index:
        raise RejectedError(
            f"witness cosignature: a checkpoint of size {checkpoint.size} is not one of this "
            f"log's before entry {ctx.index}"
        )
    if checkpoint.size < ctx.index - MAX_COSIGNATURE_LAG:
        raise RejectedError(
            f"witness cosignature: a checkpoint of size {checkpoint.size} is more than "
            f"{MAX_COSIGNATURE_LAG:,} entries behind entry {ctx.index}; record a newer one"
        )
    roots = ctx.registry.roots
    if roots is None:
        raise RejectedError(
            "witness cosignature: this fold has no view of the log's tree to check it against"
        )
    try:
        ours = roots(checkpoint.size)
    except Exception as exc:  # the log's tree could not be read: fold this entry again later
        raise FoldInterruptedError(f"the log's root at size {checkpoint.size}: {exc}") from exc
    if ours != checkpoint.root_hash:
        raise RejectedError(
            f"witness cosignature: the checkpoint's root at size {checkpoint.size} is "
            f"{checkpoint.root_hash.hex()}, the log's is {ours.hex()}"
        )
    latest = recorded_size(ctx.registry, name)
    if checkpoint.size <= latest:
        raise RejectedError(
            f"witness cosignature: {name}'s cosignature of size {latest} is already recorded"
        )
    ctx.set(
        "witness_cosignatures",
        {
            "witness": name,
            "idx": ctx.index,
            "size": checkpoint.size,
            "root": checkpoint.root_hash.hex(),
            "timestamp": timestamp,
            "integrated_at": ctx.when,
        },
    )


def recorded_size(registry: Registry, name: str) -> int:
    """The largest checkpoint size of ``name``'s cosignatures on the log (0: none)."""
    return max(
        (r["size"] for (w, _), r in registry.views["witness_cosignatures"].items() if w == name),
        default=0,
    )


def witnesses_at(registry: Registry, at: datetime) -> list[str]:
    """The witnesses that count at ``at`` (see the module docstring), by name."""
    when = format_time(at)
    since = format_time(at - WITNESS_FRESHNESS)
    live = {
        name
        for (name,), row in registry.views["witnesses"].items()
        if row["added_at"] <= when and (row["removed_at"] is None or when < row["removed_at"])
    }
    fresh = {
        w
        for (w, _), row in registry.views["witness_cosignatures"].items()
        if since <= row["integrated_at"] <= when
    }
    return sorted(live & fresh)


__all__ = ["WITNESS_FRESHNESS", "recorded_size", "witnesses_at"]


HANDLERS: Mapping[str, Handler] = {
    "witness.register/v1": _register,
    "witness.cosignature/v1": _cosignature,
}
"""How witness statements fold; composed with the other domains' in :mod:`pausewatch.state`."""
