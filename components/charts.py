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
