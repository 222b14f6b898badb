"""CSV cells that a spreadsheet cannot run. Every CSV that leaves Quorum (the risk register export, Explore's
download, the audit pack's tables) goes through this one module, so there is one rule for what counts as a formula.

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and a leading tab or carriage return
can hide such a start), so such text gets a leading apostrophe and shows as text. Numbers are written as numbers:
a number is never a formula, and `-0.03` must stay a number a spreadsheet can add up.
"""

from __future__ import annotations

import numbers

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe, so it shows as text."""
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_START) else text


def safe_cell(value):
    """Numbers as they are; any other value as neutralised text (a list joined with '; ')."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return value
    return neutralise("; ".join(map(str, value)) if isinstance(value, list) else value)


def frame_csv(frame: pd.DataFrame) -> bytes:
    """A table as UTF-8 CSV bytes: numeric, boolean and date-time columns as pandas writes them, every other cell
    (and every column name) neutralised. Missing values stay empty cells."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
                or pd.api.types.is_datetime64_any_dtype(series)):
            continue
        out[column] = series.astype(object).map(lambda v: v if _missing(v) else safe_cell(v))
    out.columns = [neutralise(c) for c in out.columns]
    # CRLF line ends (RFC 4180), so that a cell holding a lone CR is quoted instead of splitting its row
    return out.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):   # a list or array cell: not missing
        return False
