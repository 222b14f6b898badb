"""The 5 × 5 likelihood × impact heat map of the risk register: one square per cell, the count of risks in it."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import plotly.graph_objects as go

from components.theme import QUORUM_TEMPLATE
from governance.decisions.risks import level

BAND_FILLS = {"low": "#DDF2E5", "medium": "#FCF3CF", "high": "#FCEBD3", "critical": "#F9DAD6"}
SCALE = range(1, 6)


def cell_counts(risks: Iterable[dict], *, likelihood: str = "likelihood", impact: str = "impact") -> Counter:
    """(likelihood, impact) → how many risks sit there; risks without both scores are left out."""
    return Counter((r[likelihood], r[impact]) for r in risks if r.get(likelihood) and r.get(impact))


def heat_map(risks: Iterable[dict], *, title: str, likelihood: str = "likelihood",
             impact: str = "impact") -> go.Figure:
    """Likelihood across, impact up; each cell coloured by its band (low to critical) and labelled with its count.

    The cells are scatter points, so a click selects one (st.plotly_chart on_select) and returns its x and y."""
    counts = cell_counts(risks, likelihood=likelihood, impact=impact)
    xs, ys, fills, labels, hovers = [], [], [], [], []
    for impact_score in SCALE:
        for likelihood_score in SCALE:
            n = counts.get((likelihood_score, impact_score), 0)
            band = level(likelihood_score * impact_score)
            xs.append(likelihood_score)
            ys.append(impact_score)
            fills.append(BAND_FILLS[band])
            labels.append(str(n) if n else "")
            hovers.append(f"likelihood {likelihood_score} × impact {impact_score} = {likelihood_score * impact_score}"
                          f" ({band})<br>{n} risk{'s' if n != 1 else ''}")
    figure = go.Figure(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=labels, textposition="middle center",
        textfont={"size": 16, "color": "#262730"}, hovertext=hovers, hoverinfo="text",
        marker={"symbol": "square", "size": 52, "color": fills, "line": {"color": "#FFFFFF", "width": 2}},
        showlegend=False))
    axis = {"range": [0.5, 5.5], "tickmode": "array", "tickvals": list(SCALE), "showgrid": False,
            "fixedrange": True}
    figure.update_layout(template=QUORUM_TEMPLATE, title=title, width=380, height=380,
                         margin={"l": 60, "r": 10, "t": 50, "b": 50}, clickmode="event+select",
                         xaxis={**axis, "title": "likelihood"}, yaxis={**axis, "title": "impact"})
    return figure
