"""The Explanations page's dot charts (issue 20): the dots are one picture laid over Plotly's axes, not one SVG
element each, so the picture must put every dot where its values are, and the hover grid must account for them."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
from PIL import Image

from components.explanation_charts import SWARM_PICTURE, beeswarm_chart, dependence_chart


def _values(rows: dict[str, list]) -> pd.DataFrame:
    """The service's long table from {feature: [(shap, value), …]}, one row id per position."""
    records = []
    for feature, pairs in rows.items():
        for row_id, (shap, value) in enumerate(pairs):
            number = pd.to_numeric(value, errors="coerce") if not isinstance(value, str) else float("nan")
            records.append({"row_id": row_id, "feature": feature, "shap": shap, "value": str(value),
                            "value_number": number})
    return pd.DataFrame(records)


def _picture(figure) -> tuple[np.ndarray, dict]:
    (image,) = figure.layout.images
    data = base64.b64decode(image.source.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA")), image


def _pixel_x(value: float, x_range, width: int) -> int:
    return int(round((value - x_range[0]) / (x_range[1] - x_range[0]) * (width - 1)))


def test_the_beeswarm_draws_each_dot_where_its_shap_value_is_and_nothing_elsewhere():
    values = _values({"age": [(-2.0, 20), (3.0, 60)], "job": [(1.0, "clerk")]})
    figure = beeswarm_chart(values, order=["age", "job"], units="log-odds")
    pixels, image = _picture(figure)
    x_range = figure.layout.xaxis.range
    assert (image.x, image.sizex) == (x_range[0], x_range[1] - x_range[0])
    assert (image.y, image.sizey, image.yanchor) == (-0.5, 2, "top")   # the two input bands, top to bottom
    height, width = pixels.shape[:2]
    assert (width, height) == (SWARM_PICTURE[0], 2 * SWARM_PICTURE[1])
    alpha = pixels[..., 3]
    band = SWARM_PICTURE[1]
    for shap, row in ((-2.0, 0), (3.0, 0), (1.0, 1)):   # around each dot (its band, ±the spread) something is drawn
        x = _pixel_x(shap, x_range, width)
        assert alpha[row * band:(row + 1) * band, max(x - 6, 0):x + 7].max() > 0, (shap, row)
    for empty in (0.0, -1.0, 2.0):                      # where no row is, nothing is
        x = _pixel_x(empty, x_range, width)
        assert alpha[:, x - 4:x + 5].max() == 0, empty
    left = pixels[:band, :_pixel_x(-1.0, x_range, width)]
    right = pixels[:band, _pixel_x(2.0, x_range, width):]
    drawn = lambda part: part[part[..., 3] > 150][:, :3].astype(int).mean(axis=0)   # noqa: E731
    assert drawn(left)[2] > drawn(left)[0] and drawn(right)[0] > drawn(right)[2]   # low age blue, high age red
    assert [t.type for t in figure.data if t.x is not None and len(t.x) > 1] == ["heatmap"]


def test_the_beeswarm_hover_counts_every_row_of_every_input():
    rng = np.random.default_rng(3)
    ages, jobs = rng.integers(18, 80, 300), rng.choice(["a", "<b>"], 300)
    values = _values({"age": [(float(s), int(a)) for s, a in zip(rng.normal(0, 1, 300), ages)],
                      "job": [(float(s), str(j)) for s, j in zip(rng.normal(0, .3, 300), jobs)]})
    figure = beeswarm_chart(values, order=["age", "job"], units="log-odds")
    grid = next(t for t in figure.data if t.type == "heatmap")
    counts = [sum(int(re.search(r"([\d,]+) applicants?", c)[1]) for c in band if c) for band in grid.text]
    assert counts == [300, 300]
    text = " ".join(c for band in grid.text for c in band if c)
    assert "&lt;b&gt;" in text and "<b>" not in text   # a category is shown, never read as markup


def test_the_dependence_plot_puts_each_dot_at_its_value_and_contribution():
    values = _values({"age": [(-1.0, 20), (1.0, 60)], "hours": [(0.0, 40), (0.0, 10)]})
    figure = dependence_chart(values, feature="age", colour_by="hours", units="log-odds")
    pixels, image = _picture(figure)
    x_range, y_range = figure.layout.xaxis.range, figure.layout.yaxis.range
    assert (image.x, image.sizex, image.y, image.sizey) == (x_range[0], x_range[1] - x_range[0], y_range[1],
                                                            y_range[1] - y_range[0])
    height, width = pixels.shape[:2]
    alpha = pixels[..., 3]
    for age, shap in ((20, -1.0), (60, 1.0)):
        x = _pixel_x(age, x_range, width)
        y = int(round((y_range[1] - shap) / (y_range[1] - y_range[0]) * (height - 1)))
        assert alpha[max(y - 3, 0):y + 4, max(x - 3, 0):x + 4].max() > 150, (age, shap)
    x = _pixel_x(40, x_range, width)
    assert alpha[:, x - 4:x + 5].max() == 0
    grid = next(t for t in figure.data if t.type == "heatmap")
    cells = sorted(c for band in grid.text for c in band if c)
    assert len(cells) == 2 and all(c.startswith("1 applicant: age ") for c in cells)
    assert ["hours = 40 to 40" in c for c in cells] == [True, False]   # the younger one (age 20…) worked 40 hours
