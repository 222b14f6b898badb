"""`--as-of YYYY-MM-DD` on the command line and through the API: the read commands show the record as it stood at
the end of that day, before or after the command; every other command refuses it; `--json` says "as_of".

A small workspace is changed over three days (the clock moved by the test); what each day's view must say is read
straight from the record's tables here (plain SQL over risk_event and ledger), apart from the folds under test."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone

import pytest

from governance.access import identity, tokens
from governance.cli import as_of as cli_as_of, main as cli_main
from governance.decisions import review_state, risks, voting
from governance.errors import InvalidInputError
from governance.record import clock
from governance.record.as_of import BEFORE_RECORD, FUTURE_DAY
from governance.record.store import GovernanceStore
from tests.unit.record.test_as_of import first_day

PEOPLE = {u.user_name: u for u in identity.DEMO_USERS}
GRACE, FARID, CHAIR, BEN, CHEN = (PEOPLE[n] for n in ("grace.lindqvist", "farid.haddad", "amara.okafor",
                                                      "ben.hartmann", "chen.wei"))
D1, D2, D3 = date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 7)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Day 1: people, a model, the committee, risk R-001 (3×3). Day 2: R-001 re-scored (4×3), a token, an account,
    a review requested and approved, alert rules set. Day 3: the account disabled, R-001 assessed."""
    path = tmp_path_factory.mktemp("cli_as_of") / "ws.duckdb"
    patch = pytest.MonkeyPatch()
    moment = [datetime.combine(D1, time(9), tzinfo=timezone.utc)]
    patch.setattr(clock, "now", lambda: moment[0])
    try:
        with GovernanceStore(path) as store:
            first_day(store, risk_owner="farid.haddad")
            moment[0] = datetime.combine(D2, time(9), tzinfo=timezone.utc)
            risks.update_risk(store, risk_id="R-001", changes={"likelihood": 4}, actor=FARID, reason="seen")
            tokens.create_token(store, name="ci", user_name="farid.haddad", actor=GRACE, expires_days=None)
            identity.add_user(store, user_name="zoe", display_name="Zoe", role="viewer", source="demo", actor=GRACE)
            rv = review_state.request_review(store, model="m", version="v1", gate="validation", actor=FARID)["review_id"]
            for user in (CHAIR, BEN, CHEN):
                voting.vote(store, review_id=rv, actor=user, vote="approve", reason="ok", reauth={"method": "demo"})
            from governance import alerts

            alerts.set_rules(store, model="m", changes={"slo_breach": {"severity": "info"}}, actor=FARID)
            moment[0] = datetime.combine(D3, time(9), tzinfo=timezone.utc)
            identity.set_disabled(store, user_name="zoe", disabled=True, actor=GRACE)
            risks.update_risk(store, risk_id="R-001", changes={"status": "assessed"}, actor=FARID, reason="done")
    finally:
        patch.undo()
    return path


def _scores_from_the_table(path, day: date) -> dict:
    """R-001's likelihood, impact and status at the end of `day`, read from risk_event with plain SQL."""
    with GovernanceStore(path) as store:
        rows = store.query_rows("SELECT kind, field, new_value FROM risk_event WHERE risk_id = 'R-001' "
                                "AND recorded_at < ? ORDER BY seq",
                                [datetime.combine(day + timedelta(days=1), time())])
    state = {}
    for kind, field, new in rows:
        state.update(json.loads(new) if kind == "created" else {field: json.loads(new)})
    return {k: state[k] for k in ("likelihood", "impact", "status")}


def _json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("day", [D1, D2, D3], ids=str)
def test_risks_list_as_of_each_day_before_or_after_the_command(db, cli, day):
    expected = _scores_from_the_table(db, day)
    before = _json(cli("--as-of", day, "risks", "list", "--db", db, "--json"))
    after = _json(cli("risks", "list", "--db", db, "--as-of", day, "--json"))
    assert before == after and before["as_of"] == str(day)
    (risk,) = before["risks"]
    assert {k: risk[k] for k in expected} == expected
    assert risk["inherent_score"] == expected["likelihood"] * expected["impact"]
    history = _json(cli("risks", "history", "R-001", "--db", db, "--as-of", day, "--json"))["events"]
    assert len(history) == [D1, D2, D3].index(day) + 1


def test_the_other_read_commands_show_the_day(db, cli):
    assert [r["validity"] for r in _json(cli("signoff", "list", "--db", db, "--as-of", D1, "--json"))["reviews"]] \
        == []
    assert [r["validity"] for r in _json(cli("signoff", "list", "--db", db, "--as-of", D2, "--json"))["reviews"]] \
        == ["valid"]
    status = _json(cli("signoff", "status", "RV-0001", "--db", db, "--as-of", D2, "--json"))
    assert status["decision"]["outcome"] == "approved" and status["record_as_of"] == str(D2)
    assert status["as_of"] == str(D2)   # the review's own: the day its evidence was taken up to (requested on D2)
    early = cli("signoff", "status", "RV-0001", "--db", db, "--as-of", D1)
    assert early.returncode == 2 and early.stderr.strip() == "error: " + voting.NOT_REQUESTED_YET.format(
        review_id="RV-0001", before=f"{D2} 00:00:00")
    users = {d: [u["user_name"] for u in _json(cli("users", "list", "--db", db, "--as-of", d, "--json"))["users"]]
             for d in (D1, D2, D3)}
    assert "zoe" not in users[D1] and "zoe" in users[D2] and "zoe" not in users[D3]
    assert _json(cli("tokens", "list", "--db", db, "--as-of", D1, "--json"))["tokens"] == []
    (token,) = _json(cli("tokens", "list", "--db", db, "--as-of", D2, "--json"))["tokens"]
    assert (token["token_id"], token["state"]) == ("TK-0001", "active")
    rules = {d: _json(cli("alerts", "rules", "--model", "m", "--db", db, "--as-of", d, "--json"))["rules"]
             for d in (D1, D2)}
    assert rules[D1]["slo_breach"]["severity"] != "info" and rules[D2]["slo_breach"]["severity"] == "info"
    members = _json(cli("signoff", "member", "list", "--db", db, "--as-of", D1, "--json"))["members"]
    assert [m["user_name"] for m in members] == ["amara.okafor", "ben.hartmann", "chen.wei", "dolores.ruiz"]
    status = _json(cli("status", "--db", db, "--as-of", D1, "--json"))
    assert [(v["version"], v["stage"]) for m in status["models"] for v in m["versions"]] == [("v1", "development")]
    printed = cli("risks", "list", "--db", db, "--as-of", D1)
    assert printed.returncode == 0 and printed.stdout.startswith(f"as of {D1}: the record as it stood")


def test_writes_and_checks_refuse_the_option(db, cli):
    with GovernanceStore(db) as store:
        events = store.query_value("SELECT count(*) FROM risk_event")
    refused = cli("--as-of", D1, "risks", "update", "R-001", "--likelihood", "1", "--reason", "x", "--by",
                  "farid.haddad", "--db", db)
    assert refused.returncode == 2 and refused.stderr.strip() == f"error: {cli_as_of.WRITES_TODAY}"
    member = cli("signoff", "member", "add", "zoe", "--by", "grace.lindqvist", "--db", db, "--as-of", D1)
    assert member.returncode == 2 and cli_as_of.WRITES_TODAY in member.stderr
    # `signoff request --as-of` stays the day its evidence is taken up to; the record's --as-of before it is refused
    request = cli("--as-of", D1, "signoff", "request", "--model", "m", "--version", "v1", "--gate", "validation",
                  "--as-of", D1, "--by", "farid.haddad", "--db", db)
    assert request.returncode == 2 and request.stderr.strip() == f"error: {cli_as_of.WRITES_TODAY}"
    verify = cli("verify", "--db", db, "--as-of", D1)
    assert verify.returncode == 2 and "reads the record as it is now" in verify.stderr
    with GovernanceStore(db) as store:
        assert store.query_value("SELECT count(*) FROM risk_event") == events


def test_a_day_outside_the_record_is_refused(db, cli):
    early = cli("risks", "list", "--db", db, "--as-of", "2026-10-04")
    assert early.returncode == 2 and early.stderr.strip() == "error: " + BEFORE_RECORD.format(
        day="2026-10-04", first=D1)
    tomorrow = clock.today().toordinal() + 1
    late = cli("risks", "list", "--db", db, "--as-of", date.fromordinal(tomorrow))
    assert late.returncode == 2 and late.stderr.strip() == "error: " + FUTURE_DAY.format(
        day=date.fromordinal(tomorrow), today=clock.today())
    bad = cli("risks", "list", "--db", db, "--as-of", "5 Oct")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_the_option_travels_through_the_server(db):
    """The client sends every argument it parsed but the workspace's own; the server's parser takes --as-of and the
    command answers as of the day, or refuses a write, as here."""
    from api.commands import Server

    args = cli_main.build_parser().parse_args(["--as-of", str(D1), "risks", "list"])
    from governance.cli import remote

    assert getattr(args, cli_as_of.DEST) == str(D1) and cli_as_of.DEST not in remote._NOT_SENT
    with GovernanceStore(db) as store:
        server = Server(store)
        try:
            code, answer = server.run(words=["risks", "list"], body={"arguments": {cli_as_of.DEST: str(D1)}},
                                       user=FARID)
            assert code == 200 and answer["result"]["as_of"] == str(D1)
            assert answer["result"]["risks"][0]["likelihood"] == _scores_from_the_table(db, D1)["likelihood"]
            with pytest.raises(InvalidInputError, match="drop --as-of"):
                server.run(words=["risks", "update"], body={"arguments": {
                    cli_as_of.DEST: str(D1), "risk_id": "R-001", "set_likelihood": 1, "reason": "x"}}, user=FARID)
        finally:
            server.close()
