"""Signatures through the chain: one verification vouches for the records a chip's chain
commits to; the verdicts equal checking every signature on fleets that misbehave."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from pausewatch.simulate import ClusterSpec, Misbehaviour, Workload, simulate_fleet
from pausewatch.telemetry import BatchResult, Rule, record_hash, verify_batch
from pausewatch.telemetry import _verify as verify_module

CLUSTERS = (
    ClusterSpec("c1", "op", "H100 SXM", 5, Workload.TRAINING),
    ClusterSpec("c2", "op", "H200", 3, Workload.INFERENCE),
)


def run(lines: list[bytes], registry: Any, now: Any, *, every: bool) -> BatchResult:
    return verify_batch(
        lines, operator_id="op", now=now, registry=registry, chains={}, every_signature=every
    )


def verdicts(result: BatchResult) -> tuple[Any, ...]:
    return (
        [(a.index, a.hash) for a in result.accepted],
        [(r.index, r.rule, r.reason) for r in result.rejected],
        [(d.index, d.hash) for d in result.duplicates],
        [(g.chip_id, g.from_seq, g.to_seq) for g in result.gaps],
        result.root,
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_same_verdicts_as_checking_every_signature(seed: int) -> None:
    fleet = simulate_fleet(
        CLUSTERS,
        windows=12,
        seed=seed,
        misbehaviour=Misbehaviour(
            forge_rate=0.08, replay_rate=0.05, withhold_rate=0.05, wrong_run_rate=0.03
        ),
    )
    assert fleet.truth.forged
    registry, now = fleet.registry(), fleet.end
    lines = fleet.lines
    assert verdicts(run(lines, registry, now, every=False)) == verdicts(
        run(lines, registry, now, every=True)
    )
    forged = run(lines, registry, now, every=False)
    assert {r.index for r in forged.rejected if r.rule is Rule.SIGNATURE} == set(fleet.truth.forged)


class _Counting:
    """A public key whose verifications are counted."""

    def __init__(self, key: Any, counter: list[int]) -> None:
        self.key, self.counter = key, counter

    def verify(self, signature: bytes, data: bytes) -> None:
        self.counter[0] += 1
        self.key.verify(signature, data)


@contextmanager
def counted() -> Iterator[list[int]]:
    counter = [0]
    original = verify_module._public_key
    verify_module._public_key = lambda raw: _Counting(original(raw), counter)  # type: ignore[assignment,return-value]
    try:
        yield counter
    finally:
        verify_module._public_key = original


def test_one_verification_a_chip_for_a_clean_batch() -> None:
    fleet = simulate_fleet(CLUSTERS, windows=10, seed=5)
    with counted() as amortised:
        result = run(fleet.lines, fleet.registry(), fleet.end, every=False)
    assert len(result.accepted) == 8 * 10
    assert amortised[0] == 8
    with counted() as strict:
        run(fleet.lines, fleet.registry(), fleet.end, every=True)
    assert strict[0] == 80


def test_a_broken_link_is_checked_directly() -> None:
    """A forged record mid-chain does not hash to what the next record names: it is checked
    on its own and fails as a signature; the records around it stand."""
    fleet = simulate_fleet(CLUSTERS[:1], windows=6, seed=9)
    lines = list(fleet.lines)
    chip_lines = [
        i for i, (chip, _) in enumerate(fleet.truth.line_chip_seq) if chip == fleet.chips[0].chip_id
    ]
    target = chip_lines[2]
    obj = json.loads(lines[target])
    raw = bytearray(base64.b64decode(obj["sig"]))
    raw[0] ^= 0x01
    obj["sig"] = base64.b64encode(bytes(raw)).decode()
    lines[target] = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    result = run(lines, fleet.registry(), fleet.end, every=False)
    assert [(r.index, r.rule) for r in result.rejected] == [(target, Rule.SIGNATURE)]
    assert len(result.accepted) == len(lines) - 1
    assert [(g.from_seq, g.to_seq) for g in result.gaps] == [(2, 2)]


def test_a_record_the_chip_committed_to_is_the_chips_own() -> None:
    """The one difference from checking every signature: a record whose own signature is
    invalid, but whose hash the chip's next, validly signed record names."""
    fleet = simulate_fleet(CLUSTERS[:1], windows=2, seed=4)
    chip = fleet.chips[0]
    first, second = (
        json.loads(fleet.lines[i])
        for i, (c, _) in enumerate(fleet.truth.line_chip_seq)
        if c == chip.chip_id
    )
    first["sig"] = base64.b64encode(bytes(64)).decode()  # not a signature at all
    first_line = json.dumps(first, separators=(",", ":"), sort_keys=True).encode()
    from pausewatch.telemetry import sign_record

    second["record"]["prev"] = record_hash(first_line)
    second_line = sign_record(second["record"], chip.private_key)
    registry, now = fleet.registry(), fleet.end + timedelta(seconds=1)
    amortised = run([first_line, second_line], registry, now, every=False)
    assert len(amortised.accepted) == 2
    strict = run([first_line, second_line], registry, now, every=True)
    assert [r.rule for r in strict.rejected] == [Rule.SIGNATURE]
