"""An ``http.server`` of our own on an ephemeral 127.0.0.1 port, in a daemon thread: the start/stop that the
test token server, the recording (redirect target) server, the hostile server and the update graph server share."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackHTTPServer:
    """``start()``/``stop()`` or ``with``; a subclass says how requests are answered (``_handler``) and may set
    ``tls`` (a server context) to serve HTTPS."""

    tls: ssl.SSLContext | None = None
    thread_name = "loopback-http"
    _httpd: ThreadingHTTPServer | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        """Listen on an ephemeral 127.0.0.1 port in a daemon thread."""
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        if self.tls:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        # A short poll interval keeps stop() (which waits for the next poll) from adding half a second.
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name,
                         daemon=True).start()
        return self

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with ``tls``) of the running server."""
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def stop(self) -> None:
        """Stop listening; safe to call more than once."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AnsweringHTTPServer(LoopbackHTTPServer):
    """A server whose GETs a subclass answers with ``answer(path, headers)`` -> (status, content type, body)."""

    def answer(self, path: str, headers) -> tuple[int, str, bytes]:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                status, content_type, body = server.answer(self.path, self.headers)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # a client that stopped reading, as it may
                    pass

            def log_message(self, *args) -> None:
                pass

        return Handler
