"""A second loopback server that blob downloads get redirected to, recording every header it receives.

docker-registry only redirects blob GETs with cloud storage drivers (``storage.redirect``), so tests put a
``FaultProxy`` with a ``"redirect"`` rule in front of the real registry: it fetches the blob with the client's
own credentials, hands the bytes to this server under an unguessable path (like a pre-signed storage URL) and
answers 307 to it. Whatever the client then sends here, ``Authorization`` above all, is in ``requests``.
"""

from __future__ import annotations

import re
import secrets
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from devtools.loopback_http import LoopbackHTTPServer


@dataclass(frozen=True)
class Received:
    """One request this server got: its method, path and every header (names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    client_cert: bool = False  # the client presented a certificate (HTTPS with ``tls`` asking for one)


class RecordingServer(LoopbackHTTPServer):
    """Serves bytes put into it at one-off paths and records every request; ``start()``/``stop()`` or ``with``."""

    thread_name = "recording-server"

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls  # serve HTTPS with this server context (see ``support.tls.server_context``)
        self._lock = threading.Lock()
        self._objects: dict[str, tuple[bytes, str]] = {}
        self._requests: list[Received] = []

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("recording server not started")
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def requests(self) -> list[Received]:
        """A copy of every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    def put(self, data: bytes, content_type: str | None = None) -> str:
        """Store ``data`` and return the URL that serves it."""
        key = secrets.token_hex(16)
        with self._lock:
            self._objects[key] = (data, content_type or "application/octet-stream")
        return f"{self.url}/objects/{key}"

    def _get(self, key: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._objects.get(key)

    def _record(self, received: Received) -> None:
        with self._lock:
            self._requests.append(received)


_RANGE = re.compile(r"^bytes=(\d+)-$")


def _handler_for(server: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            getpeercert = getattr(self.connection, "getpeercert", None)
            server._record(Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                    bool(getpeercert and getpeercert())))
            found = server._get(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/objects/") else None
            if found is None:
                body = b"not found"
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            data, content_type = found
            start = 0
            m = _RANGE.match(self.headers.get("Range", ""))
            if m and int(m[1]) < len(data):
                start = int(m[1])
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data) - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data[start:])

        do_HEAD = do_GET  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

    return Handler
