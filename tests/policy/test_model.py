"""The policy document: validation with every problem listed at once, schema, round trip."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.compute import CountingRule
from pausewatch.errors import PolicyError
from pausewatch.policy import (
    Policy,
    dump_policy,
    load_policy,
    load_preset,
    parse_policy,
    policy_digest,
    policy_to_json,
    preset_text,
)

MINIMAL = """\
id: test-policy
version: 1.0.0
title: A test policy
sources:
  law: {title: A law, url: https://example.org/law}
counting: {rule: precision_agnostic, source: law}
compute:
  pretraining:
    report_before_start: {flop: 1.0e+22, source: law}
    prohibited: {flop: 1.0e+24, source: law}
"""

BROKEN = """\
id: broken
version: 1.0.0
title: Four problems at once
colour: blue
sources:
  law: {title: A law}
counting: {rule: precision_agnostic, source: law}
compute:
  pretraining:
    report_before_start: {flop: 1.0e+24, source: law}
    prohibited: {flop: 1.0e+22, source: law}
  post_training:
    prohibited: {flop: -5, source: law}
clusters:
  monitoring: {max_unmonitored_h100e: 16}
"""


def problems(text: str, filename: str = "p.yaml") -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, filename)
    return info.value.problems


def test_minimal_policy_loads() -> None:
    """A small policy with sources for every figure is valid."""
    p = parse_policy(MINIMAL)
    assert p.counting.rule is CountingRule.PRECISION_AGNOSTIC
    assert p.compute.pretraining.prohibited is not None
    assert p.compute.pretraining.prohibited.flop == 1e24


def test_every_problem_is_listed_at_once_with_file_line_and_path() -> None:
    """Unknown field, inverted tiers, negative figure and missing source come in one report."""
    found = problems(BROKEN)
    assert len(found) == 4, found
    text = "\n".join(found)
    assert "p.yaml:4: colour: unknown field" in text
    assert "p.yaml:9: compute.pretraining: inverted tier order" in text
    assert (
        "p.yaml:13: compute.post_training.prohibited.flop: Input should be greater than 0" in text
    )
    assert "p.yaml:15: clusters.monitoring.source: Field required" in text


def test_unknown_source_id_is_refused_by_name() -> None:
    """A figure citing a source the policy does not declare names the declared ones."""
    text = MINIMAL.replace(
        "prohibited: {flop: 1.0e+24, source: law}", "prohibited: {flop: 1.0e+24, source: lore}"
    )
    [problem] = problems(text)
    assert "compute.pretraining.prohibited.source" in problem
    assert "unknown source 'lore'" in problem
    assert "law" in problem


def test_equal_thresholds_in_consecutive_tiers_are_allowed() -> None:
    """Declaration and approval at the same figure (MIRI's 1e22) is not an inversion."""
    text = MINIMAL.replace(
        "    prohibited:", "    approval_required: {flop: 1.0e+22, source: law}\n    prohibited:"
    )
    assert parse_policy(text).compute.pretraining.approval_required is not None


def test_duplicate_keys_are_refused() -> None:
    """A key given twice is an error, not a silent overwrite."""
    text = MINIMAL + "title: Another title\n"
    [problem] = problems(text)
    assert "duplicate key 'title'" in problem


def test_yaml_syntax_error_names_the_line() -> None:
    """Broken YAML is reported with its file and line."""
    [problem] = problems("id: x\nsources: [unclosed\n", "bad.yaml")
    assert problem.startswith("bad.yaml:")


def test_document_that_is_not_a_mapping_is_refused() -> None:
    """A YAML list is not a policy."""
    [problem] = problems("- a\n- b\n")
    assert "expected a mapping" in problem


def test_critical_level_below_alert_level_is_refused() -> None:
    """A capability trigger's critical level cannot be below its alert level."""
    text = MINIMAL + (
        "capabilities:\n"
        "  - {domain: cyber_offence, indicator: x, metric: accuracy, alert_level: 0.8,\n"
        "     critical_level: 0.5, source: law}\n"
    )
    [problem] = problems(text)
    assert "critical_level (0.5) is below alert_level (0.8)" in problem


def test_pause_naming_an_undefined_body_is_refused() -> None:
    """Pause decisions must name a body the governance section defines."""
    policy = policy_to_json(load_preset("miri-2025"))
    policy["pause"]["lift"]["body"] = "assembly"
    with pytest.raises(PolicyError, match=r"pause\.lift\.body: names body 'assembly'"):
        parse_policy(yaml.safe_dump(policy))


def test_threshold_notifications_must_name_a_tier() -> None:
    """A threshold clock without a tier is refused."""
    text = MINIMAL + (
        "notifications:\n  - {event: threshold_met, within_hours: 24, duty: tell, source: law}\n"
    )
    assert "must name a tier" in problems(text)[0]


def test_missing_file_is_one_clear_error(tmp_path: Any) -> None:
    """A policy path that does not exist is a PolicyError naming it."""
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy(tmp_path / "absent.yaml")


def test_json_schema_documents_every_field() -> None:
    """Every property in the generated JSON Schema carries a description."""
    schema = Policy.model_json_schema()
    missing: list[str] = []
    for name, definition in {"Policy": schema, **schema["$defs"]}.items():
        for prop, spec in definition.get("properties", {}).items():
            if "description" not in spec:
                missing.append(f"{name}.{prop}")
    assert missing == []


def test_dates_stay_text() -> None:
    """Source dates are read as text, whatever YAML would make of them."""
    p = parse_policy(MINIMAL.replace("url: https://example.org/law}", "date: 2025-11-13}"))
    assert p.sources["law"].date == "2025-11-13"


def test_preset_text_is_the_shipped_file() -> None:
    """preset_text returns YAML that parses to the preset."""
    assert parse_policy(preset_text("miri-2025")) == load_preset("miri-2025")


def test_unknown_preset_lists_the_presets() -> None:
    """An unknown preset name is an error naming the available ones."""
    with pytest.raises(PolicyError, match="miri-2025"):
        load_preset("nope")


figures = st.floats(min_value=1e15, max_value=1e30, allow_nan=False, allow_infinity=False)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Variations of the MIRI preset: tier figures, counting rule, optional sections."""
    base = policy_to_json(load_preset("miri-2025"))
    for cls in ("pretraining", "post_training"):
        tiers = base["compute"][cls]
        names = [
            n
            for n in ("monitor", "report_before_start", "approval_required", "prohibited")
            if n in tiers
        ]
        values = sorted(draw(st.lists(figures, min_size=len(names), max_size=len(names))))
        for name, value in zip(names, values, strict=True):
            tiers[name]["flop"] = value
            if draw(st.booleans()):
                tiers[name]["basis"] = draw(
                    st.sampled_from([["run"], ["lineage"], ["run", "lineage"]])
                )
    base["counting"]["rule"] = draw(st.sampled_from([r.value for r in CountingRule]))
    base["version"] = (
        f"{draw(st.integers(0, 99))}.{draw(st.integers(0, 99))}.{draw(st.integers(0, 99))}"
    )
    base["title"] = (
        draw(
            st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60)
        ).strip()
        or "t"
    )
    for optional in ("pause", "withdrawal", "notifications", "approvals"):
        if draw(st.booleans()):
            base.pop(optional, None)
    if "approvals" in base:
        base["approvals"]["deemed_after_days"] = draw(st.floats(min_value=0.5, max_value=365))
    return Policy.model_validate(base, context={"sources": frozenset(base["sources"])})


@settings(max_examples=60, deadline=None)
@given(policies())
def test_policy_round_trips_through_yaml_unchanged(policy: Policy) -> None:
    """dump_policy then parse_policy gives an equal policy with the same digest."""
    again = parse_policy(dump_policy(policy))
    assert again == policy
    assert policy_digest(again) == policy_digest(policy)
