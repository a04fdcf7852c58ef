"""Which scheme a registry host is spoken to over: containers/image's rule."""

from __future__ import annotations

from typing import Callable

import httpx

from . import retry
from .retry import RetryPolicy
from .settings import RegistrySettings


def detect_scheme(host: str, settings: RegistrySettings, get: Callable[[str], object], policy: RetryPolicy) -> str:
    """HTTPS always; plain HTTP only when ``tlsVerify: false`` and HTTPS does not answer. ``get(url)`` sends a
    GET; the probes are retried under ``policy``, and an ``httpx.TransportError`` means neither answered."""
    if settings.tls_verify:
        return "https"

    def probe() -> str:
        try:
            get(f"https://{host}/v2/")
            return "https"
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
            # ConnectError also covers a TLS handshake failure against a plain-HTTP port
            get(f"http://{host}/v2/")
            return "http"

    return retry.call(policy, probe, f"connecting to {host}")
