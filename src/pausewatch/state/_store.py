"""The fold over the log, kept in SQL views: resumed at start, advanced after each batch,
rebuilt from the log alone on demand.

:class:`StateStore` owns a :class:`~pausewatch.registry.Registry` (the fold, in memory) and the
``reg_*`` tables that mirror its views. Each log entry's changes are written in the same
transaction as the fold's new position (``state_meta.applied``), so the views always match a
prefix of the log: a crash between the log's commit and the fold's loses nothing, because the
next :meth:`catch_up` folds the entries the views have not seen.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, delete, insert, select

from pausewatch.errors import ConfigurationError, ConsistencyError
from pausewatch.ledger import Entry, PersistentLog, encode_entry
from pausewatch.registry import VIEWS, Outcome, Registry, Row
from pausewatch.registry._fold import Prepared, RejectedError, adoption_from_row
from pausewatch.state._fold import new_registry
from pausewatch.state._tables import VIEW_TABLES, state_meta
from pausewatch.statements import Statement, parse_json, parse_statement
from pausewatch.telemetry._statements import BATCH_KIND

Names = tuple[str, str | None]
"""An entry's kind and signer as its envelope names them (``unknown`` and none where it
cannot be read)."""


def statement_of(entry: Entry) -> Statement:
    """The verified statement in a log entry (its signature is checked again)."""
    return parse_statement(parse_json(entry.data)["statement"])


def fold_entry(registry: Registry, entry: Entry) -> Outcome:
    """Fold one log entry into ``registry``; an entry whose statement this version cannot
    read (it no longer parses, or its signature no longer verifies) is isolated rather than
    allowed to stop the fold (:meth:`Registry.isolate`)."""
    return _apply_read(registry, entry, _read_entry(entry))


def _read_entry(entry: Entry) -> Statement | str:
    """The entry's statement, or why it cannot be read: the part of a fold that needs no
    registry (parsing, signatures), done before the state's lock is taken."""
    try:
        return statement_of(entry)
    except Exception as exc:
        return f"the statement cannot be read: {type(exc).__name__}: {exc}"


def _apply_read(registry: Registry, entry: Entry, read: Statement | str) -> Outcome:
    return registry.commit(_prepare_read(registry, entry, read))


def _prepare_read(registry: Registry, entry: Entry, read: Statement | str) -> Prepared:
    """What folding ``entry`` (read as ``read``) would change (:meth:`Registry.prepare`)."""
    if isinstance(read, str):
        kind, signer = _envelope_names(entry.data)
        return registry.prepare_isolation(entry.index, entry.integrated_at, kind, signer, read)
    return registry.prepare(entry.index, entry.integrated_at, read)


def isolate_unreadable(
    registry: Registry, index: int, integrated_at: datetime, data: bytes, reason: str
) -> Outcome:
    """Set aside entry ``index`` (its bytes ``data``), which holds no statement this version
    can read, naming the kind and signer its envelope gives as far as they can be read. The
    service's fold and the audit's both call this, so that their views agree."""
    kind, signer = _envelope_names(data)
    return registry.isolate(index, integrated_at, kind, signer, reason)


def _envelope_names(data: bytes) -> Names:
    """The kind and signer an unreadable entry names, as far as they can be read."""
    try:
        envelope = parse_json(data)["statement"]
        kind, signer = envelope.get("kind"), envelope.get("signer")
    except Exception:
        return "unknown", None
    return (
        kind if isinstance(kind, str) else "unknown",
        signer if isinstance(signer, str) else None,
    )


_EXPECTED_KEPT = 64
"""Statements :meth:`StateStore.expect` keeps for the fold at most."""

_PREPARED_APART = frozenset({BATCH_KIND})
"""Kinds whose fold computes its changes outside the state's lock: their handlers read the
views and the fold's own locked caches only (docs/adr/0054)."""


def names_in(data: bytes) -> Names:
    """The kind and signer log entry ``data`` names, as far as its bytes can be read
    (``unknown`` and none where they cannot): what the fold lists an unreadable entry under,
    and the dashboard's log page each entry."""
    return _envelope_names(data)


class EntryNames:
    """The kind and signer of the latest log entries, by leaf hash (which commits to the
    entry's bytes): noted by the fold as it reads each entry, read by the log page, which would
    otherwise read each listed entry's bytes (a telemetry batch's are hundreds of kilobytes of
    JSON) on every view while the log grows. Bounded: the oldest are dropped."""

    def __init__(self, kept: int = 4096) -> None:
        self._kept = kept
        self._names: OrderedDict[bytes, Names] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, leaf_hash: bytes) -> Names | None:
        """The names noted for ``leaf_hash``, if they still are."""
        with self._lock:
            return self._names.get(leaf_hash)

    def note(self, leaf_hash: bytes, names: Names) -> Names:
        """Keep ``names`` for ``leaf_hash``; return them."""
        with self._lock:
            self._names[leaf_hash] = names
            while len(self._names) > self._kept:
                self._names.popitem(last=False)
        return names

    def read(self, leaf_hash: bytes, data: bytes) -> Names:
        """The names entry ``data`` (of ``leaf_hash``) holds (:func:`names_in`), noted."""
        return self.note(leaf_hash, names_in(data))


@dataclass(frozen=True)
class RebuildReport:
    """What ``state rebuild`` found: entries folded, rows per view, and the views whose rows
    differed from the ones the service had kept (empty: identical)."""

    entries: int
    rows: dict[str, int]
    differences: dict[str, int]

    @property
    def identical(self) -> bool:
        """True when the rebuilt views equal the ones kept incrementally."""
        return not self.differences


class StateStore:
    """The registry's fold over one log, persisted in the log's database."""

    def __init__(
        self,
        engine: Engine,
        secretariat: Iterable[str],
        *,
        for_rebuild: bool = False,
        persist: bool = True,
    ) -> None:
        self.engine = engine
        self.secretariat = frozenset(secretariat)
        self.lock = threading.RLock()
        self.persist = persist
        """Write the views to the database as they are folded. A replica that does not sequence
        folds in memory only (the sequencing replica writes them; ADR 0047)."""
        self.fold_lock = threading.RLock()
        """Held by a fold from reading the log to committing the views: folds in log order."""
        self.for_rebuild = for_rebuild
        """Open views folded under another secretariat key too (they are about to be
        replaced by :meth:`rebuild`)."""
        self.registry = new_registry(self.secretariat) if for_rebuild else self._load()
        self._expected: OrderedDict[bytes, Statement] = OrderedDict()
        self._expected_lock = threading.Lock()
        self.entry_names = EntryNames()
        """The kind and signer of the entries this process folded lately (the log page's)."""

    def expect(self, statement: Statement) -> None:
        """Hand the fold a statement this process is about to log, already verified (parsed
        from a submission, or signed here): when its entry is folded, this object is folded
        instead of the entry's bytes being parsed and its signature checked again. A
        telemetry batch's statement is hundreds of kilobytes; its second reading was a twentieth
        of the serving process's work under ingest (docs/adr/0054). Only an entry whose bytes are
        exactly this statement's takes it; at most :data:`_EXPECTED_KEPT` wait (one that is
        never logged, a duplicate, is dropped in time). ``state rebuild`` and the audit read
        every entry from its bytes."""
        payload = statement.canonical_bytes()
        with self._expected_lock:
            self._expected[payload] = statement
            while len(self._expected) > _EXPECTED_KEPT:
                self._expected.popitem(last=False)

    def _read(self, entry: Entry) -> Statement | str:
        """The entry's statement: the one :meth:`expect` was handed for exactly these bytes,
        else read from them (:func:`_read_entry`)."""
        if self._expected:
            head = encode_entry(b"", entry.integrated_at)[:-1]  # up to the statement's bytes
            data = entry.data
            if data.startswith(head) and data.endswith(b"}"):
                with self._expected_lock:
                    statement = self._expected.pop(data[len(head) : -1], None)
                if statement is not None:
                    return statement
        return _read_entry(entry)

    # -- reading -----------------------------------------------------------------------------

    def check(self, statement: Statement, at: datetime) -> RejectedError | None:
        """Why the fold would reject ``statement`` as the next entry (none: it would not)."""
        with self.lock:
            return self.registry.check(statement, at)

    def folds(self, kind: str) -> bool:
        """Whether the fold checks statements of ``kind`` (who signs, what they name)."""
        return self.registry.folds(kind)

    # -- folding -----------------------------------------------------------------------------

    def catch_up(self, log: PersistentLog) -> list[Outcome]:
        """Fold every log entry the views have not seen yet; return what each did.

        Folds run one at a time (:attr:`fold_lock`), so the views' rows reach the database in
        log order, and only a fold changes the registry. :attr:`lock`, which every reader of
        the views takes, is held only while an entry is folded in memory, and for a telemetry
        batch only while its changes are made (:meth:`Registry.commit`), not while they are
        computed from the views, which only reads them and the fold's own locked caches
        (docs/adr/0054); not while the log is read or the changes are written and
        committed (a commit can take a disk's flush, and readers would wait for it:
        docs/adr/0048-ingest-workers.md), nor while an entry's statement is parsed and its
        signatures checked. A reader may so see the views a few entries ahead of
        their copy in the database; both are prefixes of the durable log.
        """
        outcomes: list[Outcome] = []
        with self.fold_lock:
            with self.lock:
                # Recorded witness cosignatures are checked against the log's own tree.
                self.registry.roots = log.root_at
                start = self.registry.applied
            if start >= log.size:
                return outcomes
            batch: list[Outcome] = []
            try:
                for entry in log.entries_since(start):
                    read = self._read(entry)  # a batch's statement: milliseconds to parse
                    self.entry_names.note(
                        entry.leaf_hash,
                        (read.kind, read.signer)  # what its bytes name: it was read from them
                        if isinstance(read, Statement)
                        else names_in(entry.data),
                    )
                    if isinstance(read, Statement) and read.kind in _PREPARED_APART:
                        # Only a fold, holding fold_lock, changes the registry: computing what
                        # a telemetry batch changes only reads it (and the fold's own locked
                        # caches), so readers go on meanwhile and wait only for the changes to
                        # be made (a batch's fold takes some 8 ms).
                        prepared = _prepare_read(self.registry, entry, read)
                        with self.lock:
                            batch.append(self.registry.commit(prepared))
                    else:
                        # Other kinds may compute the policy's facts (a lift's decision reads
                        # the state figures), whose caches readers share under this lock.
                        with self.lock:
                            batch.append(_apply_read(self.registry, entry, read))
                    if len(batch) >= 1000:
                        self._write(batch)
                        outcomes += batch
                        batch = []
                self._write(batch)
            except BaseException:
                # The fold in memory ran ahead of the database: go back to what was committed,
                # so that the next catch-up folds the same entries again.
                registry = self._load()
                registry.roots = log.root_at
                with self.lock:
                    self.registry = registry
                raise
            outcomes += batch
        return outcomes

    def resume(self, log: PersistentLog) -> None:
        """Start writing the views: reload them from the database as the last writer left them
        and fold (persistently) what they lack, as a replica does when it starts to sequence."""
        with self.fold_lock:  # no fold of the old views may write after the reload
            registry = self._load()
            registry.roots = log.root_at
            with self.lock:
                self.persist = True
                self.registry = registry
            self.catch_up(log)

    def rebuild(
        self, log: PersistentLog, on_entry: Callable[[int], None] | None = None
    ) -> RebuildReport:
        """Refold the whole log from nothing, replace the views with the result, and say
        whether they differ from the views kept so far (they should not). ``on_entry(n)`` is
        told how many entries are folded so far, for a progress display."""
        with self.fold_lock, self.lock:
            fresh = new_registry(self.secretariat, roots=log.root_at)
            count = 0
            for entry in log.entries_since(0):
                fold_entry(fresh, entry)
                count += 1
                if on_entry is not None:
                    on_entry(count)
            before = {view: dump_view(self.engine, view) for view in VIEWS}
            after = {view: _sorted_rows(view, fresh.views[view].values()) for view in VIEWS}
            differences = {
                view: _count_differences(view, before[view], after[view])
                for view in VIEWS
                if before[view] != after[view]
            }
            with self.engine.begin() as conn:
                for view, table in VIEW_TABLES.items():
                    conn.execute(delete(table))
                    if after[view]:
                        conn.execute(insert(table), after[view])
                _set_meta(conn, "applied", str(fresh.applied))
                _set_meta(conn, "secretariat", json.dumps(sorted(self.secretariat)))
            self.registry = fresh
            return RebuildReport(count, {v: len(after[v]) for v in VIEWS}, differences)

    def _write(self, outcomes: list[Outcome]) -> None:
        """Write the outcomes' changes in one transaction with the fold's new position. Per
        view and key only the last change counts; each view's rows are deleted and inserted
        in two bulk statements (a telemetry batch changes two rows a chip)."""
        if not outcomes or not self.persist:
            return
        last: dict[str, dict[tuple[Any, ...], Row | None]] = {}
        for outcome in outcomes:
            for change in outcome.changes:
                last.setdefault(change.view, {})[change.key] = change.row
        with self.engine.begin() as conn:
            # The views must stand where this fold started: another process (a replica that
            # took over the sequencer) may have written them since, and writing over its rows
            # from an older fold would break the views' match with a prefix of the log.
            applied = conn.execute(
                select(state_meta.c.value).where(state_meta.c.key == "applied").with_for_update()
            ).scalar()
            if int(applied or "0") != outcomes[0].index:
                raise ConsistencyError(
                    f"the registry views stand at entry {applied}, this fold started at "
                    f"{outcomes[0].index}: another process writes them"
                )
            for view, rows in last.items():
                _write_view(conn, view, rows)
            _set_meta(conn, "applied", str(outcomes[-1].index + 1))

    def _load(self) -> Registry:
        registry = new_registry(self.secretariat)
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                # One snapshot for every view: another process may be writing them.
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            meta = dict(conn.execute(select(state_meta.c.key, state_meta.c.value)).all())
            kept = meta.get("secretariat")
            wanted = json.dumps(sorted(self.secretariat))
            if kept is not None and kept != wanted and int(meta.get("applied", "0")) > 0:
                raise ConfigurationError(
                    "the registry views were folded with another secretariat key; run "
                    "'pausewatch state rebuild' to refold them under this one"
                )
            for view in VIEWS:
                for row in _read_view(conn, view):
                    key = tuple(row[c] for c in VIEWS[view])
                    registry.views[view][key] = row
                    if view == "adoptions":
                        registry.adoptions.append(adoption_from_row(row))
        registry.applied = int(meta.get("applied", "0"))
        if self.persist and kept != wanted:
            with self.engine.begin() as conn:
                _set_meta(conn, "secretariat", wanted)
        return registry


def _write_view(conn: Connection, view: str, rows: dict[tuple[Any, ...], Row | None]) -> None:
    """Replace the rows of ``view`` under these keys (a ``None`` row: removed).

    A telemetry batch changes two rows a chip, some four hundred a batch, on the serving
    process's thread: SQLAlchemy's preparation of each row's parameters cost more than the
    database's work (docs/adr/0054). The statements go to the driver as fixed text, each row
    a tuple, as the log's own appends do, with the conversions SQLAlchemy would apply to the
    columns (a float column's ``float()``, a boolean's check)."""
    paramstyle = conn.dialect.paramstyle
    conn.exec_driver_sql(_view_delete(view, paramstyle), list(rows))
    kept = [row for row in rows.values() if row is not None]
    if not kept:
        return
    by_columns: dict[frozenset[str], list[Row]] = {}
    for row in kept:  # the same columns, in whatever order the fold built each row
        by_columns.setdefault(frozenset(row), []).append(row)
    for group in by_columns.values():
        columns = tuple(sorted(group[0]))
        processors = _bind_processors(view, columns, conn.dialect)
        if processors:  # as SQLAlchemy converts them (floats, booleans): the same stored values
            values = [
                tuple(
                    row[c] if (p := processors.get(c)) is None or row[c] is None else p(row[c])
                    for c in columns
                )
                for row in group
            ]
        else:
            values = [tuple(row[c] for c in columns) for row in group]
        conn.exec_driver_sql(_view_insert(view, columns, paramstyle), values)


_PROCESSORS: dict[tuple[str, tuple[str, ...], str], dict[str, Callable[[Any], Any]]] = {}


def _bind_processors(
    view: str, columns: tuple[str, ...], dialect: Dialect
) -> dict[str, Callable[[Any], Any]]:
    """The conversions SQLAlchemy applies to these columns' values on ``dialect`` (a float
    column's ``float()``, a boolean's check), by column; none for most."""
    key = (view, columns, dialect.name)
    found = _PROCESSORS.get(key)
    if found is None:
        table = VIEW_TABLES[view]
        found = {}
        for c in columns:
            processor = table.c[c].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                found[c] = processor
        _PROCESSORS[key] = found  # bounded: views x their sets of columns x two engines
    return found


@functools.cache
def _view_delete(view: str, paramstyle: str) -> str:
    """DELETE of one row of ``view`` by its key, in the driver's placeholders."""
    ph = "?" if paramstyle == "qmark" else "%s"
    where = " AND ".join(f"{_quoted(c)} = {ph}" for c in VIEWS[view])
    # Names are the views' own tables and key columns; values travel as parameters.
    return f"DELETE FROM {_quoted(VIEW_TABLES[view].name)} WHERE {where}"  # noqa: S608


@functools.lru_cache(maxsize=1024)
def _view_insert(view: str, columns: tuple[str, ...], paramstyle: str) -> str:
    """INSERT of one row of ``view`` with ``columns``, in the driver's placeholders."""
    table = VIEW_TABLES[view]
    for c in columns:
        table.c[c]  # a row naming no column of the view fails here, as insert() would
    ph = "?" if paramstyle == "qmark" else "%s"
    names = ", ".join(_quoted(c) for c in columns)  # each checked to be the table's, above
    marks = ", ".join([ph] * len(columns))
    return f"INSERT INTO {_quoted(table.name)} ({names}) VALUES ({marks})"  # noqa: S608


def _quoted(name: str) -> str:
    """An identifier quoted for both engines (the views' names are plain, some are keywords)."""
    return '"' + name.replace('"', '""') + '"'


def _set_meta(conn: Connection, key: str, value: str) -> None:
    conn.execute(delete(state_meta).where(state_meta.c.key == key))
    conn.execute(insert(state_meta).values(key=key, value=value))


def _read_view(conn: Connection, view: str) -> list[Row]:
    table = VIEW_TABLES[view]
    order = [table.c[c] for c in VIEWS[view]]
    return [dict(r._mapping) for r in conn.execute(select(table).order_by(*order))]


def dump_view(engine: Engine, view: str) -> list[Row]:
    """Every row of ``view`` in the database, in primary-key order."""
    with engine.connect() as conn:
        return _read_view(conn, view)


def _sorted_rows(view: str, rows: Iterable[Row]) -> list[Row]:
    cols = VIEWS[view]
    return sorted((dict(r) for r in rows), key=lambda r: tuple(r[c] for c in cols))


def _count_differences(view: str, before: list[Row], after: list[Row]) -> int:
    cols = VIEWS[view]

    def keyed(rows: list[Row]) -> dict[tuple[Any, ...], Row]:
        return {tuple(r[c] for c in cols): r for r in rows}

    a, b = keyed(before), keyed(after)
    return sum(1 for k in a.keys() | b.keys() if a.get(k) != b.get(k))


__all__ = [
    "EntryNames",
    "RebuildReport",
    "StateStore",
    "dump_view",
    "isolate_unreadable",
    "names_in",
    "statement_of",
]
