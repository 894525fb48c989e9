"""Crash safety: SIGKILL the server while clients submit; nothing acknowledged is lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pausewatch.client import ClientError, PausewatchClient
from pausewatch.ledger import SignedCheckpoint, Verifier, verify_consistency
from pausewatch.statements import load_key, sign_statement

pytestmark = pytest.mark.slow


def test_sigkill_loses_no_acknowledged_statement(tmp_path: Path, start_log: Any) -> None:
    """After SIGKILL and restart every acknowledged statement is at its index and the new tree
    is consistent with every checkpoint published before the crash."""
    data_dir = tmp_path / "log"
    server = start_log(data_dir)
    # The service's own secretariat key: a registered signer, not held to the notice quota.
    key = load_key(data_dir / "keys", "secretariat")
    acked: list[tuple[int, str, dict[str, Any]]] = []
    notes: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def submitter(worker: int) -> None:
        with PausewatchClient(server.url, timeout=30) as client:
            n = 0
            statement = sign_statement("notice/v1", {"title": f"w{worker}-{n}"}, key)
            while not stop.is_set():
                try:
                    res = client.submit(statement)
                except ClientError:
                    # A stall on a slow machine before the kill: the same statement is sent
                    # again (if it was logged, the log answers with its first index).
                    time.sleep(0.1)
                    continue
                with lock:
                    acked.append((res["index"], res["leaf_hash"], statement.to_json()))
                n += 1
                statement = sign_statement("notice/v1", {"title": f"w{worker}-{n}"}, key)

    def watcher() -> None:
        with PausewatchClient(server.url, timeout=30) as client:
            while not stop.is_set():
                try:
                    notes.append(client.checkpoint())
                except ClientError:
                    if stop.is_set():
                        return
                time.sleep(0.05)

    threads = [threading.Thread(target=submitter, args=(i,)) for i in range(4)]
    threads.append(threading.Thread(target=watcher))
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) >= 300, "the clients should have been acknowledged before the crash"
    assert notes, "checkpoints should have been published before the crash"

    restarted = start_log(data_dir)
    verifier = Verifier.from_string((data_dir / "keys" / "pausewatch.local_log.pub").read_text())
    with PausewatchClient(restarted.url) as client:
        # The log keeps working after the crash.
        client.submit(sign_statement("notice/v1", {"title": "after the crash"}, key))
        latest = SignedCheckpoint.open(client.checkpoint(), verifier).checkpoint
        for index, leaf, statement in acked:
            entry = client.entry(index)
            assert entry["leaf_hash"] == leaf
            assert entry["entry"]["statement"] == statement
        for note in notes:
            old = SignedCheckpoint.open(note, verifier).checkpoint
            proof = client.consistency_proof(old.size, latest.size)
            verify_consistency(
                old.size,
                latest.size,
                [bytes.fromhex(h) for h in proof["proof"]],
                old.root_hash,
                latest.root_hash,
            )
    assert latest.size > max(i for i, _, _ in acked)
