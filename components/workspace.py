"""The workspace as the app sees it: one store per process, the demo on first start, cached queries."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, TypeVar

import streamlit as st

from components import jobs
from components.formatting import plain
from governance import demo
from governance.alerts import scheduler
from governance.errors import GovernanceError
from governance.monitoring import telemetry_sources
from governance.monitoring.ingest import absorb_inbox
from governance.record import ledger_keys
from governance.record.repositories import models
from governance.record.shared_stores import shared_store
from governance.record.store import TELEMETRY, WORKSPACE, GovernanceStore
from governance.record.workspace import is_default_workspace, workspace_path

T = TypeVar("T")
log = logging.getLogger("quorum.app")
_seed_lock = threading.Lock()


def _open_store(path: str) -> GovernanceStore:
    return shared_store(path)


def get_store() -> GovernanceStore:
    """The process's one store for the configured workspace; a clear message and a stop if it cannot open."""
    try:
        return _open_store(str(workspace_path()))
    except GovernanceError as exc:
        st.error(plain(exc))
        st.stop()


def _builds_demo(path) -> bool:
    """QUORUM_AUTO_DEMO=1 or 0 decides; by default only the default workspace gets the demo."""
    flag = os.environ.get("QUORUM_AUTO_DEMO")
    return flag == "1" if flag is not None else is_default_workspace(path)


# What the first start says while it builds the demo. The build runs in a thread of the server, not in the page's
# script: pressing Stop, reloading or closing the tab does not interrupt it, and every session meanwhile shows the
# same bar. Measured (README, Quick start): 33 s on a 2-core machine for the default 1 million rows.
DEMO_BUILD_SECONDS = 35
BUILDING = ("Building the demo workspace, once: the UCI Adult and German credit models, {rows:,} telemetry rows, "
            "then the demo's explanations, risk register and review history (about {seconds} s on a 2-core "
            "machine, longer when it is busy). The build runs in the server: pressing Stop or closing this tab "
            "does not interrupt it; open the app again and this bar shows how far it has got. Sign-in follows when "
            "it is ready.")
RESTARTED = ("The last demo build stopped halfway (the server was stopped during it), so that half-built workspace "
             "was emptied and the build starts again from the beginning.")


def _demo_job(store: GovernanceStore) -> tuple:
    return ("demo build", str(store.path))


def ensure_demo(store: GovernanceStore) -> None:
    """On first start on an empty workspace meant for the demo, build it in the background with a progress bar;
    the page stops here until it is ready. A build that a stopped server cut short is discarded and started again."""
    if not _builds_demo(store.path):
        return
    key = _demo_job(store)
    with _seed_lock:  # one build per process, whichever session asks first; the others show its progress
        job = jobs.get(key)
        if job is None:
            restarted = demo.unfinished(store)
            if restarted:
                demo.discard_unfinished(store)
            elif models.model_count(store):
                return
            ledger_keys.initialise(store)   # the first start is this workspace's `init`: its key, if none yet
            rows = int(os.environ.get("QUORUM_DEMO_ROWS", demo.DEFAULT_ROWS))
            job = jobs.start(key, lambda progress: demo.seed_demo(store, rows=rows, progress=progress),
                             name="quorum-demo-build")
            if restarted:
                log.warning("the demo build of %s had stopped halfway: emptied and started again", store.path)
                st.session_state["quorum_demo_restarted"] = True
    if job.succeeded:
        jobs.forget(key)
        return
    st.title("Quorum")
    if job.failed:
        st.error(plain(job.failure("Building the demo workspace")))
        if st.button("Try again", icon=":material/refresh:", key="demo_retry"):
            jobs.forget(key)
            st.rerun()
        st.stop()
    if st.session_state.get("quorum_demo_restarted"):
        st.warning(RESTARTED, icon=":material/restart_alt:")
    rows = int(os.environ.get("QUORUM_DEMO_ROWS", demo.DEFAULT_ROWS))
    st.info(BUILDING.format(rows=rows, seconds=DEMO_BUILD_SECONDS), icon=":material/hourglass_top:")
    jobs.progress_panel(key)
    st.stop()


INBOX_POLL_SECONDS = 15


@st.cache_resource(show_spinner=False)
def _inbox_watcher(path: str) -> threading.Thread:
    """One thread per process absorbs files that `python -m governance ingest` queued while the app held the
    workspace. Absorbing commits through the store, so the data version moves and cached figures refresh."""
    store = _open_store(path)

    def watch() -> None:
        while True:
            try:
                for outcome in absorb_inbox(store):
                    log.info("inbox: %s %s (%s rows)", outcome.mode, outcome.file_name, outcome.rows_accepted)
            except Exception:  # keep watching: a bad round must not stop ingestion for the app's lifetime
                log.exception("inbox absorption failed; retrying in %s s", INBOX_POLL_SECONDS)
            time.sleep(INBOX_POLL_SECONDS)

    thread = threading.Thread(target=watch, name="quorum-inbox", daemon=True)
    thread.start()
    return thread


def open_workspace() -> GovernanceStore:
    """The workspace the app serves: opened, the demo built if it is due, and its inbox watched."""
    store = get_store()
    ensure_demo(store)
    if scheduler.running() is None:   # under `governance serve` the server's scheduler absorbs the inbox
        _inbox_watcher(str(store.path))
    return store


# The modules whose services read telemetry only (the rows, the rollup, where each model's telemetry is read
# from): a write to the record (a risk, a review, an alert) leaves their cached results alone. Every other service
# reads the record, and most of them telemetry too (the inventory's row counts, drift, service levels, the gate),
# so they key on the workspace's version, which steps with either concern. None reads the record alone in a way
# worth a third key: an ingest writes the record as well (its ledger entry, the ingested file).
_TELEMETRY_ONLY = frozenset({"governance.monitoring.kpis", "governance.monitoring.compare",
                             "governance.monitoring.explore"})


@st.cache_data(show_spinner=False, max_entries=256)
def _cached_call(service_name: str, workspace: str, data_version: tuple, kwargs: tuple, *,
                 _service: Callable, _store: GovernanceStore):
    return _service(_store, **dict(kwargs))


def cached(service: Callable[..., T], /, **kwargs) -> T:
    """Call a governance service through Streamlit's cache, keyed on the data version of what it reads (telemetry,
    or the whole workspace) and on the freshness of telemetry read from outside it (a Parquet dataset, Spark).

    A rerun that changes nothing does not query again; a committed write of what the service reads invalidates
    the entry.
    """
    store = get_store()
    name = f"{service.__module__}.{service.__qualname__}"
    return _cached_call(name, str(store.path), version_read_by(store, service=service),
                        tuple(sorted(kwargs.items())), _service=service, _store=store)


def version_read_by(store: GovernanceStore, *, service: Callable) -> tuple:
    """What a cached result of `service` keys on: the data version of what it reads, and the freshness of
    telemetry read from outside the workspace."""
    concern = TELEMETRY if service.__module__ in _TELEMETRY_ONLY else WORKSPACE
    return concern, store.data_version(concern=concern), telemetry_sources.freshness(store)
