"""Every lift condition of every shipped preset can hold and can fail, on facts folded from a
log: for each (preset, condition) one world where it holds and one where it fails, each built
from signed statements only. A preset that gains a condition on a fact no world here builds
fails this test until one does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from pausewatch.evals import suite
from pausewatch.governance._witnesses import WITNESS_FRESHNESS
from pausewatch.ledger import Checkpoint, Signer
from pausewatch.policy import check_conditions, load_preset, policy_digest, policy_to_json
from pausewatch.policy._model import Condition, Domain, Fact
from pausewatch.policy._presets import preset_names
from pausewatch.state import facts_from_registry
from registry.world import World, declaration, key  # type: ignore[import-not-found]

CASES = [
    (pid, i, cond)
    for pid in preset_names()
    if (pause := load_preset(pid).pause) is not None
    for i, cond in enumerate(pause.lift.conditions)
]


def adopted(preset: str) -> World:
    """A world under ``preset``, with party ``us`` (and its delegate) and operator ``lab``'s
    facility ``f1`` and cluster ``c1``, chip maker ``nv``."""
    w = World()
    policy = load_preset(preset)
    body = {
        "policy": policy_to_json(policy),
        "digest": policy_digest(policy),
        "effective_at": "2026-01-01T00:00:00Z",
    }
    w.ok("policy.adopt/v1", body, w.secretariat)
    w.basic()
    w.keys["us-delegate"] = key("us-delegate")
    w.ok("delegate.register/v1", {"party_id": "us", "key": w.keys["us-delegate"].signer_id}, "us")
    return w


# -- one builder per fact: it makes the world hold or fail the condition, returns when --------


def coverage(w: World, hold: bool) -> datetime:
    """Twenty H100s installed in ``c1`` and never reporting: covered while their silence is
    shorter than the policy's limit, dark (and uncovered) after it."""
    for n in range(20):
        w.chip(f"g{n}", "nv")
        w.ok(
            "chip.custody/v1", {"chip_id": f"g{n}", "action": "install", "cluster_id": "c1"}, "lab"
        )
    return w.now if hold else w.now + timedelta(days=30)


def suites(w: World, hold: bool) -> datetime:
    """Suites adopted in every capability domain, or in three of the five."""
    domains = list(Domain) if hold else list(Domain)[:3]
    for d in domains:
        probes = [{"probe_id": p.id, "version": p.version} for p in suite(d)]
        w.ok("eval.suite/v1", {"domain": d.value, "probes": probes}, w.secretariat)
    return w.now


def cosign(w: World, witness: Signer) -> None:
    """``witness`` cosigns the log's checkpoint at its size now; the secretariat records it."""
    size = w.registry.applied
    text = Checkpoint("log.example/demo", size, w.tree.root(size)).to_text()
    line = witness.cosignature_line(text, int(w.now.timestamp()))
    w.ok("witness.cosignature/v1", {"checkpoint": text, "cosignature": line}, w.secretariat)


def witnesses(w: World, hold: bool) -> datetime:
    """Three witnesses registered, each with a cosignature recorded within a day; or three
    registered, of which one last cosigned longer ago than that."""
    signers = [Signer.generate(f"witness.example/w{n}") for n in range(3)]
    for s in signers:
        w.ok("witness.register/v1", {"key": s.verifier().to_string()}, w.secretariat)
    cosign(w, signers[0])
    if not hold:
        w.now += WITNESS_FRESHNESS + timedelta(hours=1)
    for s in signers[1:]:
        cosign(w, s)
    return w.now


def findings(w: World, hold: bool) -> datetime:
    """A pause voted in, and a run declared above what the pause (and any prohibition)
    allows: an open critical finding; abandoned before it starts, nothing is left open."""
    pause = w.registry.policy_at(w.now).pause  # type: ignore[union-attr]
    w.ok("gov.proposal/v1", {"proposal_id": "p", "kind": "pause_start"}, "us-delegate")
    w.ok("gov.vote/v1", {"proposal_id": "p", "choice": "yes"}, "us-delegate")
    closes = datetime.fromisoformat(w.registry.get("proposals", "p")["closes_at"])
    w.now = closes + timedelta(minutes=1)
    decision = {"proposal_id": "p", "passed": True, "yes": 1, "no": 0, "abstain": 0}
    w.ok("gov.decision/v1", decision, w.secretariat)
    flop = max(pause.prohibits.training_above_flop, 1e24) * 4
    starts = (w.now + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ends = (w.now + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = declaration("big", planned_flop=flop, starts_at=starts, ends_at=ends)
    w.ok("run.declaration/v1", body, "lab")
    if hold:
        end = {"run_id": "big", "at": w.now.strftime("%Y-%m-%dT%H:%M:%SZ"), "outcome": "abandoned"}
        w.ok("run.end/v1", end, "lab")
    return w.now


BUILDERS: dict[Fact, Callable[[World, bool], datetime]] = {
    Fact.MONITORING_COVERAGE: coverage,
    Fact.EVAL_DOMAINS_ADOPTED: suites,
    Fact.WITNESSES: witnesses,
    Fact.OPEN_CRITICAL_FINDINGS: findings,
}


def test_the_presets_carry_lift_conditions() -> None:
    """The table below is not empty: at least one preset has a pause with lift conditions."""
    assert {pid for pid, _, _ in CASES} >= {"miri-2025", "fli-2023"}


@pytest.mark.parametrize("hold", [True, False], ids=["holds", "fails"])
@pytest.mark.parametrize(
    ("preset", "index", "condition"), CASES, ids=[f"{p}-{c.fact.value}" for p, _, c in CASES]
)
def test_each_lift_condition_can_hold_and_can_fail_on_the_log(
    preset: str, index: int, condition: Condition, hold: bool
) -> None:
    """A world folded from signed statements makes the condition hold, another makes it fail;
    the figure comes from the state, never from a test's hand."""
    builder = BUILDERS.get(condition.fact)
    assert builder is not None, f"no test world builds the fact {condition.fact.value!r}"
    w = adopted(preset)
    at = builder(w, hold)
    policy = w.registry.policy_at(at)
    facts = facts_from_registry(w.registry, at, policy)
    assert condition.fact in facts.state, f"{condition.fact.value} is not computed"
    [result] = check_conditions([condition], dict(facts.state))
    assert result.held is hold, (condition.description, result.actual)
