"""The demo's HTML report: what happened, with charts, in one file that opens offline.

Plotly's JavaScript is embedded once (from the `plotly` package), so the report needs no
network. Every figure in it was read from the service's API during the story, or from the audit
that recomputed the log.
"""

from __future__ import annotations

import html
from datetime import datetime
from pathlib import Path
from typing import Any

from pausewatch.demo._scenario import Story
from pausewatch.demo._world import PLANNED_FLOP, RUN_ID


def _run_chart(story: Story) -> Any:
    import plotly.graph_objects as go

    times = [datetime.fromisoformat(t) for t, _ in story.run_series]
    flop = [f for _, f in story.run_series]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=times, y=flop, mode="lines+markers", name="counted FLOP"))
    for level, name in ((PLANNED_FLOP, "declared plan"), (1e23, "post-training prohibition")):
        fig.add_hline(y=level, line_dash="dash", annotation_text=f"{name} {level:.0e}")
    fig.update_layout(
        title=f"{RUN_ID}: compute counted from chip-signed telemetry",
        yaxis_title="FLOP (FP16-equivalent or actual)",
        xaxis_title="world time (UTC)",
        height=380,
    )
    return fig


def _eval_chart(results: list[dict[str, Any]], levels: dict[str, tuple[float, float]]) -> Any:
    import json

    import plotly.graph_objects as go

    fig = go.Figure()
    for r in results:
        for m in json.loads(r["metrics"]):
            if m["name"] != "accuracy":
                continue
            fig.add_trace(
                go.Scatter(
                    x=[f"{r['domain']}<br>{r['probe_id']}"],
                    y=[m["value"]],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [m["ci_high"] - m["value"]],
                        "arrayminus": [m["value"] - m["ci_low"]],
                    },
                    mode="markers",
                    marker={"size": 12},
                    name=f"{r['model']} ({r['evaluator_id']})",
                )
            )
    if levels:
        alert, critical = next(iter(levels.values()))
        fig.add_hline(y=alert, line_dash="dot", annotation_text=f"alert {alert:g}")
        fig.add_hline(y=critical, line_dash="dash", annotation_text=f"critical {critical:g}")
    fig.update_layout(
        title="Capability evaluations: accuracy with its 95% interval against the levels",
        yaxis={"range": [0, 1.05], "title": "accuracy"},
        height=380,
        showlegend=False,
    )
    return fig


def _findings_chart(story: Story) -> Any:
    import plotly.graph_objects as go

    acts = [s.act for s in story.snapshots]
    severities = sorted({k for s in story.snapshots for k in s.findings})
    fig = go.Figure()
    colours = {"critical": "#c0392b", "serious": "#e67e22", "warning": "#f1c40f"}
    for sev in sorted(severities, key=lambda s: list(colours).index(s) if s in colours else 9):
        fig.add_trace(
            go.Bar(
                x=acts,
                y=[s.findings.get(sev, 0) for s in story.snapshots],
                name=sev,
                marker_color=colours.get(sev, "#3498db"),
            )
        )
    fig.update_layout(
        barmode="stack", title="Open findings after each act", height=380, xaxis_tickangle=-30
    )
    return fig


def _energy_chart(story: Story) -> Any | None:
    """The metered facility's days: energy the meter read against energy its chips reported
    (docs/adr/0032); none before the act has played."""
    import plotly.graph_objects as go

    hidden = story.facts.get("hidden_cluster")
    if not hidden:
        return None
    days = [d["day"] for d in hidden["days"]]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=days, y=[d["metered_j"] / 1e9 for d in hidden["days"]], name="metered"))
    fig.add_trace(
        go.Bar(x=days, y=[d["chips_j"] / 1e9 for d in hidden["days"]], name="reported by chips")
    )
    fig.update_layout(
        barmode="group",
        title=f"{hidden['meter']}: the facility's energy per day, metered and reported (GJ)",
        yaxis_title="GJ",
        height=380,
    )
    return fig


def _transcripts(story: Story) -> str:
    """The transcript act's audits as a table (empty before the act, a line if it was
    skipped)."""
    facts = story.facts.get("transcripts")
    if not facts:
        return ""
    if "skipped" in facts:
        return f"<h2>Transcripts</h2><p>skipped: {html.escape(str(facts['skipped']))}</p>"
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                a["run_id"],
                a.get("spoof", "honest"),
                a["verdict"],
                f"{len(a['segments'])} of {a['segments_total']}",
                f"{a['compute_fraction']:.1%}",
                "; ".join(a["reasons"]) or "-",
                a["verdict_idx"],
            )
        )
        + "</tr>"
        for a in (facts["honest"], facts["spoof"])
    )
    return (
        "<h2>Transcripts</h2><p>Each run's transcript committed on the log, audited by replaying "
        "segments drawn from the log's root after its final commitment.</p><table><tr><th>run"
        "</th><th>transcript</th><th>verdict</th><th>segments replayed</th><th>compute</th>"
        f"<th>reasons</th><th>verdict entry</th></tr>{rows}</table>"
    )


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "—" if value is None else format(value, spec)


def _deterrence(story: Story) -> str:
    """The deterrence section: the demo world's own detection figures judged against the
    inspection game's threshold at the Deterrence page's default stakes (docs/adr/0044)."""
    import plotly.graph_objects as go

    from pausewatch.demo._deterrence import deterrence_rows
    from pausewatch.service._deterrence import DEFAULTS
    from pausewatch.web._charts import deterrence_chart

    rows = deterrence_rows(story.facts)
    if not rows:
        return ""
    chart: str = go.Figure(deterrence_chart(rows)).to_html(full_html=False, include_plotlyjs=False)
    a = DEFAULTS
    body = "".join(
        f'<tr data-kind="{html.escape(r["kind"])}">'
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                r["kind"],
                _fmt(r["detection"]),
                _fmt(r["required_detection"]),
                _fmt(r["margin"], "+.3f"),
                "deterred" if r["deterred"] else "not deterred",
                _fmt(r["needed"]["inspections"], "g"),
                _fmt(r["needed"]["penalty"], ".3g"),
                r["source"],
            )
        )
        + "</tr>"
        for r in rows
    )
    return (
        '<h2 id="deterrence">Deterrence</h2><p>Does defecting pay in this world? Each figure '
        "below is the demo's own, judged against the inspection game's threshold "
        "(d + h&middot;&alpha;) / (d + b) (inspector leadership with false alarms) at the "
        f"Deterrence page's default stakes: gain d = {a.gain:g}, sanction b = {a.penalty:g} "
        f"(in units of d), false-alarm cost h = {a.false_alarm_cost:g}, a run of "
        f"{a.run_days:g} days (docs/adr/0044). Looks needed: independent inspections, days "
        "of balances or audits at the same power each; sanction needed: the b at which the "
        "figure just deters.</p><table><tr><th>defection</th><th>detection</th>"
        "<th>required</th><th>margin</th><th>verdict</th><th>looks needed</th>"
        f"<th>sanction needed</th><th>where the figure came from</th></tr>{body}</table>" + chart
    )


def _reason(outcome: Any) -> str:
    """An outcome's reason (the view keeps the outcome as JSON text)."""
    import json

    if isinstance(outcome, str):
        try:
            outcome = json.loads(outcome)
        except ValueError:
            return str(outcome)
    return str(outcome.get("reason", "")) if isinstance(outcome, dict) else ""


def write_report(
    path: Path,
    story: Story,
    *,
    proposals: list[dict[str, Any]],
    results: list[dict[str, Any]],
    levels: dict[str, tuple[float, float]],
    audit: dict[str, Any],
    lines: list[str],
) -> Path:
    """Write the report to ``path`` and return it."""
    charts = [_run_chart(story), _eval_chart(results, levels), _findings_chart(story)]
    energy = _energy_chart(story)
    if energy is not None:
        charts.append(energy)
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(charts)
    ]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                p["proposal_id"],
                p["kind"],
                p.get("status"),
                "passed" if p.get("passed") else ("failed" if p.get("passed") is False else "open"),
                _reason(p.get("outcome")),
            )
        )
        + "</tr>"
        for p in proposals
    )
    story_items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    verdict = (
        "recomputed from the log: every check passed"
        if audit.get("ok")
        else ("the audit found problems: " + html.escape("; ".join(audit.get("problems", [])[:5])))
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pausewatch demo report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;font-size:90%}}
.ok{{color:#0a0}}</style></head><body>
<h1>pausewatch demo report</h1>
<p>A simulated world, played through the real service. Parties, stances and runs are fictional.</p>
<h2>The story</h2><ol>{story_items}</ol>
<h2>Audit</h2><p class="ok">{verdict} ({audit.get("entries", "?")} entries)</p>
<h2>Charts</h2>{"".join(parts)}
{_transcripts(story)}
{_deterrence(story)}
<h2>Proposals</h2><table><tr><th>id</th><th>kind</th><th>status</th><th>outcome</th>
<th>reason</th></tr>{rows}</table>
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


__all__ = ["write_report"]
