"""Recompute what the secretariat's own entries assert: telemetry verdicts, aggregates, filed
findings, and the views (docs/adr/0019).

A ``telemetry.batch/v1`` entry is the secretariat's word on an upload: the root of the records
it accepted, how many, the chain heads and gaps they leave, their aggregates. Given the stored
records behind the batch, :func:`reverify_batch` verifies them again with the service's own
verifier (:func:`pausewatch.telemetry.verify_stream`: the same rules, the same chain rule for
signatures, ADR 0007) against the registry and chain heads of the audit's fold as it stands
before the entry, at the entry's ``verified_at``, and names every figure that differs. Records
stream through one segment at a time, so memory does not grow with the batch.

Rejected records are not stored: the counts and reasons of rejections cannot be recomputed,
only what was accepted.

A ``gov.proposal/v1`` the policy filed carries the finding it rests on
(:class:`~pausewatch.governance._statements.FiledFinding`); :func:`recheck_finding` evaluates
the policy over the fold as it stands before the entry, at the time the finding says it was
evaluated, and names the finding or the figure it cannot find.

:func:`compare_views` compares every view the fold keeps with the rows a store holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from pausewatch.governance._statements import FiledFinding
from pausewatch.registry import VIEWS, Registry
from pausewatch.state import VIEW_TABLES, ChainHeads, RegistrySnapshot, evaluated
from pausewatch.telemetry import verify_stream
from pausewatch.telemetry._statements import TelemetryBatch

BatchRecords = Callable[[int, TelemetryBatch], Iterable[bytes | str] | None]
"""The stored record lines of the batch at log index ``index`` (its statement's body given), in
the order its root commits to; ``None`` when the source holds no records for it (an export
written before records were exported)."""

StoredViews = Callable[[str], Iterable[Mapping[str, Any]]]
"""Every stored row of a view (``pausewatch.state.dump_view``)."""

FIGURE_TOLERANCE = 0.0
"""Relative difference allowed between a filed finding's figure and the recomputed one: none.
The evaluation is deterministic and a figure goes through JSON exactly (RFC 8785 numbers
round-trip a float), so any difference is a different input or a different figure."""

SUM_TOLERANCE = 1e-9
"""Relative difference allowed between a batch's logged aggregate figure and the recomputed one.
The service sums each segment of the upload and then the segments' sums; the audit holds only
the accepted records, so its segments may end elsewhere and its float additions come in another
grouping. With n records the rounding differs by at most about n * 2**-53 relative: under 1e-9
for a billion records. A false figure differs by far more."""

_LISTED = 20
"""Differences named one by one per batch; the rest are counted."""


def reverify_batch(
    index: int, batch: TelemetryBatch, lines: Iterable[bytes | str], fold: Registry
) -> tuple[int, list[str]]:
    """Verify the stored records of the batch at ``index`` again, against ``fold`` as it stands
    before that entry; return the records read and the problems, each naming the entry and the
    figure."""
    read = 0

    def counted() -> Iterator[bytes]:
        nonlocal read
        for line in lines:
            read += 1
            yield line.encode() if isinstance(line, str) else line

    summary = verify_stream(
        counted(),
        operator_id=batch.operator_id,
        now=batch.verified_at,
        registry=RegistrySnapshot(fold),
        chains=ChainHeads(fold.views["tel_chains"]),
    )
    at = f"entry {index} (telemetry.batch/v1)"
    problems = [
        f"{at}: stored record {r.index} fails verification: {r.rule.value}: {r}"
        for r in summary.rejections.first
    ]
    if summary.rejections.total > len(summary.rejections.first):
        problems.append(f"{at}: {summary.rejections.total} stored records fail verification in all")
    if summary.duplicates:
        problems.append(
            f"{at}: {summary.duplicates} stored records repeat records already accepted"
        )
    if summary.accepted != batch.accepted:
        problems.append(
            f"{at}: accepted is {batch.accepted} on the log, the stored records give "
            f"{summary.accepted}"
        )
    if summary.root_hex != batch.records_root:
        problems.append(
            f"{at}: records_root is {batch.records_root} on the log, the stored records give "
            f"{summary.root_hex}"
        )
    differences = list(
        _differences("aggregate", batch.aggregate, summary.aggregate.to_json())
    ) + list(
        _differences("chains", batch.chains, {c: s.to_json() for c, s in summary.chains.items()})
    )
    logged_gaps = sorted((g.chip_id, g.from_seq, g.to_seq) for g in batch.gaps)
    found_gaps = sorted((g.chip_id, g.from_seq, g.to_seq) for g in summary.gaps)
    if logged_gaps != found_gaps:
        differences.append(
            f"gaps are {logged_gaps} on the log, the stored records give {found_gaps}"
        )
    problems += [f"{at}: {d}" for d in differences[:_LISTED]]
    if len(differences) > _LISTED:
        problems.append(f"{at}: {len(differences) - _LISTED} more figures differ")
    return read, problems


def _differences(path: str, logged: Any, found: Any) -> Iterator[str]:
    """Each leaf where two JSON documents differ, named by its path."""
    if isinstance(logged, dict) and isinstance(found, dict):
        for key in sorted(logged.keys() | found.keys()):
            yield from _differences(f"{path}.{key}", logged.get(key), found.get(key))
    elif isinstance(logged, list) and isinstance(found, list) and len(logged) == len(found):
        # Lists too, leaf by leaf: a window's signals differ by one value, not the whole list.
        for i, (a, b) in enumerate(zip(logged, found, strict=True)):
            yield from _differences(f"{path}[{i}]", a, b)
    elif _same(logged, found, SUM_TOLERANCE):
        return
    else:
        yield f"{path} is {_show(logged)} on the log, the stored records give {_show(found)}"


def _same(a: Any, b: Any, tolerance: float = FIGURE_TOLERANCE) -> bool:
    """Equal, numbers within ``tolerance`` (relative)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b or math.isclose(a, b, rel_tol=tolerance, abs_tol=0.0)
    return bool(a == b)


def _show(value: Any) -> str:
    return "absent" if value is None else repr(value)


def recheck_finding(
    index: int, proposal_id: str, filed: FiledFinding, fold: Registry, integrated_at: datetime
) -> list[str]:
    """Evaluate the policy over ``fold`` (as it stands before entry ``index``) at the time the
    filed finding was evaluated, and name what differs from ``filed``."""
    at = f"entry {index} (proposal {proposal_id}): finding {filed.kind} on {filed.subject}"
    if filed.evaluated_at > integrated_at:
        return [
            f"{at}: evaluated_at {filed.evaluated_at.isoformat()} is after the entry's "
            f"integration at {integrated_at.isoformat()}"
        ]
    policy = fold.policy_at(filed.evaluated_at)
    if policy is None:
        return [f"{at}: no policy was in force at {filed.evaluated_at.isoformat()}"]
    _, result = evaluated(fold, filed.evaluated_at, policy)
    found = [
        f for f in result.findings if f.kind.value == filed.kind and f.subject == filed.subject
    ]
    if not found:
        return [f"{at}: the policy, evaluated over the entries before it, finds no such finding"]
    best: list[str] | None = None
    for finding in found:
        figures = dict(finding.figures)
        wrong = [
            f"{at}: figure {name} is {_show(filed.figures.get(name))} on the log, the entries "
            f"give {_show(figures.get(name))}"
            for name in sorted(filed.figures.keys() | figures.keys())
            if not _same(filed.figures.get(name), figures.get(name))
        ]
        if not wrong:
            return []
        if best is None or len(wrong) < len(best):
            best = wrong
    assert best is not None
    return best


def compare_views(fold: Registry, stored: StoredViews) -> tuple[int, list[str]]:
    """Compare every view the fold keeps with the stored rows; return the rows compared and a
    problem for each that differs, naming the table, the key and the column."""
    compared = 0
    problems: list[str] = []
    for view, columns in VIEWS.items():
        table = VIEW_TABLES[view].name
        mine = {tuple(row[c] for c in columns): row for row in fold.views[view].values()}
        theirs: dict[tuple[Any, ...], Mapping[str, Any]] = {}
        for row in stored(view):
            theirs[tuple(row[c] for c in columns)] = row
        for key in sorted(mine.keys() | theirs.keys(), key=repr):
            a, b = theirs.get(key), mine.get(key)
            where = f"view table {table} key {key!r}"
            if a is None:
                problems.append(f"{where}: missing from the store, the entries give it")
            elif b is None:
                problems.append(f"{where}: stored, but the entries give no such row")
            else:
                compared += 1
                for column in sorted(a.keys() | b.keys()):
                    if not _same(a.get(column), b.get(column)):
                        problems.append(
                            f"{where} column {column}: stored {_show(a.get(column))}, the "
                            f"entries give {_show(b.get(column))}"
                        )
    return compared, problems
