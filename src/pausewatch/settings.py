"""Settings, from ``PAUSEWATCH_*`` environment variables or CLI options.

No ``.env`` file is read: one lying in whatever directory a command runs from silently changed
the log's origin and data directory (ADR 0014). Put settings in the environment (a systemd
``EnvironmentFile``, ``set -a; . ./file; set +a``) where they can be seen.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pausewatch.store import sqlite_url


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/pausewatch`` (``~/.local/share/pausewatch`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pausewatch"


class Settings(BaseSettings):
    """Service settings. Every field can be set as ``PAUSEWATCH_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="PAUSEWATCH_", env_file=None, extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    """Directory holding the SQLite database and the keys (``keys/``)."""
    database_url: str | None = None
    """SQLAlchemy URL; default: the SQLite file ``<data_dir>/pausewatch.db``. PostgreSQL:
    ``postgresql+psycopg://user@host/db``."""
    host: str = "127.0.0.1"
    """Address the service listens on."""
    port: int = Field(default=8080, ge=0, le=65535)
    """Port the service listens on."""
    log_origin: str = "pausewatch.local/log"
    """The log's origin line (C2SP tlog-checkpoint); also the name of the log's key."""
    batch_size: int = Field(default=10_000, ge=1, le=100_000)
    """Most entries the sequencer integrates in one transaction."""
    batch_latency_ms: float = Field(default=10.0, ge=0, le=10_000)
    """Longest an accepted entry waits for its batch to fill before it is integrated."""
    max_queue: int = Field(default=100_000, ge=1)
    """Submissions waiting for the sequencer beyond which the API answers 503."""
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    """Largest request body the API accepts (413 beyond)."""
    request_head_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    """Seconds a request's head may take to arrive, from the connection's start or the previous
    response; a slower one is answered 408 and its connection closed."""
    request_body_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """Seconds a request's body may take to arrive after its head (a 64 MiB telemetry batch at
    120 s needs about 4.5 Mbit/s); a slower one is answered 408 and its connection closed."""
    keep_alive_timeout_s: int = Field(default=5, ge=1, le=3600)
    """Seconds an idle kept-alive connection stays open after a response."""
    clerk_interval_s: float = Field(default=5.0, ge=0)
    """How often the secretariat's clerk files due decisions and triggered proposals (0: only
    when asked, ``LogService.run_clerk``)."""
    telemetry_every_signature: bool = False
    """Check every telemetry record's own signature, instead of one a chip per batch with the
    rest vouched for by the chip's hash chain (docs/adr/0007-chip-signed-telemetry.md)."""
    ingest_workers: int | None = Field(default=None, ge=0, le=64)
    """Worker processes verifying telemetry uploads (docs/adr/0048-ingest-workers.md); 0:
    verify in the serving process; default: one core short of the machine's, at most 8."""
    ingest_nice: int = Field(default=10, ge=0, le=19)
    """How much lower the ingest workers' scheduling priority is than the serving process's
    (added to their nice value): verifying uploads is batch work, answering reads is not, and
    when both want a core the reads go first (docs/adr/0054); 0: the same priority."""
    ingest_thread_nice: int = Field(default=10, ge=0, le=19)
    """How much lower the scheduling priority of the serving process's own ingest threads is
    than its event loop's and its reads' (Linux, where a thread's nice value is its own): the
    threads that take an upload through verification, storage and the log, the sequencer
    that appends and folds, and a follower's fold (docs/adr/0060); 0: the same priority."""
    upload_lock_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """On PostgreSQL, seconds a telemetry upload waits for another attempt at the same upload
    (the same operator's same bytes, in another replica, or a session a stuck or paused
    process left open) to let go of it; past that it is answered 503 with ``Retry-After``,
    nothing of it accepted, and can be sent again (docs/deployment.md)."""
    max_batch_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    """Largest telemetry batch upload (``POST /v1/telemetry/batches``) the API accepts."""
    notice_max_bytes: int = Field(default=32 * 1024, ge=1024)
    """Largest ``notice/v1`` the service appends, as canonical statement bytes (413 beyond;
    docs/adr/0015-notice-admission.md)."""
    notice_window_s: float = Field(default=3600.0, gt=0)
    """The trailing window, in seconds of the log's integration times, over which each
    signer's notices are counted."""
    notice_quota_count: int = Field(default=30, ge=1)
    """Most notices one signer may have integrated in the window (429 beyond); the
    secretariat's key is not held to it."""
    notice_quota_bytes: int = Field(default=256 * 1024, ge=1024)
    """Most notice bytes one signer may have integrated in the window (429 beyond)."""
    replica_id: str | None = Field(default=None, min_length=1, max_length=255)
    """Run as one of several replicas of the log on one PostgreSQL database, under this name
    (docs/adr/0047-replicas.md): one replica at a time sequences, elected through the
    database; the others serve reads and hand their submissions to it. Unset: the one process
    that writes its database."""
    replica_poll_s: float = Field(default=0.5, gt=0, le=60)
    """How often a replica tries to become the sequencer, and how often a replica that does not
    sequence reads the log's newest checkpoint from the database."""
    replica_stale_s: float = Field(default=10.0, gt=0, le=3600)
    """How long the sequencing replica's heartbeat may be silent before another replica ends
    its database sessions and takes over (it is paused, hung or cut off; ADR 0047)."""
    witnesses_file: Path | None = None
    """Witness roster, one ``<url> <verifier key>`` a line; default ``<data_dir>/witnesses.txt``
    if it exists."""
    witness_threshold: int | None = Field(default=None, ge=0)
    """How many witnesses must cosign before a checkpoint counts as witnessed (default: all)."""

    @field_validator("log_origin")
    @classmethod
    def _origin_is_key_name(cls, v: str) -> str:
        if not v or "+" in v or any(c.isspace() for c in v):
            raise ValueError("expected a non-empty origin without spaces or '+'")
        return v

    @property
    def keys_dir(self) -> Path:
        """Where key pairs live."""
        return self.data_dir / "keys"

    @property
    def kept_checkpoint_file(self) -> Path:
        """Where the log keeps its newest signed checkpoint, outside the database (ADR 0014)."""
        return self.data_dir / "checkpoint"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in the data directory."""
        return self.database_url or sqlite_url(self.data_dir / "pausewatch.db")

    def resolved_witnesses_file(self) -> Path | None:
        """The witness roster file, if one is configured or present."""
        if self.witnesses_file is not None:
            return self.witnesses_file
        candidate = self.data_dir / "witnesses.txt"
        return candidate if candidate.exists() else None
