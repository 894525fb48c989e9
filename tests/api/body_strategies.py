"""Hypothesis strategies built from the statement models themselves.

:func:`body_strategy` walks a body model's fields (their annotations and the constraints
pydantic keeps in ``metadata``) and draws JSON values each field accepts: times across the whole
documented range, identifiers from their own pattern, canonical Ed25519 keys, numbers up to
their bounds, enumerations, nested models and tuples. ``known`` ids are mixed in so that
statements name what the world holds and reach the fold's acceptance, not only its refusals.

A field type this module does not know is an error, so a new kind of field cannot slip past the
property tests unseen.
"""

from __future__ import annotations

import base64
import re
import types
import typing
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import annotated_types as at
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pausewatch.fields import EARLIEST, LATEST, format_time, is_canonical_ed25519
from pausewatch.policy import Policy, load_preset, policy_to_json, preset_names
from pausewatch.statements import Body

Json = Any


def _constraints(metadata: list[Any]) -> dict[str, Any]:
    """The constraints a field's metadata carries, by name (``ge``, ``max_length``, ...)."""
    out: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            out.update(_constraints(item.metadata))
        elif isinstance(item, at.Ge):
            out["ge"] = item.ge
        elif isinstance(item, at.Gt):
            out["gt"] = item.gt
        elif isinstance(item, at.Le):
            out["le"] = item.le
        elif isinstance(item, at.Lt):
            out["lt"] = item.lt
        elif isinstance(item, at.MinLen):
            out["min_length"] = item.min_length
        elif isinstance(item, at.MaxLen):
            out["max_length"] = item.max_length
        elif getattr(item, "pattern", None) is not None:
            out["pattern"] = item.pattern
        elif hasattr(item, "func"):
            out.setdefault("validators", []).append(item.func)
    return out


def _times() -> st.SearchStrategy[str]:
    """RFC 3339 UTC times over the whole range, its two ends included."""
    first = EARLIEST.replace(tzinfo=None)
    last = (LATEST - timedelta(microseconds=1)).replace(tzinfo=None)
    moments = st.one_of(
        st.datetimes(min_value=first, max_value=last), st.sampled_from([first, last])
    )
    spelled = st.sampled_from(["Z", "+00:00"])
    return st.tuples(moments, spelled, st.booleans()).map(_spell)


def _spell(parts: tuple[datetime, str, bool]) -> str:
    moment, offset, micro = parts
    text = format_time(moment.replace(tzinfo=UTC))  # ...ssssss Z
    if not micro:
        text = text[:19] + "Z"
    return text[:-1] + offset


def _keys() -> st.SearchStrategy[str]:
    """Canonical Ed25519 public keys as signer ids."""
    points = st.binary(min_size=32, max_size=32).filter(is_canonical_ed25519)
    return points.map(lambda b: "ed25519:" + base64.b64encode(b).decode())


def _text(c: dict[str, Any], *, lines: bool) -> st.SearchStrategy[str]:
    excluded = ["Cs", "Cc"]
    alphabet = st.characters(
        exclude_categories=excluded, include_characters="\t\n" if lines else None
    )
    # Names and texts at their bounds: short, and at the maximum length.
    low, high = c.get("min_length", 0), c.get("max_length", 50)
    short = st.text(alphabet, min_size=low, max_size=min(high, 12))
    full = st.text(alphabet, min_size=high, max_size=high) if high <= 4_000 else short
    return st.one_of(short, full)


def _number(kind: type, c: dict[str, Any]) -> st.SearchStrategy[Any]:
    if kind is int:
        low = c.get("ge", c["gt"] + 1 if "gt" in c else -(2**53 - 1))
        high = c.get("le", c["lt"] - 1 if "lt" in c else 2**53 - 1)
        return st.one_of(st.integers(low, high), st.sampled_from([low, high]))
    low = c.get("ge", c.get("gt"))
    high = c.get("le", c.get("lt"))
    floats = st.floats(
        min_value=low,
        max_value=high,
        exclude_min="gt" in c,
        exclude_max="lt" in c,
        allow_nan=False,
        allow_infinity=False,
    )
    edges = [v for v in (c.get("ge"), c.get("le")) if v is not None]
    return st.one_of(floats, st.sampled_from(edges)) if edges else floats


def _policies() -> st.SearchStrategy[Json]:
    return st.sampled_from([policy_to_json(load_preset(name)) for name in preset_names()])


def field_strategy(
    annotation: Any, metadata: list[Any], known: dict[str, list[str]], name: str = ""
) -> st.SearchStrategy[Json]:
    """Values (as JSON) that a field of ``annotation`` with ``metadata`` accepts."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return field_strategy(base, [*metadata, *extra], known, name)
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(annotation)
        return st.one_of(
            *(
                st.none() if arm is type(None) else field_strategy(arm, metadata, known, name)
                for arm in arms
            )
        )
    c = _constraints(metadata)
    if origin is tuple:
        item, _ = typing.get_args(annotation)
        least = c.get("min_length", 0)
        size = max(min(c.get("max_length", 3), 3), least)
        return st.lists(field_strategy(item, [], known, name), min_size=least, max_size=size)
    if annotation is datetime:
        return _times()
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from([m.value for m in annotation])
    if annotation is Policy:
        return _policies()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_strategy(annotation, known)
    if annotation is bool:
        return st.booleans()
    if annotation in (int, float):
        return _number(annotation, c)
    if annotation is str:
        pattern = c.get("pattern")
        if pattern is not None and pattern.startswith("^ed25519:"):
            return _keys()
        drawn = (
            st.from_regex(pattern, fullmatch=True)
            if pattern is not None
            else _text(c, lines="_lines" in [f.__name__ for f in c.get("validators", [])])
        )
        fits = [
            v
            for v in known.get(name) or known.get("id", [])
            if (pattern is None or re.fullmatch(pattern, v))
            and c.get("min_length", 0) <= len(v) <= c.get("max_length", 10**9)
        ]
        return st.one_of(st.sampled_from(fits), drawn) if fits else drawn
    if origin is dict:
        key, value = typing.get_args(annotation)
        if value is not typing.Any and typing.get_origin(value) is not dict:
            # A typed mapping (a filed finding's figures): keys and values as their types
            # accept them, within the mapping's own size limit.
            return st.dictionaries(
                field_strategy(key, [], known, name),
                field_strategy(value, [], known, name),
                max_size=min(c.get("max_length", 2), 2),
            )
    if annotation is typing.Any or origin is dict:
        return st.dictionaries(st.text(max_size=5), st.integers(0, 10), max_size=2)
    raise TypeError(f"no strategy for field {name!r} of type {annotation!r}")


def model_strategy(model: type[BaseModel], known: dict[str, list[str]]) -> st.SearchStrategy[Json]:
    """JSON objects of ``model``'s fields: the required ones always, each optional one drawn
    or left out."""
    required: dict[str, st.SearchStrategy[Json]] = {}
    optional: dict[str, st.SearchStrategy[Json]] = {}
    for name, info in model.model_fields.items():
        strategy = field_strategy(info.annotation, list(info.metadata), known, name)
        (required if info.is_required() else optional)[name] = strategy
    return st.fixed_dictionaries(required, optional=optional)


def body_strategy(
    model: type[Body], base: dict[str, Json], known: dict[str, list[str]]
) -> st.SearchStrategy[Json]:
    """Bodies of ``model``: a valid ``base`` body with some of its fields replaced by drawn
    values (so that most bodies are accepted and reach the views), or a wholly drawn one."""
    fields = {
        name: field_strategy(info.annotation, list(info.metadata), known, name)
        for name, info in model.model_fields.items()
    }
    mutated = st.fixed_dictionaries({}, optional=fields).map(lambda drawn: {**base, **drawn})
    return st.one_of(mutated, model_strategy(model, known))
