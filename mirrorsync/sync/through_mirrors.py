"""A source read where a node would pull it from: its mirrors in order, then the source itself (``sourceMirrors``).

The store is named by the original repositories (``quay.io/ns/app``), so that plans, reports and mirror sets keep
those names; each read goes to the first location that has what it asks for. Which locations, in which order, is
not decided here: the layer that wires a run gives a ``locate`` callable built on the registries.conf resolver
(:mod:`mirrorsync.openshift.resolve`), so that what is read is what a node would pull.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterable, Iterator, Sequence

from ..errors import NotFound, RegistryError, Unreachable, describe
from ..oci.content import Descriptor, Manifest
from ..oci.store import ABSENT, BlobReuse, ContentStore
from ..registry import reference


@dataclass(frozen=True)
class Location:
    """One place a repository is read from: a repository in a store, labelled ``host/path`` for messages."""

    store: ContentStore
    repo: str
    label: str
    mirror: bool = True


# (original repository name, by digest?) -> the locations to try, in order (blocked ones already left out)
Locate = Callable[[str, bool], Sequence[Location]]


class NotOnAnyMirror(NotFound):
    """No location holds what was asked for (or none could be reached)."""


class SourceThroughMirrors:
    """A read-only :class:`~mirrorsync.oci.store.ContentStore` whose repositories are original names, read
    through ``locate``'s locations. Remembers where each manifest was found (``read_from``) for the report."""

    supports_range = False

    def __init__(self, locate: Locate) -> None:
        self._locate = locate
        self._found: dict[tuple[str, str], Location] = {}
        self._down: set[str] = set()  # hosts that could not be reached
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "the source mirrors"

    def read_from(self, repo: str, ref: str) -> str | None:
        """Where the manifest of ``repo`` at ``ref`` was read from (``host/path``), if it was read."""
        with self._lock:
            loc = self._found.get((repo, ref))
        return None if loc is None else loc.label

    def where(self, repo: str, digest: str) -> tuple[ContentStore, str]:
        """The store and repository ``repo``'s manifest ``digest`` is read from (asked now if it was not read yet).

        What is derived from that digest is read there too, as containers/image reads sigstore attachments at
        the image's physical location: cosign's ``sha256-<hex>.sig`` tags, referrers and their fallback tag. By
        tag they would go to tag mirrors and the source, which a mirror set written for digests does not cover
        (an enclave's tier above is then skipped for the source past it)."""
        with self._lock:
            loc = self._found.get((repo, digest))
        if loc is None:
            self._manifest(repo, digest, lambda loc: loc.store.manifest_descriptor(loc.repo, digest))
            with self._lock:
                loc = self._found[(repo, digest)]
        return loc.store, loc.repo

    def locations(self, repo: str, *, by_digest: bool) -> Sequence[Location]:
        """The locations a read of ``repo`` tries, in order."""
        return self._locate(repo, by_digest)

    def _first(self, what: str, locations: Sequence[Location], read: Callable[[Location], object]):
        """The first location where ``read`` gives something, and that; else ``NotOnAnyMirror`` naming them.

        A location that could not be reached is tried last from then on: each read would otherwise wait out its
        retries before going on to the next (it is still tried, so one that comes back is used again)."""
        tried: list[str] = []
        with self._lock:
            down = set(self._down)
        for loc in sorted(locations, key=lambda loc: loc.label.split("/", 1)[0] in down):
            try:
                value = read(loc)
            except NotFound:
                tried.append(loc.label)
                continue
            except RegistryError as exc:  # down, refused, unauthorized: the next location may answer
                if isinstance(exc, Unreachable):
                    with self._lock:
                        self._down.add(loc.label.split("/", 1)[0])
                tried.append(f"{loc.label} ({describe(exc)})")
                continue
            if value is None:
                tried.append(loc.label)
                continue
            return loc, value
        raise NotOnAnyMirror(f"{what}: not on any mirror (tried: {_listed(tried)})")

    def _manifest(self, repo: str, ref: str, read: Callable[[Location], object]):
        locations = self._locate(repo, reference.is_digest(ref))
        with self._lock:
            found = self._found.get((repo, ref)) if reference.is_digest(ref) else None
        if found is not None:  # a digest a tag read found (on a tag-only mirror too) is read there again first,
            # as containers/image reads an image's instances at the location its tag was pulled from
            locations = [found, *(loc for loc in locations if loc.label != found.label)]
        loc, value = self._first(reference.at(repo, ref), locations, read)
        with self._lock:
            self._found.setdefault((repo, ref), loc)
            # a tag's read says where its digest is too, and an index's where its instances are
            digests = [getattr(value, "digest", None), *(c.digest for c in getattr(value, "children", ()))]
            for digest in filter(None, digests):
                self._found.setdefault((repo, digest), loc)
        return value

    def manifest_descriptor(self, repo: str, ref: str) -> Descriptor | None:
        try:
            return self._manifest(repo, ref, lambda loc: loc.store.manifest_descriptor(loc.repo, ref))
        except NotOnAnyMirror:
            return None

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        return self._manifest(repo, ref, lambda loc: loc.store.get_manifest(loc.repo, ref))

    def list_tags(self, repo: str) -> list[str]:
        """The tags of every location a tag read goes to that answers, together: a mirror holding a subset gives
        that subset, and a tag no location has is then not on any mirror when it is read."""
        tags: set[str] = set()
        answered = False
        tried: list[str] = []
        for loc in self._locate(repo, False):
            try:
                tags.update(loc.store.list_tags(loc.repo))
                answered = True
            except RegistryError as exc:
                tried.append(f"{loc.label} ({describe(exc)})")
        if not answered:
            raise NotOnAnyMirror(f"listing tags of {repo}: not on any mirror (tried: {_listed(tried)})")
        return sorted(tags)

    def _blob_locations(self, repo: str) -> list[Location]:
        # a blob is read by digest, but a manifest found through a tag-only mirror has its blobs there
        seen: dict[str, Location] = {}
        for loc in (*self._locate(repo, True), *self._locate(repo, False)):
            seen.setdefault(loc.label, loc)
        return list(seen.values())

    def has_blob(self, repo: str, digest: str) -> bool:
        try:
            self._first(digest, self._blob_locations(repo),
                        lambda loc: loc.store.has_blob(loc.repo, digest) or None)
        except NotOnAnyMirror:
            return False
        return True

    def try_reusing_blob(self, repo: str, digest: str, candidates: Sequence[str] = ()) -> BlobReuse:
        return ABSENT

    @contextlib.contextmanager
    def read_blob(self, repo: str, desc: Descriptor) -> Iterator[Iterator[bytes]]:
        # a registry's read fails only once streamed: ask first (HEAD) which location holds the blob
        loc, _ = self._first(f"blob {desc.digest} of {repo}", self._blob_locations(repo),
                             lambda loc: loc.store.has_blob(loc.repo, desc.digest) or None)
        with loc.store.read_blob(loc.repo, desc) as chunks:
            yield chunks

    def put_manifest(self, repo: str, ref: str, manifest: Manifest) -> None:
        raise RegistryError("the source mirrors are read, never written")

    def write_blob(self, repo: str, desc: Descriptor, chunks: Iterable[bytes],
                   reopen: Callable[[int], ContextManager[Iterator[bytes]]] | None = None) -> None:
        raise RegistryError("the source mirrors are read, never written")

    def close(self) -> None:
        """The locations' stores belong to the run's clients, which close them."""


def where_found(store: ContentStore, repo: str, digest: str) -> tuple[ContentStore, str]:
    """Where what is derived from ``digest`` in ``repo`` is read (:meth:`SourceThroughMirrors.where`): for the
    source mirrors the location that holds that digest, for any other store ``store`` and ``repo`` themselves."""
    return store.where(repo, digest) if isinstance(store, SourceThroughMirrors) else (store, repo)


def _listed(tried: Sequence[str]) -> str:
    return ", ".join(tried) or "none, every location is blocked"
