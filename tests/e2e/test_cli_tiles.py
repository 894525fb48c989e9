"""The log as static tiles, as an operator and an auditor meet it: `pausewatch log tiles`
copies a running service's tiles to a directory, a plain `http.server` serves it, and
`pausewatch audit --tiles` audits the log from it (all real processes)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import run_cli
from pausewatch.cli._audit import _audit_tiles
from pausewatch.cli._log import write_tiles
from pausewatch.errors import NotFoundError, VerificationError
from pausewatch.ledger import (
    Checkpoint,
    MerkleTree,
    Node,
    Signer,
    TileClient,
    bundles,
    decode_bundle,
    encode_bundle,
    encode_entry,
    sign_checkpoint,
    tiles,
)
from pausewatch.service import LogService
from pausewatch.settings import Settings
from pausewatch.statements import KeyPair, canonical, sign_statement


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain `http.server` serving a directory on loopback (what any web server does)."""
    root = tmp_path / "static"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def filled(data_dir: Path, count: int) -> tuple[str, KeyPair, str]:
    """A data directory whose log holds ``count`` notices; its log key, the secretariat key and
    the checkpoint note after the first 10."""
    service = LogService(Settings(data_dir=data_dir, batch_latency_ms=5))
    service.start()
    try:
        key = service.secretariat_key
        for i in range(10):
            service.submit(sign_statement("notice/v1", {"title": f"n{i}"}, key)).result(60)
        early = service.log.checkpoint_note()
        futures = [
            service.submit(sign_statement("notice/v1", {"title": f"m{i}"}, key))
            for i in range(count - 10)
        ]
        for f in futures:
            f.result(60)
        return service.log.verifier.to_string(), key, early
    finally:
        service.close()


@pytest.mark.slow
def test_tiles_copied_served_statically_and_audited(
    tmp_path: Path, start_log: Any, static_server: tuple[Path, str]
) -> None:
    """`log tiles` writes the checkpoint, tiles and bundles to a directory (again only what
    changed); a static server serves them; `audit --tiles` passes on it, anchored by a pinned
    checkpoint, and on the service itself; a tampered bundle fails it."""
    data_dir = tmp_path / "data"
    log_key, key, early = filled(data_dir, 300)
    (tmp_path / "early.note").write_text(early)
    served = start_log(data_dir)
    root, url = static_server

    done = run_cli("log", "tiles", str(root), "--url", served.url, "--log-key", log_key, "--json")
    assert done.returncode == 0, done.stderr
    size = int(httpx.get(served.url + "/v1/log").json()["size"])
    width = size % 256
    for path in [
        "checkpoint",
        "tile/0/000",
        f"tile/0/001.p/{width}",
        "tile/1/000.p/1",
        "tile/entries/000",
        f"tile/entries/001.p/{width}",
    ]:
        assert (root / path).is_file(), path
        assert httpx.get(f"{url}/{path}").content == httpx.get(f"{served.url}/{path}").content
    full_tile = root / "tile/0/000"
    first_written = full_tile.stat().st_mtime_ns

    # More entries; a second copy keeps the full tiles it has and adds the new partial ones.
    for i in range(3):
        r = httpx.post(
            served.url + "/v1/statements",
            json=sign_statement("notice/v1", {"title": f"later {i}"}, key).to_json(),
        )
        assert r.status_code == 201, r.text
    again = run_cli("log", "tiles", str(root), "--url", served.url, "--log-key", log_key)
    assert again.returncode == 0, again.stderr
    assert "kept" in again.stdout
    assert full_tile.stat().st_mtime_ns == first_written
    new_size = int(httpx.get(served.url + "/v1/log").json()["size"])
    assert (root / f"tile/0/001.p/{new_size % 256}").is_file()

    pinned = ["--checkpoint", str(tmp_path / "early.note")]
    for source in (url, served.url):
        audited = run_cli("audit", "--tiles", source, "--log-key", log_key, *pinned)
        assert audited.returncode == 0, audited.stderr
        assert f"entries:      {new_size}" in audited.stdout
        assert "OK" in audited.stdout

    # One altered entry in the static copy: the recomputed tree no longer gives the root.
    bundle = root / "tile/entries/000"
    entries = decode_bundle(bundle.read_bytes())
    entries[5] = entries[5].replace(b"n5", b"n6")
    bundle.write_bytes(encode_bundle(entries))
    tampered = run_cli("audit", "--tiles", url, "--log-key", log_key, *pinned)
    assert tampered.returncode == 1
    assert "FAILED" in tampered.stderr


def test_audit_tiles_errors_are_one_line(tmp_path: Path, static_server: tuple[Path, str]) -> None:
    """`audit --tiles` without a log key, or on a URL with no checkpoint, fails in one line."""
    _, url = static_server
    no_key = run_cli("audit", "--tiles", url)
    assert no_key.returncode == 1
    assert no_key.stderr.strip().startswith("error: --tiles needs --log-key")
    key = Signer.generate("test.example/log").verifier().to_string()
    empty = run_cli("audit", "--tiles", url, "--log-key", key)
    assert empty.returncode == 1
    assert empty.stderr.strip().splitlines() == [
        f"error: {url}: no checkpoint there (is it a tiled log's URL prefix?)"
    ]


def _tree_source(n: int, signer: Signer, data: list[bytes] | None = None) -> dict[str, bytes]:
    """Every resource of a tiled log of ``n`` entries (``data``, default small made-up ones),
    computed from an in-memory tree."""
    data = [b"entry %d" % i for i in range(n)] if data is None else data
    tree = MerkleTree(data)
    files = {
        "checkpoint": sign_checkpoint(Checkpoint(signer.name, n, tree.root()), signer).encode()
    }
    for t in tiles(n):
        first = t.index * 256
        files[t.path] = b"".join(tree.node(Node(8 * t.level, first + i)) for i in range(t.width))
    for b in bundles(n):
        files[b.path] = encode_bundle(data[b.start : b.start + b.width])
    return files


def _fetch(files: dict[str, bytes]) -> Callable[[str], bytes]:
    def fetch(path: str) -> bytes:
        if path not in files:
            raise NotFoundError(path)
        return files[path]

    return fetch


@pytest.mark.parametrize("bad", ["tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/000"])
def test_write_tiles_refuses_a_tampered_source(tmp_path: Path, bad: str) -> None:
    """A tile or bundle that disagrees with the others or with the checkpoint stops the copy
    before the checkpoint is written."""
    signer = Signer.generate("test.example/log")
    files = _tree_source(300, signer)
    body = bytearray(files[bad])
    body[-1] ^= 1
    files[bad] = bytes(body)
    with pytest.raises(VerificationError):
        write_tiles(_fetch(files), signer.verifier(), tmp_path / "site")
    assert not (tmp_path / "site" / "checkpoint").exists()


def test_write_tiles_is_incremental(tmp_path: Path) -> None:
    """A second copy after the log grew keeps the full tiles it wrote and adds the rest."""
    signer = Signer.generate("test.example/log")
    site = tmp_path / "site"
    small = _tree_source(300, signer)
    first = write_tiles(_fetch(small), signer.verifier(), site)
    assert first["written"] == 5  # tile/0/000, 0/001.p/44, 1/000.p/1, entries/000, entries/001.p/44
    big = _tree_source(600, signer)
    second = write_tiles(_fetch(big), signer.verifier(), site)
    # Kept: tile/0/000 and its bundle. Written: 0/001, 0/002.p/88, 1/000.p/2 and two bundles.
    assert (second["kept"], second["written"]) == (2, 5)
    assert (site / "checkpoint").read_bytes() == big["checkpoint"]
    for path, body in big.items():
        assert (site / path).read_bytes() == body, path


def test_write_tiles_copies_the_uint32_extension(tmp_path: Path) -> None:
    """A bundle the source serves only with uint32 lengths (an entry too long for uint16) is
    copied to the extension's path, where a tile client finds it."""
    signer = Signer.generate("test.example/log")
    files = _tree_source(300, signer)
    entries = decode_bundle(files.pop("tile/entries/000"))
    files["tile/pausewatch-entries32/000"] = encode_bundle(entries, wide=True)
    site = tmp_path / "site"
    write_tiles(_fetch(files), signer.verifier(), site)
    assert not (site / "tile/entries/000").exists()
    assert (site / "tile/pausewatch-entries32/000").is_file()
    client = TileClient(lambda p: _read(site, p), signer.verifier())
    client.latest()
    assert [d for _, d in client.entries(300)][:256] == entries


def _read(site: Path, path: str) -> bytes:
    try:
        return (site / path).read_bytes()
    except FileNotFoundError as exc:
        raise NotFoundError(path) from exc


def _serve(root: Path, files: dict[str, bytes]) -> None:
    for path, body in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(body)


def _audited(n: int, signer: Signer) -> dict[str, bytes]:
    """A tiled log of ``n`` entries that audit clean: one signed notice, integrated ``n``
    times."""
    statement = sign_statement("notice/v1", {"title": "n"}, KeyPair.generate("secretariat"))
    entry = encode_entry(canonical(statement.to_json()), datetime(2026, 1, 1, tzinfo=UTC))
    return _tree_source(n, signer, [entry] * n)


def test_audit_tiles_checks_every_hash_tile(static_server: tuple[Path, str]) -> None:
    """`audit --tiles` checks the full hash tiles too, not only the right edge: a zeroed full
    level-0 tile is a problem naming it (every level: test_tile_checker_* in tests/ledger)."""
    root, url = static_server
    signer = Signer.generate("test.example/log")
    files = _audited(600, signer)
    _serve(root, files)
    assert _audit_tiles(url, signer.verifier(), [], 0, [], None).problems == []
    (root / "tile/0/001").write_bytes(bytes(8192))
    report = _audit_tiles(url, signer.verifier(), [], 0, [], None)
    assert any("tile/0/001" in p for p in report.problems), report.problems


def test_audit_tiles_reports_a_fork(static_server: tuple[Path, str], tmp_path: Path) -> None:
    """A pinned checkpoint of the latest's size with another root is reported as a fork."""
    root, url = static_server
    signer = Signer.generate("test.example/log")
    _serve(root, _audited(300, signer))
    other = MerkleTree([b"other %d" % i for i in range(300)])
    forked = sign_checkpoint(Checkpoint(signer.name, 300, other.root()), signer)
    report = _audit_tiles(url, signer.verifier(), [], 0, [forked], None)
    assert any("fork" in p for p in report.problems), report.problems


@pytest.mark.parametrize("body", [None, b"\x00\x05ab"])
def test_audit_tiles_reports_a_bad_bundle(
    static_server: tuple[Path, str], body: bytes | None
) -> None:
    """A bundle that is missing or malformed is a problem in the report naming it."""
    root, url = static_server
    signer = Signer.generate("test.example/log")
    _serve(root, _audited(600, signer))
    bundle = root / "tile/entries/001"
    if body is None:
        bundle.unlink()
    else:
        bundle.write_bytes(body)
    report = _audit_tiles(url, signer.verifier(), [], 0, [], None)
    assert any("tile/entries/001" in p for p in report.problems), report.problems


def test_an_altered_bundle_is_named_before_the_entries_it_spoils(
    static_server: tuple[Path, str],
) -> None:
    """A tile server that swaps a full bundle for 256 entries of junk spoils every one of them
    for the audit, more problems than a report shows: the report still leads with the bundle's
    hash tile, which names the server's data as the cause, not the log's signed entries. (The
    report showed "entry 0: not JSON" to "entry 99" and nothing else.)"""
    root, url = static_server
    signer = Signer.generate("test.example/log")
    _serve(root, _audited(700, signer))
    (root / "tile/entries/000").write_bytes(encode_bundle([b"junk"] * 256))
    report = _audit_tiles(url, signer.verifier(), [], 0, [], None)
    assert report.problems[0].startswith("hash tile tile/0/000:"), report.problems[:3]
    assert report.problems[-1] == "... more problems not shown"
    assert any("not JSON" in p for p in report.problems)


def _files_under(site: Path) -> list[str]:
    """Every file in ``site``, staging included."""
    return sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())


def _forged(n: int, signer: Signer) -> dict[str, bytes]:
    """The honest source of ``n`` entries, except that entry 5 is forged in a bundle and a
    level-0 tile that agree with each other (not with the signed checkpoint)."""
    data = [b"entry %d" % i for i in range(n)]
    honest = _tree_source(n, signer, data)
    fake = _tree_source(n, signer, [*data[:5], b"FORGED", *data[6:]])
    return {
        **honest,
        "tile/entries/000": fake["tile/entries/000"],
        "tile/0/000": fake["tile/0/000"],
    }


@pytest.mark.parametrize(
    "bad", ["tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/000", "tile/0/000", "forged"]
)
def test_a_refused_copy_publishes_nothing(tmp_path: Path, bad: str) -> None:
    """A source that disagrees with its signed checkpoint leaves no tile, bundle or staging
    file in the directory; the honest source copied afterwards gives the honest site."""
    signer = Signer.generate("test.example/log")
    honest = _tree_source(300, signer)
    if bad == "forged":
        files = _forged(300, signer)
    else:
        body = bytearray(honest[bad])
        body[-1] ^= 1
        files = {**honest, bad: bytes(body)}
    site = tmp_path / "site"
    with pytest.raises(VerificationError):
        write_tiles(_fetch(files), signer.verifier(), site)
    assert _files_under(site) == [] if site.exists() else True
    write_tiles(_fetch(honest), signer.verifier(), site)
    assert _files_under(site) == sorted(honest)
    for path, body in honest.items():
        assert (site / path).read_bytes() == body, path


@pytest.mark.parametrize("poison", ["zeroed tile", "forged pair", "missing tile"])
def test_a_poisoned_mirror_is_repaired(tmp_path: Path, poison: str) -> None:
    """Full tiles and bundles kept from an earlier copy are checked again: a zeroed or
    forged one is replaced, a missing one fetched again, from an honest source."""
    signer = Signer.generate("test.example/log")
    site = tmp_path / "site"
    write_tiles(_fetch(_tree_source(600, signer)), signer.verifier(), site)
    if poison == "zeroed tile":
        (site / "tile/0/001").write_bytes(bytes(8192))
    elif poison == "forged pair":
        forged = _forged(600, signer)
        for path in ("tile/entries/000", "tile/0/000"):
            (site / path).write_bytes(forged[path])
    else:
        (site / "tile/0/000").unlink()
    big = _tree_source(700, signer)
    write_tiles(_fetch(big), signer.verifier(), site)
    for path, body in big.items():
        assert (site / path).read_bytes() == body, path


def test_the_mirror_never_rolls_back(tmp_path: Path) -> None:
    """A source whose signed checkpoint is older than the mirror's is refused, and so is one
    that forks from it (same size, another root) or does not extend it; the mirror keeps its
    checkpoint."""
    signer = Signer.generate("test.example/log")
    site = tmp_path / "site"
    data = [b"entry %d" % i for i in range(600)]
    write_tiles(_fetch(_tree_source(600, signer, data)), signer.verifier(), site)
    kept = (site / "checkpoint").read_bytes()
    other = [b"other %d" % i for i in range(700)]
    for name, files in [
        ("older", _tree_source(300, signer, data[:300])),
        ("fork", _tree_source(600, signer, other[:600])),
        ("not an extension", _tree_source(700, signer, other)),
    ]:
        with pytest.raises(VerificationError, match="mirror"):
            write_tiles(_fetch(files), signer.verifier(), site)
        assert (site / "checkpoint").read_bytes() == kept, name
    same = write_tiles(_fetch(_tree_source(600, signer, data)), signer.verifier(), site)
    assert same["written"] == 0


def test_log_tiles_errors_are_one_line(tmp_path: Path, static_server: tuple[Path, str]) -> None:
    """`log tiles` into a path that is a file fails in one line (exit 1), as does a source
    older than the mirror."""
    root, url = static_server
    signer = Signer.generate("test.example/log")
    data = [b"entry %d" % i for i in range(600)]
    _serve(root, _tree_source(300, signer, data[:300]))
    key = signer.verifier().to_string()
    afile = tmp_path / "afile"
    afile.write_text("x")
    done = run_cli("log", "tiles", str(afile), "--url", url, "--log-key", key)
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error:"), done.stderr
    site = tmp_path / "site"
    write_tiles(_fetch(_tree_source(600, signer, data)), signer.verifier(), site)
    older = run_cli("log", "tiles", str(site), "--url", url, "--log-key", key)
    assert older.returncode == 1
    assert len(older.stderr.strip().splitlines()) == 1, older.stderr


# -- from the store: `log tiles DIR --data-dir PATH` ----------------------------------------------


def _same_files(left: Path, right: Path) -> None:
    """``left`` and ``right`` hold the same files, byte for byte."""
    assert _files_under(left) == _files_under(right)
    for path in _files_under(left):
        assert (left / path).read_bytes() == (right / path).read_bytes(), path


def _one_error_line(done: Any) -> str:
    """The one line a refused command printed (exit 1, no traceback)."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    return str(lines[0])


@pytest.mark.slow
def test_tiles_from_the_store_are_the_tiles_from_the_service(
    tmp_path: Path, start_log: Any, static_server: tuple[Path, str]
) -> None:
    """`log tiles --data-dir` beside the running service writes byte for byte the files
    `--url` writes (one full tile and a partial one), verified with the key in the data
    directory; `audit --tiles` passes on them; the service goes on appending, and a later copy
    from the stopped service's store reads without writing to it."""
    data_dir = tmp_path / "data"
    log_key, key, _ = filled(data_dir, 300)
    served = start_log(data_dir)
    root, url = static_server

    from_url = tmp_path / "from-url"
    done = run_cli("log", "tiles", str(from_url), "--url", served.url, "--log-key", log_key)
    assert done.returncode == 0, done.stderr
    local = run_cli("log", "tiles", str(root), "--data-dir", str(data_dir), "--json")
    assert local.returncode == 0, local.stderr
    assert local.stderr == ""  # the key came from the data directory: no warning
    assert json.loads(local.stdout)["size"] == 300
    assert (root / "tile/0/000").is_file()
    assert (root / "tile/0/001.p/44").is_file()
    _same_files(from_url, root)
    audited = run_cli("audit", "--tiles", url, "--log-key", log_key)
    assert audited.returncode == 0, audited.stderr
    assert "entries:      300" in audited.stdout

    # The service was not disturbed: it appends, and the next copy from the store has it.
    r = httpx.post(
        served.url + "/v1/statements",
        json=sign_statement("notice/v1", {"title": "after"}, key).to_json(),
    )
    assert r.status_code == 201, r.text
    again = run_cli("log", "tiles", str(root), "--data-dir", str(data_dir), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["size"] == 301
    assert json.loads(again.stdout)["kept"] >= 2  # the full tile and its bundle

    # Stopped: the store is read as it was left, and nothing in the data directory changes.
    served.stop()
    before = {p: (data_dir / p).read_bytes() for p in _files_under(data_dir)}
    database = data_dir / "pausewatch.db"
    stopped = run_cli(
        "log", "tiles", str(tmp_path / "stopped"), "--database-url", f"sqlite:///{database}"
    )
    assert stopped.returncode == 0, stopped.stderr
    assert "trusting the log key recorded in the database" in stopped.stderr
    # The same tiles as the running service's store gave (the mirror also keeps size 300's).
    for path in _files_under(tmp_path / "stopped"):
        assert (tmp_path / "stopped" / path).read_bytes() == (root / path).read_bytes(), path
    assert {p: (data_dir / p).read_bytes() for p in _files_under(data_dir)} == before


def test_log_tiles_from_the_store_refusals_are_one_line(tmp_path: Path) -> None:
    """`--url` with `--data-dir`, a data directory that does not exist, one without a
    database, a database that holds no log and a SQLite URL to no file are each refused in one
    line (exit 1), and nothing is created."""
    site = tmp_path / "site"
    missing = tmp_path / "missing"
    empty = tmp_path / "empty"
    empty.mkdir()
    nolog = tmp_path / "nolog"
    nolog.mkdir()
    (nolog / "pausewatch.db").write_bytes(b"")
    url = "http://127.0.0.1:1"
    cases = [
        (("--url", url, "--data-dir", str(empty)), "give --url or --data-dir"),
        (("--data-dir", str(missing)), "no such data directory"),
        (("--data-dir", str(empty)), "no log there"),
        (("--data-dir", str(nolog)), "holds no log"),
        (("--database-url", f"sqlite:///{missing}/x.db"), "no database"),
    ]
    for args, expected in cases:
        line = _one_error_line(run_cli("log", "tiles", str(site), *args))
        assert expected in line, (args, line)
    assert not missing.exists()
    assert not site.exists()
    assert sorted(p.name for p in empty.iterdir()) == []


def test_log_tiles_help_names_both_sources() -> None:
    """`log tiles --help` says how to copy from a service and from the store."""
    done = run_cli("log", "tiles", "--help", env={"COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    for option in ("--url", "--data-dir", "--database-url"):
        assert option in done.stdout
    assert "straight from its" in done.stdout
