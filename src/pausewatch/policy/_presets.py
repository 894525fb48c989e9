"""Policy presets shipped with pausewatch (``presets/<name>.yaml``)."""

from __future__ import annotations

from importlib import resources

from pausewatch.errors import PolicyError
from pausewatch.policy._load import parse_policy
from pausewatch.policy._model import Policy

_PACKAGE = "pausewatch.policy.presets"


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in resources.files(_PACKAGE).iterdir()
        if entry.name.endswith(".yaml")
    )


def preset_text(name: str) -> str:
    """The YAML text of preset ``name``; unknown names are an error listing the known ones."""
    if name not in preset_names():
        raise PolicyError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
    return resources.files(_PACKAGE).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def load_preset(name: str) -> Policy:
    """The preset ``name`` as a validated :class:`Policy`."""
    return parse_policy(preset_text(name), f"preset {name}")
