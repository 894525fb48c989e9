"""Evaluations stay byte for byte what they were: the presets' digests over fixed facts.

``scripts/evaluation_digest.py`` evaluates every shipped preset over fixed facts (small synthetic
facts from the policy benchmark, and the documentation's example) at fixed times; the SHA-256 of
each ``Evaluation.canonical_bytes()`` is recorded in ``evaluation_digests.json``. A change that
is meant to change evaluations rewrites that file with
``python scripts/evaluation_digest.py --write tests/policy/evaluation_digests.json``.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from pausewatch.policy import FindingKind, preset_names

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).with_name("evaluation_digests.json")


def _script() -> ModuleType:
    """``scripts/evaluation_digest.py``, imported from its file (scripts/ is no package)."""
    path = ROOT / "scripts" / "evaluation_digest.py"
    spec = importlib.util.spec_from_file_location("evaluation_digest", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def computed() -> tuple[dict[str, str], Counter[str]]:
    """The digests as the code computes them now, and the findings by kind they cover."""
    kinds: Counter[str] = Counter()
    found: dict[str, str] = _script().digests(kinds)
    return found, kinds


def test_every_evaluation_has_its_recorded_digest(
    computed: tuple[dict[str, str], Counter[str]],
) -> None:
    """Each preset's evaluation over each fixed set of facts at each fixed time has the
    SHA-256 recorded in the fixture, and the fixture records no other evaluation."""
    found, _ = computed
    expected = json.loads(FIXTURE.read_text(encoding="utf-8"))
    differ = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
    assert not differ, (
        f"{len(differ)} of {len(expected)} evaluations changed, first {differ[:5]}; if that is "
        "intended, rewrite the fixture with scripts/evaluation_digest.py --write"
    )


def test_digests_cover_every_preset_and_every_kind_of_finding(
    computed: tuple[dict[str, str], Counter[str]],
) -> None:
    """The fixed facts evaluate every shipped preset and make every kind of finding at least
    once, so that no rule escapes the digests."""
    found, kinds = computed
    assert {key.split("/", 1)[0] for key in found} == set(preset_names())
    assert {k.value for k in FindingKind} - set(kinds) == set()
