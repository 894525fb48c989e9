"""Whether an accepted entry's effect still stands, read from the registry's views.

A statement that the fold accepted can be undone by a later entry: the key it registered is
revoked or rotated, the run it declared or started has ended, the chip it installed or sold has
moved on, the position or policy it recorded has been superseded. A client re-sending a
statement (a retry whose answer it lost) is told so with the entry, rather than a bare
"duplicate". Pure: it reads the views a :class:`~pausewatch.registry.Registry` holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pausewatch.registry._fold import Registry
from pausewatch.registry._kinds import (
    ChipCustody,
    ChipTransfer,
    RunChange,
    RunDeclaration,
    RunStart,
)
from pausewatch.statements import Statement

_ENDED = ("finished", "halted", "abandoned")

_KEY_FIELDS = {
    "party.register/v1": "key",
    "operator.register/v1": "key",
    "chip_maker.register/v1": "key",
    "chip.certify/v1": "key",
    "evaluator.register/v1": "key",
    "inspector.register/v1": "key",
    "meter.certify/v1": "key",
    "delegate.register/v1": "key",
    "key.rotate/v1": "new_key",
    "key.revoke/v1": "replacement",
}
"""Kinds that bind a key, and the body field naming it: their effect lasts while the key lives."""


@dataclass(frozen=True)
class Effect:
    """The current effect of log entry ``index``."""

    stands: bool
    """Whether what the entry did is still in force."""
    undone_by: int | None
    """The later entry that undid or superseded it, when one did."""
    detail: str
    """What stands, or what undid it, in words."""

    def to_json(self) -> dict[str, Any]:
        """As the API answers it."""
        return {"stands": self.stands, "undone_by": self.undone_by, "detail": self.detail}


def current_effect(registry: Registry, index: int, statement: Statement) -> Effect | None:
    """The current effect of ``statement``, accepted at log entry ``index``; none for kinds
    whose effect no later entry undoes (a notice, a vote, a revocation), and for an entry the
    fold rejected or has not folded yet."""
    if (
        index >= registry.applied
        or registry.get("rejected", index) is not None
        or registry.get("unreadable", index) is not None
    ):
        return None
    body = statement.body
    kind = statement.kind
    if kind in _KEY_FIELDS:
        key = getattr(body, _KEY_FIELDS[kind])
        if key is None:
            return None
        if kind == "delegate.register/v1" and getattr(body, "action", None) != "add":
            return None
        return _key_effect(registry, key)
    if isinstance(body, RunDeclaration | RunStart | RunChange):
        return _run_effect(registry, index, body.run_id)
    if isinstance(body, ChipCustody | ChipTransfer):
        return _chip_effect(registry, index, body.chip_id)
    if kind == "position/v1":
        signer = registry.get("keys", statement.signer)
        if signer is None:
            return None
        row = registry.get("positions", signer["subject_kind"], signer["subject_id"])
        if row is None or row["idx"] == index:
            return Effect(True, None, "the signer's current position")
        return Effect(False, int(row["idx"]), f"superseded by the position at entry {row['idx']}")
    if kind == "policy.adopt/v1":
        later = sorted(r["idx"] for r in registry.views["adoptions"].values() if r["idx"] > index)
        if not later:
            return Effect(True, None, "the latest adoption")
        return Effect(False, later[0], f"superseded by the adoption at entry {later[0]}")
    return None


def _key_effect(registry: Registry, key: str) -> Effect:
    row = registry.get("keys", key)
    if row is None:
        return Effect(False, None, f"key {key} is not bound")
    who = f"{row['subject_kind']} {row['subject_id']!r}"
    if row["revoked_idx"] is None:
        return Effect(True, None, f"key {key} of {who} is live")
    return Effect(
        False,
        int(row["revoked_idx"]),
        f"key {key} of {who} was revoked at entry {row['revoked_idx']}: {row['revoked_reason']}",
    )


def _run_effect(registry: Registry, index: int, run_id: str) -> Effect | None:
    row = registry.get("runs", run_id)
    if row is None:
        return None
    if row["status"] in _ENDED:
        return Effect(
            False,
            int(row["updated_idx"]),
            f"run {run_id!r} has ended ({row['status']}) at entry {row['updated_idx']}",
        )
    if row["updated_idx"] != index and row["updated_idx"] > index:
        return Effect(
            True,
            None,
            f"run {run_id!r} is {row['status']}, last changed at entry {row['updated_idx']}",
        )
    return Effect(True, None, f"run {run_id!r} is {row['status']}")


def _chip_effect(registry: Registry, index: int, chip_id: str) -> Effect | None:
    row = registry.get("chips", chip_id)
    if row is None:
        return None
    where = f"chip {chip_id!r} is {row['status']}" + (
        f" with {row['operator_id']!r}" if row["operator_id"] else ""
    )
    if row["updated_idx"] == index:
        return Effect(True, None, where)
    return Effect(False, int(row["updated_idx"]), f"{where} since entry {row['updated_idx']}")


__all__ = ["Effect", "current_effect"]
