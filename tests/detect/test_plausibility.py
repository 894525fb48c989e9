"""The counters' plausibility (docs/adr/0033): a cluster's FLOP counters against its own chips'
tensor activity, per UTC day. Pure functions first, then the running service over a SQLite
file (findings from the log alone), then the honest world's false alarms."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pausewatch.audit import AuditReport, audit_log
from pausewatch.compute import load_catalogue
from pausewatch.detect import (
    ALPHA_PER_CLUSTER_YEAR,
    counter_ratio,
    fit_floor,
    plausibility_limit,
)
from pausewatch.detect._plausibility import busy_peak_seconds
from pausewatch.errors import DetectionError
from pausewatch.ledger import LogStore
from pausewatch.policy import Finding, load_preset, policy_digest, policy_to_json
from pausewatch.service import LogService, evaluation
from pausewatch.settings import Settings
from pausewatch.simulate import ClusterSpec, Fleet, Workload, fleet_world, simulate_fleet
from pausewatch.simulate.fleet import Misbehaviour
from pausewatch.statements import KeyPair, load_key, sign_statement
from pausewatch.telemetry import UNDECLARED_TENSOR_ACTIVE
from telemetry.test_ingest import submission, ticking  # type: ignore[import-not-found]

SEED = 3_100_123
"""Outside the fit seeds (0..99,999) the floor was set on."""
MODELS = ("H100 SXM", "H200", "A100 SXM", "B200")


def _busy_day(lines: Iterable[bytes], model: str) -> tuple[dict[str, float], float]:
    """FLOP per precision and tensor-active seconds of the busy windows among ``lines``."""
    flop: dict[str, float] = {}
    tensor_s = 0.0
    for line in lines:
        rec = json.loads(line)["record"]
        if rec["tensor_active"] < UNDECLARED_TENSOR_ACTIVE:
            continue
        start = datetime.fromisoformat(rec["window_start"])
        end = datetime.fromisoformat(rec["window_end"])
        tensor_s += rec["tensor_active"] * (end - start).total_seconds()
        for p, v in rec["flop"].items():
            flop[p] = flop.get(p, 0.0) + int(v)
    return flop, tensor_s


def _ratio(fleet: Fleet, cluster: str, model: str) -> float:
    chip = load_catalogue().get(model)
    lines = [line for line in fleet.lines if f'"chip_id":"{cluster}/' in line.decode()]
    flop, tensor_s = _busy_day(lines, model)
    peaks = {p.value: v for p, v in chip.peak_flops.items()}
    return counter_ratio(flop, tensor_s, peaks, chip.best_peak)


def _training_fleet(seed: int, model: str, bad: Misbehaviour | None = None) -> Fleet:
    spec = ClusterSpec("c1", "lab", model, 4, Workload.TRAINING)
    return simulate_fleet(
        (spec,), windows=24, window_s=3600, seed=seed, misbehaviour=bad or Misbehaviour()
    )


@pytest.mark.parametrize("model", MODELS)
def test_an_honest_training_day_is_above_the_limit(model: str) -> None:
    """The busy windows of an honest training cluster count at least the limit's share of
    their chips' peak over their tensor-active time, on every chip model."""
    assert _ratio(_training_fleet(SEED, model), "c1", model) > plausibility_limit()


@pytest.mark.parametrize("share", [0.05, 0.3, 0.5])
def test_counters_scaled_down_fall_below_the_limit(share: float) -> None:
    """Counters that report half of the work or less, with tensor activity and power true,
    fall below the limit."""
    bad = Misbehaviour(underreporting_clusters=frozenset({"c1"}), counter_ratio=share)
    assert _ratio(_training_fleet(SEED, "H100 SXM", bad), "c1", "H100 SXM") < plausibility_limit()


def test_the_ratio_weighs_each_precision_by_its_own_peak() -> None:
    """FLOP counted in two precisions are each divided by their own dense peak; a precision the
    chips have no peak in is divided by their best peak; no tensor time gives 0."""
    peaks = {"bf16": 1e15, "fp8": 2e15}
    assert counter_ratio({"bf16": 3e17, "fp8": 6e17}, 1000.0, peaks, 2e15) == pytest.approx(0.6)
    assert counter_ratio({"int4": 4e17}, 1000.0, peaks, 2e15) == pytest.approx(0.2)
    assert counter_ratio({"bf16": 1e17}, 0.0, peaks, 2e15) == 0.0


def test_each_chip_models_busy_work_is_held_to_its_own_peak() -> None:
    """Busy work kept per chip model is divided by each model's own peaks (its best peak for a
    precision it lacks) over the models' summed tensor-active time; the best peak it reports is
    each busy model's weighted by its tensor-active time; a model the catalogue lacks counts
    for nothing."""
    catalogue = load_catalogue()
    h100, b200 = catalogue.get("H100 SXM"), catalogue.get("B200")
    h_bf16, b_bf16 = h100.peak("bf16"), b200.peak("bf16")
    flop = {
        "H100 SXM": {"bf16": 0.6 * h_bf16 * 3000, "fp4": 0.1 * h100.best_peak * 3000},
        "B200": {"bf16": 0.6 * b_bf16 * 1000},
        "Z9000": {"bf16": 1e30},
    }
    ms = {"H100 SXM": 3_000_000, "B200": 1_000_000, "Z9000": 5_000_000}
    busy = busy_peak_seconds(flop, ms, catalogue)
    assert busy.tensor_s == 4000.0
    assert busy.work_s == pytest.approx(0.7 * 3000 + 0.6 * 1000)
    assert busy.best_peak == pytest.approx((3000 * h100.best_peak + 1000 * b200.best_peak) / 4000)
    # The unknown model's FLOP is left out with its time: the figure a finding shows is what
    # the ratio was drawn from.
    assert busy.flop == pytest.approx(
        math.fsum(v for m, f in flop.items() if m != "Z9000" for v in f.values())
    )
    assert busy_peak_seconds({}, {}, catalogue) == (0.0, 0.0, 0.0, 0.0)


def test_the_limit_falls_as_the_false_alarm_rate_is_made_smaller() -> None:
    """A smaller false-alarm probability per cluster-year sets a lower limit, below the fitted
    honest mean."""
    loose, strict = plausibility_limit(0.05), plausibility_limit(0.0005)
    assert strict < plausibility_limit(ALPHA_PER_CLUSTER_YEAR) < loose
    assert loose < math.exp(-0.5148)


def test_the_floor_is_fitted_on_logarithms_and_needs_two_ratios() -> None:
    """fit_floor gives the mean and sample deviation of the ratios' logarithms, and refuses
    fewer than two."""
    mean, sigma = fit_floor([math.e, math.e**3])
    assert (mean, sigma) == (pytest.approx(2.0), pytest.approx(math.sqrt(2)))
    with pytest.raises(DetectionError, match="at least two"):
        fit_floor([0.6])


def _serve(
    data_dir: Path,
    fleet: Fleet,
    spares: tuple[str, int] = ("", 0),
    days: dict[tuple[str, ...], dict[str, Any]] | None = None,
) -> tuple[list[Finding], AuditReport]:
    """The findings of a service that holds ``fleet``'s world and telemetry, uploaded once the
    fleet's day has closed; then again after a restart on the same files; and the audit of its
    log (which folds the log itself). ``spares`` (a chip model and a count): chips of that
    model certified and installed on cluster c1 beside the fleet's, never reporting. ``days``,
    when given, receives the service's ``cluster_days`` view."""
    settings = Settings(data_dir=data_dir, batch_latency_ms=1)
    at = fleet.end + timedelta(hours=7)
    svc = LogService(settings, clock=ticking(at - timedelta(minutes=5))).start()
    try:
        secretariat = load_key(settings.keys_dir, "secretariat")
        policy = load_preset("miri-2025")
        body = {
            "policy": policy_to_json(policy),
            "digest": policy_digest(policy),
            "effective_at": "2026-01-01T00:00:00Z",
        }
        svc.submit(sign_statement("policy.adopt/v1", body, secretariat)).result(30)
        world = fleet_world(fleet, secretariat)
        for stage in world.stages:
            for future in [svc.submit(s) for s in stage]:
                future.result(60)
        model, count = spares
        for i in range(count):
            chip_id = f"c1/spare-{i}"
            chip_key = KeyPair.generate(chip_id)
            certify = {
                "chip_id": chip_id,
                "maker_id": "maker-1",
                "model": model,
                "serial": chip_id,
                "key": chip_key.signer_id,
                "operator_id": "lab",
            }
            install = {"chip_id": chip_id, "action": "install", "cluster_id": "c1"}
            svc.submit(sign_statement("chip.certify/v1", certify, world.maker)).result(30)
            lab = world.operators["lab"]
            svc.submit(sign_statement("chip.custody/v1", install, lab)).result(30)
        data = fleet.jsonl()
        svc.ingest_telemetry(data, submission(data, world.operators["lab"]))
        found = list(evaluation(svc.state, at).findings)
        if days is not None:
            days.update(svc.state.registry.views["cluster_days"])
        report, _ = audit_log(
            LogStore(svc.engine).entries(),
            [],
            svc.log.verifier,
            secretariat=secretariat.signer_id,
        )
    finally:
        svc.close()
    again = LogService(settings, clock=ticking(at)).start()
    try:
        assert list(evaluation(again.state, at).findings) == found
    finally:
        again.close()
    return found, report


def _implausible(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.kind.value == "counters_implausible"]


def test_the_service_files_counters_implausible_from_the_log_alone(tmp_path: Path) -> None:
    """A declared cluster whose counters report a quarter of the work is named by
    counters_implausible (serious, asking for an inspection) with its day, ratio, limit and
    alpha; its honest neighbour is not; the audit recomputes both days from the log alone."""
    specs = (
        ClusterSpec("c1", "lab", "H100 SXM", 4, Workload.TRAINING),
        ClusterSpec("c2", "lab", "H100 SXM", 4, Workload.TRAINING),
    )
    bad = Misbehaviour(underreporting_clusters=frozenset({"c1"}), counter_ratio=0.25)
    fleet = simulate_fleet(specs, windows=24, window_s=3600, seed=SEED, misbehaviour=bad)
    findings, report = _serve(tmp_path, fleet)
    found = _implausible(findings)
    assert [f.subject for f in found] == ["cluster:c1"]
    f = found[0]
    figures = dict(f.figures)
    assert f.severity.value == "serious"
    assert f.action is not None
    assert f.action.value == "inspection"
    assert figures["period_start"] == "2026-11-27"
    assert figures["alpha"] == ALPHA_PER_CLUSTER_YEAR
    assert figures["limit"] == pytest.approx(plausibility_limit())
    assert 0.1 < float(figures["ratio"]) < 0.2  # a quarter of an honest ~0.59
    assert float(figures["expected_flop"]) > float(figures["flop"])
    assert f.evidence
    assert all(e.startswith("log:") for e in f.evidence)
    assert report.ok, report.problems
    assert (report.counter_days_recomputed, report.counter_alarms) == (2, 1)
    assert report.to_json()["counter_alarms"] == 1


def test_counters_that_report_nothing_are_filed_as_implausible_not_set_aside(
    tmp_path: Path,
) -> None:
    """Counters that report no FLOP at all over busy tensor pipes (the bluntest underreport)
    give counters_implausible with a finite expected_flop (the limit's share of the chips'
    peak over their tensor-active time), not an unreadable fact."""
    specs = (ClusterSpec("c1", "lab", "H100 SXM", 4, Workload.TRAINING),)
    bad = Misbehaviour(underreporting_clusters=frozenset({"c1"}), counter_ratio=0.0)
    fleet = simulate_fleet(specs, windows=24, window_s=3600, seed=SEED, misbehaviour=bad)
    findings, _ = _serve(tmp_path, fleet)
    assert [f.kind.value for f in findings if f.kind.value == "entry_unreadable"] == []
    found = _implausible(findings)
    assert [f.subject for f in found] == ["cluster:c1"]
    figures = dict(found[0].figures)
    assert figures["ratio"] == 0.0
    expected = float(figures["expected_flop"])
    peak = load_catalogue().get("H100 SXM").best_peak
    assert math.isfinite(expected)
    assert expected == pytest.approx(plausibility_limit() * float(figures["tensor_s"]) * peak)


def test_the_service_files_nothing_for_honest_counters(tmp_path: Path) -> None:
    """Honest training, serving and idle clusters give no counters_implausible."""
    specs = (
        ClusterSpec("c1", "lab", "B200", 4, Workload.TRAINING),
        ClusterSpec("c2", "lab", "H200", 4, Workload.INFERENCE),
        ClusterSpec("c3", "lab", "A100 SXM", 2, Workload.IDLE),
    )
    fleet = simulate_fleet(specs, windows=24, window_s=3600, seed=SEED)
    findings, report = _serve(tmp_path, fleet)
    assert _implausible(findings) == []
    assert (report.counter_days_recomputed, report.counter_alarms) == (1, 0)


def test_idle_faster_chips_installed_beside_honest_ones_raise_no_alarm(tmp_path: Path) -> None:
    """An honest H100 training cluster with two B200 chips installed beside its four H100s,
    the B200s never reporting, gives no counters_implausible: chips that did none of the busy
    work do not raise the peak the busy windows are held to."""
    specs = (ClusterSpec("c1", "lab", "H100 SXM", 4, Workload.TRAINING),)
    fleet = simulate_fleet(specs, windows=24, window_s=3600, seed=SEED)
    findings, _ = _serve(tmp_path, fleet, spares=("B200", 2))
    assert _implausible(findings) == []


def _one_cluster(fleet: Fleet) -> Fleet:
    """``fleet`` with every chip installed in its first cluster and every run declared on it:
    one cluster of mixed chip models."""
    first = fleet.clusters[0].cluster_id
    chips = tuple(dataclasses.replace(c, cluster_id=first) for c in fleet.chips)
    runs = dict.fromkeys(fleet.runs, first)
    return dataclasses.replace(fleet, chips=chips, clusters=fleet.clusters[:1], runs=runs)


def test_slower_idle_chips_beside_fast_busy_ones_do_not_hide_counters_scaled_down(
    tmp_path: Path,
) -> None:
    """A cluster of four B200s training with counters scaled to half, beside eight idle A100s
    reporting, is named by counters_implausible: the busy work is held to the B200s' peak, not
    to a mean the slow idle chips pull down (which would put the ratio above the limit)."""
    specs = (
        ClusterSpec("c1", "lab", "B200", 4, Workload.TRAINING),
        ClusterSpec("c2", "lab", "A100 SXM", 8, Workload.IDLE),
    )
    bad = Misbehaviour(underreporting_clusters=frozenset({"c1"}), counter_ratio=0.5)
    fleet = simulate_fleet(specs, windows=24, window_s=3600, seed=SEED, misbehaviour=bad)
    days: dict[tuple[str, ...], dict[str, Any]] = {}
    findings, report = _serve(tmp_path, _one_cluster(fleet), days=days)
    found = _implausible(findings)
    assert [f.subject for f in found] == ["cluster:c1"]
    assert 0.25 < float(dict(found[0].figures)["ratio"]) < 0.35  # half of an honest ~0.59
    (row,) = days.values()
    assert sorted(json.loads(row["busy_tensor_ms"])) == ["B200"]
    assert report.ok, report.problems
    assert (report.counter_days_recomputed, report.counter_alarms) == (1, 1)


def test_a_mixed_model_cluster_keeps_and_audits_its_busy_work_per_chip_model(
    tmp_path: Path,
) -> None:
    """One cluster of H100s and B200s, both training honestly, keeps each model's busy FLOP and
    tensor-active time apart in its day, is not named by counters_implausible, and the audit
    recomputes those per-model figures from the stored records equal to the logged ones."""
    specs = (
        ClusterSpec("c1", "lab", "H100 SXM", 4, Workload.TRAINING),
        ClusterSpec("c2", "lab", "B200", 2, Workload.TRAINING),
    )
    fleet = _one_cluster(simulate_fleet(specs, windows=24, window_s=3600, seed=SEED))
    days: dict[tuple[str, ...], dict[str, Any]] = {}
    findings, report = _serve(tmp_path, fleet, days=days)
    assert _implausible(findings) == []
    (row,) = days.values()
    busy_flop, busy_ms = json.loads(row["busy_flop"]), json.loads(row["busy_tensor_ms"])
    assert sorted(busy_flop) == sorted(busy_ms) == ["B200", "H100 SXM"]
    model_of = {c.chip_id: c.model for c in fleet.chips}
    flop: dict[str, dict[str, int]] = {}
    ms: dict[str, int] = {}
    for line in fleet.lines:
        rec = json.loads(line)["record"]
        if rec["tensor_active"] < UNDECLARED_TENSOR_ACTIVE:
            continue
        model = model_of[rec["chip_id"]]
        seconds = (
            datetime.fromisoformat(rec["window_end"]) - datetime.fromisoformat(rec["window_start"])
        ).total_seconds()
        ms[model] = ms.get(model, 0) + round(rec["tensor_active"] * seconds * 1000)
        into = flop.setdefault(model, {})
        for p, v in rec["flop"].items():
            into[p] = into.get(p, 0) + int(v)
    assert {m: {p: int(v) for p, v in f.items()} for m, f in busy_flop.items()} == flop
    assert busy_ms == ms
    assert report.ok, report.problems
    assert (report.counter_days_recomputed, report.counter_alarms) == (1, 0)


@pytest.mark.slow
def test_honest_cluster_days_false_alarm_within_the_stated_rate() -> None:
    """Over 2,000 honest simulated cluster-days (seeds outside the fit range; mixed models and
    workloads), the test alarms on none: at the stated 0.005 per cluster-year, even one alarm
    would be a rate about 100 times too high."""
    limit = plausibility_limit()
    catalogue = load_catalogue()
    days = alarms = 0
    for seed in range(SEED, SEED + 500):
        rng = random.Random(seed)
        specs = [
            ClusterSpec(f"c{n}", "lab", rng.choice(MODELS), 2, rng.choice(list(Workload)))
            for n in range(4)
        ]
        fleet = simulate_fleet(specs, windows=24, window_s=3600, seed=seed)
        for spec in specs:
            chip = catalogue.get(spec.model)
            lines = [x for x in fleet.lines if f'"chip_id":"{spec.cluster_id}/' in x.decode()]
            flop, tensor_s = _busy_day(lines, spec.model)
            days += 1
            if tensor_s < 60:
                continue
            peaks = {p.value: v for p, v in chip.peak_flops.items()}
            alarms += counter_ratio(flop, tensor_s, peaks, chip.best_peak) < limit
    assert days == 2000
    assert alarms == 0
