"""Which proxy a request takes, from the environment as curl reads it (pure logic: nothing connects)."""

from __future__ import annotations

import pytest

from mirrorsync.errors import InputError
from mirrorsync.registry.proxies import Proxy, ProxySettings


def route(env: dict[str, str], url: str) -> Proxy | None:
    scheme, rest = url.split("://")
    host, _, port = rest.rpartition(":") if rest.rsplit(":", 1)[-1].isdigit() else (rest, "", "")
    return ProxySettings.from_environ(env).proxy_for(
        scheme, host.strip("[]"), int(port) if port else (443 if scheme == "https" else 80))


P = "http://proxy.corp:3128"
PROXY = Proxy("proxy.corp", 3128)


def test_each_scheme_takes_its_own_variable_and_all_proxy_fills_in():
    env = {"http_proxy": "http://plain.corp:8080", "HTTPS_PROXY": P}
    assert route(env, "http://registry.example.com") == Proxy("plain.corp", 8080)
    assert route(env, "https://registry.example.com") == PROXY
    assert route({"ALL_PROXY": P}, "http://registry.example.com") == PROXY
    assert route({"all_proxy": P, "https_proxy": "other.corp:1"}, "https://r.example.com") == Proxy("other.corp", 1)
    assert route({}, "https://registry.example.com") is None
    assert route({"https_proxy": "  "}, "https://registry.example.com") is None


def test_lower_case_wins_and_upper_case_http_proxy_is_ignored_inside_cgi():
    assert route({"https_proxy": P, "HTTPS_PROXY": "other.corp:1"}, "https://r.example.com") == PROXY
    assert route({"HTTP_PROXY": P}, "http://r.example.com") == PROXY
    assert route({"HTTP_PROXY": P, "REQUEST_METHOD": "GET"}, "http://r.example.com") is None


def test_a_proxy_without_scheme_or_port_is_http_on_curls_default_port():
    assert route({"https_proxy": "proxy.corp"}, "https://r.example.com") == Proxy("proxy.corp", 1080)
    assert route({"https_proxy": "[fd00::1]:3128"}, "https://r.example.com") == Proxy("fd00::1", 3128)


def test_proxy_credentials_become_proxy_authorization_and_never_its_text():
    proxy = route({"https_proxy": "http://us%40er:p%3Ass@proxy.corp:3128"}, "https://r.example.com")
    assert proxy.authorization == "Basic dXNAZXI6cDpzcw=="  # us@er:p:ss
    assert "p:ss" not in str(proxy) and "p%3Ass" not in repr(proxy)


@pytest.mark.parametrize("value", ["https://proxy.corp:3128", "socks5://proxy.corp:1080", "http://:3128"])
def test_proxies_we_cannot_speak_to_are_an_error_naming_the_variable_not_a_silent_bypass(value):
    with pytest.raises(InputError, match=r"^HTTPS_PROXY: ") as err:
        ProxySettings.from_environ({"HTTPS_PROXY": value.replace("proxy.corp", "u:secret@proxy.corp")})
    assert "secret" not in str(err.value)


@pytest.mark.parametrize("no_proxy, url, direct", [
    ("example.com", "https://example.com", True),
    ("example.com", "https://a.b.example.com", True),
    ("example.com", "https://badexample.com", False),
    (".example.com", "https://a.example.com", True),
    (".example.com", "https://example.com", True),
    ("*.example.com", "https://a.example.com", True),
    ("EXAMPLE.com", "https://Registry.Example.COM", True),
    ("example.com.", "https://a.example.com", True),
    ("other.org, example.com", "https://a.example.com", True),
    ("other.org example.com", "https://a.example.com", True),
    ("*", "https://anything.example.net", True),
    ("other.org,*", "https://anything.example.net", True),
    ("registry.example.com:5000", "https://registry.example.com:5000", True),
    ("registry.example.com:5000", "https://registry.example.com", False),
    ("registry.example.com:5000", "https://a.registry.example.com:5000", True),
    ("127.0.0.1", "http://127.0.0.1:5000", True),
    ("127.0.0.1", "http://127.0.0.2:5000", False),
    ("127.0.0.1:5000", "http://127.0.0.1:5001", False),
    ("10.0.0.0/8", "https://10.20.30.40", True),
    ("10.0.0.0/8", "https://11.0.0.1", False),
    ("10.0.0.0/8", "https://10.example.com", False),
    ("::1", "https://[::1]:5000", True),
    ("[::1]:5000", "https://[::1]:5000", True),
    ("[::1]:5000", "https://[::1]:5001", False),
    ("fd00::/8", "https://[fd12::3]", True),
    ("", "https://example.com", False),
    # curl proxies loopback unless it is listed (Go, and so skopeo, never proxy it)
    ("example.com", "http://localhost:5000", False),
    ("example.com", "http://127.0.0.1:5000", False),
])
def test_no_proxy_matches_as_curl_does(no_proxy, url, direct):
    got = route({"https_proxy": P, "http_proxy": P, "no_proxy": no_proxy}, url)
    assert (got is None) is direct


def test_lower_case_no_proxy_wins_over_upper_case():
    env = {"https_proxy": P, "no_proxy": "a.example.com", "NO_PROXY": "b.example.com"}
    assert route(env, "https://a.example.com") is None
    assert route(env, "https://b.example.com") == PROXY
    assert route({"https_proxy": P, "NO_PROXY": "b.example.com"}, "https://b.example.com") is None
