"""Plotly figures of fairness audits. They take an audit's stored figures and never show an undefined value as 0."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from components.theme import PALETTE, QUORUM_TEMPLATE

ELIGIBLE = PALETTE[0]
TOO_SMALL = "#B8BCC4"
LEFT_OUT = "#A9C0D8"
BOTTOM_LEGEND = {"orientation": "h", "yref": "container", "y": 0.01, "yanchor": "bottom", "x": 0,
                 "xanchor": "left"}   # below the axis title, whatever the chart's height
MUTED = "#6B7280"


def _span(frame: pd.DataFrame) -> tuple[float, float]:
    """The x range that holds every bar, interval and the value written to its right (a few characters: the
    group's size and status are in its axis label, which Plotly always makes room for)."""
    numbers = pd.concat([frame[c] for c in ("value", "ci_low", "ci_high")]).dropna().astype(float)
    low = min(0.0, float(numbers.min())) if len(numbers) else 0.0
    high = max(0.0, float(numbers.max())) if len(numbers) else 1.0
    width = (high - low) or 1.0
    return low - (0.04 * width if low < 0 else 0.0), high + 0.2 * width


def _axis_label(row) -> str:
    """The group, and under it, small and muted, its size and why it is left out (if it is)."""
    status = (" · too small" if row.status == "too_small" else
              " · left out of criteria" if isinstance(row.left_out, str) else "")
    return (f"{html.escape(str(row.group))}<br>"
            f"<span style='font-size:11px;color:{MUTED}'>n = {row.n:,}{status}</span>")


def group_metric_chart(groups: pd.DataFrame, *, metric: str, feature_set: str, min_group_size: int,
                       reference: tuple[float, str] | None = None) -> go.Figure:
    """Horizontal bars of one metric per group with 95% interval whiskers.

    `groups` has columns group, n, status ('ok' | 'too_small'), value, ci_low, ci_high, reason (one row per
    group) and optionally left_out: why a large enough group is still kept out of the criteria on this metric
    (its rate rests on too few people). Groups below the minimum size are grey and hatched, left-out groups pale
    and dotted; a group whose metric is undefined gets no bar, only "not computable" and the reason.
    `reference` draws a dashed line (x, label).
    """
    frame = groups.reset_index(drop=True)
    if "left_out" not in frame:
        frame["left_out"] = None
    shown = frame["status"].where((frame["status"] != "ok") | frame["left_out"].isna(), "left_out")
    labels = frame["group"].tolist()
    figure = go.Figure()
    for status, name, colour, pattern, ink in (
            ("ok", "assessed", ELIGIBLE, "", ELIGIBLE),
            ("left_out", "rate rests on too few people: left out of criteria", LEFT_OUT, ".", ELIGIBLE),
            ("too_small", f"too small (< {min_group_size:,}): left out of disparities", TOO_SMALL, "/", "#7D828C")):
        part = frame[(shown == status) & frame["value"].notna()]
        if part.empty:
            continue
        value = part["value"].astype(float)
        figure.add_trace(go.Bar(
            name=name, orientation="h", y=part["group"], x=value,
            marker={"color": colour, "pattern": {"shape": pattern, "fgcolor": ink, "size": 7}},
            error_x={"type": "data", "symmetric": False, "color": "#30343B" if status != "too_small" else "#7D828C",
                     "thickness": 1.4, "width": 5,
                     "array": (part["ci_high"].astype(float) - value).fillna(0).clip(lower=0),
                     "arrayminus": (value - part["ci_low"].astype(float)).fillna(0).clip(lower=0)},
            customdata=part[["n", "ci_low", "ci_high"]].to_numpy(),
            hovertemplate="%{y}: %{x:.3f} (95% CI %{customdata[1]:.3f}–%{customdata[2]:.3f}), "
                          "n = %{customdata[0]:,}<extra></extra>"))
    missing = frame[frame["value"].isna()]
    if not missing.empty:  # an invisible point keeps the group on the axis; the annotation says why there is no bar
        figure.add_trace(go.Scatter(x=[0.0] * len(missing), y=missing["group"], mode="markers",
                                    marker={"opacity": 0}, showlegend=False, hoverinfo="skip"))
    low, high = _span(frame)
    for row in frame.itertuples(index=False):
        if pd.isna(row.value):   # on two lines, so that it fits beside a long group label in a narrow chart
            text, x = f"<i>not computable:<br>{row.reason or 'undefined'}</i>", 0.0
        else:
            text = f"{row.value:.3f}"
            x = max(float(row.value), float(row.ci_high) if pd.notna(row.ci_high) else float(row.value), 0.0)
        figure.add_annotation(x=x, y=row.group, text=text, showarrow=False, xanchor="left", xshift=6, align="left",
                              font={"size": 12, "color": "#262730" if row.status == "ok" and pd.notna(row.value)
                                    and not isinstance(row.left_out, str) else MUTED})
    if reference is not None:
        x, label = reference
        figure.add_vline(x=x, line_dash="dash", line_color="#C0392B", line_width=1.5,
                         annotation_text=label, annotation_position="top",
                         annotation_font={"size": 11, "color": "#C0392B"})
    figure.update_layout(
        template=QUORUM_TEMPLATE, height=max(260, 120 + 44 * len(labels)), barmode="overlay", bargap=0.35,
        title=f"{metric} by {feature_set}, with 95% intervals",
        xaxis={"range": [low, high], "title": metric},
        yaxis={"categoryorder": "array", "categoryarray": labels, "autorange": "reversed", "title": "",
               "ticklabelstandoff": 8, "tickmode": "array", "tickvals": labels,
               "ticktext": [_axis_label(row) for row in frame.itertuples(index=False)]},
        legend=BOTTOM_LEGEND, margin={"t": 70, "b": 95})
    return figure


def mitigation_chart(preview: dict) -> go.Figure:
    """Selection rate per group: the model's own decisions against the what-if thresholds, on the judged half."""
    before, after = preview["before"]["selection_rate_by_group"], preview["after"]["selection_rate_by_group"]
    groups = list(before)
    figure = go.Figure([
        go.Bar(name="model as deployed", orientation="h", y=groups, x=[before[g] for g in groups],
               marker_color=PALETTE[5], hovertemplate="%{y}: %{x:.3f}<extra>as deployed</extra>"),
        go.Bar(name="what-if thresholds", orientation="h", y=groups, x=[after.get(g) for g in groups],
               marker_color=PALETTE[1], hovertemplate="%{y}: %{x:.3f}<extra>what-if</extra>"),
    ])
    figure.update_layout(template=QUORUM_TEMPLATE, barmode="group", height=max(240, 110 + 44 * len(groups)),
                         title="Selection rate by group: as deployed and under the what-if thresholds",
                         xaxis={"title": "selection rate", "rangemode": "tozero"},
                         yaxis={"autorange": "reversed", "title": "", "ticksuffix": "  "},
                         legend=BOTTOM_LEGEND, margin={"b": 95})
    return figure


def audit_comparison_chart(comparison: pd.DataFrame, *, label_a: str, label_b: str) -> go.Figure:
    """Each criterion of two audits: value with its 95% interval, and the threshold as a grey tick.

    `comparison` has columns row (the y label), threshold, value_a, ci_low_a, ci_high_a, verdict_a and the
    same for b. Rows whose value is not computable get no point.
    """
    numbers = pd.concat([comparison[c] for c in ("threshold", "ci_low_a", "ci_high_a", "ci_low_b", "ci_high_b")])
    numbers = numbers.dropna().astype(float)
    low, high = min(0.0, float(numbers.min())), float(numbers.max()) * 1.04 + 0.01
    figure = go.Figure()
    for tag, label, symbol, colour in (("a", label_a, "circle", PALETTE[0]), ("b", label_b, "diamond", PALETTE[1])):
        part = comparison[comparison[f"value_{tag}"].notna()]
        value = part[f"value_{tag}"].astype(float)
        figure.add_trace(go.Scatter(
            name=label, y=part["row"], x=value, mode="markers", orientation="h",
            marker={"size": 11, "symbol": symbol, "color": colour, "line": {"color": "#FFFFFF", "width": 1}},
            error_x={"type": "data", "symmetric": False, "color": "#6B7280", "thickness": 1.3,
                     "array": part[f"ci_high_{tag}"].astype(float) - value,
                     "arrayminus": value - part[f"ci_low_{tag}"].astype(float)},
            text=part[f"verdict_{tag}"],
            hovertemplate=f"{label} · %{{y}}: %{{x:.3f}} (%{{text}})<extra></extra>"))
    figure.add_trace(go.Scatter(name="threshold", y=comparison["row"], x=comparison["threshold"], mode="markers",
                                orientation="h",
                                marker={"symbol": "line-ns", "size": 22, "line": {"color": "#262730", "width": 2}},
                                hovertemplate="threshold %{x:g}<extra></extra>"))
    figure.update_layout(template=QUORUM_TEMPLATE, scattermode="group", scattergap=0.45,
                         height=max(280, 120 + 42 * len(comparison)),
                         title="Criteria of both audits: value with 95% interval; the black tick is the threshold",
                         xaxis={"title": "criterion value (ratio or difference)", "range": [low, high]},
                         yaxis={"autorange": "reversed", "title": "", "ticksuffix": "  "},
                         legend=BOTTOM_LEGEND, margin={"b": 95})
    return figure
