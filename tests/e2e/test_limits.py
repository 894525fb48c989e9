"""The service under hostile or failing conditions, as a real `pausewatch serve` process on
loopback: a full disk, deeply nested JSON on a kept-alive connection, slow clients."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pausewatch.statements import load_key, sign_statement

PROBLEM = "application/problem+json"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs (a real file system that can fill up); skipped where mounting is not
    allowed (it needs root)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(path: Path) -> None:
    """Write ``path`` until the file system has no byte left."""
    with path.open("wb", buffering=0) as fh:
        for chunk in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    fh.write(b"\0" * chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break


def test_a_full_disk_is_a_503_and_the_log_recovers(small_disk: Path, start_log: Any) -> None:
    """On a disk with no room left a submission is answered 503 with Retry-After, not 500 with
    a reset connection; what was acknowledged before is intact, and once space is freed the
    refused statement is appended and the service goes on."""
    data_dir = small_disk / "log"
    server = start_log(data_dir)
    try:
        key = load_key(data_dir / "keys", "secretariat")
        with httpx.Client(base_url=server.url, timeout=30) as client:
            acked = []
            for i in range(5):
                notice = sign_statement("notice/v1", {"title": f"n{i}"}, key).to_json()
                resp = client.post("/v1/statements", json=notice)
                assert resp.status_code == 201, resp.text
                acked.append(resp.json())
            fill(small_disk / "filler")
            refused = None
            for i in range(200):
                big = sign_statement("notice/v1", {"title": f"b{i}", "text": "z" * 20_000}, key)
                resp = client.post("/v1/statements", json=big.to_json())
                if resp.status_code == 201:
                    acked.append(resp.json())
                    continue
                assert resp.status_code == 503, resp.text
                assert resp.headers["content-type"] == PROBLEM
                assert resp.json()["type"].endswith("/storage-full")
                assert int(resp.headers["Retry-After"]) >= 1
                refused = big
                break
            assert refused is not None, "the disk should have filled up"
            (small_disk / "filler").unlink()
            for answer in acked:
                entry = client.get(f"/v1/entries/{answer['index']}").json()
                assert entry["leaf_hash"] == answer["leaf_hash"]
            resp = client.post("/v1/statements", json=refused.to_json())
            assert resp.status_code == 201, resp.text
            assert resp.json()["index"] == len(acked)
            after = sign_statement("notice/v1", {"title": "after"}, key).to_json()
            assert client.post("/v1/statements", json=after).status_code == 201
            assert client.get("/v1/log").json()["size"] == len(acked) + 2
    finally:
        server.stop()
