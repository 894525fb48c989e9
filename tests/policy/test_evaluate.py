"""Policy evaluation: findings and obligations for runs, lineages, clusters, evaluations."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pausewatch.errors import PolicyError
from pausewatch.policy import load_preset, parse_policy
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._facts import Facts, parse_facts
from pausewatch.policy._findings import Evaluation, FindingKind, ObligationStatus, Severity

AT = datetime(2026, 11, 26, tzinfo=UTC)
MIRI = load_preset("miri-2025")
DOCS_FACTS = Path(__file__).parents[2] / "docs" / "examples" / "facts.yaml"


def facts(**parts: Any) -> Facts:
    return Facts.model_validate(parts)


def run(id: str = "r1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": id,
        "operator": "lab-a",
        "model": f"m-{id}",
        "phase": "pretraining",
    }
    base.update(fields)
    return base


def kinds(result: Evaluation, subject: str | None = None) -> set[FindingKind]:
    return {f.kind for f in result.findings if subject is None or f.subject == subject}


def test_issue_example_explanation() -> None:
    """A running job near the prohibition is explained with its measured figure, interval and
    projected crossing date."""
    result = evaluate(
        MIRI,
        facts(
            runs=[
                run(
                    declared={"value": 9.5e23},
                    declared_at="2026-10-01T00:00:00Z",
                    measured={
                        "value": 8.1e23,
                        "low": 7.128e23,
                        "high": 9.072e23,
                        "method": "telemetry",
                    },
                    rate={"value": 3.14e17, "low": 2.8e17, "high": 3.5e17, "method": "telemetry"},
                    status="running",
                    started=True,
                    starts_at="2026-11-01T00:00:00Z",
                    ends_at="2027-01-31T00:00:00Z",
                    approval="approved",
                    decided_at="2026-10-20T00:00:00Z",
                )
            ]
        ),
        AT,
    )
    [approach] = [f for f in result.findings if f.kind is FindingKind.THRESHOLD_APPROACHING]
    assert approach.severity is Severity.SERIOUS
    assert approach.explanation.startswith(
        "run r1 has used 8.1e+23 FLOP (telemetry, ±12%); at its current rate it crosses the "
        "1e+24 FLOP prohibition on 2026-12-03"
    )


def test_threshold_applies_only_above_the_figure() -> None:
    """Compute exactly at a threshold does not reach it; just above does."""
    at = evaluate(MIRI, facts(runs=[run(declared={"value": 1e22})]), AT)
    above = evaluate(MIRI, facts(runs=[run(declared={"value": 1.0000001e22})]), AT)
    assert FindingKind.TIER_REACHED not in kinds(at, "run:r1")
    assert FindingKind.TIER_REACHED in kinds(above, "run:r1")


def test_prohibited_plan_is_critical_with_a_halt_proposal() -> None:
    """A declared plan above the prohibition is a critical finding that proposes a halt."""
    result = evaluate(MIRI, facts(runs=[run(declared={"value": 2e24})]), AT)
    [f] = [f for f in result.findings if f.subject == "run:r1"]
    assert (f.kind, f.severity, f.action.value) == (
        FindingKind.PROHIBITED_COMPUTE,
        Severity.CRITICAL,
        "halt_proposal",
    )
    assert "plans 2e+24 FLOP" in f.explanation


def test_interval_reaching_the_prohibition_is_not_ruled_out() -> None:
    """A high bound above the prohibition with a central value below it is serious."""
    result = evaluate(
        MIRI, facts(runs=[run(measured={"value": 9e23, "low": 8e23, "high": 1.1e24})]), AT
    )
    assert FindingKind.PROHIBITED_NOT_RULED_OUT in kinds(result, "run:r1")
    assert result.max_severity("run:r1") is Severity.SERIOUS


def test_undeclared_run_found_by_telemetry() -> None:
    """A started run above the declaration threshold with no declaration is serious, and its
    declaration duty is overdue."""
    result = evaluate(
        MIRI,
        facts(
            runs=[
                run(
                    measured={"value": 5e22, "method": "telemetry"},
                    status="running",
                    started=True,
                    starts_at="2026-11-20T00:00:00Z",
                    evidence=["log:7"],
                )
            ]
        ),
        AT,
    )
    [f] = [f for f in result.findings if f.kind is FindingKind.UNDECLARED_RUN]
    assert f.severity is Severity.SERIOUS
    assert f.evidence == ("log:7",)
    declare = [o for o in result.obligations if o.duty.startswith("declare run r1")]
    assert [o.status for o in declare] == [ObligationStatus.OVERDUE]


def test_declared_run_deemed_approved_after_the_review_period() -> None:
    """A run declared 30 days before its start is deemed approved: no finding against it."""
    declared = run(
        declared={"value": 5e22},
        declared_at="2026-10-01T00:00:00Z",
        status="running",
        started=True,
        starts_at="2026-11-01T00:00:00Z",
        approval="pending",
    )
    # Its transcript is kept as the policy requires (committed before the start, checkpointed
    # within the day): nothing but the approval is in question here.
    transcript = {
        "run": "r1",
        "committed_at": "2026-10-02T00:00:00Z",
        "last_checkpoint_at": "2026-11-25T12:00:00Z",
    }
    result = evaluate(MIRI, facts(runs=[declared], transcripts=[transcript]), AT)
    assert kinds(result, "run:r1") == {FindingKind.TIER_REACHED}
    assert all(
        o.status is ObligationStatus.MET for o in result.obligations if o.subject == "run:r1"
    )


def test_run_started_before_deemed_approval_is_found() -> None:
    """Starting 10 days after declaring, without approval, breaks the 30-day review."""
    early = run(
        declared={"value": 5e22},
        declared_at="2026-10-01T00:00:00Z",
        status="running",
        started=True,
        starts_at="2026-10-11T00:00:00Z",
    )
    result = evaluate(MIRI, facts(runs=[early]), AT)
    [f] = [f for f in result.findings if f.kind is FindingKind.STARTED_WITHOUT_APPROVAL]
    assert "deemed on 2026-10-31" in f.explanation


def test_extended_review_moves_the_deemed_date() -> None:
    """An extension of the review pushes deemed approval later."""
    r = run(
        declared={"value": 5e22},
        declared_at="2026-10-01T00:00:00Z",
        status="running",
        started=True,
        starts_at="2026-11-01T00:00:00Z",
        approval="extended",
        review_extended_days=15,
    )
    result = evaluate(MIRI, facts(runs=[r]), AT)
    assert FindingKind.STARTED_WITHOUT_APPROVAL in kinds(result)


def test_post_training_uses_the_post_training_tiers() -> None:
    """Fine-tuning at 2e23 is above MIRI's 1e23 post-training prohibition; pre-training is not."""
    ft = evaluate(
        MIRI,
        facts(runs=[run(phase="fine_tuning", base_model="base", declared={"value": 2e23})]),
        AT,
    )
    pt = evaluate(MIRI, facts(runs=[run(declared={"value": 2e23})]), AT)
    assert FindingKind.PROHIBITED_COMPUTE in kinds(ft, "run:r1")
    assert FindingKind.PROHIBITED_COMPUTE not in kinds(pt, "run:r1")


def test_lineage_includes_the_base_model() -> None:
    """A derivative's cumulative compute adds its base's: 6e23 + 6e23 crosses 1e24."""
    result = evaluate(
        MIRI,
        facts(
            runs=[
                run("a", model="base", declared={"value": 6e23}),
                run(
                    "b",
                    model="child",
                    base_model="base",
                    phase="hyperparameter_search",
                    declared={"value": 6e23},
                ),
            ]
        ),
        AT,
    )
    assert FindingKind.PROHIBITED_COMPUTE in kinds(result, "model:child")
    assert FindingKind.PROHIBITED_COMPUTE not in kinds(result, "model:base")


def test_lineage_cycle_is_an_error() -> None:
    """Models that derive from each other are refused (by the facts, before the evaluation
    would sum a lineage that never ends)."""
    with pytest.raises((PolicyError, ValidationError), match="cycle"):
        evaluate(
            MIRI,
            facts(
                runs=[
                    run("a", model="x", base_model="y", declared={"value": 1e20}),
                    run("b", model="y", base_model="x", declared={"value": 1e20}),
                ]
            ),
            AT,
        )


def test_modification_rule_makes_a_new_model() -> None:
    """Under the EU preset a modifier above one third of the base's compute is a new model."""
    eu = load_preset("eu-ai-act")
    parts = [run("a", model="base", declared={"value": 3e25})]
    small = evaluate(
        eu,
        facts(
            runs=[
                *parts,
                run(
                    "b",
                    model="ft",
                    base_model="base",
                    phase="fine_tuning",
                    declared={"value": 9e24},
                ),
            ]
        ),
        AT,
    )
    large = evaluate(
        eu,
        facts(
            runs=[
                *parts,
                run(
                    "b",
                    model="ft",
                    base_model="base",
                    phase="fine_tuning",
                    declared={"value": 1.1e25},
                ),
            ]
        ),
        AT,
    )
    assert FindingKind.NEW_MODEL not in kinds(small)
    assert FindingKind.NEW_MODEL in kinds(large, "model:ft")


def test_eu_notification_clock_runs_from_the_declaration() -> None:
    """A declaration above 1e25 starts the two-week clock, and the declaration meets it."""
    eu = load_preset("eu-ai-act")
    r = run(declared={"value": 2e25}, declared_at="2026-11-01T00:00:00Z")
    result = evaluate(eu, facts(runs=[r]), AT)
    expected = [o for o in result.obligations if o.basis == "notifications.threshold_expected"]
    assert [o.deadline for o in expected] == [datetime(2026, 11, 15, tzinfo=UTC)]
    assert expected[0].status is ObligationStatus.MET


def test_counting_rule_applies_per_precision() -> None:
    """FP32 counters count double under FP16-equivalent counting, once when precision-agnostic."""
    counters = run(measured_by_precision={"fp32": 6e23})
    miri = evaluate(MIRI, facts(runs=[counters]), AT)
    eu = evaluate(load_preset("eu-ai-act"), facts(runs=[counters]), AT)
    assert FindingKind.PROHIBITED_COMPUTE in kinds(miri, "run:r1")
    flop = {f.subject: dict(f.figures).get("flop") for f in eu.findings}
    assert flop.get("model:m-r1") == 6e23


def test_uncounted_phase_is_skipped() -> None:
    """Hyper-parameter searches do not count where the policy leaves them out (CA SB 53)."""
    sb53 = load_preset("ca-sb53")
    result = evaluate(
        sb53, facts(runs=[run(phase="hyperparameter_search", declared={"value": 5e26})]), AT
    )
    assert result.findings == ()


def test_cost_condition_of_ny_raise() -> None:
    """Above 1e26 FLOP the RAISE duty applies only above $100M of compute cost; an unknown
    cost does not exempt a model."""
    raise_act = load_preset("ny-raise")
    cheap = evaluate(
        raise_act, facts(runs=[run(declared={"value": 2e26}, compute_cost_usd=5e7)]), AT
    )
    costly = evaluate(
        raise_act, facts(runs=[run(declared={"value": 2e26}, compute_cost_usd=2e8)]), AT
    )
    unknown = evaluate(raise_act, facts(runs=[run(declared={"value": 2e26})]), AT)
    assert FindingKind.TIER_REACHED not in kinds(cheap, "model:m-r1")
    assert FindingKind.TIER_REACHED in kinds(costly, "model:m-r1")
    assert FindingKind.TIER_REACHED in kinds(unknown, "model:m-r1")


def test_incident_report_overdue_after_72_hours() -> None:
    """An incident unreported 72 hours after it occurred is overdue under RAISE."""
    raise_act = load_preset("ny-raise")
    late = facts(
        incidents=[{"id": "i1", "operator": "lab-a", "occurred_at": "2026-11-22T00:00:00Z"}]
    )
    on_time = facts(
        incidents=[
            {
                "id": "i1",
                "operator": "lab-a",
                "occurred_at": "2026-11-22T00:00:00Z",
                "reported_at": "2026-11-24T00:00:00Z",
            }
        ]
    )
    assert FindingKind.NOTIFICATION_OVERDUE in kinds(evaluate(raise_act, late, AT))
    assert kinds(evaluate(raise_act, on_time, AT)) == set()


def test_unmonitored_cluster_above_16_h100e() -> None:
    """MIRI caps unmonitored clusters at 16 H100-equivalents."""
    small = facts(clusters=[{"id": "c", "operator": "o", "h100e": 16}])
    large = facts(clusters=[{"id": "c", "operator": "o", "h100e": 17}])
    watched = facts(clusters=[{"id": "c", "operator": "o", "h100e": 5000, "monitored": True}])
    assert kinds(evaluate(MIRI, small, AT)) == set()
    assert kinds(evaluate(MIRI, large, AT)) == {FindingKind.UNMONITORED_CLUSTER}
    assert kinds(evaluate(MIRI, watched, AT)) == set()


def test_cluster_reporting_duty_of_eo_14110() -> None:
    """A cluster above 1e20 FLOP/s with fast networking must be reported; late is a finding."""
    eo = load_preset("us-eo-14110")
    cluster = {
        "id": "c",
        "operator": "o",
        "h100e": 200_000,
        "network_gbps": 400,
        "commissioned_at": "2026-01-01T00:00:00Z",
    }
    late = evaluate(eo, facts(clusters=[cluster]), AT)
    reported = evaluate(
        eo, facts(clusters=[{**cluster, "reported_at": "2026-01-10T00:00:00Z"}]), AT
    )
    slow = evaluate(eo, facts(clusters=[{**cluster, "network_gbps": 100}]), AT)
    assert kinds(late) == {FindingKind.CLUSTER_NOT_REPORTED}
    assert kinds(reported) == set()
    assert [o.status for o in reported.obligations] == [ObligationStatus.MET]
    assert slow.obligations == ()


def test_biological_sequence_threshold() -> None:
    """EO 14110 reports biological-sequence models from 1e23 FLOP, others from 1e26."""
    eo = load_preset("us-eo-14110")
    bio = evaluate(
        eo, facts(runs=[run(declared={"value": 2e23}, primary_data="biological_sequences")]), AT
    )
    text = evaluate(eo, facts(runs=[run(declared={"value": 2e23})]), AT)
    assert FindingKind.TIER_REACHED in kinds(bio, "run:r1")
    assert kinds(text) == set()


def evaluation(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "e1",
        "model": "m",
        "domain": "ai_rnd_automation",
        "metric": "accuracy",
        "probe": "pausewatch/repair_training_run",
        "task_version": 1,
    }
    base.update(fields)
    return base


def counted(*evaluations: dict[str, Any]) -> Facts:
    """Facts in which ``evaluations`` count (docs/adr/0021): their probe is the adopted
    ai_rnd_automation suite's, and a small declared run trains their model ``m``."""
    suite = {
        "domain": "ai_rnd_automation",
        "probes": [{"probe": "pausewatch/repair_training_run", "version": 1}],
    }
    small = run(model="m", declared={"value": 1e18})
    return facts(evaluations=list(evaluations), suites=[suite], runs=[small])


def capability_policy(buffer: float = 0.0) -> Any:
    return parse_policy(
        f"""
id: cap
version: 1.0.0
title: capability only
sources: {{s: {{title: S}}}}
counting: {{rule: precision_agnostic, source: s}}
capabilities:
  - {{domain: ai_rnd_automation, indicator: i, metric: accuracy, alert_level: 0.5,
     critical_level: 0.8, buffer: {buffer}, source: s}}
"""
    )


@pytest.mark.parametrize(
    ("value", "low", "high", "expected"),
    [
        (0.3, 0.2, 0.49, set()),
        (0.3, 0.2, 0.5, {FindingKind.CAPABILITY_ALERT}),
        (0.85, 0.79, 0.9, {FindingKind.CAPABILITY_ALERT}),
        (0.85, 0.8, 0.9, {FindingKind.CAPABILITY_CRITICAL}),
    ],
)
def test_capability_bounds_exactly_at_a_level(
    value: float, low: float, high: float, expected: set[FindingKind]
) -> None:
    """Alert when the upper bound reaches the alert level; critical when the lower bound
    reaches the critical level; a bound exactly at a level reaches it."""
    result = evaluate(
        capability_policy(),
        counted(evaluation(value=value, ci_low=low, ci_high=high)),
        AT,
    )
    assert kinds(result) == expected


def test_failed_evaluation_is_not_a_pass() -> None:
    """An evaluation that errored counts as 'not ruled out'."""
    result = evaluate(capability_policy(), counted(evaluation(status="error")), AT)
    assert kinds(result) == {FindingKind.CAPABILITY_ALERT}


def test_buffer_lowers_the_levels() -> None:
    """A safety buffer of 0.1 turns an upper bound of 0.45 into an alert."""
    e = counted(evaluation(value=0.3, ci_low=0.2, ci_high=0.45))
    assert kinds(evaluate(capability_policy(), e, AT)) == set()
    assert kinds(evaluate(capability_policy(buffer=0.1), e, AT)) == {FindingKind.CAPABILITY_ALERT}


def test_critical_capability_files_a_pause_proposal() -> None:
    """MIRI's AI R&D trigger proposes a pause on a critical result."""
    e = counted(evaluation(value=0.95, ci_low=0.9, ci_high=0.99))
    [f] = evaluate(MIRI, e, AT).findings
    assert (f.kind, f.action.value) == (FindingKind.CAPABILITY_CRITICAL, "pause_proposal")


def test_missing_domain_is_not_ruled_out() -> None:
    """A model above the evaluation threshold with no result in a domain is one finding naming
    every missing domain, and one obligation per domain."""
    result = evaluate(MIRI, facts(runs=[run(declared={"value": 5e22}, model="m")]), AT)
    [f] = [f for f in result.findings if f.kind is FindingKind.CAPABILITY_UNEVALUATED]
    assert "ai_rnd_automation (accuracy), self_improvement (accuracy)" in f.explanation
    duties = sorted(o.duty for o in result.obligations if o.subject == "model:m")
    assert duties == [
        "evaluate model m for ai_rnd_automation (accuracy)",
        "evaluate model m for self_improvement (accuracy)",
    ]


def test_pause_prohibits_runs_above_its_scope() -> None:
    """While a pause is active a running job above its scope is critical and proposes a halt."""
    r = run(
        declared={"value": 5e22}, status="running", started=True, declared_at="2026-01-01T00:00:00Z"
    )
    off = evaluate(MIRI, facts(runs=[r]), AT)
    on = evaluate(MIRI, facts(runs=[r], pause={"active": True}), AT)
    assert FindingKind.PAUSE_VIOLATION not in kinds(off)
    found = {f.subject: f for f in on.findings if f.kind is FindingKind.PAUSE_VIOLATION}
    assert set(found) == {"run:r1", "model:m-r1"}
    f = found["run:r1"]
    assert f.severity is Severity.CRITICAL
    assert f.action.value == "halt_proposal"


def test_lift_conditions_name_each_condition() -> None:
    """Each lift condition is reported with the state's figure; an unknown figure fails."""
    result = evaluate(
        MIRI,
        facts(state={"monitoring_coverage": 0.97, "witnesses": 2, "open_critical_findings": 0}),
        AT,
    )
    held = {c.condition.fact.value: (c.actual, c.held) for c in result.lift_conditions}
    assert held == {
        "monitoring_coverage": (0.97, True),
        "eval_domains_adopted": (None, False),
        "witnesses": (2, False),
        "open_critical_findings": (0, True),
    }


def test_same_inputs_give_the_same_bytes_whatever_the_order() -> None:
    """Evaluation is deterministic, and independent of the order facts are listed in."""
    rng = random.Random(7)
    runs = [
        run(
            f"r{i}",
            model=f"m{i % 5}",
            declared={"value": 10 ** rng.uniform(21, 25)},
            starts_at="2026-11-01T00:00:00Z",
            started=True,
        )
        for i in range(40)
    ]
    shuffled = runs[:]
    rng.shuffle(shuffled)
    a = evaluate(MIRI, facts(runs=runs), AT).canonical_bytes()
    b = evaluate(MIRI, facts(runs=runs), AT).canonical_bytes()
    c = evaluate(MIRI, facts(runs=shuffled), AT).canonical_bytes()
    assert a == b == c


def test_naive_evaluation_time_is_refused() -> None:
    """The evaluation time must be timezone-aware UTC."""
    with pytest.raises(PolicyError, match="timezone-aware UTC"):
        evaluate(MIRI, facts(), datetime(2026, 11, 26))  # noqa: DTZ001


def test_facts_file_problems_are_listed_at_once() -> None:
    """A facts file with several bad fields names each with its line."""
    with pytest.raises(PolicyError) as info:
        parse_facts(
            "runs:\n  - {id: r, operator: o, model: m, phase: warmup}\n"
            "clusters:\n  - {id: c, operator: o, h100e: -1}\n",
            "f.yaml",
        )
    assert len(info.value.problems) == 2
    assert info.value.problems[0].startswith("f.yaml:2: runs[0].phase")
    assert info.value.problems[1].startswith("f.yaml:4: clusters[0].h100e")


def test_duplicate_run_ids_are_refused() -> None:
    """Two runs with one id are an error."""
    with pytest.raises(ValueError, match="duplicate ids: r1"):
        facts(runs=[run(), run()])


def test_summary_counts_every_severity() -> None:
    """The summary names every severity, zero or not."""
    s = evaluate(MIRI, facts(), AT).summary()
    assert set(s) == {*(x.value for x in Severity), "obligations_open", "obligations_overdue"}


def test_findings_come_in_sort_key_order() -> None:
    """by_severity orders findings exactly as Finding.sort_key says: most severe first."""
    result = evaluate(MIRI, parse_facts(DOCS_FACTS.read_text()), AT)
    ordered = result.by_severity()
    assert list(ordered) == sorted(result.findings, key=lambda f: f.sort_key())
    assert ordered[0].severity is Severity.SERIOUS


def test_evaluation_restores_the_garbage_collector() -> None:
    """evaluate pauses the cyclic collector and leaves it as it found it, on or off."""
    import gc

    assert gc.isenabled()
    evaluate(MIRI, facts(runs=[run(declared={"value": 5e22})]), AT)
    assert gc.isenabled()
    gc.disable()
    try:
        evaluate(MIRI, facts(), AT)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(PolicyError):
        evaluate(MIRI, facts(), datetime(2026, 1, 1))  # noqa: DTZ001
    assert gc.isenabled()


def test_obligations_come_in_sort_key_order() -> None:
    """by_deadline orders obligations exactly as Obligation.sort_key says."""
    result = evaluate(MIRI, parse_facts(DOCS_FACTS.read_text()), AT)
    ordered = result.by_deadline()
    assert list(ordered) == sorted(result.obligations, key=lambda o: o.sort_key())
    assert ordered[-1].deadline is None
