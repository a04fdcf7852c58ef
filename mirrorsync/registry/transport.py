"""An httpx transport over the standard library's ``http.client``: HTTP/1.1 with keep-alive and HTTP proxies.

httpx's default transport (httpcore + h11) spends about 0.5 ms of CPU on each request; ``http.client`` parses the
same answer in a third of that. On a no-op re-sync, which is nothing but small HEADs, that CPU is most of what the
client costs, and on a small machine it is taken from the registries. Everything above the transport (auth
flows, redirects, decoding, the ``httpx.Response`` our code reads) is still httpx's. It stays because it measured
faster than the pools it could be replaced by (urllib3, httpx's own): see BENCHMARKS.md, "HTTP stack".

What it does: one pool of keep-alive connections per (scheme, host, port), shared by all threads, at most
``max_connections`` of them open per host (a request waits up to its pool timeout for one); a connection is
reused only when the previous answer was read to its end, the server has not closed it since, and it has been
idle less than ``keepalive_expiry`` seconds (a NAT or load balancer drops idle connections without telling
either end, and a request sent on one waits for the full read timeout). A reused connection that fails before
any byte of the answer (the server closed it as we sent) is replaced by a fresh one, once, for requests that can
be sent again. Request bodies are sent as given (``Content-Length``) or chunked; response bodies are streamed.
Proxies come from the environment (see ``proxies.py``): plain HTTP in absolute form to the proxy, HTTPS through a
``CONNECT`` tunnel, so the proxy sees the registry's host and port and nothing else of an HTTPS request. Failures
are raised as the httpx exceptions our retry rules know (``ConnectError``, ``ReadTimeout``, ``ProxyError``, ...).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
import time
from typing import Iterable, Iterator

import httpx

from .proxies import Proxy, ProxySettings
from .retry import RetryLedger

_READ_SIZE = 1 << 17

_Key = tuple[str, str, int]

# Idle connections older than this are closed, not reused. Below the idle timeouts of common NATs and load
# balancers (AWS ALB 60 s, nginx 75 s, Azure 4 min); a sync rarely pauses that long, so the reconnects are few.
KEEPALIVE_EXPIRY = 10.0


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None, float | None, float | None]:
    t = request.extensions.get("timeout") or {}
    return t.get("connect"), t.get("read"), t.get("write"), t.get("pool")


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


# What a connection's failure says that no retry can change (``retry.is_transient``): the name does not resolve
# (NXDOMAIN; a resolver that failed for now is EAI_AGAIN, worth retrying), the certificate is not trusted, or the
# port speaks plain HTTP to our TLS handshake.
DNS, CERTIFICATE, PLAIN_HTTP = "dns", "certificate", "plain-http"
_NO_SUCH_NAME = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)}


def permanence(exc: BaseException) -> str | None:
    """Which permanent failure ``exc`` (a socket or TLS error) is, or None."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CERTIFICATE
    if isinstance(exc, ssl.SSLError) and getattr(exc, "reason", None) in ("WRONG_VERSION_NUMBER",
                                                                          "HTTP_REQUEST"):
        return PLAIN_HTTP
    if isinstance(exc, socket.gaierror) and exc.errno in _NO_SUCH_NAME:
        return DNS
    return None


def _permanent(error: httpx.TransportError, cause: BaseException) -> httpx.TransportError:
    """Mark ``error`` with the permanent failure its ``cause`` is, if it is one (``retry.is_transient``)."""
    kind = permanence(cause)
    if kind is not None:
        error.permanent = kind  # type: ignore[attr-defined]
    return error


def _answered(exc: httpx.TransportError) -> httpx.TransportError:
    """Mark a failure of a body whose status line and headers came: the server answered (``retry.answered``)."""
    exc.answered = True  # type: ignore[attr-defined]
    return exc


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
                        raise _answered(httpx.RemoteProtocolError(
                            f"peer closed connection without sending complete message body "
                            f"({self._response.length} bytes missing)"))
                    self._done = True
                    return
                yield chunk
        except socket.timeout as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc  # nothing for the timeout: not an answer
        except (http.client.IncompleteRead, http.client.HTTPException) as exc:
            raise _answered(httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}")) from exc
        except OSError as exc:
            raise _answered(httpx.ReadError(str(exc) or type(exc).__name__)) from exc

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._response.close()
        if self._done and not self._response.will_close:
            self._transport._release(self._key, conn)
        else:
            self._transport._discard(self._key, conn)


class HTTPClientTransport(httpx.BaseTransport):
    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, max_connections: int = 32,
                 keepalive_expiry: float = KEEPALIVE_EXPIRY, proxies: ProxySettings | None = None,
                 ledger: RetryLedger | None = None) -> None:
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._proxies = ProxySettings.from_environ() if proxies is None else proxies
        self._idle: dict[_Key, list[tuple[http.client.HTTPConnection, float]]] = {}  # oldest first
        self._open: dict[_Key, int] = {}  # idle and in use, per host
        self._routes: dict[_Key, Proxy | None] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._ledger = ledger or RetryLedger()  # a request sent again counts as a retry of the run
        # Plain-HTTP routes through a proxy whose connections turned out closed once reused: tinyproxy answers
        # HTTP/1.1 without "Connection: close" and closes anyway. Their connections are no longer kept.
        self._unkept: set[_Key] = set()

    def route(self, key: _Key) -> Proxy | None:
        """The proxy requests to ``key`` go through, or None: direct."""
        try:
            return self._routes[key]
        except KeyError:
            return self._routes.setdefault(key, self._proxies.proxy_for(*key))

    # --- connections ------------------------------------------------------------------------------------------

    # The pool lock guards only the lists and counts: the liveness check (a syscall that releases the GIL),
    # connects and closes run outside it, or every thread queues behind one that waits to get the GIL back.

    def _checkout(self, key: _Key, *, connect_timeout: float | None, pool_timeout: float | None,
                  fresh: bool = False) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to ``key`` and whether it was reused: an idle one (unless ``fresh``), else a new one
        while the host is under its cap, else the first to come free within ``pool_timeout``."""
        deadline = None if pool_timeout is None else time.monotonic() + pool_timeout
        while True:
            with self._cond:
                idle = self._idle.setdefault(key, [])
                horizon = time.monotonic() - self._keepalive_expiry
                stale = 0
                while stale < len(idle) and idle[stale][1] < horizon:
                    stale += 1
                expired = [conn for conn, _ in idle[:stale]]
                del idle[:stale]
                self._open[key] = self._open.get(key, 0) - stale
                conn, create = None, False
                if idle and not fresh:
                    conn = idle.pop()[0]
                elif self._open[key] < self._max_connections:
                    self._open[key] += 1
                    create = True
                elif idle:  # fresh, at the cap: an idle connection gives its place up
                    expired.append(idle.pop(0)[0])
                    create = True
                else:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise httpx.PoolTimeout(f"no connection to {key[1]}:{key[2]} came free within "
                                                f"{pool_timeout:g}s ({self._max_connections} open at most)")
                    self._cond.wait(remaining)
                if expired:
                    self._cond.notify_all()
            for old in expired:
                old.close()
            if create:
                try:
                    return self._connect(key, connect_timeout), False
                except BaseException:
                    self._forget(key)
                    raise
            if conn is not None:
                if not _closed_by_peer(conn):
                    return conn, True
                self._discard(key, conn)
                self._closed_on_reuse(key)

    def _through_proxy_in_clear(self, key: _Key) -> bool:
        """Whether requests to ``key`` go to a proxy in absolute form (plain HTTP), not through a tunnel: the proxy
        decides what becomes of the connection after each answer, whatever the registry said."""
        return key[0] == "http" and self.route(key) is not None

    def _closed_on_reuse(self, key: _Key) -> None:
        if self._through_proxy_in_clear(key):
            self._unkept.add(key)

    def _release(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._cond:
            if not self._closed and key not in self._unkept:
                self._idle.setdefault(key, []).append((conn, time.monotonic()))
                self._cond.notify()
                return
        self._discard(key, conn)

    def _discard(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._forget(key)

    def _forget(self, key: _Key) -> None:
        with self._cond:
            self._open[key] -= 1
            self._cond.notify()

    def _connect(self, key: _Key, connect_timeout: float | None) -> http.client.HTTPConnection:
        scheme, host, port = key
        proxy = self.route(key)
        address = (proxy.host, proxy.port) if proxy else (host, port)
        if scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                *address, timeout=connect_timeout, context=self._ssl_context)
            if proxy:
                conn.set_tunnel(host, port, headers={"Proxy-Authorization": proxy.authorization}
                                if proxy.authorization else None)
        else:
            conn = http.client.HTTPConnection(*address, timeout=connect_timeout)
        try:
            conn.connect()
        except socket.timeout as exc:
            conn.close()
            where = f" (through proxy {proxy})" if proxy else ""
            raise httpx.ConnectTimeout((str(exc) or "timed out") + where) from exc
        except ssl.SSLError as exc:
            # The TLS handshake is with the registry itself, inside the tunnel once the proxy has connected it: a
            # failure there (a plain-HTTP port answering) is the registry's, as it is without a proxy; the scheme
            # probe then tries plain HTTP (scheme.py).
            conn.close()
            where = f" (through proxy {proxy})" if proxy else ""
            raise _permanent(httpx.ConnectError((str(exc) or type(exc).__name__) + where), exc) from exc
        except OSError as exc:  # refused, unreachable, or the proxy refused the CONNECT
            conn.close()
            if proxy:
                raise httpx.ProxyError(f"through proxy {proxy}: {str(exc) or type(exc).__name__}") from exc
            raise _permanent(httpx.ConnectError(str(exc) or type(exc).__name__), exc) from exc
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _target(self, key: _Key, path: str, authority: str) -> tuple[str, list[tuple[str, str]]]:
        """The request target and the extra headers for ``path``: absolute form to a plain-HTTP proxy."""
        proxy = self.route(key)
        if proxy is None or key[0] == "https":  # direct, or inside the CONNECT tunnel
            return path, []
        extra = [("Proxy-Authorization", proxy.authorization)] if proxy.authorization else []
        return f"http://{authority}{path}", extra

    # --- requests ---------------------------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        key = (scheme, url.host, url.port or (443 if scheme == "https" else 80))
        connect_timeout, read_timeout, write_timeout, pool_timeout = _timeouts(request)
        target, extra = self._target(key, url.raw_path.decode("ascii"), url.netloc.decode("ascii"))
        # A request that cannot be sent again (an upload's stream, a POST) never goes on a kept connection to a
        # proxy in clear: the proxy may have closed it since, and a broken upload costs a retry of the image.
        fresh = self._through_proxy_in_clear(key) and not _replayable(request, None)
        while True:
            conn, reused = self._checkout(key, connect_timeout=connect_timeout, pool_timeout=pool_timeout,
                                          fresh=fresh)
            try:
                conn.sock.settimeout(write_timeout)
                try:
                    _send_request(conn, request, target, extra)
                except _WriteFailed:
                    # The server may have answered and closed before taking the whole body (a 401 or 413 to an
                    # upload): that answer says more than the broken pipe does.
                    response = _early_answer(conn, read_timeout)
                    if response is None:
                        raise
                else:
                    conn.sock.settimeout(read_timeout)
                    response = conn.getresponse()
            except BaseException as exc:
                self._discard(key, conn)
                if reused and _stale(exc):
                    self._closed_on_reuse(key)
                if reused and not fresh and _stale(exc) and _replayable(request, exc):
                    fresh = True
                    self._ledger.record()  # a request sent again: the report counts it like any other retry
                    continue
                _raise_as_httpx(exc)
                raise  # the request body's own failure (a source that broke mid-upload), or ours
            return httpx.Response(
                response.status, headers=response.getheaders(), stream=_Body(self, key, conn, response),
                extensions={"http_version": b"HTTP/1.1",
                            "reason_phrase": (response.reason or "").encode("latin-1")},
            )

    def head(self, key: _Key, path: str, headers: Iterable[tuple[str, str]], *,
             connect_timeout: float | None, timeout: float | None) -> http.client.HTTPResponse:
        """A HEAD without httpx's request and response models around it: the answer, its body already done.

        A no-op re-sync is thousands of manifest HEADs, and for each of those the models cost more CPU than the
        request itself. Same pool, connections, proxies and exceptions as ``handle_request``; no auth flow, no
        redirects: the caller sends what it knows and takes anything unusual to the full path. ``Host`` comes
        from ``key``; ``timeout`` also bounds the wait for a connection.
        """
        scheme, host, port = key
        authority = f"[{host}]" if ":" in host else host
        if port != (443 if scheme == "https" else 80):
            authority += f":{port}"
        target, extra = self._target(key, path, authority)
        fresh = False
        while True:
            conn, reused = self._checkout(key, connect_timeout=connect_timeout, pool_timeout=timeout, fresh=fresh)
            try:
                conn.sock.settimeout(timeout)
                try:
                    conn.putrequest("HEAD", target, skip_host=True, skip_accept_encoding=True)
                    conn.putheader("Host", authority)
                    for name, value in [*extra, *headers]:
                        conn.putheader(name, value)
                    conn.endheaders()
                except socket.timeout as exc:
                    raise _WriteTimedOut() from exc
                except OSError as exc:
                    raise _WriteFailed() from exc
                response = conn.getresponse()
                response.read()  # nothing, for a HEAD: marks the answer done
            except BaseException as exc:
                self._discard(key, conn)
                if reused and _stale(exc):
                    self._closed_on_reuse(key)
                if reused and not fresh and _stale(exc):
                    fresh = True
                    self._ledger.record()
                    continue
                _raise_as_httpx(exc)
                raise
            if response.will_close:
                self._discard(key, conn)
            else:
                self._release(key, conn)
            return response

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, {}
            for key, conns in idle.items():
                self._open[key] -= len(conns)
            self._cond.notify_all()
        for conns in idle.values():
            for conn, _ in conns:
                conn.close()


def _early_answer(conn: http.client.HTTPConnection, read_timeout: float | None) -> http.client.HTTPResponse | None:
    """The answer a server sent before it closed on a body it did not take, if there is one to read."""
    try:
        if conn.sock is None:
            return None
        conn.sock.settimeout(min(read_timeout or 5.0, 5.0))
        response = conn.getresponse()
    except (OSError, http.client.HTTPException):
        return None
    response.will_close = True  # the connection is broken: never reuse it
    return response


def _send_request(conn: http.client.HTTPConnection, request: httpx.Request, target: str,
                  extra: list[tuple[str, str]]) -> None:
    """Headers, then the body as the stream gives it. Only the socket's failures become ``_Write*``: a failure
    of the body's own iterator propagates as it is."""
    chunked = request.headers.get("Transfer-Encoding", "").lower() == "chunked"
    try:
        conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in extra:
            conn.putheader(name, value)
        for name, value in request.headers.raw:
            conn.putheader(name.decode("latin-1"), value.decode("latin-1"))
        conn.endheaders()
    except socket.timeout as exc:
        raise _WriteTimedOut() from exc
    except OSError as exc:
        raise _WriteFailed(headers_sent=False) from exc
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


# What a server that closed a kept-alive connection as we reused it looks like: EOF or a reset before the status
# line, or a write into the closed socket. Anything later (a timeout, half an answer) is not retried here.
_CLOSED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


def _stale(exc: BaseException) -> bool:
    cause = exc.__cause__ if isinstance(exc, _WriteFailed) else exc
    return isinstance(cause, _CLOSED)


def _replayable(request: httpx.Request, exc: BaseException | None) -> bool:
    """Whether sending ``request`` again is safe: a body we still hold whole, and a method the server may see
    twice (or one it cannot have seen: the headers did not go out; ``exc`` None: before it was sent)."""
    if not isinstance(request.stream, httpx.ByteStream):
        return False  # an iterator (an upload from a source stream) is used up
    return request.method in _IDEMPOTENT or (isinstance(exc, _WriteFailed) and not exc.headers_sent)


def _raise_as_httpx(exc: BaseException) -> None:
    """Raise a connection's failure as the httpx exception our retry rules know; return for anything else."""
    if isinstance(exc, _WriteFailed):
        raise httpx.WriteError(str(exc.__cause__) or "write failed") from exc.__cause__
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
    def __init__(self, *, headers_sent: bool = True) -> None:
        super().__init__()
        self.headers_sent = headers_sent


class _WriteTimedOut(Exception):
    pass
