"""The registry of statement kinds: a closed set of versioned names, each with its body model.

Kinds are registered with :func:`statement_kind` on a pydantic model that forbids unknown
fields. A kind name is ``<dotted.name>/v<N>``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Annotated, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pausewatch.errors import StatementError, UnknownKindError
from pausewatch.fields import LINES, Line, Name, Time

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*/v[1-9][0-9]*$")


class Body(BaseModel):
    """Base of every statement body: frozen, strict about unknown fields."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True
    )

    signed_by: ClassVar[str] = "anyone"
    """The role whose key must sign this kind (``anyone``, ``registered``: any live key of the
    registry but a chip's, ``secretariat``, ...)."""


_B = TypeVar("_B", bound=type[Body])
_KINDS: dict[str, type[Body]] = {}

# Modules that register the kinds pausewatch ships; imported on first lookup so that the
# statements package does not depend on the domain packages at import time.
_BUILTIN_MODULES = (
    "pausewatch.policy._statements",
    "pausewatch.registry._kinds",
    "pausewatch.telemetry._statements",
    "pausewatch.governance._statements",
    "pausewatch.evals._statements",
    "pausewatch.detect._statements",
    "pausewatch.detect._published",
    "pausewatch.transcript._statements",
)
_builtin_loaded = False


def _load_builtin() -> None:
    global _builtin_loaded
    if not _builtin_loaded:
        _builtin_loaded = True
        for name in _BUILTIN_MODULES:
            importlib.import_module(name)


def statement_kind(name: str) -> Callable[[_B], _B]:
    """Register ``cls`` as the body model of kind ``name`` (e.g. ``run.declaration/v1``)."""
    if not KIND_PATTERN.match(name):
        raise StatementError(f"kind name: expected '<dotted.name>/v<N>', got {name!r}")

    def register(cls: _B) -> _B:
        if name in _KINDS and _KINDS[name] is not cls:
            raise StatementError(f"kind {name!r} is already registered to {_KINDS[name].__name__}")
        _KINDS[name] = cls
        return cls

    return register


def body_model(kind: str) -> type[Body]:
    """The body model of ``kind``; :class:`UnknownKindError` names the known kinds."""
    _load_builtin()
    try:
        return _KINDS[kind]
    except KeyError:
        known = ", ".join(sorted(_KINDS)) or "none"
        raise UnknownKindError(f"unknown statement kind {kind!r}; known kinds: {known}") from None


def kinds() -> list[str]:
    """Every registered kind name, sorted."""
    _load_builtin()
    return sorted(_KINDS)


UtcDatetime = Time
"""A statement's time: :data:`pausewatch.fields.Time` (RFC 3339 in UTC, 1970 up to 9000)."""


@statement_kind("notice/v1")
class Notice(Body):
    """A public notice: a signer puts a text on the record (for example the secretariat
    announcing the log's establishment, a witness roster or a maintenance window).

    Only a registered signer may file one, within a size and a rate limit that the service
    sets (docs/adr/0015-notice-admission.md)."""

    signed_by: ClassVar[str] = "registered"

    title: Name
    """One-line title."""
    text: Annotated[str, Field(max_length=20_000), LINES] = ""
    """The notice itself, plain text."""
    references: tuple[Line, ...] = Field(default=(), max_length=100)
    """URLs or log references the notice rests on."""
    issued_at: UtcDatetime | None = None
    """When the signer issued it, if it says (the log records its own integration time)."""
