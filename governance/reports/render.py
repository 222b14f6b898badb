"""A report's JSON content rendered as one self-contained HTML file (inline CSS and SVG charts, a Content Security
Policy that forbids any request) and as a PDF printed from that same HTML by WeasyPrint, with running headers,
page numbers and a table of contents. Jinja2 escapes every value, so user text (a risk title with markup in it)
prints as the literal text it is.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Callable

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from governance.errors import GovernanceError
from governance.monitoring.service_levels import KPIS
from governance.reports.charts import charts_for

TEMPLATES = Path(__file__).parent / "templates"
TITLES = {"model": ("Model version report", "Model card and governance record"),
          "review": ("Committee review report", "Committee review"),
          "coverage": ("Framework coverage report", "Portfolio coverage"),
          "annex-iv": ("EU AI Act technical documentation", "Annex IV technical documentation")}
TEMPLATE_OF = {"annex-iv": "annex_iv.html.j2"}   # other kinds: <kind>.html.j2
CONTENTS = {
    "model": [("card", "1. Model card"), ("kpis", "2. Performance and service levels"), ("drift", "3. Data drift"),
              ("fairness", "4. Fairness audits"), ("explanation", "5. Explanation of the model's decisions"),
              ("risks", "6. Risks"), ("decisions", "7. Decisions and signatures"),
              ("appendix", "Appendices: daily figures, integrity")],
    "review": [("request", "1. The request"), ("evidence", "2. The frozen evidence"),
               ("votes", "3. Votes and decision"), ("conditions", "4. Conditions")],
}
NO_PDF = ("PDF export needs the Pango text library, which is not installed: on Debian or Ubuntu run "
          "'sudo apt-get install libpango-1.0-0 libpangoft2-1.0-0', or export HTML and print it to PDF")
Progress = Callable[[float, str], None]


class PdfUnavailableError(GovernanceError):
    """WeasyPrint's system libraries are missing on this machine."""


def to_json(report: dict) -> bytes:
    """The JSON export: indented, UTF-8, keys in the order the schema lists them."""
    return json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def pct(value, digits: int = 1) -> str:
    return "not computable" if value is None else f"{value:.{digits}%}"


def num(value, digits: int = 3) -> str:
    if value is None:
        return "not computable"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def ms(value) -> str:
    return "not computable" if value is None else f"{value:,.0f} ms"


def kpi_value(kpi: str, value) -> str:
    return ms(value) if kpi.endswith("_ms") else pct(value, 2 if kpi == "error_rate" else 1)


def kpi_label(kpi: str) -> str:
    return KPIS[kpi].label if kpi in KPIS else kpi.replace("_", " ")


def interval(low, high) -> str:
    return "—" if low is None or high is None else f"{low:.3f} to {high:.3f}"


def count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def group_label(group: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in group.items())


def metric(group: dict, name: str) -> str:
    if group.get("suppressed"):
        return "withheld"
    found = (group.get("metrics") or {}).get(name)
    return "—" if found is None else num(found.get("value"), 3)


def ledger_line(state: dict) -> str:
    if state.get("ok"):
        events = ((state.get("chains") or {}).get("risk register") or {}).get("rows", 0)
        return (f"Ledger verified: {state['entries']:,} entries and {events:,} risk register events; hash chains, "
                "signatures and anchor intact")
    if state.get("problems"):
        more = len(state["problems"]) - 1
        return f"RECORD FAILED VERIFICATION: {state['problem']}" + (f" (and {more} more problems)" if more else "")
    return f"LEDGER NOT VERIFIED: {state.get('problem')}"


def cell(value) -> str:
    """A value of an Annex IV point's facts or tables as text: numbers readable, nothing missing printed as 0."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def point_anchor(ref_id: str) -> str:
    """An id for an Annex IV point: 1(a) -> p-1a."""
    return "p-" + "".join(c for c in ref_id if c.isalnum())


def _contents(report: dict) -> list[tuple[str, str]]:
    if report["kind"] == "annex-iv":
        headings = {}
        for p in report["points"]:
            headings.setdefault(p["point"], (point_anchor(p["ref_id"]) if p["ref_id"] == p["point"]
                                              else f"h-{p['point']}", f"{p['point']}. {p['heading']}"))
        return [("summary", "Summary: points filled and gaps"), *headings.values(),
                ("gaps", "What is missing and how to fill it"), ("integrity", "Integrity")]
    if report["kind"] == "coverage":
        fixed = [("summary", "1. Summary")]
        fixed += [(f"fw-{f['framework']}", f"{i + 2}. {f['name']}") for i, f in enumerate(report["frameworks"])]
        return fixed + [("register", f"{len(report['frameworks']) + 2}. The risks behind the coverage")]
    return CONTENTS[report["kind"]]


_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True,
                   default_for_string=True), trim_blocks=True, lstrip_blocks=True)
_ENV.globals.update(pct=pct, num=num, ms=ms, kpi_value=kpi_value, kpi_label=kpi_label, interval=interval, count=count,
                    group_label=group_label, metric=metric, ledger_line=ledger_line, cell=cell,
                    point_anchor=point_anchor)


def _subtitle(report: dict) -> str:
    if report["kind"] == "model":
        card = report["model_card"]
        return f"{card['model']} {card['version']}: {card['purpose']}"
    if report["kind"] == "annex-iv":
        s = report["summary"]
        return (f"{report['model']} {report['version']}: {s['filled']} of {s['points']} points filled from the "
                f"record, {s['gaps']} gaps")
    if report["kind"] == "review":
        v = report["review"]
        return f"{v['review_id']}: {v['model']} {v['version']}, {v['from_stage']} to {v['gate']}"
    return "NIST AI RMF 1.0, EU AI Act and ISO/IEC 42001 across the portfolio"


def render_html(report: dict, *, charts: dict[str, str] | None = None) -> str:
    """The report as one HTML document that needs nothing else: no script, font or image is fetched."""
    charts = charts_for(report) if charts is None else charts
    title, kicker = TITLES[report["kind"]]
    return _ENV.get_template(TEMPLATE_OF.get(report["kind"], f"{report['kind']}.html.j2")).render(
        r=report, title=title, kicker=kicker, subtitle=_subtitle(report), toc=_contents(report),
        charts={name: Markup(svg) for name, svg in charts.items()})   # SVG from matplotlib, which escapes its text


def html_to_pdf(html: str) -> bytes:
    try:
        from weasyprint import HTML
    except OSError as exc:   # the Pango/HarfBuzz libraries WeasyPrint loads at import
        raise PdfUnavailableError(NO_PDF) from exc
    # WeasyPrint (which sets its logger's level on import) reports every SVG presentation attribute it hands to
    # its SVG renderer as an "ignored CSS property": noise, not problems with the document.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    # Nothing may be fetched while printing: the document is self-contained, and a fetcher that refuses every
    # URL keeps a crafted value from ever reaching the network or the disk.
    return HTML(string=html, base_url=None, url_fetcher=_refuse).write_pdf()


def _refuse(url: str, *args, **kwargs):
    raise ValueError(f"reports fetch nothing (asked for {url[:80]!r})")


def render(report: dict, *, formats: tuple[str, ...], progress: Progress | None = None) -> tuple[dict, dict]:
    """Each asked-for format of the report as bytes, and the seconds each stage took (charts, html, pdf)."""
    report_progress = progress or (lambda fraction, message: None)
    timings: dict[str, float] = {}
    out: dict[str, bytes] = {}
    started = time.perf_counter()
    if "json" in formats:
        out["json"] = to_json(report)
    if "html" in formats or "pdf" in formats:
        report_progress(0.1, "Drawing the charts")
        charts = charts_for(report)
        timings["charts"] = time.perf_counter() - started
        report_progress(0.35, "Laying out the document")
        mark = time.perf_counter()
        html = render_html(report, charts=charts)
        timings["html"] = time.perf_counter() - mark
        out["html"] = html.encode("utf-8")
        if "pdf" in formats:
            report_progress(0.5, "Printing the PDF")
            mark = time.perf_counter()
            out["pdf"] = html_to_pdf(html)
            timings["pdf"] = time.perf_counter() - mark
    report_progress(1.0, "Done")
    return {f: out[f] for f in formats}, timings
