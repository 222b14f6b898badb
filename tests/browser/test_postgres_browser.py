"""The shared deployment in a real Chromium: the demo moved to PostgreSQL and its lake (`migrate`), served by two
real servers. Pages open on either; a write made through one server shows on the other's page at its next run,
because the page's cache keys on the data version kept in the database."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from components.navigation import PAGES, url_path
from tests.api.conftest import cli, cli_here, must
from tests.browser.conftest import ARTIFACTS, assert_no_failure, open_and_settle
from tests.conftest import copy_workspace
from tests.servers import start_server, stop_server

ADMIN = "Grace Lindqvist"
SHOWN = ("Overview", "KPIs", "Sign-offs", "Risks")   # pages over the lake and over the record


@pytest.fixture(scope="module")
def shared(demo_workspace, tmp_path_factory, postgres_server):
    workdir = tmp_path_factory.mktemp("postgres-browser")
    source = copy_workspace(demo_workspace, workdir / "demo.duckdb")
    url = postgres_server.create_database(f"browser_{uuid.uuid4().hex[:8]}")
    lake = workdir / "lake"
    must(cli_here("--db", source, "migrate", "--to", url, "--lake", lake, "--json"))
    started = [start_server(db=url, workdir=workdir, env={"QUORUM_LAKE": str(lake)}) for _ in range(2)]
    yield {"url": url, "lake": lake, "servers": [server for server, _ in started]}
    for _, process in started:
        stop_server(process)


@pytest.fixture
def page(browser, shared):
    context = browser.new_context(viewport={"width": 1440, "height": 2200})
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("title", SHOWN)
def test_pages_open_on_a_postgresql_workspace(page, shared, title):
    spec = next(p for p in PAGES if p.title == title)
    server = shared["servers"][1]
    open_and_settle(page, server.url + ("/" if spec is PAGES[0] else f"/{url_path(spec)}"), title, person=ADMIN)
    assert_no_failure(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"postgresql-{url_path(spec)}.png"), full_page=True)


def _data_version(page) -> int:
    metric = page.get_by_test_id("stMetric").filter(has_text="Data version")
    return int(re.search(r"(\d+)\s*$", metric.get_by_test_id("stMetricValue").inner_text()).group(1))


def test_a_write_through_one_server_shows_on_the_others_page(page, shared):
    first, second = shared["servers"]
    admin_page = next(p for p in PAGES if p.title == "Admin")
    open_and_settle(page, f"{second.url}/{url_path(admin_page)}", "Admin", person=ADMIN)
    before = _data_version(page)
    page.reload()   # a rerun with nothing written in between: the cached status, the same version
    open_and_settle(page, f"{second.url}/{url_path(admin_page)}", "Admin", person=ADMIN)
    assert _data_version(page) == before

    token = json.loads(must(cli_here("--db", shared["url"], "--lake", shared["lake"], "tokens", "create", "browser",
                                     "--user", "farid.haddad", "--by", "grace.lindqvist", "--json")).stdout)["token"]
    added = cli("risks", "add", "--title", "Written through the other server", "--category", "operational",
                "--owner", "elif.kaya", "--likelihood", "2", "--impact", "3", "--json",
                env={"QUORUM_SERVER": first.url, "QUORUM_TOKEN": token})
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["risk_id"]
    open_and_settle(page, f"{second.url}/{url_path(admin_page)}", "Admin", person=ADMIN)
    assert _data_version(page) > before
