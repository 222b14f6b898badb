"""Reports: choose a report and its scope, prepare it (in the background, with progress), preview it and download
it as PDF, self-contained HTML, JSON or a verifiable audit pack. The page only gathers inputs; the content, the
rendering and the pack are governance services, the same the CLI calls."""

import streamlit as st

from components import jobs
from components.auth import current_user
from components.formatting import plain
from components.page import keep_valid, render_page
from components.workspace import cached, get_store
from governance import audit_pack, report_render, reports, signoffs
from governance.inventory import list_versions

KINDS = {"Model version report": "model", "Committee review report": "review", "Framework coverage report": "coverage"}
DOWNLOADS = (("pdf", "PDF", "application/pdf", ":material/picture_as_pdf:"),
             ("html", "HTML", "text/html", ":material/html:"),
             ("json", "JSON", "application/json", ":material/data_object:"),
             ("pack", "Audit pack (zip)", "application/zip", ":material/folder_zip:"))
ABOUT = {
    "model": "One version's model card with its whole governance record: KPIs and service levels with charts, "
             "drift, fairness audits with their intervals, the explanation, risks with their framework mapping, "
             "and every decision with its signatures manifested.",
    "review": "One committee review: the evidence frozen when it was requested (re-hashed now, to show it is "
              "intact), every vote, the decision, dissent and conditions.",
    "coverage": "NIST AI RMF 1.0, EU AI Act and ISO/IEC 42001: which clauses the register covers, partly covers "
                "or leaves as gaps, across every model.",
}


def prepare(store, scope: dict, generated_by: str):
    """The background job: content, charts, HTML, PDF and the pack, with progress for the bar."""
    def run(progress) -> dict:
        progress(0.02, "Gathering the record")
        built = reports.build(store, generated_by=generated_by, **scope)
        rendered, timings = report_render.render(built, formats=("pdf", "html", "json"),
                                                 progress=lambda f, m: progress(0.1 + 0.8 * f, m))
        progress(0.95, "Sealing the audit pack")
        rendered["pack"] = audit_pack.build_pack(built, rendered=rendered, store=store)
        return {"report": built, "files": rendered, "timings": timings}
    return run


def choose_scope(kind: str) -> dict | None:
    if kind == "model":
        versions = cached(list_versions)
        if versions.empty:
            st.info("The workspace has no model versions yet: register one on the Admin page or with "
                    "`python -m governance model register`.")
            return None
        left, right = st.columns(2)
        models = sorted(versions["model"].unique())
        keep_valid("rp_model", models, models[0])
        model = left.selectbox("Model", models, key="rp_model")
        options = list(versions.loc[versions["model"] == model, "version"])
        keep_valid("rp_version", options, options[-1])
        version = right.selectbox("Version", options, key="rp_version")
        return {"kind": kind, "model": model, "version": version}
    if kind == "review":
        found = cached(signoffs.list_reviews)
        if not found:
            st.info("No committee review has been requested yet: request one on the Sign-offs page.")
            return None
        labels = {r["review_id"]: f"{r['review_id']}: {r['model']} {r['version']} → {r['gate']} ({r['status']})"
                  for r in found}
        keep_valid("rp_review", list(labels), next(iter(labels)))
        review_id = st.selectbox("Review", list(labels), format_func=labels.get, key="rp_review")
        return {"kind": kind, "review_id": review_id}
    return {"kind": kind}


def downloads(result: dict) -> None:
    report = result["report"]
    with st.container(horizontal=True, wrap=True):
        for fmt, label, mime, icon in DOWNLOADS:
            extension = "zip" if fmt == "pack" else fmt
            st.download_button(f"Download {label}", result["files"][fmt], file_name=f"{report['report_id']}.{extension}",
                               mime=mime, icon=icon, key=f"rp_download_{fmt}", on_click="ignore")
    sizes = ", ".join(f"{label} {len(result['files'][fmt]) / 1024:,.0f} KB" for fmt, label, _, _ in DOWNLOADS)
    stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in result["timings"].items())
    st.caption(f"{report['report_id']}, generated {report['generated_at']} by {plain(report['generated_by'])}. "
               f"Sizes: {sizes}. Rendering: {stages}. Check a pack with `python -m governance verify-pack FILE.zip`.")


def preview(result: dict) -> None:
    report = result["report"]
    state = report["ledger"]
    with st.container(horizontal=True, wrap=True):
        st.metric("Report", report["report_id"])
        st.metric(f"Ledger ({state['entries']:,} entries)", "verified" if state["ok"] else "FAILED")
        if report["kind"] == "model":
            st.metric("Fairness audits", len(report["fairness_audits"]))
            st.metric("Open risks", len(report["risks"]))
            st.metric("Decisions", len(report["decisions"]))
        elif report["kind"] == "review":
            st.metric("Evidence", "intact" if report["evidence_intact"] else "ALTERED")
            st.metric("Decision", (report["decision"] or {}).get("outcome", "open").replace("_", " "))
    if not state["ok"]:
        st.error(f"The ledger fails verification ({plain(state['problem'])}): the report says so on its cover.")
    st.markdown("**Preview** (the HTML export; the PDF is the same document laid out on A4 pages)")
    # An iframe of the exported file (st.iframe, which replaces the deprecated html component): Jinja2 escaped
    # every value in it, and its Content-Security-Policy forbids scripts and requests, so user text stays text.
    st.iframe(result["files"]["html"].decode("utf-8"), height=900)


def body() -> None:
    user = current_user()
    label = st.radio("Report", list(KINDS), horizontal=True, key="rp_kind")
    kind = KINDS[label]
    st.caption(ABOUT[kind])
    scope = choose_scope(kind)
    if scope is None:
        return
    if kind == "model":
        scope["suppress_below"] = int(st.number_input(
            "Withhold per-group figures of groups smaller than", min_value=1, max_value=1000,
            value=reports.SUPPRESS_BELOW, step=1, key="rp_suppress",
            help="Groups this small are shown as '< N' without their figures in every export, so no one in them "
                 "can be identified."))
    store = get_store()
    key = ("report", str(store.path), store.data_version(), user.user_name, tuple(sorted(scope.items())))
    if st.session_state.get("rp_job") not in (None, key):   # the choice changed: drop the old documents
        jobs.forget(st.session_state["rp_job"])
        st.session_state.pop("rp_job")
    job = jobs.get(key)
    if job is None:
        if st.button("Prepare the report", type="primary", icon=":material/description:", key="rp_prepare"):
            st.session_state["rp_job"] = key
            jobs.start(key, prepare(store, scope, user.recorded_as), name="quorum-report")
            st.rerun()
        return
    if job.running:
        jobs.progress_panel(key)
        return
    if job.failed:
        st.error(plain(job.failure("Preparing the report")))
        if st.button("Try again", icon=":material/refresh:", key="rp_retry"):
            jobs.forget(key)
            st.rerun()
        return
    downloads(job.result)
    preview(job.result)


render_page("Reports", body, caption="Audit reports that stand on their own, for auditors, regulators and "
                                      "committee members who never open Quorum: PDF, self-contained HTML, JSON, "
                                      "and an audit pack whose every file can be verified.")
