"""KPI tiles: value, change against the previous window, and a service-level status with its rule.

Tiles sit in a row that wraps: each tile has a fixed width that holds its longest compact figure ($14.9M,
4.5/min, 1,234 ms) and its label, so a narrow window moves tiles to the next line instead of cutting figures off.
"""

from __future__ import annotations

import math

import streamlit as st

from components.formatting import NOT_COMPUTABLE
from governance.monitoring.service_levels import ServiceLevel

STATUS_BADGE = {"green": ("met", "green"), "amber": ("at risk", "orange"), "red": ("breached", "red"),
                "unknown": ("not judged", "gray")}
TILE_WIDTH_PX = 200   # 2.25rem figures of up to 8 characters, and labels such as "Cost per 1k predictions"
FIGURE_CHAR_PX, LABEL_CHAR_PX, TILE_PADDING_PX, HELP_ICON_PX = 18, 6.2, 34, 22   # measured 16.5, 5.8, 32, 20
BADGE_CHAR_PX, BADGE_PADDING_PX = 6.6, 12   # a badge's small type (26 characters fit 166 px), its padding


def tile_width(label: str, figure: str, *, has_help: bool = False, badge: str = "") -> int:
    """Wide enough for the figure, the label and a badge under them; every ordinary tile gets the same width."""
    needed = max(FIGURE_CHAR_PX * len(figure), LABEL_CHAR_PX * len(label) + (HELP_ICON_PX if has_help else 0),
                 BADGE_CHAR_PX * len(badge) + BADGE_PADDING_PX if badge else 0)
    return max(TILE_WIDTH_PX, math.ceil(TILE_PADDING_PX + needed))   # st.container takes whole pixels


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def tile_row(container=st):
    """A row of tiles that wraps onto the next line when the page is too narrow for all of them."""
    return container.container(horizontal=True, wrap=True, gap="small")


def tile(row, label: str, value: str, *, help_text: str | None = None):
    """One bordered tile with a figure already formatted; returns the tile, for badges under the figure."""
    box = row.container(border=True, width=tile_width(label, value, has_help=help_text is not None))
    box.metric(label, value, help=help_text)
    return box


def kpi_tile(container, *, label: str, value, previous, show, delta_show=None, lower_is_better: bool = False,
             level: ServiceLevel | None = None, status: str = "unknown", budget_left: float | None = None,
             help_text: str | None = None) -> None:
    """One bordered tile in a tile_row(). `show` formats the value; the delta is against the previous window of
    equal length."""
    delta = None
    if not _missing(value) and not _missing(previous):
        delta = (delta_show or show)(value - previous)
        delta = delta if delta.startswith("-") else f"+{delta}"
    figure = NOT_COMPUTABLE if _missing(value) else show(value)
    badge = ""
    if level is not None:   # the objective's status from its error budget (SloJudgment.status), its budget left
        text, colour = STATUS_BADGE[status]
        left = "budget not computable" if budget_left is None else \
            f"{max(budget_left, 0.0):.0%} budget left" if budget_left > 0 else "budget spent"
        badge = f"SLO {text} · {left}"
    with container.container(border=True, width=tile_width(label, figure, has_help=help_text is not None,
                                                           badge=badge)):
        st.metric(label, figure, delta=delta,
                  delta_color="inverse" if lower_is_better else "normal", help=help_text)
        if badge:
            st.badge(badge, color=colour, help=level.rule())
