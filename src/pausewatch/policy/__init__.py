"""Moratorium policy as code: the document, its presets, and its evaluation."""

from __future__ import annotations

from pausewatch.policy._load import (
    dump_policy,
    load_policy,
    parse_policy,
    policy_bytes,
    policy_digest,
    policy_to_json,
)
from pausewatch.policy._model import Policy
from pausewatch.policy._presets import load_preset, preset_names, preset_text

__all__ = [
    "Policy",
    "dump_policy",
    "load_policy",
    "load_preset",
    "parse_policy",
    "policy_bytes",
    "policy_digest",
    "policy_to_json",
    "preset_names",
    "preset_text",
]
