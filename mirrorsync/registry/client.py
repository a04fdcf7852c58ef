"""A client for the OCI distribution API over httpx: one registry host, thread-safe, pooled connections.

It is also a content store (see ``store.py``): the copy algorithm reads from and writes to it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import httpx

from . import auth as auth_mod
from . import reference, retry, tag_list, uploads
from ..oci.content import ACCEPT, Descriptor, Manifest, digest_of, parse_manifest, verified
from ..oci.store import BlobReuse
from ..errors import DigestMismatch, NotFound, RegistryError
from .blob_reuse import BlobReuseStrategy
from .connection import USER_AGENT, RegistryConnection
from .http_errors import refused_push
from .settings import RegistrySettings
from .retry import RetryPolicy, TransientError
from .proxies import ProxySettings
from .uploads import Reopen

log = logging.getLogger(__name__)

__all__ = ["USER_AGENT", "RegistryClient", "Reopen"]


MIN_BLOB_RATE = 1024  # bytes a second, over each ``timeout``: what a blob download may not fall below


class TooSlow(httpx.ReadTimeout):
    """A blob arriving slower than ``MIN_BLOB_RATE`` for a whole timeout (a stalled or trickling server)."""


class MinimumRate:
    """A floor under a stream's rate, as curl's ``--speed-limit``/``--speed-time``: a server that sends a byte
    every second keeps each read within the timeout, and would otherwise hold a transfer for ever."""

    def __init__(self, window: float | None, what: str, floor: int = MIN_BLOB_RATE) -> None:
        self.window, self.what, self.floor = window, what, floor

    def watch(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        if not self.window:
            yield from chunks
            return
        start, got = time.monotonic(), 0
        for chunk in chunks:
            got += len(chunk)
            now = time.monotonic()
            if now - start >= self.window:
                if got < self.floor * (now - start):
                    raise TooSlow(f"{self.what}: {got} bytes in {now - start:.0f}s, under the "
                                  f"{self.floor} bytes a second mirrorsync waits for")
                start, got = now, 0
            yield chunk


class RegistryClient(RegistryConnection):
    """The distribution API of one registry host: manifests, tags, blobs, uploads, mounts and referrers.

    Its parts: the connection (``connection.py``: TLS, scheme, auth, retries), the tag list (``tag_list.py``), blob
    uploads (``uploads.py``), and the blob reuse that mounts and asks by mounting (``blob_reuse.py``)."""

    tags_page_size = 1000  # what we ask per tags/list page; registries may return fewer and link the next
    supports_range = True  # read_blob can start at an offset (a Range request), for an upload that resumes
    upload_chunk_size = 32 << 20  # a larger blob is uploaded in PATCHes of this size: what a broken one costs

    def __init__(self, host: str, *, settings: RegistrySettings | None = None,
                 credentials: auth_mod.Credentials | auth_mod.CredentialsFor | None = None,
                 policy: RetryPolicy | None = None, timeout: float = 60.0, max_connections: int = 32,
                 settings_for: Callable[[str], RegistrySettings] | None = None,
                 proxies: ProxySettings | None = None) -> None:
        super().__init__(host, settings=settings, credentials=credentials, policy=policy, timeout=timeout,
                         max_connections=max_connections, settings_for=settings_for, proxies=proxies)
        self.reuse = BlobReuseStrategy(host, request_mount=self._request_mount, has_blob=self.has_blob,
                                       end_session=self.end_session)

    def close(self) -> None:
        self.reuse.close()
        super().close()

    # --- manifests ------------------------------------------------------------------------------------------------

    def manifest_descriptor(self, repo: str, ref: str) -> Descriptor | None:
        """HEAD a manifest: its digest, size and media type, or None when the registry does not have it."""
        what = f"HEAD {self.host}/{repo}:{ref}" if not reference.is_digest(ref) else f"HEAD {self.host}/{repo}@{ref}"

        path = f"/v2/{repo}/manifests/{ref}"

        def go() -> Descriptor | None:
            answer = self._lean_head(path)
            if answer is not None and answer.status == 200:
                headers: Mapping[str, str] = answer.headers  # http.client's: get() ignores case, as httpx's does
            else:
                response = (self._client.head(self.url_of(path), headers={"Accept": ACCEPT}) if answer is None
                            else httpx.Response(answer.status, headers=answer.getheaders(), content=b""))
                if response.status_code == 404:
                    return None
                if response.status_code in (401, 403):
                    # some registries (proxy caches, cloud registries) refuse HEAD on manifests but answer GET;
                    # a GET that is refused too says why
                    return self._descriptor_by_get(repo, ref)
                self.check(response, what)
                headers = response.headers
            digest = headers.get("Docker-Content-Digest")
            if not digest and reference.is_digest(ref):
                digest = ref  # the header is only a SHOULD; a 200 to a HEAD by digest says the manifest is there
            if not digest:
                return self._descriptor_by_get(repo, ref)  # a tag on a registry that does not say its digest
            return Descriptor(headers.get("Content-Type", ""), digest,
                              int(headers.get("Content-Length") or 0))

        return self.retrying(go, what)

    def _descriptor_by_get(self, repo: str, ref: str) -> Descriptor | None:
        """A manifest's descriptor from its bytes (GET), where a HEAD cannot tell it; None when it is not there."""
        try:
            manifest = self.get_manifest(repo, ref)
        except NotFound:
            return None
        return Descriptor(manifest.media_type, manifest.digest, len(manifest.data))

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """GET a manifest, verified against its digest (``ref`` itself, or the registry's Docker-Content-Digest)."""
        what = f"{self.host}/{repo}@{ref}" if reference.is_digest(ref) else f"{self.host}/{repo}:{ref}"

        def go() -> Manifest:
            response = self.send("GET", self.url_of(f"/v2/{repo}/manifests/{ref}"), f"fetching manifest {what}",
                                 headers={"Accept": ACCEPT})
            data = response.content
            if reference.is_digest(ref):
                expected = ref
            else:
                expected = response.headers.get("Docker-Content-Digest") or digest_of(data)
            actual = digest_of(data, expected)
            if actual != expected:
                raise DigestMismatch(f"manifest {what}: content has digest {actual}, expected {expected}")
            return parse_manifest(data, response.headers.get("Content-Type"), expected)

        return self.retrying(go, f"GET manifest {what}")

    def put_manifest(self, repo: str, ref: str, manifest: Manifest) -> None:
        """PUT a manifest's exact bytes under a tag or its digest."""
        what = f"pushing manifest {self.host}/{repo}" + (f"@{ref}" if reference.is_digest(ref) else f":{ref}")

        def go() -> None:
            try:
                response = self.send("PUT", self.url_of(f"/v2/{repo}/manifests/{ref}"), what,
                                     content=manifest.data, headers={"Content-Type": manifest.media_type})
            except RegistryError as exc:
                raise refused_push(exc, self.host, repo, manifest.media_type) from None
            got = response.headers.get("Docker-Content-Digest")
            if got and got != manifest.digest:
                raise RegistryError(f"{what}: registry stored it as {got}, expected {manifest.digest}")

        self.retrying(go, what)

    def delete_manifest(self, repo: str, digest: str) -> None:
        self.retrying(lambda: self.send("DELETE", self.url_of(f"/v2/{repo}/manifests/{digest}"),
                                        f"deleting {self.host}/{repo}@{digest}"), "DELETE manifest")

    # --- tags -----------------------------------------------------------------------------------------------------

    def list_tags(self, repo: str) -> list[str]:
        """Every tag of a repository, sorted, bounded (``tag_list.py``)."""
        return tag_list.list_tags(self, repo, self.tags_page_size)

    # --- blobs ----------------------------------------------------------------------------------------------------

    def has_blob(self, repo: str, digest: str) -> bool:
        """Whether ``repo`` holds the blob: a HEAD."""
        what = f"HEAD blob {self.host}/{repo}@{digest}"

        def go() -> bool:
            response = self._client.head(self.url_of(f"/v2/{repo}/blobs/{digest}"))
            if response.status_code == 404:
                return False
            self.check(response, what)
            return True  # 2xx, or a redirect to where the blob is served from

        return self.retrying(go, what)

    def try_reusing_blob(self, repo: str, digest: str, candidates: Sequence[str] = ()) -> BlobReuse:
        """Whether ``repo`` holds the blob, or now does, mounted from one of ``candidates``; see ``blob_reuse.py``
        for the requests that answer it, and the upload session a missing blob's answer may carry."""
        return self.reuse.try_reusing(repo, digest, candidates)

    @contextlib.contextmanager
    def read_blob(self, repo: str, desc: Descriptor, offset: int = 0) -> Iterator[Iterator[bytes]]:
        """Stream a blob from byte ``offset``. From byte 0 the chunks are verified against ``desc`` (a mismatch
        raises at the end, see ``verified``); from later on they cannot be, and the registry an upload resumes
        into checks the digest of the whole.

        Each request is retried on its own, and a download that drops mid-body resumes with ``Range`` where the
        server allows it, so the consumer (an upload in flight) never sees the break.
        """
        what = f"blob {self.host}/{repo}@{desc.digest}"
        chunks = self._resumable(repo, desc, what, offset)
        try:
            yield verified(chunks, desc.digest, desc.size, what) if offset == 0 else chunks
        finally:
            chunks.close()

    def _resumable(self, repo: str, desc: Descriptor, what: str, offset: int = 0) -> Iterator[bytes]:
        url = self.url_of(f"/v2/{repo}/blobs/{desc.digest}")
        budget = retry.ResumeBudget(self.policy, f"fetching {what}", self.health, self.host)
        while True:
            start = offset
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                with self._client.stream("GET", url, headers=headers, follow_redirects=True) as response:
                    self.check(response, f"fetching {what}")
                    # A server that ignores Range sends the whole blob again: skip what the consumer already has,
                    # so the upload in flight still never sees the break.
                    skip = offset if offset and response.status_code == 200 else 0
                    if offset and response.status_code not in (200, 206):
                        raise RegistryError(f"fetching {what}: cannot resume at byte {offset} (HTTP "
                                            f"{response.status_code} to a Range request)")
                    # as the bytes arrive: a buffered chunk would be lost with the connection, and the resume
                    # would start before it (from 0 for any blob under the buffer's size)
                    rate = MinimumRate(self._client.timeout.read, f"fetching {what}")
                    for chunk in rate.watch(response.iter_bytes()):
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                            if not chunk:
                                continue
                        offset += len(chunk)
                        yield chunk
                    return
            except (httpx.TransportError, TransientError) as exc:
                if offset > start and not isinstance(exc, TooSlow):  # a trickle is no progress
                    budget.progressed()
                budget.failed(exc)  # re-raises once this request's attempts are spent
                if offset:
                    log.info("resuming %s at byte %d after %s", what, offset, type(exc).__name__)

    def start_upload(self, repo: str, *, mount: str | None = None, mount_from: str | None = None) -> str | None:
        """Open an upload session (trying a cross-repository mount first when asked): its ``Location``, or None
        when the blob was mounted and nothing needs uploading."""
        return uploads.start_upload(self, repo, mount=mount, mount_from=mount_from)

    def finish_upload(self, repo: str, location: str, desc: Descriptor, chunks: Iterable[bytes],
                      offset: int = 0) -> None:
        """Send the rest of a blob from byte ``offset`` in one streamed PUT."""
        uploads.finish_upload(self, repo, location, desc, chunks, offset)

    def write_blob(self, repo: str, desc: Descriptor, chunks: Iterable[bytes],
                   reopen: Reopen | None = None) -> None:
        """Upload a blob from a stream, resumed where a failed request left it when ``reopen`` gives the bytes from
        an offset (``uploads.write_blob``)."""
        uploads.write_blob(self, repo, desc, chunks, reopen, chunk_size=self.upload_chunk_size,
                           session=self.reuse.take_session(repo, desc.digest), has_blob=self.has_blob)

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Ask the registry to link a blob it already holds in ``from_repo``; True when it did."""
        return self.reuse.mount(repo, digest, from_repo)

    def _request_mount(self, repo: str, digest: str, from_repo: str, what: str) -> str | None:
        # Retried like any other request: the copier does not retry mounts, and a 502 here failed the image.
        return self.retrying(lambda: self.start_upload(repo, mount=digest, mount_from=from_repo), what)

    def end_session(self, location: str, **kw) -> None:
        """DELETE an upload session nobody will use, best effort (the registry's purge is the fallback)."""
        with contextlib.suppress(Exception):
            self._client.delete(location, **kw)

    def get_referrers(self, repo: str, digest: str) -> bytes | None:
        """The OCI 1.1 referrers index of ``digest`` (its bytes, an answer of at most 1 MiB), or None where the
        registry has no referrers API (it answers 404; one that has it never does)."""
        what = f"listing referrers of {self.host}/{repo}@{digest}"

        def go() -> bytes | None:
            response = self._client.get(self.url_of(f"/v2/{repo}/referrers/{digest}"),
                                        headers={"Accept": "application/vnd.oci.image.index.v1+json"})
            if response.status_code == 404:
                return None
            self.check(response, what)
            return response.content

        return self.retrying(go, what)
