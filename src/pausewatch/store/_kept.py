"""The log's newest signed checkpoint, kept in a file beside the database (ADR 0014).

The file lives outside the database on purpose: restoring an older copy of the database, or
deleting its newest rows, does not touch it, so the log can tell at start that its store is
behind a checkpoint it already signed. It is replaced atomically and durably: a temporary file
in the same directory is written and fsynced, renamed over the old one, and the directory is
fsynced, so that after a crash the file holds either the old note or the new one, whole.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pausewatch.errors import ConfigurationError


class CheckpointFile:
    """A signed checkpoint note kept in one file (``<data dir>/checkpoint``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        """Where the checkpoint is kept, for messages."""
        return str(self.path)

    def read(self) -> str | None:
        """The kept note, or None when no checkpoint has been kept yet."""
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read the kept checkpoint {self.path}: {exc}") from exc

    def write(self, note: str) -> None:
        """Replace the kept note with ``note``; durable when this returns."""
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(note.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(directory)

    def discard(self) -> None:
        """Remove the kept note (durably)."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        fsync_dir(self.path.parent)


def fsync_dir(directory: Path) -> None:
    """Make the renames in ``directory`` durable: a rename is on disk only once the
    directory's entry is."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
