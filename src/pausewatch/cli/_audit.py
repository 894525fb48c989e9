"""`pausewatch audit`: recompute the log from its entries and check every checkpoint.

Four sources: the service's API (``--url``), an export (``--file``), the log's C2SP tlog-tiles
(``--tiles``, served by the service or by any static web server), or the log's own database
(``--data-dir`` / ``--database-url``), where every stored subtree hash is recomputed too. An
anchor (``--checkpoint`` held before, or ``--witness`` keys) ties the log to something outside
it; without one the report says unanchored (ADR 0014).
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from sqlalchemy import Engine, func, select

from pausewatch.audit import AuditReport, audit_log, witness_threshold
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
from pausewatch.cli._log import LogKeyOpt, WitnessOpt
from pausewatch.client import ClientError, PausewatchClient, TileFetcher
from pausewatch.errors import Error, NotFoundError
from pausewatch.ledger import (
    Checkpoint,
    Note,
    SignedCheckpoint,
    TileChecker,
    TileClient,
    Verifier,
    bundles,
    leaf_hash,
    verify_consistency,
)
from pausewatch.service import iter_stored_records
from pausewatch.state import dump_view, state_meta
from pausewatch.statements import parse_json
from pausewatch.telemetry._statements import TelemetryBatch


def _export_lines(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    """Each line of an export as JSON, with its byte offset (read a line at a time)."""
    with path.open("rb") as fh:
        n = 0
        while True:
            at = fh.tell()
            line = fh.readline()
            if not line:
                return
            n += 1
            if line.strip():
                try:
                    yield at, parse_json(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    fail(f"{path}:{n}: not JSON")


class _Export:
    """An export read in two passes, neither of which holds the entries, the records or the
    checkpoints: the first checks the layout and counts the entries; the second streams the
    entries, each batch's records and the checkpoints from where they are.

    ``pausewatch log export`` writes each batch's records right after its entry and the
    checkpoints last, in order of size: then nothing is held per batch or per checkpoint.
    An export laid out otherwise still audits: the offset of each batch's records that do not
    follow their entry is noted, and checkpoints not in order of size are held and sorted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: dict[str, object] | None = None
        self.total = 0
        self.record_offsets: dict[int, int] = {}
        """Byte offset of the first record line of each batch whose records do not follow
        its entry (none in an export ``pausewatch log export`` wrote)."""
        self.checkpoints_at: int | None = None
        """Byte offset of the first checkpoint line."""
        self.unsorted_notes: list[str] | None = None
        """Every checkpoint note, sorted by size, when the export lists them otherwise."""
        self._after_entry: tuple[int, int] | None = None
        """The index of the entry the second pass last gave, and the offset of the line
        after it."""
        following: int | None = None
        last_size = -1
        for at, x in _export_lines(path):
            kind = x.get("type")
            if kind == "log" and self.header is None:
                self.header = x
            elif kind == "entry":
                self.total += 1
                index = x.get("index")
                following = index if type(index) is int else None
                continue
            elif kind == "checkpoint":
                if self.checkpoints_at is None:
                    self.checkpoints_at = at
                size = _note_size(str(x["note"]))
                if size < last_size and self.unsorted_notes is None:
                    self.unsorted_notes = []
                last_size = max(last_size, size)
            elif kind == "record":
                index, line = x.get("index"), x.get("line")
                if type(index) is not int or not isinstance(line, str):
                    fail(f"{path}: the record line at byte {at}: expected an index and a line")
                if index != following:
                    self.record_offsets.setdefault(index, at)
                continue
            following = None
        if self.unsorted_notes is not None:
            self.unsorted_notes = sorted(self._notes_from_file(), key=_note_size)

    @property
    def has_records(self) -> bool:
        """Whether the export carries the batches' records (exports before 0.x did not)."""
        return bool(self.header is not None and self.header.get("records") is True)

    def entries(self) -> Iterator[tuple[int, bytes]]:
        """Every entry, in the export's order."""
        with self.path.open("rb") as fh:
            for x in _parsed(fh):
                if x.get("type") == "entry":
                    index = int(str(x["index"]))
                    self._after_entry = (index, fh.tell())
                    yield index, base64.b64decode(str(x["data"]))

    def notes(self) -> Iterator[str]:
        """Every checkpoint note, in order of size."""
        if self.unsorted_notes is not None:
            return iter(self.unsorted_notes)
        return self._notes_from_file()

    def _notes_from_file(self) -> Iterator[str]:
        if self.checkpoints_at is None:
            return
        with self.path.open("rb") as fh:
            fh.seek(self.checkpoints_at)
            for x in _parsed(fh):
                if x.get("type") == "checkpoint":
                    yield str(x["note"])

    def records(self, index: int, _batch: object) -> Iterator[str] | None:
        """The record lines exported after the batch at ``index``; none if the export holds no
        records at all."""
        if not self.has_records:
            return None
        at = self.record_offsets.get(index)
        if at is None and self._after_entry is not None and self._after_entry[0] == index:
            at = self._after_entry[1]
        return self._records(index, at)

    def _records(self, index: int, at: int | None) -> Iterator[str]:
        if at is None:
            return
        with self.path.open("rb") as fh:
            fh.seek(at)
            for x in _parsed(fh):
                if x.get("type") != "record" or x.get("index") != index:
                    return
                yield str(x["line"])


def _note_size(note: str) -> int:
    """The tree size a checkpoint note names, read as the log's parsers read it (not yet
    verified); -1 if it names none (the audit reports why when it opens the note)."""
    try:
        return Checkpoint.from_text(Note.from_text(note).text).size
    except Error:
        return -1


def _parsed(fh: BinaryIO) -> Iterator[dict[str, Any]]:
    """Each non-blank line of an export from ``fh``'s position, as JSON (the first pass,
    :func:`_export_lines`, found every line readable); ``fh.tell()`` is after it."""
    for line in fh:
        if line.strip():
            yield parse_json(line)


def audit(
    url: UrlOpt = "http://127.0.0.1:8080",
    file: Annotated[
        Path | None, typer.Option("--file", help="Audit an export (pausewatch log export) instead.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Audit the log's own database in this data directory (its pausewatch.db, or "
            "--database-url), every stored subtree hash included, and check the checkpoint the "
            "log kept there. Stop the service first or expect a moving target.",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Audit the log's database at this SQLAlchemy URL, every stored subtree hash "
            "included.",
        ),
    ] = None,
    tiles: Annotated[
        str | None,
        typer.Option(
            "--tiles",
            help="Audit the log from its C2SP tlog-tiles at this URL prefix (a pausewatch "
            "service, or a static copy written by pausewatch log tiles): its checkpoint, entry "
            "bundles and hash tiles. Needs --log-key.",
        ),
    ] = None,
    log_key: LogKeyOpt = None,
    witness: WitnessOpt = None,
    threshold: Annotated[
        int | None,
        typer.Option(
            help="Cosignatures by the --witness keys a checkpoint needs to count as witnessed "
            "(default: all of them)."
        ),
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint note you held before (pinned): the log must contain it. "
            "Repeatable. It, or --witness keys, anchors the audit.",
        ),
    ] = None,
    secretariat: Annotated[
        str | None,
        typer.Option(
            "--secretariat",
            help="The secretariat's key (ed25519:...), to fold the entries: recompute every "
            "governance outcome, every telemetry batch from its records, every filed finding; "
            "default: the key the server (or the database) reports, with a warning.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Download the whole log (or read an export), recompute every leaf and root, check every
    statement signature, every checkpoint signature and cosignature, and their consistency;
    fold the entries and recompute every proposal's outcome, and compare them with the
    server's; verify every telemetry batch again from its stored records and compare its root,
    counts, chain heads, gaps and aggregates; evaluate the policy again for every finding a
    policy-filed proposal carries; with --data-dir, compare every view table with the fold.

    Exits 1 if anything is wrong. Trusts nothing the server says without a proof. Without a
    pinned checkpoint or witness keys the log is reported unanchored: a log rolled back to an
    older copy of its store would pass the same checks.
    """
    witnesses = [read_verifier(w) for w in witness or []]
    threshold = witness_threshold(witnesses, threshold)
    held = [p.read_text() for p in checkpoint or []]
    if sum(x is not None for x in (file, data_dir or database_url, tiles)) > 1:
        fail("give one of --file, --tiles, or --data-dir / --database-url (or none, for --url)")
    if tiles is not None:
        if not log_key:
            fail("--tiles needs --log-key: a tiled log serves no key of its own to trust")
        report = _audit_tiles(
            tiles, read_verifier(log_key), witnesses, threshold, held, secretariat
        )
    elif data_dir is not None or database_url is not None:
        report = _audit_store(
            data_dir, database_url, log_key, witnesses, threshold, held, secretariat
        )
    elif file is not None:
        export = _Export(file)
        if log_key:
            verifier = read_verifier(log_key)
        elif export.header is not None:
            err.print("warning: trusting the log key written in the export; pin it with --log-key")
            verifier = Verifier.from_string(str(export.header["verifier_key"]))
        else:
            fail("the export has no log header; give --log-key")
        if secretariat is None:
            err.print(
                "warning: without --secretariat the entries are not folded: no outcome, "
                "telemetry batch or filed finding is recomputed"
            )
        elif not export.has_records:
            err.print(
                "warning: the export holds no telemetry records (written before they were "
                "exported); its batches are not verified again"
            )
        with progress_display() as display:
            task = display.add_task("auditing entries", total=export.total)
            report, _ = audit_log(
                counted(export.entries(), display, task),
                export.notes(),
                verifier,
                witnesses,
                threshold,
                secretariat,
                pinned=held,
                records=export.records,
            )
    else:
        with PausewatchClient(url) as client, progress_display() as display:
            from pausewatch.cli._log import log_verifier

            verifier = log_verifier(client, log_key)
            latest = client.checkpoint()
            # The notes are read as the tree reaches them, the last ones after the last entry:
            # a live log has signed more by then, beyond the entries read. Those up to the
            # latest checkpoint are the ones the entries cover (they are read after it).
            sizes: Iterator[int] = client.iter_checkpoint_sizes()
            if (bound := _note_size(latest)) >= 0:
                sizes = itertools.takewhile(lambda s: s <= bound, sizes)
            notes = (client.checkpoint_note(s) for s in sizes)
            entries = ((int(e["index"]), base64.b64decode(e["data"])) for e in client.entries())
            info = client.info()
            roles = info.get("roles", {})
            key = secretariat or roles.get("secretariat")
            if key and not secretariat:
                err.print(
                    "warning: trusting the secretariat key the server reports; pin it with "
                    "--secretariat"
                )
            task = display.add_task("auditing entries", total=info.get("size"))

            def served_records(index: int, _batch: object) -> Iterator[str] | None:
                records = client.batch_records(index)
                try:
                    first = next(records, None)
                except ClientError as exc:
                    if exc.status != 404:
                        raise
                    # A server that serves no records (an older release, or one that withholds
                    # them): the batch is counted as taken on the secretariat's word.
                    return None
                served = records if first is None else itertools.chain([first], records)
                return (str(record["line"]) for record in served)

            report, _ = audit_log(
                counted(entries, display, task),
                notes,
                verifier,
                witnesses,
                threshold,
                key,
                pinned=held,
                unordered=[latest],
                records=served_records,
            )
            _check_server_proofs(client, report, [*held, latest], verifier)
            _check_server_outcomes(client, report)
    _print(report, as_json)
    if not report.ok:
        raise typer.Exit(1)


def _audit_store(
    data_dir: Path | None,
    database_url: str | None,
    log_key: str | None,
    witnesses: list[Verifier],
    threshold: int,
    held: list[str],
    secretariat: str | None,
) -> AuditReport:
    """Audit the log's database directly: entries, checkpoints, every stored subtree hash, and
    the checkpoint kept in the data directory."""
    from pausewatch.ledger import LogStore
    from pausewatch.store import CheckpointFile, make_engine, sqlite_url

    if database_url is None:
        assert data_dir is not None
        if not (data_dir / "pausewatch.db").exists():
            fail(f"no database {data_dir / 'pausewatch.db'}; give --database-url")
        database_url = sqlite_url(data_dir / "pausewatch.db")
    engine = make_engine(database_url)
    try:
        store = LogStore(engine)
        identity = store.identity()
        if log_key:
            verifier = read_verifier(log_key)
        elif identity is not None:
            err.print(
                "warning: trusting the log key recorded in the database; pin it with --log-key"
            )
            verifier = Verifier.from_string(identity[1])
        else:
            fail("the database holds no log; give --log-key to audit it anyway")
        if secretariat is None:
            secretariat = _folded_with(engine)
        kept = CheckpointFile(data_dir / "checkpoint").read() if data_dir is not None else None
        views_behind = _views_behind(engine)

        def records(_index: int, batch: TelemetryBatch) -> Iterator[bytes]:
            upload = batch.submission_body()  # its operator's bytes: the batch's records
            return iter_stored_records(engine, upload.operator_id, upload.batch_digest)

        report, _ = audit_log(
            store.entries(),
            store.checkpoint_notes(),
            verifier,
            witnesses,
            threshold,
            secretariat,
            pinned=held,
            unordered=[] if kept is None else [kept],
            stored_nodes=store.nodes_completed,
            records=records,
            stored_views=None if views_behind else partial(dump_view, engine),
        )
        if views_behind:
            report.problem(views_behind)
    finally:
        engine.dispose()
    return report


def _audit_tiles(
    prefix: str,
    verifier: Verifier,
    witnesses: list[Verifier],
    threshold: int,
    held: list[str],
    secretariat: str | None,
) -> AuditReport:
    """Audit a log from its tiles: its checkpoint, every entry from the bundles (the tree
    recomputed from them must give the checkpoint's root), every hash tile against the one
    rebuilt from the entries (a bundle and a tile at a time), the root from the hash tiles,
    and consistency from each pinned checkpoint, proved from the hash tiles. A bundle or tile
    that is missing or malformed is a problem in the report."""
    with TileFetcher(prefix) as fetch:
        try:
            latest = TileClient(fetch, verifier, witnesses).latest()
        except NotFoundError:
            fail(f"{prefix}: no checkpoint there (is it a tiled log's URL prefix?)")
    if secretariat is None:
        err.print(
            "warning: without --secretariat the entries are not folded: no outcome, "
            "telemetry batch or filed finding is recomputed"
        )
    size = latest.checkpoint.size
    with TileFetcher(prefix) as fetch, progress_display() as display:
        client = TileClient(fetch, verifier, witnesses)
        client.open_checkpoint(latest.note)
        checker = TileChecker(fetch, size)
        unread: list[str] = []

        def entries() -> Iterator[tuple[int, bytes]]:
            for bundle in bundles(size):
                try:
                    data = client.bundle(bundle)
                except Error as exc:
                    unread.append(f"entry bundle {bundle.path}: {exc}")
                    return
                checker.add([leaf_hash(d) for d in data])
                for i, d in enumerate(data):
                    yield bundle.start + i, d
            checker.finish()

        task = display.add_task("auditing entries", total=size)
        report, _ = audit_log(
            counted(entries(), display, task),
            [latest.note],
            verifier,
            witnesses,
            threshold,
            secretariat,
            pinned=held,
        )
    # What the tiles say comes first in the report: a bundle the server altered makes each of
    # its entries a problem of the audit too, and those must not hide the cause.
    served = [*unread, *checker.problems]
    with TileFetcher(prefix) as fetch:
        client = TileClient(fetch, verifier, witnesses)
        client.open_checkpoint(latest.note)
        try:
            client.verify_root(size)
        except Error as exc:
            served.append(f"hash tiles: {exc}")
        for note in held:
            try:
                old = client.open_checkpoint(note).checkpoint
                if old.size <= size:
                    client.verify_consistency(old.size, size)
                    report.server_proofs_checked += 1
            except Error as exc:
                served.append(f"consistency from the tiles, pinned checkpoint: {exc}")
    report.lead(served)
    return report


def _folded_with(engine: Engine) -> str | None:
    """The secretariat key the stored views were folded with, trusted with a warning."""
    with engine.connect() as conn:
        kept = conn.execute(
            select(state_meta.c.value).where(state_meta.c.key == "secretariat")
        ).scalar()
    keys = json.loads(kept) if kept else []
    if len(keys) != 1:
        return None
    err.print(
        "warning: trusting the secretariat key recorded in the database; pin it with --secretariat"
    )
    return str(keys[0])


def _views_behind(engine: Engine) -> str | None:
    """Why the stored views cannot be compared with the entries' fold: they are folded up to
    another entry than the last (none: they can)."""
    from pausewatch.store import log_entries

    with engine.connect() as conn:
        size = conn.execute(select(func.count()).select_from(log_entries)).scalar() or 0
        applied = conn.execute(
            select(state_meta.c.value).where(state_meta.c.key == "applied")
        ).scalar()
    if applied is not None and int(applied) == size:
        return None
    return (
        f"the stored views are folded up to {applied or 0} of the {size} entries: not compared "
        "(start the service, which folds the rest, or run pausewatch state rebuild)"
    )


def _check_server_proofs(
    client: PausewatchClient, report: AuditReport, notes: list[str], verifier: Verifier
) -> None:
    """Ask the server for consistency proofs between held checkpoints and the latest one, and
    verify them: a server that recomputes honestly can always answer."""
    try:
        cps = sorted(
            {SignedCheckpoint.open(n, verifier).checkpoint for n in notes}, key=lambda c: c.size
        )
    except Error:
        return  # already reported by audit_log
    if not cps:
        return
    newest = cps[-1]
    for cp in cps[:-1]:
        proof = client.consistency_proof(cp.size, newest.size)
        try:
            verify_consistency(
                cp.size,
                newest.size,
                [bytes.fromhex(h) for h in proof["proof"]],
                cp.root_hash,
                newest.root_hash,
            )
            report.server_proofs_checked += 1
        except Error as exc:
            report.problem(f"server consistency proof {cp.size} -> {newest.size}: {exc}")


def _check_server_outcomes(client: PausewatchClient, report: AuditReport) -> None:
    """Compare the server's proposal outcomes with the ones recomputed from the entries."""
    if not report.decisions:
        return
    served = {p["proposal_id"]: p for p in client.proposals()}
    for mine in report.decisions:
        theirs = served.get(str(mine["proposal_id"]))
        if theirs is None or (theirs["status"], theirs["passed"]) != (
            mine["status"],
            mine["passed"],
        ):
            report.problem(
                f"proposal {mine['proposal_id']}: the server says "
                f"{None if theirs is None else (theirs['status'], theirs['passed'])}, the "
                f"entries give {(mine['status'], mine['passed'])}"
            )


def _print(report: AuditReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_json())
        return
    out.print(f"log:          {report.origin}")
    out.print(f"entries:      {report.entries}")
    out.print(f"root:         {report.root_hash}")
    out.print(
        f"kinds:        {', '.join(f'{k} {v}' for k, v in sorted(report.kinds.items())) or '-'}"
    )
    witnessed = (
        f"{report.witnessed_checkpoints} witnessed ({report.witness_threshold} cosignatures needed)"
        if report.witness_threshold
        else "none counted as witnessed (no --witness keys given)"
    )
    out.print(f"checkpoints:  {report.checkpoints_verified} verified, {witnessed}")
    if report.stored_hashes_checked:
        out.print(f"stored hashes: {report.stored_hashes_checked} subtree hashes recomputed")
    if report.anchored:
        beyond = report.entries - report.anchored_size
        out.print(
            f"anchor:       {report.anchor} of size {report.anchored_size}"
            + (f"; the last {beyond} entries are beyond it" if beyond else "")
        )
    else:
        out.print(
            "anchor:       unanchored: no pinned checkpoint (--checkpoint) and no checkpoint "
            "cosigned by witness keys you gave (--witness)"
        )
    if report.decisions:
        decided = [d for d in report.decisions if d["status"] == "decided"]
        out.print(
            f"decisions:    {len(decided)} recomputed from the entries "
            f"({sum(1 for d in decided if d['passed'])} passed), "
            f"{len(report.decisions) - len(decided)} open; "
            f"{report.rejected_entries} entries rejected by the fold"
        )
    if report.batches_reverified or report.batches_not_reverified:
        out.print(
            f"telemetry:    {report.batches_reverified} batches verified again from "
            f"{report.records_reverified} stored records; {report.batches_not_reverified} "
            "taken on the secretariat's word (no records, or no --secretariat key)"
        )
    if report.findings_rechecked:
        out.print(
            f"findings:     {report.findings_rechecked} filed findings found again by "
            "evaluating the policy"
        )
    if report.transcript_commitments_checked or report.transcript_verdicts_checked:
        out.print(
            f"transcripts:  {report.transcript_commitments_checked} commitments checked; "
            f"{report.transcript_verdicts_checked} verdicts whose beacon and draw were recomputed"
        )
    if report.view_rows_compared:
        out.print(f"views:        {report.view_rows_compared} stored rows compared with the fold")
    if report.server_proofs_checked:
        out.print(f"server proofs: {report.server_proofs_checked} consistency proofs verified")
    if report.ok and report.batches_not_reverified:
        out.print(
            f"[bold yellow]note[/]: {report.batches_not_reverified} telemetry batches were not "
            "verified again (taken on the secretariat's word), not passed",
            markup=True,
        )
    if report.ok and report.anchored:
        out.print(
            "[bold green]OK[/]: every entry, signature and checkpoint checks out", markup=True
        )
    elif report.ok:
        out.print(
            "[bold yellow]UNANCHORED[/]: every entry, signature and checkpoint checks out, but "
            "nothing ties this log to one you saw before (a log rolled back to an older copy "
            "would pass as well); pin a checkpoint with --checkpoint or give witness keys with "
            "--witness",
            markup=True,
        )
    else:
        for p in report.problems:
            err.print(f"[red]problem:[/] {p}", markup=True)
        err.print(f"[bold red]FAILED[/]: {len(report.problems)} problem(s)", markup=True)
