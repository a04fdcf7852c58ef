"""The http.client transport under httpx, against small loopback servers that misbehave on purpose."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from mirrorsync.registry.transport import HTTPClientTransport


class RawServer:
    """A loopback TCP server whose every connection is handled by ``handler(conn, requests_so_far)``."""

    def __init__(self, handler: Callable[[socket.socket, "RawServer"], None]) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.handler(conn, self)
            except OSError:
                pass

    def read_request(self, conn: socket.socket) -> bytes | None:
        """One request (headers and a Content-Length or chunked body), or None at the end of the connection."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(b":") for line in head.split(b"\r\n")[1:])}
        if b"content-length" in headers:
            want = int(headers[b"content-length"])
            while len(body) < want:
                body += conn.recv(65536)
        elif headers.get(b"transfer-encoding") == b"chunked":
            while not body.endswith(b"0\r\n\r\n"):
                body += conn.recv(65536)
        self.requests.append(head + b"\r\n\r\n" + body)
        return head + b"\r\n\r\n" + body

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[Callable[[Callable], RawServer]]:
    started: list[RawServer] = []

    def make(handler: Callable) -> RawServer:
        s = RawServer(handler)
        started.append(s)
        return s

    yield make
    for s in started:
        s.close()


def client() -> httpx.Client:
    return httpx.Client(transport=HTTPClientTransport(), timeout=5)


def ok(body: bytes = b"hello", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def test_keep_alive_reuses_one_connection(server):
    def handler(conn, srv):
        while srv.read_request(conn) is not None:
            conn.sendall(ok())

    s = server(handler)
    with client() as c:
        for _ in range(5):
            assert c.get(s.url + "/v2/").content == b"hello"
        assert c.head(s.url + "/v2/").status_code == 200
    assert s.connections == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused(server):
    def handler(conn, srv):
        srv.read_request(conn)
        conn.sendall(ok())  # keep-alive promised, then closed anyway

    s = server(handler)
    with client() as c:
        assert c.get(s.url + "/a").content == b"hello"
        threading.Event().wait(0.1)
        assert c.get(s.url + "/b").content == b"hello"  # no error: a new connection
    assert s.connections == 2


def test_a_body_cut_short_is_an_error_not_a_short_body(server):
    def handler(conn, srv):
        srv.read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40)

    s = server(handler)
    with client() as c, pytest.raises(httpx.RemoteProtocolError, match="60 bytes missing"):
        c.get(s.url + "/blob")


def test_no_answer_at_all_is_a_remote_protocol_error(server):
    def handler(conn, srv):
        srv.read_request(conn)

    s = server(handler)
    with client() as c, pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        c.get(s.url + "/x")


def test_refused_and_timeouts_map_to_httpx_errors(server):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with client() as c, pytest.raises(httpx.ConnectError):
        c.get(f"http://127.0.0.1:{port}/")

    def silent(conn, srv):
        srv.read_request(conn)
        threading.Event().wait(3)

    s = server(silent)
    with httpx.Client(transport=HTTPClientTransport(), timeout=0.3) as c, pytest.raises(httpx.ReadTimeout):
        c.get(s.url + "/slow")


def test_streamed_bodies_go_out_with_their_length_or_chunked(server):
    def handler(conn, srv):
        while srv.read_request(conn) is not None:
            conn.sendall(ok(b"", b"Location: /next\r\n"))

    s = server(handler)
    with client() as c:
        c.put(s.url + "/len", content=iter([b"ab", b"", b"cd"]), headers={"Content-Length": "4"})
        c.put(s.url + "/chunked", content=iter([b"ab", b"cd"]))
        c.put(s.url + "/bytes", content=b"xyz")
    assert s.requests[0].endswith(b"\r\n\r\nabcd")
    assert b"transfer-encoding: chunked" in s.requests[1].lower()
    assert s.requests[1].endswith(b"\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
    assert s.requests[2].endswith(b"\r\n\r\nxyz")
    assert s.connections == 1


def test_an_answer_sent_before_the_whole_upload_is_read_is_returned(server):
    def handler(conn, srv):
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.shutdown(socket.SHUT_WR)
        threading.Event().wait(0.2)  # then close with unread data: the client's writes fail

    s = server(handler)
    big = b"x" * (8 << 20)
    with client() as c:
        r = c.put(s.url + "/upload", content=iter([big, big]), headers={"Content-Length": str(2 * len(big))})
    assert r.status_code == 401


def test_a_failing_body_iterator_propagates_as_itself(server):
    def handler(conn, srv):
        srv.read_request(conn)

    class SourceBroke(Exception):
        pass

    def body():
        yield b"abc"
        raise SourceBroke("the source dropped")

    s = server(handler)
    with client() as c, pytest.raises(SourceBroke):
        c.put(s.url + "/upload", content=body(), headers={"Content-Length": "10"})


def test_streamed_response_read_in_pieces_and_connection_reused_only_when_read_to_the_end(server):
    payload = bytes(range(256)) * 4096

    def handler(conn, srv):
        while srv.read_request(conn) is not None:
            conn.sendall(ok(payload))

    s = server(handler)
    with client() as c:
        with c.stream("GET", s.url + "/blob") as r:
            assert b"".join(r.iter_bytes()) == payload
        with c.stream("GET", s.url + "/blob") as r:  # abandoned half way: that connection is closed
            next(r.iter_bytes())
        assert c.get(s.url + "/blob").content == payload
    assert s.connections == 2


# --- head(): the lean HEAD the registry client sends for manifests ----------------------------------------------


def key_of(s: RawServer) -> tuple[str, str, int]:
    return ("http", "127.0.0.1", s.port)


def test_lean_head_sends_host_and_the_given_headers_and_shares_the_pool(server):
    answers = iter([ok(),
                    b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
                    b"HTTP/1.1 200 OK\r\nDocker-Content-Digest: sha256:abc\r\nTransfer-Encoding: chunked\r\n\r\n",
                    ok()])

    def handler(conn, srv):
        while srv.read_request(conn) is not None:
            conn.sendall(next(answers))

    s = server(handler)
    transport = HTTPClientTransport()
    with httpx.Client(transport=transport, timeout=5) as c:
        assert c.get(s.url + "/v2/").content == b"hello"
        first = transport.head(key_of(s), "/v2/a/b/manifests/v1", [("Accept", "x/y"), ("Authorization", "Bearer t")],
                               connect_timeout=5, timeout=5)
        # a HEAD answer's framing headers promise no body: the connection stays usable
        chunked = transport.head(key_of(s), "/v2/a/b/manifests/v2", [], connect_timeout=5, timeout=5)
        assert c.get(s.url + "/v2/").content == b"hello"
    assert first.status == 200 and first.headers.get("content-length") == "1234"
    assert chunked.headers.get("docker-content-digest") == "sha256:abc"
    lines = s.requests[1].split(b"\r\n")
    assert lines[0] == b"HEAD /v2/a/b/manifests/v1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{s.port}".encode() in lines
    assert b"Accept: x/y" in lines and b"Authorization: Bearer t" in lines
    assert not any(line.lower().startswith(b"accept-encoding") for line in lines)
    assert s.connections == 1


def test_lean_head_does_not_reuse_a_connection_the_server_said_it_closes(server):
    def handler(conn, srv):
        srv.read_request(conn)
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    s = server(handler)
    transport = HTTPClientTransport()
    for _ in range(2):
        assert transport.head(key_of(s), "/v2/x/manifests/y", [], connect_timeout=5, timeout=5).status == 404
    assert s.connections == 2
    transport.close()


def test_lean_head_failures_are_the_httpx_errors_of_the_full_path(server):
    transport = HTTPClientTransport()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed = ("http", "127.0.0.1", probe.getsockname()[1])
    probe.close()
    with pytest.raises(httpx.ConnectError):
        transport.head(closed, "/v2/", [], connect_timeout=5, timeout=5)

    mute = server(lambda conn, srv: srv.read_request(conn))
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        transport.head(key_of(mute), "/v2/", [], connect_timeout=5, timeout=5)

    def silent(conn, srv):
        srv.read_request(conn)
        threading.Event().wait(3)

    slow = server(silent)
    with pytest.raises(httpx.ReadTimeout):
        transport.head(key_of(slow), "/v2/", [], connect_timeout=5, timeout=0.3)
    transport.close()


# --- the pool: idle expiry, the per-host cap, a stale connection replaced once ---------------------------------


def test_a_connection_idle_past_the_expiry_is_not_reused_so_a_silently_dropped_one_costs_nothing(server):
    def handler(conn, srv):
        srv.read_request(conn)
        conn.sendall(ok())
        if srv.connections == 1:
            threading.Event().wait(5)  # then a NAT forgets the connection: requests on it are never answered

    s = server(handler)
    with httpx.Client(transport=HTTPClientTransport(keepalive_expiry=0.2), timeout=2) as c:
        assert c.get(s.url + "/a").content == b"hello"
        threading.Event().wait(0.4)
        assert c.get(s.url + "/b").content == b"hello"  # on a new connection: no 2 s read timeout
    assert s.connections == 2


def test_a_connection_idle_within_the_expiry_is_reused(server):
    def handler(conn, srv):
        while srv.read_request(conn) is not None:
            conn.sendall(ok())

    s = server(handler)
    with httpx.Client(transport=HTTPClientTransport(keepalive_expiry=5), timeout=2) as c:
        for _ in range(3):
            assert c.get(s.url + "/a").content == b"hello"
            threading.Event().wait(0.1)
    assert s.connections == 1


def test_connections_per_host_are_capped_and_requests_wait_for_a_free_one(server):
    lock = threading.Lock()
    busy = [0, 0]  # now, most at once

    def handler(conn, srv):
        while srv.read_request(conn) is not None:
            with lock:
                busy[0] += 1
                busy[1] = max(busy)
            threading.Event().wait(0.1)
            with lock:
                busy[0] -= 1
            conn.sendall(ok())

    s = server(handler)
    with httpx.Client(transport=HTTPClientTransport(max_connections=2), timeout=5) as c:
        threads = [threading.Thread(target=lambda: c.get(s.url + "/a").raise_for_status()) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert busy[1] == 2 and s.connections == 2 and len(s.requests) == 6


def test_no_free_connection_within_the_pool_timeout_is_a_pool_timeout(server):
    def handler(conn, srv):
        while srv.read_request(conn) is not None:
            conn.sendall(ok(b"x" * 100))

    s = server(handler)
    timeout = httpx.Timeout(5, pool=0.2)
    with httpx.Client(transport=HTTPClientTransport(max_connections=1), timeout=timeout) as c:
        with c.stream("GET", s.url + "/held"):  # its connection is in use until the body is read or closed
            with pytest.raises(httpx.PoolTimeout, match="1 open at most"):
                c.get(s.url + "/b")
        assert c.get(s.url + "/c").status_code == 200  # closed: the connection is free again


def closes_the_first_connection_after_one_answer(conn, srv):
    if srv.connections == 1:
        srv.read_request(conn)
        conn.sendall(ok())
        srv.read_request(conn)  # the next request on it: read, then closed unanswered (the server timed it out)
        return
    while srv.read_request(conn) is not None:
        conn.sendall(ok())


def test_a_reused_connection_closed_before_any_answer_is_replaced_once(server):
    from mirrorsync.registry.retry import RetryLedger

    s = server(closes_the_first_connection_after_one_answer)
    ledger = RetryLedger()
    transport = HTTPClientTransport(ledger=ledger)
    with httpx.Client(transport=transport, timeout=5) as c:
        assert c.get(s.url + "/a").content == b"hello"
        assert c.put(s.url + "/b", content=b"body").status_code == 200  # bytes: sent again on a new connection
    assert s.connections == 2 and s.requests[-1].endswith(b"\r\n\r\nbody")
    assert ledger.total == 1  # the report counts it as a retry

    s = server(closes_the_first_connection_after_one_answer)
    assert transport.head(key_of(s), "/a", [], connect_timeout=5, timeout=5).status == 200
    assert transport.head(key_of(s), "/b", [], connect_timeout=5, timeout=5).status == 200
    assert s.connections == 2
    transport.close()


def test_a_request_that_cannot_be_sent_again_is_not_replayed(server):
    s = server(closes_the_first_connection_after_one_answer)
    with client() as c:
        assert c.get(s.url + "/a").content == b"hello"
        with pytest.raises(httpx.RemoteProtocolError):  # a POST may have been acted on
            c.post(s.url + "/v2/r/blobs/uploads/")
        assert c.get(s.url + "/a").content == b"hello"

    s = server(closes_the_first_connection_after_one_answer)
    with client() as c:
        assert c.get(s.url + "/a").content == b"hello"
        with pytest.raises(httpx.RemoteProtocolError):  # a streamed upload is used up
            c.put(s.url + "/upload", content=iter([b"ab"]), headers={"Content-Length": "2"})
    assert s.connections == 1


# --- proxies: the request forms (a real proxy is in tests/integration/test_proxy.py) -----------------------------


def test_plain_http_through_a_proxy_is_sent_in_absolute_form_with_proxy_authorization(server):
    from mirrorsync.registry.proxies import Proxy, ProxySettings

    def handler(conn, srv):
        while srv.read_request(conn) is not None:
            conn.sendall(ok())

    proxy = server(handler)
    settings = ProxySettings(http=Proxy("127.0.0.1", proxy.port, "Basic cDpx"))
    transport = HTTPClientTransport(proxies=settings)
    with httpx.Client(transport=transport, timeout=5) as c:
        assert c.get("http://registry.example.com:5000/v2/?n=1").content == b"hello"
    assert transport.head(("http", "registry.example.com", 80), "/v2/x/manifests/v1", [("Accept", "a/b")],
                          connect_timeout=5, timeout=5).status == 200
    get, head = (r.split(b"\r\n") for r in proxy.requests)
    assert get[0] == b"GET http://registry.example.com:5000/v2/?n=1 HTTP/1.1"
    assert b"Host: registry.example.com:5000" in get and b"Proxy-Authorization: Basic cDpx" in get
    assert head[0] == b"HEAD http://registry.example.com/v2/x/manifests/v1 HTTP/1.1"
    assert b"Host: registry.example.com" in head and b"Proxy-Authorization: Basic cDpx" in head
    transport.close()
