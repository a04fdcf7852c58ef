"""Files out of an image's filesystem, read by streaming its layers: a release's ``release-manifests/``, a
catalog's ``/configs``. Layers are applied in order as a container runtime would: a later layer's file wins, and
whiteouts (``.wh.<name>``, ``.wh..wh..opq``) remove what lower layers put there.

Nothing holds a whole layer: each layer is streamed through ``tarfile``'s stream mode, and only the wanted files,
each bounded, are kept. Every layer is read to its end, so its digest is checked before its files are trusted.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from typing import Callable, Iterator

from ..errors import UnsupportedContent
from .content import Manifest
from .store import ContentStore

MAX_FILE_BYTES = 64 << 20
MAX_TOTAL_BYTES = 256 << 20
MAX_CONFIG_BYTES = 4 << 20

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"


def platform_manifest(store: ContentStore, repo: str, ref: str,
                      platform: str = "linux/amd64") -> tuple[Manifest, Manifest]:
    """The manifest at ``ref`` and the image manifest to read files from: itself, or the child of an index for
    ``platform`` (``os/arch[/variant]``; without a variant, the first child of that os/arch)."""
    top = store.get_manifest(repo, ref)
    if not top.is_index:
        return top, top
    child = next((c for c in top.children if _matches(c.platform, platform)), None)
    if child is None:
        raise _no_image(store, repo, top, platform)
    return top, store.get_manifest(repo, child.digest)


def any_platform_manifest(store: ContentStore, repo: str, ref: str) -> tuple[Manifest, Manifest]:
    """``platform_manifest`` for content every platform of which carries the same files (a release's
    release-manifests/, a catalog's FBC): linux/amd64 where an index has it, else its first image with a platform."""
    top = store.get_manifest(repo, ref)
    if not top.is_index:
        return top, top
    children = [c for c in top.children if c.platform]
    child = next((c for c in children if _matches(c.platform, "linux/amd64")), children[0] if children else None)
    if child is None:
        raise _no_image(store, repo, top, "linux/amd64")
    return top, store.get_manifest(repo, child.digest)


def _matches(have: str | None, want: str) -> bool:
    """Whether an index entry of platform ``have`` serves ``want`` (``os/arch[/variant]``; without a variant, any)."""
    h, w = (have or "").split("/"), want.split("/")
    return h[:2] == w[:2] and (len(w) < 3 or h[2:3] == w[2:3])


def _no_image(store: ContentStore, repo: str, top: Manifest, platform: str) -> UnsupportedContent:
    offered = ", ".join(c.platform or "unknown" for c in top.children) or "none"
    return UnsupportedContent(f"{store.describe()}/{repo}@{top.digest} has no {platform} image (it has: {offered})")


def image_config(store: ContentStore, repo: str, image: Manifest) -> dict:
    """The image's config JSON (labels, command, architecture)."""
    if image.is_index or not image.blobs:
        raise UnsupportedContent(f"{store.describe()}/{repo}@{image.digest} is not an image manifest")
    config = image.blobs[0]
    if config.size > MAX_CONFIG_BYTES:
        raise UnsupportedContent(f"config {config.digest} of {store.describe()}/{repo} is {config.size} bytes, "
                                 f"more than the {MAX_CONFIG_BYTES} read")
    with store.read_blob(repo, config) as chunks:
        data = b"".join(chunks)
    try:
        doc = json.loads(data)
    except ValueError:
        raise UnsupportedContent(f"config {config.digest} of {store.describe()}/{repo} is not JSON") from None
    if not isinstance(doc, dict):
        raise UnsupportedContent(f"config {config.digest} of {store.describe()}/{repo} is not a JSON object")
    return doc


def read_files(store: ContentStore, repo: str, image: Manifest, want: Callable[[str], bool], *,
               max_file_bytes: int = MAX_FILE_BYTES, max_total_bytes: int = MAX_TOTAL_BYTES) -> dict[str, bytes]:
    """The regular files of the image's filesystem whose path (``dir/file``, no leading ``/`` or ``./``) ``want``
    accepts, with their contents, as the image's final filesystem has them."""
    if image.is_index:
        raise UnsupportedContent(f"{store.describe()}/{repo}@{image.digest} is an index: pick a platform first")
    files: dict[str, bytes] = {}
    for layer in image.blobs[1:]:
        if layer.foreign:
            continue
        if "zstd" in layer.media_type:
            raise UnsupportedContent(f"layer {layer.digest} of {store.describe()}/{repo} is zstd-compressed, "
                                     "which mirrorsync cannot read")
        where = f"layer {layer.digest} of {store.describe()}/{repo}"
        with store.read_blob(repo, layer) as chunks:
            stream = _ChunkStream(chunks)
            added, removed, opaque = _read_layer(stream, want, where, files, max_file_bytes,
                                                 max_total_bytes - sum(map(len, files.values())))
            stream.drain()  # to the end, so the digest is checked before the files are used
        # a layer's whiteouts hide what the layers below it hold, never its own entries
        for path in list(files):
            if path in removed or any(_below(path, d) for d in removed | opaque):
                del files[path]
        for path, data in added.items():
            if data is None:
                files.pop(path, None)  # a directory, link or special file now stands where a file was
            else:
                files[path] = data
    return files


def _read_layer(stream: io.RawIOBase, want: Callable[[str], bool], where: str, lower: dict[str, bytes],
                max_file_bytes: int, room: int) -> tuple[dict[str, bytes | None], set[str], set[str]]:
    added: dict[str, bytes | None] = {}
    removed: set[str] = set()
    opaque: set[str] = set()
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                path = _clean(member.name)
                if not path:
                    continue
                parent, name = posixpath.split(path)
                if name == OPAQUE_WHITEOUT:
                    opaque.add(parent)
                    continue
                if name.startswith(WHITEOUT_PREFIX):
                    removed.add(posixpath.join(parent, name[len(WHITEOUT_PREFIX):]))
                    continue
                if not want(path):
                    if not member.isfile():
                        added[path] = None  # it may shadow a wanted file below (a directory over a file)
                    continue
                if member.islnk():  # a hard link to a file of this layer, or of a lower one
                    target = _clean(member.linkname)
                    added[path] = added[target] if target in added else lower.get(target)
                    continue
                if not member.isfile():
                    added[path] = None
                    continue
                if member.size > max_file_bytes:
                    raise UnsupportedContent(f"{where}: {path} is {member.size} bytes, more than the "
                                             f"{max_file_bytes} read")
                room -= member.size
                if room < 0:
                    raise UnsupportedContent(f"{where}: the wanted files come to more than their read limit")
                handle = tar.extractfile(member)
                added[path] = handle.read() if handle is not None else b""
    except tarfile.TarError as exc:
        raise UnsupportedContent(f"{where} is not a readable tar layer: {exc}") from None
    return added, removed, opaque


def _below(path: str, directory: str) -> bool:
    return not directory or path.startswith(directory + "/")


def _clean(name: str) -> str:
    path = posixpath.normpath("/" + name).lstrip("/")
    return "" if path in (".", "") else path


class _ChunkStream(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what ``read_blob`` gives)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def drain(self) -> None:
        self._pending = memoryview(b"")
        for _ in self._chunks:
            pass
