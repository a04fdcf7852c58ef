"""Plain HTTP(S) reads a run makes beside the registries: the update graph, a release signature store.

Each host is reached as a registry is: its ``registries`` TLS settings (``certDir``, ``tlsVerify``), the run's
proxies, retries and timeout, one pooled transport per host for the whole run, and an answer of bounded size.
"""

from __future__ import annotations

import threading
from typing import Callable
from urllib.parse import urlsplit

import httpx

from . import limits
from .auth import Credentials
from .connection import USER_AGENT
from .http_errors import raise_for_status
from .proxies import ProxySettings
from .retry import RetryPolicy, call
from .settings import RegistrySettings
from .tls import ssl_context_for
from .transport import HTTPClientTransport


class WebReader:
    """GETs of small documents over HTTP(S), retried as registry requests are; thread-safe."""

    def __init__(self, *, settings_for: Callable[[str], RegistrySettings] = lambda host: RegistrySettings(),
                 policy: RetryPolicy | None = None, timeout: float = 60.0,
                 proxies: ProxySettings | None = None) -> None:
        self._settings_for = settings_for
        self.policy = policy or RetryPolicy()
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 15.0))
        self._proxies = ProxySettings.from_environ() if proxies is None else proxies
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def _client(self, netloc: str) -> httpx.Client:
        with self._lock:
            client = self._clients.get(netloc)
            if client is None:
                ctx = ssl_context_for(netloc, self._settings_for(netloc))
                transport = HTTPClientTransport(ssl_context=ctx, max_connections=2, proxies=self._proxies,
                                                ledger=self.policy.ledger)
                client = httpx.Client(transport=transport, verify=ctx, timeout=self._timeout,
                                      headers={"User-Agent": USER_AGENT}, follow_redirects=True)
                self._clients[netloc] = client
            return client

    def get(self, url: str, *, action: str, limit: int, kind: str, accept: str | None = None,
            credentials: Credentials | None = None) -> bytes:
        """The body of ``url``, at most ``limit`` bytes (``kind`` names it in that error: "an update graph");
        ``action`` ("reading the update graph URL") names the request in errors and retries. ``credentials`` go as
        Basic auth to the URL's host only (a redirect elsewhere does not carry them). Raises what
        ``raise_for_status`` raises (``NotFound`` for a 404) and ``httpx.TransportError`` once retries are spent."""
        client = self._client(urlsplit(url).netloc)
        headers = {"Accept": accept} if accept else {}
        auth = httpx.BasicAuth(credentials.username, credentials.password) if credentials is not None else None

        def get() -> bytes:
            with client.stream("GET", url, headers=headers, **({"auth": auth} if auth else {})) as response:
                raise_for_status(response, action)
                return limits.read_at_most(response, limit, kind, url)

        return call(self.policy, get, action)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> WebReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
