"""The service under hostile or failing conditions, as a real `pausewatch serve` process on
loopback: a full disk, deeply nested JSON on a kept-alive connection, slow clients."""

from __future__ import annotations

import errno
import socket
import subprocess
import time
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


# -- slow clients ----------------------------------------------------------------------------------


@pytest.fixture
def strict_server(tmp_path: Path, start_log: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`pausewatch serve` with deadlines of 1 s for a request's head and 2 s for its body."""
    monkeypatch.setenv("PAUSEWATCH_REQUEST_HEAD_TIMEOUT_S", "1")
    monkeypatch.setenv("PAUSEWATCH_REQUEST_BODY_TIMEOUT_S", "2")
    monkeypatch.setenv("PAUSEWATCH_KEEP_ALIVE_TIMEOUT_S", "1")
    return start_log(tmp_path / "log")


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a 30 s safety net: a
    connection the server never closes fails the test)."""
    got = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return got
        except TimeoutError:
            pytest.fail(f"the server kept the connection open; it sent {got[:200]!r}")
        if not chunk:
            return got
        got += chunk


HEAD = b"POST /v1/statements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def test_a_connection_that_sends_nothing_is_closed(strict_server: Any) -> None:
    """A client that connects and sends nothing is answered 408 and disconnected."""
    with _connect(strict_server.url) as sock:
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in answer


def test_a_head_trickled_byte_by_byte_is_cut_off(strict_server: Any) -> None:
    """A head trickled a byte at a time never completes its deadline by trickling: 408 and
    the connection closed, while the bytes are still coming."""
    with _connect(strict_server.url) as sock:
        closed = False
        for byte in HEAD * 50:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.05)
        answer = b"" if closed else _read_until_closed(sock)
    assert closed or answer.startswith(b"HTTP/1.1 408 ")


def test_a_body_that_never_arrives_is_cut_off(strict_server: Any) -> None:
    """A head that announces 1,000 bytes of body, then 10 of them: 408, connection closed,
    and nothing appended."""
    with _connect(strict_server.url) as sock:
        sock.sendall(HEAD + b"Content-Length: 1000\r\n\r\n" + b'{"kind":"n')
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert httpx.get(strict_server.url + "/v1/log").json()["size"] == 0


def test_many_slow_sockets_are_all_closed_and_service_goes_on(strict_server: Any) -> None:
    """100 sockets that open and stall are all closed by the server; meanwhile and after, a
    normal client is served."""
    socks = [_connect(strict_server.url) for _ in range(100)]
    try:
        for sock in socks[:50]:
            sock.sendall(HEAD)  # half of them send a partial head
        assert httpx.get(strict_server.url + "/healthz", timeout=10).status_code == 200
        for sock in socks:
            _read_until_closed(sock)
    finally:
        for sock in socks:
            sock.close()
    assert httpx.get(strict_server.url + "/healthz", timeout=10).status_code == 200


def test_a_prompt_client_keeps_its_connection(strict_server: Any) -> None:
    """Deadlines count per request: a client that sends its requests promptly is served on
    one kept-alive connection, however long the connection lives in total."""
    with httpx.Client(base_url=strict_server.url, timeout=10) as client:
        for _ in range(6):
            assert client.get("/healthz").status_code == 200
            time.sleep(0.3)


# -- nested JSON -----------------------------------------------------------------------------------


def test_deep_json_is_a_400_and_the_connection_lives_on(tmp_path: Path, start_log: Any) -> None:
    """JSON nested 100,000 deep is answered 400 on a kept-alive connection, which then serves
    the next request (before: a 500, after which uvicorn closed the connection)."""
    server = start_log(tmp_path / "log")
    deep = b'{"kind":"notice/v1","body":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with _connect(server.url) as sock:
        request = (
            b"POST /v1/statements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(deep)}\r\n\r\n".encode()
            + deep
            + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(request)
        answer = _read_until_closed(sock)
    first, _, rest = answer.partition(b"HTTP/1.1 200 ")
    assert first.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"malformed-json" in first
    assert b'"status":"ok"' in rest


def test_an_idle_kept_alive_connection_is_closed_without_a_408(
    tmp_path: Path, start_log: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With keep-alive longer than the head deadline, a connection left idle after its answer
    is closed at the head deadline without an unasked-for 408 (which a client could take as
    the answer to a request it sent meanwhile)."""
    monkeypatch.setenv("PAUSEWATCH_REQUEST_HEAD_TIMEOUT_S", "1")
    monkeypatch.setenv("PAUSEWATCH_KEEP_ALIVE_TIMEOUT_S", "60")
    server = start_log(tmp_path / "log")
    with _connect(server.url) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.count(b"HTTP/1.1 ") == 1, answer
