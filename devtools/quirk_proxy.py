"""An HTTP proxy in front of a real registry that behaves like the products mirrors run on, quirk by quirk: the
distribution API as Quay, Harbor, Artifactory, Nexus or a cloud registry answer it where they differ from
docker-registry. Each quirk is switched on in ``Quirks``; with none, every request is forwarded untouched.

- ``max_nested_paths=N``: a push (upload or manifest PUT) to a repository of more than N path components is
  refused ``400 NAME_INVALID`` (Quay, and ``mirror-registry``, take ``organisation/repository``; GitLab a fixed
  depth);
- ``namespaces={...}``: a push outside these first components is refused ``404 NOT_FOUND: project X not found``,
  as Harbor answers for a project that does not exist (a Quay organisation must exist too);
- ``no_mount``: ``mount=``/``from=`` of an upload start are ignored, so a mount becomes a plain upload session
  (``202``), as registries without cross-repository mount answer;
- ``no_chunked_upload``: ``PATCH`` on an upload session is refused ``405 UNSUPPORTED``: the blob must come whole
  in the closing ``PUT``;
- ``no_digest_header``: ``Docker-Content-Digest`` is left out of every answer (it is a SHOULD);
- ``head_401``: ``HEAD`` on a manifest answers ``401 UNAUTHORIZED`` while ``GET`` answers (seen with proxy caches
  and some cloud registries);
- ``ignore_pagination``: ``n`` and ``last`` of a tag list are ignored (the whole list, no ``Link``);
- ``no_referrers``: the OCI 1.1 referrers API answers ``404`` (docker-registry 2.8 has none either);
- ``reject_media_types={...}``: a manifest PUT of one of these media types is refused ``400 MANIFEST_INVALID``
  (registries that take no OCI index or no artifacts).

Requests are read and answered whole (test images are small), on 127.0.0.1 over plain HTTP; ``Location``
headers pointing at the registry are rewritten to the proxy. ``refused`` lists what a quirk turned away,
``applied`` counts by quirk (its field name) the requests each one changed or refused, so a test can tell that
its client met the quirk at all.

Run as a process, ``python -m devtools.quirk_proxy --upstream http://127.0.0.1:PORT --max-nested-paths 2 ...``:
it prints one JSON line ``{"port": N}`` and serves until killed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from .loopback_http import LoopbackHTTPServer

_PATH = re.compile(r"^/v2/(?P<repo>.+?)/(?P<what>manifests|blobs/uploads|blobs|tags|referrers)(?:/(?P<rest>.*))?$")
_NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "server", "date"}


@dataclass
class Quirks:
    """Which products' ways the proxy takes on; see the module docstring for each."""

    max_nested_paths: int | None = None
    namespaces: frozenset[str] | None = None
    no_mount: bool = False
    no_chunked_upload: bool = False
    no_digest_header: bool = False
    head_401: bool = False
    ignore_pagination: bool = False
    no_referrers: bool = False
    reject_media_types: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Refusal:
    """A request a quirk turned away: what it was and the registry error code it got."""

    method: str
    path: str
    code: str


class QuirkProxy(LoopbackHTTPServer):
    """``QuirkProxy(upstream_url, Quirks(...)).start()``; point clients at ``host``. ``quirks`` may be changed
    while it runs."""

    thread_name = "quirk-proxy"

    def __init__(self, upstream: str, quirks: Quirks | None = None, *, verify: bool | object = True) -> None:
        self.upstream = upstream.rstrip("/")
        self.quirks = quirks or Quirks()
        self.refused: list[Refusal] = []
        self.applied: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._client = httpx.Client(verify=verify, timeout=60.0, follow_redirects=False)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry host clients should use."""
        return self.origin.split("://", 1)[1]

    def stop(self) -> None:
        super().stop()
        self._client.close()

    def refusals(self, code: str | None = None) -> list[Refusal]:
        with self._lock:
            return [r for r in self.refused if code is None or r.code == code]

    # --- what each quirk does to a request ----------------------------------------------------------------------

    def _applied(self, quirk: str) -> None:
        with self._lock:
            self.applied[quirk] += 1

    def refusal(self, method: str, path: str, query: dict[str, str],
                headers: dict[str, str]) -> tuple[str, int, str, str] | None:
        """(quirk, status, code, message) when a quirk refuses the request; None to forward it."""
        q = self.quirks
        m = _PATH.match(path)
        if not m:
            return None
        repo, what = m["repo"], m["what"]
        push = (what == "blobs/uploads" and method in ("POST", "PATCH", "PUT")) or \
            (what == "manifests" and method == "PUT")
        if push and q.namespaces is not None and repo.split("/")[0] not in q.namespaces:
            return "namespaces", 404, "NOT_FOUND", f"project {repo.split('/')[0]} not found"
        if push and q.max_nested_paths is not None and repo.count("/") + 1 > q.max_nested_paths:
            return "max_nested_paths", 400, "NAME_INVALID", (f"invalid repository name: {repo} has more than {q.max_nested_paths} "
                                         "path components")
        if what == "blobs/uploads" and method == "PATCH" and q.no_chunked_upload:
            return "no_chunked_upload", 405, "UNSUPPORTED", "chunked uploads are not supported: send the blob in one PUT"
        if what == "manifests" and method == "HEAD" and q.head_401:
            return "head_401", 401, "UNAUTHORIZED", "authentication required"
        if what == "referrers" and q.no_referrers:
            return "no_referrers", 404, "NOT_FOUND", "page not found"
        media_type = headers.get("content-type", "").split(";")[0].strip()
        if what == "manifests" and method == "PUT" and media_type in q.reject_media_types:
            return "reject_media_types", 400, "MANIFEST_INVALID", f"manifest invalid: media type {media_type} is not supported"
        return None

    def rewritten_query(self, path: str, query: dict[str, str]) -> dict[str, str]:
        """The query forwarded: without ``mount``/``from`` (``no_mount``) or ``n``/``last`` (``ignore_pagination``)."""
        m = _PATH.match(path)
        what = m["what"] if m else ""
        dropped: set[str] = set()
        if what == "blobs/uploads" and self.quirks.no_mount:
            dropped |= {"mount", "from"}
        if what == "tags" and self.quirks.ignore_pagination:
            dropped |= {"n", "last"}
        if dropped & set(query):
            self._applied("no_mount" if what == "blobs/uploads" else "ignore_pagination")
        return {k: v for k, v in query.items() if k not in dropped}

    def answer_headers(self, path: str, headers: httpx.Headers) -> list[tuple[str, str]]:
        """The upstream answer's headers as the client gets them."""
        m = _PATH.match(path)
        out = []
        for k, v in headers.multi_items():
            low = k.lower()
            if low in _NOT_FORWARDED:
                continue
            if low == "docker-content-digest" and self.quirks.no_digest_header:
                self._applied("no_digest_header")
                continue
            if low == "link" and m and m["what"] == "tags" and self.quirks.ignore_pagination:
                continue
            if low == "location" and v.startswith(self.upstream):
                v = self.origin + v[len(self.upstream):]
            out.append((k, v))
        return out

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 60

            def do_ANY(self) -> None:  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query, keep_blank_values=True))
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = self._read_body()
                refused = proxy.refusal(self.command, url.path, query, headers)
                if refused is not None:
                    quirk, status, code, message = refused
                    proxy._applied(quirk)
                    with proxy._lock:
                        proxy.refused.append(Refusal(self.command, url.path, code))
                    return self._send(status, [("Content-Type", "application/json")],
                                      json.dumps({"errors": [{"code": code, "message": message}]}).encode())
                forwarded = proxy.rewritten_query(url.path, query)
                target = proxy.upstream + url.path + (f"?{urlencode(forwarded)}" if forwarded else "")
                send = [(k, v) for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED]
                try:
                    response = proxy._client.request(self.command, target, headers=send, content=body or None)
                except httpx.HTTPError as exc:
                    return self._send(502, [], f"quirk proxy: upstream failed: {type(exc).__name__}".encode())
                self._send(response.status_code, proxy.answer_headers(url.path, response.headers),
                           response.content, declared=response.headers.get("Content-Length"))

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_ANY  # noqa: N815

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes, *,
                      declared: str | None = None) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                # a HEAD answer says the length of the body a GET would get
                self.send_header("Content-Length", declared if self.command == "HEAD" and declared else str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                pass

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.quirk_proxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the registry, e.g. http://127.0.0.1:5000")
    parser.add_argument("--max-nested-paths", type=int)
    parser.add_argument("--namespace", action="append", help="a namespace pushes may go to (repeatable)")
    parser.add_argument("--reject-media-type", action="append", default=[])
    for flag in ("no-mount", "no-chunked-upload", "no-digest-header", "head-401", "ignore-pagination",
                 "no-referrers"):
        parser.add_argument(f"--{flag}", action="store_true")
    a = parser.parse_args(argv)
    quirks = Quirks(max_nested_paths=a.max_nested_paths,
                    namespaces=frozenset(a.namespace) if a.namespace else None, no_mount=a.no_mount,
                    no_chunked_upload=a.no_chunked_upload, no_digest_header=a.no_digest_header,
                    head_401=a.head_401, ignore_pagination=a.ignore_pagination, no_referrers=a.no_referrers,
                    reject_media_types=frozenset(a.reject_media_type))
    proxy = QuirkProxy(a.upstream, quirks).start()
    print(json.dumps({"port": int(proxy.host.rsplit(":", 1)[1])}), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
