"""Training that tries to pass for something else: traces for measuring a workload classifier.

The fleet simulator (:mod:`.fleet`) makes honest workloads only. This module makes training
chips whose telemetry is shaped to look like inference, signed by the same path
(:func:`pausewatch.telemetry.sign_record`, chip keys from :func:`.fleet.chip_private_key`), so a
classifier fitted on honest traces can be measured against them. Kinds
(:class:`AdversarialKind`), figures per 60 s window, scaled to the window length:

* **throttled**: training slowed to the power of serving: tensor pipes busy 15-27%, power
  35-50% of TDP with serving-like peaks; it keeps what training cannot shed: 85-95% of device
  memory held and a gradient all-reduce every few windows (shrunk with the work: 60-90 GB over
  NVLink, 8-12 GB over the network, 8-14 GB and 1-2 GB in between).
* **shaped**: training shaped like inference in every signal the record carries: tensor
  activity and power drawn as the simulator draws serving, gradient traffic spread evenly
  over the windows at serving volumes, memory 50-90%, request-like network traffic. By
  construction telemetry alone cannot tell it from inference.
* **mistagged**: honest training whose every record names another cluster's run (the
  simulator's wrong-run misbehaviour); the signals are training's own.
* **phase_mislabelled**: one synchronous data-parallel training job (the simulator's honest
  training: every chip's all-reduce burst in the same windows) whose run is *declared* a
  hyper-parameter search; the telemetry is training's own, the lie is in the declaration
  (docs/adr/0036). :func:`search_traces` makes the honest search it claims to be.

Deterministic: one seed fixes every key and figure.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from pausewatch.compute import load_catalogue
from pausewatch.simulate.fleet import (
    DEFAULT_START,
    FALLBACK_TDP_W,
    MEMORY_BYTES,
    ClusterSpec,
    Misbehaviour,
    Workload,
    chip_private_key,
    simulate_fleet,
)
from pausewatch.telemetry import TelemetryError, format_time, sign_record

_GB = 10**9


class AdversarialKind(StrEnum):
    """How training disguises itself (see module doc)."""

    THROTTLED = "throttled"
    SHAPED = "shaped"
    MISTAGGED = "mistagged"
    PHASE_MISLABELLED = "phase_mislabelled"


class _ModelFigures(NamedTuple):
    """The figures of a chip model that its simulated traces read."""

    tdp_w: float
    memory: int
    precision: str
    """The precision its traces count in."""
    peak: float
    """Its dense peak in that precision (FLOP/s)."""
    firmware: str
    """The digest of the firmware its traces name."""


def _model_figures(model: str) -> _ModelFigures:
    """The :class:`_ModelFigures` of catalogue model ``model``."""
    chip_model = load_catalogue().get(model)
    precision = "bf16" if "bf16" in chip_model.peak_flops else "fp16"
    return _ModelFigures(
        chip_model.tdp_w if chip_model.tdp_w is not None else FALLBACK_TDP_W,
        MEMORY_BYTES.get(chip_model.name, 80 * _GB),
        precision,
        chip_model.peak(precision),
        hashlib.sha256(f"firmware/{chip_model.name}/1".encode()).hexdigest(),
    )


def _num(value: float, digits: int) -> float | int:
    rounded = round(value, digits)
    return int(rounded) if rounded.is_integer() else rounded


def adversarial_traces(
    kind: AdversarialKind,
    *,
    chips: int,
    windows: int,
    seed: int = 0,
    model: str = "H100 SXM",
    window_s: int = 60,
    start: datetime = DEFAULT_START,
    allreduce_every: int = 5,
) -> dict[str, list[bytes]]:
    """Signed lines of ``chips`` training chips disguised as ``kind``, per chip id, in seq order.

    Chips are ``adv-<kind>/<n>``, of cluster ``adv-<kind>``, and name run ``run-adv-<kind>``
    (a mistagged chip names ``run-other`` instead; mistagged and phase-mislabelled chips are
    the fleet simulator's, ``adv-<kind>/<model>-<n>``). Raises
    :class:`~pausewatch.telemetry.TelemetryError` for ``chips``, ``windows`` or
    ``allreduce_every`` below 1.
    """
    if chips < 1 or windows < 1 or allreduce_every < 1:
        raise TelemetryError("adversarial_traces: chips, windows and allreduce_every must be >= 1")
    cluster = f"adv-{kind.value}"
    if kind is AdversarialKind.PHASE_MISLABELLED:
        job = simulate_fleet(
            (
                ClusterSpec(
                    cluster,
                    "operator-1",
                    model,
                    chips,
                    Workload.TRAINING,
                    allreduce_every=allreduce_every,
                ),
            ),
            windows=windows,
            seed=seed,
            window_s=window_s,
            start=start,
        )
        by_chip: dict[str, list[bytes]] = {}
        for (chip_id, _), line in zip(job.truth.line_chip_seq, job.lines, strict=True):
            by_chip.setdefault(chip_id, []).append(line)
        return by_chip
    if kind is AdversarialKind.MISTAGGED:
        fleet = simulate_fleet(
            (
                ClusterSpec(
                    cluster,
                    "operator-1",
                    model,
                    chips,
                    Workload.TRAINING,
                    allreduce_every=allreduce_every,
                ),
                ClusterSpec("other", "operator-1", model, 0, Workload.TRAINING),
            ),
            windows=windows,
            seed=seed,
            window_s=window_s,
            start=start,
            misbehaviour=Misbehaviour(wrong_run_rate=1.0),
        )
        out: dict[str, list[bytes]] = {}
        for (chip_id, _), line in zip(fleet.truth.line_chip_seq, fleet.lines, strict=True):
            out.setdefault(chip_id, []).append(line)
        return out

    tdp, memory, precision, peak, firmware = _model_figures(model)
    rng = random.Random(f"pausewatch/adversarial/{kind.value}/{seed}")
    uniform = rng.uniform
    scale = _GB * window_s / 60
    out = {}
    for n in range(chips):
        key = chip_private_key(seed, n)
        chip_id = f"{cluster}/{n:04d}"
        energy = rng.randrange(10**9, 5 * 10**10)
        prev: str | None = None
        lines: list[bytes] = []
        for w in range(windows):
            if kind is AdversarialKind.THROTTLED:
                tensor = uniform(0.15, 0.27)
                power = tdp * uniform(0.35, 0.50)
                peak_w = min(tdp * 1.05, power * uniform(1.2, 1.6))
                burst = w % allreduce_every == allreduce_every - 1
                nvlink = int((uniform(60, 90) if burst else uniform(8, 14)) * scale)
                net_tx = net_rx = int((uniform(8, 12) if burst else uniform(1, 2)) * scale)
                used = int(memory * uniform(0.85, 0.95))
            else:
                tensor = uniform(0.02, 0.12)
                if rng.random() < 0.35:
                    tensor += uniform(0.05, 0.15)
                power = tdp * (0.25 + 0.9 * tensor + uniform(-0.01, 0.01))
                peak_w = min(tdp * 1.05, power * uniform(1.2, 1.6))
                nvlink = int(uniform(0.01, 0.5) * scale)
                net_rx = int(uniform(0.1, 1.0) * scale)
                net_tx = int(net_rx * uniform(2.0, 3.0))
                used = int(memory * uniform(0.5, 0.9))
            power_avg = _num(power, 1)
            energy += round(power_avg * window_s)
            record: dict[str, Any] = {
                "chip_id": chip_id,
                "seq": w,
                "prev": prev,
                "window_start": format_time(start + timedelta(seconds=window_s * w)),
                "window_end": format_time(start + timedelta(seconds=window_s * (w + 1))),
                "energy_j": energy,
                "power_w_avg": power_avg,
                "power_w_peak": max(power_avg, _num(peak_w, 1)),
                "tensor_active": _num(tensor, 4),
                "sm_active": _num(min(1.0, tensor + uniform(0.15, 0.35)), 4),
                "flop": {precision: str(int(peak * window_s * tensor * uniform(0.45, 0.6)))},
                "nvlink_tx_bytes": nvlink,
                "nvlink_rx_bytes": int(nvlink * uniform(0.98, 1.02)),
                "net_tx_bytes": net_tx,
                "net_rx_bytes": net_rx,
                "mem_used_bytes": used,
                "run_id": f"run-{cluster}",
                "firmware_digest": firmware,
            }
            line = sign_record(record, key)
            prev = hashlib.sha256(line).hexdigest()
            lines.append(line)
        out[chip_id] = lines
    return out


SEARCH_NODE_CHIPS = 8
"""Chips per node in :func:`search_traces`: a trial of up to this many chips stays on one node
and talks over NVLink only."""
SEARCH_TRIAL_CHIPS: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (4, 2), (8, 2), (16, 1))
"""Trial sizes of an honest search and their weights: 1 to 8 chips on one node, or 16 chips
over two nodes (the only trials whose gradients cross the network)."""


def _search_slots(chips: int, rng: random.Random) -> list[list[int]]:
    """The run's chips cut into trial slots: each node's chips into trials of one size, or two
    nodes into one two-node slot."""
    sizes = [size for size, _ in SEARCH_TRIAL_CHIPS]
    weights = [weight for _, weight in SEARCH_TRIAL_CHIPS]
    slots: list[list[int]] = []
    node = 0
    while node * SEARCH_NODE_CHIPS < chips:
        first = node * SEARCH_NODE_CHIPS
        size = rng.choices(sizes, weights)[0]
        if size > SEARCH_NODE_CHIPS and first + size > chips:
            size = SEARCH_NODE_CHIPS
        last = min(chips, first + max(size, SEARCH_NODE_CHIPS))
        members = list(range(first, last))
        slots += [members[i : i + size] for i in range(0, len(members), size)]
        node += max(1, size // SEARCH_NODE_CHIPS)
    return slots


def _search_schedule(windows: int, rng: random.Random) -> list[tuple[int, int, float] | None]:
    """One slot's windows: a trial's (start, all-reduce interval, utilisation) or ``None`` in
    the gaps between trials. Each slot starts, stops and keeps its rhythm on its own."""
    out: list[tuple[int, int, float] | None] = [None] * rng.randint(0, 5)
    while len(out) < windows:
        start, every, util = len(out), rng.randint(2, 8), rng.uniform(0.3, 0.45)
        out += [(start, every, util)] * rng.randint(6, 40)
        out += [None] * rng.randint(0, 3)
    return out[:windows]


def search_traces(
    *,
    chips: int,
    windows: int,
    seed: int = 0,
    model: str = "H100 SXM",
    window_s: int = 60,
    start: datetime = DEFAULT_START,
) -> dict[str, list[bytes]]:
    """Signed lines of an honest hyper-parameter search on ``chips`` chips, per chip id, in seq
    order: what a phase-mislabelled job claims to be (docs/adr/0036).

    The chips are cut into independent trial slots (:data:`SEARCH_TRIAL_CHIPS`); each slot runs
    trial after trial, each with its own length (6-40 windows), all-reduce interval (2-8
    windows), phase and utilisation, with gaps of up to 3 windows (evaluation, loading the next
    configuration) between them. A trial works as training does (tensor pipes 50-80% busy,
    power 65-85% of TDP, 85-95% of memory); its all-reduce moves 300-450 GB over NVLink on a
    burst and 40-70 GB between, and only a two-node trial's also crosses the network (40-60 GB
    and 5-10 GB); the other trials read their data over it, 0.5-2 GB a window, with no rhythm.
    Chips are ``search/<n>``, of cluster ``search``, and name run ``run-search``; keys are
    :func:`.fleet.chip_private_key` of ``seed``. Raises
    :class:`~pausewatch.telemetry.TelemetryError` for ``chips`` or ``windows`` below 1.
    """
    if chips < 1 or windows < 1:
        raise TelemetryError("search_traces: chips and windows must be >= 1")
    tdp, memory, precision, peak, firmware = _model_figures(model)
    rng = random.Random(f"pausewatch/search/{seed}")
    uniform = rng.uniform
    scale = _GB * window_s / 60
    slot_of: dict[int, tuple[int, list[tuple[int, int, float] | None]]] = {}
    for members in _search_slots(chips, rng):
        schedule = _search_schedule(windows, rng)
        for n in members:
            slot_of[n] = (len(members), schedule)
    out: dict[str, list[bytes]] = {}
    for n in range(chips):
        key = chip_private_key(seed, n)
        chip_id = f"search/{n:04d}"
        size, schedule = slot_of[n]
        energy = rng.randrange(10**9, 5 * 10**10)
        prev: str | None = None
        lines: list[bytes] = []
        for w in range(windows):
            trial = schedule[w]
            if trial is None:
                tensor = uniform(0.0, 0.05)
                power = tdp * uniform(0.15, 0.30)
                nvlink = int(uniform(0.0, 0.5) * scale)
                net_rx = int(uniform(0.1, 1.0) * scale)
                net_tx = int(uniform(0.01, 0.1) * scale)
                used = int(memory * uniform(0.0, 0.3))
                util = 0.0
            else:
                first, every, mean_util = trial
                burst = (w - first) % every == every - 1
                util = min(0.45, max(0.3, mean_util + uniform(-0.01, 0.01)))
                tensor = min(0.8, max(0.5, util * uniform(1.65, 1.75)))
                power = tdp * min(0.85, max(0.65, 0.70 + 1.5 * (util - 0.35)))
                if size == 1:
                    nvlink = int(uniform(0.01, 0.5) * scale)
                else:
                    nvlink = int((uniform(300, 450) if burst else uniform(40, 70)) * scale)
                if size > SEARCH_NODE_CHIPS:
                    net_tx = int((uniform(40, 60) if burst else uniform(5, 10)) * scale)
                    net_rx = int(net_tx * uniform(0.97, 1.03))
                else:
                    net_rx = int(uniform(0.5, 2.0) * scale)
                    net_tx = int(net_rx * uniform(0.02, 0.1))
                used = int(memory * uniform(0.85, 0.95))
            power_avg = _num(power * (1 + uniform(-0.01, 0.01)), 1)
            energy += round(power_avg * window_s)
            record: dict[str, Any] = {
                "chip_id": chip_id,
                "seq": w,
                "prev": prev,
                "window_start": format_time(start + timedelta(seconds=window_s * w)),
                "window_end": format_time(start + timedelta(seconds=window_s * (w + 1))),
                "energy_j": energy,
                "power_w_avg": power_avg,
                "power_w_peak": max(power_avg, _num(power_avg * uniform(1.04, 1.15), 1)),
                "tensor_active": _num(tensor, 4),
                "sm_active": _num(min(1.0, tensor + uniform(0.08, 0.16)), 4),
                "flop": {precision: str(int(peak * window_s * util))},
                "nvlink_tx_bytes": nvlink,
                "nvlink_rx_bytes": int(nvlink * uniform(0.98, 1.02)),
                "net_tx_bytes": net_tx,
                "net_rx_bytes": net_rx,
                "mem_used_bytes": used,
                "run_id": "run-search",
                "firmware_digest": firmware,
            }
            line = sign_record(record, key)
            prev = hashlib.sha256(line).hexdigest()
            lines.append(line)
        out[chip_id] = lines
    return out
