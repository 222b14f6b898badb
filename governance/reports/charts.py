"""Static charts for exported reports, drawn offline with matplotlib as SVG from the report's own JSON values, so
the HTML file and the PDF show exactly the figures the JSON holds and need no browser or network to render.

Text stays text in the SVG (svg.fonttype 'none'): the PDF's charts can be searched and read by a screen reader, and
matplotlib escapes every label it writes. Every label is plain text: `$` in a name is a dollar sign, not mathtext.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import matplotlib
from matplotlib.figure import Figure

INK, MUTED, GRID = "#1f2937", "#6b7280", "#e5e7eb"
BLUE, RED, AMBER, GREEN = "#1d4ed8", "#b91c1c", "#b45309", "#15803d"
# DejaVu Sans: matplotlib ships it (so it is found on every machine and never logs "findfont: … not found") and the
# PDF's Pango finds it as Debian's fonts-dejavu-core (the Makefile's PDF packages): text measured with the font drawn.
STYLE = {"svg.fonttype": "none", "font.family": ["DejaVu Sans", "sans-serif"], "font.size": 8,
         "axes.edgecolor": MUTED, "axes.labelcolor": INK, "axes.titlesize": 9, "axes.titleweight": "bold",
         "axes.titlelocation": "left", "xtick.color": MUTED, "ytick.color": MUTED, "axes.spines.top": False,
         "axes.spines.right": False, "axes.grid": True, "grid.color": GRID, "grid.linewidth": 0.6,
         # Names come from users (features, groups, audits): a `$…$` in one is text, never mathtext or TeX, which
         # would draw it as a formula or fail the whole report on TeX that does not parse.
         "text.parse_math": False, "text.usetex": False}
KPI_PANELS = (("accuracy", "Accuracy (labelled predictions)", "{:.0%}"),
              ("latency_p95_ms", "p95 latency (ms)", "{:.0f}"),
              ("error_rate", "Error rate", "{:.1%}"))
MAX_DATE_LABELS = 8              # dates on the drift chart's axis (7.2 in wide, 7 pt): about an inch apart
JUDGED = ("ok", "watch", "act")   # weeks with too few rows carry a PSI but no verdict: not drawn
VERDICT_COLOURS = {"pass": GREEN, "fail": RED, "inconclusive": AMBER}


def _svg(figure: Figure, *, name: str, title: str) -> str:
    """The figure as an inline <svg> element with a <title>, ids unique to this chart."""
    with matplotlib.rc_context({**STYLE, "svg.hashsalt": name}):
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = out.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r'\bid="', f'id="{name}-', text)                          # ids unique across inline charts
    text = re.sub(r'(url\(#|xlink:href="#|href="#)', rf'\g<1>{name}-', text)
    return text.replace(">", f' role="img" aria-label="{_attr(title)}"><title>{_text(title)}</title>', 1)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return _text(value).replace('"', "&quot;")


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def kpi_chart(*, daily: list[dict], service_levels: list[dict]) -> str | None:
    """Accuracy, p95 latency and error rate by day, each with its service-level target (dashed) and breaches."""
    if not daily:
        return None
    targets = {s["kpi"]: s for s in service_levels}
    days = [date.fromisoformat(d["date"]) for d in daily]
    with matplotlib.rc_context(STYLE):
        figure = _figure(7.2, 4.6)
        axes = figure.subplots(len(KPI_PANELS), 1, sharex=True)
        for ax, (kpi, label, fmt) in zip(axes, KPI_PANELS):
            values = [d.get(kpi) for d in daily]
            xs = [x for x, v in zip(days, values) if v is not None]
            ys = [v for v in values if v is not None]
            ax.plot(xs, ys, color=BLUE, linewidth=1.4, marker="o", markersize=2.2)
            ax.set_title(label)
            level = targets.get(kpi)
            if level:
                ax.axhline(level["target"], color=RED, linestyle="--", linewidth=1)
                ax.annotate(f"target {fmt.format(level['target'])}", xy=(1, level["target"]),
                            xycoords=("axes fraction", "data"), xytext=(2, 0), textcoords="offset points",
                            va="center", fontsize=7, color=RED)
                worse = (lambda v: v < level["target"]) if kpi == "accuracy" else (lambda v: v > level["target"])
                bad = [(x, v) for x, v in zip(xs, ys) if worse(v)]
                if bad:
                    ax.scatter(*zip(*bad), color=RED, s=10, zorder=3)
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _, f=fmt: f.format(v)))
        figure.autofmt_xdate()
    return _svg(figure, name="kpis", title="Daily accuracy, p95 latency and error rate against their service levels")


def drift_chart(*, weekly: list[dict], thresholds: dict | None, top: int = 6) -> str | None:
    """PSI by week of the features that drifted most, against the watch and act thresholds."""
    judged = [w for w in weekly if w.get("psi") is not None and w["status"] in JUDGED]
    if not judged:
        return None
    worst: dict[str, float] = {}
    for w in judged:
        worst[w["feature"]] = max(worst.get(w["feature"], 0.0), w["psi"])
    features = sorted(worst, key=lambda f: -worst[f])[:top]
    with matplotlib.rc_context(STYLE):
        figure = _figure(7.2, 2.8)
        ax = figure.subplots()
        for feature in features:
            rows = [w for w in judged if w["feature"] == feature]
            ax.plot([date.fromisoformat(w["period"]) for w in rows], [w["psi"] for w in rows], marker="o",
                    markersize=2.5, linewidth=1.3, label=feature.replace("_", " "))
        _weekly_ticks(ax, sorted({date.fromisoformat(w["period"]) for w in judged if w["feature"] in features}))
        if thresholds:
            for key, colour in (("psi_watch", AMBER), ("psi_act", RED)):
                ax.axhline(thresholds[key], color=colour, linestyle="--", linewidth=1)
                ax.annotate(f"{key[4:]} {thresholds[key]:g}", xy=(1, thresholds[key]),
                            xycoords=("axes fraction", "data"), xytext=(2, 0), textcoords="offset points",
                            va="center", fontsize=7, color=colour)
        ax.set_title("Population stability index (PSI) by week, the most drifted features")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=7, frameon=False, ncol=3)
        ax.tick_params(axis="x", labelsize=7)
    return _svg(figure, name="drift", title="Drift: PSI by week of the most drifted features")


def _weekly_ticks(ax, weeks: list[date]) -> None:
    """Ticks on the weeks themselves, each point on one: every week, or every 2nd, 3rd … week labelled (with its
    start date) so that no more than MAX_DATE_LABELS labels share the axis and none runs into the next; the weeks
    between labels keep a short tick."""
    step = max(1, -(-len(weeks) // MAX_DATE_LABELS))
    labelled = weeks[::step]
    ax.set_xticks(labelled, [w.isoformat() for w in labelled])
    ax.set_xticks([w for w in weeks if w not in labelled], minor=True)
    ax.tick_params(axis="x", which="minor", length=2)
    if weeks:
        margin = timedelta(days=3)
        ax.set_xlim(weeks[0] - margin, weeks[-1] + margin)


def fairness_chart(audit: dict) -> str | None:
    """Each criterion's value with its confidence interval, against its threshold; colour and label by verdict."""
    criteria = [c for c in audit["criteria"] if c.get("value") is not None]
    if not criteria:
        return None
    with matplotlib.rc_context(STYLE):
        figure = _figure(7.2, 0.5 + 0.32 * len(criteria))
        ax = figure.subplots()
        for i, c in enumerate(reversed(criteria)):
            colour = VERDICT_COLOURS.get(c["verdict"], MUTED)
            if c.get("ci_low") is not None and c.get("ci_high") is not None:
                ax.plot([c["ci_low"], c["ci_high"]], [i, i], color=colour, linewidth=2, alpha=0.6)
            ax.plot([c["value"]], [i], "o", color=colour, markersize=4)
            ax.plot([c["threshold"]], [i], "|", color=INK, markersize=10, markeredgewidth=1.5)
        labels = [f"{c['name'].replace('_', ' ')} ({' × '.join(c['sensitive'] or [])}) — {c['verdict']}"
                  for c in reversed(criteria)]
        ax.set_yticks(range(len(criteria)), labels)
        ax.set_title(f"{audit['audit_id']}: value (dot), 95% interval (bar) and threshold (|) of each criterion")
        ax.grid(axis="y", visible=False)
    return _svg(figure, name=f"fairness-{audit['audit_id']}", title=f"Fairness criteria of {audit['audit_id']}")


def importance_chart(explanation: dict, *, top: int = 10) -> str | None:
    """Mean |SHAP| of the most important inputs."""
    ranked = explanation.get("global") or []
    if not ranked:
        return None
    shown = ranked[:top][::-1]
    unit = "probability" if explanation["output_units"] == "probability" else "log-odds"
    with matplotlib.rc_context(STYLE):
        figure = _figure(7.2, 0.5 + 0.26 * len(shown))
        ax = figure.subplots()
        ax.barh([g["feature"].replace("_", " ") for g in shown], [g["mean_abs_shap"] for g in shown], color=BLUE)
        for i, g in enumerate(shown):
            ax.annotate(f"{g['mean_abs_shap']:.3f}", xy=(g["mean_abs_shap"], i), xytext=(3, 0),
                        textcoords="offset points", va="center", fontsize=7, color=INK)
        ax.set_title(f"How much each input moves the score on average (mean |SHAP|, {unit})")
        ax.grid(axis="y", visible=False)
    return _svg(figure, name="importance", title="Feature importance: mean absolute SHAP value by input")


def coverage_chart(frameworks: list[dict]) -> str | None:
    """Covered, partial and gap clauses of each framework, as stacked bars."""
    if not frameworks:
        return None
    with matplotlib.rc_context(STYLE):
        figure = _figure(7.2, 0.6 + 0.45 * len(frameworks))
        ax = figure.subplots()
        names = [f["name"] for f in frameworks][::-1]
        left = [0] * len(frameworks)
        for status, colour in (("covered", GREEN), ("partial", AMBER), ("gap", RED)):
            counts = [f["counts"][status] for f in frameworks][::-1]
            ax.barh(names, counts, left=left, color=colour, label=status)
            for i, (start, n) in enumerate(zip(left, counts)):
                if n:
                    ax.annotate(str(n), xy=(start + n / 2, i), ha="center", va="center", color="white", fontsize=7)
            left = [a + b for a, b in zip(left, counts)]
        ax.set_title("Clauses covered, partly covered and not covered (gap), by framework")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 * 3 / len(frameworks)), fontsize=7, frameon=False,
                  ncol=3)
        ax.grid(axis="y", visible=False)
    return _svg(figure, name="coverage", title="Framework coverage: covered, partial and gap clauses")


def charts_for(report: dict) -> dict[str, str]:
    """Every chart of a report, by name, in the order they appear; charts with nothing to draw are left out."""
    found: dict[str, str | None] = {}
    if report["kind"] == "model":
        found["kpis"] = kpi_chart(daily=report["kpis"].get("daily", []),
                                  service_levels=report["kpis"].get("service_levels", []))
        found["drift"] = drift_chart(weekly=report["drift"].get("weekly", []),
                                     thresholds=report["drift"].get("thresholds"))
        for audit in report["fairness_audits"]:
            found[f"fairness-{audit['audit_id']}"] = fairness_chart(audit)
        found["importance"] = importance_chart(report["explanation"])
    elif report["kind"] == "coverage":
        found["coverage"] = coverage_chart(report["frameworks"])
    return {name: svg for name, svg in found.items() if svg}
