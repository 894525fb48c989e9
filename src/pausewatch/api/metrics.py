"""Prometheus metrics of the log service (text exposition format 0.0.4, ``GET /metrics``).

Each app has its own :class:`~prometheus_client.CollectorRegistry`, never the process-wide one,
so that several apps in one process (tests, an embedded service) count apart. Counters are
incremented where things happen: a statement answered, a telemetry batch answered, a request
served. Gauges are read when Prometheus scrapes: the log's size, the fold's position and the
sequencer's queue from the service, and the findings from a cached evaluation of the policy in
force (:class:`FindingsCache`), which is recomputed only once the log has grown, and then at
most every ``min_interval_s``, so that a scrape stays cheap on a busy log.

Every label takes its values from a closed set: statement kinds from the kind registry (others
are ``unknown``), outcomes from the API's problem types, routes from the app's path templates
(``/v1/entries/{index}``, never the path asked for; ``<unmatched>`` for a path no route knows).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pausewatch.api.problems import slug_of
from pausewatch.errors import NotFoundError
from pausewatch.policy._findings import ObligationStatus, Severity
from pausewatch.service import BatchReceipt, LogService, balance_report, chip_report, evaluation
from pausewatch.statements import kinds

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The media type of the text exposition format."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Seconds; up to a minute for large telemetry uploads."""

UNMATCHED = "<unmatched>"
"""The route label of a request no route matches (a 404 for an unknown path)."""

UNKNOWN_KIND = "unknown"
"""The kind label of a statement whose kind is missing or not registered."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_logger = logging.getLogger("pausewatch.api.metrics")


@functools.cache
def _known_kinds() -> frozenset[str]:
    return frozenset(kinds())


def kind_label(kind: object) -> str:
    """``kind`` if it is a registered statement kind, else :data:`UNKNOWN_KIND`."""
    return kind if isinstance(kind, str) and kind in _known_kinds() else UNKNOWN_KIND


def kind_in(raw: bytes) -> str:
    """The label of the kind a (possibly invalid) statement's JSON names."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return UNKNOWN_KIND
    return kind_label(obj.get("kind") if isinstance(obj, dict) else None)


@dataclass(frozen=True)
class FindingCounts:
    """The policy evaluation, reduced to what the gauges show."""

    log_size: int
    """The log's size when it was computed."""
    in_force: bool
    """Whether a policy was in force (with none, every count is 0)."""
    severities: dict[str, int] = field(default_factory=dict)
    obligations: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    """How long the evaluation took."""
    chips_unaccounted: dict[str, int] = field(default_factory=dict)
    """Chips unaccounted for per party (docs/adr/0026), computed with the findings."""
    chips_exported: dict[str, int] = field(default_factory=dict)
    """Chips a party's operators exported to non-parties, computed with the findings."""
    inspections: dict[str, int] = field(default_factory=dict)
    """Inspection reports on the log per facility."""
    inspections_discrepant: dict[str, int] = field(default_factory=dict)
    """Of those, reports that found chips missing, seals broken or the registry contradicted."""
    balances: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    """Per (facility, balance): the latest day's standardised value and the days that alarmed
    (docs/adr/0029), computed with the findings."""
    rollups: dict[tuple[str, str, str], tuple[float, int]] = field(default_factory=dict)
    """Per (scope, operator or party, balance): the same of the roll-ups (docs/adr/0035)."""


class FindingsCache:
    """The findings of the policy in force now, recomputed only when the log has grown (at most
    every ``min_interval_s``) or, for findings that change with time alone (a deadline
    passing), once ``max_age_s`` has passed. One scrape computes; concurrent ones wait for it.
    """

    def __init__(
        self,
        service: LogService,
        *,
        min_interval_s: float = 30.0,
        max_age_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.min_interval_s = min_interval_s
        self.max_age_s = max_age_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._counts: FindingCounts | None = None
        self._computed_at = 0.0

    def get(self) -> FindingCounts:
        """The counts, recomputed first if they are stale."""
        with self._lock:
            size = self.service.log.size
            now = self._monotonic()
            counts = self._counts
            if counts is not None:
                age = now - self._computed_at
                fresh = counts.log_size == size or age < self.min_interval_s
                if fresh and age < self.max_age_s:
                    return counts
            self._computed_at = now
            try:
                self._counts = self._compute(size)
            except Exception:
                # A scrape must not fail for it: the previous counts stand until the next try.
                _logger.exception("evaluating the policy for the findings gauges failed")
                if self._counts is None:
                    self._counts = FindingCounts(size, False)
            return self._counts

    def _compute(self, size: int) -> FindingCounts:
        started = time.perf_counter()
        report = chip_report(self.service.state)
        parties = report["parties"]
        inspections: dict[str, int] = {}
        discrepant: dict[str, int] = {}
        for found in report["inspections"]:
            facility = found["facility_id"]
            amiss = found["missing"] or found["discrepancies"] or found["seals_broken"]
            inspections[facility] = inspections.get(facility, 0) + 1
            discrepant[facility] = discrepant.get(facility, 0) + (1 if amiss else 0)
        balances: dict[tuple[str, str], tuple[float, int]] = {}
        rollups: dict[tuple[str, str, str], tuple[float, int]] = {}
        daily = balance_report(self.service.state, self.service.clock())
        for fac in daily["facilities"]:
            for name, points in fac["balances"].items():
                if points:
                    alarms = sum(1 for p in points if p["alarm"] is not None)
                    balances[(fac["facility_id"], name)] = (points[-1]["standardised"], alarms)
        for scope, items, key in (
            ("operator", daily["operators"], "operator_id"),
            ("party", daily["parties"], "party_id"),
        ):
            for item in items:
                for name, points in item["balances"].items():
                    if points:
                        alarms = sum(1 for p in points if p["alarm"] is not None)
                        rollups[(scope, item[key], name)] = (points[-1]["standardised"], alarms)
        detection = functools.partial(
            FindingCounts,
            chips_unaccounted={p["id"]: int(p["unaccounted"]["count"]) for p in parties},
            chips_exported={p["id"]: int(p["exported"]["count"]) for p in parties},
            inspections=inspections,
            inspections_discrepant=discrepant,
            balances=balances,
            rollups=rollups,
        )
        try:
            result = evaluation(self.service.state, self.service.clock())
        except NotFoundError:  # no policy in force
            return detection(size, False, seconds=time.perf_counter() - started)
        severities = {s.value: 0 for s in Severity}
        for finding in result.findings:
            severities[finding.severity.value] += 1
        obligations = {s.value: 0 for s in ObligationStatus}
        for obligation in result.obligations:
            obligations[obligation.status.value] += 1
        return detection(size, True, severities, obligations, seconds=time.perf_counter() - started)


class _ServiceCollector:
    """Gauges and counters read from the service at scrape time."""

    def __init__(self, service: LogService, findings: FindingsCache) -> None:
        self.service = service
        self.findings = findings

    def describe(self) -> Iterable[Metric]:
        # Names are fixed; an empty description keeps registration from scraping the service.
        return ()

    def collect(self) -> Iterator[Metric]:
        service = self.service
        yield _gauge("pausewatch_log_size", "Entries in the log.", service.log.size)
        yield _gauge(
            "pausewatch_fold_position",
            "Log entries folded into the registry views (the next index the fold applies).",
            service.state.registry.applied,
        )
        sequencer = service.sequencer
        yield _gauge(
            "pausewatch_sequencer_queue_depth",
            "Submissions waiting for the sequencer to integrate them.",
            sequencer.depth,
        )
        stats = sequencer.stats
        yield _counter(
            "pausewatch_sequencer_batches", "Batches the sequencer integrated.", stats.batches
        )
        yield _counter(
            "pausewatch_sequencer_entries",
            "Entries the sequencer appended (duplicates not counted).",
            stats.entries,
        )
        yield _counter(
            "pausewatch_sequencer_failures",
            "Batches the sequencer failed to integrate.",
            stats.failures,
        )
        clerk = service.clerk_stats
        yield _counter("pausewatch_clerk_runs", "Rounds of the secretariat's clerk.", clerk.runs)
        yield _counter(
            "pausewatch_clerk_filed",
            "Statements the clerk filed (decisions, triggered proposals).",
            clerk.filed,
        )
        yield _counter(
            "pausewatch_clerk_failures", "Rounds of the clerk that failed.", clerk.failures
        )
        counts = self.findings.get()
        yield _gauge(
            "pausewatch_policy_in_force",
            "1 when a policy is in force, else 0.",
            1 if counts.in_force else 0,
        )
        severities = GaugeMetricFamily(
            "pausewatch_findings",
            "Findings of the policy in force, by severity (cached; see pausewatch_findings_log_"
            "size).",
            labels=("severity",),
        )
        for severity in Severity:
            severities.add_metric((severity.value,), counts.severities.get(severity.value, 0))
        yield severities
        obligations = GaugeMetricFamily(
            "pausewatch_obligations",
            "Obligations of the policy in force, by status (cached with the findings).",
            labels=("status",),
        )
        for status in ObligationStatus:
            obligations.add_metric((status.value,), counts.obligations.get(status.value, 0))
        yield obligations
        chips = GaugeMetricFamily(
            "pausewatch_chips_unaccounted",
            "Chips shipped to a party's operators and neither installed, retired, exported nor "
            "seen reporting, per party (cached with the findings).",
            labels=("party",),
        )
        for party, count in sorted(counts.chips_unaccounted.items()):
            chips.add_metric((party,), count)
        yield chips
        exported = GaugeMetricFamily(
            "pausewatch_chips_exported",
            "Chips a party's operators exported to non-parties, per party (cached with the "
            "findings).",
            labels=("party",),
        )
        for party, count in sorted(counts.chips_exported.items()):
            exported.add_metric((party,), count)
        yield exported
        inspections = GaugeMetricFamily(
            "pausewatch_inspections",
            "Inspection reports on the log per facility (cached with the findings).",
            labels=("facility",),
        )
        for facility, count in sorted(counts.inspections.items()):
            inspections.add_metric((facility,), count)
        yield inspections
        discrepant = GaugeMetricFamily(
            "pausewatch_inspections_with_discrepancies",
            "Inspection reports per facility that found chips missing, seals broken or the "
            "registry contradicted (cached with the findings).",
            labels=("facility",),
        )
        for facility, count in sorted(counts.inspections_discrepant.items()):
            discrepant.add_metric((facility,), count)
        yield discrepant
        standard = GaugeMetricFamily(
            "pausewatch_balance_standardised",
            "The latest closed day's standardised balance (SITMUF residual) per facility and "
            "balance: energy, compute_energy, compute_counters (cached with the findings).",
            labels=("facility", "balance"),
        )
        alarms = GaugeMetricFamily(
            "pausewatch_balance_alarms",
            "Days on which a balance test alarmed, per facility and balance (cached with the "
            "findings).",
            labels=("facility", "balance"),
        )
        for (facility, balance), (z, count) in sorted(counts.balances.items()):
            standard.add_metric((facility, balance), z)
            alarms.add_metric((facility, balance), count)
        yield standard
        yield alarms
        rolled = GaugeMetricFamily(
            "pausewatch_rollup_balance_standardised",
            "The latest closed day's standardised balance (SITMUF residual) of the facilities "
            "of an operator or party summed, per scope (operator, party), subject and balance "
            "(cached with the findings).",
            labels=("scope", "subject", "balance"),
        )
        rolled_alarms = GaugeMetricFamily(
            "pausewatch_rollup_balance_alarms",
            "Days on which a test of an operator's or party's summed balance alarmed, per "
            "scope, subject and balance (cached with the findings).",
            labels=("scope", "subject", "balance"),
        )
        for labels, (z, count) in sorted(counts.rollups.items()):
            rolled.add_metric(labels, z)
            rolled_alarms.add_metric(labels, count)
        yield rolled
        yield rolled_alarms
        yield _gauge(
            "pausewatch_findings_log_size",
            "The log size at which the findings were last evaluated.",
            counts.log_size,
        )
        yield _gauge(
            "pausewatch_findings_evaluation_seconds",
            "How long the last evaluation of the findings took.",
            counts.seconds,
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


class Metrics:
    """The metrics of one app over one service."""

    def __init__(
        self,
        service: LogService,
        *,
        findings_min_interval_s: float = 30.0,
        findings_max_age_s: float = 300.0,
    ) -> None:
        self.registry = CollectorRegistry()
        self.findings = FindingsCache(
            service, min_interval_s=findings_min_interval_s, max_age_s=findings_max_age_s
        )
        self.statements = Counter(
            "pausewatch_statements",
            "Statements submitted to POST /v1/statements, by kind and outcome (accepted, "
            "duplicate, or the problem type of the refusal: forbidden-signer, registry-conflict"
            ", ...).",
            ("kind", "outcome"),
            registry=self.registry,
        )
        self.telemetry_batches = Counter(
            "pausewatch_telemetry_batches",
            "Telemetry uploads, by outcome (accepted, duplicate, or the problem type).",
            ("outcome",),
            registry=self.registry,
        )
        self.telemetry_records = Counter(
            "pausewatch_telemetry_records",
            "Telemetry records in accepted uploads, by outcome (accepted, duplicate, rejected).",
            ("outcome",),
            registry=self.registry,
        )
        self.telemetry_rejections = Counter(
            "pausewatch_telemetry_rejections",
            "Telemetry records rejected, by the rule they failed.",
            ("rule",),
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "pausewatch_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "pausewatch_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.registry.register(_ServiceCollector(service, self.findings))

    def render(self) -> bytes:
        """Every metric in the text exposition format."""
        return generate_latest(self.registry)

    # -- recording ---------------------------------------------------------------------------

    def statement(self, kind: str, outcome: str) -> None:
        """Count a statement answered with ``outcome``."""
        self.statements.labels(kind_label(kind), outcome).inc()

    def statement_refused(self, raw: bytes, kind: str | None, exc: BaseException) -> None:
        """Count a statement refused with ``exc`` (``kind`` once it was parsed)."""
        self.statements.labels(kind_label(kind) if kind else kind_in(raw), slug_of(exc)).inc()

    def batch(self, receipt: BatchReceipt) -> None:
        """Count an answered telemetry upload; a repeated one adds no records."""
        if receipt.duplicate:
            self.telemetry_batches.labels("duplicate").inc()
            return
        self.telemetry_batches.labels("accepted").inc()
        self.telemetry_records.labels("accepted").inc(receipt.accepted)
        self.telemetry_records.labels("duplicate").inc(receipt.duplicates)
        self.telemetry_records.labels("rejected").inc(receipt.rejected_total)
        for rule, count in receipt.rejected_by_rule.items():
            self.telemetry_rejections.labels(rule).inc(count)

    @contextmanager
    def batch_refusals(self) -> Iterator[None]:
        """Count a telemetry upload refused by an exception raised inside (and re-raise it)."""
        try:
            yield
        except Exception as exc:
            self.telemetry_batches.labels(slug_of(exc)).inc()
            raise

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count an HTTP request and observe its latency."""
        method = method if method in _METHODS else "OTHER"
        self.request_seconds.labels(route, method).observe(seconds)
        self.requests.labels(route, method, str(status)).inc()


def _routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Routes with a path template, through FastAPI's included-router wrappers (which carry
    the router they include as ``original_router``; routers here are included without a
    prefix, so their routes' paths are the app's)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(getattr(inner, "routes", ()))
        elif getattr(route, "path_format", None):
            yield route


def route_template(scope: Scope) -> str:
    """The path template of the route that served (or would serve) ``scope``."""
    route = scope.get("route")
    if route is None:
        # Refused before routing (413 by the body limit, say), or no route: look it up.
        partial = None
        for candidate in _routes(getattr(scope.get("app"), "routes", ())):
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                route = candidate
                break
            if match is Match.PARTIAL and partial is None:
                partial = candidate
        route = route or partial
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED


class RequestMetrics:
    """ASGI middleware timing each HTTP request, labelled by route template and method."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped every handler

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.request(
                route_template(scope), scope["method"], status, time.perf_counter() - started
            )


__all__ = [
    "CONTENT_TYPE",
    "FindingCounts",
    "FindingsCache",
    "Metrics",
    "RequestMetrics",
    "kind_in",
    "kind_label",
    "route_template",
]
