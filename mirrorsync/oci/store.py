"""The content-store interface every copy direction goes through (a registry, an OCI layout on disk).

One copy algorithm (``copy.py``) reads from one store and writes to others; stores advertise what they can do
(``supports_mount``) and the copier asks rather than guesses.
"""

from __future__ import annotations

from typing import Callable, ContextManager, Iterable, Iterator, Protocol, runtime_checkable

from .content import Descriptor, Manifest


@runtime_checkable
class ContentStore(Protocol):
    supports_mount: bool

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

    def has_blob(self, repo: str, digest: str) -> bool: ...

    def read_blob(self, repo: str, desc: Descriptor) -> ContextManager[Iterator[bytes]]:
        """Stream a blob; the iterator raises ``DigestMismatch`` before its last chunk if the bytes are wrong.

        A store with ``supports_range = True`` also takes an ``offset`` to stream from (unverified)."""

    def write_blob(self, repo: str, desc: Descriptor, chunks: Iterable[bytes],
                   reopen: Callable[[int], ContextManager[Iterator[bytes]]] | None = None) -> None:
        """Store a blob from a stream of exactly ``desc.size`` bytes hashing to ``desc.digest``.

        ``reopen(offset)`` gives the blob's bytes from ``offset`` again, for a store that can resume a write that
        broke (a registry's upload session) instead of failing it; others ignore it."""

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Link a blob the store already holds in ``from_repo`` into ``repo``; False when it could not."""

    def close(self) -> None: ...
