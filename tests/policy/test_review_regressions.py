"""Regressions found in review of the policy evaluation; each test is named after the defect it
pins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from pausewatch.errors import PolicyError
from pausewatch.policy import (
    Facts,
    FindingKind,
    ObligationStatus,
    load_preset,
    parse_facts,
    parse_policy,
    policy_to_json,
)
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._statements import Adoption, PolicyAdopt, effective_policy

AT = datetime(2026, 11, 26, tzinfo=UTC)


def run(id: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "operator": "lab", "model": "m", "phase": "pretraining", **fields}


def kinds(preset: str, facts: dict[str, Any], subject: str | None = None) -> set[str]:
    result = evaluate(load_preset(preset), Facts.model_validate(facts), AT)
    return {f.kind.value for f in result.findings if subject is None or f.subject == subject}


def test_pause_cannot_be_escaped_by_splitting_a_run() -> None:
    """Two 6e21 running jobs of one model under a 1e22 pause are a pause violation."""
    facts = {
        "runs": [
            run("a", declared={"value": 6e21}, status="running"),
            run("b", declared={"value": 6e21}, status="running"),
        ],
        "pause": {"active": True},
    }
    assert "pause_violation" in kinds("miri-2025", facts, "model:m")


def test_expired_or_future_pause_does_not_bind() -> None:
    """A pause binds only between its start and its expiry."""
    one = [run("a", declared={"value": 5e22}, status="running")]
    expired = {"runs": one, "pause": {"active": True, "expires_at": "2026-06-01T00:00:00Z"}}
    future = {"runs": one, "pause": {"active": True, "started_at": "2027-01-01T00:00:00Z"}}
    current = {
        "runs": one,
        "pause": {
            "active": True,
            "started_at": "2026-11-01T00:00:00Z",
            "expires_at": "2027-05-01T00:00:00Z",
        },
    }
    assert "pause_violation" not in kinds("miri-2025", expired)
    assert "pause_violation" not in kinds("miri-2025", future)
    assert "pause_violation" in kinds("miri-2025", current)


def test_lineage_threshold_carries_declaration_duty() -> None:
    """Under a lineage-only threshold (EO 14110's 1e26) an undeclared started run of a model
    above it is an undeclared run."""
    facts = {
        "runs": [
            run("r", measured={"value": 2e26}, status="finished", starts_at="2026-06-01T00:00:00Z")
        ]
    }
    assert "undeclared_run" in kinds("us-eo-14110", facts, "run:r")


def test_splitting_under_the_declaration_threshold_keeps_the_duty() -> None:
    """Two undeclared 6e21 runs of one model (1.2e22 in all): the second, which takes the model
    over MIRI's 1e22, is undeclared; the first, still below it when it started, is not."""
    first = run("a", measured={"value": 6e21}, status="running", starts_at="2026-10-01T00:00:00Z")
    second = run("b", measured={"value": 6e21}, status="running", starts_at="2026-11-01T00:00:00Z")
    facts = {"runs": [first, second]}
    assert {"undeclared_run", "started_without_approval"} <= kinds("miri-2025", facts, "run:b")
    assert "undeclared_run" not in kinds("miri-2025", facts, "run:a")


def test_model_clock_is_not_met_by_an_unrelated_earlier_declaration() -> None:
    """EU: a 2024 declaration of a small run does not meet the notice owed when an undeclared
    2026 run takes the model above 1e25."""
    facts = Facts.model_validate(
        {
            "runs": [
                run(
                    "r1",
                    declared={"value": 1e24},
                    declared_at="2024-01-01T00:00:00Z",
                    starts_at="2024-02-01T00:00:00Z",
                    status="finished",
                ),
                run(
                    "r2",
                    measured={"value": 2e25},
                    starts_at="2026-06-01T00:00:00Z",
                    status="finished",
                ),
            ]
        }
    )
    result = evaluate(load_preset("eu-ai-act"), facts, AT)
    met = [o for o in result.obligations if o.basis == "notifications.threshold_met"]
    assert [(o.status, o.deadline) for o in met] == [
        (ObligationStatus.OVERDUE, datetime(2026, 6, 15, tzinfo=UTC))
    ]


def test_uncounted_intermediate_model_keeps_the_lineage() -> None:
    """EU does not count hyper-parameter searches, but A -> B (search) -> C still adds A's
    compute to C's."""
    facts = Facts.model_validate(
        {
            "runs": [
                run("ra", model="A", declared={"value": 8e24}),
                run(
                    "rb",
                    model="B",
                    base_model="A",
                    phase="hyperparameter_search",
                    declared={"value": 1e20},
                ),
                run("rc", model="C", base_model="B", phase="fine_tuning", declared={"value": 3e24}),
            ]
        }
    )
    result = evaluate(load_preset("eu-ai-act"), facts, AT)
    flops = {
        f.subject: dict(f.figures)["flop"]
        for f in result.findings
        if f.kind is FindingKind.TIER_REACHED
    }
    assert flops["model:C"] == pytest.approx(1.1e25)


def test_prohibition_not_ruled_out_far_below_the_next_tier() -> None:
    """A value of 5e21 with a high bound of 5e24 cannot rule out MIRI's 1e24 prohibition."""
    facts = {"runs": [run("a", measured={"value": 5e21, "low": 1e21, "high": 5e24})]}
    assert "prohibited_not_ruled_out" in kinds("miri-2025", facts, "run:a")


def test_backdated_adoption_does_not_rewrite_the_past() -> None:
    """An adoption integrated later cannot take effect before it reached the log."""

    def adoption(index: int, preset: str, effective: datetime, integrated: datetime) -> Adoption:
        from pausewatch.policy import policy_digest

        p = load_preset(preset)
        body = PolicyAdopt.model_validate_json(
            json.dumps(
                {
                    "policy": policy_to_json(p),
                    "digest": policy_digest(p),
                    "effective_at": effective.isoformat(),
                }
            )
        )
        return Adoption(index, integrated, "ed25519:x", body)

    first = adoption(
        0, "miri-2025", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    )
    backdated = adoption(
        1, "eu-ai-act", datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    )
    march = effective_policy([first, backdated], datetime(2026, 3, 1, tzinfo=UTC))
    july = effective_policy([first, backdated], datetime(2026, 7, 1, tzinfo=UTC))
    assert march is not None and march.body.policy.id == "miri-2025"  # noqa: PT018
    assert july is not None and july.body.policy.id == "eu-ai-act"  # noqa: PT018


def test_running_status_means_started() -> None:
    """A running run with `started` left out has started."""
    facts = {"runs": [run("a", measured={"value": 5e22}, status="running")]}
    assert "undeclared_run" in kinds("miri-2025", facts, "run:a")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "running", "started": False}, "started: false contradicts it"),
        ({"approval": "approved"}, "needs decided_at"),
        ({"measured_by_precision": {"fp12": 1e22}}, "fp12"),
        ({"declared": {"value": float("nan")}}, "finite"),
        ({"declared": {"value": 1e41}}, "less than or equal"),
    ],
)
def test_contradictory_or_impossible_run_facts_are_refused(
    fields: dict[str, Any], message: str
) -> None:
    """Facts that contradict themselves or cannot be numbers are refused with a reason."""
    with pytest.raises(ValueError, match=message):
        Facts.model_validate({"runs": [run("a", **fields)]})


def test_exceeds_declaration_counts_per_precision_counters() -> None:
    """fp32 counters of 4e23 count 8e23 under MIRI: above a 2e23 plan."""
    facts = {"runs": [run("a", declared={"value": 2e23}, measured_by_precision={"fp32": 4e23})]}
    assert "exceeds_declaration" in kinds("miri-2025", facts, "run:a")


def test_cluster_reporting_without_network_condition() -> None:
    """A reporting rule with no network figure applies whatever the network."""
    policy = policy_to_json(load_preset("us-eo-14110"))
    policy["clusters"]["reporting"]["min_network_gbps"] = 0
    facts = Facts.model_validate(
        {
            "clusters": [
                {
                    "id": "c",
                    "operator": "o",
                    "h100e": 200_000,
                    "commissioned_at": "2025-01-01T00:00:00Z",
                }
            ]
        }
    )
    result = evaluate(parse_policy(yaml.safe_dump(policy)), facts, AT)
    assert {f.kind for f in result.findings} == {FindingKind.CLUSTER_NOT_REPORTED}


def test_tier_on_a_non_threshold_notification_is_refused() -> None:
    """An incident clock naming a tier would never fire: refused."""
    policy = policy_to_json(load_preset("ny-raise"))
    policy["notifications"][0]["tier"] = "prohibited"
    with pytest.raises(PolicyError, match="notifications name a tier"):
        parse_policy(yaml.safe_dump(policy))


def test_unknown_dates_give_undated_duties_not_moving_ones() -> None:
    """Without any date for a run, its notice has no deadline rather than one that moves with
    the evaluation time."""
    facts = Facts.model_validate({"runs": [run("a", measured={"value": 2e25}, status="finished")]})
    for at in (datetime(2026, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)):
        result = evaluate(load_preset("eu-ai-act"), facts, at)
        assert all(o.deadline is None for o in result.obligations)


def test_far_future_times_do_not_overflow() -> None:
    """An evaluation at the end of the calendar and century-long clocks do not crash."""
    facts = parse_facts((Path(__file__).parents[2] / "docs/examples/facts.yaml").read_text())
    result = evaluate(load_preset("miri-2025"), facts, datetime(9999, 12, 31, tzinfo=UTC))
    assert result.findings


def test_nan_and_infinity_are_refused_in_policies() -> None:
    """Non-finite figures in a policy are refused with their paths, every one at once."""
    policy = policy_to_json(load_preset("miri-2025"))
    policy["capabilities"][0]["alert_level"] = float("nan")
    policy["compute"]["pretraining"]["prohibited"]["min_cost_usd"] = float("inf")
    with pytest.raises(PolicyError) as info:
        parse_policy(yaml.safe_dump(policy), "p.yaml")
    text = "\n".join(info.value.problems)
    assert "capabilities[0].alert_level" in text
    assert "compute.pretraining.prohibited.min_cost_usd" in text


def test_document_level_problems_come_with_the_rest() -> None:
    """An undefined pause body and an approval tier without a threshold are listed together
    with a field error, each with its path."""
    policy = policy_to_json(load_preset("miri-2025"))
    policy["pause"]["lift"]["body"] = "assembly"
    policy["approvals"]["tiers"] = ["approval_required", "monitor"]
    del policy["compute"]["pretraining"]["monitor"]
    del policy["compute"]["post_training"]["monitor"]
    policy["withdrawal"]["notice_days"] = -1
    with pytest.raises(PolicyError) as info:
        parse_policy(yaml.safe_dump(policy), "p.yaml")
    text = "\n".join(info.value.problems)
    assert "pause.lift.body: names body 'assembly'" in text
    assert "approvals.tiers[1]: names tier 'monitor'" in text
    assert "withdrawal.notice_days" in text


def test_model_projection_sums_the_running_jobs() -> None:
    """A model whose finished 9e23 run and running 5e22 job will cross 1e24 within days is
    'approaching', though neither run is near the prohibition on its own."""
    facts = {
        "runs": [
            run("a", measured={"value": 9e23}, status="finished", starts_at="2026-01-01T00:00:00Z"),
            run(
                "b",
                measured={"value": 5e22},
                status="running",
                starts_at="2026-11-01T00:00:00Z",
                rate={"value": 1e17, "low": 8e16, "high": 1.2e17},
            ),
        ]
    }
    result = evaluate(load_preset("miri-2025"), Facts.model_validate(facts), AT)
    [f] = [f for f in result.findings if f.kind is FindingKind.THRESHOLD_APPROACHING]
    assert f.subject == "model:m"
    assert f.severity.value == "serious"
    assert "crosses the 1e+24 FLOP prohibition on 2026-12-01" in f.explanation


def two_tier_policy(post_flop: float = 1e22) -> Any:
    """Declaration at 1e22, approval at 1e23 (pre-training); post-training tiers at post_flop."""
    return parse_policy(
        f"""
id: two-tier
version: 1.0.0
title: two tiers
sources: {{s: {{title: S}}}}
counting: {{rule: precision_agnostic, source: s}}
compute:
  pretraining:
    report_before_start: {{flop: 1.0e+22, source: s}}
    approval_required: {{flop: 1.0e+23, source: s}}
  post_training:
    report_before_start: {{flop: {post_flop}, source: s}}
approvals: {{tiers: [approval_required], deemed_after_days: 30, source: s}}
"""
    )


def dated(id: str, flop: float, day: int, **fields: Any) -> dict[str, Any]:
    return run(
        id,
        measured={"value": flop},
        status="finished",
        starts_at=f"2026-0{day}-01T00:00:00Z",
        **fields,
    )


def test_a_stricter_tier_keeps_the_milder_tiers_duties() -> None:
    """r2 took the model over the 1e22 declaration tier; r3 later takes it over 1e23. r2 keeps
    its declaration duty."""
    facts = Facts.model_validate(
        {"runs": [dated("r1", 6e21, 1), dated("r2", 6e21, 2), dated("r3", 9.5e22, 3)]}
    )
    result = evaluate(two_tier_policy(), facts, AT)
    undeclared = {f.subject for f in result.findings if f.kind is FindingKind.UNDECLARED_RUN}
    assert undeclared == {"run:r2", "run:r3"}


def test_crossing_the_prohibition_keeps_earlier_duties() -> None:
    """Under MIRI, r2 took the model over 1e22 before r3 took it over 1e24: r2 stays
    undeclared, and the model is above the prohibition."""
    facts = Facts.model_validate(
        {"runs": [dated("r1", 6e21, 1), dated("r2", 6e21, 2), dated("r3", 9.9e23, 3)]}
    )
    result = evaluate(load_preset("miri-2025"), facts, AT)
    by_run = {(f.subject, f.kind.value) for f in result.findings}
    assert ("run:r2", "undeclared_run") in by_run
    assert ("model:m", "prohibited_compute") in by_run


def test_post_training_crossing_counts_post_training_runs_only() -> None:
    """The post-training lineage's duties go to the fine-tune that took it over, not to the
    pre-training run or the first fine-tune."""
    facts = Facts.model_validate(
        {
            "runs": [
                dated("p", 2e21, 1),
                dated("f1", 6e21, 2, phase="fine_tuning"),
                dated("f2", 6e21, 3, phase="fine_tuning"),
            ]
        }
    )
    result = evaluate(two_tier_policy(post_flop=1e22), facts, AT)
    undeclared = {f.subject for f in result.findings if f.kind is FindingKind.UNDECLARED_RUN}
    assert undeclared == {"run:f2"}


def test_lone_run_is_projected_under_lineage_only_policies() -> None:
    """EU has only lineage tiers: a lone running job about to cross 1e25 is approaching."""
    facts = {
        "runs": [
            run(
                "a",
                measured={"value": 9e24},
                status="running",
                starts_at="2026-11-01T00:00:00Z",
                rate={"value": 1e19},
            )
        ]
    }
    assert "threshold_approaching" in kinds("eu-ai-act", facts, "model:m")


def test_model_projection_counts_declared_only_runs() -> None:
    """A finished run known only by its 9e24 plan counts in the model's projection."""
    facts = {
        "runs": [
            run("a", declared={"value": 9e24}, status="finished", starts_at="2026-01-01T00:00:00Z"),
            run(
                "b",
                measured={"value": 4e23},
                status="running",
                starts_at="2026-11-01T00:00:00Z",
                rate={"value": 3e17},
            ),
        ]
    }
    assert "threshold_approaching" in kinds("eu-ai-act", facts, "model:m")


def test_a_declaration_below_the_threshold_is_not_its_notice() -> None:
    """EU: run b declared at 1e23 but measured at 2e24 takes the model over 1e25; its
    declaration does not meet the notice."""
    facts = Facts.model_validate(
        {
            "runs": [
                dated("a", 9e24, 1),
                run(
                    "b",
                    declared={"value": 1e23},
                    declared_at="2026-01-15T00:00:00Z",
                    measured={"value": 2e24},
                    status="finished",
                    starts_at="2026-02-01T00:00:00Z",
                ),
            ]
        }
    )
    result = evaluate(load_preset("eu-ai-act"), facts, AT)
    met = [o for o in result.obligations if o.basis.startswith("notifications.threshold")]
    assert met
    assert all(o.status is not ObligationStatus.MET for o in met)


def test_pause_window_must_be_ordered() -> None:
    """A pause that expires before it starts is refused."""
    with pytest.raises(ValueError, match="expire after it starts"):
        Facts.model_validate(
            {
                "pause": {
                    "active": True,
                    "started_at": "2027-01-01T00:00:00Z",
                    "expires_at": "2026-01-01T00:00:00Z",
                }
            }
        )


def test_huge_clusters_are_refused() -> None:
    """A cluster of 1e300 H100e is refused, rather than producing infinite figures."""
    with pytest.raises(ValueError, match="less than or equal"):
        Facts.model_validate({"clusters": [{"id": "c", "operator": "o", "h100e": 1e300}]})
