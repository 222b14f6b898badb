"""How values read on screen, defined once for every page: figures, amounts, rates, KPI names, moments and counts.

A figure that cannot be computed says so ("not computable") instead of showing 0. A value that is simply absent
(no closing time yet, no residual score, no problem) is blank: never "None", "NaT", "nan" or a dash.
"""

from __future__ import annotations

import math
import re

from datetime import date, datetime, timezone

from governance.vocabulary import KPI_LABELS, KPI_RATIOS

NOT_COMPUTABLE = "not computable"
ABSENT = ""


def is_absent(value) -> bool:
    """None, NaN, NaT, pandas' NA and the empty string: nothing to show."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    try:
        return bool(value != value)   # NaN, NaT (and pandas' NA, whose comparison cannot be a bool)
    except (TypeError, ValueError):
        return True


def cell(value) -> str:
    """A table cell: the value as text, or blank when it is simply absent."""
    if is_absent(value):
        return ABSENT
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return str(value)


# --- figures ---------------------------------------------------------------------------------------------------
def percent(value: float | None, *, digits: int = 1) -> str:
    return NOT_COMPUTABLE if is_absent(value) else f"{value:.{digits}%}"


def _ms_figure(size: float) -> str:
    """Whole milliseconds from 100 ms up; three significant figures below, so that a fast service's 3.0 -> 3.6 ms
    shows as such rather than as 3 -> 4."""
    if abs(size) >= 100 or size == 0:
        return f"{size:,.0f}"
    decimals = min(3, 2 - math.floor(math.log10(abs(size))))   # to the microsecond at most
    return f"{size:.{decimals}f}".rstrip("0").rstrip(".")


def milliseconds(value: float | None) -> str:
    return NOT_COMPUTABLE if is_absent(value) else f"{_ms_figure(value)} ms"


def usd(value: float | None, *, digits: int = 0) -> str:
    if is_absent(value):
        return NOT_COMPUTABLE
    return f"{'-' if value < 0 else ''}${abs(value):,.{digits}f}"


COMPACT_UNITS = ((1e9, "B"), (1e6, "M"), (1e3, "k"))


def compact(value: float | None, *, digits: int = 0, exact_below: float = 1e4) -> str:
    """A figure short enough for a tile: below `exact_below` as it is (with `digits` decimals and thousands
    separators), above it with three significant digits and k, M or B: 14,890,000 -> 14.9M, 426,100 -> 426k."""
    if is_absent(value):
        return NOT_COMPUTABLE
    size = abs(value)
    if size < exact_below:
        return f"{value:,.{digits}f}"
    for step, (divisor, suffix) in enumerate(COMPACT_UNITS):
        if size >= divisor or step == len(COMPACT_UNITS) - 1:
            scaled = size / divisor
            decimals = 2 if scaled < 10 else 1 if scaled < 100 else 0
            if round(scaled, decimals) >= 1000 and step > 0:   # 999,960 is 1.00M, not 1000k
                divisor, suffix = COMPACT_UNITS[step - 1]
                scaled, decimals = size / divisor, 2
            return f"{'-' if value < 0 else ''}{scaled:.{decimals}f}{suffix}"
    raise AssertionError("unreachable")


def usd_compact(value: float | None) -> str:
    """Amounts in tiles: $1.60M, $96.8k, $950."""
    if is_absent(value):
        return NOT_COMPUTABLE
    return f"{'-' if value < 0 else ''}${compact(abs(value))}"


def per_minute(value: float | None) -> str:
    """A rate per minute in tiles: 4.5/min, 1.23k/min."""
    return NOT_COMPUTABLE if is_absent(value) else f"{compact(value, digits=1)}/min"


def count(value: int | None) -> str:
    return NOT_COMPUTABLE if is_absent(value) else f"{value:,}"


def count_compact(value: int | None) -> str:
    """A count in a tile: exact up to 99,999, then 123k, 1.23M."""
    return NOT_COMPUTABLE if is_absent(value) else compact(value, exact_below=1e5)


def number(value) -> str:
    """A plain figure with no unit of its own: 1,234 for whole numbers, three significant digits otherwise
    (0.498, 12.3), yes or no for a truth value; blank when absent."""
    if is_absent(value):
        return ABSENT
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """1 row, 2 rows, 1,234 rows; `plural_form` for nouns that do not just take an s (1 query, 2 queries)."""
    return f"{n:,} {noun if n == 1 else plural_form or noun + 's'}"


# --- KPIs: one label per KPI, its figures in its unit --------------------------------------------------------------
def kpi_label(kpi: str) -> str:
    """The one name of a KPI on every page: latency_p95_ms -> 'p95 latency'."""
    return KPI_LABELS.get(kpi, kpi.replace("_", " "))


def heading(label: str) -> str:
    """A label at the start of a tile or a column: its first letter capitalised unless its first word is a code
    such as p95 or CPU."""
    first = label.split(" ", 1)[0]
    return label if any(c.isdigit() or c.isupper() for c in first) else label[:1].upper() + label[1:]


def _unit(kpi: str) -> str:
    if kpi in KPI_RATIOS:
        return "ratio"
    for suffix in ("_ms", "_usd", "_per_min", "_pct", "_mb"):
        if kpi.endswith(suffix):
            return suffix[1:]
    return "count"


def _ratio_digits(value: float) -> int:
    return 2 if abs(value) < 0.1 else 1   # 0.40% and 84.7%


def _usd_figure(value: float, *, sign: str = "") -> str:
    size = abs(value)
    if size < 100:
        digits = 3 if size < 1 else 2
        return f"{'-' if value < 0 else sign}${size:,.{digits}f}"
    return f"{'-' if value < 0 else sign}${compact(size)}"


def kpi_value(kpi: str, value) -> str:
    """A KPI's figure in its unit: 84.4%, 0.40%, 362 ms, $0.345, $28.84, 4.5/min, 54,201."""
    if is_absent(value):
        return NOT_COMPUTABLE
    unit = _unit(kpi)
    if unit == "ratio":
        return percent(value, digits=_ratio_digits(value))
    if unit == "ms":
        return milliseconds(value)
    if unit == "usd":
        return _usd_figure(value)
    if unit == "per_min":
        return per_minute(value)
    if unit == "pct":
        return f"{value:.0f}%"
    if unit == "mb":
        return f"{value:,.0f} MB"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def kpi_change(kpi: str, value) -> str:
    """A difference of a KPI, always signed: +2.20 pp (percentage points), +276 ms, +$0.348."""
    if is_absent(value):
        return NOT_COMPUTABLE
    sign = "+" if value > 0 else "-" if value < 0 else "±"
    unit = _unit(kpi)
    if unit == "ratio":
        points = abs(value) * 100
        return f"{sign}{points:.2f} pp" if points < 10 else f"{sign}{points:.1f} pp"
    if unit == "usd":
        return _usd_figure(value, sign="+") if value else "±$0"
    if unit == "ms":
        return f"{sign}{_ms_figure(abs(value))} ms"
    return sign + kpi_value(kpi, abs(value))


def kpi_interval(kpi: str, low, high) -> str:
    """A 95% interval of a difference: '+1.89 to +2.52 pp'."""
    if is_absent(low) or is_absent(high):
        return NOT_COMPUTABLE
    low_text, high_text = kpi_change(kpi, low), kpi_change(kpi, high)
    for unit in (" pp", " ms"):   # the unit once, at the end
        if low_text.endswith(unit) and high_text.endswith(unit):
            low_text = low_text[:-len(unit)]
    return f"{low_text} to {high_text}"


# --- moments -----------------------------------------------------------------------------------------------------
def _as_utc(value) -> datetime | None:
    """A moment from an ISO text (with or without Z or microseconds), a datetime or a pandas Timestamp, in UTC;
    naive moments are UTC already (the workspace stores UTC)."""
    if is_absent(value):
        return None
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def timestamp(value) -> str:
    """A moment as '2026-09-14 10:03 UTC' (to the minute); blank when absent."""
    moment = _as_utc(value)
    if moment is None:
        return ABSENT if is_absent(value) else str(value)
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def day(value) -> str:
    """A date as '2026-09-14': for values that are days (a review date, the first day of a period)."""
    moment = _as_utc(value)
    if moment is None:
        return ABSENT if is_absent(value) else str(value)
    return f"{moment:%Y-%m-%d}"


def period(value, *, grain: str) -> str:
    """The start of a KPI period: a day or a week as its date, an hour as its moment."""
    return timestamp(value) if grain == "hour" else day(value)


MARKDOWN_SPECIALS = "\\`*_[]$~<>#|&"   # escaping [ and ] already defeats links and images
WORD_JOINER = "\u2060"   # invisible, and no break: the text reads and wraps as before
# Streamlit's markdown (remark-gfm) links bare http://, https:// and www. addresses after the escapes are undone,
# so no backslash can stop it: a word joiner inside the address can.
BARE_ADDRESS = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=www)(?=\.)")


def plain(text) -> str:
    """Text from users or data inside markdown: every character markdown or HTML would act on is escaped, and a
    bare address is kept from becoming a link, so a name like ![x](http://…), <img …> or www.example.com shows
    literally, links nowhere and loads nothing. (E-mail addresses still become mailto: links: they load nothing.)"""
    escaped = "".join(f"\\{c}" if c in MARKDOWN_SPECIALS else c for c in str(text))
    return BARE_ADDRESS.sub(WORD_JOINER, escaped)


def code(text) -> str:
    """Text from users or data as inline code (a column name, a label): a code span shows everything literally,
    links and HTML included, but a backtick in the text would end it, so the fence is longer than any run of
    backticks inside, as CommonMark allows."""
    text = " ".join(str(text).split("\n"))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"
