"""Blob uploads: a session per blob, in PATCHes of a chunk size and a closing PUT, resumed where a broken request
left it (the session says what it holds)."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Callable, ContextManager, Iterable, Iterator
from urllib.parse import quote, urljoin

from . import retry
from ..oci.content import Descriptor
from ..errors import DigestMismatch, RegistryError
from .http_errors import refused_push

if TYPE_CHECKING:
    from .connection import RegistryConnection

log = logging.getLogger(__name__)


def start_upload(client: RegistryConnection, repo: str, *, mount: str | None = None,
                 mount_from: str | None = None) -> str | None:
    """Open an upload session (trying a cross-repository mount first when asked).

    Returns the session's ``Location``, or None when the blob was mounted and nothing needs uploading.
    """
    params = f"?mount={quote(mount)}&from={quote(mount_from)}" if mount and mount_from else ""
    url = client.url_of(f"/v2/{repo}/blobs/uploads/{params}")
    try:
        response = client.send("POST", url, f"starting upload to {client.host}/{repo}")
    except RegistryError as exc:
        raise refused_push(exc, client.host, repo) from None
    if response.status_code == 201 and mount:
        return None
    location = response.headers.get("Location")
    if not location:
        raise RegistryError(f"starting upload to {client.host}/{repo}: no Location in HTTP {response.status_code}")
    return urljoin(url, location)


def finish_upload(client: RegistryConnection, repo: str, location: str, desc: Descriptor, chunks: Iterable[bytes],
                  offset: int = 0) -> None:
    """Send the rest of a blob from byte ``offset`` to an upload session in one streamed PUT (the registry
    checks the digest of the whole)."""
    sep = "&" if "?" in location else "?"
    url = f"{location}{sep}digest={quote(desc.digest)}"
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(desc.size - offset)}
    client.send("PUT", url, f"uploading blob {desc.digest} to {client.host}/{repo}", content=chunks,
                headers=headers)


def _patch(client: RegistryConnection, location: str, offset: int, size: int, chunks: Iterable[bytes],
           what: str) -> str:
    """Append ``size`` bytes at ``offset`` to an upload session; the session's URL for the next request."""
    response = client.send("PATCH", location, what, content=chunks, headers={
        "Content-Type": "application/octet-stream", "Content-Length": str(size),
        "Content-Range": f"{offset}-{offset + size - 1}"})
    return urljoin(location, response.headers.get("Location") or location)


def _upload_status(client: RegistryConnection, location: str, what: str) -> tuple[str, int] | None:
    """Where an upload session stands (``GET`` on its URL): its URL for the next request and how many bytes
    it holds; None when the registry no longer has it (docker-registry drops a session that took part of a
    request that then broke)."""
    def go() -> tuple[str, int] | None:
        response = client.request("GET", location)
        if response.status_code == 404:
            return None
        client.check(response, f"{what}: asking the upload session where it stands")
        # "0-N": bytes 0 to N are held; docker-registry says "0-0" for an empty session too (and a session we
        # fed holds whole PATCHes, never exactly one byte)
        end = (response.headers.get("Range") or "").partition("-")[2]
        held = int(end) + 1 if end.isdigit() and int(end) > 0 else 0
        return urljoin(location, response.headers.get("Location") or location), held

    return client.retrying(go, f"{what}: upload status")


def write_blob(client: RegistryConnection, repo: str, desc: Descriptor, chunks: Iterable[bytes],
               reopen: Reopen | None, *, chunk_size: int, session: str | None,
               has_blob: Callable[[str, str], bool]) -> None:
    """Upload a blob from a stream: up to ``chunk_size`` bytes in one PUT, a larger one in PATCHes of that
    size with the last piece in the PUT.

    A registry that refuses ``PATCH`` (405, or 400/501 ``UNSUPPORTED``: no chunked uploads) gets the whole blob
    in the closing PUT instead, from where its session stands.

    Each request is retried on its own. After a failure the session is asked how much it holds and the upload
    goes on from there, with the bytes from that offset from ``reopen(offset)`` (``chunks`` is closed then,
    which lets a fan-out go on without this target); a session the registry dropped is replaced by a new one
    from byte 0. Without ``reopen`` a failed request is not retried. An error of the source (``chunks`` or a
    reopened stream) is raised as it is, never retried here.
    """
    what = f"uploading blob {desc.digest} to {client.host}/{repo}"
    location = session  # one a blob reuse check left open, if any
    budget = retry.ResumeBudget(client.policy, what, client.health, client.host)
    offset = 0  # what the session holds
    chunked = True  # PATCHes for a blob larger than a chunk, until the registry refuses them
    stream, stream_start = _Pieces(chunks, desc.size, what), 0
    reopened = contextlib.ExitStack()
    try:
        while True:
            try:
                if location is None:
                    location = client.retrying(lambda: start_upload(client, repo), f"starting upload to {repo}")
                while chunked and desc.size - offset > chunk_size:
                    location = _patch(client, location, offset, chunk_size,
                                      stream.take(chunk_size), what)
                    offset += chunk_size
                    budget.progressed()
                finish_upload(client, repo, location, desc, stream.take(desc.size - offset), offset)
                return
            except Exception as exc:  # noqa: BLE001 - sorted below
                if stream.source_error is not None:
                    raise stream.source_error from None
                if reopen is None or location is None:
                    raise
                if chunked and _refuses_chunks(exc):
                    chunked = False
                    log.info("%s: the registry refuses chunked uploads (%s): the rest in one PUT", what, exc)
                else:
                    budget.failed(exc)  # re-raises once this request's attempts are spent
            stream.close()
            reopened.close()
            status = _upload_status(client, location, what)
            if status is None:
                if stream_start + stream.sent >= desc.size and has_blob(repo, desc.digest):
                    return  # the registry took it all, and only its answer was lost
                location, offset = None, 0
            else:
                location, held = status
                if held > offset:
                    budget.progressed()
                offset = min(held, desc.size)
            log.info("%s: going on from byte %d", what, offset)
            # a session holding every byte needs only the closing PUT (and a Range past the end is refused)
            rest = reopened.enter_context(reopen(offset)) if offset < desc.size else iter(())
            stream, stream_start = _Pieces(rest, desc.size - offset, what), offset
    except BaseException:
        if location is not None:
            # Best effort, briefly: the registry may be the thing that is failing; its purge is the fallback.
            client.end_session(location, timeout=5.0)
        raise
    finally:
        reopened.close()


def _refuses_chunks(exc: BaseException) -> bool:
    """Whether a PATCH failed because the registry takes no chunked uploads (not because it broke)."""
    return isinstance(exc, RegistryError) and (exc.status in (405, 501) or exc.code == "UNSUPPORTED")


Reopen = Callable[[int], ContextManager[Iterator[bytes]]]  # a blob's bytes from an offset, for a resumed upload


class _Pieces:
    """A stream of a blob's bytes cut into request bodies of exact sizes; it tells the source's errors apart."""

    def __init__(self, chunks: Iterable[bytes], size: int, what: str) -> None:
        self._chunks = iter(chunks)
        self._left = size
        self._what = what
        self._rest = b""
        self.sent = 0  # bytes handed to requests
        self.source_error: BaseException | None = None

    def take(self, n: int) -> Iterator[bytes]:
        while n > 0:
            if not self._rest:
                try:
                    self._rest = next(self._chunks)
                except StopIteration:
                    self.source_error = DigestMismatch(f"{self._what}: the source ended {self._left} bytes short")
                    raise self.source_error from None
                except Exception as exc:
                    self.source_error = exc
                    raise
            if len(self._rest) <= n:  # the usual case: whole chunks, not copied
                piece, self._rest = self._rest, b""
            else:
                piece, self._rest = self._rest[:n], self._rest[n:]
            n -= len(piece)
            self._left -= len(piece)
            self.sent += len(piece)
            yield piece

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
