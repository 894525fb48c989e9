"""Plots of a Monte Carlo of the agent-based model (:class:`~pausewatch.simulate.abm.AbmSummary`):
the violation rate over time with its 95% band, and the histogram of time to detection.

:func:`abm_figures` gives Plotly figures (for the dashboard); :func:`abm_html` one self-contained
HTML page (plotly.js inline, so it opens offline); :func:`abm_png` a PNG drawn with matplotlib's
Agg backend (matplotlib is in the ``simulate`` extra and imported only here, when called). Pure:
they return text or bytes; the caller writes the file.
"""

from __future__ import annotations

import html
import io
from typing import Any

from pausewatch.simulate.abm import AbmSummary


def _series(summary: AbmSummary) -> tuple[list[int], dict[str, list[float]], dict[str, int]]:
    band = summary.violation_rate_by_period()
    periods = list(range(1, len(band["mean"]) + 1))
    lags = summary.detection_lags()
    histogram = {str(t): lags.count(t) for t in range(1, summary.config.run_periods + 1)}
    return periods, band, histogram


def abm_figures(summary: AbmSummary) -> list[Any]:
    """Two Plotly figures: the share of labs in violation per period (mean and 95% band across
    replications), and how many periods after its start each detected run was detected."""
    import plotly.graph_objects as go

    periods, band, histogram = _series(summary)
    n = summary.replications
    rate = go.Figure()
    rate.add_trace(
        go.Scatter(x=periods, y=band["high"], mode="lines", line={"width": 0}, showlegend=False)
    )
    rate.add_trace(
        go.Scatter(
            x=periods,
            y=band["low"],
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(200,60,60,0.25)",
            name="95% of replications",
        )
    )
    rate.add_trace(
        go.Scatter(x=periods, y=band["mean"], mode="lines", line={"color": "#b22"}, name="mean")
    )
    rate.update_layout(
        title=f"Share of bound labs in violation per period ({n} replications)",
        xaxis_title="period (month)",
        yaxis_title="share of labs still bound running a defection",
        yaxis={"rangemode": "tozero"},
    )
    lag = go.Figure(go.Bar(x=list(histogram), y=list(histogram.values()), marker_color="#36c"))
    lag.update_layout(
        title=f"Time to detection ({sum(histogram.values())} detected runs)",
        xaxis_title="periods from the run's start to its detection",
        yaxis_title="detected runs",
    )
    return [rate, lag]


def abm_html(summary: AbmSummary) -> str:
    """A self-contained HTML page with both figures (plotly.js inline: it opens offline)."""
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0))
        for i, fig in enumerate(abm_figures(summary))
    ]
    title = html.escape("pausewatch: agent-based model of the pause")
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><h1>{title}</h1>\n" + "\n".join(parts) + "\n</body></html>\n"
    )


def abm_png(summary: AbmSummary) -> bytes:
    """Both plots side by side as a PNG (matplotlib, Agg backend; the ``simulate`` extra)."""
    from matplotlib.figure import Figure

    periods, band, histogram = _series(summary)
    figure = Figure(figsize=(11, 4), dpi=100)
    rate, lag = figure.subplots(1, 2)
    rate.fill_between(periods, band["low"], band["high"], alpha=0.3, color="#c33", label="95%")
    rate.plot(periods, band["mean"], color="#b22", label="mean")
    rate.set_xlabel("period (month)")
    rate.set_ylabel("share of bound labs running a defection")
    rate.set_title(f"Violation rate ({summary.replications} replications)")
    rate.set_ylim(bottom=0)
    rate.legend()
    lag.bar(list(histogram), list(histogram.values()), color="#36c")
    lag.set_xlabel("periods from the run's start to its detection")
    lag.set_ylabel("detected runs")
    lag.set_title("Time to detection")
    figure.tight_layout()
    buffer = io.BytesIO()
    # A bare Figure draws with the Agg canvas: no GUI backend, no global pyplot state.
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


__all__ = ["abm_figures", "abm_html", "abm_png"]
