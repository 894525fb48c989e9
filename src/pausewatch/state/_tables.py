"""The registry's views as SQL tables: defined with the store (:mod:`pausewatch.store._views`,
which its migrations create), checked here against the views the fold keeps."""

from __future__ import annotations

from pausewatch.registry import VIEWS
from pausewatch.store._views import VIEW_TABLES, metadata, state_meta

if set(VIEW_TABLES) != set(VIEWS):
    raise ImportError(f"every view needs a table: {sorted(set(VIEWS) ^ set(VIEW_TABLES))}")

__all__ = ["VIEW_TABLES", "metadata", "state_meta"]
