"""``pausewatch transcript commit`` and ``pausewatch transcript audit``: a transcript's
commitments onto the log, and an inspector's audit of a committed run written back to it
(issue 17 §3; docs/transcripts.md, docs/adr/0040)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pausewatch.cli._common import (
    DEFAULT_URL,
    DataDirOpt,
    JsonOpt,
    KeysDirOpt,
    UrlOpt,
    err,
    fail,
    keys_dir,
    out,
    print_json,
)
from pausewatch.errors import ConfigurationError, Error, NoteError
from pausewatch.statements import KeyPair, load_key

DirArg = Annotated[
    Path,
    typer.Argument(metavar="DIR", help="A transcript directory (manifest.json, checkpoints/)."),
]


def signing_key(value: str, keys_dir_opt: Path | None, data_dir: Path | None) -> KeyPair:
    """The key ``--key`` names: a private key file (``NAME.key``), or a key's name in the
    keys directory."""
    path = Path(value)
    if path.is_file():
        try:
            return KeyPair.from_signer_string(path.read_text(encoding="utf-8").strip())
        except (OSError, UnicodeDecodeError, NoteError) as exc:
            raise ConfigurationError(f"key file {value}: not a private key ({exc})") from exc
    return load_key(keys_dir(keys_dir_opt, data_dir), value)


def commit(
    directory: DirArg,
    key: Annotated[
        str,
        typer.Option(
            "--key",
            envvar="PAUSEWATCH_OPERATOR_KEY",
            help="The operator's private key: a .key file or a key's name.",
        ),
    ],
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="The declared run (default: the manifest's run_id)."),
    ] = None,
    url: UrlOpt = DEFAULT_URL,
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put a transcript's commitments on the log, signed by the run's operator.

    transcript.commit/v1 (recipe, hyper-parameters, dataset root, seed commitment, every,
    steps), then its checkpoints in transcript.checkpoint/v1 batches of at most 1,000, the last
    final. Committing again re-sends the same statements (answered with their entries)."""
    from pausewatch.client import PausewatchClient, RemoteTranscriptLog
    from pausewatch.service import commit_transcript

    try:
        signer = signing_key(key, keys_dir_opt, data_dir)
        with PausewatchClient(url) as client:
            receipt = commit_transcript(
                directory=directory, key=signer, log=RemoteTranscriptLog(client), run_id=run_id
            )
    except Error as exc:
        fail(str(exc))
    if as_json:
        print_json(receipt.to_json())
        return
    out.print(
        f"run {escape(receipt.run_id)}: transcript committed at log entry "
        f"{receipt.commit_index}; {receipt.checkpoints} checkpoint(s) in "
        f"{len(receipt.checkpoint_indices)} statement(s), the final at entry "
        f"{receipt.checkpoint_indices[-1] if receipt.checkpoint_indices else '-'}"
    )


def audit(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run to audit.")],
    budget: Annotated[
        float,
        typer.Option("--budget", help="Replay budget: a fraction of the run's training steps."),
    ],
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="The run's transcript directory, as the lab gave it (default: the directory "
            "named after the run in the working directory, ./RUN).",
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            envvar="PAUSEWATCH_INSPECTOR_KEY",
            help="The inspector's private key: a .key file or a key's name.",
        ),
    ] = None,
    audit_id: Annotated[
        str | None,
        typer.Option(
            "--audit-id",
            help="The audit's id (default: derived from the run, the inspector, the beacon and "
            "the budget, so that running it again rescans the same audit).",
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Replay on this Ray cluster (e.g. ray://host:10001)."),
    ] = None,
    no_ray: Annotated[
        bool, typer.Option("--no-ray", help="Replay in this process, even if Ray is installed.")
    ] = False,
    url: UrlOpt = DEFAULT_URL,
    keys_dir_opt: KeysDirOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Audit a committed run against its transcript; the verdict goes on the log.

    Draw the segments to replay from the root of the log's tree just past the run's final
    commitment, replay them (on Ray, or in process), put each replay and then the verdict on
    the log signed by the inspector, and print the verdict (pass or fail, each segment's
    distance and tolerance, the inclusion test, the compute spent). Segments this audit
    already replayed on the log are read back, not replayed again. The transcript is read from
    ./RUN unless --dir says where; the key may come from PAUSEWATCH_INSPECTOR_KEY."""
    from pausewatch.client import PausewatchClient, RemoteTranscriptLog
    from pausewatch.service import audit_transcript

    if not 0 < budget <= 1:
        fail(f"--budget: expected a fraction in (0, 1], got {budget:g}")
    if no_ray and ray_address is not None:
        fail("--no-ray and --ray-address exclude each other")
    if key is None:
        fail(
            "no inspector key: give --key (a .key file or a key's name) or set "
            "PAUSEWATCH_INSPECTOR_KEY"
        )
    if directory is None:
        here = Path.cwd().resolve()
        directory = (here / run).resolve()
        if not directory.is_relative_to(here):
            fail(f"run {run!r} names no directory under the working directory: give --dir")
    if not directory.is_dir():
        fail(f"--dir {directory}: not a directory")

    def told(done: int, total: int) -> None:
        if not as_json and err.is_terminal:
            err.print(f"replayed {done} of {total} segment(s)")

    try:
        signer = signing_key(key, keys_dir_opt, data_dir)
        with PausewatchClient(url, timeout=120.0) as client:
            outcome = audit_transcript(
                run_id=run,
                directory=directory,
                budget=budget,
                key=signer,
                log=RemoteTranscriptLog(client),
                audit_id=audit_id,
                ray_address=ray_address,
                use_ray=False if no_ray else (True if ray_address is not None else None),
                on_replay=told,
            )
    except (Error, ImportError, ValueError) as exc:
        fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    result = outcome.to_json()
    if as_json:
        print_json(result)
        return
    segments = result.get("segments", [])
    passed = sum(1 for s in segments if s.get("passed"))
    out.print(
        f"audit {escape(outcome.audit_id)} of run {escape(run)}: "
        f"[bold]{escape(str(result['verdict']).upper())}[/]; {passed} of {len(segments)} drawn "
        f"segment(s) within tolerance (of {result.get('segments_total')}), "
        f"{float(result.get('compute_fraction', 0.0)):.1%} of the run's compute replayed; "
        f"beacon: the tree of {outcome.beacon_size} entries; verdict at log entry "
        f"{outcome.verdict_index}"
    )
    for reason in result.get("reasons", []):
        out.print(f"  reason: {escape(str(reason))}")
