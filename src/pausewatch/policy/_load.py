"""Reading and writing policy documents (YAML), with every problem listed at once.

A policy file is refused with one :class:`~pausewatch.errors.PolicyError` whose ``problems``
name each problem as ``<file>:<line>: <path>: <reason>``: schema errors (unknown fields, negative
figures, missing sources) and semantic ones (an inverted tier order, an unknown source id) in one
report, so that an author fixes them in one pass. YAML is read with a loader that keeps dates as
text (a source's ``date`` is a string) and refuses duplicate keys, which plain YAML would silently
overwrite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pausewatch.errors import PolicyError
from pausewatch.policy._model import Policy, document_problems, policy_context
from pausewatch.statements import canonical, digest

Loc = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings and refuses duplicate keys, keys that are not
    plain scalars, and aliases (a policy has no use for them, and they allow "billion laughs"
    documents that expand without bound)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed here", event.start_mark
            )
        return super().compose_node(parent, index)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain scalar", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _positions(
    node: yaml.Node | None, loc: Loc = (), out: dict[Loc, int] | None = None
) -> dict[Loc, int]:
    """Map each path in a composed YAML tree to its 1-based line."""
    out = {} if out is None else out
    if node is None:
        return out
    out.setdefault(loc, node.start_mark.line + 1)  # a key's own line wins over its value's
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*loc, key)] = key_node.start_mark.line + 1
            _positions(value_node, (*loc, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _positions(item, (*loc, i), out)
    return out


def _line(positions: Mapping[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest known prefix of ``loc``."""
    for n in range(len(loc), -1, -1):
        key = tuple(str(p) if isinstance(p, str) else p for p in loc[:n])
        if key in positions:
            return positions[key]
    return None


def _dotted(loc: Loc) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "<document>"


def read_yaml(text: str, filename: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text; syntax errors become a :class:`PolicyError` with the line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        return data, _positions(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark is not None else filename
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{filename} is not valid YAML", [f"{where}: {problem}"]) from exc
    except RecursionError as exc:
        raise PolicyError(f"{filename} is nested too deeply to be a policy or facts file") from exc
    finally:
        loader.dispose()


def read_text(path: Path | str, what: str) -> str:
    """A UTF-8 text file; unreadable or undecodable files are a :class:`PolicyError`."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read {what} {p}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(f"cannot read {what} {p}: not UTF-8 text ({exc.reason})") from exc


def _line_of(problem: str) -> int:
    parts = problem.split(":", 2)
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0


def problems_of(
    exc: ValidationError,
    filename: str,
    positions: Mapping[Loc, int],
    *,
    drop_document_level: bool = False,
) -> list[str]:
    """One ``file:line: path: reason`` line per validation error, in document order.

    ``drop_document_level`` leaves out errors of the whole document (a model check joining
    several problems in one message) when the same problems are reported one by one with
    their locations."""
    lines: list[tuple[int, str]] = []
    for e in exc.errors(include_url=False):
        loc: Loc = tuple(e["loc"])
        if drop_document_level and not loc:
            continue
        line = _line(positions, loc)
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field (not part of the policy schema)"
        msg = msg.removeprefix("Value error, ")
        where = f"{filename}:{line}" if line is not None else filename
        lines.append((line or 0, f"{where}: {_dotted(loc)}: {msg}"))
    return [text for _, text in sorted(lines, key=lambda t: t[0])]


def validate_document(
    model: type[_M],
    data: Any,
    *,
    filename: str,
    positions: Mapping[Loc, int],
    what: str,
    context: dict[str, Any] | None = None,
    extra: Callable[[Any], list[tuple[Loc, str]]] | None = None,
) -> _M:
    """Validate ``data`` against ``model``, listing every problem at once on failure.

    ``extra`` finds problems in the raw data that the model's own checks would report but
    pydantic skips when another field of the same part is invalid; they are merged in.
    """
    if not isinstance(data, dict):
        raise PolicyError(
            f"{filename} is not a valid {what}",
            [f"{filename}:1: <document>: expected a mapping, got {type(data).__name__}"],
        )
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        found = extra(data) if extra else []
        problems = problems_of(exc, filename, positions, drop_document_level=bool(found))
        for loc, msg in found:
            line = _line(positions, loc)
            text = f"{filename}:{line}: {_dotted(loc)}: {msg}" if line else f"{filename}: {msg}"
            if text not in problems:
                problems.append(text)
        problems.sort(key=_line_of)
        n = len(problems)
        raise PolicyError(
            f"{filename} is not a valid {what} ({n} problem{'s' if n != 1 else ''})", problems
        ) from exc


def parse_policy(text: str, filename: str = "<policy>") -> Policy:
    """A :class:`Policy` from YAML (or JSON) text."""
    data, positions = read_yaml(text, filename)
    return validate_document(
        Policy,
        data,
        filename=filename,
        positions=positions,
        what="policy",
        context=policy_context(data),
        extra=document_problems,
    )


def load_policy(path: Path | str) -> Policy:
    """A :class:`Policy` from a YAML file."""
    return parse_policy(read_text(path, "policy file"), str(path))


def policy_to_json(policy: Policy) -> dict[str, Any]:
    """The policy as a JSON-ready mapping: fields left unset are omitted."""
    return policy.model_dump(mode="json", exclude_none=True)


def policy_digest(policy: Policy) -> str:
    """SHA-256 (hex) of the policy's RFC 8785 bytes: the identity a ``policy.adopt`` names."""
    return digest(policy_to_json(policy)).hex()


def policy_bytes(policy: Policy) -> bytes:
    """The policy's canonical (RFC 8785) bytes."""
    return canonical(policy_to_json(policy))


class _Dumper(yaml.SafeDumper):
    """Block-style YAML with keys in schema order."""


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump_policy(policy: Policy) -> str:
    """The policy as YAML that :func:`parse_policy` reads back to an equal policy."""
    return yaml.dump(
        policy_to_json(policy),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
