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
