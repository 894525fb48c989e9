"""The one exception hierarchy of pausewatch.

Every error a caller can meet derives from :class:`Error`. Messages name the expected and the
actual value, so that one line is enough to see what went wrong.
"""

from __future__ import annotations


class Error(Exception):
    """Root of every pausewatch error."""


class ConfigurationError(Error):
    """A setting, a key file or a data directory is unusable."""


class EncodingError(Error):
    """A value cannot be encoded canonically (RFC 8785) or decoded from its wire form."""


class VerificationError(Error):
    """A signature, a proof, a note or a checkpoint does not verify."""


class ProofError(VerificationError):
    """A Merkle inclusion or consistency proof is malformed or does not match its root."""


class NoteError(VerificationError):
    """A C2SP signed note, key string or checkpoint is malformed or not signed by a trusted key."""


class StatementError(Error):
    """A statement is malformed: bad envelope, unknown kind, unknown or invalid field."""


class UnknownKindError(StatementError):
    """The statement's kind is not registered."""


class UnknownFieldError(StatementError):
    """The statement carries fields its kind does not define."""


class SignatureError(StatementError, VerificationError):
    """A statement's signature does not verify against its signer."""


class AuthorizationError(StatementError):
    """The statement's signer does not hold the role its kind requires."""


class LogError(Error):
    """The log refused an operation (out-of-range index or size, unknown leaf, closed log)."""


class StorageFullError(LogError):
    """The database or its disk has no room for a write; nothing of it was written, and what
    was acknowledged before is intact. Retry once space is freed (answered 503)."""

    retry_after_s = 30
    """Seconds a client should wait before it retries."""


class IngestWorkerError(Error):
    """A worker process verifying a telemetry upload stopped; nothing of the upload was
    accepted, and it can be sent again (answered 503)."""

    retry_after_s = 1
    """Seconds a client should wait before it retries."""


class UploadBusyError(Error):
    """Another process holds the telemetry upload being sent (an attempt at the same operator's
    same bytes, in another replica or a session left behind) for longer than the service waits
    (``upload_lock_timeout_s``); nothing of this attempt was accepted, and the upload can be sent
    again (answered 503)."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        """Seconds a client should wait before it retries."""


class NotFoundError(LogError):
    """The requested entry, leaf or checkpoint does not exist in the log."""


class ConsistencyError(LogError, VerificationError):
    """The log's state is inconsistent with a checkpoint it published earlier."""


class PolicyError(Error):
    """A policy document or a facts file is invalid; ``problems`` lists every problem found.

    Each problem is one line ``<file>: <path>: <reason>``, so that all of them can be fixed at
    once instead of one per attempt.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems: list[str] = list(problems or [])
        lines = [message, *(f"  {p}" for p in self.problems)]
        super().__init__("\n".join(lines))


class ComputeError(Error):
    """A compute estimate cannot be made from the figures given (missing, negative, unknown)."""


class UnknownChipError(ComputeError):
    """The chip is not in the hardware catalogue; the message names the known ones."""


class WorkLostError(Error):
    """Distributed work was lost before every task finished (a Ray worker, node or the whole
    cluster went away). The results already yielded stand; ``missing`` lists the keys of the
    tasks still to do, so that a rerun with those done skipped redoes only these."""

    def __init__(self, message: str, missing: list[object] | None = None) -> None:
        self.missing: list[object] = list(missing or [])
        super().__init__(message)


class DetectionError(Error):
    """A detection figure cannot be computed from the values given (a sampling plan, a draw, a
    run length): out of range, inconsistent, or a seed that the prover could have known."""
