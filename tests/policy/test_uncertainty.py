"""Uncertainty carried through: counter-measured compute keeps its ±2% interval, and every
threshold finding quotes the interval of the figure it compares and whether it straddles the
threshold (docs/adr/0022-uncertainty-carried-through.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pausewatch.compute import COUNTER_TOLERANCE
from pausewatch.policy import load_preset, preset_names
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._facts import Facts
from pausewatch.policy._findings import Finding, FindingKind, Severity

AT = datetime(2026, 11, 26, tzinfo=UTC)
MIRI = load_preset("miri-2025")
PRESETS = preset_names()
PROHIBITION = 1e24
"""MIRI's per-run pre-training prohibition."""

THRESHOLD_KINDS = frozenset(
    {
        FindingKind.TIER_REACHED,
        FindingKind.PROHIBITED_COMPUTE,
        FindingKind.PROHIBITED_NOT_RULED_OUT,
        FindingKind.EXCEEDS_DECLARATION,
        FindingKind.THRESHOLD_APPROACHING,
        FindingKind.PAUSE_VIOLATION,
        FindingKind.NEW_MODEL,
        FindingKind.UNMONITORED_CLUSTER,
        FindingKind.CLUSTER_NOT_REPORTED,
        FindingKind.UNDECLARED_COMPUTE,
    }
)
"""Findings that compare a figure with a threshold (or quote FLOP measured by counters)."""


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


def about(findings: tuple[Finding, ...], kind: FindingKind, subject: str = "run:r1") -> Finding:
    [f] = [f for f in findings if f.kind is kind and f.subject == subject]
    return f


def test_counter_measured_compute_is_quoted_at_the_counter_tolerance() -> None:
    """Compute counted from chip counters is quoted ±2% with its low and high, never ±0%."""
    result = evaluate(MIRI, facts(runs=[run(measured_by_precision={"bf16": 5e23})]), AT)
    f = about(result.findings, FindingKind.TIER_REACHED)
    assert "(telemetry, ±2%)" in f.explanation
    figures = dict(f.figures)
    assert figures["flop"] == 5e23
    assert figures["low"] == pytest.approx(5e23 * (1 - COUNTER_TOLERANCE))
    assert figures["high"] == pytest.approx(5e23 * (1 + COUNTER_TOLERANCE))
    assert figures["straddles"] is False


def test_a_measured_telemetry_figure_is_never_narrower_than_the_counters() -> None:
    """A measured telemetry figure given without an interval carries the counters' ±2%."""
    result = evaluate(MIRI, facts(runs=[run(measured={"value": 5e23, "method": "telemetry"})]), AT)
    f = about(result.findings, FindingKind.TIER_REACHED)
    assert "(telemetry, ±2%)" in f.explanation
    assert dict(f.figures)["low"] == pytest.approx(4.9e23)


def test_counters_at_0_99_of_the_prohibition_straddle_it_and_it_is_not_ruled_out() -> None:
    """A run measured by counters at 0.99 x the prohibition straddles it: a serious finding that
    the prohibition is not ruled out, which proposes nothing (central value below)."""
    result = evaluate(
        MIRI, facts(runs=[run(measured_by_precision={"bf16": 0.99 * PROHIBITION})]), AT
    )
    f = about(result.findings, FindingKind.PROHIBITED_NOT_RULED_OUT)
    assert (f.severity, f.action.value) == (Severity.SERIOUS, "finding")
    figures = dict(f.figures)
    assert figures["straddles"] is True
    assert figures["low"] == pytest.approx(0.99 * 0.98 * PROHIBITION)
    assert figures["high"] == pytest.approx(0.99 * 1.02 * PROHIBITION)
    assert "its interval 9.7e+23 to 1.01e+24 FLOP straddles the 1e+24 FLOP prohibition" in (
        f.explanation
    )
    assert FindingKind.PROHIBITED_COMPUTE not in {x.kind for x in result.findings}


def test_counters_at_1_01_of_the_prohibition_straddle_it_and_a_halt_is_proposed() -> None:
    """A central value above the prohibition whose low bound is below it stays critical with a
    halt proposal (precaution), and says that its interval straddles the prohibition."""
    result = evaluate(
        MIRI, facts(runs=[run(measured_by_precision={"bf16": 1.01 * PROHIBITION})]), AT
    )
    f = about(result.findings, FindingKind.PROHIBITED_COMPUTE)
    assert (f.severity, f.action.value) == (Severity.CRITICAL, "halt_proposal")
    assert dict(f.figures)["straddles"] is True
    assert "its interval 9.9e+23 to 1.03e+24 FLOP straddles the 1e+24 FLOP prohibition" in (
        f.explanation
    )


def test_a_model_whose_lineage_straddles_its_tier_says_so() -> None:
    """A lineage sum of counter-measured runs carries their interval to the model's finding."""
    runs = [
        run("a", model="m", measured_by_precision={"bf16": 0.6 * PROHIBITION}),
        run("b", model="m", measured_by_precision={"bf16": 0.41 * PROHIBITION}),
    ]
    result = evaluate(MIRI, facts(runs=runs), AT)
    f = about(result.findings, FindingKind.PROHIBITED_COMPUTE, "model:m")
    figures = dict(f.figures)
    assert figures["low"] == pytest.approx(1.01 * 0.98 * PROHIBITION)
    assert figures["straddles"] is True
    assert "straddles the 1e+24 FLOP prohibition" in f.explanation


def test_measured_above_the_plan_within_its_interval_is_still_a_warning() -> None:
    """Measured compute whose central value is above the declared plan but whose low bound is
    not is the same warning as one above it entirely, and says that it straddles the plan."""
    straddling = run(declared={"value": 1e23}, measured_by_precision={"bf16": 1.01e23})
    beyond = run("r2", declared={"value": 1e23}, measured_by_precision={"bf16": 1.1e23})
    result = evaluate(MIRI, facts(runs=[straddling, beyond]), AT)
    near = about(result.findings, FindingKind.EXCEEDS_DECLARATION)
    far = about(result.findings, FindingKind.EXCEEDS_DECLARATION, "run:r2")
    assert near.severity is Severity.WARNING
    assert dict(near.figures)["straddles"] is True
    assert "straddles" in near.explanation
    assert far.severity is Severity.WARNING
    assert dict(far.figures)["straddles"] is False


def test_a_projection_from_counters_quotes_its_interval() -> None:
    """A running job's projection from counters and their pace quotes the interval of its
    compute and of its rate, in figures and words, and its crossing times differ."""
    r = run(
        measured_by_precision={"bf16": 5e23},
        rate={"value": 1e17},
        status="running",
        starts_at="2026-11-01T00:00:00Z",
        ends_at="2027-06-01T00:00:00Z",
    )
    result = evaluate(MIRI, facts(runs=[r]), AT)
    f = about(result.findings, FindingKind.THRESHOLD_APPROACHING)
    figures = dict(f.figures)
    assert figures["low"] == pytest.approx(4.9e23)
    assert figures["high"] == pytest.approx(5.1e23)
    assert figures["rate"] == 1e17
    assert figures["rate_low"] == pytest.approx(0.98e17)
    assert figures["rate_high"] == pytest.approx(1.02e17)
    assert str(figures["earliest"]) < str(figures["expected"]) < str(figures["latest"])
    assert "(telemetry, ±2%)" in f.explanation
    assert "at 9.8e+16 to 1.02e+17 FLOP/s" in f.explanation


def test_a_projection_already_straddling_its_threshold_says_so() -> None:
    """A running job whose interval already reaches its next tier is projected with the
    straddle named."""
    r = run(
        measured_by_precision={"bf16": 0.99 * PROHIBITION},
        rate={"value": 1e17},
        status="running",
        starts_at="2026-11-01T00:00:00Z",
        ends_at="2027-06-01T00:00:00Z",
    )
    result = evaluate(MIRI, facts(runs=[r]), AT)
    f = about(result.findings, FindingKind.THRESHOLD_APPROACHING)
    assert dict(f.figures)["straddles"] is True
    assert "straddles the 1e+24 FLOP prohibition" in f.explanation


def test_every_threshold_finding_carries_its_interval() -> None:
    """Every finding that compares a figure with a threshold quotes its low and high around
    its central figure, and whether the interval straddles the threshold."""
    pause = {"active": True, "started_at": "2026-11-01T00:00:00Z"}
    world = facts(
        runs=[
            run("a", model="m", measured_by_precision={"bf16": 5e23}, status="running"),
            run("b", model="m", declared={"value": 2e24}, status="planned"),
            run("c", declared={"value": 1e23}, measured_by_precision={"bf16": 2e23}),
            run("d", model="d", base_model="m", phase="fine_tuning", declared={"value": 1e24}),
            run(
                "e",
                measured_by_precision={"bf16": 5e23},
                rate={"value": 1e17},
                status="running",
                starts_at="2026-11-01T00:00:00Z",
                ends_at="2027-06-01T00:00:00Z",
            ),
        ],
        clusters=[
            {
                "id": "c1",
                "operator": "lab-a",
                "h100e": 1e6,
                "undeclared_flop": 3e22,
                "undeclared_windows": 10,
                "commissioned_at": "2026-01-01T00:00:00Z",
            }
        ],
        pause=pause,
    )
    seen: set[FindingKind] = set()
    for preset in PRESETS:
        for f in evaluate(load_preset(preset), world, AT).findings:
            if f.kind not in THRESHOLD_KINDS:
                continue
            seen.add(f.kind)
            figures = dict(f.figures)
            assert isinstance(figures["low"], float), f
            assert isinstance(figures["high"], float), f
            assert figures["low"] <= figures["high"], f
            if "straddles" not in figures:
                assert f.kind is FindingKind.UNDECLARED_COMPUTE, f
    assert {
        FindingKind.TIER_REACHED,
        FindingKind.PROHIBITED_COMPUTE,
        FindingKind.EXCEEDS_DECLARATION,
        FindingKind.THRESHOLD_APPROACHING,
        FindingKind.PAUSE_VIOLATION,
        FindingKind.NEW_MODEL,
        FindingKind.UNMONITORED_CLUSTER,
        FindingKind.UNDECLARED_COMPUTE,
    } <= seen


def test_a_run_straddling_the_pause_limit_is_not_ruled_out() -> None:
    """Under an active pause, a running job measured just below the limit whose interval
    reaches above it is a serious finding that proposes nothing; just above, a violation."""
    limit = 1e22  # miri-2025's pause limit
    pause = {"active": True, "started_at": "2026-11-01T00:00:00Z"}
    below = run(measured_by_precision={"bf16": 0.99 * limit}, status="running")
    above = run("r2", measured_by_precision={"bf16": 1.01 * limit}, status="running")
    result = evaluate(MIRI, facts(runs=[below, above], pause=pause), AT)
    [f] = [
        f
        for f in result.findings
        if f.subject == "run:r1" and f.kind is FindingKind.PROHIBITED_NOT_RULED_OUT
    ]
    assert (f.severity, f.action.value) == (Severity.SERIOUS, "finding")
    assert "straddles the 1e+22 FLOP pause limit" in f.explanation
    assert FindingKind.PAUSE_VIOLATION not in {
        x.kind for x in result.findings if x.subject == "run:r1"
    }
    violation = about(result.findings, FindingKind.PAUSE_VIOLATION, "run:r2")
    assert violation.severity is Severity.CRITICAL
    assert dict(violation.figures)["straddles"] is True
