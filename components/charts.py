"""Plotly figure builders. They take aggregates (never raw telemetry rows) and return figures."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from components.theme import QUORUM_TEMPLATE


def daily_volume_chart(daily: pd.DataFrame) -> go.Figure:
    """Predictions per day, one line per model version."""
    frame = daily.assign(series=daily["model"] + " " + daily["version"])
    figure = px.line(frame, x="day", y="predictions", color="series", template=QUORUM_TEMPLATE,
                     labels={"day": "", "predictions": "predictions per day", "series": ""})
    figure.update_layout(height=360, title="Predictions served per day")
    return figure


SERIES_POINT_BUDGET = 5_000  # the most points one chart sends to the browser


def kpi_line_chart(series: pd.DataFrame, *, columns: dict[str, str], title: str, y_title: str,
                   percent: bool = False, target: float | None = None) -> go.Figure:
    """Lines per version (and per column when several) over the aggregated periods."""
    long = series.melt(id_vars=["version", "period"], value_vars=list(columns), var_name="measure")
    long["line"] = long["version"] + (" " + long["measure"].map(columns) if len(columns) > 1 else "")
    figure = px.line(long, x="period", y="value", color="line", template=QUORUM_TEMPLATE,
                     labels={"period": "", "value": y_title, "line": ""})
    if target is not None:
        figure.add_hline(y=target, line_dash="dot", line_color="#C0392B", annotation_text="SLO",
                         annotation_position="top left")
    figure.update_layout(height=320, title=title)
    if percent:
        figure.update_yaxes(tickformat=".1%")
    return figure
