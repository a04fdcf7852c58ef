"""Which HTTP proxy a request goes through, from the environment, the way curl reads it.

- ``http_proxy`` (then ``HTTP_PROXY``) for ``http://`` URLs, ``https_proxy`` (then ``HTTPS_PROXY``) for
  ``https://``, ``all_proxy``/``ALL_PROXY`` for either when its own is unset; lower case wins, as in curl. Unlike
  curl, upper-case ``HTTP_PROXY`` is honoured (containers/image and httpx do), except inside a CGI request
  (``REQUEST_METHOD`` set), where a client's ``Proxy:`` header would become it ("httpoxy").
- A proxy is ``[http://][user:password@]host[:port]``; without a port, 1080 (curl's default). Only HTTP proxies:
  ``https://`` or ``socks*://`` proxies are refused with an error rather than bypassed.
- ``no_proxy`` (then ``NO_PROXY``): entries separated by commas or spaces. ``*`` sends everything direct. A host
  name matches itself and its subdomains (``example.com`` and ``.example.com`` both match ``a.example.com``, never
  ``badexample.com``); an IP address matches itself, a CIDR (``10.0.0.0/8``) the addresses in it; ``host:port``
  (``[::1]:5000``) matches that port only. Case is ignored. Loopback is proxied like any host unless listed (curl
  does the same; Go, and so skopeo, always go direct to ``localhost`` and loopback IPs).
"""

from __future__ import annotations

import base64
import ipaddress
import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import unquote, urlsplit

from ..errors import InputError

DEFAULT_PROXY_PORT = 1080


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = None  # ``Proxy-Authorization`` from the URL's user:password, if any

    def __str__(self) -> str:  # what errors show: never the credentials
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"Proxy({self})"


@dataclass(frozen=True)
class _Exempt:
    """One ``NO_PROXY`` entry."""

    name: str | None = None  # a host name: itself and its subdomains
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            ip = _ip(host)
            return ip is not None and ip in self.network
        return host == self.name or host.endswith("." + self.name)


@dataclass(frozen=True)
class ProxySettings:
    http: Proxy | None = None
    https: Proxy | None = None
    exempt: tuple[_Exempt, ...] = ()
    direct_for_all: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ProxySettings:
        env = os.environ if environ is None else environ

        def first(*names: str) -> tuple[str, str] | None:
            for name in names:
                if name == "HTTP_PROXY" and env.get("REQUEST_METHOD"):
                    continue
                value = (env.get(name) or "").strip()
                if value:
                    return name, value
            return None

        every = ("all_proxy", "ALL_PROXY")
        http = first("http_proxy", "HTTP_PROXY", *every)
        https = first("https_proxy", "HTTPS_PROXY", *every)
        no_proxy = first("no_proxy", "NO_PROXY")
        entries = no_proxy[1].replace(",", " ").split() if no_proxy else []
        return cls(http=_parse_proxy(*http) if http else None, https=_parse_proxy(*https) if https else None,
                   exempt=tuple(_parse_exempt(e) for e in entries if e != "*"), direct_for_all="*" in entries)

    def proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy for a request to ``scheme://host:port``, or None to connect directly."""
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or self.direct_for_all:
            return None
        host = _normal_host(host)
        if any(e.matches(host, port) for e in self.exempt):
            return None
        return proxy


def _normal_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _parse_proxy(variable: str, value: str) -> Proxy:
    url = urlsplit(value if "://" in value else "http://" + value)
    if url.scheme.lower() != "http":
        raise InputError(f"{variable}: proxy scheme {url.scheme!r} is not supported (mirrorsync speaks to HTTP "
                         f"proxies only: http://host:port)")
    try:
        host, port = url.hostname, url.port
    except ValueError:
        host = None
    if not host:
        raise InputError(f"{variable}: not a proxy URL (expected [http://][user:password@]host[:port])")
    authorization = None
    if url.username is not None:
        pair = f"{unquote(url.username)}:{unquote(url.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return Proxy(host, port or DEFAULT_PROXY_PORT, authorization)


def _parse_exempt(entry: str) -> _Exempt:
    entry = entry.lower()
    port = None
    if entry.startswith("["):  # [v6] or [v6]:port
        address, _, rest = entry[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
        entry = address
    elif entry.count(":") == 1:  # host:port (a bare IPv6 address has several colons)
        name, _, digits = entry.partition(":")
        if digits.isdigit():
            entry, port = name, int(digits)
    try:
        return _Exempt(network=ipaddress.ip_network(entry, strict=False), port=port)
    except ValueError:
        pass
    name = entry.removeprefix("*").lstrip(".").rstrip(".")
    return _Exempt(name=name, port=port)
