"""What a statement kind holds, for people: its fields (name, type, required, the docstring under
each field) and the role whose key signs it (``pausewatch statement kinds``)."""

from __future__ import annotations

import enum
import inspect
import types
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pausewatch.statements._kinds import body_model


@dataclass(frozen=True)
class FieldDescription:
    """One field of a statement body."""

    name: str
    type: str
    """The field's type as a reader would write it (``str``, ``list[str]``, ``int | None``)."""
    required: bool
    description: str
    """The docstring under the field (empty when it has none)."""


@dataclass(frozen=True)
class KindDescription:
    """One statement kind: who signs it and what its body holds."""

    kind: str
    signed_by: str
    """The role whose key must sign it (``secretariat``, ``operator``, ``anyone``...)."""
    description: str
    """The first paragraph of the body model's docstring."""
    fields: tuple[FieldDescription, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON object: ``kind``, ``signed_by``, ``description``, ``fields`` (each with
        ``name``, ``type``, ``required``, ``description``)."""
        return {
            "kind": self.kind,
            "signed_by": self.signed_by,
            "description": self.description,
            "fields": [
                {
                    "name": f.name,
                    "type": f.type,
                    "required": f.required,
                    "description": f.description,
                }
                for f in self.fields
            ],
        }


def describe_kind(kind: str) -> KindDescription:
    """Describe ``kind`` (:class:`~pausewatch.errors.UnknownKindError` when it is unknown)."""
    model = body_model(kind)
    fields = tuple(
        FieldDescription(
            name=name,
            type=type_name(info.annotation),
            required=info.is_required(),
            # Body models take their fields' docstrings as descriptions (pydantic's
            # use_attribute_docstrings, as the policy model does).
            description=" ".join((info.description or "").split()),
        )
        for name, info in model.model_fields.items()
    )
    summary = " ".join((inspect.getdoc(model) or "").split("\n\n", 1)[0].split())
    return KindDescription(kind, model.signed_by, summary, fields)


def type_name(annotation: Any) -> str:
    """A readable name for a type annotation: ``Annotated`` constraints dropped, unions written
    with ``|``, enumerations and literals as the values they allow."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is Annotated:
        return type_name(args[0])
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(repr(m.value) for m in annotation)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{name}[{inner}]" if args else name
    return str(getattr(annotation, "__name__", annotation))


__all__ = ["FieldDescription", "KindDescription", "describe_kind", "type_name"]
