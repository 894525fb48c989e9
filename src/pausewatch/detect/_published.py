"""The detectors' measured performance, published on the log: ``detect.evaluation/v1``
(issue 16, items 6 and 7; docs/adr/0031-detection-page.md).

``pausewatch detect evaluate DIR --json`` measures, on a scenario corpus, the probability of
detecting each kind of defection before the defecting run could complete and the false alarms
per facility-year on the honest scenarios. The secretariat files that report as a signed
statement (``pausewatch detect publish REPORT.json``), so that the figures the dashboard shows
are on the log, with the seed ranges and the corpus digest anyone needs to rerun them:

* the two overall figures, typed and checked (``overall.detection_before_completion``, a
  probability; ``overall.false_alarms_per_facility_year``, a rate);
* one row per defection kind, whose figures are kept as the report has them (a bounded JSON
  object each), so that the table the evaluation prints is the table the dashboard shows;
* the seed ranges fitted and evaluated on (``seeds.fit`` and ``seeds.evaluated``, as
  ``pausewatch detect evaluate`` writes them), and the corpus digest, where the report names
  them;
* every other key of the report as one opaque JSON object of bounded size.

:func:`evaluation_body` turns a report into a body; the fold keeps one row per evaluation
(``detection_evaluations``), and the latest on the log is the one a reader takes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pausewatch.fields import Digest, Fraction, Id, Line, Name
from pausewatch.registry._fold import Handler, RejectedError, _Context
from pausewatch.statements import Body, canonical, statement_kind

KIND = "detect.evaluation/v1"
"""The statement kind."""
REPORT_BYTES = 65_536
"""Most bytes (canonical JSON) the opaque rest of a report may take."""
ROW_BYTES = 4_096
"""Most bytes (canonical JSON) one kind's figures may take."""
MAX_KINDS = 64
"""Most rows of the per-kind table."""
TABLE_KEYS = ("kinds", "per_kind", "by_kind")
"""Where a report may hold its per-kind table (the first present is taken)."""

Rate = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
"""A rate of events per facility-year."""
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _bounded(value: Any, limit: int, what: str) -> None:
    size = len(canonical(value))
    if size > limit:
        raise ValueError(f"{what} takes {size} bytes of canonical JSON, more than {limit}")


class EvaluatedKind(BaseModel):
    """One row of the per-kind table: a defection kind and its figures as the report has them
    (probability of detection before completion, median time to detection, intervals...)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, use_attribute_docstrings=True
    )

    kind: Name
    """The defection kind (``undeclared_training``, ``diversion``...)."""
    figures: dict[str, Any] = Field(default_factory=dict)
    """The row's figures, JSON as the report has them (at most :data:`ROW_BYTES`)."""

    @field_validator("figures")
    @classmethod
    def _figures(cls, value: dict[str, Any]) -> dict[str, Any]:
        _bounded(value, ROW_BYTES, "a kind's figures")
        return value


@statement_kind(KIND)
class DetectionEvaluation(Body):
    """The measured performance of the detectors on a scenario corpus, filed by the
    secretariat from the report of ``pausewatch detect evaluate``."""

    signed_by: ClassVar[str] = "secretariat"

    evaluation_id: Id
    detection_before_completion: Fraction
    """Overall probability that a defection is detected before its run could complete."""
    false_alarms_per_facility_year: Rate
    """Overall false alarms per facility-year on the honest scenarios."""
    kinds: tuple[EvaluatedKind, ...] = Field(default=(), max_length=MAX_KINDS)
    """The per-kind table, in the report's order."""
    fit_seeds: Line | None = None
    """The seeds the detectors were fitted and calibrated on, as the report states them."""
    evaluation_seeds: Line | None = None
    """The seeds of the corpus evaluated on (never among ``fit_seeds``)."""
    corpus_digest: Digest | None = None
    """SHA-256 of the corpus, as the report states it."""
    report: dict[str, Any] = Field(default_factory=dict)
    """Every other key of the report (at most :data:`REPORT_BYTES` of canonical JSON)."""

    @field_validator("report")
    @classmethod
    def _report(cls, value: dict[str, Any]) -> dict[str, Any]:
        _bounded(value, REPORT_BYTES, "the rest of the report")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> DetectionEvaluation:
        names = [row.kind for row in self.kinds]
        if len(set(names)) != len(names):
            raise ValueError("kinds names a defection kind twice")
        return self


# -- from a report -----------------------------------------------------------------------------


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {json.dumps(value)[:60]}")
    return float(value)


def _seeds(value: Any) -> str | None:
    """A seed range as one line: ``a-b`` for a pair of integers, else compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and len(value) == 2 and all(type(v) is int for v in value):
        return f"{value[0]}-{value[1]}"
    if isinstance(value, Mapping) and {"start", "stop"} <= set(value):
        return f"{value['start']}-{value['stop']}"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _rows(table: Any) -> list[dict[str, Any]]:
    """The per-kind table, a mapping ``kind -> figures`` or a list of rows naming their kind."""
    if isinstance(table, Mapping):
        items = [(str(k), v) for k, v in table.items()]
    elif isinstance(table, list):
        items = []
        for i, row in enumerate(table):
            if not isinstance(row, Mapping) or not isinstance(row.get("kind"), str):
                raise ValueError(f"per-kind row {i}: expected an object with a 'kind' string")
            items.append((row["kind"], {k: v for k, v in row.items() if k != "kind"}))
    else:
        raise ValueError("the per-kind table: expected an object or a list of rows")
    out = []
    for kind, figures in items:
        if not isinstance(figures, Mapping):
            figures = {"value": figures}
        out.append({"kind": kind, "figures": dict(figures)})
    return out


def report_digest(report: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the report's canonical JSON: the same report, the same evaluation."""
    return hashlib.sha256(canonical(dict(report))).hexdigest()


def evaluation_body(report: Mapping[str, Any], evaluation_id: str | None = None) -> dict[str, Any]:
    """The body of a ``detect.evaluation/v1`` statement from the JSON report of ``pausewatch
    detect evaluate`` (``evaluation_id`` by default ``detect-eval-`` and the first 16 hex digits
    of :func:`report_digest`). Raises :class:`ValueError` with one line when the report lacks
    ``overall.detection_before_completion`` or ``overall.false_alarms_per_facility_year`` as
    numbers; the body still has to pass :class:`DetectionEvaluation`'s checks."""
    if not isinstance(report, Mapping):
        raise ValueError("the report: expected a JSON object")
    overall = report.get("overall")
    if not isinstance(overall, Mapping):
        raise ValueError("the report has no 'overall' object")
    body: dict[str, Any] = {
        "evaluation_id": evaluation_id or f"detect-eval-{report_digest(report)[:16]}",
        "detection_before_completion": _number(
            overall.get("detection_before_completion"), "overall.detection_before_completion"
        ),
        "false_alarms_per_facility_year": _number(
            overall.get("false_alarms_per_facility_year"), "overall.false_alarms_per_facility_year"
        ),
    }
    rest = dict(report)
    for key in TABLE_KEYS:
        if key in rest:
            body["kinds"] = _rows(rest.pop(key))
            break
    raw_seeds = rest.get("seeds")
    seeds: Mapping[str, Any] = raw_seeds if isinstance(raw_seeds, Mapping) else {}
    fit = rest.pop("fit_seeds", None) or seeds.get("fit") or seeds.get("calibration")
    evaluated = (
        rest.pop("evaluation_seeds", None)
        or seeds.get("evaluated")
        or seeds.get("evaluation")
        or seeds.get("evaluate")
    )
    if fit is not None:
        body["fit_seeds"] = _seeds(fit)
    if evaluated is not None:
        body["evaluation_seeds"] = _seeds(evaluated)
    raw_corpus = rest.get("corpus")
    corpus: Mapping[str, Any] = raw_corpus if isinstance(raw_corpus, Mapping) else {}
    digest = rest.pop("corpus_digest", None) or corpus.get("digest")
    if isinstance(digest, str) and _DIGEST.match(digest):
        body["corpus_digest"] = digest
    body["report"] = rest
    return body


# -- the fold -----------------------------------------------------------------------------------


def _fold(ctx: _Context, body: Body) -> None:
    assert isinstance(body, DetectionEvaluation)
    ctx.require_secretariat()
    earlier = ctx.get("detection_evaluations", body.evaluation_id)
    if earlier is not None:
        raise RejectedError(
            f"detection evaluation {body.evaluation_id!r} is already on the log "
            f"(entry {earlier['idx']})"
        )
    ctx.set(
        "detection_evaluations",
        {
            "evaluation_id": body.evaluation_id,
            "detection_before_completion": body.detection_before_completion,
            "false_alarms_per_facility_year": body.false_alarms_per_facility_year,
            "kinds": json.dumps([row.model_dump(mode="json") for row in body.kinds]),
            "fit_seeds": body.fit_seeds,
            "evaluation_seeds": body.evaluation_seeds,
            "corpus_digest": body.corpus_digest,
            "report": json.dumps(body.report),
            "idx": ctx.index,
            "integrated_at": ctx.when,
        },
    )


HANDLERS: Mapping[str, Handler] = {KIND: _fold}
"""How a published evaluation folds."""


__all__ = [
    "HANDLERS",
    "KIND",
    "MAX_KINDS",
    "REPORT_BYTES",
    "ROW_BYTES",
    "DetectionEvaluation",
    "EvaluatedKind",
    "evaluation_body",
    "report_digest",
]
