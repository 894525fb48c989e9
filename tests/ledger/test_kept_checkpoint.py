"""The checkpoint the log keeps outside its database: a rolled-back, truncated or replaced store
is refused at start, and the log never signs two checkpoints for one size (ADR 0014).

Every case runs on SQLite and PostgreSQL; the kept checkpoint is a real file.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from pausewatch.errors import ConsistencyError
from pausewatch.ledger import (
    Checkpoint,
    CompactRange,
    PendingEntry,
    PersistentLog,
    SignedCheckpoint,
    Signer,
    complete_subtrees,
    sign_checkpoint,
)
from pausewatch.store import (
    CheckpointFile,
    log_checkpoints,
    log_cosignatures,
    log_entries,
    log_nodes,
    make_engine,
    upgrade,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LOG_TABLES = (log_entries, log_nodes, log_checkpoints, log_cosignatures)


def append(log: PersistentLog, first: int, count: int) -> None:
    """Append ``count`` small entries numbered from ``first`` in one batch."""
    pending = [PendingEntry(b'{"n":%d}' % (first + i)) for i in range(count)]
    log.append_batch(pending, T0 + timedelta(seconds=first))


def kept_size(kept: CheckpointFile) -> int:
    """The size of the kept checkpoint."""
    note = kept.read()
    assert note is not None
    return int(note.split("\n")[1])


def snapshot(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the log's tables (an older copy of the database, to restore later)."""
    with engine.connect() as conn:
        return {t.name: [dict(r._mapping) for r in conn.execute(select(t))] for t in LOG_TABLES}


def restore(engine: Engine, copy: dict[str, list[dict[str, Any]]]) -> None:
    """Put the log's tables back as ``copy`` had them: a rollback to an older backup."""
    with engine.begin() as conn:
        for t in LOG_TABLES:
            conn.execute(delete(t))
            if copy[t.name]:
                conn.execute(insert(t), copy[t.name])


def truncate(engine: Engine, size: int) -> None:
    """Delete the newest entries, their subtree hashes and checkpoints beyond ``size``."""
    with engine.begin() as conn:
        conn.execute(delete(log_entries).where(log_entries.c.idx >= size))
        # A subtree (level, idx) ends at leaf (idx + 1) * 2**level; keep those within size.
        for level in range(40):
            conn.execute(
                delete(log_nodes).where(
                    log_nodes.c.level == level, (log_nodes.c.idx + 1) * (1 << level) > size
                )
            )
        conn.execute(delete(log_checkpoints).where(log_checkpoints.c.size > size))
        conn.execute(delete(log_cosignatures).where(log_cosignatures.c.size > size))


@pytest.fixture
def kept(tmp_path: Path) -> CheckpointFile:
    """The kept checkpoint, a file in a data directory of its own."""
    return CheckpointFile(tmp_path / "data" / "checkpoint")


@pytest.fixture
def other_engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    """A second, empty store on the same backend as ``engine`` (a sibling database)."""
    if db_url.startswith("postgresql"):
        import psycopg

        base, name = db_url.rsplit("/", 1)
        admin = base.replace("postgresql+psycopg://", "postgresql://", 1) + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}_b"')
        url = f"{db_url}_b"
    else:
        url = f"sqlite+pysqlite:///{tmp_path / 'other.db'}"
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()
    if db_url.startswith("postgresql"):
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}_b" WITH (FORCE)')


def test_each_signed_checkpoint_is_kept_before_it_is_served(
    engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """After every batch the kept file holds exactly the note the log serves as its newest."""
    log = PersistentLog(engine, log_signer, kept=kept)
    assert kept.read() is None
    for first, count in ((0, 3), (3, 1), (4, 6)):
        append(log, first, count)
        assert kept.read() == log.latest_note()
        assert kept_size(kept) == log.size
    assert oct(kept.path.stat().st_mode & 0o777) == "0o644"
    assert not [p.name for p in kept.path.parent.iterdir() if p != kept.path]


def test_rolled_back_store_is_refused(
    engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """A store restored from an older copy is refused at start, naming both sizes and how to
    recover; nothing is signed."""
    log = PersistentLog(engine, log_signer, kept=kept)
    append(log, 0, 4)
    older = snapshot(engine)
    append(log, 4, 3)
    restore(engine, older)
    with pytest.raises(ConsistencyError) as caught:
        PersistentLog(engine, log_signer, kept=kept)
    message = str(caught.value)
    assert "\n" not in message
    assert "holds 4 entries" in message
    assert "checkpoint of size 7" in message
    assert "restore the newest copy of the database" in message
    assert kept_size(kept) == 7


def test_truncated_store_is_refused(
    engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """A store whose newest entries, subtree hashes and checkpoints were deleted is refused."""
    log = PersistentLog(engine, log_signer, kept=kept)
    append(log, 0, 5)
    append(log, 5, 4)
    truncate(engine, 5)
    with pytest.raises(ConsistencyError, match=r"holds 5 entries.*checkpoint of size 9"):
        PersistentLog(engine, log_signer, kept=kept)
    truncate(engine, 0)
    with pytest.raises(ConsistencyError, match=r"holds 0 entries.*checkpoint of size 9"):
        PersistentLog(engine, log_signer, kept=kept)


def test_store_of_the_same_size_with_another_root_is_refused(
    engine: Engine, other_engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """A store as long as the kept checkpoint but with other entries is refused."""
    append(PersistentLog(engine, log_signer, kept=kept), 0, 4)
    append(PersistentLog(other_engine, log_signer), 100, 4)
    with pytest.raises(ConsistencyError, match="disagrees with the checkpoint of size 4"):
        PersistentLog(other_engine, log_signer, kept=kept)


def test_longer_store_must_extend_the_kept_checkpoint(
    engine: Engine, other_engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """A store longer than the kept checkpoint is accepted only if its tree at the kept size has
    the kept root."""
    append(PersistentLog(engine, log_signer, kept=kept), 0, 3)
    other = PersistentLog(other_engine, log_signer)
    append(other, 50, 3)
    append(other, 53, 4)
    with pytest.raises(ConsistencyError, match="disagrees with the checkpoint of size 3"):
        PersistentLog(other_engine, log_signer, kept=kept)


def test_crash_between_commit_and_keeping_is_recovered(
    engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """A store one batch ahead of the kept checkpoint (a crash after the commit, before the file
    was replaced) starts, and the kept checkpoint catches up."""
    log = PersistentLog(engine, log_signer, kept=kept)
    append(log, 0, 3)
    earlier = kept.read()
    assert earlier is not None
    append(log, 3, 5)
    kept.write(earlier)
    reopened = PersistentLog(engine, log_signer, kept=kept)
    assert reopened.size == 8
    assert kept.read() == reopened.latest_note()


def test_tampered_stored_hash_is_noticed_at_start(
    engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """A stored subtree hash on the tree's right edge that no longer gives the kept root is
    refused at start, even when the store's own checkpoint row was altered to match it."""
    log = PersistentLog(engine, log_signer, kept=kept)
    append(log, 0, 6)
    edge = complete_subtrees(0, 6)
    with engine.begin() as conn:
        hashes = [
            conn.execute(
                select(log_nodes.c.hash).where(
                    log_nodes.c.level == n.level, log_nodes.c.idx == n.index
                )
            ).scalar_one()
            for n in edge
        ]
        hashes[0] = b"\x5a" * 32
        conn.execute(
            update(log_nodes)
            .where(log_nodes.c.level == edge[0].level, log_nodes.c.idx == edge[0].index)
            .values(hash=hashes[0])
        )
        forged_root = CompactRange(6, hashes).root()
        conn.execute(
            update(log_checkpoints).where(log_checkpoints.c.size == 6).values(root=forged_root)
        )
    with pytest.raises(ConsistencyError, match="disagrees with the checkpoint of size 6"):
        PersistentLog(engine, log_signer, kept=kept)


def test_missing_kept_checkpoint_for_a_store_with_entries_is_refused(
    engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """A store with entries but no kept checkpoint (the file lost, or the database brought to
    another data directory) is refused, naming the override that accepts the store as it is."""
    append(PersistentLog(engine, log_signer), 0, 2)
    with pytest.raises(ConsistencyError, match=r"no checkpoint is kept.*--unsafe-trust-database"):
        PersistentLog(engine, log_signer, kept=kept)


def test_kept_checkpoint_of_another_log_is_refused(
    engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """A kept checkpoint the log's key did not sign is refused, not overwritten."""
    stranger = Signer.generate(log_signer.name)
    forged = Checkpoint(log_signer.name, 1, b"\x01" * 32)
    kept.write(sign_checkpoint(forged, stranger))
    with pytest.raises(ConsistencyError, match="not a checkpoint of this log"):
        PersistentLog(engine, log_signer, kept=kept)


def test_unsafe_trust_database_replaces_the_kept_checkpoint_with_a_warning(
    engine: Engine, log_signer: Signer, kept: CheckpointFile, caplog: pytest.LogCaptureFixture
) -> None:
    """The explicit override starts on a rolled-back store, keeps the store's newest checkpoint
    and logs a warning that the log will fork."""
    log = PersistentLog(engine, log_signer, kept=kept)
    append(log, 0, 2)
    older = snapshot(engine)
    append(log, 2, 2)
    restore(engine, older)
    with caplog.at_level(logging.WARNING, logger="pausewatch.ledger"):
        reopened = PersistentLog(engine, log_signer, kept=kept, unsafe_trust_store=True)
    assert reopened.size == 2
    assert kept.read() == reopened.latest_note()
    assert any("fork" in r.getMessage() for r in caplog.records)


def test_never_signs_two_checkpoints_for_one_size(
    engine: Engine, other_engine: Engine, log_signer: Signer, kept: CheckpointFile
) -> None:
    """Two writers on two copies of a store, sharing one data directory: once the first has
    signed size 5, the second refuses to sign its own checkpoint of size 5 and appends nothing."""
    first = PersistentLog(engine, log_signer, kept=kept)
    append(first, 0, 3)
    restore(other_engine, snapshot(engine))
    second = PersistentLog(other_engine, log_signer, kept=kept)
    append(first, 3, 2)
    signed = SignedCheckpoint.open(kept.read() or "", first.verifier).checkpoint
    with pytest.raises(ConsistencyError, match="already signed a checkpoint of size 5"):
        append(second, 30, 2)
    assert second.size == 3
    with other_engine.connect() as conn:
        assert conn.execute(select(log_checkpoints.c.size)).scalars().all() == [3]
    assert SignedCheckpoint.open(kept.read() or "", first.verifier).checkpoint == signed


def test_kept_file_is_replaced_atomically(kept: CheckpointFile) -> None:
    """Writing the kept checkpoint replaces the file whole (a new inode) and leaves no temporary
    file behind; reading an absent file gives None."""
    assert kept.read() is None
    kept.write("one\n")
    inode = os.stat(kept.path).st_ino
    kept.write("two\n")
    assert kept.read() == "two\n"
    assert os.stat(kept.path).st_ino != inode
    assert sorted(p.name for p in kept.path.parent.iterdir()) == ["checkpoint"]


class FullDisk(CheckpointFile):
    """The real kept file, on a disk that can be made full: writes then fail with ENOSPC
    (root ignores permissions, so a read-only directory would not do)."""

    full = False

    def write(self, note: str) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        super().write(note)


def test_a_checkpoint_that_could_not_be_kept_is_not_served_until_it_is(
    engine: Engine, log_signer: Signer, tmp_path: Path
) -> None:
    """When the kept file cannot be written the batch fails and its checkpoint is not served;
    the next append keeps it first, then appends."""
    kept = FullDisk(tmp_path / "data" / "checkpoint")
    log = PersistentLog(engine, log_signer, kept=kept)
    append(log, 0, 2)
    served = log.latest_note()
    kept.full = True
    with pytest.raises(OSError, match="No space left"):
        append(log, 2, 3)
    assert (log.size, log.latest_note(), kept.read()) == (2, served, served)
    kept.full = False
    append(log, 5, 1)
    assert log.size == 6
    assert kept.read() == log.latest_note()
    assert [e.index for e in log.entries(0, 10)] == list(range(6))
    assert log.checkpoint_sizes() == [2, 5, 6]
