"""Unit tests of the HTTP plumbing under RegistryClient (no network: httpx.MockTransport)."""

import httpx

from mirrorsync.registry import _Client


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


def test_httpx_own_transport_is_kept_where_the_environment_names_a_proxy(monkeypatch):
    from mirrorsync.registry import RegistryClient
    from mirrorsync.transport import HTTPClientTransport

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    direct = RegistryClient("registry.example.com")
    assert isinstance(direct._client._transport, HTTPClientTransport)
    monkeypatch.setenv("https_proxy", "http://proxy.example.com:3128")
    proxied = RegistryClient("registry.example.com")
    assert not isinstance(proxied._client._transport, HTTPClientTransport)
    assert proxied._client._mounts  # httpx routes through the proxy it read from the environment
    direct.close()
    proxied.close()
