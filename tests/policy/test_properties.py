"""Properties of the policy evaluation that must hold for every input (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.policy import load_preset, preset_names
from pausewatch.policy._evaluate import evaluate
from pausewatch.policy._facts import Facts
from pausewatch.policy._findings import Evaluation, Severity

AT = datetime(2026, 11, 26, tzinfo=UTC)
PRESETS = {name: load_preset(name) for name in preset_names()}
UNIT = 2.0**60  # compute figures are integer multiples of this, so sums are exact


def rank(result: Evaluation, subject: str | None = None) -> int:
    severity = result.max_severity(subject)
    return -1 if severity is None else severity.rank


def stamp(days: float) -> str:
    return (AT + timedelta(days=days)).isoformat().replace("+00:00", "Z")


@st.composite
def runs(draw: st.DrawFn) -> dict[str, Any]:
    """One run with optional plan, measurement, rate and dates."""
    flop = lambda: 10 ** draw(st.floats(min_value=18, max_value=27))  # noqa: E731
    figure = lambda v: {  # noqa: E731
        "value": v,
        "low": v * draw(st.floats(0.5, 1.0)),
        "high": v * draw(st.floats(1.0, 1.5)),
    }
    run: dict[str, Any] = {
        "id": "r",
        "operator": "lab",
        "model": "m",
        "phase": draw(
            st.sampled_from(["pretraining", "fine_tuning", "rl", "hyperparameter_search"])
        ),
        "status": draw(st.sampled_from(["planned", "running", "finished", "halted"])),
        "approval": draw(st.sampled_from(["none", "pending", "approved", "rejected"])),
    }
    if run["status"] == "planned":
        run["started"] = draw(st.sampled_from([None, False, True]))
    if run["approval"] == "approved":
        run["decided_at"] = stamp(draw(st.floats(-200, 0)))
    if draw(st.booleans()):
        run["declared"] = figure(flop())
        run["declared_at"] = stamp(draw(st.floats(-200, 0)))
    if draw(st.booleans()) or "declared" not in run:
        run["measured"] = {**figure(flop()), "method": "telemetry"}
    if draw(st.booleans()):
        run["rate"] = figure(10 ** draw(st.floats(12, 20)))
    if draw(st.booleans()):
        run["starts_at"] = stamp(draw(st.floats(-200, 30)))
    if draw(st.booleans()):
        run["ends_at"] = stamp(draw(st.floats(0, 400)))
    if draw(st.booleans()):
        run["compute_cost_usd"] = draw(st.floats(0, 1e9))
    if draw(st.booleans()):
        run["primary_data"] = "biological_sequences"
    return run


def scaled(run: dict[str, Any], factor: float) -> dict[str, Any]:
    out = dict(run)
    for key in ("declared", "measured"):
        if key in out:
            out[key] = {k: (v * factor if k != "method" else v) for k, v in out[key].items()}
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(PRESETS)),
    runs(),
    st.floats(min_value=1.0, max_value=1e4),
    st.booleans(),
)
def test_more_compute_never_lowers_a_severity(
    preset: str, run: dict[str, Any], factor: float, paused: bool
) -> None:
    """Scaling a run's planned and measured compute up never lowers the highest severity of
    the findings about the run, about its model, or overall."""
    policy = PRESETS[preset]
    pause = {"active": paused}
    base = evaluate(policy, Facts.model_validate({"runs": [run], "pause": pause}), AT)
    more = evaluate(
        policy, Facts.model_validate({"runs": [scaled(run, factor)], "pause": pause}), AT
    )
    for subject in ("run:r", "model:m", None):
        assert rank(more, subject) >= rank(base, subject), (subject, base.findings, more.findings)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(PRESETS)),
    st.lists(st.integers(min_value=1, max_value=2**40), min_size=2, max_size=12),
    st.sampled_from(["pretraining", "fine_tuning", "rl", "hyperparameter_search"]),
    st.integers(min_value=0, max_value=25),
    st.booleans(),
    st.booleans(),
)
def test_splitting_a_run_never_escapes_a_cumulative_threshold(
    preset: str, parts: list[int], phase: str, scale_exp: int, declared: bool, paused: bool
) -> None:
    """A run split into several runs of one model is judged no more leniently on the model's
    cumulative compute than the whole run."""
    policy = PRESETS[preset]
    unit = UNIT * 2.0**scale_exp

    def one(i: int, n: int) -> dict[str, Any]:
        run: dict[str, Any] = {
            "id": f"r{i}",
            "operator": "lab",
            "model": "m",
            "phase": phase,
            "measured": {"value": n * unit},
            "status": "running",
            "starts_at": stamp(-10),
        }
        if declared:
            run["declared"] = {"value": n * unit}
            run["declared_at"] = stamp(-100)
        return run

    pause = {"active": paused}
    whole = evaluate(
        policy, Facts.model_validate({"runs": [one(0, sum(parts))], "pause": pause}), AT
    )
    split = evaluate(
        policy,
        Facts.model_validate({"runs": [one(i, n) for i, n in enumerate(parts)], "pause": pause}),
        AT,
    )
    assert rank(split, "model:m") >= rank(whole, "model:m")
    # The duties a whole run carries (declaration, approval, the pause) bind its parts too.
    assert rank(split) >= rank(whole), (whole.findings, split.findings)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(PRESETS)), st.lists(runs(), min_size=1, max_size=6), st.randoms())
def test_order_of_facts_does_not_change_the_bytes(
    preset: str, many: list[dict[str, Any]], rnd: Any
) -> None:
    """The same facts listed in another order evaluate to the same canonical bytes."""
    for i, r in enumerate(many):
        r["id"] = f"r{i}"
        r["model"] = f"m{i % 3}"
    shuffled = many[:]
    rnd.shuffle(shuffled)
    policy = PRESETS[preset]
    a = evaluate(policy, Facts.model_validate({"runs": many}), AT)
    b = evaluate(policy, Facts.model_validate({"runs": shuffled}), AT)
    assert a.canonical_bytes() == b.canonical_bytes()


def test_severities_are_ordered() -> None:
    """Severity ranks run from info to critical."""
    assert [s.rank for s in Severity] == [0, 1, 2, 3, 4]
