"""One look for every chart: a plotly template shared by the pages and, later, the exported reports."""

import plotly.graph_objects as go
import plotly.io as pio

PALETTE = ["#2F5D8A", "#D9822B", "#3A9A6E", "#B5485D", "#7A5EA8", "#8C8C8C", "#C9A227", "#4BA3C3"]

QUORUM_TEMPLATE = go.layout.Template(layout=go.Layout(
    font={"family": "Inter, 'Source Sans Pro', 'DejaVu Sans', sans-serif", "size": 13, "color": "#262730"},
    colorway=PALETTE,
    paper_bgcolor="rgba(0,0,0,0)",
    plot_bgcolor="rgba(0,0,0,0)",
    margin={"l": 70, "r": 20, "t": 50, "b": 60},
    title={"x": 0, "xanchor": "left", "font": {"size": 16}},
    xaxis={"gridcolor": "#E6E9EF", "zeroline": False, "automargin": True},
    yaxis={"gridcolor": "#E6E9EF", "zeroline": False, "automargin": True},
    legend={"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0},
    hoverlabel={"font": {"size": 12}},
))
pio.templates["quorum"] = QUORUM_TEMPLATE
