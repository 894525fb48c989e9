"""Telemetry ingest: an operator's batch of chip-signed records becomes one log entry.

The path, for each batch, one batch at a time (each is checked against the chains the previous
ones left):

1. the operator's ``telemetry.submission/v1`` must be signed by a live key of that operator and
   name the exact digest and line count of the upload; a batch already integrated is answered
   with its entry (counted once);
2. every record is verified (:func:`pausewatch.telemetry.verify_batch`) against the registry
   and each chip's chain head as the log has them;
3. the accepted records are stored by content hash (idempotent);
4. a ``telemetry.batch/v1`` statement with the root, rejections, gaps, chain heads and
   aggregates is signed with the secretariat's key and appended; the answer comes once it is
   durable and folded into the views.

A crash at any point loses nothing acknowledged: records stored before a crash are content
addressed (storing them again changes nothing), and a batch whose entry reached the log is
folded at the next start; the operator's retry then finds it integrated.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from pausewatch.errors import AuthorizationError, StatementError
from pausewatch.ledger import Appended, PendingEntry, Sequencer
from pausewatch.registry import Registry
from pausewatch.service._errors import RegistryConflictError
from pausewatch.state import StateStore
from pausewatch.statements import KeyPair, Statement, public_key_of, sign_statement
from pausewatch.store._views import telemetry_records
from pausewatch.telemetry import (
    AcceptedRecord,
    BatchResult,
    ChainState,
    ChipInfo,
    ChipStatus,
    aggregate,
    split_lines,
    verify_batch,
)
from pausewatch.telemetry._statements import BATCH_KIND, SUBMISSION_KIND, TelemetrySubmission

MAX_REJECTIONS_LOGGED = 1_000
"""Rejections listed one by one in a batch's entry; more are counted, not listed."""


class RegistrySnapshot:
    """The registry as the telemetry verifier reads it (a ``RegistryView``)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def chip(self, chip_id: str) -> ChipInfo | None:
        """The certified chip ``chip_id``, with its custody and whether its key is revoked."""
        row = self.registry.get("chips", chip_id)
        if row is None:
            return None
        key = self.registry.get("keys", row["key"])
        return ChipInfo(
            chip_id=chip_id,
            public_key=public_key_of(row["key"]),
            model=row["model"],
            cluster_id=row["cluster_id"],
            operator_id=row["operator_id"],
            status=ChipStatus(row["status"]),
            revoked=key is None or key["revoked_idx"] is not None,
        )

    def run_declared_on(self, run_id: str, cluster_id: str) -> bool:
        """Whether ``run_id`` is declared on ``cluster_id``."""
        row = self.registry.get("runs", run_id)
        return row is not None and row["cluster_id"] == cluster_id


class ChainHeads(Mapping[str, ChainState]):
    """The chain heads on the log (the ``tel_chains`` view), read as the verifier asks.

    The verifier looks up only the chips in the batch; decoding the whole view for every batch
    would cost time in proportion to the fleet, not to the batch. Read under the state's lock.
    """

    def __init__(self, rows: Mapping[tuple[Any, ...], Mapping[str, Any]]) -> None:
        self.rows = rows

    def __getitem__(self, chip_id: str) -> ChainState:
        row = self.rows.get((chip_id,))
        if row is None:
            raise KeyError(chip_id)
        return ChainState.from_json(row)

    def __iter__(self) -> Iterator[str]:
        return (chip_id for (chip_id,) in self.rows)

    def __len__(self) -> int:
        return len(self.rows)


_INSERT_RECORDS = (
    "INSERT INTO telemetry_records (hash, chip_id, seq, batch_digest, position, line) "
    "VALUES ({}) ON CONFLICT DO NOTHING"
)
"""Content addressed: a record stored before (a retried batch) is left as it is. SQLite (3.24
and later) and PostgreSQL both take ``ON CONFLICT DO NOTHING`` with no conflict target."""

_PLACEHOLDERS = {
    "qmark": ", ".join(["?"] * 6),
    "format": ", ".join(["%s"] * 6),
    "pyformat": ", ".join(["%s"] * 6),
}
"""Positional placeholders by DB-API paramstyle (sqlite3: qmark; psycopg: pyformat)."""


_COLUMNS = ("hash", "chip_id", "seq", "batch_digest", "position", "line")


def _insert_records(conn: Connection, rows: list[tuple[str, str, int, str, int, bytes]]) -> None:
    """Insert record rows ``(hash, chip_id, seq, batch_digest, position, line)``, skipping
    hashes already stored.

    The driver's ``executemany`` takes the rows as they are: SQLAlchemy's insert construct
    spent more per row than the database did (about 8 of 17 µs a record on SQLite). Rows go in
    hash order, so that each transaction walks the hash index once instead of landing at random.
    """
    placeholders = _PLACEHOLDERS.get(conn.dialect.paramstyle)
    if placeholders is None:  # pragma: no cover - another driver: the portable construct
        if conn.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as upsert
        else:
            from sqlalchemy.dialects.postgresql import insert as upsert  # type: ignore[assignment]
        conn.execute(
            upsert(telemetry_records).on_conflict_do_nothing(),
            [dict(zip(_COLUMNS, row, strict=True)) for row in rows],
        )
        return
    conn.exec_driver_sql(_INSERT_RECORDS.format(placeholders), rows)


_GAP_FIELDS = ("chip_id", "from_seq", "to_seq", "missing")


def _gap_order(gap: Mapping[str, Any]) -> tuple[str, int]:
    """Gaps in a receipt go by chip, then seq: the same on the first answer and on a repeat,
    whether the views were folded in this process or reloaded."""
    return gap["chip_id"], gap["from_seq"]


@dataclass(frozen=True)
class BatchReceipt:
    """What the service did with an uploaded batch."""

    index: int
    """Log index of the batch's ``telemetry.batch/v1`` entry."""
    integrated_at: datetime
    duplicate: bool
    """The same upload was integrated before; nothing was counted again."""
    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    records_root: str


class TelemetryIngest:
    """Verifies, stores and logs telemetry batches; one batch at a time."""

    def __init__(
        self,
        engine: Engine,
        state: StateStore,
        sequencer: Sequencer,
        secretariat: KeyPair,
        clock: Callable[[], datetime],
        fold: Callable[[], None],
        *,
        every_signature: bool = False,
    ) -> None:
        self.engine = engine
        self.state = state
        self.sequencer = sequencer
        self.secretariat = secretariat
        self.clock = clock
        self.fold = fold
        self.every_signature = every_signature
        """Check every record's signature (see ``verify_batch``)."""
        self.lock = threading.Lock()

    def check_submission(self, data: bytes, submission: Statement) -> TelemetrySubmission:
        """The submission's body, once it is shown to be the operator's own for ``data``."""
        if submission.kind != SUBMISSION_KIND:
            raise StatementError(f"expected a {SUBMISSION_KIND} statement, got {submission.kind}")
        body = submission.body
        assert isinstance(body, TelemetrySubmission)
        holder = self.state.registry.key_holder(submission.signer)
        if holder != ("operator", body.operator_id):
            raise AuthorizationError(
                f"the submission must be signed by a live key of operator {body.operator_id!r}"
            )
        digest = hashlib.sha256(data).hexdigest()
        if digest != body.batch_digest:
            raise StatementError(
                f"batch_digest {body.batch_digest} does not match the upload (SHA-256 {digest})"
            )
        lines = data.count(b"\n") + (0 if not data or data.endswith(b"\n") else 1)
        if lines != body.records:
            raise StatementError(
                f"the submission says {body.records} records; the upload has {lines}"
            )
        return body

    def ingest(self, data: bytes, submission: Statement) -> BatchReceipt:
        """Verify, store and log one batch (see the module docstring)."""
        body = self.check_submission(data, submission)
        with self.lock:
            with self.state.lock:
                seen = self.state.registry.get("tel_submissions", body.batch_digest)
                if seen is not None:
                    batch = self.state.registry.get("tel_batches", int(seen["idx"]))
                    if batch is not None and batch["operator_id"] != body.operator_id:
                        # The receipt lists another operator's rejections: not this one's.
                        raise RegistryConflictError(
                            f"this exact upload was integrated at entry {seen['idx']} for "
                            f"operator {batch['operator_id']!r}"
                        )
                    return self._receipt_of(int(seen["idx"]))
                registry = self.state.registry
                now = self.clock()
                result = verify_batch(
                    split_lines(data),
                    operator_id=body.operator_id,
                    now=now,
                    registry=RegistrySnapshot(registry),
                    chains=ChainHeads(registry.views["tel_chains"]),
                    every_signature=self.every_signature,
                )
            self._store(result.accepted, body.batch_digest)
            statement = self._batch_statement(submission, body, result, now)
            appended = self._append(statement)
            self.fold()
            rejected = self.state.registry.get("rejected", appended.index)
            if rejected is not None:
                # Something changed between the check and the append (a key rotated, say).
                raise RegistryConflictError(
                    f"entry {appended.index} is on the log, but the registry rejected the "
                    f"batch: {rejected['reason']}"
                )
        return BatchReceipt(
            index=appended.index,
            integrated_at=appended.integrated_at,
            duplicate=False,
            accepted=len(result.accepted),
            duplicates=len(result.duplicates),
            rejected=[r.to_json() for r in result.rejected],
            gaps=sorted(
                ({k: g.to_json()[k] for k in _GAP_FIELDS} for g in result.gaps), key=_gap_order
            ),
            records_root=result.root_hex,
        )

    def _store(self, accepted: Sequence[AcceptedRecord], batch_digest: str) -> None:
        """Store the accepted records with the upload they came in and their position among
        its accepted records: the order the batch's Merkle root commits to."""
        if not accepted:
            return
        rows = sorted(
            (a.hash, a.record.chip_id, a.record.seq, batch_digest, position, a.line)
            for position, a in enumerate(accepted)
        )
        with self.engine.begin() as conn:
            _insert_records(conn, rows)

    def _batch_statement(
        self,
        submission: Statement,
        body: TelemetrySubmission,
        result: BatchResult,
        now: datetime,
    ) -> Statement:
        rejected = [
            {k: (v[:2000] if k == "reason" else v) for k, v in r.to_json().items() if v is not None}
            for r in result.rejected[:MAX_REJECTIONS_LOGGED]
        ]
        return sign_statement(
            BATCH_KIND,
            {
                "operator_id": body.operator_id,
                "submission": submission.to_json(),
                "verified_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "records_root": result.root_hex,
                "accepted": len(result.accepted),
                "duplicates": len(result.duplicates),
                "rejected": rejected,
                "rejected_total": len(result.rejected),
                "gaps": [
                    {"chip_id": g.chip_id, "from_seq": g.from_seq, "to_seq": g.to_seq}
                    for g in result.gaps
                ],
                "chains": {c: s.to_json() for c, s in sorted(result.chains.items())},
                "aggregate": aggregate(result.accepted).to_json(),
            },
            self.secretariat,
        )

    def _append(self, statement: Statement) -> Appended:
        # statement.digest would encode the statement a second time (a batch's statement runs
        # to megabytes with a large fleet); it is the SHA-256 of these same bytes.
        data = statement.canonical_bytes()
        future: Future[Appended] = self.sequencer.submit(
            PendingEntry(data, dedup_key=hashlib.sha256(data).digest())
        )
        return future.result()

    def _receipt_of(self, index: int) -> BatchReceipt:
        row = self.state.registry.get("tel_batches", index)
        assert row is not None
        rejections = sorted(
            (r for (i, _), r in self.state.registry.views["tel_rejections"].items() if i == index),
            key=lambda r: r["position"],
        )
        gaps = [
            {k: g[k] for k in _GAP_FIELDS}
            for (i, _, _), g in self.state.registry.views["tel_gaps"].items()
            if i == index
        ]
        return BatchReceipt(
            index=index,
            integrated_at=datetime.fromisoformat(row["integrated_at"]),
            duplicate=True,
            accepted=row["accepted"],
            duplicates=row["duplicates"],
            rejected=[
                {"index": r["line"], **{k: r[k] for k in ("chip_id", "seq", "rule", "reason")}}
                for r in rejections
            ],
            gaps=sorted(gaps, key=_gap_order),
            records_root=row["records_root"],
        )
