"""Three `pausewatch serve` replicas on one PostgreSQL: SIGKILL the sequencing one while clients
submit to all three; another takes over, nothing acknowledged is lost, and every checkpoint any
replica served is consistent with every other (ADR 0047)."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from pausewatch.client import ClientError, PausewatchClient
from pausewatch.ledger import SignedCheckpoint, Verifier, verify_consistency
from pausewatch.statements import load_key, sign_statement

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def role(url: str) -> str | None:
    try:
        return str(httpx.get(url + "/healthz", timeout=30).json().get("role"))
    except httpx.HTTPError:
        return None


def test_sigkill_of_the_sequencer_loses_nothing_and_forks_nothing(
    tmp_path: Path, pg_url: str, start_log: Any
) -> None:
    """After the sequencing replica is SIGKILLed mid-load another replica sequences, every
    acknowledged statement (on whichever replica) is on the log at its index, and all the
    checkpoints the replicas served verify, grow per replica and are pairwise consistent."""
    dirs = [tmp_path / f"r{i}" for i in range(3)]
    common = ["--database-url", pg_url]
    replicas = [start_log(dirs[0], *common, "--replica-id", "r0")]
    for i in (1, 2):
        # One log, one key: every replica's data directory holds the same keys.
        shutil.copytree(dirs[0] / "keys", dirs[i] / "keys")
        replicas.append(start_log(dirs[i], *common, "--replica-id", f"r{i}"))
    urls = [r.url for r in replicas]
    roles = [role(u) for u in urls]
    assert sorted(str(r) for r in roles) == ["follower", "follower", "sequencer"]
    doomed = roles.index("sequencer")

    key = load_key(dirs[0] / "keys", "secretariat")
    acked: list[tuple[int, str, dict[str, Any]]] = []
    by_replica = [0, 0, 0]
    notes: dict[int, list[str]] = {i: [] for i in range(3)}
    stop = threading.Event()
    lock = threading.Lock()

    def submitter(replica: int, worker: int) -> None:
        with PausewatchClient(urls[replica], timeout=10) as client:
            n = 0
            while not stop.is_set():
                statement = sign_statement("notice/v1", {"title": f"r{replica}w{worker}-{n}"}, key)
                try:
                    res = client.submit(statement)
                except ClientError as exc:
                    if exc.status is None and replica == doomed:
                        return  # its replica is gone
                    time.sleep(0.1)  # 503 while the sequencer changes: send it again
                    continue
                with lock:
                    acked.append((res["index"], res["leaf_hash"], statement.to_json()))
                    by_replica[replica] += 1
                n += 1

    def watcher(replica: int) -> None:
        with PausewatchClient(urls[replica], timeout=5) as client:
            while not stop.is_set():
                try:
                    notes[replica].append(client.checkpoint())
                except ClientError as exc:
                    if exc.status is None and replica == doomed:
                        return  # its replica is gone
                time.sleep(0.05)

    threads = [
        threading.Thread(target=submitter, args=(r, w)) for r in range(3) for w in range(2)
    ] + [threading.Thread(target=watcher, args=(r,)) for r in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while len(acked) < 150 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = len(acked)
        followers_before = [by_replica[i] for i in range(3) if i != doomed]
        replicas[doomed].kill()
        survivors = [i for i in range(3) if i != doomed]
        deadline = time.monotonic() + 30
        while not any(role(urls[i]) == "sequencer" for i in survivors):
            assert time.monotonic() < deadline, "no replica took over the sequencer"
            time.sleep(0.1)
        deadline = time.monotonic() + 60
        while len(acked) < before + 100 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert before >= 150, "the clients should have been acknowledged before the kill"
    assert len(acked) >= before + 100, "the clients should have been acknowledged after it"
    assert [role(urls[i]) for i in survivors].count("sequencer") == 1
    # Both kinds of replica acknowledged: the followers' submissions went through the hand-off
    # before the kill, and the survivors' after it.
    assert all(followers_before), by_replica
    assert all(by_replica[i] > n for i, n in zip(survivors, followers_before, strict=True))

    verifier = Verifier.from_string((dirs[0] / "keys" / "pausewatch.local_log.pub").read_text())
    with PausewatchClient(urls[survivors[0]]) as client:
        latest = SignedCheckpoint.open(client.checkpoint(), verifier).checkpoint
        for index, leaf, statement in acked:
            entry = client.entry(index)
            assert entry["leaf_hash"] == leaf
            assert entry["entry"]["statement"] == statement
        assert latest.size > max(i for i, _, _ in acked)
        roots: dict[int, bytes] = {}
        for replica, served in notes.items():
            sizes = [SignedCheckpoint.open(n, verifier).checkpoint.size for n in served]
            assert sizes == sorted(sizes), f"replica r{replica} served a smaller checkpoint"
            for note in served:
                old = SignedCheckpoint.open(note, verifier).checkpoint
                # One root per size across all replicas, each consistent with the newest.
                assert roots.setdefault(old.size, old.root_hash) == old.root_hash
                proof = client.consistency_proof(old.size, latest.size)
                verify_consistency(
                    old.size,
                    latest.size,
                    [bytes.fromhex(h) for h in proof["proof"]],
                    old.root_hash,
                    latest.root_hash,
                )
    assert all(notes.values()), f"every replica should have served checkpoints: {notes}"


def test_a_paused_sequencer_is_replaced_and_steps_down_when_it_resumes(
    tmp_path: Path, pg_url: str, start_log: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sequencing replica paused with SIGSTOP (its sessions stay open) is replaced once its
    heartbeat is stale; resumed with SIGCONT it follows, and the log its clients read is one
    log: every acknowledged statement at its index, one root per size."""
    monkeypatch.setenv("PAUSEWATCH_REPLICA_STALE_S", "4")
    dirs = [tmp_path / "r0", tmp_path / "r1"]
    common = ["--database-url", pg_url]
    first = start_log(dirs[0], *common, "--replica-id", "r0")
    shutil.copytree(dirs[0] / "keys", dirs[1] / "keys")
    second = start_log(dirs[1], *common, "--replica-id", "r1")
    assert [role(first.url), role(second.url)] == ["sequencer", "follower"]
    key = load_key(dirs[0] / "keys", "secretariat")
    acked: list[tuple[int, str]] = []
    with PausewatchClient(first.url, timeout=10) as client:
        for n in range(3):
            res = client.submit(sign_statement("notice/v1", {"title": f"before {n}"}, key))
            acked.append((res["index"], res["leaf_hash"]))
    assert first.proc is not None
    os.kill(first.proc.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 30
        while role(second.url) != "sequencer":
            assert time.monotonic() < deadline, "no replica took over from the paused one"
            time.sleep(0.2)
        with PausewatchClient(second.url, timeout=10) as client:
            res = client.submit(sign_statement("notice/v1", {"title": "after"}, key))
            acked.append((res["index"], res["leaf_hash"]))
    finally:
        os.kill(first.proc.pid, signal.SIGCONT)
    deadline = time.monotonic() + 30
    while role(first.url) != "follower":
        assert time.monotonic() < deadline, "the resumed replica did not step down"
        time.sleep(0.2)
    with PausewatchClient(first.url, timeout=10) as client:
        res = client.submit(sign_statement("notice/v1", {"title": "resumed"}, key))
        acked.append((res["index"], res["leaf_hash"]))
    assert role(second.url) == "sequencer"
    verifier = Verifier.from_string((dirs[0] / "keys" / "pausewatch.local_log.pub").read_text())
    with PausewatchClient(second.url) as client:
        latest = SignedCheckpoint.open(client.checkpoint(), verifier).checkpoint
        assert latest.size == len(acked) == 5
        for index, leaf in acked:
            assert client.entry(index)["leaf_hash"] == leaf
