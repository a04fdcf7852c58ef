"""How much a server can make us read into memory, as containers/image bounds it (``internal/iolimits``).

A hostile or broken registry must not exhaust memory with an endless manifest, token answer, tag list or error
body. Blobs are not bounded here: they are streamed, never held whole, and checked against their descriptor's
size and digest as they arrive (``content.verified``).
"""

from __future__ import annotations

import re
import time
import zlib
from typing import Iterator

import httpx

from ..errors import RegistryError

MiB = 1 << 20
MANIFEST_BODY = 4 * MiB  # as docker distribution refuses to store a bigger one
TOKEN_BODY = 1 * MiB
ERROR_BODY = 1 * MiB  # also any other small answer (a ping, an upload's 202)
TAGS_PAGE_BODY = 4 * MiB
MAX_TAGS = 100_000  # in one repository's tag list, all pages together
MAX_TAG_PAGES = 1_000

_BLOB = re.compile(r"^/v2/.+/blobs/[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class TooLarge(RegistryError):
    """A server sent more than we read of that kind of answer."""


def _size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit} bytes"


def too_large(what: str, where: str | httpx.Request, limit: int) -> TooLarge:
    """``where``: a text, or the request whose answer it is (named without its query, which may carry state)."""
    if isinstance(where, httpx.Request):
        where = f"{where.url.scheme}://{where.url.netloc.decode('ascii')}{where.url.path}"
    return TooLarge(f"{where} sent more than {_size(limit)} for {what}, the most mirrorsync reads; not reading more")


class _Truncated(httpx.SyncByteStream):
    """At most ``limit`` bytes of a body, then the end (the connection is closed, not reused)."""

    def __init__(self, inner: httpx.SyncByteStream, limit: int) -> None:
        self._inner = inner
        self._left = limit

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if len(chunk) >= self._left:
                yield chunk[:self._left]
                self._left = 0
                return
            self._left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _Bounded(httpx.SyncByteStream):
    """A body that raises ``TooLarge`` once it goes past ``limit`` bytes."""

    def __init__(self, inner: httpx.SyncByteStream, limit: int, what: str, where: str | httpx.Request) -> None:
        self._inner = inner
        self._limit = limit
        self._what = what
        self._where = where

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise too_large(self._what, self._where, self._limit)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _Deadline(httpx.SyncByteStream):
    """A small answer's body that must arrive whole within ``seconds`` (the request's timeout) of its headers: the
    timeout bounds each read, and a server sending a byte a second would otherwise keep a request for ever
    (slow loris). Blobs are not bounded so: they have a minimum rate instead (``client.py``)."""

    def __init__(self, inner: httpx.SyncByteStream, seconds: float, where: str | httpx.Request) -> None:
        self._inner = inner
        self._seconds = seconds
        self._deadline = time.monotonic() + seconds
        self._where = where

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if time.monotonic() > self._deadline:
                where = self._where
                if isinstance(where, httpx.Request):
                    where = f"{where.url.scheme}://{where.url.netloc.decode('ascii')}{where.url.path}"
                raise httpx.ReadTimeout(f"{where}: the answer did not arrive whole within {self._seconds:g}s")
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _with_deadline(response: httpx.Response, where: str | httpx.Request) -> None:
    timeout = (response.request.extensions.get("timeout") or {}).get("read")
    if timeout:
        response.stream = _Deadline(response.stream, timeout, where)


class _Decoded(httpx.SyncByteStream):
    """A gzip or deflate body decoded here, a little at a time: httpx's decoder expands each chunk it reads at once,
    and a few hundred kilobytes of gzip expand to gigabytes. The limits then count the decoded bytes."""

    def __init__(self, inner: httpx.SyncByteStream, encoding: str) -> None:
        self._inner = inner
        self._gzip = encoding in ("gzip", "x-gzip")

    def __iter__(self) -> Iterator[bytes]:
        # deflate in HTTP is usually zlib-wrapped, sometimes raw: decided by its first bytes, as httpx does
        z = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        first = not self._gzip
        try:
            for chunk in self._inner:
                if first and chunk:
                    first = False
                    try:
                        zlib.decompressobj().decompress(chunk[:2])
                    except zlib.error:
                        z = zlib.decompressobj(-zlib.MAX_WBITS)
                data = chunk
                while data:
                    out = z.decompress(data, 1 << 16)
                    data = z.unconsumed_tail
                    if out:
                        yield out
                    elif z.eof:
                        break
        except zlib.error as exc:
            raise httpx.DecodingError(f"the answer's compressed body is broken: {exc}") from None

    def close(self) -> None:
        self._inner.close()


def _decode_here(response: httpx.Response, *, error: bool = False) -> None:
    """Take the decoding of a compressed body from httpx (see ``_Decoded``). Another encoding is refused, or, for
    an error answer, whose status is what counts, left undecoded."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return
    del response.headers["Content-Encoding"]
    if encoding in ("gzip", "x-gzip", "deflate"):
        response.stream = _Decoded(response.stream, encoding)
    elif not error:
        response.close()
        raise RegistryError(f"{response.request.url.netloc.decode('ascii')} answered with Content-Encoding "
                            f"{encoding!r}, which mirrorsync does not read")


def _answer_kind(request: httpx.Request) -> tuple[str, int] | None:
    """What a successful answer to ``request`` is, and the most we read of it; None for a blob (streamed)."""
    path = request.url.path
    if request.method == "GET" and (_BLOB.match(path) or not path.startswith("/v2/")):
        # a blob, or a redirect's target (storage serving a blob); a token realm's answer is read with
        # read_at_most by the code that asks for it
        return None
    if "/manifests/" in path:
        return "a manifest", MANIFEST_BODY
    if path.endswith("/tags/list"):
        return "a page of a tag list", TAGS_PAGE_BODY
    return "an answer", ERROR_BODY


def bound_body(response: httpx.Response) -> None:
    """An httpx ``response`` event hook: bound every body read through the client before anyone reads it.

    An error answer (and a redirect, whose body httpx reads before it follows) is cut after ``ERROR_BODY``: its
    status says what happened, the body only adds a message. A successful answer larger than its kind's limit is an
    error (``TooLarge``), raised as soon as its ``Content-Length``, or the bytes read, say so.
    """
    request = response.request
    if not 200 <= response.status_code < 300:
        _with_deadline(response, request)
        _decode_here(response, error=True)
        response.stream = _Truncated(response.stream, ERROR_BODY)
        return
    kind = _answer_kind(request)
    if kind is None or request.method == "HEAD":
        return
    what, limit = kind
    _bound(response, limit, what, request)


def _bound(response: httpx.Response, limit: int, what: str, where: httpx.Request | str) -> None:
    """Refuse ``response`` now if its ``Content-Length`` is past ``limit``, else make reading past it ``TooLarge``
    (counting decoded bytes)."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        response.close()
        raise too_large(what, where, limit)
    if not isinstance(response.stream, _Deadline):
        _with_deadline(response, where)
    _decode_here(response)
    response.stream = _Bounded(response.stream, limit, what, where)


def read_at_most(response: httpx.Response, limit: int, what: str, where: str) -> bytes:
    """Read a streamed ``response`` (as ``response.read()``), or ``TooLarge`` past ``limit`` bytes."""
    _bound(response, limit, what, where)
    try:
        return response.read()
    except TooLarge:
        response.close()
        raise
