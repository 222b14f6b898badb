"""The workspace as the app sees it: one store per process, the demo on first start, cached queries."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, TypeVar

import streamlit as st

from governance import demo, scheduler, telemetry_sources
from governance.errors import GovernanceError
from governance.ingest import absorb_inbox
from governance.store import GovernanceStore
from governance.workspace import is_default_workspace, shared_store, workspace_path

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
        st.error(str(exc))
        st.stop()


def _builds_demo(path) -> bool:
    """QUORUM_AUTO_DEMO=1 or 0 decides; by default only the default workspace gets the demo."""
    flag = os.environ.get("QUORUM_AUTO_DEMO")
    return flag == "1" if flag is not None else is_default_workspace(path)


def ensure_demo(store: GovernanceStore) -> None:
    """On first start on an empty workspace meant for the demo, build it with a progress bar."""
    if not _builds_demo(store.path) or store.query_value("SELECT count(*) FROM model"):
        return
    with _seed_lock:  # a second browser session waits here, then finds the demo built
        if store.query_value("SELECT count(*) FROM model"):
            return
        rows = int(os.environ.get("QUORUM_DEMO_ROWS", demo.DEFAULT_ROWS))
        bar = st.progress(0.0, text="Building the demo workspace on UCI Adult and German credit …")
        demo.seed_demo(store, rows=rows, progress=lambda fraction, message: bar.progress(fraction, text=message))
        bar.empty()


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


@st.cache_data(show_spinner=False, max_entries=256)
def _cached_call(service_name: str, workspace: str, data_version: tuple, kwargs: tuple, *,
                 _service: Callable, _store: GovernanceStore):
    return _service(_store, **dict(kwargs))


def cached(service: Callable[..., T], /, **kwargs) -> T:
    """Call a governance service through Streamlit's cache, keyed on the workspace's data version and on the
    freshness of telemetry read from outside it (a Parquet dataset, Spark).

    A rerun that changes nothing does not query again; any committed write invalidates the entry.
    """
    store = get_store()
    name = f"{service.__module__}.{service.__qualname__}"
    return _cached_call(name, str(store.path), (store.data_version(), telemetry_sources.freshness(store)),
                        tuple(sorted(kwargs.items())), _service=service, _store=store)
