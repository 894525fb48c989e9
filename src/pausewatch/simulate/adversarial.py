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

Deterministic: one seed fixes every key and figure.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

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
    (a mistagged chip names ``run-other`` instead). Raises
    :class:`~pausewatch.telemetry.TelemetryError` for ``chips``, ``windows`` or
    ``allreduce_every`` below 1.
    """
    if chips < 1 or windows < 1 or allreduce_every < 1:
        raise TelemetryError("adversarial_traces: chips, windows and allreduce_every must be >= 1")
    cluster = f"adv-{kind.value}"
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

    chip_model = load_catalogue().get(model)
    tdp = chip_model.tdp_w if chip_model.tdp_w is not None else FALLBACK_TDP_W
    memory = MEMORY_BYTES.get(chip_model.name, 80 * _GB)
    precision = "bf16" if "bf16" in chip_model.peak_flops else "fp16"
    peak = chip_model.peak(precision)
    firmware = hashlib.sha256(f"firmware/{chip_model.name}/1".encode()).hexdigest()
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
