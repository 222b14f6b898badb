"""Plotly figures of SHAP explanations. They take the explanation service's stored figures and draw them as they are.

`units` is the words for the output's units as the axis titles say them: "log-odds" or "probability".
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from matplotlib.colors import LinearSegmentedColormap, to_rgba
from matplotlib.figure import Figure

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


# Dots are pictures. The beeswarm shows 2,000 rows of a dozen inputs, ~24,000 dots, and the dependence plot 2,000: as
# SVG (one element per dot) they kept the browser busy for 5 to 9 s on every visit, and as WebGL (software-rendered
# where there is no GPU) for about 2 s. So the dots are drawn here, with matplotlib, into one PNG at twice the usual
# plot size, laid exactly over the figure's axes. The axes, labels, colour scale and legend stay Plotly's, and a
# transparent grid of cells answers the hover: how many applicants are in that stretch, and which values they have.
PICTURE_SCALE = 2                  # picture pixels per screen pixel: sharp on high-density screens
SWARM_PICTURE = (1800, 80)         # width, and height per input, of the beeswarm's picture
DEPENDENCE_PICTURE = (1800, 560)
SWARM_DOT, DEPENDENCE_DOT = 4, 5   # diameters on screen (px)
HOVER_COLUMNS, HOVER_ROWS = 48, 20
_LOW_HIGH_MAP = LinearSegmentedColormap.from_list("low_high", [colour for _, colour in LOW_HIGH])
_TRANSPARENT = [[0.0, "rgba(0,0,0,0)"], [1.0, "rgba(0,0,0,0)"]]


def _dots_picture(x: np.ndarray, y: np.ndarray, rgba: np.ndarray, *, x_range: tuple[float, float],
                  y_range: tuple[float, float], size: tuple[int, int], dot: float) -> str:
    """The dots as a transparent PNG data URI whose edges are exactly x_range and y_range (y_range may run
    downwards: (bottom value, top value) as the axis shows them)."""
    width, height = size
    figure = Figure(figsize=(width / 100, height / 100), dpi=100)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    axes.set_xlim(*x_range)
    axes.set_ylim(*y_range)
    diameter_points = dot * PICTURE_SCALE * 72 / 100
    axes.scatter(x, y, s=diameter_points ** 2, c=rgba, linewidths=0)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", transparent=True, dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _lay_picture(figure: go.Figure, source: str, *, x_range: tuple[float, float], y_top: float,
                 y_height: float) -> None:
    figure.add_layout_image(source=source, xref="x", yref="y", x=x_range[0], y=y_top, sizex=x_range[1] - x_range[0],
                            sizey=y_height, xanchor="left", yanchor="top", sizing="stretch", layer="below")


def _bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.digitize(values, edges[1:-1]), 0, len(edges) - 2)


def _describe(rows: pd.DataFrame, *, name: str, value: str, number: str) -> str:
    """The values of one input among some applicants: a numeric input's range and median, a categorical input's
    most frequent categories."""
    if rows[number].notna().all():
        v = rows[number]
        return (f"{name} = {value_text(float(v.min()))} to {value_text(float(v.max()))} "
                f"(median {value_text(float(v.median()))})")
    counts = rows[value].fillna("(missing)").astype(str).value_counts()
    return f"{name} most often " + ", ".join(f"{_hover_text(c)} ({n:,})" for c, n in counts.head(3).items())


def _applicants(count: int) -> str:
    return f"{count:,} applicant{'' if count == 1 else 's'}"


def _hover_grid(text: list[list[str | None]], *, x: list[float], y: list[float]) -> go.Heatmap:
    """An invisible heatmap over the picture: each cell's sentence on hover, nothing where no dot is."""
    return go.Heatmap(x=x, y=y, z=[[None if t is None else 1 for t in row] for row in text], text=text,
                      hovertemplate="%{text}<extra></extra>", hoverongaps=False, colorscale=_TRANSPARENT,
                      showscale=False, name="")


def _colour_scale_key(*, title: str, cmin: float = 0.0, cmax: float = 1.0, ticks: dict | None = None,
                      length: float = 0.6) -> go.Scatter:
    """A trace with no data, there only to show the colour scale of the picture's dots."""
    return go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                      marker={"color": [cmin], "colorscale": LOW_HIGH, "cmin": cmin, "cmax": cmax, "showscale": True,
                              "colorbar": {"title": {"text": title, "side": "right"}, "thickness": 12, "len": length,
                                           "outlinewidth": 0, **(ticks or {})}})


def _legend_key(name: str, colour: str, opacity: float) -> go.Scatter:
    """A trace with no data, there only to name a colour of the picture's dots in the legend."""
    return go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                      marker={"size": 7, "color": colour, "opacity": opacity})


def _padded(low: float, high: float, share: float = 0.03) -> tuple[float, float]:
    pad = share * ((high - low) or 1.0)
    return low - pad, high + pad


def beeswarm_chart(values: pd.DataFrame, *, order: list[str], units: str, seed: int = 0) -> go.Figure:
    """One dot per row and input at its SHAP value; inputs ordered by importance; colour = the input's value.

    `values` has columns row_id, feature, shap, value (text) and value_number (NaN for categorical inputs, drawn
    in grey). The dots travel as one picture; hovering a stretch of an input's band says how many applicants are
    there and which values they have.
    """
    rng = np.random.default_rng(seed)
    by_feature = dict(tuple(values.groupby("feature", sort=False)))
    shown = [f for f in order if f in by_feature]
    shap = values.loc[values["feature"].isin(shown), "shap"].to_numpy(np.float64)
    x_range = _padded(min(float(shap.min()), 0.0), max(float(shap.max()), 0.0)) if len(shap) else (-1.0, 1.0)
    edges = np.linspace(*x_range, HOVER_COLUMNS + 1)
    xs, ys, colours, hover = [], [], [], []
    categorical = False
    for position, feature in enumerate(shown):
        part = by_feature[feature]
        name = label(feature)
        xs.append(part["shap"].to_numpy(np.float64))
        ys.append(position + _spread(xs[-1], rng))
        if part["value_number"].notna().all():
            colours.append(_LOW_HIGH_MAP(_scaled(part["value_number"]).to_numpy(np.float64), alpha=0.75))
        else:
            categorical = True
            colours.append(np.tile(to_rgba(NEUTRAL, 0.55), (len(part), 1)))
        cells: list[str | None] = [None] * HOVER_COLUMNS
        for cell, rows in part.groupby(_bins(xs[-1], edges), sort=False):
            cells[cell] = (f"{name}: {_applicants(len(rows))} with SHAP {edges[cell]:+.2f} to {edges[cell + 1]:+.2f} "
                           f"{units}<br>" + _describe(rows, name=name, value="value", number="value_number"))
        hover.append(cells)
    figure = go.Figure()
    if shown:
        size = (SWARM_PICTURE[0], SWARM_PICTURE[1] * len(shown))
        _lay_picture(figure, _dots_picture(np.concatenate(xs), np.concatenate(ys), np.concatenate(colours),
                                           x_range=x_range, y_range=(len(shown) - 0.5, -0.5), size=size,
                                           dot=SWARM_DOT), x_range=x_range, y_top=-0.5, y_height=len(shown))
        figure.add_trace(_hover_grid(hover, x=list((edges[:-1] + edges[1:]) / 2), y=list(range(len(shown)))))
    figure.add_trace(_colour_scale_key(title="feature value<br>(low → high)",
                                       ticks={"tickvals": [0, 1], "ticktext": ["low", "high"]}))
    if categorical:
        figure.add_trace(_legend_key("categorical input (no low or high: hover for the categories)", NEUTRAL, 0.55))
    figure.add_vline(x=0, line_color="#8C8C8C", line_width=1)
    figure.update_layout(
        template=QUORUM_TEMPLATE, height=max(320, 130 + 40 * len(shown)), showlegend=categorical,
        title="How each input moves the score, row by row",
        xaxis={"title": f"SHAP value ({units}): ← lowers the score · raises the score →", "range": list(x_range),
               "showgrid": False},
        yaxis={"tickvals": list(range(len(shown))), "ticktext": [label(f) for f in shown],
               "range": [len(shown) - 0.5, -0.5], "title": "", "ticksuffix": "  ", "showgrid": False,
               "zeroline": False},
        legend={**BOTTOM_LEGEND, "itemsizing": "constant"}, margin={"t": 60, "b": 100})
    return figure


def _hover_text(text) -> str:
    """A value inside Plotly text (a hover template, a tick, a legend entry): braces kept literal (no %{…}
    variable), markup characters escaped."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("{", "&#123;").replace("}", "&#125;"))


def _row_values(values: pd.DataFrame, feature: str) -> pd.DataFrame:
    return values[values["feature"] == feature].set_index("row_id")


def dependence_chart(values: pd.DataFrame, *, feature: str, colour_by: str, units: str, seed: int = 0) -> go.Figure:
    """SHAP value of `feature` against its value (numeric or category axis), coloured by `colour_by`'s value.

    The dots travel as one picture, as in the beeswarm; hovering a cell says how many applicants are there, their
    values of both inputs."""
    rng = np.random.default_rng(seed)
    name, colour_name = label(feature), label(colour_by)
    main, other = _row_values(values, feature), _row_values(values, colour_by)
    frame = main.join(other[["value", "value_number"]].add_suffix("_colour"), how="left").reset_index()
    numeric_x = frame["value_number"].notna().all() and len(frame) > 0
    if numeric_x:
        frame["x"] = frame["value_number"]
        x_range = _padded(float(frame["x"].min()), float(frame["x"].max()))
        x_edges = np.linspace(*x_range, HOVER_COLUMNS + 1)
        xaxis = {"title": f"{name} (value)"}
    else:  # categories along the axis, most raising on the right, with a little jitter so the dots do not pile up
        categories = frame.groupby("value")["shap"].mean().sort_values().index.tolist()
        frame["x"] = frame["value"].map({c: i for i, c in enumerate(categories)}) + rng.uniform(-0.25, 0.25,
                                                                                                 len(frame))
        x_range = (-0.5, len(categories) - 0.5)
        x_edges = np.arange(len(categories) + 1) - 0.5
        xaxis = {"title": f"{name} (category)", "tickvals": list(range(len(categories))),
                 "ticktext": [_hover_text(c) for c in categories], "tickangle": -30 if len(categories) > 5 else 0,
                 "showgrid": False}
    shap = frame["shap"].to_numpy(np.float64)
    y_range = _padded(min(float(shap.min()), 0.0), max(float(shap.max()), 0.0), 0.05) if len(frame) else (-1.0, 1.0)
    y_edges = np.linspace(*y_range, HOVER_ROWS + 1)
    figure = go.Figure()
    numeric_colour = frame["value_number_colour"].notna().all() and len(frame) > 0
    if numeric_colour:
        numbers = frame["value_number_colour"]
        cmin, cmax = float(numbers.quantile(0.05)), float(numbers.quantile(0.95))
        if cmax <= cmin:
            cmin, cmax = float(numbers.min()), float(numbers.max()) + (float(numbers.max()) <= float(numbers.min()))
        rgba = _LOW_HIGH_MAP(((numbers - cmin) / (cmax - cmin)).clip(0, 1).to_numpy(np.float64), alpha=0.7)
        figure.add_trace(_colour_scale_key(title=colour_name, cmin=cmin, cmax=cmax, length=0.7))
    else:
        counts = frame["value_colour"].fillna("(missing)").value_counts()
        kept = counts.index[:MAX_COLOUR_CATEGORIES].tolist()
        colour = frame["value_colour"].fillna("(missing)").where(lambda v: v.isin(kept), "other")
        palette = {category: NEUTRAL if category == "other" else PALETTE[i % len(PALETTE)]
                   for i, category in enumerate(kept + (["other"] if len(counts) > len(kept) else []))}
        rgba = np.array([to_rgba(palette[c], 0.7) for c in colour]).reshape(-1, 4)
        for category, hue in palette.items():
            figure.add_trace(_legend_key(_hover_text(category), hue, 0.7))
    if len(frame):
        _lay_picture(figure, _dots_picture(frame["x"].to_numpy(np.float64), shap, rgba, x_range=x_range,
                                           y_range=y_range, size=DEPENDENCE_PICTURE, dot=DEPENDENCE_DOT),
                     x_range=x_range, y_top=y_range[1], y_height=y_range[1] - y_range[0])
        columns, bands = _bins(frame["x"].to_numpy(np.float64), x_edges), _bins(shap, y_edges)
        text: list[list[str | None]] = [[None] * (len(x_edges) - 1) for _ in range(HOVER_ROWS)]
        for (column, row), cell in frame.groupby([columns, bands], sort=False):
            where = (f"{name} = {_hover_text(categories[column])}" if not numeric_x else
                     f"{name} {value_text(float(x_edges[column]))} to {value_text(float(x_edges[column + 1]))}")
            colour_values = _describe(cell, name=colour_name, value="value_colour", number="value_number_colour")
            text[row][column] = (f"{_applicants(len(cell))}: {where}, SHAP {y_edges[row]:+.2f} to "
                                 f"{y_edges[row + 1]:+.2f} {units}<br>{colour_values}")
        figure.add_trace(_hover_grid(text, x=list((x_edges[:-1] + x_edges[1:]) / 2),
                                     y=list((y_edges[:-1] + y_edges[1:]) / 2)))
    figure.add_hline(y=0, line_color="#8C8C8C", line_width=1)
    figure.update_layout(
        template=QUORUM_TEMPLATE, height=460, showlegend=not numeric_colour,
        title=f"{name}: its value against its contribution, coloured by {colour_name}",
        xaxis={**xaxis, "range": list(x_range)},
        yaxis={"title": f"SHAP value of {name} ({units})", "range": list(y_range)},
        legend={**BOTTOM_LEGEND, "title": {"text": f"{colour_name}: "}}, margin={"t": 60, "b": 130})
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
