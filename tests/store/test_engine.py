"""Engines and migrations: schema creation on both backends, SQLite durability, bad URLs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    inspect,
    select,
    text,
)

from pausewatch.errors import ConfigurationError
from pausewatch.ledger._log import encode_entry
from pausewatch.statements import canonical
from pausewatch.store import log_meta, make_engine, sqlite_url, table_names, upgrade

LOG_TABLES = {
    "log_checkpoints",
    "log_cosignatures",
    "log_entries",
    "log_handoff",
    "log_meta",
    "log_nodes",
    "witness_logs",
}
EVAL_TABLES = {"ev_evaluators", "ev_results", "ev_suites", "tel_run_batches"}
STATE_TABLES = EVAL_TABLES | {
    "gov_ballots",
    "gov_order_acks",
    "gov_witness_cosignatures",
    "gov_witnesses",
    "gov_proposals",
    "gov_seats",
    "reg_adoptions",
    "reg_chip_makers",
    "reg_chips",
    "reg_clusters",
    "reg_facilities",
    "reg_keys",
    "reg_operators",
    "reg_parties",
    "reg_positions",
    "reg_rejected",
    "reg_unreadable",
    "reg_runs",
    "state_meta",
    "tel_batches",
    "tel_chains",
    "tel_chips",
    "tel_clusters",
    "tel_gaps",
    "tel_rejections",
    "tel_runs",
    "tel_run_chips",
    "tel_run_clusters",
    "tel_cluster_chips",
    "tel_submissions",
    "telemetry_records",
    "det_meters",
    "det_meter_readings",
    "det_meter_gaps",
    "det_chip_movements",
    "det_shipments",
    "det_exports",
    "det_inspectors",
    "det_inspection_plans",
    "det_inspection_reports",
    "det_workloads",
    "det_cluster_days",
    "det_evaluations",
    "tel_signals",
    "tr_transcripts",
    "tr_checkpoints",
    "tr_replays",
    "tr_audits",
    "tr_verdicts",
}
ALL_TABLES = LOG_TABLES | STATE_TABLES | {"alembic_version"}
HEAD = ["0017"]


def _revision(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def test_upgrade_creates_tables(db_url: str) -> None:
    """upgrade() creates every table of the schema and records the head revision."""
    engine = make_engine(db_url)
    try:
        assert table_names(engine) == []
        upgrade(engine)
        assert set(table_names(engine)) == ALL_TABLES
        assert _revision(engine) == HEAD
    finally:
        engine.dispose()


def test_a_store_at_0002_gains_the_evaluation_views(db_url: str) -> None:
    """A store migrated before the evaluation views existed gets them from 0003, and keeps
    what it held."""
    from alembic import command

    from pausewatch.store._engine import _alembic_config

    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
            for name in EVAL_TABLES:  # 0002 creates every view table of today's schema
                conn.execute(text(f"DROP TABLE {name}"))
            conn.execute(log_meta.insert().values(key="origin", value="test.example/log"))
        assert EVAL_TABLES.isdisjoint(table_names(engine))
        upgrade(engine)
        assert set(table_names(engine)) == ALL_TABLES
        assert _revision(engine) == HEAD
        with engine.connect() as conn:
            assert conn.execute(select(log_meta.c.value)).scalars().all() == ["test.example/log"]
    finally:
        engine.dispose()


def test_a_store_at_0003_gains_the_unreadable_view(db_url: str) -> None:
    """A store migrated before this release gets ``reg_unreadable`` and the witness views from
    0004, and keeps what it held."""
    from alembic import command

    from pausewatch.store._engine import _alembic_config

    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
            for name in ("reg_unreadable", "gov_witnesses", "gov_witness_cosignatures"):
                conn.execute(text(f"DROP TABLE {name}"))
            conn.execute(log_meta.insert().values(key="origin", value="test.example/log"))
        assert "reg_unreadable" not in table_names(engine)
        assert "gov_witnesses" not in table_names(engine)
        upgrade(engine)
        assert set(table_names(engine)) == ALL_TABLES
        assert _revision(engine) == HEAD
        with engine.connect() as conn:
            assert conn.execute(select(log_meta.c.value)).scalars().all() == ["test.example/log"]
    finally:
        engine.dispose()


def test_a_store_at_0003_keys_telemetry_uploads_by_operator(db_url: str) -> None:
    """A store from before 0005 has its uploads keyed by operator and digest, each row's
    operator taken from its batch, and gains the per-rule rejection counts."""
    from alembic import command

    from pausewatch.store._engine import _alembic_config

    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
            # 0002 creates today's tables: put back the shapes 0003 left.
            conn.execute(text("DROP TABLE tel_submissions"))
            conn.execute(
                text(
                    "CREATE TABLE tel_submissions (batch_digest VARCHAR(64) PRIMARY KEY, "
                    "idx BIGINT NOT NULL)"
                )
            )
            conn.execute(text("ALTER TABLE tel_batches DROP COLUMN rejected_by_rule"))
            conn.execute(
                text(
                    "INSERT INTO tel_batches (idx, operator_id, batch_digest, records, accepted, "
                    "duplicates, rejected, gap_windows, records_root) VALUES "
                    "(7, 'lab', :d, 1, 1, 0, 0, 0, :d)"
                ),
                {"d": "ab" * 32},
            )
            conn.execute(
                text("INSERT INTO tel_submissions (batch_digest, idx) VALUES (:d, 7)"),
                {"d": "ab" * 32},
            )
        upgrade(engine)
        assert _revision(engine) == HEAD
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT operator_id, batch_digest, idx FROM tel_submissions")
            ).all()
            assert [tuple(r) for r in rows] == [("lab", "ab" * 32, 7)]
            by_rule = conn.execute(text("SELECT rejected_by_rule FROM tel_batches")).scalar()
            assert by_rule is None
    finally:
        engine.dispose()


def test_a_store_at_0005_gains_run_chips_and_busy_windows(db_url: str) -> None:
    """A store from before 0006 gains ``reg_runs.chip_ids`` and ``tel_chips.last_busy_end``,
    its rows kept with neither known."""
    from alembic import command

    from pausewatch.store._engine import _alembic_config

    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0005")
            # 0002 creates today's tables: put back the shapes 0005 left.
            conn.execute(text("ALTER TABLE reg_runs DROP COLUMN chip_ids"))
            conn.execute(text("ALTER TABLE tel_chips DROP COLUMN last_busy_end"))
            conn.execute(
                text(
                    "INSERT INTO tel_chips (chip_id, records, first_window_start, "
                    "last_window_end, flop, energy_j, tensor_active_ms, updated_idx) VALUES "
                    "('chip-1', 1, '2027-01-01T00:00:00Z', '2027-01-01T00:01:00Z', '{}', 0, 0, 3)"
                )
            )
        upgrade(engine)
        assert _revision(engine) == HEAD
        with engine.connect() as conn:
            row = conn.execute(text("SELECT chip_id, last_busy_end FROM tel_chips")).one()
            assert tuple(row) == ("chip-1", None)
            conn.execute(text("SELECT chip_ids FROM reg_runs")).all()
    finally:
        engine.dispose()


def test_a_store_at_0010_gains_the_busy_windows_compute_and_tensor_time(db_url: str) -> None:
    """A store from before 0011 gains ``det_cluster_days.busy_flop`` and ``busy_tensor_ms``,
    its rows kept and read as no busy window counted (docs/adr/0033)."""
    from alembic import command

    from pausewatch.store._engine import _alembic_config

    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0010")
            # 0002 creates today's tables: put back the shape 0010 left.
            conn.execute(text("ALTER TABLE det_cluster_days DROP COLUMN busy_flop"))
            conn.execute(text("ALTER TABLE det_cluster_days DROP COLUMN busy_tensor_ms"))
            conn.execute(
                text(
                    "INSERT INTO det_cluster_days (cluster_id, day, energy_j, flop, "
                    "unattributed_flop, chip_windows, updated_idx, busy_energy_j) VALUES "
                    "('c1', '2027-01-01', 5, '{}', '{}', 1, 3, 0)"
                )
            )
        upgrade(engine)
        assert _revision(engine) == HEAD
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT cluster_id, busy_flop, busy_tensor_ms FROM det_cluster_days")
            ).one()
            assert tuple(row) == ("c1", "{}", "{}")
    finally:
        engine.dispose()


def test_a_store_at_0011_gains_the_transcript_views_and_evaluated_weights(db_url: str) -> None:
    """A store from before 0012 gains the ``tr_*`` views and ``ev_results.weights_digest``;
    a result it held reads as naming no weights (issue 17)."""
    from alembic import command

    from pausewatch.store._engine import _alembic_config

    transcripts = {"tr_transcripts", "tr_checkpoints", "tr_replays", "tr_audits", "tr_verdicts"}
    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0011")
            # 0002 creates today's tables: put back the shape 0011 left.
            for name in transcripts:
                conn.execute(text(f"DROP TABLE {name}"))
            conn.execute(text("ALTER TABLE ev_results DROP COLUMN weights_digest"))
            conn.execute(
                text(
                    "INSERT INTO ev_results (result_id, evaluator_id, model, inspect_model, "
                    "domain, probe_id, task, task_version, in_suite, status, samples, "
                    "completed_samples, epochs, metrics, confidence, elicitation, log_digest, "
                    "idx) VALUES ('res-1', 'aisi', 'm1', 'p/m', 'cyber_offence', 'probe', "
                    "'task', 1, false, 'success', 1, 1, 1, '[]', 0.95, '{}', 'd', 3)"
                )
            )
        assert transcripts.isdisjoint(table_names(engine))
        upgrade(engine)
        assert _revision(engine) == HEAD
        assert set(table_names(engine)) == ALL_TABLES
        with engine.connect() as conn:
            row = conn.execute(text("SELECT result_id, weights_digest FROM ev_results")).one()
            assert tuple(row) == ("res-1", None)
    finally:
        engine.dispose()


def _index_names(engine: Engine) -> set[str]:
    """Every index on log_entries, expression indexes included (reflection skips those)."""
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'log_entries'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = 'log_entries'"
    )
    with engine.connect() as conn:
        return {str(n) for n in conn.execute(text(sql)).scalars()}


def test_a_store_at_0012_keys_its_leaf_hash_lookup_on_block_and_prefix(db_url: str) -> None:
    """0014 replaces the 32-byte leaf-hash index with one on the hash's first 8 bytes, and 0016
    that with one on the entry's block and the prefix (issue 19 §5); a log appended before them
    reopens with the same root and finds every entry by its leaf hash."""
    from alembic import command

    from pausewatch.ledger import PendingEntry, PersistentLog, Signer
    from pausewatch.store._engine import _alembic_config

    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0012")
        signer = Signer.generate("test.example/log")
        now = datetime(2026, 12, 5, tzinfo=UTC)
        before = PersistentLog(engine, signer)
        appended = before.append_batch([PendingEntry(b'{"n":%d}' % i) for i in range(40)], now)
        upgrade(engine)
        assert _revision(engine) == HEAD
        assert _index_names(engine) >= {"ix_log_entries_leaf_block"}
        assert not _index_names(engine) & {"ix_log_entries_leaf_hash", "ix_log_entries_leaf_prefix"}
        after = PersistentLog(engine, signer)
        assert after.root() == before.root()
        assert [after.index_of(a.leaf_hash) for a in appended] == list(range(40))
    finally:
        engine.dispose()


def test_0016_builds_the_block_index_from_stored_entries_and_downgrades(db_url: str) -> None:
    """0016 builds the (block, prefix) index over the entries a store at 0015 holds and drops
    the prefix index; an upgrade that finds the new index already there (a run stopped after
    building it) goes on; the downgrade restores 0014's index, and the log finds its entries
    by leaf hash at every step."""
    from alembic import command

    from pausewatch.ledger import PendingEntry, PersistentLog, Signer
    from pausewatch.store._engine import _alembic_config

    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0015")
        signer = Signer.generate("test.example/log")
        now = datetime(2026, 12, 6, tzinfo=UTC)
        before = PersistentLog(engine, signer)
        appended = before.append_batch([PendingEntry(b'{"n":%d}' % i) for i in range(40)], now)
        assert "ix_log_entries_leaf_prefix" in _index_names(engine)
        with engine.begin() as conn:  # as a run stopped between the create and the drop
            conn.execute(
                text(
                    "CREATE INDEX ix_log_entries_leaf_block ON log_entries "
                    "((idx >> 18), substr(leaf_hash, 1, 8))"
                )
            )
        upgrade(engine)
        assert _revision(engine) == HEAD
        assert _index_names(engine) >= {"ix_log_entries_leaf_block"}
        assert "ix_log_entries_leaf_prefix" not in _index_names(engine)
        assert [PersistentLog(engine, signer).index_of(a.leaf_hash) for a in appended] == list(
            range(40)
        )
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0015")
        assert "ix_log_entries_leaf_prefix" in _index_names(engine)
        assert "ix_log_entries_leaf_block" not in _index_names(engine)
        upgrade(engine)
        assert _revision(engine) == HEAD
        after = PersistentLog(engine, signer)
        assert after.root() == before.root()
        assert [after.index_of(a.leaf_hash) for a in appended] == list(range(40))
    finally:
        engine.dispose()


_LISTS_0016 = (
    "CREATE TABLE tel_runs (run_id VARCHAR(128) PRIMARY KEY, flop TEXT NOT NULL, "
    "chip_windows BIGINT NOT NULL, chips TEXT NOT NULL, clusters TEXT NOT NULL, "
    "first_window_start VARCHAR(32), last_window_end VARCHAR(32), updated_idx BIGINT NOT NULL)",
    "CREATE TABLE tel_clusters (cluster_id VARCHAR(128) PRIMARY KEY, "
    "chip_windows BIGINT NOT NULL, chips TEXT NOT NULL, flop TEXT NOT NULL, "
    "energy_j BIGINT NOT NULL, unattributed_flop TEXT NOT NULL, undeclared_flop TEXT NOT NULL, "
    "undeclared_windows BIGINT NOT NULL, updated_idx BIGINT NOT NULL)",
    'INSERT INTO tel_runs VALUES (\'r1\', \'{}\', 7, \'["a","b","c"]\', \'["c1","c2"]\', '
    "'2027-01-01T00:00:00Z', '2027-01-01T00:01:00Z', 4)",
    "INSERT INTO tel_runs VALUES ('r2', '{}', 1, '[\"a\"]', '[\"c1\"]', NULL, NULL, 5)",
    "INSERT INTO tel_clusters VALUES ('c1', 6, '[\"a\",\"b\"]', '{}', 0, '{}', '{}', 0, 5)",
)
"""``tel_runs`` and ``tel_clusters`` as 0016 left them (the chips as JSON lists), with rows."""


def test_0017_moves_the_lists_of_chips_into_views_of_their_own_and_downgrades(
    db_url: str,
) -> None:
    """0017 moves each ``tel_runs`` row's chips and clusters and each ``tel_clusters`` row's
    chips, JSON lists written whole with every batch, into one row per member
    (``tel_run_chips``, ``tel_run_clusters``, ``tel_cluster_chips``), the rows keeping their
    counts; the downgrade writes the lists back as they were."""
    from alembic import command

    from pausewatch.store._engine import _alembic_config

    def lists(conn: Connection) -> list[tuple[object, ...]]:
        runs = conn.execute(text("SELECT run_id, chips, clusters FROM tel_runs ORDER BY run_id"))
        clusters = conn.execute(text("SELECT cluster_id, chips FROM tel_clusters"))
        return [tuple(r) for r in runs] + [tuple(r) for r in clusters]

    def members(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
        queries = {
            "tel_run_chips": "SELECT run_id, chip_id FROM tel_run_chips ORDER BY 1, 2",
            "tel_run_clusters": "SELECT run_id, cluster_id FROM tel_run_clusters ORDER BY 1, 2",
            "tel_cluster_chips": "SELECT cluster_id, chip_id FROM tel_cluster_chips ORDER BY 1, 2",
        }
        return {t: [tuple(r) for r in conn.execute(text(q))] for t, q in queries.items()}

    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0016")
            # 0002 creates today's tables: put back the shapes 0016 left.
            for table in ("tel_run_chips", "tel_run_clusters", "tel_cluster_chips"):
                conn.execute(text(f"DROP TABLE {table}"))
            conn.execute(text("DROP TABLE tel_runs"))
            conn.execute(text("DROP TABLE tel_clusters"))
            for statement in _LISTS_0016:
                conn.execute(text(statement))
            before = lists(conn)
        upgrade(engine)
        assert _revision(engine) == HEAD
        assert set(table_names(engine)) == ALL_TABLES
        with engine.connect() as conn:
            assert members(conn) == {
                "tel_run_chips": [("r1", "a"), ("r1", "b"), ("r1", "c"), ("r2", "a")],
                "tel_run_clusters": [("r1", "c1"), ("r1", "c2"), ("r2", "c1")],
                "tel_cluster_chips": [("c1", "a"), ("c1", "b")],
            }
            counts = "SELECT run_id, chip_count, cluster_count, chip_windows, updated_idx FROM "
            assert [tuple(r) for r in conn.execute(text(counts + "tel_runs ORDER BY run_id"))] == [
                ("r1", 3, 2, 7, 4),
                ("r2", 1, 1, 1, 5),
            ]
            row = conn.execute(text("SELECT chip_count, chip_windows FROM tel_clusters")).one()
            assert tuple(row) == (2, 6)
        columns = {c["name"] for c in inspect(engine).get_columns("tel_runs")}
        assert {"chips", "clusters"}.isdisjoint(columns)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0016")
        with engine.connect() as conn:
            assert lists(conn) == before
        assert {"tel_run_chips", "tel_cluster_chips"}.isdisjoint(table_names(engine))
        upgrade(engine)
        with engine.connect() as conn:
            assert len(members(conn)["tel_run_chips"]) == 4
    finally:
        engine.dispose()


def _records_0014() -> Table:
    """``telemetry_records`` as 0014 left it: keyed by the record's hash."""
    return Table(
        "telemetry_records",
        MetaData(),
        Column("hash", String(64), primary_key=True),
        Column("chip_id", String(128), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("batch_digest", String(64), nullable=False),
        Column("position", BigInteger, nullable=False),
        Column("line", LargeBinary, nullable=False),
        Index("ix_telemetry_records_batch", "batch_digest", "position"),
    )


def _records(engine: Engine, operator: bool = True) -> list[tuple[object, ...]]:
    """The rows of ``telemetry_records`` in key order: each ``(operator_id, batch_digest,
    position, hash, chip_id, seq, line)``, less ``operator_id`` unless ``operator``."""
    columns = "batch_digest, position, hash, chip_id, seq, line"
    if operator:
        columns = "operator_id, " + columns
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT {columns} FROM telemetry_records ORDER BY {columns}")  # noqa: S608
        )
        return [(*r[:-1], bytes(r[-1])) for r in rows]


def _submitted(conn: Connection, *rows: tuple[str, str, int]) -> None:
    """Put ``(operator_id, batch_digest, idx)`` rows in ``tel_submissions``."""
    conn.execute(
        text("INSERT INTO tel_submissions (operator_id, batch_digest, idx) VALUES (:o, :d, :i)"),
        [{"o": o, "d": d, "i": i} for o, d, i in rows],
    )


_COLUMNS_0014 = ("batch_digest", "position", "hash", "chip_id", "seq", "line")


def _at_0014(conn: Connection, rows: list[tuple[str, int, str, str, int, bytes]]) -> None:
    """Bring an empty store to 0014 with the records table as 0014 left it, holding ``rows``
    (:data:`_COLUMNS_0014`): 0002 creates today's tables, so the old shape is put back."""
    from alembic import command

    from pausewatch.store._engine import _alembic_config

    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "0014")
    conn.execute(text("DROP TABLE telemetry_records"))
    old = _records_0014()
    old.create(conn)
    conn.execute(old.insert(), [dict(zip(_COLUMNS_0014, r, strict=True)) for r in rows])


def test_a_store_at_0014_keys_its_stored_records_by_upload(db_url: str) -> None:
    """0015 keys ``telemetry_records`` by upload (operator and digest) and position instead of
    record hash (docs/adr/0051): the rows stored before are kept, each under the operator of
    the first batch integrated with its digest; rows of a digest no batch was integrated with
    (a dead attempt's) are dropped; a line another upload stored can be stored again under a
    second upload, another operator's of the same bytes included; the old batch index goes
    with the old key. Two rows at one upload and position keep the first in hash order.
    Downgrading keys them by hash again, one row a line."""
    from alembic import command

    from pausewatch.store._engine import _alembic_config

    a, b, dead = "aa" * 32, "bb" * 32, "dd" * 32
    before = [
        (a, 0, "h1", "c1", 1, b"l1"),
        (a, 1, "h2", "c1", 2, b"l2"),
        (b, 0, "h0", "c2", 7, b"l0"),
        (b, 0, "h3", "c2", 9, b"l3"),  # stale: a crashed attempt's row at the same position
        (dead, 0, "h4", "c3", 1, b"l4"),  # no batch of this digest was integrated
    ]
    engine = make_engine(db_url)
    try:
        cfg = _alembic_config()
        with engine.begin() as conn:
            _at_0014(conn, before)
            # A's bytes: lab's batch first (its rows), then other's; B's: other's alone.
            _submitted(conn, ("other", a, 9), ("lab", a, 3), ("other", b, 4))
        upgrade(engine)
        assert _revision(engine) == HEAD
        inspector = inspect(engine)
        key = inspector.get_pk_constraint("telemetry_records")["constrained_columns"]
        assert key == ["operator_id", "batch_digest", "position"]
        assert inspector.get_indexes("telemetry_records") == []
        assert _records(engine) == [
            ("lab", *before[0]),
            ("lab", *before[1]),
            ("other", *before[2]),
        ]
        with engine.begin() as conn:  # the same line, stored again by other uploads
            conn.execute(
                text(
                    "INSERT INTO telemetry_records (operator_id, batch_digest, position, hash, "
                    "chip_id, seq, line) VALUES (:o, :d, 0, 'h1', 'c1', 1, :line)"
                ),
                [
                    {"o": "lab", "d": "cc" * 32, "line": b"l1"},
                    {"o": "other", "d": a, "line": b"l1"},
                ],
            )
        assert len(_records(engine)) == 5
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0014")
        assert inspect(engine).get_pk_constraint("telemetry_records")["constrained_columns"] == [
            "hash"
        ]
        assert sorted(r[2] for r in _records(engine, operator=False)) == ["h0", "h1", "h2"]
        upgrade(engine)
        assert _revision(engine) == HEAD
        assert len(_records(engine)) == 3
    finally:
        engine.dispose()


def _batch_entry(operator: str, digest: str) -> bytes:
    """A ``telemetry.batch/v1`` log entry's bytes as the log stores them, as far as migration
    0015 reads them (its operator, and its submission's digest); unsigned."""
    submission = {
        "body": {"batch_digest": digest, "operator_id": operator, "records": 1},
        "kind": "telemetry.submission/v1",
        "sig": "",
        "signer": "",
    }
    body = {"operator_id": operator, "records_root": "00" * 32, "submission": submission}
    statement = {"body": body, "kind": "telemetry.batch/v1", "sig": "", "signer": ""}
    # As the log stores every entry: the statement wrapped with its integration time.
    return encode_entry(canonical(statement), datetime(2026, 12, 5, tzinfo=UTC))


def test_0015_keeps_the_records_of_a_batch_on_the_log_not_yet_folded(db_url: str) -> None:
    """A batch whose entry reached the log but was not folded when the store stopped has no
    ``tel_submissions`` row yet: 0015 keeps its rows, under the operator its entry names (the
    first such entry of the digest), rather than dropping them as a dead attempt's. Rows of a
    digest whose only entry was folded yet has no batch (the fold refused it), or that has no
    entry at all, are dropped."""

    folded, unfolded, refused, dead = "aa" * 32, "ee" * 32, "ff" * 32, "dd" * 32
    before = [
        (folded, 0, "h1", "c1", 1, b"l1"),
        (unfolded, 0, "h2", "c2", 1, b"l2"),
        (unfolded, 1, "h3", "c2", 2, b"l3"),
        (refused, 0, "h4", "c3", 1, b"l4"),
        (dead, 0, "h5", "c4", 1, b"l5"),
    ]
    entries = [
        (0, b'{"n":0}'),
        (1, _batch_entry("lab", folded)),
        (2, _batch_entry("lab", refused)),  # folded, refused: no batch
        (3, b'{"n":3}'),
        (4, _batch_entry("other", unfolded)),  # not folded: past "applied"
        (5, _batch_entry("lab", unfolded)),  # a later batch of the same bytes
    ]
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            _at_0014(conn, before)
            _submitted(conn, ("lab", folded, 1))
            conn.execute(
                text(
                    "INSERT INTO log_entries (idx, leaf_hash, integrated_us, data) "
                    "VALUES (:i, :h, 0, :d)"
                ),
                [{"i": i, "h": bytes([i]) * 32, "d": d} for i, d in entries],
            )
            conn.execute(text("INSERT INTO state_meta (key, value) VALUES ('applied', '4')"))
        upgrade(engine)
        assert _revision(engine) == HEAD
        assert _records(engine) == [
            ("lab", *before[0]),
            ("other", *before[1]),
            ("other", *before[2]),
        ]
    finally:
        engine.dispose()


def test_a_0015_upgrade_stopped_during_its_copy_resumes_on_the_next(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0015's copy fails after the old table was set aside and the new one created (the
    process killed, the disk full): SQLite has committed the rename and the create, PostgreSQL
    nothing. The next upgrade completes the copy from the table set aside and drops it; no row
    is lost and 0015 is not stamped on an empty table."""
    import alembic.operations

    a = "aa" * 32
    before = [(a, 0, "h1", "c1", 1, b"l1"), (a, 1, "h2", "c1", 2, b"l2")]
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            _at_0014(conn, before)
            _submitted(conn, ("lab", a, 5))
        real = alembic.operations.Operations.execute

        def execute(self: object, sql: object, *args: object, **kwargs: object) -> object:
            if "INSERT" in str(sql) and "telemetry_records_0014" in str(sql):
                raise RuntimeError("killed during the copy")
            return real(self, sql, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(alembic.operations.Operations, "execute", execute)
        with pytest.raises(RuntimeError, match="killed during the copy"):
            upgrade(engine)
        monkeypatch.undo()
        upgrade(engine)
        assert _revision(engine) == HEAD
        assert [t for t in inspect(engine).get_table_names() if "records" in t] == [
            "telemetry_records"
        ]
        assert _records(engine) == [("lab", *r) for r in before]
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(engine: Engine) -> None:
    """Running upgrade() again on a migrated database changes nothing and keeps the data."""
    with engine.begin() as conn:
        conn.execute(log_meta.insert().values(key="origin", value="test.example/log"))
    upgrade(engine)
    upgrade(engine)
    assert set(table_names(engine)) == ALL_TABLES
    assert _revision(engine) == HEAD
    with engine.connect() as conn:
        assert conn.execute(select(log_meta.c.value)).scalars().all() == ["test.example/log"]


def test_sqlite_is_wal_with_full_sync(sqlite_db_url: str) -> None:
    """Every SQLite connection runs in WAL journal mode with synchronous=FULL (2)."""
    engine = make_engine(sqlite_db_url)
    try:
        upgrade(engine)
        # Two connections at once: the pragmas are set on each new connection, not just one.
        with engine.connect() as a, engine.connect() as b:
            for conn in (a, b):
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_checkpoints_its_wal_every_64_mib(sqlite_db_url: str) -> None:
    """Every SQLite connection copies its WAL back after 16,384 pages (64 MiB), not the default
    1,000: a durable batch dirties thousands of index pages, which the default would copy back
    after every commit (issue 19 §5, ADR 0049); commits stay synchronous=FULL."""
    engine = make_engine(sqlite_db_url)
    try:
        with engine.connect() as a, engine.connect() as b:
            for conn in (a, b):
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 16_384
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        engine.dispose()


def test_sqlite_creates_parent_directories(tmp_path: Path) -> None:
    """A SQLite URL under a directory that does not exist yet gets that directory created."""
    path = tmp_path / "a" / "b" / "log.db"
    engine = make_engine(sqlite_url(path))
    try:
        upgrade(engine)
        assert path.exists()
    finally:
        engine.dispose()


def test_plain_postgresql_url_uses_psycopg() -> None:
    """A postgresql:// URL without a driver gets the psycopg (v3) driver (no connection made)."""
    engine = make_engine("postgresql://user@db.invalid:5432/pausewatch")
    try:
        assert engine.dialect.name == "postgresql"
        assert engine.dialect.driver == "psycopg"
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "",
        "://nothing",
        "mysql://user@db.invalid/pausewatch",
        "oracle://user@db.invalid/pausewatch",
        "sqlite+nodriver:///log.db",
        "postgresql+nodriver://user@db.invalid/pausewatch",
        "postgresql+psycopg2cffi://user@db.invalid/pausewatch",
    ],
)
def test_bad_url_is_a_configuration_error(url: str) -> None:
    """An unparsable URL, an unsupported backend or an unknown driver raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match="database URL"):
        make_engine(url)
