"""The shipped policy presets: they load, carry the figures of their sources, and round-trip."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from pausewatch.policy import (
    Policy,
    dump_policy,
    load_preset,
    parse_policy,
    policy_digest,
    policy_to_json,
    preset_names,
)
from pausewatch.policy._model import Basis, Event, Phase, Tier
from pausewatch.statements import canonical

EXPECTED = {"miri-2025", "fli-2023", "eu-ai-act", "us-eo-14110", "ca-sb53", "ny-raise"}


def _incident_hours(policy: Policy) -> list[float]:
    return [n.within_hours for n in policy.notifications if n.event is Event.CRITICAL_INCIDENT]


def _source_refs(value: Any) -> list[str]:
    """Every ``source`` value in a JSON tree."""
    refs: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "source" and isinstance(item, str):
                refs.append(item)
            else:
                refs.extend(_source_refs(item))
    elif isinstance(value, list):
        for item in value:
            refs.extend(_source_refs(item))
    return refs


def test_expected_presets_are_shipped() -> None:
    """The six presets named in the design are all shipped."""
    assert set(preset_names()) >= EXPECTED


@pytest.mark.parametrize("name", preset_names())
def test_preset_loads(name: str) -> None:
    """Every shipped preset validates, so every `source` names a declared source."""
    policy = load_preset(name)
    assert policy.id == name


@pytest.mark.parametrize("name", preset_names())
def test_preset_round_trips(name: str) -> None:
    """Dumping a preset to YAML and parsing it back gives an equal policy with the same digest."""
    policy = load_preset(name)
    again = parse_policy(dump_policy(policy), f"dumped {name}")
    assert again == policy
    assert policy_digest(again) == policy_digest(policy)


@pytest.mark.parametrize("name", preset_names())
def test_sources_are_identified(name: str) -> None:
    """Every declared source has a title and either a url or a status."""
    for source_id, source in load_preset(name).sources.items():
        assert source.title, source_id
        assert source.url or source.status, source_id


@pytest.mark.parametrize("name", preset_names())
def test_every_declared_source_is_cited(name: str) -> None:
    """Every source a preset declares backs at least one of its figures."""
    data = policy_to_json(load_preset(name))
    data.pop("sources")
    assert set(load_preset(name).sources) == set(_source_refs(data))


def test_miri_figures() -> None:
    """miri-2025: 1e24 banned, 1e23 post-training, deemed after 30 days, 16 H100e, 365 days."""
    p = load_preset("miri-2025")
    assert p.compute.pretraining.prohibited is not None
    assert p.compute.pretraining.prohibited.flop == 1e24
    assert p.compute.post_training.prohibited is not None
    assert p.compute.post_training.prohibited.flop == 1e23
    assert p.compute.pretraining.report_before_start is not None
    assert p.compute.pretraining.report_before_start.flop == 1e22
    assert p.approvals is not None
    assert p.approvals.deemed_after_days == 30
    assert p.clusters.monitoring is not None
    assert p.clusters.monitoring.max_unmonitored_h100e == 16
    assert p.withdrawal is not None
    assert p.withdrawal.notice_days == 365
    assert p.counting.rule == "fp16_equivalent_or_actual"
    assert set(p.counting.includes) == set(Phase)


def test_fli_figures() -> None:
    """fli-2023: training above GPT-4's 2.1e25 FLOP is paused for at least six months."""
    p = load_preset("fli-2023")
    assert p.compute.pretraining.prohibited is None  # a pause, not a standing ban
    assert p.compute.pretraining.monitor is not None
    assert p.compute.pretraining.monitor.flop == 2.1e25
    assert p.pause is not None
    assert p.pause.prohibits.training_above_flop == 2.1e25
    assert p.pause.minimum_duration_days is not None
    assert p.pause.minimum_duration_days >= 182
    assert p.pause.default_duration_days >= p.pause.minimum_duration_days
    assert p.counting.rule == "precision_agnostic"
    assert p.counting.source == "pausewatch-defaults"
    assert p.governance is not None
    assert p.governance.source == "pausewatch-defaults"
    assert p.pause.lift.conditions


def test_eu_ai_act_figures() -> None:
    """eu-ai-act: 1e25 cumulative, two-week notifications, 1e23 GPAI criterion, 1/3 modification."""
    p = load_preset("eu-ai-act")
    systemic = p.compute.pretraining.report_before_start
    assert systemic is not None
    assert systemic.flop == 1e25
    assert systemic.basis == (Basis.LINEAGE,)
    assert p.compute.pretraining.monitor is not None
    assert p.compute.pretraining.monitor.flop == 1e23
    assert p.compute.pretraining.prohibited is None
    assert p.compute.post_training.prohibited is None
    assert p.compute.modification is not None
    assert p.compute.modification.fraction == pytest.approx(1 / 3, rel=1e-15)
    clocks = {(n.event, n.tier, n.within_hours) for n in p.notifications}
    assert (Event.THRESHOLD_MET, Tier.REPORT_BEFORE_START, 336) in clocks
    assert (Event.THRESHOLD_EXPECTED, Tier.REPORT_BEFORE_START, 336) in clocks
    assert p.pause is None


def test_us_eo_14110_figures() -> None:
    """us-eo-14110: 1e26, 1e23 for biological data, clusters of 1e20 FLOP/s on 100 Gbit/s."""
    p = load_preset("us-eo-14110")
    assert p.compute.pretraining.report_before_start is not None
    assert p.compute.pretraining.report_before_start.flop == 1e26
    assert p.counting.rule == "precision_agnostic"
    (bio,) = p.compute.special
    assert bio.data == "biological_sequences"
    assert bio.flop == 1e23
    assert bio.tier is Tier.REPORT_BEFORE_START
    assert p.clusters.reporting is not None
    assert p.clusters.reporting.min_flops_per_s == 1e20
    assert p.clusters.reporting.min_network_gbps == 100
    assert p.sources["eo-14110"].status is not None
    assert "rescinded" in p.sources["eo-14110"].status


def test_ca_sb53_figures() -> None:
    """ca-sb53: 1e26 over training and post-training, $500M large developers, 15-day incidents."""
    p = load_preset("ca-sb53")
    frontier = p.compute.pretraining.monitor
    assert frontier is not None
    assert frontier.flop == 1e26
    assert frontier.basis == (Basis.LINEAGE,)
    large = p.compute.pretraining.report_before_start
    assert large is not None
    assert large.flop == 1e26
    assert large.min_developer_revenue_usd == 5e8
    assert {Phase.PRETRAINING, Phase.FINE_TUNING, Phase.RL} <= set(p.counting.includes)
    assert _incident_hours(p) == [360]


def test_ny_raise_figures() -> None:
    """ny-raise: 1e26 operations and $100M compute cost, 72-hour incident disclosure."""
    p = load_preset("ny-raise")
    frontier = p.compute.pretraining.report_before_start
    assert frontier is not None
    assert frontier.flop == 1e26
    assert frontier.min_cost_usd == 1e8
    assert _incident_hours(p) == [72]


def test_a_policys_digest_is_its_own_however_often_and_in_whatever_order_asked() -> None:
    """policy_digest keeps the digests it gave by the policy object: every preset, asked twice
    and interleaved with the others, and a copy with one change, each get the SHA-256 of their
    own RFC 8785 bytes."""
    policies = [load_preset(name) for name in sorted(preset_names())]
    changed = policies[0].model_copy(update={"version": policies[0].version + "-changed.1"})
    for policy in [*policies, changed, *reversed(policies), changed]:
        expected = hashlib.sha256(canonical(policy_to_json(policy))).hexdigest()
        assert policy_digest(policy) == expected
    assert policy_digest(changed) != policy_digest(policies[0])
