import pandas as pd
import streamlit as st

from components import jobs
from components.as_of import record_then, versions_then
from components.auth import current_user
from components.explanation_charts import (beeswarm_chart, cohort_chart, dependence_chart, importance_chart,
                                           label, value_text, waterfall_chart)
from components.formatting import NOT_COMPUTABLE, plain
from components.page import keep_valid, lazy_tabs, render_page
from components.workspace import cached, get_store
from governance.errors import GovernanceError
from governance.evidence import explanations as ex
from governance.monitoring.inventory import list_versions

TABS = ("Global", "Local", "Cohorts", "Checks")
ROWS = ex.DEFAULT_ROWS        # the settings the page computes and looks up; the CLI can store others
SEED = 0
SWARM_ROWS = 2_000            # rows sent to the browser for the beeswarm and dependence plots
EXACT = 1e-6                  # additivity error below this: exact (tree and linear explainers)
UNITS = {"log_odds": "log-odds", "probability": "probability"}
SPREAD = "spread of importance share (points)"
STABILITY_LABEL = "Ranking stability (min τ)"   # short enough for a quarter of the page at 1280 px; τ: Kendall's tau



def short(digest) -> str:
    return f"{digest[:12]}…" if isinstance(digest, str) and digest else "—"


def when(iso: str | None) -> str:
    return iso.replace("T", " ").removesuffix("Z") + " UTC" if iso else "—"


def top_k(e: dict) -> int:
    return min(ex.TOP_K, len(e["global"]))



def how_to_read(units: str) -> str:
    text = ("**How to read this.** A SHAP value is how much one input moved the model's score for one applicant, "
            "up or down, compared with an average applicant. The values add up: the average score plus every "
            "input's SHAP value gives the model's score for that applicant.")
    if units == "log_odds":
        return text + (" Here they are in **log-odds**, the scale this model adds its evidence on, not in "
                       "probability: 0 log-odds is a probability of 0.5, +1 roughly multiplies the odds by 2.7.")
    return text + " Here they are in **probability** (0 to 1): +0.05 raises the probability of approval by 5 points."


# --- choosing a version, and computing its explanation ---------------------------------------------------------------
def arrive_from_link(versions: pd.DataFrame) -> None:
    """A link such as ?model=adult-income&version=v1&row=7459 opens that applicant under Local, once."""
    link = {name: st.query_params.get(name) for name in ("model", "version", "row")}
    if not any(link.values()):
        return
    for name in link:  # consumed: from here on the page's own controls hold the choice
        st.query_params.pop(name, None)
    mine = versions[versions["model"] == link["model"]]
    if not mine.empty:
        st.session_state["ex_model"] = link["model"]
        if link["version"] in set(mine["version"]):
            st.session_state["ex_version"] = link["version"]
    if link["row"] is not None:
        st.session_state["ex_link_row"] = link["row"]
        st.session_state["ex_tab"] = "Local"


def choose_version() -> tuple[str, str] | None:
    versions = versions_then(cached(list_versions))
    if versions.empty:
        st.info("No model versions yet: register a model with `python -m governance model register`.")
        return None
    arrive_from_link(versions)
    left, right, _ = st.columns([1.4, 3, 1.6])
    models = sorted(versions["model"].unique())
    keep_valid("ex_model", models, models[0])
    model = left.selectbox("Model", models, key="ex_model")
    mine = versions[versions["model"] == model]
    names = {r.version: f"{r.version} · {r.stage} · {r.algorithm}" for r in mine.itertuples(index=False)}
    keep_valid("ex_version", list(names), list(names)[0])
    version = right.selectbox("Version", list(names), format_func=names.get, key="ex_version")
    return model, version


def job_key(model: str, version: str) -> tuple:
    return str(get_store().path), model, version, ROWS, SEED


def compute_in_background(model: str, version: str) -> dict | None:
    """Start (or join) the computation of this version's explanation; its result once it has finished."""
    store, key = get_store(), job_key(model, version)
    actor = current_user()   # stored with the explanation as who computed it
    job = jobs.start(key, lambda progress: ex.explain_version(store, model=model, version=version, rows=ROWS,
                                                              seed=SEED, actor=actor, progress=progress),
                     name=f"quorum-explain-{model}-{version}")
    if job.succeeded:  # finished between the lookup and now: its result is stored; pick it up
        jobs.forget(key)
        if job.result is None:
            st.warning(f"The explanation of {model} {version} was computed but cannot be read back: reload the "
                       "page to compute it again.")
        return job.result
    if job.failed:
        st.error(plain(job.failure("Computing the explanation")))
        if st.button("Try again", icon=":material/refresh:", key="ex_retry"):
            jobs.forget(key)
            st.rerun()
        return None
    st.info(f"No explanation of {model} {version} is stored yet for this model file and its evaluation data, so "
            "it is being computed now, once: it is stored and reused afterwards. This takes seconds for tree and "
            "linear models, minutes for models explained by permutation; other pages stay usable meanwhile, and "
            "the computation carries on if you leave.", icon=":material/hourglass_top:")
    jobs.progress_panel(key)
    return None


# --- the explanation ---------------------------------------------------------------------------------------------------
def header(e: dict) -> None:
    units = UNITS[e["output_units"]]
    with st.container(horizontal=True, wrap=True):
        st.badge(f"{e['explainer']} explainer", icon=":material/lightbulb:", color="blue")
        st.badge(f"contributions in {units}", color="gray")
        st.badge("estimate" if e["estimate"] else "exact", color="orange" if e["estimate"] else "green")
        st.badge(f"{e['rows_explained']:,} of {e['rows_available']:,} evaluation rows", color="gray")
        if e["stability"]["unstable"]:
            st.badge("unstable ranking", icon=":material/warning:", color="red")
    st.caption(how_to_read(e["output_units"]))
    if e["estimate"]:
        st.warning(f"These figures are an estimate: this model is explained with the permutation explainer, on a "
                   f"sample of {e['rows_explained']:,} of the {e['rows_available']:,} evaluation rows.",
                   icon=":material/info:")
    if e["stability"]["unstable"]:
        st.warning(f"The top-{top_k(e)} importance ranking is unstable: its Kendall's tau falls to "
                   f"{e['stability']['min_tau']:.2f} "
                   f"(below {ex.UNSTABLE_TAU}) across the check's samples. Read the order of the inputs with "
                   "care; see Checks.", icon=":material/warning:")


# The beeswarm's and the dependence plot's dots are drawn into pictures (a tenth to a fifth of a second each), so
# these figures are cached like queries: once per explanation (and input) and data version, not on every rerun. They
# are kept as plain dicts: a cached go.Figure comes back with its keys in another order, so the browser would be sent
# the same chart again instead of reusing the copy it holds.
def swarm_figure(store, *, explanation_id: str, order: tuple[str, ...], units: str) -> dict:
    values = ex.explanation_values(store, explanation_id=explanation_id, max_rows=SWARM_ROWS)
    return beeswarm_chart(values, order=list(order), units=units).to_dict()


def dependence_figure(store, *, explanation_id: str, feature: str, colour_by: str, units: str) -> dict:
    values = ex.explanation_values(store, explanation_id=explanation_id, max_rows=SWARM_ROWS)
    return dependence_chart(values, feature=feature, colour_by=colour_by, units=units).to_dict()


def global_tab(e: dict) -> None:
    units = UNITS[e["output_units"]]
    order = [g["feature"] for g in e["global"]]
    st.plotly_chart(importance_chart(e["global"], units=units), theme=None, key="ex_importance")
    st.caption(f"Average of |SHAP| over the {e['rows_explained']:,} explained rows: how much each input moves the "
               "score, whichever way. It says how much an input matters, not whether it raises or lowers the score.")
    values = cached(ex.explanation_values, explanation_id=e["explanation_id"], max_rows=SWARM_ROWS)
    rows = values["row_id"].nunique()
    st.plotly_chart(cached(swarm_figure, explanation_id=e["explanation_id"], order=tuple(order), units=units),
                    theme=None, key="ex_beeswarm")
    st.caption(f"Each dot is one applicant ({rows:,} of the explained rows). Right of the line the input raised "
               "the score, left of it lowered it; colour shows whether the input's value was low or high. Grey "
               "dots are categorical inputs (such as occupation), which have no low or high. Hover over a band to "
               "see how many applicants are there and which values they have.")
    st.markdown("**One input in detail**")
    left, right = st.columns(2)
    keep_valid("ex_feature", order, order[0])
    feature = left.selectbox("Input", order, format_func=label, key="ex_feature")
    others = [f for f in order if f != feature] or order
    keep_valid("ex_colour", others, others[0])
    colour_by = right.selectbox("Colour by", others, format_func=label, key="ex_colour")
    st.plotly_chart(cached(dependence_figure, explanation_id=e["explanation_id"], feature=feature,
                           colour_by=colour_by, units=units), theme=None, key="ex_dependence")
    st.caption(plain(f"Each dot is one applicant: the value of {label(feature)} along the bottom, how much it moved "
                     f"the score up the side. A spread of dots at one value means {label(feature)} acts together "
                     f"with other inputs; the colour shows whether {label(colour_by)} is one of them."))


def linked_row(model: str, version: str, last: int) -> None:
    """The row a link asked for (?row=…), selected if the service knows it; otherwise the service's message."""
    link = st.session_state.pop("ex_link_row", None)
    if link is None:
        return
    try:
        row_id = int(str(link).strip())
    except ValueError:
        st.error(plain(f"The link asks for row {link!r}, which is not a row id: use a whole number from 0 to "
                       f"{last:,}."))   # the link's text, shown as text
        return
    try:
        cached(ex.explain_row, model=model, version=version, row_id=row_id)
    except GovernanceError as exc:
        st.error(plain(exc))
        return
    st.session_state["ex_row"] = row_id


NO_SUCH_ROW = ("Row {row} does not exist in the evaluation set of {model} {version}: its rows are 0 to {last}. "
               "Type a row id in that range, or show a declined applicant near the threshold.")


def pick_row(model: str, version: str, last: int) -> int | None:
    """The row id typed (or chosen by the button or a link); None, with a message, when there is no such row."""
    linked_row(model, version, last)
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    if right.button("Show a declined applicant near the threshold", icon=":material/person_search:",
                    key="ex_near"):  # before the input exists, so it may set the input's value
        st.session_state["ex_row"] = cached(ex.near_threshold_rejection, model=model, version=version)
    # No min_value/max_value: with them the browser silently keeps the previous applicant when the number typed is
    # out of bounds. Any whole number is taken, and one that is not a row is said so.
    row = int(left.number_input("Row id in the evaluation set", step=1, key="ex_row",
                                help=f"Rows 0 to {last:,} of {model} {version}'s evaluation set."))
    if not 0 <= row <= last:
        st.error(plain(NO_SUCH_ROW.format(row=f"{row:,}", model=model, version=version, last=f"{last:,}")),
                 icon=":material/error:")
        return None
    st.caption(f"Valid rows: 0 to {last:,}.")
    return row


def local_tab(e: dict, model: str, version: str) -> None:
    row_id = pick_row(model, version, e["rows_available"] - 1)
    if row_id is None:
        return
    try:
        row = cached(ex.explain_row, model=model, version=version, row_id=row_id)
    except GovernanceError as exc:
        st.error(plain(exc))
        return
    units = UNITS[row["output_units"]]
    decision = "approve" if row["prediction"] == 1 else "decline"
    with st.container(horizontal=True, wrap=True):
        st.badge(f"row {row['row_id']}", color="gray")
        st.badge(f"{decision}: probability {row['probability']:.3f}",
                 color="green" if row["prediction"] == 1 else "red")
    st.info(plain(row["narrative"]), icon=":material/record_voice_over:")
    threshold = e["threshold"] if row["output_units"] == "probability" else 0.0
    st.plotly_chart(waterfall_chart(row, units=units, threshold=threshold), theme=None, key="ex_waterfall")
    note = (" In log-odds the approval threshold (probability 0.5) sits at 0."
            if row["output_units"] == "log_odds" else "")
    st.caption(f"Bars to the right raised the score, to the left lowered it, in {units}.{note}")
    contributions = pd.DataFrame({
        "input": [label(c["feature"]) for c in row["contributions"]],
        "value": [value_text(c["value"]) for c in row["contributions"]],
        f"SHAP ({units})": [c["shap"] for c in row["contributions"]]})
    st.dataframe(contributions, hide_index=True, height=table_height(contributions), key="ex_contributions",
                 column_config={f"SHAP ({units})": st.column_config.NumberColumn(format="%+.4f")})
    st.caption(f"Additivity for this row: base value {row['base_value']:.4f} + the sum of the contributions = "
               f"{row['output']:.4f} (the model's output), with an error of {row['additivity_error']:.1e}.")


def table_height(frame: pd.DataFrame) -> int:
    """Tall enough for every row: a short table reads better whole than scrolled."""
    return 38 + 35 * len(frame)


def association(value) -> str:
    return NOT_COMPUTABLE if value is None else f"{value:.2f}"


def cohorts_tab(e: dict) -> None:
    cohorts = {c["attribute"]: c for c in e["cohorts"]}
    if not cohorts:
        st.info("The evaluation rows carry no sensitive attribute with two or more groups: there are no cohorts "
                "to compare.")
        return
    names = list(cohorts)
    keep_valid("ex_attribute", names, "sex" if "sex" in names else names[0])
    attribute = st.selectbox("Sensitive attribute", names, key="ex_attribute")
    cohort = cohorts[attribute]
    units = UNITS[e["output_units"]]
    order = [g["feature"] for g in e["global"]]
    proxies = [label(f["feature"]) for f in cohort["features"] if f["proxy"]]
    rule = (f"strongly associated with {attribute} (association ≥ {ex.PROXY_ASSOCIATION:g}) and among the "
            f"{ex.PROXY_TOP} most important features")
    if proxies:
        st.warning(plain(f"Possible proxies for {attribute}: {', '.join(proxies)} — {rule}."),
                   icon=":material/warning:")
    else:
        st.success(plain(f"No possible proxy for {attribute}: no feature is {rule}."), icon=":material/check:")
    st.plotly_chart(cohort_chart(cohort, order=order, units=units), theme=None, key="ex_cohort")
    groups = cohort["groups"]
    table = pd.DataFrame({
        "feature": [label(f["feature"]) for f in cohort["features"]],
        **{f"mean |SHAP|: {g}": [f["mean_abs_shap_by_group"][g] for f in cohort["features"]] for g in groups},
        SPREAD: [100 * f["share_spread"] for f in cohort["features"]],
        f"association with {attribute}": [association(f["association"]) for f in cohort["features"]],
        "possible proxy": ["⚠ yes" if f["proxy"] else "" for f in cohort["features"]]})
    st.dataframe(table, hide_index=True, key="ex_cohort_table", height=table_height(table), column_config={
        **{f"mean |SHAP|: {g}": st.column_config.NumberColumn(format="%.4f") for g in groups},
        SPREAD: st.column_config.NumberColumn(format="%.1f")})
    sizes = ", ".join(f"{g}: {cohort['sizes'][g]:,}" for g in groups)
    st.caption(f"Rows by group: {sizes}. Features are ordered by the spread of their share of importance: the gap, "
               "across groups, in the share of a group's total |SHAP| that the feature accounts for, in percentage "
               "points. Association "
               f"with {attribute} is Cramér's V for a categorical feature and the correlation ratio (η) for a "
               "numeric one, both from 0 (unrelated) to 1 (fully determined). A proxy can carry the attribute into "
               "decisions even when the attribute itself is not an input.")


def magnitudes_panel(magnitudes: dict | None) -> None:
    """How far the top inputs' mean |SHAP| moved under the same resampling, with its verdict (stored since issue 21)."""
    if not magnitudes:
        return
    st.markdown(f"**Stability of the top-{len(magnitudes['features'])} magnitudes**")
    table = pd.DataFrame([{"input": f["feature"], "mean |SHAP|": f["mean_abs_shap"],
                           "largest relative change": f["max_relative_change"]} for f in magnitudes["features"]])
    st.dataframe(table, hide_index=True, key="ex_magnitudes", width=520,
                 column_config={"mean |SHAP|": st.column_config.NumberColumn(format="%.4f"),
                                "largest relative change": st.column_config.NumberColumn(format="percent")})
    st.caption(plain(magnitudes["method"]) + ".")
    largest, tolerance = magnitudes["max_relative_change"], magnitudes["tolerance"]
    if largest is None:
        st.warning("Magnitudes not computable: an input among the top ones moved nothing in the reference, so its relative "
                   "change is undefined.", icon=":material/warning:")
    elif magnitudes["stable"]:
        st.success(f"Magnitudes stable: no top input's importance moved by more than {tolerance:.0%} (largest "
                   f"{largest:.1%}).",
                   icon=":material/check:")
    else:
        st.warning(f"Magnitudes approximate: a top input's importance moved by {largest:.1%}, more than "
                   f"{tolerance:.0%}. Read the sizes as approximate; the ranking's own stability is shown above.",
                   icon=":material/warning:")


def checks_tab(e: dict) -> None:
    units = UNITS[e["output_units"]]
    stability = e["stability"]
    first, second, third, fourth = st.columns(4)
    first.metric("Additivity: max error", f"{e['additivity_max_error']:.1e}",
                 help=f"base value + sum of SHAP values − model output, in {units}, largest over the explained rows")
    second.metric(STABILITY_LABEL, f"{stability['min_tau']:.2f}",
                  help=f"The lowest Kendall's tau between the top-{top_k(e)} ranking and its re-computations on "
                       f"other samples: 1 is the same order. Flagged unstable below {ex.UNSTABLE_TAU}.")
    third.metric(f"Rows explained (of {e['rows_available']:,})", f"{e['rows_explained']:,}")
    fourth.metric("Computed in", f"{e['seconds']:.1f} s")

    st.markdown("**Explainer**")
    st.markdown(plain(f"{e['explainer']}: {e['explainer_settings']}. Contributions in {units}."))

    st.markdown("**Additivity**: base value + the sum of the SHAP values = the model's output, on every explained row")
    error = e["additivity_max_error"]
    if e["estimate"]:
        st.info(f"Largest error {error:.1e} {units}. The permutation explainer is an estimate: its values are "
                f"computed on a sample of {e['rows_explained']:,} rows and a background sample, so they describe "
                "the model approximately.", icon=":material/info:")
    elif error < EXACT:
        st.success(f"Exact: the largest error is {error:.1e} {units} (below {EXACT:.0e}).", icon=":material/check:")
    else:
        st.error(f"The largest error is {error:.1e} {units}, above {EXACT:.0e}: the explanation does not add up to "
                 "the model's output; do not rely on it.", icon=":material/error:")

    st.markdown(f"**Stability of the top-{top_k(e)} ranking**")
    taus = pd.DataFrame({"sample": range(1, len(stability["taus"]) + 1), "Kendall's tau": stability["taus"]})
    st.dataframe(taus, hide_index=True, key="ex_taus", width=360,
                 column_config={"Kendall's tau": st.column_config.NumberColumn(format="%.3f")})
    st.caption(plain(stability["method"]) + ". Kendall's tau is 1 when the order is the same, 0 when unrelated.")
    if stability["unstable"]:
        st.warning(f"Unstable: the lowest tau, {stability['min_tau']:.2f}, is below {ex.UNSTABLE_TAU}. The order "
                   "of the most important inputs depends on the sample used; read it with care.",
                   icon=":material/warning:")
    else:
        st.success(f"Stable: every tau is at least {ex.UNSTABLE_TAU} (lowest {stability['min_tau']:.2f}).",
                   icon=":material/check:")

    magnitudes_panel(stability.get("magnitudes"))

    st.markdown("**What was explained**")
    meaning = f": {e['base_value_meaning']}" if e.get("base_value_meaning") else ""
    average = e.get("average_probability")
    st.markdown(f"{e['explanation_id']}, computed {when(e.get('computed_at'))} in {e['seconds']:.1f} s. "
                f"Model file SHA-256 `{short(e['model_sha256'])}`; evaluation data SHA-256 "
                f"`{short(e['data_sha256'])}`. Base value {e['base_value']:.4f} {units}{plain(meaning)}"
                + (f". The evaluation set's mean predicted probability is {average:.4f}." if average is not None
                   else "."))
    with st.expander("The settings and the hashes in full", icon=":material/fingerprint:"):
        st.json({"explanation_id": e["explanation_id"], "model_sha256": e["model_sha256"],
                 "data_sha256": e["data_sha256"], "settings": e["settings"],
                 "explainer_settings": e["explainer_settings"]}, expanded=True)


def body() -> None:
    chosen = choose_version()
    if chosen is None:
        return
    model, version = chosen
    found = cached(ex.current_explanation, model=model, version=version, rows=ROWS, seed=SEED)
    explanation = found.explanation
    then = record_then()
    if then is not None:   # the explanations stored by then; nothing is computed for a past record
        stored = {e["explanation_id"] for e in then.explanations}
        if explanation is None or explanation["explanation_id"] not in stored:
            st.info(f"No explanation of {plain(model)} {plain(version)} had been stored by the end of {then.day}.",
                    icon=":material/history:")
            return
    if explanation is None:
        if found.stale:   # the stored one was for another model file, data or settings: say so, never show it
            st.caption(plain(found.reason))
        explanation = compute_in_background(model, version)
        if explanation is None:
            return
    else:
        jobs.forget(job_key(model, version))  # a finished computation's result is now read from the store
    header(explanation)
    lazy_tabs("ex_tab", dict(zip(TABS, (lambda: global_tab(explanation), lambda: local_tab(explanation, model, version),
                                        lambda: cohorts_tab(explanation), lambda: checks_tab(explanation)))))


render_page("Explanations", body, caption="Why does a model decide as it does? SHAP explanations of each version, "
                                          "with the checks that say how far to trust them.")
