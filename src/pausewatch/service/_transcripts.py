"""Transcript use cases (issue 17 §3, §5): put a transcript directory's commitments on the log,
audit a committed run by replaying the segments a later tree root draws, and read what the log
holds of a run's transcript.

The use cases talk to the log through :class:`TranscriptLog`, so that the same code runs against
the service in process (:class:`LocalTranscriptLog`: the demo, the tests) and against a remote
service (the CLI adapts its HTTP client). An audit is a rescan of the log: the replays of an
audit already on the log are read back, not run again, so that a lost worker, node or whole Ray
cluster costs only the segments it had not written back (docs/adr/0040).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pausewatch.errors import Error, NotFoundError
from pausewatch.registry import Registry
from pausewatch.state import StateStore
from pausewatch.statements import KeyPair, Statement, canonical, sign_statement
from pausewatch.transcript import (
    Manifest,
    TranscriptError,
    draw_segments,
    read_manifest,
    segment_count,
    segments_for_budget,
)

if TYPE_CHECKING:
    from pausewatch.service._log_service import LogService

COMMIT_KIND = "transcript.commit/v1"
CHECKPOINT_KIND = "transcript.checkpoint/v1"
REPLAY_KIND = "transcript.replay/v1"
VERDICT_KIND = "transcript.verdict/v1"
CHECKPOINTS_PER_STATEMENT = 1000
"""The most checkpoints one ``transcript.checkpoint/v1`` statement carries (contract T4)."""
MAX_REASONS = 100
MAX_REASON = 4000
"""A verdict statement's reasons: at most 100, each at most 4,000 characters (contract T4)."""
FRAMEWORK = "torch"
"""What the shipped recipes train with (the commitment's ``framework``)."""
TRANSCRIPT_FINDINGS = ("transcript_missing", "transcript_late", "transcript_failed")
"""The policy's finding kinds about transcripts (contract T5)."""


class TranscriptAuditError(Error):
    """A transcript cannot be committed or audited: the directory is unreadable, or the log
    holds no complete commitment of the run."""


class TranscriptLog(Protocol):
    """What the transcript use cases need of a log."""

    def submit(self, statement: Statement) -> int:
        """Put a signed statement on the log once it is durable and folded; its index (a
        statement already on the log answers with its entry)."""
        ...

    def transcript(self, run_id: str) -> dict[str, Any]:
        """What the log holds of the run's transcript (:func:`transcript_report`)."""
        ...

    def root_after(self, index: int) -> bytes:
        """The root of the log's tree of ``index + 1`` entries."""
        ...

    def inspector_of(self, signer: str) -> str:
        """The id of the inspector registered with the key ``signer``."""
        ...


# -- reading the log -------------------------------------------------------------------------


def _rows(registry: Registry, view: str, run_id: str) -> list[dict[str, Any]]:
    table = registry.views.get(view, {})
    return [dict(row) for row in table.values() if row.get("run_id") == run_id]


def _json_list(value: object) -> list[Any]:
    if isinstance(value, str):
        loaded = json.loads(value)
        return list(loaded) if isinstance(loaded, list) else []
    return list(value) if isinstance(value, list | tuple) else []


def transcript_report(state: StateStore, run_id: str, at: datetime | None = None) -> dict[str, Any]:
    """A declared run's transcript as the log holds it: the commitment (``commitment``, null
    before it), its checkpoint commitments (``checkpoints``: count, last step, whether the final
    one is in, and each with its log entry), and its audits (``audits``: each audit's replays
    and its verdict, null while the audit is under way); with ``at``, the policy's transcript
    findings about the run then (``findings``) and ``timeliness`` (``on_time``, ``late``,
    ``missing`` or null when no policy speaks of it). :class:`NotFoundError` for a run that is
    not declared."""
    from pausewatch.service._views import evaluation

    with state.lock:
        registry = state.registry
        commitment = registry.views.get("transcripts", {}).get((run_id,))
        if registry.get("runs", run_id) is None and commitment is None:
            raise NotFoundError(f"run {run_id!r} is not declared")
        checkpoints = sorted(
            _rows(registry, "transcript_checkpoints", run_id), key=lambda r: int(r["step"])
        )
        replays = _rows(registry, "transcript_replays", run_id)
        verdicts = _rows(registry, "transcript_verdicts", run_id)
    audits: dict[str, dict[str, Any]] = {}
    for row in sorted(replays, key=lambda r: (str(r["audit_id"]), int(r["segment"]))):
        audit = audits.setdefault(
            str(row["audit_id"]),
            {"audit_id": row["audit_id"], "inspector_id": row["inspector_id"], "verdict": None},
        )
        audit.setdefault("replays", []).append(row)
    for row in verdicts:
        row["segments"] = _json_list(row.get("segments"))
        row["reasons"] = _json_list(row.get("reasons"))
        audit = audits.setdefault(
            str(row["audit_id"]),
            {"audit_id": row["audit_id"], "inspector_id": row["inspector_id"], "replays": []},
        )
        audit["verdict"] = row
    for audit in audits.values():
        audit.setdefault("replays", [])
        audit["segments_replayed"] = len(audit["replays"])
        audit["passed_replays"] = sum(1 for r in audit["replays"] if r.get("passed"))
    final = commitment is not None and commitment.get("final_idx") is not None
    report: dict[str, Any] = {
        "run_id": run_id,
        "commitment": None if commitment is None else dict(commitment),
        "checkpoints": {
            "count": len(checkpoints),
            "last_step": checkpoints[-1]["step"] if checkpoints else None,
            "final": final,
            "final_digest": None if commitment is None else commitment.get("final_digest"),
            "items": checkpoints,
        },
        "audits": sorted(audits.values(), key=_first_index),
        "findings": [],
        "timeliness": None,
    }
    if at is not None:
        try:
            result = evaluation(state, at)
        except NotFoundError:
            return report  # no policy in force: nothing speaks of timeliness
        subject = f"run:{run_id}"
        found = [
            f.to_json()
            for f in result.findings
            if f.subject == subject and f.kind.value in TRANSCRIPT_FINDINGS
        ]
        report["findings"] = found
        kinds = {f["kind"] for f in found}
        if "transcript_missing" in kinds:
            report["timeliness"] = "missing"
        elif "transcript_late" in kinds:
            report["timeliness"] = "late"
        elif commitment is not None:
            report["timeliness"] = "on_time"
    return report


def _first_index(audit: dict[str, Any]) -> int:
    """The log index of an audit's first statement (audits are listed in the log's order)."""
    indices = [int(r["idx"]) for r in audit["replays"]]
    if audit["verdict"] is not None:
        indices.append(int(audit["verdict"]["idx"]))
    return min(indices, default=0)


class LocalTranscriptLog:
    """:class:`TranscriptLog` over a :class:`LogService` in this process."""

    def __init__(self, service: LogService, *, timeout: float = 120.0) -> None:
        self.service = service
        self.timeout = timeout

    def submit(self, statement: Statement) -> int:
        """Submit and wait until durable and folded."""
        return self.service.submit(statement).result(self.timeout).index

    def transcript(self, run_id: str) -> dict[str, Any]:
        """:func:`transcript_report` over the service's views."""
        return transcript_report(self.service.state, run_id)

    def root_after(self, index: int) -> bytes:
        """The root of the tree of ``index + 1`` entries."""
        return self.service.log.root_at(index + 1)

    def inspector_of(self, signer: str) -> str:
        """The inspector registered with ``signer``."""
        with self.service.state.lock:
            rows = list(self.service.state.registry.views.get("inspectors", {}).values())
        return inspector_with_key(rows, signer)


def inspector_with_key(rows: Iterable[dict[str, Any]], signer: str) -> str:
    """The ``inspector_id`` of the row of the ``inspectors`` view registered with ``signer``."""
    for row in rows:
        if row.get("key") == signer:
            return str(row["inspector_id"])
    raise TranscriptAuditError(
        f"the key {signer} is no registered inspector's: an audit's statements are signed by an "
        "inspector (inspector.register/v1)"
    )


# -- the manifest ------------------------------------------------------------------------------


def read_transcript_manifest(directory: Path) -> Manifest:
    """A transcript directory's ``manifest.json`` (contract T1) as the engine parses it
    (:func:`pausewatch.transcript.read_manifest`): what the engine refuses is never committed
    nor compared. :class:`TranscriptAuditError` in one line, with the engine's message,
    otherwise."""
    try:
        return read_manifest(directory)
    except TranscriptError as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            raise TranscriptAuditError(f"{directory}: no manifest.json (not a transcript)") from exc
        message = str(exc)
        path = str(Path(directory) / "manifest.json")
        raise TranscriptAuditError(message if path in message else f"{path}: {message}") from exc


def commit_body(manifest: Manifest, run_id: str) -> dict[str, Any]:
    """The ``transcript.commit/v1`` body of a manifest (contract T4)."""
    return {
        "run_id": run_id,
        "recipe": manifest.recipe,
        "hyperparameters_digest": manifest.hyperparameters_digest,
        "seed_commitment": manifest.seed_commitment,
        "dataset_root": manifest.dataset.merkle_root,
        "dataset_records": manifest.dataset.records,
        "every": manifest.every,
        "steps": manifest.steps,
        "framework": FRAMEWORK,
    }


def checkpoint_bodies(manifest: Manifest, run_id: str) -> list[dict[str, Any]]:
    """The ``transcript.checkpoint/v1`` bodies of a manifest: its checkpoints in step order
    (the engine's parser holds them so), at most :data:`CHECKPOINTS_PER_STATEMENT` a statement,
    the last marked final."""
    checkpoints = [c.to_json() for c in manifest.checkpoints]
    size = CHECKPOINTS_PER_STATEMENT
    chunks = [checkpoints[i : i + size] for i in range(0, len(checkpoints), size)]
    return [
        {"run_id": run_id, "checkpoints": chunk, "final": n == len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]


def _run_id(manifest: Manifest, run_id: str | None, directory: Path) -> str:
    chosen = run_id if run_id is not None else manifest.run_id
    if not chosen:
        raise TranscriptAuditError(
            f"{directory}: the manifest names no run_id: give the run's id (--run-id)"
        )
    return chosen


@dataclass(frozen=True)
class CommitReceipt:
    """Where a transcript's commitments went on the log."""

    run_id: str
    """The run the commitments are of."""
    commit_index: int
    """Log index of the ``transcript.commit/v1``."""
    checkpoint_indices: tuple[int, ...]
    """Log index of each ``transcript.checkpoint/v1``, in order (the last is the final one)."""
    checkpoints: int
    """How many checkpoints were committed."""

    def to_json(self) -> dict[str, Any]:
        """As the CLI prints it."""
        return {
            "run_id": self.run_id,
            "commit_index": self.commit_index,
            "checkpoint_indices": list(self.checkpoint_indices),
            "checkpoints": self.checkpoints,
            "final_index": self.checkpoint_indices[-1] if self.checkpoint_indices else None,
        }


def commit_transcript(
    *,
    directory: Path,
    key: KeyPair,
    log: TranscriptLog,
    run_id: str | None = None,
) -> CommitReceipt:
    """Put a transcript directory's commitments on the log, signed by the operator's ``key``:
    ``transcript.commit/v1``, then its checkpoints in ``transcript.checkpoint/v1`` batches, the
    last final. The statements are deterministic, so committing again after an interruption
    re-sends what is on the log (answered with its entries) and goes on."""
    manifest = read_transcript_manifest(directory)
    rid = _run_id(manifest, run_id, directory)
    commit_index = log.submit(sign_statement(COMMIT_KIND, commit_body(manifest, rid), key))
    indices = tuple(
        log.submit(sign_statement(CHECKPOINT_KIND, body, key))
        for body in checkpoint_bodies(manifest, rid)
    )
    return CommitReceipt(rid, commit_index, indices, len(manifest.checkpoints))


# -- the audit ---------------------------------------------------------------------------------


def manifest_mismatches(
    manifest: Manifest, commitment: dict[str, Any], checkpoints: Sequence[dict[str, Any]]
) -> list[str]:
    """Where a transcript directory's manifest disagrees with what the run committed on the
    log (each a reason of a ``fail`` verdict)."""
    reasons: list[str] = []
    expected = commit_body(manifest, str(commitment["run_id"]))
    for name in (
        "recipe",
        "hyperparameters_digest",
        "seed_commitment",
        "dataset_root",
        "dataset_records",
        "every",
        "steps",
    ):
        if commitment.get(name) != expected[name]:
            reasons.append(
                f"the manifest's {name} is {expected[name]!r}, the log's commitment "
                f"{commitment.get(name)!r}"
            )
    committed = {int(c["step"]): str(c["digest"]) for c in checkpoints}
    held = {c.step: c.digest for c in manifest.checkpoints}
    differ = sorted(s for s in committed.keys() & held.keys() if committed[s] != held[s])
    if differ:
        reasons.append(
            f"{len(differ)} checkpoint(s) differ from their commitment on the log (first: step "
            f"{differ[0]}, manifest {held[differ[0]]}, log {committed[differ[0]]})"
        )
    absent = sorted(committed.keys() - held.keys())
    if absent:
        reasons.append(
            f"{len(absent)} committed checkpoint(s) are not in the manifest "
            f"(first: step {absent[0]})"
        )
    extra = sorted(held.keys() - committed.keys())
    if extra:
        reasons.append(
            f"{len(extra)} checkpoint(s) of the manifest were never committed "
            f"(first: step {extra[0]})"
        )
    return reasons


def default_audit_id(run_id: str, inspector_id: str, beacon_size: int, budget: float) -> str:
    """An audit's id when none is given: a digest of what makes it this audit, so that running
    the same audit again is a rescan of the same audit (its replays on the log are kept)."""
    material = {
        "run_id": run_id,
        "inspector_id": inspector_id,
        "beacon_size": beacon_size,
        "budget": repr(float(budget)),
    }
    return "audit-" + hashlib.sha256(canonical(material)).hexdigest()[:24]


def _own_audit_id(default: str, inspector_id: str, audits: Iterable[dict[str, Any]]) -> str:
    """``default``, or where another inspector already used it (an audit id is the first
    user's), the first of ``default-2``, ``default-3``... that no other inspector has used:
    the same on every run of the same audit, so that running it again is still a rescan."""
    taken = {
        str(a["audit_id"])
        for a in audits
        if a["inspector_id"] != inspector_id
        or any(r["inspector_id"] != inspector_id for r in a["replays"])
    }
    audit_id, n = default, 1
    while audit_id in taken:
        n += 1
        audit_id = f"{default}-{n}"
    return audit_id


def replay_body(result: Any, *, audit_id: str, run_id: str, inspector_id: str) -> dict[str, Any]:
    """The ``transcript.replay/v1`` body of an engine ``SegmentResult``."""
    return {
        "audit_id": audit_id,
        "run_id": run_id,
        "inspector_id": inspector_id,
        "segment": result.segment,
        "start_step": result.start_step,
        "end_step": result.end_step,
        "distance": result.distance,
        "tolerance": result.tolerance,
        "passed": result.passed,
        "train_loss_drop": result.train_loss_drop,
        "heldout_loss_drop": result.heldout_loss_drop,
        "steps_replayed": result.steps_replayed,
    }


def verdict_body(
    verdict: dict[str, Any],
    *,
    audit_id: str,
    run_id: str,
    inspector_id: str,
    beacon_size: int,
    segments: Iterable[int] | None = None,
) -> dict[str, Any]:
    """The ``transcript.verdict/v1`` body of a verdict's JSON (``Verdict.to_json()``).
    ``segments``: the segments drawn from the log's commitment (default: those replayed), which
    an audit stopped by an integrity check names without replaying them."""
    inclusion = verdict["inclusion"]
    return {
        "audit_id": audit_id,
        "run_id": run_id,
        "inspector_id": inspector_id,
        "budget": verdict["budget"],
        "beacon_size": beacon_size,
        "beacon": verdict["beacon"],
        "segments": (
            [int(s["segment"]) for s in verdict["segments"]]
            if segments is None
            else sorted(segments)
        ),
        "verdict": verdict["verdict"],
        "inclusion_statistic": inclusion["statistic"],
        "inclusion_p_value": inclusion["p_value"],
        "inclusion_passed": inclusion["passed"],
        "compute_fraction": verdict["compute_fraction"],
        # The statement holds at most MAX_REASONS reasons of at most MAX_REASON characters.
        "reasons": [str(r)[:MAX_REASON] for r in verdict["reasons"]][:MAX_REASONS],
        "manifest_digest": verdict["manifest_digest"],
    }


def _result_of(row: dict[str, Any]) -> Any:
    """An engine ``SegmentResult`` from a replay read back from the log."""
    from pausewatch.transcript import SegmentResult

    return SegmentResult(
        segment=int(row["segment"]),
        start_step=int(row["start_step"]),
        end_step=int(row["end_step"]),
        distance=float(row["distance"]),
        tolerance=float(row["tolerance"]),
        passed=bool(row["passed"]),
        train_loss_drop=float(row["train_loss_drop"]),
        heldout_loss_drop=float(row["heldout_loss_drop"]),
        steps_replayed=int(row["steps_replayed"]),
    )


@dataclass
class AuditOutcome:
    """What an audit concluded and where its statements are on the log."""

    verdict: dict[str, Any]
    """The engine's verdict JSON (with the manifest's disagreements with the log added to its
    reasons; where the manifest does not parse, ``manifest_digest`` is the SHA-256 of its
    bytes)."""
    audit_id: str
    """The audit's id, which its replays and verdict on the log carry."""
    beacon_size: int
    """Size of the log's tree whose root is the beacon (the final commitment's index + 1)."""
    replay_indices: dict[int, int] = field(default_factory=dict)
    """Log index of each drawn segment's replay."""
    verdict_index: int | None = None
    """Log index of the ``transcript.verdict/v1`` (None until it is on the log)."""
    rescanned: tuple[int, ...] = ()
    """Segments whose replay was already on the log (read back, not run again)."""

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``pass``."""
        return self.verdict.get("verdict") == "pass"

    def to_json(self) -> dict[str, Any]:
        """The verdict JSON with ``audit_id``, ``beacon_size`` and ``entries`` (the log
        indices of the replays, by segment, and of the verdict)."""
        return {
            **self.verdict,
            "audit_id": self.audit_id,
            "beacon_size": self.beacon_size,
            "entries": {
                "replays": [self.replay_indices[s] for s in sorted(self.replay_indices)],
                "verdict": self.verdict_index,
            },
            "rescanned": list(self.rescanned),
        }


def _bounds(segment: int, steps: int, every: int) -> tuple[int, int]:
    start = segment * every
    return start, min(start + every, steps)


def _mismatches_of(
    directory: Path, commitment: dict[str, Any], items: Sequence[dict[str, Any]]
) -> list[str]:
    """:func:`manifest_mismatches` of the directory's manifest, or the one reason why it cannot
    be compared."""
    try:
        return manifest_mismatches(read_transcript_manifest(directory), commitment, items)
    except TranscriptAuditError as exc:
        return [f"the manifest: {exc}"]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = " ".join(str(exc).split())[:500]
        return [f"the manifest cannot be compared with the log's commitment: {detail}"]


def _raw_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (of none where it cannot be read): the digest a verdict names
    for a manifest that does not parse."""
    try:
        content = path.read_bytes()
    except OSError:
        content = b""
    return hashlib.sha256(content).hexdigest()


def audit_transcript(
    *,
    run_id: str,
    directory: Path,
    budget: float,
    key: KeyPair,
    log: TranscriptLog,
    audit_id: str | None = None,
    ray_address: str | None = None,
    use_ray: bool | None = None,
    on_replay: Callable[[int, int], None] | None = None,
) -> AuditOutcome:
    """Audit a committed run against its transcript directory, signed by an inspector's
    ``key``.

    The log's commitments are read and the directory's manifest checked against them (a
    disagreement is a reason of a ``fail`` verdict, not an error). The beacon is the root of
    the log's tree just past the final checkpoint commitment: no commitment could know it. The
    engine plans the audit from it; the drawn segments whose ``transcript.replay/v1`` of this
    audit is already on the log are read back, the others replayed (Ray when ``ray_address`` or
    ``use_ray`` asks for it and Ray is installed, in process otherwise), each replay put on the
    log as it completes; then the ``transcript.verdict/v1``. ``on_replay(done, total)`` is
    told of each replay on the log."""
    if not (Path(directory) / "manifest.json").is_file():
        # No transcript here at all (most likely the wrong directory): no verdict to file.
        raise TranscriptAuditError(f"{directory}: no manifest.json (not a transcript)")
    held = log.transcript(run_id)
    commitment = held["commitment"]
    if commitment is None:
        raise TranscriptAuditError(f"run {run_id!r} has committed no transcript on the log")
    final_idx = commitment.get("final_idx")
    if final_idx is None:
        raise TranscriptAuditError(
            f"run {run_id!r} has not committed its final checkpoint yet: an audit draws from "
            "the log after the final commitment"
        )
    inspector_id = log.inspector_of(key.signer_id)
    beacon_size = int(final_idx) + 1
    beacon = log.root_after(int(final_idx))
    audit_id = audit_id or _own_audit_id(
        default_audit_id(run_id, inspector_id, beacon_size, budget), inspector_id, held["audits"]
    )
    items = held["checkpoints"]["items"]
    steps, every = int(commitment["steps"]), int(commitment["every"])
    # A manifest the lab handed over that cannot be read or compared is a reason of a `fail`,
    # never an error: an error would file nothing on the log.
    mismatches = _mismatches_of(directory, commitment, items)

    # The engine (torch) is needed from here on: what the log holds is checked first.
    from pausewatch.transcript import conclude, plan_audit, replay_segment, run_keyed

    plan = plan_audit(Path(directory), budget=budget, beacon=beacon)
    if plan.manifest is not None:
        # The plan re-read the manifest: compare what it checked, too (the storage is the
        # lab's, and may have changed since the first read).
        mismatches = list(
            dict.fromkeys([*mismatches, *manifest_mismatches(plan.manifest, commitment, items)])
        )
    if mismatches:
        # The directory is not the transcript the log holds: replaying it would check
        # something else than what was committed (and draw from its own steps).
        plan = dataclasses.replace(plan, tasks=())
    committed = {int(c["step"]): str(c["digest"]) for c in items}
    # Each replay is pinned to the manifest the plan checked and to the log's checkpoint
    # digests, so that files swapped after the checks are refused rather than replayed.
    plan = dataclasses.replace(
        plan,
        tasks=tuple(
            dataclasses.replace(
                task,
                start_digest=committed.get(_bounds(task.segment, steps, every)[0], ""),
                end_digest=committed.get(_bounds(task.segment, steps, every)[1], ""),
            )
            for task in plan.tasks
        ),
    )
    tasks = {task.key: task for task in plan.tasks}
    by_segment = {task.segment: task.key for task in plan.tasks}
    # Only this inspector's replays are its audit's (the fold refuses another's under its id).
    on_log = {
        int(r["segment"]): r
        for a in held["audits"]
        if a["audit_id"] == audit_id
        for r in a["replays"]
        if r["inspector_id"] == inspector_id
    }
    outcome = AuditOutcome({}, audit_id, beacon_size)
    results: dict[int, Any] = {}
    for segment, row in on_log.items():
        if segment in by_segment:
            results[segment] = _result_of(row)
            outcome.replay_indices[segment] = int(row["idx"])
    outcome.rescanned = tuple(sorted(results))
    done = [by_segment[s] for s in results]
    for task_key, result in run_keyed(
        replay_segment, tasks, ray_address=ray_address, use_ray=use_ray, done=done
    ):
        segment = tasks[task_key].segment
        if result.error is not None:
            # A segment that could not be replayed is filed at the commitment's bounds.
            start, end = _bounds(segment, steps, every)
            result = dataclasses.replace(result, start_step=start, end_step=end)
        body = replay_body(result, audit_id=audit_id, run_id=run_id, inspector_id=inspector_id)
        outcome.replay_indices[segment] = log.submit(sign_statement(REPLAY_KIND, body, key))
        results[segment] = result
        if on_replay is not None:
            on_replay(len(results), len(tasks))
    verdict = conclude(plan, [results[s] for s in sorted(results)]).to_json()
    if mismatches:
        verdict["verdict"] = "fail"
        verdict["reasons"] = [*mismatches, *verdict["reasons"]]
    if verdict["manifest_digest"] is None:
        verdict["manifest_digest"] = _raw_digest(Path(directory) / "manifest.json")
    outcome.verdict = verdict
    drawn = draw_segments(
        beacon, segment_count(steps, every), segments_for_budget(budget, steps, every)
    )
    body = verdict_body(
        verdict,
        audit_id=audit_id,
        run_id=run_id,
        inspector_id=inspector_id,
        beacon_size=beacon_size,
        segments=drawn,
    )
    outcome.verdict_index = log.submit(sign_statement(VERDICT_KIND, body, key))
    return outcome


__all__ = [
    "CHECKPOINTS_PER_STATEMENT",
    "AuditOutcome",
    "CommitReceipt",
    "LocalTranscriptLog",
    "TranscriptAuditError",
    "TranscriptLog",
    "audit_transcript",
    "checkpoint_bodies",
    "commit_body",
    "commit_transcript",
    "default_audit_id",
    "inspector_with_key",
    "manifest_mismatches",
    "read_transcript_manifest",
    "transcript_report",
]
