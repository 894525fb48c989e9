"""Locust users for ``benchmarks/load.py``: telemetry uploaders and dashboard readers.

Not meant to be run by hand: ``load.py`` prepares a directory (the pre-generated, chip-signed
telemetry batches, the operator's key, the paths to read) and names it in
``PAUSEWATCH_LOAD_DIR``; it then runs ``locust -f benchmarks/locustfile.py --headless ...`` once
per phase. What this file reads there, ``manifest.json``:

- ``operator_id``, ``operator_key`` (a key name in ``keys/``): who signs each upload's
  ``telemetry.submission/v1``, as :meth:`pausewatch.client.PausewatchClient.send_telemetry` does;
- ``groups``: one per uploader, each a file of JSONL batches back to back with their byte
  offsets and the number of records a batch holds. Batch ``w`` of a group is window ``w`` of its
  chips (a disjoint set), so an uploader posts its chips' windows strictly in chain order;
- ``start``: the first batch each group sends in this phase (where the previous phase stopped);
- ``uploaders``, ``readers``: how many of each (``fixed_count``), ``think_s``: a reader's wait
  between two reads, drawn uniformly from ``[think_s / 2, think_s * 3 / 2]`` (and before its
  first, from ``[0, think_s]``);
- ``pages`` and ``json_paths``: what the readers GET (the ``/ui`` pages that exist);
- ``upload_host`` and ``read_hosts`` (optional): where uploads go and the hosts readers GET
  from, dealt to the readers round robin (one host a reader, as a load balancer routing reads
  to several replicas would); both default to ``--host``;
- ``summary``: where to write, on quitting, what the phase did (records accepted, the span of
  the uploads, every response time by group, the next batch of each group, whether a group ran
  out of batches, the CPU seconds this process and the server, ``server_pid``, used between the
  test's start and its stop), how many requests each host answered, and each read's start
  (seconds into the phase), path and time.

An upload counts as a failure unless it is answered 201 with every record accepted: no
duplicate batch, no rejected record, no gap, ``accepted`` equal to the batch's records. A read
counts as a failure unless it is answered 200.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import random
import resource
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, events, task
from locust.exception import StopUser

from pausewatch.statements import canonical, load_key, sign_statement

LOAD_DIR = Path(os.environ.get("PAUSEWATCH_LOAD_DIR", "."))
MANIFEST: dict[str, Any] = (
    json.loads((LOAD_DIR / "manifest.json").read_text(encoding="utf-8"))
    if (LOAD_DIR / "manifest.json").exists()
    else {}
)
BATCHES_PATH = "/v1/telemetry/batches"
UPLOAD_NAME = BATCHES_PATH


def group_of(name: str) -> str:
    """The endpoint group a request name belongs to."""
    if name == UPLOAD_NAME:
        return "telemetry upload"
    if name.startswith("/ui"):
        return "dashboard page"
    if name == "/healthz":
        return "healthz"
    return "JSON read"


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) used so far by this process and by the server (``/proc``;
    0.0 for the server where it cannot be read)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    server = 0.0
    pid = MANIFEST.get("server_pid")
    if pid:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            server = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            server = 0.0
    return own.ru_utime + own.ru_stime, server


class Phase:
    """What this locust process saw, written to ``summary`` on quitting."""

    started = 0.0
    stopped = 0.0
    cpu_at_start = (0.0, 0.0)
    cpu_at_stop = (0.0, 0.0)
    first_upload = 0.0
    last_upload_end = 0.0
    records = 0
    uploads = 0
    samples: dict[str, list[float]] = {}  # noqa: RUF012 (one per process, by design)
    failures: dict[str, int] = {}  # noqa: RUF012
    next_batch: dict[str, int] = {}  # noqa: RUF012
    exhausted: list[int] = []  # noqa: RUF012
    served: dict[str, int] = {}  # noqa: RUF012
    reads: list[tuple[float, str, float]] = []  # noqa: RUF012 (seconds into the phase, path, ms)


_group_ids = itertools.count()
_reader_ids = itertools.count()


@events.test_start.add_listener
def _on_test_start(**_kwargs: Any) -> None:
    Phase.started = time.time()
    Phase.cpu_at_start = cpu_seconds()


@events.test_stop.add_listener
def _on_test_stop(**_kwargs: Any) -> None:
    Phase.stopped = time.time()
    Phase.cpu_at_stop = cpu_seconds()


@events.request.add_listener
def _on_request(name: str, response_time: float, exception: Any, **_kwargs: Any) -> None:
    group = group_of(name)
    Phase.samples.setdefault(group, []).append(response_time)
    if group != "telemetry upload":
        sent = time.time() - response_time / 1000 - Phase.started
        Phase.reads.append((round(sent, 3), name, round(response_time, 1)))
    if exception is not None:
        Phase.failures[group] = Phase.failures.get(group, 0) + 1


@events.quitting.add_listener
def _on_quitting(**_kwargs: Any) -> None:
    out = MANIFEST.get("summary")
    if not out:
        return
    Path(out).write_text(
        json.dumps(
            {
                "started": Phase.started,
                "stopped": Phase.stopped,
                "locust_cpu_s": Phase.cpu_at_stop[0] - Phase.cpu_at_start[0],
                "server_cpu_s": Phase.cpu_at_stop[1] - Phase.cpu_at_start[1],
                "first_upload": Phase.first_upload,
                "last_upload_end": Phase.last_upload_end,
                "records": Phase.records,
                "uploads": Phase.uploads,
                "samples_ms": Phase.samples,
                "failures": Phase.failures,
                "next_batch": Phase.next_batch,
                "exhausted": Phase.exhausted,
                "served": Phase.served,
                "reads": Phase.reads,
            }
        ),
        encoding="utf-8",
    )


class TelemetryUploader(FastHttpUser):
    """An operator's uploader: its chips' windows, one batch after the other, no wait."""

    fixed_count = int(MANIFEST.get("uploaders", 1))
    connection_timeout = 60.0
    network_timeout = 300.0
    host = MANIFEST.get("upload_host")

    def on_start(self) -> None:
        """Take the next group of chips; load the operator's key."""
        self.chip_group = next(_group_ids)
        groups = MANIFEST["groups"]
        if self.chip_group >= len(groups):
            raise StopUser()
        spec = groups[self.chip_group]
        self.offsets: list[int] = spec["offsets"]
        self.records_per_batch: int = spec["records_per_batch"]
        self.batch_file = open(LOAD_DIR / spec["file"], "rb")  # noqa: SIM115 (closed in on_stop)
        self.batch = int(MANIFEST["start"][self.chip_group])
        self.operator_id: str = MANIFEST["operator_id"]
        self.key = load_key(LOAD_DIR / "keys", MANIFEST["operator_key"])
        Phase.next_batch[str(self.chip_group)] = self.batch

    def on_stop(self) -> None:
        """Close the batch file."""
        if hasattr(self, "batch_file"):
            self.batch_file.close()

    def _read(self, batch: int) -> bytes:
        self.batch_file.seek(self.offsets[batch])
        return self.batch_file.read(self.offsets[batch + 1] - self.offsets[batch])

    @task
    def upload(self) -> None:
        """POST the next window of this group's chips, signed as ``send_telemetry`` signs."""
        if self.batch + 1 >= len(self.offsets):
            Phase.exhausted.append(self.chip_group)
            raise StopUser()
        data = self._read(self.batch)
        lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
        submission = sign_statement(
            "telemetry.submission/v1",
            {
                "operator_id": self.operator_id,
                "batch_digest": hashlib.sha256(data).hexdigest(),
                "records": lines,
            },
            self.key,
        )
        header = base64.b64encode(canonical(submission.to_json())).decode()
        if not Phase.first_upload:
            Phase.first_upload = time.time()
        with self.client.post(
            BATCHES_PATH,
            data=data,
            headers={"Pausewatch-Submission": header, "Content-Type": "application/x-ndjson"},
            name=UPLOAD_NAME,
            catch_response=True,
        ) as resp:
            problem = self._problem(resp, lines)
            if problem:
                resp.failure(f"group {self.chip_group} batch {self.batch}: {problem}")
            else:
                resp.success()
        if problem:
            # The chain cannot go on past a batch that was not taken whole: stop this user.
            raise StopUser()
        Phase.last_upload_end = time.time()
        Phase.served[str(self.host)] = Phase.served.get(str(self.host), 0) + 1
        Phase.records += lines
        Phase.uploads += 1
        self.batch += 1
        Phase.next_batch[str(self.chip_group)] = self.batch

    @staticmethod
    def _problem(resp: Any, lines: int) -> str | None:
        if resp.status_code != 201:
            return f"HTTP {resp.status_code}: {(resp.text or '')[:300]}"
        try:
            receipt = resp.json()
        except ValueError:
            return "receipt is not JSON"
        if receipt.get("duplicate"):
            return "answered as a duplicate"
        if receipt.get("accepted") != lines or receipt.get("duplicates"):
            return f"accepted {receipt.get('accepted')} of {lines} records"
        if receipt.get("rejected") or receipt.get("gaps"):
            return (
                f"{len(receipt.get('rejected') or [])} rejected, "
                f"{len(receipt.get('gaps') or [])} gaps: {str(receipt.get('rejected'))[:300]}"
            )
        return None


class DashboardReader(FastHttpUser):
    """Someone watching the dashboard: a page, now and then a JSON read, with think time."""

    fixed_count = int(MANIFEST.get("readers", 0))
    connection_timeout = 60.0
    network_timeout = 300.0

    def __init__(self, environment: Any) -> None:
        # Before the session is made: FastHttpUser binds its client to ``self.host``.
        hosts = MANIFEST.get("read_hosts") or []
        if hosts:
            self.host = hosts[next(_reader_ids) % len(hosts)]
        super().__init__(environment)

    def on_start(self) -> None:
        """Arrive at a random point of a first think time, as readers who watch on their own
        do: all readers at the phase's first instant timed locust's own start-up (its first
        requests waited 0.5 s in locust while the service answered them in milliseconds)."""
        gevent.sleep(random.uniform(0.0, float(MANIFEST.get("think_s", 1.0))))

    def wait_time(self) -> float:
        """Uniform in [think/2, 3 think/2]."""
        think = float(MANIFEST.get("think_s", 1.0))
        return random.uniform(think / 2, think * 1.5)

    def _get(self, path: str) -> None:
        with self.client.get(path, name=path, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}")
            else:
                resp.success()
        Phase.served[str(self.host)] = Phase.served.get(str(self.host), 0) + 1

    @task(3)
    def page(self) -> None:
        """A dashboard page."""
        pages = MANIFEST.get("pages") or MANIFEST.get("json_paths") or ["/healthz"]
        self._get(random.choice(pages))

    @task(2)
    def json_read(self) -> None:
        """A JSON read (findings, pause, a view) or the liveness probe."""
        self._get(random.choice(MANIFEST.get("json_paths") or ["/healthz"]))
