"""Verifying an upload in bounded memory: lines read from a file, segments, the summary."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pausewatch.ledger import root as merkle_root
from pausewatch.registry import Registry
from pausewatch.service import RegistrySnapshot
from pausewatch.simulate import ClusterSpec, Misbehaviour, Workload, simulate_fleet
from pausewatch.statements import KeyPair
from pausewatch.telemetry import (
    LISTED_REJECTIONS,
    OverlongLine,
    Rejected,
    RejectionSummary,
    Rule,
    read_lines,
    split_lines,
    verify_batch,
    verify_stream,
)

CLUSTERS = (
    ClusterSpec("train-1", "lab", "H100 SXM", 5, Workload.TRAINING),
    ClusterSpec("serve-1", "lab", "H200", 3, Workload.INFERENCE),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\r\n", b"xyzxyzxyz", b" "]), max_size=40)
)
def test_read_lines_cuts_as_split_lines(parts: list[bytes]) -> None:
    """Reading lines from a file gives exactly the lines split_lines cuts from the bytes."""
    data = b"".join(parts)
    assert list(read_lines(io.BytesIO(data))) == split_lines(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=12), st.integers(1, 12), st.booleans())
def test_read_lines_reports_long_lines_by_length(
    lengths: list[int], limit: int, final_newline: bool
) -> None:
    """A line over the limit comes as its length only; the others as they are."""
    lines = [b"x" * n for n in lengths]
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    expected = [line if len(line) <= limit else OverlongLine(len(line)) for line in lines]
    if lines and lines[-1] == b"" and not final_newline:
        expected.pop()  # a trailing empty piece is no line
    assert list(read_lines(io.BytesIO(data), max_line=limit, block=5)) == expected


def test_read_lines_never_reads_a_long_line_whole() -> None:
    """A 5 MB line is read past in blocks, never held: no read asks for more than a block."""
    sizes: list[int] = []

    class Counting(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            assert size is not None
            assert size > 0
            sizes.append(size)
            return super().read(size)

    data = b"y" * 5_000_000 + b"\nok\r\n" + b"z" * 3000
    lines = list(read_lines(Counting(data), max_line=1000, block=4096))
    assert lines == [OverlongLine(5_000_000), b"ok", OverlongLine(3000)]
    assert max(sizes) == 4096


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\r\n", b"xyzxyzxyz", b" "]), max_size=40
    ),
    st.integers(1, 7),
)
def test_read_lines_cuts_as_split_lines_whatever_the_block(parts: list[bytes], block: int) -> None:
    """Lines cut across blocks of any size come out as split_lines cuts them."""
    data = b"".join(parts)
    assert list(read_lines(io.BytesIO(data), block=block)) == split_lines(data)


@settings(max_examples=200, deadline=None)
@given(st.permutations(range(60)), st.integers(1, 25))
def test_the_summary_keeps_the_first_rejections_by_line_whatever_their_order(
    order: list[int], listed: int
) -> None:
    """Counts are exact and the listed rejections are the lowest line numbers, in order, however
    the rejections arrive."""
    summary = RejectionSummary(listed=listed)
    rules = [Rule.MALFORMED, Rule.SIGNATURE, Rule.REPLAY]
    for index in order:
        if index % 4 == 0:
            summary.add_blank(index)
        else:
            summary.add(Rejected(index, None, None, rules[index % 3], "x"))
    assert [r.index for r in summary.first] == list(range(min(listed, 60)))
    assert summary.total == 60
    assert sum(summary.by_rule.values()) == 60
    assert summary.by_rule["signature"] == sum(1 for i in range(60) if i % 4 and i % 3 == 1)


def fleet_lines() -> tuple[list[bytes], object, object]:
    fleet = simulate_fleet(
        CLUSTERS,
        windows=12,
        seed=11,
        misbehaviour=Misbehaviour(forge_rate=0.05, withhold_rate=0.05, replay_rate=0.05),
    )
    return fleet.lines, fleet.registry(), fleet.end + timedelta(minutes=1)


def test_one_segment_gives_verify_batchs_verdicts() -> None:
    """An upload that fits in one segment gets verify_batch's verdicts, root and chain heads."""
    lines, registry, now = fleet_lines()
    args = {"operator_id": "lab", "now": now, "registry": registry, "chains": {}}
    whole = verify_batch(lines, **args)  # type: ignore[arg-type]
    stream = verify_stream(iter(lines), listed=10_000, **args)  # type: ignore[arg-type]
    assert stream.accepted == len(whole.accepted)
    assert stream.duplicates == len(whole.duplicates)
    assert stream.rejections.first == list(whole.rejected)
    assert stream.gaps == list(whole.gaps)
    assert stream.chains == dict(whole.chains)
    assert stream.root == whole.root


def test_segments_in_upload_order_give_the_same_totals() -> None:
    """Records in seq order per chip, cut into segments of 7 lines: the same accepted records,
    root, aggregate and chain heads as one segment, the same rejections but for copies of
    older records (replays once their chip moved on); each segment's accepted records reach
    the callback with their positions."""
    lines, registry, now = fleet_lines()
    args = {"operator_id": "lab", "now": now, "registry": registry, "chains": {}}
    whole = verify_stream(iter(lines), **args)  # type: ignore[arg-type]
    stored: list[tuple[int, bytes]] = []

    def store(position: int, records: object) -> None:
        stored.extend((position + i, r.line) for i, r in enumerate(records))  # type: ignore[attr-defined]

    cut = verify_stream(iter(lines), segment_records=7, on_accepted=store, **args)  # type: ignore[arg-type]
    assert cut.accepted == whole.accepted
    assert cut.root == whole.root
    assert cut.aggregate == whole.aggregate
    assert cut.chains == whole.chains
    assert [p for p, _ in stored] == list(range(cut.accepted))
    assert merkle_root([line for _, line in stored]) == cut.root
    # A copy of an older record is a duplicate beside its original and a replay once its chip
    # has moved on in an earlier segment, as in a later batch.
    cut_rules, whole_rules = dict(cut.rejections.by_rule), dict(whole.rejections.by_rule)
    assert cut_rules.pop("replay", 0) + cut.duplicates == (
        whole_rules.pop("replay", 0) + whole.duplicates
    )
    assert cut_rules == whole_rules


def test_an_upload_of_newlines_is_counted_not_kept() -> None:
    """A million blank lines: one count, the first few listed."""
    _, registry, now = fleet_lines()
    summary = verify_stream(
        read_lines(io.BytesIO(b"\n" * 1_000_000)),
        operator_id="lab",
        now=now,
        registry=registry,  # type: ignore[arg-type]
        chains={},
    )
    assert summary.lines == 1_000_000
    assert summary.rejections.total == 1_000_000
    assert summary.rejections.by_rule == {"malformed": 1_000_000}
    assert [r.index for r in summary.rejections.first] == list(range(LISTED_REJECTIONS))
    assert summary.accepted == 0


def test_a_registry_key_that_cannot_be_decoded_makes_no_error() -> None:
    """A chip registered under a key spelled in non-canonical base64 is given with no key
    bytes (its records are then refused as chip_key_invalid), not an exception for the batch."""
    canonical = KeyPair.generate("chip").signer_id
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    # The last character before "=" carries 4 unused bits; setting one spells the same bytes.
    loose = canonical[:-2] + alphabet[alphabet.index(canonical[-2]) | 1] + "="
    assert loose != canonical
    registry = Registry([KeyPair.generate("secretariat").signer_id])
    for spelling, usable in ((loose, False), (canonical, True)):
        registry.views["chips"][("chip-1",)] = {
            "key": spelling,
            "model": "H100 SXM",
            "cluster_id": "c1",
            "operator_id": "lab",
            "status": "installed",
        }
        info = RegistrySnapshot(registry, threading.RLock()).chip("chip-1")
        assert info is not None
        assert (len(info.public_key) == 32) is usable
