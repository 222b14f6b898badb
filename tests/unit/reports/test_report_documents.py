"""The rendered reports (PDF and HTML) say what the JSON says: figures, hashes, names and risk ids read back from the
PDF's text (pdftotext) and the HTML's text, formatted here from the JSON independently of report_render. User text
prints literally and is escaped in HTML, small groups are withheld in every format, and CSV cells never run as
formulas.

Each PDF is printed once per module (a model report takes a few seconds)."""

from __future__ import annotations

import csv
import html
import io
import re
import subprocess
import zipfile
from datetime import date
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from governance import reports
from governance.decisions import review_state, risks
from governance.decisions.risks import NewRisk
from governance.record import verification
from governance.record.store import GovernanceStore
from governance.reports import audit_pack, render as report_render
from tests.conftest import LEADER, copy_workspace

HOSTILE = '<b>Bold</b> <script>alert(1)</script> & "quotes"'
FORMULA = '=HYPERLINK("http://evil.example","click")'
MODEL, VERSION = "adult-income", "v2"


# --- helpers ------------------------------------------------------------------------------------------------------
class _Text(HTMLParser):
    """The text of an HTML document, entities unescaped, without the style sheet."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.chunks.append(data)


def html_text(document: str) -> str:
    parser = _Text()
    parser.feed(document)
    return " ".join(parser.chunks)


def pdf_text(content: bytes, tmp_dir, *, layout: bool = True) -> str:
    path = tmp_dir / ("layout.pdf" if layout else "raw.pdf")
    path.write_bytes(content)
    args = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
    return subprocess.run(args, check=True, capture_output=True, timeout=60).stdout.decode("utf-8")


def squash(text: str) -> str:
    """Without any whitespace: a hash or a title wrapped across lines reads as one again."""
    return "".join(text.split())


def collapse(text: str) -> str:
    return " ".join(text.split())


def rendered(report: dict, tmp_dir, *, workspace: Path) -> SimpleNamespace:
    """The report printed once: PDF (with its layout and raw text), HTML (and its text), JSON and the pack (sealed
    with the workspace's key)."""
    out, _ = report_render.render(report, formats=("pdf", "html", "json"))
    with GovernanceStore(workspace) as store:
        pack = audit_pack.build_pack(report, rendered=out, store=store)
    document = out["html"].decode("utf-8")
    layout = pdf_text(out["pdf"], tmp_dir)
    return SimpleNamespace(report=report, out=out, html=document, html_text=html_text(document), pdf=layout,
                           pdf_raw=pdf_text(out["pdf"], tmp_dir, layout=False),
                           pages=[p for p in layout.split("\f") if p.strip()],
                           pack=zipfile.ZipFile(io.BytesIO(pack)))


def table_rows(pack: zipfile.ZipFile, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(pack.read(f"tables/{name}").decode("utf-8"))))


# --- fixtures -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workspace(demo_workspace, tmp_path_factory) -> SimpleNamespace:
    """A private copy of the demo with two hostile risk titles mapped to adult-income v2."""
    path = copy_workspace(demo_workspace, tmp_path_factory.mktemp("documents") / "documents.duckdb")
    with GovernanceStore(path) as store:
        added = {title: risks.add_risk(store, actor=LEADER, risk=NewRisk(
            title=title, category="security", owner="elif.kaya", likelihood=2, impact=3,
            models=[f"{MODEL} {VERSION}"]))["risk_id"] for title in (HOSTILE, FORMULA)}
    return SimpleNamespace(path=path, hostile=added[HOSTILE], formula=added[FORMULA])


@pytest.fixture(scope="module")
def model(workspace, tmp_path_factory) -> SimpleNamespace:
    """adult-income v2's model report (the demo's, plus the two risks above), printed once."""
    with GovernanceStore(workspace.path) as store:
        report = reports.build(store, kind="model", model=MODEL, version=VERSION)
    return rendered(report, tmp_path_factory.mktemp("model-pdf"), workspace=workspace.path)


@pytest.fixture(scope="module")
def smallest(demo_workspace) -> int:
    """Counted apart from the report: people in german-credit v1's smallest group."""
    with GovernanceStore(demo_workspace) as store:
        return store.query_value("SELECT count(*) FROM evaluation_row WHERE model = 'german-credit' AND "
                                 "version = 'v1' AND sensitive->>'foreign_worker' = 'no'")


@pytest.fixture(scope="module")
def at_threshold(demo_workspace, smallest) -> dict:
    """german-credit v1's JSON report with the threshold equal to its smallest group."""
    with GovernanceStore(demo_workspace) as store:
        return reports.build(store, kind="model", model="german-credit", version="v1", suppress_below=smallest)


@pytest.fixture(scope="module")
def withheld(demo_workspace, smallest, tmp_path_factory) -> SimpleNamespace:
    """german-credit v1 with the threshold one above its smallest group, printed once."""
    with GovernanceStore(demo_workspace) as store:
        report = reports.build(store, kind="model", model="german-credit", version="v1",
                               suppress_below=smallest + 1)
    return rendered(report, tmp_path_factory.mktemp("withheld-pdf"), workspace=demo_workspace)


# --- a. the PDF and the HTML say what the JSON says ---------------------------------------------------------------
def expected_figures(report: dict) -> dict[str, list[str]]:
    """What the documents must show, formatted here from the JSON."""
    kpis = report["kpis"]
    assert kpis.get("note") is None and kpis["predictions"] > 0
    criteria = [c for a in report["fairness_audits"] for c in a["criteria"]]
    assert criteria and all(c["value"] is not None and c["ci_low"] is not None for c in criteria)
    signatures = [s for d in report["decisions"] for s in d["signatures"]]
    assert signatures and report["risks"] and report["ledger"]["head_hash"]
    return {
        "kpis": [rf"Predictions\s+{kpis['predictions']:,}(?!\d)", rf"Accuracy\s+{kpis['accuracy']:.1%}".replace(".", r"\."),
                 rf"p95 latency\s+{kpis['latency_p95_ms']:,.0f} ms"],
        "criteria": [rf"{c['value']:.3f}\s+{c['ci_low']:.3f} to {c['ci_high']:.3f}".replace(".", r"\.")
                     for c in criteria],
        "names": sorted({s["printed_name"] for s in signatures}),
        "hashes": sorted({s["evidence_hash"] for s in signatures} | {report["ledger"]["head_hash"]}),
        "risk_ids": [r["risk_id"] for r in report["risks"]],
    }


@pytest.mark.parametrize("fmt", ["pdf", "html"])
def test_the_documents_show_the_figures_of_the_json(model, fmt):
    text = model.pdf if fmt == "pdf" else model.html_text
    expected = expected_figures(model.report)
    for pattern in expected["kpis"] + expected["criteria"]:
        assert re.search(pattern, text), f"{pattern!r} not in the {fmt}"
    for name in expected["names"]:
        assert name in collapse(text), name
    for digest in expected["hashes"]:
        assert digest in squash(text), digest
    for risk_id in expected["risk_ids"]:
        assert re.search(rf"\b{risk_id}\b", text), risk_id
    for audit in model.report["fairness_audits"]:
        assert audit["evidence_hash"] in squash(text)


def test_the_pdf_has_contents_running_headers_and_page_numbers(model):
    pages = model.pages
    total = len(pages)
    assert total >= 3
    assert f"Page 1 of {total}" in pages[0] and f"Page 2 of {total}" in pages[1]
    assert f"Page {total} of {total}" in pages[-1]
    assert "Contents" in pages[1]
    for heading in ("1. Model card", "4. Fairness audits", "7. Decisions and signatures"):
        found = re.search(rf"{re.escape(heading)}\s*\.+\s*(\d+)", pages[1])
        assert found, heading
        assert heading in pages[int(found.group(1)) - 1]   # the page number the contents gives is right
    # the header's report id is on the pages after the cover, not on the cover
    header = [line for line in pages[1].splitlines() if line.strip()][0]
    assert model.report["report_id"] in header and model.report["workspace"] in header


# --- c. user text prints literally and is escaped in HTML ---------------------------------------------------------
def test_markup_in_a_risk_title_is_text_in_both_documents(model, workspace):
    assert workspace.hostile in [r["risk_id"] for r in model.report["risks"]]
    assert "&lt;b&gt;Bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt; &amp;" in model.html
    assert "<script" not in model.html.lower() and "<b>Bold" not in model.html
    assert HOSTILE in model.html_text
    # the cell wraps the title across lines ("...</" / "script>"): compared without whitespace
    assert squash(HOSTILE) in squash(model.pdf_raw)


# --- d. groups smaller than the threshold are withheld everywhere -------------------------------------------------
def foreign_worker_no(report: dict) -> list[dict]:
    return [g for a in report["fairness_audits"] for g in a["groups"] if g["group"] == {"foreign_worker": "no"}]


def test_a_group_at_the_threshold_is_shown(at_threshold, smallest):
    assert smallest == 15
    report = at_threshold
    groups = foreign_worker_no(report)
    assert groups and all(g["n"] == smallest and g["metrics"] and not g.get("suppressed") for g in groups)
    assert report["privacy"] == {"suppress_below": smallest, "note": None}


def test_a_group_below_the_threshold_is_withheld_in_every_format(withheld, smallest, at_threshold):
    threshold = smallest + 1
    shown = f"< {threshold}"
    # JSON
    groups = foreign_worker_no(withheld.report)
    assert groups and all(g == {"group": {"foreign_worker": "no"}, "sensitive": g["sensitive"], "n": shown,
                                "status": g["status"], "suppressed": True} for g in groups)
    note = withheld.report["privacy"]["note"]
    assert note.startswith(f"Groups with fewer than {threshold} people")
    # its figures, as the report would print them without suppression
    figures = {f"{m['value']:.3f}" for g in foreign_worker_no(at_threshold)
               for m in g["metrics"].values() if m.get("value") is not None}
    assert figures
    # HTML: the groups table's row
    rows = re.findall(r"<tr><td>foreign_worker = no</td>(.*?)</tr>", withheld.html, flags=re.S)
    assert rows
    for row in rows:
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row,
                                                                                      flags=re.S)]
        assert cells == [shown] + ["withheld"] * 5
    assert note in withheld.html_text
    # PDF: the same row, no figure on it
    lines = [line for line in withheld.pdf.splitlines() if re.match(r"\s*foreign_worker =\s+<", line)]
    assert lines
    for line in lines:
        assert shown in line and line.count("withheld") == 5
        assert not re.search(r"\d", line.replace(shown, "")), line
    assert collapse(note) in collapse(withheld.pdf)
    for figure in figures:   # the group's own figures appear on no row of it
        assert all(figure not in line for line in lines)
    # the pack's CSV
    csv_rows = [r for r in table_rows(withheld.pack, "fairness_groups.csv") if r["group"] == "foreign_worker = no"]
    assert csv_rows
    for row in csv_rows:
        assert row["n"] == shown and row["status"] == "withheld"
        assert all(v == "" for k, v in row.items() if k not in ("audit_id", "group", "n", "status")), row
    others = [r for r in table_rows(withheld.pack, "fairness_groups.csv") if r["group"] != "foreign_worker = no"]
    assert others and all(int(r["n"]) >= threshold for r in others)


# --- e. CSV cells never run as formulas; numbers stay numbers -----------------------------------------------------
def test_csv_text_is_neutralised_and_numbers_stay_numbers(model, workspace):
    by_id = {r["risk_id"]: r for r in table_rows(model.pack, "risks.csv")}
    assert by_id[workspace.formula]["title"] == "'" + FORMULA
    assert by_id[workspace.hostile]["title"] == HOSTILE
    groups = table_rows(model.pack, "fairness_groups.csv")
    numeric = [k for k in groups[0] if k not in ("audit_id", "group", "status")]
    negatives = 0
    for row in groups:
        for column in numeric:
            value = row[column]
            if value == "":
                continue
            assert not value.startswith("'"), (column, value)
            number = float(value)   # every figure parses as a number
            negatives += number < 0
    assert negatives, "the demo has negative figures (calibration gaps): they must be written as numbers"


# --- f. the review and coverage reports ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def review(demo_workspace, tmp_path_factory) -> SimpleNamespace:
    with GovernanceStore(demo_workspace) as store:
        report = reports.build(store, kind="review", review_id="RV-0004")
    return rendered(report, tmp_path_factory.mktemp("review-pdf"), workspace=demo_workspace)


@pytest.fixture(scope="module")
def coverage(demo_workspace, tmp_path_factory) -> SimpleNamespace:
    with GovernanceStore(demo_workspace) as store:
        report = reports.build(store, kind="coverage")
    return rendered(report, tmp_path_factory.mktemp("coverage-pdf"), workspace=demo_workspace)


def test_the_review_report_prints_the_review_its_evidence_and_signatures(review, demo_workspace):
    report = review.report
    assert report["review"]["review_id"] == "RV-0004" and report["evidence_intact"]
    with GovernanceStore(demo_workspace) as store:
        stored = review_state.review(store, review_id="RV-0004")
        assert report["ledger"] == verification.verify(store)
    assert report["evidence_hash"] == stored["evidence_hash"]
    names = [v["printed_name"] for v in stored["votes"]]
    assert names
    for text in (review.pdf, review.html_text):
        assert "RV-0004" in text
        assert stored["evidence_hash"] in squash(text)
        assert all(name in collapse(text) for name in names)
    assert "RV-0004" in review.pages[1] and "Page 2 of" in review.pages[1]


def test_the_coverage_report_prints_each_frameworks_counts(coverage, demo_workspace):
    with GovernanceStore(demo_workspace) as store:
        expected = [risks.coverage(store, framework=key, today=date.today()) for key in risks.FRAMEWORKS]
    assert len(expected) == 3
    for framework in expected:
        counts = framework["counts"]
        line = f"{counts['covered']} covered, {counts['partial']} partial, {counts['gap']} gaps."
        for text in (coverage.pdf, coverage.html_text):
            assert framework["name"] in collapse(text)
            assert line in collapse(text), (framework["name"], line)


# --- issue 20: the drift section's words, and no page left nearly empty --------------------------------------------
DRIFT_REFERENCE = "held-out evaluation set"   # what the Drift page calls the reference (its "Reference" choice)


def test_the_drift_section_names_the_reference_as_the_app_does(model):
    section = collapse(model.pdf).split("3. Data drift")[-1].split("4. Fairness audits")[0]
    assert f"of each input against the {DRIFT_REFERENCE}" in section
    assert "training data" not in section
    assert f"against the {DRIFT_REFERENCE}" in collapse(model.html_text)


def page_fill(content: bytes, tmp_dir) -> list[float]:
    """How far down its body (between the running header and footer) each page is printed, from 0 to 1."""
    import numpy as np
    from PIL import Image

    path = tmp_dir / "fill.pdf"
    path.write_bytes(content)
    subprocess.run(["pdftoppm", "-gray", "-r", "20", str(path), str(tmp_dir / "fill")], check=True, timeout=60)
    fills = []
    for page in sorted(tmp_dir.glob("fill-*.pgm")):
        with Image.open(page) as image:
            grey = np.asarray(image)
        top, bottom = round(len(grey) * 24 / 297), round(len(grey) * 277 / 297)   # the @page margins, in mm of A4
        inked = np.nonzero((grey[top:bottom] < 160).any(axis=1))[0]
        fills.append((inked[-1] + 1) / (bottom - top) if len(inked) else 0.0)
    return fills


def test_no_page_of_the_model_report_is_left_nearly_empty(model, tmp_path):
    """Each section used to start a page: page 11 of the demo's model report held three lines."""
    fills = page_fill(model.out["pdf"], tmp_path)
    assert len(fills) == len(model.pages)
    middle = fills[2:-1]   # not the cover, the contents (each a page of its own) or the last page
    assert min(middle) >= 0.5, [round(f, 2) for f in fills]
