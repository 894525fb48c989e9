"""Plotly figures as plain JSON (``{"data": [...], "layout": {...}}``), drawn in the browser by
the plotly.js that the Python ``plotly`` package ships (served from ``/ui/static``).

Every trace carries ``meta.role`` (``tier``, ``plan``, ``measured``, ``projection``, ...), so
that a reader of the figure (the browser tests) finds each series without relying on its
position. Times go to plotly as ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC: plotly's date axes know
no time zones, and an offset in the string would be dropped rather than applied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pausewatch.policy._model import CapabilityTrigger

Figure = dict[str, Any]
"""A plotly figure: ``data`` (traces) and ``layout``."""

PROJECTION_POINTS = 24
"""Segments of the projected path (straight in time, curved on the log axis)."""

_LAYOUT: dict[str, Any] = {
    "height": 380,
    "margin": {"l": 70, "r": 20, "t": 30, "b": 50},
    "legend": {"orientation": "h", "y": -0.2},
    "hovermode": "closest",
}


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (``Z`` or an offset) as an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def plot_time(value: str | datetime) -> str:
    """``value`` as plotly's UTC date string."""
    t = parse_time(value) if isinstance(value, str) else value.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def run_chart(
    report: dict[str, Any], tiers: list[dict[str, Any]], totals: dict[str, Any] | None
) -> Figure:
    """A run's declared plan, measured compute and projection against the policy's tiers.

    The measured compute is drawn after each telemetry batch that reported the run (the
    ``tel_run_batches`` view, ``measured.history`` of ``GET /v1/runs/{id}``); the projection runs
    from it at the measured mean pace to the next per-run tier, with its earliest and latest
    crossing (``GET /v1/runs/{id}``'s ``projection``)."""
    run = report["run"]
    measured = report["measured"]
    projection = report["projection"]
    times = [parse_time(t) for t in (run["starts_at"], run["ends_at"]) if t]
    if totals is not None:
        times += [parse_time(totals["first_window_start"]), parse_time(totals["last_window_end"])]
    if projection is not None:
        times += [
            parse_time(projection[k])
            for k in ("now", "earliest", "expected", "latest")
            if projection.get(k)
        ]
    x0, x1 = (min(times), max(times)) if times else (None, None)
    data: list[dict[str, Any]] = []
    by_flop: dict[float, list[str]] = {}
    for tier in tiers:
        by_flop.setdefault(tier["flop"], []).append(tier["tier"])
    if x0 is not None and x1 is not None:
        for flop, names in sorted(by_flop.items()):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{' / '.join(names)} ({flop:.3g} FLOP)",
                    "x": [plot_time(x0), plot_time(x1)],
                    "y": [flop, flop],
                    "line": {"dash": "dash", "width": 1.5},
                    "meta": {"role": "tier", "tiers": names, "flop": flop},
                }
            )
    plan_x = [plot_time(t) for t in (run["starts_at"], run["ends_at"]) if t]
    if len(plan_x) == 2:
        low, high = run["planned_flop_low"], run["planned_flop_high"]
        if low is not None and high is not None:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": plan_x,
                    "y": [low, low],
                    "line": {"width": 0},
                    "showlegend": False,
                    "hoverinfo": "skip",
                    "meta": {"role": "plan_low"},
                }
            )
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": "declared interval",
                    "x": plan_x,
                    "y": [high, high],
                    "line": {"width": 0},
                    "fill": "tonexty",
                    "meta": {"role": "plan_high"},
                }
            )
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"declared plan ({run['planned_flop']:.3g} FLOP)",
                "x": plan_x,
                "y": [run["planned_flop"], run["planned_flop"]],
                "line": {"width": 3},
                "meta": {"role": "plan"},
            }
        )
    counted = measured["counted_flop"]
    history = [h for h in measured.get("history", []) if h["cumulative_flop"] > 0]
    if totals is not None and counted > 0:
        # The measured total after each telemetry batch (``measured.history``), ending at the
        # run's total: compute over time against the tiers.
        points = history or [{"window_end": totals["last_window_end"], "cumulative_flop": counted}]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": (
                    f"measured ({counted:.3g} FLOP "
                    f"±{100 * measured['counter_tolerance']:g}%, "
                    f"{measured['counting_rule']})"
                ),
                "x": [plot_time(h["window_end"]) for h in points],
                "y": [h["cumulative_flop"] for h in points],
                "marker": {"size": 8},
                "meta": {"role": "measured"},
            }
        )
    if projection is not None and counted > 0:
        data += _projection_traces(projection, counted)
    layout = {
        **_LAYOUT,
        "xaxis": {"title": {"text": "time (UTC)"}, "type": "date"},
        "yaxis": {"title": {"text": "FLOP"}, "type": "log", "exponentformat": "power"},
    }
    return {"data": data, "layout": layout}


def _projection_traces(projection: dict[str, Any], counted: float) -> list[dict[str, Any]]:
    start = parse_time(projection["now"])
    threshold = projection["threshold"]
    out: list[dict[str, Any]] = []
    expected = projection.get("expected")
    if expected and threshold > counted:
        end = parse_time(expected)
        # Steps even on the log axis: the total grows linearly in time from ``counted`` to the
        # threshold, each point placed at the time the linear path reaches it.
        steps = PROJECTION_POINTS
        ys = [counted * (threshold / counted) ** (i / steps) for i in range(steps + 1)]
        ys[-1] = threshold
        xs = [
            plot_time(start + (end - start) * ((y - counted) / (threshold - counted))) for y in ys
        ]
        out.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"projection (crosses {threshold:.3g} FLOP)",
                "x": xs,
                "y": ys,
                "line": {"dash": "dot"},
                "meta": {"role": "projection", "expected": expected},
            }
        )
    # With an exact pace (telemetry counters) the bounds coincide with the expected crossing.
    bounds = [(k, projection.get(k)) for k in ("earliest", "latest")]
    for name, when in bounds:
        if not when or when == expected:
            continue
        out.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"{name} crossing",
                "x": [plot_time(start), plot_time(when)],
                "y": [counted, threshold],
                "line": {"dash": "dot", "width": 1},
                "meta": {"role": f"projection_{name}", "at": when},
            }
        )
    return out


def eval_chart(
    domain: str, trigger: CapabilityTrigger, results: list[dict[str, Any]]
) -> dict[str, Any]:
    """Each successful result's value of the trigger's metric with its confidence interval,
    against the alert and critical levels less the policy's buffer (what the trigger rule
    compares). Failed and incomplete results have no value: the table lists them."""
    xs: list[str] = []
    ys: list[float] = []
    plus: list[float] = []
    minus: list[float] = []
    for r in sorted(results, key=lambda r: r["idx"]):  # in log order
        if r["status"] != "success":
            continue
        metric = next((m for m in r["metrics"] if m["name"] == trigger.metric), None)
        if metric is None:
            continue
        xs.append(r["result_id"])
        ys.append(metric["value"])
        plus.append(metric["ci_high"] - metric["value"])
        minus.append(metric["value"] - metric["ci_low"])
    alert = trigger.alert_level - trigger.buffer
    critical = trigger.critical_level - trigger.buffer
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": f"{trigger.metric} (95% interval)",
            "x": xs,
            "y": ys,
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": plus,
                "arrayminus": minus,
                "visible": True,
            },
            "marker": {"size": 10},
            "meta": {"role": "results", "metric": trigger.metric},
        }
    ]
    shapes = [
        _level("alert", alert, "#d08000"),
        _level("critical", critical, "#c0392b"),
    ]
    annotations = [
        _label(f"alert {alert:g} (upper bound ≥)", alert),
        _label(f"critical {critical:g} (lower bound ≥)", critical),
    ]
    layout = {
        **_LAYOUT,
        "height": 300,
        "title": {"text": f"{domain}: {trigger.metric}"},
        "xaxis": {"title": {"text": "result"}, "type": "category"},
        "yaxis": {"title": {"text": trigger.metric}, "rangemode": "tozero"},
        "shapes": shapes,
        "annotations": annotations,
        "meta": {"alert_line": alert, "critical_line": critical},
    }
    return {"id": f"{domain}-{trigger.metric}", "figure": {"data": data, "layout": layout}}


def _level(name: str, y: float, colour: str) -> dict[str, Any]:
    return {
        "type": "line",
        "name": name,
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": y,
        "y1": y,
        "line": {"color": colour, "dash": "dash", "width": 2},
    }


def _label(text: str, y: float) -> dict[str, Any]:
    return {
        "xref": "paper",
        "x": 1,
        "xanchor": "right",
        "yref": "y",
        "y": y,
        "yanchor": "bottom",
        "text": text,
        "showarrow": False,
    }


def coverage_chart(clusters: list[dict[str, Any]]) -> Figure:
    """Per cluster, its installed H100e that reports against its dark H100e."""
    ids = [c["cluster_id"] for c in clusters]
    reporting = [c["h100e"] - c["dark_h100e"] for c in clusters]
    dark = [c["dark_h100e"] for c in clusters]
    data = [
        {
            "type": "bar",
            "name": "reporting (H100e)",
            "x": ids,
            "y": reporting,
            "meta": {"role": "reporting"},
        },
        {
            "type": "bar",
            "name": "dark (H100e)",
            "x": ids,
            "y": dark,
            "marker": {"color": "#c0392b"},
            "meta": {"role": "dark"},
        },
    ]
    layout = {
        **_LAYOUT,
        "barmode": "stack",
        "xaxis": {"title": {"text": "cluster"}, "type": "category"},
        "yaxis": {"title": {"text": "H100-equivalents"}},
    }
    return {"data": data, "layout": layout}


def balance_chart(
    facility_id: str, kind: str, unit: str, periods: list[dict[str, Any]]
) -> dict[str, Any]:
    """One balance of a facility over its days (``GET /v1/detect/balances``), in three panels
    on one time axis: the balance in its unit with its one-sigma bar; its standardised residual
    (SITMUF) against the one-shot test's limit; Page's CUSUM on those residuals against its
    decision interval ``h``. Days that alarmed are marked on the panel of the test that alarmed
    (``meta.role`` ``alarm``)."""
    xs = [plot_time(p["start"]) for p in periods]

    def marks(test: str, key: str, axis: str) -> list[dict[str, Any]]:
        hit = [p for p in periods if p.get("alarm") == test]
        if not hit:
            return []
        return [
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"alarm ({test.replace('_', '-')})",
                "x": [plot_time(p["start"]) for p in hit],
                "y": [p[key] for p in hit],
                "yaxis": axis,
                "marker": {"size": 14, "symbol": "x", "color": "#c0392b"},
                "meta": {"role": "alarm", "test": test},
            }
        ]

    def limit(name: str, key: str, axis: str, colour: str) -> dict[str, Any]:
        return {
            "type": "scatter",
            "mode": "lines",
            "name": name,
            "x": xs,
            "y": [p[key] for p in periods],
            "yaxis": axis,
            "line": {"dash": "dash", "color": colour, "shape": "hv"},
            "meta": {"role": key},
        }

    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": f"balance ({unit}, ±1 s.d.)",
            "x": xs,
            "y": [p["value"] for p in periods],
            "error_y": {"type": "data", "array": [p["sigma"] for p in periods], "visible": True},
            "meta": {"role": "balance", "unit": unit},
        },
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "standardised residual",
            "x": xs,
            "y": [p["standardised"] for p in periods],
            "yaxis": "y2",
            "meta": {"role": "standardised"},
        },
        limit("one-shot limit", "one_shot_limit", "y2", "#c0392b"),
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "CUSUM",
            "x": xs,
            "y": [p["cusum"] for p in periods],
            "yaxis": "y3",
            "meta": {"role": "cusum"},
        },
        limit("decision interval h", "cusum_limit", "y3", "#d08000"),
        *marks("one_shot", "standardised", "y2"),
        *marks("cusum", "cusum", "y3"),
    ]
    starts = [parse_time(p["start"]) for p in periods]
    # Half a day either side: a lone day is shown as a day, not zoomed to microseconds.
    span = (
        [plot_time(min(starts) - timedelta(hours=12)), plot_time(max(starts) + timedelta(hours=12))]
        if starts
        else None
    )
    layout = {
        **_LAYOUT,
        "height": 560,
        "xaxis": {
            "title": {"text": "balance day (UTC)"},
            "type": "date",
            "anchor": "y3",
            **({"range": span} if span else {}),
        },
        "yaxis": {"title": {"text": unit}, "domain": [0.7, 1], "exponentformat": "power"},
        "yaxis2": {"title": {"text": "standardised"}, "domain": [0.36, 0.64]},
        "yaxis3": {"title": {"text": "CUSUM"}, "domain": [0, 0.3], "rangemode": "tozero"},
        "meta": {"facility": facility_id, "kind": kind},
    }
    return {"id": f"{facility_id}-{kind}", "figure": {"data": data, "layout": layout}}


def deterrence_chart(rows: list[dict[str, Any]]) -> Figure:
    """Each judged row's margin (detection less the detection the inspection game requires)
    as a bar, with the margin's interval from the detection's interval, and the margin at the
    interval's lower bound as a marker, against the zero line where deterrence starts. Rows
    without a figure are left out (the table lists them)."""
    judged = [r for r in rows if r["margin"] is not None]
    kinds = [r["kind"] for r in judged]
    plus = [0.0 if r["interval"] is None else r["interval"][1] - r["detection"] for r in judged]
    minus = [0.0 if r["interval"] is None else r["detection"] - r["interval"][0] for r in judged]
    low = [r for r in judged if r["margin_low"] is not None]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "name": "margin (estimate, 95% interval)",
            "x": kinds,
            "y": [r["margin"] for r in judged],
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": plus,
                "arrayminus": minus,
                "visible": True,
            },
            "marker": {"color": ["#2e7d32" if r["deterred"] else "#c0392b" for r in judged]},
            "meta": {"role": "margin", "deterred": [bool(r["deterred"]) for r in judged]},
        },
        {
            "type": "scatter",
            "mode": "markers",
            "name": "margin at the interval's lower bound",
            "x": [r["kind"] for r in low],
            "y": [r["margin_low"] for r in low],
            "marker": {"symbol": "line-ew-open", "size": 18, "color": "#333"},
            "meta": {"role": "margin_low"},
        },
    ]
    if kinds:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "deterred above this line",
                "x": [kinds[0], kinds[-1]],
                "y": [0.0, 0.0],
                "line": {"dash": "dash", "color": "#555", "width": 1.5},
                "meta": {"role": "threshold"},
            }
        )
    layout = {
        **_LAYOUT,
        "xaxis": {"title": {"text": "defection kind"}, "type": "category"},
        "yaxis": {"title": {"text": "detection - required detection"}, "zeroline": True},
    }
    return {"data": data, "layout": layout}
