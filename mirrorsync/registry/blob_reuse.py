"""Getting a blob into a repository of one registry without uploading it, and the upload sessions asking opens.

The registry's ``try_reusing_blob`` (see ``oci/store.py``), as containers/image's ``TryReusingBlob``:

- a blob known to live in another repository of the registry (a candidate) is mounted from there
  (``?mount=&from=``): one request whether or not the repository holds it already, where asking first would be two;
- once the registry has honoured a cross-repository mount in this run, whether a repository holds a blob is asked
  as a mount of the blob from that repository into itself: 201 means it is there, and 202 opens the upload session
  that ``write_blob`` then goes into, so a missing blob costs one request less (HEAD, POST, PUT becomes POST, PUT);
  a registry that refuses such a mount (the spec says 202) is asked by HEAD from then on;
- sessions opened this way and never written into are ended at ``close()``, not left to the registry's purge.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from ..errors import AuthError, RegistryError, Unreachable
from ..oci.store import ABSENT, PRESENT, BlobReuse
from .retry import TransientError

log = logging.getLogger(__name__)

# (repo, digest, from_repo, what) -> the Location of the upload session the mount request opened, None when the
# registry mounted the blob; retried, raising as any request does
MountRequest = Callable[[str, str, str, str], "str | None"]


class BlobReuseStrategy:
    """One registry's blob reuse: what it has shown it honours, and the upload sessions opened while asking."""

    def __init__(self, host: str, *, request_mount: MountRequest, has_blob: Callable[[str, str], bool],
                 end_session: Callable[..., None]) -> None:
        """``has_blob(repo, digest)`` asks by HEAD; ``end_session(location, timeout=...)`` DELETEs a session,
        best effort."""
        self.host = host
        self._request_mount = request_mount
        self._has_blob = has_blob
        self._end_session = end_session
        self._mounts_honoured = False
        self._self_mount_refused = False
        self._sessions: dict[tuple[str, str], str] = {}  # (repo, digest) -> a session opened by asking
        self._lock = threading.Lock()

    def try_reusing(self, repo: str, digest: str, candidates: Sequence[str] = ()) -> BlobReuse:
        for other in candidates:
            if other != repo and self.mount(repo, digest, other):
                return BlobReuse(True, mounted_from=other)
        if self._mounts_honoured and not self._self_mount_refused:
            try:
                location = self._request_mount(repo, digest, repo, f"checking blob {digest} in {self.host}/{repo}")
            except (AuthError, TransientError, Unreachable):
                raise
            except RegistryError as exc:
                log.info("%s refused a mount of %s from %s itself (%s); asking by HEAD from now on",
                         self.host, digest, repo, exc)
                self._self_mount_refused = True
            else:
                if location is None:
                    return PRESENT
                with self._lock:
                    stale = self._sessions.pop((repo, digest), None)
                    self._sessions[(repo, digest)] = location
                if stale:
                    self._end_session(stale, timeout=5.0)
                return BlobReuse(False, session=location)
        return PRESENT if self._has_blob(repo, digest) else ABSENT

    def mount(self, repo: str, digest: str, from_repo: str) -> bool:
        """Mount a blob the registry holds in ``from_repo`` into ``repo``; True when it did."""
        location = self._request_mount(repo, digest, from_repo, f"mounting {digest} into {self.host}/{repo}")
        if location is None:
            self._mounts_honoured = True
            return True
        # Not mounted: this session is unused; close it so it does not linger until the registry's purge.
        self._end_session(location)
        return False

    def take_session(self, repo: str, digest: str) -> str | None:
        """The session ``try_reusing`` opened for this blob in ``repo``, now the caller's to write into or end."""
        with self._lock:
            return self._sessions.pop((repo, digest), None)

    def close(self) -> None:
        with self._lock:
            unused, self._sessions = list(self._sessions.values()), {}
        for location in unused:  # opened for a blob that was then not written
            self._end_session(location, timeout=5.0)
