"""Does the regime deter? Each defection kind's measured detection against the inspection game's
threshold, and what would close each gap (issue 18, section 4; docs/adr/0044-deterrence-page.md).

For the adopted policy and the latest ``detect.evaluation/v1`` on the log (docs/adr/0031), one
row per defection kind: its probability of detection before the run could complete, with its
interval, against the threshold ``(d + h*alpha) / (d + b)`` of inspector leadership with false
alarms (:func:`pausewatch.simulate.inspection.required_detection`); the margin, judged on the
estimate and, separately, on the interval's lower bound; and what would close a gap: the
detection needed, the inspections needed at the measured power per look
(:func:`~pausewatch.simulate.inspection.inspections_needed`) and the sanction needed
(:attr:`~pausewatch.simulate.inspection.Assessment.needed_penalty`). A row for transcript
forgery comes from the audit draw's theory (:func:`pausewatch.transcript.miss_probability`,
docs/adr/0041). The closed forms are :mod:`pausewatch.simulate.inspection`'s; nothing here
re-derives them.

Every assumption (the stakes, the horizon, the forger's share, the audit budget, per-kind
overrides) has a default recorded in ADR 0044 and is a parameter; no figure is invented: without
an evaluation on the log, the only per-kind rows are those given as parameters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from pausewatch.detect import FALSE_ALARMS_PER_FACILITY_YEAR, DetectionEvaluation, evaluation_body
from pausewatch.errors import Error, NotFoundError
from pausewatch.ledger import format_time
from pausewatch.policy import Policy
from pausewatch.service._views import detection_evaluation
from pausewatch.simulate.inspection import (
    Assessment,
    GameError,
    assess,
    required_detection,
)
from pausewatch.state import StateStore
from pausewatch.transcript import miss_probability, segments_for_budget


class DeterrenceError(Error, ValueError):
    """An assumption out of its range or unreadable (one line naming the parameter)."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter


class Parameter(NamedTuple):
    """One assumption a reader may change: its range and what it means."""

    low: float
    high: float
    description: str
    low_open: bool = False
    """The low bound itself is out of range."""
    integer: bool = False


PARAMETERS: dict[str, Parameter] = {
    "gain": Parameter(
        0.0,
        1e6,
        "d: what an undetected frontier run gains the defector; every stake is in its units "
        "(default 1).",
        low_open=True,
    ),
    "penalty": Parameter(
        0.0,
        1e6,
        "b: what a defector caught before its run completes loses (the run halted, sanctions), "
        "in units of d (default 1).",
    ),
    "false_alarm_cost": Parameter(
        0.0,
        1e6,
        "h: what a false alarm costs a compliant party (a halt proposal on an honest run, an "
        "inspection), in units of d (default 0.5).",
    ),
    "run_days": Parameter(
        0.0,
        3650.0,
        "Days a prohibited run takes, the horizon over which false alarms accrue and over "
        "which detection must come (default 30: 1e24 FLOP on 1,000 H100e at 40%).",
        low_open=True,
    ),
    "false_alarms": Parameter(
        0.0,
        1e6,
        "False alarms per facility-year (default: the latest evaluation's measured rate; "
        "without one, the balances' stated rate).",
    ),
    "forged_fraction": Parameter(
        0.0,
        1.0,
        "f: the share of a forged transcript's segments the forger skipped and fabricated "
        "(default 0.1, the transcript benchmark's skipped compute).",
        low_open=True,
    ),
    "transcript_budget": Parameter(
        0.0,
        1.0,
        "The audit's replay budget, a share of the run's training steps (default 0.05).",
        low_open=True,
    ),
    "transcript_segments": Parameter(
        3,
        100_000,
        "N: segments of an audited transcript (default 200, the benchmark's 400 steps "
        "checkpointed every 2).",
        integer=True,
    ),
}
"""The numeric assumptions, by query parameter name."""

DETECTION_DESCRIPTION = (
    "Per-kind detection overrides, `KIND:P` (P a probability), repeated or comma-separated; "
    "a kind the evaluation lacks is added as a row."
)
"""What the ``detection`` parameter takes."""

TRANSCRIPT_KIND = "transcript_forgery"
"""The row of a forged training transcript."""


@dataclass(frozen=True)
class Assumptions:
    """What the deterrence analysis assumes (docs/adr/0044 records why each default)."""

    gain: float = 1.0
    """d: the gain of an undetected frontier run (the unit of every stake)."""
    penalty: float = 1.0
    """b: the loss of a defector caught before its run completes, in units of d."""
    false_alarm_cost: float = 0.5
    """h: the cost of a false alarm to a compliant party, in units of d."""
    run_days: float = 30.0
    """Days a prohibited run takes: the horizon of false alarms and of detection."""
    false_alarms: float | None = None
    """False alarms per facility-year; none: the evaluation's, else the balances' stated rate."""
    forged_fraction: float = 0.1
    """f: the share of a forged transcript's segments fabricated."""
    transcript_budget: float = 0.05
    """The audit's replay budget (share of training steps)."""
    transcript_segments: int = 200
    """N: segments of an audited transcript."""
    detection: tuple[tuple[str, float], ...] = field(default=())
    """Per-kind detection overrides (kind, probability), in the order given."""

    def __post_init__(self) -> None:
        for name, spec in PARAMETERS.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DeterrenceError(name, f"expected a number, got {value!r}")
            if spec.integer and not isinstance(value, int):
                raise DeterrenceError(name, f"expected a whole number, got {value!r}")
            if not math.isfinite(value):
                raise DeterrenceError(name, f"must be a finite number, got {value!r}")
            if value > spec.high or value < spec.low or (spec.low_open and value == spec.low):
                low = f"above {spec.low:g}" if spec.low_open else f"at least {spec.low:g}"
                raise DeterrenceError(
                    name, f"must be {low} and at most {spec.high:g}, got {value!r}"
                )
        kinds = [kind for kind, _ in self.detection]
        if len(set(kinds)) != len(kinds):
            raise DeterrenceError("detection", "names a kind twice")
        for kind, p in self.detection:
            if not (isinstance(p, int | float) and 0.0 <= p <= 1.0):
                raise DeterrenceError("detection", f"{kind}: expected 0 to 1, got {p!r}")

    @property
    def overrides(self) -> dict[str, float]:
        """The per-kind detection overrides as a mapping."""
        return dict(self.detection)

    def to_json(self) -> dict[str, Any]:
        """The assumptions as JSON (``detection`` a mapping from kind to probability)."""
        return {
            **{name: getattr(self, name) for name in PARAMETERS},
            "detection": self.overrides,
        }

    def query(self) -> str:
        """The per-kind overrides as the ``detection`` parameter's text (``kind:p,kind:p``),
        to twelve significant digits."""
        return ",".join(f"{kind}:{p:.12g}" for kind, p in self.detection)


DEFAULTS = Assumptions()
"""The defaults of docs/adr/0044."""


def parse_detection(values: Iterable[str]) -> tuple[tuple[str, float], ...]:
    """Per-kind overrides from ``KIND:P`` items, each value possibly a comma-separated list;
    :class:`DeterrenceError` (``detection``) for an item that is not one."""
    out: list[tuple[str, float]] = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            kind, sep, number = item.rpartition(":")
            kind = kind.strip()
            if not sep or not kind or len(kind) > 64 or not kind.isprintable():
                raise DeterrenceError("detection", f"expected KIND:P, got {item[:80]!r}")
            try:
                p = float(number)
            except ValueError:
                raise DeterrenceError(
                    "detection", f"{kind}: expected a probability, got {number[:40]!r}"
                ) from None
            if not math.isfinite(p):
                raise DeterrenceError(
                    "detection", f"{kind}: expected a finite probability, got {number[:40]}"
                )
            if not 0.0 <= p <= 1.0:
                raise DeterrenceError("detection", f"{kind}: expected 0 to 1, got {number[:40]}")
            out.append((kind, p))
    return tuple(out)


def _number(name: str, raw: str) -> float | int:
    text = raw.strip()
    try:
        if PARAMETERS[name].integer:
            return int(text)
        return float(text)
    except ValueError:
        raise DeterrenceError(name, f"expected a number, got {text[:40]!r}") from None


def assumptions_from_query(params: Mapping[str, Sequence[str]]) -> Assumptions:
    """The assumptions a query string gives (each parameter's values; an empty value is the
    default), checked; :class:`DeterrenceError` naming the first parameter at fault."""
    given: dict[str, Any] = {}
    for name in PARAMETERS:
        values = [v for v in params.get(name, ()) if v.strip()]
        if len(values) > 1:
            raise DeterrenceError(name, "given twice: give it once")
        if values:
            given[name] = _number(name, values[0])
    given["detection"] = parse_detection(params.get("detection", ()))
    return Assumptions(**given)


# -- the rows ----------------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


#: Beyond this many times today's looks, the looks needed are reported as none: the false alarms
#: that more looks raise keep the threshold out of reach (or the answer is no schedule anyone
#: would run).
MAX_LOOK_FACTOR = 1.0e6


def looks_needed(
    per_look: float, false_alarm_probability: float, looks: float, assumptions: Assumptions
) -> float:
    """The fewest independent looks, each detecting with ``per_look``, that reach the threshold
    at the false alarms they raise themselves; ``inf`` when no number up to
    :data:`MAX_LOOK_FACTOR` times ``looks`` does.

    ``false_alarm_probability`` is today's over the run, from ``looks`` looks; ``n`` looks raise
    ``1 - (1 - alpha)^(n/looks)``. With ``f(n)`` the detection of ``n`` looks less the threshold
    at their false alarms, ``f(n) = c - A e^(la n) - B e^(lc n)`` (both exponents at most 0),
    whose derivative changes sign at most once: ``f`` rises then falls, falls then rises, or is
    monotone, so the fewest looks are found by locating that turn and bisecting the side that
    rises, in a few dozen evaluations."""
    a = assumptions
    cap = max(1, math.ceil(MAX_LOOK_FACTOR * looks))
    la = -math.inf if per_look >= 1.0 else math.log1p(-per_look)
    lc = -math.inf if false_alarm_probability >= 1.0 else math.log1p(-false_alarm_probability)
    lc /= looks

    def margin(n: int) -> float:
        alpha = 1.0 if lc == -math.inf else -math.expm1(lc * n)
        detection = 1.0 if la == -math.inf else -math.expm1(la * n)
        try:
            threshold = required_detection(a.gain, a.penalty, a.false_alarm_cost, alpha)
        except GameError:  # past the float range: no number of looks reaches it
            return -math.inf
        return detection - threshold

    def first_meeting(low: int, high: int) -> float:
        # margin rises on [low, high]: the first n there with margin(n) >= 0.
        if margin(high) < 0:
            return math.inf
        while low < high:
            mid = (low + high) // 2
            if margin(mid) >= 0:
                high = mid
            else:
                low = mid + 1
        return float(low)

    if margin(1) >= 0:
        return 1.0
    # B|lc|: 0 when false alarms cost nothing or never come; inf when they are certain at any
    # cost (never 0 * inf: a cost whose ratio to the stakes underflows is still a cost).
    if a.false_alarm_cost == 0.0 or lc == 0.0:
        slope_alarm = 0.0
    elif lc == -math.inf:
        slope_alarm = math.inf
    else:
        slope_alarm = a.false_alarm_cost / (a.gain + a.penalty) * -lc
    if la == 0.0:  # no look detects anything
        return math.inf
    if la == -math.inf or slope_alarm == math.inf:
        # One look detects for certain, or false alarms are certain from the first look: the
        # margin cannot rise past its value at one look.
        return math.inf
    if slope_alarm == 0.0 or la == lc:
        rising = slope_alarm == 0.0 or -la > slope_alarm
        return first_meeting(1, cap) if rising else math.inf
    # f'(n) = |la| e^(la n) - B|lc| e^(lc n) is zero at n* below (a ratio past the float
    # range puts n* at an end: clamped, never rounded from an infinity).
    ratio = slope_alarm / -la
    if ratio == 0.0:  # log(ratio) is -inf
        turn = -math.inf if la > lc else math.inf
    elif ratio == math.inf:
        turn = math.inf if la > lc else -math.inf
    else:
        turn = math.log(ratio) / (la - lc)
    turn = min(float(cap), max(1.0, turn))
    if la < lc:  # rises until n*, then falls: the first meeting lies before the peak
        peak = min(cap, max(1, round(turn)))
        best = max((n for n in (peak - 1, peak, peak + 1) if 1 <= n <= cap), key=margin)
        return first_meeting(1, best) if margin(best) >= 0 else math.inf
    # falls until n*, then rises: having missed at 1, the first meeting lies after the trough
    trough = min(cap, max(1, math.ceil(turn)))
    return first_meeting(trough, cap)


def _looks_for(
    detection: float,
    looks: float | None,
    *,
    false_alarm_probability: float,
    assumptions: Assumptions,
) -> dict[str, Any]:
    """The independent looks needed at the power per look that ``detection`` over ``looks``
    looks implies (:func:`looks_needed`: looking more often raises false alarms too, which
    raises the threshold), and that count against ``looks``."""
    if looks is None:
        return {"inspections": None, "inspection_factor": None}
    per_look = 1.0 - (1.0 - detection) ** (1.0 / looks) if detection < 1.0 else 1.0
    needed = looks_needed(per_look, false_alarm_probability, looks, assumptions)
    return {
        "per_look": per_look,
        "inspections": _finite(needed),
        "inspection_factor": _finite(needed / looks),
    }


def assess_figure(
    *,
    kind: str,
    detection: float | None,
    interval: Sequence[float] | None,
    false_alarm_probability: float,
    assumptions: Assumptions,
    source: str,
    looks: float | None,
    note: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One row: a detection figure (with its interval, if any) assessed against the threshold
    at the assumptions' stakes and ``false_alarm_probability``; the margin and the verdict on
    the estimate and on the interval's lower bound; what would close a gap (the detection,
    the looks at the same power per look, given that ``detection`` came from ``looks``
    independent ones, and the sanction). A row without a figure says so and judges nothing."""
    a = assumptions
    row: dict[str, Any] = {
        "kind": kind,
        "source": source,
        "note": note,
        "detection": detection,
        "interval": None if interval is None else [float(interval[0]), float(interval[1])],
        "false_alarm_probability": false_alarm_probability,
        **extra,
    }
    if detection is None:
        return {
            **row,
            "required_detection": None,
            "margin": None,
            "deterred": None,
            "margin_low": None,
            "deterred_low": None,
            "needed": None,
            "assessment": None,
            "pessimistic": None,
        }
    try:
        central: Assessment = assess(
            a.gain, a.penalty, a.false_alarm_cost, false_alarm_probability, detection
        )
    except GameError as exc:
        # The threshold is past the float range: no detector deters at these stakes.
        return {
            **row,
            "note": "; ".join(n for n in (note, str(exc)) if n),
            "required_detection": None,
            "margin": None,
            "deterred": False,
            "margin_low": None,
            "deterred_low": None if interval is None else False,
            "needed": {"detection": None, "inspections": None, "penalty": None},
            "assessment": None,
            "pessimistic": None,
        }
    low: Assessment | None = None
    if interval is not None:
        low = assess(
            a.gain, a.penalty, a.false_alarm_cost, false_alarm_probability, float(interval[0])
        )
    required = central.required_detection
    needed = {
        "detection": required if required <= 1.0 else None,
        **_looks_for(
            detection,
            looks,
            false_alarm_probability=false_alarm_probability,
            assumptions=a,
        ),
        "penalty": _finite(central.needed_penalty),
        "penalty_low": None if low is None else _finite(low.needed_penalty),
    }
    return {
        **row,
        "required_detection": required,
        "margin": central.margin,
        "deterred": central.deterred,
        "margin_low": None if low is None else low.margin,
        "deterred_low": None if low is None else low.deterred,
        "needed": needed,
        "assessment": central.to_json(),
        "pessimistic": None if low is None else low.to_json(),
    }


def false_alarm_probability(rate_per_year: float, days: float) -> float:
    """The probability of at least one false alarm in ``days`` at ``rate_per_year`` (Poisson):
    ``1 - exp(-rate * days / 365)``."""
    return -math.expm1(-rate_per_year * days / 365.0)


class _Proportion(NamedTuple):
    estimate: float
    interval: tuple[float, float] | None
    detected: int | None
    runs: int | None


def _probability(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def _proportion(value: Any) -> _Proportion | None:
    """A detection figure as the report keeps it: a probability, or an object with its
    ``estimate`` and an interval (``wilson``, ``interval`` or ``clopper_pearson``)."""
    if isinstance(value, Mapping):
        estimate = _probability(value.get("estimate"))
        if estimate is None:
            return None
        interval = None
        for key in ("wilson", "interval", "clopper_pearson"):
            pair = value.get(key)
            if isinstance(pair, Sequence) and not isinstance(pair, str) and len(pair) == 2:
                lo, hi = _probability(pair[0]), _probability(pair[1])
                if lo is not None and hi is not None and lo <= hi:
                    interval = (lo, hi)
                    break
        detected, runs = value.get("detected"), value.get("runs")
        return _Proportion(
            estimate,
            interval,
            detected if type(detected) is int else None,
            runs if type(runs) is int else None,
        )
    estimate = _probability(value)
    return None if estimate is None else _Proportion(estimate, None, None, None)


def kind_figure(figures: Mapping[str, Any]) -> tuple[_Proportion | None, str | None]:
    """A kind's detection before completion over its prohibited runs, or over every size
    where it has none (as the report judges the target), and which of the two it is."""
    for key, population in (
        ("detection_before_completion", "prohibited_runs"),
        ("detection_before_completion_all_sizes", "all_sizes"),
    ):
        found = _proportion(figures.get(key))
        if found is not None:
            return found, population
    return None, None


def transcript_catch(assumptions: Assumptions) -> dict[str, Any]:
    """The audit draw's chance of catching a forgery that fabricated ``forged_fraction`` of
    ``transcript_segments`` segments (all between the first and the last, which every audit
    replays), at ``transcript_budget``: ``1 - C(N-2-F, Q-2) / C(N-2, Q-2)``."""
    n = assumptions.transcript_segments
    forged = min(n - 2, max(1, math.ceil(assumptions.forged_fraction * n - 1e-9)))
    drawn = segments_for_budget(assumptions.transcript_budget, n, 1)
    return {
        "segments": n,
        "forged_segments": forged,
        "drawn_segments": drawn,
        "catch": 1.0 - miss_probability(n, forged, drawn),
    }


def budget_needed(assumptions: Assumptions, required: float) -> float | None:
    """The smallest replay budget at which one audit catches the assumed forgery with at least
    ``required`` (none when even replaying every segment would not, or beyond what one
    verdict may name)."""
    n = assumptions.transcript_segments
    forged = transcript_catch(assumptions)["forged_segments"]
    if required > 1.0:
        return None
    lo, hi = 2, n
    if 1.0 - miss_probability(n, forged, hi) < required:
        return None
    while lo < hi:  # the catch grows with the segments drawn
        mid = (lo + hi) // 2
        if 1.0 - miss_probability(n, forged, mid) >= required:
            hi = mid
        else:
            lo = mid + 1
    if segments_for_budget(lo / n, n, 1) < lo:
        return None
    return lo / n


def transcript_row(assumptions: Assumptions, transcripts_from_flop: float | None) -> dict[str, Any]:
    """Transcript forgery: one audit's chance of catching it, from the draw's theory."""
    theory = transcript_catch(assumptions)
    row = assess_figure(
        kind=TRANSCRIPT_KIND,
        detection=theory["catch"],
        interval=None,
        # A replay decides exactly whether a segment trained as committed (ADR 0041).
        false_alarm_probability=0.0,
        assumptions=assumptions,
        source="theory",
        looks=1.0,
        note=(
            f"one audit drawing {theory['drawn_segments']} of {theory['segments']} segments "
            f"(budget {assumptions.transcript_budget:g}) against {theory['forged_segments']} "
            f"fabricated (f = {assumptions.forged_fraction:g}); independent audits needed are "
            "the inspections"
        ),
        theory=theory,
        required_from_flop=transcripts_from_flop,
    )
    if row["needed"] is not None:
        row["needed"]["budget"] = budget_needed(assumptions, row["required_detection"])
    return row


# -- from the log or a report file -------------------------------------------------------------


def _latest_evaluation(state: StateStore) -> dict[str, Any] | None:
    try:
        return detection_evaluation(state)
    except NotFoundError:
        return None


def _first_non_finite(value: Any, path: str = "") -> str | None:
    """The dotted path of the first nan or infinity in a JSON document (Python's json module
    writes them; RFC 8785 and the log cannot carry them), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, Mapping):
        items: Iterable[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        found = _first_non_finite(item, f"{path}.{key}" if path else key)
        if found is not None:
            return found
    return None


def evaluation_of_report(
    report: Mapping[str, Any], evaluation_id: str | None = None
) -> dict[str, Any]:
    """A report of ``pausewatch detect evaluate DIR --json`` as the log would keep it once
    published: mapped by :func:`pausewatch.detect.evaluation_body` and checked by
    :class:`~pausewatch.detect.DetectionEvaluation` exactly as ``pausewatch detect publish``
    does, then shaped as the fold's row (no log index, none published), so that the file and
    the log give :func:`deterrence_of` the same evaluation. :class:`ValueError` with one line
    for a report that cannot be published."""
    where = _first_non_finite(report)
    if where is not None:
        raise ValueError(
            f"{where or 'the report'}: holds nan or an infinity, which no statement can carry"
        )
    body = evaluation_body(report, evaluation_id)
    try:
        checked = DetectionEvaluation.model_validate_json(json.dumps(body))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValueError(f"{where}: {first['msg']}") from None
    # The fold's row, through JSON as the view stores its table and its report.
    return {
        "evaluation_id": checked.evaluation_id,
        "detection_before_completion": checked.detection_before_completion,
        "false_alarms_per_facility_year": checked.false_alarms_per_facility_year,
        "kinds": json.loads(json.dumps([row.model_dump(mode="json") for row in checked.kinds])),
        "fit_seeds": checked.fit_seeds,
        "evaluation_seeds": checked.evaluation_seeds,
        "corpus_digest": checked.corpus_digest,
        "report": json.loads(json.dumps(checked.report)),
        "idx": None,
        "published": None,
    }


def policy_summary(policy: Policy | None) -> dict[str, Any] | None:
    """What the analysis shows of a policy: its id and version, the thresholds of prohibited
    training and of the pause, and the size from which it requires training transcripts."""
    if policy is None:
        return None
    prohibited = policy.compute.pretraining.prohibited
    return {
        "id": policy.id,
        "version": policy.version,
        "prohibited_flop": None if prohibited is None else prohibited.flop,
        "pause_prohibits_flop": (
            None if policy.pause is None else policy.pause.prohibits.training_above_flop
        ),
        "transcripts_required_from_flop": (
            None if policy.transcripts is None else policy.transcripts.required_from_flop
        ),
    }


def _policy(state: StateStore, at: datetime) -> dict[str, Any] | None:
    with state.lock:
        policy = state.registry.policy_at(at)
    return policy_summary(policy)


def deterrence(
    state: StateStore, at: datetime, assumptions: Assumptions = DEFAULTS
) -> dict[str, Any]:
    """The deterrence analysis at ``at`` for what the log holds: the policy in force and the
    latest published evaluation (:func:`deterrence_of`)."""
    return deterrence_of(_latest_evaluation(state), _policy(state, at), assumptions, at)


def deterrence_of(
    evaluation: Mapping[str, Any] | None,
    policy: Mapping[str, Any] | None,
    assumptions: Assumptions = DEFAULTS,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The deterrence analysis of an evaluation (the fold's row of a ``detect.evaluation/v1``,
    or :func:`evaluation_of_report` of a report file; none: no evaluation) under a policy
    (:func:`policy_summary`; none: no policy): the policy, the evaluation, the assumptions with
    their defaults, the false-alarm figure and where it came from, one row per defection kind
    of the evaluation (overrides applied, kinds only given as parameters added), the transcript
    forgery row, the overall figure's row, and a summary of which kinds are deterred. ``at``
    is only stated (none: null); nothing here reads a clock or the log."""
    latest = evaluation
    if assumptions.false_alarms is not None:
        rate, rate_source = assumptions.false_alarms, "query"
    elif latest is not None:
        rate, rate_source = float(latest["false_alarms_per_facility_year"]), "evaluation"
    else:
        rate, rate_source = FALSE_ALARMS_PER_FACILITY_YEAR, "stated"
    alpha = false_alarm_probability(rate, assumptions.run_days)
    overrides = assumptions.overrides
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()

    def per_kind(kind: str, figures: Mapping[str, Any]) -> dict[str, Any]:
        if kind in overrides:
            return assess_figure(
                kind=kind,
                detection=overrides[kind],
                interval=None,
                false_alarm_probability=alpha,
                assumptions=assumptions,
                source="query",
                looks=assumptions.run_days,
                note="detection given as a parameter",
                judged_on=None,
            )
        found, population = kind_figure(figures)
        return assess_figure(
            kind=kind,
            detection=None if found is None else found.estimate,
            interval=None if found is None else found.interval,
            false_alarm_probability=alpha,
            assumptions=assumptions,
            source="evaluation",
            looks=assumptions.run_days,
            note="" if found is not None else "the evaluation gives no detection figure",
            judged_on=population,
            detected=None if found is None else found.detected,
            runs=None if found is None else found.runs,
        )

    if latest is not None:
        for item in latest["kinds"]:
            kind = str(item.get("kind"))
            figures = item.get("figures")
            rows.append(per_kind(kind, figures if isinstance(figures, Mapping) else {}))
            seen.add(kind)
    for kind in overrides:
        if kind not in seen:
            rows.append(per_kind(kind, {}))
    overall = None
    if latest is not None:
        report = latest.get("report") or {}
        interval = None
        raw = (report.get("overall") or {}) if isinstance(report, Mapping) else {}
        pair = raw.get("detection_before_completion_interval") if isinstance(raw, Mapping) else None
        population = raw.get("detection_population") if isinstance(raw, Mapping) else None
        found = _proportion({"estimate": latest["detection_before_completion"], "interval": pair})
        if found is not None:
            interval = found.interval
        overall = assess_figure(
            kind="overall",
            detection=float(latest["detection_before_completion"]),
            interval=interval,
            false_alarm_probability=alpha,
            assumptions=assumptions,
            source="evaluation",
            looks=assumptions.run_days,
            judged_on=population if isinstance(population, str) else None,
        )
    transcripts_from = None if policy is None else policy["transcripts_required_from_flop"]
    transcript = transcript_row(assumptions, transcripts_from)
    judged = [r for r in rows if r["deterred"] is not None]
    answer = {
        "at": None if at is None else format_time(at),
        "policy": None if policy is None else dict(policy),
        "evaluation": None
        if latest is None
        else {
            key: latest.get(key)
            for key in (
                "evaluation_id",
                "idx",
                "detection_before_completion",
                "false_alarms_per_facility_year",
                "fit_seeds",
                "evaluation_seeds",
                "corpus_digest",
                "published",
            )
        },
        "assumptions": assumptions.to_json(),
        "defaults": DEFAULTS.to_json(),
        "false_alarms": {
            "per_facility_year": rate,
            "source": rate_source,
            "days": assumptions.run_days,
            "probability": alpha,
        },
        "rows": rows,
        "transcript": transcript,
        "overall": overall,
        "summary": {
            "kinds": len(rows),
            "judged": len(judged),
            "deterred": [r["kind"] for r in judged if r["deterred"]],
            "not_deterred": [r["kind"] for r in judged if not r["deterred"]],
            "deterred_at_low": [r["kind"] for r in judged if r["deterred_low"]],
            "without_figure": [r["kind"] for r in rows if r["deterred"] is None],
        },
    }
    finite: dict[str, Any] = _finite_json(answer)
    return finite


def _finite_json(value: Any) -> Any:
    """``value`` with every non-finite number as null: stakes at the ends of their ranges
    (a gain of 5e-324 against no sanction) overflow the threshold, and JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_json(v) for v in value]
    return value


__all__ = [
    "DEFAULTS",
    "DETECTION_DESCRIPTION",
    "PARAMETERS",
    "TRANSCRIPT_KIND",
    "Assumptions",
    "DeterrenceError",
    "Parameter",
    "assess_figure",
    "assumptions_from_query",
    "budget_needed",
    "deterrence",
    "deterrence_of",
    "evaluation_of_report",
    "false_alarm_probability",
    "kind_figure",
    "looks_needed",
    "parse_detection",
    "policy_summary",
    "transcript_catch",
    "transcript_row",
]
