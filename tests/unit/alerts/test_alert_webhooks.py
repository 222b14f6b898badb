"""Webhooks and server-side requests: a webhook goes only to public addresses unless an admin allows the host or
its network ($QUORUM_WEBHOOK_ALLOW); it is checked when a rule is saved and again before each send; the host is
resolved once and the request goes to the checked address (Host header, SNI and certificate check on the name);
redirects are not followed and only the status code is kept. Real receivers on loopback, real TLS."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from governance import alerts
from governance.alerts.delivery import (WEBHOOK_ALLOW_ENV, DeliverySettings, WebhookRefusedError, deliver_pending,
                                        enqueue, history, is_public)
from governance.record.store import GovernanceStore
from tests.conftest import LEADER

T0 = datetime(2026, 12, 1, 9, 0, 0)
SETTINGS = DeliverySettings(timeout_seconds=5)
SECRET_ANSWER = b"internal-secret-do-not-show"

# The IANA special-purpose address registries (RFC 6890 and successors), written out here, not derived from Python.
NOT_PUBLIC = ["127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1",
              "169.254.169.254", "100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3", "224.0.0.1",
              "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.0.8", "192.0.2.1", "198.18.0.1",
              "198.51.100.7", "203.0.113.9", "::1", "::", "fe80::1", "fe80::1%2", "fc00::1", "fd12:3456::1", "ff02::1",
              "2001:db8::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1",
              "2002:a00:1::1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2001:0:4136:e378:8000:63bf:3fff:fdd2"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "100.63.255.255", "100.128.0.1", "172.32.0.1", "2606:4700::1111",
          "2a00:1450:4001::1", "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"]
REFUSED_URLS = ["http://127.0.0.1:9/x", "http://localhost/hook", "http://169.254.169.254/latest/meta-data/",
                "http://10.0.0.7/", "http://[::1]:8080/", "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/",
                "http://0.0.0.0:8501/", "http://2130706433/", "http://0x7f000001/", "http://127.1/",
                "https://192.168.0.10/hook", "http://[fe80::1]/"]


def test_public_addresses_are_told_from_the_rest():
    assert [a for a in NOT_PUBLIC if is_public(a)] == []
    assert [a for a in PUBLIC if not is_public(a)] == []


def test_a_non_public_webhook_is_refused_when_the_rule_is_saved(demo_copy, monkeypatch):
    monkeypatch.delenv(WEBHOOK_ALLOW_ENV, raising=False)
    with GovernanceStore(demo_copy) as store:
        before = alerts.rules(store, model="adult-income")["drift_act"]["recipients"]
        for url in REFUSED_URLS:
            with pytest.raises(WebhookRefusedError, match=WEBHOOK_ALLOW_ENV) as refused:
                alerts.set_rules(store, model="adult-income", actor=LEADER,
                                 changes={"drift_act": {"recipients": [url]}})
            assert "non-public" in str(refused.value), url
        assert alerts.rules(store, model="adult-income")["drift_act"]["recipients"] == before   # nothing recorded
        # an admin allows a network and a name; a name that cannot be resolved now is checked at each send
        monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.0/8, localhost")
        urls = ["http://127.0.0.1:9/x", "http://localhost/hook", "http://2130706433/", "https://hooks.invalid/q"]
        set_to = alerts.set_rules(store, model="adult-income", actor=LEADER,
                                  changes={"drift_act": {"recipients": urls}})
        assert set_to["rules"]["drift_act"]["recipients"] == urls
        with pytest.raises(WebhookRefusedError):   # the allowance is for those only
            alerts.set_rules(store, model="adult-income", actor=LEADER,
                             changes={"drift_act": {"recipients": ["http://10.0.0.7/"]}})


class Receiver(BaseHTTPRequestHandler):
    """Records every request it gets, answers `answer` (status, extra headers) with a body it must never leak."""
    answer = (200, {})

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append({"path": self.path, "host": self.headers["Host"], "payload": json.loads(body)})
        status, headers = self.server.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(SECRET_ANSWER)))
        self.end_headers()
        self.wfile.write(SECRET_ANSWER)

    def log_message(self, *args):
        pass


@contextmanager
def receiver(address="127.0.0.1", port=0, *, answer=(200, {}), tls: ssl.SSLContext | None = None):
    server = ThreadingHTTPServer((address, port), Receiver)
    server.received, server.answer = [], answer
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def queue(store, url: str, key: str = "EP-0001"):
    """enqueue itself does not look the host up (a check queues inside its write): the send checks."""
    return enqueue(store, alert_key=key, channel="webhook", recipient=url, subject="Error rate above 10%",
                   body="17.3% in the last hour.", link="/kpis?model=churn", evidence={"value": 0.173}, now=T0)


@pytest.fixture
def store(tmp_path):
    with GovernanceStore(tmp_path / "ws.duckdb") as opened:
        yield opened


@pytest.fixture
def names(monkeypatch):
    """Host names the test makes up, each with its answers in turn (the last repeated); others resolve as usual.
    Counts every lookup of a made-up name."""
    real = socket.getaddrinfo
    table: dict[str, list[list[str]]] = {}
    lookups: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            return real(host, port, *args, **kwargs)
        lookups[host] = lookups.get(host, 0) + 1
        answers = table[host][min(lookups[host], len(table[host])) - 1]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, port) if ":" not in a else (a, port, 0, 0)) for a in answers]
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table, lookups


def test_the_send_checks_again_and_keeps_only_the_status_code(store, monkeypatch):
    with receiver() as hook:
        url = f"http://127.0.0.1:{hook.server_address[1]}/hooks/quorum"
        queue(store, url)
        monkeypatch.delenv(WEBHOOK_ALLOW_ENV, raising=False)
        refused = deliver_pending(store, settings=SETTINGS, now=T0)
        assert refused["results"][0]["result"] == "error" and WEBHOOK_ALLOW_ENV in refused["results"][0]["detail"]
        assert hook.received == []   # nothing reached the loopback receiver

        monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1/32")
        sent = deliver_pending(store, settings=SETTINGS, now=T0 + dt.timedelta(hours=2))
    assert sent["delivered"] == 1 and sent["results"][0]["detail"] == "HTTP 200"
    [request] = hook.received
    assert request["path"] == "/hooks/quorum" and request["host"] == f"127.0.0.1:{hook.server_address[1]}"
    assert request["payload"]["alert_key"] == "EP-0001"
    assert SECRET_ANSWER.decode() not in json.dumps(history(store))


def test_the_request_goes_to_the_address_that_was_checked(store, monkeypatch, names):
    table, lookups = names
    with receiver("127.0.0.2") as allowed:
        port = allowed.server_address[1]
        with receiver("127.0.0.1", port) as forbidden:
            # checked: 127.0.0.2 (allowed); asked again, the name would answer 127.0.0.1 (not allowed)
            table["rebind.test"] = [["127.0.0.2"], ["127.0.0.1"]]
            monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.2")
            queue(store, f"http://rebind.test:{port}/hook")
            sent = deliver_pending(store, settings=SETTINGS, now=T0)
            assert sent["delivered"] == 1, sent
            assert lookups["rebind.test"] == 1 and forbidden.received == []
            assert [r["host"] for r in allowed.received] == [f"rebind.test:{port}"]

            # every address a name resolves to is checked: one not allowed refuses the send
            table["split.test"] = [["127.0.0.2", "127.0.0.1"]]
            queue(store, f"http://split.test:{port}/hook", key="EP-0002")
            refused = deliver_pending(store, settings=SETTINGS, now=T0)
            assert refused["results"][0]["result"] == "error" and "non-public" in refused["results"][0]["detail"]
            assert len(allowed.received) == 1 and forbidden.received == []


def test_a_redirect_is_not_followed(store, monkeypatch):
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1")
    with receiver() as elsewhere:
        target = f"http://127.0.0.1:{elsewhere.server_address[1]}/inside"
        with receiver(answer=(307, {"Location": target})) as hook:
            queue(store, f"http://127.0.0.1:{hook.server_address[1]}/hook")
            result = deliver_pending(store, settings=SETTINGS, now=T0)
    assert result["results"][0]["detail"] == "RuntimeError: HTTP 307 (redirects are not followed)"
    assert len(hook.received) == 1 and elsewhere.received == []


def self_signed(tmp_path, name: str):
    """A certificate for `name` (its own issuer), its key, and the file a client trusts it from."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_https_checks_the_certificate_against_the_name_not_the_address(store, monkeypatch, names, tmp_path):
    table, _ = names
    cert_file, key_file = self_signed(tmp_path, "hook.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))   # the client trusts this certificate only
    monkeypatch.setenv(WEBHOOK_ALLOW_ENV, "127.0.0.1")
    table["hook.test"] = table["other.test"] = [["127.0.0.1"]]
    server_names = []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    tls.sni_callback = lambda sock, name, ctx: server_names.append(name)
    with receiver(tls=tls) as hook:
        port = hook.server_address[1]
        queue(store, f"https://hook.test:{port}/hook")
        queue(store, f"https://other.test:{port}/hook", key="EP-0002")   # same address, a name the cert lacks
        result = {r["delivery_id"]: r for r in deliver_pending(store, settings=SETTINGS, now=T0)["results"]}
    assert result[1]["detail"] == "HTTP 200"
    assert result[2]["result"] == "error" and "CERTIFICATE_VERIFY_FAILED" in result[2]["detail"]
    assert [r["host"] for r in hook.received] == [f"hook.test:{port}"]
    assert server_names[:2] == ["hook.test", "other.test"]
