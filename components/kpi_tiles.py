"""KPI tiles: value, change against the previous window, and a service-level status with its rule."""

from __future__ import annotations

import math

import streamlit as st

from components.formatting import NOT_COMPUTABLE
from governance.service_levels import ServiceLevel

STATUS_BADGE = {"green": ("met", "green"), "amber": ("at risk", "orange"), "red": ("breached", "red"),
                "unknown": ("not judged", "gray")}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def kpi_tile(container, *, label: str, value, previous, show, delta_show=None, lower_is_better: bool = False,
             level: ServiceLevel | None = None, sample: int | None = None, help_text: str | None = None) -> None:
    """One bordered tile. `show` formats the value; the delta is against the previous window of equal length."""
    delta = None
    if not _missing(value) and not _missing(previous):
        delta = (delta_show or show)(value - previous)
        delta = delta if delta.startswith("-") else f"+{delta}"
    with container.container(border=True):
        st.metric(label, NOT_COMPUTABLE if _missing(value) else show(value), delta=delta,
                  delta_color="inverse" if lower_is_better else "normal", help=help_text)
        if level is not None:
            status = level.status(None if _missing(value) else float(value), sample=sample)
            text, colour = STATUS_BADGE[status]
            st.badge(f"SLO {text}", color=colour, help=level.rule())
