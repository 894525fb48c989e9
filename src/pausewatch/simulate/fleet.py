"""A simulated fleet of chips that sign realistic telemetry, with the truth about what they did.

Deterministic: one seed fixes every key and every figure, so a failing test or a benchmark run
can be reproduced exactly. Chip ``i``'s Ed25519 private key (RFC 8032) is
``SHA-256(b"pausewatch/simulate/chip-key\\n" || seed as 16 signed big-endian bytes || i as 8
big-endian bytes)``; figures come from one :class:`random.Random` seeded with ``seed``.

Workloads, per chip and window (figures per 60 s window, scaled to the window length):

* **training**: model FLOP utilisation 0.35-0.45 of the precision's dense peak (drawn per
  cluster, jittered per chip and window), tensor pipes busy 1.7 x that (0.6-0.8), SMs busier
  still, board power 70-85% of TDP; an all-reduce every ``allreduce_every`` windows moves
  300-450 GB over NVLink and 40-60 GB over the network, 40-70 GB and 5-10 GB in between;
  85-95% of device memory in use.
* **inference**: bursty; tensor pipes busy 2-27% of a window (decoding is memory-bound), FLOP
  0.45-0.6 of what that activity could do at peak, power 25-50% of TDP with high peaks, little
  NVLink, steady request traffic on the network.
* **idle**: no FLOP, tensor pipes idle, power 10-20% of TDP, almost no memory or traffic.

Energy is cumulative and grows by the mean power times the window. Misbehaviour
(:class:`Misbehaviour`) adds undeclared training, withheld windows, forged signatures, replays
and wrong run ids; :class:`GroundTruth` says which lines carry which, for tests to compare with
what the verifier finds. The lines come out canonical and signed by the fast encoder of
:mod:`pausewatch.telemetry`, about 40 µs each (two thirds of it the signature).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pausewatch.compute import Chip, HardwareCatalogue, Precision, load_catalogue
from pausewatch.telemetry import (
    MAX_WINDOW_S,
    ChipInfo,
    ChipStatus,
    StaticRegistry,
    TelemetryError,
    format_time,
    sign_record,
)

DEFAULT_START = datetime(2026, 11, 27, tzinfo=UTC)
"""When the first simulated window starts."""

FALLBACK_TDP_W = 400.0
"""Board power assumed for models whose TDP the catalogue lacks (TPU v5e/v5p, Ascend 910C)."""

MEMORY_BYTES: Mapping[str, int] = MappingProxyType(
    {
        "A100 SXM": 80 * 10**9,
        "H100 SXM": 80 * 10**9,
        "H800 SXM": 80 * 10**9,
        "H200": 141 * 10**9,
        "B200": 180 * 10**9,
        "GB200": 186 * 10**9,
        "MI300X": 192 * 10**9,
        "MI325X": 256 * 10**9,
        "TPU v4": 32 * 10**9,
        "TPU v5e": 16 * 10**9,
        "TPU v5p": 95 * 10**9,
        "Ascend 910B": 64 * 10**9,
        "Ascend 910C": 128 * 10**9,
    }
)
"""Device memory per chip model (vendor figures); others are taken as 80 GB."""

_KEY_DOMAIN = b"pausewatch/simulate/chip-key\n"
_GB = 10**9


class Workload(StrEnum):
    """What a cluster's chips do."""

    TRAINING = "training"
    INFERENCE = "inference"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """One simulated cluster: its chips, all of one model, doing one workload."""

    cluster_id: str
    """Registry id of the cluster (also the prefix of its chips' ids)."""
    operator_id: str
    """The operator whose cluster it is."""
    model: str
    """Chip model, a hardware catalogue name or alias."""
    chips: int
    """How many chips."""
    workload: Workload = Workload.TRAINING
    """What they do."""
    precision: str | None = None
    """Number format of the work: by default bf16 (fp16 where the chip has no bf16 peak) for
    training, fp8 where the chip has it for inference."""
    allreduce_every: int = 5
    """Training only: windows between gradient all-reduce bursts."""


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    """What goes wrong, as rates per chip-window and as explicit ``(chip_id, seq)`` lists.

    A chip's seq is its window number (chips start at seq 0 in the first window).
    """

    undeclared_clusters: frozenset[str] = frozenset()
    """Training clusters whose records name no run (training that was never declared)."""
    withhold_rate: float = 0.0
    """Chance a record is signed but never sent (a gap in the chip's chain)."""
    forge_rate: float = 0.0
    """Chance a sent record has one bit of its signature flipped."""
    replay_rate: float = 0.0
    """Chance a chip re-sends, after its record, one of its last 4 good records (or this one)."""
    wrong_run_rate: float = 0.0
    """Chance a training record names a run not declared on its cluster."""
    withhold: frozenset[tuple[str, int]] = frozenset()
    """Records signed but never sent."""
    forge: frozenset[tuple[str, int]] = frozenset()
    """Records sent with a flipped signature bit."""
    replay: frozenset[tuple[str, int]] = frozenset()
    """Good records sent a second time, after the last window's records."""
    wrong_run: frozenset[tuple[str, int]] = frozenset()
    """Training records that name a run not declared on their cluster."""
    underreporting_clusters: frozenset[str] = frozenset()
    """Clusters whose chips' FLOP counters report only ``counter_ratio`` of the work (their
    tensor activity and power stay true: docs/adr/0033)."""
    counter_ratio: float = 1.0
    """The share of the work the counters of ``underreporting_clusters`` report."""


NONE = Misbehaviour()
"""A fleet that behaves."""


@dataclass(frozen=True, slots=True)
class SimChip:
    """One simulated chip and its key."""

    chip_id: str
    """Registry id, ``<cluster>/<model>-<n>``."""
    model: str
    """Catalogue name of its model."""
    cluster_id: str
    """Where it is installed."""
    operator_id: str
    """Whose cluster that is."""
    private_key: Ed25519PrivateKey = field(repr=False)
    """Its signing key (derived from the seed)."""
    public_key: bytes
    """Its raw 32-byte public key."""

    def info(self) -> ChipInfo:
        """How the registry knows it: certified and installed in its cluster."""
        return ChipInfo(
            chip_id=self.chip_id,
            public_key=self.public_key,
            model=self.model,
            cluster_id=self.cluster_id,
            operator_id=self.operator_id,
            status=ChipStatus.INSTALLED,
        )


@dataclass(frozen=True)
class GroundTruth:
    """What the fleet really did; line indexes refer to :attr:`Fleet.lines`."""

    line_chip_seq: tuple[tuple[str, int], ...]
    """Chip id and seq of every line, in order."""
    generated: Mapping[str, int]
    """How many records (seqs 0..n-1) each chip signed, sent or not."""
    withheld: frozenset[tuple[str, int]]
    """Records signed but never sent."""
    forged: frozenset[int]
    """Lines whose signature has a flipped bit."""
    replayed: frozenset[int]
    """Lines that repeat an earlier line exactly."""
    wrong_run: frozenset[int]
    """Lines naming a run not declared on their chip's cluster."""
    undeclared: frozenset[int]
    """Lines of training that name no run."""

    def good(self) -> frozenset[tuple[str, int]]:
        """Records a correct verifier accepts: sent, not forged, not naming a wrong run."""
        bad = self.forged | self.wrong_run | self.replayed
        return frozenset(cs for i, cs in enumerate(self.line_chip_seq) if i not in bad)

    def expected_gaps(self) -> list[tuple[str, int, int]]:
        """Gaps a correct verifier reports, as ``(chip_id, from_seq, to_seq)``, sorted.

        A gap is a run of seqs with no good record followed by a good one: withheld, forged
        and wrong-run records all leave one. Seqs missing before a chip's first good record,
        or after its last, are no gap (nothing shows them yet).
        """
        good: dict[str, set[int]] = {}
        for chip_id, seq in self.good():
            good.setdefault(chip_id, set()).add(seq)
        gaps: list[tuple[str, int, int]] = []
        for chip_id in sorted(good):
            seqs = sorted(good[chip_id])
            for before, after in itertools.pairwise(seqs):
                if after > before + 1:
                    gaps.append((chip_id, before + 1, after - 1))
        return gaps


@dataclass(frozen=True)
class Fleet:
    """A simulated fleet: its chips, its declared runs, its signed lines and the truth."""

    chips: tuple[SimChip, ...]
    """Every chip, cluster by cluster."""
    clusters: tuple[ClusterSpec, ...]
    """The clusters as specified."""
    runs: Mapping[str, str]
    """Declared runs: run id to the cluster it is declared on."""
    windows: tuple[tuple[bytes, ...], ...]
    """Signed lines sent during each window (canonical, no newline)."""
    truth: GroundTruth
    """What really happened."""
    start: datetime
    """Start of the first window."""
    window_s: int
    """Window length in seconds."""

    @property
    def lines(self) -> list[bytes]:
        """Every line sent, window after window."""
        return [line for window in self.windows for line in window]

    @property
    def end(self) -> datetime:
        """End of the last window: a ``now`` at which every window is in the past."""
        return self.start + timedelta(seconds=self.window_s * len(self.windows))

    def registry(self) -> StaticRegistry:
        """A registry in which every chip is installed and every declared run declared."""
        runs: dict[str, list[str]] = {}
        for run_id, cluster_id in self.runs.items():
            runs.setdefault(run_id, []).append(cluster_id)
        return StaticRegistry.of((c.info() for c in self.chips), runs)

    def jsonl(self) -> bytes:
        """All lines as one JSONL upload."""
        return b"".join(line + b"\n" for line in self.lines)


def chip_private_key(seed: int, index: int) -> Ed25519PrivateKey:
    """The private key of chip ``index`` of the fleet made with ``seed`` (see module doc)."""
    material = _KEY_DOMAIN + seed.to_bytes(16, "big", signed=True) + index.to_bytes(8, "big")
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(material).digest())


def demo_clusters(chips: int, *, operator_id: str = "operator-1") -> tuple[ClusterSpec, ...]:
    """A plausible mix: 60% H100 training, 25% H200 inference, 15% A100 idle (at least 3)."""
    if chips < 3:
        raise TelemetryError(f"demo_clusters: expected at least 3 chips, got {chips}")
    training = max(1, chips * 60 // 100)
    inference = max(1, chips * 25 // 100)
    idle = chips - training - inference
    return (
        ClusterSpec("cluster-a", operator_id, "H100 SXM", training, Workload.TRAINING),
        ClusterSpec("cluster-b", operator_id, "H200", inference, Workload.INFERENCE),
        ClusterSpec("cluster-c", operator_id, "A100 SXM", idle, Workload.IDLE),
    )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _num(value: float, digits: int) -> float | int:
    """Round for the wire; integral values go out as ints, which keeps the fast encoder's path."""
    rounded = round(value, digits)
    return int(rounded) if rounded.is_integer() else rounded


def _flip_signature_bit(line: bytes, rng: random.Random) -> bytes:
    """The line with one bit of its signature flipped (a line ends ``,"sig":"<88 chars>"}``)."""
    head, sig = line[:-90], line[-90:-2]
    flipped = bytearray(base64.b64decode(sig))
    flipped[rng.randrange(64)] ^= 1 << rng.randrange(8)
    return head + base64.b64encode(bytes(flipped)) + b'"}'


def _precision(chip: Chip, spec: ClusterSpec) -> str:
    if spec.precision is not None:
        name = Precision(spec.precision.lower()).value
        chip.peak(name)  # a format the chip lacks is a ComputeError here, not bad telemetry
        return name
    have = set(chip.peak_flops)
    if spec.workload is Workload.INFERENCE and Precision.FP8 in have:
        return Precision.FP8.value
    return (Precision.BF16 if Precision.BF16 in have else Precision.FP16).value


def _check(
    clusters: Sequence[ClusterSpec],
    windows: int,
    window_s: int,
    start: datetime,
    bad: Misbehaviour,
) -> None:
    if windows < 0:
        raise TelemetryError(f"windows: expected >= 0, got {windows}")
    if start.utcoffset() != timedelta(0) or start.microsecond:
        raise TelemetryError(f"start: expected a whole-second UTC time, got {start!r}")
    if not 0 < window_s <= MAX_WINDOW_S:
        raise TelemetryError(f"window_s: expected 1..{MAX_WINDOW_S}, got {window_s}")
    ids = [c.cluster_id for c in clusters]
    if len(set(ids)) != len(ids):
        raise TelemetryError(f"cluster ids must be unique, got {ids}")
    training = {c.cluster_id for c in clusters if c.workload is Workload.TRAINING}
    unknown = sorted(bad.undeclared_clusters - training)
    if unknown:
        raise TelemetryError(f"undeclared_clusters must be training clusters, got {unknown}")
    if not 0 <= bad.counter_ratio <= 1:
        raise TelemetryError(f"counter_ratio: expected a share in [0, 1], got {bad.counter_ratio}")
    for name in ("withhold_rate", "forge_rate", "replay_rate", "wrong_run_rate"):
        rate = getattr(bad, name)
        if not 0 <= rate <= 1:
            raise TelemetryError(f"{name}: expected a chance in [0, 1], got {rate}")
    for spec in clusters:
        if spec.chips < 0 or spec.allreduce_every < 1:
            raise TelemetryError(f"cluster {spec.cluster_id}: chips >= 0 and allreduce_every >= 1")


class _Figures(NamedTuple):
    """What one chip did in one window, before rounding for the wire."""

    tensor: float
    sm: float
    power_w: float
    peak_w: float
    flop: int
    nvlink_tx: int
    nvlink_rx: int
    net_tx: int
    net_rx: int
    memory: int


def _training(
    sim: _ChipSim, rng: random.Random, window: int, window_s: int, mfu: float
) -> _Figures:
    """Sustained work at the cluster's MFU; an all-reduce burst every few windows."""
    uniform = rng.uniform
    every = sim.cluster.allreduce_every
    burst = window % every == every - 1
    util = min(0.45, max(0.35, mfu + uniform(-0.01, 0.01)))
    tensor = min(0.8, max(0.6, util * uniform(1.65, 1.75)))
    power = sim.tdp * (0.70 + 1.5 * (util - 0.35) + uniform(-0.01, 0.01))
    power = min(0.85 * sim.tdp, max(0.70 * sim.tdp, power))
    scale = _GB * window_s / 60
    nvlink = int((uniform(300, 450) if burst else uniform(40, 70)) * scale)
    net = int((uniform(40, 60) if burst else uniform(5, 10)) * scale)
    return _Figures(
        tensor=tensor,
        sm=min(1.0, tensor + uniform(0.08, 0.16)),
        power_w=power,
        peak_w=power * uniform(1.04, 1.15),
        flop=int(sim.peak * window_s * util),
        nvlink_tx=nvlink,
        nvlink_rx=int(nvlink * uniform(0.98, 1.02)),
        net_tx=net,
        net_rx=int(net * uniform(0.97, 1.03)),
        memory=int(sim.memory * uniform(0.85, 0.95)),
    )


def _inference(sim: _ChipSim, rng: random.Random, window_s: int) -> _Figures:
    """Bursty serving: decoding keeps tensor pipes mostly idle; requests come over the network."""
    uniform = rng.uniform
    tensor = uniform(0.02, 0.12)
    if rng.random() < 0.35:
        tensor += uniform(0.05, 0.15)
    power = sim.tdp * (0.25 + 0.9 * tensor + uniform(-0.01, 0.01))
    scale = _GB * window_s / 60
    nvlink = int(uniform(0.01, 0.5) * scale)
    received = int(uniform(0.1, 1.0) * scale)
    return _Figures(
        tensor=tensor,
        sm=min(1.0, tensor + uniform(0.15, 0.35)),
        power_w=power,
        peak_w=min(sim.tdp * 1.05, power * uniform(1.2, 1.6)),
        flop=int(sim.peak * window_s * tensor * uniform(0.45, 0.6)),
        nvlink_tx=nvlink,
        nvlink_rx=int(nvlink * uniform(0.9, 1.1)),
        net_tx=int(received * uniform(2.0, 3.0)),
        net_rx=received,
        memory=int(sim.memory * uniform(0.5, 0.9)),
    )


def _idle(sim: _ChipSim, rng: random.Random) -> _Figures:
    """Powered, waiting: no work, a tenth to a fifth of TDP, a trickle of management traffic."""
    uniform = rng.uniform
    power = sim.tdp * uniform(0.10, 0.20)
    nvlink = int(uniform(0, 1e6))
    return _Figures(
        tensor=0.0,
        sm=uniform(0.0, 0.01),
        power_w=power,
        peak_w=power * uniform(1.0, 1.1),
        flop=0,
        nvlink_tx=nvlink,
        nvlink_rx=nvlink,
        net_tx=int(uniform(1e4, 1e6)),
        net_rx=int(uniform(1e4, 1e6)),
        memory=int(sim.memory * uniform(0.0, 0.02)),
    )


class _ChipSim:
    """The running state of one chip during generation."""

    __slots__ = (
        "chip",
        "cluster",
        "delivered",
        "energy",
        "firmware",
        "memory",
        "peak",
        "precision",
        "prev",
        "run_id",
        "seq",
        "tdp",
        "weights",
        "wrong_run_id",
    )

    def __init__(
        self, chip: SimChip, cluster: ClusterSpec, model: Chip, rng: random.Random
    ) -> None:
        self.chip = chip
        self.cluster = cluster
        self.precision = _precision(model, cluster)
        self.peak = model.peak(self.precision)
        self.tdp = model.tdp_w if model.tdp_w is not None else FALLBACK_TDP_W
        self.memory = MEMORY_BYTES.get(model.name, 80 * _GB)
        self.firmware = hashlib.sha256(f"firmware/{model.name}/1".encode()).hexdigest()
        self.weights = hashlib.sha256(f"weights/{cluster.cluster_id}".encode()).hexdigest()
        self.seq = 0
        self.prev: str | None = None
        self.energy = rng.randrange(10**9, 5 * 10**10)  # joules used before the simulation
        self.delivered: deque[tuple[int, bytes]] = deque(maxlen=4)
        self.run_id: str | None = None
        self.wrong_run_id = ""


def simulate_fleet(
    clusters: Sequence[ClusterSpec],
    *,
    windows: int,
    seed: int = 0,
    window_s: int = 60,
    start: datetime = DEFAULT_START,
    misbehaviour: Misbehaviour = NONE,
    catalogue: HardwareCatalogue | None = None,
) -> Fleet:
    """Simulate ``windows`` consecutive windows of every chip in ``clusters``; see module doc.

    Each training cluster declares one run, ``run-<cluster_id>``, unless it is listed in
    ``misbehaviour.undeclared_clusters``. Raises :class:`~pausewatch.telemetry.TelemetryError`
    for an unusable specification (duplicate cluster ids, rates outside [0, 1]).
    """
    _check(clusters, windows, window_s, start, misbehaviour)
    cat = catalogue if catalogue is not None else load_catalogue()
    rng = random.Random(seed)
    bad = misbehaviour

    runs: dict[str, str] = {}
    for spec in clusters:
        if spec.workload is Workload.TRAINING and spec.cluster_id not in bad.undeclared_clusters:
            runs[f"run-{spec.cluster_id}"] = spec.cluster_id
    chips: list[SimChip] = []
    sims: list[_ChipSim] = []
    mfu: dict[str, float] = {}
    for spec in clusters:
        model = cat.get(spec.model)
        mfu[spec.cluster_id] = rng.uniform(0.36, 0.44)
        for n in range(spec.chips):
            key = chip_private_key(seed, len(chips))
            public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            chip_id = f"{spec.cluster_id}/{_slug(model.name)}-{n:04d}"
            chip = SimChip(chip_id, model.name, spec.cluster_id, spec.operator_id, key, public)
            chips.append(chip)
            sim = _ChipSim(chip, spec, model, rng)
            if (
                spec.workload is Workload.TRAINING
                and spec.cluster_id not in bad.undeclared_clusters
            ):
                sim.run_id = f"run-{spec.cluster_id}"
            others = sorted(r for r, c in runs.items() if c != spec.cluster_id)
            sim.wrong_run_id = rng.choice(others) if others else f"run-undeclared-{spec.cluster_id}"
            sims.append(sim)

    times = [format_time(start + timedelta(seconds=window_s * w)) for w in range(windows + 1)]
    out: list[list[bytes]] = []
    line_chip_seq: list[tuple[str, int]] = []
    withheld: set[tuple[str, int]] = set()
    forged: set[int] = set()
    replayed: set[int] = set()
    wrong_run: set[int] = set()
    undeclared: set[int] = set()
    good_lines: dict[tuple[str, int], bytes] = {}
    random_ = rng.random

    for w in range(windows):
        sent: list[bytes] = []
        out.append(sent)
        window_start, window_end = times[w], times[w + 1]
        for sim in sims:
            chip, spec = sim.chip, sim.cluster
            chip_seq = (chip.chip_id, sim.seq)
            run_id = sim.run_id
            wrong = False
            if spec.workload is Workload.TRAINING:
                fig = _training(sim, rng, w, window_s, mfu[spec.cluster_id])
                if spec.cluster_id in bad.underreporting_clusters:
                    fig = fig._replace(flop=int(fig.flop * bad.counter_ratio))
                if (
                    run_id is not None and bad.wrong_run_rate and random_() < bad.wrong_run_rate
                ) or chip_seq in bad.wrong_run:
                    run_id, wrong = sim.wrong_run_id, True
            elif spec.workload is Workload.INFERENCE:
                fig = _inference(sim, rng, window_s)
            else:
                fig = _idle(sim, rng)
            power_avg = _num(fig.power_w, 1)
            power_peak = max(power_avg, _num(fig.peak_w, 1))
            sim.energy += round(power_avg * window_s)
            record: dict[str, Any] = {
                "chip_id": chip.chip_id,
                "seq": sim.seq,
                "prev": sim.prev,
                "window_start": window_start,
                "window_end": window_end,
                "energy_j": sim.energy,
                "power_w_avg": power_avg,
                "power_w_peak": power_peak,
                "tensor_active": _num(fig.tensor, 4),
                "sm_active": _num(fig.sm, 4),
                "flop": {sim.precision: str(fig.flop)},
                "nvlink_tx_bytes": fig.nvlink_tx,
                "nvlink_rx_bytes": fig.nvlink_rx,
                "net_tx_bytes": fig.net_tx,
                "net_rx_bytes": fig.net_rx,
                "mem_used_bytes": fig.memory,
                "run_id": run_id,
                "firmware_digest": sim.firmware,
            }
            # Serving chips know the weights they serve; idle ones say null; training leaves
            # the optional field out (the weights change every step).
            if spec.workload is Workload.INFERENCE:
                record["weights_digest"] = sim.weights
            elif spec.workload is Workload.IDLE:
                record["weights_digest"] = None
            line = sign_record(record, chip.private_key)
            sim.prev = hashlib.sha256(line).hexdigest()
            sim.seq += 1

            if (bad.withhold_rate and random_() < bad.withhold_rate) or chip_seq in bad.withhold:
                withheld.add(chip_seq)
                continue
            index = len(line_chip_seq)
            if (bad.forge_rate and random_() < bad.forge_rate) or chip_seq in bad.forge:
                line = _flip_signature_bit(line, rng)
                forged.add(index)
            elif wrong:
                wrong_run.add(index)
            else:
                good_lines[chip_seq] = line
                sim.delivered.append((sim.seq - 1, line))
                if spec.workload is Workload.TRAINING and run_id is None:
                    undeclared.add(index)
            sent.append(line)
            line_chip_seq.append(chip_seq)
            if bad.replay_rate and sim.delivered and random_() < bad.replay_rate:
                old_seq, old_line = rng.choice(sim.delivered)
                replayed.add(len(line_chip_seq))
                sent.append(old_line)
                line_chip_seq.append((chip.chip_id, old_seq))

    for chip_id, seq in sorted(bad.replay):
        good_line = good_lines.get((chip_id, seq))
        if good_line is None or not out:
            raise TelemetryError(f"cannot replay {chip_id} seq {seq}: no good record was sent")
        replayed.add(len(line_chip_seq))
        out[-1].append(good_line)
        line_chip_seq.append((chip_id, seq))

    truth = GroundTruth(
        line_chip_seq=tuple(line_chip_seq),
        generated=MappingProxyType({s.chip.chip_id: s.seq for s in sims}),
        withheld=frozenset(withheld),
        forged=frozenset(forged),
        replayed=frozenset(replayed),
        wrong_run=frozenset(wrong_run),
        undeclared=frozenset(undeclared),
    )
    return Fleet(
        chips=tuple(chips),
        clusters=tuple(clusters),
        runs=MappingProxyType(runs),
        windows=tuple(tuple(w) for w in out),
        truth=truth,
        start=start,
        window_s=window_s,
    )


def batches(fleet: Fleet) -> Iterator[tuple[datetime, list[bytes]]]:
    """Each window's lines with the time they are uploaded (the window's end)."""
    for w, lines in enumerate(fleet.windows):
        yield fleet.start + timedelta(seconds=fleet.window_s * (w + 1)), list(lines)
