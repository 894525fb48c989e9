"""HTTP API (FastAPI): statements in, log entries, checkpoints and proofs out."""

from pausewatch.api.app import create_app

__all__ = ["create_app"]
