"""api.auth.require_secure_transport on real Starlette requests built from ASGI scopes: tokens and passwords never
cross a network in clear text."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from api.auth import PLAIN_HTTP, require_secure_transport
from api.http import ApiError


def request(*, client: str | None, scheme: str = "http", forwarded_proto: str | None = None) -> Request:
    headers = [(b"host", b"quorum.example.org")]
    if forwarded_proto is not None:
        headers.append((b"x-forwarded-proto", forwarded_proto.encode()))
    return Request({"type": "http", "http_version": "1.1", "method": "POST", "scheme": scheme,
                    "path": "/api/v1/commands/risks/add", "raw_path": b"/api/v1/commands/risks/add",
                    "query_string": b"", "root_path": "", "headers": headers,
                    "client": None if client is None else (client, 54321), "server": ("quorum.example.org", 8501)})


def refused(req: Request) -> ApiError:
    with pytest.raises(ApiError) as caught:
        require_secure_transport(req)
    return caught.value


@pytest.fixture
def direct(monkeypatch):
    monkeypatch.delenv("QUORUM_BEHIND_TLS", raising=False)


@pytest.fixture
def behind_tls(monkeypatch):
    monkeypatch.setenv("QUORUM_BEHIND_TLS", "1")


@pytest.mark.parametrize("client", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_plain_http_from_this_machine_is_allowed(direct, client):
    require_secure_transport(request(client=client))


@pytest.mark.parametrize("client", ["10.0.0.7", "192.168.1.20", "2001:db8::5", "example.org", None])
def test_plain_http_from_another_machine_is_refused_with_403_and_the_way_out(direct, client):
    error = refused(request(client=client))
    assert error.status == 403
    assert str(error) == PLAIN_HTTP
    assert "QUORUM_BEHIND_TLS=1" in str(error) and "TLS reverse proxy" in str(error)


def test_a_forwarded_https_header_is_not_trusted_unless_the_server_is_behind_tls(direct):
    # Anyone can send the header: without QUORUM_BEHIND_TLS it proves nothing.
    assert refused(request(client="10.0.0.7", forwarded_proto="https")).status == 403


def test_https_itself_is_allowed_from_anywhere(direct):
    require_secure_transport(request(client="10.0.0.7", scheme="https"))


@pytest.mark.parametrize("client", ["10.0.0.7", "127.0.0.1"])
def test_behind_tls_the_proxy_s_https_is_allowed(behind_tls, client):
    require_secure_transport(request(client=client, forwarded_proto="https"))


@pytest.mark.parametrize("client", ["10.0.0.7", "127.0.0.1"])
def test_behind_tls_a_request_the_proxy_took_over_plain_http_is_refused(behind_tls, client):
    error = refused(request(client=client, forwarded_proto="http"))
    assert error.status == 403 and str(error) == PLAIN_HTTP


def test_behind_tls_a_remote_request_without_the_proxy_s_header_is_refused(behind_tls):
    assert refused(request(client="10.0.0.7")).status == 403


def test_behind_tls_a_caller_on_this_machine_without_the_header_is_allowed(behind_tls):
    # The proxy sets the header on everything it forwards; a request without it came straight from this machine.
    require_secure_transport(request(client="127.0.0.1"))


def test_behind_the_proxy_failures_are_counted_per_forwarded_client(behind_tls):
    from api.auth import client_key

    forwarded = request(client="127.0.0.1", forwarded_proto="https")
    forwarded.scope["headers"].append((b"x-forwarded-for", b"198.51.100.9, 203.0.113.4"))
    assert client_key(forwarded) == "client 203.0.113.4"      # the address the proxy itself saw
    assert client_key(request(client="127.0.0.1", forwarded_proto="https")) == "client 127.0.0.1"


def test_a_forwarded_address_is_not_trusted_without_the_proxy(direct):
    from api.auth import client_key

    spoofed = request(client="127.0.0.1")
    spoofed.scope["headers"].append((b"x-forwarded-for", b"203.0.113.4"))
    assert client_key(spoofed) == "client 127.0.0.1"
