"""Reports of ``pausewatch detect evaluate DIR --json`` for the tests of ``--evaluation``: one
written the real way (four scenarios from seed 3,000,000 played through the real ingest, kept in
``data/``) and one from :func:`pausewatch.trial.summarise` over constructed outcomes, whose
kinds are found, partly found, found only below the threshold, and never run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pausewatch.trial import Outcome, summarise
from pausewatch.trial._runner import Alarm

REAL_REPORT = Path(__file__).parent / "data" / "detect-evaluate-s3000000-n4.json"
"""``pausewatch simulate scenarios --seed 3000000 --count 4`` then ``pausewatch detect
evaluate DIR --json`` over them (about three minutes)."""

SEED = 6_100_000
START = datetime(2027, 3, 1, tzinfo=UTC)


def _outcome(kind: str | None, size: float, detected_after_days: float | None) -> Outcome:
    completes = START + timedelta(days=10)
    crosses = START + timedelta(days=10 * 1e24 / size) if size >= 1e24 else None
    o = Outcome(
        "x", SEED, kind, "s" if kind else None, size if kind else None,
        START if kind else None, completes if kind else None, crosses,
    )  # fmt: skip
    if detected_after_days is not None:
        o.detected_at = START + timedelta(days=detected_after_days)
    o.facility_days = 0.0 if kind else 730.0
    return o


def constructed_report() -> dict[str, Any]:
    """undeclared_training: both prohibited runs found; hidden_facility: one of three;
    going_dark: only a run below the threshold, found (judged on every size); one false alarm
    over two honest facility-years; every other kind never run (no figure)."""
    honest = _outcome(None, 0, None)
    honest.alarms = [Alarm(START, "exceeds_declaration", "run:r")]
    outcomes = [
        _outcome("undeclared_training", 2e24, 1),
        _outcome("undeclared_training", 5e24, 2),
        _outcome("hidden_facility", 2e24, 4),
        _outcome("hidden_facility", 3e24, None),
        _outcome("hidden_facility", 4e24, 12),
        _outcome("going_dark", 1e22, 3),
        honest,
    ]
    return summarise(outcomes, seeds=[SEED])


def write_report(path: Path, report: dict[str, Any]) -> Path:
    """``report`` as ``detect evaluate --json`` prints it."""
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
