"""The persistent log: entries, complete-subtree hashes and checkpoints in a SQL store.

Entries are the canonical bytes ``{"integrated_at": <RFC 3339 UTC>, "statement": <statement>}``;
leaf hashes follow RFC 9162. Every complete subtree's hash is stored once, when its last leaf is
appended, so proofs and historical roots are served from O(log n) stored hashes. Only the right
edge of the tree (a :class:`CompactRange`) is kept in memory.

A batch is appended in one transaction together with the checkpoint that covers it. Before it
signs that checkpoint the log proves, from the stored hashes, that the new tree is consistent with
its previous checkpoint, so it never signs a checkpoint inconsistent with an earlier one.

The newest signed checkpoint is also kept outside the database (:class:`KeptCheckpoint`, a file
in the data directory; ADR 0014), written durably after the commit and before the batch is
acknowledged or served. At start the store must reach it: a store behind it (rolled back or
truncated) or disagreeing with it is refused, since serving it would make the log sign a second
checkpoint of a size it already signed. Before each signature the kept checkpoint is read again,
so that a second writer on another copy of the store cannot sign a size already signed.

Replicas of one log on one PostgreSQL database (ADR 0047) share the store itself: the one that
sequences appends, the others :meth:`PersistentLog.refresh` to the checkpoints it signs, and a
replica that starts to sequence first calls :meth:`PersistentLog.reload`. Each append checks, in
its transaction, that the store's newest checkpoint is this log's own, so that a writer another
one overtook cannot append over it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from pausewatch import fields
from pausewatch.errors import (
    ConfigurationError,
    ConsistencyError,
    EncodingError,
    NotFoundError,
    ProofError,
    VerificationError,
)
from pausewatch.ledger._checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from pausewatch.ledger._merkle import (
    EMPTY_ROOT,
    Node,
    Range,
    assemble,
    complete_subtrees,
    consistency_ranges,
    inclusion_ranges,
    nodes_for,
    range_hash,
    verify_consistency,
)
from pausewatch.ledger._note import Signer, Verifier
from pausewatch.ledger._tiles import (
    TILE_HEIGHT,
    WIDE_ENTRIES,
    Tile,
    encode_bundle,
    parse_tile_path,
    tile_in_tree,
)
from pausewatch.ledger._tree import CompactRange
from pausewatch.store import (
    LEAF_BLOCK_BITS,
    LEAF_PREFIX_BYTES,
    log_checkpoints,
    log_cosignatures,
    log_entries,
    log_meta,
    log_nodes,
)

_sha256 = hashlib.sha256
_logger = logging.getLogger("pausewatch.ledger")

_Head = tuple[int, CompactRange, str | None]
"""A log's published state: its size, the right edge of its tree and its newest checkpoint."""

ADR = "docs/adr/0014-kept-checkpoint.md"
UNSAFE_FLAG = "--unsafe-trust-database"
"""The `pausewatch serve` option that accepts a store the kept checkpoint refuses."""


EPOCH_KEY = "sequencer_epoch"
"""The ``log_meta`` row that names the writer that holds the log (ADR 0047): a number that each
:meth:`PersistentLog.take_over` raises, and that each append checks is still its own."""


class FencedError(ConsistencyError):
    """Another writer took the log over since this one did (or this one never did): appending
    would write over the other's entries, so nothing was appended (ADR 0047)."""


class KeptCheckpoint(Protocol):
    """Where the log keeps its newest signed checkpoint, outside its database."""

    @property
    def where(self) -> str:
        """A human-readable location, for messages."""
        ...

    def read(self) -> str | None:
        """The kept note, or None if none was kept."""
        ...

    def write(self, note: str) -> None:
        """Replace the kept note; durable when it returns."""
        ...

    def discard(self) -> None:
        """Remove the kept note."""
        ...


def format_time(t: datetime) -> str:
    """RFC 3339 UTC with microseconds and a ``Z``, the log's one time format."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ConfigurationError(f"expected a timezone-aware time, got {t!r}")
    return fields.format_time(t)


def to_micros(t: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    delta = t.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    """The aware UTC datetime of microseconds since the epoch."""
    return datetime.fromtimestamp(us // 1_000_000, tz=UTC).replace(microsecond=us % 1_000_000)


def encode_entry(payload: bytes, integrated_at: datetime) -> bytes:
    """The entry bytes for a canonical JSON ``payload`` (RFC 8785 by construction: the two
    keys are in sorted order and ``payload`` is itself canonical)."""
    return (
        b'{"integrated_at":"'
        + format_time(integrated_at).encode()
        + b'","statement":'
        + payload
        + b"}"
    )


@dataclass(frozen=True)
class PendingEntry:
    """What a writer hands the log: the statement's canonical bytes and its dedup key."""

    payload: bytes
    dedup_key: bytes | None = None


@dataclass(frozen=True)
class Appended:
    """An entry as integrated: index, leaf hash, time; ``duplicate`` if it was already logged."""

    index: int
    leaf_hash: bytes
    integrated_at: datetime
    duplicate: bool = False


@dataclass(frozen=True)
class Entry:
    """A stored entry."""

    index: int
    leaf_hash: bytes
    integrated_at: datetime
    data: bytes


class PersistentLog:
    """An RFC 9162 log over a SQL store. One writer at a time (the sequencer); any readers.

    With ``kept``, the newest signed checkpoint is kept there too, and a store that is behind
    it or disagrees with it is refused (:class:`ConsistencyError`). ``unsafe_trust_store``
    accepts such a store anyway and keeps its newest checkpoint instead: if the store lost
    entries the log will then sign a second, different checkpoint of a size it signed before,
    a fork that witnesses refuse and auditors report. Without ``kept`` (tools, benchmarks) the
    log cannot tell that its store went back.
    """

    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        *,
        kept: KeptCheckpoint | None = None,
        unsafe_trust_store: bool = False,
    ) -> None:
        self._engine = engine
        self._signer = signer
        self._kept = kept
        # A checkpoint committed to the store but not yet kept (the keeping failed): it is kept
        # before anything else is appended, and only then served.
        self._unkept: tuple[CompactRange, int, str] | None = None
        self._write_lock = threading.Lock()
        # The epoch this log took the store over at (None: it never did; it may then append
        # only to a store no writer ever took over, as a single process or a tool does).
        self._epoch: int | None = None
        # Fixed statements; only the driver's placeholder style varies (qmark or format).
        ph = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_entries = (
            "INSERT INTO log_entries (idx, leaf_hash, dedup_key, integrated_us, data) "
            "VALUES (?, ?, ?, ?, ?)".replace("?", ph)
        )
        self._insert_nodes = "INSERT INTO log_nodes (level, idx, hash) VALUES (?, ?, ?)".replace(
            "?", ph
        )
        # PostgreSQL takes a batch's rows by COPY: row-by-row INSERTs, even pipelined, cost
        # the server several times more per row (ADR 0049).
        self._copy = engine.dialect.name == "postgresql"
        self.origin = signer.name
        self.verifier = signer.verifier()
        with _snapshot(engine) as conn:
            self._check_identity(conn)
            self._head: _Head = self._load(conn)
        if kept is not None:
            self._check_kept(kept, unsafe_trust_store)

    def _load(self, conn: Connection) -> tuple[int, CompactRange, str | None]:
        """The store's size, right edge and newest checkpoint, checked against each other."""
        size = conn.execute(select(func.count()).select_from(log_entries)).scalar_one()
        nodes = CompactRange.nodes(size)
        hashes = self._fetch(conn, nodes)
        compact = CompactRange(size, [hashes[n] for n in nodes])
        latest = conn.execute(
            select(log_checkpoints.c.size, log_checkpoints.c.root, log_checkpoints.c.note)
            .order_by(log_checkpoints.c.size.desc())
            .limit(1)
        ).first()
        if latest is not None and latest.size != size:
            raise ConsistencyError(
                f"log store: latest checkpoint covers {latest.size} entries, store holds {size}"
            )
        if latest is not None and latest.root != compact.root():
            raise ConsistencyError(
                f"log store: stored hashes give root {compact.root().hex()}, latest "
                f"checkpoint says {bytes(latest.root).hex()}"
            )
        return size, compact, None if latest is None else str(latest.note)

    def reload(self) -> None:
        """Read the log's state from the store again, as a replica does before it starts to
        sequence (ADR 0047): another replica may have appended since this one last looked.
        The store must extend the kept checkpoint (:class:`ConsistencyError` otherwise, and the
        state in memory is left as it was); the kept checkpoint is brought up to the store."""
        with self._write_lock:
            with _snapshot(self._engine) as conn:
                loaded = self._load(conn)
            before = self._head
            self._head = loaded
            self._unkept = None
            if self._kept is not None:
                try:
                    self._check_kept(self._kept, False)
                except BaseException:
                    self._head = before
                    raise

    def take_over(self) -> int:
        """Become the store's one writer (ADR 0047): raise the epoch in a transaction of its
        own, then :meth:`reload`. Every append checks, in its own transaction, that the epoch
        is still this log's, so that a writer taken over can no longer commit: one whose batch
        was in flight either committed before the epoch moved (and the reload sees it) or
        is refused. Return the epoch."""
        with self._write_lock:
            with self._engine.begin() as conn:
                current = conn.execute(
                    select(log_meta.c.value).where(log_meta.c.key == EPOCH_KEY).with_for_update()
                ).scalar()
                epoch = 1 if current is None else int(current) + 1
                if current is None:
                    conn.execute(insert(log_meta).values(key=EPOCH_KEY, value=str(epoch)))
                else:
                    conn.execute(
                        update(log_meta).where(log_meta.c.key == EPOCH_KEY).values(value=str(epoch))
                    )
            self._epoch = None  # no append between the new epoch and the reload
        self.reload()
        with self._write_lock:
            self._epoch = epoch
        return epoch

    @property
    def epoch(self) -> int | None:
        """The epoch this log took the store over at (None: it never did)."""
        return self._epoch

    def _check_epoch(self, conn: Connection) -> None:
        """Refuse to append unless the store's epoch is this log's own. Read ``FOR SHARE``, so
        that a :meth:`take_over` waits for this transaction to end before it moves the epoch
        (and then reloads what it committed)."""
        stored = conn.execute(
            select(log_meta.c.value).where(log_meta.c.key == EPOCH_KEY).with_for_update(read=True)
        ).scalar()
        epoch = None if stored is None else int(stored)
        if epoch != self._epoch:
            raise FencedError(
                f"refusing to append: the log was taken over by another writer (epoch {epoch}, "
                f"this log's {self._epoch}); this process no longer sequences it"
            )

    def _check_behind_kept(self, size: int, root: bytes) -> None:
        """Refuse to follow a store to a checkpoint older than, or different from, the one kept
        here: the store was restored from an older copy, and its next checkpoints would be a
        fork of those this log already signed."""
        if self._kept is None:
            return
        note = self._kept.read()
        if note is None:
            return
        try:
            kept = Checkpoint.from_text(note.split("\n\n", 1)[0] + "\n")
        except VerificationError as exc:
            raise ConsistencyError(
                f"the kept checkpoint {self._kept.where} is malformed: {exc}"
            ) from exc
        kept_size = kept.size
        if kept_size > size or (kept_size == size and kept.root_hash != root):
            raise ConsistencyError(
                f"the store's newest checkpoint is of size {size}, but this log already "
                f"signed or followed one of size {kept_size} (kept in {self._kept.where}) that "
                f"the store does not hold: the database was rolled back or replaced ({ADR})"
            )

    def refresh(self) -> bool:
        """Catch up with checkpoints another process (the sequencing replica) signed into the
        store; return whether the log grew. Signs nothing. The newest checkpoint is taken only
        if it verifies under the log's key, the stored hashes give its root, and it is
        consistent with the one this log had; it is then kept (ADR 0014) like one signed here.
        When it returns, the log is at least at the newest checkpoint it read (another thread's
        refresh of an older one does not stop it short).
        """
        start = self._size
        while self._refresh_once() is False:
            pass  # another thread moved the log meanwhile: look again
        return self._size > start

    def _refresh_once(self) -> bool | None:
        """Apply the store's newest checkpoint: True if applied, None if there was none newer,
        False if another thread moved the log meanwhile."""
        with _snapshot(self._engine) as conn:
            latest = conn.execute(
                select(log_checkpoints.c.size, log_checkpoints.c.root, log_checkpoints.c.note)
                .order_by(log_checkpoints.c.size.desc())
                .limit(1)
            ).first()
            # The size and its root read together: another thread's refresh may move the log
            # while this one checks, and the check is from the checkpoint this one started at.
            old_size, old_root = self.head()
            if latest is None or latest.size <= old_size:
                return None
            size, root, note = int(latest.size), bytes(latest.root), str(latest.note)
            try:
                cp = SignedCheckpoint.open(note, self.verifier).checkpoint
            except VerificationError as exc:
                raise ConsistencyError(
                    f"the store's checkpoint of size {size} does not verify: {exc}"
                ) from exc
            nodes = CompactRange.nodes(size)
            hashes = self._fetch(conn, nodes)
            compact = CompactRange(size, [hashes[n] for n in nodes])
            if cp.size != size or cp.root_hash != root or compact.root() != root:
                raise ConsistencyError(
                    f"the store's checkpoint of size {size} disagrees with its stored hashes"
                )
            self._check_behind_kept(size, root)
            if old_size:
                ranges = consistency_ranges(old_size, size)
                proof = assemble(ranges, self._fetch(conn, nodes_for(ranges)))
                try:
                    verify_consistency(old_size, size, proof, old_root, root)
                except ProofError as exc:
                    raise ConsistencyError(
                        f"the store's checkpoint of size {size} is inconsistent with checkpoint "
                        f"{old_size}, which this log served"
                    ) from exc
        with self._write_lock:
            if self._size != old_size:  # moved meanwhile by another thread: look again
                return False
            self._keep_and_publish(compact, size, note)
        return True

    def _check_kept(self, kept: KeptCheckpoint, unsafe: bool) -> None:
        """Refuse a store that is behind the kept checkpoint or disagrees with it; bring the
        kept checkpoint up to a store that extends it."""
        try:
            problem = self._kept_problem(kept)
        except ConsistencyError as exc:
            if not unsafe:
                raise
            problem = str(exc)
        if problem is None:
            if self._latest_note is not None and self._kept_size(kept) != self._size:
                kept.write(self._latest_note)
            return
        if not unsafe:
            raise ConsistencyError(problem)
        _logger.warning(
            "%s: trusting the database over the kept checkpoint (%s). If the database lost "
            "entries, this log will sign a second checkpoint of a size it already signed: a "
            "fork that witnesses refuse and auditors report",
            UNSAFE_FLAG,
            problem,
        )
        if self._latest_note is None:
            kept.discard()
        else:
            kept.write(self._latest_note)

    def _kept_problem(self, kept: KeptCheckpoint) -> str | None:
        """What is wrong between the store and the kept checkpoint, as one line (None: fine)."""
        note = kept.read()
        size = self._size
        if note is None:
            if size == 0:
                return None
            return (
                f"the database holds {size} entries but no checkpoint is kept in {kept.where} "
                "(the file was lost, or the database comes from another data directory): "
                "restore that file from the log's data directory; if this database is surely "
                f"the newest copy of the log, start once with {UNSAFE_FLAG} ({ADR})"
            )
        try:
            cp = SignedCheckpoint.open(note, self.verifier).checkpoint
        except VerificationError as exc:
            raise ConsistencyError(
                f"the kept checkpoint {kept.where} is not a checkpoint of this log ({exc}): "
                f"restore the file this log wrote there ({ADR})"
            ) from exc
        if cp.size > size:
            return (
                f"the database holds {size} entries, but this log already signed a checkpoint "
                f"of size {cp.size} (kept in {kept.where}): the database was rolled back or "
                "truncated, and serving it would make the log sign a second checkpoint of a "
                f"size it already signed; restore the newest copy of the database ({ADR})"
            )
        root = self.root_at(cp.size)
        if root != cp.root_hash:
            return (
                f"the database's tree of {cp.size} entries has root {root.hex()}, which "
                f"disagrees with the checkpoint of size {cp.size} this log signed (root "
                f"{cp.root_hash.hex()}, kept in {kept.where}): the database was altered or "
                f"replaced; restore the copy that holds that checkpoint ({ADR})"
            )
        return None

    @staticmethod
    def _kept_size(kept: KeptCheckpoint) -> int | None:
        """The size of the kept checkpoint, parsed without verifying it (None: none kept)."""
        note = kept.read()
        if note is None:
            return None
        try:
            return Checkpoint.from_text(note.split("\n\n", 1)[0] + "\n").size
        except VerificationError as exc:
            raise ConsistencyError(f"the kept checkpoint {kept.where} is malformed: {exc}") from exc

    def _check_identity(self, conn: Connection) -> None:
        rows = {str(k): str(v) for k, v in conn.execute(select(log_meta.c.key, log_meta.c.value))}
        vkey = self.verifier.to_string()
        if not rows:
            conn.execute(
                insert(log_meta),
                [{"key": "origin", "value": self.origin}, {"key": "verifier_key", "value": vkey}],
            )
            return
        if rows.get("origin") != self.origin or rows.get("verifier_key") != vkey:
            raise ConfigurationError(
                f"this store belongs to log {rows.get('verifier_key')!r}; "
                f"refusing to run it as {vkey!r}"
            )

    # -- reads ---------------------------------------------------------------------------------

    @property
    def _size(self) -> int:
        return self._head[0]

    @property
    def _compact(self) -> CompactRange:
        return self._head[1]

    @property
    def _latest_note(self) -> str | None:
        return self._head[2]

    @property
    def size(self) -> int:
        """Number of durable entries."""
        return self._head[0]

    def root(self) -> bytes:
        """Root of the durable tree."""
        return self.head()[1]

    def head(self) -> tuple[int, bytes]:
        """The durable tree's size and root, read together: another thread may publish a newer
        checkpoint between a read of :attr:`size` and one of :meth:`root`."""
        size, compact, _ = self._head
        return size, compact.root() if size else EMPTY_ROOT

    @staticmethod
    def _fetch(conn: Connection, nodes: Iterable[Node]) -> dict[Node, bytes]:
        wanted = set(nodes)
        if not wanted:
            return {}
        # A proof is served by one fixed statement, straight to the driver: building the query
        # through SQLAlchemy cost ten times what the database took (ADR 0049), and a fixed
        # text lets sqlite3's statement cache and psycopg's automatic preparation reuse the
        # plan. PostgreSQL takes the nodes as two arrays (one text for every proof); SQLite one
        # (level = ? AND idx = ?) term per node (one text per node count), each a primary-key
        # lookup, where a row-value IN list may scan.
        if conn.dialect.name == "postgresql":
            nodes_ = list(wanted)
            rows = conn.exec_driver_sql(
                _NODES_UNNEST, ([n.level for n in nodes_], [n.index for n in nodes_])
            )
        else:
            params: list[int] = []
            for n in wanted:
                params += (n.level, n.index)
            rows = conn.exec_driver_sql(
                _nodes_statement(len(wanted), conn.dialect.paramstyle), tuple(params)
            )
        found = {Node(level, idx): bytes(h) for level, idx, h in rows}
        missing = wanted - set(found)
        if missing:
            raise ConsistencyError(f"log store is missing subtree hashes {sorted(missing)[:5]}")
        return found

    def _check_size(self, size: int, what: str = "tree size") -> None:
        if not 0 <= size <= self._size:
            raise ProofError(f"{what}: expected 0..{self._size}, got {size}")

    def root_at(self, size: int) -> bytes:
        """Root of the tree of the first ``size`` entries."""
        self._check_size(size)
        if size == 0:
            return EMPTY_ROOT
        with self._engine.connect() as conn:
            return range_hash(Range(0, size), self._fetch(conn, complete_subtrees(0, size)))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of entry ``index`` in the tree of ``size`` entries (default: all)."""
        size = self._size if size is None else size
        self._check_size(size)
        ranges = inclusion_ranges(index, size)
        with self._engine.connect() as conn:
            return assemble(ranges, self._fetch(conn, nodes_for(ranges)))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof from ``old_size`` to ``new_size`` entries (default: all)."""
        new_size = self._size if new_size is None else new_size
        self._check_size(new_size, "new size")
        ranges = consistency_ranges(old_size, new_size)
        with self._engine.connect() as conn:
            return assemble(ranges, self._fetch(conn, nodes_for(ranges)))

    def entry(self, index: int) -> Entry:
        """The entry at ``index``."""
        if not 0 <= index < self._size:
            raise NotFoundError(f"entry index: expected 0..{self._size - 1}, got {index}")
        entries = self.entries(index, 1)
        return entries[0]

    def entries(self, start: int, limit: int) -> list[Entry]:
        """Up to ``limit`` durable entries from ``start``, in order."""
        end = min(self._size, start + max(limit, 0))
        if start < 0:
            raise NotFoundError(f"entry index: expected >= 0, got {start}")
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(
                    log_entries.c.idx,
                    log_entries.c.leaf_hash,
                    log_entries.c.integrated_us,
                    log_entries.c.data,
                )
                .where(log_entries.c.idx >= start, log_entries.c.idx < end)
                .order_by(log_entries.c.idx)
            )
            return [
                Entry(r.idx, bytes(r.leaf_hash), from_micros(r.integrated_us), bytes(r.data))
                for r in rows
            ]

    def entry_heads(self, start: int, limit: int) -> list[tuple[int, bytes, datetime]]:
        """Index, leaf hash and integration time of up to ``limit`` durable entries from
        ``start``, in order: :meth:`entries` without the entries' bytes (a telemetry batch's
        run to hundreds of kilobytes, and a listing needs only what it has not seen)."""
        end = min(self._size, start + max(limit, 0))
        if start < 0:
            raise NotFoundError(f"entry index: expected >= 0, got {start}")
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(log_entries.c.idx, log_entries.c.leaf_hash, log_entries.c.integrated_us)
                .where(log_entries.c.idx >= start, log_entries.c.idx < end)
                .order_by(log_entries.c.idx)
            )
            return [(r.idx, bytes(r.leaf_hash), from_micros(r.integrated_us)) for r in rows]

    def index_of(self, leaf_hash: bytes) -> int:
        """The index of the first entry with ``leaf_hash``."""
        if self._size == 0:
            raise NotFoundError(f"no entry with leaf hash {leaf_hash.hex()}")
        # The index is keyed on each entry's block and its hash's first bytes (ADR 0053): one
        # equality probe per block finds the rows, the whole hash picks among them. The rows
        # come back unordered and the lowest is taken here, so that no engine is tempted to
        # walk the primary key in order for a min().
        blocks = list(range(((self._size - 1) >> LEAF_BLOCK_BITS) + 1))
        prefix = leaf_hash[:LEAF_PREFIX_BYTES]
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                rows = conn.exec_driver_sql(
                    _LEAF_ANY, (blocks, prefix, leaf_hash, self._size)
                ).scalars()
            else:
                rows = conn.exec_driver_sql(
                    _leaf_statement(len(blocks), conn.dialect.paramstyle),
                    (*blocks, prefix, leaf_hash, self._size),
                ).scalars()
            found = [int(idx) for idx in rows]
        if not found:
            raise NotFoundError(f"no entry with leaf hash {leaf_hash.hex()}")
        return min(found)

    def index_of_dedup(self, dedup_key: bytes) -> int | None:
        """The index of the entry logged under ``dedup_key``, if any."""
        with self._engine.connect() as conn:
            idx = conn.execute(
                select(log_entries.c.idx).where(log_entries.c.dedup_key == dedup_key)
            ).scalar()
        return None if idx is None else int(idx)

    def first_checkpoint_covering(self, index: int) -> int:
        """Size of the oldest signed checkpoint that includes entry ``index`` (and that this
        log holds: the store may be ahead of a replica that follows it)."""
        with self._engine.connect() as conn:
            size = conn.execute(
                select(func.min(log_checkpoints.c.size)).where(
                    log_checkpoints.c.size > index, log_checkpoints.c.size <= self._size
                )
            ).scalar()
        if size is None:
            raise NotFoundError(f"no checkpoint covers entry {index}")
        return int(size)

    def latest_note(self) -> str | None:
        """The newest signed checkpoint note (log signature only)."""
        return self._latest_note

    def latest(self) -> tuple[int, str | None]:
        """The log's size and its newest signed checkpoint note, read together (another thread
        may publish a newer checkpoint between a read of :attr:`size` and one of
        :meth:`latest_note`)."""
        size, _, note = self._head
        return size, note

    def current_note(self) -> tuple[int, str]:
        """The log's size and the checkpoint note of that size: the newest signed one, or, for a
        log that has signed none yet (its store is empty), a checkpoint of the empty tree signed
        now and not stored. What a witness is shown to learn where it stands on this log
        (docs/adr/0063)."""
        size, note = self.latest()
        if note is not None:
            return size, note
        if size:  # entries no checkpoint covers: nothing is signed for them here
            raise ConsistencyError(f"log store: {size} entries and no checkpoint covers them")
        return 0, sign_checkpoint(Checkpoint(self.origin, 0, EMPTY_ROOT), self._signer)

    def checkpoint_note(self, size: int | None = None, *, with_cosignatures: bool = True) -> str:
        """The signed checkpoint of ``size`` (default: this log's newest, the one it verified
        or signed, never a newer one the store holds that this log has not reached), with the
        cosignatures it got."""
        with self._engine.connect() as conn:
            if size is None:
                latest = self._latest_note
                if latest is None:
                    raise NotFoundError("the log has no checkpoint yet")
                note = latest
                size = Checkpoint.from_text(latest.split("\n\n", 1)[0] + "\n").size
            else:
                row = None
                if 0 <= size <= self._size:
                    row = conn.execute(
                        select(log_checkpoints.c.note).where(log_checkpoints.c.size == size)
                    ).first()
                if row is None:
                    raise NotFoundError(f"no checkpoint of size {size}")
                note = str(row.note)
            if with_cosignatures:
                note += _cosignature_lines(conn, size)
        return note

    def checkpoint_sizes(self, start: int = 0, limit: int = 100) -> list[int]:
        """Sizes of the signed checkpoints, oldest first."""
        with self._engine.connect() as conn:
            return list(
                conn.execute(
                    select(log_checkpoints.c.size)
                    .where(log_checkpoints.c.size <= self._size)
                    .order_by(log_checkpoints.c.size)
                    .offset(start)
                    .limit(limit)
                ).scalars()
            )

    def latest_witnessed(self, witnesses: Sequence[Verifier], threshold: int) -> str | None:
        """The newest checkpoint cosigned by at least ``threshold`` of ``witnesses``."""
        names = [w.name for w in witnesses]
        if threshold <= 0:
            return self.checkpoint_note() if self._latest_note else None
        with self._engine.connect() as conn:
            size = conn.execute(
                select(log_cosignatures.c.size)
                .where(log_cosignatures.c.witness.in_(names), log_cosignatures.c.size <= self._size)
                .group_by(log_cosignatures.c.size)
                .having(func.count() >= threshold)
                .order_by(log_cosignatures.c.size.desc())
                .limit(1)
            ).scalar()
        return None if size is None else self.checkpoint_note(int(size))

    def cosigned_sizes(self, witness: str) -> int | None:
        """The largest checkpoint size ``witness`` cosigned, if any."""
        with self._engine.connect() as conn:
            size = conn.execute(
                select(func.max(log_cosignatures.c.size)).where(
                    log_cosignatures.c.witness == witness
                )
            ).scalar()
        return None if size is None else int(size)

    def add_cosignature(self, size: int, witness: Verifier, note_with_cosig: str) -> None:
        """Store a witness's cosignature on checkpoint ``size`` after verifying it."""
        opened = SignedCheckpoint.open(note_with_cosig, self.verifier, [witness])
        if opened.checkpoint.size != size or not opened.cosignatures:
            raise ProofError(f"no valid cosignature by {witness.name} on checkpoint {size}")
        cosig = opened.cosignatures[0]
        stored = select(log_cosignatures.c.size).where(
            log_cosignatures.c.size == size, log_cosignatures.c.witness == witness.name
        )
        try:
            with self._engine.begin() as conn:
                if conn.execute(stored).first() is None:
                    conn.execute(
                        insert(log_cosignatures).values(
                            size=size,
                            witness=witness.name,
                            timestamp=cosig.timestamp,
                            line=cosig.line,
                        )
                    )
        except IntegrityError:
            # Another process (a second distributor while the sequencer changes) stored this
            # witness's cosignature between the check and the insert: it is stored.
            with self._engine.connect() as conn:
                if conn.execute(stored).first() is None:
                    raise

    # -- writes --------------------------------------------------------------------------------

    def append_batch(self, pending: Sequence[PendingEntry], now: datetime) -> list[Appended]:
        """Integrate ``pending`` at time ``now`` in one durable transaction.

        Entries whose dedup key is already logged (or repeated within the batch) are not
        appended again; their existing index is returned with ``duplicate=True``.
        """
        with self._write_lock:
            return self._append_locked(pending, now)

    def _append_locked(self, pending: Sequence[PendingEntry], now: datetime) -> list[Appended]:
        if self._unkept is not None:
            self._keep_and_publish(*self._unkept)
        now_us = to_micros(now)
        prefix = encode_entry(b"", now)[:-1]
        keys = [p.dedup_key for p in pending if p.dedup_key is not None]
        compact = self._compact.copy()
        results: list[Appended] = []
        entry_rows: list[tuple[object, ...]] = []
        node_rows: list[tuple[object, ...]] = []
        with self._engine.begin() as conn:
            self._check_epoch(conn)
            prev = self._newest_checkpoint(conn)
            known: dict[bytes, Appended] = {}
            paramstyle = conn.dialect.paramstyle
            for chunk_start in range(0, len(keys), _DEDUP_CHUNK):
                chunk = keys[chunk_start : chunk_start + _DEDUP_CHUNK]
                # Fixed text per chunk length, straight to the driver, as for proofs.
                rows = conn.exec_driver_sql(_dedup_statement(len(chunk), paramstyle), tuple(chunk))
                for key, idx, lh, us in rows:
                    known[bytes(key)] = Appended(int(idx), bytes(lh), from_micros(us), True)
            for p in pending:
                if p.dedup_key is not None and p.dedup_key in known:
                    first = known[p.dedup_key]
                    results.append(
                        Appended(first.index, first.leaf_hash, first.integrated_at, duplicate=True)
                    )
                    continue
                data = prefix + p.payload + b"}"
                lh = _sha256(b"\x00" + data).digest()
                idx = compact.size
                for node, h in compact.append(lh):
                    node_rows.append((node.level, node.index, h))
                entry_rows.append((idx, lh, p.dedup_key, now_us, data))
                appended = Appended(idx, lh, now)
                if p.dedup_key is not None:
                    known[p.dedup_key] = appended
                results.append(appended)
            if not entry_rows:
                return results
            # The hot path goes straight to the driver (COPY on PostgreSQL, executemany on
            # SQLite): SQLAlchemy's per-row parameter processing would cost more than the
            # database itself.
            if self._copy:
                _copy_rows(conn, _COPY_ENTRIES, _ENTRY_TYPES, entry_rows)
                _copy_rows(conn, _COPY_NODES, _NODE_TYPES, node_rows)
            else:
                conn.exec_driver_sql(self._insert_entries, entry_rows)
                conn.exec_driver_sql(self._insert_nodes, node_rows)
            new_size, new_root = compact.size, compact.root()
            self._check_consistent(conn, prev, new_size, new_root)
            self._check_not_signed(new_size)
            note = sign_checkpoint(Checkpoint(self.origin, new_size, new_root), self._signer)
            conn.execute(
                insert(log_checkpoints).values(
                    size=new_size, root=new_root, note=note, created_us=now_us
                )
            )
        # Committed; kept outside the store; only then do readers see the new size.
        self._keep_and_publish(compact, new_size, note)
        return results

    def _check_not_signed(self, new_size: int) -> None:
        """Refuse to sign when the kept checkpoint is ahead of this log's own newest one:
        another writer, on another copy of the store, signed it, maybe at ``new_size``."""
        if self._kept is None:
            return
        kept_size = self._kept_size(self._kept)
        if kept_size is not None and kept_size > self._size:
            raise ConsistencyError(
                f"refusing to sign checkpoint {new_size}: this log already signed a checkpoint "
                f"of size {kept_size} (kept in {self._kept.where}) that its database, at "
                f"{self._size} entries, does not hold; another process is writing this log "
                "from another copy of the database"
            )

    def _keep_and_publish(self, compact: CompactRange, size: int, note: str) -> None:
        if self._kept is not None:
            self._unkept = (compact, size, note)
            self._kept.write(note)
            self._unkept = None
        self._head = (size, compact, note)  # one assignment: readers see all three or none

    def _newest_checkpoint(self, conn: Connection) -> tuple[int, bytes] | None:
        """The store's newest checkpoint ``(size, root)``, which must be this log's own."""
        prev = conn.execute(
            select(log_checkpoints.c.size, log_checkpoints.c.root)
            .order_by(log_checkpoints.c.size.desc())
            .limit(1)
        ).first()
        if prev is not None and prev.size != self._size:
            # Another process appended to this store since this log last looked (a replica
            # that lost the sequencer's lock without knowing it): appending would fork the log.
            raise ConsistencyError(
                f"refusing to append: the store's newest checkpoint is of size {prev.size}, "
                f"this log's is {self._size}; another process is writing it"
            )
        return None if prev is None else (int(prev.size), bytes(prev.root))

    def _check_consistent(
        self, conn: Connection, prev: tuple[int, bytes] | None, new_size: int, new_root: bytes
    ) -> None:
        if prev is None:
            return
        prev_size, prev_root = prev
        ranges = consistency_ranges(prev_size, new_size)
        proof = assemble(ranges, self._fetch(conn, nodes_for(ranges)))
        try:
            verify_consistency(prev_size, new_size, proof, prev_root, new_root)
        except ProofError as exc:
            raise ConsistencyError(
                f"refusing to sign checkpoint {new_size}: inconsistent with checkpoint {prev_size}"
            ) from exc

    def entries_since(self, start: int) -> Iterable[Entry]:
        """Every durable entry from ``start`` on, read in pages (bounded memory)."""
        pos = start
        while pos < self._size:
            page = self.entries(pos, 1000)
            if not page:
                return
            yield from page
            pos = page[-1].index + 1

    # -- tiles (C2SP tlog-tiles, ADR 0046) -----------------------------------------------------

    def tile(self, tile: Tile) -> bytes:
        """The bytes of hash tile ``tile``: its stored subtree hashes at Merkle level
        ``8 * level``, in one range read. :class:`NotFoundError` for a tile the log does not
        publish. (The same read :class:`PublishedLog` answers with, from the store alone.)"""
        return _read_tile(self._engine, self._size, tile)

    def entry_bundle(self, tile: Tile) -> bytes:
        """The entry bundle ``tile`` (uint16 length prefixes; uint32 for the extension), in one
        range read. :class:`NotFoundError` for a bundle the log does not publish, and for a
        standard bundle that holds an entry too long for it (served by the extension)."""
        return _read_bundle(self._engine, self._size, tile)


def _cosignature_lines(conn: Connection, size: int) -> str:
    """The stored witness cosignature lines of the checkpoint of ``size``, in the order the
    log serves them after its note."""
    lines = conn.execute(
        select(log_cosignatures.c.line)
        .where(log_cosignatures.c.size == size)
        .order_by(log_cosignatures.c.witness)
    ).scalars()
    return "".join(lines)


def _check_tile(conn: Connection, size: int, tile: Tile) -> None:
    """Refuse a tile a log of ``size`` entries does not publish: beyond its tree, or a partial
    width that no signed checkpoint's size (up to ``size``) implies."""
    if tile_in_tree(tile, size):
        return
    level = max(tile.level, 0)
    shift = TILE_HEIGHT * level
    count = (tile.index << TILE_HEIGHT) + tile.width
    # Sizes beyond the tree are answered without a query (whose integers could overflow).
    if not tile.full and count << shift <= size:
        signed = conn.execute(
            select(log_checkpoints.c.size)
            .where(
                log_checkpoints.c.size >= count << shift,
                log_checkpoints.c.size < (count + 1) << shift,
                log_checkpoints.c.size <= size,
            )
            .limit(1)
        ).first()
        if signed is not None:
            return
    raise NotFoundError(
        f"no tile {tile.path}: the log publishes the full tiles of its tree of "
        f"{size} entries and the partial tiles of its signed checkpoints' sizes"
    )


def _read_tile(engine: Engine, size: int, tile: Tile) -> bytes:
    """Hash tile ``tile`` of the log of ``size`` entries in ``engine``'s store (see
    :meth:`PersistentLog.tile`)."""
    if tile.is_bundle:
        raise NotFoundError(f"{tile.path} is an entry bundle, not a hash tile")
    first = tile.index << TILE_HEIGHT
    with engine.connect() as conn:
        _check_tile(conn, size, tile)
        rows = conn.execute(
            select(log_nodes.c.hash)
            .where(
                log_nodes.c.level == TILE_HEIGHT * tile.level,
                log_nodes.c.idx >= first,
                log_nodes.c.idx < first + tile.width,
            )
            .order_by(log_nodes.c.idx)
        ).all()
    if len(rows) != tile.width:
        raise ConsistencyError(
            f"log store: tile {tile.path} needs {tile.width} subtree hashes, found {len(rows)}"
        )
    return b"".join(bytes(r.hash) for r in rows)


def _read_bundle(engine: Engine, size: int, tile: Tile) -> bytes:
    """Entry bundle ``tile`` of the log of ``size`` entries in ``engine``'s store (see
    :meth:`PersistentLog.entry_bundle`)."""
    if not tile.is_bundle:
        raise NotFoundError(f"{tile.path} is a hash tile, not an entry bundle")
    first = tile.index << TILE_HEIGHT
    with engine.connect() as conn:
        _check_tile(conn, size, tile)
        rows = conn.execute(
            select(log_entries.c.data)
            .where(log_entries.c.idx >= first, log_entries.c.idx < first + tile.width)
            .order_by(log_entries.c.idx)
        ).all()
    if len(rows) != tile.width:
        raise ConsistencyError(
            f"log store: bundle {tile.path} needs {tile.width} entries, found {len(rows)}"
        )
    try:
        return encode_bundle([bytes(r.data) for r in rows], wide=tile.level == WIDE_ENTRIES)
    except EncodingError as exc:
        wide = Tile(WIDE_ENTRIES, tile.index, tile.width)
        raise NotFoundError(
            f"no bundle {tile.path}: {exc}; this bundle is served with uint32 lengths at "
            f"{wide.path} (ADR 0046)"
        ) from exc


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A transaction whose reads all see one snapshot of the store. PostgreSQL's default (read
    committed) gives each statement its own, so that a count and a checkpoint read one after
    the other could straddle another process's commit; SQLite's transactions are snapshots."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


_COPY_ENTRIES = (
    "COPY log_entries (idx, leaf_hash, dedup_key, integrated_us, data) FROM STDIN (FORMAT BINARY)"
)
_ENTRY_TYPES = ("int8", "bytea", "bytea", "int8", "bytea")
_COPY_NODES = "COPY log_nodes (level, idx, hash) FROM STDIN (FORMAT BINARY)"
_NODE_TYPES = ("int2", "int8", "bytea")


def _copy_rows(
    conn: Connection, statement: str, types: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    """Write ``rows`` with PostgreSQL's COPY, in the connection's open transaction."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


_DEDUP_CHUNK = 500
"""Dedup keys looked up per statement (a bound on the statement's parameters)."""
_DEDUP_SELECT = (
    "SELECT dedup_key, idx, leaf_hash, integrated_us FROM log_entries WHERE dedup_key IN "
)
_NODES_SELECT = "SELECT level, idx, hash FROM log_nodes WHERE "
_NODES_UNNEST = (
    "SELECT level, idx, hash FROM log_nodes WHERE (level, idx) IN "
    "(SELECT * FROM unnest(%s::int2[], %s::int8[]))"
)


# The leaf-hash lookup spells the index's expressions (pausewatch.store.LEAF_BLOCK and
# LEAF_PREFIX) so that both engines answer it from ix_log_entries_leaf_block (ADR 0053). Only
# the two constants and placeholders are spliced in; the values travel as parameters.
_LEAF_SELECT = "".join(("SELECT idx FROM log_entries WHERE (idx >> ", str(LEAF_BLOCK_BITS), ") "))
_LEAF_WHERE = "".join(
    (" AND substr(leaf_hash, 1, ", str(LEAF_PREFIX_BYTES), ") = ? AND leaf_hash = ? AND idx < ?")
)
_LEAF_ANY = "".join((_LEAF_SELECT, "= ANY(?::int8[])", _LEAF_WHERE)).replace("?", "%s")
"""PostgreSQL: the blocks as one array, one text for every log size."""


@functools.lru_cache(maxsize=256)
def _leaf_statement(blocks: int, paramstyle: str) -> str:
    """SQLite: the lookup of a leaf hash in ``blocks`` blocks, one equality term per block (an
    IN list, which SQLite answers with one index probe per term)."""
    ph = "?" if paramstyle == "qmark" else "%s"
    return "".join(
        (_LEAF_SELECT, "IN (", ", ".join([ph] * blocks), ")", _LEAF_WHERE.replace("?", ph))
    )


@functools.lru_cache(maxsize=2 * _DEDUP_CHUNK)
def _dedup_statement(count: int, paramstyle: str) -> str:
    """The SELECT of the entries logged under ``count`` dedup keys."""
    ph = "?" if paramstyle == "qmark" else "%s"
    # Only placeholders are spliced in; the values travel as parameters.
    return "".join((_DEDUP_SELECT, "(", ", ".join([ph] * count), ")"))


@functools.lru_cache(maxsize=256)
def _nodes_statement(count: int, paramstyle: str) -> str:
    """The SELECT of ``count`` subtree hashes by (level, index), in the driver's placeholders."""
    ph = "?" if paramstyle == "qmark" else "%s"
    # Only placeholders are spliced in; the values travel as parameters.
    return "".join((_NODES_SELECT, " OR ".join([f"(level = {ph} AND idx = {ph})"] * count)))


def _completed_between(start: int, end: int | None) -> list[tuple[int, int, int | None]]:
    """Per level, the index range ``(level, first, last)`` of the complete subtrees whose last
    leaf lies in ``[start, end)`` (``last`` None: unbounded). Subtree ``(level, i)`` ends at
    leaf ``(i + 1) * 2**level - 1``."""
    out: list[tuple[int, int, int | None]] = []
    top = 62 if end is None else end.bit_length()
    for level in range(top + 1):
        first = -(-(start + 1) >> level) - 1
        last = None if end is None else (end >> level) - 1
        if last is None or first <= last:
            out.append((level, first, last))
    return out


class LogStore:
    """Read-only access to a log's tables, for an auditor who holds its database (no key).

    Everything is read in pages, so that an audit of a long log runs in bounded memory.
    """

    PAGE = 1000

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def identity(self) -> tuple[str, str] | None:
        """The log's ``(origin, verifier key)`` as the store records them (None: a new store)."""
        with self._engine.connect() as conn:
            rows = {
                str(k): str(v) for k, v in conn.execute(select(log_meta.c.key, log_meta.c.value))
            }
        if "origin" not in rows or "verifier_key" not in rows:
            return None
        return rows["origin"], rows["verifier_key"]

    def entries(self) -> Iterator[tuple[int, bytes]]:
        """Every stored entry ``(index, bytes)``, in index order."""
        pos = 0
        while True:
            with self._engine.connect() as conn:
                page = conn.execute(
                    select(log_entries.c.idx, log_entries.c.data)
                    .where(log_entries.c.idx >= pos)
                    .order_by(log_entries.c.idx)
                    .limit(self.PAGE)
                ).all()
            for r in page:
                yield int(r.idx), bytes(r.data)
            if len(page) < self.PAGE:
                return
            pos = int(page[-1].idx) + 1

    def checkpoint_notes(self) -> Iterator[str]:
        """Every stored checkpoint note with its stored cosignature lines, oldest first."""
        pos = -1
        while True:
            with self._engine.connect() as conn:
                page = conn.execute(
                    select(log_checkpoints.c.size, log_checkpoints.c.note)
                    .where(log_checkpoints.c.size > pos)
                    .order_by(log_checkpoints.c.size)
                    .limit(self.PAGE)
                ).all()
                lines: dict[int, list[str]] = {}
                if page:
                    for c in conn.execute(
                        select(log_cosignatures.c.size, log_cosignatures.c.line)
                        .where(log_cosignatures.c.size.in_([r.size for r in page]))
                        .order_by(log_cosignatures.c.size, log_cosignatures.c.witness)
                    ):
                        lines.setdefault(int(c.size), []).append(str(c.line))
            for r in page:
                yield str(r.note) + "".join(lines.get(int(r.size), []))
            if len(page) < self.PAGE:
                return
            pos = int(page[-1].size)

    def published(self) -> PublishedLog | None:
        """The log as it stands at the newest signed checkpoint the store holds (None: it has
        signed none), for publishing its tiles from the store alone."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(log_checkpoints.c.size, log_checkpoints.c.note)
                .order_by(log_checkpoints.c.size.desc())
                .limit(1)
            ).first()
        return None if row is None else PublishedLog(self._engine, int(row.size), str(row.note))

    def nodes_completed(self, start: int, end: int | None = None) -> dict[Node, bytes]:
        """The stored hashes of the complete subtrees whose last leaf lies in ``[start, end)``
        (``end`` None: every one from ``start`` on)."""
        terms = [
            and_(
                log_nodes.c.level == level,
                log_nodes.c.idx >= first,
                *([] if last is None else [log_nodes.c.idx <= last]),
            )
            for level, first, last in _completed_between(start, end)
        ]
        if not terms:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(log_nodes.c.level, log_nodes.c.idx, log_nodes.c.hash).where(or_(*terms))
            )
            return {Node(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


@dataclass(frozen=True, slots=True)
class PublishedLog:
    """A log as its store publishes it at one signed checkpoint, read without the log's key:
    the checkpoint note and the hash tiles and entry bundles of its size, each read by the
    very functions the service answers ``/checkpoint`` and ``/tile/...`` with
    (:meth:`PersistentLog.checkpoint_note`, :meth:`PersistentLog.tile`,
    :meth:`PersistentLog.entry_bundle`), so that a copy made from the store is byte for byte
    the one made from the API (`pausewatch log tiles --data-dir`, ADR 0046).

    It only reads: no lock, no migration, no write, so a service may run on the same store
    (SQLite in WAL mode lets a reader beside the writer). The size is fixed when it is read
    (:meth:`LogStore.published`): entries the service appends later are beyond it, and the
    tiles of this size never change.
    """

    engine: Engine
    size: int
    """The checkpoint's tree size."""
    note: str
    """The checkpoint's signed note, the log's own signature only."""

    def checkpoint_note(self) -> str:
        """The checkpoint note with the witness cosignatures stored for it so far."""
        with self.engine.connect() as conn:
            return self.note + _cosignature_lines(conn, self.size)

    def tile(self, tile: Tile) -> bytes:
        """Hash tile ``tile`` (:meth:`PersistentLog.tile`)."""
        return _read_tile(self.engine, self.size, tile)

    def entry_bundle(self, tile: Tile) -> bytes:
        """Entry bundle ``tile`` (:meth:`PersistentLog.entry_bundle`)."""
        return _read_bundle(self.engine, self.size, tile)

    def read(self, path: str) -> bytes:
        """The bytes the API serves at ``path`` (``checkpoint``, or a tile or bundle path), a
        ``fetch`` for :class:`TileClient` and ``write_tiles``; :class:`NotFoundError` for one
        the log does not publish or a path that is not a tile's."""
        if path == "checkpoint":
            return self.checkpoint_note().encode()
        try:
            tile = parse_tile_path(path)
        except EncodingError as exc:
            raise NotFoundError(f"{path}: {exc}") from exc
        return self.entry_bundle(tile) if tile.is_bundle else self.tile(tile)
