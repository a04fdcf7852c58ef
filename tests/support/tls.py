"""Server-side TLS for the tests' small loopback servers (token realm, redirect target)."""

from __future__ import annotations

import ssl
from pathlib import Path

from devtools.devregistry import CertPair


def server_context(cert: CertPair, client_ca: Path | None = None) -> ssl.SSLContext:
    """Serve ``cert``; with ``client_ca``, ask for (but do not require) a client certificate from that CA, so a
    server can record whether a client sent one."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert.cert), str(cert.key))
    if client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cafile=str(client_ca))
    return ctx
