"""Unit tests of the HTTP plumbing under RegistryClient (no network: httpx.MockTransport)."""

import httpx

from mirrorsync.registry.connection import _Client


def test_cookies_are_neither_kept_nor_sent():
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Cookie"))
        return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"})

    client = _Client(transport=httpx.MockTransport(handler))
    client.get("http://registry.example.com/v2/")
    client.get("http://registry.example.com/v2/")
    client.cookies = {"forced": "1"}  # ignored as well
    client.get("http://registry.example.com/v2/")
    assert seen == [None, None, None]
    assert len(client.cookies) == 0


def test_one_transport_serves_proxied_and_direct_hosts_alike(monkeypatch):
    from mirrorsync.registry.proxies import Proxy
    from mirrorsync.registry.client import RegistryClient
    from mirrorsync.registry.tls import HostTransports
    from mirrorsync.registry.transport import HTTPClientTransport

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("https_proxy", "http://proxy.example.com:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example.com")
    proxied = RegistryClient("registry.example.com")
    direct = RegistryClient("mirror.internal.example.com")
    for client in (proxied, direct):
        assert isinstance(client._client._transport, HostTransports)
        assert isinstance(client._transport, HTTPClientTransport)
        assert not client._client._mounts  # httpx routes nothing itself
    assert proxied._transport.route(("https", "registry.example.com", 443)) == Proxy("proxy.example.com", 3128)
    assert direct._transport.route(("https", "mirror.internal.example.com", 443)) is None
    direct.close()
    proxied.close()


def test_another_host_gets_its_own_transport_within_the_runs_connection_budget():
    from mirrorsync.registry.client import RegistryClient

    client = RegistryClient("registry.example.com", max_connections=3)
    try:
        realm = client._transports.elsewhere(httpx.URL("https://auth.example.com/token"))
        assert realm is not None and realm is not client._transport  # its own TLS settings
        assert realm._max_connections == 3
        assert client._transports.elsewhere(httpx.URL("https://registry.example.com/v2/")) is None
    finally:
        client.close()
