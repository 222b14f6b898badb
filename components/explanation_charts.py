"""Plotly figures of SHAP explanations. They take the explanation service's stored figures and draw them as they are.

`units` is the words for the output's units as the axis titles say them: "log-odds" or "probability".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.theme import PALETTE, QUORUM_TEMPLATE

RAISES = PALETTE[2]
LOWERS = PALETTE[3]
TOTAL = PALETTE[0]
NEUTRAL = "#9AA0A6"
MUTED = "#6B7280"
LOW_HIGH = [[0.0, "#2F5D8A"], [0.5, "#C9C3D6"], [1.0, "#C0392B"]]   # feature value: low blue, high red
BOTTOM_LEGEND = {"orientation": "h", "yref": "container", "y": 0.01, "yanchor": "bottom", "x": 0,
                 "xanchor": "left"}
PROXY_MARK = "⚠"
MAX_COLOUR_CATEGORIES = 8


def label(feature: str) -> str:
    return feature.replace("_", " ")


def value_text(value) -> str:
    """An input's value as people read it: whole numbers as they are, others to 4 significant digits."""
    if isinstance(value, float) and np.isfinite(value):
        if value.is_integer() or abs(value) >= 1_000:
            return f"{value:.0f}"
        return f"{value:.4g}"
    return str(value)


def importance_chart(importance: list[dict], *, units: str) -> go.Figure:
    """Mean |SHAP| per input, largest on top."""
    frame = pd.DataFrame(importance)
    figure = go.Figure(go.Bar(
        orientation="h", y=frame["feature"].map(label), x=frame["mean_abs_shap"], marker_color=TOTAL,
        text=frame["mean_abs_shap"].map(lambda v: f"{v:.3f}"), textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: mean |SHAP| %{x:.4f} " + units + "<extra></extra>"))
    high = float(frame["mean_abs_shap"].max()) if len(frame) else 1.0
    figure.update_layout(
        template=QUORUM_TEMPLATE, height=max(260, 90 + 30 * len(frame)),
        title="Which inputs matter most: average size of their contribution",
        xaxis={"title": f"mean |SHAP| ({units})", "range": [0, high * 1.15 or 1.0], "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "title": "", "ticksuffix": "  "}, margin={"t": 60, "b": 60})
    return figure


def _spread(shap: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vertical offsets in (-0.4, 0.4) that widen where many rows share a SHAP value: a beeswarm's outline."""
    if len(shap) < 2 or np.ptp(shap) == 0:
        return rng.uniform(-0.35, 0.35, len(shap))
    counts, edges = np.histogram(shap, bins=40)
    density = counts[np.clip(np.digitize(shap, edges[1:-1]), 0, len(counts) - 1)] / counts.max()
    return rng.uniform(-1, 1, len(shap)) * (0.06 + 0.34 * density)


def _scaled(numbers: pd.Series) -> pd.Series:
    """A numeric feature's values on 0–1 between its 5th and 95th percentiles (so outliers keep the scale)."""
    low, high = numbers.quantile(0.05), numbers.quantile(0.95)
    if not np.isfinite(high - low) or high <= low:
        low, high = numbers.min(), numbers.max()
    if not np.isfinite(high - low) or high <= low:
        return pd.Series(0.5, index=numbers.index)
    return ((numbers - low) / (high - low)).clip(0, 1)


def beeswarm_chart(values: pd.DataFrame, *, order: list[str], units: str, seed: int = 0) -> go.Figure:
    """One dot per row and input at its SHAP value; inputs ordered by importance; colour = the input's value.

    `values` has columns row_id, feature, shap, value (text) and value_number (NaN for categorical inputs, drawn
    in grey with the category in the hover). The payload stays small: numbers travel as 4-byte (colour: 1-byte)
    binary arrays, and a categorical input is one trace per category, so no dot carries text.
    """
    rng = np.random.default_rng(seed)
    by_feature = dict(tuple(values.groupby("feature", sort=False)))
    shown = [f for f in order if f in by_feature]
    figure = go.Figure()
    scale_shown = legend_shown = False
    for position, feature in enumerate(shown):
        part = by_feature[feature]
        y = position + _spread(part["shap"].to_numpy(np.float64), rng)
        name = label(feature)
        if part["value_number"].notna().all():
            figure.add_trace(go.Scatter(
                x=part["shap"].to_numpy(np.float32), y=y.astype(np.float32), mode="markers", name=name,
                showlegend=False, customdata=part["value_number"].to_numpy(np.float32),
                hovertemplate=f"{name} = %{{customdata:,.6~g}}<br>SHAP %{{x:+.3f}} {units}<extra></extra>",
                marker={"size": 4, "opacity": 0.75, "color": np.round(255 * _scaled(part["value_number"])).to_numpy(
                            np.uint8), "colorscale": LOW_HIGH, "cmin": 0, "cmax": 255, "showscale": not scale_shown,
                        "colorbar": {"title": {"text": "feature value<br>(low → high)", "side": "right"},
                                     "tickvals": [0, 255], "ticktext": ["low", "high"], "thickness": 12, "len": 0.6,
                                     "outlinewidth": 0}}))
            scale_shown = True
            continue
        for category, rows in part.assign(y=y).groupby("value", sort=True):
            figure.add_trace(go.Scatter(
                x=rows["shap"].to_numpy(np.float32), y=rows["y"].to_numpy(np.float32), mode="markers",
                name="categorical input (no low or high: hover for the category)", legendgroup="categorical",
                showlegend=not legend_shown,
                hovertemplate=f"{name} = {_hover_text(category)}<br>SHAP %{{x:+.3f}} {units}<extra></extra>",
                marker={"size": 4, "opacity": 0.55, "color": NEUTRAL}))
            legend_shown = True
    figure.add_vline(x=0, line_color="#8C8C8C", line_width=1)
    figure.update_layout(
        template=QUORUM_TEMPLATE, height=max(320, 130 + 40 * len(shown)),
        title="How each input moves the score, row by row",
        xaxis={"title": f"SHAP value ({units}): ← lowers the score · raises the score →"},
        yaxis={"tickvals": list(range(len(shown))), "ticktext": [label(f) for f in shown],
               "range": [len(shown) - 0.5, -0.5], "title": "", "ticksuffix": "  ", "showgrid": False,
               "zeroline": False},
        legend={**BOTTOM_LEGEND, "itemsizing": "constant"}, margin={"t": 60, "b": 100})
    return figure


def _hover_text(text) -> str:
    """A category inside a hover template: braces kept literal (no %{…} variable), markup characters escaped."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("{", "&#123;").replace("}", "&#125;"))


def _row_values(values: pd.DataFrame, feature: str) -> pd.DataFrame:
    return values[values["feature"] == feature].set_index("row_id")


def dependence_chart(values: pd.DataFrame, *, feature: str, colour_by: str, units: str, seed: int = 0) -> go.Figure:
    """SHAP value of `feature` against its value (numeric or category axis), coloured by `colour_by`'s value."""
    rng = np.random.default_rng(seed)
    main, other = _row_values(values, feature), _row_values(values, colour_by)
    frame = main.join(other[["value", "value_number"]].add_suffix("_colour"), how="left").reset_index()
    numeric_x = frame["value_number"].notna().all() and len(frame) > 0
    if numeric_x:
        frame["x"] = frame["value_number"]
        xaxis = {"title": f"{label(feature)} (value)"}
    else:  # categories along the axis, most raising on the right, with a little jitter so the dots do not pile up
        categories = frame.groupby("value")["shap"].mean().sort_values().index.tolist()
        frame["x"] = frame["value"].map({c: i for i, c in enumerate(categories)}) + rng.uniform(-0.25, 0.25,
                                                                                                 len(frame))
        xaxis = {"title": f"{label(feature)} (category)", "tickvals": list(range(len(categories))),
                 "ticktext": categories, "tickangle": -30 if len(categories) > 5 else 0, "showgrid": False}
    hover = (f"{label(feature)} = %{{customdata[0]}}<br>SHAP %{{y:+.3f}} {units}<br>"
             f"{label(colour_by)} = %{{customdata[1]}}<br>row %{{customdata[2]}}<extra></extra>")
    figure = go.Figure()
    numeric_colour = frame["value_number_colour"].notna().all() and len(frame) > 0
    if numeric_colour:
        figure.add_trace(go.Scatter(
            x=frame["x"], y=frame["shap"], mode="markers", showlegend=False,
            customdata=frame[["value", "value_colour", "row_id"]].to_numpy(), hovertemplate=hover,
            marker={"size": 5, "opacity": 0.7, "color": frame["value_number_colour"], "colorscale": LOW_HIGH,
                    "cmin": frame["value_number_colour"].quantile(0.05),
                    "cmax": frame["value_number_colour"].quantile(0.95),
                    "colorbar": {"title": {"text": label(colour_by), "side": "right"}, "thickness": 12,
                                 "len": 0.7, "outlinewidth": 0}}))
    else:
        counts = frame["value_colour"].fillna("(missing)").value_counts()
        kept = counts.index[:MAX_COLOUR_CATEGORIES].tolist()
        colour = frame["value_colour"].fillna("(missing)").where(lambda v: v.isin(kept), "other")
        for i, category in enumerate(kept + (["other"] if len(counts) > len(kept) else [])):
            part = frame[colour == category]
            figure.add_trace(go.Scatter(
                x=part["x"], y=part["shap"], mode="markers", name=category,
                customdata=part[["value", "value_colour", "row_id"]].to_numpy(), hovertemplate=hover,
                marker={"size": 5, "opacity": 0.7,
                        "color": NEUTRAL if category == "other" else PALETTE[i % len(PALETTE)]}))
    figure.add_hline(y=0, line_color="#8C8C8C", line_width=1)
    figure.update_layout(
        template=QUORUM_TEMPLATE, height=460,
        title=f"{label(feature)}: its value against its contribution, coloured by {label(colour_by)}",
        xaxis=xaxis, yaxis={"title": f"SHAP value of {label(feature)} ({units})"},
        legend={**BOTTOM_LEGEND, "title": {"text": f"{label(colour_by)}: "}}, margin={"t": 60, "b": 130})
    return figure


def waterfall_chart(row: dict, *, units: str, top: int = 10, threshold: float | None = None) -> go.Figure:
    """From the base value (an average applicant), through the largest contributions, to this row's output."""
    contributions = row["contributions"]
    shown, rest = contributions[:top], contributions[top:]
    labels = ["average applicant (base value)"] + [f"{label(c['feature'])} = {value_text(c['value'])}" for c in shown]
    values = [row["base_value"]] + [c["shap"] for c in shown]
    measures = ["absolute"] + ["relative"] * len(shown)
    if rest:
        labels.append(f"other {len(rest)} features")
        values.append(float(sum(c["shap"] for c in rest)))
        measures.append("relative")
    labels.append("this applicant's score (model output)")
    values.append(row["output"])
    measures.append("total")
    text = ([f"{row['base_value']:.3f}"] + [f"{v:+.3f}" for v in values[1:-1]] + [f"{row['output']:.3f}"])
    figure = go.Figure(go.Waterfall(
        orientation="h", y=labels, x=values, measure=measures, text=text, textposition="outside",
        cliponaxis=False, connector={"line": {"color": "#B8BCC4", "width": 1}},
        increasing={"marker": {"color": RAISES}}, decreasing={"marker": {"color": LOWERS}},
        totals={"marker": {"color": TOTAL}},
        hovertemplate="%{y}: %{text} " + units + "<extra></extra>"))
    running = np.cumsum([row["base_value"]] + [v for v in values[1:-1]])
    # The axis spans the path from the base value to the output (the base and output bars, drawn from 0, may run
    # off its edge): the contributions are what the reader compares.
    low, high = float(min(running.min(), row["output"])), float(max(running.max(), row["output"]))
    if threshold is not None:
        low, high = min(low, threshold), max(high, threshold)
        figure.add_vline(x=threshold, line_dash="dash", line_color="#C0392B", line_width=1.3,
                         annotation_text="approval threshold", annotation_position="top",
                         annotation_font={"size": 11, "color": "#C0392B"})
    pad = 0.14 * ((high - low) or 1.0)
    figure.update_layout(
        template=QUORUM_TEMPLATE, height=max(320, 110 + 34 * len(labels)), showlegend=False,
        title=f"From an average applicant to this applicant's score ({units})",
        xaxis={"title": units, "range": [low - pad, high + pad], "zeroline": False},
        yaxis={"autorange": "reversed", "title": "", "ticksuffix": "  ", "type": "category"},
        margin={"t": 80, "b": 60})
    return figure


def cohort_chart(cohort: dict, *, order: list[str], units: str, top: int = 10) -> go.Figure:
    """Mean |SHAP| of each input by group of one sensitive attribute; possible proxies marked with ⚠."""
    attribute = cohort["attribute"]
    by_feature = {f["feature"]: f for f in cohort["features"]}
    features = [f for f in order if f in by_feature][:top]
    ticks = [f"{PROXY_MARK} {label(f)}" if by_feature[f]["proxy"] else label(f) for f in features]
    proxies = any(by_feature[f]["proxy"] for f in features)
    some = f", the {len(features)} most important inputs" if len(features) < len(by_feature) else ""
    figure = go.Figure()
    for i, group in enumerate(cohort["groups"]):
        figure.add_trace(go.Bar(
            orientation="h", y=ticks, x=[by_feature[f]["mean_abs_shap_by_group"][group] for f in features],
            name=f"{group} (n = {cohort['sizes'][group]:,})", marker_color=PALETTE[i % len(PALETTE)],
            hovertemplate=f"{attribute} = {group} · %{{y}}: mean |SHAP| %{{x:.4f}} {units}<extra></extra>"))
    if proxies:
        figure.add_annotation(
            text=f"{PROXY_MARK} possible proxy for {attribute}: strongly associated with it and among the most "
                 "important inputs", xref="paper", yref="paper", x=0, y=1.0, yanchor="bottom", xanchor="left",
            showarrow=False, font={"size": 12, "color": "#9A3412"})
    figure.update_layout(
        template=QUORUM_TEMPLATE, barmode="group", bargap=0.25,
        height=max(320, 150 + len(features) * (10 + 12 * len(cohort["groups"]))),
        title={"text": f"Importance by {attribute}: mean |SHAP| per group{some}", "y": 0.99, "yanchor": "top",
               "yref": "container"},
        xaxis={"title": f"mean |SHAP| ({units})", "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "title": "", "ticksuffix": "  "},
        legend={**BOTTOM_LEGEND, "title": {"text": f"{attribute}: "}}, margin={"t": 80 if proxies else 50, "b": 100})
    return figure
