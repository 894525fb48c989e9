"""Imports point down (house style rule 12; hardening issue, item 10).

Each package of pausewatch has a layer; a module may import its own package and packages of
lower layers only. Imports inside functions count too: a lazy import is still a dependency, and
a circle hidden in one is still a circle.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

import pausewatch

LAYERS: dict[str, int] = {
    "errors": 0,
    "fields": 0,
    "store": 1,
    "settings": 2,
    "ledger": 2,
    "statements": 3,
    "compute": 3,
    "witness": 3,
    "policy": 4,
    "telemetry": 4,
    "registry": 5,
    "simulate": 5,
    "governance": 6,
    "evals": 6,
    "detect": 6,
    "transcript": 6,
    "state": 7,
    "audit": 8,
    "trial": 9,
    "service": 8,
    "web": 9,
    "client": 9,
    "api": 10,
    "demo": 11,
    "cli": 12,
}
"""Lowest first: the store and the log under the statements, the domains (policy, telemetry,
the registry, governance, evaluations) above them, the state that composes the domains' folds
above those, and the edges (service, web, API, client, demo, CLI) on top."""

SRC = Path(pausewatch.__file__).parent


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@functools.cache
def _imports() -> tuple[tuple[str, str, str], ...]:
    """(importing module, its package, imported package) for every pausewatch import; parsed
    once for the session, not once for each package's test."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        package = _package(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "pausewatch" and len(parts) > 1 and parts[1] != package:
                    found.append((str(path.relative_to(SRC)), package, parts[1]))
    return tuple(found)


def test_every_package_has_a_layer() -> None:
    """A new package must be placed in the layering before it can be used."""
    packages = {_package(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert sorted(packages - set(LAYERS)) == []


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_a_package_imports_only_lower_layers(package: str) -> None:
    """No module imports a package of its own layer or above: the packages form no circle."""
    upward = [
        f"{module} imports pausewatch.{target}"
        for module, pkg, target in _imports()
        if pkg == package and LAYERS.get(target, 99) >= LAYERS[package]
    ]
    assert upward == []
