"""Batch verification: one test per rule, each record crafted to fail that rule alone."""

from __future__ import annotations

import base64
import dataclasses
import gc
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pausewatch.ledger import root as merkle_root
from pausewatch.statements import canonical
from pausewatch.telemetry import (
    DOMAIN,
    FLOP_TOLERANCE,
    MAX_LINE_BYTES,
    BatchResult,
    ChainState,
    ChipInfo,
    ChipStatus,
    Rule,
    StaticRegistry,
    TelemetryError,
    format_time,
    key_problem,
    record_hash,
    sign_record,
    split_lines,
    verify_batch,
)

H100_BF16 = 9.894e14
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
"""End of the last accepted window in the chain state."""
NOW = T0 + timedelta(hours=1)
OPERATOR = "operator-1"
CHIP = "c1/h100-0000"
KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test chip key").digest())
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
LAST_HASH = "11" * 32
STATE = ChainState(seq=4, hash=LAST_HASH, window_end=T0, energy_j=10_000_000)
"""The chip's chain after its record seq 4."""

INFO = ChipInfo(
    chip_id=CHIP,
    public_key=PUBLIC,
    model="H100 SXM",
    cluster_id="c1",
    operator_id=OPERATOR,
    status=ChipStatus.INSTALLED,
)
REGISTRY = StaticRegistry.of([INFO], {"run-1": ["c1"], "run-2": ["c2"]})


def record(**changes: Any) -> dict[str, Any]:
    """Seq 5, the window after the chain state's, 40% of the BF16 peak, 600 W; all valid."""
    start = T0
    out: dict[str, Any] = {
        "chip_id": CHIP,
        "seq": 5,
        "prev": LAST_HASH,
        "window_start": format_time(start),
        "window_end": format_time(start + timedelta(seconds=60)),
        "energy_j": STATE.energy_j + 36_000,
        "power_w_avg": 600.5,
        "power_w_peak": 650.5,
        "tensor_active": 0.7,
        "sm_active": 0.8,
        "flop": {"bf16": str(int(H100_BF16 * 60 * 0.4))},
        "nvlink_tx_bytes": 5 * 10**10,
        "nvlink_rx_bytes": 5 * 10**10,
        "net_tx_bytes": 10**9,
        "net_rx_bytes": 10**9,
        "mem_used_bytes": 7 * 10**10,
        "run_id": "run-1",
        "firmware_digest": "fe" * 32,
    }
    out.update(changes)
    return out


def line(key: Ed25519PrivateKey = KEY, **changes: Any) -> bytes:
    """The record with ``changes``, signed by ``key``."""
    return sign_record(record(**changes), key)


def verify(
    *lines: bytes,
    chains: dict[str, ChainState] | None = None,
    registry: StaticRegistry = REGISTRY,
    operator: str = OPERATOR,
    now: datetime = NOW,
) -> BatchResult:
    return verify_batch(
        list(lines),
        operator_id=operator,
        now=now,
        registry=registry,
        chains={CHIP: STATE} if chains is None else chains,
    )


def only_rejection(result: BatchResult) -> tuple[Rule, str]:
    assert not result.accepted
    assert not result.duplicates
    assert len(result.rejected) == 1
    rejected = result.rejected[0]
    return rejected.rule, str(rejected)


def registry_with(**changes: Any) -> StaticRegistry:
    return StaticRegistry.of([dataclasses.replace(INFO, **changes)], REGISTRY.runs)


# -- the valid case ----------------------------------------------------------------------------


def test_an_accepted_record_names_its_chips_model_as_the_catalogue_does() -> None:
    """A chip registered under an alias of its model is accepted with the catalogue's own name
    of the model, so that the aggregate keeps its busy work under one key per model whatever
    name its certificate used (docs/adr/0033)."""
    for name in ("H100 SXM", "h100-sxm", "H100"):
        (accepted,) = verify(line(), registry=registry_with(model=name)).accepted
        assert accepted.model == "H100 SXM"


def test_valid_record_is_accepted_and_advances_the_chain() -> None:
    """The base record passes every rule; the chain moves to it."""
    signed = line()
    result = verify(signed)
    assert not result.rejected
    assert [a.index for a in result.accepted] == [0]
    accepted = result.accepted[0]
    assert accepted.hash == record_hash(signed) == hashlib.sha256(signed).hexdigest()
    assert accepted.line == signed
    assert accepted.cluster_id == "c1"
    assert accepted.energy_delta_j == 36_000
    assert result.chains == {
        CHIP: ChainState(5, accepted.hash, T0 + timedelta(seconds=60), STATE.energy_j + 36_000)
    }
    assert result.root == merkle_root([signed])


# -- one test per rule -------------------------------------------------------------------------


def test_malformed() -> None:
    """A validly signed record with a negative power is malformed, named by field and value."""
    bad = record(power_w_avg=-3)
    sig = base64.b64encode(KEY.sign(DOMAIN + canonical(bad))).decode()
    rule, message = only_rejection(verify(json.dumps({"record": bad, "sig": sig}).encode()))
    assert rule is Rule.MALFORMED
    assert message == (
        "record 0 (chip c1/h100-0000 seq 5): field power_w_avg: expected a number >= 0, got -3"
    )


def test_malformed_line_without_chip() -> None:
    """A line that is not JSON is malformed, reported by its index alone."""
    rule, message = only_rejection(verify(b"{oops"))
    assert rule is Rule.MALFORMED
    assert message.startswith("record 0: not a JSON line")


def test_chip_unknown() -> None:
    """A record of a chip the registry does not know."""
    other = Ed25519PrivateKey.generate()
    rule, message = only_rejection(verify(line(other, chip_id="c1/h100-9999")))
    assert rule is Rule.CHIP_UNKNOWN
    assert "no registered chip 'c1/h100-9999'" in message


def test_chip_of_a_model_the_catalogue_lacks_is_unknown() -> None:
    """A registered chip whose model the hardware catalogue lacks cannot be checked."""
    rule, message = only_rejection(verify(line(), registry=registry_with(model="Z9000")))
    assert rule is Rule.CHIP_UNKNOWN
    assert "'Z9000'" in message


def test_chip_revoked() -> None:
    """A record signed by a chip whose key is revoked."""
    rule, _ = only_rejection(verify(line(), registry=registry_with(revoked=True)))
    assert rule is Rule.CHIP_REVOKED


P25519 = 2**255 - 19


@pytest.mark.parametrize(
    "key",
    [
        bytes(32),  # y = 0: a point of order 4, for which an all-zero signature verifies
        (1).to_bytes(32, "little"),  # the identity point
        (P25519 + 1).to_bytes(32, "little"),  # y >= p: a non-canonical spelling of y = 1
        b"\xff" * 32,
        (2).to_bytes(32, "little"),  # y = 2 is on no point of the curve
        PUBLIC[:31],
        b"",
    ],
    ids=["small-order", "identity", "y-not-reduced", "all-ones", "off-curve", "short", "empty"],
)
def test_chip_key_invalid(key: bytes) -> None:
    """A chip whose registered key is no canonical Ed25519 key of large order has its records
    refused by rule, and only its own: another chip's record in the same batch is accepted."""
    other = dataclasses.replace(INFO, chip_id="c1/h100-0001")
    registry = StaticRegistry.of([dataclasses.replace(INFO, public_key=key), other], REGISTRY.runs)
    forged = sign_record(record(), Ed25519PrivateKey.generate())
    good = line(chip_id="c1/h100-0001", seq=0, prev=None)
    zero_sig = json.dumps(
        {"record": record(), "sig": base64.b64encode(bytes(64)).decode()}
    ).encode()
    result = verify(forged, zero_sig, good, registry=registry)
    assert [a.index for a in result.accepted] == [2]
    assert [(r.index, r.rule) for r in result.rejected] == [
        (0, Rule.CHIP_KEY_INVALID),
        (1, Rule.CHIP_KEY_INVALID),
    ]
    assert "is not a usable Ed25519 public key" in result.rejected[0].reason


def test_every_generated_key_is_usable() -> None:
    """Keys made by a real Ed25519 implementation pass the key check."""
    for _ in range(50):
        raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert key_problem(raw) is None


def test_line_too_long() -> None:
    """A line over the limit is refused by its own rule, not parsed; the line after it counts."""
    long = b'{"record": "' + b"x" * MAX_LINE_BYTES + b'"}'
    result = verify(long, line())
    assert [a.index for a in result.accepted] == [1]
    assert [(r.index, r.rule) for r in result.rejected] == [(0, Rule.LINE_TOO_LONG)]


@pytest.mark.parametrize(
    ("changes", "operator"),
    [
        ({"status": ChipStatus.RETIRED, "cluster_id": None}, OPERATOR),
        ({"status": ChipStatus.CERTIFIED, "cluster_id": None, "operator_id": None}, OPERATOR),
        ({"status": ChipStatus.IN_TRANSIT, "cluster_id": None}, OPERATOR),
        ({}, "operator-2"),
    ],
)
def test_chip_not_installed(changes: dict[str, Any], operator: str) -> None:
    """Retired, uninstalled, in transit, or in another operator's cluster."""
    rule, message = only_rejection(
        verify(line(), registry=registry_with(**changes), operator=operator)
    )
    assert rule is Rule.CHIP_NOT_INSTALLED
    assert f"not installed in a cluster of operator '{operator}'" in message


def test_signature() -> None:
    """One flipped bit in the signature."""
    obj = json.loads(line())
    raw = bytearray(base64.b64decode(obj["sig"]))
    raw[10] ^= 0x04
    obj["sig"] = base64.b64encode(bytes(raw)).decode()
    rule, message = only_rejection(verify(json.dumps(obj).encode()))
    assert rule is Rule.SIGNATURE
    assert message == (
        "record 0 (chip c1/h100-0000 seq 5): signature does not verify for the key of chip "
        "'c1/h100-0000'"
    )


def test_signature_by_another_key() -> None:
    """A well-formed record signed by a key that is not the chip's."""
    rule, _ = only_rejection(verify(line(Ed25519PrivateKey.generate())))
    assert rule is Rule.SIGNATURE


def test_signature_over_non_canonical_bytes() -> None:
    """A chip that signs its own JSON spelling rather than RFC 8785 bytes is not believed."""
    body = record()
    sig = base64.b64encode(KEY.sign(DOMAIN + json.dumps(body).encode())).decode()
    rule, _ = only_rejection(verify(json.dumps({"record": body, "sig": sig}).encode()))
    assert rule is Rule.SIGNATURE


def test_duplicate() -> None:
    """The record the chain already ends with is a duplicate: counted once, not an error."""
    signed = line()
    first = verify(signed)
    again = verify(signed, chains=dict(first.chains))
    assert not again.accepted
    assert not again.rejected
    assert [(d.index, d.seq, d.hash, d.first_index) for d in again.duplicates] == [
        (0, 5, first.accepted[0].hash, None)
    ]
    assert again.chains == {}


def test_replay_of_an_earlier_seq() -> None:
    """A seq below the last accepted one, even with a later window and more energy."""
    rule, message = only_rejection(
        verify(
            line(
                seq=3,
                window_start=format_time(T0 + timedelta(minutes=5)),
                window_end=format_time(T0 + timedelta(minutes=6)),
            )
        )
    )
    assert rule is Rule.REPLAY
    assert "seq 3 is not after the last accepted seq 4" in message


def test_replay_of_the_same_seq_with_other_content() -> None:
    """A second, different record for the seq already accepted."""
    rule, message = only_rejection(
        verify(line(seq=4, prev="22" * 32, window_start=format_time(T0), energy_j=10_000_001))
    )
    assert rule is Rule.REPLAY
    assert "a second, different record for the same seq" in message


def test_chain_broken() -> None:
    """The next seq whose prev does not name the last accepted record."""
    rule, message = only_rejection(verify(line(prev="33" * 32)))
    assert rule is Rule.CHAIN_BROKEN
    assert "does not name the last accepted record 111111111111" in message


def test_window_invalid_end_not_after_start() -> None:
    """A window that ends when it starts (no FLOP claimed, so only the window is wrong)."""
    rule, message = only_rejection(
        verify(line(window_end=format_time(T0), flop={"bf16": "0"}, energy_j=STATE.energy_j))
    )
    assert rule is Rule.WINDOW_INVALID
    assert "is not after window_start" in message


def test_window_invalid_too_long() -> None:
    """A window longer than an hour."""
    rule, message = only_rejection(
        verify(line(window_end=format_time(T0 + timedelta(seconds=3601))))
    )
    assert rule is Rule.WINDOW_INVALID
    assert "window of 3601 s is longer than the 3600 s maximum" in message


def test_window_invalid_fraction_of_a_second() -> None:
    """Window times must be whole seconds."""
    rule, message = only_rejection(verify(line(window_end="2026-11-27T01:01:00.5Z")))
    assert rule is Rule.WINDOW_INVALID
    assert "whole seconds" in message


def test_window_future() -> None:
    """A window that ends after now."""
    rule, message = only_rejection(verify(line(), now=T0 + timedelta(seconds=59)))
    assert rule is Rule.WINDOW_FUTURE
    assert "window_end 2026-11-27T01:01:00Z is after now (2026-11-27T01:00:59Z)" in message


def test_window_overlap() -> None:
    """A window that starts before the last accepted one ended."""
    rule, message = only_rejection(
        verify(
            line(
                window_start=format_time(T0 - timedelta(seconds=1)),
                window_end=format_time(T0 + timedelta(seconds=59)),
            )
        )
    )
    assert rule is Rule.WINDOW_OVERLAP
    assert "before the end of the last accepted window 2026-11-27T01:00:00Z (seq 4)" in message


def test_energy_fell() -> None:
    """The cumulative energy counter went down."""
    rule, message = only_rejection(verify(line(energy_j=STATE.energy_j - 1)))
    assert rule is Rule.ENERGY_FELL
    assert f"energy_j {STATE.energy_j - 1} is below the last accepted {STATE.energy_j}" in message


def test_flop_impossible_above_peak() -> None:
    """More BF16 operations than peak x window x (1 + tolerance)."""
    limit = H100_BF16 * 60 * (1 + FLOP_TOLERANCE)
    accepted = verify(line(flop={"bf16": str(int(limit) - 10**6)}))
    assert len(accepted.accepted) == 1
    rule, message = only_rejection(verify(line(flop={"bf16": str(int(limit) + 10**6)})))
    assert rule is Rule.FLOP_IMPOSSIBLE
    assert "flop.bf16:" in message


def test_flop_impossible_summed_over_formats() -> None:
    """FLOP are bounded for the window as a whole: four formats each at 90% of their peak need
    3.6 windows of the chip's time, and are refused, though each alone would fit."""
    peaks = {"bf16": H100_BF16, "fp16": H100_BF16, "fp8": 1.979e15, "tf32": 4.947e14}
    each = {p: str(int(peak * 60 * 0.9)) for p, peak in peaks.items()}
    for precision, count in each.items():
        assert len(verify(line(flop={precision: count})).accepted) == 1
    rule, message = only_rejection(verify(line(flop=each)))
    assert rule is Rule.FLOP_IMPOSSIBLE
    assert "more than the 60 s window" in message


def test_flop_in_several_formats_that_share_the_window_is_accepted() -> None:
    """Half the window at the BF16 peak and 45% of it at the FP8 peak fit in one window."""
    flop = {"bf16": str(int(H100_BF16 * 30)), "fp8": str(int(1.979e15 * 27))}
    assert len(verify(line(flop=flop)).accepted) == 1


def test_flop_summed_over_formats_keeps_the_tolerance() -> None:
    """Two formats together 1% over the window pass (the counters' 2% tolerance); 3% over
    do not."""

    def two(share: float) -> dict[str, str]:
        return {
            "bf16": str(int(H100_BF16 * 30 * share)),
            "fp8": str(int(1.979e15 * 30 * share)),
        }

    assert len(verify(line(flop=two(1.01))).accepted) == 1
    rule, _ = only_rejection(verify(line(flop=two(1.03))))
    assert rule is Rule.FLOP_IMPOSSIBLE


def test_flop_impossible_for_a_format_the_chip_lacks() -> None:
    """An A100 has no FP8 units; claiming FP8 work is impossible, a zero counter is not."""
    registry = registry_with(model="A100 SXM")
    assert len(verify(line(flop={"bf16": "1000", "fp8": "0"}), registry=registry).accepted) == 1
    rule, message = only_rejection(verify(line(flop={"fp8": "1000"}), registry=registry))
    assert rule is Rule.FLOP_IMPOSSIBLE
    assert "the A100 SXM has no fp8 peak" in message


def test_energy_impossible() -> None:
    """More energy in a minute than 1.5 x TDP could draw."""
    most = int(700 * 1.5 * 60)
    assert len(verify(line(energy_j=STATE.energy_j + most)).accepted) == 1
    rule, message = only_rejection(verify(line(energy_j=STATE.energy_j + most + 1)))
    assert rule is Rule.ENERGY_IMPOSSIBLE
    assert f"energy rose {most + 1} J in 60 s" in message


def test_energy_bound_counts_the_time_since_the_last_window() -> None:
    """After idle time between windows the energy bound grows with the elapsed time."""
    start = T0 + timedelta(minutes=9)
    result = verify(
        line(
            window_start=format_time(start),
            window_end=format_time(start + timedelta(seconds=60)),
            energy_j=STATE.energy_j + 500_000,  # 10 minutes at 833 W: below 1,050 W
        )
    )
    assert len(result.accepted) == 1


def test_energy_is_not_bounded_without_a_published_tdp() -> None:
    """The catalogue has no TDP for a TPU v5e: the energy bound is skipped, not guessed."""
    registry = registry_with(model="TPU v5e")
    result = verify(line(energy_j=STATE.energy_j + 10**9, flop={"bf16": "1000"}), registry=registry)
    assert len(result.accepted) == 1


def test_status_given_as_a_plain_string() -> None:
    """A registry adapter may hand the status over as the stored string."""
    registry = registry_with(status="retired", cluster_id=None)
    rule, message = only_rejection(verify(line(), registry=registry))
    assert rule is Rule.CHIP_NOT_INSTALLED
    assert message.endswith("(it is retired)")
    assert len(verify(line(), registry=registry_with(status="installed")).accepted) == 1


def test_run_undeclared() -> None:
    """A run id declared nowhere, or declared on another cluster."""
    for run_id in ("run-9", "run-2"):
        rule, message = only_rejection(verify(line(run_id=run_id)))
        assert rule is Rule.RUN_UNDECLARED
        assert f"run '{run_id}' is not declared on cluster 'c1'" in message


def test_no_run_is_not_a_rule_failure() -> None:
    """A record naming no run is accepted (aggregation judges undeclared compute)."""
    assert len(verify(line(run_id=None)).accepted) == 1


def test_rule_order_first_failure_wins() -> None:
    """A record failing several rules is reported under the earliest one."""
    registry = registry_with(revoked=True)
    rule, _ = only_rejection(verify(line(energy_j=0, run_id="run-9"), registry=registry))
    assert rule is Rule.CHIP_REVOKED


# -- chains across and within batches ----------------------------------------------------------


def chain(
    n: int, *, first_seq: int = 0, prev: str | None = None, start: datetime = T0
) -> list[bytes]:
    """``n`` consecutive signed records from ``first_seq``."""
    lines = []
    energy = STATE.energy_j
    for i in range(n):
        seq = first_seq + i
        window_start = start + timedelta(seconds=60 * i)
        energy += 30_000
        signed = line(
            seq=seq,
            prev=prev if seq else None,
            window_start=format_time(window_start),
            window_end=format_time(window_start + timedelta(seconds=60)),
            energy_j=energy,
        )
        prev = record_hash(signed)
        lines.append(signed)
    return lines


def test_first_record_ever_may_start_at_any_seq() -> None:
    """With no chain state, seq 7 is accepted and no gap from 0 is assumed."""
    lines = chain(3, first_seq=7, prev="44" * 32)
    result = verify(*lines, chains={})
    assert len(result.accepted) == 3
    assert not result.gaps
    assert result.accepted[0].energy_delta_j is None
    assert result.chains[CHIP].seq == 9


def test_gap_is_accepted_and_recorded_with_exact_counts() -> None:
    """Seq 8 after seq 4 is accepted, and the missing seqs 5 to 7 are reported."""
    lines = chain(10)
    result = verify(*(lines[:5] + lines[8:]), chains={})
    assert [a.record.seq for a in result.accepted] == [0, 1, 2, 3, 4, 8, 9]
    assert [(g.chip_id, g.from_seq, g.to_seq, g.missing, g.index) for g in result.gaps] == [
        (CHIP, 5, 7, 3, 5)
    ]
    # The energy of the missing windows is not lost: it shows in the next record's delta.
    assert result.accepted[5].energy_delta_j == 4 * 30_000


def test_rejected_record_leaves_a_gap() -> None:
    """A record rejected mid-chain is missing from the chain: the next one shows the gap."""
    lines = chain(4)
    obj = json.loads(lines[1])
    obj["sig"] = base64.b64encode(b"\x00" * 64).decode()
    result = verify(lines[0], json.dumps(obj).encode(), *lines[2:], chains={})
    assert [r.rule for r in result.rejected] == [Rule.SIGNATURE]
    assert [(g.from_seq, g.to_seq) for g in result.gaps] == [(1, 1)]


def test_records_of_a_chip_are_checked_in_seq_order() -> None:
    """A shuffled batch is accepted whole; the tree still commits to batch order."""
    lines = chain(12)
    shuffled = lines[:]
    random.Random(3).shuffle(shuffled)
    result = verify(*shuffled, chains={})
    assert not result.rejected
    assert [a.index for a in result.accepted] == list(range(12))
    assert result.root == merkle_root(shuffled)
    assert result.chains[CHIP].hash == record_hash(lines[-1])


def test_duplicate_within_a_batch_is_counted_once() -> None:
    """The same record twice in one batch: one accepted, one duplicate naming the first."""
    lines = chain(3)
    result = verify(lines[0], lines[1], lines[1], lines[2], chains={})
    assert [a.index for a in result.accepted] == [0, 1, 3]
    assert [(d.index, d.seq, d.first_index) for d in result.duplicates] == [(2, 1, 1)]
    assert result.root == merkle_root([lines[0], lines[1], lines[2]])


def test_duplicate_sent_first_is_still_counted_once() -> None:
    """A repeat placed before its original in the batch: the copy later in seq order repeats."""
    lines = chain(2)
    result = verify(lines[1], lines[0], lines[1], chains={})
    assert len(result.accepted) == 2
    assert [(d.index, d.first_index) for d in result.duplicates] == [(2, 0)]


def test_duplicate_across_batches_is_counted_once() -> None:
    """The last record of one batch sent again in the next is a duplicate there."""
    lines = chain(3)
    first = verify(*lines, chains={})
    second = verify(lines[2], chains=dict(first.chains))
    assert not second.accepted
    assert [(d.seq, d.first_index) for d in second.duplicates] == [(2, None)]


def test_older_record_sent_again_is_a_replay() -> None:
    """An accepted record other than the last one, sent again in a later batch."""
    lines = chain(3)
    first = verify(*lines, chains={})
    rule, _ = only_rejection(verify(lines[0], chains=dict(first.chains)))
    assert rule is Rule.REPLAY


def test_chain_state_round_trip() -> None:
    """Persisting and restoring the chain between batches equals one batch of everything."""
    lines = chain(8)
    whole = verify(*lines, chains={})
    first = verify(*lines[:5], chains={})
    stored = json.dumps({k: v.to_json() for k, v in first.chains.items()})
    restored = {k: ChainState.from_json(v) for k, v in json.loads(stored).items()}
    assert restored == dict(first.chains)
    second = verify(*lines[5:], chains=restored)
    assert not second.rejected
    assert not second.gaps
    assert [a.hash for a in first.accepted + second.accepted] == [a.hash for a in whole.accepted]
    assert second.chains == whole.chains


def test_chain_state_from_json_refuses_garbage() -> None:
    """A damaged stored state is an error, not a silent reset of the chain."""
    good = STATE.to_json()
    for bad in (
        {**good, "seq": -1},
        {**good, "hash": "zz"},
        {**good, "hash": "AB" * 32},
        {"seq": 1},
        {**good, "window_end": 5},
        {**good, "window_end": "2026-11-27T01:00:00"},
    ):
        with pytest.raises(TelemetryError, match="invalid chain state"):
            ChainState.from_json(bad)


def test_several_chips_in_one_batch() -> None:
    """Chains are per chip: one chip's records do not affect another's."""
    other_key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    other = ChipInfo(
        chip_id="c1/h100-0001",
        public_key=other_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        model="H100",
        cluster_id="c1",
        operator_id=OPERATOR,
        status=ChipStatus.INSTALLED,
    )
    registry = StaticRegistry.of([INFO, other], REGISTRY.runs)
    mine = chain(2)
    theirs = [
        line(other_key, chip_id=other.chip_id, seq=0, prev=None),
    ]
    result = verify(mine[0], theirs[0], mine[1], chains={}, registry=registry)
    assert len(result.accepted) == 3
    assert set(result.chains) == {CHIP, other.chip_id}


def test_non_canonical_submission_is_stored_canonically() -> None:
    """A line with other whitespace and key order is accepted; its canonical bytes are kept."""
    signed = line()
    obj = json.loads(signed)
    pretty = json.dumps({"sig": obj["sig"], "record": obj["record"]}, indent=1).encode()
    result = verify(pretty)
    assert result.accepted[0].line == signed
    assert result.accepted[0].hash == record_hash(signed)


def test_empty_batch() -> None:
    """An empty batch accepts nothing; its root is the empty tree's."""
    result = verify()
    assert result.accepted == ()
    assert result.root == hashlib.sha256(b"").digest()
    assert result.to_json()["accepted"] == 0


def test_result_json_summary() -> None:
    """The summary lists rejections, duplicates and gaps with the root."""
    lines = chain(4)
    result = verify(lines[0], lines[0], lines[3], b"x", chains={})
    summary = result.to_json()
    assert summary["root"] == result.root_hex
    assert summary["accepted"] == 2
    assert [r["rule"] for r in summary["rejected"]] == ["malformed"]
    assert summary["duplicates"][0]["first_index"] == 0
    assert summary["gaps"] == [
        {"index": 2, "chip_id": CHIP, "from_seq": 1, "to_seq": 2, "missing": 2}
    ]
    json.dumps(summary)


def test_now_must_be_utc() -> None:
    """A naive or non-UTC now is refused: the verifier never guesses a time zone."""
    naive = NOW.replace(tzinfo=None)
    for now in (naive, NOW.astimezone(timezone(timedelta(hours=1)))):
        with pytest.raises(TelemetryError, match="now must be a timezone-aware UTC"):
            verify(line(), now=now)


def test_garbage_collector_state_is_restored() -> None:
    """The batch pauses the cyclic collector and leaves it as it found it, even on error."""
    assert gc.isenabled()
    verify(line())
    assert gc.isenabled()
    gc.disable()
    try:
        verify(line())
        assert not gc.isenabled()
    finally:
        gc.enable()

    class Broken(StaticRegistry):
        def chip(self, chip_id: str) -> ChipInfo | None:
            raise RuntimeError("registry down")

    with pytest.raises(RuntimeError, match="registry down"):
        verify(line(), registry=Broken())
    assert gc.isenabled()


def test_split_lines() -> None:
    """A final newline ends the last line; blank lines inside stay, as malformed records."""
    assert split_lines(b"a\nb\r\n\nc\n") == [b"a", b"b", b"", b"c"]
    assert split_lines(b"") == []
    assert split_lines(b"a") == [b"a"]
