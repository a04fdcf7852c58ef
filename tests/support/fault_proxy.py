"""A fault-injecting HTTP/1.1 proxy in front of a real ``LocalRegistry``, for tests of what breaks on the wire.

It listens on 127.0.0.1 (plain HTTP, keep-alive) and forwards every request to the registry, except where a
``Rule`` fires. Rules target request kinds (``blob-get``, ``manifest-put``, ``upload-put`` ... see ``KINDS``)
and repositories, and fire for a seeded fraction of the requests they match. The decision for a request is a
function of the seed, the rule, the request's identity (kind, repository, digest or tag) and how many times that
identity was seen before, so it does not depend on how threads interleave: the same run gets the same faults.

Modes:
- ``"500"``, ``"502"``, ``"503"``, ``"504"``: answer that status (registry-style JSON error) without forwarding;
- ``"429"``: answer 429 with ``Retry-After`` (``Rule.retry_after``);
- ``"404"``: answer 404 ``BLOB_UNKNOWN`` (a refusal, not a fault a client should retry);
- ``"reset"``: a connection reset (RST) mid-body: after ``cut`` of the response body, or, for a request with a
  body (uploads, manifest PUTs), after reading ``cut`` of the request body, which is then never forwarded; an
  answer without a body (HEAD, 201, 202) is lost altogether (the registry did act on the request);
- ``"truncate"``: like ``reset`` but a clean close (FIN) short of ``Content-Length``;
  with ``Rule.after_bytes`` either one instead cuts the request during which the bodies of the requests the rule
  matched reach that many bytes in all, at exactly that byte (a large upload broken at 80% of its bytes); a cut
  request body is never forwarded (as by a proxy that buffers request bodies), unless ``Rule.forward_partial``:
  then what came before the cut reaches the registry, whose connection breaks too (as on a network that fails);
- ``"stall"``: say nothing for ``seconds`` (past the client's timeout), then drop the connection;
- ``"corrupt"``: forward, but flip one byte in the middle of the response body (same length);
- ``"ignore-range"``: forward without the ``Range`` header, as a server that cannot resume does;
- ``"delay"``: wait ``seconds``, then forward normally (to slow a run down, not a fault);
- ``"redirect"``: fetch a blob GET from the registry with the client's own credentials, hand the bytes to a
  ``RecordingServer`` (see ``redirect_server.py``) and answer 307 to it, the way registries on cloud storage
  redirect to a pre-signed URL.

``Location`` headers pointing at the registry are rewritten to the proxy, so uploads keep going through it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

from devtools.devregistry import LocalRegistry

if TYPE_CHECKING:
    from .redirect_server import RecordingServer

KINDS = ("ping", "catalog", "tags", "manifest-get", "manifest-head", "manifest-put", "manifest-delete",
         "blob-get", "blob-head", "blob-delete", "upload-start", "upload-patch", "upload-put", "upload-delete",
         "upload-status", "other")
STATUS_MODES = ("500", "502", "503", "504", "429")
MODES = (*STATUS_MODES, "404", "reset", "truncate", "stall", "corrupt", "ignore-range", "delay", "redirect")
# Modes after which a correct client must retry (or resume) the request; "delay", "ignore-range", "redirect" and
# "corrupt" are not failures of the request itself.
FAILING_MODES = (*STATUS_MODES, "reset", "truncate", "stall")

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "host", "server", "date"}
_API = re.compile(r"^/v2/(?P<repo>.+?)/(?P<what>manifests|blobs/uploads|blobs|tags)(?:/(?P<rest>.*))?$")
_MAX_STALL = 30.0


@dataclass(frozen=True)
class Rule:
    """When and how to break a request; see the module docstring for ``mode``."""

    mode: str
    kinds: Collection[str] | None = None  # None: every kind
    fraction: float = 1.0
    repo: str | None = None  # a regular expression searched in the repository name
    ref: str | None = None  # a regular expression searched in the tag or digest (an upload's digest)
    max_consecutive: int | None = None  # never more faults in a row than this for one request identity
    limit: int | None = None  # at most this many injections by this rule in all
    retry_after: str | None = None  # the Retry-After header of 429 (default "1") and, when set, of 5xx answers
    seconds: float = 2.0  # how long "stall" and "delay" wait
    cut: float = 0.5  # where in a body "reset" and "truncate" cut
    after_bytes: int | None = None  # "reset"/"truncate": cut where the matched request bodies reach this total
    forward_partial: bool = False  # "reset"/"truncate": the registry gets the cut request's body up to the cut
    redirect_to: RecordingServer | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown fault mode {self.mode!r} (one of {', '.join(MODES)})")
        unknown = set(self.kinds or ()) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown request kinds {sorted(unknown)} (one of {', '.join(KINDS)})")
        if self.mode == "redirect" and self.redirect_to is None:
            raise ValueError("a redirect rule needs redirect_to")
        if not 0.0 <= self.fraction <= 1.0 or not 0.0 <= self.cut < 1.0:
            raise ValueError("fraction must be in [0, 1] and cut in [0, 1)")
        if self.after_bytes is not None and self.mode not in ("reset", "truncate"):
            raise ValueError("after_bytes is for the reset and truncate modes")


@dataclass(frozen=True)
class Seen:
    """One request the proxy received, and what it did with it."""

    kind: str
    method: str
    path: str
    repo: str
    ref: str
    range: str | None
    authorization: str | None
    fault: str | None  # the mode applied, or None when forwarded untouched
    at: float  # time.monotonic() when it arrived


def classify(method: str, target: str) -> tuple[str, str, str]:
    """(kind, repository, ref) of a registry API request; ref is the digest or tag, the upload's digest or ''."""
    url = urlsplit(target)
    path, query = url.path, parse_qs(url.query)
    if path in ("/v2", "/v2/"):
        return "ping", "", ""
    if path.startswith("/v2/_catalog"):
        return "catalog", "", ""
    m = _API.match(path)
    if not m:
        return "other", "", ""
    repo, what, rest = m["repo"], m["what"], m["rest"] or ""
    if what == "tags":
        return "tags", repo, ""
    if what == "blobs/uploads":
        kind = {"POST": "upload-start", "PATCH": "upload-patch", "PUT": "upload-put", "DELETE": "upload-delete",
                "GET": "upload-status"}.get(method, "other")
        ref = (query.get("digest") or query.get("mount") or [""])[0]
        return kind, repo, ref
    noun = "manifest" if what == "manifests" else "blob"
    verb = {"GET": "get", "HEAD": "head", "PUT": "put", "DELETE": "delete"}.get(method)
    return (f"{noun}-{verb}" if verb else "other"), repo, rest


class FaultProxy:
    """The proxy; ``start()`` it (or use ``with``), point clients at ``host``, read ``seen``/``injected``."""

    def __init__(self, upstream: LocalRegistry, rules: Sequence[Rule] = (), *, seed: int = 0,
                 max_in_a_row: int | None = None) -> None:
        self.upstream = upstream
        self.seed = seed
        # never more faults in a row than this for one request identity, whichever rules fire
        self.max_in_a_row = max_in_a_row
        self._in_a_row: Counter[tuple] = Counter()
        self._matched_bytes: Counter[int] = Counter()
        self.received: Counter[str] = Counter()  # request body bytes received, per kind
        self._rules: tuple[Rule, ...] = tuple(rules)
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._occurrences: Counter[tuple] = Counter()
        self._consecutive: Counter[tuple] = Counter()
        self._fired: Counter[int] = Counter()
        self.injected: Counter[str] = Counter()
        self.errors: list[str] = []  # requests the proxy itself could not complete (a client hung up ...)
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._client = httpx.Client(verify=upstream.ssl_context(), timeout=httpx.Timeout(60.0),
                                    follow_redirects=False)

    # --- life ---------------------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Listen on an ephemeral 127.0.0.1 port, serving from daemon threads."""
        handler = _handler_for(self)
        self._httpd = _Server(("127.0.0.1", 0), handler)
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         name=f"fault-proxy-{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and end every stall; safe to call twice."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("fault proxy not started")
        return self._httpd.server_address[1]

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry host clients should use."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # --- rules and counters -------------------------------------------------------------------------------------

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    @rules.setter
    def rules(self, rules: Sequence[Rule]) -> None:
        """Replace the rules (the counters of the old ones are forgotten)."""
        with self._lock:
            self._rules = tuple(rules)
            self._occurrences.clear()
            self._consecutive.clear()
            self._fired.clear()
            self._in_a_row.clear()
            self._matched_bytes.clear()

    @property
    def seen(self) -> list[Seen]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._seen)

    def count(self, *, kind: str | None = None, fault: str | None = None, repo: str | None = None) -> int:
        """How many requests matched ``kind``/``fault`` (a mode, or ``"any"`` for every fault)/``repo``."""
        n = 0
        for s in self.seen:
            if kind is not None and s.kind != kind:
                continue
            if repo is not None and s.repo != repo:
                continue
            if fault == "any" and s.fault is None or fault not in (None, "any") and s.fault != fault:
                continue
            n += 1
        return n

    def failures(self) -> int:
        """How many requests were failed on purpose (a mode in ``FAILING_MODES``)."""
        with self._lock:
            return sum(self.injected[m] for m in FAILING_MODES)

    def reset_counters(self) -> None:
        with self._lock:
            self._seen.clear()
            self.injected.clear()
            self.received.clear()

    def _decide(self, kind: str, repo: str, ref: str, has_range: bool,
                body_length: int | None = 0) -> tuple[Rule, int | None] | None:
        """The rule to apply to a request, if any, and (for ``after_bytes``) where to cut its body."""
        identity = (kind, repo, ref)
        with self._lock:
            decided = self._decide_locked(kind, repo, ref, has_range, body_length)
            failing = decided is not None and decided[0].mode in FAILING_MODES
            self._in_a_row[identity] = self._in_a_row[identity] + 1 if failing else 0
            return decided

    def _decide_locked(self, kind: str, repo: str, ref: str, has_range: bool,
                       body_length: int | None) -> tuple[Rule, int | None] | None:
        capped = self.max_in_a_row is not None and self._in_a_row[(kind, repo, ref)] >= self.max_in_a_row
        for i, rule in enumerate(self._rules):
            if rule.kinds is not None and kind not in rule.kinds:
                continue
            if rule.repo is not None and not re.search(rule.repo, repo):
                continue
            if rule.ref is not None and not re.search(rule.ref, ref):
                continue
            if rule.mode == "ignore-range" and not has_range:
                continue
            if capped and rule.mode in FAILING_MODES:
                continue
            if rule.after_bytes is not None:
                before = self._matched_bytes[i]
                self._matched_bytes[i] += body_length or 0
                if body_length and before <= rule.after_bytes < before + body_length and (
                        rule.limit is None or self._fired[i] < rule.limit):
                    self._fired[i] += 1
                    self.injected[rule.mode] += 1
                    return rule, rule.after_bytes - before
                continue
            key = (i, kind, repo, ref)
            n = self._occurrences[key]
            self._occurrences[key] += 1
            fire = random.Random(f"{self.seed}/{i}/{kind}/{repo}/{ref}/{n}").random() < rule.fraction
            if fire and rule.max_consecutive is not None and self._consecutive[key] >= rule.max_consecutive:
                fire = False
            if fire and rule.limit is not None and self._fired[i] >= rule.limit:
                fire = False
            self._consecutive[key] = self._consecutive[key] + 1 if fire else 0
            if fire:
                self._fired[i] += 1
                self.injected[rule.mode] += 1
                return rule, None
        return None

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self._seen.append(seen)

    def _rewrite_location(self, value: str) -> str:
        for origin in (self.upstream.url, self.upstream.url.replace("127.0.0.1", "localhost")):
            if value.startswith(origin):
                return self.url + value[len(origin):]
        return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60  # an idle keep-alive connection ends after this, so no thread waits forever

        def setup(self) -> None:
            super().setup()
            # headers and body go out in separate writes: without this, Nagle and delayed ACKs add 40 ms to each
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_ANY(self) -> None:  # noqa: N802 - http.server's naming
            try:
                self._handle()
            except Exception as exc:  # noqa: BLE001 - mostly clients that hung up mid-transfer, as they may
                proxy.errors.append(f"{self.command} {self.path.split('?')[0]}: {type(exc).__name__}: {exc}")
                self._reset()

        def _handle(self) -> None:
            kind, repo, ref = classify(self.command, self.path)
            has_range = "Range" in self.headers
            decided = proxy._decide(kind, repo, ref, has_range, self._body_length())
            rule, cut_at = decided if decided else (None, None)
            mode = rule.mode if rule else None
            proxy._record(Seen(kind, self.command, self.path.split("?")[0], repo, ref, self.headers.get("Range"),
                               self.headers.get("Authorization"), mode, time.monotonic()))
            if rule is None or mode in ("ignore-range", "corrupt"):
                return self._forward(rule)
            if mode in STATUS_MODES or mode == "404":
                return self._status(int(mode), rule)
            if mode == "stall":
                proxy._stopping.wait(min(rule.seconds, _MAX_STALL))
                return self._reset()
            if mode == "delay":
                proxy._stopping.wait(min(rule.seconds, _MAX_STALL))
                return self._forward(None)
            if mode == "redirect":
                return self._forward(rule) if kind == "blob-get" else self._forward(None)
            # reset / truncate: cut the request body if there is one, else the response body
            if self._body_length() != 0:
                consumed = 0
                total = self._body_length()
                want = cut_at if cut_at is not None else int(total * rule.cut) if total and total > 0 else 1
                if rule.forward_partial:
                    self._forward_until(want)
                    return self._reset() if mode == "reset" else self._close()
                for chunk in self._body():
                    consumed += len(chunk)
                    if consumed >= want:
                        break
                return self._reset() if mode == "reset" else self._close()
            if self.command == "HEAD":
                return self._reset() if mode == "reset" else self._close()
            return self._forward(rule)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_ANY  # noqa: N815

        # --- request body -------------------------------------------------------------------------------------

        def _body_length(self) -> int | None:
            """Content-Length, None for chunked, 0 for no body."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return None
            return int(self.headers.get("Content-Length") or 0)

        def _body(self) -> Iterator[bytes]:
            for chunk in self._raw_body():
                with proxy._lock:
                    proxy.received[classify(self.command, self.path)[0]] += len(chunk)
                yield chunk

        def _raw_body(self) -> Iterator[bytes]:
            length = self._body_length()
            if length is None:
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return
                    yield self.rfile.read(size)
                    self.rfile.readline()
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

        # --- answers ------------------------------------------------------------------------------------------

        def _status(self, status: int, rule: Rule) -> None:
            for _ in self._body():
                pass  # drain, so the connection stays usable
            code = {429: "TOOMANYREQUESTS", 404: "BLOB_UNKNOWN"}.get(status, "UNAVAILABLE")
            body = json.dumps({"errors": [{"code": code,
                                           "message": f"injected fault {status}"}]}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status == 429 or rule.retry_after is not None:
                self.send_header("Retry-After", rule.retry_after or "1")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _reset(self) -> None:
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass

        def _close(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _forward_until(self, want: int) -> None:
            """Send the registry the request with its body cut after ``want`` bytes, then break that connection."""
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]

            def partial() -> Iterator[bytes]:
                sent = 0
                for chunk in self._body():
                    piece = chunk[:want - sent]
                    sent += len(piece)
                    yield piece
                    if sent >= want:
                        break
                raise ConnectionAbortedError("cut by the fault proxy")

            with contextlib.suppress(Exception):
                proxy._client.request(self.command, proxy.upstream.url + self.path, headers=headers,
                                      content=partial())
            # The break reaches both ends at once on a real network; here the registry's end went first, and it
            # gets a moment to see it before the client can ask about the request.
            time.sleep(0.2)

        def _forward(self, rule: Rule | None) -> None:
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
            if rule is not None and rule.mode == "ignore-range":
                headers = [(k, v) for k, v in headers if k.lower() != "range"]
            length = self._body_length()
            content = self._body() if length != 0 else None
            request = proxy._client.build_request(self.command, proxy.upstream.url + self.path, headers=headers,
                                                  content=content)
            try:
                response = proxy._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                self.close_connection = True
                body = f"proxy: upstream failed: {type(exc).__name__}".encode()
                self.send_response(502)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            try:
                if rule is not None and rule.mode == "redirect" and response.status_code == 200:
                    data = response.read()
                    assert rule.redirect_to is not None
                    location = rule.redirect_to.put(data, response.headers.get("Content-Type"))
                    self.send_response(307)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._relay(response, rule)
            finally:
                response.close()

        def _relay(self, response: httpx.Response, rule: Rule | None) -> None:
            mode = rule.mode if rule else None
            declared = response.headers.get("Content-Length")
            bodyless = self.command == "HEAD" or response.status_code in (204, 304) or declared == "0"
            if mode in ("reset", "truncate") and bodyless:
                # nothing to cut short: the answer is lost altogether (the registry did act on the request)
                return self._reset() if mode == "reset" else self._close()
            self.send_response(response.status_code, response.reason_phrase)
            for k, v in response.headers.multi_items():
                if k.lower() in _HOP_BY_HOP or k.lower() == "content-length":
                    continue
                if k.lower() == "location":
                    v = proxy._rewrite_location(v)
                self.send_header(k, v)
            if self.command == "HEAD" or response.status_code in (204, 304):
                if declared is not None:
                    self.send_header("Content-Length", declared)
                self.end_headers()
                return
            if declared is None:
                data = response.read()  # chunked upstream: re-frame with a length so keep-alive works
                chunks: Iterator[bytes] = iter([data])
                total = len(data)
            else:
                chunks, total = response.iter_raw(1 << 16), int(declared)
            self.send_header("Content-Length", str(total))
            self.end_headers()
            if mode in ("reset", "truncate"):
                cut = int(total * rule.cut)  # type: ignore[union-attr]
                sent = 0
                for chunk in chunks:
                    take = chunk[:max(cut - sent, 0)]
                    if take:
                        self.wfile.write(take)
                        sent += len(take)
                    if sent >= cut:
                        break
                return self._reset() if mode == "reset" else self._close()
            flip_at = total // 2 if mode == "corrupt" else -1
            offset = 0
            for chunk in chunks:
                if offset <= flip_at < offset + len(chunk):
                    i = flip_at - offset
                    chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
                offset += len(chunk)
                self.wfile.write(chunk)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # requests are in proxy.seen

    return Handler


# --- an oracle that reads the registry directly, bypassing the proxy ------------------------------------------------

_ACCEPT = ", ".join(["application/vnd.oci.image.index.v1+json",
                     "application/vnd.docker.distribution.manifest.list.v2+json",
                     "application/vnd.oci.image.manifest.v1+json",
                     "application/vnd.docker.distribution.manifest.v2+json"])


def oracle_client(registry: LocalRegistry) -> httpx.Client:
    """A plain httpx client for ``registry`` (its own credentials for Basic auth), sharing no code with mirrorsync."""
    auth = (registry.username, registry.password or "") if registry.username and not registry.token else None
    return httpx.Client(base_url=registry.url, verify=registry.ssl_context(), auth=auth, timeout=30.0)


def repositories(client: httpx.Client) -> list[str]:
    """Every repository in the registry's catalog (up to 1000: the test registries hold far fewer)."""
    response = client.get("/v2/_catalog", params={"n": 1000})  # the most docker-registry pages
    response.raise_for_status()
    return sorted(response.json().get("repositories") or [])


def tags_of(client: httpx.Client, repo: str) -> list[str]:
    """The tags of ``repo`` (empty when the repository or its tags do not exist)."""
    response = client.get(f"/v2/{repo}/tags/list")
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return sorted(response.json().get("tags") or [])


def image_problems(client: httpx.Client, repo: str, ref: str, *, _depth: int = 0) -> list[str]:
    """What is missing or wrong under ``repo`` at ``ref`` (tag or digest); empty when the image is complete.

    Complete means: the manifest is there (hashing to ``ref`` when that is a digest), every child manifest of an
    index too, recursively, and every blob a manifest names answers HEAD with its size.
    """
    response = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": _ACCEPT})
    if response.status_code != 200:
        return [f"{repo}@{ref}: manifest answers HTTP {response.status_code}"]
    data = response.content
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if ref.startswith("sha256:") and actual != ref:
        return [f"{repo}@{ref}: manifest bytes hash to {actual}"]
    doc = json.loads(data)
    problems: list[str] = []
    if _depth > 4:
        return [f"{repo}@{ref}: nested too deep"]
    for child in doc.get("manifests") or []:
        problems += image_problems(client, repo, child["digest"], _depth=_depth + 1)
    blobs = ([doc["config"]] if isinstance(doc.get("config"), dict) else []) + list(doc.get("layers") or [])
    for blob in blobs:
        head = client.head(f"/v2/{repo}/blobs/{blob['digest']}")
        if head.status_code != 200:
            problems.append(f"{repo}@{ref}: blob {blob['digest']} answers HTTP {head.status_code}")
        elif int(head.headers.get("Content-Length") or -1) != blob["size"]:
            problems.append(f"{repo}@{ref}: blob {blob['digest']} has size {head.headers.get('Content-Length')}, "
                            f"manifest says {blob['size']}")
    return problems


def manifest_digest(client: httpx.Client, repo: str, ref: str) -> str | None:
    """sha256 of the manifest bytes the registry serves for ``repo:ref``, or None when it has none."""
    response = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": _ACCEPT})
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return "sha256:" + hashlib.sha256(response.content).hexdigest()
