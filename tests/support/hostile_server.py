"""A registry that answers with what a hostile or broken server could send: bodies that never end, tag lists that
page forever or loop, token answers without end. On 127.0.0.1, plain HTTP; counts the bytes it manages to send.

Paths (``REPO`` is anything):
- ``/v2/``: 200 ``{}``;
- ``/v2/REPO/manifests/endless``: 200, a manifest body that never ends (no ``Content-Length``);
- ``/v2/REPO/manifests/huge``: 200 with ``Content-Length: 1 GiB`` (and as many bytes as the client reads);
- ``/v2/REPO/manifests/error``: 500 with a body that never ends;
- ``/v2/REPO/manifests/html``: 200, a well-formed image manifest served as ``text/html``;
- ``/v2/REPO/manifests/trickle`` and any ``/v2/REPO/blobs/DIGEST``: 200, a byte every ``TRICKLE_GAP`` seconds;
- ``/v2/REPO/manifests/gzip-bomb`` (and ``/v2/REPO/manifests/deflate-bomb``): 200, 256 KiB of gzip (zlib) that
  expand to 256 MiB;
- ``/v2/token/manifests/REF``: 401 naming the realm ``/token``, whose 200 answer never ends;
- ``/v2/REPO/tags/list``: ``REPO`` ``pages`` links to a next page forever (one new tag each), ``loop`` links to
  itself, ``lastonly`` pages by ``n``/``last`` without any ``Link``, ``endless`` is one page that never ends.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools.loopback_http import LoopbackHTTPServer

_CHUNK = b"x" * 65536
TRICKLE_LENGTH, TRICKLE_GAP = 100_000, 0.1  # the slow loris: 10 bytes a second, each read well within a timeout
HTML_SERVED_MANIFEST = json.dumps({
    "schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                   "digest": "sha256:" + "0" * 64, "size": 2}, "layers": []}).encode()
_GIVE_UP = 256 << 20  # a client that reads this much has no limit: stop, so that the test fails instead of hanging


@functools.cache
def _bomb(wbits: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, wbits)
    zeros = bytes(1 << 20)
    return b"".join(z.compress(zeros) for _ in range(_GIVE_UP >> 20)) + z.flush()


class HostileServer(LoopbackHTTPServer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: dict[str, int] = {}  # path -> body bytes written, summed over requests
        self.requests: list[str] = []
        self.stopped = threading.Event()  # ends the trickles when the test is done

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler_for(self)

    def stop(self) -> None:
        self.stopped.set()
        super().stop()

    @property
    def host(self) -> str:
        assert self._httpd is not None
        return f"127.0.0.1:{self._httpd.server_address[1]}"

    def count(self, path: str, n: int) -> None:
        with self._lock:
            self.sent[path] = self.sent.get(path, 0) + n

    def total(self, fragment: str) -> int:
        with self._lock:
            return sum(n for path, n in self.sent.items() if fragment in path)


_TAGS = re.compile(r"^/v2/(?P<repo>.+)/tags/list$")


def _handler_for(server: HostileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # headers and a small body in one segment: no Nagle/delayed-ACK stall per request

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            path, query = url.path, parse_qs(url.query)
            with server._lock:
                server.requests.append(self.path)
            if path == "/v2/":
                return self._json(200, {})
            if path == "/token":
                return self._endless(200, path)
            if path.startswith("/v2/token/"):
                realm = f"http://{server.host}/token"
                return self._json(401, {"errors": [{"code": "UNAUTHORIZED"}]},
                                  {"WWW-Authenticate": f'Bearer realm="{realm}",service="hostile"'})
            if path.endswith("/manifests/endless"):
                return self._endless(200, path)
            if path.endswith("/manifests/huge"):
                return self._endless(200, path, length=1 << 30)
            if path.endswith("/manifests/gzip-bomb") or path.endswith("/manifests/deflate-bomb"):
                encoding = "gzip" if "gzip" in path else "deflate"
                data = _bomb(zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Content-Encoding", encoding)
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:  # the client stopped reading: what it is meant to do
                    self.close_connection = True
                return server.count(path, len(data))
            if path.endswith("/manifests/error"):
                return self._endless(500, path)
            if path.endswith("/manifests/trickle") or "/blobs/" in path:  # slow loris: a byte every TRICKLE_GAP
                return self._trickle(path)
            if path.endswith("/manifests/html"):  # a well-formed image manifest, served as a web page
                data = HTML_SERVED_MANIFEST
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                return server.count(path, len(data))
            m = _TAGS.match(path)
            if m:
                return self._tags(m["repo"], path, query)
            self._json(404, {"errors": [{"code": "NAME_UNKNOWN"}]})

        def _tags(self, repo: str, path: str, query: dict[str, list[str]]) -> None:
            mode = repo.rsplit("/", 1)[-1]
            if mode == "endless":
                return self._endless(200, path)
            if mode == "loop":
                return self._json(200, {"name": repo, "tags": ["a"]}, {"Link": f'<{path}?n=1000>; rel="next"'})
            if mode == "pages":
                page = int(query.get("page", ["0"])[0])
                return self._json(200, {"name": repo, "tags": [f"t{page}"]},
                                  {"Link": f'<{path}?page={page + 1}>; rel="next"'})
            if mode == "lastonly":  # 5 tags, n per page, no Link: only n/last finds them all
                tags = [f"v{i}" for i in range(5)]
                n, last = int(query.get("n", ["1000"])[0]), query.get("last", [""])[0]
                rest = [t for t in tags if t > last]
                return self._json(200, {"name": repo, "tags": rest[:n]})
            self._json(404, {"errors": [{"code": "NAME_UNKNOWN"}]})

        def _trickle(self, path: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(TRICKLE_LENGTH))
            self.end_headers()
            try:
                for _ in range(TRICKLE_LENGTH):
                    if server.stopped.is_set():
                        break
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    server.count(path, 1)
                    time.sleep(TRICKLE_GAP)
            except OSError:  # the client gave up: what it is meant to do
                self.close_connection = True

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            server.count(self.path, len(data))

        def _endless(self, status: int, path: str, length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            if length is not None:
                self.send_header("Content-Length", str(length))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            written = 0
            try:
                while written < _GIVE_UP:
                    self.wfile.write(_CHUNK)
                    written += len(_CHUNK)
            except OSError:
                pass
            finally:
                server.count(path, written)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

    return Handler
