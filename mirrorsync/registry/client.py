"""A client for the OCI distribution API over httpx: one registry host, thread-safe, pooled connections.

It is also a content store (see ``store.py``): the copy algorithm reads from and writes to it.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import threading
from typing import Callable, ContextManager, Iterable, Iterator, Mapping, Sequence
from urllib.parse import quote, urljoin

import httpx

from . import auth as auth_mod
from . import limits, retry
from ..oci.content import ACCEPT, Descriptor, Manifest, digest_of, parse_manifest, verified
from ..oci.store import BlobReuse
from ..errors import DigestMismatch, RegistryError, Unreachable
from .blob_reuse import BlobReuseStrategy
from .http_errors import raise_for_status, unreachable
from .scheme import detect_scheme
from .settings import RegistrySettings
from .retry import RetryPolicy, TransientError
from .proxies import ProxySettings
from .tls import HostTransports

log = logging.getLogger(__name__)

USER_AGENT = "mirrorsync"


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: registries do not use cookies (containers/image sends none either), and
    httpx's per-response cookie extraction costs as much CPU as the rest of a small request's handling."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class _Client(httpx.Client):
    """httpx's client without cookies."""

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, value) -> None:
        pass


_NO_COOKIES = _NoCookies()


class RegistryClient:
    """The distribution API of one registry host.

    Its parts: TLS per host (``tls.py``), the scheme (``scheme.py``), what answers mean (``http_errors.py``), auth
    (``auth.py``), and the blob reuse that mounts and asks by mounting (``blob_reuse.py``)."""

    tags_page_size = 1000  # what we ask per tags/list page; registries may return fewer and link the next

    def __init__(self, host: str, *, settings: RegistrySettings | None = None,
                 credentials: auth_mod.Credentials | auth_mod.CredentialsFor | None = None,
                 policy: RetryPolicy | None = None, timeout: float = 60.0, max_connections: int = 32,
                 settings_for: Callable[[str], RegistrySettings] | None = None,
                 proxies: ProxySettings | None = None) -> None:
        """``settings`` are this registry's; ``settings_for(host)`` those of any other host it sends us to (its
        token realm, a redirect's target), verified TLS without a client certificate when not given.
        ``credentials`` may be a function of the repository (``auth.credentials_for``)."""
        self.host = host
        self.settings = settings or RegistrySettings()
        self.policy = policy or RetryPolicy()
        settings_for = settings_for or (lambda _host: RegistrySettings())
        self.auth = auth_mod.RegistryAuth(host, credentials, settings_for=settings_for,
                                          plain_http=not self.settings.tls_verify)
        self._scheme: str | None = None
        self._scheme_lock = threading.Lock()
        self._transports = HostTransports(host, self.settings, owns=self.auth.owns, settings_for=settings_for,
                                          max_connections=max_connections, proxies=proxies)
        self._transport = self._transports.own  # the lean HEAD's, beside httpx's use of it
        self._reuse = BlobReuseStrategy(host, request_mount=self._request_mount, has_blob=self.has_blob,
                                        end_session=self._end_session)
        self._origin: tuple[str, str, int] | None = None  # (scheme, host, port) once base_url is known
        self._client = _Client(
            event_hooks={"response": [limits.bound_body]},
            auth=self.auth,
            verify=self._transports.ssl_context,
            transport=self._transports,  # each host's TLS settings: its own transport (tls.py)
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"RegistryClient({self.host!r})"

    def describe(self) -> str:
        return self.host

    def close(self) -> None:
        self._reuse.close()
        self._client.close()
        self._transports.close()

    # --- plumbing -------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._scheme is None:
            with self._scheme_lock:
                if self._scheme is None:
                    try:
                        self._scheme = detect_scheme(self.host, self.settings, self._client.get, self.policy)
                    except httpx.TransportError as exc:
                        raise self.unreachable(exc) from None
        return f"{self._scheme}://{self.host}"

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _send(self, method: str, url: str, what: str, **kw) -> httpx.Response:
        response = self._client.request(method, url, **kw)
        raise_for_status(response, what)
        return response

    def _retrying(self, fn, what: str):
        try:
            return retry.call(self.policy, fn, what)
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from None

    def unreachable(self, exc: httpx.TransportError) -> Unreachable:
        """A transport failure as one line naming this registry (or the host it sent us to)."""
        return unreachable(self.host, exc, self.auth.owns)

    def ping(self) -> None:
        """Check that the registry answers (and that credentials, if any, are accepted)."""
        def go() -> None:
            response = self._client.get(self._url("/v2/"))
            if response.status_code != 401:
                raise_for_status(response, f"{self.host}")
        self._retrying(go, f"ping {self.host}")

    # --- manifests ------------------------------------------------------------------------------------------------

    def manifest_descriptor(self, repo: str, ref: str) -> Descriptor | None:
        """HEAD a manifest: its digest, size and media type, or None when the registry does not have it."""
        what = f"HEAD {self.host}/{repo}:{ref}" if ":" not in ref else f"HEAD {self.host}/{repo}@{ref}"

        path = f"/v2/{repo}/manifests/{ref}"

        def go() -> Descriptor | None:
            answer = self._lean_head(path)
            if answer is not None and answer.status == 200:
                headers: Mapping[str, str] = answer.headers  # http.client's: get() ignores case, as httpx's does
            else:
                response = (self._client.head(self._url(path), headers={"Accept": ACCEPT}) if answer is None
                            else httpx.Response(answer.status, headers=answer.getheaders(), content=b""))
                if response.status_code == 404:
                    return None
                raise_for_status(response, what)
                headers = response.headers
            digest = headers.get("Docker-Content-Digest")
            if not digest and ":" in ref:
                digest = ref  # the header is only a SHOULD; a 200 to a HEAD by digest says the manifest is there
            if not digest:
                return None  # a tag on a registry that does not say its digest; the caller falls back to GET
            return Descriptor(headers.get("Content-Type", ""), digest,
                              int(headers.get("Content-Length") or 0))

        return self._retrying(go, what)

    def _lean_head(self, path: str) -> http.client.HTTPResponse | None:
        """HEAD ``path`` on our own transport without httpx's client around it, which costs more CPU than the
        request does on a no-op re-sync's thousands of HEADs. It carries what the auth flow says a request
        carries (``RegistryAuth.authorization``). None where the full path must do it: where the flow has more to
        do first (a Bearer token for the scope to fetch), or when the answer is 401 (a challenge)."""
        if self._origin is None:  # first, as finding the scheme may be what shows how the registry authenticates
            url = httpx.URL(self.base_url)
            self._origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        ready, authorization = self.auth.authorization("HEAD", path)
        if not ready:
            return None
        headers = [("User-Agent", USER_AGENT), ("Accept", ACCEPT)]
        if authorization:
            headers.append(("Authorization", authorization))
        timeout = self._client.timeout
        answer = self._transport.head(self._origin, path, headers, connect_timeout=timeout.connect,
                                      timeout=timeout.read)
        return None if answer.status == 401 else answer

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """GET a manifest, verified against its digest (``ref`` itself, or the registry's Docker-Content-Digest)."""
        what = f"{self.host}/{repo}@{ref}" if ":" in ref else f"{self.host}/{repo}:{ref}"

        def go() -> Manifest:
            response = self._send("GET", self._url(f"/v2/{repo}/manifests/{ref}"), f"fetching manifest {what}",
                                  headers={"Accept": ACCEPT})
            data = response.content
            if ":" in ref:
                expected = ref
            else:
                expected = response.headers.get("Docker-Content-Digest") or digest_of(data)
            actual = digest_of(data, expected)
            if actual != expected:
                raise DigestMismatch(f"manifest {what}: content has digest {actual}, expected {expected}")
            return parse_manifest(data, response.headers.get("Content-Type"), expected)

        return self._retrying(go, f"GET manifest {what}")

    def put_manifest(self, repo: str, ref: str, manifest: Manifest) -> None:
        """PUT a manifest's exact bytes under a tag or its digest."""
        what = f"pushing manifest {self.host}/{repo}" + (f"@{ref}" if ":" in ref else f":{ref}")

        def go() -> None:
            response = self._send("PUT", self._url(f"/v2/{repo}/manifests/{ref}"), what,
                                  content=manifest.data, headers={"Content-Type": manifest.media_type})
            got = response.headers.get("Docker-Content-Digest")
            if got and got != manifest.digest:
                raise RegistryError(f"{what}: registry stored it as {got}, expected {manifest.digest}")

        self._retrying(go, what)

    def delete_manifest(self, repo: str, digest: str) -> None:
        self._retrying(lambda: self._send("DELETE", self._url(f"/v2/{repo}/manifests/{digest}"),
                                          f"deleting {self.host}/{repo}@{digest}"), "DELETE manifest")

    # --- tags -----------------------------------------------------------------------------------------------------

    def list_tags(self, repo: str) -> list[str]:
        """Every tag of a repository, sorted: pages of ``n`` tags, following each page's ``Link`` to the next, or
        asking from the ``last`` tag where a full page links nowhere. Bounded: at most ``limits.MAX_TAGS`` tags in
        ``limits.MAX_TAG_PAGES`` pages (each at most ``limits.TAGS_PAGE_BODY``), and a page seen twice is an error."""
        what = f"listing tags of {self.host}/{repo}"
        first = self._url(f"/v2/{repo}/tags/list?n={self.tags_page_size}")
        tags: set[str] = set()
        url: str | None = first
        seen: set[str] = set()
        while url:
            if url in seen:
                raise RegistryError(f"{what}: the registry links back to a page already read ({_no_query(url)})")
            if len(seen) >= limits.MAX_TAG_PAGES:
                raise RegistryError(f"{what}: more than {limits.MAX_TAG_PAGES} pages, the most mirrorsync reads")
            seen.add(url)
            current = url
            response = self._retrying(lambda: self._send("GET", current, what), f"list tags {repo}")
            try:
                page = response.json().get("tags") or []
                if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                    raise ValueError
            except (ValueError, AttributeError):
                raise RegistryError(f"{what}: the answer is not a tag list") from None
            new = set(page) - tags
            tags |= new
            if len(tags) > limits.MAX_TAGS:
                raise RegistryError(f"{what}: more than {limits.MAX_TAGS} tags, the most mirrorsync reads")
            url = _next_link(response, current)
            if url is None and new and len(page) >= self.tags_page_size:
                # a full page and no Link: a registry that pages by n/last without saying so
                url = f"{first}&last={quote(page[-1])}"
        return sorted(tags)

    # --- blobs ----------------------------------------------------------------------------------------------------

    def has_blob(self, repo: str, digest: str) -> bool:
        """Whether ``repo`` holds the blob: a HEAD."""
        what = f"HEAD blob {self.host}/{repo}@{digest}"

        def go() -> bool:
            response = self._client.head(self._url(f"/v2/{repo}/blobs/{digest}"))
            if response.status_code == 404:
                return False
            raise_for_status(response, what)
            return True  # 2xx, or a redirect to where the blob is served from

        return self._retrying(go, what)

    def try_reusing_blob(self, repo: str, digest: str, candidates: Sequence[str] = ()) -> BlobReuse:
        """Whether ``repo`` holds the blob, or now does, mounted from one of ``candidates``; see ``blob_reuse.py``
        for the requests that answer it, and the upload session a missing blob's answer may carry."""
        return self._reuse.try_reusing(repo, digest, candidates)

    supports_range = True  # read_blob can start at an offset (a Range request), for an upload that resumes
    upload_chunk_size = 32 << 20  # a larger blob is uploaded in PATCHes of this size: what a broken one costs

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
        url = self._url(f"/v2/{repo}/blobs/{desc.digest}")
        budget = retry.ResumeBudget(self.policy, f"fetching {what}")
        while True:
            start = offset
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            try:
                with self._client.stream("GET", url, headers=headers, follow_redirects=True) as response:
                    raise_for_status(response, f"fetching {what}")
                    # A server that ignores Range sends the whole blob again: skip what the consumer already has,
                    # so the upload in flight still never sees the break.
                    skip = offset if offset and response.status_code == 200 else 0
                    if offset and response.status_code not in (200, 206):
                        raise RegistryError(f"fetching {what}: cannot resume at byte {offset} (HTTP "
                                            f"{response.status_code} to a Range request)")
                    # as the bytes arrive: a buffered chunk would be lost with the connection, and the resume
                    # would start before it (from 0 for any blob under the buffer's size)
                    for chunk in response.iter_bytes():
                        if skip:
                            dropped = min(skip, len(chunk))
                            chunk, skip = chunk[dropped:], skip - dropped
                            if not chunk:
                                continue
                        offset += len(chunk)
                        yield chunk
                    return
            except (httpx.TransportError, TransientError) as exc:
                if offset > start:
                    budget.progressed()
                budget.failed(exc)  # re-raises once this request's attempts are spent
                if offset:
                    log.info("resuming %s at byte %d after %s", what, offset, type(exc).__name__)

    def start_upload(self, repo: str, *, mount: str | None = None, mount_from: str | None = None) -> str | None:
        """Open an upload session (trying a cross-repository mount first when asked).

        Returns the session's ``Location``, or None when the blob was mounted and nothing needs uploading.
        """
        params = f"?mount={quote(mount)}&from={quote(mount_from)}" if mount and mount_from else ""
        url = self._url(f"/v2/{repo}/blobs/uploads/{params}")
        response = self._send("POST", url, f"starting upload to {self.host}/{repo}")
        if response.status_code == 201 and mount:
            return None
        location = response.headers.get("Location")
        if not location:
            raise RegistryError(f"starting upload to {self.host}/{repo}: no Location in HTTP {response.status_code}")
        return urljoin(url, location)

    def finish_upload(self, repo: str, location: str, desc: Descriptor, chunks: Iterable[bytes],
                      offset: int = 0) -> None:
        """Send the rest of a blob from byte ``offset`` to an upload session in one streamed PUT (the registry
        checks the digest of the whole)."""
        sep = "&" if "?" in location else "?"
        url = f"{location}{sep}digest={quote(desc.digest)}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(desc.size - offset)}
        self._send("PUT", url, f"uploading blob {desc.digest} to {self.host}/{repo}", content=chunks,
                   headers=headers)

    def _patch(self, location: str, offset: int, size: int, chunks: Iterable[bytes], what: str) -> str:
        """Append ``size`` bytes at ``offset`` to an upload session; the session's URL for the next request."""
        response = self._send("PATCH", location, what, content=chunks, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(size),
            "Content-Range": f"{offset}-{offset + size - 1}"})
        return urljoin(location, response.headers.get("Location") or location)

    def _upload_status(self, location: str, what: str) -> tuple[str, int] | None:
        """Where an upload session stands (``GET`` on its URL): its URL for the next request and how many bytes
        it holds; None when the registry no longer has it (docker-registry drops a session that took part of a
        request that then broke)."""
        def go() -> tuple[str, int] | None:
            response = self._client.get(location)
            if response.status_code == 404:
                return None
            raise_for_status(response, f"{what}: asking the upload session where it stands")
            # "0-N": bytes 0 to N are held; docker-registry says "0-0" for an empty session too (and a session we
            # fed holds whole PATCHes, never exactly one byte)
            end = (response.headers.get("Range") or "").partition("-")[2]
            held = int(end) + 1 if end.isdigit() and int(end) > 0 else 0
            return urljoin(location, response.headers.get("Location") or location), held

        return self._retrying(go, f"{what}: upload status")

    def write_blob(self, repo: str, desc: Descriptor, chunks: Iterable[bytes],
                   reopen: Reopen | None = None) -> None:
        """Upload a blob from a stream: up to ``upload_chunk_size`` in one PUT, a larger one in PATCHes of that
        size with the last piece in the PUT.

        Each request is retried on its own. After a failure the session is asked how much it holds and the upload
        goes on from there, with the bytes from that offset from ``reopen(offset)`` (``chunks`` is closed then,
        which lets a fan-out go on without this target); a session the registry dropped is replaced by a new one
        from byte 0. Without ``reopen`` a failed request is not retried. An error of the source (``chunks`` or a
        reopened stream) is raised as it is, never retried here.
        """
        what = f"uploading blob {desc.digest} to {self.host}/{repo}"
        location = self._reuse.take_session(repo, desc.digest)
        budget = retry.ResumeBudget(self.policy, what)
        offset = 0  # what the session holds
        stream, stream_start = _Pieces(chunks, desc.size, what), 0
        reopened = contextlib.ExitStack()
        try:
            while True:
                try:
                    if location is None:
                        location = self._retrying(lambda: self.start_upload(repo), f"starting upload to {repo}")
                    while desc.size - offset > self.upload_chunk_size:
                        location = self._patch(location, offset, self.upload_chunk_size,
                                               stream.take(self.upload_chunk_size), what)
                        offset += self.upload_chunk_size
                        budget.progressed()
                    self.finish_upload(repo, location, desc, stream.take(desc.size - offset), offset)
                    return
                except Exception as exc:  # noqa: BLE001 - sorted below
                    if stream.source_error is not None:
                        raise stream.source_error from None
                    if reopen is None or location is None:
                        raise
                    budget.failed(exc)  # re-raises once this request's attempts are spent
                stream.close()
                reopened.close()
                status = self._upload_status(location, what)
                if status is None:
                    if stream_start + stream.sent >= desc.size and self.has_blob(repo, desc.digest):
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
                self._end_session(location, timeout=5.0)
            raise
        finally:
            reopened.close()

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Ask the registry to link a blob it already holds in ``from_repo``; True when it did."""
        return self._reuse.mount(repo, digest, from_repo)

    def _request_mount(self, repo: str, digest: str, from_repo: str, what: str) -> str | None:
        # Retried like any other request: the copier does not retry mounts, and a 502 here failed the image.
        return self._retrying(lambda: self.start_upload(repo, mount=digest, mount_from=from_repo), what)

    def _end_session(self, location: str, **kw) -> None:
        """DELETE an upload session nobody will use, best effort (the registry's purge is the fallback)."""
        with contextlib.suppress(Exception):
            self._client.delete(location, **kw)

    def get_referrers(self, repo: str, digest: str) -> bytes | None:
        """The OCI 1.1 referrers index of ``digest`` (its bytes, an answer of at most 1 MiB), or None where the
        registry has no referrers API (it answers 404; one that has it never does)."""
        what = f"listing referrers of {self.host}/{repo}@{digest}"

        def go() -> bytes | None:
            response = self._client.get(self._url(f"/v2/{repo}/referrers/{digest}"),
                                        headers={"Accept": "application/vnd.oci.image.index.v1+json"})
            if response.status_code == 404:
                return None
            raise_for_status(response, what)
            return response.content

        return self._retrying(go, what)


def _no_query(url: str) -> str:
    return url.split("?", 1)[0]


def _next_link(response: httpx.Response, current: str) -> str | None:
    link = response.headers.get("Link")
    if not link:
        return None
    for part in link.split(","):
        if 'rel="next"' in part or "rel=next" in part:
            target = part.split(";")[0].strip().strip("<>")
            return urljoin(current, target)
    return None


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
