"""Accounting: the registry and telemetry views as the facts a policy evaluates.

:func:`facts_from_registry` is pure: the same views, time and policy give the same facts. It
maps each declared run to a :class:`~pausewatch.policy.RunFact` (its plan as the declared
figure, the FLOP its chips reported per precision as the measured figure, counted later under
the policy's rule), each cluster to a :class:`~pausewatch.policy.ClusterFact` (its size from
the catalogue models of its installed chips, monitored when all of them report, its undeclared
compute and its dark chips), takes the pause from the governance decisions on the log, and
fills the state figures lift conditions test: every figure a shipped preset names, among them
the witnesses counting at ``at`` (:func:`pausewatch.governance._witnesses.witnesses_at`) and
the critical findings still open (:mod:`pausewatch.state._resolution`), both from the log
alone (docs/adr/0012), and the capability domains the adopted suites' results rule out
(``eval_domains_ruled_out``, docs/adr/0021). The facts carry the suites as they stand in the
views, and each result's probe, task version and elicitation, from which the policy decides
whether a result counts.

A run whose chips reported compute under its id is running from its first window, whether or
not its operator filed a start notice; its rate is its mean measured pace, which the evaluation
projects to its next threshold.

A chip is **dark** at ``at`` when it is installed and its last accepted window ended (or, if it
never reported, its installation was logged) more than the policy's
``clusters.telemetry.max_silence_minutes`` before ``at``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from pausewatch.compute import (
    CountingRule,
    count_flop,
    counter_interval,
    load_catalogue,
    parse_precision,
)
from pausewatch.detect import (
    ALPHA_PER_CLUSTER_YEAR,
    ALPHA_PER_TEST,
    CHECKED_PHASES,
    MIN_CHIPS,
    SYNC_CORRELATION,
    SYNC_SHARE,
    BalanceAlarm,
    ClusterVerdict,
    DeclaredWorkload,
    Level,
    RollupAlarm,
    RunPattern,
    chip_accounts,
    classify_cluster,
    classify_signals,
    counter_alarms,
    dark_draw,
    day_period,
    facility_balances,
    rollup_balances,
    run_pattern,
)
from pausewatch.detect._training import SUSTAINED_WINDOWS
from pausewatch.errors import Error
from pausewatch.evals._judge import elicitation_fact, eval_facts, trigger_metrics
from pausewatch.governance._fold import pause_of
from pausewatch.governance._witnesses import witnesses_at
from pausewatch.ledger import format_time
from pausewatch.policy import Evaluation, Facts, Policy, check_conditions, evaluate
from pausewatch.policy._evaluator._capabilities import ruled_out
from pausewatch.policy._facts import (
    BalanceAlarmFact,
    ChipAccountFact,
    ChipExportFact,
    ClassifiedClusterFact,
    ClusterFact,
    CounterAlarmFact,
    EvalFact,
    EvaluatedWeightsFact,
    InspectionFact,
    OperatorFact,
    OrderFact,
    RunFact,
    RunPatternFact,
    SuiteFact,
    TranscriptFact,
    TranscriptVerdictFact,
)
from pausewatch.policy._model import Fact, Model
from pausewatch.registry import Registry, Row
from pausewatch.state._resolution import open_critical
from pausewatch.telemetry import SIGNALS_TEXT, Signal, TelemetryRecord, signal_values

ORDER_GRACE = timedelta(hours=1)
"""Reported windows may end this long after a halt order's deadline (the longest window)."""
DEFAULT_SILENCE = timedelta(hours=1)
"""Silence after which an installed chip counts as dark when no policy sets a limit."""

_STATUS = {
    "declared": "planned",
    "running": "running",
    "finished": "finished",
    "halted": "halted",
    "abandoned": "finished",
}


def _flop(text: str) -> dict[str, float]:
    counts: dict[str, str] = json.loads(text)
    return {p: float(int(v)) for p, v in counts.items() if int(v) > 0}


def _time(text: str | None) -> datetime | None:
    return None if text is None else _parsed_time(text)


@functools.lru_cache(maxsize=8192)
def _parsed_time(text: str) -> datetime:
    """A view's time, parsed once: every chip reporting in one window has the same window end,
    and every read of the facts parses each chip's (datetimes are immutable)."""
    return datetime.fromisoformat(text)


def _cluster_capacity(registry: Registry) -> ClusterCapacity:
    """Per cluster: its installed chips' H100-equivalents, peak FLOP/s and count, from the
    ``chips`` view alone (kept by the registry until a chip row changes: docs/adr/0056)."""
    catalogue = load_catalogue()
    h100e: dict[str, float] = {}
    peak: dict[str, float] = {}
    installed: dict[str, int] = {}
    for _, chip in registry.views["chips"].items():
        cluster = chip["cluster_id"]
        if chip["status"] != "installed" or cluster is None:
            continue
        model = catalogue.get(chip["model"])
        h100e[cluster] = h100e.get(cluster, 0.0) + model.h100e
        peak[cluster] = peak.get(cluster, 0.0) + model.best_peak
        installed[cluster] = installed.get(cluster, 0) + 1
    return ClusterCapacity(
        MappingProxyType(h100e), MappingProxyType(peak), MappingProxyType(installed)
    )


@dataclass(frozen=True)
class ClusterCapacity:
    """What :func:`_cluster_capacity` counts, read only."""

    h100e: Mapping[str, float]
    peak: Mapping[str, float]
    installed: Mapping[str, int]


def silence_limit(policy: Policy | None) -> timedelta:
    """The policy's telemetry silence limit, or :data:`DEFAULT_SILENCE`."""
    if policy is not None and policy.clusters.telemetry is not None:
        return timedelta(minutes=policy.clusters.telemetry.max_silence_minutes)
    return DEFAULT_SILENCE


def dark_chips(registry: Registry, at: datetime, limit: timedelta) -> dict[str, list[str]]:
    """Installed chips silent for more than ``limit`` at ``at``, per cluster (ids sorted)."""
    dark: dict[str, list[str]] = {}
    for (chip_id,), chip in sorted(registry.views["chips"].items()):
        if chip["status"] != "installed" or chip["cluster_id"] is None:
            continue
        chain = registry.views["tel_chains"].get((chip_id,))
        installed = _time(chip.get("updated_at"))
        last = _time(chain["window_end"]) if chain is not None else installed
        # A chip installed (or moved) after its last record is judged from its installation.
        if installed is not None and last is not None and installed > last:
            last = installed
        if last is not None and at - last > limit:
            dark.setdefault(chip["cluster_id"], []).append(chip_id)
    return dark


DARK_LOOKBACK = timedelta(days=7)
"""How far back the meter is read to tell going dark from an outage."""


def _silent_since(registry: Registry, chips: list[str], at: datetime) -> datetime:
    """When the earliest of ``chips`` fell silent (its last window's end, or its installation),
    at most :data:`DARK_LOOKBACK` before ``at``."""
    since = at
    for chip_id in chips:
        chain = registry.views["tel_chains"].get((chip_id,))
        row = registry.views["chips"].get((chip_id,))
        last = _time(chain["window_end"]) if chain is not None else None
        installed = _time(row.get("updated_at")) if row is not None else None
        when = max((t for t in (last, installed) if t is not None), default=None)
        if when is not None and when < since:
            since = when
    return max(since, at - DARK_LOOKBACK)


Records = Mapping[str, Iterable[TelemetryRecord]]
"""Accepted telemetry records by cluster id, for the workload classifier (ADR 0032)."""


def facts_from_registry(
    registry: Registry, at: datetime, policy: Policy | None, *, records: Records | None = None
) -> Facts:
    """The facts the views hold at ``at`` (see the module docstring); given ``records``, also
    the workload classifier's verdicts on them (:func:`classified_clusters`)."""
    if policy is None or policy.pause is None:
        # No lift conditions to test: spare the evaluation.
        return _facts(registry, at, policy, records)
    return evaluated(registry, at, policy, records=records)[0]


def evaluated(
    registry: Registry,
    at: datetime,
    policy: Policy,
    *,
    digest: str | None = None,
    records: Records | None = None,
) -> tuple[Facts, Evaluation]:
    """The facts the views hold at ``at`` and ``policy`` evaluated over them, with one
    evaluation: its findings do not depend on the state figures, so the open critical findings
    and the domains ruled out are counted from them and only the lift conditions are checked
    again on the full state.
    The result equals ``evaluate(policy, facts, at)`` byte for byte. ``records``: as for
    :func:`facts_from_registry`."""
    if digest is None and policy is registry.policy_at(at):
        # The policy in force: its adoption names its digest (encoding the policy again costs
        # half an evaluation; docs/adr/0054).
        digest = registry.policy_digest_at(at)
    facts = _facts(registry, at, policy, records)
    # Open critical findings come from evaluating the policy over these facts, which do not
    # hold the figure yet: the evaluation reads no state figure but for lift conditions.
    evaluation = evaluate(policy, facts, at, digest=digest)
    if policy.pause is None:
        return facts, evaluation
    still_open = open_critical(registry, facts, at, evaluation.findings)
    cleared = ruled_out(policy, facts, evaluation.findings, evaluation.obligations)
    state = {
        **facts.state,
        Fact.OPEN_CRITICAL_FINDINGS: float(len(still_open)),
        Fact.EVAL_DOMAINS_RULED_OUT: float(len(cleared)),
    }
    facts = facts.model_copy(update={"state": state})
    lift = check_conditions(policy.pause.lift.conditions, dict(state))
    return facts, replace(evaluation, lift_conditions=lift)


def _facts(
    registry: Registry, at: datetime, policy: Policy | None, records: Records | None = None
) -> Facts:
    """The facts but for the open critical findings and the domains ruled out."""
    views = registry.views
    rule = policy.counting.rule if policy is not None else None
    reviews = _reviews(registry, at)
    runs = [
        _run_fact(row, views["tel_runs"].get((row["run_id"],)), rule, at, reviews)
        for _, row in sorted(views["runs"].items())
    ]
    _run_places(runs, registry)
    capacity = registry.derived("cluster_capacity", _cluster_capacity, rows_of=("chips",))
    h100e, peak, installed = capacity.h100e, capacity.peak, capacity.installed
    dark = dark_chips(registry, at, silence_limit(policy))
    undeclared: dict[str, tuple[float, int]] = {}
    for (cluster_id,), row in views["tel_clusters"].items():
        counted = _count(_flop(row["undeclared_flop"]), rule)
        undeclared[cluster_id] = (counted, int(row["undeclared_windows"]))
    clusters = []
    for (cluster_id,), row in sorted(views["clusters"].items()):
        undeclared_flop, windows = undeclared.get(cluster_id, (0.0, 0))
        size = h100e.get(cluster_id, 0.0)
        draw = (
            dark_draw(
                registry,
                cluster_id,
                dark[cluster_id],
                _silent_since(registry, dark[cluster_id], at),
                at,
            )
            if cluster_id in dark
            else None
        )
        meter: dict[str, Any] = (
            {}
            if draw is None
            else {
                "dark_power_w": draw.power_w,
                "dark_tdp_w": draw.dark_tdp_w,
                "going_dark": draw.going_dark,
            }
        )
        clusters.append(
            {
                **meter,
                "id": cluster_id,
                "operator": row["operator_id"],
                "facility": row["facility_id"],
                "h100e": size,
                "peak_flops_per_s": peak.get(cluster_id, 0.0),
                "network_gbps": row["network_gbps"],
                # Monitored: chips are installed and none of them is dark.
                "monitored": installed.get(cluster_id, 0) > 0 and cluster_id not in dark,
                "commissioned_at": row["commissioned_at"],
                # Registration on the log is the cluster's report.
                "reported_at": row["registered_at"],
                "undeclared_flop": undeclared_flop,
                "undeclared_windows": windows,
                "dark_chips": dark.get(cluster_id, []),
                "evidence": [f"log:{row['registered_idx']}"],
            }
        )
    operators = [
        {"id": row["operator_id"], "annual_revenue_usd": row["annual_revenue_usd"]}
        for _, row in sorted(views["operators"].items())
    ]
    total = sum(h100e.values())
    covered = sum(size for c, size in h100e.items() if c not in dark)
    state: dict[Fact, float] = {
        Fact.PARTIES: float(len(views["parties"])),
        Fact.DARK_CHIPS: float(sum(len(ids) for ids in dark.values())),
        Fact.UNDECLARED_COMPUTE_FLOP: sum(f for f, _ in undeclared.values()),
        Fact.MONITORING_COVERAGE: covered / total if total else 0.0,
        Fact.EVAL_DOMAINS_ADOPTED: float(
            sum(1 for row in views["eval_suites"].values() if json.loads(row["probes"]))
        ),
    }
    state[Fact.WITNESSES] = float(len(witnesses_at(registry, at)))
    pause = pause_of(registry, at)
    orders = _orders(registry, at, silence_limit(policy))
    return readable_facts(
        {
            "runs": runs,
            "clusters": clusters,
            "operators": operators,
            "pause": {
                "active": pause.status.in_force,
                "started_at": format_time(pause.started_at) if pause.started_at else None,
                "expires_at": format_time(pause.expires_at) if pause.expires_at else None,
            },
            "orders": orders,
            "evaluations": _evaluations(registry, policy),
            "suites": _suites(registry),
            # From the records a caller holds (a test, a scenario's evaluation), else from the
            # window signals the fold keeps (docs/adr/0032).
            "classified_clusters": classified_clusters(registry, records),
            "run_patterns": run_patterns(registry, records),
            **chip_facts(registry),
            **balance_facts(registry, at),
            **counter_facts(registry, at),
            **transcript_facts(registry),
            "state": {k.value: v for k, v in state.items()},
            "unreadable": [
                {"entry": f"log:{row['idx']}", "kind": row["kind"], "reason": row["reason"]}
                for _, row in sorted(views["unreadable"].items())
            ],
        }
    )


def declared_workloads(registry: Registry) -> list[DeclaredWorkload]:
    """The workloads declared on the log (``det_workloads``), in id order."""
    return [
        DeclaredWorkload(
            workload_id=row["workload_id"],
            cluster_id=row["cluster_id"],
            kind=row["kind"],
            starts_at=datetime.fromisoformat(row["starts_at"]),
            ends_at=datetime.fromisoformat(row["ends_at"]),
        )
        for _, row in sorted(registry.views["workloads"].items())
    ]


def classified_clusters(
    registry: Registry, records: Mapping[str, Iterable[TelemetryRecord]] | None = None
) -> list[dict[str, Any]]:
    """The workload classifier's verdict on each registered cluster's windows that claim no
    training, as the ``classified_clusters`` facts (docs/adr/0032). ``records``: the accepted
    records of its chips, by cluster id; without them, the window signals the fold keeps
    (``tel_signals``: the latest windows of a sample of each cluster's chips), with each
    cluster's verdict cached by those signals. The detector is fitted on simulated traces
    only (:func:`pausewatch.detect.fitted_classifier`), never on these records. A cluster with
    no such windows gives none."""
    workloads = declared_workloads(registry)
    idx = {row["workload_id"]: row["idx"] for row in registry.views["workloads"].values()}
    verdicts: list[ClusterVerdict] = []
    if records is not None:
        for cluster_id in sorted(records):
            if registry.views["clusters"].get((cluster_id,)) is not None:
                verdicts.append(classify_cluster(cluster_id, records[cluster_id], workloads))
    else:
        for (cluster_id,), signals in sorted(registry.views["tel_signals"].items()):
            if registry.views["clusters"].get((cluster_id,)) is not None:
                verdict = _signal_verdict(cluster_id, signals["signals"], workloads)
                if verdict is not None:
                    verdicts.append(verdict)
    out: list[dict[str, Any]] = []
    for verdict in verdicts:
        if verdict.traces == 0:
            continue
        row = registry.views["clusters"][(verdict.cluster_id,)]
        evidence = [f"log:{row['registered_idx']}"]
        evidence += [f"log:{idx[w]}" for w in verdict.workloads]
        out.append(
            {
                "id": verdict.cluster_id,
                "operator": row["operator_id"],
                "facility": row["facility_id"],
                "traces": verdict.traces,
                "windows": verdict.windows,
                "training_traces": verdict.training_traces,
                "recall": verdict.recall,
                "false_positive_rate": verdict.false_positive_rate,
                "first_window": format_time(verdict.first_window) if verdict.first_window else None,
                "last_window": format_time(verdict.last_window) if verdict.last_window else None,
                "workloads": list(verdict.workloads),
                "evidence": evidence,
            }
        )
    return out


def run_patterns(
    registry: Registry, records: Mapping[str, Iterable[TelemetryRecord]] | None = None
) -> list[dict[str, Any]]:
    """The pattern of each declared run whose phase the detector checks (a hyper-parameter
    search), as the ``run_patterns`` facts (docs/adr/0036), from the windows that name it:
    ``records`` by cluster id when given, else the window signals the fold keeps
    (``tel_signals``), whichever cluster they come from. A run with fewer than
    :data:`~pausewatch.detect._phase.MIN_CHIPS` sampled chips gives none."""
    checked = [
        row
        for _, row in sorted(registry.views["runs"].items())
        if row["phase"] in {p.value for p in CHECKED_PHASES}
    ]
    if not checked:
        return []
    if records is not None:
        windows = [r for cluster in sorted(records) for r in records[cluster]]
    else:
        windows = [
            r
            for _, row in sorted(registry.views["tel_signals"].items())
            for r in _signal_windows(row["signals"])
        ]
    by_run: dict[str, list[TelemetryRecord]] = {}
    for r in windows:
        if r.run_id is not None:
            by_run.setdefault(r.run_id, []).append(r)
    out: list[dict[str, Any]] = []
    for row in checked:
        pattern: RunPattern = run_pattern(
            row["run_id"], row["phase"], by_run.get(row["run_id"], [])
        )
        if pattern.chips < MIN_CHIPS:
            continue
        out.append(
            {
                "id": row["run_id"],
                "operator": row["operator_id"],
                "cluster": row["cluster_id"],
                "phase": row["phase"],
                "chips": pattern.chips,
                "windows": pattern.windows,
                "pairs": pattern.pairs,
                "synchronous_pairs": pattern.synchronous_pairs,
                "correlation": SYNC_CORRELATION,
                "share_limit": SYNC_SHARE,
                "one_job": pattern.mismatch,
                "first_window": format_time(pattern.first_window) if pattern.first_window else None,
                "last_window": format_time(pattern.last_window) if pattern.last_window else None,
                "evidence": [f"log:{row['declared_idx']}"],
            }
        )
    return out


_WINDOWS: dict[str, tuple[TelemetryRecord, ...]] = {}
"""A cluster's ``tel_signals`` as records, by SHA-256 of the row's text: they change only when
a batch of the cluster's is folded (a few clusters' worth: only declared searches read them)."""
_WINDOWS_KEPT = 64


def _signal_windows(signals: str) -> tuple[TelemetryRecord, ...]:
    key = hashlib.sha256(signals.encode()).hexdigest()
    kept = _WINDOWS.get(key)
    if kept is None:
        kept = tuple(signal_records(SIGNALS_TEXT.read(signals)))
        with _VERDICTS_LOCK:  # readers look on several threads at once
            while len(_WINDOWS) >= _WINDOWS_KEPT:
                _WINDOWS.pop(next(iter(_WINDOWS)))
            _WINDOWS[key] = kept
    return kept


_VERDICTS: dict[tuple[str, str, tuple[DeclaredWorkload, ...]], ClusterVerdict] = {}
"""Verdicts on the fold's window signals, by cluster, digest of its signals and the workloads
declared on it: a forest's prediction costs some 19 ms a cluster, and the signals change only
when a batch of the cluster's is folded (docs/adr/0032)."""
_VERDICTS_KEPT = 1024
_LAST_VERDICT: dict[str, tuple[str, tuple[DeclaredWorkload, ...], ClusterVerdict | None]] = {}
"""Per cluster, the ``tel_signals`` text object the last verdict read, and the verdict."""
_VERDICTS_LOCK = threading.Lock()


def _signal_verdict(
    cluster_id: str, signals: str, workloads: list[DeclaredWorkload]
) -> ClusterVerdict | None:
    """The verdict on one cluster's ``tel_signals`` (none when no chip has a trace's worth of
    windows: the classifier, fitted once per process in seconds, is then not needed)."""
    mine = tuple(w for w in workloads if w.cluster_id == cluster_id)
    last = _LAST_VERDICT.get(cluster_id)
    if last is not None and last[0] is signals and last[1] == mine:
        # The very text the last look read (the row is unchanged): no need to hash 100 kB.
        return last[2]
    key = (cluster_id, hashlib.sha256(signals.encode()).hexdigest(), mine)
    verdict = _VERDICTS.get(key)
    if verdict is None:
        kept = SIGNALS_TEXT.read(signals)
        if max((len(ws) for ws in kept.values()), default=0) >= SUSTAINED_WINDOWS:
            verdict = classify_signals(cluster_id, kept, mine)
    with _VERDICTS_LOCK:  # readers look on several threads at once
        if verdict is not None:
            while len(_VERDICTS) >= _VERDICTS_KEPT:
                _VERDICTS.pop(next(iter(_VERDICTS)))
            _VERDICTS[key] = verdict
        _LAST_VERDICT.pop(cluster_id, None)
        while len(_LAST_VERDICT) >= _VERDICTS_KEPT:
            _LAST_VERDICT.pop(next(iter(_LAST_VERDICT)))
        _LAST_VERDICT[cluster_id] = (signals, mine, verdict)
    return verdict


def signal_records(signals: Mapping[str, tuple[Signal, ...]]) -> list[TelemetryRecord]:
    """The fold's window signals of one cluster as records the classifier reads: what the
    signals do not keep (counters, FLOP, digests, chain) is left empty, as the classifier does
    not read it."""
    return [_signal_record(chip, w) for chip in sorted(signals) for w in signals[chip]]


_NO_FLOP: Mapping[str, int] = MappingProxyType({})


@functools.lru_cache(maxsize=1 << 14)
def _signal_record(chip: str, window: Signal) -> TelemetryRecord:
    """One window's signals as a record. Kept by its text: a batch of a cluster's adds a window
    to its sampled chips and the other 59 of each chip's are the ones the last look read (the
    run patterns read them; the verdicts read the windows as arrays, :func:`classify_signals`),
    and parsing their times is most of the cost."""
    w = signal_values(window)
    return TelemetryRecord(
        chip_id=chip,
        seq=int(w[0]),
        prev=None,
        window_start=datetime.fromisoformat(w[1]),
        window_end=datetime.fromisoformat(w[2]),
        energy_j=0,
        power_w_avg=float(w[6]),
        power_w_peak=float(w[7]),
        tensor_active=float(w[4]),
        sm_active=float(w[5]),
        flop=_NO_FLOP,
        nvlink_tx_bytes=int(w[9]),
        nvlink_rx_bytes=0,
        net_tx_bytes=int(w[10]),
        net_rx_bytes=int(w[11]),
        mem_used_bytes=int(w[8]),
        run_id=w[3],
        weights_digest=None,
        firmware_digest="",
    )


_ITEMS: tuple[tuple[str, type[Model]], ...] = (
    ("runs", RunFact),
    ("clusters", ClusterFact),
    ("operators", OperatorFact),
    ("evaluations", EvalFact),
    ("orders", OrderFact),
    ("suites", SuiteFact),
    ("chip_accounts", ChipAccountFact),
    ("chip_exports", ChipExportFact),
    ("inspections", InspectionFact),
    ("classified_clusters", ClassifiedClusterFact),
    ("balance_alarms", BalanceAlarmFact),
    ("run_patterns", RunPatternFact),
    ("counter_alarms", CounterAlarmFact),
    ("transcripts", TranscriptFact),
    ("transcript_verdicts", TranscriptVerdictFact),
    ("evaluated_weights", EvaluatedWeightsFact),
)
"""The lists of facts an item of which can be set aside, in the order they are checked."""


def readable_facts(document: dict[str, Any]) -> Facts:
    """``document`` as :class:`Facts`; an item the policy cannot read is set aside rather than
    allowed to fail the whole evaluation (defence in depth, ADR 0017).

    The field types make what the fold accepts readable here, so the first validation is the
    one that normally returns. Should it fail, each item is checked alone, then the items that
    pass alone are taken in log order for as long as the whole still validates (rules across
    items: unique ids, one base model per model). Every item set aside becomes an
    ``unreadable`` fact naming its entry and the reason, hence an ``entry_unreadable`` finding.
    """
    try:
        return Facts.model_validate(document)
    except ValidationError:
        pass
    unreadable = list(document.get("unreadable", []))
    base: dict[str, Any] = {**document, **{name: [] for name, _ in _ITEMS}}
    for name, model in _ITEMS:
        kept: list[dict[str, Any]] = []
        for item in document.get(name, []):
            try:
                model.model_validate(item)
                Facts.model_validate({**base, name: [*kept, item], "unreadable": []})
            except ValidationError as exc:
                unreadable.append(_unreadable(name, item, exc))
            else:
                kept.append(item)
        base[name] = kept
    try:
        return Facts.model_validate({**base, "unreadable": unreadable})
    except ValidationError:
        # What is left is the pause or the state figures, which the fold computes itself.
        return Facts.model_validate({"unreadable": unreadable})


def chip_facts(registry: Registry) -> dict[str, list[dict[str, Any]]]:
    """The chip balances (those with chips unaccounted for), the exports to non-parties and
    the inspections that found something amiss, as facts (docs/adr/0026)."""
    accounts = chip_accounts(registry)
    balances = [
        {
            "scope": a.scope,
            "id": a.id,
            "party": a.party,
            "shipped": a.shipped.count,
            "transferred_out": a.transferred_out.count,
            "installed": a.installed.count,
            "retired": a.retired.count,
            "exported": a.exported.count,
            "reporting": a.reporting.count,
            "dark": a.dark.count,
            "unaccounted": a.unaccounted.count,
            "unaccounted_chips": list(a.unaccounted.chips),
            "evidence": [f"log:{i}" for i in a.evidence],
        }
        for a in (*accounts.operators, *accounts.parties)
        if a.unaccounted.count
    ]
    exports = [
        {
            "id": e.export_id,
            "party": e.from_party,
            "operator": e.from_operator,
            "chips": e.chips.count,
            "chip_ids": list(e.chips.chips),
            "destination_country": e.destination_country,
            "destination_entity": e.destination_entity,
            "licence": e.licence,
            "at": e.at,
            "evidence": [f"log:{e.idx}"],
        }
        for e in accounts.exports
    ]
    inspections = [
        {
            "id": i.plan_id,
            "facility": i.facility_id,
            "operator": i.operator_id,
            "inspected_at": i.inspected_at,
            "missing": list(i.missing),
            "discrepancies": list(i.discrepancies),
            "seals_broken": list(i.seals_broken),
            "evidence": [f"log:{i.idx}"],
        }
        for i in accounts.inspections
        if not i.clean
    ]
    out: dict[str, list[dict[str, Any]]] = {}
    # Only lists that hold something: a world without these sources has the facts it had.
    for name, items in (
        ("chip_accounts", balances),
        ("chip_exports", exports),
        ("inspections", inspections),
    ):
        if items:
            out[name] = items
    return out


def _tested(a: BalanceAlarm | RollupAlarm) -> dict[str, Any]:
    """What a balance alarm's fact says of its test, the same for a facility and a roll-up."""
    return {
        "balance": a.balance.value,
        "test": a.test,
        "period_start": format_time(a.point.start),
        "value": a.point.value,
        "sigma": a.point.sigma,
        "unit": "J" if a.balance.value == "energy" else "FLOP",
        "statistic": a.statistic,
        "limit": a.limit,
        "alpha": ALPHA_PER_TEST,
        "alarms": a.alarms,
        "last_period_start": format_time(a.last),
        "evidence": list(a.point.evidence),
    }


def balance_facts(registry: Registry, at: datetime) -> dict[str, list[dict[str, Any]]]:
    """The alarms of the facilities' daily balances over the days closed at ``at``, and of
    their roll-ups per operator and party: the first of each test on each series, as facts
    (docs/adr/0029, docs/adr/0035)."""
    alarms = [
        {
            "facility": a.facility_id,
            "operator": a.operator_id,
            "party": a.party_id,
            **_tested(a),
        }
        for f in facility_balances(registry, at)
        for a in f.alarms()
    ]
    alarms.extend(
        {
            "scope": a.level.value,
            "operator": a.subject if a.level is Level.OPERATOR else None,
            "party": a.party_id,
            "facilities": list(a.facilities),
            **_tested(a),
        }
        for a in rollup_balances(registry, at).alarms()
    )
    return {"balance_alarms": alarms} if alarms else {}


def counter_facts(registry: Registry, at: datetime) -> dict[str, list[dict[str, Any]]]:
    """The clusters whose counters reported less than their chips' tensor activity makes
    plausible on a day closed at ``at``: the first such day of each, as facts
    (docs/adr/0033)."""
    alarms = [
        {
            "cluster": a.cluster_id,
            "facility": a.facility_id,
            "operator": a.operator_id,
            "party": a.party_id,
            "period_start": format_time(day_period(a.first.day).start),
            "ratio": a.first.ratio,
            "limit": a.first.limit,
            "alpha": ALPHA_PER_CLUSTER_YEAR,
            "flop": a.first.flop,
            "expected_flop": a.first.expected_flop,
            "tensor_s": a.first.tensor_s,
            "chip_windows": a.first.chip_windows,
            "alarms": a.alarms,
            "last_period_start": format_time(day_period(a.last).start),
            "evidence": list(a.first.evidence),
        }
        for a in counter_alarms(registry, at)
    ]
    return {"counter_alarms": alarms} if alarms else {}


def transcript_facts(registry: Registry) -> dict[str, list[dict[str, Any]]]:
    """Runs' transcripts as their commitments stand, audits' verdicts (with the segments
    whose replay failed) and the weights evaluation results name, as facts (issue 17)."""
    views = registry.views
    # One moment per checkpoint statement: a batch of checkpoints was committed at once.
    commitments: dict[str, dict[int, dict[str, Any]]] = {}
    for (run_id, step), row in views["transcript_checkpoints"].items():
        entry = int(row["idx"])
        moment = commitments.setdefault(run_id, {}).setdefault(
            entry, {"at": row["integrated_at"], "entry": entry, "last_step": step}
        )
        moment["last_step"] = max(moment["last_step"], step)
    transcripts = [
        {
            "run": row["run_id"],
            "committed_at": row["committed_at"],
            "checkpoints": row["checkpoints"],
            "last_checkpoint_at": row["last_checkpoint_at"],
            "final_digest": row["final_digest"],
            "final_at": row["final_at"],
            "commitments": [
                moment for _, moment in sorted(commitments.get(row["run_id"], {}).items())
            ],
            "evidence": [f"log:{row['committed_idx']}"]
            + ([] if row["final_idx"] is None else [f"log:{row['final_idx']}"]),
        }
        for _, row in sorted(views["transcripts"].items())
    ]
    verdicts = []
    for (audit_id,), row in sorted(views["transcript_verdicts"].items()):
        segments = json.loads(row["segments"])
        failed = [
            s
            for s in segments
            if not (views["transcript_replays"].get((audit_id, s)) or {"passed": True})["passed"]
        ]
        verdicts.append(
            {
                "audit": audit_id,
                "run": row["run_id"],
                "inspector": row["inspector_id"],
                "verdict": row["verdict"],
                "segments": segments,
                "failed_segments": failed,
                "inclusion_passed": row["inclusion_passed"],
                # A reason may span lines; a fact's is one line.
                "reasons": [" ".join(r.split())[:2_000] for r in json.loads(row["reasons"])],
                "at": row["integrated_at"],
                "evidence": [f"log:{row['idx']}"],
            }
        )
    weights = [
        {
            "result": row["result_id"],
            "model": row["model"],
            "weights_digest": row["weights_digest"],
            "evidence": [f"log:{row['idx']}"],
        }
        for _, row in sorted(views["eval_results"].items())
        if row.get("weights_digest") is not None
    ]
    found = {
        "transcripts": transcripts,
        "transcript_verdicts": verdicts,
        "evaluated_weights": weights,
    }
    return {name: items for name, items in found.items() if items}


def _unreadable(name: str, item: dict[str, Any], exc: ValidationError) -> dict[str, Any]:
    """The ``unreadable`` fact of an item set aside: its first log entry, and why."""
    entry = next(
        (e for e in item.get("evidence", ()) if isinstance(e, str) and e.startswith("log:")),
        "log:0",
    )
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in exc.errors()[:3]
    )
    what = f"{name.removesuffix('s')} {str(item.get('id', '?'))[:100]}"
    return {
        "entry": entry,
        "kind": what,
        "reason": f"the policy cannot read it: {problems}"[:2_000],
    }


def _evaluations(registry: Registry, policy: Policy | None) -> list[dict[str, Any]]:
    """The evaluation facts of every signed result (see
    :func:`pausewatch.evals._judge.eval_facts`), but for failed or incomplete results that a
    later success of the same evaluator, model, probe and domain has superseded: one that
    reports every metric the policy's triggers read in that domain."""
    wanted = trigger_metrics(policy)
    rows = [
        (row, json.loads(row["metrics"]))
        for _, row in sorted(registry.views["eval_results"].items())
    ]
    successes: dict[tuple[str, str, str, str], list[tuple[int, set[str]]]] = {}
    for row, metrics in rows:
        if row["status"] == "success":
            key = (row["evaluator_id"], row["model"], row["probe_id"], row["domain"])
            successes.setdefault(key, []).append((int(row["idx"]), {m["name"] for m in metrics}))
    out: list[dict[str, Any]] = []
    for row, metrics in rows:
        if row["status"] != "success":
            key = (row["evaluator_id"], row["model"], row["probe_id"], row["domain"])
            needed = wanted.get(row["domain"], set())
            if any(
                idx > int(row["idx"]) and needed <= names for idx, names in successes.get(key, [])
            ):
                continue
        out.extend(
            eval_facts(
                result_id=row["result_id"],
                model=row["model"],
                domain=row["domain"],
                status=row["status"],
                metrics=metrics,
                completed_at=row["completed_at"] or row["integrated_at"],
                evidence=[f"log:{row['idx']}"],
                wanted=wanted,
                probe=row["probe_id"],
                task_version=int(row["task_version"]),
                elicitation=elicitation_fact(
                    epochs=int(row["epochs"]),
                    completed_samples=int(row["completed_samples"]),
                    elicitation=json.loads(row["elicitation"]),
                ),
            )
        )
    return out


def _suites(registry: Registry) -> list[dict[str, Any]]:
    """The suite adopted per domain as it stands in the views (docs/adr/0021)."""
    return [
        {
            "domain": row["domain"],
            "probes": [
                {"probe": p["probe_id"], "version": p["version"]}
                | ({"elicitation": p["elicitation"]} if p.get("elicitation") else {})
                for p in json.loads(row["probes"])
            ],
            "evidence": [f"log:{row['adopted_idx']}"],
        }
        for _, row in sorted(registry.views["eval_suites"].items())
    ]


def halt_orders(registry: Registry, at: datetime, policy: Policy | None) -> list[dict[str, Any]]:
    """Each decided halt order with its status at ``at`` (pending, confirmed, violated,
    silent), as the policy evaluation reads it."""
    return _orders(registry, at, silence_limit(policy))


def _order_chips(registry: Registry, subject: str) -> tuple[list[str], list[str]]:
    """The runs a halt order's subject covers, and the chips its confirmation reads: for a run,
    the chips its declaration named, or every chip installed in its declared cluster when it
    named none; for a cluster, every chip installed in it. Chips that reported windows for a
    covered run are added wherever they sit. Which run later records name does not matter
    (docs/adr/0020)."""
    views = registry.views
    kind, _, ident = subject.partition(":")
    if kind == "run":
        covered = [ident]
        run = views["runs"].get((ident,))
        named = json.loads(run["chip_ids"]) if run is not None and run.get("chip_ids") else []
        cluster = None if named or run is None else run["cluster_id"]
    else:
        covered = sorted(r["run_id"] for _, r in views["runs"].items() if r["cluster_id"] == ident)
        named, cluster = [], ident
    chips = set(named)
    if cluster is not None:
        chips.update(
            chip_id
            for (chip_id,), chip in views["chips"].items()
            if chip["status"] == "installed" and chip["cluster_id"] == cluster
        )
    members = run_members(registry)
    for run_id in covered:
        chips.update(members.get(run_id, ((), ()))[0])
    return covered, sorted(chips)


def run_members(registry: Registry) -> Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per run, the chips and the clusters that reported windows for it, each sorted
    (``tel_run_chips``, ``tel_run_clusters``; docs/adr/0064). Kept until either view gains a
    row, which is when a chip first reports for a run, not with every batch."""
    return registry.derived(
        "run_members", _run_members, keys_of=("tel_run_chips", "tel_run_clusters")
    )


def _run_members(
    registry: Registry,
) -> Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    chips = _by_run(registry.sorted_keys("tel_run_chips"))
    clusters = _by_run(registry.sorted_keys("tel_run_clusters"))
    return MappingProxyType(
        {
            run_id: (chips.get(run_id, ()), clusters.get(run_id, ()))
            for run_id in chips.keys() | clusters.keys()
        }
    )


def _by_run(keys: Iterable[tuple[Any, ...]]) -> dict[str, tuple[str, ...]]:
    """Sorted ``(run, member)`` keys as each run's members, in order."""
    members: dict[str, list[str]] = {}
    for run_id, member in keys:
        members.setdefault(run_id, []).append(member)
    return {run_id: tuple(ids) for run_id, ids in members.items()}


def _orders(registry: Registry, at: datetime, limit: timedelta) -> list[dict[str, Any]]:
    """Each decided halt order with what the log shows of it at ``at`` (docs/adr/0020):

    * *violated*: a chip it covers (:func:`_order_chips`) reported a busy window ending after
      the deadline plus one window's grace, whatever run the record named, or records named a
      run it covers in such a window; acknowledged or not;
    * *unacknowledged*: otherwise, when the operator did not acknowledge it on the log by the
      deadline;
    * *confirmed*: otherwise, when every chip it covers reported a window ending at or after
      the deadline;
    * *silent*: when that has not happened by the deadline plus the silence limit;
    * *pending* before the deadline and until then.
    """
    views = registry.views
    out: list[dict[str, Any]] = []
    for (pid,), row in sorted(views["proposals"].items()):
        if row["kind"] != "halt_order" or not row["passed"] or row["deadline"] is None:
            continue
        deadline = datetime.fromisoformat(row["deadline"])
        covered, chips = _order_chips(registry, row["subject"] or "")
        totals = [t for r in covered if (t := views["tel_runs"].get((r,))) is not None]
        # A window that began before the deadline may end after it: one window's grace.
        late_end = deadline + ORDER_GRACE
        late = [
            t["last_window_end"]
            for t in totals
            if datetime.fromisoformat(t["last_window_end"]) > late_end
        ]
        busy: list[tuple[str, str]] = []
        for chip_id in chips:
            chip = views["tel_chips"].get((chip_id,))
            end = None if chip is None else chip.get("last_busy_end")
            if end is not None and datetime.fromisoformat(end) > late_end:
                busy.append((end, chip_id))
        reported = [
            c
            for c in chips
            if (chain := views["tel_chains"].get((c,))) is not None
            and datetime.fromisoformat(chain["window_end"]) >= deadline
        ]
        ack = views["order_acks"].get((pid,))
        acked_at = None if ack is None else ack["at"]
        in_time = acked_at is not None and datetime.fromisoformat(acked_at) <= deadline
        if at < deadline:
            status, detail = "pending", ""
        elif busy or late:
            status = "violated"
            parts = []
            if busy:
                names = ", ".join(c for _, c in sorted(busy)[-3:])
                parts.append(
                    f"{len(busy)} of its {len(chips)} chips ({names}"
                    f"{', ...' if len(busy) > 3 else ''}) reported busy windows ending as late "
                    f"as {max(busy)[0]}"
                )
            if late:
                parts.append(
                    f"its chips reported training for it in windows ending as late as {max(late)}"
                )
            said = f"acknowledged on {acked_at}, yet " if acked_at is not None else ""
            detail = said + "; ".join(parts)
        elif not in_time:
            status = "unacknowledged"
            detail = (
                f"its operator acknowledged it only on {acked_at}, after the deadline"
                if acked_at is not None
                else "its operator has not acknowledged it on the log"
            )
        elif chips and len(reported) == len(chips):
            status = "confirmed"
            detail = f"all {len(chips)} of its chips reported after the deadline, none busy"
        elif at - deadline > limit:
            status = "silent"
            detail = (
                f"{len(chips) - len(reported)} of its {len(chips)} chips have not reported since "
                "the deadline"
                if chips
                else "no telemetry of its chips is on the log"
            )
        else:
            status, detail = "pending", ""
        out.append(
            {
                "id": pid,
                "subject": row["subject"],
                "deadline": row["deadline"],
                "status": status,
                "acknowledged_at": acked_at,
                "detail": detail,
                # The decision alone: an enforcement step decided after it answers the finding
                # (ADR 0012), whatever the operator files later.
                "evidence": [f"log:{row['decided_idx']}"],
            }
        )
    return out


def _count(flop: Mapping[str, float], rule: CountingRule | None) -> float:
    return count_flop(flop, rule or CountingRule.FP16_EQUIVALENT_OR_ACTUAL) if flop else 0.0


def _reviews(registry: Registry, at: datetime) -> dict[str, dict[str, Any]]:
    """What the parties decided about runs by ``at``: approved or rejected (with the time),
    the days of review extension granted, and any exemption (until its close plus its days).
    Decisions take effect at the close of their vote; a later one on the same run overrides
    an earlier."""
    out: dict[str, dict[str, Any]] = {}
    decided = [
        row
        for _, row in registry.views["proposals"].items()
        if row["passed"]
        and row["kind"]
        in ("approve_declaration", "reject_declaration", "extend_review", "exemption")
        and (row["subject"] or "").startswith("run:")
        and datetime.fromisoformat(row["closes_at"]) <= at
    ]
    for row in sorted(decided, key=lambda r: (r["closes_at"], r["proposed_idx"])):
        review = out.setdefault(row["subject"][4:], {})
        if row["kind"] == "exemption":
            until = datetime.fromisoformat(row["closes_at"]) + timedelta(days=row["days"] or 0)
            review["exempt_until"] = format_time(until)
        elif row["kind"] == "extend_review":
            review["review_extended_days"] = review.get("review_extended_days", 0) + (
                row["days"] or 0
            )
        else:
            review["approval"] = "approved" if row["kind"] == "approve_declaration" else "rejected"
            review["decided_at"] = row["closes_at"]
    return out


def _run_places(runs: list[dict[str, Any]], registry: Registry) -> None:
    """Where each run's declaration says it runs, and where its records came from; and the
    digests that tell one run split into several (docs/adr/0028)."""
    views = registry.views
    members = run_members(registry)
    for fact in runs:
        row = views["runs"][(fact["id"],)]
        operator = views["operators"].get((row["operator_id"],))
        if operator is not None:
            fact["party"] = operator["party_id"]
        fact["facility"] = row["facility_id"]
        if row["chip_ids"] is not None:
            fact["declared_chips"] = json.loads(row["chip_ids"])
        fact["hyperparameters_digest"] = row["hyperparameters_digest"]
        fact["data_order_seed_digest"] = row["data_order_seed_digest"]
        if (fact["id"],) in views["tel_runs"]:
            chips, clusters = members.get(fact["id"], ((), ()))
            fact["chips"] = list(chips)
            fact["clusters"] = list(clusters)


def _run_fact(
    row: Row,
    telemetry: Row | None,
    rule: CountingRule | None,
    at: datetime,
    reviews: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    declared = {"value": row["planned_flop"]}
    if row["planned_flop_low"] is not None:
        declared["low"] = row["planned_flop_low"]
    if row["planned_flop_high"] is not None:
        declared["high"] = row["planned_flop_high"]
    measured = None if telemetry is None else _flop(telemetry["flop"])
    for precision in measured or {}:
        try:
            parse_precision(precision)
        except Error:
            measured = None  # a precision this version cannot count: leave the plan to speak
            break
    status = row["status"]
    started_at = row["started_at"]
    if measured and status == "declared":
        # Chips reported compute under the run's id: it has started, notice or not.
        status, started_at = "running", telemetry["first_window_start"]  # type: ignore[index]
    fact: dict[str, Any] = {
        "id": row["run_id"],
        "operator": row["operator_id"],
        "cluster": row["cluster_id"],
        "model": row["model"],
        "base_model": row["base_model"],
        "phase": row["phase"],
        "declared": declared,
        "status": _STATUS[status],
        "declared_at": row["declared_at"],
        "starts_at": started_at or row["starts_at"],
        "ends_at": row["ended_at"] or row["ends_at"],
        "approval": row["approval"],
        "primary_data": row["primary_data"],
        "compute_cost_usd": row["compute_cost_usd"],
        "evidence": [f"log:{row['declared_idx']}", f"log:{row['updated_idx']}"],
    }
    review = reviews.get(row["run_id"])
    if review is not None:
        if "approval" in review:
            fact["approval"], fact["decided_at"] = review["approval"], review["decided_at"]
        elif fact["approval"] == "pending" and review.get("review_extended_days"):
            fact["approval"] = "extended"
        if review.get("review_extended_days"):
            fact["review_extended_days"] = review["review_extended_days"]
        if "exempt_until" in review:
            fact["exempt_until"] = review["exempt_until"]
    if row["status"] == "abandoned":
        fact["started"] = False
    if measured:
        fact["measured_by_precision"] = measured
        assert telemetry is not None
        first = datetime.fromisoformat(telemetry["first_window_start"])
        last = datetime.fromisoformat(telemetry["last_window_end"])
        seconds = (last - first).total_seconds()
        if status == "running" and seconds > 0:
            # The mean pace over the windows measured so far, counted under the policy's rule:
            # what the projection extends. Its interval is the counters' tolerance (the window
            # times are signed and exact); a pace that changes shows up batch by batch as the
            # mean moves.
            pace = _count(measured, rule) / seconds
            low, high = counter_interval(pace)
            fact["rate"] = {"value": pace, "low": low, "high": high, "method": "telemetry"}
    return fact


__all__ = [
    "DEFAULT_SILENCE",
    "chip_facts",
    "dark_chips",
    "evaluated",
    "facts_from_registry",
    "halt_orders",
    "readable_facts",
    "silence_limit",
    "transcript_facts",
]
