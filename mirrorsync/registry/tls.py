"""TLS per host: the SSL context containers/image would use for a host, and a registry client's transports (the
registry's own, and one for each other host it sends us to, each with that host's TLS settings)."""

from __future__ import annotations

import os
import ssl
import threading
from pathlib import Path
from typing import Callable

import httpx

from ..errors import InputError
from .proxies import ProxySettings
from .settings import RegistrySettings
from .retry import RetryLedger
from .transport import HTTPClientTransport

CERT_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")


def ssl_context_for(host: str, settings: RegistrySettings) -> ssl.SSLContext:
    """TLS as containers/image sets it up: system CAs plus ``*.crt`` in the cert dir, client ``*.cert``/``*.key``."""
    if not settings.tls_verify:
        # Nothing is verified, so no CA is loaded: the system bundle takes ~50 ms to read, on every client.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context()
    cert_dir = cert_dir_for(host, settings)
    if settings.cert_dir is not None and not os.path.isdir(settings.cert_dir):
        raise InputError(f"certDir {settings.cert_dir!r} for {host} is not a directory")
    if cert_dir:
        for f in sorted(Path(cert_dir).iterdir()):
            try:
                if f.suffix == ".crt" and settings.tls_verify:
                    ctx.load_verify_locations(cafile=str(f))
                elif f.suffix == ".cert":
                    key = f.with_suffix(".key")
                    if not key.exists():
                        raise InputError(f"client certificate {f} has no matching {key.name}")
                    ctx.load_cert_chain(str(f), str(key))
            except ssl.SSLError as exc:
                raise InputError(f"cannot load {f}: {exc.reason or exc}") from None
    return ctx


def cert_dir_for(host: str, settings: RegistrySettings) -> str | None:
    """The directory a host's CAs and client certificates are read from: its ``certDir``, else the first of
    ``CERT_DIRS``/HOST that exists, else None."""
    if settings.cert_dir is not None:
        return settings.cert_dir
    return next((d for d in (os.path.join(base, host) for base in CERT_DIRS) if os.path.isdir(d)), None)


def ca_files(host: str, settings: RegistrySettings) -> list[str]:
    """The ``*.crt`` files trusted for ``host`` beside the system CAs."""
    cert_dir = cert_dir_for(host, settings)
    if not settings.tls_verify or not cert_dir or not os.path.isdir(cert_dir):
        return []
    return [str(f) for f in sorted(Path(cert_dir).iterdir()) if f.suffix == ".crt"]


def fix_for(kind: str | None, host: str, settings: RegistrySettings) -> str:
    """What fixes a permanent connection failure of ``host`` (``transport.permanence``), as a clause to append to
    its error; "" for any other failure."""
    if kind == "certificate":
        read = ca_files(host, settings)
        where = (f"it trusts the system CAs and {', '.join(read)}" if read else
                 f"it trusts the system CAs only (no *.crt in {cert_dir_for(host, settings)})"
                 if cert_dir_for(host, settings) else
                 f"it trusts the system CAs only (no certDir for {host}, no {CERT_DIRS[0]}/{host})")
        return (f" (not retried: {host}'s certificate is not trusted; {where}: put the CA that signed it in a "
                f"*.crt file of registries.{host}.certDir (or {CERT_DIRS[0]}/{host}/ca.crt), or set "
                f"tlsVerify: false for {host} to skip verification, only on a network you trust)")
    if kind == "plain-http":
        return (f" (not retried: {host} answers plain HTTP, not TLS; mirrorsync speaks plain HTTP only to a "
                f"registry with tlsVerify: false: set registries.{host}.tlsVerify: false if it has no TLS)")
    if kind == "dns":
        return f" (not retried: the name {host.rsplit(':', 1)[0]} does not resolve: check its spelling and DNS)"
    return ""


class HostTransports(httpx.BaseTransport):
    """The transports of one registry client: ``own`` for the registry host, and one per other host it sends us
    to (its token realm, a redirect's target), made on first use. As an httpx transport it sends each request on
    its host's transport (httpx's public API: a client's ``mounts`` are fixed URL patterns, and these hosts are
    known only when a registry names them).

    TLS settings belong to a host, so ``tlsVerify: false`` or a client certificate given for the registry never
    reach its token realm or a redirect's target, which get their own (``settings_for``: verified, their own
    certs.d, by default). Everything else (the HTTP stack, the proxy rules, the connection budget) is the same.
    """

    def __init__(self, host: str, settings: RegistrySettings, *, owns: Callable[[httpx.URL], bool],
                 settings_for: Callable[[str], RegistrySettings], max_connections: int,
                 proxies: ProxySettings | None, ledger: RetryLedger | None = None) -> None:
        """``owns(url)``: whether a URL is on the registry host itself; ``ledger``: where the requests sent again
        on a fresh connection are counted (the run's retries)."""
        self._owns = owns
        self._settings_for = settings_for
        self._max_connections = max_connections
        # proxies from the environment are the transport's to apply, per host (see proxies.py)
        self._proxies = proxies
        self._ledger = ledger
        self.ssl_context = ssl_context_for(host, settings)
        self.own = HTTPClientTransport(ssl_context=self.ssl_context, max_connections=max_connections,
                                       proxies=proxies, ledger=ledger)
        self._elsewhere: dict[str, HTTPClientTransport] = {}  # netloc -> a transport with that host's settings
        self._lock = threading.Lock()

    def elsewhere(self, url: httpx.URL) -> httpx.BaseTransport | None:
        """The transport for a URL on another host; None for the registry's own (``own``)."""
        if self._owns(url):
            return None
        netloc = url.netloc.decode("ascii")
        with self._lock:
            other = self._elsewhere.get(netloc)
            if other is None:
                other = HTTPClientTransport(ssl_context=ssl_context_for(netloc, self._settings_for(netloc)),
                                            max_connections=self._max_connections, proxies=self._proxies,
                                            ledger=self._ledger)
                self._elsewhere[netloc] = other
        return other

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return (self.elsewhere(request.url) or self.own).handle_request(request)

    def close(self) -> None:
        with self._lock:
            others, self._elsewhere = list(self._elsewhere.values()), {}
        for transport in (self.own, *others):
            transport.close()
