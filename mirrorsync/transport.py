"""An httpx transport over the standard library's ``http.client``: HTTP/1.1 with keep-alive, nothing more.

httpx's default transport (httpcore + h11) spends about 0.5 ms of CPU on each request; ``http.client`` parses the
same answer in a third of that. On a no-op re-sync, which is nothing but small HEADs, that CPU is most of what the
client costs, and on a small machine it is taken from the registries. Everything above the transport (auth
flows, redirects, decoding, the ``httpx.Response`` our code reads) is still httpx's.

What it does: one pool of idle keep-alive connections per (scheme, host, port), shared by all threads; a connection
is reused only when the previous answer was read to its end and the server has not closed it since; request
bodies are sent as given (``Content-Length``) or chunked; response bodies are streamed. Failures are raised as the
httpx exceptions our retry rules know (``ConnectError``, ``ReadTimeout``, ``RemoteProtocolError``, ...). It speaks
no proxy: ``RegistryClient`` keeps httpx's own transport when a proxy is configured in the environment.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from typing import Iterable, Iterator

import httpx

_READ_SIZE = 1 << 17

_Key = tuple[str, str, int]


def proxy_configured() -> bool:
    """Whether httpx would send requests through a proxy taken from the environment."""
    import os  # noqa: PLC0415

    return any(os.environ.get(name) or os.environ.get(name.lower())
               for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"))


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None, float | None]:
    t = request.extensions.get("timeout") or {}
    return t.get("connect"), t.get("read"), t.get("write")


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle connection the server has closed (or written to, which it must not): not reusable."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _Body(httpx.SyncByteStream):
    """A response body read from its connection as it arrives; the connection goes back to the pool only when
    the body was read to its end."""

    def __init__(self, transport: HTTPClientTransport, key: _Key, conn: http.client.HTTPConnection,
                 response: http.client.HTTPResponse) -> None:
        self._transport = transport
        self._key = key
        self._conn = conn
        self._response = response
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            while True:
                chunk = self._response.read1(_READ_SIZE) if not self._response.isclosed() else b""
                if not chunk:
                    if self._response.length:  # http.client ends quietly where the peer closed early
                        raise httpx.RemoteProtocolError(
                            f"peer closed connection without sending complete message body "
                            f"({self._response.length} bytes missing)")
                    self._done = True
                    return
                yield chunk
        except socket.timeout as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        except (http.client.IncompleteRead, http.client.HTTPException) as exc:
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and not self._response.will_close:
            self._response.close()
            self._transport._release(self._key, conn)
        else:
            self._response.close()
            conn.close()


class HTTPClientTransport(httpx.BaseTransport):
    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_idle: int = 32) -> None:
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._max_idle = max_idle
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # --- connections ------------------------------------------------------------------------------------------

    # The pool lock guards only the lists: the liveness check (a syscall that releases the GIL) and closes run
    # outside it, or every thread queues behind one that waits to get the GIL back.

    def _acquire(self, key: _Key) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None or not _closed_by_peer(conn):
                return conn
            conn.close()

    def _release(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            keep = not self._closed and len(idle) < self._max_idle
            if keep:
                idle.append(conn)
        if not keep:
            conn.close()

    def _connect(self, key: _Key, connect_timeout: float | None) -> http.client.HTTPConnection:
        scheme, host, port = key
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=connect_timeout, context=self._ssl_context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        try:
            conn.connect()
        except socket.timeout as exc:
            conn.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out") from exc
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, a failed TLS handshake
            conn.close()
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    # --- requests ---------------------------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        connect_timeout, read_timeout, write_timeout = _timeouts(request)
        conn = self._acquire(key) or self._connect(key, connect_timeout)
        try:
            conn.sock.settimeout(write_timeout)
            try:
                self._send(conn, request)
            except _WriteFailed as failed:
                # The server may have answered and closed before taking the whole body (a 401 or 413 to an
                # upload): that answer says more than the broken pipe does.
                response = self._early_answer(conn, read_timeout)
                if response is None:
                    raise httpx.WriteError(str(failed.__cause__) or "write failed") from failed.__cause__
            else:
                conn.sock.settimeout(read_timeout)
                response = conn.getresponse()
        except BaseException as exc:
            conn.close()
            _raise_as_httpx(exc)
            raise  # the request body's own failure (a source that broke mid-upload), or ours
        return httpx.Response(
            response.status, headers=response.getheaders(), stream=_Body(self, key, conn, response),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode("latin-1")},
        )

    def head(self, key: _Key, path: str, headers: Iterable[tuple[str, str]], *,
             connect_timeout: float | None, timeout: float | None) -> http.client.HTTPResponse:
        """A HEAD without httpx's request and response models around it: the answer, its body already done.

        A no-op re-sync is thousands of manifest HEADs, and for each of those the models cost more CPU than the
        request itself. Same pool, connections and exceptions as ``handle_request``; no auth flow, no redirects:
        the caller sends what it knows and takes anything unusual to the full path. ``Host`` comes from ``key``.
        """
        conn = self._acquire(key) or self._connect(key, connect_timeout)
        try:
            conn.sock.settimeout(timeout)
            try:
                conn.putrequest("HEAD", path, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders()
            except socket.timeout as exc:
                raise _WriteTimedOut() from exc
            except OSError as exc:
                raise httpx.WriteError(str(exc) or type(exc).__name__) from exc
            response = conn.getresponse()
            response.read()  # nothing, for a HEAD: marks the answer done
        except BaseException as exc:
            conn.close()
            _raise_as_httpx(exc)
            raise
        if response.will_close:
            conn.close()
        else:
            self._release(key, conn)
        return response

    @staticmethod
    def _early_answer(conn: http.client.HTTPConnection, read_timeout: float | None) -> http.client.HTTPResponse | None:
        try:
            if conn.sock is None:
                return None
            conn.sock.settimeout(min(read_timeout or 5.0, 5.0))
            response = conn.getresponse()
        except (OSError, http.client.HTTPException):
            return None
        response.will_close = True  # the connection is broken: never reuse it
        return response

    @staticmethod
    def _send(conn: http.client.HTTPConnection, request: httpx.Request) -> None:
        """Headers, then the body as the stream gives it. Only the socket's failures become ``_Write*``: a failure
        of the body's own iterator propagates as it is."""
        path = request.url.raw_path.decode("ascii")
        chunked = request.headers.get("Transfer-Encoding", "").lower() == "chunked"
        try:
            conn.putrequest(request.method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name.decode("latin-1"), value.decode("latin-1"))
            conn.endheaders()
        except socket.timeout as exc:
            raise _WriteTimedOut() from exc
        except OSError as exc:
            raise _WriteFailed() from exc
        for chunk in request.stream:
            if not chunk:
                continue
            try:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            except socket.timeout as exc:
                raise _WriteTimedOut() from exc
            except OSError as exc:
                raise _WriteFailed() from exc
        if chunked:
            try:
                conn.send(b"0\r\n\r\n")
            except socket.timeout as exc:
                raise _WriteTimedOut() from exc
            except OSError as exc:
                raise _WriteFailed() from exc

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _raise_as_httpx(exc: BaseException) -> None:
    """Raise a connection's failure as the httpx exception our retry rules know; return for anything else."""
    if isinstance(exc, _WriteTimedOut):
        raise httpx.WriteTimeout("timed out") from exc.__cause__
    if isinstance(exc, socket.timeout):
        raise httpx.ReadTimeout(str(exc) or "timed out") from exc
    if isinstance(exc, http.client.RemoteDisconnected):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.") from exc
    if isinstance(exc, http.client.HTTPException):
        raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}") from exc
    if isinstance(exc, OSError):
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc


class _WriteFailed(Exception):
    pass


class _WriteTimedOut(Exception):
    pass
