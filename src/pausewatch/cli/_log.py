"""`pausewatch log`: checkpoints, entries and proofs, verified locally."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import Progress

from pausewatch.cli._common import (
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
from pausewatch.errors import NotFoundError, VerificationError
from pausewatch.ledger import (
    WIDE_ENTRIES,
    SignedCheckpoint,
    Tile,
    TileClient,
    Verifier,
    bundles,
    decode_bundle,
    full_tile_hash,
    leaf_hash,
    tile_hashes,
    tiles,
    verify_consistency,
    verify_inclusion,
)
from pausewatch.ledger._tiles import Fetch
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
    lines: the batch's index, the position and the exact signed line), then every checkpoint.
    Streamed: a page of entries or records at a time.
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
    sizes = client.checkpoint_sizes()
    notes: Iterator[str] = (client.checkpoint_note(s) for s in sizes)
    if display is not None:
        task = display.add_task("exporting checkpoints", total=len(sizes))
        notes = counted(notes, display, task)
    for note in notes:
        fh.write(json.dumps({"type": "checkpoint", "note": note}) + "\n")
    return count


@app.command("tiles")
def tiles_command(
    directory: Annotated[
        Path, typer.Argument(help="Directory to write the tiles to (created if absent).")
    ],
    url: UrlOpt = "http://127.0.0.1:8080",
    log_key: LogKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the log's checkpoint, hash tiles and entry bundles to DIRECTORY in the C2SP
    tlog-tiles layout, for any static web server or object store (python -m http.server
    serves it). Incremental: full tiles already there are kept; each file is written whole
    (a temporary file renamed), the checkpoint last. Every tile is checked against the
    entries and the tiles below it, and the tree against the signed checkpoint, first."""
    with PausewatchClient(url) as client, TileFetcher(url) as fetch:
        verifier = log_verifier(client, log_key)
        stats = write_tiles(fetch, verifier, directory)
    if as_json:
        print_json(stats)
    else:
        out.print(
            f"{directory}: checkpoint of size {stats['size']}; wrote {stats['written']} tiles "
            f"and bundles ({stats['bytes']} bytes), kept {stats['kept']}"
        )


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a reader never sees half a tile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_tiles(fetch: Fetch, verifier: Verifier, directory: Path) -> dict[str, int]:
    """Copy the tiled log ``fetch`` serves into ``directory``: the checkpoint (verified with
    ``verifier``), every hash tile and entry bundle of its size. A full tile already in the
    directory is kept; a new level-0 tile must hold its bundle's leaf hashes, a new tile above
    the hashes of the full tiles below it, and the tiles together the checkpoint's root, or
    nothing more is written (:class:`VerificationError`). The checkpoint is written last."""
    note = fetch("checkpoint")
    size = SignedCheckpoint.open(note, verifier).checkpoint.size
    stats = {"size": size, "written": 0, "kept": 0, "bytes": 0}

    def put(tile: Tile, data: bytes) -> None:
        _write_atomically(directory / tile.path, data)
        stats["written"] += 1
        stats["bytes"] += len(data)

    for bundle in bundles(size):
        tile = Tile(0, bundle.index, bundle.width)
        wide = Tile(WIDE_ENTRIES, bundle.index, bundle.width)
        if (
            bundle.full
            and (directory / tile.path).exists()
            and ((directory / bundle.path).exists() or (directory / wide.path).exists())
        ):
            stats["kept"] += 2
            continue
        try:
            raw, where = fetch(bundle.path), bundle
        except NotFoundError:
            raw, where = fetch(wide.path), wide
        entries = decode_bundle(raw, bundle.width, wide=where.level == WIDE_ENTRIES)
        hashes = fetch(tile.path)
        if tile_hashes(hashes, tile.width) != [leaf_hash(e) for e in entries]:
            raise VerificationError(f"{tile.path} does not hold the leaf hashes of {where.path}")
        put(where, raw)
        put(tile, hashes)
    for tile in tiles(size):
        if tile.level == 0:
            continue
        path = directory / tile.path
        if tile.full and path.exists():
            stats["kept"] += 1
            continue
        data = fetch(tile.path)
        for i, h in enumerate(tile_hashes(data, tile.width)):
            below = directory / Tile(tile.level - 1, (tile.index << 8) + i).path
            if full_tile_hash(tile_hashes(below.read_bytes(), 256)) != h:
                raise VerificationError(
                    f"{tile.path}: hash {i} is not the hash of the full tile {below.name} below"
                )
        put(tile, data)
    local = TileClient(lambda p: (directory / p).read_bytes(), verifier)
    local.open_checkpoint(note)
    local.verify_root(size)
    _write_atomically(directory / "checkpoint", note)
    return stats
