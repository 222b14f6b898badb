"""Plotly figure builders. They take aggregates (never raw telemetry rows) and return figures."""

from __future__ import annotations

import numpy as np
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


Y_MARGIN = 0.08   # the y-axis reaches this share of the data's span beyond the lowest and highest plotted value


def data_range(figure: go.Figure) -> tuple[float, float] | None:
    """The lowest and highest value the figure plots: its traces' y values and its horizontal lines (a target)."""
    values = [float(v) for trace in figure.data if getattr(trace, "y", None) is not None for v in trace.y
              if v is not None and np.isfinite(float(v))]
    values += [float(shape.y0) for shape in figure.layout.shapes
               if shape.y0 is not None and shape.y0 == shape.y1 and (shape.yref or "y") == "y"]
    return (min(values), max(values)) if values else None


def axis_range(low: float, high: float, *, possible: tuple[float | None, float | None]) -> tuple[float, float]:
    """From the data's span to the y-axis: a margin each side, never beyond what the measure can take."""
    pad = (high - low) * Y_MARGIN or abs(high) * Y_MARGIN or 1.0
    bottom, top = low - pad, high + pad
    if possible[0] is not None:
        bottom = max(bottom, possible[0])
    if possible[1] is not None:
        top = min(top, possible[1])
    return bottom, top


def anomaly_band(figure: go.Figure, points: pd.DataFrame, *, label: str = "expected",
                 possible: tuple[float | None, float | None] = (0.0, None)) -> go.Figure:
    """Add to a KPI figure, per version, the anomaly detector's expected band (lower..upper, shaded) and a red
    marker on each anomalous period. points: governance.monitoring.anomalies.kpi_anomalies(...)["points"], already cut to
    the figure's window and versions. Periods with no band (too little history) leave a gap.

    The y-axis fits the lines already on the figure (and its target), never the band: a band that widens after a
    regression would otherwise flatten every line. The band is drawn within that axis and within `possible`, the
    range the measure can take (a rate within 0..1, a latency at least 0)."""
    span = data_range(figure)
    if span is not None:
        bottom, top = axis_range(*span, possible=possible)
        figure.update_yaxes(range=[bottom, top], autorange=False)
    else:
        bottom, top = (possible[0] if possible[0] is not None else -np.inf,
                       possible[1] if possible[1] is not None else np.inf)
    for version, rows in points.sort_values("period").groupby("version", sort=True):
        upper = rows["upper"].astype(float).clip(lower=bottom, upper=top)
        lower = rows["lower"].astype(float).clip(lower=bottom, upper=top)
        figure.add_trace(go.Scatter(x=rows["period"], y=upper, mode="lines", line={"width": 0},
                                    hoverinfo="skip", showlegend=False, legendgroup=f"band {version}"))
        figure.add_trace(go.Scatter(x=rows["period"], y=lower, mode="lines", line={"width": 0},
                                    fill="tonexty", fillcolor="rgba(140, 140, 140, 0.18)",
                                    name=f"{version} {label} band", legendgroup=f"band {version}",
                                    hoverinfo="skip"))
        flagged = rows[rows["anomalous"].astype(bool)]
        if not flagged.empty:
            figure.add_trace(go.Scatter(
                x=flagged["period"], y=flagged["value"], mode="markers", name=f"{version} anomaly",
                marker={"color": "#C0392B", "size": 9, "symbol": "circle-open", "line": {"width": 2}},
                customdata=flagged[["expected", "score"]].to_numpy(),
                hovertemplate=(f"{version} anomaly · %{{x}}: %{{y:.4g}} (expected %{{customdata[0]:.4g}}, "
                               "score %{customdata[1]:.1f})<extra></extra>")))
    return figure


VERDICT_COLOURS = {"better": "#3A9A6E", "worse": "#C0392B", "no significant difference": "#8C8C8C",
                   "not computable": "#C9C9C9"}


def comparison_chart(comparisons: pd.DataFrame) -> go.Figure:
    """Forest plot: each KPI's change of b against a, in % of a, with its 95% interval."""
    shown = comparisons.dropna(subset=["difference"])
    shown = shown[shown["a"] != 0]
    relative = 100 * shown["difference"] / shown["a"].abs()
    low = 100 * shown["ci_low"] / shown["a"].abs()
    high = 100 * shown["ci_high"] / shown["a"].abs()
    figure = go.Figure(go.Scatter(
        x=relative, y=shown["kpi"], mode="markers",
        marker={"size": 11, "color": [VERDICT_COLOURS[v] for v in shown["verdict"]]},
        error_x={"type": "data", "symmetric": False, "array": high - relative, "arrayminus": relative - low},
        text=shown["verdict"], hovertemplate="%{y}: %{x:+.2f}% (%{text})<extra></extra>"))
    figure.add_vline(x=0, line_color="#8C8C8C")
    figure.update_layout(template=QUORUM_TEMPLATE, height=60 + 45 * len(shown),
                         title="Change of B against A, % of A, with 95% interval",
                         xaxis_title="% change", yaxis={"autorange": "reversed"})
    return figure


def explore_chart(frame: pd.DataFrame, *, measure: str, dimensions: list[str]) -> go.Figure:
    """Line over time when the view has periods, bars otherwise; one colour per combination of dimensions."""
    frame = frame.copy()
    colour = None
    if dimensions:
        # a dimension may be missing for some rows (no label yet): the group is named "none", not a NaN
        frame["group"] = frame[dimensions].apply(
            lambda column: column.map(lambda value: "none" if pd.isna(value) else str(value))).agg(" · ".join, axis=1)
        colour = "group"
    if "period" in frame:
        figure = px.line(frame, x="period", y=measure, color=colour, template=QUORUM_TEMPLATE,
                         labels={"period": "", "group": ""})
    else:
        x = "group" if dimensions else None
        figure = px.bar(frame, x=x, y=measure, template=QUORUM_TEMPLATE, labels={"group": ""})
    figure.update_layout(height=380, title=measure.replace("_", " "))
    return figure


def drift_heatmap(heat: pd.DataFrame, *, watch: float, act: float) -> go.Figure:
    """PSI by feature (rows) and period (columns); colour bands at the model's watch and act levels."""
    capped = heat.clip(upper=act * 1.0001)  # everything at or beyond "act" shares the red band
    figure = go.Figure(go.Heatmap(
        z=capped.to_numpy(), x=list(heat.columns), y=list(heat.index), customdata=heat.to_numpy(),
        zmin=0, zmax=act * 1.0001,
        colorscale=[[0.0, "#EEF2F6"], [watch / (act * 1.0001), "#EEF2F6"], [watch / (act * 1.0001), "#F2C14E"],
                    [0.9999, "#F2C14E"], [1.0, "#C0392B"]],
        colorbar={"title": "PSI", "tickvals": [0, watch, act], "ticktext": ["0", f"watch {watch:g}", f"act {act:g}"]},
        hovertemplate="%{y} · %{x|%Y-%m-%d}: PSI %{customdata:.3f}<extra></extra>", xgap=1, ygap=1))
    figure.update_layout(template=QUORUM_TEMPLATE, height=120 + 26 * len(heat), title="Drift by feature over time",
                         yaxis={"autorange": "reversed"})
    return figure


def distribution_chart(distribution: pd.DataFrame, *, feature: str) -> go.Figure:
    """Reference against current share per bin of one feature."""
    figure = go.Figure([
        go.Bar(name="reference", x=distribution["bin_label"], y=distribution["reference_share"]),
        go.Bar(name="current window", x=distribution["bin_label"], y=distribution["current_share"]),
    ])
    figure.update_layout(template=QUORUM_TEMPLATE, barmode="group", height=340,
                         title=f"{feature}: reference and current distribution", yaxis_tickformat=".0%")
    return figure


QUALITY_STATUS_COLOURS = {"ok": "#3A9A6E", "warn": "#F2C14E", "fail": "#C0392B", "not judged": "#C9C9C9"}


def quality_trend_chart(trend: pd.DataFrame, *, check: str, warn: float | None = None, fail: float | None = None,
                        days: bool = False) -> go.Figure:
    """One data-quality check's value per period: a line per version and feature, each point coloured by its status.

    trend holds the rows of one check (version, period, feature, value, status); periods that were not judged
    have no value and leave a gap. warn and fail, when given, are drawn as the check's levels.
    """
    frame = trend.copy()
    frame["period"] = pd.to_datetime(frame["period"])
    frame["series"] = frame["version"] + frame["feature"].fillna("").map(lambda f: f" {f}" if f else "")
    figure = go.Figure()
    for series, rows in frame.groupby("series", sort=True):
        rows = rows.sort_values("period")
        figure.add_trace(go.Scatter(
            x=rows["period"], y=rows["value"], mode="lines+markers", name=series, text=rows["status"],
            marker={"color": [QUALITY_STATUS_COLOURS.get(s, "#8C8C8C") for s in rows["status"]], "size": 7},
            hovertemplate=f"{series} · %{{x|%Y-%m-%d}}: %{{y}} (%{{text}})<extra></extra>"))
    for level, colour, name in ((warn, "#F2C14E", "warn"), (fail, "#C0392B", "fail")):
        if level is not None:
            figure.add_hline(y=level, line_dash="dot", line_color=colour, annotation_text=name,
                             annotation_position="top left")
    figure.update_layout(template=QUORUM_TEMPLATE, height=340, title=f"{check} over time",
                         yaxis_title="days" if days else "share of rows")
    if not days:
        figure.update_yaxes(tickformat=".1%")
    return figure


ESTIMATE_COLOURS = ("#2E6DB4", "#D9822B", "#3A9A6E", "#8E44AD")   # one per version, in order


def estimate_chart(rows: pd.DataFrame, *, title: str, target: float | None = None,
                   unreliable: tuple[str, ...] = ()) -> go.Figure:
    """One metric's estimate from scores (dashed, with its 95% interval shaded) beside its realised figure (solid,
    where labels arrived), per version. rows: performance_estimate's rows of one metric (version, period, estimate,
    ci_low, ci_high, realised). A version in `unreliable` (its calibration check fails) is named so in the legend."""
    figure = go.Figure()
    for i, (version, part) in enumerate(rows.sort_values("period").groupby("version", sort=True)):
        colour = ESTIMATE_COLOURS[i % len(ESTIMATE_COLOURS)]
        red, green, blue = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
        caveat = " (NOT reliable)" if version in unreliable else ""
        figure.add_trace(go.Scatter(x=part["period"], y=part["ci_high"], mode="lines", line={"width": 0},
                                    hoverinfo="skip", showlegend=False, legendgroup=f"estimate {version}"))
        figure.add_trace(go.Scatter(x=part["period"], y=part["ci_low"], mode="lines", line={"width": 0},
                                    fill="tonexty", fillcolor=f"rgba({red}, {green}, {blue}, 0.15)",
                                    name=f"{version} 95% interval", legendgroup=f"estimate {version}",
                                    hoverinfo="skip"))
        figure.add_trace(go.Scatter(x=part["period"], y=part["estimate"], mode="lines",
                                    line={"color": colour, "dash": "dash"}, name=f"{version} estimated{caveat}",
                                    legendgroup=f"estimate {version}",
                                    customdata=part[["ci_low", "ci_high"]].to_numpy(),
                                    hovertemplate=(f"{version} estimated · %{{x|%Y-%m-%d}}: %{{y:.1%}} (95% "
                                                   "%{customdata[0]:.1%} to %{customdata[1]:.1%})<extra></extra>")))
        figure.add_trace(go.Scatter(x=part["period"], y=part["realised"], mode="lines+markers",
                                    line={"color": colour}, marker={"size": 4}, name=f"{version} realised",
                                    hovertemplate=f"{version} realised · %{{x|%Y-%m-%d}}: %{{y:.1%}}<extra></extra>"))
    if target is not None:
        figure.add_hline(y=target, line_dash="dot", line_color="#C0392B", annotation_text="SLO",
                         annotation_position="top left")
    figure.update_layout(template=QUORUM_TEMPLATE, height=340, title=title)
    figure.update_yaxes(tickformat=".1%")
    return figure
