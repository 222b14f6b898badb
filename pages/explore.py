import pandas as pd
import streamlit as st

from components.as_of import last_day
from components.charts import explore_chart
from components.formatting import plain, plural
from components.page import render_page
from components.workspace import cached, get_store
from governance.csv_safety import frame_csv
from governance.monitoring.explore import DIMENSIONS, MEASURES, View, explore
from governance.monitoring.inventory import list_versions
from governance.monitoring.kpis import GRAINS, Window
from governance.monitoring.sql_sandbox import EXAMPLE as EXAMPLE_SQL, SandboxRefusal, run_sandboxed_query

NO_GRAIN = "none"


def _param_list(name: str, allowed: list[str], default: list[str]) -> list[str]:
    """A comma-separated list from the page URL, keeping only values that exist (a shared link may be stale)."""
    raw = st.query_params.get(name)
    if raw is None:
        return default
    return [v for v in raw.split(",") if v in allowed]


def _param_one(name: str, allowed: list[str], default: str) -> str:
    value = st.query_params.get(name, default)
    return value if value in allowed else default


def _param_day(name: str, default, first, last):
    try:
        day = pd.Timestamp(st.query_params.get(name, default)).date()
    except ValueError:
        return default
    return min(max(day, first), last)


def builder() -> None:
    versions = cached(list_versions)
    models = sorted(versions["model"].unique())
    if not models:
        st.info("No models in this workspace yet.")
        return
    measure_col, dims_col, grain_col = st.columns([1.4, 2.2, 1])
    measure = measure_col.selectbox("Measure", list(MEASURES),
                                    index=list(MEASURES).index(_param_one("measure", list(MEASURES), "predictions")))
    dimensions = dims_col.multiselect("Dimensions", list(DIMENSIONS), max_selections=3,
                                      default=_param_list("dims", list(DIMENSIONS), ["model", "version"]))
    grains = [NO_GRAIN, *GRAINS]
    grain = grain_col.selectbox("Time grain", grains, index=grains.index(_param_one("grain", grains, "day")))

    model_col, version_col, segment_col, date_col = st.columns([1.4, 1.2, 1.2, 2])
    chosen_models = model_col.multiselect("Models", models, default=_param_list("model", models, []),
                                          placeholder="all")
    version_names = sorted(versions["version"].unique())
    chosen_versions = version_col.multiselect("Versions", version_names,
                                              default=_param_list("version", version_names, []), placeholder="all")
    segments = ["web", "mobile", "branch", "broker"]
    chosen_segments = segment_col.multiselect("Segments", segments, default=_param_list("segment", segments, []),
                                              placeholder="all")
    first = pd.Timestamp(versions["first_ts"].min()).date()
    if pd.isna(versions["last_ts"].max()):   # models, but no telemetry yet: nothing to explore
        st.info("No telemetry in this workspace yet: ingest some with `python -m governance ingest telemetry`.")
        return
    last = last_day(pd.Timestamp(versions["last_ts"].max()).date())   # up to the "As of" day
    if last < first:
        st.info(f"There was no telemetry by the end of {last_day()}.")
        return
    picked = date_col.date_input("Window", value=(_param_day("since", first, first, last),
                                                  _param_day("until", last, first, last)),
                                 min_value=first, max_value=last)
    if not isinstance(picked, (tuple, list)) or len(picked) != 2:
        st.info("Pick the last day of the window too.")
        return

    # The view lives in the page address, so a link reproduces it.
    st.query_params.from_dict({
        "measure": measure, "dims": ",".join(dimensions), "grain": grain, "model": ",".join(chosen_models),
        "version": ",".join(chosen_versions), "segment": ",".join(chosen_segments),
        "since": picked[0].isoformat(), "until": picked[1].isoformat()})
    view = View(measure, tuple(dimensions), None if grain == NO_GRAIN else grain,
                (("model", tuple(chosen_models)), ("version", tuple(chosen_versions)),
                 ("segment", tuple(chosen_segments))))
    window = Window(pd.Timestamp(picked[0]), pd.Timestamp(picked[1]) + pd.Timedelta(days=1))
    result = cached(explore, view=view, window=window)
    if result.frame.empty:
        st.info("No predictions match these filters in this window.")
        return
    if result.truncated:
        st.warning("More than 5,000 groups: showing the first 5,000. Choose fewer dimensions or a coarser grain.")
    st.plotly_chart(explore_chart(result.frame, measure=measure, dimensions=dimensions), theme=None)
    st.dataframe(result.frame, hide_index=True)
    st.download_button("Download CSV", frame_csv(result.frame), file_name=f"quorum-{measure}.csv",
                       mime="text/csv", icon=":material/download:")


def console() -> None:
    st.caption("Read-only SQL over a snapshot of `telemetry` and `telemetry_input`: one SELECT or WITH "
               "statement, no file access, 10 s limit, at most 10,000 rows shown.")
    with st.form("sql"):
        sql = st.text_area("SQL", value=EXAMPLE_SQL, height=160)
        submitted = st.form_submit_button("Run", icon=":material/play_arrow:")
    if not submitted:
        return
    try:
        result = run_sandboxed_query(get_store(), sql=sql)
    except SandboxRefusal as exc:   # it may quote the SQL typed: shown as text
        st.error(plain(exc))
        return
    st.caption(f"{plural(len(result.frame), 'row')} in {result.elapsed_s:.2f} s"
               + ("; truncated at the row cap" if result.truncated else ""))
    st.dataframe(result.frame, hide_index=True)


def body() -> None:
    build, sql = st.tabs(["KPI builder", "SQL console"])
    with build:
        builder()
    with sql:
        console()


render_page("Explore", body, caption="Ask the telemetry your own question: no code needed, or read-only SQL.")
