"""`pausewatch log`: checkpoints, entries and proofs, verified locally."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import Progress
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from pausewatch.cli._common import (
    DEFAULT_URL,
    JsonOpt,
    UrlOpt,
    counted,
    err,
    fail,
    out,
    print_json,
    progress_display,
    read_verifier,
)
from pausewatch.client import PausewatchClient, TileFetcher
from pausewatch.errors import (
    ConfigurationError,
    ConsistencyError,
    EncodingError,
    Error,
    NotFoundError,
    VerificationError,
)
from pausewatch.ledger import (
    WIDE_ENTRIES,
    Checkpoint,
    LogStore,
    SignedCheckpoint,
    Tile,
    TileClient,
    TileRebuilder,
    Verifier,
    bundles,
    decode_bundle,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from pausewatch.ledger._tiles import Fetch
from pausewatch.statements import load_public
from pausewatch.store import fsync_dir, make_engine, sqlite_url, table_names
from pausewatch.telemetry._statements import BATCH_KIND

app = typer.Typer(help="Read the log and check what it says.", no_args_is_help=True)

LogKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--log-key",
        envvar="PAUSEWATCH_LOG_KEY",
        help="The log's verifier key (string or .pub file) to trust. Without it the server's "
        "own key is used, with a warning.",
    ),
]
WitnessOpt = Annotated[
    list[str] | None,
    typer.Option("--witness", help="A witness verifier key (string or file); repeatable."),
]


def log_verifier(client: PausewatchClient, log_key: str | None) -> Verifier:
    """The pinned log key, or the server's with a warning."""
    if log_key:
        return read_verifier(log_key)
    err.print("warning: trusting the log key the server reports; pin it with --log-key")
    return Verifier.from_string(client.info()["verifier_key"])


@app.command("checkpoint")
def checkpoint(
    url: UrlOpt = "http://127.0.0.1:8080",
    log_key: LogKeyOpt = None,
    witness: WitnessOpt = None,
    witnessed: Annotated[bool, typer.Option("--witnessed", help="Newest witnessed one.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch the latest checkpoint and verify its signature and cosignatures."""
    with PausewatchClient(url) as client:
        note = client.checkpoint(witnessed=witnessed)
        signed = SignedCheckpoint.open(
            note, log_verifier(client, log_key), [read_verifier(w) for w in witness or []]
        )
    cp = signed.checkpoint
    info = {
        "origin": cp.origin,
        "size": cp.size,
        "root_hash": cp.root_hash.hex(),
        "cosigners": [c.name for c in signed.cosignatures],
        "note": note,
    }
    if as_json:
        print_json(info)
    else:
        out.print(note, end="")


@app.command("entry")
def entry(
    index: Annotated[int, typer.Argument(help="Entry index.")],
    url: UrlOpt = "http://127.0.0.1:8080",
    as_json: JsonOpt = False,
) -> None:
    """Print one entry (its leaf hash is recomputed from its bytes)."""
    with PausewatchClient(url) as client:
        e = client.entry(index)
    data = base64.b64decode(e["data"])
    if leaf_hash(data).hex() != e["leaf_hash"]:
        fail(f"entry {index}: server's leaf hash {e['leaf_hash']} does not match its bytes")
    if as_json:
        print_json(e)
        return
    out.print(f"index:         {e['index']}")
    out.print(f"leaf hash:     {e['leaf_hash']}")
    out.print(f"integrated at: {e['integrated_at']}")
    out.print(json.dumps(e["entry"]["statement"], indent=2, sort_keys=True))


@app.command("prove")
def prove(
    index: Annotated[int | None, typer.Argument(help="Entry index (inclusion proof).")] = None,
    leaf: Annotated[str | None, typer.Option("--leaf-hash", help="Leaf hash, hex.")] = None,
    size: Annotated[int | None, typer.Option("--size", help="Tree size (default: latest).")] = None,
    old: Annotated[
        int | None, typer.Option("--old", help="Consistency proof from this size.")
    ] = None,
    new: Annotated[
        int | None, typer.Option("--new", help="... to this size (default: latest).")
    ] = None,
    url: UrlOpt = "http://127.0.0.1:8080",
    as_json: JsonOpt = False,
) -> None:
    """Fetch an inclusion proof (INDEX or --leaf-hash) or a consistency proof (--old)."""
    with PausewatchClient(url) as client:
        if old is not None:
            proof = client.consistency_proof(old, new)
        elif index is not None or leaf is not None:
            proof = client.inclusion_proof(index=index, leaf_hash=leaf, size=size)
        else:
            fail("give an entry INDEX, --leaf-hash, or --old for a consistency proof")
    if as_json:
        print_json(proof)
        return
    for k, v in proof.items():
        if k != "proof":
            out.print(f"{k}: {v}")
    out.print("proof:")
    for h in proof["proof"]:
        out.print(f"  {h}")


@app.command("verify")
def verify(
    index: Annotated[int, typer.Argument(help="Entry index to check.")],
    url: UrlOpt = "http://127.0.0.1:8080",
    log_key: LogKeyOpt = None,
    witness: WitnessOpt = None,
    threshold: Annotated[int, typer.Option(help="Witness cosignatures required.")] = 0,
    since: Annotated[
        Path | None,
        typer.Option("--since", help="A checkpoint note seen earlier: prove the log grew from it."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify that entry INDEX is in the log under a checkpoint signed by the log key.

    The entry's bytes are hashed here, the inclusion proof is checked against the signed
    checkpoint's root, and with --since the new checkpoint is proved consistent with an older one.
    """
    witnesses = [read_verifier(w) for w in witness or []]
    with PausewatchClient(url) as client:
        verifier = log_verifier(client, log_key)
        signed = SignedCheckpoint.open(client.checkpoint(), verifier, witnesses)
        if threshold and not signed.witnessed(threshold):
            fail(
                f"checkpoint {signed.checkpoint.size} has fewer than {threshold} valid cosignatures"
            )
        cp = signed.checkpoint
        e = client.entry(index)
        data = base64.b64decode(e["data"])
        proof = client.inclusion_proof(index=index, size=cp.size)
        verify_inclusion(
            data, index, cp.size, [bytes.fromhex(h) for h in proof["proof"]], cp.root_hash
        )
        result = {
            "index": index,
            "size": cp.size,
            "root_hash": cp.root_hash.hex(),
            "included": True,
        }
        if since is not None:
            older = SignedCheckpoint.open(since.read_text(), verifier, witnesses).checkpoint
            cproof = client.consistency_proof(older.size, cp.size)
            verify_consistency(
                older.size,
                cp.size,
                [bytes.fromhex(h) for h in cproof["proof"]],
                older.root_hash,
                cp.root_hash,
            )
            result["consistent_since"] = older.size
    if as_json:
        print_json(result)
    else:
        out.print(f"OK: entry {index} is in the log of size {cp.size} (root {cp.root_hash.hex()})")
        if since is not None:
            out.print(
                f"OK: the log of size {cp.size} extends the checkpoint of size "
                f"{result['consistent_since']}"
            )


@app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="File to write (JSON lines).")],
    url: UrlOpt = "http://127.0.0.1:8080",
) -> None:
    """Export the whole log (entries, the stored records behind each telemetry batch, and every
    checkpoint) for offline audit."""
    with PausewatchClient(url) as client, path.open("w") as fh, progress_display() as display:
        count = write_export(client, fh, display)
    out.print(f"exported {count} entries to {path}")


def write_export(client: PausewatchClient, fh: TextIO, display: Progress | None = None) -> int:
    """Write the log ``client`` serves to ``fh`` as JSON lines; return the entries written.

    A ``log`` header (``records: true``: batches' records follow them), then each entry, each
    ``telemetry.batch/v1`` entry followed by its stored records in position order (``record``
    lines: the batch's index, the position and the exact signed line), then every checkpoint
    those entries cover. Streamed: a page of entries or records at a time.
    """
    count = 0
    info = client.info()
    header = {
        "type": "log",
        "origin": info["origin"],
        "verifier_key": info["verifier_key"],
        "records": True,
    }
    fh.write(json.dumps(header) + "\n")
    entries: Iterator[dict[str, Any]] = client.entries()
    if display is not None:
        task = display.add_task("exporting entries", total=info.get("size"))
        entries = counted(entries, display, task)
    for e in entries:
        fh.write(json.dumps({"type": "entry", "index": e["index"], "data": e["data"]}) + "\n")
        count += 1
        if e["entry"]["statement"].get("kind") == BATCH_KIND:
            for r in client.batch_records(e["index"]):
                record = {
                    "type": "record",
                    "index": e["index"],
                    "position": r["position"],
                    "line": r["line"],
                }
                fh.write(json.dumps(record) + "\n")
    # A page of sizes at a time, after the entries: a live log signs more meanwhile, beyond
    # the entries written (an audit of the export could not check them).
    sizes = itertools.takewhile(lambda s: s <= count, client.iter_checkpoint_sizes())
    notes: Iterator[str] = (client.checkpoint_note(s) for s in sizes)
    if display is not None:
        task = display.add_task("exporting checkpoints", total=None)
        notes = counted(notes, display, task)
    for note in notes:
        fh.write(json.dumps({"type": "checkpoint", "note": note}) + "\n")
    return count


@app.command("tiles")
def tiles_command(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(help="Directory to write the tiles to (created if absent).")
    ],
    url: UrlOpt = DEFAULT_URL,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Copy from the log's own store in this data directory (its pausewatch.db, or "
            "--database-url) instead of a service, running or not: read only, no lock taken. "
            "The checkpoint is verified with the key in its keys/ (or --log-key).",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Copy from the log's database at this SQLAlchemy URL instead of a service.",
        ),
    ] = None,
    log_key: LogKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the log's checkpoint, hash tiles and entry bundles to DIRECTORY in the C2SP
    tlog-tiles layout, for any static web server or object store (python -m http.server
    serves it). From a running service (--url), or, for the log's operator, straight from its
    store (--data-dir / --database-url), with or without the service running. Nothing is
    published until the whole copy verifies: every tile is rebuilt from the entries and
    compared with the source's, the tree with the signed checkpoint, which must extend the one
    DIRECTORY already holds; then the files are moved into place, the checkpoint last.
    Incremental: files already there are checked again and kept (one that does not verify is
    replaced).

    From the store, the tiles are read by the same code the service serves them with (so the
    files are byte for byte those --url writes at the same checkpoint) and verified the same
    way, with the log key the data directory holds. The store is only read, as audit
    --data-dir reads it: no migration, neither the start-up nor the sequencer lock, no write,
    so a service running on it goes on undisturbed (SQLite in WAL mode lets a reader beside
    the writer); the copy is of the newest checkpoint the store held when it was opened."""
    if directory.exists() and not directory.is_dir():
        fail(f"{directory}: not a directory")
    if data_dir is not None or database_url is not None:
        # By the source's name: Typer carries its own copy of Click's enum. A URL from
        # PAUSEWATCH_URL is not a conflict: the option given on the line wins.
        source = ctx.get_parameter_source("url")
        if source is not None and source.name == "COMMANDLINE":
            fail("give --url or --data-dir / --database-url, not both")
        stats = _tiles_from_store(directory, data_dir, database_url, log_key)
    else:
        with PausewatchClient(url) as client, TileFetcher(url) as fetch:
            verifier = log_verifier(client, log_key)
            stats = _write_or_fail(fetch, verifier, directory)
    if as_json:
        print_json(stats)
    else:
        out.print(
            f"{directory}: checkpoint of size {stats['size']}; wrote {stats['written']} tiles "
            f"and bundles ({stats['bytes']} bytes), kept {stats['kept']}"
        )


def _write_or_fail(fetch: Fetch, verifier: Verifier, directory: Path) -> dict[str, int]:
    """:func:`write_tiles`, a file system error as one line."""
    try:
        return write_tiles(fetch, verifier, directory)
    except OSError as exc:
        fail(f"{exc.filename or directory}: {exc.strerror or exc}")


def _tiles_from_store(
    directory: Path, data_dir: Path | None, database_url: str | None, log_key: str | None
) -> dict[str, int]:
    """:func:`write_tiles` from the log's store (:class:`PublishedLog`), opened to read only."""
    if database_url is None:
        assert data_dir is not None
        if not data_dir.is_dir():
            fail(f"{data_dir}: no such data directory")
        database = data_dir / "pausewatch.db"
        if not database.is_file():
            fail(f"{data_dir}: no log there (no {database.name}; or give --database-url)")
        database_url = sqlite_url(database)
    where = _existing_database(database_url)
    engine = make_engine(database_url)
    try:
        if "log_checkpoints" not in table_names(engine):
            fail(f"{where}: holds no log")
        store = LogStore(engine)
        identity = store.identity()
        published = store.published()
        if identity is None or published is None:
            fail(f"{where}: the log has signed no checkpoint yet")
        verifier = _store_verifier(log_key, data_dir, identity)
        return _write_or_fail(published.read, verifier, directory)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        fail(f"{where}: {reason}")
    finally:
        engine.dispose()


def _existing_database(database_url: str) -> str:
    """A SQLite database's file, or another database's URL without its password (for
    messages); a URL that does not parse is refused by ``make_engine``."""
    try:
        parsed = make_url(database_url)
    except ArgumentError:
        return database_url
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        if parsed.database != ":memory:" and not Path(parsed.database).is_file():
            # Connecting would create it (and the folders above it).
            fail(f"no database {parsed.database}")
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def _store_verifier(
    log_key: str | None, data_dir: Path | None, identity: tuple[str, str]
) -> Verifier:
    """The key the copy is verified with: ``--log-key``, else the log's public key in the data
    directory's ``keys/``, else (a database without its data directory) the key the database
    records, with a warning."""
    if log_key:
        return read_verifier(log_key)
    origin, recorded = identity
    if data_dir is not None and (data_dir / "keys").is_dir():
        try:
            return load_public(data_dir / "keys", origin)
        except ConfigurationError:
            pass  # no public key file of that name: fall back, with the warning below
    err.print("warning: trusting the log key recorded in the database; pin it with --log-key")
    return Verifier.from_string(recorded)


STAGING = ".pausewatch-staging"
"""The folder inside the tiles directory where a copy is staged until it verifies."""


def _write_file(path: Path, data: bytes) -> None:
    """Write ``path`` and flush it to disk (before it is renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _mirror_checkpoint(directory: Path, verifier: Verifier) -> tuple[str, Checkpoint] | None:
    """The checkpoint the tiles directory already publishes (none: a new copy)."""
    note = _read(directory / "checkpoint")
    if note is None:
        return None
    try:
        text = note.decode()
        return text, SignedCheckpoint.open(text, verifier).checkpoint
    except (UnicodeDecodeError, Error) as exc:
        raise VerificationError(
            f"{directory / 'checkpoint'}: the mirror's checkpoint does not verify with the log "
            f"key ({exc}); remove it to copy afresh"
        ) from exc


def write_tiles(fetch: Fetch, verifier: Verifier, directory: Path) -> dict[str, int]:
    """Copy the tiled log ``fetch`` serves into ``directory``: the checkpoint (verified with
    ``verifier``), every hash tile and entry bundle of its size.

    Everything is staged in ``directory/.pausewatch-staging`` and published only once the
    whole copy verifies: every hash tile is rebuilt from the entries' leaf hashes
    (:class:`TileRebuilder`) and must equal the source's, the tiles must give the signed
    checkpoint's root, and that checkpoint must extend the one ``directory`` already holds
    (never smaller, the same root at the same size, a consistency proof from the tiles).
    Then the staged files are renamed into place (each folder fsynced) and the checkpoint is
    written last. Files already in ``directory`` are kept when they equal the rebuilt ones;
    when a kept file makes the copy fail, it is copied again wholly from the source, so a
    poisoned mirror is repaired. Partial tiles of older sizes are left in place (the spec
    lets a log keep serving them). Refusals raise :class:`VerificationError`, and nothing is
    published."""
    note = fetch("checkpoint")
    try:
        text = note.decode()
        new = SignedCheckpoint.open(text, verifier).checkpoint
    except UnicodeDecodeError as exc:
        raise VerificationError(f"the source's checkpoint is not UTF-8 ({exc})") from exc
    held = _mirror_checkpoint(directory, verifier)
    if held is not None:
        old = held[1]
        if new.size < old.size:
            raise VerificationError(
                f"the source's checkpoint (size {new.size}) is older than the mirror's "
                f"(size {old.size}): refusing to roll the mirror back"
            )
        if new.size == old.size and new.root_hash != old.root_hash:
            raise ConsistencyError(
                f"fork: the source's checkpoint of size {new.size} has root "
                f"{new.root_hash.hex()}, the mirror's {old.root_hash.hex()}"
            )
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    try:
        try:
            stats = _stage(fetch, verifier, directory, text, held, reuse=True)
        except VerificationError:
            # A file kept from an earlier copy may be what failed: copy all from the source.
            shutil.rmtree(staging, ignore_errors=True)
            stats = _stage(fetch, verifier, directory, text, held, reuse=False)
        _publish(staging, directory, note)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return stats


def _stage(
    fetch: Fetch,
    verifier: Verifier,
    directory: Path,
    note: str,
    held: tuple[str, Checkpoint] | None,
    *,
    reuse: bool,
) -> dict[str, int]:
    """Stage the copy of the checkpoint ``note`` (with ``reuse``, keeping the files
    ``directory`` has that verify) and verify it; return what was written and kept."""
    staging = directory / STAGING
    size = SignedCheckpoint.open(note, verifier).checkpoint.size
    stats = {"size": size, "written": 0, "kept": 0, "bytes": 0}

    def stage(path: str, data: bytes) -> None:
        _write_file(staging / path, data)
        stats["written"] += 1
        stats["bytes"] += len(data)

    def settle(tile: Tile, rebuilt: list[bytes]) -> None:
        body = b"".join(rebuilt)
        if reuse and _read(directory / tile.path) == body:
            stats["kept"] += 1
            return
        if fetch(tile.path) != body:
            raise VerificationError(
                f"{tile.path} from the source is not the tile rebuilt from its entries"
            )
        stage(tile.path, body)

    rebuilder = TileRebuilder(size)
    for bundle in bundles(size):
        wide = Tile(WIDE_ENTRIES, bundle.index, bundle.width)
        entries: list[bytes] | None = None
        for where in (bundle, wide) if reuse else ():
            raw = _read(directory / where.path)
            if raw is not None:
                try:
                    entries = decode_bundle(raw, bundle.width, wide=where is wide)
                    stats["kept"] += 1
                except EncodingError:
                    entries = None
                break
        if entries is None:
            try:
                raw, where = fetch(bundle.path), bundle
            except NotFoundError:
                raw, where = fetch(wide.path), wide
            entries = decode_bundle(raw, bundle.width, wide=where is wide)
            stage(where.path, raw)
        for tile, rebuilt in rebuilder.add([leaf_hash(e) for e in entries]):
            settle(tile, rebuilt)
    for tile, rebuilt in rebuilder.finish():
        settle(tile, rebuilt)

    def read(path: str) -> bytes:
        data = _read(staging / path)
        if data is None:
            data = _read(directory / path)
        if data is None:
            raise NotFoundError(path)
        return data

    local = TileClient(read, verifier)
    local.open_checkpoint(note)
    local.verify_root(size)
    if held is not None and 0 < held[1].size < size:
        local.open_checkpoint(held[0])
        try:
            local.verify_consistency(held[1].size, size)
        except VerificationError as exc:
            raise VerificationError(
                f"the source's checkpoint of size {size} does not extend the mirror's of size "
                f"{held[1].size}: {exc}"
            ) from exc
    return stats


def _publish(staging: Path, directory: Path, note: bytes) -> None:
    """Rename every staged file into place, fsync each folder, then write the checkpoint."""
    folders = set()
    for path in sorted(staging.rglob("*")):
        if path.is_file():
            target = directory / path.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            folders.add(target.parent)
    for folder in sorted(folders):
        fsync_dir(folder)
    _write_file(staging / "checkpoint", note)
    os.replace(staging / "checkpoint", directory / "checkpoint")
    fsync_dir(directory)
