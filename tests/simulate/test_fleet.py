"""The simulated fleet: deterministic, realistic, and its truth is what the verifier finds."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pausewatch.compute import load_catalogue
from pausewatch.simulate import (
    ClusterSpec,
    Fleet,
    Misbehaviour,
    Workload,
    batches,
    chip_private_key,
    demo_clusters,
    simulate_fleet,
)
from pausewatch.telemetry import (
    UNDECLARED_TENSOR_ACTIVE,
    AcceptedRecord,
    BatchResult,
    ChainState,
    Rule,
    TelemetryError,
    aggregate,
    merge_aggregates,
    parse_line,
    split_lines,
    verify_batch,
)

OPERATOR = "operator-1"
CLUSTERS = (
    ClusterSpec("train-a", OPERATOR, "H100 SXM", 6, Workload.TRAINING),
    ClusterSpec("train-b", OPERATOR, "B200", 4, Workload.TRAINING, precision="fp8"),
    ClusterSpec("serve", OPERATOR, "H200", 4, Workload.INFERENCE),
    ClusterSpec("spare", OPERATOR, "A100", 3, Workload.IDLE),
)


def verify_all(fleet: Fleet) -> BatchResult:
    """Every line in one batch, verified at the end of the last window."""
    return verify_batch(
        fleet.lines,
        operator_id=OPERATOR,
        now=fleet.end,
        registry=fleet.registry(),
        chains={},
    )


def verify_per_window(fleet: Fleet) -> list[BatchResult]:
    """One batch per window, uploaded at the window's end, chain state carried between."""
    chains: dict[str, ChainState] = {}
    registry = fleet.registry()
    results = []
    for now, lines in batches(fleet):
        result = verify_batch(
            lines, operator_id=OPERATOR, now=now, registry=registry, chains=chains
        )
        chains.update(result.chains)
        results.append(result)
    return results


@pytest.fixture(scope="module")
def clean() -> Fleet:
    return simulate_fleet(CLUSTERS, windows=20, seed=7)


@pytest.fixture(scope="module")
def misbehaving() -> Fleet:
    return simulate_fleet(
        CLUSTERS,
        windows=40,
        seed=11,
        misbehaviour=Misbehaviour(
            undeclared_clusters=frozenset({"train-b"}),
            withhold_rate=0.03,
            forge_rate=0.03,
            replay_rate=0.03,
            wrong_run_rate=0.03,
            withhold=frozenset({("spare/a100-sxm-0000", 3)}),
            forge=frozenset({("serve/h200-0001", 5)}),
            wrong_run=frozenset({("train-a/h100-sxm-0002", 7)}),
            replay=frozenset({("train-a/h100-sxm-0000", 2)}),
        ),
    )


def test_same_seed_same_fleet() -> None:
    """A seed fixes keys and lines; another seed changes them."""
    one = simulate_fleet(CLUSTERS, windows=3, seed=1)
    two = simulate_fleet(CLUSTERS, windows=3, seed=1)
    other = simulate_fleet(CLUSTERS, windows=3, seed=2)
    assert one.lines == two.lines
    assert one.lines != other.lines
    assert [c.public_key for c in one.chips] == [c.public_key for c in two.chips]
    assert one.chips[0].public_key != other.chips[0].public_key


def test_keys_derive_from_seed_and_index() -> None:
    """Chip i's key is the documented derivation, so others can reproduce it."""
    fleet = simulate_fleet(CLUSTERS, windows=1, seed=5)
    for i, chip in enumerate(fleet.chips):
        public = chip_private_key(5, i).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert public == chip.public_key


def test_clean_fleet_is_accepted_whole_in_one_batch(clean: Fleet) -> None:
    """With no misbehaviour asked for, every record is accepted: no rejection, gap or repeat."""
    result = verify_all(clean)
    assert len(result.accepted) == len(clean.lines) == 17 * 20
    assert result.rejected == ()
    assert result.duplicates == ()
    assert result.gaps == ()
    assert {c: s.seq for c, s in result.chains.items()} == {c.chip_id: 19 for c in clean.chips}


def test_clean_fleet_is_accepted_window_by_window(clean: Fleet) -> None:
    """Uploaded window by window, with the chain carried, every record is accepted too."""
    results = verify_per_window(clean)
    assert sum(len(r.accepted) for r in results) == len(clean.lines)
    assert not any(r.rejected or r.gaps or r.duplicates for r in results)


def test_clean_lines_are_canonical_jsonl(clean: Fleet) -> None:
    """Lines are already canonical, so what is stored is byte for byte what was sent."""
    assert split_lines(clean.jsonl()) == clean.lines
    for line in clean.lines[:50]:
        assert parse_line(line).line == line


def test_ground_truth_matches_the_verifier(misbehaving: Fleet) -> None:
    """Forged: signature; wrong run: run_undeclared; replayed: duplicate or replay; gaps exact."""
    truth = misbehaving.truth
    assert truth.forged
    assert truth.replayed
    assert truth.wrong_run
    assert truth.withheld
    results = verify_per_window(misbehaving)
    offsets = [0]
    for window in misbehaving.windows:
        offsets.append(offsets[-1] + len(window))
    rejected = {offsets[w] + r.index: r.rule for w, res in enumerate(results) for r in res.rejected}
    repeated = {offsets[w] + d.index for w, res in enumerate(results) for d in res.duplicates}
    assert {i for i, rule in rejected.items() if rule is Rule.SIGNATURE} == truth.forged
    assert {i for i, rule in rejected.items() if rule is Rule.RUN_UNDECLARED} == truth.wrong_run
    replays = {i for i, rule in rejected.items() if rule is Rule.REPLAY}
    assert replays | repeated == truth.replayed
    assert set(rejected) == truth.forged | truth.wrong_run | replays
    gaps = sorted((g.chip_id, g.from_seq, g.to_seq) for res in results for g in res.gaps)
    assert gaps == truth.expected_gaps()
    assert ("spare/a100-sxm-0000", 3) in truth.withheld


def test_ground_truth_matches_in_one_batch(misbehaving: Fleet) -> None:
    """In one batch every replay sits next to its original after sorting: all duplicates."""
    result = verify_all(misbehaving)
    truth = misbehaving.truth
    assert {d.index for d in result.duplicates} == truth.replayed
    assert {r.index for r in result.rejected if r.rule is Rule.SIGNATURE} == truth.forged
    assert {r.index for r in result.rejected if r.rule is Rule.RUN_UNDECLARED} == truth.wrong_run
    assert len(result.rejected) == len(truth.forged) + len(truth.wrong_run)
    assert sorted((g.chip_id, g.from_seq, g.to_seq) for g in result.gaps) == truth.expected_gaps()


def test_undeclared_training_shows_as_undeclared_compute(misbehaving: Fleet) -> None:
    """Training with no run counts as undeclared compute; serving and idle chips do not."""
    results = verify_per_window(misbehaving)
    accepted: list[AcceptedRecord] = [a for r in results for a in r.accepted]
    totals = merge_aggregates(*(aggregate(r.accepted) for r in results))
    assert totals == aggregate(accepted)
    truth = misbehaving.truth
    offsets, position = {}, 0
    for w, window in enumerate(misbehaving.windows):
        offsets[w] = position
        position += len(window)
    undeclared = [
        a
        for w, r in enumerate(results)
        for a in r.accepted
        if offsets[w] + a.index in truth.undeclared
    ]
    assert undeclared
    cluster = totals.clusters["train-b"]
    assert cluster.undeclared_windows == len(undeclared)
    assert cluster.undeclared_flop == dict(
        sum((Counter(a.record.flop) for a in undeclared), Counter())
    )
    for quiet in ("train-a", "serve", "spare"):
        assert totals.clusters[quiet].undeclared_windows == 0
    assert totals.clusters["serve"].unattributed_flop["fp8"] > 0
    assert "run-train-b" not in totals.runs
    assert set(totals.runs) == {"run-train-a"}


def records_of(fleet: Fleet, cluster: str) -> list[dict[str, Any]]:
    return [
        json.loads(line)["record"]
        for line in fleet.lines
        if json.loads(line)["record"]["chip_id"].startswith(cluster + "/")
    ]


def test_training_figures_are_realistic(clean: Fleet) -> None:
    """Training: MFU 0.35-0.45, tensor 0.6-0.8, power 70-85% of TDP, periodic NVLink bursts."""
    h100 = load_catalogue().get("H100")
    records = records_of(clean, "train-a")
    for rec in records:
        mfu = int(rec["flop"]["bf16"]) / (h100.peak("bf16") * 60)
        assert 0.35 <= mfu <= 0.45
        assert 0.6 <= rec["tensor_active"] <= 0.8
        assert rec["sm_active"] > rec["tensor_active"]
        assert 0.70 * 700 <= rec["power_w_avg"] <= 0.85 * 700
        assert rec["run_id"] == "run-train-a"
        assert "weights_digest" not in rec
    chip0 = [r for r in records if r["chip_id"] == "train-a/h100-sxm-0000"]
    nvlink = [r["nvlink_tx_bytes"] for r in chip0]
    bursts = [i for i, n in enumerate(nvlink) if n > 2 * 10**11]
    assert bursts == [4, 9, 14, 19]


def test_energy_is_cumulative_and_follows_power(clean: Fleet) -> None:
    """Energy grows by mean power x window, rounded."""
    records = [r for r in records_of(clean, "serve") if r["chip_id"] == "serve/h200-0000"]
    for before, after in itertools.pairwise(records):
        assert after["energy_j"] - before["energy_j"] == round(after["power_w_avg"] * 60)


def test_inference_and_idle_figures(clean: Fleet) -> None:
    """Serving stays under the undeclared threshold; idle chips do no work at low power."""
    for rec in records_of(clean, "serve"):
        assert 0 < rec["tensor_active"] < UNDECLARED_TENSOR_ACTIVE
        assert rec["run_id"] is None
        assert rec["weights_digest"] is not None
    for rec in records_of(clean, "spare"):
        assert rec["flop"] == {"bf16": "0"}
        assert rec["tensor_active"] == 0
        assert 0.10 * 400 <= rec["power_w_avg"] <= 0.20 * 400


def test_fp8_training_on_b200(clean: Fleet) -> None:
    """The precision asked for is the one counted."""
    assert all(set(r["flop"]) == {"fp8"} for r in records_of(clean, "train-b"))


def test_demo_clusters_mix() -> None:
    """The demo mix has training, serving and idle clusters adding up to the chips asked for."""
    clusters = demo_clusters(100)
    assert sum(c.chips for c in clusters) == 100
    assert [c.workload for c in clusters] == [Workload.TRAINING, Workload.INFERENCE, Workload.IDLE]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"windows": -1}, "windows"),
        ({"window_s": 0}, "window_s"),
        ({"window_s": 7200}, "window_s"),
        ({"start": datetime(2026, 11, 27, 0, 0, 0, 5, tzinfo=UTC)}, "start"),
        ({"misbehaviour": Misbehaviour(forge_rate=2.0)}, "forge_rate"),
        ({"misbehaviour": Misbehaviour(undeclared_clusters=frozenset({"serve"}))}, "training"),
        ({"misbehaviour": Misbehaviour(replay=frozenset({("nope", 0)}))}, "cannot replay"),
    ],
)
def test_bad_specifications_are_refused(kwargs: dict[str, Any], message: str) -> None:
    """Unusable specifications are a TelemetryError naming what is wrong."""
    with pytest.raises(TelemetryError, match=message):
        simulate_fleet(CLUSTERS, **{"windows": 2, **kwargs})


def test_duplicate_cluster_ids_are_refused() -> None:
    """Two clusters with one id would make chip ids collide."""
    with pytest.raises(TelemetryError, match="unique"):
        simulate_fleet([CLUSTERS[0], CLUSTERS[0]], windows=1)
