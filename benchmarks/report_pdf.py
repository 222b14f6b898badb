"""How long the demo's full model version report takes to render, stage by stage: data (the record gathered from
the workspace), charts (matplotlib SVG), HTML (Jinja2), PDF (WeasyPrint), and the audit pack; with the JSON export
of the same content as the baseline in the same run.

    python benchmarks/report_pdf.py [--db artifacts/bench-report.duckdb] [--runs 3]

Target (issue #9): the model version report of the demo renders to PDF in under 10 s on 2 cores. The workspace
is the default demo (built on first use, with its stored explanations, risks and reviews).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.timing import best_of, rss_mb  # noqa: E402
from governance import reports
from governance.reports import audit_pack, charts as report_charts, render  # noqa: E402
from governance.demo import seed_demo  # noqa: E402
from governance.record.store import GovernanceStore  # noqa: E402

MODEL, VERSION = "adult-income", "v2"
TARGET_SECONDS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, default=ROOT / "artifacts" / "bench-report.duckdb")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.db.exists():
        args.db.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with GovernanceStore(args.db) as store:
            seed_demo(store)
        print(f"built the demo workspace {args.db} in {time.perf_counter() - started:.1f} s")
    render.html_to_pdf("<p>warm-up</p>")   # imports WeasyPrint and loads fonts once, as a running app has
    with GovernanceStore(args.db) as store:
        data, report = best_of(args.runs, lambda: reports.model_report(store, model=MODEL, version=VERSION))
        json_seconds, content = best_of(args.runs, lambda: reports.to_json(report))
    charts_seconds, charts = best_of(args.runs, lambda: report_charts.charts_for(report))
    html_seconds, html = best_of(args.runs, lambda: render.render_html(report, charts=charts))
    pdf_seconds, pdf = best_of(args.runs, lambda: render.html_to_pdf(html))
    rendered = {"pdf": pdf, "html": html.encode("utf-8"), "json": content}
    pack_seconds, pack = best_of(args.runs, lambda: audit_pack.build_pack(report, rendered=rendered))
    total = data + charts_seconds + html_seconds + pdf_seconds
    print(f"model version report of {MODEL} {VERSION}, best of {args.runs} (2 cores):")
    for stage, seconds, size in (("data", data, None), ("charts", charts_seconds, sum(map(len, charts.values()))),
                                 ("html", html_seconds, len(rendered["html"])), ("pdf", pdf_seconds, len(pdf)),
                                 ("pack", pack_seconds, len(pack)), ("json (baseline)", json_seconds, len(content))):
        print(f"  {stage:<16}{seconds:>8.3f} s" + (f"  {size:>10,} bytes" if size is not None else ""))
    print(f"  {'total to PDF':<16}{total:>8.3f} s  (target < {TARGET_SECONDS:.0f} s: "
          f"{'met' if total < TARGET_SECONDS else 'MISSED'}); {len(charts)} charts; the PDF takes "
          f"{total / max(data + json_seconds, 1e-9):.1f}x the time of the JSON export (data + JSON)")
    print(f"  peak memory {rss_mb('VmHWM'):.0f} MB")


if __name__ == "__main__":
    main()
