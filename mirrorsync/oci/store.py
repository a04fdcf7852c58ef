"""The content-store interface every copy direction goes through (a registry, an OCI layout on disk).

One copy algorithm (``copy.py``) reads from one store and writes to others; whether a blob must be sent at all is
the store's to answer (``try_reusing_blob``), since only it knows what it can link without an upload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ContextManager, Iterable, Iterator, Protocol, Sequence, runtime_checkable

from .content import Descriptor, Manifest


@dataclass(frozen=True)
class BlobReuse:
    """A store's answer to ``try_reusing_blob`` (containers/image's ``TryReusingBlob``): whether the repository
    holds the blob now, without an upload, and how."""

    present: bool
    mounted_from: str | None = None  # present because the store just mounted it from this candidate repository
    # not present: the upload session the store opened while asking; its write_blob of this blob into this
    # repository goes into it, and the store ends it at close() if nothing does
    session: str | None = None


PRESENT = BlobReuse(True)
ABSENT = BlobReuse(False)


@runtime_checkable
class ContentStore(Protocol):
    def describe(self) -> str:
        """A short name for messages: a registry host, or a layout's path."""

    def manifest_descriptor(self, repo: str, ref: str) -> Descriptor | None:
        """The manifest's descriptor under a tag or digest, or None when absent (cheap: HEAD)."""

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """The manifest's exact bytes, verified against its digest."""

    def put_manifest(self, repo: str, ref: str, manifest: Manifest) -> None:
        """Store a manifest under a tag or its digest. Everything it refers to must already be stored."""

    def list_tags(self, repo: str) -> list[str]:
        """Every tag of ``repo``, sorted."""

    def has_blob(self, repo: str, digest: str) -> bool:
        """Whether ``repo`` holds the blob (a question, nothing else: it changes nothing in the store)."""

    def try_reusing_blob(self, repo: str, digest: str, candidates: Sequence[str] = ()) -> BlobReuse:
        """Whether ``repo`` holds the blob or can be given it without an upload, in one answer: a store that links
        blobs across repositories (a registry's mount) links it from the first of ``candidates`` (repositories
        of this store where the blob is known to live) that it can; others ignore them."""

    def read_blob(self, repo: str, desc: Descriptor) -> ContextManager[Iterator[bytes]]:
        """Stream a blob; the iterator raises ``DigestMismatch`` before its last chunk if the bytes are wrong.

        A store with ``supports_range = True`` also takes an ``offset`` to stream from (unverified)."""

    def write_blob(self, repo: str, desc: Descriptor, chunks: Iterable[bytes],
                   reopen: Callable[[int], ContextManager[Iterator[bytes]]] | None = None) -> None:
        """Store a blob from a stream of exactly ``desc.size`` bytes hashing to ``desc.digest``.

        ``reopen(offset)`` gives the blob's bytes from ``offset`` again, for a store that can resume a write that
        broke (a registry's upload session) instead of failing it; others ignore it."""

    def close(self) -> None: ...
