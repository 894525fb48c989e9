"""Moratorium policy as code: the document, its presets, its evaluation and its adoption.

Public API::

    load_policy(path), parse_policy(text), dump_policy(policy)    YAML in and out
    load_preset(name), preset_names()                             shipped presets
    policy_digest(policy)                                         SHA-256 of the RFC 8785 bytes
    load_facts(path), parse_facts(text), Facts                    what the state knows
    evaluate(policy, facts, at) -> Evaluation                     findings and obligations
    PolicyAdopt, effective_policy(adoptions, at)                  policy.adopt/v1 on the log
"""

from __future__ import annotations

from pausewatch.policy._evaluate import DEFAULT_HORIZON, check_conditions, evaluate
from pausewatch.policy._facts import Facts, load_facts, parse_facts
from pausewatch.policy._findings import (
    ConditionResult,
    Evaluation,
    Finding,
    FindingKind,
    Obligation,
    ObligationStatus,
    Severity,
)
from pausewatch.policy._load import (
    dump_policy,
    load_policy,
    parse_policy,
    policy_bytes,
    policy_digest,
    policy_to_json,
)
from pausewatch.policy._model import Domain, Policy, Tier
from pausewatch.policy._presets import load_preset, preset_names, preset_text
from pausewatch.policy._statements import (
    ADOPT_KIND,
    Adoption,
    PolicyAdopt,
    adoption_of,
    effective_policy,
)

__all__ = [
    "ADOPT_KIND",
    "DEFAULT_HORIZON",
    "Adoption",
    "ConditionResult",
    "Domain",
    "Evaluation",
    "Facts",
    "Finding",
    "FindingKind",
    "Obligation",
    "ObligationStatus",
    "Policy",
    "PolicyAdopt",
    "Severity",
    "Tier",
    "adoption_of",
    "check_conditions",
    "dump_policy",
    "effective_policy",
    "evaluate",
    "load_facts",
    "load_policy",
    "load_preset",
    "parse_facts",
    "parse_policy",
    "policy_bytes",
    "policy_digest",
    "policy_to_json",
    "preset_names",
    "preset_text",
]
