"""Bad requests get a JSON refusal with the right status and words, and change nothing: unknown routes and
commands, broken JSON, bad fields, an upload over the limit, unusable tokens, a role without the permission, and a
client guessing tokens. Seen from the CLI too: one `error:` line, exit 2, never a traceback.

One server for the module, started with a 1 MB upload limit (QUORUM_MAX_UPLOAD_MB=1).
"""

from __future__ import annotations

import importlib
import json
import urllib.parse
from datetime import datetime, timedelta
from http.client import HTTPConnection

import pytest

from governance.access.caller import BY_IS_NOT_THE_TOKEN
from governance.access.tokens import TOKEN_REFUSED
from governance.errors import GovernanceError
from governance.record.store import GovernanceStore
from tests.api.conftest import (ADMIN, LEADER, MEMBER_PASSWORD, VIEWER, Answer, add_committee_member, cli,
                                cli_here, fresh_copy, http, issue_token, must, no_traceback, serve)
from tests.servers import free_port, stop_server

LIMIT_MB = 1
SIGNER, SIGNER_PASSWORD = "member1", MEMBER_PASSWORD.format(n=1)   # a local account on the committee


@pytest.fixture(scope="module")
def served(demo_workspace, module_dir):
    db = fresh_copy(demo_workspace, module_dir)
    add_committee_member(db, SIGNER, SIGNER_PASSWORD)
    requested = must(cli_here("--db", db, "signoff", "request", "--model", "adult-income", "--version", "v2",
                              "--gate", "production", "--by", LEADER, "--json"))
    tokens = {user: issue_token(db, user) for user in (ADMIN, LEADER, VIEWER, SIGNER)}
    tokens["expired"] = issue_token(db, LEADER, name="expires-soon", expires_days=1)
    tokens["revoked"] = issue_token(db, LEADER, name="to-revoke")
    listed = json.loads(must(cli_here("--db", db, "tokens", "list", "--json")).stdout)["tokens"]
    revoked_id = next(t["token_id"] for t in listed if t["name"] == "to-revoke")
    must(cli_here("--db", db, "tokens", "revoke", revoked_id, "--by", ADMIN))
    # The one way to an expired token without waiting a day: move its expiry into the past in the file.
    with GovernanceStore(db) as store:
        with store.write() as tx:
            tx.execute("UPDATE api_token SET expires_at = ? WHERE name = 'expires-soon'",
                       [datetime.utcnow() - timedelta(hours=1)])
    server = serve(db, module_dir, tokens=tokens, env={"QUORUM_MAX_UPLOAD_MB": str(LIMIT_MB)})
    server.review_id = json.loads(requested.stdout)["review_id"]
    yield server
    stop_server(server.process)


def from_client(address: str, served, method: str, path: str, *, token: str, body=None) -> Answer:
    """A request from another loopback address (127.0.0.2, …): another client to the server, so the failures it
    provokes do not throttle the other tests' client, 127.0.0.1."""
    host, port = urllib.parse.urlsplit(served.url).netloc.split(":")
    connection = HTTPConnection(host, int(port), timeout=60, source_address=(address, 0))
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read().decode()
        return Answer(response.status, response.headers, json.loads(text), text)
    finally:
        connection.close()


def telemetry_rows(served) -> int:
    answer = served.command("status", as_user=VIEWER)
    assert answer.status == 200, answer.text
    return answer.body["result"]["tables"]["telemetry"]


def refused(answer, status: int) -> str:
    """The answer is JSON {"error": …} with this status; returns the message."""
    assert answer.status == status, (answer.status, answer.text)
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    assert isinstance(answer.body, dict) and isinstance(answer.body.get("error"), str) and answer.body["error"]
    assert "Traceback" not in answer.text
    return answer.body["error"]


def one_error_line(result, *fragments: str) -> str:
    """The CLI's refusal: exit 2, nothing on stdout, one `error: …` line on stderr naming the fragments."""
    no_traceback(result)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    return result.stderr


# --- routes, commands, bodies and fields ----------------------------------------------------------------------------
@pytest.mark.parametrize("method, path", [("GET", "/api/v1/nothing-here"), ("POST", "/api/v1/risks"),
                                          ("DELETE", "/api/v1/commands/risks/add"), ("GET", "/api/v1")])
def test_an_unknown_route_is_404_json_even_without_a_token(served, method, path):
    message = refused(http(method, served.url + path, data=b"{}" if method == "POST" else None), 404)
    assert "openapi.json" in message


@pytest.mark.parametrize("words", ["frobnicate", "risks/explode", "risks", "signoff/vote/again"])
def test_an_unknown_command_is_404_json(served, words):
    answer = http("POST", f"{served.url}/api/v1/commands/{words}", token=served.tokens[LEADER], body={})
    message = refused(answer, 404)
    assert "there is no command" in message and "openapi.json" in message


@pytest.mark.parametrize("command", ["init", "serve"])
def test_commands_that_only_run_on_the_server_s_machine_are_404_with_the_reason(served, command):
    assert "without --server" in refused(served.command(command, as_user=ADMIN), 404)


@pytest.mark.parametrize("data", [b"{not json", b"", b"\xff\xfe\x00", b'{"arguments": {"model": "adult-income"'])
def test_a_malformed_json_body_is_400(served, data):
    answer = http("POST", f"{served.url}/api/v1/commands/status", token=served.tokens[LEADER], data=data,
                  headers={"Content-Type": "application/json"})
    assert "not JSON" in refused(answer, 400)


@pytest.mark.parametrize("body, named", [
    ([1, 2, 3], "not an object"),
    ({"arguments": ["model", "adult-income"]}, "'arguments'"),
    ({"arguments": {}, "secrets": "hunter2"}, "'secrets'"),
])
def test_a_body_of_the_wrong_shape_is_400_naming_what_is_wrong(served, body, named):
    answer = http("POST", f"{served.url}/api/v1/commands/status", token=served.tokens[LEADER], body=body)
    assert named in refused(answer, 400)


@pytest.mark.parametrize("command, arguments, named", [
    ("kpis", {"model": "adult-income", "grain": "yearly"}, "--grain"),
    ("kpis", {"model": "adult-income", "colour": "red"}, "'colour'"),
    ("kpis", {"grain": "day"}, "--model"),                                   # a required field left out
    ("kpis", {"model": ["adult-income"]}, "'model'"),                        # not a scalar
    ("risks list", {"status": 3.5}, "--status"),
    ("risks add", {"title": "t", "category": "privacy", "owner": "elif.kaya", "likelihood": 3, "impact": 3,
                   "model": "adult-income"}, "'model'"),                     # a repeatable field needs a list
    ("audit list", {"json": "yes"}, "'json'"),                               # --json is the caller's own business
    ("signoff status", {"review_id": "-RV-0001"}, "'review_id'"),            # a value cannot become an option
    ("drift", {"model": "adult-income", "version": "v1", "grain": True}, "'grain'"),
])
def test_a_bad_field_is_400_naming_the_field(served, command, arguments, named):
    message = refused(served.command(command, arguments, as_user=LEADER), 400)
    assert named in message, message


def test_an_unknown_model_is_400_in_the_command_s_own_words(served):
    assert "no-such-model" in refused(served.command("kpis", {"model": "no-such-model"}, as_user=LEADER), 400)


# --- uploads ----------------------------------------------------------------------------------------------------------
def test_an_upload_over_the_limit_is_413_and_nothing_is_kept(served, module_dir):
    before = telemetry_rows(served)
    big = b"ts,prediction,latency_ms,is_error\n" + b"2026-09-20T10:00:00Z,1,12.5,false\n" * 62_000   # 2 MB
    assert len(big) >= 2 * (LIMIT_MB << 20)
    # The server refuses as soon as it knows: from the declared length, or (chunked, no length declared) once the
    # bytes it has counted pass the limit. It may close the connection while the body is still being sent; a client
    # then reads the refusal that arrived (the CLI does: see the last part).
    for chunked in (False, True):
        connection = HTTPConnection(*urllib.parse.urlsplit(served.url).netloc.split(":"), timeout=60)
        try:
            try:
                connection.request("POST", "/api/v1/uploads?name=big.csv",
                                   body=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]) if chunked
                                   else big, encode_chunked=chunked,
                                   headers={"Authorization": f"Bearer {served.tokens[LEADER]}",
                                            "Content-Type": "application/octet-stream", "Connection": "close"})
            except (BrokenPipeError, ConnectionResetError):
                pass
            response = connection.getresponse()
            answer = Answer(response.status, response.headers, None, response.read().decode())
            answer.body = json.loads(answer.text)
        finally:
            connection.close()
        assert f"limit of {LIMIT_MB:,} MB" in refused(answer, 413), chunked

    path = module_dir / "big.csv"
    path.write_bytes(big)
    through = cli("ingest", "telemetry", path, "--model", "adult-income", "--version", "v2",
                  env=served.through(LEADER))
    one_error_line(through, f"limit of {LIMIT_MB:,} MB", "nothing was kept")
    assert telemetry_rows(served) == before
    small = http("POST", f"{served.url}/api/v1/uploads?name=small.csv", token=served.tokens[LEADER],
                 data=big[:100_000])
    assert small.status == 201 and small.body["upload"].startswith("UP-")


def test_an_upload_is_its_own_account_s_and_used_once_and_a_path_on_the_server_is_no_upload(served):
    csv = b"ts,prediction,latency_ms,is_error\n2026-09-20T10:00:00Z,1,12.5,false\n"

    def upload() -> str:
        answer = http("POST", f"{served.url}/api/v1/uploads?name=one.csv", token=served.tokens[LEADER], data=csv)
        assert answer.status == 201, answer.text
        return answer.body["upload"]

    arguments = {"model": "adult-income", "version": "v2", "file": {"upload": upload()}}
    assert "does not hold for you" in refused(served.command("quality", arguments, as_user=ADMIN), 400)
    assert "does not hold for you" in refused(served.command("quality", {**arguments, "file": "/etc/passwd"},
                                                             as_user=LEADER), 400)
    arguments["file"] = {"upload": upload()}
    checked = served.command("quality", arguments, as_user=LEADER)
    assert checked.status == 200 and checked.body["result"]["rows"] == 1, checked.text
    assert checked.body["result"]["source"] == "one.csv"
    assert "does not hold for you" in refused(served.command("quality", arguments, as_user=LEADER), 400)


# --- tokens ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["expired", "revoked"])
def test_an_expired_or_revoked_token_is_401(served, which):
    assert refused(http("GET", f"{served.url}/api/v1/whoami", token=served.tokens[which]), 401) == TOKEN_REFUSED
    assert refused(served.command("risks list", token=served.tokens[which]), 401) == TOKEN_REFUSED
    through = cli("risks", "list", env={"QUORUM_SERVER": served.url, "QUORUM_TOKEN": served.tokens[which]})
    one_error_line(through, TOKEN_REFUSED)


def test_no_token_is_401_saying_how_to_send_one(served):
    for headers in ({}, {"Authorization": "Basic Z3JhY2U6cGFzcw=="}, {"Authorization": "Bearer "}):
        message = refused(http("GET", f"{served.url}/api/v1/whoami", headers=headers), 401)
        assert "Authorization: Bearer" in message and "tokens create" in message


def test_a_viewer_writing_is_403_naming_the_permission(served):
    arguments = {"title": "Viewer's risk", "category": "privacy", "owner": "elif.kaya", "likelihood": 2,
                 "impact": 2}
    before = served.result("risks list", as_user=VIEWER)["result"]["risks"]
    message = refused(served.command("risks add", arguments, as_user=VIEWER), 403)
    assert "edit risks" in message and "viewer" in message
    through = cli("risks", "add", "--title", "Viewer's risk", "--category", "privacy", "--owner", "elif.kaya",
                  "--likelihood", "2", "--impact", "2", env=served.through(VIEWER))
    one_error_line(through, "edit risks")
    assert served.result("risks list", as_user=VIEWER)["result"]["risks"] == before


def test_by_naming_another_account_is_refused_clearly(served):
    risk = {"title": "t", "category": "privacy", "owner": "elif.kaya", "likelihood": 3, "impact": 3}
    assert refused(served.command("risks add", {**risk, "by": LEADER}, as_user=ADMIN), 403) == \
        BY_IS_NOT_THE_TOKEN.format(by=LEADER, user=ADMIN)
    message = BY_IS_NOT_THE_TOKEN.format(by=LEADER, user=VIEWER)
    through = cli("audit", "run", "--model", "german-credit", "--version", "v1", "--sensitive", "sex",
                  "--by", LEADER, env=served.through(VIEWER))
    one_error_line(through, message)
    vote = cli("signoff", "vote", "RV-0005", "--vote", "approve", "--reason", "x", "--by", ADMIN,
               env=served.through(VIEWER, QUORUM_PASSWORD="whatever-it-is"))
    one_error_line(vote, BY_IS_NOT_THE_TOKEN.format(by=ADMIN, user=VIEWER))


def test_the_cli_without_a_token_or_a_server_says_what_to_do(served):
    one_error_line(cli("status", env={"QUORUM_SERVER": served.url}), "QUORUM_TOKEN", "tokens create")
    nobody = f"http://127.0.0.1:{free_port()}"
    one_error_line(cli("status", env={"QUORUM_SERVER": nobody, "QUORUM_TOKEN": served.tokens[VIEWER]}),
                   f"cannot reach the Quorum server at {nobody}")
    one_error_line(cli("--server", served.url, "--db", served.db, "status",
                       env={"QUORUM_TOKEN": served.tokens[VIEWER]}), "not both")


def test_a_client_guessing_tokens_is_throttled_after_ten_failures(served):
    """From 127.0.0.2 (loopback too, but another client to the server): its failures do not throttle the other tests'
    client, 127.0.0.1, which the last request proves."""
    answers = [from_client("127.0.0.2", served, "GET", "/api/v1/whoami", token=f"qrm_guess{guess:04d}")
               for guess in range(11)]
    assert [a.status for a in answers] == [401] * 10 + [429]
    retry_after = answers[-1].headers["Retry-After"]
    assert retry_after.isdigit() and 0 < int(retry_after) <= 300
    message = refused(answers[-1], 429)
    assert "too many failed authentications" in message and f"{retry_after} s" in message
    # Now even a good token from that client waits; another client is not held up.
    assert from_client("127.0.0.2", served, "GET", "/api/v1/whoami", token=served.tokens[VIEWER]).status == 429
    assert http("GET", f"{served.url}/api/v1/whoami", token=served.tokens[VIEWER]).body["user_name"] == VIEWER


def test_guessing_a_signer_s_password_is_throttled_for_the_client_and_for_the_account(served):
    """A vote through the server carries the signer's password; a token alone never signs. Wrong passwords count
    as failed authentications: after ten, that client waits, and so does a signature by that account from anywhere
    else (even with the right password); the account's other requests go on."""
    vote = {"review_id": served.review_id, "vote": "approve", "reason": "I read the evidence"}
    answers = [from_client("127.0.0.3", served, "POST", "/api/v1/commands/signoff/vote", token=served.tokens[SIGNER],
                           body={"arguments": vote, "secrets": {"QUORUM_PASSWORD": f"guess-{n}-{SIGNER_PASSWORD}"}})
               for n in range(11)]
    assert [a.status for a in answers] == [403] * 10 + [429], [(a.status, a.body) for a in answers]
    assert "re-authentication failed" in refused(answers[0], 403)
    assert answers[-1].headers["Retry-After"].isdigit()

    elsewhere = served.command("signoff vote", vote, as_user=SIGNER, secrets={"QUORUM_PASSWORD": SIGNER_PASSWORD})
    assert f"account {SIGNER}" in refused(elsewhere, 429)
    through = cli("signoff", "vote", served.review_id, "--vote", "approve", "--reason", "I read the evidence",
                  env=served.through(SIGNER, QUORUM_PASSWORD=SIGNER_PASSWORD))
    one_error_line(through, "too many failed authentications")
    assert http("GET", f"{served.url}/api/v1/whoami", token=served.tokens[SIGNER]).body["user_name"] == SIGNER
    status = served.result("signoff status", {"review_id": served.review_id}, as_user=VIEWER)["result"]
    assert status["votes"] == []


def test_none_of_it_was_an_internal_failure_on_the_server(served):
    """Every refusal above is an answer, not a failure (run last in this file). The job runner logs a job's domain
    error with its traceback too (the `--by` refusal of `audit run`, a job): each traceback in the server's log must
    end in a domain error, never in anything unexpected."""
    log = served.log_path.read_text(errors="replace")
    assert "internal error" not in log, log[-4000:]
    for chunk in log.split("Traceback (most recent call last):")[1:]:
        raised = next(line for line in chunk.splitlines() if line and not line.startswith(" "))
        module, _, name = raised.split(":")[0].rpartition(".")
        assert module.startswith("governance") and issubclass(getattr(importlib.import_module(module), name),
                                                              GovernanceError), chunk
