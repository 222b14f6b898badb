"""Markdown injection in a real Chromium: links, images, HTML and bare addresses typed into Quorum (model purpose,
owner and data set, an uploaded file's name, column names and group values, risk texts, a fairness policy's reason,
a vote's reason and condition, the SQL console, query parameters) show as the text they are. No request leaves for
them, no script runs, and no <img>, javascript: link or link to the payloads' addresses appears in the page.

The payloads are written through the services before one server starts, on a private copy of the demo workspace;
the pages are then read as a user reads them."""

from __future__ import annotations

import io
import re
from urllib.parse import quote, urlparse

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from governance.access.identity import DEMO_USERS
from governance.decisions import review_state, risks, voting
from governance.demo.datasets import load_german
from governance.evidence import fairness, fairness_policy
from governance.evidence.fairness_inputs import read_csv_data
from governance.evidence.model_registry import register_model
from governance.record.store import GovernanceStore
from governance.vocabulary import RISK_CATEGORIES
from tests.browser.conftest import assert_no_failure, open_and_settle, settle
from tests.conftest import copy_workspace
from tests.servers import start_server, stop_server

LINK = "[x](javascript:alert(1))"
IMAGE = "![x](http://127.0.0.1:9/x)"
HTML = "<img src=x onerror=alert(1)>"
BARE = "see http://127.0.0.1:9/bare or www.example.com"   # auto-linked by GitHub-flavoured markdown
PAYLOADS = (LINK, IMAGE, HTML, BARE)
PEOPLE = {u.user_name: u for u in DEMO_USERS}
FARID, AMARA, BEN = PEOPLE["farid.haddad"], PEOPLE["amara.okafor"], PEOPLE["ben.hartmann"]
GRACE = PEOPLE["grace.lindqvist"]
MODEL = "hostile-model"
FEATURES = ["duration_months", "credit_amount", "age", "installment_rate_pct"]

# What the payloads would have made: an element that loads, links or runs something they name.
HARMFUL_ELEMENTS = """() => [...document.querySelectorAll("img, a, iframe, object, embed, script, image")]
    .filter(e => {
        const url = e.getAttribute("src") || e.getAttribute("href") || e.getAttribute("xlink:href") || "";
        return url === "x" || url.includes("127.0.0.1:9/") || url.includes("example.com")
            || url.trim().toLowerCase().startsWith("javascript:")
            || (e.tagName === "SCRIPT" && e.closest("[data-testid='stMain']") !== null)
            || (e.getAttribute("onerror") || "") !== "";
    }).map(e => e.outerHTML)"""
# The main area's text as a reader sees it (the word joiners that keep addresses from linking are invisible).
SHOWN_TEXT = """() => document.querySelector("[data-testid='stMain']").innerText.replaceAll("\\u2060", "")"""


def _model_files() -> tuple[bytes, bytes]:
    """A skops model on German credit's numeric inputs, and its evaluation file whose group column holds the
    payloads."""
    frame = load_german()
    model = LogisticRegression(max_iter=1000).fit(frame[FEATURES].iloc[:700], frame["target"].iloc[:700])
    held_out = frame.iloc[700:].reset_index(drop=True)
    evaluation = held_out[FEATURES].assign(outcome=held_out["target"],
                                           group=[PAYLOADS[i % len(PAYLOADS)] for i in range(len(held_out))])
    return sio.dumps(model), evaluation.to_csv(index=False).encode()


def _audit_file() -> bytes:
    """An uploaded audit file: its sensitive column is named with HTML and its groups are the payloads."""
    rng = np.random.default_rng(7)
    n = 800
    return pd.DataFrame({"y_true": rng.integers(0, 2, n), "y_pred": rng.integers(0, 2, n),
                         HTML: [PAYLOADS[i % len(PAYLOADS)] for i in range(n)]}).to_csv(index=False).encode()


def write_payloads(db) -> dict:
    """Every free text the services take, written as the people allowed to write it; returns the ids made."""
    made = {}
    model_bytes, evaluation = _model_files()
    with GovernanceStore(db) as store:
        register_model(store, model=MODEL, version="v1", content=model_bytes, file_name="model.skops", actor=GRACE,
                       evaluation=evaluation, evaluation_name=IMAGE, y_true="outcome", sensitive=["group"],
                       purpose=f"{LINK} {BARE}", owner=HTML)
        data = read_csv_data(content=_audit_file(), name=IMAGE, y_true="y_true", y_pred="y_pred", sensitive=[HTML])
        definition = fairness.make_definition(data=data, sensitive=[HTML], bootstrap=fairness.MIN_BOOTSTRAP)
        made["audit"] = fairness.define_audit(store, definition=definition, actor=FARID)
        fairness.run_audit(store, audit_id=made["audit"], actor=FARID, data=data)
        # an audit of the model's own evaluation set, whose groups are the payloads too: the model is then one of
        # the Fairness page's choices, with its policy
        own = fairness.evaluation_set_data(store, model=MODEL, version="v1")
        own_audit = fairness.define_audit(store, actor=FARID, definition=fairness.make_definition(
            data=own, sensitive=["group"], bootstrap=fairness.MIN_BOOTSTRAP))
        fairness.run_audit(store, audit_id=own_audit, actor=FARID)
        policy = fairness_policy.policy_in_force(store, model=MODEL)
        fairness_policy.set_policy(store, model=MODEL, actor=AMARA, reason=f"{IMAGE} {HTML} {BARE}",
                                   criteria=[f"{c.name}{c.operator}{c.threshold:g}" for c in policy.criteria])
        risk = risks.add_risk(store, actor=FARID, risk=risks.NewRisk(
            title=LINK, category=RISK_CATEGORIES[0], owner="elif.kaya", likelihood=3, impact=3, models=[MODEL],
            description=f"{IMAGE} {HTML} {BARE}"))
        made["risk"] = risk["risk_id"]
        risks.update_risk(store, risk_id=made["risk"], changes={"impact": 4}, actor=FARID, reason=f"{HTML} {BARE}")
        review = review_state.request_review(store, model=MODEL, version="v1", gate="validation", actor=FARID)
        made["review"] = review["review_id"]
        voting.vote(store, review_id=made["review"], actor=BEN, vote="approve_with_conditions",
                    reason=f"{IMAGE} {LINK} {BARE}", reauth={"method": "demo"},
                    conditions=[{"text": f"{HTML} {IMAGE}", "owner": "farid.haddad", "due": "2030-01-01"}])
    return made


@pytest.fixture(scope="module")
def hostile(demo_workspace, tmp_path_factory):
    """The app on a copy of the demo workspace that holds the payloads; yields (server, the ids made)."""
    workdir = tmp_path_factory.mktemp("markdown")
    db = copy_workspace(demo_workspace, workdir / "hostile.duckdb")
    made = write_payloads(db)
    server, process = start_server(db=db, workdir=workdir)
    try:
        yield server, made
    finally:
        stop_server(process)


@pytest.fixture
def watched(browser, hostile):
    """A page, and what it did that the payloads might have caused: requests to their addresses, dialogs."""
    context = browser.new_context(viewport={"width": 1440, "height": 2400})
    page = context.new_page()
    seen = {"requests": [], "dialogs": []}

    def request(req) -> None:
        url = urlparse(req.url)
        if url.netloc == "127.0.0.1:9" or url.path.endswith("/x") or "example.com" in url.netloc:
            seen["requests"].append(req.url)

    context.on("request", request)
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    yield page, seen
    context.close()


def assert_inert(page, seen, *, shown=()) -> None:
    """Nothing the payloads name was loaded, linked or run, and each text of `shown` reads as written."""
    settle(page)
    assert_no_failure(page)
    assert page.evaluate(HARMFUL_ELEMENTS) == []
    text = page.evaluate(SHOWN_TEXT)
    for expected in shown:
        assert expected in text, f"{expected!r} is not shown as text"
    assert seen == {"requests": [], "dialogs": []}


def test_the_model_card_shows_purpose_owner_and_data_set_as_text(watched, hostile):
    page, seen = watched
    server, _ = hostile
    open_and_settle(page, server.url + "/", "Overview")
    page.get_by_text(f"Model card: {MODEL}").click()
    assert_inert(page, seen, shown=[f"Purpose. {LINK} {BARE}", f"Owner. {HTML}", f"Data set. {IMAGE}"])


def test_an_uploaded_files_name_columns_and_groups_show_as_text_in_its_audit(watched, hostile):
    page, seen = watched
    server, made = hostile
    open_and_settle(page, f"{server.url}/fairness?audit={made['audit']}", "Fairness")
    # the heading names the file; the caption its columns; the verdicts' explanations and the small groups its
    # values (st.table renders markdown)
    assert_inert(page, seen, shown=[f"{made['audit']}: {IMAGE}", f"sensitive: {HTML}", *PAYLOADS])
    verdicts = page.locator("[data-testid='stTable']").first
    assert any(p in verdicts.inner_text().replace("\u2060", "") for p in PAYLOADS)
    # the policy of the hostile model, with its reason
    page.get_by_test_id("stSelectbox").filter(has_text="Model").first.click()
    page.keyboard.type(MODEL)   # filter the list to the one option
    page.get_by_role("option", name=MODEL, exact=True).click()
    assert_inert(page, seen, shown=[f"{IMAGE} {HTML} {BARE}"])


def test_a_file_uploaded_with_a_hostile_name_is_named_as_text(watched, hostile):
    page, seen = watched
    server, _ = hostile
    open_and_settle(page, f"{server.url}/fairness", "Fairness")
    page.get_by_role("tab", name="New audit").click()
    settle(page)
    page.get_by_text("An uploaded CSV file").click()
    settle(page)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
        {"name": f"{HTML}.csv", "mimeType": "text/csv", "buffer": b"y_true,y_pred\n1,0\n0,1\n"})
    page.get_by_text("column(s): an audit needs", exact=False).wait_for(timeout=60_000)
    assert_inert(page, seen, shown=[f"{HTML}.csv has 2 column(s)"])


def test_risk_texts_show_as_text(watched, hostile):
    page, seen = watched
    server, made = hostile
    open_and_settle(page, f"{server.url}/risks?risk={made['risk']}", "Risks")
    assert_inert(page, seen, shown=[LINK, f"{IMAGE} {HTML} {BARE}"])


def test_a_votes_reason_and_condition_show_as_text(watched, hostile):
    page, seen = watched
    server, made = hostile
    open_and_settle(page, f"{server.url}/signoffs?review={made['review']}", "Sign-offs")
    assert_inert(page, seen, shown=[f"Reason: {IMAGE} {LINK} {BARE}", f"condition: {HTML} {IMAGE}"])


def test_a_row_link_and_the_sql_console_echo_payloads_as_text(watched, hostile):
    page, seen = watched
    server, _ = hostile
    open_and_settle(page, f"{server.url}/explanations?model=adult-income&version=v1&row={quote(IMAGE)}",
                    "Explanations")
    page.get_by_text("which is not a row id", exact=False).wait_for(timeout=60_000)
    assert_inert(page, seen, shown=[f"The link asks for row '{IMAGE}'"])

    open_and_settle(page, f"{server.url}/explore", "Explore")
    page.get_by_role("tab", name="SQL console").click()
    page.get_by_role("textbox", name="SQL").fill(f'SELECT "{HTML} {IMAGE}" FROM telemetry')
    page.get_by_role("button", name="Run").click()
    page.locator("[data-testid='stAlertContentError']").wait_for(timeout=60_000)
    assert_inert(page, seen, shown=[f"{HTML} {IMAGE}"])


@pytest.mark.parametrize("path", [f"/fairness?audit={quote(HTML)}", f"/signoffs?review={quote(IMAGE)}",
                                  f"/explore?measure={quote(LINK)}&model={quote(IMAGE)}&dims={quote(HTML)}"])
def test_query_parameters_never_reach_the_page_as_markup(watched, hostile, path):
    page, seen = watched
    server, _ = hostile
    title = {"fairness": "Fairness", "signoffs": "Sign-offs", "explore": "Explore"}[re.match(r"/(\w+)", path)[1]]
    open_and_settle(page, server.url + path, title)
    assert_inert(page, seen)
